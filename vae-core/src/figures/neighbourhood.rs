//! The neighbourhood of one code: decode `z0 + a * s_i * e_i + b * s_j * e_j` for offsets
//! `a, b` in `-k ..= k` (in units of standard deviations), along two chosen dimensions.
//!
//! With `z0 = mu(x)` and `s = sigma(x)` from a VAE encoder this shows which images the
//! posterior `q(z | x)` considers plausible for one input: the centre tile is the mean
//! reconstruction, and a well-trained VAE decodes small variations of `x` within about
//! `+- 2` standard deviations. Columns step along dimension `i` (left to right), rows along
//! dimension `j` (bottom to top), as in [`Manifold`](super::Manifold). The rendered grid says
//! so: its title names both dimensions (numbered from 1, as `Manifold` does) with their step
//! sizes, and each row is titled with its offset along `j` in steps.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use vae_core::figures::Neighbourhood;
//! let nb = Neighbourhood::new(vec![1.0, 0.0], vec![0.5, 0.1])?.steps(3).k(2.0);
//! let codes = nb.codes()?;
//! assert_eq!(codes[3], vec![0.0, 0.0]); // middle row, left: z0[0] - 2 * 0.5
//! # Ok::<(), vae_core::Error>(())
//! ```
use super::manifold::check_count;
use super::ImageGrid;
use crate::{Error, Result};
use candle_core::{DType, Device, Tensor};

/// A grid of decoded codes around `center`, stepping in multiples of `std` along two dimensions.
#[derive(Debug, Clone)]
pub struct Neighbourhood {
    center: Vec<f32>,
    std: Vec<f32>,
    dims: (usize, usize),
    k: f64,
    steps: usize,
    captions: bool,
}

impl Neighbourhood {
    /// A code and its per-dimension standard deviation (same length, at least 2).
    pub fn new(center: Vec<f32>, std: Vec<f32>) -> Result<Self> {
        if center.len() < 2 || center.len() != std.len() {
            return Err(Error::config(format!(
                "Neighbourhood: center ({} values) and std ({} values) must have the same length, at least 2",
                center.len(),
                std.len()
            )));
        }
        Ok(Self { center, std, dims: (0, 1), k: 2.0, steps: 5, captions: false })
    }

    /// From tensors `[D]` or `[1, D]` (e.g. `mu` and `(0.5 * logvar).exp()` of one input).
    pub fn from_tensors(center: &Tensor, std: &Tensor) -> Result<Self> {
        let v = |t: &Tensor| -> Result<Vec<f32>> {
            Ok(t.flatten_all()?.to_dtype(DType::F32)?.to_device(&Device::Cpu)?.to_vec1()?)
        };
        Self::new(v(center)?, v(std)?)
    }

    /// The two dimensions to move along: `i` across, `j` up. Default (0, 1).
    pub fn dims(mut self, i: usize, j: usize) -> Self {
        self.dims = (i, j);
        self
    }

    /// The two dimensions with the smallest standard deviations, narrowest first (ties: lower
    /// index first). For a VAE posterior these are the dimensions the code pins down most
    /// tightly for this input: the ones it uses most.
    ///
    /// ```
    /// use vae_core::figures::Neighbourhood;
    /// assert_eq!(Neighbourhood::narrowest_dims(&[0.9, 0.1, 0.5, 0.1])?, (1, 3));
    /// # Ok::<(), vae_core::Error>(())
    /// ```
    ///
    /// An error if `std` has fewer than two values (a model with a 1-dimensional code has no
    /// plane to step in).
    pub fn narrowest_dims(std: &[f32]) -> Result<(usize, usize)> {
        if std.len() < 2 {
            return Err(Error::config(format!(
                "Neighbourhood::narrowest_dims: a code of {} dimension(s); a neighbourhood needs at least 2",
                std.len()
            )));
        }
        let mut order: Vec<usize> = (0..std.len()).collect();
        order.sort_by(|&a, &b| std[a].total_cmp(&std[b]));
        Ok((order[0], order[1]))
    }

    /// Largest offset in standard deviations (default 2); [`codes`](Self::codes) and
    /// [`render`](Self::render) refuse one that is negative or not finite.
    pub fn k(mut self, k: f64) -> Self {
        self.k = k;
        self
    }

    /// Number of steps per axis (default 5; odd numbers put `z0` in the centre; 1 is `z0`
    /// alone). [`codes`](Self::codes) and [`render`](Self::render) refuse 0.
    pub fn steps(mut self, n: usize) -> Self {
        self.steps = n;
        self
    }

    /// Caption every tile with its two offsets in steps (default off: the title and the row
    /// titles already give them, and `steps^2` captions crowd the grid).
    pub fn captions(mut self, on: bool) -> Self {
        self.captions = on;
        self
    }

    /// Offsets in standard deviations, increasing.
    pub fn offsets(&self) -> Vec<f64> {
        let n = self.steps.max(1);
        (0..n).map(|a| if n == 1 { 0.0 } else { -self.k + 2.0 * self.k * a as f64 / (n - 1) as f64 }).collect()
    }

    /// The codes in tile order (row-major, top row = largest offset along `j`).
    pub fn codes(&self) -> Result<Vec<Vec<f32>>> {
        // The builder methods cannot fail, so their values are checked here, where they are used.
        if self.steps == 0 {
            return Err(Error::config(
                "Neighbourhood::steps(0): a grid needs at least 1 step per axis (5 is the default)",
            ));
        }
        if !(self.k.is_finite() && self.k >= 0.0) {
            return Err(Error::config(format!(
                "Neighbourhood::k({}): the largest offset must be a finite number of standard deviations, at least 0",
                self.k
            )));
        }
        let (i, j) = self.dims;
        let d = self.center.len();
        if i >= d || j >= d || i == j {
            return Err(Error::config(format!(
                "Neighbourhood::dims({i}, {j}): need two different dimensions below {d}"
            )));
        }
        let off = self.offsets();
        let mut codes = Vec::new();
        for b in off.iter().rev() {
            for a in &off {
                let mut z = self.center.clone();
                z[i] += (*a as f32) * self.std[i];
                z[j] += (*b as f32) * self.std[j];
                codes.push(z);
            }
        }
        Ok(codes)
    }

    /// Decodes the neighbourhood (codes `[steps^2, D]` on `device`) into a grid titled with the
    /// two dimensions and their step sizes, rows titled with their offset along `j`.
    pub fn render(&self, device: &Device, decode: impl Fn(&Tensor) -> Result<Tensor>) -> Result<ImageGrid> {
        let codes = self.codes()?;
        let images = decode(&super::codes_tensor(&codes, device)?)?;
        check_count(&images, codes.len(), "Neighbourhood")?;
        let (i, j) = self.dims;
        let off = self.offsets();
        let title = format!(
            "z{} left to right, step {}\nz{} bottom to top, step {}",
            i + 1,
            fmt_step(self.std[i]),
            j + 1,
            fmt_step(self.std[j])
        );
        let mut grid = ImageGrid::new(&images)?
            .cols(self.steps.max(1))
            .title(title)
            .row_titles(off.iter().rev().map(|b| fmt_offset(*b)).collect());
        if self.captions {
            let caps = off
                .iter()
                .rev()
                .flat_map(|b| off.iter().map(move |a| format!("{}, {}", fmt_offset(*a), fmt_offset(*b))))
                .collect();
            grid = grid.captions(caps);
        }
        Ok(grid)
    }
}

/// An offset in steps, signed so that rows read as a ruler: `+2`, `0`, `-1.5`.
fn fmt_offset(v: f64) -> String {
    if v.abs() < 1e-9 {
        "0".to_string()
    } else if v.fract() == 0.0 {
        format!("{v:+.0}")
    } else {
        format!("{v:+.1}")
    }
}

/// A step size with two significant digits: posterior sigmas are often around 0.1, where one
/// decimal would print 0.1 for both 0.06 and 0.14.
fn fmt_step(v: f32) -> String {
    let v = v as f64;
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let decimals = (1 - v.abs().log10().floor() as i32).clamp(0, 6) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_multiples_of_the_std_along_the_chosen_axes() {
        let nb = Neighbourhood::new(vec![1.0, 2.0, 3.0], vec![0.5, 0.25, 2.0]).unwrap().dims(2, 0).steps(5).k(2.0);
        assert_eq!(nb.offsets(), vec![-2.0, -1.0, 0.0, 1.0, 2.0]);
        let codes = nb.codes().unwrap();
        assert_eq!(codes.len(), 25);
        assert_eq!(codes[12], vec![1.0, 2.0, 3.0], "centre tile is z0");
        assert_eq!(codes[0], vec![1.0 + 2.0 * 0.5, 2.0, 3.0 - 2.0 * 2.0], "top-left: -k along i, +k along j");
        assert_eq!(codes[24], vec![1.0 - 2.0 * 0.5, 2.0, 3.0 + 2.0 * 2.0]);
        let decode = |z: &Tensor| -> Result<Tensor> { Ok((z.narrow(1, 2, 1)? / 10.0)?.repeat((1, 4))?) };
        let grid = nb.render(&Device::Cpu, decode).unwrap();
        assert_eq!(grid.shape(), (5, 5));
        let text = format!("{grid:?}");
        assert!(text.contains(r#"title: Some("z3 left to right, step 2\nz1 bottom to top, step 0.5")"#), "{text}");
        assert!(text.contains(r#"row_titles: ["+2", "+1", "0", "-1", "-2"]"#), "{text}");
        assert!(text.contains("captions: []"), "{text}");
        assert!((grid.tiles()[12][0] - 0.3).abs() < 1e-6);
        assert!(Neighbourhood::new(vec![0.0; 2], vec![1.0; 3]).is_err());
        assert!(nb.clone().dims(0, 0).codes().is_err());
        // steps(0) drew one tile and k(NaN) a grid of NaN codes before.
        let e = nb.clone().steps(0).render(&Device::Cpu, decode).unwrap_err().to_string();
        assert!(e.contains("steps(0)"), "{e}");
        for k in [f64::NAN, f64::INFINITY, -1.0] {
            let e = nb.clone().k(k).codes().unwrap_err().to_string();
            assert!(e.contains(&format!("k({k})")) && e.contains("finite number"), "{e}");
        }
        assert_eq!(nb.steps(1).codes().unwrap(), vec![vec![1.0, 2.0, 3.0]], "one step: the centre alone");
    }

    #[test]
    fn steps_print_two_significant_digits() {
        let got: Vec<String> = [0.123, 0.07, 0.5, 1.0, 2.345, 12.0, 0.0].iter().map(|v| fmt_step(*v)).collect();
        assert_eq!(got, ["0.12", "0.07", "0.5", "1", "2.3", "12", "0"]);
    }

    #[test]
    fn narrowest_dims_sorts_by_std_and_keeps_ties_in_index_order() {
        assert_eq!(Neighbourhood::narrowest_dims(&[0.3, 0.2]).unwrap(), (1, 0));
        assert_eq!(Neighbourhood::narrowest_dims(&[0.5, 0.07, 0.9, 0.07, 0.06]).unwrap(), (4, 1));
        assert_eq!(Neighbourhood::narrowest_dims(&[1.0; 20]).unwrap(), (0, 1));
        // A 1-dimensional code: an error, where a panic threw away every variable of the kernel.
        let e = Neighbourhood::narrowest_dims(&[0.3]).unwrap_err().to_string();
        assert!(e.contains("a code of 1 dimension(s); a neighbourhood needs at least 2"), "{e}");
    }
}
