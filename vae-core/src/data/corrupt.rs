//! Input corruption for denoising autoencoders, all seeded by the project [`Rng`].
//!
//! - Gaussian: $\tilde x = \mathrm{clip}(x + \sigma\epsilon, 0, 1)$, $\epsilon \sim \mathcal N(0, I)$.
//! - Salt and pepper: each pixel, with probability $p$, becomes 0 or 1 (even odds).
//! - Masking: each pixel, with probability $p$, becomes 0.
//!
//! ```
//! # fn main() -> vae_core::Result<()> {
//! use candle_core::{Device, Tensor};
//! use vae_core::{data::Corruption, rng::Rng};
//! let x = Tensor::full(0.5f32, (2, 784), &Device::Cpu)?;
//! let noisy = Corruption::Gaussian { std: 0.5 }.apply(&x, &mut Rng::new(1))?;
//! assert!(noisy.min_all()?.to_scalar::<f32>()? >= 0.0);
//! # Ok(()) }
//! ```
use crate::error::{Error, Result};
use crate::rng::Rng;
use candle_core::Tensor;
use serde::{Deserialize, Serialize};

/// A way of damaging images, for a denoising autoencoder to learn to undo (the module doc
/// gives the formulas).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Corruption {
    /// Additive Gaussian noise, clipped back to [0, 1].
    Gaussian {
        /// Standard deviation of the noise, in pixel units (0.5 is heavy for MNIST).
        std: f32,
    },
    /// Each pixel, with probability `p`, becomes 0 or 1 (even odds).
    SaltPepper {
        /// The fraction of pixels hit, from 0 to 1.
        p: f32,
    },
    /// Each pixel, with probability `p`, becomes 0 (background).
    Mask {
        /// The fraction of pixels blanked, from 0 to 1.
        p: f32,
    },
}

impl Corruption {
    /// What is wrong with the amount, if anything: a noise level must be a finite number of at
    /// least 0, a probability a number from 0 to 1.
    pub fn problem(&self) -> Option<String> {
        match *self {
            Corruption::Gaussian { std } if !(std.is_finite() && std >= 0.0) => {
                Some(format!("gaussian:{std}: the noise's standard deviation must be a finite number of at least 0"))
            }
            Corruption::SaltPepper { p } if !(0.0..=1.0).contains(&p) => {
                Some(format!("salt-pepper:{p}: the probability must be between 0 and 1"))
            }
            Corruption::Mask { p } if !(0.0..=1.0).contains(&p) => {
                Some(format!("mask:{p}: the probability must be between 0 and 1"))
            }
            _ => None,
        }
    }

    /// A corrupted copy of `x` (f32 pixels in [0, 1], any shape), with fresh noise from `rng`;
    /// the result stays in [0, 1]. An error, before any noise is drawn, for an amount that
    /// [`problem`](Self::problem) refuses.
    pub fn apply(&self, x: &Tensor, rng: &mut Rng) -> Result<Tensor> {
        if let Some(why) = self.problem() {
            return Err(Error::config(format!("corruption {why}")));
        }
        let dims = x.dims().to_vec();
        let v = x.flatten_all()?.to_vec1::<f32>()?;
        let out: Vec<f32> = match *self {
            Corruption::Gaussian { std } => {
                let e = rng.normal_vec(v.len());
                v.iter().zip(e).map(|(&p, e)| (p + std * e).clamp(0.0, 1.0)).collect()
            }
            Corruption::SaltPepper { p } => v
                .iter()
                .map(|&x| {
                    let (hit, salt) = (rng.uniform() < p, rng.uniform() < 0.5);
                    if hit {
                        if salt {
                            1.0
                        } else {
                            0.0
                        }
                    } else {
                        x
                    }
                })
                .collect(),
            Corruption::Mask { p } => v.iter().map(|&x| if rng.uniform() < p { 0.0 } else { x }).collect(),
        };
        Ok(Tensor::from_vec(out, dims, x.device())?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn ones() -> Tensor {
        Tensor::full(0.5f32, (50, 200), &Device::Cpu).unwrap()
    }
    fn vals(t: &Tensor) -> Vec<f32> {
        t.flatten_all().unwrap().to_vec1().unwrap()
    }

    #[test]
    fn gaussian_noise_has_the_right_spread_and_is_clipped() {
        let v = vals(&Corruption::Gaussian { std: 0.1 }.apply(&ones(), &mut Rng::new(0)).unwrap());
        let sd = (v.iter().map(|x| (x - 0.5).powi(2)).sum::<f32>() / v.len() as f32).sqrt();
        assert!((sd - 0.1).abs() < 0.005, "{sd}");
        let v = vals(&Corruption::Gaussian { std: 5.0 }.apply(&ones(), &mut Rng::new(0)).unwrap());
        assert!(v.iter().all(|&x| (0.0..=1.0).contains(&x)));
    }

    #[test]
    fn salt_pepper_and_mask_hit_the_right_fraction() {
        let v = vals(&Corruption::SaltPepper { p: 0.2 }.apply(&ones(), &mut Rng::new(0)).unwrap());
        let salt = v.iter().filter(|&&x| x == 1.0).count() as f32 / v.len() as f32;
        let pepper = v.iter().filter(|&&x| x == 0.0).count() as f32 / v.len() as f32;
        assert!((salt - 0.1).abs() < 0.01 && (pepper - 0.1).abs() < 0.01, "{salt} {pepper}");
        let v = vals(&Corruption::Mask { p: 0.3 }.apply(&ones(), &mut Rng::new(0)).unwrap());
        let masked = v.iter().filter(|&&x| x == 0.0).count() as f32 / v.len() as f32;
        assert!((masked - 0.3).abs() < 0.01, "{masked}");
    }

    #[test]
    fn amounts_that_make_no_sense_are_refused_by_apply_too() {
        // apply did not ask problem(): a mask "probability" of 3 blanked every pixel silently.
        for c in
            [Corruption::Mask { p: 3.0 }, Corruption::SaltPepper { p: -0.1 }, Corruption::Gaussian { std: f32::NAN }]
        {
            let e = c.apply(&ones(), &mut Rng::new(0)).unwrap_err().to_string();
            assert!(e.contains("corruption") && e.contains(&c.problem().unwrap()), "{e}");
        }
    }

    #[test]
    fn corruption_is_seeded() {
        let c = Corruption::SaltPepper { p: 0.5 };
        assert_eq!(
            vals(&c.apply(&ones(), &mut Rng::new(4)).unwrap()),
            vals(&c.apply(&ones(), &mut Rng::new(4)).unwrap())
        );
    }
}
