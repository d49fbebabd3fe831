//! Adam (Kingma & Ba, 2015), updating each parameter in one fused pass on the CPU.
//!
//! $m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t$, $v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2$,
//! $\theta_t = \theta_{t-1} - \eta\, \hat m_t / (\sqrt{\hat v_t} + \epsilon)$ with
//! $\hat m_t = m_t/(1-\beta_1^t)$, $\hat v_t = v_t/(1-\beta_2^t)$: PyTorch's `Adam`, and
//! candle's `AdamW` with weight decay 0. candle's version spends about a dozen tensor
//! operations (each allocating a parameter-sized buffer) per parameter and step; here the
//! moments live in plain vectors and one loop updates moments and weights in place. On other
//! devices it falls back to candle's `AdamW` (weight decay 0).
//!
//! ```
//! # fn main() -> vae_core::Result<()> {
//! use candle_core::{Device, Tensor, Var};
//! use candle_nn::Optimizer;
//! use vae_core::optim::Adam;
//! let w = Var::new(&[3f32, -2.0], &Device::Cpu)?;
//! let mut opt = Adam::new(vec![w.clone()], 0.1)?;
//! for _ in 0..200 {
//!     opt.backward_step(&w.as_tensor().sqr()?.sum_all()?)?;
//! }
//! assert!(w.as_tensor().abs()?.max_all()?.to_scalar::<f32>()? < 0.05);
//! # Ok(()) }
//! ```
use candle_core::backprop::GradStore;
use candle_core::{CpuStorage, InplaceOp1, InplaceOp2, Layout, Result, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use std::sync::Mutex;

/// Adam (Kingma and Ba) with PyTorch's defaults ($\beta_1 = 0.9$, $\beta_2 = 0.999$,
/// $\varepsilon = 10^{-8}$, no weight decay); see the module doc.
pub struct Adam {
    vars: Vec<Var>,
    moments: Vec<Mutex<(Vec<f32>, Vec<f32>)>>,
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    t: i32,
    fallback: Option<AdamW>,
}

impl Adam {
    /// An optimiser for `vars` with learning rate `lr` (as `Optimizer::new`).
    pub fn new(vars: Vec<Var>, lr: f64) -> Result<Self> {
        <Self as Optimizer>::new(vars, lr)
    }
}

/// Adam's constants for one step (bias corrections included).
#[derive(Clone, Copy)]
struct Hyper {
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    c1: f32,
    c2: f32,
}

/// Updates moments and weights in place; large tensors are split over the worker threads.
fn update(w: &mut [f32], g: &[f32], moments: &Mutex<(Vec<f32>, Vec<f32>)>, h: Hyper) -> Result<()> {
    if w.len() != g.len() {
        candle_core::bail!("adam: a gradient of {} values for a parameter of {}", g.len(), w.len());
    }
    let mut guard = moments.lock().unwrap_or_else(|e| e.into_inner());
    let (m, v) = &mut *guard;
    if m.len() != w.len() {
        *m = vec![0.0; w.len()];
        *v = vec![0.0; w.len()];
    }
    let threads = if w.len() >= 1 << 16 { crate::ops::kernels::num_threads() } else { 1 };
    let chunk = w.len().div_ceil(threads).max(1);
    if threads <= 1 {
        update_chunk(w, g, m, v, h);
        return Ok(());
    }
    std::thread::scope(|s| {
        let mut parts = w.chunks_mut(chunk).zip(g.chunks(chunk)).zip(m.chunks_mut(chunk)).zip(v.chunks_mut(chunk));
        let first = parts.next();
        for (((w, g), m), v) in parts {
            s.spawn(move || update_chunk(w, g, m, v, h));
        }
        if let Some((((w, g), m), v)) = first {
            update_chunk(w, g, m, v, h);
        }
    });
    Ok(())
}

widest_simd! {
    fn update_chunk(w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], h: Hyper) -> () {
        let (b1, b2) = (h.beta1, h.beta2);
        let step = h.lr / h.c1;
        let inv_c2 = 1.0 / h.c2;
        let eps = h.eps;
        // Zipped iterators (no indexing) let the compiler vectorise the loop.
        for (((w, &g), m), v) in w.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
            *m = b1 * *m + (1.0 - b1) * g;
            *v = b2 * *v + (1.0 - b2) * g * g;
            *w -= step * *m / ((*v * inv_c2).sqrt() + eps);
        }
    }
}

/// The update with the gradient as a tensor (autograd).
struct Update<'a> {
    moments: &'a Mutex<(Vec<f32>, Vec<f32>)>,
    hyper: Hyper,
}

impl InplaceOp2 for Update<'_> {
    fn name(&self) -> &'static str {
        "fused-adam"
    }
    fn cpu_fwd(&self, s1: &mut CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<()> {
        let (w, g) = match (s1, s2, l1.contiguous_offsets(), l2.contiguous_offsets()) {
            (CpuStorage::F32(w), CpuStorage::F32(g), Some((a1, b1)), Some((a2, b2))) => (&mut w[a1..b1], &g[a2..b2]),
            _ => candle_core::bail!("fused adam: parameters and gradients must be contiguous f32"),
        };
        update(w, g, self.moments, self.hyper)
    }
}

/// The update with the gradient as a slice (the fused VAE step).
struct SliceUpdate<'a> {
    grad: &'a [f32],
    moments: &'a Mutex<(Vec<f32>, Vec<f32>)>,
    hyper: Hyper,
}

impl InplaceOp1 for SliceUpdate<'_> {
    fn name(&self) -> &'static str {
        "fused-adam"
    }
    fn cpu_fwd(&self, s: &mut CpuStorage, l: &Layout) -> Result<()> {
        let w = match (s, l.contiguous_offsets()) {
            (CpuStorage::F32(w), Some((a, b))) => &mut w[a..b],
            _ => candle_core::bail!("fused adam: parameters must be contiguous f32"),
        };
        update(w, self.grad, self.moments, self.hyper)
    }
}

impl Adam {
    fn next_hyper(&mut self) -> Hyper {
        self.t += 1;
        let c1 = 1.0 - self.beta1.powi(self.t);
        let c2 = 1.0 - self.beta2.powi(self.t);
        Hyper {
            lr: self.lr as f32,
            beta1: self.beta1 as f32,
            beta2: self.beta2 as f32,
            eps: self.eps as f32,
            c1: c1 as f32,
            c2: c2 as f32,
        }
    }

    /// One step with gradients given as plain slices, `grad(var)` returning each variable's
    /// (in the variable's row-major order), or `None` to leave it unchanged. CPU f32 only.
    pub fn step_with<'g>(&mut self, grad: impl Fn(&Var) -> Option<&'g [f32]>) -> Result<()> {
        if self.fallback.is_some() {
            candle_core::bail!("Adam::step_with needs f32 parameters on the CPU; use backward_step on other devices");
        }
        let hyper = self.next_hyper();
        for (var, moments) in self.vars.iter().zip(&self.moments) {
            if let Some(g) = grad(var) {
                var.as_tensor().inplace_op1(&SliceUpdate { grad: g, moments, hyper })?;
            }
        }
        Ok(())
    }
}

impl Optimizer for Adam {
    type Config = f64;

    fn new(vars: Vec<Var>, lr: f64) -> Result<Self> {
        let all_cpu_f32 = vars.iter().all(|v| v.device().is_cpu() && v.dtype() == candle_core::DType::F32);
        let fallback = if all_cpu_f32 {
            None
        } else {
            Some(AdamW::new(vars.clone(), ParamsAdamW { lr, weight_decay: 0.0, ..Default::default() })?)
        };
        let moments = vars.iter().map(|_| Mutex::new((vec![], vec![]))).collect();
        Ok(Self { vars, moments, lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, t: 0, fallback })
    }

    fn step(&mut self, grads: &GradStore) -> Result<()> {
        if let Some(f) = &mut self.fallback {
            return f.step(grads);
        }
        let hyper = self.next_hyper();
        for (var, moments) in self.vars.iter().zip(&self.moments) {
            if let Some(g) = grads.get(var) {
                let g = g.contiguous()?;
                var.as_tensor().inplace_op2(&g, &Update { moments, hyper })?;
            }
        }
        Ok(())
    }

    fn learning_rate(&self) -> f64 {
        self.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.lr = lr;
        if let Some(f) = &mut self.fallback {
            f.set_learning_rate(lr);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use candle_core::Device;

    #[test]
    fn matches_candle_adamw_without_weight_decay() {
        let mut rng = Rng::new(0);
        let init = rng.randn((7, 5), &Device::Cpu).unwrap();
        let target = rng.randn((7, 5), &Device::Cpu).unwrap();
        let a = Var::from_tensor(&init).unwrap();
        let b = Var::from_tensor(&init.copy().unwrap()).unwrap();
        let mut fused = Adam::new(vec![a.clone()], 0.01).unwrap();
        let mut reference =
            AdamW::new(vec![b.clone()], ParamsAdamW { lr: 0.01, weight_decay: 0.0, ..Default::default() }).unwrap();
        for step in 0..50 {
            if step == 25 {
                fused.set_learning_rate(0.003);
                reference.set_learning_rate(0.003);
            }
            let la = (a.as_tensor() - &target).unwrap().sqr().unwrap().sum_all().unwrap();
            let lb = (b.as_tensor() - &target).unwrap().sqr().unwrap().sum_all().unwrap();
            fused.backward_step(&la).unwrap();
            reference.backward_step(&lb).unwrap();
        }
        let va = a.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let vb = b.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        for (x, y) in va.iter().zip(&vb) {
            assert!((x - y).abs() < 1e-5, "{x} vs {y}");
        }
    }
}
