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
//! | interpolation strips, attribute arithmetic | [`interpolation_strip`], [`interpolation_rows`], [`compare_interpolations`], [`attribute_arithmetic`] | `.png` |
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
pub mod raster;
pub mod samples;
pub mod scatter;

pub use animation::Animation;
pub use curves::LossCurves;
pub use display::{Figure, Panel};
pub use grid::{denoising, reconstructions, ImageGrid};
pub use interpolate::{
    attribute_arithmetic, compare_interpolations, interpolation_rows, interpolation_strip, lerp, slerp, Interpolation,
};
pub use manifold::{standard_normal_quantile, Manifold};
pub use neighbourhood::Neighbourhood;
pub use raster::Raster;
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
    if let Some(c) = codes.iter().find(|c| c.len() != d) {
        return Err(Error::config(format!(
            "codes of lengths {d} and {}; pass codes of one length (the model's latent size)",
            c.len()
        )));
    }
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

#[cfg(test)]
mod demo {
    //! Renders one of each figure from synthetic data, for looking at them:
    //! `cargo test -p vae-core --lib figures::demo -- --ignored` (writes to
    //! `$VAE_FIGURES_DEMO`, default `/tmp/figures-demo`).
    use super::*;
    use crate::rng::Rng;

    /// A stand-in decoder: a ring whose centre follows (z1, z2) and whose radius follows z3.
    fn ring_decoder(z: &Tensor) -> Result<Tensor> {
        let codes = rows_f32(z, "ring_decoder")?;
        let mut out = Vec::with_capacity(codes.len() * 784);
        for c in &codes {
            let (cx, cy) = (14.0 + 3.0 * c[0], 14.0 - 3.0 * c[1]);
            let radius = 5.0 + 1.5 * c.get(2).copied().unwrap_or(0.0).clamp(-2.0, 2.0);
            for y in 0..28 {
                for x in 0..28 {
                    let r = ((x as f32 - cx).powi(2) + (y as f32 - cy).powi(2)).sqrt();
                    out.push((-(r - radius).powi(2) / 3.0).exp());
                }
            }
        }
        Ok(Tensor::from_vec(out, (codes.len(), 784), z.device())?)
    }

    #[test]
    #[ignore = "writes demo figures to /tmp/figures-demo for inspection"]
    fn render_demo_figures() -> Result<()> {
        let dir =
            std::path::PathBuf::from(std::env::var("VAE_FIGURES_DEMO").unwrap_or_else(|_| "/tmp/figures-demo".into()));
        let dev = Device::Cpu;
        let mut rng = Rng::new(42);
        let classes = crate::data::FASHION_CLASSES;

        let z = rng.randn((16, 3), &dev)?;
        let originals = ring_decoder(&z)?;
        let recons = ring_decoder(&(&z * 0.8)?)?;
        reconstructions(&originals.narrow(0, 0, 8)?, &recons.narrow(0, 0, 8)?)?
            .save(dir.join("reconstructions.png"))?;
        let noise = rng.rand((8, 784), -0.5, 0.5, &dev)?;
        let noisy = (&originals.narrow(0, 0, 8)? + noise)?.clamp(0f32, 1f32)?;
        denoising(&noisy, &recons.narrow(0, 0, 8)?, &originals.narrow(0, 0, 8)?)?.save(dir.join("denoising.png"))?;
        ImageGrid::new(&originals)?.cols(8).title("Sixteen rings").save(dir.join("grid_titled.png"))?;

        // Latent scatter: 10 clusters in 5-D (PCA) and in 2-D.
        let mut codes = Vec::new();
        let mut labels = Vec::new();
        for i in 0..2000 {
            let c = i % 10;
            let angle = c as f32 / 10.0 * std::f32::consts::TAU;
            let n = rng.normal_vec(5);
            codes.push(vec![
                3.0 * angle.cos() + n[0],
                3.0 * angle.sin() + n[1],
                0.3 * n[2],
                0.2 * n[3],
                c as f32 * 0.1 + 0.1 * n[4],
            ]);
            labels.push(c);
        }
        LatentScatter::from_codes(codes.clone(), labels.clone())?
            .class_names(classes)
            .title("Fashion-MNIST test set in a 5-D latent space")
            .save(dir.join("scatter_pca.svg"))?;
        LatentScatter::from_codes(codes.iter().map(|c| c[..2].to_vec()).collect(), labels)?
            .class_names((0..10).map(|d| d.to_string()))
            .title("MNIST test set, 2-D latent space")
            .save(dir.join("scatter_2d.svg"))?;

        Manifold::quantiles(10).render(2, &dev, ring_decoder)?.save(dir.join("manifold_quantiles.png"))?;
        Manifold::linear(7, -3.0, 3.0)
            .captions(true)
            .render(2, &dev, ring_decoder)?
            .save(dir.join("manifold_linear_captions.png"))?;
        Manifold::linear(20, -10.0, 10.0).render(3, &dev, ring_decoder)?.save(dir.join("manifold_out_of_range.png"))?;
        Neighbourhood::new(vec![0.5, -0.5, 0.0], vec![0.4, 0.3, 1.0])?
            .render(&dev, ring_decoder)?
            .save(dir.join("neighbourhood.png"))?;

        let (a, b) = (vec![-2.0, -1.5, -1.0], vec![2.0, 1.5, 1.5]);
        interpolation_strip(ring_decoder, &a, &b, 8, Interpolation::Spherical, &dev)?
            .save(dir.join("interpolation_strip.png"))?;
        interpolate::compare_interpolations(ring_decoder, &a, &b, 8, &dev)?
            .save(dir.join("interpolation_compare.png"))?;
        attribute_arithmetic(ring_decoder, &[1.0, 1.0, 1.0], &[1.0, -1.0, 0.0], &[-1.0, -1.0, -1.0], &dev)?
            .save(dir.join("arithmetic.png"))?;
        prior_samples(ring_decoder, 32, 3, &mut rng, &dev)?.cols(8).save(dir.join("prior_samples.png"))?;
        let cond = |z: &Tensor, l: &Tensor| -> Result<Tensor> {
            let l = l.to_dtype(DType::F32)?.unsqueeze(1)?.affine(1.0 / 2.25, -2.0)?;
            ring_decoder(&Tensor::cat(&[z.narrow(1, 0, 1)?, l], 1)?)
        };
        rows_per_class(cond, 6, 2, &classes, &mut rng, &dev)?.save(dir.join("rows_per_class.png"))?;

        let epochs = 30;
        let train: Vec<f64> = (0..epochs).map(|e| 110.0 + 90.0 * (-(e as f64) / 5.0).exp()).collect();
        let test: Vec<f64> = (0..epochs).map(|e| 114.0 + 80.0 * (-(e as f64) / 5.0).exp() + 0.05 * e as f64).collect();
        let kl: Vec<f64> = (0..epochs).map(|e| 25.0 - 20.0 * (-(e as f64) / 4.0).exp()).collect();
        let curves = LossCurves::new(vec![("train loss".into(), train), ("test loss".into(), test)])
            .series("KL term", kl)
            .title("VAE training")
            .y_label("nats per image");
        curves.save(dir.join("loss_curves.svg"))?;
        curves.clone().log_y(true).save(dir.join("loss_curves_log.svg"))?;

        let frames: Vec<ImageGrid> = (0..12)
            .map(|k| {
                let t = k as f32 / 11.0;
                Manifold::linear(5, -2.0, 2.0)
                    .base(vec![0.0, 0.0, 2.0 * t - 1.0])
                    .render(3, &dev, ring_decoder)
                    .map(|g| g.title(format!("z3 = {:.2}", 2.0 * t - 1.0)))
            })
            .collect::<Result<_>>()?;
        let anim = Animation::from_grids(&frames, 150);
        anim.save(dir.join("animation.gif"))?;
        std::fs::write(dir.join("animation_frame0.png"), frames[0].to_png_bytes()?).unwrap();

        Panel::grid(2)
            .title("All figures")
            .add_titled("reconstructions", &reconstructions(&originals.narrow(0, 0, 6)?, &recons.narrow(0, 0, 6)?)?)
            .add_titled("loss", &curves)
            .add_titled("animation", &anim)
            .add_titled("scatter", &LatentScatter::from_codes(codes, (0..2000).map(|i| i % 10).collect())?)
            .save(dir.join("panel.html"))?;
        Ok(())
    }
}
