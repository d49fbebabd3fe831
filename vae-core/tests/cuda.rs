//! The `cuda` feature on a real GPU: every model starts from the same weights as on the CPU,
//! trains to the same losses (the GPU goes through candle's autograd, the CPU through the fused
//! steps, so the sums run in another order and agree to a tolerance, not bit for bit), and a
//! checkpoint written from the GPU loads on the CPU.
//!
//! Compiled only with `--features vae-core/cuda` and needs a CUDA GPU: CI has neither, so these
//! run where one is lent (`cargo test --workspace --features vae-core/cuda`).
#![cfg(feature = "cuda")]
mod common;
use candle_core::{Device, Tensor};
use vae_core::checkpoint;
use vae_core::models::Model;
use vae_core::training::{TrainConfig, Trainer};

fn gpu() -> Device {
    Device::new_cuda(0).expect("these tests need a CUDA GPU: built with the `cuda` feature but none is usable")
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / a.abs().max(b.abs()).max(1e-9)
}

#[test]
fn every_model_starts_and_trains_on_the_gpu_as_on_the_cpu() {
    let (cpu, gpu) = (Device::Cpu, gpu());
    let data = common::blob_dataset(192, 48);
    let data_gpu = data.to_device(&gpu).unwrap();
    let cfg = TrainConfig { epochs: 3, batch_size: 32, quiet: true, ..TrainConfig::default() };
    for name in vae_core::models::MODEL_NAMES {
        let on_cpu = Model::from_name(name, None, 3, &cpu).unwrap();
        let on_gpu = Model::from_name(name, None, 3, &gpu).unwrap();
        assert!(on_gpu.device().is_cuda(), "{name}: model not on the GPU");
        assert_eq!(
            common::weights(&on_cpu),
            common::weights(&on_gpu),
            "{name}: initial weights differ between CPU and GPU"
        );

        let h_cpu = Trainer::new(cfg.clone()).fit(&on_cpu, &data).unwrap();
        let h_gpu = Trainer::new(cfg.clone()).fit(&on_gpu, &data_gpu).unwrap();
        // Another summation order is a tiny difference at the first step that Adam's updates
        // amplify over the epochs on this small data set: tight for the first epoch, looser after
        // (seen on an H100: conv-vae 0.7 % apart in train loss after 3 epochs, 1.6 % in test loss).
        for (k, (c, g)) in h_cpu.epochs.iter().zip(&h_gpu.epochs).enumerate() {
            let (tc, tg) = (c.test_loss.unwrap(), g.test_loss.unwrap());
            let tol = if k == 0 { 5e-3 } else { 3e-2 };
            println!(
                "{name} epoch {}: train CPU {:.3} GPU {:.3}, test CPU {tc:.3} GPU {tg:.3}",
                c.epoch, c.train_loss, g.train_loss
            );
            assert!(
                rel(c.train_loss, g.train_loss) < tol && rel(tc, tg) < tol,
                "{name} epoch {}: train loss CPU {} GPU {}, test loss CPU {tc} GPU {tg}",
                c.epoch,
                c.train_loss,
                g.train_loss
            );
        }
        let (first, last) = (h_gpu.epochs[0].train_loss, h_gpu.last().unwrap().train_loss);
        assert!(last < first, "{name}: GPU loss did not fall: {first} -> {last}");
    }
}

#[test]
fn a_checkpoint_written_from_the_gpu_loads_on_the_cpu() {
    let gpu = gpu();
    let data = common::blob_dataset(96, 32).to_device(&gpu).unwrap();
    let model = Model::from_name("conv-vae", None, 5, &gpu).unwrap();
    Trainer::new(TrainConfig { epochs: 1, batch_size: 32, quiet: true, ..TrainConfig::default() })
        .fit(&model, &data)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gpu.safetensors");
    checkpoint::save(&model, &path).unwrap();
    let back = checkpoint::load(&path, &Device::Cpu).unwrap();
    assert!(back.device().is_cpu());
    assert_eq!(common::weights(&model), common::weights(&back));

    let z = Tensor::new(&[[0.5f32, -1.0], [1.5, 0.25]], &Device::Cpu).unwrap();
    let on_gpu = model.decode(&z.to_device(&gpu).unwrap(), None).unwrap().to_device(&Device::Cpu).unwrap();
    let on_cpu = back.decode(&z, None).unwrap();
    let diff = (on_gpu - on_cpu).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
    assert!(diff < 1e-4, "decoded images differ by {diff} between GPU and CPU");
}
