//! Training-speed benchmark: full epochs of a model on a data set, timing the forward pass
//! (loss included), the backward pass and the optimiser step separately (forward and backward
//! together for a fused step, which is one pass), with the same [`Stepper`] as training.
//!
//! `vae bench --model mlp-vae --epochs 3 --json` prints one JSON object per epoch; the
//! PyTorch reference (`bench/pytorch_reference.py`) prints the same fields.
use crate::data::{batches, Dataset};
use crate::error::{Error, Result};
use crate::models::Model;
use crate::objective::Objective;
use crate::optim::Adam;
use crate::rng::Rng;
use crate::training::Stepper;
use serde::Serialize;
use std::time::Instant;

/// One benchmarked epoch, serialised with the field names the PyTorch reference prints.
#[derive(Clone, Debug, Serialize)]
pub struct BenchEpoch {
    /// `vae-core` here, `pytorch` in the reference: which implementation the line is from.
    #[serde(rename = "impl")]
    pub implementation: &'static str,
    /// The model's [name](crate::models::Model::name).
    pub model: String,
    /// 1 for the first epoch.
    pub epoch: usize,
    /// Optimisation steps in the epoch.
    pub batches: usize,
    /// Images per step (the last batch may hold fewer).
    pub batch_size: usize,
    /// Wall-clock time of the epoch.
    pub epoch_seconds: f64,
    /// Training images per second of `epoch_seconds`.
    pub samples_per_s: f64,
    /// The forward pass (loss included); `None` (null) for fused steps, which have no separate one.
    pub forward_seconds: Option<f64>,
    /// The backward pass; `None` (null) for fused steps.
    pub backward_seconds: Option<f64>,
    /// Forward and backward together: the fused pass, or the sum of the two above.
    pub forward_backward_seconds: f64,
    /// The Adam updates.
    pub optimizer_seconds: f64,
    /// Mean loss per image over the epoch, as [`EpochStats::train_loss`](crate::training::EpochStats::train_loss).
    pub train_loss: f64,
    /// Worker threads: the fused step's, or candle's for autograd.
    pub threads: usize,
    /// Steps ran through a fused CPU step (dense model or conv VAE), which computes the loss and
    /// its gradient in one pass.
    pub fused: bool,
}

/// Trains `model` for `epochs` epochs (each cut at `max_batches` if given) and times each.
pub fn bench_training(
    model: &Model,
    data: &Dataset,
    batch_size: usize,
    lr: f64,
    epochs: usize,
    max_batches: Option<usize>,
    mut on_epoch: impl FnMut(&BenchEpoch),
) -> Result<Vec<BenchEpoch>> {
    let settings = crate::training::TrainConfig { epochs, batch_size, lr, max_batches, ..Default::default() };
    settings.validate()?;
    if batch_size > data.train.len() {
        return Err(Error::config(format!(
            "batch size {batch_size} does not fit a training set of {}",
            data.train.len()
        )));
    }
    crate::perf::tune_allocator();
    let objective = Objective::default_for(model);
    let mut opt = Adam::new(model.params().trainable_vars(), lr)?;
    let mut stepper = Stepper::new(model, objective, 1.0);
    let mut rng = Rng::new(0);
    let mut out = vec![];
    for epoch in 1..=epochs {
        let (mut fwd, mut bwd, mut upd, mut loss_sum, mut n, mut nb) = (0f64, 0f64, 0f64, 0f64, 0usize, 0usize);
        let mut shuffle = rng.fork();
        let start = Instant::now();
        for (b, batch) in batches(&data.train, batch_size, Some(&mut shuffle))?.enumerate() {
            if max_batches.is_some_and(|m| b >= m) {
                break;
            }
            let batch = batch?;
            let labels = model.num_classes().map(|_| &batch.labels);
            let out = stepper.step(model, &mut opt, &batch.images, &batch.images, labels, &mut rng)?;
            if !out.updated {
                return Err(Error::Training(format!(
                    "benchmark: the loss became {} at epoch {epoch}, batch {}",
                    out.total,
                    b + 1
                )));
            }
            let loss = out.total;
            fwd += out.forward_seconds;
            bwd += out.backward_seconds;
            upd += out.optimizer_seconds;
            loss_sum += loss * batch.len() as f64;
            n += batch.len();
            nb += 1;
        }
        let secs = start.elapsed().as_secs_f64();
        let e = BenchEpoch {
            implementation: "vae-core",
            model: model.name().to_string(),
            epoch,
            batches: nb,
            batch_size,
            epoch_seconds: secs,
            samples_per_s: n as f64 / secs,
            forward_seconds: (!stepper.is_fused()).then_some(fwd),
            backward_seconds: (!stepper.is_fused()).then_some(bwd),
            forward_backward_seconds: fwd + bwd,
            optimizer_seconds: upd,
            train_loss: loss_sum / n as f64,
            threads: if stepper.is_fused() {
                crate::ops::kernels::num_threads()
            } else {
                candle_core::utils::get_num_threads()
            },
            fused: stepper.is_fused(),
        };
        on_epoch(&e);
        out.push(e);
    }
    Ok(out)
}
