//! # vae-core
//!
//! Autoencoders and variational autoencoders on [candle](https://github.com/huggingface/candle),
//! built for teaching: the data layer, models, losses, training, evaluation, checkpoints and
//! the figures of the `vae-notebooks` course.
//!
//! Layers, each using only those above it in this list:
//! 1. [`data`] (IDX files, MNIST / Fashion-MNIST, batching, binarisation, corruption) and [`rng`]
//! 2. models
//! 3. losses, training, evaluation, checkpoints
//! 4. [`figures`] and the explorer
pub mod bench;
pub mod by_hand;
pub mod checkpoint;
pub mod data;
pub mod device;
pub mod error;
pub mod evaluation;
pub mod explorer;
pub mod figures;
pub mod fused_conv_vae;
pub mod fused_vae;
pub mod losses;
pub mod models;
pub mod objective;
pub mod notebook;
pub mod ops;
pub mod optim;
pub mod perf;
pub mod rng;
pub mod training;

pub use error::{Error, Result};
