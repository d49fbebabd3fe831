//! Training: Adam (AdamW with weight decay 0), epochs of shuffled mini-batches, optional
//! learning-rate milestones (PyTorch's `MultiStepLR`), a per-epoch callback and a [`History`].
//!
//! Each step computes the [`Objective`] on a batch, checks that it is finite (a NaN or
//! infinite loss stops training with an error naming the epoch and batch, before the
//! optimiser can write NaNs into the weights), back-propagates and updates. For the dense VAE
//! and autoencoder (conditional or not, without batch norm) and the conv VAE on the CPU the step runs through [`fused_vae`](crate::fused_vae) and
//! [`fused_conv_vae`](crate::fused_conv_vae) (same loss, same noise, gradients equal to
//! autograd's up to rounding; `VAE_FUSED=0` switches them off), everything else through
//! candle's autograd.
//!
//! ```
//! # fn main() -> vae_core::Result<()> {
//! use candle_core::{Device, Tensor};
//! use vae_core::{data::{Dataset, Split}, models::Model, rng::Rng, training::{TrainConfig, Trainer}};
//! let mut rng = Rng::new(0);
//! let mut split = |n| -> vae_core::Result<Split> {
//!     Ok(Split { images: rng.rand((n, 784), 0.0, 1.0, &Device::Cpu)?, labels: Tensor::zeros(n, candle_core::DType::U32, &Device::Cpu)? })
//! };
//! let data = Dataset { name: "noise".into(), train: split(64)?, test: split(16)?, class_names: vec!["0".into()], height: 28, width: 28 };
//! let model = Model::from_name("mlp-vae", Some(2), 0, &Device::Cpu)?;
//! let cfg = TrainConfig { epochs: 2, batch_size: 32, quiet: true, ..TrainConfig::default() };
//! let history = Trainer::new(cfg).fit(&model, &data)?;
//! assert_eq!(history.epochs.len(), 2);
//! # Ok(()) }
//! ```
use crate::data::{batches, dynamic_binarize, Corruption, Dataset, Split};
use crate::error::{Error, Result};
use crate::evaluation::{evaluate, EvalStats};
use crate::fused_conv_vae::{FusedConvVae, KlTerm};
use crate::fused_vae::{FusedVae, StepLoss};
use crate::models::Model;
use crate::objective::Objective;
use crate::optim::Adam;
use crate::rng::Rng;
use candle_core::{DType, Tensor};
use candle_nn::Optimizer;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// How pixels are turned into the targets of a Bernoulli likelihood.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Binarization {
    /// Grey levels as they are (the PyTorch example).
    #[default]
    None,
    /// A fresh Bernoulli draw per pixel and epoch (the standard likelihood benchmark).
    Dynamic,
}

/// Everything a training run needs besides the model and the data; the [`Default`] is the
/// PyTorch VAE example's recipe. [`validate`](Self::validate) checks it on its own.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Passes over the training split (at least 1).
    pub epochs: usize,
    /// Images per optimisation step; the last batch of an epoch may be smaller. At most the
    /// training split's size.
    pub batch_size: usize,
    /// Adam's learning rate at the start (before any milestone).
    pub lr: f64,
    /// Epochs after which the learning rate is multiplied by `gamma`.
    pub milestones: Vec<usize>,
    /// Factor applied to the learning rate at each milestone (0.1: ten times smaller).
    pub gamma: f64,
    /// Seeds the shuffling, the reparameterisation noise, binarisation and corruption: the same
    /// seed, model and data train bit-identical weights.
    pub seed: u64,
    /// Weight of the KL term (beta-VAE); 1 is the ELBO. Must be 1 with mc-elbo, unused by bce
    /// and by autoencoders (see [`objective`](crate::objective)).
    pub beta: f64,
    /// `None`: [`Objective::default_for`] the model.
    pub objective: Option<Objective>,
    /// Whether training targets are grey levels or fresh binary draws each epoch.
    pub binarization: Binarization,
    /// Denoising: corrupt the inputs, score against clean targets.
    pub corruption: Option<Corruption>,
    /// Evaluate the test split after every epoch.
    pub eval_test: bool,
    /// Stop each epoch after this many batches (benchmarks and quick runs).
    pub max_batches: Option<usize>,
    /// No progress lines on stdout.
    pub quiet: bool,
}

impl Default for TrainConfig {
    /// Adam 1e-3, batch 128, 10 epochs: the PyTorch VAE example.
    fn default() -> Self {
        Self {
            epochs: 10,
            batch_size: 128,
            lr: 1e-3,
            milestones: vec![],
            gamma: 0.1,
            seed: 0,
            beta: 1.0,
            objective: None,
            binarization: Binarization::None,
            corruption: None,
            eval_test: true,
            max_batches: None,
            quiet: false,
        }
    }
}

impl TrainConfig {
    /// The first setting that cannot work, as the field's name and what is wrong with it (starting
    /// with the value); `None` when the config can run. The `vae` binary words it with
    /// its option's name; [`validate`](Self::validate) is the same check as an error.
    pub fn invalid_setting(&self) -> Option<(&'static str, String)> {
        if self.epochs == 0 {
            return Some(("epochs", "0: nothing would be trained; use at least 1".into()));
        }
        if self.batch_size == 0 {
            return Some(("batch_size", "0: a batch needs at least one example".into()));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Some(("lr", format!("{}: the learning rate must be a positive finite number", self.lr)));
        }
        if !(self.beta.is_finite() && self.beta >= 0.0) {
            return Some(("beta", format!("{}: the KL weight must be a non-negative finite number", self.beta)));
        }
        if self.objective == Some(Objective::McElbo) && self.beta != 1.0 {
            return Some((
                "beta",
                format!(
                    "{} with the mc-elbo objective: its single-sample estimate of log p(z) - log q(z|x) has no \
                     separate KL term to weigh; use the elbo objective for beta != 1",
                    self.beta
                ),
            ));
        }
        if !(self.gamma.is_finite() && self.gamma > 0.0) {
            return Some((
                "gamma",
                format!("{}: the learning-rate factor at milestones must be a positive finite number", self.gamma),
            ));
        }
        // A milestone m lowers the rate from epoch m + 1 on: 0 only rescales lr, and one at or
        // after the last epoch never takes effect; both are surely a mistake.
        if let Some(m) = self.milestones.iter().find(|&&m| m == 0 || m >= self.epochs) {
            let why = match self.epochs {
                1 => format!("{m}: with 1 epoch no milestone can take effect"),
                e => format!(
                    "{m}: a milestone lowers the learning rate after that epoch, so with {e} epochs it must be from 1 to {}",
                    e - 1
                ),
            };
            return Some(("milestones", why));
        }
        if self.max_batches == Some(0) {
            return Some(("max_batches", "0: no batch would be trained; use at least 1".into()));
        }
        if let Some(why) = self.corruption.as_ref().and_then(|c| c.problem()) {
            return Some(("corruption", why));
        }
        None
    }

    /// Checks the settings that need no model or data (the [`Trainer`] checks the rest when it
    /// starts), so that a mistake is reported before anything is loaded.
    pub fn validate(&self) -> Result<()> {
        match self.invalid_setting() {
            Some((field, why)) => Err(Error::config(format!("{field} {why}"))),
            None => Ok(()),
        }
    }
}

/// What one epoch did. Losses are per image (sum over pixels, mean over images), in nats for
/// the Bernoulli objectives. The loss is `recon + beta * kl` and `kl` is the unweighted KL
/// (for mse on a VAE even at `beta = 0`), except: with mc-elbo the loss is `recon + kl`, `kl`
/// being the single-sample estimate of $\log q(z|x) - \log p(z)$; with bce, and on any
/// autoencoder, `kl` is 0 and the loss is `recon` (the [`objective`](crate::objective) table).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochStats {
    /// 1 for the first epoch.
    pub epoch: usize,
    /// The objective's total, averaged over the epoch's training images, each batch scored by
    /// the weights of its own step: it lags the weights the epoch ends with.
    pub train_loss: f64,
    /// The reconstruction part of `train_loss`.
    pub train_recon: f64,
    /// The KL part of `train_loss`, unweighted by beta.
    pub train_kl: f64,
    /// The objective on the whole test split after the epoch, in evaluation mode; `None` when
    /// [`TrainConfig::eval_test`] is off or the test split is empty.
    pub test_loss: Option<f64>,
    /// The reconstruction part of `test_loss`.
    pub test_recon: Option<f64>,
    /// The KL part of `test_loss`, unweighted by beta.
    pub test_kl: Option<f64>,
    /// The learning rate of this epoch (after milestones).
    pub lr: f64,
    /// Wall-clock time of the training batches (not the test evaluation).
    pub epoch_seconds: f64,
    /// Training images per second of `epoch_seconds`.
    pub samples_per_s: f64,
}

/// Per-epoch statistics of a training run. The column getters give one value per epoch, in
/// order, ready to plot.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// One entry per epoch trained, the first epoch first.
    pub epochs: Vec<EpochStats>,
}

impl History {
    /// The final epoch's statistics; `None` before any epoch.
    pub fn last(&self) -> Option<&EpochStats> {
        self.epochs.last()
    }
    /// [`EpochStats::train_loss`] of every epoch.
    pub fn train_loss(&self) -> Vec<f64> {
        self.epochs.iter().map(|e| e.train_loss).collect()
    }
    /// [`EpochStats::test_loss`] of the epochs that have one: shorter than the others (empty)
    /// when the test split was not evaluated.
    pub fn test_loss(&self) -> Vec<f64> {
        self.epochs.iter().filter_map(|e| e.test_loss).collect()
    }
    /// [`EpochStats::train_recon`] of every epoch.
    pub fn train_recon(&self) -> Vec<f64> {
        self.epochs.iter().map(|e| e.train_recon).collect()
    }
    /// [`EpochStats::train_kl`] of every epoch.
    pub fn train_kl(&self) -> Vec<f64> {
        self.epochs.iter().map(|e| e.train_kl).collect()
    }
    /// Training time of all epochs, in seconds (test evaluations excluded).
    pub fn total_seconds(&self) -> f64 {
        self.epochs.iter().map(|e| e.epoch_seconds).sum()
    }
}

/// Trains models with one [`TrainConfig`]; see the [module](self) example. Every check that
/// needs the model and data (batch size, objective, pixel range, image shape) runs before the
/// first step, so a mistake costs no training time.
pub struct Trainer {
    /// The recipe; [`fit`](Self::fit) validates it each time.
    pub config: TrainConfig,
}

impl Trainer {
    /// A trainer for `config` (checked when training starts).
    pub fn new(config: TrainConfig) -> Self {
        Self { config }
    }

    /// Trains `model` in place on `data.train` (evaluating on `data.test` each epoch if
    /// [`TrainConfig::eval_test`]). Images may be `[N, 784]` or image-shaped
    /// ([`flatten_images`](crate::models::flatten_images)), f32 in [0, 1].
    pub fn fit(&self, model: &Model, data: &Dataset) -> Result<History> {
        self.fit_with(model, data, |_, _| Ok(()))
    }

    /// Like [`fit`](Self::fit), calling `on_epoch` after every epoch (notebooks draw a frame there).
    pub fn fit_with(
        &self,
        model: &Model,
        data: &Dataset,
        mut on_epoch: impl FnMut(&EpochStats, &Model) -> Result<()>,
    ) -> Result<History> {
        let cfg = &self.config;
        // Image-shaped splits become rows here, once: batches, binarisation, corruption and the
        // fused steps all read [B, pixels].
        let train = self.validate(model, &data.train)?;
        let test = if cfg.eval_test {
            let test = flat_split(model, &data.test, "test")?;
            check_split(model, &test, "test")?;
            test
        } else {
            data.test.clone()
        };
        crate::perf::tune_allocator();
        let objective = cfg.objective.unwrap_or_else(|| Objective::default_for(model));
        let mut opt = Adam::new(model.params().trainable_vars(), cfg.lr)?;
        let mut stepper = Stepper::new(model, objective, cfg.beta);
        let mut rng = Rng::new(cfg.seed ^ 0x7261_696e);
        let conditional = model.num_classes().is_some();
        let mut history = History::default();
        for epoch in 1..=cfg.epochs {
            let lr = cfg.lr * cfg.gamma.powi(cfg.milestones.iter().filter(|&&m| m < epoch).count() as i32);
            opt.set_learning_rate(lr);
            let start = Instant::now();
            let mut shuffle_rng = rng.fork();
            let mut noise_rng = rng.fork();
            let (mut sum, mut sum_recon, mut sum_kl, mut seen) = (0f64, 0f64, 0f64, 0usize);
            for (b, batch) in batches(&train, cfg.batch_size, Some(&mut shuffle_rng))?.enumerate() {
                if cfg.max_batches.is_some_and(|m| b >= m) {
                    break;
                }
                let batch = batch?;
                let target = match cfg.binarization {
                    Binarization::None => batch.images.clone(),
                    Binarization::Dynamic => dynamic_binarize(&batch.images, &mut noise_rng)?,
                };
                let input = match &cfg.corruption {
                    Some(c) => c.apply(&target, &mut noise_rng)?,
                    None => target.clone(),
                };
                let labels = conditional.then_some(&batch.labels);
                let out = stepper.step(model, &mut opt, &input, &target, labels, &mut noise_rng)?;
                if !out.total.is_finite() {
                    return Err(Error::Training(format!(
                        "the loss became {} at epoch {epoch}, batch {} (learning rate {lr:e}); the weights were not updated with it. \
                         Lower the learning rate or check the inputs for NaN/inf.",
                        out.total,
                        b + 1
                    )));
                }
                let n = batch.len();
                sum += out.total * n as f64;
                sum_recon += out.recon * n as f64;
                sum_kl += out.kl * n as f64;
                seen += n;
            }
            let secs = start.elapsed().as_secs_f64();
            let test: Option<EvalStats> = if cfg.eval_test && !test.is_empty() {
                let test = match cfg.binarization {
                    Binarization::None => test.clone(),
                    // A fixed binarisation of the test set, so epochs are comparable.
                    Binarization::Dynamic => Split {
                        images: dynamic_binarize(&test.images, &mut Rng::new(cfg.seed ^ 0x7465_7374))?,
                        labels: test.labels.clone(),
                    },
                };
                Some(evaluate(model, &test, objective, cfg.beta, cfg.corruption.as_ref(), cfg.seed)?)
            } else {
                None
            };
            let stats = EpochStats {
                epoch,
                train_loss: sum / seen as f64,
                train_recon: sum_recon / seen as f64,
                train_kl: sum_kl / seen as f64,
                test_loss: test.as_ref().map(|t| t.loss),
                test_recon: test.as_ref().map(|t| t.recon),
                test_kl: test.as_ref().map(|t| t.kl),
                lr,
                epoch_seconds: secs,
                samples_per_s: seen as f64 / secs,
            };
            if !cfg.quiet {
                print_progress(&format_epoch(&stats, cfg.epochs, model.is_variational()));
            }
            on_epoch(&stats, model)?;
            history.epochs.push(stats);
        }
        Ok(history)
    }

    /// Checks the config against `model` and the training split, and returns the split with its
    /// images as rows.
    fn validate(&self, model: &Model, train: &Split) -> Result<Split> {
        let cfg = &self.config;
        cfg.validate()?;
        let train = flat_split(model, train, "training")?;
        if train.is_empty() {
            return Err(Error::config("the training set is empty: nothing to train on"));
        }
        if cfg.batch_size > train.len() {
            return Err(Error::config(format!(
                "batch size {} is larger than the training set ({} examples); use a batch size of at most {}",
                cfg.batch_size,
                train.len(),
                train.len()
            )));
        }
        if let Some(o) = cfg.objective.filter(|o| !o.applies_to(model)) {
            return Err(Error::config(format!(
                "the {} objective needs a VAE, and {} is an autoencoder (no posterior, no prior); use mse or bce",
                o.name(),
                model.name()
            )));
        }
        check_split(model, &train, "training")?;
        Ok(train)
    }
}

/// One label per image, and for a conditional model labels it accepts: checked on both splits
/// before the first step, where a mismatch ended in an index-select error and f32 labels trained
/// an epoch on the fused path before the test evaluation refused them.
fn check_split(model: &Model, split: &Split, which: &str) -> Result<()> {
    split.check_label_count(&format!("the {which} split"))?;
    if let Some(classes) = model.num_classes() {
        if let Some(why) = crate::models::layers::class_label_problem(&split.labels, split.len(), classes)? {
            return Err(Error::config(format!("the {which} split, for {}: {why}", model.name())));
        }
    }
    check_pixels(split, which)
}

/// `split` with its images as the `[N, pixels]` rows `model` reads ([`Model::flatten_input`]).
fn flat_split(model: &Model, split: &Split, which: &str) -> Result<Split> {
    let what = format!("the {which} images, for {}", model.name());
    let images = crate::models::flatten_images(&split.images, model.config().input_dim(), &what)?;
    Ok(Split { images, labels: split.labels.clone() })
}

/// The models take f32 pixels in [0, 1] (Bernoulli means, sigmoid outputs): anything else trains
/// on nonsense without complaint (0..255 bytes gave losses of 1e8), so it is refused up front.
fn check_pixels(split: &Split, which: &str) -> Result<()> {
    let images = &split.images;
    if images.dtype() != DType::F32 {
        return Err(Error::config(format!(
            "the {which} images are {:?}; the models take f32 pixels in [0, 1]: use `.to_dtype(DType::F32)? / 255.0` on bytes",
            images.dtype()
        )));
    }
    if images.elem_count() == 0 {
        return Ok(());
    }
    let (lo, hi) = (images.min_all()?.to_scalar::<f32>()?, images.max_all()?.to_scalar::<f32>()?);
    if !(lo.is_finite() && hi.is_finite()) || images.sum_all()?.to_scalar::<f32>()?.is_nan() {
        return Err(Error::config(format!(
            "the {which} images contain NaN or infinite values; clean the data before training"
        )));
    }
    if lo < 0.0 || hi > 1.0 {
        return Err(Error::config(format!(
            "the {which} images range over [{lo}, {hi}]; the models take pixels in [0, 1] (divide 0..255 data by 255)"
        )));
    }
    Ok(())
}

/// What one optimisation step did: the batch-mean loss and its parts, and where the time went.
#[derive(Clone, Copy, Debug, Default)]
pub struct StepOutcome {
    /// The batch-mean loss ([`LossParts::total`](crate::objective::LossParts::total)).
    pub total: f64,
    /// Its reconstruction part.
    pub recon: f64,
    /// Its KL part, unweighted by beta.
    pub kl: f64,
    /// False when the loss was not finite: then the weights were left alone.
    pub updated: bool,
    /// The forward pass and loss, in seconds (0 on the fused path).
    pub forward_seconds: f64,
    /// The backward pass; on the fused path, forward and backward together (one pass there,
    /// `forward_seconds` 0).
    pub backward_seconds: f64,
    /// The Adam update, in seconds.
    pub optimizer_seconds: f64,
}

/// One optimisation step, through the fused CPU step where one applies (the
/// [dense VAE](crate::fused_vae) with the ELBO, the dense autoencoder with MSE or BCE, the
/// [conv VAE](crate::fused_conv_vae) with either ELBO; `VAE_FUSED=0` turns them off) and candle's autograd otherwise. The trainer
/// and the benchmark share it, so the benchmark times what training runs.
pub struct Stepper {
    objective: Objective,
    beta: f64,
    fused: Option<Fused>,
}

enum Fused {
    Dense(FusedVae),
    // Boxed: the conv step carries its layer table, three times the dense one's size.
    Conv(Box<FusedConvVae>),
}

impl Fused {
    fn conv(step: FusedConvVae) -> Self {
        Fused::Conv(Box::new(step))
    }
    fn forward_backward(
        &mut self,
        objective: Objective,
        input: &Tensor,
        target: &Tensor,
        labels: Option<&Tensor>,
        eps: &[f32],
        beta: f64,
    ) -> Result<StepLoss> {
        match self {
            Fused::Dense(f) => f.forward_backward(input, target, labels, eps, beta),
            // The Monte Carlo ELBO has no beta (as in Objective::compute).
            Fused::Conv(f) if objective == Objective::McElbo => {
                f.forward_backward(input, target, eps, KlTerm::MonteCarlo)
            }
            Fused::Conv(f) => f.forward_backward(input, target, eps, KlTerm::Analytic { beta }),
        }
    }
    fn gradient(&self, param: &Tensor) -> Option<&[f32]> {
        match self {
            Fused::Dense(f) => f.gradient(param),
            Fused::Conv(f) => f.gradient(param),
        }
    }
}

impl Stepper {
    /// A stepper for `model` and `objective`, fused where it can be (checked once, here).
    pub fn new(model: &Model, objective: Objective, beta: f64) -> Self {
        let allowed = std::env::var("VAE_FUSED").map_or(true, |v| v != "0");
        let fused = match objective {
            _ if !allowed => None,
            Objective::Elbo => {
                FusedVae::new(model).map(Fused::Dense).or_else(|| FusedConvVae::new(model).map(Fused::conv))
            }
            Objective::McElbo => FusedConvVae::new(model).map(Fused::conv),
            Objective::Mse | Objective::Bce => FusedVae::new_autoencoder(model, objective).map(Fused::Dense),
        };
        Self { objective, beta, fused }
    }

    /// Whether steps run through the fused CPU path.
    pub fn is_fused(&self) -> bool {
        self.fused.is_some()
    }

    /// Loss on a batch, then (only if it is finite) the gradient step. The reparameterisation
    /// noise comes from `rng` in the same order on both paths.
    pub fn step(
        &mut self,
        model: &Model,
        opt: &mut Adam,
        input: &Tensor,
        target: &Tensor,
        labels: Option<&Tensor>,
        rng: &mut Rng,
    ) -> Result<StepOutcome> {
        // Refused on both paths alike: the fused one cannot tell a model's name.
        model.check_labels_wanted(labels)?;
        let t0 = Instant::now();
        if let Some(f) = &mut self.fused {
            // Autoencoders draw no noise, as on the autograd path.
            let eps = if model.is_variational() { rng.normal_vec(input.dim(0)? * model.latent_dim()) } else { vec![] };
            let l = f.forward_backward(self.objective, input, target, labels, &eps, self.beta)?;
            let t1 = Instant::now();
            let mut out = StepOutcome {
                total: l.total,
                recon: l.recon,
                kl: l.kl,
                backward_seconds: (t1 - t0).as_secs_f64(),
                ..Default::default()
            };
            if l.total.is_finite() {
                opt.step_with(|v| f.gradient(v.as_tensor()))?;
                out.updated = true;
                out.optimizer_seconds = t1.elapsed().as_secs_f64();
            }
            return Ok(out);
        }
        let parts = self.objective.compute(model, input, target, labels, self.beta, true, rng)?;
        let total = parts.total.to_scalar::<f32>()? as f64;
        let mut out = StepOutcome {
            total,
            recon: parts.recon.to_scalar::<f32>()? as f64,
            kl: parts.kl.to_scalar::<f32>()? as f64,
            forward_seconds: t0.elapsed().as_secs_f64(),
            ..Default::default()
        };
        if total.is_finite() {
            let t1 = Instant::now();
            let grads = parts.total.backward()?;
            let t2 = Instant::now();
            opt.step(&grads)?;
            out.updated = true;
            out.backward_seconds = (t2 - t1).as_secs_f64();
            out.optimizer_seconds = t2.elapsed().as_secs_f64();
        }
        Ok(out)
    }
}

/// Writes `line` and a newline to stdout, ignoring a stdout that is closed or full: a reader
/// that went away (`vae train ... | head -1`, a pager quit early) must not stop a run that would
/// still save its checkpoint, as `println!` does by panicking.
pub fn print_progress(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// One progress line per epoch.
pub fn format_epoch(s: &EpochStats, epochs: usize, variational: bool) -> String {
    let mut line = format!("epoch {:>3}/{epochs}  train {:.3}", s.epoch, s.train_loss);
    if variational {
        // No "+": with beta != 1 the loss is recon + beta * kl.
        line += &format!(" (recon {:.3}, kl {:.3})", s.train_recon, s.train_kl);
    }
    if let Some(t) = s.test_loss {
        line += &format!("  test {t:.3}");
    }
    line += &format!("  {:.2} s ({:.0} img/s)", s.epoch_seconds, s.samples_per_s);
    line
}

/// Only the labels needed by conditional models.
pub fn labels_for<'a>(model: &Model, labels: &'a Tensor) -> Option<&'a Tensor> {
    model.num_classes().map(|_| labels)
}
