//! What a model is trained to minimise, per example, averaged over the batch. Every objective
//! reports its total and two parts, `recon` and `kl`:
//!
//! | objective | on | total per example | `kl` reported |
//! |---|---|---|---|
//! | [`Objective::Mse`] | autoencoder | $\sum_i (\mathrm{sigmoid}(\ell_i) - x_i)^2$ | 0 |
//! | [`Objective::Mse`] | VAE | the same $+\ \beta\,\mathrm{KL}(q(z\mid x)\,\|\,\mathcal N(0,I))$ | the KL, also at $\beta = 0$ |
//! | [`Objective::Bce`] | either | $\mathrm{BCE}(\ell, x)$ (a Bernoulli decoder), no KL term and $\beta$ unused | 0 |
//! | [`Objective::Elbo`] | VAE | $\mathrm{BCE}(\ell, x) + \beta\,\mathrm{KL}(q(z\mid x)\,\|\,\mathcal N(0,I))$, the negative ELBO for $\beta = 1$ (PyTorch example) | the KL |
//! | [`Objective::McElbo`] | VAE | $-[\log p(x\mid z) + \log p(z) - \log q(z\mid x)]$, one $z \sim q$ (TF tutorial); $\beta$ must be 1 | $\log q(z\mid x) - \log p(z)$ at that $z$, whose mean is the KL |
//!
//! So `total = recon + beta * kl` for every row but mc-elbo's, where `total = recon + kl`. On a
//! VAE every objective decodes a sampled $z$ (the reparameterisation trick), Bce and Mse included.
//! The ELBOs of an autoencoder (no posterior, no prior) are errors, as is $\beta \ne 1$ with
//! mc-elbo: its single-sample estimate has no separate KL term to weigh.
//!
//! With a corruption (denoising), the model sees $\tilde x$ and is scored against the clean $x$.
//!
//! ```
//! # fn main() -> vae_core::Result<()> {
//! use candle_core::{Device, Tensor};
//! use vae_core::{losses::{bce_with_logits, kl_standard_normal}, models::Model, objective::Objective, rng::Rng};
//! let model = Model::from_name("mlp-vae", None, 0, &Device::Cpu)?;
//! let x = Rng::new(1).rand((4, 784), 0.0, 1.0, &Device::Cpu)?;
//! let parts = Objective::Elbo.compute(&model, &x, &x, None, 4.0, false, &mut Rng::new(2))?;
//! let (total, recon, kl) =
//!     (parts.total.to_scalar::<f32>()?, parts.recon.to_scalar::<f32>()?, parts.kl.to_scalar::<f32>()?);
//! // The same terms by hand: the same seed draws the same z.
//! let q = model.encode(&x, None)?;
//! let z = q.sample(&mut Rng::new(2))?;
//! let bce = bce_with_logits(&model.decode_logits_t(&z, None, false)?, &x)?.mean_all()?.to_scalar::<f32>()?;
//! let kl_q = kl_standard_normal(&q.mean, q.logvar.as_ref().unwrap())?.mean_all()?.to_scalar::<f32>()?;
//! assert!((recon - bce).abs() < 1e-3 && (kl - kl_q).abs() < 1e-5 && kl > 0.0);
//! assert!((total - (recon + 4.0 * kl)).abs() < 1e-3);
//! // An untrained decoder's logits are near 0: about ln 2 nats for each of the 784 pixels.
//! assert!((recon / 784.0 - std::f32::consts::LN_2).abs() < 0.05);
//! # Ok(()) }
//! ```
use crate::error::{Error, Result};
use crate::losses::{bce_with_logits, kl_standard_normal, mc_elbo, squared_error};
use crate::models::{flatten_images, Model};
use crate::rng::Rng;
use candle_core::{Tensor, D};
use serde::{Deserialize, Serialize};

/// The loss a model is trained and evaluated with (see the [module](self) table for what each
/// one adds up and reports). Serialised, and named on the command line, in kebab case: `mse`,
/// `bce`, `elbo`, `mc-elbo`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Objective {
    /// Squared error of the decoded pixels, summed over pixels; plus $\beta$ KL on a VAE.
    Mse,
    /// Binary cross-entropy of the pixel logits, summed over pixels; no KL term on any model.
    Bce,
    /// The negative ELBO with the KL in closed form, weighted by $\beta$ (the β-VAE for $\beta \ne 1$).
    Elbo,
    /// The single-sample Monte Carlo negative ELBO of the TensorFlow tutorial (β must be 1).
    McElbo,
}

impl Objective {
    /// Squared error (summed over pixels) for autoencoders, the analytic-KL ELBO for VAEs.
    pub fn default_for(model: &Model) -> Self {
        if model.is_variational() {
            Objective::Elbo
        } else {
            Objective::Mse
        }
    }

    /// Whether the objective means what its name says for `model`: the ELBOs need a VAE's
    /// posterior and prior, and on an autoencoder would silently compute the BCE alone.
    pub fn applies_to(&self, model: &Model) -> bool {
        model.is_variational() || matches!(self, Objective::Mse | Objective::Bce)
    }

    /// The kebab-case name of the command line and of serialised configs (`mc-elbo`).
    pub fn name(&self) -> &'static str {
        match self {
            Objective::Mse => "mse",
            Objective::Bce => "bce",
            Objective::Elbo => "elbo",
            Objective::McElbo => "mc-elbo",
        }
    }

    /// The batch-mean loss and its reconstruction and KL parts (scalars), for `input` through the
    /// encoder and `target` as what the decoder is scored against (the same tensor unless
    /// denoising); both `[B, 784]` or image-shaped ([`flatten_images`]). `train` puts batch norm in
    /// training mode, which also updates its running statistics. An error for an ELBO of an
    /// autoencoder and for mc-elbo with `beta != 1`.
    // Eight arguments, each a different thing; a struct around them would only be unpacked here.
    #[allow(clippy::too_many_arguments)]
    pub fn compute(
        &self,
        model: &Model,
        input: &Tensor,
        target: &Tensor,
        labels: Option<&Tensor>,
        beta: f64,
        train: bool,
        rng: &mut Rng,
    ) -> Result<LossParts> {
        if !self.applies_to(model) {
            return Err(Error::config(format!(
                "the {} objective needs a VAE, and {} is an autoencoder (no posterior, no prior); use mse or bce",
                self.name(),
                model.name()
            )));
        }
        if *self == Objective::McElbo && beta != 1.0 {
            return Err(Error::config(format!(
                "beta {beta} with the mc-elbo objective: its single-sample estimate has no separate KL term to \
                 weigh; use the elbo objective for beta != 1"
            )));
        }
        let target = flatten_images(target, model.config().input_dim(), "the target images")?;
        let target = &target;
        let q = model.encode_t(input, labels, train)?;
        let z = q.sample(rng)?;
        let logits = model.decode_logits_t(&z, labels, train)?;
        let zero = || Tensor::zeros((), candle_core::DType::F32, input.device());
        let (total, recon, kl) = match (self, &q.logvar) {
            (Objective::Mse, lv) => {
                let recon = squared_error(&candle_nn::ops::sigmoid(&logits)?, target)?.mean_all()?;
                match lv {
                    // The KL even at beta = 0, where it adds nothing: reported as on every path.
                    Some(lv) => {
                        let kl = kl_standard_normal(&q.mean, lv)?.mean_all()?;
                        ((&recon + (&kl * beta)?)?, recon, kl)
                    }
                    None => (recon.clone(), recon, zero()?),
                }
            }
            // The ELBOs of an autoencoder were refused above.
            (Objective::Bce, _) | (Objective::Elbo, None) | (Objective::McElbo, None) => {
                let recon = bce_with_logits(&logits, target)?.mean_all()?;
                (recon.clone(), recon, zero()?)
            }
            (Objective::Elbo, Some(lv)) => {
                let recon = bce_with_logits(&logits, target)?.mean_all()?;
                let kl = kl_standard_normal(&q.mean, lv)?.mean_all()?;
                ((&recon + (&kl * beta)?)?, recon, kl)
            }
            (Objective::McElbo, Some(lv)) => {
                // Report the reconstruction term on its own; the "KL" part is the single-sample
                // estimate log q(z|x) - log p(z), whose mean is the KL.
                let neg_elbo = mc_elbo(&logits, target, &z, &q.mean, lv)?.neg()?;
                let recon = bce_with_logits(&logits, target)?;
                let kl_est = (&neg_elbo - &recon)?.mean_all()?;
                (neg_elbo.mean_all()?, recon.mean_all()?, kl_est)
            }
        };
        Ok(LossParts { total, recon, kl })
    }
}

/// Batch-mean loss and its parts, as scalar tensors in nats (or squared pixel units for mse)
/// per example; only `total` is meant to be back-propagated.
pub struct LossParts {
    /// What training minimises: `recon + beta * kl` (mc-elbo: `recon + kl`).
    pub total: Tensor,
    /// The reconstruction term: BCE or squared error, summed over pixels.
    pub recon: Tensor,
    /// The KL term, unweighted by beta (0 where the objective has none; see the module table).
    pub kl: Tensor,
}

/// Mean over the last dimension, then over the batch: per-pixel error.
pub(crate) fn per_pixel_mean(t: &Tensor) -> Result<f64> {
    Ok(t.mean(D::Minus1)?.mean_all()?.to_scalar::<f32>()? as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn parts(o: Objective, model: &Model, x: &Tensor, target: &Tensor, beta: f64) -> Result<[f32; 3]> {
        let p = o.compute(model, x, target, None, beta, false, &mut Rng::new(2))?;
        Ok([p.total.to_scalar::<f32>()?, p.recon.to_scalar::<f32>()?, p.kl.to_scalar::<f32>()?])
    }

    #[test]
    fn mse_on_a_vae_reports_the_kl_at_beta_0_as_the_elbo_does() {
        let vae = Model::from_name("mlp-vae", Some(2), 0, &Device::Cpu).unwrap();
        let x = Rng::new(1).rand((4, 784), 0.0, 1.0, &Device::Cpu).unwrap();
        let [total, recon, kl] = parts(Objective::Mse, &vae, &x, &x, 0.0).unwrap();
        let elbo_kl = parts(Objective::Elbo, &vae, &x, &x, 0.0).unwrap()[2];
        assert!(kl > 0.0 && kl == elbo_kl, "mse kl {kl} vs elbo kl {elbo_kl}");
        assert_eq!(total, recon);
        let [total, recon, kl4] = parts(Objective::Mse, &vae, &x, &x, 4.0).unwrap();
        assert!((total - (recon + 4.0 * kl4)).abs() < 1e-4 && kl4 == kl);
        // Bce has no KL term on any model.
        let [total, recon, kl] = parts(Objective::Bce, &vae, &x, &x, 4.0).unwrap();
        assert!(total == recon && kl == 0.0);
    }

    #[test]
    fn objectives_that_cannot_mean_what_they_say_are_errors() {
        let ae = Model::from_name("mlp-ae", Some(2), 0, &Device::Cpu).unwrap();
        let x = Rng::new(1).rand((4, 784), 0.0, 1.0, &Device::Cpu).unwrap();
        for o in [Objective::Elbo, Objective::McElbo] {
            let e = parts(o, &ae, &x, &x, 1.0).unwrap_err().to_string();
            assert!(e.contains(&format!("the {} objective needs a VAE", o.name())), "{e}");
        }
        assert!(parts(Objective::Bce, &ae, &x, &x, 1.0).is_ok());
        let vae = Model::from_name("conv-vae", Some(2), 0, &Device::Cpu).unwrap();
        let e = parts(Objective::McElbo, &vae, &x, &x, 4.0).unwrap_err().to_string();
        assert!(e.contains("beta 4 with the mc-elbo objective"), "{e}");
        assert!(parts(Objective::McElbo, &vae, &x, &x, 1.0).is_ok());
    }

    #[test]
    fn image_shaped_inputs_and_targets_score_as_their_rows() {
        let vae = Model::from_name("mlp-vae", Some(2), 0, &Device::Cpu).unwrap();
        let x = Rng::new(1).rand((4, 784), 0.0, 1.0, &Device::Cpu).unwrap();
        let img = x.reshape((4, 1, 28, 28)).unwrap();
        for o in [Objective::Mse, Objective::Bce, Objective::Elbo, Objective::McElbo] {
            let rows = parts(o, &vae, &x, &x, 1.0).unwrap();
            assert_eq!(parts(o, &vae, &img, &img, 1.0).unwrap(), rows, "{}", o.name());
            assert_eq!(parts(o, &vae, &x, &img.squeeze(1).unwrap(), 1.0).unwrap(), rows, "{}", o.name());
        }
        let e = parts(Objective::Elbo, &vae, &x, &x.reshape((4, 1, 56, 14)).unwrap(), 1.0).unwrap_err().to_string();
        assert!(e.contains("the target images: expected [B, 784] or [B, 1, 28, 28], got [4, 1, 56, 14]"), "{e}");
    }
}
