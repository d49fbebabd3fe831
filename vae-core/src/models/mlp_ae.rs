//! The classic fully connected autoencoder.
//!
//! $z = f_\phi(x)$, $\hat x = g_\theta(z) = \mathrm{sigmoid}(\ell)$: an encoder of dense layers
//! squeezes the 784 pixels into a small code, a mirrored decoder expands it back to pixel logits
//! $\ell$ (the losses take the logits; `Model::decode` applies the sigmoid). Trained to minimise a
//! reconstruction loss (squared error summed over pixels by default), it learns a code, not a
//! distribution: nothing makes the code space well organised, which is what the VAE adds.
//!
//! ```
//! # fn main() -> vae_core::Result<()> {
//! use candle_core::{Device, Tensor};
//! use vae_core::models::{MlpAeConfig, Model, ModelConfig};
//! let model = Model::new(ModelConfig::MlpAe(MlpAeConfig::classic_2d()), 0, &Device::Cpu)?;
//! let x = Tensor::zeros((3, 784), candle_core::DType::F32, &Device::Cpu)?;
//! let z = model.encode(&x, None)?.mean;
//! assert_eq!(z.dims(), &[3, 2]);
//! assert_eq!(model.decode(&z, None)?.dims(), &[3, 784]);
//! # Ok(()) }
//! ```
use super::layers::{concat_one_hot, dense_stack, linear, Activation, DenseStack};
use candle_core::{Module, ModuleT, Result, Tensor};
use candle_nn::{Linear, VarBuilder};
use serde::{Deserialize, Serialize};

/// The sizes of an [`MlpAutoencoder`]; see the presets [`classic_2d`](Self::classic_2d) and
/// [`shallow`](Self::shallow).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MlpAeConfig {
    /// Pixels per image (784).
    pub input_dim: usize,
    /// Hidden layer widths from the image inward; the decoder mirrors them.
    pub hidden: Vec<usize>,
    /// Dimensions of the code.
    pub latent: usize,
    /// The hidden layers' non-linearity.
    pub activation: Activation,
    /// Label one-hot fed to encoder and decoder (a conditional autoencoder).
    #[serde(default)]
    pub num_classes: Option<usize>,
}

impl MlpAeConfig {
    /// 784-256-128-64-2 with tanh, a sigmoid output: the 2-D code space tutorial.
    pub fn classic_2d() -> Self {
        Self { input_dim: 784, hidden: vec![256, 128, 64], latent: 2, activation: Activation::Tanh, num_classes: None }
    }
    /// 784-256-64: the shallow autoencoder of the introductory tutorials.
    pub fn shallow() -> Self {
        Self { input_dim: 784, hidden: vec![256], latent: 64, activation: Activation::Relu, num_classes: None }
    }
}

/// $x \mapsto z$: dense layers, then a linear code layer.
#[derive(Clone, Debug)]
pub struct MlpEncoder {
    /// The hidden layers.
    pub body: DenseStack,
    /// The last hidden layer to the code (no activation).
    pub code: Linear,
    num_classes: Option<usize>,
}

/// $z \mapsto$ pixel logits: the encoder mirrored.
#[derive(Clone, Debug)]
pub struct MlpDecoder {
    /// The hidden layers.
    pub body: DenseStack,
    /// The last hidden layer to the pixel logits (no activation).
    pub out: Linear,
    num_classes: Option<usize>,
}

pub(crate) fn cond_input(x: &Tensor, labels: Option<&Tensor>, classes: Option<usize>) -> Result<Tensor> {
    match (classes, labels) {
        (Some(c), Some(l)) => concat_one_hot(x, l, c),
        (Some(_), None) => candle_core::bail!("this model is conditional: pass the labels (class indices) too"),
        (None, Some(_)) => candle_core::bail!("this model is not conditional and would ignore the labels; pass None"),
        (None, None) => Ok(x.clone()),
    }
}

/// What a dense encoder and its mirrored decoder share.
#[derive(Clone, Copy, Debug)]
pub struct DenseShape<'a> {
    /// Pixels per image.
    pub input_dim: usize,
    /// Hidden layer widths from the image inward; the decoder uses them in reverse.
    pub hidden: &'a [usize],
    /// The hidden layers' non-linearity.
    pub activation: Activation,
    /// Batch norm after every hidden layer.
    pub batch_norm: bool,
    /// Classes of a conditional model, whose label goes in one-hot beside the input.
    pub classes: Option<usize>,
}

impl MlpEncoder {
    /// `out_dim` outputs: the code of an autoencoder, mean and log-variance of a VAE.
    pub fn new(shape: &DenseShape, out_dim: usize, vb: VarBuilder) -> Result<Self> {
        let in_dim = shape.input_dim + shape.classes.unwrap_or(0);
        let body = dense_stack(in_dim, shape.hidden, shape.activation, shape.batch_norm, vb.pp("body"))?;
        let last = shape.hidden.last().copied().unwrap_or(in_dim);
        Ok(Self { body, code: linear(last, out_dim, vb.pp("code"))?, num_classes: shape.classes })
    }
    /// `out_dim` values per row of `x` (`[B, input_dim]`); `labels` for a conditional model,
    /// `train` for batch norm's training mode.
    pub fn forward_t(&self, x: &Tensor, labels: Option<&Tensor>, train: bool) -> Result<Tensor> {
        let x = cond_input(x, labels, self.num_classes)?;
        self.code.forward(&self.body.forward_t(&x, train)?)
    }
}

impl Module for MlpEncoder {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_t(x, None, false)
    }
}

impl MlpDecoder {
    /// From a `latent`-dimensional code back to `shape.input_dim` pixel logits.
    pub fn new(shape: &DenseShape, latent: usize, vb: VarBuilder) -> Result<Self> {
        let in_dim = latent + shape.classes.unwrap_or(0);
        let rev: Vec<usize> = shape.hidden.iter().rev().copied().collect();
        let body = dense_stack(in_dim, &rev, shape.activation, shape.batch_norm, vb.pp("body"))?;
        let last = rev.last().copied().unwrap_or(in_dim);
        Ok(Self { body, out: linear(last, shape.input_dim, vb.pp("out"))?, num_classes: shape.classes })
    }
    /// Pixel logits.
    pub fn forward_t(&self, z: &Tensor, labels: Option<&Tensor>, train: bool) -> Result<Tensor> {
        let z = cond_input(z, labels, self.num_classes)?;
        self.out.forward(&self.body.forward_t(&z, train)?)
    }
}

impl Module for MlpDecoder {
    /// Pixel logits of unconditional decoders.
    fn forward(&self, z: &Tensor) -> Result<Tensor> {
        self.forward_t(z, None, false)
    }
}

/// The fully connected autoencoder: encoder and decoder are usable on their own.
#[derive(Clone, Debug)]
pub struct MlpAutoencoder {
    /// Images to codes.
    pub encoder: MlpEncoder,
    /// Codes to pixel logits.
    pub decoder: MlpDecoder,
}

impl MlpAutoencoder {
    /// Builds the layers with weights from `vb` (`encoder.*` and `decoder.*`).
    pub fn new(cfg: &MlpAeConfig, vb: VarBuilder) -> Result<Self> {
        let shape = DenseShape {
            input_dim: cfg.input_dim,
            hidden: &cfg.hidden,
            activation: cfg.activation,
            batch_norm: false,
            classes: cfg.num_classes,
        };
        Ok(Self {
            encoder: MlpEncoder::new(&shape, cfg.latent, vb.pp("encoder"))?,
            decoder: MlpDecoder::new(&shape, cfg.latent, vb.pp("decoder"))?,
        })
    }
}
