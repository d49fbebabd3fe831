//! Training end to end on synthetic data: it learns, it is deterministic, and faults are
//! reported clearly before any damage.
mod common;
use candle_core::{Device, Tensor};
use vae_core::data::{Corruption, Split};
use vae_core::evaluation::{few_labels, FewLabelsConfig};
use vae_core::models::Model;
use vae_core::objective::Objective;
use vae_core::training::{TrainConfig, Trainer};

fn quiet(epochs: usize) -> TrainConfig {
    TrainConfig { epochs, batch_size: 32, quiet: true, ..TrainConfig::default() }
}

#[test]
fn every_model_learns_the_blobs() {
    let data = common::blob_dataset(192, 48);
    for name in vae_core::models::MODEL_NAMES {
        let model = Model::from_name(name, None, 0, &Device::Cpu).unwrap();
        let h = Trainer::new(quiet(4)).fit(&model, &data).unwrap();
        let first = h.epochs[0].train_loss;
        let last = h.last().unwrap().train_loss;
        assert!(last < 0.8 * first, "{name}: loss {first} -> {last}");
        assert!(h.last().unwrap().test_loss.unwrap().is_finite());
    }
}

#[test]
fn same_seed_gives_bit_identical_training() {
    let data = common::blob_dataset(96, 32);
    let run = |seed| {
        let m = Model::from_name("conv-vae", None, seed, &Device::Cpu).unwrap();
        let cfg = TrainConfig {
            seed,
            binarization: vae_core::training::Binarization::Dynamic,
            corruption: Some(Corruption::Gaussian { std: 0.2 }),
            ..quiet(2)
        };
        let h = Trainer::new(cfg).fit(&m, &data).unwrap();
        (common::weights(&m), h.epochs.iter().map(|e| (e.train_loss, e.test_loss)).collect::<Vec<_>>())
    };
    let a = run(7);
    let b = run(7);
    assert_eq!(a.0, b.0, "weights differ between two runs with the same seed");
    assert_eq!(a.1, b.1);
    let c = run(8);
    assert_ne!(a.0, c.0);
}

#[test]
fn the_kl_is_reported_unweighted_whatever_beta_is() {
    // The fused CPU steps (dense VAE, conv VAE) once reported beta * KL as train_kl while the
    // autograd path and every test_kl reported the KL itself.
    let data = common::blob_dataset(96, 96);
    for name in ["mlp-vae", "conv-vae", "cvae"] {
        let model = Model::from_name(name, None, 0, &Device::Cpu).unwrap();
        let cfg = TrainConfig { beta: 4.0, objective: Some(Objective::Elbo), lr: 1e-9, ..quiet(1) };
        let e = Trainer::new(cfg).fit(&model, &data).unwrap().epochs[0].clone();
        let total = e.train_recon + 4.0 * e.train_kl;
        assert!((e.train_loss - total).abs() < 1e-3 * total, "{name}: {} != recon + 4 kl = {total}", e.train_loss);
        // A tiny lr keeps the weights, and train and test hold the same kind of images: the two KLs
        // measure the same thing and must agree in scale, not differ by the factor beta.
        let ratio = e.train_kl / e.test_kl.unwrap();
        assert!((0.5..2.0).contains(&ratio), "{name}: train kl {} vs test kl {:?}", e.train_kl, e.test_kl);
    }
}

#[test]
fn image_shaped_splits_train_exactly_as_their_rows() {
    // The trainer read dims()[1] as the pixel count and refused [N, 1, 28, 28] ("1 pixels per
    // image") although the model takes it; the fused steps read [B, 784] rows only.
    let data = common::blob_dataset(64, 16);
    let shaped = |dims: &[usize]| {
        let split = |s: &Split| Split {
            images: s.images.reshape([&[s.len()], dims].concat()).unwrap(),
            labels: s.labels.clone(),
        };
        vae_core::data::Dataset { train: split(&data.train), test: split(&data.test), ..data.clone() }
    };
    // Dense and conv VAE (fused steps), dense autoencoder (fused), batch norm (autograd).
    for name in ["mlp-vae", "conv-vae", "mlp-ae", "deep-vae-2d"] {
        let run = |d: &vae_core::data::Dataset| {
            let m = Model::from_name(name, Some(2), 0, &Device::Cpu).unwrap();
            let h = Trainer::new(quiet(1)).fit(&m, d).unwrap();
            (common::weights(&m), h.epochs[0].train_loss, h.epochs[0].test_loss)
        };
        let rows = run(&data);
        assert!(rows.1.is_finite() && rows.2.is_some_and(f64::is_finite), "{name}");
        for dims in [&[1, 28, 28][..], &[28, 28]] {
            assert!(run(&shaped(dims)) == rows, "{name}: {dims:?} images trained differently from rows");
        }
    }
    let m = Model::from_name("mlp-vae", Some(2), 0, &Device::Cpu).unwrap();
    let e = Trainer::new(quiet(1)).fit(&m, &shaped(&[1, 56, 14])).unwrap_err().to_string();
    assert!(
        e.contains("the training images, for mlp-vae: expected [B, 784] or [B, 1, 28, 28], got [64, 1, 56, 14]"),
        "{e}"
    );
    let odd_test = vae_core::data::Dataset { test: shaped(&[2, 392]).test, ..data.clone() };
    let e = Trainer::new(quiet(1)).fit(&m, &odd_test).unwrap_err().to_string();
    assert!(e.contains("the test images, for mlp-vae: expected [B, 784]"), "{e}");
}

#[test]
fn images_that_are_not_f32_pixels_in_0_1_are_refused() {
    let m = Model::from_name("mlp-vae", Some(2), 0, &Device::Cpu).unwrap();
    let fit = |data: &vae_core::data::Dataset| Trainer::new(quiet(1)).fit(&m, data).unwrap_err().to_string();
    let mut bytes = common::blob_dataset(64, 16);
    bytes.train.images = (bytes.train.images * 255.0).unwrap().to_dtype(candle_core::DType::U8).unwrap();
    let e = fit(&bytes);
    assert!(e.contains("U8") && e.contains("/ 255.0"), "{e}");
    let mut unscaled = common::blob_dataset(64, 16);
    unscaled.test.images = (unscaled.test.images * 255.0).unwrap();
    let e = fit(&unscaled);
    assert!(e.contains("test images range over") && e.contains("divide 0..255 data by 255"), "{e}");
}

#[test]
fn beta_with_the_monte_carlo_elbo_is_refused() {
    // The single-sample ELBO has no KL term to weigh: beta would silently do nothing.
    let data = common::blob_dataset(64, 16);
    let m = Model::from_name("conv-vae", None, 0, &Device::Cpu).unwrap();
    let cfg = TrainConfig { beta: 4.0, objective: Some(Objective::McElbo), ..quiet(1) };
    let e = Trainer::new(cfg).fit(&m, &data).unwrap_err().to_string();
    assert!(e.contains("beta 4") && e.contains("mc-elbo") && e.contains("elbo objective for beta"), "{e}");
}

#[test]
fn lr_milestones_and_history_are_recorded() {
    let data = common::blob_dataset(64, 16);
    let m = Model::from_name("mlp-ae", None, 0, &Device::Cpu).unwrap();
    let h = Trainer::new(TrainConfig { milestones: vec![1, 2], gamma: 0.5, ..quiet(3) }).fit(&m, &data).unwrap();
    let lrs: Vec<f64> = h.epochs.iter().map(|e| e.lr).collect();
    assert_eq!(lrs, vec![1e-3, 5e-4, 2.5e-4]);
    assert!(h.epochs.iter().all(|e| e.epoch_seconds > 0.0 && e.samples_per_s > 0.0));
    let mut calls = 0;
    Trainer::new(quiet(2))
        .fit_with(&m, &data, |s, _| {
            calls += 1;
            assert_eq!(s.epoch, calls);
            Ok(())
        })
        .unwrap();
    assert_eq!(calls, 2);
}

#[test]
fn absurd_learning_rate_stops_with_epoch_and_batch_and_never_saves_nan() {
    let data = common::blob_dataset(256, 16);
    let m = Model::from_name("mlp-vae", None, 0, &Device::Cpu).unwrap();
    let err = Trainer::new(TrainConfig { lr: 1e12, objective: Some(Objective::Elbo), ..quiet(3) })
        .fit(&m, &data)
        .unwrap_err()
        .to_string();
    assert!(err.contains("epoch") && err.contains("batch") && err.contains("learning rate"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.safetensors");
    if let Err(e) = vae_core::checkpoint::save(&m, &p) {
        assert!(e.to_string().contains("non-finite"), "{e}");
        assert!(!p.exists());
    } else {
        let back = vae_core::checkpoint::load(&p, &Device::Cpu).unwrap();
        assert!(common::weights(&back).iter().flat_map(|(_, v)| v).all(|x| x.is_finite()));
    }
}

#[test]
fn bad_setups_are_refused_before_training() {
    let data = common::blob_dataset(64, 16);
    let m = Model::from_name("mlp-vae", None, 0, &Device::Cpu).unwrap();
    let msg = |cfg: TrainConfig, d: &vae_core::data::Dataset| Trainer::new(cfg).fit(&m, d).unwrap_err().to_string();

    let e = msg(TrainConfig { batch_size: 1000, ..quiet(1) }, &data);
    assert!(e.contains("batch size 1000 is larger than the training set (64"), "{e}");
    let e = msg(TrainConfig { lr: f64::NAN, ..quiet(1) }, &data);
    assert!(e.contains("learning rate"), "{e}");
    let e = msg(TrainConfig { lr: -1.0, ..quiet(1) }, &data);
    assert!(e.contains("learning rate"), "{e}");

    let empty = vae_core::data::Dataset { train: data.train.take(0).unwrap(), ..data.clone() };
    assert!(msg(quiet(1), &empty).contains("empty"));

    let mut v = data.train.images.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    v[100] = f32::NAN;
    let nan = vae_core::data::Dataset {
        train: Split {
            images: Tensor::from_vec(v, (64, 784), &Device::Cpu).unwrap(),
            labels: data.train.labels.clone(),
        },
        ..data.clone()
    };
    let e = msg(quiet(1), &nan);
    assert!(e.contains("NaN or infinite"), "{e}");
    // The test split likewise, before training (it gave `test Some(NaN)` after the epochs once).
    let mut t = data.test.images.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    t[5] = f32::INFINITY;
    let nan_test = Split { images: Tensor::from_vec(t, (16, 784), &Device::Cpu).unwrap(), ..data.test.clone() };
    let e = msg(quiet(1), &vae_core::data::Dataset { test: nan_test, ..data.clone() });
    assert!(e.contains("the test images contain NaN or infinite values"), "{e}");

    // Fewer labels than images: an index-select error deep in the shuffled batches before.
    let short_train = Split { labels: data.train.labels.narrow(0, 0, 40).unwrap(), ..data.train.clone() };
    let e = msg(quiet(1), &vae_core::data::Dataset { train: short_train, ..data.clone() });
    assert!(e.contains("the training split has 64 images but 40 labels"), "{e}");
    let short_test = Split { labels: data.test.labels.narrow(0, 0, 5).unwrap(), ..data.test.clone() };
    let e = msg(quiet(1), &vae_core::data::Dataset { test: short_test, ..data.clone() });
    assert!(e.contains("the test split has 16 images but 5 labels"), "{e}");

    let e = Model::from_name("mlp-vae", Some(0), 0, &Device::Cpu).unwrap_err().to_string();
    assert!(e.contains("latent size is 0"), "{e}");
}

#[test]
fn a_conditional_model_refuses_labels_it_cannot_use_before_training() {
    let data = common::blob_dataset(64, 16);
    let m = Model::from_name("cvae", Some(2), 0, &Device::Cpu).unwrap();
    let msg = |d: &vae_core::data::Dataset| Trainer::new(quiet(1)).fit(&m, d).unwrap_err().to_string();
    // f32 labels: the fused step truncated them and trained an epoch; the test evaluation refused them.
    let f32_labels =
        Split { labels: data.train.labels.to_dtype(candle_core::DType::F32).unwrap(), ..data.train.clone() };
    let e = msg(&vae_core::data::Dataset { train: f32_labels, ..data.clone() });
    assert!(e.contains("the training split, for cvae: labels are F32"), "{e}");
    // A label beyond the classes in the test split, found before training, not after an epoch.
    let beyond =
        Split { labels: Tensor::new((0..16u32).collect::<Vec<_>>(), &Device::Cpu).unwrap(), ..data.test.clone() };
    let e = msg(&vae_core::data::Dataset { test: beyond, ..data.clone() });
    assert!(e.contains("the test split, for cvae: label 10 is not one of its 10 classes"), "{e}");
    assert!(Trainer::new(quiet(1)).fit(&m, &data).is_ok());
}

#[test]
fn settings_that_cannot_work_are_refused_by_the_config_itself() {
    assert_eq!(TrainConfig::default().validate().ok(), Some(()));
    assert_eq!(TrainConfig { milestones: vec![1, 2], ..quiet(3) }.invalid_setting(), None);
    for (cfg, field, says) in [
        (quiet(0), "epochs", "0: nothing would be trained"),
        (TrainConfig { batch_size: 0, ..quiet(1) }, "batch_size", "0: "),
        (TrainConfig { lr: 0.0, ..quiet(1) }, "lr", "0: the learning rate must be a positive"),
        (TrainConfig { beta: f64::NAN, ..quiet(1) }, "beta", "NaN: "),
        (TrainConfig { gamma: f64::NAN, ..quiet(1) }, "gamma", "NaN: "),
        (TrainConfig { gamma: -0.5, ..quiet(1) }, "gamma", "-0.5: "),
        (
            TrainConfig { milestones: vec![12], ..quiet(10) },
            "milestones",
            "12: a milestone lowers the learning rate after that epoch, so with 10 epochs it must be from 1 to 9",
        ),
        (TrainConfig { milestones: vec![3], ..quiet(3) }, "milestones", "3: a milestone"),
        (TrainConfig { milestones: vec![0], ..quiet(3) }, "milestones", "0: "),
        (TrainConfig { milestones: vec![1], ..quiet(1) }, "milestones", "1: with 1 epoch no milestone"),
        (TrainConfig { max_batches: Some(0), ..quiet(1) }, "max_batches", "0: no batch"),
        (TrainConfig { corruption: Some(Corruption::Mask { p: 2.0 }), ..quiet(1) }, "corruption", "mask:2: "),
        (
            TrainConfig { corruption: Some(Corruption::SaltPepper { p: f32::NAN }), ..quiet(1) },
            "corruption",
            "salt-pepper:NaN: ",
        ),
        (
            TrainConfig { corruption: Some(Corruption::Gaussian { std: -1.0 }), ..quiet(1) },
            "corruption",
            "gaussian:-1: ",
        ),
    ] {
        let (f, why) = cfg.invalid_setting().unwrap_or_else(|| panic!("{cfg:?} accepted"));
        assert!(f == field && why.starts_with(says), "{field}: {f} {why}");
        // The trainer refuses it too, before looking at the model or the data.
        let data = common::blob_dataset(8, 4);
        let m = Model::from_name("mlp-ae", Some(2), 0, &Device::Cpu).unwrap();
        let e = Trainer::new(cfg.clone()).fit(&m, &data).unwrap_err().to_string();
        assert!(e.contains(&format!("{field} {why}")), "{e}");
    }
    // An ELBO on an autoencoder would train on the BCE alone under the ELBO's name.
    let data = common::blob_dataset(64, 4);
    for name in ["mlp-ae", "conv-ae"] {
        let ae = Model::from_name(name, None, 0, &Device::Cpu).unwrap();
        for o in [Objective::Elbo, Objective::McElbo] {
            let e = Trainer::new(TrainConfig { objective: Some(o), ..quiet(1) }).fit(&ae, &data).unwrap_err();
            assert!(e.to_string().contains("needs a VAE"), "{name} {o:?}: {e}");
        }
    }
    let m = Model::from_name("mlp-vae", Some(2), 0, &Device::Cpu).unwrap();
    for (epochs, lr, max_batches) in [(0, 1e-3, None), (1, 0.0, None), (1, 1e-3, Some(0))] {
        let r = vae_core::bench::bench_training(&m, &data, 32, lr, epochs, max_batches, |_| ());
        assert!(r.is_err(), "bench accepted epochs {epochs}, lr {lr}, max_batches {max_batches:?}");
    }
}

#[test]
fn denoising_autoencoder_beats_the_identity_on_noisy_inputs() {
    let data = common::blob_dataset(384, 64);
    let m = Model::from_name("mlp-ae", None, 0, &Device::Cpu).unwrap();
    let noise = Corruption::Gaussian { std: 0.4 };
    Trainer::new(TrainConfig { corruption: Some(noise), ..quiet(8) }).fit(&m, &data).unwrap();
    let noisy = noise.apply(&data.test.images, &mut vae_core::rng::Rng::new(9)).unwrap();
    let denoised = m.reconstruct(&noisy, None).unwrap();
    let err =
        |a: &Tensor| (a - &data.test.images).unwrap().sqr().unwrap().mean_all().unwrap().to_scalar::<f32>().unwrap();
    assert!(err(&denoised) < 0.5 * err(&noisy), "denoised {} vs noisy {}", err(&denoised), err(&noisy));
}

#[test]
fn few_labels_variants_differ_only_in_where_the_encoder_starts_and_whether_it_learns() {
    let data = common::blob_dataset(300, 90);
    let dev = Device::Cpu;
    let m = Model::from_name("mlp-ae", Some(8), 0, &dev).unwrap();
    for seed in 0..4 {
        // Before the first step, fine-tuned and frozen are one network (same encoder, same head)
        // on the same input: any other difference between them shows here.
        let cfg = FewLabelsConfig { classes: 3, n_labels: 9, steps: 0, seed };
        let few = few_labels(&m, &data.train, &data.test, &cfg).unwrap();
        assert_eq!(few.frozen_accuracy, few.pretrained_accuracy, "seed {seed}: {few:?}");
        // Pretrained with the very weights that the random initialisation draws (seed + 1), the
        // fine-tuned and the randomly initialised classifiers are the same run.
        let as_random = Model::new(m.config().clone(), seed + 1, &dev).unwrap();
        let few = few_labels(&as_random, &data.train, &data.test, &FewLabelsConfig { steps: 30, ..cfg }).unwrap();
        assert_eq!(few.pretrained_accuracy, few.random_init_accuracy, "seed {seed}: {few:?}");
    }
}

#[test]
fn few_labels_runs_three_classifiers_and_leaves_the_pretrained_model_alone() {
    let data = common::blob_dataset(300, 90);
    let m = Model::from_name("mlp-ae", Some(8), 0, &Device::Cpu).unwrap();
    Trainer::new(quiet(2)).fit(&m, &data).unwrap();
    let before = common::weights(&m);
    // 400 steps: at the shared learning rate a head on these frozen codes needs about that many to
    // fit (still at chance after 100), where the end-to-end variants fit in 40.
    let cfg = FewLabelsConfig { classes: 3, n_labels: 9, steps: 400, seed: 0 };
    let few = few_labels(&m, &data.train, &data.test, &cfg).unwrap();
    assert_eq!(few.n_labels, 9);
    assert_eq!(common::weights(&m), before, "fine-tuning must work on a copy of the encoder");
    // Three well separated blobs, three labels each: every variant should beat chance (1/3)
    // clearly, and the frozen encoder's codes already separate them.
    for (what, acc) in [
        ("fine-tuned", few.pretrained_accuracy),
        ("frozen", few.frozen_accuracy),
        ("random init", few.random_init_accuracy),
    ] {
        assert!((0.0..=1.0).contains(&acc), "{what}: {acc}");
    }
    assert!(few.frozen_accuracy > 0.6 && few.pretrained_accuracy > 0.6, "{few:?}");
}
