//! Losses and likelihood estimators on `[B, D]` tensors, one row per example, each returning
//! one value per example (`[B]`): sums over pixels or latent dimensions, no reduction over the
//! batch (the trainer takes the mean). Any other rank is an error: summing the last dimension
//! of a `[B, 1, 28, 28]` batch would give `[B, 1, 28]`, and its mean would be 28 times too
//! small; flatten images with `.flatten_from(1)?` first. [`log_mean_exp`] is the exception: it
//! reduces the dimension it is given, of a tensor of any rank.
//!
//! - Bernoulli log-likelihood through a numerically stable binary cross-entropy on logits:
//!   $\mathrm{BCE}(\ell, x) = \max(\ell, 0) - \ell x + \log(1 + e^{-|\ell|})$, finite for
//!   $|\ell| = 10^4$ where the naive $-x\log\mathrm{sigmoid}(\ell) - (1-x)\log(1-\mathrm{sigmoid}(\ell))$ is not.
//! - Squared error $\sum_i (\hat x_i - x_i)^2$ and the Gaussian log-likelihood
//!   $\log \mathcal N(x; \mu, \sigma^2) = -\tfrac12 \sum_i [(x_i-\mu_i)^2 e^{-\log\sigma^2_i} + \log\sigma^2_i + \log 2\pi]$.
//! - Analytic $\mathrm{KL}(\mathcal N(\mu, \sigma^2) \,\|\, \mathcal N(0, I)) = -\tfrac12 \sum_j (1 + \log\sigma^2_j - \mu_j^2 - \sigma^2_j)$.
//! - The single-sample Monte Carlo ELBO of the TensorFlow tutorial:
//!   $\log p(x|z) + \log p(z) - \log q(z|x)$, $z \sim q(z|x)$.
//! - [`bernoulli_entropy`] $\sum_i H(p_i)$, the BCE floor for grey-level targets.
//! - [`log_mean_exp`] for importance-weighted bounds: $\log \frac1K \sum_k e^{a_k}$, stably.
//!
//! ```
//! # fn main() -> vae_core::Result<()> {
//! use candle_core::{Device, Tensor};
//! use vae_core::losses::bce_with_logits;
//! let logits = Tensor::new(&[[1e4f32, -1e4, 0.0]], &Device::Cpu)?;
//! let x = Tensor::new(&[[1f32, 0.0, 1.0]], &Device::Cpu)?;
//! let l = bce_with_logits(&logits, &x)?.to_vec1::<f32>()?;
//! assert!((l[0] - std::f32::consts::LN_2).abs() < 1e-6); // only the 0-logit pixel costs ln 2
//! # Ok(()) }
//! ```
use candle_core::{CpuStorage, CustomOp2, CustomOp3, DType, Layout, Result, Shape, Tensor, D};

/// $\log 2\pi$, the constant of the Gaussian log-density.
pub const LOG_2PI: f64 = 1.837_877_066_409_345_3;

/// Refuses anything but `[B, D]` rows, naming the loss and the fix.
fn rows(loss: &str, t: &Tensor) -> Result<()> {
    if t.rank() != 2 {
        candle_core::bail!(
            "{loss}: expected [B, D] tensors, one row per example, got {:?}; flatten images with `.flatten_from(1)?`",
            t.dims()
        );
    }
    Ok(())
}

/// Stable binary cross-entropy with logits, summed over pixels: $-\log p(x|\ell)$ per row of
/// `[B, D]` logits and targets, `[B]`.
///
/// On the CPU this is one fused pass (forward and backward) instead of nine tensor
/// operations; elsewhere it is composed from candle's operations.
pub fn bce_with_logits(logits: &Tensor, target: &Tensor) -> Result<Tensor> {
    rows("bce_with_logits", logits)?;
    rows("bce_with_logits", target)?;
    // The fused op reads whole rows from contiguous memory; a row of 0 pixels costs 0 anyway.
    if logits.device().is_cpu()
        && logits.dtype() == DType::F32
        && target.dtype() == DType::F32
        && logits.dims() == target.dims()
        // Rows of no pixels have no chunks to sum: the fused op would return too few values.
        && logits.dims().last().is_some_and(|&d| d > 0)
    {
        return logits.contiguous()?.apply_op2(&target.contiguous()?, FusedBce);
    }
    bce_with_logits_composed(logits, target)
}

/// The same loss composed from candle operations (any device; the reference for the fused op).
pub fn bce_with_logits_composed(logits: &Tensor, target: &Tensor) -> Result<Tensor> {
    rows("bce_with_logits_composed", logits)?;
    rows("bce_with_logits_composed", target)?;
    let pos = logits.relu()?;
    let softplus_neg_abs = (logits.abs()?.neg()?.exp()? + 1.0)?.log()?;
    (pos - logits.mul(target)?)?.add(&softplus_neg_abs)?.sum(D::Minus1)
}

/// Squared error $\sum_i (\hat x_i - x_i)^2$ per row of `[B, D]` predictions and targets, `[B]`.
pub fn squared_error(pred: &Tensor, target: &Tensor) -> Result<Tensor> {
    rows("squared_error", pred)?;
    rows("squared_error", target)?;
    (pred - target)?.sqr()?.sum(D::Minus1)
}

/// $\log \mathcal N(x; \mu, \mathrm{diag}\, e^{\log\sigma^2})$ per row of `[B, D]` tensors, `[B]`
/// (the TF tutorial's `log_normal_pdf`).
pub fn log_normal_pdf(x: &Tensor, mean: &Tensor, logvar: &Tensor) -> Result<Tensor> {
    rows("log_normal_pdf", x)?;
    let d = (x - mean)?.sqr()?.mul(&logvar.neg()?.exp()?)?;
    ((d + logvar)? + LOG_2PI)?.sum(D::Minus1)? * -0.5
}

/// $\log \mathcal N(x; 0, I)$ per row of `[B, D]` codes, `[B]`.
pub fn log_standard_normal(x: &Tensor) -> Result<Tensor> {
    rows("log_standard_normal", x)?;
    (x.sqr()? + LOG_2PI)?.sum(D::Minus1)? * -0.5
}

/// Analytic KL divergence from $\mathcal N(\mu, \sigma^2)$ to $\mathcal N(0, I)$ per row of
/// `[B, latent]` means and log-variances, summed over latent dimensions, `[B]`.
pub fn kl_standard_normal(mean: &Tensor, logvar: &Tensor) -> Result<Tensor> {
    rows("kl_standard_normal", mean)?;
    let t = ((logvar + 1.0)? - mean.sqr()?)?.sub(&logvar.exp()?)?;
    t.sum(D::Minus1)? * -0.5
}

/// Single-sample Monte Carlo estimate of the ELBO per example, `[B]`:
/// $\log p(x|z) + \log p(z) - \log q(z|x)$ with $z$ drawn from $q(z|x)$ (TF CVAE tutorial);
/// `logits` and `x` are `[B, D]`, `z`, `mean` and `logvar` `[B, latent]`.
pub fn mc_elbo(logits: &Tensor, x: &Tensor, z: &Tensor, mean: &Tensor, logvar: &Tensor) -> Result<Tensor> {
    let log_px_z = bce_with_logits(logits, x)?.neg()?;
    let log_pz = log_standard_normal(z)?;
    let log_qz_x = log_normal_pdf(z, mean, logvar)?;
    (log_px_z + log_pz)? - log_qz_x
}

/// Entropy of independent Bernoulli pixels with means `p` (`[B, D]`), per row, `[B]`:
/// $\sum_i H(p_i)$ with $H(p) = -p\log p - (1-p)\log(1-p)$ and $0 \log 0 = 0$.
///
/// This is the smallest binary cross-entropy any decoder can reach on grey-level targets `p`
/// ($\mathrm{BCE}(\ell, p) = H(p) + \mathrm{KL}(p\,\|\,\mathrm{sigmoid}(\ell))$), i.e. the floor under the
/// "negative log-likelihood" of a Bernoulli model trained on grey levels. A row with a value
/// outside $[0, 1]$ (0..255 bytes, say) or a NaN gives NaN: no entropy is defined there.
pub fn bernoulli_entropy(p: &Tensor) -> Result<Tensor> {
    rows("bernoulli_entropy", p)?;
    // x log x as x * ln(x + [x == 0]): exactly 0 at x = 0 (0 * ln 1), and the logarithm of a
    // negative x (p < 0, or 1 - p < 0) is NaN, as the entropy there is undefined.
    let x_log_x = |x: &Tensor| -> Result<Tensor> { x.mul(&(x + x.eq(0.0)?.to_dtype(x.dtype())?)?.log()?) };
    let q = p.affine(-1.0, 1.0)?;
    (x_log_x(p)? + x_log_x(&q)?)?.sum(D::Minus1)?.neg()
}

/// $\log \frac1K \sum_k e^{a_{\cdot k}}$ over `dim` of a tensor of any rank (which loses that
/// dimension), computed as $m + \log \frac1K\sum_k e^{a_k - m}$ with $m = \max_k a_k$ so that
/// no exponential overflows.
pub fn log_mean_exp(a: &Tensor, dim: usize) -> Result<Tensor> {
    if a.dim(dim)? == 0 {
        candle_core::bail!(
            "log_mean_exp: dimension {dim} of shape {:?} is empty; the mean of no terms is undefined",
            a.dims()
        )
    }
    let k = a.dim(dim)? as f64;
    let m = a.max_keepdim(dim)?;
    let s = a.broadcast_sub(&m)?.exp()?.sum_keepdim(dim)?.log()?;
    (s + m)?.affine(1.0, -k.ln())?.squeeze(dim)
}

use crate::ops::f32_slice;

/// Per-row $\sum_i \max(\ell_i,0) - \ell_i x_i + \log(1+e^{-|\ell_i|})$ in one pass.
struct FusedBce;

impl CustomOp2 for FusedBce {
    fn name(&self) -> &'static str {
        "fused-bce-with-logits"
    }
    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let (l1c, l2c) = (l1.is_contiguous(), l2.is_contiguous());
        if !l1c || !l2c {
            candle_core::bail!("fused bce: inputs must be contiguous");
        }
        let logits = f32_slice(s1, l1, "fused bce: logits")?;
        let target = f32_slice(s2, l2, "fused bce: target")?;
        let dims = l1.dims();
        let d = *dims.last().unwrap_or(&1);
        let out: Vec<f32> = logits
            .chunks_exact(d.max(1))
            .zip(target.chunks_exact(d.max(1)))
            .map(|(l, t)| {
                let mut acc = 0f32;
                for (&l, &t) in l.iter().zip(t) {
                    acc += l.max(0.0) - l * t + (-l.abs()).exp().ln_1p();
                }
                acc
            })
            .collect();
        Ok((CpuStorage::F32(out), Shape::from(&dims[..dims.len() - 1])))
    }
    fn bwd(
        &self,
        logits: &Tensor,
        target: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let logits = logits.contiguous()?;
        let target = target.contiguous()?;
        let g = grad.contiguous()?;
        let dl = logits.apply_op3_no_bwd(&target, &g, &FusedBceGrad)?;
        // The target is data almost always; its gradient (-l * g) only when something needs it.
        let dt = if target.track_op() { Some(logits.neg()?.broadcast_mul(&g.unsqueeze(D::Minus1)?)?) } else { None };
        Ok((Some(dl), dt))
    }
}

/// $\partial/\partial\ell_i = (\mathrm{sigmoid}(\ell_i) - x_i)\, g_{\mathrm{row}}$ in one pass.
struct FusedBceGrad;

impl CustomOp3 for FusedBceGrad {
    fn name(&self) -> &'static str {
        "fused-bce-with-logits-grad"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let logits = f32_slice(s1, l1, "fused bce: logits")?;
        let target = f32_slice(s2, l2, "fused bce: target")?;
        let g = f32_slice(s3, l3, "fused bce: grad")?;
        let d = *l1.dims().last().unwrap_or(&1);
        let mut out = vec![0f32; logits.len()];
        for (r, ((o, l), t)) in
            out.chunks_exact_mut(d).zip(logits.chunks_exact(d)).zip(target.chunks_exact(d)).enumerate()
        {
            let gr = g[r];
            for ((o, &l), &t) in o.iter_mut().zip(l).zip(t) {
                *o = (1.0 / (1.0 + (-l).exp()) - t) * gr;
            }
        }
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use candle_core::{Device, Var};

    fn t(v: &[f32]) -> Tensor {
        Tensor::new(v, &Device::Cpu).unwrap().unsqueeze(0).unwrap()
    }
    fn scalar(x: Tensor) -> f64 {
        x.to_vec1::<f32>().unwrap()[0] as f64
    }

    #[test]
    fn bernoulli_entropy_is_the_bce_floor_and_zero_at_binary_pixels() {
        let p = [0.0f32, 1.0, 0.5, 0.1, 0.93];
        let h = |p: f64| if p == 0.0 || p == 1.0 { 0.0 } else { -p * p.ln() - (1.0 - p) * (1.0 - p).ln() };
        let want: f64 = p.iter().map(|&x| h(x as f64)).sum();
        let got = scalar(bernoulli_entropy(&t(&p)).unwrap());
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
        assert!((want - (std::f64::consts::LN_2 + h(0.1f32 as f64) + h(0.93f32 as f64))).abs() < 1e-12);
        // The best decoder, logits = logit(p), reaches exactly the entropy; any other pays more.
        let inner = [0.5f32, 0.1, 0.93];
        let logit: Vec<f32> = inner.iter().map(|&q| (q / (1.0 - q)).ln()).collect();
        let floor = scalar(bernoulli_entropy(&t(&inner)).unwrap());
        assert!((scalar(bce_with_logits(&t(&logit), &t(&inner)).unwrap()) - floor).abs() < 1e-5);
        let off: Vec<f32> = logit.iter().map(|l| l + 0.3).collect();
        assert!(scalar(bce_with_logits(&t(&off), &t(&inner)).unwrap()) > floor + 1e-3);
        let rows = bernoulli_entropy(&Tensor::new(&[[0.5f32, 0.5], [0.0, 1.0]], &Device::Cpu).unwrap()).unwrap();
        let rows = rows.to_vec1::<f32>().unwrap();
        assert!((rows[0] as f64 - 2.0 * std::f64::consts::LN_2).abs() < 1e-6 && rows[1] == 0.0, "{rows:?}");
    }

    #[test]
    fn bernoulli_entropy_is_nan_where_a_pixel_is_not_a_probability() {
        // The clamp inside x log x once kept these finite: 0..255 bytes gave -9e6 "nats".
        let rows = Tensor::new(&[[0.5f32, 1.5], [-0.1, 0.5], [0.5, f32::NAN], [0.0, 1.0]], &Device::Cpu).unwrap();
        let h = bernoulli_entropy(&rows).unwrap().to_vec1::<f32>().unwrap();
        assert!(h[..3].iter().all(|v| v.is_nan()) && h[3] == 0.0, "{h:?}");
    }

    #[test]
    fn losses_take_rows_only_and_say_how_to_flatten_images() {
        // Summing the last dimension of image-shaped input gave [B, 1, 28] and no error.
        let dev = Device::Cpu;
        let x = Rng::new(1).rand((4, 1, 28, 28), 0.0, 1.0, &dev).unwrap();
        let l = Rng::new(2).randn((4, 1, 28, 28), &dev).unwrap();
        let results = [
            ("bce_with_logits", bce_with_logits(&l, &x)),
            ("bce_with_logits_composed", bce_with_logits_composed(&l, &x)),
            ("squared_error", squared_error(&l, &x)),
            ("log_normal_pdf", log_normal_pdf(&l, &x, &x)),
            ("log_standard_normal", log_standard_normal(&l)),
            ("kl_standard_normal", kl_standard_normal(&l, &x)),
            ("bernoulli_entropy", bernoulli_entropy(&x)),
            ("bce_with_logits", bce_with_logits(&l.flatten_all().unwrap(), &x.flatten_all().unwrap())),
        ];
        for (name, r) in results {
            let e = r.unwrap_err().to_string();
            assert!(e.starts_with(&format!("{name}: expected [B, D]")) && e.contains(".flatten_from(1)"), "{e}");
        }
        let flat = bce_with_logits(&l.flatten_from(1).unwrap(), &x.flatten_from(1).unwrap()).unwrap();
        assert_eq!(flat.dims(), &[4]);
    }

    #[test]
    fn fused_bce_takes_views_and_empty_rows() {
        let dev = Device::Cpu;
        let l = Rng::new(2).randn((6, 5), &dev).unwrap();
        let x = Rng::new(1).rand((6, 5), 0.0, 1.0, &dev).unwrap();
        // A transpose and a column slice are not contiguous: the fused op refused them.
        for (a, b) in [(l.t().unwrap(), x.t().unwrap()), (l.narrow(1, 1, 3).unwrap(), x.narrow(1, 1, 3).unwrap())] {
            let fused = bce_with_logits(&a, &b).unwrap().to_vec1::<f32>().unwrap();
            let composed = bce_with_logits_composed(&a, &b).unwrap().to_vec1::<f32>().unwrap();
            assert_eq!(fused.len(), a.dim(0).unwrap());
            for (p, q) in fused.iter().zip(&composed) {
                assert!((p - q).abs() < 1e-5, "{p} vs {q}");
            }
        }
        // Rows of no pixels cost nothing (the fused op built a 0-element [3] tensor, and reading it panicked).
        let empty = Tensor::zeros((3, 0), DType::F32, &dev).unwrap();
        assert_eq!(bce_with_logits(&empty, &empty).unwrap().to_vec1::<f32>().unwrap(), vec![0.0; 3]);
    }

    #[test]
    fn bce_matches_the_naive_formula_where_that_is_finite_and_stays_finite_beyond() {
        let logits = [-5.0f32, -0.3, 0.0, 0.7, 4.0];
        let xs = [0.0f32, 1.0, 0.4, 1.0, 0.2];
        let naive: f64 = logits
            .iter()
            .zip(xs)
            .map(|(&l, x)| {
                let p = 1.0 / (1.0 + (-(l as f64)).exp());
                -(x as f64) * p.ln() - (1.0 - x as f64) * (1.0 - p).ln()
            })
            .sum();
        assert!((scalar(bce_with_logits(&t(&logits), &t(&xs)).unwrap()) - naive).abs() < 1e-5);
        let extreme = bce_with_logits(&t(&[1e4, -1e4, 1e4, -1e4]), &t(&[1.0, 0.0, 0.0, 1.0])).unwrap();
        let v = scalar(extreme);
        assert!(v.is_finite() && (v - 2e4).abs() < 1.0, "{v}");
    }

    #[test]
    fn kl_and_log_normal_match_closed_forms() {
        // KL(N(1, e^0.5) || N(0,1)) per dim = 0.5 (e^0.5 + 1 - 1 - 0.5)
        let kl = scalar(kl_standard_normal(&t(&[1.0, 0.0]), &t(&[0.5, 0.0])).unwrap());
        let expect = 0.5 * ((0.5f64).exp() + 1.0 - 1.0 - 0.5);
        assert!((kl - expect).abs() < 1e-6, "{kl} {expect}");
        // log N(2; 1, 4) = -0.5 ((1/4) + ln 4 + ln 2pi)
        let lp = scalar(log_normal_pdf(&t(&[2.0]), &t(&[1.0]), &t(&[(4.0f32).ln()])).unwrap());
        let expect = -0.5 * (0.25 + 4f64.ln() + LOG_2PI);
        assert!((lp - expect).abs() < 1e-6);
        assert!((scalar(log_standard_normal(&t(&[0.0])).unwrap()) + 0.5 * LOG_2PI).abs() < 1e-6);
    }

    #[test]
    fn mc_elbo_averages_to_the_analytic_elbo() {
        // E_q[log p(z) - log q(z|x)] = -KL: check by brute force over many samples.
        let mut rng = Rng::new(3);
        let n = 50_000;
        let mean =
            Tensor::new(&[0.7f32, -1.2], &Device::Cpu).unwrap().broadcast_as((n, 2)).unwrap().contiguous().unwrap();
        let logvar =
            Tensor::new(&[-0.4f32, 0.3], &Device::Cpu).unwrap().broadcast_as((n, 2)).unwrap().contiguous().unwrap();
        let eps = rng.randn((n, 2), &Device::Cpu).unwrap();
        let z = (&mean + (&logvar * 0.5).unwrap().exp().unwrap().mul(&eps).unwrap()).unwrap();
        let logits = Tensor::zeros((n, 3), candle_core::DType::F32, &Device::Cpu).unwrap();
        let x = Tensor::ones((n, 3), candle_core::DType::F32, &Device::Cpu).unwrap();
        let elbo =
            mc_elbo(&logits, &x, &z, &mean, &logvar).unwrap().mean_all().unwrap().to_scalar::<f32>().unwrap() as f64;
        let kl = kl_standard_normal(&mean.narrow(0, 0, 1).unwrap(), &logvar.narrow(0, 0, 1).unwrap()).unwrap();
        let analytic = -3.0 * std::f64::consts::LN_2 - scalar(kl);
        assert!((elbo - analytic).abs() < 0.02, "{elbo} vs {analytic}");
    }

    #[test]
    fn bce_of_rows_without_pixels_is_zero_per_row() {
        let empty = Tensor::zeros((3, 0), DType::F32, &Device::Cpu).unwrap();
        assert_eq!(bce_with_logits(&empty, &empty).unwrap().to_vec1::<f32>().unwrap(), [0.0; 3]);
    }

    #[test]
    fn log_mean_exp_is_stable_and_exact() {
        let a = Tensor::new(&[[1000.0f32, 1000.0], [-1000.0, -1000.0 + (3.0f32).ln()]], &Device::Cpu).unwrap();
        let v = log_mean_exp(&a, 1).unwrap().to_vec1::<f32>().unwrap();
        assert!((v[0] - 1000.0).abs() < 1e-3);
        assert!((v[1] as f64 - (-1000.0 + (2.0f64).ln())).abs() < 1e-3, "{v:?}");
        let e = log_mean_exp(&Tensor::zeros((3, 0), DType::F32, &Device::Cpu).unwrap(), 1).unwrap_err().to_string();
        assert!(e.contains("log_mean_exp: dimension 1 of shape [3, 0] is empty"), "{e}");
    }

    #[test]
    fn gradients_match_finite_differences() {
        let dev = Device::Cpu;
        let l0 = [0.3f32, -1.2, 2.0];
        let x = t(&[1.0, 0.0, 0.6]);
        let mean0 = [0.5f32, -0.4];
        let lv0 = [0.2f32, -0.7];
        let f = |l: &[f32], m: &[f32], lv: &[f32]| -> f64 {
            scalar((bce_with_logits(&t(l), &x).unwrap() + kl_standard_normal(&t(m), &t(lv)).unwrap()).unwrap())
        };
        let lvar = Var::from_tensor(&t(&l0)).unwrap();
        let mvar = Var::from_tensor(&t(&mean0)).unwrap();
        let vvar = Var::from_tensor(&t(&lv0)).unwrap();
        let loss = (bce_with_logits(lvar.as_tensor(), &x).unwrap()
            + kl_standard_normal(mvar.as_tensor(), vvar.as_tensor()).unwrap())
        .unwrap();
        let grads = loss.sum_all().unwrap().backward().unwrap();
        let h = 1e-2f32;
        let check = |var: &Var, base: &[f32], which: usize| {
            let g = grads.get(var).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
            for i in 0..base.len() {
                let mut p = base.to_vec();
                let mut q = base.to_vec();
                p[i] += h;
                q[i] -= h;
                let (fp, fq) = match which {
                    0 => (f(&p, &mean0, &lv0), f(&q, &mean0, &lv0)),
                    1 => (f(&l0, &p, &lv0), f(&l0, &q, &lv0)),
                    _ => (f(&l0, &mean0, &p), f(&l0, &mean0, &q)),
                };
                let fd = (fp - fq) / (2.0 * h as f64);
                assert!((fd - g[i] as f64).abs() < 2e-3, "param {which}[{i}]: fd {fd} vs autograd {}", g[i]);
            }
        };
        check(&lvar, &l0, 0);
        check(&mvar, &mean0, 1);
        check(&vvar, &lv0, 2);
        let _ = dev;
    }

    #[test]
    fn fused_bce_matches_the_composed_loss_and_its_gradient() {
        let mut rng = Rng::new(11);
        let l = Var::from_tensor(&(rng.randn((5, 33), &Device::Cpu).unwrap() * 4.0).unwrap()).unwrap();
        let x = rng.rand((5, 33), 0.0, 1.0, &Device::Cpu).unwrap();
        let w = rng.randn(5, &Device::Cpu).unwrap();
        let a = bce_with_logits(l.as_tensor(), &x).unwrap();
        let b = bce_with_logits_composed(l.as_tensor(), &x).unwrap();
        let (av, bv) = (a.to_vec1::<f32>().unwrap(), b.to_vec1::<f32>().unwrap());
        for (p, q) in av.iter().zip(&bv) {
            assert!((p - q).abs() < 1e-4 * q.abs().max(1.0), "{p} vs {q}");
        }
        // Gradient of a weighted sum of the per-row losses with respect to the logits.
        let grad = |loss: &Tensor| -> candle_core::Result<Vec<f32>> {
            loss.mul(&w)?.sum_all()?.backward()?.get(&l).expect("logits get a gradient").flatten_all()?.to_vec1::<f32>()
        };
        let (ga, gb) = (grad(&a).unwrap(), grad(&b).unwrap());
        for (p, q) in ga.iter().zip(&gb) {
            assert!((p - q).abs() < 1e-5, "{p} vs {q}");
        }
    }
}
