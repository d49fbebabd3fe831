//! The variational autoencoder with dense layers (Kingma & Welling, 2014).
//!
//! The encoder outputs the parameters of a diagonal Gaussian posterior
//! $q_\phi(z|x) = \mathcal N(\mu_\phi(x), \mathrm{diag}\,\sigma^2_\phi(x))$, as the mean and the
//! log-variance $\log\sigma^2$ (clamped to [-30, 20] so that $\exp$ stays finite). The decoder
//! gives Bernoulli logits for $p_\theta(x|z)$. The default, 784-400-20 with ReLU, is the PyTorch
//! example; `batch_norm` and deeper `hidden` give the 3x512 latent-2 tutorial model, and
//! `num_classes` the conditional VAE $q(z|x,y)$, $p(x|z,y)$ that can be asked for "a 7".
//!
//! ```
//! # fn main() -> vae_core::Result<()> {
//! use candle_core::{Device, Tensor};
//! use vae_core::models::{MlpVaeConfig, Model, ModelConfig};
//! let model = Model::new(ModelConfig::MlpVae(MlpVaeConfig::default()), 0, &Device::Cpu)?;
//! let x = Tensor::zeros((4, 784), candle_core::DType::F32, &Device::Cpu)?;
//! let q = model.encode(&x, None)?;
//! assert_eq!(q.mean.dims(), &[4, 20]);
//! assert!(q.logvar.is_some());
//! # Ok(()) }
//! ```
use super::layers::Activation;
use super::mlp_ae::{DenseShape, MlpDecoder, MlpEncoder};
use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

/// The sizes of an [`MlpVae`]; the default is the PyTorch example's, see also
/// [`deep_2d`](Self::deep_2d) and [`conditional`](Self::conditional).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MlpVaeConfig {
    /// Pixels per image (784).
    pub input_dim: usize,
    /// Hidden layer widths from the image inward; the decoder mirrors them.
    pub hidden: Vec<usize>,
    /// Dimensions of the code.
    pub latent: usize,
    /// The hidden layers' non-linearity.
    pub activation: Activation,
    /// Batch norm after every hidden layer (it leaves the model to candle's autograd: the fused
    /// step does not cover it).
    #[serde(default)]
    pub batch_norm: bool,
    /// Classes of a conditional VAE, whose one-hot label goes in beside the image and the code.
    #[serde(default)]
    pub num_classes: Option<usize>,
}

impl Default for MlpVaeConfig {
    /// 784-400-20, ReLU: the PyTorch example.
    fn default() -> Self {
        Self {
            input_dim: 784,
            hidden: vec![400],
            latent: 20,
            activation: Activation::Relu,
            batch_norm: false,
            num_classes: None,
        }
    }
}

impl MlpVaeConfig {
    /// Three 512-unit layers with batch norm and a 2-D latent space.
    pub fn deep_2d() -> Self {
        Self { hidden: vec![512, 512, 512], latent: 2, batch_norm: true, ..Self::default() }
    }
    /// The conditional VAE: labels (0..classes) are fed to encoder and decoder.
    pub fn conditional(classes: usize) -> Self {
        Self { num_classes: Some(classes), ..Self::default() }
    }
}

/// The encoder's log-variance is clamped to [`LOGVAR_MIN`], [`LOGVAR_MAX`], so that
/// $\sigma^2$ stays between $10^{-13}$ and $5 \cdot 10^8$: whatever an encoder outputs,
/// $e^{\pm\log\sigma^2}$ in the KL and the Gaussian density stay finite in f32.
pub const LOGVAR_MIN: f64 = -30.0;
/// The upper clamp of the log-variance (see [`LOGVAR_MIN`]).
pub const LOGVAR_MAX: f64 = 20.0;

/// The dense VAE. `encoder` outputs `2 * latent` values: mean, then log-variance.
#[derive(Clone, Debug)]
pub struct MlpVae {
    /// Images to mean and log-variance.
    pub encoder: MlpEncoder,
    /// Codes to pixel logits.
    pub decoder: MlpDecoder,
    /// Dimensions of the code.
    pub latent: usize,
}

impl MlpVae {
    /// Builds the layers with weights from `vb` (`encoder.*` and `decoder.*`).
    pub fn new(cfg: &MlpVaeConfig, vb: VarBuilder) -> Result<Self> {
        let shape = DenseShape {
            input_dim: cfg.input_dim,
            hidden: &cfg.hidden,
            activation: cfg.activation,
            batch_norm: cfg.batch_norm,
            classes: cfg.num_classes,
        };
        Ok(Self {
            encoder: MlpEncoder::new(&shape, 2 * cfg.latent, vb.pp("encoder"))?,
            decoder: MlpDecoder::new(&shape, cfg.latent, vb.pp("decoder"))?,
            latent: cfg.latent,
        })
    }
}

/// Splits `[B, 2 * latent]` into the mean and the clamped log-variance.
pub(crate) fn split_gaussian(h: &Tensor, latent: usize) -> Result<(Tensor, Tensor)> {
    // Contiguous, so the mean can go straight into a matmul on CUDA (see `DenseStack`).
    let mean = h.narrow(1, 0, latent)?.contiguous()?;
    let logvar = h.narrow(1, latent, latent)?.clamp(LOGVAR_MIN, LOGVAR_MAX)?;
    Ok((mean, logvar))
}
