//! Renders one of each figure of the course from small models trained on real MNIST, into
//! `docs/gallery/` (the README's gallery):
//!
//! ```sh
//! cargo run --release --example gallery            # needs `make data`; about 2 minutes on 2 cores
//! # explorer.png is a screenshot of the explorer.html it writes:
//! chromium --headless --hide-scrollbars --window-size=1100,760 \
//!     --screenshot=docs/gallery/explorer.png docs/gallery/explorer.html
//! ```
use candle_core::{Device, Tensor};
use vae_core::data::{Corruption, FashionMnist, Mnist};
use vae_core::evaluation::{encode_split, reconstruct_all};
use vae_core::figures::{self, Animation, LatentScatter, LossCurves, Manifold, Neighbourhood};
use vae_core::models::Model;
use vae_core::rng::Rng;
use vae_core::training::{TrainConfig, Trainer};

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> vae_core::Result<()> {
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/gallery");
    std::fs::create_dir_all(&out).map_err(|e| vae_core::Error::Io { path: out.clone(), source: e })?;
    let dev = Device::Cpu;
    let mnist = Mnist::load_default()?.subset(20_000, 2_000)?;
    let cfg = |epochs| TrainConfig { epochs, batch_size: 128, quiet: false, ..TrainConfig::default() };

    // A 2-D VAE: scatter, manifold, neighbourhood, interpolation, training animation.
    let vae = Model::from_name("mlp-vae", Some(2), 1, &dev)?;
    let fixed_z = Rng::new(5).randn((16, 2), &dev)?;
    let mut frames = vec![];
    let history = Trainer::new(cfg(8)).fit_with(&vae, &mnist, |s, m| {
        frames.push(figures::ImageGrid::new(&m.decode(&fixed_z, None)?)?.cols(8).title(format!("epoch {}", s.epoch)));
        Ok(())
    })?;
    Animation::from_grids(&frames, 400).save(out.join("training.gif"))?;
    LossCurves::from_history(&history).title("MLP VAE, latent 2: loss per image").save(out.join("loss_curves.svg"))?;
    LossCurves::recon_vs_kl(&history).save(out.join("recon_vs_kl.svg"))?;
    let test = mnist.test.take(2000)?;
    let z = encode_split(&vae, &test)?;
    LatentScatter::new(&z, &test.labels)?
        .class_names(mnist.class_names.clone())
        .title("MNIST test set in the VAE's latent plane")
        .prior_circles(true)
        .save(out.join("scatter.svg"))?;
    let decode = |z: &Tensor| vae.decode(z, None);
    Manifold::quantiles(15).render(2, &dev, decode)?.save(out.join("manifold.png"))?;
    Manifold::linear(9, -6.0, 6.0)
        .captions(true)
        .axes(false)
        .render(2, &dev, decode)?
        .save(out.join("manifold_out_of_range.png"))?;
    let q = vae.encode(&test.images.narrow(0, 0, 2)?, None)?;
    let std = q.std()?.expect("a VAE has a variance");
    Neighbourhood::from_tensors(&q.mean.get(0)?, &std.get(0)?)?
        .k(2.0)
        .steps(5)
        .captions(true)
        .render(&dev, decode)?
        .save(out.join("neighbourhood.png"))?;
    let a = q.mean.get(0)?.to_vec1::<f32>()?;
    let b = q.mean.get(1)?.to_vec1::<f32>()?;
    figures::interpolate::compare_interpolations(decode, &a, &b, 9, &dev)?.save(out.join("interpolation.png"))?;
    figures::prior_samples(decode, 32, 2, &mut Rng::new(0), &dev)?.cols(8).save(out.join("prior_samples.png"))?;

    // The PyTorch-example VAE (latent 20): reconstructions and PCA scatter.
    let vae20 = Model::from_name("mlp-vae", None, 2, &dev)?;
    Trainer::new(cfg(5)).fit(&vae20, &mnist)?;
    let x = test.images.narrow(0, 0, 12)?;
    figures::reconstructions(&x, &reconstruct_all(&vae20, &x, None)?)?.save(out.join("reconstructions.png"))?;
    LatentScatter::new(&encode_split(&vae20, &test)?, &test.labels)?
        .class_names(mnist.class_names.clone())
        .title("latent 20, PCA projection")
        .save(out.join("scatter_pca.svg"))?;

    // A denoising autoencoder: noisy / denoised / clean.
    let dae = Model::from_name("mlp-ae", None, 3, &dev)?;
    let noise = Corruption::Gaussian { std: 0.5 };
    Trainer::new(TrainConfig { corruption: Some(noise), ..cfg(5) }).fit(&dae, &mnist)?;
    let noisy = noise.apply(&x, &mut Rng::new(1))?;
    figures::denoising(&noisy, &reconstruct_all(&dae, &noisy, None)?, &x)?.save(out.join("denoising.png"))?;

    // A conditional VAE: one row per digit.
    let cvae = Model::from_name("cvae", Some(2), 4, &dev)?;
    Trainer::new(cfg(5)).fit(&cvae, &mnist)?;
    figures::rows_per_class(|z, l| cvae.decode(z, Some(l)), 8, 2, &mnist.class_names, &mut Rng::new(3), &dev)?
        .save(out.join("conditional.png"))?;

    // Fashion-MNIST scored by the MNIST VAE: anomaly scores as a strip of the worst fits.
    let fashion = FashionMnist::load_default()?.test.take(8)?;
    figures::reconstructions(&fashion.images, &reconstruct_all(&vae20, &fashion.images, None)?)?
        .title("Fashion-MNIST through an MNIST VAE")
        .save(out.join("anomaly.png"))?;

    // The interactive explorer of the 2-D VAE.
    vae_core::explorer::explorer_for(&vae, &test, &mnist.class_names)?
        .with_title("MLP VAE, latent 2")
        .save(out.join("explorer.html"))?;
    println!("gallery written to {}", out.display());
    Ok(())
}
