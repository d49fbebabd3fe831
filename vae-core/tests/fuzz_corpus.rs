//! Replays the corpus that coverage-guided fuzzing kept (`fuzz/corpus/<target>/`) and every
//! crasher it found (`fuzz/artifacts/<target>/`) through the same checks as the libFuzzer
//! targets (tests/fuzz_checks), on a plain stable build. `make fuzz` grows the corpus.
//!
//! The seed inputs the fuzzers start from are generated here too: `VAE_FUZZ_SEEDS=<dir>`
//! writes them to `<dir>/<target>/`.
mod fuzz_checks;

use candle_core::Device;
use std::path::{Path, PathBuf};
use vae_core::data::idx::{encode_idx, parse_idx_bytes};
use vae_core::models::{Activation, ConvAeConfig, MlpAeConfig, MlpVaeConfig, Model, ModelConfig};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The files of one folder, sorted; a missing folder is an empty list.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// Runs `check` on every kept input of `target`; the corpus must exist and not be tiny.
fn replay(target: &str, check: fn(&[u8])) -> usize {
    // As under libFuzzer (and in many CI shells): candle errors then capture a backtrace, and
    // formatting one resolves its symbols, tens of MiB (checkpoint crash-2ca74aac). The setting
    // is read once per process; every test here sets the same value.
    std::env::set_var("RUST_BACKTRACE", "1");
    let corpus = files(&fuzz_dir().join("corpus").join(target));
    assert!(
        corpus.len() >= 20,
        "fuzz/corpus/{target} holds {} files: the kept corpus is missing (run `make fuzz`)",
        corpus.len()
    );
    let crashers = files(&fuzz_dir().join("artifacts").join(target));
    for f in corpus.iter().chain(&crashers) {
        let bytes = std::fs::read(f).unwrap();
        if std::panic::catch_unwind(|| check(&bytes)).is_err() {
            panic!("{} fails the {target} checks (rerun: `cargo test -p vae-core --test fuzz_corpus`, or the fuzz binary with that file as argument)", f.display());
        }
    }
    corpus.len() + crashers.len()
}

#[test]
fn idx_corpus_passes_the_checks() {
    let n = replay("idx", fuzz_checks::check_idx);
    eprintln!("idx: {n} inputs replayed");
}

#[test]
fn checkpoint_corpus_passes_the_checks() {
    let n = replay("checkpoint", fuzz_checks::check_checkpoint);
    eprintln!("checkpoint: {n} inputs replayed");
}

fn gz(b: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn idx_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let images = encode_idx(&[2, 3, 3], &(0..18).collect::<Vec<u8>>());
    let labels = encode_idx(&[5], &[0, 1, 2, 3, 9]);
    let four = encode_idx(&[1, 2, 1, 2], &[1, 2, 3, 4]);
    vec![
        ("images-2x3x3", images.clone()),
        ("labels-5", labels.clone()),
        ("dims-4", four),
        ("images-2x3x3.gz", gz(&images)),
        ("labels-5.gz", gz(&labels)),
        ("two-members.gz", [gz(&images[..10]), gz(&images[10..])].concat()),
    ]
}

/// Small models of every kind whose checkpoints stay a few KiB (the conv-vae has no small
/// configuration, its smallest checkpoint is 160 KiB, so it is left to the mutation fuzzer).
fn checkpoint_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let configs = [
        (
            "mlp-ae",
            ModelConfig::MlpAe(MlpAeConfig {
                input_dim: 4,
                hidden: vec![3],
                latent: 2,
                activation: Activation::Tanh,
                num_classes: None,
            }),
        ),
        (
            "mlp-vae-bn-cond",
            ModelConfig::MlpVae(MlpVaeConfig {
                input_dim: 4,
                hidden: vec![3, 2],
                latent: 1,
                activation: Activation::Relu,
                batch_norm: true,
                num_classes: Some(2),
            }),
        ),
        ("conv-ae", ModelConfig::ConvAe(ConvAeConfig { channels: [1, 1], latent: 1 })),
    ];
    let dir = tempfile::tempdir().unwrap();
    configs
        .into_iter()
        .map(|(name, c)| {
            let p = dir.path().join("m.safetensors");
            vae_core::checkpoint::save(&Model::new(c, 1, &Device::Cpu).unwrap(), &p).unwrap();
            (name, std::fs::read(&p).unwrap())
        })
        .collect()
}

#[test]
fn seeds_are_accepted_and_pass_the_checks() {
    let out = std::env::var_os("VAE_FUZZ_SEEDS").map(PathBuf::from);
    for (target, seeds) in [("idx", idx_seeds()), ("checkpoint", checkpoint_seeds())] {
        for (name, bytes) in seeds {
            match target {
                "idx" => {
                    parse_idx_bytes(&bytes, name).unwrap_or_else(|e| panic!("seed {name}: {e}"));
                    fuzz_checks::check_idx(&bytes);
                }
                _ => {
                    assert!(
                        bytes.len() < 8 << 10,
                        "seed {name} is {} bytes, more than the fuzzer's -max_len",
                        bytes.len()
                    );
                    vae_core::checkpoint::load_bytes(&bytes, name, &Device::Cpu)
                        .unwrap_or_else(|e| panic!("seed {name}: {e}"));
                    fuzz_checks::check_checkpoint(&bytes);
                }
            }
            if let Some(out) = &out {
                std::fs::create_dir_all(out.join(target)).unwrap();
                std::fs::write(out.join(target).join(name), &bytes).unwrap();
            }
        }
    }
}

/// The bounds bite: a checkpoint whose metadata describes a model far larger than the file is
/// refused before the model is built, and the checks measure the heap for real.
#[test]
fn a_forged_model_config_is_refused_within_the_bound() {
    let (_, small) = checkpoint_seeds().remove(0);
    let st = safetensors::SafeTensors::deserialize(&small).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&small).unwrap();
    let mut meta = meta.metadata().clone().unwrap();
    let big = ModelConfig::MlpAe(MlpAeConfig {
        input_dim: 784,
        hidden: vec![1 << 20],
        latent: 2,
        activation: Activation::Tanh,
        num_classes: None,
    });
    meta.insert("model_config".into(), serde_json::to_string(&big).unwrap());
    let forged = safetensors::tensor::serialize(st.tensors(), Some(meta)).unwrap();
    let (r, peak) = fuzz_checks::peak_heap(|| vae_core::checkpoint::load_bytes(&forged, "forged", &Device::Cpu));
    let e = r.unwrap_err().to_string();
    assert!(e.contains("forged") && e.contains("more parameters than the file's"), "{e}");
    assert!(peak < 1 << 20, "the forged 800M-parameter config made the loader hold {peak} bytes");
    fuzz_checks::check_checkpoint(&forged);
    // The counter sees real allocations.
    let (_, peak) = fuzz_checks::peak_heap(|| vec![0u8; 3 << 20]);
    assert!(peak >= 3 << 20, "{peak}");
}
