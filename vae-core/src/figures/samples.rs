//! Samples from the prior: decode codes `z ~ N(0, I)`; for a conditional model, one row per
//! class.
//!
//! In [`rows_per_class`] every row reuses the same `per_row` codes, so each column holds one
//! "style" (slant, thickness) drawn in every class: the label says *what*, the code says *how*.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use vae_core::{figures::prior_samples, rng::Rng};
//! let decode = |z: &Tensor| -> vae_core::Result<Tensor> { Ok(vae_core::figures::samples::sigmoid_repeat(z, 16)?) };
//! let grid = prior_samples(decode, 12, 2, &mut Rng::new(0), &Device::Cpu)?;
//! assert_eq!(grid.len(), 12);
//! # Ok::<(), vae_core::Error>(())
//! ```
use super::manifold::check_count;
use super::ImageGrid;
use crate::rng::Rng;
use crate::{Error, Result};
use candle_core::{Device, Tensor};

/// `n` images decoded from codes drawn from `N(0, I)` in `latent_dim` dimensions.
pub fn prior_samples(
    decode: impl Fn(&Tensor) -> Result<Tensor>,
    n: usize,
    latent_dim: usize,
    rng: &mut Rng,
    device: &Device,
) -> Result<ImageGrid> {
    if n == 0 || latent_dim == 0 {
        return Err(Error::config(format!("prior_samples: need n >= 1 and latent_dim >= 1, got {n} and {latent_dim}")));
    }
    let z = rng.randn((n, latent_dim), device)?;
    let images = decode(&z)?;
    check_count(&images, n, "prior_samples")?;
    ImageGrid::new(&images)
}

/// One row per class, `per_row` samples each: `decode_cond(z [N, D], labels [N] u32)` with the
/// same `per_row` codes in every row. Rows are titled with the class names.
pub fn rows_per_class(
    decode_cond: impl Fn(&Tensor, &Tensor) -> Result<Tensor>,
    per_row: usize,
    latent_dim: usize,
    classes: &[impl AsRef<str>],
    rng: &mut Rng,
    device: &Device,
) -> Result<ImageGrid> {
    let k = classes.len();
    if per_row == 0 || latent_dim == 0 || k == 0 {
        return Err(Error::config(format!(
            "rows_per_class: need per_row >= 1, latent_dim >= 1 and at least one class, got {per_row}, {latent_dim}, {k}"
        )));
    }
    let z = rng.randn((per_row, latent_dim), device)?.repeat((k, 1))?;
    let labels: Vec<u32> = (0..k as u32).flat_map(|c| std::iter::repeat_n(c, per_row)).collect();
    let labels = Tensor::from_vec(labels, k * per_row, device)?;
    let images = decode_cond(&z, &labels)?;
    check_count(&images, k * per_row, "rows_per_class")?;
    Ok(ImageGrid::new(&images)?.cols(per_row).row_titles(classes.iter().map(|c| c.as_ref().to_string()).collect()))
}

/// A stand-in decoder for examples and tests: `sigmoid(z[:, 0])` repeated over `pixels`.
#[doc(hidden)]
pub fn sigmoid_repeat(z: &Tensor, pixels: usize) -> candle_core::Result<Tensor> {
    candle_nn::ops::sigmoid(&z.narrow(1, 0, 1)?)?.repeat((1, pixels))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prior_samples_are_seeded_and_decoded() {
        let decode = |z: &Tensor| -> Result<Tensor> { Ok(sigmoid_repeat(z, 16)?) };
        let a = prior_samples(decode, 6, 3, &mut Rng::new(7), &Device::Cpu).unwrap();
        let b = prior_samples(decode, 6, 3, &mut Rng::new(7), &Device::Cpu).unwrap();
        assert_eq!(a.tiles(), b.tiles());
        assert_eq!(a.tile_size(), (4, 4));
        assert!(a.tiles().iter().any(|t| t[0] != a.tiles()[0][0]), "different codes decode differently");
    }

    #[test]
    fn rows_share_codes_and_get_their_labels() {
        // Image = [label / 10, z[0] squashed] repeated.
        let decode = |z: &Tensor, labels: &Tensor| -> Result<Tensor> {
            let l = (labels.to_dtype(candle_core::DType::F32)?.unsqueeze(1)? / 10.0)?;
            let s = candle_nn::ops::sigmoid(&z.narrow(1, 0, 1)?)?;
            Ok(Tensor::cat(&[l, s], 1)?.repeat((1, 2))?)
        };
        let classes = ["zero", "one", "two"];
        let g = rows_per_class(decode, 4, 2, &classes, &mut Rng::new(1), &Device::Cpu).unwrap();
        assert_eq!(g.shape(), (3, 4));
        for r in 0..3 {
            for c in 0..4 {
                let t = &g.tiles()[r * 4 + c];
                assert!((t[0] - r as f32 / 10.0).abs() < 1e-6, "row {r} has label {r}");
                assert_eq!(t[1], g.tiles()[c][1], "column {c} shares its code across rows");
            }
        }
    }
}
