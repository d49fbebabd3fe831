//! The decoded latent manifold: decode an `n x n` grid of codes spanning two latent
//! dimensions and show the images in place.
//!
//! Two ways to space the grid along each axis:
//! - [`Manifold::quantiles`]: at the standard-normal quantiles `Phi^-1(p)` for `p` evenly spaced
//!   in `[0.05, 0.95]` (as in the TensorFlow CVAE tutorial). Under the prior `N(0, I)` each cell
//!   then covers about the same probability mass, so the grid shows where the prior puts codes.
//! - [`Manifold::linear`]: evenly spaced values in `[lo, hi]`, e.g. `-3..3`; out-of-range
//!   values such as `-10..10` show what the decoder does far from the training codes.
//!
//! Columns go left to right with increasing `z[i]`; rows go top to bottom with *decreasing*
//! `z[j]`, so the picture reads like a plot with y pointing up. For `D > 2` the other
//! dimensions are fixed (default 0, or [`Manifold::base`]). The rendered grid carries its
//! coordinates: each row is titled with its `z[j]`, the grid with the range of `z[i]` (dimensions
//! numbered from 1 as in the notebooks' `z_1, z_2`); [`Manifold::axes`] turns that off.
//!
//! `Phi^-1` is computed with Acklam's rational approximation (relative error below 1.2e-9).
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use vae_core::figures::{standard_normal_quantile, Manifold};
//! assert!((standard_normal_quantile(0.975) - 1.959964).abs() < 1e-6);
//! let m = Manifold::linear(3, -1.0, 1.0);
//! assert_eq!(m.axis_values()?, vec![-1.0, 0.0, 1.0]);
//! // A fake decoder: a 2x2 "image" holding (z1 + 1) / 2 everywhere.
//! let decode = |z: &Tensor| -> vae_core::Result<Tensor> {
//!     Ok(((z.narrow(1, 0, 1)? + 1.0)? / 2.0)?.repeat((1, 4))?)
//! };
//! let grid = m.render(2, &Device::Cpu, decode)?;
//! assert_eq!(grid.shape(), (3, 3));
//! # Ok::<(), vae_core::Error>(())
//! ```
use super::{fmt_coord, ImageGrid};
use crate::{Error, Result};
use candle_core::{Device, Tensor};

/// The inverse of the standard normal CDF, `Phi^-1(p)`: the `x` with `P(X <= x) = p` for
/// `X ~ N(0, 1)`. Returns `-inf` / `+inf` at 0 / 1 and NaN outside `[0, 1]`.
pub fn standard_normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.38357751867269e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] =
        [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
    const P_LOW: f64 = 0.02425;
    if p.is_nan() || !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    if p == 0.0 {
        return f64::NEG_INFINITY;
    }
    if p == 1.0 {
        return f64::INFINITY;
    }
    // Tails: rational function in sqrt(-2 ln p); centre: rational function in (p - 1/2)^2.
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < P_LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - P_LOW {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Spacing {
    Quantiles { lo: f64, hi: f64 },
    Linear { lo: f64, hi: f64 },
}

/// An `n x n` grid of codes over two latent dimensions, decoded into an [`ImageGrid`].
#[derive(Debug, Clone)]
pub struct Manifold {
    n: usize,
    spacing: Spacing,
    dims: (usize, usize),
    base: Option<Vec<f32>>,
    captions: bool,
    axes: bool,
}

impl Manifold {
    /// `n` values per axis at the normal quantiles of `p = 0.05 ..= 0.95`.
    pub fn quantiles(n: usize) -> Self {
        Self {
            n,
            spacing: Spacing::Quantiles { lo: 0.05, hi: 0.95 },
            dims: (0, 1),
            base: None,
            captions: false,
            axes: true,
        }
    }

    /// `n` values per axis evenly spaced in `lo ..= hi`.
    pub fn linear(n: usize, lo: f64, hi: f64) -> Self {
        Self { n, spacing: Spacing::Linear { lo, hi }, dims: (0, 1), base: None, captions: false, axes: true }
    }

    /// For a quantile grid: the probability range (default `0.05 ..= 0.95`), inside `(0, 1)`.
    pub fn probabilities(mut self, lo: f64, hi: f64) -> Self {
        self.spacing = Spacing::Quantiles { lo, hi };
        self
    }

    /// The two latent dimensions spanned: `i` across (columns), `j` up (rows). Default (0, 1).
    pub fn dims(mut self, i: usize, j: usize) -> Self {
        self.dims = (i, j);
        self
    }

    /// Values of the other dimensions (default all 0); its length must be the latent size.
    pub fn base(mut self, z: Vec<f32>) -> Self {
        self.base = Some(z);
        self
    }

    /// Caption each tile with its coordinates `(z[i], z[j])`.
    pub fn captions(mut self, on: bool) -> Self {
        self.captions = on;
        self
    }

    /// Label the rows with their `z[j]` and title the grid with the range of `z[i]` (default on).
    pub fn axes(mut self, on: bool) -> Self {
        self.axes = on;
        self
    }

    /// The `n` values used along each axis, increasing.
    pub fn axis_values(&self) -> Result<Vec<f64>> {
        let n = self.n;
        if n == 0 {
            return Err(Error::config("Manifold: the grid needs at least 1 value per axis"));
        }
        let at = |lo: f64, hi: f64, k: usize| {
            if n == 1 {
                (lo + hi) / 2.0
            } else {
                lo + (hi - lo) * k as f64 / (n - 1) as f64
            }
        };
        match self.spacing {
            Spacing::Linear { lo, hi } if lo.is_finite() && hi.is_finite() && lo <= hi => {
                Ok((0..n).map(|k| at(lo, hi, k)).collect())
            }
            Spacing::Linear { lo, hi } => {
                Err(Error::config(format!("Manifold::linear: need finite lo <= hi, got {lo}..{hi}")))
            }
            Spacing::Quantiles { lo, hi } if 0.0 < lo && lo <= hi && hi < 1.0 => {
                Ok((0..n).map(|k| standard_normal_quantile(at(lo, hi, k))).collect())
            }
            Spacing::Quantiles { lo, hi } => Err(Error::config(format!(
                "Manifold::quantiles: probabilities must satisfy 0 < lo <= hi < 1, got {lo}..{hi}"
            ))),
        }
    }

    /// The codes in tile order (row-major, top row first), each of length `latent_dim`.
    pub fn codes(&self, latent_dim: usize) -> Result<Vec<Vec<f32>>> {
        let (i, j) = self.dims;
        if latent_dim < 2 || i >= latent_dim || j >= latent_dim || i == j {
            return Err(Error::config(format!(
                "Manifold: dims ({i}, {j}) must be two different dimensions below the latent size {latent_dim}"
            )));
        }
        let base = match &self.base {
            Some(b) if b.len() != latent_dim => {
                return Err(Error::config(format!(
                    "Manifold::base has {} values, the latent size is {latent_dim}",
                    b.len()
                )))
            }
            Some(b) => b.clone(),
            None => vec![0.0; latent_dim],
        };
        let values = self.axis_values()?;
        let mut codes = Vec::with_capacity(values.len() * values.len());
        for y in values.iter().rev() {
            for x in &values {
                let mut z = base.clone();
                z[i] = *x as f32;
                z[j] = *y as f32;
                codes.push(z);
            }
        }
        Ok(codes)
    }

    /// Decodes the grid with `decode` (codes `[n*n, latent_dim]` on `device` -> images
    /// `[n*n, H*W]` in `[0, 1]`) and lays the images out `n x n`.
    pub fn render(
        &self,
        latent_dim: usize,
        device: &Device,
        decode: impl Fn(&Tensor) -> Result<Tensor>,
    ) -> Result<ImageGrid> {
        let codes = self.codes(latent_dim)?;
        let images = decode(&super::codes_tensor(&codes, device)?)?;
        check_count(&images, codes.len(), "Manifold")?;
        let mut grid = ImageGrid::new(&images)?.cols(self.n);
        let (i, j) = self.dims;
        if self.axes {
            let values = self.axis_values()?;
            let (first, last) = (values[0], values[values.len() - 1]);
            grid = grid
                .row_titles(values.iter().rev().map(|v| format!("z{}={}", j + 1, fmt_coord(*v))).collect())
                .title(format!("z{} = {} ... {}, left to right", i + 1, fmt_coord(first), fmt_coord(last)));
        }
        if self.captions {
            grid = grid.captions(
                codes.iter().map(|z| format!("({}, {})", fmt_coord(z[i] as f64), fmt_coord(z[j] as f64))).collect(),
            );
        }
        Ok(grid)
    }
}

pub(crate) fn check_count(images: &Tensor, expected: usize, what: &str) -> Result<()> {
    let got = images.dims().first().copied().unwrap_or(0);
    if got != expected {
        return Err(Error::config(format!(
            "{what}: the decoder returned {got} images (shape {:?}) for {expected} codes; it must map [N, D] to [N, H*W]",
            images.dims()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_normal_cdf_matches_tables() {
        for (p, x) in [
            (0.5, 0.0),
            (0.975, 1.959963984540054),
            (0.95, 1.6448536269514722),
            (0.05, -1.6448536269514722),
            (0.841344746068543, 1.0),
            (0.99, 2.3263478740408408),
            (0.001, -3.090232306167813),
            (1e-10, -6.361340902404056),
        ] {
            let got = standard_normal_quantile(p);
            assert!((got - x).abs() < 1e-8 * x.abs().max(1.0), "Phi^-1({p}) = {got}, expected {x}");
        }
        for p in [0.01, 0.1, 0.3, 0.02425, 0.024] {
            assert!((standard_normal_quantile(p) + standard_normal_quantile(1.0 - p)).abs() < 1e-8);
        }
        assert_eq!(standard_normal_quantile(0.0), f64::NEG_INFINITY);
        assert_eq!(standard_normal_quantile(1.0), f64::INFINITY);
        assert!(standard_normal_quantile(1.5).is_nan());
    }

    /// A decoder that writes the code into the image: pixel k holds (z[k] + 10) / 20.
    fn code_decoder(z: &Tensor) -> Result<Tensor> {
        let d = z.dim(1)?;
        Ok(((z + 10.0)? / 20.0)?.pad_with_zeros(1, 0, 9 - d)?)
    }

    fn decoded_code(grid: &ImageGrid, tile: usize, d: usize) -> Vec<f32> {
        grid.tiles()[tile][..d].iter().map(|v| v * 20.0 - 10.0).collect()
    }

    #[test]
    fn quantile_grid_decodes_the_right_codes_in_the_right_tiles() {
        let m = Manifold::quantiles(4).captions(true);
        let q: Vec<f32> = [0.05, 0.35, 0.65, 0.95].iter().map(|&p| standard_normal_quantile(p) as f32).collect();
        let grid = m.render(2, &Device::Cpu, code_decoder).unwrap();
        assert_eq!(grid.shape(), (4, 4));
        for r in 0..4 {
            for c in 0..4 {
                let z = decoded_code(&grid, r * 4 + c, 2);
                assert!((z[0] - q[c]).abs() < 1e-4, "tile ({r}, {c}): {z:?}");
                assert!((z[1] - q[3 - r]).abs() < 1e-4, "tile ({r}, {c}): y must decrease downwards");
            }
        }
        assert!((q[3] - 1.6448536).abs() < 1e-5);
    }

    #[test]
    fn linear_grid_in_higher_dimensions_fixes_the_other_coordinates() {
        let m = Manifold::linear(3, -10.0, 10.0).dims(2, 0).base(vec![0.5, 1.5, 2.5, 3.5]);
        let grid = m.render(4, &Device::Cpu, code_decoder).unwrap();
        // Top-left tile: z[2] = -10 (x), z[0] = +10 (y), others from base.
        assert_eq!(decoded_code(&grid, 0, 4), vec![10.0, 1.5, -10.0, 3.5]);
        // Centre tile: both swept dims 0.
        assert_eq!(decoded_code(&grid, 4, 4), vec![0.0, 1.5, 0.0, 3.5]);
        assert_eq!(decoded_code(&grid, 8, 4), vec![-10.0, 1.5, 10.0, 3.5]);
    }

    #[test]
    fn rows_carry_their_coordinate_and_the_title_the_column_range() {
        let m = Manifold::linear(3, -10.0, 10.0).dims(2, 0);
        let grid = m.render(4, &Device::Cpu, code_decoder).unwrap();
        let text = format!("{grid:?}");
        // Rows top to bottom: z[0] = 10, 0, -10, named z1 (1-based); columns sweep z3.
        assert!(text.contains(r#"row_titles: ["z1=10.0", "z1=0.0", "z1=-10.0"]"#), "{text}");
        assert!(text.contains(r#"title: Some("z3 = -10.0 ... 10.0, left to right")"#), "{text}");
        let bare = m.axes(false).render(4, &Device::Cpu, code_decoder).unwrap();
        assert!(format!("{bare:?}").contains("row_titles: [], title: None"));
        let (a, b) = (grid.to_image(), bare.to_image());
        assert!(a.width() > b.width() && a.height() > b.height(), "room for the row titles and the title");
    }

    #[test]
    fn bad_settings_and_decoders_are_reported() {
        assert!(Manifold::quantiles(3).probabilities(0.0, 0.9).axis_values().is_err());
        assert!(Manifold::linear(3, 1.0, -1.0).axis_values().is_err());
        assert!(Manifold::linear(3, -1.0, 1.0).codes(1).is_err());
        assert!(Manifold::linear(3, -1.0, 1.0).base(vec![0.0; 3]).codes(2).is_err());
        let short = |z: &Tensor| -> Result<Tensor> { Ok(z.narrow(0, 0, 1)?.repeat((1, 2))?) };
        let e = Manifold::linear(2, -1.0, 1.0).render(2, &Device::Cpu, short).unwrap_err();
        assert!(e.to_string().contains("returned 1 images"), "{e}");
    }
}
