//! Every picture of the course, as values that show themselves in the evcxr Jupyter kernel
//! and save to files.
//!
//! Figures never know about models: they take tensors, plain vectors and, for pictures of a
//! latent space, a `decode` closure mapping codes `z: [N, D]` to images `[N, H*W]` in `[0, 1]`.
//!
//! | figure | type / function | file |
//! |---|---|---|
//! | image grids, reconstructions, denoising | [`ImageGrid`], [`reconstructions`], [`denoising`] | `.png` |
//! | encoded test set coloured by class (PCA for `D > 2`) | [`LatentScatter`], [`pca_2d`] | `.svg` |
//! | decoded 2-D manifold (normal quantiles or a linear range) | [`Manifold`] | `.png` |
//! | decoded neighbourhood of one code | [`Neighbourhood`] | `.png` |
//! | interpolation strips, attribute arithmetic | [`interpolation_strip`], [`attribute_arithmetic`] | `.png` |
//! | samples from the prior, one row per class | [`prior_samples`], [`rows_per_class`] | `.png` |
//! | loss curves | [`LossCurves`] | `.svg` |
//! | animations (training progress, walks) | [`Animation`] | `.gif` |
//! | several figures in one notebook output | [`Panel`] | `.html` |
//!
//! Each type has `evcxr_display(&self)` (so the kernel shows it when it ends a cell) and
//! implements [`Figure`] (`to_html`, `save`).
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use vae_core::figures::{Figure, ImageGrid};
//! let images = Tensor::zeros((6, 28 * 28), candle_core::DType::F32, &Device::Cpu)?;
//! let grid = ImageGrid::new(&images)?.cols(3);
//! let png = grid.to_png_bytes()?;
//! assert_eq!(&png[1..4], b"PNG");
//! assert!(grid.to_html().starts_with("<img"));
//! # Ok::<(), vae_core::Error>(())
//! ```
pub mod animation;
mod chart;
pub mod curves;
pub mod display;
pub mod font;
pub mod grid;
pub mod interpolate;
pub mod manifold;
pub mod neighbourhood;
pub mod samples;
pub mod scatter;

pub use animation::Animation;
pub use curves::LossCurves;
pub use display::{Figure, Panel};
pub use grid::{denoising, reconstructions, ImageGrid};
pub use interpolate::{attribute_arithmetic, interpolation_strip, lerp, slerp, Interpolation};
pub use manifold::{standard_normal_quantile, Manifold};
pub use neighbourhood::Neighbourhood;
pub use samples::{prior_samples, rows_per_class};
pub use scatter::{pca_2d, LatentScatter};

use crate::{Error, Result};
use candle_core::{DType, Device, Tensor};

/// Rows of a rank-2 tensor as `f32` vectors (any float dtype, any device).
pub(crate) fn rows_f32(t: &Tensor, what: &str) -> Result<Vec<Vec<f32>>> {
    if t.rank() != 2 {
        return Err(Error::config(format!(
            "{what}: expected a tensor of shape [N, D], got {:?}; reshape it with `.reshape((n, d))`",
            t.dims()
        )));
    }
    Ok(t.to_dtype(DType::F32)?.to_device(&Device::Cpu)?.to_vec2::<f32>()?)
}

/// Stacks equal-length codes into a `[N, D]` tensor on `device`.
pub(crate) fn codes_tensor(codes: &[Vec<f32>], device: &Device) -> Result<Tensor> {
    let d = codes.first().map(|c| c.len()).unwrap_or(0);
    let flat: Vec<f32> = codes.iter().flat_map(|c| c.iter().copied()).collect();
    Ok(Tensor::from_vec(flat, (codes.len(), d), device)?)
}

/// Formats a coordinate compactly for captions: one decimal, no "-0.0".
pub(crate) fn fmt_coord(v: f64) -> String {
    let s = format!("{v:.1}");
    if s == "-0.0" {
        "0.0".into()
    } else {
        s
    }
}
