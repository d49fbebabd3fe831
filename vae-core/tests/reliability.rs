//! Hostile inputs and faults: a seeded mutation fuzzer for the IDX/gzip reader and for
//! checkpoint loading (no panic, no allocation beyond a small multiple of the input), a
//! process killed in the middle of saving a checkpoint, and the table of hostile cases in
//! docs/hostile-cases.md, which this file generates and checks.
use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use vae_core::data::idx::{encode_idx, parse_idx, read_idx};
use vae_core::rng::Rng;

/// Counts live heap bytes so the fuzzer can check the reader never allocates from a header's
/// word alone.
/// Only the fuzzing thread's allocations count (tests run in parallel threads).
struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
thread_local! {
    static COUNTED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}
fn counted() -> bool {
    COUNTED.with(|c| c.get())
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if !counted() {
            return System.alloc(l);
        }
        let now = LIVE.fetch_add(l.size(), Ordering::Relaxed) + l.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        if !counted() {
            return System.dealloc(p, l);
        }
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        if !counted() {
            return System.realloc(p, l, new);
        }
        if new > l.size() {
            let now = LIVE.fetch_add(new - l.size(), Ordering::Relaxed) + new - l.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        } else {
            LIVE.fetch_sub(l.size() - new, Ordering::Relaxed);
        }
        System.realloc(p, l, new)
    }
}

#[global_allocator]
static A: Counting = Counting;

fn gz(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

/// One random mutation of a valid input: bit flips, byte overwrites, truncation, extension,
/// or a forged header size.
fn mutate(base: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut v = base.to_vec();
    match rng.below(6).unwrap() {
        0 => {
            for _ in 0..1 + rng.below(8).unwrap() {
                let i = rng.below(v.len()).unwrap();
                v[i] ^= 1 << rng.below(8).unwrap();
            }
        }
        1 => {
            let i = rng.below(v.len().min(16)).unwrap();
            v[i] = rng.below(256).unwrap() as u8;
        }
        2 => v.truncate(rng.below(v.len()).unwrap()),
        3 => v.extend((0..1 + rng.below(40).unwrap()).map(|_| rng.below(256).unwrap() as u8)),
        4 if v.len() >= 8 => {
            let d = (rng.next_u64() as u32).to_be_bytes();
            v[4..8].copy_from_slice(&d);
        }
        _ => {
            let i = rng.below(v.len()).unwrap();
            v.insert(i, rng.below(256).unwrap() as u8);
        }
    }
    v
}

#[test]
fn idx_reader_survives_mutations_without_panic_or_big_allocation() {
    let mut rng = Rng::new(2024);
    let seeds: Vec<Vec<u8>> = vec![
        encode_idx(&[20, 28, 28], &vec![7; 20 * 784]),
        encode_idx(&[50], &(0..50).map(|i| (i % 10) as u8).collect::<Vec<_>>()),
        encode_idx(&[3, 4, 5, 6], &vec![1; 360]),
    ];
    let dir = tempfile::tempdir().unwrap();
    let (mut ok, mut err) = (0, 0);
    for round in 0..3000 {
        let seed = &seeds[round % seeds.len()];
        let mut bytes = mutate(seed, &mut rng);
        let compressed = round % 3 == 0;
        if compressed {
            bytes = if rng.below(2).unwrap() == 0 { gz(&bytes) } else { mutate(&gz(seed), &mut rng) };
        }
        let path = dir.path().join("f");
        std::fs::write(&path, &bytes).unwrap();
        let base = LIVE.load(Ordering::Relaxed);
        PEAK.store(base, Ordering::Relaxed);
        COUNTED.with(|c| c.set(true));
        let r = std::panic::catch_unwind(|| read_idx(&path));
        COUNTED.with(|c| c.set(false));
        let peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
        let r = r.unwrap_or_else(|_| panic!("reader panicked on round {round}: {bytes:?}"));
        // Decompressed data can legitimately be larger than the file; bound by the seed's size.
        let bound = 4 * bytes.len().max(seed.len()) + (1 << 20);
        assert!(
            peak <= bound,
            "round {round}: allocated {peak} bytes for a {}-byte file: {bytes:?} -> {r:?}",
            bytes.len()
        );
        match r {
            Ok(a) => {
                assert_eq!(a.data.len(), a.dims.iter().product::<usize>());
                ok += 1
            }
            Err(e) => {
                let m = e.to_string();
                assert!(m.contains("/f"), "error does not name the file: {m}");
                err += 1
            }
        }
    }
    assert!(ok > 50 && err > 1000, "ok {ok} err {err}: the mutations should exercise both paths");
    // in-memory streams too
    for _ in 0..500 {
        let b = mutate(&seeds[0], &mut rng);
        let _ = parse_idx(&b[..], "mem", None);
    }
}

#[test]
fn checkpoint_loader_survives_mutations() {
    use candle_core::Device;
    use vae_core::models::Model;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.safetensors");
    vae_core::checkpoint::save(&Model::from_name("mlp-ae-2d", None, 0, &Device::Cpu).unwrap(), &p).unwrap();
    let good = std::fs::read(&p).unwrap();
    let mut rng = Rng::new(7);
    let q = dir.path().join("bad.safetensors");
    let mut errors = 0;
    for round in 0..300 {
        let mut b = good.clone();
        // Mostly hit the JSON header and metadata, where the structure lives.
        match rng.below(4).unwrap() {
            0 => b.truncate(rng.below(b.len()).unwrap()),
            1 => {
                let i = rng.below(b.len().min(2000)).unwrap();
                b[i] = rng.below(256).unwrap() as u8;
            }
            2 => {
                let i = rng.below(8).unwrap();
                b[i] = rng.below(256).unwrap() as u8;
            }
            _ => {
                let i = rng.below(b.len()).unwrap();
                b[i] ^= 0xff;
            }
        }
        std::fs::write(&q, &b).unwrap();
        let r = std::panic::catch_unwind(|| vae_core::checkpoint::load(&q, &Device::Cpu));
        match r.unwrap_or_else(|_| panic!("checkpoint loader panicked on round {round}")) {
            Ok(m) => {
                let w = m
                    .params()
                    .named_vars()
                    .into_iter()
                    .flat_map(|(_, v)| v.flatten_all().unwrap().to_vec1::<f32>().unwrap());
                assert!(w.into_iter().all(|x| x.is_finite()));
            }
            Err(e) => {
                assert!(e.to_string().contains("bad.safetensors"), "{e}");
                errors += 1
            }
        }
    }
    assert!(errors > 100, "{errors}");
}

/// Child side of the kill test: saves checkpoints in a loop until killed.
#[test]
fn child_saver() {
    let Ok(path) = std::env::var("VAE_TEST_SAVE_LOOP") else { return };
    let models: Vec<_> = (0..2)
        .map(|s| vae_core::models::Model::from_name("mlp-vae", None, s, &candle_core::Device::Cpu).unwrap())
        .collect();
    for i in 0.. {
        vae_core::checkpoint::save(&models[i % 2], &path).unwrap();
    }
}

#[test]
fn killing_a_save_midway_leaves_a_loadable_checkpoint() {
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.safetensors");
    vae_core::checkpoint::save(
        &vae_core::models::Model::from_name("mlp-vae", None, 9, &candle_core::Device::Cpu).unwrap(),
        &p,
    )
    .unwrap();
    let mut rng = Rng::new(1);
    for _ in 0..4 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_saver", "--nocapture", "--test-threads=1"])
            .env("VAE_TEST_SAVE_LOOP", &p)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(400 + rng.below(600).unwrap() as u64));
        child.kill().unwrap(); // SIGKILL: no destructors, no cleanup
        child.wait().unwrap();
        let m = vae_core::checkpoint::load(&p, &candle_core::Device::Cpu)
            .expect("the checkpoint must survive a kill mid-save");
        assert_eq!(m.kind(), "mlp-vae");
    }
}

/// The hostile cases and what each gets, as a markdown table: regenerated by this test and
/// compared with docs/hostile-cases.md (`VAE_UPDATE_DOCS=1 cargo test` rewrites it).
#[test]
fn hostile_cases_table_is_current() {
    use candle_core::{Device, Tensor};
    use vae_core::data::{Dataset, Mnist, Split};
    use vae_core::models::Model;
    use vae_core::training::{TrainConfig, Trainer};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let clean = |s: String| s.replace(&d.display().to_string(), "DIR").replace('\n', " ").replace('|', "\\|");
    let mut rows: Vec<(String, String)> = vec![];
    let mut case = |name: &str, r: String| rows.push((name.to_string(), clean(r)));
    let idx = |b: &[u8]| {
        std::fs::write(d.join("x-idx"), b).unwrap();
        read_idx(d.join("x-idx")).map(|_| "accepted".to_string()).unwrap_or_else(|e| e.to_string())
    };
    case("IDX: wrong magic", idx(b"PK\x03\x04abcdefgh"));
    case("IDX: float element type", idx(&[0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0]));
    case("IDX: truncated data", idx(&encode_idx(&[10], &[1; 10])[..12]));
    case("IDX: trailing bytes", idx(&[encode_idx(&[2], &[1, 2]), vec![9]].concat()));
    case("IDX: header claims 4e9 images", idx(&encode_idx(&[4_000_000_000, 28, 28], &[])));
    case("IDX: corrupt gzip stream", idx(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3]));
    let write_set = |n_img: usize, labels: &[u8]| {
        std::fs::write(d.join("train-images-idx3-ubyte"), encode_idx(&[n_img, 28, 28], &vec![0; n_img * 784])).unwrap();
        std::fs::write(d.join("train-labels-idx1-ubyte"), encode_idx(&[labels.len()], labels)).unwrap();
        std::fs::write(d.join("t10k-images-idx3-ubyte"), encode_idx(&[1, 28, 28], &[0; 784])).unwrap();
        std::fs::write(d.join("t10k-labels-idx1-ubyte"), encode_idx(&[1], &[0])).unwrap();
        Mnist::load(d).map(|_| "accepted".to_string()).unwrap_or_else(|e| e.to_string())
    };
    case("Data: 3 images, 2 labels", write_set(3, &[1, 2]));
    case("Data: label 12 in a 10-class set", write_set(2, &[1, 12]));
    write_set(2, &[1, 2]);
    std::fs::remove_file(d.join("t10k-labels-idx1-ubyte")).unwrap();
    case("Data: missing file", Mnist::load(d).map(|_| "accepted".to_string()).unwrap_or_else(|e| e.to_string()));
    let split = |n: usize, v: f32| Split {
        images: Tensor::full(v, (n, 784), &Device::Cpu).unwrap(),
        labels: Tensor::zeros(n, candle_core::DType::U32, &Device::Cpu).unwrap(),
    };
    let data = |n: usize, v: f32| Dataset {
        name: "t".into(),
        train: split(n, v),
        test: split(4, 0.5),
        class_names: vec!["0".into()],
        height: 28,
        width: 28,
    };
    let model = Model::from_name("mlp-vae", None, 0, &Device::Cpu).unwrap();
    let train = |cfg: TrainConfig, ds: &Dataset| {
        Trainer::new(TrainConfig { quiet: true, epochs: 2, ..cfg })
            .fit(&model, ds)
            .map(|_| "accepted".to_string())
            .unwrap_or_else(|e| e.to_string())
    };
    case("Training: NaN in the inputs", train(TrainConfig { batch_size: 4, ..Default::default() }, &data(8, f32::NAN)));
    case(
        "Training: learning rate 1e12",
        train(TrainConfig { batch_size: 64, lr: 1e12, ..Default::default() }, &data(512, 0.5)),
    );
    case("Training: empty data set", train(TrainConfig::default(), &data(0, 0.5)));
    case(
        "Training: batch larger than the data",
        train(TrainConfig { batch_size: 128, ..Default::default() }, &data(10, 0.5)),
    );
    case(
        "Model: latent size 0",
        Model::from_name("mlp-vae", Some(0), 0, &Device::Cpu)
            .map(|_| "accepted".into())
            .unwrap_or_else(|e| e.to_string()),
    );
    let ck = d.join("m.safetensors");
    std::fs::write(&ck, b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":").unwrap();
    case(
        "Checkpoint: truncated file",
        vae_core::checkpoint::load(&ck, &Device::Cpu).map(|_| "accepted".into()).unwrap_or_else(|e| e.to_string()),
    );
    vae_core::checkpoint::save(&Model::from_name("mlp-vae", Some(2), 0, &Device::Cpu).unwrap(), &ck).unwrap();
    case(
        "Checkpoint: another model's weights",
        vae_core::checkpoint::load_into(&Model::from_name("mlp-vae", Some(3), 0, &Device::Cpu).unwrap(), &ck)
            .map(|_| "accepted".into())
            .unwrap_or_else(|e| e.to_string()),
    );
    let mut table = String::from("# Hostile cases\n\nGenerated by `vae-core/tests/reliability.rs` (`VAE_UPDATE_DOCS=1 cargo test -p vae-core --test reliability` rewrites it; the test fails if it is stale).\n\n| case | what happens |\n|---|---|\n");
    for (c, r) in &rows {
        assert_ne!(r, "accepted", "hostile case '{c}' was accepted");
        table += &format!("| {c} | {r} |\n");
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/hostile-cases.md");
    if std::env::var_os("VAE_UPDATE_DOCS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &table).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(committed, table, "docs/hostile-cases.md is stale: rerun with VAE_UPDATE_DOCS=1");
}
