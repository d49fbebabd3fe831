//! Shared helpers for the integration tests: small synthetic data sets.
#![allow(dead_code)]
use candle_core::{Device, Tensor};
use vae_core::data::{Dataset, Split};
use vae_core::models::Model;
use vae_core::rng::Rng;

/// `n` 28x28 images of three blob classes: a bright square at one of three places.
pub fn blobs(n: usize, seed: u64) -> Split {
    let mut rng = Rng::new(seed);
    let mut pixels = vec![0f32; n * 784];
    let mut labels = vec![0u32; n];
    for i in 0..n {
        let c = (i % 3) as u32;
        labels[i] = c;
        let (r0, c0) = [(4usize, 4usize), (4, 16), (16, 10)][c as usize];
        let jitter = rng.below(3).unwrap();
        for r in 0..8 {
            for col in 0..8 {
                pixels[i * 784 + (r0 + r + jitter) * 28 + c0 + col] = 0.9 + 0.1 * rng.uniform();
            }
        }
    }
    Split {
        images: Tensor::from_vec(pixels, (n, 784), &Device::Cpu).unwrap(),
        labels: Tensor::from_vec(labels, n, &Device::Cpu).unwrap(),
    }
}

pub fn blob_dataset(n_train: usize, n_test: usize) -> Dataset {
    Dataset {
        name: "blobs".into(),
        train: blobs(n_train, 1),
        test: blobs(n_test, 2),
        class_names: vec!["a".into(), "b".into(), "c".into()],
        height: 28,
        width: 28,
    }
}

/// Every parameter of `m` by name, in `named_vars`' (sorted) order, copied to the host.
pub fn weights(m: &Model) -> Vec<(String, Vec<f32>)> {
    m.params().named_vars().into_iter().map(|(n, v)| (n, v.flatten_all().unwrap().to_vec1::<f32>().unwrap())).collect()
}
