//! Times one training step (forward + backward + Adam) of the TensorFlow-tutorial conv VAE at
//! batch 32, with `vae_core::ops` convolutions and with candle's own, on random binary images.
//!
//! ```text
//! cargo run --release -p vae-core --example conv_bench -- [--steps 20] [--impl both|fast|candle]
//! ```
//! Threads: `RAYON_NUM_THREADS` / `CANDLE_NUM_THREADS` (candle) and `VAE_OPS_THREADS` (the fast ops).
use std::time::Instant;

use candle_core::{DType, Device, Result, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use vae_core::ops;
use vae_core::rng::Rng;

// glibc malloc returns candle's large temporaries to the OS and page-faults them back every
// step; `perf::tune_allocator` (called in main) stops that. `--features mimalloc` compares.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BATCH: usize = 32;
const LATENT: usize = 2;
const EPOCH_STEPS: usize = 60_000 / BATCH;

#[derive(Clone, Copy, PartialEq, Debug)]
enum Impl {
    Fast,
    Candle,
}

struct ConvVae {
    vars: Vec<Var>,
}

impl ConvVae {
    fn new(rng: &mut Rng, dev: &Device) -> Result<Self> {
        // (shape, fan_in); biases start at zero.
        let shapes: [(&[usize], usize); 14] = [
            (&[32, 1, 3, 3], 9),
            (&[32], 0),
            (&[64, 32, 3, 3], 288),
            (&[64], 0),
            (&[2 * LATENT, 64 * 6 * 6], 2304),
            (&[2 * LATENT], 0),
            (&[7 * 7 * 32, LATENT], LATENT),
            (&[7 * 7 * 32], 0),
            (&[32, 64, 3, 3], 288),
            (&[64], 0),
            (&[64, 32, 3, 3], 576),
            (&[32], 0),
            (&[32, 1, 3, 3], 288),
            (&[1], 0),
        ];
        let mut vars = vec![];
        for (shape, fan_in) in shapes {
            let t = if fan_in == 0 {
                Tensor::zeros(shape, DType::F32, dev)?
            } else {
                (rng.randn(shape, dev)? * (1.0 / fan_in as f64).sqrt())?
            };
            vars.push(Var::from_tensor(&t)?);
        }
        Ok(Self { vars })
    }

    fn conv(&self, imp: Impl, x: &Tensor, i: usize, stride: usize) -> Result<Tensor> {
        let (w, b) = (self.vars[i].as_tensor(), self.vars[i + 1].as_tensor());
        let y = match imp {
            Impl::Fast => ops::conv2d(x, w, stride, 0)?,
            Impl::Candle => x.conv2d(w, 0, stride, 1, 1)?,
        };
        y.broadcast_add(&b.reshape((1, (), 1, 1))?)
    }

    /// Kernel 3, output `in * stride` as Keras's `padding='same'`, in PyTorch's window (padding 1,
    /// output_padding stride-1): the window moves by a pixel, the cost does not change.
    fn conv_t(&self, imp: Impl, x: &Tensor, i: usize, stride: usize) -> Result<Tensor> {
        let (w, b) = (self.vars[i].as_tensor(), self.vars[i + 1].as_tensor());
        let y = match imp {
            Impl::Fast => ops::conv_transpose2d(x, w, stride, 1, stride - 1)?,
            Impl::Candle => x.conv_transpose2d(w, 1, stride - 1, stride, 1)?,
        };
        y.broadcast_add(&b.reshape((1, (), 1, 1))?)
    }

    fn dense(&self, x: &Tensor, i: usize) -> Result<Tensor> {
        x.matmul(&self.vars[i].as_tensor().t()?)?.broadcast_add(self.vars[i + 1].as_tensor())
    }

    /// Negative ELBO (BCE on logits, summed, plus analytic KL), averaged over the batch.
    fn loss(&self, imp: Impl, x: &Tensor, eps: &Tensor) -> Result<Tensor> {
        let h = self.conv(imp, &x.reshape((BATCH, 1, 28, 28))?, 0, 2)?.relu()?;
        let h = self.conv(imp, &h, 2, 2)?.relu()?;
        let stats = self.dense(&h.flatten_from(1)?, 4)?;
        let (mu, logvar) = (stats.narrow(1, 0, LATENT)?, stats.narrow(1, LATENT, LATENT)?);
        let z = (&mu + (eps * (&logvar * 0.5)?.exp()?)?)?;
        let h = self.dense(&z, 6)?.relu()?.reshape((BATCH, 32, 7, 7))?;
        let h = self.conv_t(imp, &h, 8, 2)?.relu()?;
        let h = self.conv_t(imp, &h, 10, 2)?.relu()?;
        let logits = self.conv_t(imp, &h, 12, 1)?.flatten_from(1)?;
        // Stable BCE with logits: max(l, 0) - l*x + log(1 + exp(-|l|)).
        let bce = ((logits.relu()? - (&logits * x)?)? + (logits.abs()?.neg()?.exp()? + 1.0)?.log()?)?;
        let kl = ((mu.sqr()? + logvar.exp()? - &logvar)? - 1.0)?.sum_all()? * 0.5;
        (bce.sum_all()? + kl?)? / BATCH as f64
    }
}

fn bench(imp: Impl, steps: usize) -> Result<f64> {
    let dev = Device::Cpu;
    let mut rng = Rng::new(0);
    let model = ConvVae::new(&mut rng, &dev)?;
    let params = ParamsAdamW { lr: 1e-4, weight_decay: 0.0, ..Default::default() };
    let mut opt = AdamW::new(model.vars.clone(), params)?;
    let x = rng.rand((BATCH, 784), 0.0, 1.0, &dev)?.ge(0.5)?.to_dtype(DType::F32)?;
    let mut step = |rng: &mut Rng| -> Result<f32> {
        let eps = rng.randn((BATCH, LATENT), &dev)?;
        let loss = model.loss(imp, &x, &eps)?;
        opt.backward_step(&loss)?;
        loss.to_scalar::<f32>()
    };
    for _ in 0..3 {
        step(&mut rng)?;
    }
    let start = Instant::now();
    let mut last = 0.0;
    for _ in 0..steps {
        last = step(&mut rng)?;
    }
    let per_step = start.elapsed().as_secs_f64() / steps as f64;
    println!(
        "{{\"impl\":\"{}\",\"step_ms\":{:.2},\"est_epoch_seconds\":{:.1},\"steps\":{steps},\"last_loss\":{last:.2},\"rayon_threads\":{},\"ops_threads\":{}}}",
        match imp {
            Impl::Fast => "vae_core::ops",
            Impl::Candle => "candle",
        },
        per_step * 1e3,
        per_step * EPOCH_STEPS as f64,
        candle_core::utils::get_num_threads(),
        ops::kernels::num_threads(),
    );
    Ok(per_step)
}

fn main() -> Result<()> {
    vae_core::perf::tune_allocator();
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let steps = arg("--steps").and_then(|s| s.parse().ok()).unwrap_or(20);
    let which = arg("--impl").unwrap_or_else(|| "both".into());
    let fast = if which != "candle" { Some(bench(Impl::Fast, steps)?) } else { None };
    let slow = if which != "fast" { Some(bench(Impl::Candle, steps.div_ceil(4))?) } else { None };
    if let (Some(f), Some(s)) = (fast, slow) {
        println!("speed-up of vae_core::ops over candle's convolutions: {:.1}x", s / f);
    }
    Ok(())
}
