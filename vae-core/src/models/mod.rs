//! Every model of the course behind one type, [`Model`], built from a serialisable
//! [`ModelConfig`] so that a checkpoint can rebuild it with no other input.
//!
//! | config | model | code |
//! |---|---|---|
//! | [`MlpAeConfig`] | [`MlpAutoencoder`] | deterministic $z = f(x)$ |
//! | [`ConvAeConfig`] | [`ConvAutoencoder`] | deterministic |
//! | [`MlpVaeConfig`] | [`MlpVae`] (optionally conditional) | $q(z\mid x) = \mathcal N(\mu, \sigma^2)$ |
//! | [`ConvVaeConfig`] | [`ConvVae`] (TF CVAE tutorial) | $q(z\mid x) = \mathcal N(\mu, \sigma^2)$ |
//!
//! Decoders output pixel logits; [`Model::decode`] applies the sigmoid to give images in [0, 1].
//! A model knows nothing of losses or plotting.
//!
//! ```
//! # fn main() -> vae_core::Result<()> {
//! use candle_core::Device;
//! use vae_core::{models::{Model, ModelConfig}, rng::Rng};
//! let model = Model::from_name("mlp-vae", Some(2), 1, &Device::Cpu)?;
//! let images = model.sample_prior(8, None, &mut Rng::new(0))?;
//! assert_eq!(images.dims(), &[8, 784]);
//! # Ok(()) }
//! ```
pub mod conv_ae;
pub mod conv_vae;
pub mod layers;
pub mod mlp_ae;
pub mod mlp_vae;
pub mod params;

pub use conv_ae::{ConvAeConfig, ConvAutoencoder};
pub use conv_vae::{ConvVae, ConvVaeConfig, DeconvPadding};
pub use layers::Activation;
pub use mlp_ae::{MlpAeConfig, MlpAutoencoder};
pub use mlp_vae::{MlpVae, MlpVaeConfig};

use crate::error::{Error, Result};
use crate::rng::Rng;
use candle_core::{DType, Device, Module, Tensor};
use params::Params;
use serde::{Deserialize, Serialize};

/// The architecture and sizes of a model: all a checkpoint needs to rebuild it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ModelConfig {
    /// A dense autoencoder (`mlp-ae`, `mlp-ae-2d`).
    MlpAe(MlpAeConfig),
    /// A convolutional autoencoder (`conv-ae`).
    ConvAe(ConvAeConfig),
    /// A dense VAE, conditional when it has classes (`mlp-vae`, `deep-vae-2d`, `cvae`).
    MlpVae(MlpVaeConfig),
    /// The convolutional VAE of the TensorFlow tutorial (`conv-vae`).
    ConvVae(ConvVaeConfig),
}

/// The largest layer size (units, channels, latent dimensions, classes) a config may ask for.
pub const MAX_LAYER_SIZE: usize = 1 << 24;
/// The most hidden layers a dense config may ask for.
pub const MAX_DEPTH: usize = 32;

/// Model names accepted by [`Model::from_name`] and the `vae` CLI.
pub const MODEL_NAMES: [&str; 7] = ["mlp-vae", "conv-vae", "mlp-ae", "conv-ae", "mlp-ae-2d", "deep-vae-2d", "cvae"];

impl ModelConfig {
    /// A config from a name in [`MODEL_NAMES`], with an optional latent size.
    pub fn from_name(name: &str, latent: Option<usize>) -> Result<Self> {
        let mut c = match name {
            "mlp-vae" => ModelConfig::MlpVae(MlpVaeConfig::default()),
            "deep-vae-2d" => ModelConfig::MlpVae(MlpVaeConfig::deep_2d()),
            "cvae" => ModelConfig::MlpVae(MlpVaeConfig::conditional(10)),
            "conv-vae" => ModelConfig::ConvVae(ConvVaeConfig::default()),
            "mlp-ae" => ModelConfig::MlpAe(MlpAeConfig::shallow()),
            "mlp-ae-2d" => ModelConfig::MlpAe(MlpAeConfig::classic_2d()),
            "conv-ae" => ModelConfig::ConvAe(ConvAeConfig::default()),
            other => {
                return Err(Error::config(format!(
                    "unknown model '{other}', expected one of {}",
                    MODEL_NAMES.join(", ")
                )))
            }
        };
        if let Some(z) = latent {
            c.set_latent(z);
        }
        Ok(c)
    }

    /// The architecture family (the checkpoint's `kind` tag): `mlp-ae-2d` is an `mlp-ae`,
    /// `deep-vae-2d` an `mlp-vae`. Reports use [`name`](Self::name).
    pub fn kind(&self) -> &'static str {
        match self {
            ModelConfig::MlpAe(_) => "mlp-ae",
            ModelConfig::ConvAe(_) => "conv-ae",
            ModelConfig::MlpVae(c) if c.num_classes.is_some() => "cvae",
            ModelConfig::MlpVae(_) => "mlp-vae",
            ModelConfig::ConvVae(_) => "conv-vae",
        }
    }

    /// The name in [`MODEL_NAMES`] of the preset this config is (whatever its latent size, which
    /// `--latent` may set), else its [`kind`](Self::kind): what reports and messages call the model.
    pub fn name(&self) -> &'static str {
        MODEL_NAMES
            .iter()
            .find(|n| ModelConfig::from_name(n, Some(self.latent())).is_ok_and(|preset| &preset == self))
            .copied()
            .unwrap_or_else(|| self.kind())
    }

    /// Dimensions of the code $z$.
    pub fn latent(&self) -> usize {
        match self {
            ModelConfig::MlpAe(c) => c.latent,
            ModelConfig::ConvAe(c) => c.latent,
            ModelConfig::MlpVae(c) => c.latent,
            ModelConfig::ConvVae(c) => c.latent,
        }
    }

    /// Sets the code's dimensions (any architecture: only the code layers change size).
    pub fn set_latent(&mut self, z: usize) {
        match self {
            ModelConfig::MlpAe(c) => c.latent = z,
            ModelConfig::ConvAe(c) => c.latent = z,
            ModelConfig::MlpVae(c) => c.latent = z,
            ModelConfig::ConvVae(c) => c.latent = z,
        }
    }

    /// Whether the model is a VAE: its encoder gives a distribution $q(z|x)$, not a point.
    pub fn is_variational(&self) -> bool {
        matches!(self, ModelConfig::MlpVae(_) | ModelConfig::ConvVae(_))
    }

    /// Sets the hidden layer sizes of a dense model (the decoder mirrors them); an error for
    /// convolutional models, whose layers are fixed.
    pub fn set_hidden(&mut self, sizes: Vec<usize>) -> Result<()> {
        if sizes.contains(&0) {
            return Err(Error::config(format!("hidden layer sizes must be positive, got {sizes:?}")));
        }
        match self {
            ModelConfig::MlpAe(c) => c.hidden = sizes,
            ModelConfig::MlpVae(c) => c.hidden = sizes,
            other => {
                return Err(Error::config(format!(
                    "{} has fixed convolution layers: hidden sizes apply to the dense models only",
                    other.name()
                )))
            }
        }
        Ok(())
    }

    /// Sets the hidden-layer non-linearity of a dense model; an error for convolutional models,
    /// whose ReLUs are part of the architecture they reproduce.
    pub fn set_activation(&mut self, activation: Activation) -> Result<()> {
        match self {
            ModelConfig::MlpAe(c) => c.activation = activation,
            ModelConfig::MlpVae(c) => c.activation = activation,
            other => {
                return Err(Error::config(format!(
                    "{} has fixed ReLU layers: the activation applies to the dense models only",
                    other.name()
                )))
            }
        }
        Ok(())
    }

    /// The number of classes a conditional model takes labels from; `None` for the others.
    pub fn num_classes(&self) -> Option<usize> {
        match self {
            ModelConfig::MlpAe(c) => c.num_classes,
            ModelConfig::MlpVae(c) => c.num_classes,
            _ => None,
        }
    }

    /// Pixels per image the model reads and writes.
    pub fn input_dim(&self) -> usize {
        match self {
            ModelConfig::MlpAe(c) => c.input_dim,
            ModelConfig::MlpVae(c) => c.input_dim,
            _ => 784,
        }
    }

    /// Hidden layer widths of the dense models.
    pub fn hidden(&self) -> Option<&[usize]> {
        match self {
            ModelConfig::MlpAe(c) => Some(c.hidden.as_slice()),
            ModelConfig::MlpVae(c) => Some(c.hidden.as_slice()),
            _ => None,
        }
    }

    /// Rejects sizes that cannot work, before any tensor is made.
    pub fn validate(&self) -> Result<()> {
        // Layer sizes are multiplied together when shapes are made; bounding each one keeps
        // that arithmetic far from overflow whatever a config file says.
        let sizes = match self {
            ModelConfig::MlpAe(c) => [&[c.input_dim, c.latent, c.num_classes.unwrap_or(1)][..], &c.hidden].concat(),
            ModelConfig::MlpVae(c) => [&[c.input_dim, c.latent, c.num_classes.unwrap_or(1)][..], &c.hidden].concat(),
            ModelConfig::ConvAe(c) => vec![c.latent, c.channels[0], c.channels[1]],
            ModelConfig::ConvVae(c) => vec![c.latent],
        };
        if let Some(s) = sizes.iter().find(|&&s| s > MAX_LAYER_SIZE) {
            return Err(Error::config(format!(
                "{}: layer size {s} is larger than the {MAX_LAYER_SIZE} this crate supports",
                self.name()
            )));
        }
        if self.hidden().is_some_and(|h| h.len() > MAX_DEPTH) {
            return Err(Error::config(format!("{}: more than {MAX_DEPTH} hidden layers", self.name())));
        }
        if self.latent() == 0 {
            return Err(Error::config(format!(
                "{}: latent size is 0; a code needs at least one dimension",
                self.name()
            )));
        }
        if let Some(h) = self.hidden() {
            if h.contains(&0) {
                return Err(Error::config(format!("{}: hidden layer sizes {h:?} contain a 0", self.name())));
            }
        }
        if self.input_dim() == 0 {
            return Err(Error::config("input size is 0"));
        }
        if let Some(0) = self.num_classes() {
            return Err(Error::config("a conditional model needs at least one class"));
        }
        if let ModelConfig::ConvAe(c) = self {
            if c.channels.contains(&0) {
                return Err(Error::config(format!("conv-ae: channels {:?} contain a 0", c.channels)));
            }
        }
        Ok(())
    }
}

/// The approximate posterior $q(z|x)$ of a VAE (mean and log-variance), or the code of an
/// autoencoder (mean only).
#[derive(Clone, Debug)]
pub struct Posterior {
    /// $\mu$, `[B, latent]`: the code of each image (for an autoencoder, the code itself).
    pub mean: Tensor,
    /// $\log\sigma^2$, `[B, latent]`, for a VAE; `None` for an autoencoder. The log keeps
    /// $\sigma^2 = e^{\log\sigma^2}$ positive without a constraint on the network.
    pub logvar: Option<Tensor>,
}

impl Posterior {
    /// The reparameterisation trick: $z = \mu + \sigma \odot \epsilon$, $\epsilon \sim \mathcal N(0, I)$
    /// drawn from `rng`; gradients flow to $\mu$ and $\log\sigma^2$. An autoencoder's code is returned as is.
    pub fn sample(&self, rng: &mut Rng) -> Result<Tensor> {
        match &self.logvar {
            None => Ok(self.mean.clone()),
            Some(lv) => {
                let eps = rng.randn(self.mean.shape(), self.mean.device())?;
                Ok((&self.mean + (lv * 0.5)?.exp()?.mul(&eps)?)?)
            }
        }
    }
    /// $\sigma = e^{\log\sigma^2 / 2}$, `[B, latent]`: how far the posterior spreads around the
    /// mean in each dimension; `None` for an autoencoder.
    pub fn std(&self) -> Result<Option<Tensor>> {
        Ok(match &self.logvar {
            Some(lv) => Some((lv * 0.5)?.exp()?),
            None => None,
        })
    }
}

#[derive(Clone, Debug)]
enum Net {
    MlpAe(MlpAutoencoder),
    ConvAe(ConvAutoencoder),
    MlpVae(MlpVae),
    ConvVae(ConvVae),
}

/// A model with its parameters.
///
/// `clone()` is a second handle on the same weights (candle `Var`s are shared), as a
/// `VarMap` is: training either trains both. For an independent copy, save a checkpoint and
/// [load](crate::checkpoint::load) it.
#[derive(Clone)]
pub struct Model {
    config: ModelConfig,
    params: Params,
    net: Net,
    device: Device,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Model({}, latent {}, {} parameters)",
            self.config.name(),
            self.latent_dim(),
            self.params.num_parameters()
        )
    }
}

impl Model {
    /// Builds a model with weights drawn from the project RNG seeded by `seed`.
    pub fn new(config: ModelConfig, seed: u64, device: &Device) -> Result<Self> {
        Self::with_params(config, Params::new(seed), device)
    }

    /// Builds a model whose parameters come from `params` (e.g. [`Params::with_limit`]).
    pub fn with_params(config: ModelConfig, params: Params, device: &Device) -> Result<Self> {
        config.validate()?;
        let vb = params.var_builder(DType::F32, device);
        let net = match &config {
            ModelConfig::MlpAe(c) => Net::MlpAe(MlpAutoencoder::new(c, vb)?),
            ModelConfig::ConvAe(c) => Net::ConvAe(ConvAutoencoder::new(c, vb)?),
            ModelConfig::MlpVae(c) => Net::MlpVae(MlpVae::new(c, vb)?),
            ModelConfig::ConvVae(c) => Net::ConvVae(ConvVae::new(c, vb)?),
        };
        Ok(Self { config, params, net, device: device.clone() })
    }

    /// `Model::new` from a name in [`MODEL_NAMES`].
    pub fn from_name(name: &str, latent: Option<usize>, seed: u64, device: &Device) -> Result<Self> {
        Self::new(ModelConfig::from_name(name, latent)?, seed, device)
    }

    /// The architecture, as a checkpoint stores it.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }
    /// The weights (candle `Var`s, shared with every clone of the model), by name.
    pub fn params(&self) -> &Params {
        &self.params
    }
    /// Where the weights live; inputs must be on the same device.
    pub fn device(&self) -> &Device {
        &self.device
    }
    /// [`ModelConfig::latent`]: the width of the codes `encode` gives and `decode` takes.
    pub fn latent_dim(&self) -> usize {
        self.config.latent()
    }
    /// [`ModelConfig::is_variational`].
    pub fn is_variational(&self) -> bool {
        self.config.is_variational()
    }
    /// [`ModelConfig::num_classes`]: `Some` when `encode` and `decode` need labels.
    pub fn num_classes(&self) -> Option<usize> {
        self.config.num_classes()
    }
    /// [`ModelConfig::kind`]: the architecture family.
    pub fn kind(&self) -> &'static str {
        self.config.kind()
    }
    /// [`ModelConfig::name`]: the preset's name (`mlp-ae-2d`, `deep-vae-2d`, ...) where it is one.
    pub fn name(&self) -> &'static str {
        self.config.name()
    }

    /// $q(z|x)$ (or the code), in training mode if `train`: batch norm (in `deep-vae-2d`) then
    /// normalises with the batch's statistics and updates its running statistics, so a call with
    /// `train: true` changes the model; use `false` (or [`encode`](Self::encode)) to inspect it.
    pub fn encode_t(&self, x: &Tensor, labels: Option<&Tensor>, train: bool) -> Result<Posterior> {
        self.check_labels_wanted(labels)?;
        check_rows("encode", "images", x)?;
        let x = self.flatten_input(x)?;
        Ok(match &self.net {
            Net::MlpAe(m) => Posterior { mean: m.encoder.forward_t(&x, labels, train)?, logvar: None },
            Net::ConvAe(m) => Posterior { mean: m.encoder.forward(&x)?, logvar: None },
            Net::MlpVae(m) => {
                let (mean, logvar) = mlp_vae::split_gaussian(&m.encoder.forward_t(&x, labels, train)?, m.latent)?;
                Posterior { mean, logvar: Some(logvar) }
            }
            Net::ConvVae(m) => {
                let (mean, logvar) = mlp_vae::split_gaussian(&m.encoder.forward(&x)?, m.latent)?;
                Posterior { mean, logvar: Some(logvar) }
            }
        })
    }

    /// Pixel logits `[B, 784]` for codes `z` `[B, latent]`; `train` as in [`encode_t`](Self::encode_t).
    pub fn decode_logits_t(&self, z: &Tensor, labels: Option<&Tensor>, train: bool) -> Result<Tensor> {
        self.check_labels_wanted(labels)?;
        check_rows("decode", "codes", z)?;
        if z.rank() != 2 || z.dim(1)? != self.latent_dim() {
            return Err(Error::config(format!(
                "decode expects codes of shape [B, {}], got {:?}",
                self.latent_dim(),
                z.dims()
            )));
        }
        Ok(match &self.net {
            Net::MlpAe(m) => m.decoder.forward_t(z, labels, train)?,
            Net::ConvAe(m) => m.decoder.forward(z)?,
            Net::MlpVae(m) => m.decoder.forward_t(z, labels, train)?,
            Net::ConvVae(m) => m.decoder.forward(z)?,
        })
    }

    /// $q(z|x)$ in evaluation mode, for images `[B, 784]`, `[B, 1, 28, 28]` or `[B, 28, 28]`
    /// ([`flatten_images`]) and, for a conditional model, their labels (`[B]` class indices).
    pub fn encode(&self, x: &Tensor, labels: Option<&Tensor>) -> Result<Posterior> {
        self.encode_t(x, labels, false)
    }

    /// Images in [0, 1] for codes `z`.
    pub fn decode(&self, z: &Tensor, labels: Option<&Tensor>) -> Result<Tensor> {
        Ok(candle_nn::ops::sigmoid(&self.decode_logits_t(z, labels, false)?)?)
    }

    /// Decodes the posterior mean (no sampling): the model's best reconstruction.
    pub fn reconstruct(&self, x: &Tensor, labels: Option<&Tensor>) -> Result<Tensor> {
        let q = self.encode(x, labels)?;
        self.decode(&q.mean, labels)
    }

    /// Images decoded from $z \sim \mathcal N(0, I)$.
    pub fn sample_prior(&self, n: usize, labels: Option<&Tensor>, rng: &mut Rng) -> Result<Tensor> {
        if n == 0 {
            return Err(Error::config(format!("{}: sample_prior of 0 images; ask for at least one", self.name())));
        }
        let z = rng.randn((n, self.latent_dim()), &self.device)?;
        self.decode(&z, labels)
    }

    /// The decoder of a dense model, for exporting it (explorer).
    pub fn mlp_decoder(&self) -> Option<&mlp_ae::MlpDecoder> {
        match &self.net {
            Net::MlpAe(m) => Some(&m.decoder),
            Net::MlpVae(m) => Some(&m.decoder),
            _ => None,
        }
    }
    /// The dense VAE itself, for the fused CPU training step.
    pub fn mlp_vae(&self) -> Option<&MlpVae> {
        match &self.net {
            Net::MlpVae(m) => Some(m),
            _ => None,
        }
    }
    /// The dense autoencoder itself, for its fused CPU training step.
    pub fn mlp_autoencoder(&self) -> Option<&MlpAutoencoder> {
        match &self.net {
            Net::MlpAe(m) => Some(m),
            _ => None,
        }
    }
    /// The conv VAE itself, for its fused CPU training step.
    pub fn conv_vae(&self) -> Option<&ConvVae> {
        match &self.net {
            Net::ConvVae(m) => Some(m),
            _ => None,
        }
    }
    /// The decoder of a convolutional model, for exporting it (explorer).
    pub fn conv_decoder(&self) -> Option<&conv_ae::ConvDecoder> {
        match &self.net {
            Net::ConvAe(m) => Some(&m.decoder),
            Net::ConvVae(m) => Some(&m.decoder),
            _ => None,
        }
    }

    /// Labels given to a model without classes would be ignored: a cell meant to draw "four 7s"
    /// from an unconditional model would silently draw anything.
    pub(crate) fn check_labels_wanted(&self, labels: Option<&Tensor>) -> Result<()> {
        match (self.num_classes(), labels) {
            (None, Some(_)) => Err(Error::config(format!(
                "{} is not conditional and would ignore the labels given; pass None for the labels",
                self.name()
            ))),
            (Some(c), None) => Err(Error::config(format!(
                "{} is conditional: pass the labels too, one class index (0..{}) per row, as a u32 tensor",
                self.name(),
                c - 1
            ))),
            _ => Ok(()),
        }
    }

    /// `x` as the `[B, pixels]` rows the model reads, by [`flatten_images`] with the model's
    /// input size: what [`encode`](Self::encode), [`Objective::compute`](crate::objective::Objective::compute)
    /// and the [`Trainer`](crate::training::Trainer) apply to images before using them.
    pub fn flatten_input(&self, x: &Tensor) -> Result<Tensor> {
        flatten_images(x, self.config.input_dim(), self.name())
    }
}

/// The one image-shape convention of the crate: a batch of `pixels`-pixel images as `[B, pixels]`
/// rows. Accepts `[B, pixels]` as is, and, when `pixels` is a square `s * s` (784 = 28 * 28),
/// `[B, 1, s, s]` (candle's `[N, C, H, W]`) and `[B, s, s]`, which it flattens (no copy for a
/// contiguous tensor). Anything else is an error naming `what`: a `[B, 1, 56, 14]` batch has
/// 784 pixels per image too, but reading it as 28 x 28 would scramble every image.
///
/// ```
/// # fn main() -> vae_core::Result<()> {
/// use candle_core::{DType, Device, Tensor};
/// use vae_core::models::flatten_images;
/// let images = Tensor::zeros((4, 1, 28, 28), DType::F32, &Device::Cpu)?;
/// assert_eq!(flatten_images(&images, 784, "x")?.dims(), &[4, 784]);
/// assert_eq!(flatten_images(&images.squeeze(1)?, 784, "x")?.dims(), &[4, 784]);
/// let wrong = Tensor::zeros((4, 1, 56, 14), DType::F32, &Device::Cpu)?;
/// let e = flatten_images(&wrong, 784, "x").unwrap_err().to_string();
/// assert!(e.contains("expected [B, 784] or [B, 1, 28, 28], got [4, 1, 56, 14]"), "{e}");
/// # Ok(()) }
/// ```
pub fn flatten_images(x: &Tensor, pixels: usize, what: &str) -> Result<Tensor> {
    let side = (1..=pixels).find(|s| s * s >= pixels).filter(|s| s * s == pixels);
    match (x.dims(), side) {
        ([_, n], _) if *n == pixels => Ok(x.clone()),
        ([b, 1, h, w], Some(s)) | ([b, h, w], Some(s)) if *h == s && *w == s => Ok(x.reshape((*b, pixels))?),
        (dims, _) => {
            let shapes = match side {
                Some(s) => format!("[B, {pixels}] or [B, 1, {s}, {s}]"),
                None => format!("[B, {pixels}]"),
            };
            let hint = if x.elem_count() == pixels {
                format!("; for a single image use `.reshape((1, {pixels}))?`")
            } else {
                String::new()
            };
            Err(Error::config(format!("{what}: expected {shapes}, got {dims:?}{hint}")))
        }
    }
}

/// A batch of no rows went through the dense models as an empty result and failed in the
/// convolutional ones' reshape: refused for every model alike.
fn check_rows(what: &str, rows: &str, t: &Tensor) -> Result<()> {
    if t.dims().first() == Some(&0) {
        return Err(Error::config(format!("{what}: no {rows} (shape {:?}); pass at least one", t.dims())));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_model_builds_and_round_trips_shapes() {
        let dev = Device::Cpu;
        let x = Rng::new(0).rand((3, 784), 0.0, 1.0, &dev).unwrap();
        let labels = Tensor::new(&[1u32, 2, 3], &dev).unwrap();
        for name in MODEL_NAMES {
            let m = Model::from_name(name, None, 0, &dev).unwrap();
            let l = m.num_classes().map(|_| &labels);
            let q = m.encode(&x, l).unwrap();
            assert_eq!(q.mean.dims(), &[3, m.latent_dim()], "{name}");
            assert_eq!(q.logvar.is_some(), m.is_variational(), "{name}");
            let r = m.reconstruct(&x, l).unwrap();
            assert_eq!(r.dims(), &[3, 784], "{name}");
            let v = r.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            assert!(v.iter().all(|p| (0.0..=1.0).contains(p)), "{name}");
        }
    }

    #[test]
    fn presets_are_reported_by_their_name_and_stored_by_their_kind() {
        for name in MODEL_NAMES {
            for latent in [None, Some(3)] {
                let c = ModelConfig::from_name(name, latent).unwrap();
                assert_eq!(c.name(), name, "{latent:?}");
                assert!(format!("{:?}", Model::new(c.clone(), 0, &Device::Cpu).unwrap())
                    .starts_with(&format!("Model({name},")));
            }
        }
        let c = ModelConfig::from_name("mlp-ae-2d", None).unwrap();
        assert_eq!(c.kind(), "mlp-ae");
        assert!(serde_json::to_string(&c).unwrap().contains("\"kind\":\"mlp-ae\""), "checkpoints keep the kind tag");
        assert_eq!(ModelConfig::from_name("deep-vae-2d", None).unwrap().kind(), "mlp-vae");
        // Not a preset any more: the family's name.
        let mut c = ModelConfig::from_name("deep-vae-2d", None).unwrap();
        c.set_hidden(vec![64]).unwrap();
        assert_eq!(c.name(), "mlp-vae");
    }

    #[test]
    fn same_seed_same_weights() {
        let a = Model::from_name("conv-vae", None, 5, &Device::Cpu).unwrap();
        let b = Model::from_name("conv-vae", None, 5, &Device::Cpu).unwrap();
        let c = Model::from_name("conv-vae", None, 6, &Device::Cpu).unwrap();
        let w = |m: &Model| {
            m.params()
                .named_vars()
                .into_iter()
                .map(|(_, v)| v.flatten_all().unwrap().to_vec1::<f32>().unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(w(&a), w(&b));
        assert_ne!(w(&a), w(&c));
    }

    #[test]
    fn architectures_match_the_references() {
        // PyTorch example: 784-400-20: 784*400+400 + 400*40+40 + 20*400+400 + 400*784+784 = 652824
        let m = Model::from_name("mlp-vae", None, 0, &Device::Cpu).unwrap();
        assert_eq!(m.params().num_parameters(), 652_824);
        // TF CVAE tutorial with latent 2: 320 + 18496 + 2304*4+4 ... counted by Keras as 28,068 (enc) + 43,041 ... we
        // check the layer shapes instead.
        let m = Model::from_name("conv-vae", Some(2), 0, &Device::Cpu).unwrap();
        let shapes: Vec<(String, Vec<usize>)> =
            m.params().named_vars().into_iter().map(|(n, v)| (n, v.dims().to_vec())).collect();
        let get = |n: &str| shapes.iter().find(|(k, _)| k == n).unwrap().1.clone();
        assert_eq!(get("encoder.conv1.weight"), vec![32, 1, 3, 3]);
        assert_eq!(get("encoder.conv2.weight"), vec![64, 32, 3, 3]);
        assert_eq!(get("encoder.code.weight"), vec![4, 2304]);
        assert_eq!(get("decoder.fc.weight"), vec![1568, 2]);
        assert_eq!(get("decoder.deconv1.weight"), vec![32, 64, 3, 3]);
        assert_eq!(get("decoder.deconv3.weight"), vec![32, 1, 3, 3]);
    }

    #[test]
    fn bad_configs_are_rejected_clearly() {
        let e = Model::from_name("mlp-vae", Some(0), 0, &Device::Cpu).unwrap_err().to_string();
        assert!(e.contains("latent size is 0"), "{e}");
        let e = Model::from_name("gan", None, 0, &Device::Cpu).unwrap_err().to_string();
        assert!(e.contains("unknown model 'gan'"), "{e}");
        let m = Model::from_name("mlp-vae", None, 0, &Device::Cpu).unwrap();
        let e = m.encode(&Tensor::zeros((2, 10), DType::F32, &Device::Cpu).unwrap(), None).unwrap_err().to_string();
        assert!(e.contains("[B, 784]"), "{e}");
        let c = Model::from_name("cvae", None, 0, &Device::Cpu).unwrap();
        let e = c.encode(&Tensor::zeros((2, 784), DType::F32, &Device::Cpu).unwrap(), None).unwrap_err().to_string();
        assert!(e.contains("cvae is conditional: pass the labels too"), "{e}");
    }

    #[test]
    fn empty_batches_are_refused_by_every_model_alike() {
        let dev = Device::Cpu;
        for name in MODEL_NAMES {
            let m = Model::from_name(name, Some(2), 0, &dev).unwrap();
            let labels = m.num_classes().map(|_| Tensor::zeros(0, DType::U32, &dev).unwrap());
            let e = m.sample_prior(0, labels.as_ref(), &mut Rng::new(0)).unwrap_err().to_string();
            assert!(e.contains(&format!("{name}: sample_prior of 0 images")), "{e}");
            let e = m.encode(&Tensor::zeros((0, 784), DType::F32, &dev).unwrap(), labels.as_ref()).unwrap_err();
            assert!(e.to_string().contains("encode: no images (shape [0, 784])"), "{e}");
            let e = m.decode(&Tensor::zeros((0, 2), DType::F32, &dev).unwrap(), labels.as_ref()).unwrap_err();
            assert!(e.to_string().contains("decode: no codes (shape [0, 2])"), "{e}");
        }
    }

    #[test]
    fn labels_given_to_an_unconditional_model_are_refused_not_ignored() {
        let dev = Device::Cpu;
        let x = Tensor::zeros((2, 784), DType::F32, &dev).unwrap();
        let labels = Tensor::new(&[7u32, 7], &dev).unwrap();
        for name in MODEL_NAMES.into_iter().filter(|&n| n != "cvae") {
            let m = Model::from_name(name, Some(2), 0, &dev).unwrap();
            let z = Tensor::zeros((2, 2), DType::F32, &dev).unwrap();
            let errors = [
                m.encode(&x, Some(&labels)).map(|_| ()),
                m.decode(&z, Some(&labels)).map(|_| ()),
                m.reconstruct(&x, Some(&labels)).map(|_| ()),
                m.sample_prior(2, Some(&labels), &mut Rng::new(0)).map(|_| ()),
            ];
            for e in errors {
                let e = e.unwrap_err().to_string();
                assert!(e.contains(&format!("{name} is not conditional")) && e.contains("pass None"), "{e}");
            }
            assert!(m.sample_prior(2, None, &mut Rng::new(0)).is_ok());
        }
    }

    #[test]
    fn images_are_read_as_rows_or_28_by_28_and_nothing_else() {
        let dev = Device::Cpu;
        let x = Rng::new(3).rand((4, 784), 0.0, 1.0, &dev).unwrap();
        for name in ["mlp-vae", "conv-vae"] {
            let m = Model::from_name(name, Some(2), 0, &dev).unwrap();
            let want = m.encode(&x, None).unwrap().mean.to_vec2::<f32>().unwrap();
            for shape in [&[4, 1, 28, 28][..], &[4, 28, 28]] {
                let got = m.encode(&x.reshape(shape).unwrap(), None).unwrap().mean.to_vec2::<f32>().unwrap();
                assert_eq!(got, want, "{name} {shape:?}");
            }
            // 784 pixels per image, but not 28 x 28: reading them as such would scramble them.
            for shape in [&[4, 1, 56, 14][..], &[4, 2, 14, 28], &[4, 56, 14], &[3136]] {
                let e = m.encode(&x.reshape(shape).unwrap(), None).unwrap_err().to_string();
                assert!(e.contains("expected [B, 784] or [B, 1, 28, 28], got"), "{name} {shape:?}: {e}");
            }
        }
        let m = Model::from_name("mlp-vae", None, 0, &dev).unwrap();
        let e = m.encode(&x.narrow(0, 0, 1).unwrap().reshape(784).unwrap(), None).unwrap_err().to_string();
        assert!(e.contains("[784]") && e.contains("reshape((1, 784))"), "{e}");
        // A dense model of another size takes rows only, unless its size is a square.
        assert!(flatten_images(&x, 784, "x").is_ok());
        let e = flatten_images(&x.reshape((4, 1, 28, 28)).unwrap(), 10, "x").unwrap_err().to_string();
        assert!(e.contains("x: expected [B, 10], got [4, 1, 28, 28]"), "{e}");
        let small = Tensor::zeros((2, 1, 3, 3), DType::F32, &dev).unwrap();
        assert_eq!(flatten_images(&small, 9, "x").unwrap().dims(), &[2, 9]);
    }

    #[test]
    fn absurd_sizes_are_rejected_before_any_arithmetic_or_allocation() {
        // usize::MAX * 7 * 7 would overflow in the conv shapes; 2 * latent in the VAE head.
        let conv = ModelConfig::ConvAe(ConvAeConfig { channels: [1, usize::MAX], latent: 1 });
        let e = Model::new(conv, 0, &Device::Cpu).unwrap_err().to_string();
        assert!(e.contains("larger than the 16777216"), "{e}");
        let e = Model::from_name("mlp-vae", Some(usize::MAX), 0, &Device::Cpu).unwrap_err().to_string();
        assert!(e.contains("layer size"), "{e}");
        let deep = ModelConfig::MlpAe(MlpAeConfig { hidden: vec![1; MAX_DEPTH + 1], ..MlpAeConfig::shallow() });
        assert!(deep.validate().unwrap_err().to_string().contains("hidden layers"));
        // A limited parameter store refuses a model bigger than its limit, before allocating it.
        let wide = ModelConfig::MlpAe(MlpAeConfig { hidden: vec![MAX_LAYER_SIZE], ..MlpAeConfig::shallow() });
        let limited = Params::with_limit(0, 1000);
        assert!(!limited.limit_hit());
        let e = Model::with_params(wide, limited.clone(), &Device::Cpu).unwrap_err().to_string();
        assert!(e.contains("exceeds the limit") && limited.limit_hit(), "{e}");
        let m = Model::with_params(
            ModelConfig::from_name("mlp-vae", None).unwrap(),
            Params::with_limit(0, 652_824),
            &Device::Cpu,
        )
        .unwrap();
        assert_eq!(m.params().num_parameters(), 652_824);
    }
}
