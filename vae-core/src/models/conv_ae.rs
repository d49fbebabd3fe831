//! Convolutional autoencoders: stride-2 convolutions down, transposed convolutions up.
//!
//! 28x28 -> conv(k3, s2, p1) -> 14x14 -> conv(k3, s2, p1) -> 7x7 -> dense code;
//! the decoder mirrors it with transposed convolutions (k3, s2, p1, output padding 1).
//!
//! ```
//! # fn main() -> vae_core::Result<()> {
//! use candle_core::{Device, Tensor};
//! use vae_core::models::{ConvAeConfig, Model, ModelConfig};
//! let model = Model::new(ModelConfig::ConvAe(ConvAeConfig::default()), 0, &Device::Cpu)?;
//! let x = Tensor::zeros((2, 784), candle_core::DType::F32, &Device::Cpu)?;
//! assert_eq!(model.reconstruct(&x, None)?.dims(), &[2, 784]);
//! # Ok(()) }
//! ```
use super::layers::{conv2d, conv_transpose2d, linear, Conv2d, ConvTranspose2d};
use candle_core::{Module, Result, Tensor};
use candle_nn::{Linear, VarBuilder};
use serde::{Deserialize, Serialize};

/// The sizes of a [`ConvAutoencoder`]; the default is 16 and 32 channels, a 16-dimensional code.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConvAeConfig {
    /// Channels after the first and second convolution.
    pub channels: [usize; 2],
    /// Dimensions of the code.
    pub latent: usize,
}

impl Default for ConvAeConfig {
    fn default() -> Self {
        Self { channels: [16, 32], latent: 16 }
    }
}

/// Two stride-2 convolutions with ReLU, then a dense layer to the code (or, in the
/// [`ConvVae`](super::ConvVae), to the mean and log-variance).
#[derive(Clone, Debug)]
pub struct ConvEncoder {
    /// 28x28 in, 1 channel.
    pub conv1: Conv2d,
    /// Halves the feature maps again.
    pub conv2: Conv2d,
    /// The flattened feature maps to the code.
    pub code: Linear,
}

impl Module for ConvEncoder {
    /// `[B, 784]` or `[B, 1, 28, 28]` -> code `[B, out]`.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let b = x.dim(0)?;
        let x = x.reshape((b, 1, 28, 28))?;
        let h = self.conv1.forward_relu(&x)?;
        let h = self.conv2.forward_relu(&h)?;
        self.code.forward(&h.flatten_from(1)?)
    }
}

/// A dense ReLU layer from the code to small feature maps, then transposed convolutions up to
/// 28x28 pixel logits (ReLU after all but the last).
#[derive(Clone, Debug)]
pub struct ConvDecoder {
    /// The code to `start`'s feature maps, flattened.
    pub fc: Linear,
    /// Applied in order; at least one.
    pub deconvs: Vec<ConvTranspose2d>,
    /// `(channels, height, width)` that `fc`'s output is reshaped to.
    pub start: (usize, usize, usize),
}

impl Module for ConvDecoder {
    /// code `[B, latent]` -> pixel logits `[B, 784]`.
    fn forward(&self, z: &Tensor) -> Result<Tensor> {
        // The fields are public: a decoder built by hand may have no layer to end on.
        if self.deconvs.is_empty() {
            candle_core::bail!(
                "ConvDecoder: no transposed convolutions in `deconvs`; it needs at least one to make pixels"
            )
        }
        let b = z.dim(0)?;
        let (c, h, w) = self.start;
        // contiguous: CUDA's matmul rejects other strides (see `DenseStack::forward_t`).
        let mut x = self.fc.forward(&z.contiguous()?)?.relu()?.reshape((b, c, h, w))?;
        let last = self.deconvs.len() - 1;
        for (i, d) in self.deconvs.iter().enumerate() {
            x = if i < last { d.forward_relu(&x)? } else { d.forward(&x)? };
        }
        x.reshape((b, ()))
    }
}

/// The convolutional autoencoder of the module doc.
#[derive(Clone, Debug)]
pub struct ConvAutoencoder {
    /// Images to codes.
    pub encoder: ConvEncoder,
    /// Codes to pixel logits.
    pub decoder: ConvDecoder,
}

impl ConvAutoencoder {
    /// Builds the layers with weights from `vb` (`encoder.*` and `decoder.*`).
    pub fn new(cfg: &ConvAeConfig, vb: VarBuilder) -> Result<Self> {
        let [c1, c2] = cfg.channels;
        let e = vb.pp("encoder");
        let encoder = ConvEncoder {
            conv1: conv2d(1, c1, 3, 2, 1, e.pp("conv1"))?,
            conv2: conv2d(c1, c2, 3, 2, 1, e.pp("conv2"))?,
            code: linear(c2 * 7 * 7, cfg.latent, e.pp("code"))?,
        };
        let d = vb.pp("decoder");
        let decoder = ConvDecoder {
            fc: linear(cfg.latent, c2 * 7 * 7, d.pp("fc"))?,
            deconvs: vec![
                conv_transpose2d(c2, c1, 3, 2, 1, 1, d.pp("deconv1"))?,
                conv_transpose2d(c1, 1, 3, 2, 1, 1, d.pp("deconv2"))?,
            ],
            start: (c2, 7, 7),
        };
        Ok(Self { encoder, decoder })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{Model, ModelConfig};
    use candle_core::{DType, Device};

    #[test]
    fn a_decoder_without_transposed_convolutions_is_an_error_not_an_underflow() {
        let m = Model::new(ModelConfig::ConvAe(ConvAeConfig::default()), 0, &Device::Cpu).unwrap();
        let mut d = m.conv_decoder().unwrap().clone();
        let z = Tensor::zeros((2, 16), DType::F32, &Device::Cpu).unwrap();
        assert_eq!(d.forward(&z).unwrap().dims(), &[2, 784]);
        d.deconvs.clear();
        let e = d.forward(&z).unwrap_err().to_string();
        assert!(e.contains("no transposed convolutions"), "{e}");
    }
}
