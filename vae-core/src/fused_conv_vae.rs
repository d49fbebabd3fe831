//! The convolutional VAE's training step on the CPU in one pass: forward, Monte Carlo negative
//! ELBO and backward, without an autograd graph.
//!
//! For the [`ConvVae`](crate::models::ConvVae) of the TensorFlow tutorial (two stride-2
//! convolutions with ReLU, a dense code layer giving $\mu$ and $\log\sigma^2$,
//! $z = \mu + \sigma\odot\epsilon$, a dense ReLU layer, transposed convolutions ending in Bernoulli
//! logits $\ell$), the loss on a batch of $B$ images is the single-sample estimate of
//! [`Objective::McElbo`](crate::objective::Objective::McElbo):
//!
//! $$L = \frac1B\sum_b\Big[\sum_i \mathrm{softplus}(\ell_{bi}) - x_{bi}\ell_{bi}
//! \;-\;\log\mathcal N(z_b; 0, I) \;+\; \log\mathcal N(z_b; \mu_b, \sigma_b^2)\Big].$$
//!
//! With $z - \mu = \sigma\epsilon$ the last two terms are $\tfrac12\sum_j (z_j^2 - \epsilon_j^2
//! - \log\sigma_j^2)$, and the chain rule through $z$ and the direct terms collapses to
//! $\partial L/\partial\mu = g + z/B$ and
//! $\partial L/\partial\log\sigma^2 = \tfrac12\,\sigma\epsilon\odot(g + z/B) - \tfrac1{2B}$,
//! where $g$ is the reconstruction term's gradient with respect to $z$ (back through the decoder).
//! Through a convolution, with `col = im2col(x)`: $\partial W = \sum_b \delta_b\,\mathrm{col}_b^\top$,
//! $\partial x = \mathrm{col2im}(W^\top\delta)$; through a transposed convolution, with
//! `col = im2col(δ)`: $\partial W = \sum_b x_b\,\mathrm{col}_b^\top$, $\partial x = W\,\mathrm{col}$
//! (the [`ops`](crate::ops) table).
//!
//! Why a fused step: under candle's autograd every node allocates its output, every gradient is
//! accumulated by a fresh zero tensor plus an addition, and bias, ReLU and their gradients are
//! separate passes over the feature maps; for this small network that bookkeeping cost as much as
//! the convolutions. Here each worker thread runs the whole step on a slice of the batch with the
//! same `im2col`/`gemm`/`col2im` kernels as the custom ops, into buffers kept between steps.
//! Used by [`Stepper`](crate::training::Stepper) for the conv VAE with the `mc-elbo` objective
//! on the CPU (`VAE_FUSED=0` turns it off); the tests check loss and gradients against autograd.
//!
//! ```
//! # fn main() -> vae_core::Result<()> {
//! use candle_core::Device;
//! use vae_core::{fused_conv_vae::{FusedConvVae, KlTerm}, models::Model, rng::Rng};
//! let model = Model::from_name("conv-vae", Some(2), 0, &Device::Cpu)?;
//! let mut step = FusedConvVae::new(&model).expect("the conv VAE on the CPU");
//! let mut rng = Rng::new(1);
//! let x = rng.rand((4, 784), 0.0, 1.0, &Device::Cpu)?;
//! let eps = rng.normal_vec(4 * 2);
//! let loss = step.forward_backward(&x, &x, &eps, KlTerm::MonteCarlo)?;
//! assert!(loss.recon > 0.0 && (loss.total - loss.recon - loss.kl).abs() < 1e-6);
//! # Ok(()) }
//! ```
use crate::error::Result;
use crate::fused_vae::{
    bce_row, combine, cpu_f32, f32_batch, grow, impl_partial, mat, mat_t, rows, run_split, StepLoss,
};
use crate::models::layers::{Conv2d, ConvTranspose2d};
use crate::models::mlp_vae::{LOGVAR_MAX, LOGVAR_MIN};
use crate::models::Model;
use crate::ops::bias::lane_sum;
use crate::ops::kernels::{col2im, conv_out_len, im2col, matmul, num_threads, split, Mat};
use candle_core::{DType, Tensor, TensorId};

/// The KL part of the loss.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum KlTerm {
    /// $\beta\,\mathrm{KL}(q(z|x)\,\|\,\mathcal N(0, I))$ in closed form, as
    /// [`Objective::Elbo`](crate::objective::Objective::Elbo):
    /// $\partial L/\partial\mu = g + \beta\mu/B$,
    /// $\partial L/\partial\log\sigma^2 = \tfrac12\,\sigma\epsilon\odot g + \tfrac\beta2(\sigma^2 - 1)/B$.
    Analytic { beta: f64 },
    /// $\log q(z|x) - \log p(z)$ at the sampled $z$, as
    /// [`Objective::McElbo`](crate::objective::Objective::McElbo) (the module docs' formulas).
    MonteCarlo,
}

/// A convolution or transposed convolution: shapes for one image.
#[derive(Clone, Copy, Debug)]
struct Conv {
    cin: usize,
    cout: usize,
    k: usize,
    stride: usize,
    padding: usize,
    /// Input and output spatial sizes.
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
}

impl Conv {
    fn n_in(&self) -> usize {
        self.h * self.w
    }
    fn n_out(&self) -> usize {
        self.oh * self.ow
    }
    fn in_len(&self) -> usize {
        self.cin * self.n_in()
    }
    fn out_len(&self) -> usize {
        self.cout * self.n_out()
    }
}

/// The step's parameters in order: conv1, conv2, code, fc, then every transposed convolution,
/// weight then bias for each.
struct Params {
    tensors: Vec<Tensor>,
    ids: Vec<TensorId>,
}

/// The fused forward/backward step of the conv VAE; see the [module docs](self).
pub struct FusedConvVae {
    params: Params,
    convs: [Conv; 2],
    /// (n_in, n_out) of the code and fc dense layers.
    code: (usize, usize),
    fc: (usize, usize),
    deconvs: Vec<Conv>,
    latent: usize,
    threads: usize,
    work: Vec<Workspace>,
}

/// Buffers of one worker thread, kept between steps.
#[derive(Default)]
struct Workspace {
    /// im2col of each encoder convolution's input, image after image (reused by the backward pass).
    cols: [Vec<f32>; 2],
    /// Encoder feature maps after ReLU.
    hs: [Vec<f32>; 2],
    /// Code layer output: mean then raw log-variance, per row.
    hc: Vec<f32>,
    z: Vec<f32>,
    /// $\sigma\odot\epsilon$.
    std_eps: Vec<f32>,
    /// fc output after ReLU, then every transposed convolution's output (the last: logits).
    outs: Vec<Vec<f32>>,
    /// One image's column matrix.
    col: Vec<f32>,
    delta: Vec<f32>,
    spare: Vec<f32>,
    grads: Vec<Vec<f32>>,
    recon: f64,
    kl: f64,
}

impl_partial!(Workspace);

/// Weights and biases borrowed for the length of a step, in [`Params`] order.
struct Views<'a> {
    w: Vec<&'a [f32]>,
    b: Vec<&'a [f32]>,
}

impl FusedConvVae {
    /// The step for `model`, or `None` when it is not the conv VAE on the CPU in f32.
    pub fn new(model: &Model) -> Option<Self> {
        let vae = model.conv_vae()?;
        if !model.device().is_cpu() {
            return None;
        }
        let (enc, dec) = (&vae.encoder, &vae.decoder);
        let mut tensors = vec![];
        let mut conv = |c: &Conv2d, (cin, h, w): (usize, usize, usize)| -> Option<Conv> {
            let (cout, cin_w, k, k2) = c.weight.dims4().ok()?;
            let (oh, ow) = (conv_out_len(h, k, c.stride, c.padding)?, conv_out_len(w, k, c.stride, c.padding)?);
            (cin_w == cin && k == k2).then_some(())?;
            tensors.extend([c.weight.clone(), c.bias.clone()]);
            Some(Conv { cin, cout, k, stride: c.stride, padding: c.padding, h, w, oh, ow })
        };
        let c1 = conv(&enc.conv1, (1, 28, 28))?;
        let c2 = conv(&enc.conv2, (c1.cout, c1.oh, c1.ow))?;
        let mut dense = |l: &candle_nn::Linear, n_in: usize| -> Option<(usize, usize)> {
            let (n_out, n_in_w) = l.weight().dims2().ok()?;
            (n_in_w == n_in).then_some(())?;
            tensors.extend([l.weight().clone(), l.bias()?.clone()]);
            Some((n_in, n_out))
        };
        let code = dense(&enc.code, c2.out_len())?;
        let fc = dense(&dec.fc, vae.latent)?;
        let (mut c, mut h, mut w) = dec.start;
        (c * h * w == fc.1 && code.1 == 2 * vae.latent).then_some(())?;
        let mut deconvs = vec![];
        for d in &dec.deconvs {
            let t: &ConvTranspose2d = d;
            let (cin, cout, k, k2) = t.weight.dims4().ok()?;
            (cin == c && k == k2).then_some(())?;
            let (oh, ow) = (t.out_len(h), t.out_len(w));
            tensors.extend([t.weight.clone(), t.bias.clone()]);
            deconvs.push(Conv { cin, cout, k, stride: t.stride, padding: t.padding, h, w, oh, ow });
            (c, h, w) = (cout, oh, ow);
        }
        if c * h * w != 784 || tensors.iter().any(|t| t.dtype() != DType::F32) {
            return None;
        }
        let ids = tensors.iter().map(|t| t.id()).collect();
        Some(Self {
            params: Params { tensors, ids },
            convs: [c1, c2],
            code,
            fc,
            deconvs,
            latent: vae.latent,
            threads: num_threads(),
            work: vec![],
        })
    }

    /// Computes the loss on a batch and keeps its gradient for [`gradient`](Self::gradient).
    /// `input` goes through the encoder, `target` is what the decoder is scored against,
    /// `eps` holds the `B * latent` standard normal draws, row by row.
    pub fn forward_backward(
        &mut self,
        input: &Tensor,
        target: &Tensor,
        eps: &[f32],
        kl_term: KlTerm,
    ) -> Result<StepLoss> {
        let (input, target) = f32_batch("fused conv VAE step", input, target, 784, eps, self.latent)?;
        let (b, d) = input.dims2()?;
        let (xs, xl) = input.storage_and_layout();
        let (ts, tl) = target.storage_and_layout();
        let x = cpu_f32(&xs, xl, "the input batch")?;
        let t = cpu_f32(&ts, tl, "the target batch")?;
        let guards: Vec<_> = self.params.tensors.iter().map(|t| t.storage_and_layout()).collect();
        let mut flat = Vec::with_capacity(guards.len());
        for (s, l) in &guards {
            flat.push(cpu_f32(s, l, "a parameter")?);
        }
        let views = Views {
            w: flat.iter().step_by(2).copied().collect(),
            b: flat.iter().skip(1).step_by(2).copied().collect(),
        };
        // Two images per thread at least: below that the spawn costs more than it saves.
        let ranges = split(b, self.threads.min(b.div_ceil(2)));
        if self.work.len() < ranges.len() {
            self.work.resize_with(ranges.len(), Workspace::default);
        }
        let zl = self.latent;
        let inv_b = 1.0 / b as f32;
        let beta = match kl_term {
            KlTerm::Analytic { beta } => Some(beta as f32),
            KlTerm::MonteCarlo => None,
        };
        let shapes =
            Shapes { convs: self.convs, code: self.code, fc: self.fc, deconvs: &self.deconvs, latent: zl, inv_b, beta };
        let views = &views;
        run_split(&mut self.work, &ranges, |ws, r| {
            ws.run(&shapes, views, rows(x, d, &r), rows(t, d, &r), rows(eps, zl, &r), r.len())
        });
        let (recon, kl) = combine(&mut self.work[..ranges.len()], self.threads);
        let (recon, kl) = (recon / b as f64, beta.map_or(1.0, f64::from) * kl / b as f64);
        Ok(StepLoss { total: recon + kl, recon, kl })
    }

    /// The gradient of the last step for one of the model's parameters (by tensor identity).
    pub fn gradient(&self, param: &Tensor) -> Option<&[f32]> {
        let i = self.params.ids.iter().position(|&id| id == param.id())?;
        self.work.first().and_then(|w| w.grads.get(i)).map(|g| g.as_slice())
    }
}

/// What every worker needs to know about the step.
struct Shapes<'a> {
    convs: [Conv; 2],
    code: (usize, usize),
    fc: (usize, usize),
    deconvs: &'a [Conv],
    latent: usize,
    inv_b: f32,
    /// `Some(beta)` for the analytic KL, `None` for the Monte Carlo estimate.
    beta: Option<f32>,
}

fn relu(v: &mut [f32]) {
    v.iter_mut().for_each(|x| *x = x.max(0.0));
}

/// `delta *= [y > 0]`, the ReLU's gradient written with its output.
fn relu_grad(y: &[f32], delta: &mut [f32]) {
    delta.iter_mut().zip(y).for_each(|(d, &y)| *d = if y > 0.0 { *d } else { 0.0 });
}

/// `gb += per-channel sums of one image's [channels, n] gradient`.
fn add_channel_sums(d: &[f32], n: usize, gb: &mut [f32]) {
    for (g, ch) in gb.iter_mut().zip(d.chunks_exact(n)) {
        *g += lane_sum(ch);
    }
}

/// Each channel row of an image `[channels, n]` set to its bias.
fn fill_bias(out: &mut [f32], n: usize, b: &[f32]) {
    for (row, &bc) in out.chunks_exact_mut(n).zip(b) {
        row.fill(bc);
    }
}

/// Dense layer over `nb` rows: `out = x Wᵀ + b`.
fn dense_forward(w: &[f32], b: &[f32], (n_in, n_out): (usize, usize), x: &[f32], nb: usize, out: &mut [f32]) {
    for row in out.chunks_exact_mut(n_out) {
        row.copy_from_slice(b);
    }
    matmul(nb, n_out, n_in, out, true, mat(x, n_in), mat_t(w, n_in));
}

/// Dense layer backward: `gw = dᵀ x`, `gb = Σ_rows d`, and `dx = d W` when asked.
#[allow(clippy::too_many_arguments)]
fn dense_backward(
    w: &[f32],
    (n_in, n_out): (usize, usize),
    x: &[f32],
    d: &[f32],
    nb: usize,
    gw: &mut [f32],
    gb: &mut [f32],
    dx: Option<&mut [f32]>,
) {
    matmul(n_out, n_in, nb, gw, false, mat_t(d, n_out), mat(x, n_in));
    gb.fill(0.0);
    for row in d.chunks_exact(n_out) {
        gb.iter_mut().zip(row).for_each(|(g, r)| *g += r);
    }
    if let Some(dx) = dx {
        matmul(nb, n_in, n_out, dx, false, mat(d, n_out), mat(w, n_in));
    }
}

impl Workspace {
    /// Forward and backward pass over `nb` images; leaves this thread's gradient sums in `grads`.
    fn run(&mut self, s: &Shapes, v: &Views, x: &[f32], target: &[f32], eps: &[f32], nb: usize) {
        let [c1, c2] = s.convs;
        let zl = s.latent;
        let nd = s.deconvs.len();
        for (col, c) in self.cols.iter_mut().zip(&s.convs) {
            grow(col, nb * c.cin * c.k * c.k * c.n_out());
        }
        for (h, c) in self.hs.iter_mut().zip(&s.convs) {
            grow(h, nb * c.out_len());
        }
        grow(&mut self.hc, nb * 2 * zl);
        grow(&mut self.z, nb * zl);
        grow(&mut self.std_eps, nb * zl);
        self.outs.resize_with(nd + 1, Vec::new);
        grow(&mut self.outs[0], nb * s.fc.1);
        for (o, c) in self.outs[1..].iter_mut().zip(s.deconvs) {
            grow(o, nb * c.out_len());
        }
        let widest =
            s.deconvs.iter().chain(&s.convs).map(|c| c.in_len().max(c.out_len())).max().unwrap_or(0).max(s.code.0);
        grow(&mut self.delta, nb * widest);
        grow(&mut self.spare, nb * widest);
        let col_len = s
            .deconvs
            .iter()
            .chain(&s.convs)
            .map(|c| c.cout.max(c.cin) * c.k * c.k * c.n_in().max(c.n_out()))
            .max()
            .unwrap_or(0);
        grow(&mut self.col, col_len);
        let sizes: Vec<usize> = [c1, c2]
            .iter()
            .map(|c| (c.cout * c.cin * c.k * c.k, c.cout))
            .chain([(s.code.0 * s.code.1, s.code.1), (s.fc.0 * s.fc.1, s.fc.1)])
            .chain(s.deconvs.iter().map(|c| (c.cin * c.cout * c.k * c.k, c.cout)))
            .flat_map(|(w, b)| [w, b])
            .collect();
        self.grads.resize_with(sizes.len(), Vec::new);
        for (g, &n) in self.grads.iter_mut().zip(&sizes) {
            grow(g, n);
        }
        let Workspace { cols, hs, hc, z, std_eps, outs, col, delta, spare, grads, recon, kl } = self;

        // Encoder: conv + bias + ReLU, twice, keeping each image's im2col for the backward pass.
        for (l, c) in [c1, c2].iter().enumerate() {
            let (before, after) = hs.split_at_mut(l);
            let inp: &[f32] = if l == 0 { x } else { &before[0][..nb * c.in_len()] };
            let rows_k = c.cin * c.k * c.k;
            let (colbuf, out) = (&mut cols[l], &mut after[0]);
            for i in 0..nb {
                let ci = &mut colbuf[i * rows_k * c.n_out()..(i + 1) * rows_k * c.n_out()];
                im2col(&inp[i * c.in_len()..], c.cin, c.h, c.w, c.k, c.stride, c.padding, c.oh, c.ow, ci);
                let o = &mut out[i * c.out_len()..(i + 1) * c.out_len()];
                fill_bias(o, c.n_out(), v.b[l]);
                matmul(c.cout, c.n_out(), rows_k, o, true, mat(v.w[l], rows_k), mat(ci, c.n_out()));
            }
            relu(&mut out[..nb * c.out_len()]);
        }
        // Code layer, reparameterisation and the single-sample KL estimate.
        let hc = &mut hc[..nb * 2 * zl];
        dense_forward(v.w[2], v.b[2], s.code, &hs[1][..nb * s.code.0], nb, hc);
        let mut kl_sum = 0f64;
        for b in 0..nb {
            for j in 0..zl {
                let (mu, lv) =
                    (hc[b * 2 * zl + j], hc[b * 2 * zl + zl + j].clamp(LOGVAR_MIN as f32, LOGVAR_MAX as f32));
                let e = eps[b * zl + j];
                let se = (0.5 * lv).exp() * e;
                let zz = mu + se;
                std_eps[b * zl + j] = se;
                z[b * zl + j] = zz;
                kl_sum += match s.beta {
                    Some(_) => -0.5 * (1.0 + lv - mu * mu - lv.exp()),
                    None => 0.5 * (zz * zz - e * e - lv),
                } as f64;
            }
        }
        *kl = kl_sum;
        // Decoder: dense + ReLU, then the transposed convolutions (ReLU on all but the last).
        let z = &z[..nb * zl];
        dense_forward(v.w[3], v.b[3], s.fc, z, nb, &mut outs[0][..nb * s.fc.1]);
        relu(&mut outs[0][..nb * s.fc.1]);
        for (l, c) in s.deconvs.iter().enumerate() {
            let (before, after) = outs.split_at_mut(l + 1);
            let inp = &before[l][..nb * c.in_len()];
            let out = &mut after[0][..nb * c.out_len()];
            let rows_k = c.cout * c.k * c.k;
            let ci = &mut col[..rows_k * c.n_in()];
            for i in 0..nb {
                // Wᵀ without a copy: the weight is [cin, cout*k*k].
                let wt = Mat { ptr: v.w[4 + l].as_ptr(), rs: 1, cs: rows_k as isize };
                matmul(rows_k, c.n_in(), c.cin, ci, false, wt, mat(&inp[i * c.in_len()..], c.n_in()));
                let o = &mut out[i * c.out_len()..(i + 1) * c.out_len()];
                fill_bias(o, c.n_out(), v.b[4 + l]);
                col2im(ci, c.cout, c.oh, c.ow, c.k, c.stride, c.padding, c.h, c.w, o);
            }
            if l + 1 < nd {
                relu(out);
            }
        }

        // Reconstruction term and dL/dlogits.
        let logits = &outs[nd][..nb * 784];
        let (mut cur, mut next) = (delta, spare);
        let mut recon_sum = 0f64;
        for ((d, l), t) in
            cur[..nb * 784].chunks_exact_mut(784).zip(logits.chunks_exact(784)).zip(target.chunks_exact(784))
        {
            recon_sum += bce_row(l, t, d, s.inv_b) as f64;
        }
        *recon = recon_sum;

        // Transposed convolutions backward: `cur` holds dL/d(output of deconv l).
        for (l, c) in s.deconvs.iter().enumerate().rev() {
            let out = &outs[l + 1][..nb * c.out_len()];
            let d = &mut cur[..nb * c.out_len()];
            if l + 1 < nd {
                relu_grad(out, d);
            }
            let inp = &outs[l][..nb * c.in_len()];
            let rows_k = c.cout * c.k * c.k;
            let ci = &mut col[..rows_k * c.n_in()];
            let (gw, gb) = grads.split_at_mut(8 + 2 * l + 1);
            let (gw, gb) = (&mut gw[8 + 2 * l][..], &mut gb[0][..c.cout]);
            gb.fill(0.0);
            for i in 0..nb {
                let di = &d[i * c.out_len()..(i + 1) * c.out_len()];
                im2col(di, c.cout, c.oh, c.ow, c.k, c.stride, c.padding, c.h, c.w, ci);
                add_channel_sums(di, c.n_out(), gb);
                let xi = &inp[i * c.in_len()..(i + 1) * c.in_len()];
                matmul(c.cin, rows_k, c.n_in(), gw, i > 0, mat(xi, c.n_in()), mat_t(ci, c.n_in()));
                let dx = &mut next[i * c.in_len()..(i + 1) * c.in_len()];
                matmul(c.cin, c.n_in(), rows_k, dx, false, mat(v.w[4 + l], rows_k), mat(ci, c.n_in()));
            }
            std::mem::swap(&mut cur, &mut next);
        }
        // fc: ReLU, then back to dL/dz (the reconstruction part, g).
        let a0 = &outs[0][..nb * s.fc.1];
        relu_grad(a0, &mut cur[..nb * s.fc.1]);
        {
            let (g, rest) = grads.split_at_mut(7);
            dense_backward(
                v.w[3],
                s.fc,
                z,
                &cur[..nb * s.fc.1],
                nb,
                &mut g[6],
                &mut rest[0],
                Some(&mut next[..nb * zl]),
            );
        }
        std::mem::swap(&mut cur, &mut next);
        // Latent: from dL/dz to dL/d(mu, logvar) (KlTerm's formulas; 0 where logvar is clamped).
        for b in 0..nb {
            for j in 0..zl {
                let (g, mu, raw) = (cur[b * zl + j], hc[b * 2 * zl + j], hc[b * 2 * zl + zl + j]);
                let inside = (LOGVAR_MIN as f32..=LOGVAR_MAX as f32).contains(&raw);
                let se = std_eps[b * zl + j];
                let (dmu, dlv) = match s.beta {
                    Some(beta) => (g + beta * mu * s.inv_b, 0.5 * se * g + 0.5 * beta * (raw.exp() - 1.0) * s.inv_b),
                    None => {
                        let gz = g + z[b * zl + j] * s.inv_b;
                        (gz, 0.5 * se * gz - 0.5 * s.inv_b)
                    }
                };
                next[b * 2 * zl + j] = dmu;
                next[b * 2 * zl + zl + j] = if inside { dlv } else { 0.0 };
            }
        }
        std::mem::swap(&mut cur, &mut next);
        {
            let (g, rest) = grads.split_at_mut(5);
            dense_backward(
                v.w[2],
                s.code,
                &hs[1][..nb * s.code.0],
                &cur[..nb * 2 * zl],
                nb,
                &mut g[4],
                &mut rest[0],
                Some(&mut next[..nb * s.code.0]),
            );
        }
        std::mem::swap(&mut cur, &mut next);
        // Encoder convolutions backward: `cur` holds dL/d(output of conv l) before the ReLU mask.
        for (l, c) in [c1, c2].iter().enumerate().rev() {
            let d = &mut cur[..nb * c.out_len()];
            relu_grad(&hs[l][..nb * c.out_len()], d);
            let rows_k = c.cin * c.k * c.k;
            let (gw, gb) = grads.split_at_mut(2 * l + 1);
            let (gw, gb) = (&mut gw[2 * l][..], &mut gb[0][..c.cout]);
            gb.fill(0.0);
            for i in 0..nb {
                let di = &d[i * c.out_len()..(i + 1) * c.out_len()];
                let ci = &cols[l][i * rows_k * c.n_out()..(i + 1) * rows_k * c.n_out()];
                add_channel_sums(di, c.n_out(), gb);
                matmul(c.cout, rows_k, c.n_out(), gw, i > 0, mat(di, c.n_out()), mat_t(ci, c.n_out()));
                if l > 0 {
                    // dx = col2im(Wᵀ d): the first layer's input is data and needs no gradient.
                    let scratch = &mut col[..rows_k * c.n_out()];
                    let wt = Mat { ptr: v.w[l].as_ptr(), rs: 1, cs: rows_k as isize };
                    matmul(rows_k, c.n_out(), c.cout, scratch, false, wt, mat(di, c.n_out()));
                    let dx = &mut next[i * c.in_len()..(i + 1) * c.in_len()];
                    dx.fill(0.0);
                    col2im(scratch, c.cin, c.h, c.w, c.k, c.stride, c.padding, c.oh, c.ow, dx);
                }
            }
            std::mem::swap(&mut cur, &mut next);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::losses::{bce_with_logits, kl_standard_normal, mc_elbo};
    use crate::rng::Rng;
    use candle_core::Device;

    /// The same loss through the model's candle forward pass and autograd.
    fn autograd(
        model: &Model,
        x: &Tensor,
        t: &Tensor,
        eps: &[f32],
        kl_term: KlTerm,
    ) -> (f64, f64, candle_core::backprop::GradStore) {
        let q = model.encode_t(x, None, true).unwrap();
        let lv = q.logvar.clone().unwrap();
        let e = Tensor::from_slice(eps, q.mean.shape(), &Device::Cpu).unwrap();
        let z = (&q.mean + (&lv * 0.5).unwrap().exp().unwrap().mul(&e).unwrap()).unwrap();
        let logits = model.decode_logits_t(&z, None, true).unwrap();
        let total = match kl_term {
            KlTerm::MonteCarlo => mc_elbo(&logits, t, &z, &q.mean, &lv).unwrap().neg().unwrap().mean_all().unwrap(),
            KlTerm::Analytic { beta } => {
                let kl = (kl_standard_normal(&q.mean, &lv).unwrap().mean_all().unwrap() * beta).unwrap();
                (bce_with_logits(&logits, t).unwrap().mean_all().unwrap() + kl).unwrap()
            }
        };
        let recon = bce_with_logits(&logits, t).unwrap().mean_all().unwrap().to_scalar::<f32>().unwrap() as f64;
        (total.to_scalar::<f32>().unwrap() as f64, recon, total.backward().unwrap())
    }

    fn check(batch: usize, threads: usize, latent: usize, denoising: bool, kl_term: KlTerm) {
        let model = Model::from_name("conv-vae", Some(latent), 3, &Device::Cpu).unwrap();
        // Keras initialisation leaves the biases at zero: move them so their gradients matter.
        let mut rng = Rng::new(11);
        for (name, var) in model.params().named_vars() {
            if name.ends_with("bias") {
                var.set(&rng.rand(var.shape(), -0.05, 0.05, &Device::Cpu).unwrap()).unwrap();
            }
        }
        let mut step = FusedConvVae::new(&model).unwrap();
        step.threads = threads;
        let t = rng.rand((batch, 784), 0.0, 1.0, &Device::Cpu).unwrap().ge(0.5).unwrap().to_dtype(DType::F32).unwrap();
        let x = if denoising { rng.rand((batch, 784), 0.0, 1.0, &Device::Cpu).unwrap() } else { t.clone() };
        let eps = rng.normal_vec(batch * latent);
        // Twice: the second step reuses the buffers of the first.
        for _ in 0..2 {
            let loss = step.forward_backward(&x, &t, &eps, kl_term).unwrap();
            let (reference, recon, grads) = autograd(&model, &x, &t, &eps, kl_term);
            assert!(
                (loss.total - reference).abs() < 1e-4 * reference.abs().max(1.0),
                "loss {} vs autograd {reference}",
                loss.total
            );
            assert!((loss.recon - recon).abs() < 1e-4 * recon.max(1.0), "recon {} vs autograd {recon}", loss.recon);
            for (name, var) in model.params().named_vars() {
                let want = grads.get(var.as_tensor()).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
                let got = step.gradient(var.as_tensor()).unwrap_or_else(|| panic!("no gradient for {name}"));
                assert_eq!(got.len(), want.len(), "{name}");
                let scale = want.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert!((g - w).abs() <= 2e-4 * scale, "{name}[{i}]: fused {g} vs autograd {w} (scale {scale})");
                }
            }
        }
    }

    #[test]
    fn gradients_match_autograd_single_thread() {
        check(3, 1, 2, false, KlTerm::MonteCarlo);
        check(3, 1, 2, false, KlTerm::Analytic { beta: 1.0 });
    }

    #[test]
    fn gradients_match_autograd_threaded_denoising_larger_latent_and_beta() {
        check(7, 3, 5, true, KlTerm::MonteCarlo);
        check(6, 2, 3, false, KlTerm::Analytic { beta: 4.0 });
    }

    #[test]
    fn only_the_conv_vae_is_fused() {
        let dev = Device::Cpu;
        assert!(FusedConvVae::new(&Model::from_name("conv-vae", None, 0, &dev).unwrap()).is_some());
        for name in ["conv-ae", "mlp-vae", "cvae"] {
            assert!(FusedConvVae::new(&Model::from_name(name, None, 0, &dev).unwrap()).is_none(), "{name}");
        }
    }

    #[test]
    fn wrong_shapes_are_errors_not_panics() {
        let model = Model::from_name("conv-vae", Some(2), 0, &Device::Cpu).unwrap();
        let mut step = FusedConvVae::new(&model).unwrap();
        let x = Tensor::zeros((4, 784), DType::F32, &Device::Cpu).unwrap();
        let err = step.forward_backward(&x, &x, &[0.0; 3], KlTerm::MonteCarlo).unwrap_err().to_string();
        assert!(err.contains("noise values"), "{err}");
        let y = Tensor::zeros((4, 10), DType::F32, &Device::Cpu).unwrap();
        assert!(step.forward_backward(&y, &y, &[0.0; 8], KlTerm::MonteCarlo).is_err());
    }
}
