//! The IWAE estimate's memory is bounded by its chunk, not by k. Alone in its own test binary:
//! the peak resident set it reads (`VmHWM`) belongs to the whole process, which parallel tests
//! would share.
#![cfg(target_os = "linux")]
use candle_core::{DType, Device, Tensor};
use vae_core::data::Split;
use vae_core::evaluation::iwae_nll;
use vae_core::models::{Model, ModelConfig};
use vae_core::rng::Rng;

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM in /proc/self/status");
    line.split_whitespace().nth(1).unwrap().parse::<f64>().unwrap() / 1024.0
}

#[test]
fn iwae_peak_memory_does_not_grow_with_k() {
    let dev = Device::Cpu;
    let mut config = ModelConfig::from_name("mlp-vae", Some(2)).unwrap();
    config.set_hidden(vec![16]).unwrap();
    let model = Model::new(config, 0, &dev).unwrap();
    let x = Rng::new(1).rand((1, 784), 0.0, 1.0, &dev).unwrap().ge(0.5).unwrap().to_dtype(DType::F32).unwrap();
    let split = Split { images: x, labels: Tensor::zeros(1, DType::U32, &dev).unwrap() };
    // One chunk of 1024 rows first, so that the baseline holds whatever a chunk costs.
    let max_rows = 1024;
    iwae_nll(&model, &split, max_rows, max_rows, &mut Rng::new(0)).unwrap();
    let base = peak_rss_mib();
    // 64 chunks: a few KiB per sample kept alive until the end would be hundreds of MiB.
    let nll = iwae_nll(&model, &split, 64 * max_rows, max_rows, &mut Rng::new(0)).unwrap();
    let grown = peak_rss_mib() - base;
    assert!(nll.is_finite());
    assert!(grown < 32.0, "k = 65536 in chunks of {max_rows} rows raised the peak by {grown:.0} MiB over one chunk");
}
