//! The data layer: IDX files, MNIST and Fashion-MNIST as tensors, mini-batches, binarisation
//! and corruption. It knows nothing about models.
pub mod batch;
pub mod corrupt;
pub mod idx;
pub mod mnist;

pub use batch::{batches, dynamic_binarize, Batch, Batches};
pub use corrupt::Corruption;
pub use mnist::{data_root, Dataset, FashionMnist, Mnist, Split, FASHION_CLASSES, MNIST_CLASSES};
