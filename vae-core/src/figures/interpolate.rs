//! Walking between two codes, and attribute arithmetic in latent space.
//!
//! Linear interpolation `lerp(a, b, t) = (1 - t) a + t b` cuts straight through the space; in
//! high dimensions its midpoint has a smaller norm than typical samples of `N(0, I)` (which
//! concentrate near the sphere of radius `sqrt(D)`), so it can decode to blurry images.
//! Spherical interpolation follows the great circle between the directions of `a` and `b`:
//!
//! `slerp(a, b, t) = sin((1 - t) w) / sin(w) * a + sin(t w) / sin(w) * b`, `cos(w) = a.b / (|a| |b|)`,
//!
//! which keeps the norm when `|a| = |b|`. In general its midpoint has
//! `|slerp(a, b, 1/2)|^2 = (|a| - |b|)^2 / (2 (1 + cos w)) + |a| |b| >= |a| |b|`: it never dips
//! below the geometric mean of the two norms, while for equal norms lerp's midpoint
//! `|a + b| / 2 = |a| cos(w / 2)` goes to 0 as `w` approaches a half turn. When `a` and `b` are (anti-)parallel `sin(w)` vanishes and slerp
//! falls back to lerp.
//!
//! Attribute arithmetic: with codes of "smiling woman" `a`, "neutral woman" `b`, "neutral
//! man" `c`, the code `a - b + c` often decodes to a smiling man.
//!
//! ```
//! use vae_core::figures::{lerp, slerp};
//! let (a, b) = ([1.0f32, 0.0], [0.0f32, 1.0]);
//! assert_eq!(lerp(&a, &b, 0.5)?, vec![0.5, 0.5]);
//! let m = slerp(&a, &b, 0.5)?;
//! assert!((m[0] - 0.5f32.sqrt()).abs() < 1e-6 && (m[1] - 0.5f32.sqrt()).abs() < 1e-6);
//! # Ok::<(), vae_core::Error>(())
//! ```
use super::manifold::check_count;
use super::ImageGrid;
use crate::{Error, Result};
use candle_core::{Device, Tensor};

/// How to move between two codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interpolation {
    /// Straight line, [`lerp`].
    Linear,
    /// Great circle, [`slerp`].
    Spherical,
}

/// Codes of different lengths cannot be combined: zipping them would silently drop the
/// longer one's tail and return a code of neither's size.
fn check_lengths(what: &str, codes: &[&[f32]]) -> Result<()> {
    if codes.iter().any(|c| c.len() != codes[0].len()) {
        let lens: Vec<usize> = codes.iter().map(|c| c.len()).collect();
        return Err(Error::config(format!(
            "{what}: codes of lengths {lens:?}; pass codes of one length (the model's latent size)"
        )));
    }
    Ok(())
}

/// `(1 - t) a + t b`; an error if `a` and `b` differ in length.
pub fn lerp(a: &[f32], b: &[f32], t: f32) -> Result<Vec<f32>> {
    check_lengths("lerp", &[a, b])?;
    Ok(lerp_same_len(a, b, t))
}

fn lerp_same_len(a: &[f32], b: &[f32], t: f32) -> Vec<f32> {
    a.iter().zip(b).map(|(x, y)| (1.0 - t) * x + t * y).collect()
}

/// Spherical interpolation between `a` and `b` (see the module docs); an error if they differ
/// in length.
pub fn slerp(a: &[f32], b: &[f32], t: f32) -> Result<Vec<f32>> {
    check_lengths("slerp", &[a, b])?;
    Ok(slerp_same_len(a, b, t))
}

fn slerp_same_len(a: &[f32], b: &[f32], t: f32) -> Vec<f32> {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    if na == 0.0 || nb == 0.0 {
        return lerp_same_len(a, b, t);
    }
    let omega = (dot / (na * nb)).clamp(-1.0, 1.0).acos();
    let so = omega.sin();
    if so.abs() < 1e-6 {
        return lerp_same_len(a, b, t);
    }
    let t = t as f64;
    let (wa, wb) = (((1.0 - t) * omega).sin() / so, (t * omega).sin() / so);
    a.iter().zip(b).map(|(x, y)| (wa * *x as f64 + wb * *y as f64) as f32).collect()
}

/// `steps` codes from `a` to `b` inclusive (`t = k / (steps - 1)`).
pub fn interpolation_codes(a: &[f32], b: &[f32], steps: usize, method: Interpolation) -> Result<Vec<Vec<f32>>> {
    if a.len() != b.len() || a.is_empty() {
        return Err(Error::config(format!(
            "interpolation: codes of lengths {} and {} must match and be non-empty",
            a.len(),
            b.len()
        )));
    }
    if steps < 2 {
        return Err(Error::config(format!("interpolation: need at least 2 steps (the two end points), got {steps}")));
    }
    Ok((0..steps)
        .map(|k| {
            let t = k as f32 / (steps - 1) as f32;
            match method {
                Interpolation::Linear => lerp_same_len(a, b, t),
                Interpolation::Spherical => slerp_same_len(a, b, t),
            }
        })
        .collect())
}

fn decode_rows(
    decode: impl Fn(&Tensor) -> Result<Tensor>,
    codes: &[Vec<f32>],
    device: &Device,
    what: &str,
) -> Result<ImageGrid> {
    let images = decode(&super::codes_tensor(codes, device)?)?;
    check_count(&images, codes.len(), what)?;
    ImageGrid::new(&images)
}

/// One strip of `steps` decoded images from `a` to `b`, captioned with `t`.
pub fn interpolation_strip(
    decode: impl Fn(&Tensor) -> Result<Tensor>,
    a: &[f32],
    b: &[f32],
    steps: usize,
    method: Interpolation,
    device: &Device,
) -> Result<ImageGrid> {
    let codes = interpolation_codes(a, b, steps, method)?;
    let caps = (0..steps).map(|k| format!("t={:.2}", k as f64 / (steps - 1) as f64)).collect();
    Ok(decode_rows(decode, &codes, device, "interpolation_strip")?.cols(steps).captions(caps))
}

/// One strip per pair of codes, stacked (e.g. several digit pairs).
pub fn interpolation_rows(
    decode: impl Fn(&Tensor) -> Result<Tensor>,
    pairs: &[(Vec<f32>, Vec<f32>)],
    steps: usize,
    method: Interpolation,
    device: &Device,
) -> Result<ImageGrid> {
    let mut codes = Vec::new();
    for (a, b) in pairs {
        codes.extend(interpolation_codes(a, b, steps, method)?);
    }
    if codes.is_empty() {
        return Err(Error::config("interpolation_rows: no pairs of codes given"));
    }
    Ok(decode_rows(decode, &codes, device, "interpolation_rows")?.cols(steps))
}

/// Linear (top row) and spherical (bottom row) interpolation between the same two codes.
pub fn compare_interpolations(
    decode: impl Fn(&Tensor) -> Result<Tensor>,
    a: &[f32],
    b: &[f32],
    steps: usize,
    device: &Device,
) -> Result<ImageGrid> {
    let mut codes = interpolation_codes(a, b, steps, Interpolation::Linear)?;
    codes.extend(interpolation_codes(a, b, steps, Interpolation::Spherical)?);
    Ok(decode_rows(decode, &codes, device, "compare_interpolations")?
        .cols(steps)
        .row_titles(vec!["linear".into(), "spherical".into()]))
}

/// `a - b + c`; an error if the three differ in length.
pub fn arithmetic(a: &[f32], b: &[f32], c: &[f32]) -> Result<Vec<f32>> {
    check_lengths("arithmetic", &[a, b, c])?;
    Ok(a.iter().zip(b).zip(c).map(|((x, y), z)| x - y + z).collect())
}

/// Decodes `a`, `b`, `c` and `a - b + c` side by side, captioned "a", "b", "c", "a - b + c".
pub fn attribute_arithmetic(
    decode: impl Fn(&Tensor) -> Result<Tensor>,
    a: &[f32],
    b: &[f32],
    c: &[f32],
    device: &Device,
) -> Result<ImageGrid> {
    if a.len() != b.len() || b.len() != c.len() || a.is_empty() {
        return Err(Error::config(format!(
            "attribute_arithmetic: codes of lengths {}, {}, {} must match and be non-empty",
            a.len(),
            b.len(),
            c.len()
        )));
    }
    let codes = vec![a.to_vec(), b.to_vec(), c.to_vec(), arithmetic(a, b, c)?];
    let caps = ["a", "b", "c", "a - b + c"].iter().map(|s| s.to_string()).collect();
    Ok(decode_rows(decode, &codes, device, "attribute_arithmetic")?.cols(4).captions(caps))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(v: &[f32]) -> f32 {
        v.iter().map(|x| x * x).sum::<f32>().sqrt()
    }

    #[test]
    fn slerp_hits_the_endpoints_and_keeps_the_norm() {
        let a = [3.0f32, 0.0, 4.0, 0.0];
        let b = [0.0f32, 5.0, 0.0, 0.0];
        for (x, y) in slerp(&a, &b, 0.0).unwrap().iter().zip(&a) {
            assert!((x - y).abs() < 1e-6);
        }
        for (x, y) in slerp(&a, &b, 1.0).unwrap().iter().zip(&b) {
            assert!((x - y).abs() < 1e-6);
        }
        for k in 0..=10 {
            let t = k as f32 / 10.0;
            assert!((norm(&slerp(&a, &b, t).unwrap()) - 5.0).abs() < 1e-5, "t = {t}");
        }
        // Linear interpolation shrinks the midpoint: |(a + b) / 2| = 5 / sqrt(2).
        assert!((norm(&lerp(&a, &b, 0.5).unwrap()) - 5.0 / 2f32.sqrt()).abs() < 1e-5);
        // Equal angles at t = 1/2.
        let m = slerp(&a, &b, 0.5).unwrap();
        let cos = |u: &[f32], v: &[f32]| u.iter().zip(v).map(|(x, y)| x * y).sum::<f32>() / (norm(u) * norm(v));
        assert!((cos(&m, &a) - cos(&m, &b)).abs() < 1e-6);
        // Parallel codes fall back to lerp.
        assert_eq!(slerp(&[1.0, 1.0], &[2.0, 2.0], 0.5).unwrap(), vec![1.5, 1.5]);
    }

    #[test]
    fn slerp_midpoint_norm_matches_its_closed_form_and_never_dips_below_the_geometric_mean() {
        let mut rng = crate::rng::Rng::new(3);
        for _ in 0..50 {
            let (a, b) = (rng.normal_vec(20), rng.normal_vec(20));
            let b: Vec<f32> = b.iter().map(|x| 2.0 * x).collect();
            let (na, nb) = (norm(&a) as f64, norm(&b) as f64);
            let cos = a.iter().zip(&b).map(|(x, y)| (x * y) as f64).sum::<f64>() / (na * nb);
            let want = ((na - nb).powi(2) / (2.0 * (1.0 + cos)) + na * nb).sqrt();
            let got = norm(&slerp(&a, &b, 0.5).unwrap()) as f64;
            assert!((got - want).abs() < 1e-4 * want, "{got} vs closed form {want}");
            assert!(got >= (na * nb).sqrt() * (1.0 - 1e-6));
        }
    }

    #[test]
    fn strips_and_arithmetic_decode_the_right_codes() {
        // Decoder that stores the code in the first pixels: pixel k = z[k].
        let decode = |z: &Tensor| -> Result<Tensor> { Ok(z.pad_with_zeros(1, 0, 4 - z.dim(1)?)?) };
        let grid =
            interpolation_strip(decode, &[0.0, 0.0], &[1.0, 0.5], 5, Interpolation::Linear, &Device::Cpu).unwrap();
        assert_eq!(grid.shape(), (1, 5));
        assert_eq!(grid.tiles()[2][..2], [0.5, 0.25]);
        let g = attribute_arithmetic(decode, &[0.9, 0.1], &[0.5, 0.1], &[0.2, 0.6], &Device::Cpu).unwrap();
        assert!((g.tiles()[3][0] - 0.6).abs() < 1e-6 && (g.tiles()[3][1] - 0.6).abs() < 1e-6);
        let c = compare_interpolations(decode, &[1.0, 0.0], &[0.0, 1.0], 3, &Device::Cpu).unwrap();
        assert_eq!(c.shape(), (2, 3));
        assert!((c.tiles()[4][0] - 0.5f32.sqrt()).abs() < 1e-6, "spherical midpoint in row 2");
        let r = interpolation_rows(
            decode,
            &vec![(vec![0.0, 0.0], vec![1.0, 1.0]); 3],
            4,
            Interpolation::Spherical,
            &Device::Cpu,
        )
        .unwrap();
        assert_eq!(r.shape(), (3, 4));
        assert!(interpolation_codes(&[0.0], &[1.0, 2.0], 3, Interpolation::Linear).is_err());
    }

    #[test]
    fn codes_of_different_lengths_are_refused_not_truncated() {
        // Before: lerp(&[1, 2, 3], &[0, 0], 0.5) gave [0.5, 1.0], a code of neither's size.
        let msg = |r: Result<Vec<f32>>| r.unwrap_err().to_string();
        assert!(msg(lerp(&[1.0, 2.0, 3.0], &[0.0, 0.0], 0.5)).contains("lerp: codes of lengths [3, 2]"));
        assert!(msg(slerp(&[1.0, 2.0, 3.0], &[0.0, 1.0], 0.5)).contains("slerp: codes of lengths [3, 2]"));
        assert!(msg(arithmetic(&[1.0, 2.0], &[0.0, 0.0], &[1.0])).contains("arithmetic: codes of lengths [2, 2, 1]"));
        assert_eq!(arithmetic(&[1.0, 2.0], &[0.5, 0.0], &[1.0, 1.0]).unwrap(), [1.5, 3.0]);
        // Pairs of different lengths: "Shape mismatch, got buffer of size 15" from candle before.
        // Called through `figures`, which re-exports the interpolation helpers side by side.
        let decode = |z: &Tensor| -> Result<Tensor> { Ok(z.pad_with_zeros(1, 0, 4 - z.dim(1)?)?) };
        let pairs = [(vec![0.0, 0.0], vec![1.0, 1.0]), (vec![0.0; 3], vec![1.0; 3])];
        let e = crate::figures::interpolation_rows(decode, &pairs, 3, Interpolation::Linear, &Device::Cpu);
        assert!(e.unwrap_err().to_string().contains("codes of lengths 2 and 3"));
        assert!(crate::figures::compare_interpolations(decode, &[0.0], &[1.0], 3, &Device::Cpu).is_ok());
        assert!(interpolation_codes(&[0.0], &[1.0], 1, Interpolation::Linear).is_err());
    }
}
