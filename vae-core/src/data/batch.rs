//! Mini-batches: seeded shuffling and dynamic binarisation.
//!
//! Dynamic binarisation treats each grey pixel $x \in \[0,1\]$ as the probability that it is ink
//! (MNIST stores the digit's strokes as 1 and the background as 0) and draws a fresh
//! $b \sim \mathrm{Bernoulli}(x)$ every epoch, the standard protocol for likelihoods on
//! binarised MNIST. Static binarisation ([`Split::binarized`]) thresholds once.
//!
//! ```
//! # fn main() -> vae_core::Result<()> {
//! use candle_core::{Device, Tensor};
//! use vae_core::{data::{batches, Split}, rng::Rng};
//! let split = Split {
//!     images: Tensor::zeros((10, 4), candle_core::DType::F32, &Device::Cpu)?,
//!     labels: Tensor::zeros(10, candle_core::DType::U32, &Device::Cpu)?,
//! };
//! let sizes: Vec<usize> = batches(&split, 4, Some(&mut Rng::new(0)))?
//!     .map(|b| b.map(|b| b.len()))
//!     .collect::<vae_core::Result<_>>()?;
//! assert_eq!(sizes, vec![4, 4, 2]);
//! # Ok(()) }
//! ```
use super::mnist::Split;
use crate::error::{Error, Result};
use crate::rng::Rng;
use candle_core::{DType, Tensor};

/// One mini-batch: images `[B, D]` and labels `[B]`.
#[derive(Clone, Debug)]
pub struct Batch {
    /// `[B, D]` pixels, rows of the split in the batch's order.
    pub images: Tensor,
    /// `[B]` u32 class indices, in the same order as `images`.
    pub labels: Tensor,
}

impl Batch {
    /// The number of examples, B.
    pub fn len(&self) -> usize {
        self.images.dims()[0]
    }
    /// Whether the batch holds no example.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Iterator over the mini-batches of one epoch.
pub struct Batches<'a> {
    split: &'a Split,
    order: Option<Vec<u32>>,
    batch_size: usize,
    pos: usize,
}

/// The mini-batches of `split`, shuffled by `rng` if given, else in order. The last batch may
/// be smaller. An error for a batch size of 0, or a split whose images and labels differ in
/// number (the batches would part them).
pub fn batches<'a>(split: &'a Split, batch_size: usize, shuffle: Option<&mut Rng>) -> Result<Batches<'a>> {
    if batch_size == 0 {
        return Err(Error::config("batches: batch size 0; a batch needs at least one example"));
    }
    split.check_label_count("batches: the split")?;
    let order = shuffle.map(|rng| rng.permutation(split.len()).into_iter().map(|i| i as u32).collect());
    Ok(Batches { split, order, batch_size, pos: 0 })
}

impl Iterator for Batches<'_> {
    type Item = Result<Batch>;
    fn next(&mut self) -> Option<Self::Item> {
        let n = self.split.len();
        if self.pos >= n {
            return None;
        }
        let len = self.batch_size.min(n - self.pos);
        let start = self.pos;
        self.pos += len;
        let make = || -> Result<Batch> {
            match &self.order {
                None => Ok(Batch {
                    images: self.split.images.narrow(0, start, len)?,
                    labels: self.split.labels.narrow(0, start, len)?,
                }),
                Some(order) => {
                    let idx = Tensor::new(&order[start..start + len], self.split.images.device())?;
                    Ok(Batch {
                        images: self.split.images.index_select(&idx, 0)?,
                        labels: self.split.labels.index_select(&idx, 0)?,
                    })
                }
            }
        };
        Some(make())
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = (self.split.len() - self.pos).div_ceil(self.batch_size);
        (left, Some(left))
    }
}

/// Dynamic binarisation: each pixel becomes 1 with probability equal to its intensity.
pub fn dynamic_binarize(x: &Tensor, rng: &mut Rng) -> Result<Tensor> {
    let u = rng.rand(x.shape(), 0.0, 1.0, x.device())?;
    Ok(x.gt(&u)?.to_dtype(DType::F32)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn split(n: usize) -> Split {
        let images: Vec<f32> = (0..n * 2).map(|i| i as f32).collect();
        Split {
            images: Tensor::from_vec(images, (n, 2), &Device::Cpu).unwrap(),
            labels: Tensor::from_vec((0..n as u32).collect::<Vec<_>>(), n, &Device::Cpu).unwrap(),
        }
    }

    #[test]
    fn shuffled_epoch_visits_every_example_once_and_rows_stay_paired() {
        let s = split(23);
        let mut seen = vec![];
        for b in batches(&s, 5, Some(&mut Rng::new(9))).unwrap() {
            let b = b.unwrap();
            let imgs = b.images.to_vec2::<f32>().unwrap();
            for (row, l) in imgs.iter().zip(b.labels.to_vec1::<u32>().unwrap()) {
                assert_eq!(row[0], 2.0 * l as f32, "image and label separated");
                seen.push(l);
            }
        }
        assert_ne!(seen, (0..23).collect::<Vec<_>>(), "not shuffled");
        seen.sort();
        assert_eq!(seen, (0..23).collect::<Vec<_>>());
    }

    #[test]
    fn a_batch_size_of_0_or_labels_that_do_not_match_the_images_are_errors_not_panics() {
        let e = batches(&split(4), 0, None).err().unwrap().to_string();
        assert!(e.contains("batch size 0"), "{e}");
        let bad = Split { images: split(10).images, labels: split(7).labels };
        for shuffle in [None, Some(&mut Rng::new(0))] {
            let e = batches(&bad, 4, shuffle).err().unwrap().to_string();
            assert!(e.contains("10 images but 7 labels"), "{e}");
        }
        // Split's fields are public: a rank-0 `images` holds no image, and len() says so.
        let scalar = Split { images: Tensor::new(0f32, &Device::Cpu).unwrap(), labels: split(0).labels };
        assert_eq!(scalar.len(), 0);
        assert!(scalar.is_empty());
    }

    #[test]
    fn shuffling_is_seeded() {
        let s = split(50);
        let first = |seed| {
            batches(&s, 50, Some(&mut Rng::new(seed)))
                .unwrap()
                .next()
                .unwrap()
                .unwrap()
                .labels
                .to_vec1::<u32>()
                .unwrap()
        };
        assert_eq!(first(1), first(1));
        assert_ne!(first(1), first(2));
    }

    #[test]
    fn dynamic_binarisation_matches_intensity_on_average() {
        let x = Tensor::full(0.3f32, (100, 100), &Device::Cpu).unwrap();
        let b = dynamic_binarize(&x, &mut Rng::new(0)).unwrap();
        let v = b.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert!(v.iter().all(|&p| p == 0.0 || p == 1.0));
        let mean = v.iter().sum::<f32>() / v.len() as f32;
        assert!((mean - 0.3).abs() < 0.02, "{mean}");
        let again = dynamic_binarize(&x, &mut Rng::new(0)).unwrap();
        assert_eq!(again.to_vec2::<f32>().unwrap(), b.to_vec2::<f32>().unwrap());
    }

    #[test]
    fn static_binarisation_thresholds() {
        let s = Split {
            images: Tensor::new(&[[0.2f32, 0.5, 0.51, 1.0]], &Device::Cpu).unwrap(),
            labels: Tensor::new(&[0u32], &Device::Cpu).unwrap(),
        };
        assert_eq!(s.binarized(0.5).unwrap().images.to_vec2::<f32>().unwrap(), vec![vec![0.0, 0.0, 1.0, 1.0]]);
    }
}
