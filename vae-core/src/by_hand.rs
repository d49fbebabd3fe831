//! A VAE trained with no autograd: the forward pass, the backward pass and Adam written out
//! with plain tensor operations, so that every gradient of notebook 5 is a formula on the page.
//!
//! The model is the PyTorch example's shape, 784-$H$-$Z$ with ReLU, weights stored as
//! `[in, out]` so that a layer is $a = xW + b$:
//!
//! $$h = \mathrm{relu}(xW_1 + b_1),\quad \mu = hW_\mu + b_\mu,\quad \log\sigma^2 = hW_v + b_v,$$
//! $$z = \mu + \sigma\odot\epsilon,\quad g = \mathrm{relu}(zW_3 + b_3),\quad \ell = gW_4 + b_4.$$
//!
//! The loss is the negative ELBO averaged over the batch of $B$ images,
//! $L = \frac1B\sum_b \big[\sum_i \mathrm{softplus}(\ell_{bi}) - x_{bi}\ell_{bi}
//! \;-\; \tfrac12\sum_j (1 + \log\sigma^2_{bj} - \mu_{bj}^2 - \sigma^2_{bj})\big]$,
//! and the chain rule gives, from the output back:
//!
//! | quantity | gradient |
//! |---|---|
//! | $\partial L/\partial \ell$ | $(\mathrm{sigmoid}(\ell) - x)/B$ |
//! | $W_4, b_4$ | $g^\top \delta_\ell$, $\sum_b \delta_\ell$ |
//! | $\delta_{\hat g}$ (before the ReLU) | $\delta_\ell W_4^\top \odot [zW_3 + b_3 > 0]$ |
//! | $\partial L/\partial z$ | $\delta_{\hat g} W_3^\top$ |
//! | $\partial L/\partial \mu$ | $\partial L/\partial z + \mu/B$ |
//! | $\partial L/\partial \log\sigma^2$ | $\partial L/\partial z \odot \tfrac12\sigma\odot\epsilon + \tfrac12(\sigma^2 - 1)/B$ |
//! | $\delta_{\hat h}$ (before the ReLU) | $(\delta_\mu W_\mu^\top + \delta_v W_v^\top)\odot[xW_1 + b_1 > 0]$ |
//!
//! [`autograd_gradients`] computes the same loss with candle `Var`s and `backward()`, which is
//! how the notebook (and the tests) check every line of [`backward`].
//!
//! ```
//! # fn main() -> vae_core::Result<()> {
//! use candle_core::Device;
//! use vae_core::{by_hand::*, rng::Rng};
//! let mut rng = Rng::new(0);
//! let w = Weights::init(784, 32, 2, &mut rng, &Device::Cpu)?;
//! let x = rng.rand((4, 784), 0.0, 1.0, &Device::Cpu)?;
//! let eps = rng.randn((4, 2), &Device::Cpu)?;
//! let fwd = forward(&w, &x, &eps)?;
//! let by_hand = backward(&w, &x, &eps, &fwd)?;
//! let (loss, auto) = autograd_gradients(&w, &x, &eps)?;
//! assert!((loss - fwd.loss()?).abs() < 1e-3);
//! assert!(max_relative_error(&by_hand, &auto)? < 1e-3);
//! # Ok(()) }
//! ```
use crate::error::{Error, Result};
use crate::rng::Rng;
use candle_core::{Device, Tensor, Var};

/// Names of the ten parameter tensors, in [`Weights::tensors`] order.
pub const NAMES: [&str; 10] = ["w1", "b1", "w_mu", "b_mu", "w_logvar", "b_logvar", "w3", "b3", "w4", "b4"];

/// The ten parameter tensors of the by-hand VAE (also used for their gradients and Adam's moments).
#[derive(Clone, Debug)]
pub struct Weights {
    /// $W_1$, `[input, hidden]`: image to hidden layer.
    pub w1: Tensor,
    /// $b_1$, `[hidden]`.
    pub b1: Tensor,
    /// $W_\mu$, `[hidden, latent]`: hidden layer to posterior mean.
    pub w_mu: Tensor,
    /// $b_\mu$, `[latent]`.
    pub b_mu: Tensor,
    /// $W_v$, `[hidden, latent]`: hidden layer to posterior log-variance.
    pub w_logvar: Tensor,
    /// $b_v$, `[latent]`.
    pub b_logvar: Tensor,
    /// $W_3$, `[latent, hidden]`: code to the decoder's hidden layer.
    pub w3: Tensor,
    /// $b_3$, `[hidden]`.
    pub b3: Tensor,
    /// $W_4$, `[hidden, input]`: hidden layer to pixel logits.
    pub w4: Tensor,
    /// $b_4$, `[input]`.
    pub b4: Tensor,
}

impl Weights {
    /// PyTorch's default initialisation: $U(-1/\sqrt{n_\text{in}}, 1/\sqrt{n_\text{in}})$ for weights and biases.
    pub fn init(input: usize, hidden: usize, latent: usize, rng: &mut Rng, dev: &Device) -> Result<Self> {
        if input == 0 || hidden == 0 || latent == 0 {
            return Err(Error::config(format!("by-hand VAE sizes must be positive, got {input}-{hidden}-{latent}")));
        }
        let mut layer = |n_in: usize, n_out: usize| -> Result<(Tensor, Tensor)> {
            let a = 1.0 / (n_in as f32).sqrt();
            Ok((rng.rand((n_in, n_out), -a, a, dev)?, rng.rand(n_out, -a, a, dev)?))
        };
        let (w1, b1) = layer(input, hidden)?;
        let (w_mu, b_mu) = layer(hidden, latent)?;
        let (w_logvar, b_logvar) = layer(hidden, latent)?;
        let (w3, b3) = layer(latent, hidden)?;
        let (w4, b4) = layer(hidden, input)?;
        Ok(Self { w1, b1, w_mu, b_mu, w_logvar, b_logvar, w3, b3, w4, b4 })
    }

    /// The tensors in [`NAMES`] order.
    pub fn tensors(&self) -> [&Tensor; 10] {
        [
            &self.w1,
            &self.b1,
            &self.w_mu,
            &self.b_mu,
            &self.w_logvar,
            &self.b_logvar,
            &self.w3,
            &self.b3,
            &self.w4,
            &self.b4,
        ]
    }

    /// Builds weights from ten tensors in [`NAMES`] order.
    pub fn from_tensors(t: Vec<Tensor>) -> Result<Self> {
        let [w1, b1, w_mu, b_mu, w_logvar, b_logvar, w3, b3, w4, b4]: [Tensor; 10] =
            t.try_into().map_err(|v: Vec<Tensor>| Error::config(format!("expected 10 tensors, got {}", v.len())))?;
        Ok(Self { w1, b1, w_mu, b_mu, w_logvar, b_logvar, w3, b3, w4, b4 })
    }

    /// Applies `f` to every tensor (with its partner in `other`), keeping the order.
    pub fn zip_map(&self, other: &Weights, mut f: impl FnMut(&Tensor, &Tensor) -> Result<Tensor>) -> Result<Weights> {
        let out = self.tensors().iter().zip(other.tensors()).map(|(a, b)| f(a, b)).collect::<Result<Vec<_>>>()?;
        Self::from_tensors(out)
    }

    /// All zeros, shaped like `self` (Adam's initial moments).
    pub fn zeros_like(&self) -> Result<Weights> {
        self.zip_map(self, |a, _| Ok(a.zeros_like()?))
    }

    /// The number of values in all ten tensors (652 824 for 784-400-20).
    pub fn num_parameters(&self) -> usize {
        self.tensors().iter().map(|t| t.elem_count()).sum()
    }
}

/// What the forward pass keeps for the backward pass.
#[derive(Clone, Debug)]
pub struct Forward {
    /// $xW_1 + b_1$
    pub h_pre: Tensor,
    /// $h = \mathrm{relu}(xW_1 + b_1)$, `[B, hidden]`.
    pub h: Tensor,
    /// $\mu$, `[B, latent]`.
    pub mu: Tensor,
    /// $\log\sigma^2$, `[B, latent]`.
    pub logvar: Tensor,
    /// $\sigma = \exp(\tfrac12\log\sigma^2)$
    pub std: Tensor,
    /// $z = \mu + \sigma\odot\epsilon$, `[B, latent]`.
    pub z: Tensor,
    /// $zW_3 + b_3$
    pub g_pre: Tensor,
    /// $g = \mathrm{relu}(zW_3 + b_3)$, `[B, hidden]`.
    pub g: Tensor,
    /// $\ell = gW_4 + b_4$, `[B, input]`: the pixel logits.
    pub logits: Tensor,
    /// Batch-mean reconstruction term $\sum_i \mathrm{BCE}$ (scalar).
    pub recon: Tensor,
    /// Batch-mean $\mathrm{KL}(q(z|x)\,\|\,\mathcal N(0, I))$ (scalar).
    pub kl: Tensor,
}

impl Forward {
    /// The negative ELBO per image, $L$ = recon + KL.
    pub fn loss(&self) -> Result<f32> {
        Ok(self.recon.to_scalar::<f32>()? + self.kl.to_scalar::<f32>()?)
    }
}

fn softplus(t: &Tensor) -> Result<Tensor> {
    // max(t, 0) + ln(1 + e^{-|t|}): never exponentiates a large positive number.
    Ok((t.relu()? + (t.abs()?.neg()?.exp()? + 1.0)?.log()?)?)
}

fn check(w: &Weights, x: &Tensor, eps: &Tensor) -> Result<()> {
    let (input, latent) = (w.w1.dim(0)?, w.w_mu.dim(1)?);
    let b = x.dim(0)?;
    // The loss is a mean over the batch: of no images it would be 0 / 0.
    if b == 0 {
        return Err(Error::config(format!("by-hand VAE: a batch of no images (x {:?}); pass at least one", x.dims())));
    }
    if x.dims() != [b, input] || eps.dims() != [b, latent] {
        return Err(Error::config(format!(
            "by-hand VAE {input}-{}-{latent}: expected x [B, {input}] and eps [B, {latent}], got {:?} and {:?}",
            w.w1.dim(1)?,
            x.dims(),
            eps.dims()
        )));
    }
    Ok(())
}

/// The forward pass for images `x` `[B, 784]` and reparameterisation noise `eps` `[B, Z]`.
pub fn forward(w: &Weights, x: &Tensor, eps: &Tensor) -> Result<Forward> {
    check(w, x, eps)?;
    let b = x.dim(0)? as f64;
    let h_pre = x.matmul(&w.w1)?.broadcast_add(&w.b1)?;
    let h = h_pre.relu()?;
    let mu = h.matmul(&w.w_mu)?.broadcast_add(&w.b_mu)?;
    let logvar = h.matmul(&w.w_logvar)?.broadcast_add(&w.b_logvar)?;
    let std = (&logvar * 0.5)?.exp()?;
    let z = (&mu + (&std * eps)?)?;
    let g_pre = z.matmul(&w.w3)?.broadcast_add(&w.b3)?;
    let g = g_pre.relu()?;
    let logits = g.matmul(&w.w4)?.broadcast_add(&w.b4)?;
    let recon = ((softplus(&logits)? - (x * &logits)?)?.sum_all()? / b)?;
    let kl = (((&logvar + 1.0)? - mu.sqr()?)? - logvar.exp()?)?.sum_all()?;
    let kl = (kl * (-0.5 / b))?;
    Ok(Forward { h_pre, h, mu, logvar, std, z, g_pre, g, logits, recon, kl })
}

/// The gradient of the batch-mean negative ELBO with respect to every weight, by the chain rule.
pub fn backward(w: &Weights, x: &Tensor, eps: &Tensor, f: &Forward) -> Result<Weights> {
    check(w, x, eps)?;
    let b = x.dim(0)? as f64;
    let relu_mask = |pre: &Tensor| -> Result<Tensor> { Ok(pre.gt(0f32)?.to_dtype(pre.dtype())?) };
    // Output layer: d/dl [softplus(l) - x l] = sigmoid(l) - x.
    let d_logits = ((candle_nn::ops::sigmoid(&f.logits)? - x)? / b)?;
    let w4 = f.g.t()?.matmul(&d_logits)?;
    let b4 = d_logits.sum(0)?;
    let d_g = (d_logits.matmul(&w.w4.t()?)? * relu_mask(&f.g_pre)?)?;
    let w3 = f.z.t()?.matmul(&d_g)?;
    let b3 = d_g.sum(0)?;
    let d_z = d_g.matmul(&w.w3.t()?)?;
    // z = mu + exp(logvar / 2) eps, plus the KL's own gradient.
    let d_mu = (&d_z + (&f.mu / b)?)?;
    let d_logvar = (((&d_z * &f.std)? * eps)? * 0.5)?;
    let d_logvar = (d_logvar + ((f.logvar.exp()? - 1.0)? * (0.5 / b))?)?;
    let w_mu = f.h.t()?.matmul(&d_mu)?;
    let b_mu = d_mu.sum(0)?;
    let w_logvar = f.h.t()?.matmul(&d_logvar)?;
    let b_logvar = d_logvar.sum(0)?;
    let d_h = ((d_mu.matmul(&w.w_mu.t()?)? + d_logvar.matmul(&w.w_logvar.t()?)?)? * relu_mask(&f.h_pre)?)?;
    let w1 = x.t()?.matmul(&d_h)?;
    let b1 = d_h.sum(0)?;
    Ok(Weights { w1, b1, w_mu, b_mu, w_logvar, b_logvar, w3, b3, w4, b4 })
}

/// The same loss built from candle `Var`s, differentiated by candle's autograd: the reference
/// that [`backward`] is checked against. Returns the loss and the gradients in [`NAMES`] order.
pub fn autograd_gradients(w: &Weights, x: &Tensor, eps: &Tensor) -> Result<(f32, Weights)> {
    let vars = w.tensors().iter().map(|t| Var::from_tensor(t)).collect::<candle_core::Result<Vec<_>>>()?;
    let tracked = Weights::from_tensors(vars.iter().map(|v| v.as_tensor().clone()).collect())?;
    let f = forward(&tracked, x, eps)?;
    let loss = (&f.recon + &f.kl)?;
    let grads = loss.backward()?;
    let g = vars
        .iter()
        .zip(NAMES)
        .map(|(v, name)| {
            grads.get(v).cloned().ok_or_else(|| Error::Training(format!("autograd gave no gradient for {name}")))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((loss.to_scalar::<f32>()?, Weights::from_tensors(g)?))
}

/// The largest, over the ten tensors, of $\max|a - b| / \max|b|$: a relative error that does
/// not blow up on entries that happen to be near zero.
pub fn max_relative_error(a: &Weights, b: &Weights) -> Result<f32> {
    let mut worst = 0f32;
    for (ta, tb) in a.tensors().iter().zip(b.tensors()) {
        let diff = (*ta - tb)?.abs()?.max_all()?.to_scalar::<f32>()?;
        let scale = tb.abs()?.max_all()?.to_scalar::<f32>()?.max(1e-12);
        worst = worst.max(diff / scale);
    }
    Ok(worst)
}

/// Per-tensor relative errors, for a table in the notebook: `(name, max|a - b| / max|b|)`.
pub fn relative_errors(a: &Weights, b: &Weights) -> Result<Vec<(&'static str, f32)>> {
    let mut out = Vec::new();
    for ((ta, tb), name) in a.tensors().iter().zip(b.tensors()).zip(NAMES) {
        let diff = (*ta - tb)?.abs()?.max_all()?.to_scalar::<f32>()?;
        let scale = tb.abs()?.max_all()?.to_scalar::<f32>()?.max(1e-12);
        out.push((name, diff / scale));
    }
    Ok(out)
}

/// Adam (Kingma & Ba, 2015) with bias correction:
/// $m \leftarrow \beta_1 m + (1-\beta_1) g$, $v \leftarrow \beta_2 v + (1-\beta_2) g^2$,
/// $w \leftarrow w - \eta\,\hat m / (\sqrt{\hat v} + \varepsilon)$ with $\hat m = m / (1-\beta_1^t)$,
/// $\hat v = v / (1-\beta_2^t)$.
#[derive(Clone, Debug)]
pub struct Adam {
    /// $\eta$, the learning rate.
    pub lr: f64,
    /// $\beta_1$, the decay of the mean of the gradients.
    pub beta1: f64,
    /// $\beta_2$, the decay of the mean of their squares.
    pub beta2: f64,
    /// $\varepsilon$, keeping the step finite where $\hat v$ is 0.
    pub eps: f64,
    /// Steps taken so far (the $t$ of the bias corrections).
    pub t: i32,
    m: Weights,
    v: Weights,
}

impl Adam {
    /// PyTorch's defaults: betas (0.9, 0.999), eps 1e-8.
    pub fn new(weights: &Weights, lr: f64) -> Result<Self> {
        Ok(Self { lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, t: 0, m: weights.zeros_like()?, v: weights.zeros_like()? })
    }

    /// One update of `w` with gradients `g`.
    pub fn step(&mut self, w: &mut Weights, g: &Weights) -> Result<()> {
        self.t += 1;
        let (b1, b2) = (self.beta1, self.beta2);
        self.m = self.m.zip_map(g, |m, g| Ok(((m * b1)? + (g * (1.0 - b1))?)?))?;
        self.v = self.v.zip_map(g, |v, g| Ok(((v * b2)? + (g.sqr()? * (1.0 - b2))?)?))?;
        let (c1, c2) = (1.0 - b1.powi(self.t), 1.0 - b2.powi(self.t));
        let (lr, eps) = (self.lr, self.eps);
        let step = self.m.zip_map(&self.v, |m, v| Ok(((m / c1)? / ((v / c2)?.sqrt()? + eps)?)?))?;
        *w = w.zip_map(&step, |w, s| Ok((w - (s * lr)?)?))?;
        Ok(())
    }
}

/// Images in [0, 1] for codes `z` `[B, Z]`: the decoder half of [`forward`] with a sigmoid.
pub fn decode(w: &Weights, z: &Tensor) -> Result<Tensor> {
    if z.rank() != 2 || z.dim(1)? != w.w3.dim(0)? {
        return Err(Error::config(format!("by-hand decode expects codes [B, {}], got {:?}", w.w3.dim(0)?, z.dims())));
    }
    let g = z.matmul(&w.w3)?.broadcast_add(&w.b3)?.relu()?;
    Ok(candle_nn::ops::sigmoid(&g.matmul(&w.w4)?.broadcast_add(&w.b4)?)?)
}

/// Reconstructions from the posterior means (no noise).
pub fn reconstruct(w: &Weights, x: &Tensor) -> Result<Tensor> {
    let eps = Tensor::zeros((x.dim(0)?, w.w_mu.dim(1)?), x.dtype(), x.device())?;
    Ok(candle_nn::ops::sigmoid(&forward(w, x, &eps)?.logits)?)
}

/// The negative ELBO per image of `x` `[N, 784]`, estimated with one $z$ per image:
/// $\frac1N\sum_n \big[\sum_i \mathrm{softplus}(\ell_{ni}) - x_{ni}\ell_{ni} + \mathrm{KL}_n\big]$ with
/// $z_n = \mu_n + \sigma_n\odot\epsilon_n$, $\epsilon_n \sim \mathcal N(0, I)$ drawn from `rng`.
///
/// The KL term is exact and the reconstruction term is averaged over one draw per image, so the
/// mean over $N$ images is an unbiased estimate of the mean negative ELBO, comparable with the
/// training loss. Decoding the posterior means instead ($\epsilon = 0$, as [`reconstruct`] does)
/// scores the decoder at one point per image: a different number (for a well-trained model
/// usually a smaller one) that is not a bound on anything.
pub fn neg_elbo(w: &Weights, x: &Tensor, rng: &mut Rng) -> Result<f32> {
    // Chunks keep the [N, hidden] activations of a whole test set out of memory at once.
    const CHUNK: usize = 1000;
    let n = x.dim(0)?;
    if n == 0 {
        return Err(Error::config("by_hand::neg_elbo: no images (N = 0); the mean over no images is undefined"));
    }
    let eps = rng.randn((n, w.w_mu.dim(1)?), x.device())?;
    let mut total = 0f64;
    for start in (0..n).step_by(CHUNK) {
        let len = CHUNK.min(n - start);
        let f = forward(w, &x.narrow(0, start, len)?, &eps.narrow(0, start, len)?)?;
        total += f.loss()? as f64 * len as f64;
    }
    Ok((total / n as f64) as f32)
}

/// One training step: noise from `rng`, forward, backward, Adam. Returns the loss before the update.
pub fn train_step(w: &mut Weights, adam: &mut Adam, x: &Tensor, rng: &mut Rng) -> Result<f32> {
    let eps = rng.randn((x.dim(0)?, w.w_mu.dim(1)?), x.device())?;
    let f = forward(w, x, &eps)?;
    let g = backward(w, x, &eps, &f)?;
    adam.step(w, &g)?;
    f.loss()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_nn::{AdamW, Optimizer, ParamsAdamW};

    fn setup(seed: u64, b: usize, h: usize, z: usize) -> (Weights, Tensor, Tensor) {
        let dev = Device::Cpu;
        let mut rng = Rng::new(seed);
        let w = Weights::init(784, h, z, &mut rng, &dev).unwrap();
        // Grey levels in [0, 1], like MNIST, and standard normal noise.
        let x = rng.rand((b, 784), 0.0, 1.0, &dev).unwrap();
        let eps = rng.randn((b, z), &dev).unwrap();
        (w, x, eps)
    }

    #[test]
    fn every_gradient_matches_autograd() {
        for (seed, b, h, z) in [(0, 8, 64, 2), (1, 5, 32, 20), (2, 16, 400, 20)] {
            let (w, x, eps) = setup(seed, b, h, z);
            let f = forward(&w, &x, &eps).unwrap();
            let ours = backward(&w, &x, &eps, &f).unwrap();
            let (loss, auto) = autograd_gradients(&w, &x, &eps).unwrap();
            assert!((loss - f.loss().unwrap()).abs() <= 1e-4 * loss.abs(), "loss {loss} vs {}", f.loss().unwrap());
            for (name, err) in relative_errors(&ours, &auto).unwrap() {
                assert!(err < 1e-4, "seed {seed}: gradient of {name} differs from autograd by {err:e} (relative)");
            }
            // The check must not pass vacuously: every gradient carries signal.
            for (t, name) in auto.tensors().iter().zip(NAMES) {
                assert!(
                    t.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap() > 0.0,
                    "{name} has a zero gradient"
                );
            }
        }
    }

    #[test]
    fn a_wrong_gradient_is_caught() {
        let (w, x, eps) = setup(3, 4, 16, 2);
        let f = forward(&w, &x, &eps).unwrap();
        let mut ours = backward(&w, &x, &eps, &f).unwrap();
        ours.b_logvar = (ours.b_logvar * 1.01).unwrap();
        let (_, auto) = autograd_gradients(&w, &x, &eps).unwrap();
        assert!(max_relative_error(&ours, &auto).unwrap() > 1e-3);
    }

    #[test]
    fn adam_matches_candle_adamw_without_decay() {
        let (mut w, x, eps) = setup(4, 8, 32, 2);
        let vars: Vec<Var> = w.tensors().iter().map(|t| Var::from_tensor(t).unwrap()).collect();
        let mut reference =
            AdamW::new(vars.clone(), ParamsAdamW { lr: 1e-2, weight_decay: 0.0, ..ParamsAdamW::default() }).unwrap();
        let mut adam = Adam::new(&w, 1e-2).unwrap();
        for _ in 0..3 {
            let g = backward(&w, &x, &eps, &forward(&w, &x, &eps).unwrap()).unwrap();
            adam.step(&mut w, &g).unwrap();
            let tracked = Weights::from_tensors(vars.iter().map(|v| v.as_tensor().clone()).collect()).unwrap();
            let f = forward(&tracked, &x, &eps).unwrap();
            reference.backward_step(&(&f.recon + &f.kl).unwrap()).unwrap();
        }
        let after = Weights::from_tensors(vars.iter().map(|v| v.as_tensor().clone()).collect()).unwrap();
        assert!(max_relative_error(&w, &after).unwrap() < 1e-4);
    }

    #[test]
    fn training_by_hand_lowers_the_loss() {
        let (mut w, noise, _) = setup(5, 1, 64, 2);
        // One binary pattern repeated: a learnable target whose loss can approach zero.
        let x = noise.gt(0.5f32).unwrap().to_dtype(candle_core::DType::F32).unwrap().repeat((32, 1)).unwrap();
        let mut adam = Adam::new(&w, 1e-2).unwrap();
        let mut rng = Rng::new(9);
        let first = train_step(&mut w, &mut adam, &x, &mut rng).unwrap();
        let mut last = first;
        for _ in 0..30 {
            last = train_step(&mut w, &mut adam, &x, &mut rng).unwrap();
        }
        assert!(last < 0.5 * first, "loss went from {first} to {last}");
    }

    #[test]
    fn decode_is_the_decoder_half_of_forward() {
        let (w, x, eps) = setup(7, 3, 16, 2);
        let f = forward(&w, &x, &eps).unwrap();
        let from_z = decode(&w, &f.z).unwrap();
        let direct = candle_nn::ops::sigmoid(&f.logits).unwrap();
        let d = (from_z - direct).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(d < 1e-6, "{d}");
        assert_eq!(reconstruct(&w, &x).unwrap().dims(), &[3, 784]);
        assert!(decode(&w, &x).is_err());
    }

    #[test]
    fn neg_elbo_is_the_forward_loss_at_sampled_noise() {
        let (w, _, _) = setup(8, 1, 16, 3);
        let x = Rng::new(10).rand((2500, 784), 0.0, 1.0, &Device::Cpu).unwrap();
        let eps = Rng::new(11).randn((2500, 3), &Device::Cpu).unwrap();
        let direct = forward(&w, &x, &eps).unwrap().loss().unwrap();
        let chunked = neg_elbo(&w, &x, &mut Rng::new(11)).unwrap();
        assert!((chunked - direct).abs() < 1e-4 * direct.abs(), "{chunked} vs {direct}");
        let zero = Tensor::zeros((2500, 3), candle_core::DType::F32, &Device::Cpu).unwrap();
        assert_ne!(chunked, forward(&w, &x, &zero).unwrap().loss().unwrap(), "the noise is used");
        let e = neg_elbo(&w, &x.narrow(0, 0, 0).unwrap(), &mut Rng::new(0)).unwrap_err().to_string();
        assert!(e.contains("no images (N = 0)"), "{e}");
    }

    #[test]
    fn shapes_are_checked() {
        let (w, x, _) = setup(6, 4, 16, 2);
        let bad_eps = Tensor::zeros((4, 3), candle_core::DType::F32, &Device::Cpu).unwrap();
        let e = forward(&w, &x, &bad_eps).unwrap_err().to_string();
        assert!(e.contains("eps [B, 2]"), "{e}");
        let none = x.narrow(0, 0, 0).unwrap();
        let e = forward(&w, &none, &bad_eps.narrow(0, 0, 0).unwrap()).unwrap_err().to_string();
        assert!(e.contains("a batch of no images"), "{e}");
        assert!(Weights::init(784, 0, 2, &mut Rng::new(0), &Device::Cpu).is_err());
    }
}
