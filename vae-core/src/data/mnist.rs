//! MNIST and Fashion-MNIST as tensors: images `[N, 784]` f32 in [0, 1], labels `[N]` u32.
//!
//! Both data sets ship as the same four IDX files (raw or `.gz`):
//! `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`,
//! `t10k-labels-idx1-ubyte`. `make data` puts them in `data/mnist` and `data/fashion-mnist`
//! at the repository root; `VAE_DATA_DIR` points elsewhere.
//!
//! ```no_run
//! # fn main() -> vae_core::Result<()> {
//! use vae_core::data::Mnist;
//! let mnist = Mnist::load_default()?;
//! assert_eq!(mnist.train.images.dims(), &[60_000, 784]);
//! # Ok(()) }
//! ```
use super::idx::{read_idx, IdxArray};
use crate::error::{Error, Result};
use crate::rng::Rng;
use candle_core::{DType, Device, Tensor};
use std::path::{Path, PathBuf};

/// File name (without `.gz`) of the training images, as both data sets ship it.
pub const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
/// File name of the training labels.
pub const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
/// File name of the test images.
pub const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
/// File name of the test labels.
pub const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";

/// MNIST's class names: label `i` is the digit `i`.
pub const MNIST_CLASSES: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
/// Fashion-MNIST's class names, indexed by label.
pub const FASHION_CLASSES: [&str; 10] =
    ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

/// The command that fetches the data sets, quoted in every missing-file error.
pub const FETCH_COMMAND: &str = "make data";

/// The data root: `$VAE_DATA_DIR` if set, else `data/` at the repository root.
pub fn data_root() -> PathBuf {
    match std::env::var_os("VAE_DATA_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap_or(Path::new(".")).join("data"),
    }
}

/// One split (train or test) of an image data set.
#[derive(Clone, Debug)]
pub struct Split {
    /// `[N, H*W]` f32 in [0, 1] as loaded, 1 being ink. Models and the trainer also take
    /// `[N, 1, H, W]` ([`flatten_images`](crate::models::flatten_images)).
    pub images: Tensor,
    /// `[N]` u32 class indices.
    pub labels: Tensor,
}

impl Split {
    /// The number of images: `images.dim(0)`, and 0 for a rank-0 `images`, which holds no image
    /// (the fields are public, so nothing stops one being built).
    pub fn len(&self) -> usize {
        self.images.dims().first().copied().unwrap_or(0)
    }
    /// Whether the split holds no example.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The first `n` examples (all of them if `n` is larger).
    pub fn take(&self, n: usize) -> Result<Split> {
        let n = n.min(self.len());
        Ok(Split { images: self.images.narrow(0, 0, n)?, labels: self.labels.narrow(0, 0, n)? })
    }
    /// The examples at `idx`, in that order.
    pub fn select(&self, idx: &[usize]) -> Result<Split> {
        let idx: Vec<u32> = idx.iter().map(|&i| i as u32).collect();
        let t = Tensor::new(idx.as_slice(), self.images.device())?;
        Ok(Split { images: self.images.index_select(&t, 0)?, labels: self.labels.index_select(&t, 0)? })
    }
    /// Static binarisation: pixel > threshold becomes 1, else 0 (the TF CVAE tutorial uses 0.5).
    pub fn binarized(&self, threshold: f32) -> Result<Split> {
        let images = self.images.gt(threshold as f64)?.to_dtype(DType::F32)?;
        Ok(Split { images, labels: self.labels.clone() })
    }
    /// An error naming `what` (e.g. "the test split") when the images and labels differ in number: the batches, a
    /// sample or a selection would pair images with the wrong labels or index past the end.
    pub fn check_label_count(&self, what: &str) -> Result<()> {
        let labels = self.labels.dims().first().copied().unwrap_or(0);
        if labels != self.len() || self.labels.rank() != 1 {
            return Err(Error::config(format!(
                "{what} has {} images but {labels} labels (shape {:?}); pass one label per image, shape [{}]",
                self.len(),
                self.labels.dims(),
                self.len()
            )));
        }
        Ok(())
    }
    /// Labels as a Vec.
    pub fn labels_vec(&self) -> Result<Vec<u32>> {
        Ok(self.labels.to_vec1::<u32>()?)
    }
    /// A deterministic random subset of `n` examples.
    pub fn sample(&self, n: usize, rng: &mut Rng) -> Result<Split> {
        let mut p = rng.permutation(self.len());
        p.truncate(n.min(self.len()));
        self.select(&p)
    }
}

/// An image classification data set with train and test splits.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// For titles and reports (`MNIST`, `Fashion-MNIST`).
    pub name: String,
    /// What models are trained on.
    pub train: Split,
    /// Held out: what losses, likelihoods and figures are measured on.
    pub test: Split,
    /// The name of each label, indexed by label (`class_names[3]` names label 3).
    pub class_names: Vec<String>,
    /// Image height in pixels (28).
    pub height: usize,
    /// Image width in pixels (28).
    pub width: usize,
}

impl Dataset {
    /// Loads the four standard IDX files from `dir` (each raw or `.gz`).
    pub fn load_idx_dir(dir: impl AsRef<Path>, name: &str, class_names: &[&str]) -> Result<Dataset> {
        let dir = dir.as_ref();
        // The labels are checked against the class count: with none, every label is out of range.
        if class_names.is_empty() {
            return Err(Error::config(format!(
                "{}: no class names for {name}; pass one name per class (e.g. MNIST_CLASSES)",
                dir.display()
            )));
        }
        let train = load_split(dir, TRAIN_IMAGES, TRAIN_LABELS, class_names.len())?;
        let test = load_split(dir, TEST_IMAGES, TEST_LABELS, class_names.len())?;
        if (train.1, train.2) != (test.1, test.2) {
            return Err(Error::config(format!(
                "{}: train images are {}x{} but test images are {}x{}",
                dir.display(),
                train.1,
                train.2,
                test.1,
                test.2
            )));
        }
        Ok(Dataset {
            name: name.to_string(),
            train: train.0,
            test: test.0,
            class_names: class_names.iter().map(|s| s.to_string()).collect(),
            height: train.1,
            width: train.2,
        })
    }

    /// Pixels per image, `height * width`: the width of the image rows.
    pub fn pixels(&self) -> usize {
        self.height * self.width
    }
    /// The number of classes, `class_names.len()`.
    pub fn num_classes(&self) -> usize {
        self.class_names.len()
    }

    /// The first `n_train` / `n_test` examples: notebooks' quick mode and tests use this.
    pub fn subset(&self, n_train: usize, n_test: usize) -> Result<Dataset> {
        Ok(Dataset { train: self.train.take(n_train)?, test: self.test.take(n_test)?, ..self.clone() })
    }

    /// Both splits binarised at `threshold`.
    pub fn binarized(&self, threshold: f32) -> Result<Dataset> {
        Ok(Dataset { train: self.train.binarized(threshold)?, test: self.test.binarized(threshold)?, ..self.clone() })
    }

    /// Moves both splits to `device`.
    pub fn to_device(&self, device: &Device) -> Result<Dataset> {
        let mv = |s: &Split| -> Result<Split> {
            Ok(Split { images: s.images.to_device(device)?, labels: s.labels.to_device(device)? })
        };
        Ok(Dataset { train: mv(&self.train)?, test: mv(&self.test)?, ..self.clone() })
    }
}

/// Finds `dir/name` or `dir/name.gz`.
pub fn find_idx_file(dir: &Path, name: &str) -> Result<PathBuf> {
    let raw = dir.join(name);
    if raw.is_file() {
        return Ok(raw);
    }
    let gz = dir.join(format!("{name}.gz"));
    if gz.is_file() {
        return Ok(gz);
    }
    Err(Error::MissingData { path: raw, fix: FETCH_COMMAND.to_string() })
}

fn load_split(dir: &Path, images: &str, labels: &str, num_classes: usize) -> Result<(Split, usize, usize)> {
    let ip = find_idx_file(dir, images)?;
    let lp = find_idx_file(dir, labels)?;
    let img = read_idx(&ip)?;
    let lab = read_idx(&lp)?;
    let (n, h, w) = match img.dims.as_slice() {
        &[n, h, w] => (n, h, w),
        d => {
            return Err(Error::Idx {
                path: ip,
                offset: 3,
                msg: format!("image file has {} dimensions {d:?}, expected 3 (count, rows, columns)", d.len()),
            })
        }
    };
    let nl = match lab.dims.as_slice() {
        &[nl] => nl,
        d => {
            return Err(Error::Idx {
                path: lp,
                offset: 3,
                msg: format!("label file has {} dimensions {d:?}, expected 1 (count)", d.len()),
            })
        }
    };
    if n != nl {
        return Err(Error::Idx {
            path: lp.clone(),
            offset: 4,
            msg: format!("{nl} labels but {} holds {n} images", ip.display()),
        });
    }
    check_labels(&lab, &lp, num_classes)?;
    let images =
        Tensor::from_vec(img.data, (n, h * w), &Device::Cpu)?.to_dtype(DType::F32)?.affine(1.0 / 255.0, 0.0)?;
    let labels = Tensor::from_vec(lab.data, n, &Device::Cpu)?.to_dtype(DType::U32)?;
    Ok((Split { images, labels }, h, w))
}

fn check_labels(lab: &IdxArray, path: &Path, num_classes: usize) -> Result<()> {
    if let Some(i) = lab.data.iter().position(|&l| l as usize >= num_classes) {
        return Err(Error::Idx {
            path: path.to_path_buf(),
            offset: 8 + i as u64,
            msg: format!("label {} of example {i} is out of range, expected 0..{}", lab.data[i], num_classes - 1),
        });
    }
    Ok(())
}

/// The handwritten digits (LeCun et al.), 60 000 train and 10 000 test images of 28x28.
pub struct Mnist;

impl Mnist {
    /// The four IDX files of MNIST from `dir` (each raw or `.gz`), images as `[N, 784]` f32 in
    /// [0, 1]. A missing file's error names the command that fetches it.
    pub fn load(dir: impl AsRef<Path>) -> Result<Dataset> {
        Dataset::load_idx_dir(dir, "MNIST", &MNIST_CLASSES)
    }
    /// From `data_root()/mnist`.
    pub fn load_default() -> Result<Dataset> {
        Self::load(data_root().join("mnist"))
    }
}

/// Zalando's Fashion-MNIST: the same format and sizes, ten kinds of clothing.
pub struct FashionMnist;

impl FashionMnist {
    /// As [`Mnist::load`], for Fashion-MNIST's files in `dir`.
    pub fn load(dir: impl AsRef<Path>) -> Result<Dataset> {
        Dataset::load_idx_dir(dir, "Fashion-MNIST", &FASHION_CLASSES)
    }
    /// From `data_root()/fashion-mnist`.
    pub fn load_default() -> Result<Dataset> {
        Self::load(data_root().join("fashion-mnist"))
    }
}

/// Downloads MNIST from the Hugging Face hub (needs the `hub` feature and internet access).
#[cfg(feature = "hub")]
pub fn load_from_hub() -> Result<Dataset> {
    let d = candle_datasets::vision::mnist::load()?;
    let to_u32 = |t: Tensor| -> Result<Tensor> { Ok(t.to_dtype(DType::U32)?) };
    Ok(Dataset {
        name: "MNIST".into(),
        train: Split { images: d.train_images, labels: to_u32(d.train_labels)? },
        test: Split { images: d.test_images, labels: to_u32(d.test_labels)? },
        class_names: MNIST_CLASSES.iter().map(|s| s.to_string()).collect(),
        height: 28,
        width: 28,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loading_with_no_class_names_is_refused_before_any_file_is_read() {
        // Before: the label check computed 0 - 1 (a panic with overflow checks, a wrapped range without).
        let e = Dataset::load_idx_dir("/nonexistent", "x", &[]).unwrap_err().to_string();
        assert!(e.contains("no class names for x") && e.contains("MNIST_CLASSES"), "{e}");
    }
}
