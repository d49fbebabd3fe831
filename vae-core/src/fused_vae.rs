//! The dense VAE's training step on the CPU in one pass: forward, negative ELBO and backward,
//! without an autograd graph and without allocating per step.
//!
//! For the [`MlpVae`](crate::models::MlpVae) (dense layers $a_l = \phi(a_{l-1}W_l^\top + b_l)$,
//! a code layer giving $\mu$ and $\log\sigma^2$, $z = \mu + \sigma\odot\epsilon$, a decoder ending in
//! Bernoulli logits $\ell$) the loss on a batch of $B$ images is
//!
//! $$L = \frac1B\sum_b\Big[\sum_i \mathrm{softplus}(\ell_{bi}) - x_{bi}\ell_{bi}
//! \;-\;\frac\beta2\sum_j\big(1 + \log\sigma^2_{bj} - \mu_{bj}^2 - \sigma^2_{bj}\big)\Big],$$
//!
//! exactly [`Objective::Elbo`](crate::objective::Objective::Elbo). Its gradient is the chain rule
//! written out (the table in [`by_hand`](crate::by_hand) derives it):
//! $\partial L/\partial\ell = (\mathrm{sigmoid}(\ell) - x)/B$; through each layer
//! $\partial W = \delta^\top a_{\text{in}}$, $\partial b = \sum_b \delta$,
//! $\delta_{\text{in}} = \delta W \odot \phi'$; at the code
//! $\partial L/\partial\mu = \partial L/\partial z + \beta\mu/B$ and
//! $\partial L/\partial\log\sigma^2 = \tfrac12\,\partial L/\partial z\odot\sigma\epsilon
//! + \tfrac\beta2(\sigma^2 - 1)/B$ (zero where the log-variance is clamped).
//!
//! Why a fused step: with candle's autograd every operation allocates its output and every
//! backward node another, and the small elementwise operations of this model cost as much as its
//! matrix products. Here each worker thread takes a contiguous slice of the batch, runs the whole
//! forward and backward pass on it with single-threaded `gemm` calls into buffers kept between
//! steps, and the partial gradients are summed at the end. The weights are read in place from the
//! model's own tensors; [`Adam::step_with`](crate::optim::Adam::step_with) applies the gradients.
//! The [`Trainer`](crate::training::Trainer) uses this step whenever it applies (CPU, f32, no
//! batch norm, the ELBO objective); `VAE_FUSED=0` turns it off. A conditional model's first
//! encoder and first decoder layer read $[x, \mathrm{onehot}(y)]$ and $[z, \mathrm{onehot}(y)]$;
//! the step builds those rows, and the gradient flowing back into $z$ is the first
//! `latent` columns of $\delta W$ (the labels get none). The same step
//! trains the dense [`MlpAutoencoder`](crate::models::MlpAutoencoder)
//! ([`FusedVae::new_autoencoder`]): the code layer feeds the decoder directly, and the loss is
//! the BCE above or the squared error of the sigmoid outputs,
//! $\frac1B\sum_b\sum_i(\mathrm{sigmoid}(\ell_{bi}) - x_{bi})^2$
//! ([`Objective::Mse`](crate::objective::Objective::Mse)). The tests check loss and gradients
//! against candle's autograd.
//!
//! ```
//! # fn main() -> vae_core::Result<()> {
//! use candle_core::Device;
//! use vae_core::{fused_vae::FusedVae, models::Model, rng::Rng};
//! let model = Model::from_name("mlp-vae", Some(2), 0, &Device::Cpu)?;
//! let mut step = FusedVae::new(&model).expect("a dense VAE on the CPU");
//! let mut rng = Rng::new(1);
//! let x = rng.rand((8, 784), 0.0, 1.0, &Device::Cpu)?;
//! let eps = rng.normal_vec(8 * 2);
//! let loss = step.forward_backward(&x, &x, None, &eps, 1.0)?;
//! assert!(loss.total > 0.0 && (loss.total - loss.recon - loss.kl).abs() < 1e-6);
//! let w = model.params().trainable_vars()[0].clone();
//! assert_eq!(step.gradient(w.as_tensor()).unwrap().len(), w.elem_count());
//! # Ok(()) }
//! ```
use crate::error::{Error, Result};
use crate::models::mlp_vae::{LOGVAR_MAX, LOGVAR_MIN};
use crate::models::{Activation, Model};
use crate::ops::kernels::{matmul, num_threads, split, Mat};
use candle_core::{DType, Storage, Tensor, TensorId};
use std::ops::Range;

/// Batch-mean loss of one step and its parts: `total = recon + beta * kl` (with the Monte Carlo
/// KL term, `recon + kl`), with `kl` itself unweighted, as
/// [`Objective::compute`](crate::objective::Objective::compute) reports it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepLoss {
    /// What the gradient is of.
    pub total: f64,
    /// The reconstruction term (BCE or squared error, summed over pixels).
    pub recon: f64,
    /// The KL term, unweighted; 0 for an autoencoder.
    pub kl: f64,
}

struct Layer {
    weight: Tensor,
    bias: Tensor,
    n_in: usize,
    n_out: usize,
    /// `None` for the code layer and the logits layer.
    act: Option<Activation>,
}

/// One layer's weights borrowed from the model's storage for the length of a step.
#[derive(Clone, Copy)]
struct View<'a> {
    w: &'a [f32],
    b: &'a [f32],
    n_in: usize,
    n_out: usize,
    act: Option<Activation>,
}

/// Buffers of one worker thread, kept between steps.
#[derive(Default)]
struct Workspace {
    /// Output of every layer (after its activation), rows x n_out.
    acts: Vec<Vec<f32>>,
    z: Vec<f32>,
    /// $\sigma\odot\epsilon$, needed for the log-variance gradient.
    std_eps: Vec<f32>,
    /// A conditional model's $[x, \mathrm{onehot}(y)]$ and $[z, \mathrm{onehot}(y)]$ rows.
    x_cond: Vec<f32>,
    z_cond: Vec<f32>,
    delta: Vec<f32>,
    spare: Vec<f32>,
    /// Gradients of this thread's rows: weight then bias for every layer.
    grads: Vec<Vec<f32>>,
    recon: f64,
    kl: f64,
}

impl_partial!(Workspace);

/// What the step minimises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Loss {
    /// The VAE's negative ELBO (BCE + beta KL).
    Elbo,
    /// An autoencoder's BCE with logits.
    Bce,
    /// An autoencoder's squared error of the sigmoid outputs:
    /// $\partial/\partial\ell\,(s - t)^2 = 2(s - t)\,s(1 - s)$ with $s = \mathrm{sigmoid}(\ell)$.
    Mse,
}

/// The fused forward/backward step of a dense VAE or autoencoder; see the [module docs](self).
pub struct FusedVae {
    loss: Loss,
    layers: Vec<Layer>,
    /// Index of the code layer (= number of encoder hidden layers).
    code: usize,
    latent: usize,
    input_dim: usize,
    /// Number of classes of a conditional model, 0 otherwise.
    classes: usize,
    threads: usize,
    work: Vec<Workspace>,
    ids: Vec<TensorId>,
}

impl FusedVae {
    /// The step for `model`, or `None` when the fused path does not cover it (not a dense VAE,
    /// batch norm, not on the CPU, not f32).
    pub fn new(model: &Model) -> Option<Self> {
        let vae = model.mlp_vae()?;
        Self::build(model, &vae.encoder, &vae.decoder, vae.latent, Loss::Elbo)
    }

    /// The step for a dense autoencoder trained with [`Objective::Mse`](crate::objective::Objective::Mse)
    /// or [`Objective::Bce`](crate::objective::Objective::Bce), or `None` (as for [`new`](Self::new)).
    /// Its [`forward_backward`](Self::forward_backward) takes no noise (`eps` empty) and ignores beta.
    pub fn new_autoencoder(model: &Model, objective: crate::objective::Objective) -> Option<Self> {
        use crate::objective::Objective;
        let ae = model.mlp_autoencoder()?;
        let loss = match objective {
            Objective::Mse => Loss::Mse,
            Objective::Bce => Loss::Bce,
            _ => return None,
        };
        Self::build(model, &ae.encoder, &ae.decoder, model.latent_dim(), loss)
    }

    fn build(
        model: &Model,
        enc: &crate::models::mlp_ae::MlpEncoder,
        dec: &crate::models::mlp_ae::MlpDecoder,
        latent: usize,
        loss: Loss,
    ) -> Option<Self> {
        if !model.device().is_cpu() {
            return None;
        }
        let classes = model.num_classes().unwrap_or(0);
        if enc.body.has_batch_norm() || dec.body.has_batch_norm() {
            return None;
        }
        let mut layers = vec![];
        let mut push = |lin: &candle_nn::Linear, act: Option<Activation>| -> Option<()> {
            let w = lin.weight();
            let b = lin.bias()?;
            if w.dtype() != DType::F32 || b.dtype() != DType::F32 {
                return None;
            }
            let (n_out, n_in) = w.dims2().ok()?;
            layers.push(Layer { weight: w.clone(), bias: b.clone(), n_in, n_out, act });
            Some(())
        };
        for (lin, _) in enc.body.layers() {
            push(lin, Some(enc.body.activation()))?;
        }
        push(&enc.code, None)?;
        for (lin, _) in dec.body.layers() {
            push(lin, Some(dec.body.activation()))?;
        }
        push(&dec.out, None)?;
        let code = layers.len() - 2 - dec.body.layers().count();
        let ids = layers.iter().flat_map(|l| [l.weight.id(), l.bias.id()]).collect();
        let input_dim = layers[0].n_in.checked_sub(classes)?;
        Some(Self { loss, code, latent, input_dim, classes, layers, threads: num_threads(), work: vec![], ids })
    }

    /// Computes the loss on a batch and keeps its gradient for [`gradient`](Self::gradient).
    /// `input` goes through the encoder, `target` is what the decoder is scored against (they
    /// differ for denoising), `eps` holds the `B * latent` standard normal draws of the
    /// reparameterisation, row by row. `labels` (class indices, one per row) are needed by a
    /// conditional model and refused by the others, as in [`Model::encode`].
    pub fn forward_backward(
        &mut self,
        input: &Tensor,
        target: &Tensor,
        labels: Option<&Tensor>,
        eps: &[f32],
        beta: f64,
    ) -> Result<StepLoss> {
        let per_row = if self.loss == Loss::Elbo { self.latent } else { 0 };
        let (input, target) = f32_batch("fused VAE step", input, target, self.input_dim, eps, per_row)?;
        let (b, d) = input.dims2()?;
        let y = self.labels(labels, b)?;
        let (xs, xl) = input.storage_and_layout();
        let (ts, tl) = target.storage_and_layout();
        let x = cpu_f32(&xs, xl, "the input batch")?;
        let t = cpu_f32(&ts, tl, "the target batch")?;
        let guards: Vec<_> =
            self.layers.iter().map(|l| (l.weight.storage_and_layout(), l.bias.storage_and_layout())).collect();
        let mut views = Vec::with_capacity(self.layers.len());
        for (l, ((ws, wl), (bs, bl))) in self.layers.iter().zip(&guards) {
            views.push(View {
                w: cpu_f32(ws, wl, "a weight")?,
                b: cpu_f32(bs, bl, "a bias")?,
                n_in: l.n_in,
                n_out: l.n_out,
                act: l.act,
            });
        }
        // Below a few rows per thread the spawn costs more than it saves.
        let ranges = split(b, self.threads.min(b.div_ceil(16)));
        if self.work.len() < ranges.len() {
            self.work.resize_with(ranges.len(), Workspace::default);
        }
        let beta = if self.loss == Loss::Elbo { beta } else { 0.0 };
        let shape = Shape {
            views: &views,
            code: self.code,
            latent: self.latent,
            classes: self.classes,
            inv_b: 1.0 / b as f32,
            beta: beta as f32,
            loss: self.loss,
        };
        let shape = &shape;
        run_split(&mut self.work, &ranges, |ws, r| {
            let zl = if shape.loss == Loss::Elbo { shape.latent } else { 0 };
            let y = if shape.classes > 0 { &y[r.clone()] } else { &[][..] };
            ws.run(shape, rows(x, d, &r), rows(t, d, &r), y, rows(eps, zl, &r), r.len())
        });
        let (recon, kl) = combine(&mut self.work[..ranges.len()], self.threads);
        let (recon, kl) = (recon / b as f64, kl / b as f64);
        Ok(StepLoss { total: recon + beta * kl, recon, kl })
    }

    /// A conditional model's labels as indices, checked against the batch and the classes.
    fn labels(&self, labels: Option<&Tensor>, b: usize) -> Result<Vec<u32>> {
        match (self.classes, labels) {
            (0, None) => Ok(vec![]),
            (0, Some(_)) => Err(Error::config(
                "fused VAE step: this model is not conditional and would ignore the labels; pass None",
            )),
            (_, None) => {
                Err(Error::config("fused VAE step: this model is conditional: pass the labels (class indices) too"))
            }
            // The same rules as the model's own (no f32 labels truncated to classes here).
            (classes, Some(labels)) => match crate::models::layers::class_label_problem(labels, b, classes)? {
                Some(why) => Err(Error::config(format!("fused VAE step: {why}"))),
                None => Ok(labels.to_dtype(DType::U32)?.to_vec1::<u32>()?),
            },
        }
    }

    /// The gradient of the last step for one of the model's parameters (by tensor identity).
    pub fn gradient(&self, param: &Tensor) -> Option<&[f32]> {
        let i = self.ids.iter().position(|&id| id == param.id())?;
        self.work.first().and_then(|w| w.grads.get(i)).map(|g| g.as_slice())
    }
}

/// Checks a step's batch (`input` and `target` both `[B, width]` or image-shaped as
/// [`flatten_images`](crate::models::flatten_images) takes them, B > 0, `per_row` noise values
/// per row in `eps`) and returns both as contiguous f32 `[B, width]` tensors, or an error naming `step`.
pub(crate) fn f32_batch(
    step: &str,
    input: &Tensor,
    target: &Tensor,
    width: usize,
    eps: &[f32],
    per_row: usize,
) -> Result<(Tensor, Tensor)> {
    let input = crate::models::flatten_images(input, width, &format!("{step}: the input batch"))?;
    let target = crate::models::flatten_images(target, width, &format!("{step}: the target batch"))?;
    let (b, d) = input.dims2()?;
    if d != width || target.dims() != input.dims() || eps.len() != b * per_row || b == 0 {
        return Err(Error::config(format!(
            "{step}: expected input and target [B, {width}] and {per_row} noise values per row, got {:?}, {:?} and {} values",
            input.dims(),
            target.dims(),
            eps.len()
        )));
    }
    Ok((input.to_dtype(DType::F32)?.contiguous()?, target.to_dtype(DType::F32)?.contiguous()?))
}

pub(crate) fn cpu_f32<'a>(s: &'a Storage, l: &candle_core::Layout, what: &str) -> candle_core::Result<&'a [f32]> {
    match s {
        Storage::Cpu(c) => crate::ops::f32_slice(c, l, what),
        _ => candle_core::bail!("fused VAE step: {what} is not on the CPU"),
    }
}

pub(crate) fn rows<'a>(v: &'a [f32], width: usize, r: &Range<usize>) -> &'a [f32] {
    &v[r.start * width..r.end * width]
}

/// Runs `f(workspace, rows)` for every range of the batch, each on its own scoped thread except
/// the last, which the calling thread takes (on workspace 0); returns when all are done.
/// `work` must hold at least one workspace per range.
pub(crate) fn run_split<W: Send>(work: &mut [W], ranges: &[Range<usize>], f: impl Fn(&mut W, Range<usize>) + Sync) {
    let (last, rest) = ranges.split_last().expect("split gives at least one range");
    let (mine, others) = work.split_first_mut().expect("one workspace per range");
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> =
            rest.iter().zip(others.iter_mut()).map(|(r, ws)| s.spawn(move || f(ws, r.clone()))).collect();
        f(mine, last.clone());
        for h in handles {
            if let Err(e) = h.join() {
                std::panic::resume_unwind(e);
            }
        }
    });
}

/// What a worker leaves in its workspace: the gradients and loss sums over its rows.
pub(crate) trait Partial {
    fn grads(&self) -> &[Vec<f32>];
    fn grads_mut(&mut self) -> &mut [Vec<f32>];
    /// Summed reconstruction and (unweighted) KL terms over the worker's rows.
    fn sums(&self) -> (f64, f64);
}

/// [`Partial`] for a workspace type with `grads: Vec<Vec<f32>>`, `recon: f64` and `kl: f64` fields.
macro_rules! impl_partial {
    ($ws:ty) => {
        impl $crate::fused_vae::Partial for $ws {
            fn grads(&self) -> &[Vec<f32>] {
                &self.grads
            }
            fn grads_mut(&mut self) -> &mut [Vec<f32>] {
                &mut self.grads
            }
            fn sums(&self) -> (f64, f64) {
                (self.recon, self.kl)
            }
        }
    };
}
pub(crate) use impl_partial;

/// Folds the workspaces' gradients into the first one's (where `gradient` reads them) and returns
/// the total reconstruction and KL sums.
pub(crate) fn combine<W: Partial>(work: &mut [W], threads: usize) -> (f64, f64) {
    let (first, others) = work.split_first_mut().expect("at least one workspace");
    sum_grads(first.grads_mut(), others.iter().map(|o| o.grads()), threads);
    others.iter().fold(first.sums(), |(r, k), o| (r + o.sums().0, k + o.sums().1))
}

/// One thread's share of [`sum_grads`]: pieces of workspace 0's gradients, each with the matching
/// pieces of the other workspaces to add into it.
type AddJob<'a> = Vec<(&'a mut [f32], Vec<&'a [f32]>)>;

/// Adds the gradients of workspaces `1..n` into workspace 0's, every tensor split over
/// `threads` threads (the sum streams through all the gradients once: memory-bound).
pub(crate) fn sum_grads<'a>(first: &mut [Vec<f32>], others: impl Iterator<Item = &'a [Vec<f32>]>, threads: usize) {
    let others: Vec<&[Vec<f32>]> = others.collect();
    if others.is_empty() {
        return;
    }
    let parts = threads.max(1);
    // Job p: the p-th piece of every tensor, with the matching pieces of the other workspaces.
    let mut jobs: Vec<AddJob> = (0..parts).map(|_| vec![]).collect();
    for (t, g) in first.iter_mut().enumerate() {
        let chunk = g.len().div_ceil(parts).max(1);
        for (p, piece) in g.chunks_mut(chunk).enumerate() {
            let at = p * chunk;
            let theirs = others.iter().map(|o| &o[t][at..at + piece.len()]).collect();
            jobs[p].push((piece, theirs));
        }
    }
    let add = |job: AddJob| {
        for (piece, theirs) in job {
            for h in theirs {
                piece.iter_mut().zip(h).for_each(|(g, h)| *g += h);
            }
        }
    };
    let mut jobs = jobs.into_iter();
    let mine = jobs.next().expect("at least one part");
    std::thread::scope(|s| {
        for job in jobs {
            s.spawn(|| add(job));
        }
        add(mine);
    });
}

/// What every worker needs to know about the step.
struct Shape<'a> {
    views: &'a [View<'a>],
    code: usize,
    latent: usize,
    classes: usize,
    inv_b: f32,
    beta: f32,
    loss: Loss,
}

widest_simd! {
    fn activate(act: Activation, y: &mut [f32]) -> () {
        match act {
            Activation::Relu => y.iter_mut().for_each(|v| *v = v.max(0.0)),
            Activation::LeakyRelu => y.iter_mut().for_each(|v| *v = v.max(0.01 * *v)),
            Activation::Tanh => y.iter_mut().for_each(|v| *v = tanh(*v)),
            Activation::Sigmoid => y.iter_mut().for_each(|v| *v = 1.0 / (1.0 + (-*v).exp())),
            Activation::Elu => y.iter_mut().for_each(|v| {
                let neg = exp_nonpositive(v.min(0.0)) - 1.0;
                *v = if *v > 0.0 { *v } else { neg }
            }),
        }
    }
}

/// `delta *= act'(pre)`, written with the activation's output `y`.
fn activation_grad(act: Activation, y: &[f32], delta: &mut [f32]) {
    let pairs = delta.iter_mut().zip(y);
    match act {
        Activation::Relu => pairs.for_each(|(d, &y)| *d = if y > 0.0 { *d } else { 0.0 }),
        Activation::LeakyRelu => pairs.for_each(|(d, &y)| *d *= if y > 0.0 { 1.0 } else { 0.01 }),
        Activation::Tanh => pairs.for_each(|(d, &y)| *d *= 1.0 - y * y),
        Activation::Sigmoid => pairs.for_each(|(d, &y)| *d *= y * (1.0 - y)),
        // For x <= 0, d(e^x - 1)/dx = e^x = y + 1.
        Activation::Elu => pairs.for_each(|(d, &y)| *d *= if y > 0.0 { 1.0 } else { y + 1.0 }),
    }
}

widest_simd! {
    /// Sum over one row of $\mathrm{softplus}(\ell) - t\ell = \max(\ell, 0) - t\ell + \ln(1 + e^{-|\ell|})$,
    /// writing $(\mathrm{sigmoid}(\ell) - t)/B$ into `d`.
    pub(crate) fn bce_row(logits: &[f32], target: &[f32], d: &mut [f32], inv_b: f32) -> f32 {
        row_loss(logits, target, d, |l, t| {
            let e = exp_nonpositive(-l.abs());
            let r = 1.0 / (1.0 + e);
            let sig = if l >= 0.0 { r } else { e * r };
            (l.max(0.0) - t * l + ln_1p_unit(e), (sig - t) * inv_b)
        })
    }
}

widest_simd! {
    /// Sum over one row of $(s - t)^2$, $s = \mathrm{sigmoid}(\ell)$, writing $2(s - t)\,s(1 - s)/B$ into `d`
    /// (both $s$ and $1 - s$ from $e^{-|\ell|}$, so neither cancels).
    fn mse_row(logits: &[f32], target: &[f32], d: &mut [f32], inv_b: f32) -> f32 {
        row_loss(logits, target, d, |l, t| {
            let e = exp_nonpositive(-l.abs());
            let r = 1.0 / (1.0 + e);
            let (sig, rest) = if l >= 0.0 { (r, e * r) } else { (e * r, r) };
            let diff = sig - t;
            (diff * diff, 2.0 * diff * sig * rest * inv_b)
        })
    }
}

/// `Σ loss(ℓ, t)` over a row, writing each element's gradient into `d`. Sixteen independent
/// partial sums let the compiler vectorise the loop (one running sum would force the order of
/// the additions).
#[inline(always)]
fn row_loss(logits: &[f32], target: &[f32], d: &mut [f32], one: impl Fn(f32, f32) -> (f32, f32)) -> f32 {
    let mut lanes = [0f32; 16];
    let mut dc = d.chunks_exact_mut(16);
    let (mut lc, mut tc) = (logits.chunks_exact(16), target.chunks_exact(16));
    for ((d8, l8), t8) in (&mut dc).zip(&mut lc).zip(&mut tc) {
        for k in 0..16 {
            let (loss, grad) = one(l8[k], t8[k]);
            lanes[k] += loss;
            d8[k] = grad;
        }
    }
    let mut acc: f32 = lanes.iter().sum();
    for ((d, &l), &t) in dc.into_remainder().iter_mut().zip(lc.remainder()).zip(tc.remainder()) {
        let (loss, grad) = one(l, t);
        acc += loss;
        *d = grad;
    }
    acc
}

/// $\ln(1 + e)$ for $e \in [0, 1]$, as $2\,\mathrm{artanh}(s)$ with $s = e/(2 + e) \le 1/3$:
/// the odd series to $s^{13}$ is within 1e-8 of it, and unlike libm's `log1pf` the compiler can
/// inline it (the loss loop spent a third of its time in that call).
#[inline(always)]
fn ln_1p_unit(e: f32) -> f32 {
    let s = e / (2.0 + e);
    let q = s * s;
    let series = 1.0
        + q * (1.0 / 3.0 + q * (1.0 / 5.0 + q * (1.0 / 7.0 + q * (1.0 / 9.0 + q * (1.0 / 11.0 + q * (1.0 / 13.0))))));
    2.0 * s * series
}

/// $e^x$ for $x \le 0$, written so that the loss loop vectorises (a libm call per element
/// keeps it scalar): $x = n\ln 2 + r$ with $|r| \le \ln 2/2$, $2^n$ from the exponent bits and
/// $e^r$ from its Taylor polynomial to $r^6$ (relative error below 2e-7). Arguments below -87 give
/// $e^{-87} \approx 1.6\cdot10^{-38}$, which is 0 for the loss.
#[inline(always)]
fn exp_nonpositive(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // Adding and subtracting 1.5 * 2^23 rounds to the nearest integer with plain SSE2.
    const ROUND: f32 = 12_582_912.0;
    let x = x.max(-87.0);
    let n = (x * LOG2E + ROUND) - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    f32::from_bits(((n as i32 + 127) << 23) as u32) * p
}

/// $\tanh x = -m/(2 + m)$ with $m = e^{-2|x|} - 1$, signed like $x$. Inlined so the activation
/// loop vectorises (libm's `tanhf` kept it scalar and took a third of an autoencoder's step).
/// For $|2x| < 0.35$, $m$ comes from its Taylor series to the 8th power (relative error below
/// 1e-8), where $e^{-2|x|} - 1$ would cancel.
#[inline(always)]
fn tanh(x: f32) -> f32 {
    let y = -2.0 * x.abs();
    let series = y
        * (1.0
            + y * (1.0 / 2.0
                + y * (1.0 / 6.0
                    + y * (1.0 / 24.0
                        + y * (1.0 / 120.0 + y * (1.0 / 720.0 + y * (1.0 / 5040.0 + y * (1.0 / 40320.0))))))));
    let m = if y > -0.35 { series } else { exp_nonpositive(y) - 1.0 };
    (-m / (2.0 + m)).copysign(x)
}

pub(crate) fn grow(v: &mut Vec<f32>, n: usize) {
    if v.len() < n {
        v.resize(n, 0.0);
    }
}

/// Row-major `[rows, cols]` as a gemm operand, or its transpose.
pub(crate) fn mat(v: &[f32], cols: usize) -> Mat<f32> {
    Mat { ptr: v.as_ptr(), rs: cols as isize, cs: 1 }
}
pub(crate) fn mat_t(v: &[f32], cols: usize) -> Mat<f32> {
    Mat { ptr: v.as_ptr(), rs: 1, cs: cols as isize }
}

impl Workspace {
    /// Forward and backward pass over `nb` rows; leaves this thread's gradient sums in `grads`.
    /// `y` holds the rows' labels when the model is conditional (empty otherwise).
    fn run(&mut self, s: &Shape, x: &[f32], target: &[f32], y: &[u32], eps: &[f32], nb: usize) {
        let (views, code, zl, c) = (s.views, s.code, s.latent, s.classes);
        let n = views.len();
        // The decoder's first layer; a conditional model appends the one-hot label to its
        // input and to the encoder's.
        let dec = code + 1;
        self.acts.resize_with(n, Vec::new);
        self.grads.resize_with(2 * n, Vec::new);
        let widest = views.iter().map(|v| v.n_in.max(v.n_out)).max().unwrap_or(0);
        for (a, v) in self.acts.iter_mut().zip(views) {
            grow(a, nb * v.n_out);
        }
        for (i, v) in views.iter().enumerate() {
            grow(&mut self.grads[2 * i], v.n_out * v.n_in);
            grow(&mut self.grads[2 * i + 1], v.n_out);
        }
        grow(&mut self.z, nb * zl);
        grow(&mut self.std_eps, nb * zl);
        grow(&mut self.delta, nb * widest);
        grow(&mut self.spare, nb * widest);
        if c > 0 {
            grow(&mut self.x_cond, nb * views[0].n_in);
            grow(&mut self.z_cond, nb * views[dec].n_in);
            with_one_hot(x, y, c, &mut self.x_cond[..nb * views[0].n_in]);
        }
        let Workspace { acts, z, std_eps, x_cond, z_cond, delta, spare, grads, recon, kl } = self;
        *kl = 0.0;
        // An autoencoder's decoder reads the code layer's output directly.
        let vae = s.loss == Loss::Elbo;

        // Forward.
        for (l, v) in views.iter().enumerate() {
            let (before, after) = acts.split_at_mut(l);
            let out = &mut after[0][..nb * v.n_out];
            let prev = if l > 0 { &before[l - 1][..] } else { &[][..] };
            let inp = Inputs { x, x_cond, z, z_cond }.of(s, l, nb, prev);
            for row in out.chunks_exact_mut(v.n_out) {
                row.copy_from_slice(v.b);
            }
            matmul(nb, v.n_out, v.n_in, out, true, mat(inp, v.n_in), mat_t(v.w, v.n_in));
            if let Some(act) = v.act {
                activate(act, out);
            }
            if vae && l == code {
                let mut kl_sum = 0f64;
                for b in 0..nb {
                    let h = &out[b * 2 * zl..(b + 1) * 2 * zl];
                    for j in 0..zl {
                        let (mu, lv) = (h[j], h[zl + j].clamp(LOGVAR_MIN as f32, LOGVAR_MAX as f32));
                        let var = lv.exp();
                        let se = var.sqrt() * eps[b * zl + j];
                        std_eps[b * zl + j] = se;
                        z[b * zl + j] = mu + se;
                        kl_sum += (-0.5 * (1.0 + lv - mu * mu - var)) as f64;
                    }
                }
                *kl = kl_sum;
            }
            if c > 0 && l == code {
                let code_out: &[f32] = if vae { &z[..nb * zl] } else { out };
                with_one_hot(code_out, y, c, &mut z_cond[..nb * views[dec].n_in]);
            }
        }

        // Loss and its gradient with respect to the logits:
        // softplus(l) - t*l = max(l, 0) - t*l + log1p(exp(-|l|)), finite for any l.
        let out_w = views[n - 1].n_out;
        let logits = &acts[n - 1][..nb * out_w];
        let mut recon_sum = 0f64;
        for (row, (lr, tr)) in
            delta[..nb * out_w].chunks_exact_mut(out_w).zip(logits.chunks_exact(out_w).zip(target.chunks_exact(out_w)))
        {
            let acc = if s.loss == Loss::Mse { mse_row(lr, tr, row, s.inv_b) } else { bce_row(lr, tr, row, s.inv_b) };
            recon_sum += acc as f64;
        }
        *recon = recon_sum;

        // Backward: `delta` holds dL/d(output of layer l) on entry to each iteration.
        let (mut cur, mut next) = (delta, spare);
        for l in (0..n).rev() {
            let v = &views[l];
            if let Some(act) = v.act {
                activation_grad(act, &acts[l][..nb * v.n_out], &mut cur[..nb * v.n_out]);
            }
            if vae && l == code {
                // cur holds dL/dz: turn it into dL/d(mu, logvar).
                let h = &acts[l][..nb * 2 * zl];
                for b in 0..nb {
                    for j in 0..zl {
                        let dz = cur[b * zl + j];
                        let (mu, raw) = (h[b * 2 * zl + j], h[b * 2 * zl + zl + j]);
                        let inside = (LOGVAR_MIN as f32..=LOGVAR_MAX as f32).contains(&raw);
                        let var = raw.clamp(LOGVAR_MIN as f32, LOGVAR_MAX as f32).exp();
                        next[b * 2 * zl + j] = dz + s.beta * mu * s.inv_b;
                        next[b * 2 * zl + zl + j] = if inside {
                            0.5 * dz * std_eps[b * zl + j] + 0.5 * s.beta * (var - 1.0) * s.inv_b
                        } else {
                            0.0
                        };
                    }
                }
                std::mem::swap(&mut cur, &mut next);
            }
            let d = &cur[..nb * v.n_out];
            let prev = if l > 0 { &acts[l - 1][..] } else { &[][..] };
            let inp = Inputs { x, x_cond, z, z_cond }.of(s, l, nb, prev);
            let (gw, gb) = grads.split_at_mut(2 * l + 1);
            matmul(v.n_out, v.n_in, nb, &mut gw[2 * l], false, mat_t(d, v.n_out), mat(inp, v.n_in));
            let gb = &mut gb[0][..v.n_out];
            gb.fill(0.0);
            for row in d.chunks_exact(v.n_out) {
                gb.iter_mut().zip(row).for_each(|(g, r)| *g += r);
            }
            if l > 0 {
                // Into the decoder's first layer only the code's columns carry on back; the
                // label's end here.
                let width = if l == dec { v.n_in - c } else { v.n_in };
                matmul(nb, width, v.n_out, &mut next[..nb * width], false, mat(d, v.n_out), mat(v.w, v.n_in));
                std::mem::swap(&mut cur, &mut next);
            }
        }
    }
}

/// The rows a layer reads, for the forward product and the weight gradient alike.
struct Inputs<'a> {
    x: &'a [f32],
    x_cond: &'a [f32],
    z: &'a [f32],
    z_cond: &'a [f32],
}

impl<'a> Inputs<'a> {
    /// Layer `l`'s input over `nb` rows: the batch for the first layer, the code for the
    /// decoder's first (`z` for a VAE; an autoencoder's is `prev`), each with the one-hot label
    /// appended for a conditional model; otherwise `prev`, the previous layer's output.
    fn of(&self, s: &Shape, l: usize, nb: usize, prev: &'a [f32]) -> &'a [f32] {
        let width = s.views[l].n_in;
        let conditional = s.classes > 0;
        if l == 0 {
            if conditional {
                &self.x_cond[..nb * width]
            } else {
                self.x
            }
        } else if l == s.code + 1 && conditional {
            &self.z_cond[..nb * width]
        } else if l == s.code + 1 && s.loss == Loss::Elbo {
            &self.z[..nb * width]
        } else {
            &prev[..nb * width]
        }
    }
}

/// Rows of `base` (width `dst.len() / rows - classes`) followed by the one-hot code of each row's
/// label, as [`concat_one_hot`](crate::models::layers::concat_one_hot) builds them.
fn with_one_hot(base: &[f32], y: &[u32], classes: usize, dst: &mut [f32]) {
    let width = dst.len() / y.len().max(1);
    let w = width - classes;
    for ((row, src), &label) in dst.chunks_exact_mut(width).zip(base.chunks_exact(w)).zip(y) {
        row[..w].copy_from_slice(src);
        row[w..].fill(0.0);
        row[w + label as usize] = 1.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::losses::{bce_with_logits, kl_standard_normal};
    use crate::models::{MlpVaeConfig, ModelConfig};
    use crate::rng::Rng;
    use candle_core::Device;

    /// The same loss through the model's candle forward pass and autograd.
    fn autograd(
        model: &Model,
        x: &Tensor,
        t: &Tensor,
        y: Option<&Tensor>,
        eps: &[f32],
        beta: f64,
    ) -> (f64, f64, candle_core::backprop::GradStore) {
        let q = model.encode_t(x, y, true).unwrap();
        let lv = q.logvar.clone().unwrap();
        let e = Tensor::from_slice(eps, q.mean.shape(), &Device::Cpu).unwrap();
        let z = (&q.mean + (&lv * 0.5).unwrap().exp().unwrap().mul(&e).unwrap()).unwrap();
        let logits = model.decode_logits_t(&z, y, true).unwrap();
        let recon = bce_with_logits(&logits, t).unwrap().mean_all().unwrap();
        let kl = kl_standard_normal(&q.mean, &lv).unwrap().mean_all().unwrap();
        let total = (recon + (&kl * beta).unwrap()).unwrap();
        let kl = kl.to_scalar::<f32>().unwrap() as f64;
        (total.to_scalar::<f32>().unwrap() as f64, kl, total.backward().unwrap())
    }

    fn check(cfg: MlpVaeConfig, batch: usize, threads: usize, beta: f64, denoising: bool) {
        let model = Model::new(ModelConfig::MlpVae(cfg.clone()), 3, &Device::Cpu).unwrap();
        let mut step = FusedVae::new(&model).unwrap();
        step.threads = threads;
        let mut rng = Rng::new(7);
        let t = rng.rand((batch, cfg.input_dim), 0.0, 1.0, &Device::Cpu).unwrap();
        let x = if denoising { rng.rand((batch, cfg.input_dim), 0.0, 1.0, &Device::Cpu).unwrap() } else { t.clone() };
        let eps = rng.normal_vec(batch * cfg.latent);
        let y = labels(batch, cfg.num_classes);
        // Twice: the second step reuses the buffers of the first.
        for _ in 0..2 {
            let loss = step.forward_backward(&x, &t, y.as_ref(), &eps, beta).unwrap();
            let (reference, kl, grads) = autograd(&model, &x, &t, y.as_ref(), &eps, beta);
            assert!(
                (loss.total - reference).abs() < 1e-4 * reference.abs().max(1.0),
                "loss {} vs autograd {reference}",
                loss.total
            );
            // The KL is reported unweighted, whatever beta is.
            assert!((loss.kl - kl).abs() < 1e-4 * kl.max(1.0), "kl {} vs autograd {kl} (beta {beta})", loss.kl);
            for (name, var) in model.params().named_vars() {
                let want = grads.get(var.as_tensor()).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
                let got = step.gradient(var.as_tensor()).unwrap_or_else(|| panic!("no gradient for {name}"));
                let scale = want.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert!((g - w).abs() <= 1e-4 * scale, "{name}[{i}]: fused {g} vs autograd {w} (scale {scale})");
                }
            }
        }
    }

    /// Labels cycling through every class, or none for an unconditional model.
    fn labels(batch: usize, classes: Option<usize>) -> Option<Tensor> {
        classes.map(|c| {
            Tensor::from_vec((0..batch as u32).map(|i| (i * 7 + 1) % c as u32).collect::<Vec<_>>(), batch, &Device::Cpu)
                .unwrap()
        })
    }

    #[test]
    fn gradients_match_autograd_for_the_pytorch_model() {
        check(MlpVaeConfig { hidden: vec![40], latent: 5, ..MlpVaeConfig::default() }, 37, 2, 1.0, false);
    }

    #[test]
    fn gradients_match_autograd_for_deeper_tanh_models_beta_and_denoising() {
        let cfg = MlpVaeConfig {
            input_dim: 30,
            hidden: vec![16, 8],
            latent: 3,
            activation: Activation::Tanh,
            ..MlpVaeConfig::default()
        };
        check(cfg.clone(), 50, 3, 4.0, true);
        check(MlpVaeConfig { activation: Activation::LeakyRelu, ..cfg.clone() }, 9, 1, 0.5, false);
        check(MlpVaeConfig { activation: Activation::Elu, ..cfg.clone() }, 21, 2, 1.0, true);
        check(MlpVaeConfig { activation: Activation::Sigmoid, hidden: vec![], ..cfg }, 33, 2, 1.0, false);
    }

    #[test]
    fn gradients_match_autograd_for_conditional_models() {
        let cfg = MlpVaeConfig {
            input_dim: 30,
            hidden: vec![16],
            latent: 3,
            num_classes: Some(4),
            ..MlpVaeConfig::default()
        };
        check(cfg.clone(), 37, 2, 1.0, false);
        check(MlpVaeConfig { hidden: vec![12, 8], activation: Activation::Tanh, ..cfg.clone() }, 50, 3, 4.0, true);
        check(MlpVaeConfig { hidden: vec![], num_classes: Some(1), ..cfg }, 9, 1, 1.0, false);
    }

    /// An autoencoder's loss through `Objective::compute` and autograd, against the fused step.
    fn check_autoencoder(
        cfg: crate::models::MlpAeConfig,
        objective: crate::objective::Objective,
        batch: usize,
        threads: usize,
        denoising: bool,
    ) {
        let model = Model::new(ModelConfig::MlpAe(cfg.clone()), 5, &Device::Cpu).unwrap();
        let mut step = FusedVae::new_autoencoder(&model, objective).unwrap();
        step.threads = threads;
        let mut rng = Rng::new(9);
        let t = rng.rand((batch, cfg.input_dim), 0.0, 1.0, &Device::Cpu).unwrap();
        let x = if denoising { rng.rand((batch, cfg.input_dim), 0.0, 1.0, &Device::Cpu).unwrap() } else { t.clone() };
        let y = labels(batch, cfg.num_classes);
        for _ in 0..2 {
            let loss = step.forward_backward(&x, &t, y.as_ref(), &[], 1.0).unwrap();
            let parts = objective.compute(&model, &x, &t, y.as_ref(), 1.0, true, &mut Rng::new(0)).unwrap();
            let reference = parts.total.to_scalar::<f32>().unwrap() as f64;
            assert!(
                (loss.total - reference).abs() < 1e-4 * reference.abs().max(1.0),
                "{objective:?}: loss {} vs autograd {reference}",
                loss.total
            );
            assert_eq!(loss.kl, 0.0);
            let grads = parts.total.backward().unwrap();
            for (name, var) in model.params().named_vars() {
                let want = grads.get(var.as_tensor()).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
                let got = step.gradient(var.as_tensor()).unwrap_or_else(|| panic!("no gradient for {name}"));
                let scale = want.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert!(
                        (g - w).abs() <= 1e-4 * scale,
                        "{objective:?} {name}[{i}]: fused {g} vs autograd {w} (scale {scale})"
                    );
                }
            }
        }
    }

    #[test]
    fn autoencoder_gradients_match_autograd_for_mse_and_bce() {
        use crate::objective::Objective;
        let classic = crate::models::MlpAeConfig {
            input_dim: 50,
            hidden: vec![24, 12],
            latent: 2,
            ..crate::models::MlpAeConfig::classic_2d()
        };
        check_autoencoder(classic.clone(), Objective::Mse, 21, 2, false);
        check_autoencoder(classic, Objective::Bce, 13, 3, true);
        let shallow = crate::models::MlpAeConfig {
            input_dim: 40,
            hidden: vec![16],
            latent: 6,
            ..crate::models::MlpAeConfig::shallow()
        };
        check_autoencoder(shallow.clone(), Objective::Mse, 8, 1, true);
        check_autoencoder(crate::models::MlpAeConfig { num_classes: Some(3), ..shallow }, Objective::Bce, 19, 2, false);
    }

    #[test]
    fn autoencoder_step_takes_no_noise_and_only_its_objectives() {
        use crate::objective::Objective;
        let dev = Device::Cpu;
        let ae = Model::from_name("mlp-ae", None, 0, &dev).unwrap();
        assert!(FusedVae::new_autoencoder(&ae, Objective::Elbo).is_none());
        assert!(
            FusedVae::new_autoencoder(&Model::from_name("mlp-vae", None, 0, &dev).unwrap(), Objective::Mse).is_none()
        );
        assert!(
            FusedVae::new_autoencoder(&Model::from_name("conv-ae", None, 0, &dev).unwrap(), Objective::Mse).is_none()
        );
        let mut step = FusedVae::new_autoencoder(&ae, Objective::Mse).unwrap();
        let x = Tensor::zeros((4, 784), DType::F32, &dev).unwrap();
        assert!(step.forward_backward(&x, &x, None, &[0.0; 8], 1.0).unwrap_err().to_string().contains("noise values"));
        assert!(step.forward_backward(&x, &x, None, &[], 1.0).is_ok());
    }

    #[test]
    fn tanh_matches_the_library() {
        for i in -200_000..=200_000 {
            let x = i as f32 / 10_000.0;
            let (fast, exact) = (tanh(x) as f64, (x as f64).tanh());
            assert!((fast - exact).abs() <= 4e-7 * exact.abs() + 1e-30, "tanh({x}): {fast} vs {exact}");
        }
        for x in [1e-30f32, -1e-20, 1e-8, 0.0, 50.0, -1e4, f32::INFINITY, f32::NEG_INFINITY] {
            assert!(
                (tanh(x) as f64 - (x as f64).tanh()).abs() <= 4e-7 * (x as f64).tanh().abs(),
                "tanh({x}) = {}",
                tanh(x)
            );
        }
    }

    #[test]
    fn ln_1p_unit_matches_the_library() {
        for i in 0..=10_000 {
            let e = i as f32 / 10_000.0;
            let (fast, exact) = (ln_1p_unit(e) as f64, (e as f64).ln_1p());
            assert!((fast - exact).abs() < 2e-7, "ln(1 + {e}): {fast} vs {exact}");
        }
    }

    #[test]
    fn exp_nonpositive_matches_the_library() {
        for i in 0..=100_000 {
            let x = -(i as f32) / 1000.0;
            let (fast, exact) = (exp_nonpositive(x) as f64, (x as f64).exp());
            assert!((fast - exact).abs() <= 3e-7 * exact + 1e-37, "exp({x}): {fast} vs {exact}");
        }
        assert!(exp_nonpositive(-1e4) < 1e-37 && exp_nonpositive(f32::NEG_INFINITY) < 1e-37);
    }

    #[test]
    fn unsupported_models_are_left_to_autograd() {
        let dev = Device::Cpu;
        assert!(FusedVae::new(&Model::from_name("deep-vae-2d", None, 0, &dev).unwrap()).is_none(), "batch norm");
        assert!(FusedVae::new(&Model::from_name("conv-vae", None, 0, &dev).unwrap()).is_none(), "convolutional");
        assert!(FusedVae::new(&Model::from_name("mlp-vae", None, 0, &dev).unwrap()).is_some());
        assert!(FusedVae::new(&Model::from_name("cvae", None, 0, &dev).unwrap()).is_some());
    }

    #[test]
    fn conditional_step_wants_one_valid_label_per_row() {
        let dev = Device::Cpu;
        let mut step = FusedVae::new(&Model::from_name("cvae", None, 0, &dev).unwrap()).unwrap();
        let x = Tensor::zeros((4, 784), DType::F32, &dev).unwrap();
        let eps = [0.0; 4 * 20];
        let mut err = |y: Option<&Tensor>| step.forward_backward(&x, &x, y, &eps, 1.0).unwrap_err().to_string();
        assert!(err(None).contains("pass the labels"));
        assert!(err(Some(&Tensor::new(&[1u32, 2, 3], &dev).unwrap())).contains("shape [3] for 4 images"));
        assert!(err(Some(&Tensor::new(&[1u32, 2, 10, 0], &dev).unwrap())).contains("label 10 is not one of its 10"));
        // f32 labels were truncated to classes here while the model refused them.
        assert!(err(Some(&Tensor::new(&[1f32, 2., 3., 0.], &dev).unwrap())).contains("pass class indices as u32"));
        let ok = step.forward_backward(&x, &x, Some(&Tensor::new(&[9u32, 0, 5, 5], &dev).unwrap()), &eps, 1.0).unwrap();
        assert!(ok.total.is_finite());
        let mut plain = FusedVae::new(&Model::from_name("mlp-vae", None, 0, &dev).unwrap()).unwrap();
        let e = plain.forward_backward(&x, &x, Some(&Tensor::new(&[1u32; 4], &dev).unwrap()), &eps, 1.0).unwrap_err();
        assert!(e.to_string().contains("not conditional") && e.to_string().contains("pass None"), "{e}");
    }

    #[test]
    fn image_shaped_batches_step_as_their_rows() {
        // The step read rows only (`dims2`): an image-shaped batch was an "unexpected rank" error.
        let model = Model::from_name("mlp-vae", Some(2), 0, &Device::Cpu).unwrap();
        let mut step = FusedVae::new(&model).unwrap();
        let mut rng = Rng::new(4);
        let x = rng.rand((4, 784), 0.0, 1.0, &Device::Cpu).unwrap();
        let img = x.reshape((4, 1, 28, 28)).unwrap();
        let eps = rng.normal_vec(8);
        let rows = step.forward_backward(&x, &x, None, &eps, 1.0).unwrap();
        let grads: Vec<Vec<f32>> =
            model.params().trainable_vars().iter().map(|v| step.gradient(v.as_tensor()).unwrap().to_vec()).collect();
        let shaped = step.forward_backward(&img, &img.squeeze(1).unwrap(), None, &eps, 1.0).unwrap();
        assert_eq!((shaped.total, shaped.recon, shaped.kl), (rows.total, rows.recon, rows.kl));
        for (v, g) in model.params().trainable_vars().iter().zip(&grads) {
            assert_eq!(step.gradient(v.as_tensor()).unwrap(), &g[..]);
        }
        let odd = x.reshape((4, 1, 56, 14)).unwrap();
        let e = step.forward_backward(&odd, &odd, None, &eps, 1.0).unwrap_err().to_string();
        assert!(e.contains("the input batch: expected [B, 784] or [B, 1, 28, 28], got [4, 1, 56, 14]"), "{e}");
    }

    #[test]
    fn wrong_shapes_are_errors_not_panics() {
        let model = Model::from_name("mlp-vae", Some(2), 0, &Device::Cpu).unwrap();
        let mut step = FusedVae::new(&model).unwrap();
        let x = Tensor::zeros((4, 784), DType::F32, &Device::Cpu).unwrap();
        let err = step.forward_backward(&x, &x, None, &[0.0; 3], 1.0).unwrap_err().to_string();
        assert!(err.contains("noise values"), "{err}");
        let y = Tensor::zeros((4, 10), DType::F32, &Device::Cpu).unwrap();
        assert!(step.forward_backward(&y, &y, None, &[0.0; 8], 1.0).is_err());
    }
}
