//! The convolutional VAE's training step on the CPU in one pass: forward, negative ELBO
//! (single-sample or with the KL in closed form, [`KlTerm`]) and backward, without an autograd graph.
//!
//! For the [`ConvVae`](crate::models::ConvVae) of the TensorFlow tutorial (two stride-2
//! convolutions with ReLU, a dense code layer giving $\mu$ and $\log\sigma^2$,
//! $z = \mu + \sigma\odot\epsilon$, a dense ReLU layer, transposed convolutions ending in Bernoulli
//! logits $\ell$), the loss on a batch of $B$ images is, with [`KlTerm::MonteCarlo`], the
//! single-sample estimate of [`Objective::McElbo`](crate::objective::Objective::McElbo):
//!
//! $$L = \frac1B\sum_b\Big[\sum_i \mathrm{softplus}(\ell_{bi}) - x_{bi}\ell_{bi}
//! \;-\;\log\mathcal N(z_b; 0, I) \;+\; \log\mathcal N(z_b; \mu_b, \sigma_b^2)\Big].$$
//!
//! With $z - \mu = \sigma\epsilon$ the last two terms are
//! $\tfrac12\sum_j (z_j^2 - \epsilon_j^2 - \log\sigma_j^2)$, and the chain rule through $z$ and
//! the direct terms collapses to $\partial L/\partial\mu = g + z/B$ and
//! $\partial L/\partial\log\sigma^2 = \tfrac12\,\sigma\epsilon\odot(g + z/B) - \tfrac1{2B}$,
//! where $g$ is the reconstruction term's gradient with respect to $z$ (back through the decoder).
//! Feature maps are channels-last, one row per pixel ([`channels_last`](crate::ops::channels_last)).
//! Through a convolution, with `col = im2col(x)` (a row per output pixel) and the weight as
//! `[k*k*cin, cout]`: $y = \mathrm{col}\,W$, $\partial W = \mathrm{col}^\top\delta$,
//! $\partial x = \mathrm{col2im}(\delta W^\top)$; through a transposed convolution, with the weight
//! as `[cin, k*k*cout]`: $y = \mathrm{col2im}(x W)$ and, with `col = im2col(δ)`,
//! $\partial W = x^\top\mathrm{col}$, $\partial x = \mathrm{col}\,W^\top$. Each product covers
//! all the images of a thread's slice (or a chunk of them that fits the L2 cache).
//!
//! Why a fused step: under candle's autograd every node allocates its output, every gradient is
//! accumulated by a fresh zero tensor plus an addition, and bias, ReLU and their gradients are
//! separate passes over the feature maps; for this small network that bookkeeping cost as much as
//! the convolutions. Here each worker thread runs the whole step on a slice of the batch, into
//! buffers kept between steps. Why channels-last: with candle's `[C, H, W]` every tap of
//! `im2col`/`col2im` moves one short image row (7 to 28 values here) and a stride of 2 needs a
//! phase split first; that bookkeeping took a third of the step. The weights are reordered into
//! the step's layout at the start of each step and the gradients back at the end (tens of
//! thousands of values, next to millions in the feature maps).
//! With [`KlTerm::Analytic`] the last two terms are $\beta$ times the closed-form KL instead, as
//! [`Objective::Elbo`](crate::objective::Objective::Elbo) (gradients in its doc).
//! Used by [`Stepper`](crate::training::Stepper) for the conv VAE on the CPU with either ELBO:
//! `mc-elbo` through `KlTerm::MonteCarlo`, `elbo` through `KlTerm::Analytic { beta }`
//! (`VAE_FUSED=0` turns it off); the tests check loss and gradients against autograd.
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
use crate::ops::channels_last::{add_bias, col2im_hwc, column_sums, im2col_hwc, Permute3};
use crate::ops::kernels::{conv_out_len, matmul, num_threads, split, Window};
use candle_core::{DType, Tensor, TensorId};

/// The KL part of the loss.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum KlTerm {
    /// $\beta\,\mathrm{KL}(q(z|x)\,\|\,\mathcal N(0, I))$ in closed form, as
    /// [`Objective::Elbo`](crate::objective::Objective::Elbo):
    /// $\partial L/\partial\mu = g + \beta\mu/B$,
    /// $\partial L/\partial\log\sigma^2 = \tfrac12\,\sigma\epsilon\odot g + \tfrac\beta2(\sigma^2 - 1)/B$.
    Analytic {
        /// The KL's weight (1: the ELBO).
        beta: f64,
    },
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
    /// The window of the convolution: over its input image.
    fn conv_window(&self) -> Window {
        let Conv { cin, k, stride, padding, h, w, oh, ow, .. } = *self;
        Window { c: cin, h, w, k, stride, padding, oh, ow }
    }
    /// The window of the transposed convolution: over its output image, stopping at the input pixels.
    fn deconv_window(&self) -> Window {
        let Conv { cout, k, stride, padding, h, w, oh, ow, .. } = *self;
        Window { c: cout, h: oh, w: ow, k, stride, padding, oh: h, ow: w }
    }
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
    /// Per parameter, in [`Params`] order: how the step's layout is made from candle's, where
    /// they differ. The step works channels-last, so a convolution's weight is `[k*k*cin, cout]`
    /// (candle: `[cout, cin, k, k]`), a transposed convolution's `[cin, k*k*cout]` (candle:
    /// `[cin, cout, k, k]`), the code layer reads its input pixel by pixel and the fc layer (and
    /// its bias) writes its output pixel by pixel. A few tens of thousands of values per step.
    layouts: Vec<Option<Permute3>>,
    /// The parameters in the step's layout, where it differs, refreshed every step.
    permuted: Vec<Vec<f32>>,
    /// The summed gradients in candle's layout, where the step's differs.
    grads: Vec<Vec<f32>>,
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
        let (mut tensors, mut layouts) = (vec![], vec![]);
        let mut conv = |c: &Conv2d, (cin, h, w): (usize, usize, usize)| -> Option<Conv> {
            let (cout, cin_w, k, k2) = c.weight.dims4().ok()?;
            let (oh, ow) = (conv_out_len(h, k, c.stride, c.padding)?, conv_out_len(w, k, c.stride, c.padding)?);
            (cin_w == cin && k == k2).then_some(())?;
            tensors.extend([c.weight.clone(), c.bias.clone()]);
            layouts.extend([Some(Permute3 { dims: [cout, cin, k * k], axes: [2, 1, 0] }), None]);
            Some(Conv { cin, cout, k, stride: c.stride, padding: c.padding, h, w, oh, ow })
        };
        let c1 = conv(&enc.conv1, (1, 28, 28))?;
        let c2 = conv(&enc.conv2, (c1.cout, c1.oh, c1.ow))?;
        let (mut c, mut h, mut w) = dec.start;
        let mut dense = |l: &candle_nn::Linear, n_in: usize| -> Option<(usize, usize)> {
            let (n_out, n_in_w) = l.weight().dims2().ok()?;
            (n_in_w == n_in).then_some(())?;
            tensors.extend([l.weight().clone(), l.bias()?.clone()]);
            Some((n_in, n_out))
        };
        let code = dense(&enc.code, c2.out_len())?;
        let fc = dense(&dec.fc, vae.latent)?;
        (c * h * w == fc.1 && code.1 == 2 * vae.latent).then_some(())?;
        layouts.extend([
            // code: weight columns (channel, pixel) -> (pixel, channel)
            Some(Permute3 { dims: [code.1, c2.cout, c2.n_out()], axes: [0, 2, 1] }),
            None,
            // fc: weight rows and bias (channel, pixel) -> (pixel, channel)
            Some(Permute3 { dims: [c, h * w, fc.0], axes: [1, 0, 2] }),
            Some(Permute3 { dims: [c, h * w, 1], axes: [1, 0, 2] }),
        ]);
        let mut deconvs = vec![];
        for d in &dec.deconvs {
            let t: &ConvTranspose2d = d;
            let (cin, cout, k, k2) = t.weight.dims4().ok()?;
            (cin == c && k == k2).then_some(())?;
            let (oh, ow) = (t.out_len(h), t.out_len(w));
            tensors.extend([t.weight.clone(), t.bias.clone()]);
            layouts.extend([Some(Permute3 { dims: [cin, cout, k * k], axes: [0, 2, 1] }), None]);
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
            permuted: vec![vec![]; layouts.len()],
            grads: vec![vec![]; layouts.len()],
            layouts,
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
        for (((s, l), layout), buf) in guards.iter().zip(&self.layouts).zip(&mut self.permuted) {
            if let Some(p) = layout {
                let src = cpu_f32(s, l, "a parameter")?;
                grow(buf, src.len());
                p.apply(src, buf);
            }
        }
        let mut flat = Vec::with_capacity(guards.len());
        for (((s, l), layout), buf) in guards.iter().zip(&self.layouts).zip(&self.permuted) {
            flat.push(if layout.is_some() { &buf[..] } else { cpu_f32(s, l, "a parameter")? });
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
        for ((layout, out), g) in self.layouts.iter().zip(&mut self.grads).zip(&self.work[0].grads) {
            if let Some(p) = layout {
                grow(out, g.len());
                p.inverse().apply(g, out);
            }
        }
        let (recon, kl) = (recon / b as f64, kl / b as f64);
        Ok(StepLoss { total: recon + beta.map_or(1.0, f64::from) * kl, recon, kl })
    }

    /// The gradient of the last step for one of the model's parameters (by tensor identity).
    pub fn gradient(&self, param: &Tensor) -> Option<&[f32]> {
        let i = self.params.ids.iter().position(|&id| id == param.id())?;
        let n = self.params.tensors[i].elem_count();
        if self.layouts[i].is_some() {
            return self.grads.get(i).filter(|g| g.len() >= n).map(|g| &g[..n]);
        }
        self.work.first().and_then(|w| w.grads.get(i)).map(|g| &g[..n])
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
    column_sums(d, gb);
    if let Some(dx) = dx {
        matmul(nb, n_in, n_out, dx, false, mat(d, n_out), mat(w, n_in));
    }
}

/// Column matrices are built and consumed a few images at a time, so that one chunk (at most
/// this many floats, 512 KiB) stays in the core's L2 cache between the product and the scatter.
const CHUNK_FLOATS: usize = 1 << 17;

/// How many images' column matrices of `per_image` floats make one chunk (at least one).
fn chunk_images(per_image: usize, nb: usize) -> usize {
    (CHUNK_FLOATS / per_image.max(1)).clamp(1, nb.max(1))
}

impl Workspace {
    /// Forward and backward pass over `nb` images; leaves this thread's gradient sums in `grads`.
    /// Feature maps are channels-last (`[pixel, channel]`, image after image), and the weights in
    /// `v` and the gradients in `grads` are in the layouts of [`FusedConvVae::layouts`].
    fn run(&mut self, s: &Shapes, v: &Views, x: &[f32], target: &[f32], eps: &[f32], nb: usize) {
        let [c1, c2] = s.convs;
        let zl = s.latent;
        let nd = s.deconvs.len();
        for (col, c) in self.cols.iter_mut().zip(&s.convs) {
            grow(col, nb * c.n_out() * c.cin * c.k * c.k);
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
        // Scratch for one chunk: a transposed convolution's columns (forward and backward) and the
        // second encoder convolution's input-gradient columns.
        let per_image = s
            .deconvs
            .iter()
            .map(|c| c.n_in() * c.k * c.k * c.cout)
            .chain([c2.n_out() * c2.k * c2.k * c2.cin])
            .map(|n| n * chunk_images(n, nb))
            .max()
            .unwrap_or(0);
        grow(&mut self.col, per_image);
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

        // Encoder: conv + bias + ReLU, twice: the columns of all `nb` images, kept for the
        // backward pass, times the weight `[k*k*cin, cout]`.
        for (l, c) in [c1, c2].iter().enumerate() {
            let (before, after) = hs.split_at_mut(l);
            let inp: &[f32] = if l == 0 { x } else { &before[0][..nb * c.in_len()] };
            let kkc = c.k * c.k * c.cin;
            let colbuf = &mut cols[l][..nb * c.n_out() * kkc];
            for (img, ci) in inp.chunks_exact(c.in_len()).zip(colbuf.chunks_exact_mut(c.n_out() * kkc)) {
                im2col_hwc(img, c.conv_window(), ci);
            }
            let out = &mut after[0][..nb * c.out_len()];
            matmul(nb * c.n_out(), c.cout, kkc, out, false, mat(colbuf, kkc), mat(v.w[l], c.cout));
            add_bias(out, v.b[l], true);
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
        // Decoder: dense + ReLU, then the transposed convolutions (ReLU on all but the last):
        // columns = input `[pixels, cin]` times the weight `[cin, k*k*cout]`, scattered into the
        // output a chunk of images at a time.
        let z = &z[..nb * zl];
        dense_forward(v.w[3], v.b[3], s.fc, z, nb, &mut outs[0][..nb * s.fc.1]);
        relu(&mut outs[0][..nb * s.fc.1]);
        for (l, c) in s.deconvs.iter().enumerate() {
            let (before, after) = outs.split_at_mut(l + 1);
            let inp = &before[l][..nb * c.in_len()];
            let out = &mut after[0][..nb * c.out_len()];
            out.fill(0.0);
            let kkc = c.k * c.k * c.cout;
            let g = chunk_images(c.n_in() * kkc, nb);
            for (xs, ys) in inp.chunks(g * c.in_len()).zip(out.chunks_mut(g * c.out_len())) {
                let gi = xs.len() / c.in_len();
                let ci = &mut col[..gi * c.n_in() * kkc];
                matmul(gi * c.n_in(), kkc, c.cin, ci, false, mat(xs, c.cin), mat(v.w[4 + l], kkc));
                for (cj, y) in ci.chunks_exact(c.n_in() * kkc).zip(ys.chunks_exact_mut(c.out_len())) {
                    col2im_hwc(cj, c.deconv_window(), y);
                }
            }
            add_bias(out, v.b[4 + l], l + 1 < nd);
        }

        // Reconstruction term and dL/dlogits (one channel: channels-last is the image itself).
        let logits = &outs[nd][..nb * 784];
        let (mut cur, mut next) = (delta, spare);
        let mut recon_sum = 0f64;
        for ((d, l), t) in
            cur[..nb * 784].chunks_exact_mut(784).zip(logits.chunks_exact(784)).zip(target.chunks_exact(784))
        {
            recon_sum += bce_row(l, t, d, s.inv_b) as f64;
        }
        *recon = recon_sum;

        // Transposed convolutions backward: `cur` holds dL/d(output of deconv l). With
        // `col = im2col(δ)`: dW = xᵀ col (summed over the chunks), dx = col Wᵀ.
        for (l, c) in s.deconvs.iter().enumerate().rev() {
            let out = &outs[l + 1][..nb * c.out_len()];
            let d = &mut cur[..nb * c.out_len()];
            if l + 1 < nd {
                relu_grad(out, d);
            }
            let inp = &outs[l][..nb * c.in_len()];
            let kkc = c.k * c.k * c.cout;
            let (gw, gb) = grads.split_at_mut(8 + 2 * l + 1);
            let (gw, gb) = (&mut gw[8 + 2 * l][..], &mut gb[0][..c.cout]);
            column_sums(d, gb);
            let g = chunk_images(c.n_in() * kkc, nb);
            let chunks = inp
                .chunks(g * c.in_len())
                .zip(d.chunks(g * c.out_len()))
                .zip(next[..nb * c.in_len()].chunks_mut(g * c.in_len()));
            for (i, ((xs, ds), dxs)) in chunks.enumerate() {
                let gi = xs.len() / c.in_len();
                let ci = &mut col[..gi * c.n_in() * kkc];
                for (dj, cj) in ds.chunks_exact(c.out_len()).zip(ci.chunks_exact_mut(c.n_in() * kkc)) {
                    im2col_hwc(dj, c.deconv_window(), cj);
                }
                matmul(c.cin, kkc, gi * c.n_in(), gw, i > 0, mat_t(xs, c.cin), mat(ci, kkc));
                matmul(gi * c.n_in(), c.cin, kkc, dxs, false, mat(ci, kkc), mat_t(v.w[4 + l], kkc));
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
        // dW = colᵀ δ over the whole slice; dx = col2im(δ Wᵀ), a chunk at a time.
        for (l, c) in [c1, c2].iter().enumerate().rev() {
            let d = &mut cur[..nb * c.out_len()];
            relu_grad(&hs[l][..nb * c.out_len()], d);
            let kkc = c.k * c.k * c.cin;
            let (gw, gb) = grads.split_at_mut(2 * l + 1);
            let (gw, gb) = (&mut gw[2 * l][..], &mut gb[0][..c.cout]);
            column_sums(d, gb);
            let colbuf = &cols[l][..nb * c.n_out() * kkc];
            matmul(kkc, c.cout, nb * c.n_out(), gw, false, mat_t(colbuf, kkc), mat(d, c.cout));
            if l > 0 {
                // The first layer's input is data and needs no gradient.
                let g = chunk_images(c.n_out() * kkc, nb);
                let dx = &mut next[..nb * c.in_len()];
                dx.fill(0.0);
                for (ds, dxs) in d.chunks(g * c.out_len()).zip(dx.chunks_mut(g * c.in_len())) {
                    let gi = ds.len() / c.out_len();
                    let scratch = &mut col[..gi * c.n_out() * kkc];
                    matmul(gi * c.n_out(), kkc, c.cout, scratch, false, mat(ds, c.cout), mat_t(v.w[l], c.cout));
                    for (sj, xj) in scratch.chunks_exact(c.n_out() * kkc).zip(dxs.chunks_exact_mut(c.in_len())) {
                        col2im_hwc(sj, c.conv_window(), xj);
                    }
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
    ) -> (f64, f64, f64, candle_core::backprop::GradStore) {
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
        // The KL part unweighted: the analytic KL, or the Monte Carlo ELBO less the reconstruction.
        let kl = match kl_term {
            KlTerm::MonteCarlo => total.to_scalar::<f32>().unwrap() as f64 - recon,
            KlTerm::Analytic { .. } => {
                kl_standard_normal(&q.mean, &lv).unwrap().mean_all().unwrap().to_scalar::<f32>().unwrap() as f64
            }
        };
        (total.to_scalar::<f32>().unwrap() as f64, recon, kl, total.backward().unwrap())
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
            let (reference, recon, kl, grads) = autograd(&model, &x, &t, &eps, kl_term);
            assert!(
                (loss.total - reference).abs() < 1e-4 * reference.abs().max(1.0),
                "loss {} vs autograd {reference}",
                loss.total
            );
            assert!((loss.recon - recon).abs() < 1e-4 * recon.max(1.0), "recon {} vs autograd {recon}", loss.recon);
            assert!(
                (loss.kl - kl).abs() < 1e-3 * reference.abs().max(1.0),
                "kl {} vs autograd {kl} ({kl_term:?})",
                loss.kl
            );
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
    fn image_shaped_batches_step_as_their_rows() {
        // The step read rows only (`dims2`): an image-shaped batch was an "unexpected rank" error.
        let model = Model::from_name("conv-vae", Some(2), 0, &Device::Cpu).unwrap();
        let mut step = FusedConvVae::new(&model).unwrap();
        let mut rng = Rng::new(4);
        let x = rng.rand((4, 784), 0.0, 1.0, &Device::Cpu).unwrap();
        let img = x.reshape((4, 1, 28, 28)).unwrap();
        let eps = rng.normal_vec(8);
        let rows = step.forward_backward(&x, &x, &eps, KlTerm::MonteCarlo).unwrap();
        let grads: Vec<Vec<f32>> =
            model.params().trainable_vars().iter().map(|v| step.gradient(v.as_tensor()).unwrap().to_vec()).collect();
        let shaped = step.forward_backward(&img, &img.squeeze(1).unwrap(), &eps, KlTerm::MonteCarlo).unwrap();
        assert_eq!((shaped.total, shaped.recon, shaped.kl), (rows.total, rows.recon, rows.kl));
        for (v, g) in model.params().trainable_vars().iter().zip(&grads) {
            assert_eq!(step.gradient(v.as_tensor()).unwrap(), &g[..]);
        }
        let odd = x.reshape((4, 1, 56, 14)).unwrap();
        let e = step.forward_backward(&odd, &odd, &eps, KlTerm::MonteCarlo).unwrap_err().to_string();
        assert!(e.contains("the input batch: expected [B, 784] or [B, 1, 28, 28], got [4, 1, 56, 14]"), "{e}");
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
