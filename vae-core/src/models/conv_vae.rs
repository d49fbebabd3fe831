//! The convolutional VAE of the TensorFlow CVAE tutorial, layer for layer.
//!
//! Encoder: Conv(32, k3, s2) ReLU -> Conv(64, k3, s2) ReLU (valid padding, 28 -> 13 -> 6)
//! -> Dense($2 d_z$): mean and log-variance. Decoder: Dense(7·7·32) ReLU -> reshape
//! -> ConvT(64, k3, s2) ReLU -> ConvT(32, k3, s2) ReLU -> ConvT(1, k3, s1) ('same' padding,
//! 7 -> 14 -> 28 -> 28), emitting Bernoulli logits. (TensorFlow reshapes to 7x7x32 HWC,
//! candle to 32x7x7 CHW: the same model up to a fixed permutation of the dense units.)
//! Initialised as Keras does (Glorot-uniform weights, zero biases; [`InitScheme::Keras`]).
//!
//! ```
//! # fn main() -> vae_core::Result<()> {
//! use candle_core::{Device, Tensor};
//! use vae_core::models::{ConvVaeConfig, Model, ModelConfig};
//! let model = Model::new(ModelConfig::ConvVae(ConvVaeConfig { latent: 2 }), 0, &Device::Cpu)?;
//! let x = Tensor::zeros((2, 784), candle_core::DType::F32, &Device::Cpu)?;
//! assert_eq!(model.encode(&x, None)?.mean.dims(), &[2, 2]);
//! # Ok(()) }
//! ```
use super::conv_ae::{ConvDecoder, ConvEncoder};
use super::layers::{conv2d_with, conv_transpose2d_with, linear_with, InitScheme};
use candle_core::Result;
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConvVaeConfig {
    pub latent: usize,
}

impl Default for ConvVaeConfig {
    fn default() -> Self {
        Self { latent: 2 }
    }
}

#[derive(Clone, Debug)]
pub struct ConvVae {
    /// Outputs `2 * latent`: mean, then log-variance.
    pub encoder: ConvEncoder,
    pub decoder: ConvDecoder,
    pub latent: usize,
}

impl ConvVae {
    pub fn new(cfg: &ConvVaeConfig, vb: VarBuilder) -> Result<Self> {
        // Keras's initialisers, as in the tutorial whose ELBO curve this model reproduces.
        let k = InitScheme::Keras;
        let e = vb.pp("encoder");
        let encoder = ConvEncoder {
            conv1: conv2d_with(1, 32, 3, 2, 0, k, e.pp("conv1"))?,
            conv2: conv2d_with(32, 64, 3, 2, 0, k, e.pp("conv2"))?,
            code: linear_with(64 * 6 * 6, 2 * cfg.latent, k, e.pp("code"))?,
        };
        let d = vb.pp("decoder");
        let decoder = ConvDecoder {
            fc: linear_with(cfg.latent, 7 * 7 * 32, k, d.pp("fc"))?,
            deconvs: vec![
                conv_transpose2d_with(32, 64, 3, 2, 1, 1, k, d.pp("deconv1"))?,
                conv_transpose2d_with(64, 32, 3, 2, 1, 1, k, d.pp("deconv2"))?,
                conv_transpose2d_with(32, 1, 3, 1, 1, 0, k, d.pp("deconv3"))?,
            ],
            start: (32, 7, 7),
        };
        Ok(Self { encoder, decoder, latent: cfg.latent })
    }
}
