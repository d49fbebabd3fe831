//! The `vae` binary's contract: bad arguments exit 2 with usage, runtime errors exit 1 with one
//! clear line, and the train -> eval -> sample path works on a small data directory.
use std::path::Path;
use std::process::{Command, Stdio};
use vae_core::data::idx::encode_idx;

fn read_png(path: impl AsRef<Path>) -> vae_core::figures::Raster {
    let path = path.as_ref();
    vae_core::figures::Raster::from_png_bytes(&std::fs::read(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn vae(args: &[&str], data_dir: Option<&Path>) -> (i32, String, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vae"));
    c.args(args);
    if let Some(d) = data_dir {
        c.env("VAE_DATA_DIR", d);
    }
    let o = c.output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into(),
        String::from_utf8_lossy(&o.stderr).into(),
    )
}

#[test]
fn bad_arguments_exit_2_with_usage() {
    let empty = tempfile::tempdir().unwrap();
    for args in [
        vec![],
        vec!["frobnicate"],
        vec!["train", "--model", "mlp-vae"],
        vec!["train", "--model", "gan", "--out", "x"],
        vec!["train", "--model", "mlp-vae", "--out", "x", "--epochs", "ten"],
        vec!["train", "--model", "mlp-vae", "--out", "x", "--wat"],
        vec!["eval"],
        vec!["eval", "a", "b"],
        vec!["sample", "x.safetensors"],
        vec!["data"],
        vec!["data", "info", "--dir"],
        vec!["bench"],
        vec!["train", "--model", "mlp-vae", "--out", "x", "--binarize", "sometimes"],
        vec!["train", "--model", "mlp-vae", "--out", "x", "--hidden", "512,big"],
        vec!["train", "--model", "mlp-vae", "--out", "x", "--milestones", "5;8"],
        vec!["train", "--model", "mlp-vae", "--out", "x", "--activation", "swish"],
        vec!["train", "--model", "conv-vae", "--out", "x", "--activation", "elu"],
        vec!["train", "--model", "mlp-vae", "--out", "x", "--train-size", "lots"],
        vec!["eval", "missing.safetensors", "--iwae", "many"],
        vec!["eval", "missing.safetensors", "--objective", "joy"],
        vec!["sample", "missing.safetensors", "--out", "s.png", "--seed", "-1"],
        vec!["scatter", "missing.safetensors", "--out", "z.svg", "--n", "all"],
        vec!["bench", "--model", "mlp-vae", "--epochs", "x"],
        vec!["sample", "missing.safetensors", "--out", "s.png", "--n", "0"],
        vec!["manifold", "missing.safetensors", "--out", "m.png", "--n", "0"],
        vec!["reconstruct", "missing.safetensors", "--out", "r.png", "--n", "0"],
        vec!["scatter", "missing.safetensors", "--out", "z.svg", "--n", "0"],
        vec!["explore", "missing.safetensors", "--out", "e.html", "--n", "0"],
        vec!["train", "--model", "mlp-vae", "--out", "x", "--train-size", "0"],
        vec!["train", "--model", "mlp-vae", "--out", "x", "--gamma", "0.5"],
        vec!["train", "--model", "mlp-vae", "--out", "x", "--test-size", "0"],
        vec!["eval", "missing.safetensors", "--test-size", "0"],
    ] {
        // No data and no checkpoints: a bad flag must be reported as such before any file is read.
        let (code, _, err) = vae(&args, Some(empty.path()));
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains("usage: vae"), "{args:?}: {err}");
    }
}

#[test]
fn absurd_sizes_are_usage_errors_before_anything_is_allocated() {
    let empty = tempfile::tempdir().unwrap();
    for (args, says) in [
        (vec!["train", "--model", "mlp-vae", "--out", "x", "--latent", "10000000"], "--latent or --hidden"),
        (vec!["train", "--model", "mlp-ae", "--out", "x", "--hidden", "16000000"], "--latent or --hidden"),
        (vec!["train", "--model", "conv-vae", "--out", "x", "--latent", "16000000"], "--latent"),
        (vec!["manifold", "missing.safetensors", "--out", "m.png", "--n", "5000"], "at most 100"),
        (vec!["sample", "missing.safetensors", "--out", "s.png", "--n", "100000"], "at most 1024"),
        (vec!["reconstruct", "missing.safetensors", "--out", "r.png", "--n", "1000"], "at most 64"),
        (vec!["scatter", "missing.safetensors", "--out", "z.svg", "--n", "20000"], "at most 10000"),
        (vec!["explore", "missing.safetensors", "--out", "e.html", "--n", "20000"], "at most 10000"),
    ] {
        // No data and no checkpoint: the size is refused first, and not by the allocator (exit 134).
        let (code, _, err) = vae(&args, Some(empty.path()));
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(says) && err.contains("usage: vae"), "{args:?}: {err}");
    }
}

#[test]
fn meaningless_values_are_usage_errors_naming_the_option() {
    let empty = tempfile::tempdir().unwrap();
    let train = |extra: &[&'static str]| [&["train", "--model", "mlp-vae", "--out", "x.st"][..], extra].concat();
    let bench = |extra: &[&'static str]| [&["bench", "--model", "mlp-vae"][..], extra].concat();
    for (args, says) in [
        (train(&["--epochs", "0"]), "--epochs 0"),
        (train(&["--max-batches", "0"]), "--max-batches 0"),
        (train(&["--batch-size", "0"]), "--batch-size 0"),
        (train(&["--lr", "0"]), "--lr 0"),
        (train(&["--beta", "-1"]), "--beta -1"),
        (train(&["--milestones", "5", "--gamma", "-1"]), "--gamma -1"),
        (train(&["--milestones", "5", "--gamma", "NaN"]), "--gamma NaN"),
        (train(&["--denoise", "mask:2"]), "--denoise mask:2"),
        (train(&["--denoise", "gaussian:-1"]), "--denoise gaussian:-1"),
        (train(&["--milestones", "12"]), "--milestones 12"),
        (train(&["--epochs", "3", "--milestones", "1,3"]), "with 3 epochs it must be from 1 to 2"),
        (train(&["--objective", "mc-elbo", "--beta", "4"]), "--beta 4 with the mc-elbo objective"),
        (bench(&["--lr", "0"]), "--lr 0"),
        (bench(&["--epochs", "0"]), "--epochs 0"),
        (bench(&["--max-batches", "0"]), "--max-batches 0"),
        (vec!["manifold", "missing.safetensors", "--out", "m.png", "--range", "3:-3"], "--range 3:-3"),
        (vec!["manifold", "missing.safetensors", "--out", "m.png", "--range", "nan:1"], "--range nan:1"),
    ] {
        // No data, no checkpoint: the value is refused before either is looked for.
        let (code, _, err) = vae(&args, Some(empty.path()));
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(says) && err.contains("usage: vae"), "{args:?}: {err}");
    }
}

#[test]
fn commands_that_need_a_vae_refuse_an_autoencoder_before_reading_data() {
    let no_data = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let png = tmp.path().join("f.png");
    let png = png.to_str().unwrap();
    for name in ["mlp-ae", "mlp-ae-2d", "conv-ae"] {
        let ck = checkpoint_of(name, tmp.path());
        for (args, says) in [
            (vec!["sample", &ck, "--out", png], "no prior"),
            (vec!["manifold", &ck, "--out", png], "--range LO:HI"),
            (vec!["manifold", &ck, "--out", png, "--range", "quantiles"], "--range LO:HI"),
            (vec!["eval", &ck, "--objective", "elbo"], "--objective elbo needs a VAE"),
            (vec!["eval", &ck, "--objective", "mc-elbo"], "--objective mc-elbo needs a VAE"),
            (vec!["eval", &ck, "--iwae", "10"], "drop --iwae"),
        ] {
            let (code, _, err) = vae(&args, Some(no_data.path()));
            assert_eq!(code, 1, "{args:?}: {err}");
            assert!(err.contains(says) && err.contains("autoencoder") && err.lines().count() == 1, "{args:?}: {err}");
        }
        // Over a range of codes an autoencoder's manifold means something (notebook 02 draws one).
        let (code, _, err) = vae(&["manifold", &ck, "--out", png, "--range", "-1:1", "--n", "3"], None);
        assert_eq!(code, 0, "{name}: {err}");
    }
    for (model, objective) in [("conv-ae", "elbo"), ("mlp-ae", "mc-elbo"), ("mlp-ae-2d", "elbo")] {
        let args = ["train", "--model", model, "--objective", objective, "--out", "x.st"];
        let (code, _, err) = vae(&args, Some(no_data.path()));
        assert!(code == 2 && err.contains("needs a VAE") && err.contains("usage: vae"), "{args:?}: {err}");
    }
}

#[test]
fn every_option_is_checked_before_any_file_is_read_or_made() {
    let no_data = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let ck = checkpoint_of("mlp-vae", tmp.path());
    let new = |name: &str| tmp.path().join(name).join("f.png").to_str().unwrap().to_string();
    let (train_out, figure_out) = (new("t"), new("f"));
    for args in [
        vec!["bench", "--model", "nope"],
        vec!["bench", "--model", "mlp-vae", "--dataset", "cifar"],
        vec!["eval", "missing.safetensors", "--dataset", "cifar"],
        vec!["eval", &ck, "--dataset", "cifar"],
        vec!["train", "--model", "mlp-vae", "--dataset", "cifar", "--out", &train_out],
        vec!["reconstruct", "missing.safetensors", "--dataset", "cifar", "--out", &figure_out],
        vec!["scatter", &ck, "--dataset", "cifar", "--out", &figure_out],
        vec!["explore", &ck, "--dataset", "cifar", "--out", &figure_out],
    ] {
        let (code, _, err) = vae(&args, Some(no_data.path()));
        assert!(code == 2 && err.contains("usage: vae"), "{args:?}: {err}");
        assert!(err.contains("'nope'") || err.contains("--dataset cifar"), "{args:?}: {err}");
    }
    assert!(
        !tmp.path().join("t").exists() && !tmp.path().join("f").exists(),
        "a folder was made for a failing command"
    );
}

#[test]
fn presets_are_reported_by_their_own_name() {
    let root = tiny_mnist();
    for name in ["mlp-ae-2d", "deep-vae-2d"] {
        let ckpt = root.path().join(format!("{name}.safetensors"));
        let ck = ckpt.to_str().unwrap();
        let train = ["train", "--model", name, "--epochs", "1", "--batch-size", "16", "--out", ck];
        let (code, out, err) = vae(&train, Some(root.path()));
        assert!(code == 0 && out.starts_with(&format!("training Model({name}, latent 2,")), "{out}{err}");
        let (code, out, err) = vae(&[&train[..], &["--json"]].concat(), Some(root.path()));
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
        assert_eq!(v["model"], name, "{v}");
        let (code, out, err) = vae(&["eval", ck], Some(root.path()));
        assert!(code == 0 && out.starts_with(&format!("Model({name},")), "{out}{err}");
        let (code, out, err) = vae(&["eval", ck, "--json"], Some(root.path()));
        assert_eq!(code, 0, "{err}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(out.trim()).unwrap()["model"], name, "{out}");
        let html = root.path().join(format!("{name}.html"));
        let (code, _, err) = vae(&["explore", ck, "--n", "16", "--out", html.to_str().unwrap()], Some(root.path()));
        assert_eq!(code, 0, "{err}");
        assert!(std::fs::read_to_string(&html).unwrap().contains(&format!("{name} latent space")));
    }
    let ck = checkpoint_of("mlp-ae-2d", root.path());
    let (_, _, err) = vae(&["sample", &ck, "--out", "s.png"], None);
    assert!(err.contains("holds mlp-ae-2d, an autoencoder"), "{err}");
}

#[test]
fn bench_reports_a_fused_step_as_one_forward_backward_figure() {
    let root = tiny_mnist();
    let bench = |model: &str, json: bool| {
        let mut args = vec!["bench", "--model", model, "--batch-size", "16"];
        if json {
            args.push("--json");
        }
        let (code, out, err) = vae(&args, Some(root.path()));
        assert_eq!(code, 0, "{err}");
        out
    };
    // The dense VAE runs the fused CPU step, deep-vae-2d (batch norm) candle's autograd.
    let text = bench("mlp-vae", false);
    assert!(text.contains("forward+backward (fused)") && !text.contains("forward 0.00"), "{text}");
    let v: serde_json::Value = serde_json::from_str(bench("mlp-vae", true).trim()).unwrap();
    assert!(v["fused"] == true && v["forward_seconds"].is_null() && v["backward_seconds"].is_null(), "{v}");
    assert!(v["forward_backward_seconds"].as_f64().unwrap() > 0.0, "{v}");
    // What bench/compare.py reads.
    assert!(v["epoch_seconds"].as_f64().unwrap() > 0.0 && v["batches"] == 4, "{v}");
    let text = bench("deep-vae-2d", false);
    assert!(text.contains("forward ") && text.contains("backward ") && !text.contains("fused"), "{text}");
    let v: serde_json::Value = serde_json::from_str(bench("deep-vae-2d", true).trim()).unwrap();
    let (f, b) = (v["forward_seconds"].as_f64().unwrap(), v["backward_seconds"].as_f64().unwrap());
    assert!(v["fused"] == false && (v["forward_backward_seconds"].as_f64().unwrap() - (f + b)).abs() < 1e-9, "{v}");
}

/// `--name` flags in `text` outside parentheses, each with whether it is inside brackets.
fn flags(text: &str) -> Vec<(String, bool)> {
    let (mut out, mut square, mut round) = (vec![], 0, 0);
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '[' => square += 1,
            ']' => square -= 1,
            '(' => round += 1,
            ')' => round -= 1,
            '-' if round == 0
                && chars.get(i + 1) == Some(&'-')
                && chars.get(i + 2).is_some_and(|c| c.is_ascii_lowercase()) =>
            {
                let name: String = chars[i + 2..].iter().take_while(|c| c.is_ascii_lowercase() || **c == '-').collect();
                i += 2 + name.len();
                out.push((name, square > 0));
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// Each command's entry: the command's first line and its indented continuation lines, joined.
fn entries<'a>(lines: impl Iterator<Item = &'a str>, start: impl Fn(&str) -> Option<String>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = vec![];
    for line in lines {
        if let Some(cmd) = start(line) {
            out.push((cmd, line.to_string()));
        } else if let Some(last) = out.last_mut().filter(|_| line.starts_with("    ")) {
            last.1 += line;
        }
    }
    out
}

#[test]
fn help_lists_every_option_each_command_accepts_and_the_readme_matches() {
    let (code, help, _) = vae(&["help"], None);
    assert_eq!(code, 0);
    let body = help.split("commands:\n").nth(1).unwrap().split("\n\n").next().unwrap();
    let commands = entries(body.lines(), |l| {
        l.strip_prefix("  ").filter(|r| !r.starts_with(' ')).map(|r| r.split(' ').next().unwrap().to_string())
    });
    let names: Vec<&str> = commands.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(
        names,
        ["train", "eval", "sample", "manifold", "reconstruct", "scatter", "explore", "data", "bench", "help"]
    );
    let missing = [
        ("train", "max-batches"),
        ("train", "quiet"),
        ("eval", "objective"),
        ("eval", "seed"),
        ("bench", "data-dir"),
        ("bench", "lr"),
        ("reconstruct", "dataset"),
        ("sample", "seed"),
    ];
    for (cmd, o) in missing {
        let line = &commands.iter().find(|(c, _)| c == cmd).unwrap().1;
        assert!(flags(line).iter().any(|(f, _)| f == o), "{cmd} --{o} missing from the help: {line}");
    }
    for (cmd, line) in &commands {
        let listed = flags(line);
        let required: Vec<&str> = listed.iter().filter(|(_, optional)| !optional).map(|(f, _)| f.as_str()).collect();
        let expected: &[&str] = match cmd.as_str() {
            "train" => &["model", "out"],
            "bench" => &["model"],
            "sample" | "manifold" | "reconstruct" | "scatter" | "explore" => &["out"],
            _ => &[],
        };
        assert_eq!(required, expected, "{cmd}: required options in the help: {line}");
        // Every option listed is accepted (the error, if any, is about something else), and one
        // that is not listed is refused.
        for (f, _) in &listed {
            let (_, _, err) = vae(&[cmd, &format!("--{f}"), "1"], None);
            assert!(!err.contains("unknown option"), "{cmd} --{f} is in the help but refused: {err}");
        }
        if cmd != "help" {
            let (code, _, err) = vae(&[cmd, "--not-an-option", "1"], None);
            assert!(code == 2 && err.contains("unknown option --not-an-option"), "{cmd}: {err}");
        }
    }
    // The README's synopsis lists the same options for each command.
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).unwrap();
    let block = readme.split("## The `vae` command").nth(1).unwrap().split("```sh\n").nth(1).unwrap();
    let block = block.split("```").next().unwrap();
    let no_comment = block.lines().map(|l| l.split(" #").next().unwrap());
    let documented = entries(no_comment, |l| l.strip_prefix("vae ").map(|r| r.split(' ').next().unwrap().to_string()));
    for (cmd, line) in &commands {
        let ours: std::collections::BTreeSet<String> = flags(line).into_iter().map(|(f, _)| f).collect();
        let readme: std::collections::BTreeSet<String> = documented
            .iter()
            .filter(|(c, _)| c == cmd)
            .flat_map(|(_, l)| flags(l).into_iter().map(|(f, _)| f))
            .collect();
        if cmd != "help" {
            assert_eq!(readme, ours, "README synopsis of `vae {cmd}` differs from the help");
        }
    }
}

#[test]
fn help_prints_the_usage_and_succeeds() {
    for args in [
        vec!["help"],
        vec!["--help"],
        vec!["train", "--help"],
        vec!["eval", "-h"],
        vec!["bench", "--model", "conv-vae", "--help"],
    ] {
        let (code, out, err) = vae(&args, None);
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(out.contains("usage: vae") && out.contains("commands:"), "{args:?}: {out}");
    }
}

#[test]
fn missing_data_and_checkpoints_exit_1_with_the_fix() {
    let empty = tempfile::tempdir().unwrap();
    let (code, _, err) =
        vae(&["train", "--model", "mlp-vae", "--out", "x.safetensors", "--epochs", "1"], Some(empty.path()));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("make data") && err.lines().count() == 1, "{err}");
    // A folder named with --data-dir gets advice about that option, not about VAE_DATA_DIR.
    let d = empty.path().to_str().unwrap();
    let out = empty.path().join("x.safetensors");
    let args = ["train", "--model", "mlp-vae", "--out", out.to_str().unwrap(), "--epochs", "1", "--data-dir", d];
    let (code, _, err) = vae(&args, None);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--data-dir") && err.contains("four IDX files") && !err.contains("VAE_DATA_DIR"), "{err}");
    let (code, _, err) = vae(&["eval", "/nonexistent/model.safetensors"], None);
    assert_eq!(code, 1);
    assert!(err.contains("no such checkpoint") && err.contains("vae train"), "{err}");
    let (code, _, err) = vae(&["data", "info", "--dir", empty.path().to_str().unwrap()], None);
    assert_eq!(code, 1);
    assert!(err.contains("missing data file"), "{err}");
}

/// A data root holding `mnist/` with 64 training and 16 test images of stripes.
fn tiny_mnist() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("mnist");
    std::fs::create_dir(&dir).unwrap();
    let n = 64;
    let img: Vec<u8> = (0..n * 784).map(|i| if (i / 28) % 7 < (i / 784) % 5 { 255 } else { 0 }).collect();
    std::fs::write(dir.join("train-images-idx3-ubyte"), encode_idx(&[n, 28, 28], &img)).unwrap();
    std::fs::write(
        dir.join("train-labels-idx1-ubyte"),
        encode_idx(&[n], &(0..n).map(|i| (i % 10) as u8).collect::<Vec<_>>()),
    )
    .unwrap();
    std::fs::write(dir.join("t10k-images-idx3-ubyte"), encode_idx(&[16, 28, 28], &img[..16 * 784])).unwrap();
    std::fs::write(dir.join("t10k-labels-idx1-ubyte"), encode_idx(&[16], &[1; 16])).unwrap();
    root
}

#[test]
fn a_closed_stdout_does_not_stop_training_or_the_save() {
    let root = tiny_mnist();
    for json in [false, true] {
        let ckpt = root.path().join(format!("piped-{json}.safetensors"));
        let mut args = vec!["train", "--model", "mlp-vae", "--epochs", "2", "--batch-size", "16"];
        args.extend(["--out", ckpt.to_str().unwrap()]);
        if json {
            args.push("--json");
        }
        // The read end is gone before the binary starts: its first line already meets a broken pipe.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let o = Command::new(env!("CARGO_BIN_EXE_vae"))
            .args(&args)
            .env("VAE_DATA_DIR", root.path())
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "json {json}: {err}");
        assert!(err.is_empty(), "json {json}: {err}");
        vae_core::checkpoint::load(&ckpt, &candle_core::Device::Cpu).unwrap();
    }
}

/// A fresh untrained checkpoint of `name` (latent 2) in `dir`.
fn checkpoint_of(name: &str, dir: &Path) -> String {
    let p = dir.join(format!("{name}.safetensors"));
    let m = vae_core::models::Model::from_name(name, Some(2), 0, &candle_core::Device::Cpu).unwrap();
    vae_core::checkpoint::save(&m, &p).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn out_paths_are_checked_before_any_work() {
    let no_data = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let t = |p: &str| tmp.path().join(p).to_str().unwrap().to_string();
    std::fs::write(t("file.st"), b"").unwrap();
    let ck = checkpoint_of("mlp-vae", tmp.path());
    let bad = [
        (t(""), "names a folder"),
        (format!("{}/", t("new")), "names a folder"),
        (t("file.st/x.st"), "file.st is a file, not a folder"),
        (t("file.st/deeper/x.st"), "file.st is a file, not a folder"),
    ];
    for (out, what) in &bad {
        // No data: an --out error must come before the data (or the checkpoint) is looked for.
        let train = ["train", "--model", "mlp-vae", "--out", out.as_str()];
        let sample = ["sample", "missing.safetensors", "--out", out.as_str()];
        let explore = ["explore", ck.as_str(), "--out", out.as_str()];
        for args in [&train[..], &sample, &explore] {
            let (code, _, err) = vae(args, Some(no_data.path()));
            assert_eq!(code, 1, "{args:?}: {err}");
            assert!(err.contains("--out") && err.contains(what) && err.lines().count() == 1, "{args:?}: {err}");
            assert!(!err.contains("os error"), "{args:?}: {err}");
        }
    }
    // Missing folders are created up front for every command, then the run goes on (here to the
    // missing data or checkpoint, or to the explorer page).
    let (code, _, err) = vae(&["train", "--model", "mlp-vae", "--out", &t("a/b/m.st")], Some(no_data.path()));
    assert!(code == 1 && err.contains("make data") && tmp.path().join("a/b").is_dir(), "{err}");
    let (code, _, err) = vae(&["sample", "missing.safetensors", "--out", &t("c/d/s.png")], None);
    assert!(code == 1 && err.contains("no such checkpoint") && tmp.path().join("c/d").is_dir(), "{err}");
    let data = tiny_mnist();
    let (code, _, err) = vae(&["explore", &ck, "--n", "8", "--out", &t("e/f/x.html")], Some(data.path()));
    assert!(code == 0 && tmp.path().join("e/f/x.html").is_file(), "{err}");
    // A figure in a format its writer does not have is a usage error, before the checkpoint is read.
    for args in
        [["sample", "missing.safetensors", "--out", "s.jpg"], ["scatter", "missing.safetensors", "--out", "z.png"]]
    {
        let (code, _, err) = vae(&args, None);
        assert!(code == 2 && err.contains("--out") && err.contains("usage: vae"), "{args:?}: {err}");
    }
}

#[test]
fn eval_tests_a_checkpoint_the_way_it_was_trained() {
    let root = tiny_mnist();
    // The same files as Fashion-MNIST: which one eval reads shows in its report.
    let fashion = root.path().join("fashion-mnist");
    std::fs::create_dir(&fashion).unwrap();
    for f in std::fs::read_dir(root.path().join("mnist")).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), fashion.join(f.file_name())).unwrap();
    }
    let ckpt = root.path().join("c.safetensors");
    let ck = ckpt.to_str().unwrap();
    let train = ["train", "--model", "conv-vae", "--dataset", "fashion-mnist", "--binarize", "static"];
    let (code, _, err) = vae(
        &[&train[..], &["--objective", "mc-elbo", "--epochs", "1", "--batch-size", "16", "--out", ck, "--json"]]
            .concat(),
        Some(root.path()),
    );
    assert_eq!(code, 0, "{err}");
    let eval = |extra: &[&str]| {
        let (code, out, err) = vae(&[&["eval", ck, "--json"][..], extra].concat(), Some(root.path()));
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        let field = |k: &str| v[k].as_str().unwrap().to_string();
        (field("dataset"), field("binarize"), field("objective"), v["test_loss"].as_f64().unwrap())
    };
    let (dataset, binarize, objective, loss) = eval(&[]);
    assert_eq!((dataset.as_str(), binarize.as_str(), objective.as_str()), ("fashion-mnist", "static", "mc-elbo"));
    // Options still win.
    let (dataset, binarize, objective, _) = eval(&["--dataset", "mnist", "--binarize", "none", "--objective", "elbo"]);
    assert_eq!((dataset.as_str(), binarize.as_str(), objective.as_str()), ("mnist", "none", "elbo"));
    // --seed draws the Monte Carlo ELBO's noise; the default seed is 0.
    assert_eq!(eval(&["--seed", "0"]).3, loss);
    assert_ne!(eval(&["--seed", "1"]).3, loss);
    // A checkpoint without the training metadata: MNIST, grey levels, the model's default objective.
    let bare = checkpoint_of("conv-vae", root.path());
    let (code, out, err) = vae(&["eval", &bare, "--json"], Some(root.path()));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (v["dataset"].as_str(), v["binarize"].as_str(), v["objective"].as_str()),
        (Some("mnist"), Some("none"), Some("elbo"))
    );
}

#[test]
fn train_eval_on_a_tiny_mnist_directory() {
    let root = tiny_mnist();
    let dir = root.path().join("mnist");
    let ckpt = root.path().join("m.safetensors");
    let (code, out, err) = vae(
        &[
            "train",
            "--model",
            "mlp-vae",
            "--dataset",
            "mnist",
            "--epochs",
            "2",
            "--latent",
            "2",
            "--seed",
            "1",
            "--batch-size",
            "16",
            "--out",
            ckpt.to_str().unwrap(),
            "--json",
        ],
        Some(root.path()),
    );
    assert_eq!(code, 0, "{err}");
    let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["epoch"], i + 1);
        for k in ["train_loss", "test_loss", "epoch_seconds"] {
            assert!(l[k].as_f64().unwrap().is_finite(), "{k} in {l}");
        }
    }
    let (code, out, err) = vae(&["eval", ckpt.to_str().unwrap(), "--iwae", "10", "--json"], Some(root.path()));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert!(v["iwae_nll"].as_f64().unwrap() > 0.0 && v["test_loss"].as_f64().unwrap() > 0.0, "{v}");
    let (code, out, err) = vae(&["data", "info", "--dir", dir.to_str().unwrap()], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("[64, 784]"), "{out}");

    // A non-default activation is kept in the checkpoint: eval rebuilds the same model.
    let elu = root.path().join("elu.safetensors");
    let (code, _, err) = vae(
        &[
            "train",
            "--model",
            "mlp-vae",
            "--epochs",
            "1",
            "--hidden",
            "32",
            "--activation",
            "elu",
            "--batch-size",
            "16",
            "--out",
            elu.to_str().unwrap(),
            "--json",
        ],
        Some(root.path()),
    );
    assert_eq!(code, 0, "{err}");
    let model = vae_core::checkpoint::load(&elu, &candle_core::Device::Cpu).unwrap();
    match model.config() {
        vae_core::models::ModelConfig::MlpVae(c) => {
            assert_eq!((c.activation, c.hidden.as_slice()), (vae_core::models::Activation::Elu, &[32][..]))
        }
        other => panic!("expected an MLP VAE, got {other:?}"),
    }
    let (code, _, err) = vae(&["eval", elu.to_str().unwrap()], Some(root.path()));
    assert_eq!(code, 0, "{err}");

    // The figure commands write real pictures.
    let ck = ckpt.to_str().unwrap();
    let png = |name: &str| root.path().join(name);
    let (code, _, err) = vae(&["sample", ck, "--n", "12", "--out", png("s.png").to_str().unwrap()], None);
    assert_eq!(code, 0, "{err}");
    let img = read_png(png("s.png"));
    assert!(img.width() > 84 && img.height() >= 84, "{}x{}", img.width(), img.height());
    let (code, _, err) = vae(&["manifold", ck, "--n", "5", "--out", png("m.png").to_str().unwrap()], None);
    assert_eq!(code, 0, "{err}");
    let m = read_png(png("m.png"));
    assert!(m.width() >= 5 * 28 && m.height() >= 5 * 28);
    let (code, _, err) =
        vae(&["manifold", ck, "--range", "-3:3", "--n", "4", "--out", png("m2.png").to_str().unwrap()], None);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = vae(&["manifold", ck, "--range", "wide", "--out", png("m3.png").to_str().unwrap()], None);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) =
        vae(&["reconstruct", ck, "--n", "6", "--out", png("r.png").to_str().unwrap()], Some(root.path()));
    assert_eq!(code, 0, "{err}");
    assert!(read_png(png("r.png")).height() >= 2 * 28);
    let (code, _, err) = vae(&["scatter", ck, "--out", png("z.svg").to_str().unwrap()], Some(root.path()));
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = vae(&["explore", ck, "--out", png("e.html").to_str().unwrap()], Some(root.path()));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("MB"), "{out}");
    let html = std::fs::read_to_string(png("e.html")).unwrap();
    assert!(html.contains("<canvas") && !html.contains("src=\"http"), "explorer page must be self-contained");
    let svg = std::fs::read_to_string(png("z.svg")).unwrap();
    assert!(svg.starts_with("<svg") || svg.contains("<svg"), "not an SVG");
    let texts: Vec<&str> = svg
        .split("<text")
        .skip(1)
        .filter_map(|t| t.split_once('>').and_then(|(_, rest)| rest.split("</text>").next()))
        .map(|t| t.trim())
        .collect();
    for label in ["class", "0", "1", "9"] {
        assert!(texts.contains(&label), "legend label {label} missing: {texts:?}");
    }
}
