//! What a model is trained to minimise, per example, averaged over the batch.
//!
//! | objective | loss per example |
//! |---|---|
//! | [`Objective::Mse`] | $\sum_i (\mathrm{sigmoid}(\ell_i) - x_i)^2$ (autoencoders) |
//! | [`Objective::Bce`] | $\mathrm{BCE}(\ell, x)$ (autoencoders with a Bernoulli decoder) |
//! | [`Objective::Elbo`] | $\mathrm{BCE}(\ell, x) + \beta\,\mathrm{KL}(q(z|x)\,\|\,\mathcal N(0,I))$, the negative ELBO for $\beta = 1$ (PyTorch example) |
//! | [`Objective::McElbo`] | $-[\log p(x|z) + \log p(z) - \log q(z|x)]$, one $z \sim q$ (TF tutorial) |
//!
//! With a corruption (denoising), the model sees $\tilde x$ and is scored against the clean $x$.
//!
//! ```
//! # fn main() -> vae_core::Result<()> {
//! use candle_core::{Device, Tensor};
//! use vae_core::{models::Model, objective::Objective, rng::Rng};
//! let model = Model::from_name("mlp-vae", None, 0, &Device::Cpu)?;
//! let x = Rng::new(1).rand((4, 784), 0.0, 1.0, &Device::Cpu)?;
//! let parts = Objective::Elbo.compute(&model, &x, &x, None, 1.0, false, &mut Rng::new(2))?;
//! assert!(parts.recon.to_scalar::<f32>()? > 0.0);
//! # Ok(()) }
//! ```
use crate::error::Result;
use crate::losses::{bce_with_logits, kl_standard_normal, mc_elbo, squared_error};
use crate::models::Model;
use crate::rng::Rng;
use candle_core::{Tensor, D};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Objective {
    Mse,
    Bce,
    Elbo,
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

    pub fn name(&self) -> &'static str {
        match self {
            Objective::Mse => "mse",
            Objective::Bce => "bce",
            Objective::Elbo => "elbo",
            Objective::McElbo => "mc-elbo",
        }
    }

    /// The batch-mean loss and its reconstruction and KL parts (scalars). With `train: true` the
    /// model runs in training mode ([`Model::encode_t`]): batch norm updates its running
    /// statistics, so a call to look at a loss should pass `false`.
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
        let q = model.encode_t(input, labels, train)?;
        let z = q.sample(rng)?;
        let logits = model.decode_logits_t(&z, labels, train)?;
        let zero = || Tensor::zeros((), candle_core::DType::F32, input.device());
        let (total, recon, kl) = match (self, &q.logvar) {
            (Objective::Mse, lv) => {
                let recon = squared_error(&candle_nn::ops::sigmoid(&logits)?, target)?.mean_all()?;
                match lv {
                    Some(lv) if beta > 0.0 => {
                        let kl = kl_standard_normal(&q.mean, lv)?.mean_all()?;
                        ((&recon + (&kl * beta)?)?, recon, kl)
                    }
                    _ => (recon.clone(), recon, zero()?),
                }
            }
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

/// Batch-mean loss and its parts, as scalar tensors (the total carries the gradient).
pub struct LossParts {
    pub total: Tensor,
    pub recon: Tensor,
    pub kl: Tensor,
}

/// Mean over the last dimension, then over the batch: per-pixel error.
pub(crate) fn per_pixel_mean(t: &Tensor) -> Result<f64> {
    Ok(t.mean(D::Minus1)?.mean_all()?.to_scalar::<f32>()? as f64)
}
