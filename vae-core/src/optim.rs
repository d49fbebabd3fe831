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
use candle_core::{CpuStorage, InplaceOp2, Layout, Result, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use std::sync::Mutex;

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
    pub fn new(vars: Vec<Var>, lr: f64) -> Result<Self> {
        <Self as Optimizer>::new(vars, lr)
    }
}

struct Update<'a> {
    moments: &'a Mutex<(Vec<f32>, Vec<f32>)>,
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    c1: f32,
    c2: f32,
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
        let mut guard = self.moments.lock().unwrap();
        let (m, v) = &mut *guard;
        if m.len() != w.len() {
            *m = vec![0.0; w.len()];
            *v = vec![0.0; w.len()];
        }
        let (b1, b2) = (self.beta1, self.beta2);
        let step = self.lr / self.c1;
        let inv_c2 = 1.0 / self.c2;
        for i in 0..w.len() {
            let gi = g[i];
            let mi = b1 * m[i] + (1.0 - b1) * gi;
            let vi = b2 * v[i] + (1.0 - b2) * gi * gi;
            m[i] = mi;
            v[i] = vi;
            w[i] -= step * mi / ((vi * inv_c2).sqrt() + self.eps);
        }
        Ok(())
    }
}

impl Optimizer for Adam {
    type Config = f64;

    fn new(vars: Vec<Var>, lr: f64) -> Result<Self> {
        let all_cpu_f32 = vars.iter().all(|v| v.device().is_cpu() && v.dtype() == candle_core::DType::F32);
        let fallback = if all_cpu_f32 { None } else { Some(AdamW::new(vars.clone(), ParamsAdamW { lr, weight_decay: 0.0, ..Default::default() })?) };
        let moments = vars.iter().map(|_| Mutex::new((vec![], vec![]))).collect();
        Ok(Self { vars, moments, lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, t: 0, fallback })
    }

    fn step(&mut self, grads: &GradStore) -> Result<()> {
        if let Some(f) = &mut self.fallback {
            return f.step(grads);
        }
        self.t += 1;
        let c1 = 1.0 - self.beta1.powi(self.t);
        let c2 = 1.0 - self.beta2.powi(self.t);
        for (var, moments) in self.vars.iter().zip(&self.moments) {
            if let Some(g) = grads.get(var) {
                let g = g.contiguous()?;
                let op = Update { moments, lr: self.lr as f32, beta1: self.beta1 as f32, beta2: self.beta2 as f32, eps: self.eps as f32, c1: c1 as f32, c2: c2 as f32 };
                var.as_tensor().inplace_op2(&g, &op)?;
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
        let mut reference = AdamW::new(vec![b.clone()], ParamsAdamW { lr: 0.01, weight_decay: 0.0, ..Default::default() }).unwrap();
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
