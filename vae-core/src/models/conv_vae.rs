//! The convolutional VAE of the TensorFlow CVAE tutorial, layer for layer.
//!
//! Encoder: Conv(32, k3, s2) ReLU -> Conv(64, k3, s2) ReLU (valid padding, 28 -> 13 -> 6)
//! -> Dense($2 d_z$): mean and log-variance. Decoder: Dense(7·7·32) ReLU -> reshape
//! -> ConvT(64, k3, s2) ReLU -> ConvT(32, k3, s2) ReLU -> ConvT(1, k3, s1) (TensorFlow's 'same'
//! padding, 7 -> 14 -> 28 -> 28, see [`DeconvPadding`]), emitting Bernoulli logits. (TensorFlow reshapes to 7x7x32 HWC,
//! candle to 32x7x7 CHW: the same model up to a fixed permutation of the dense units.)
//! Initialised as Keras does (Glorot-uniform weights, zero biases; [`InitScheme::Keras`]).
//!
//! ```
//! # fn main() -> vae_core::Result<()> {
//! use candle_core::{Device, Tensor};
//! use vae_core::models::{ConvVaeConfig, Model, ModelConfig};
//! let model = Model::new(ModelConfig::ConvVae(ConvVaeConfig::default()), 0, &Device::Cpu)?;
//! let x = Tensor::zeros((2, 784), candle_core::DType::F32, &Device::Cpu)?;
//! assert_eq!(model.encode(&x, None)?.mean.dims(), &[2, 2]);
//! # Ok(()) }
//! ```
use super::conv_ae::{ConvDecoder, ConvEncoder};
use super::layers::{conv2d_with, conv_transpose2d_same, conv_transpose2d_with, linear_with, InitScheme};
use candle_core::Result;
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

/// The sizes of a [`ConvVae`]: only the code's; the layers are the tutorial's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConvVaeConfig {
    /// Dimensions of the code (the tutorial's is 2).
    pub latent: usize,
    /// How the decoder's transposed convolutions are cropped.
    /// Checkpoints written before this field existed used PyTorch's padding: they load as
    /// [`DeconvPadding::Torch`] and decode as they were trained.
    #[serde(default = "DeconvPadding::legacy")]
    pub deconv_padding: DeconvPadding,
}

impl Default for ConvVaeConfig {
    /// Latent 2 and TensorFlow's padding: the tutorial's model.
    fn default() -> Self {
        Self { latent: 2, deconv_padding: DeconvPadding::Same }
    }
}

/// Where the decoder's stride-2 transposed convolutions cut the surplus row of a full transposed
/// convolution (kernel 3, stride 2: 15 rows from 7, 14 kept).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeconvPadding {
    /// TensorFlow's `padding='same'`, as in the tutorial: rows 0..14, the last one cut.
    Same,
    /// PyTorch's `padding=1, output_padding=1`: rows 1..15, the first one cut; same sizes, the
    /// output grid one pixel further on. What this model used before it matched TensorFlow's.
    Torch,
}

impl DeconvPadding {
    fn legacy() -> Self {
        DeconvPadding::Torch
    }
}

/// The convolutional VAE of the module doc.
#[derive(Clone, Debug)]
pub struct ConvVae {
    /// Outputs `2 * latent`: mean, then log-variance.
    pub encoder: ConvEncoder,
    /// Codes to pixel logits.
    pub decoder: ConvDecoder,
    /// Dimensions of the code.
    pub latent: usize,
}

impl ConvVae {
    /// Builds the layers, Keras-initialised, with weights from `vb` (`encoder.*` and `decoder.*`).
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
            deconvs: match cfg.deconv_padding {
                DeconvPadding::Same => vec![
                    conv_transpose2d_same(32, 64, 3, 2, k, d.pp("deconv1"))?,
                    conv_transpose2d_same(64, 32, 3, 2, k, d.pp("deconv2"))?,
                    conv_transpose2d_same(32, 1, 3, 1, k, d.pp("deconv3"))?,
                ],
                DeconvPadding::Torch => vec![
                    conv_transpose2d_with(32, 64, 3, 2, 1, 1, k, d.pp("deconv1"))?,
                    conv_transpose2d_with(64, 32, 3, 2, 1, 1, k, d.pp("deconv2"))?,
                    conv_transpose2d_with(32, 1, 3, 1, 1, 0, k, d.pp("deconv3"))?,
                ],
            },
            start: (32, 7, 7),
        };
        Ok(Self { encoder, decoder, latent: cfg.latent })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{Model, ModelConfig};
    use candle_core::{Device, Tensor};

    #[test]
    fn configs_without_the_padding_field_are_the_old_torch_padded_model() {
        let old: ConvVaeConfig = serde_json::from_str(r#"{"latent":2}"#).unwrap();
        assert_eq!(old.deconv_padding, DeconvPadding::Torch);
        let new = ConvVaeConfig::default();
        assert_eq!(new.deconv_padding, DeconvPadding::Same);
        assert_eq!(serde_json::from_str::<ConvVaeConfig>(&serde_json::to_string(&new).unwrap()).unwrap(), new);
        // Same weights, decoder windows a pixel apart: the images differ.
        let z = Tensor::new(&[[0.5f32, -1.0]], &Device::Cpu).unwrap();
        let decode = |cfg: ConvVaeConfig| {
            Model::new(ModelConfig::ConvVae(cfg), 1, &Device::Cpu).unwrap().decode(&z, None).unwrap()
        };
        let (a, b) = (decode(old), decode(new));
        assert_eq!(a.dims(), b.dims());
        let d = (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(d > 1e-3, "padding made no difference ({d})");
    }
}
