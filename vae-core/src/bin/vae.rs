//! `vae`: the course's main job without Jupyter. Bad arguments exit 2 with usage; runtime
//! errors exit 1 with one clear line.
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use vae_core::data::{Corruption, Dataset, FashionMnist, Mnist};
use vae_core::models::params::Params;
use vae_core::models::{Activation, Model, MODEL_NAMES};
use vae_core::objective::Objective;
use vae_core::rng::Rng;
use vae_core::training::{Binarization, TrainConfig, Trainer};
use vae_core::{checkpoint, evaluation, Result};

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// One option of a command: `--name VALUE` (a switch when `value` is `None`).
struct Opt {
    name: &'static str,
    value: Option<&'static str>,
    required: bool,
}

const fn req(name: &'static str, value: &'static str) -> Opt {
    Opt { name, value: Some(value), required: true }
}
const fn opt(name: &'static str, value: &'static str) -> Opt {
    Opt { name, value: Some(value), required: false }
}
const fn switch(name: &'static str) -> Opt {
    Opt { name, value: None, required: false }
}

/// A command, its positional arguments and every option it accepts.
struct CommandSpec {
    name: &'static str,
    positional: &'static str,
    options: &'static [Opt],
    /// The file types `--out` may have (empty: any).
    out_types: &'static [&'static str],
    note: &'static str,
}

const BINARIZE: &str = "none|static|dynamic";
const OBJECTIVES: &str = "mse|bce|elbo|mc-elbo";

/// The one list of commands and options: `vae help` is printed from it and `Opts::parse` accepts
/// exactly what it lists, so the two cannot drift apart.
const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "train",
        positional: "",
        options: &[
            req("model", "M"),
            req("out", "CKPT"),
            opt("dataset", "D"),
            opt("epochs", "N"),
            opt("seed", "S"),
            opt("latent", "Z"),
            opt("hidden", "H1,H2"),
            opt("activation", "A"),
            opt("batch-size", "B"),
            opt("lr", "LR"),
            opt("beta", "B"),
            opt("milestones", "E1,E2"),
            opt("gamma", "G"),
            opt("binarize", BINARIZE),
            opt("objective", OBJECTIVES),
            opt("denoise", "gaussian:STD|salt-pepper:P|mask:P"),
            opt("train-size", "N"),
            opt("test-size", "N"),
            opt("data-dir", "DIR"),
            opt("max-batches", "N"),
            switch("json"),
            switch("quiet"),
        ],
        out_types: &[],
        note: "",
    },
    CommandSpec {
        name: "eval",
        positional: "CKPT",
        options: &[
            opt("dataset", "D"),
            opt("iwae", "K"),
            opt("binarize", BINARIZE),
            opt("objective", OBJECTIVES),
            opt("seed", "S"),
            opt("test-size", "N"),
            opt("data-dir", "DIR"),
            switch("json"),
        ],
        out_types: &[],
        note: "(--dataset, --binarize, --objective: as trained unless given)",
    },
    CommandSpec {
        name: "sample",
        positional: "CKPT",
        options: &[req("out", "FILE.png"), opt("n", "N"), opt("seed", "S")],
        out_types: &["png", "html"],
        note: "(VAEs only)",
    },
    CommandSpec {
        name: "manifold",
        positional: "CKPT",
        options: &[req("out", "FILE.png"), opt("n", "N"), opt("range", "quantiles|LO:HI")],
        out_types: &["png", "html"],
        note: "(autoencoders: --range LO:HI)",
    },
    CommandSpec {
        name: "reconstruct",
        positional: "CKPT",
        options: &[req("out", "FILE.png"), opt("n", "N"), opt("dataset", "D"), opt("data-dir", "DIR")],
        out_types: &["png", "html"],
        note: "",
    },
    CommandSpec {
        name: "scatter",
        positional: "CKPT",
        options: &[req("out", "FILE.svg"), opt("n", "N"), opt("dataset", "D"), opt("data-dir", "DIR")],
        out_types: &["svg", "html"],
        note: "",
    },
    CommandSpec {
        name: "explore",
        positional: "CKPT",
        options: &[req("out", "FILE.html"), opt("n", "N"), opt("dataset", "D"), opt("data-dir", "DIR")],
        out_types: &["html"],
        note: "(interactive latent explorer)",
    },
    CommandSpec { name: "data", positional: "info", options: &[opt("dir", "DIR")], out_types: &[], note: "" },
    CommandSpec {
        name: "bench",
        positional: "",
        options: &[
            req("model", "M"),
            opt("epochs", "N"),
            opt("batch-size", "B"),
            opt("lr", "LR"),
            opt("max-batches", "N"),
            opt("dataset", "D"),
            opt("data-dir", "DIR"),
            switch("json"),
        ],
        out_types: &[],
        note: "",
    },
    CommandSpec { name: "help", positional: "", options: &[], out_types: &[], note: "" },
];

fn command_spec(name: &str) -> Option<&'static CommandSpec> {
    COMMANDS.iter().find(|c| c.name == name)
}

/// The usage text, from [`COMMANDS`]: required options first as given, optional ones in brackets,
/// wrapped under the command's column.
fn usage() -> String {
    const WIDTH: usize = 110;
    let indent = 2 + COMMANDS.iter().map(|c| c.name.len()).max().unwrap_or(0) + 1;
    let mut text = String::from("usage: vae <command> [options]\n\ncommands:\n");
    for c in COMMANDS {
        let mut words: Vec<String> = vec![];
        if !c.positional.is_empty() {
            words.push(c.positional.to_string());
        }
        for o in c.options {
            let flag = match o.value {
                Some(v) => format!("--{} {v}", o.name),
                None => format!("--{}", o.name),
            };
            words.push(if o.required { flag } else { format!("[{flag}]") });
        }
        if !c.note.is_empty() {
            words.push(c.note.to_string());
        }
        let mut line = format!("  {:<width$}", c.name, width = indent - 2);
        let mut empty = true;
        for w in words {
            if !empty && line.len() + 1 + w.len() > WIDTH {
                text += line.trim_end();
                text += "\n";
                line = " ".repeat(indent);
                empty = true;
            }
            if !empty {
                line.push(' ');
            }
            line += &w;
            empty = false;
        }
        text += line.trim_end();
        text += "\n";
    }
    let figures: Vec<String> = COMMANDS
        .iter()
        .filter(|c| !c.out_types.is_empty())
        .map(|c| format!("{} .{}", c.name, c.out_types.join("|.")))
        .collect();
    text += &format!("\n--out:       {}\n", figures.join(", "));
    let activations: Vec<&str> = Activation::ALL.iter().map(|a| a.name()).collect();
    text += &format!(
        "models:      {}\nactivations: {} (--activation and --hidden: dense models only)\n\
         datasets:    mnist, fashion-mnist (from data/ at the repository root, or VAE_DATA_DIR; fetch with `make data`)",
        MODEL_NAMES.join(", "),
        activations.join(", ")
    );
    text
}

/// `println!` for everything the binary prints on stdout, without its panic when stdout is
/// closed: progress is for whoever still reads it, and a run must go on to save its checkpoint.
macro_rules! say {
    ($($arg:tt)*) => {
        vae_core::training::print_progress(&format!($($arg)*))
    };
}

/// The most parameters `vae train` builds a model with: about 1.6 GB with the gradients and
/// Adam's two moments, far above every preset (the largest has 1.4 million). A bigger --latent or
/// --hidden is a typo more often than a plan, and would otherwise abort in the allocator.
const MAX_PARAMETERS: usize = 100_000_000;

/// Images in the test split of MNIST and Fashion-MNIST: the most a figure command can show.
const TEST_SET_SIZE: usize = 10_000;

/// A usage error: exit code 2.
struct Usage(String);

type CliResult<T> = std::result::Result<T, CliError>;

enum CliError {
    Usage(String),
    Run(vae_core::Error),
    /// A runtime error the binary words itself (exit 1), e.g. about an option's file.
    Fail(String),
}

impl From<vae_core::Error> for CliError {
    fn from(e: vae_core::Error) -> Self {
        CliError::Run(e)
    }
}
impl From<candle_core::Error> for CliError {
    fn from(e: candle_core::Error) -> Self {
        CliError::Run(e.into())
    }
}
impl From<Usage> for CliError {
    fn from(u: Usage) -> Self {
        CliError::Usage(u.0)
    }
}

/// Parsed `--flag value` options plus positional arguments, checked against what a command accepts.
struct Opts {
    cmd: String,
    positional: Vec<String>,
    values: HashMap<String, String>,
    switches: Vec<String>,
}

impl Opts {
    /// Parses `args` against what [`COMMANDS`] lists for `cmd`: an option it does not list, or a
    /// required one missing, is a usage error.
    fn parse(cmd: &str, args: &[String]) -> std::result::Result<Opts, Usage> {
        let spec = command_spec(cmd).expect("every command is in COMMANDS");
        let valued: Vec<&str> = spec.options.iter().filter(|o| o.value.is_some()).map(|o| o.name).collect();
        let switches: Vec<&str> = spec.options.iter().filter(|o| o.value.is_none()).map(|o| o.name).collect();
        let mut o = Opts { cmd: cmd.to_string(), positional: vec![], values: HashMap::new(), switches: vec![] };
        let mut i = 0;
        while i < args.len() {
            let a = &args[i];
            if let Some(name) = a.strip_prefix("--") {
                let (name, inline) = match name.split_once('=') {
                    Some((n, v)) => (n, Some(v.to_string())),
                    None => (name, None),
                };
                if switches.contains(&name) {
                    o.switches.push(name.to_string());
                } else if valued.contains(&name) {
                    let v = match inline {
                        Some(v) => v,
                        None => {
                            i += 1;
                            args.get(i).cloned().ok_or_else(|| Usage(format!("{cmd}: --{name} needs a value")))?
                        }
                    };
                    o.values.insert(name.to_string(), v);
                } else {
                    return Err(Usage(format!("{cmd}: unknown option --{name}")));
                }
            } else {
                o.positional.push(a.clone());
            }
            i += 1;
        }
        if let Some(r) = spec.options.iter().find(|r| r.required && !o.values.contains_key(r.name)) {
            return Err(Usage(format!("{cmd}: --{} is required", r.name)));
        }
        Ok(o)
    }
    fn get(&self, k: &str) -> Option<&str> {
        self.values.get(k).map(|s| s.as_str())
    }
    fn has(&self, k: &str) -> bool {
        self.switches.iter().any(|s| s == k)
    }
    fn require(&self, k: &str) -> std::result::Result<&str, Usage> {
        self.get(k).ok_or_else(|| Usage(format!("{}: --{k} is required", self.cmd)))
    }
    fn num<T: std::str::FromStr>(&self, k: &str, default: T) -> std::result::Result<T, Usage> {
        match self.get(k) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| Usage(format!("{}: --{k} {v}: not a valid number", self.cmd))),
        }
    }
    /// `--{k}` as a count from 1 to `max`, the most that `what` can sensibly hold.
    fn count(&self, k: &str, default: usize, max: usize, what: &str) -> std::result::Result<usize, Usage> {
        let n: usize = self.num(k, default)?;
        if n == 0 {
            return Err(Usage(format!("{}: --{k} 0: nothing to show; use at least 1", self.cmd)));
        }
        if n > max {
            return Err(Usage(format!("{}: --{k} {n}: at most {max} ({what})", self.cmd)));
        }
        Ok(n)
    }
    fn opt_num<T: std::str::FromStr>(&self, k: &str) -> std::result::Result<Option<T>, Usage> {
        self.get(k)
            .map(|v| v.parse().map_err(|_| Usage(format!("{}: --{k} {v}: not a valid number", self.cmd))))
            .transpose()
    }
    fn one_positional(&self, what: &str) -> std::result::Result<&str, Usage> {
        match self.positional.as_slice() {
            [p] => Ok(p),
            [] => Err(Usage(format!("{}: missing {what}", self.cmd))),
            more => Err(Usage(format!("{}: expected one {what}, got {}", self.cmd, more.len()))),
        }
    }
    fn no_positional(&self) -> std::result::Result<(), Usage> {
        match self.positional.first() {
            Some(p) => Err(Usage(format!("{}: unexpected argument '{p}'", self.cmd))),
            None => Ok(()),
        }
    }
}

/// `--dataset` (default mnist) as the name [`load_dataset`] takes, checked with the other options
/// so that a typo is a usage error before any checkpoint or data file is read.
fn dataset_option(o: &Opts) -> std::result::Result<&'static str, Usage> {
    match o.get("dataset").unwrap_or("mnist") {
        "mnist" => Ok("mnist"),
        "fashion-mnist" | "fashion" => Ok("fashion-mnist"),
        other => Err(Usage(format!("{}: --dataset {other}: expected mnist or fashion-mnist", o.cmd))),
    }
}

/// Loads a data set named by [`dataset_option`].
fn load_dataset(name: &str, dir: Option<&str>) -> CliResult<Dataset> {
    let root = dir.map(PathBuf::from);
    let loaded = match name {
        "fashion-mnist" => {
            FashionMnist::load(root.unwrap_or_else(|| vae_core::data::data_root().join("fashion-mnist")))
        }
        _ => Mnist::load(root.unwrap_or_else(|| vae_core::data::data_root().join("mnist"))),
    };
    match (loaded, dir) {
        // The library's advice (make data, VAE_DATA_DIR) does not fit a folder the user named.
        (Err(vae_core::Error::MissingData { path, .. }), Some(d)) => Err(CliError::Fail(format!(
            "--data-dir {d}: missing data file {}; --data-dir names the folder that holds one data set's four IDX files (e.g. data/{name})",
            path.display()
        ))),
        (loaded, _) => Ok(loaded?),
    }
}

fn parse_binarize(v: Option<&str>) -> std::result::Result<(Option<f32>, Binarization), Usage> {
    match v.unwrap_or("none") {
        "none" => Ok((None, Binarization::None)),
        "static" => Ok((Some(0.5), Binarization::None)),
        "dynamic" => Ok((None, Binarization::Dynamic)),
        o => Err(Usage(format!("--binarize {o}: expected none, static or dynamic"))),
    }
}

fn parse_corruption(v: &str) -> std::result::Result<Corruption, Usage> {
    let (kind, amount) = v.split_once(':').unwrap_or((v, ""));
    let amount: f32 = if amount.is_empty() {
        0.5
    } else {
        amount.parse().map_err(|_| Usage(format!("--denoise {v}: bad amount")))?
    };
    match kind {
        "gaussian" => Ok(Corruption::Gaussian { std: amount }),
        "salt-pepper" => Ok(Corruption::SaltPepper { p: amount }),
        "mask" => Ok(Corruption::Mask { p: amount }),
        _ => Err(Usage(format!("--denoise {v}: expected gaussian:STD, salt-pepper:P or mask:P"))),
    }
}

/// A comma-separated list of numbers such as `5,8`, or a usage error showing `example`.
fn parse_list<T: std::str::FromStr>(v: &str, what: &str, example: &str) -> std::result::Result<Vec<T>, Usage> {
    v.split(',')
        .map(|m| m.trim().parse().map_err(|_| Usage(format!("{what} {v}: expected a list like {example}"))))
        .collect()
}

fn parse_objective(v: &str) -> std::result::Result<Objective, Usage> {
    match v {
        "mse" => Ok(Objective::Mse),
        "bce" => Ok(Objective::Bce),
        "elbo" => Ok(Objective::Elbo),
        "mc-elbo" => Ok(Objective::McElbo),
        _ => Err(Usage(format!("--objective {v}: expected mse, bce, elbo or mc-elbo"))),
    }
}

/// A [`TrainConfig`] setting that cannot work, as a usage error naming the option that set it.
fn check_settings(cmd: &str, cfg: &TrainConfig) -> std::result::Result<(), Usage> {
    let Some((field, why)) = cfg.invalid_setting() else { return Ok(()) };
    let option = match field {
        "corruption" => "denoise".to_string(),
        f => f.replace('_', "-"),
    };
    Err(Usage(format!("{cmd}: --{option} {why}")))
}

/// `--train-size` and `--test-size` (all images by default).
fn subset_sizes(o: &Opts) -> CliResult<(usize, usize)> {
    let sizes = (o.num("train-size", usize::MAX)?, o.num("test-size", usize::MAX)?);
    for (name, n) in [("train-size", sizes.0), ("test-size", sizes.1)] {
        if n == 0 {
            return Err(Usage(format!("{}: --{name} 0: use at least 1 image, or leave it out for all", o.cmd)).into());
        }
    }
    Ok(sizes)
}

/// An I/O error in words, without the "(os error N)" that means nothing to the reader.
fn io_reason(e: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    match e.kind() {
        PermissionDenied => "permission denied".into(),
        ReadOnlyFilesystem => "the file system is read-only".into(),
        StorageFull => "the disk is full".into(),
        _ => {
            let s = e.to_string();
            match s.find(" (os error") {
                Some(i) => s[..i].to_lowercase(),
                None => s,
            }
        }
    }
}

/// Makes sure `--out` can be written before any work is done, so that a long run cannot end in
/// a failed save: a missing parent folder is created (as the figure writers always did), a path
/// that is a folder or lies under a file is refused, as is a file type that [`COMMANDS`] does
/// not list for the command.
fn check_out(cmd: &str, out: &str) -> CliResult<()> {
    let extensions = command_spec(cmd).map_or(&[][..], |c| c.out_types);
    let path = Path::new(out);
    let fail = |what: String| CliError::Fail(format!("{cmd}: --out {out}: {what}"));
    if out.is_empty() {
        return Err(Usage(format!("{cmd}: --out needs a file path")).into());
    }
    if out.ends_with('/') || path.is_dir() {
        return Err(fail("this names a folder; give a file path in it, e.g. --out <folder>/<name>".into()));
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    // The nearest part of the path that exists must be a folder, else nothing can go under it.
    if let Some(file) = parent.ancestors().find(|a| !a.as_os_str().is_empty() && a.exists() && !a.is_dir()) {
        return Err(fail(format!("{} is a file, not a folder; choose a path under a folder", file.display())));
    }
    if !extensions.is_empty() {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
        if !extensions.contains(&ext.as_str()) {
            let list: Vec<String> = extensions.iter().map(|e| format!(".{e}")).collect();
            return Err(
                Usage(format!("{cmd}: --out {out}: unknown file type; end the name in {}", list.join(" or "))).into()
            );
        }
    }
    std::fs::create_dir_all(parent).map_err(|e| {
        fail(format!("cannot create the folder {} ({}); choose a writable location", parent.display(), io_reason(&e)))
    })?;
    // A probe file in the folder finds a read-only or full location now rather than after training.
    let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let probe = parent.join(format!(".{name}.probe-{}", std::process::id()));
    match std::fs::File::create(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => {
            Err(fail(format!("cannot write in {} ({}); choose a writable location", parent.display(), io_reason(&e))))
        }
    }
}

/// The commands parse every option before they read a file, so that a bad flag is a usage error
/// (exit 2) whether or not the data and checkpoints are there.
fn prepare(data: Dataset, (n_train, n_test): (usize, usize), binarize_static: Option<f32>) -> CliResult<Dataset> {
    let mut d = data.subset(n_train, n_test)?;
    if let Some(t) = binarize_static {
        d = d.binarized(t)?;
    }
    Ok(d.to_device(&vae_core::device::default_device())?)
}

fn cmd_train(args: &[String]) -> CliResult<()> {
    let o = Opts::parse("train", args)?;
    o.no_positional()?;
    let model_name = o.require("model")?;
    if !MODEL_NAMES.contains(&model_name) {
        return Err(
            Usage(format!("train: unknown model '{model_name}', expected one of {}", MODEL_NAMES.join(", "))).into()
        );
    }
    let dataset = dataset_option(&o)?;
    let out = o.require("out")?.to_string();
    let (stat, binarization) = parse_binarize(o.get("binarize"))?;
    let milestones = match o.get("milestones") {
        None => vec![],
        Some(s) => parse_list(s, "train: --milestones", "5,8")?,
    };
    if milestones.is_empty() && o.get("gamma").is_some() {
        return Err(Usage(
            "train: --gamma scales the learning rate at --milestones, and none are given; add --milestones E1,E2 or drop --gamma".into(),
        )
        .into());
    }
    let cfg = TrainConfig {
        epochs: o.num("epochs", 10)?,
        batch_size: o.num("batch-size", 128)?,
        lr: o.num("lr", 1e-3)?,
        milestones,
        gamma: o.num("gamma", 0.1)?,
        seed: o.num("seed", 0)?,
        beta: o.num("beta", 1.0)?,
        objective: o.get("objective").map(parse_objective).transpose()?,
        binarization,
        corruption: o.get("denoise").map(parse_corruption).transpose()?,
        eval_test: true,
        max_batches: o.opt_num("max-batches")?,
        quiet: o.has("json") || o.has("quiet"),
    };
    check_settings("train", &cfg)?;
    let latent: Option<usize> = o.opt_num("latent")?;
    let mut model_cfg = vae_core::models::ModelConfig::from_name(model_name, latent)?;
    if let Some(h) = o.get("hidden") {
        let sizes = parse_list(h, "train: --hidden", "512,256")?;
        model_cfg.set_hidden(sizes).map_err(|e| Usage(format!("train: --hidden: {e}")))?;
    }
    if let Some(a) = o.get("activation") {
        let names: Vec<&str> = Activation::ALL.iter().map(|a| a.name()).collect();
        let act = Activation::from_name(a)
            .ok_or_else(|| Usage(format!("train: --activation {a}: expected one of {}", names.join(", "))))?;
        model_cfg.set_activation(act).map_err(|e| Usage(format!("train: --activation: {e}")))?;
    }
    let sizes = subset_sizes(&o)?;
    // Built before the data is read, within a budget that refuses an absurd size before it is allocated.
    let size_options = if model_cfg.hidden().is_some() { "--latent or --hidden" } else { "--latent" };
    let params = Params::with_limit(cfg.seed, MAX_PARAMETERS);
    let model = Model::with_params(model_cfg, params.clone(), &vae_core::device::default_device()).map_err(|e| {
        if params.limit_hit() {
            CliError::Usage(format!(
                "train: this {model_name} would have more than {MAX_PARAMETERS} parameters; use a smaller {size_options}"
            ))
        } else if let vae_core::Error::Config(m) = e {
            CliError::Usage(format!("train: {m}; check {size_options}"))
        } else {
            e.into()
        }
    })?;
    if let Some(o) = cfg.objective.filter(|o| !o.applies_to(&model)) {
        return Err(Usage(format!(
            "train: --objective {} needs a VAE, and {model_name} is an autoencoder; use mse or bce",
            o.name()
        ))
        .into());
    }
    check_out("train", &out)?;
    let data = prepare(load_dataset(dataset, o.get("data-dir"))?, sizes, stat)?;
    let json = o.has("json");
    if !json {
        say!("training {model:?} on {} ({} train / {} test images)", data.name, data.train.len(), data.test.len());
    }
    let history = Trainer::new(cfg.clone()).fit_with(&model, &data, |s, m| {
        if json {
            let mut v = serde_json::to_value(s).expect("stats serialise");
            v["model"] = m.name().into();
            say!("{v}");
        }
        Ok(())
    })?;
    let mut meta = HashMap::new();
    meta.insert("dataset".to_string(), data.name.clone());
    // What `vae eval` needs to test the model the way it was trained (static binarisation is
    // applied to the data, so train_config cannot say it).
    meta.insert(META_DATASET.to_string(), dataset.to_string());
    meta.insert(META_BINARIZE.to_string(), o.get("binarize").unwrap_or("none").to_string());
    meta.insert("train_config".to_string(), serde_json::to_string(&cfg).unwrap_or_default());
    if let Some(last) = history.last() {
        meta.insert("final_epoch".to_string(), serde_json::to_string(last).unwrap_or_default());
    }
    checkpoint::save_with_metadata(&model, &out, meta)?;
    if !json {
        say!("saved {out}");
    }
    Ok(())
}

/// Checkpoint metadata keys written by `vae train`: the `--dataset` and `--binarize` it used.
const META_DATASET: &str = "dataset_option";
const META_BINARIZE: &str = "binarize";

/// How a checkpoint was trained, as far as its metadata tells: what `vae eval` tests it with
/// unless an option says otherwise. Checkpoints from before these keys were written fall back on
/// the display name of the data set and on train_config (which records dynamic binarisation).
struct TrainedWith {
    dataset: &'static str,
    binarize: String,
    objective: Option<Objective>,
}

fn trained_with(meta: &HashMap<String, String>) -> TrainedWith {
    let cfg: Option<TrainConfig> = meta.get("train_config").and_then(|c| serde_json::from_str(c).ok());
    let fashion = match meta.get(META_DATASET) {
        Some(d) => d == "fashion-mnist",
        None => meta.get("dataset").is_some_and(|d| d.to_lowercase().contains("fashion")),
    };
    let binarize = match (meta.get(META_BINARIZE), &cfg) {
        (Some(b), _) => b.clone(),
        (None, Some(c)) if c.binarization == Binarization::Dynamic => "dynamic".into(),
        _ => "none".into(),
    };
    TrainedWith {
        dataset: if fashion { "fashion-mnist" } else { "mnist" },
        binarize,
        objective: cfg.and_then(|c| c.objective),
    }
}

/// The error for a command that needs a VAE but was given an autoencoder's checkpoint.
fn not_a_vae(ckpt: &str, model: &Model, why: &str) -> CliError {
    CliError::Fail(format!("{ckpt} holds {}, an autoencoder: {why}", model.name()))
}

fn cmd_eval(args: &[String]) -> CliResult<()> {
    let o = Opts::parse("eval", args)?;
    let ckpt = o.one_positional("checkpoint path")?;
    parse_binarize(o.get("binarize"))?;
    let sizes = subset_sizes(&o)?;
    let seed: u64 = o.num("seed", 0)?;
    let objective = o.get("objective").map(parse_objective).transpose()?;
    let iwae: Option<usize> = o.opt_num("iwae")?;
    dataset_option(&o)?;
    if iwae == Some(0) {
        return Err(
            Usage("eval: --iwae 0: the estimate needs at least 1 sample per image, e.g. --iwae 5000".into()).into()
        );
    }
    let (model, meta) = checkpoint::load_with_metadata(ckpt, &vae_core::device::default_device())?;
    // Checked before the data is read and evaluated: neither can make these meaningful.
    if !model.is_variational() {
        if let Some(o) = objective.filter(|o| !o.applies_to(&model)) {
            return Err(not_a_vae(ckpt, &model, &format!("--objective {} needs a VAE; use mse or bce", o.name())));
        }
        if iwae.is_some() {
            return Err(not_a_vae(ckpt, &model, "it has no likelihood for --iwae to estimate; drop --iwae"));
        }
    }
    // Tested as it was trained unless an option says otherwise: a Fashion-MNIST model on
    // Fashion-MNIST, the conv recipe's model on static binarisation with its Monte Carlo ELBO.
    let trained = trained_with(&meta);
    let dataset = if o.get("dataset").is_some() { dataset_option(&o)? } else { trained.dataset };
    let binarize = o.get("binarize").unwrap_or(&trained.binarize).to_string();
    let (stat, binarization) = parse_binarize(Some(&binarize))
        .map_err(|e| CliError::Fail(format!("{ckpt}: metadata: {}; pass --binarize", e.0)))?;
    let objective = objective
        .or(trained.objective.filter(|t| t.applies_to(&model)))
        .unwrap_or_else(|| Objective::default_for(&model));
    let data = prepare(load_dataset(dataset, o.get("data-dir"))?, sizes, stat)?;
    let mut test = data.test.clone();
    if binarization == Binarization::Dynamic {
        test.images = vae_core::data::dynamic_binarize(&test.images, &mut Rng::new(seed))?;
    }
    let stats = evaluation::evaluate(&model, &test, objective, 1.0, None, seed)?;
    let pixel = evaluation::pixel_error(&model, &test)?;
    let nll = match iwae {
        Some(k) => Some(evaluation::iwae_nll(&model, &test, k, 8192, &mut Rng::new(seed))?),
        None => None,
    };
    if o.has("json") {
        let v = serde_json::json!({"model": model.name(), "dataset": dataset, "binarize": binarize, "objective": objective.name(),
            "seed": seed, "test_loss": stats.loss, "test_recon": stats.recon,
            "test_kl": stats.kl, "pixel_mse": pixel, "iwae_k": iwae, "iwae_nll": nll, "n": stats.n});
        say!("{v}");
    } else {
        say!("{model:?} on {} test images of {} (binarize {binarize})", stats.n, data.name);
        say!("test loss ({}): {:.3}  (recon {:.3}, kl {:.3})", objective.name(), stats.loss, stats.recon, stats.kl);
        say!("per-pixel squared error: {pixel:.5}");
        if let (Some(k), Some(n)) = (iwae, nll) {
            say!("IWAE negative log-likelihood (k = {k}): {n:.2} nats");
        }
    }
    Ok(())
}

fn cmd_data(args: &[String]) -> CliResult<()> {
    let o = Opts::parse("data", args)?;
    match o.positional.as_slice() {
        [s] if s == "info" => {}
        _ => return Err(Usage("data: expected `vae data info [--dir DIR]`".into()).into()),
    }
    let dirs: Vec<(String, PathBuf)> = match o.get("dir") {
        Some(d) => vec![(d.to_string(), PathBuf::from(d))],
        None => {
            ["mnist", "fashion-mnist"].iter().map(|n| (n.to_string(), vae_core::data::data_root().join(n))).collect()
        }
    };
    for (name, dir) in dirs {
        let classes: &[&str] =
            if name.contains("fashion") { &vae_core::data::FASHION_CLASSES } else { &vae_core::data::MNIST_CLASSES };
        let d = Dataset::load_idx_dir(&dir, &name, classes)?;
        say!(
            "{}: train images {:?} labels {:?}, test images {:?} labels {:?}, {}x{} pixels, {} classes",
            dir.display(),
            d.train.images.dims(),
            d.train.labels.dims(),
            d.test.images.dims(),
            d.test.labels.dims(),
            d.height,
            d.width,
            d.num_classes()
        );
    }
    Ok(())
}

fn cmd_bench(args: &[String]) -> CliResult<()> {
    let o = Opts::parse("bench", args)?;
    o.no_positional()?;
    let name = o.require("model")?;
    if !MODEL_NAMES.contains(&name) {
        return Err(Usage(format!("bench: unknown model '{name}', expected one of {}", MODEL_NAMES.join(", "))).into());
    }
    let dataset = dataset_option(&o)?;
    let default_bs = if name == "conv-vae" { 32 } else { 128 };
    let default_lr = if name == "conv-vae" { 1e-4 } else { 1e-3 };
    let (batch_size, lr, epochs, max_batches) =
        (o.num("batch-size", default_bs)?, o.num("lr", default_lr)?, o.num("epochs", 1)?, o.opt_num("max-batches")?);
    check_settings("bench", &TrainConfig { epochs, batch_size, lr, max_batches, ..TrainConfig::default() })?;
    let model = Model::from_name(name, None, 0, &vae_core::device::default_device())?;
    let data = prepare(
        load_dataset(dataset, o.get("data-dir"))?,
        (usize::MAX, usize::MAX),
        if name == "conv-vae" { Some(0.5) } else { None },
    )?;
    let json = o.has("json");
    vae_core::bench::bench_training(&model, &data, batch_size, lr, epochs, max_batches, |e| {
        if json {
            say!("{}", serde_json::to_string(e).expect("serialise"));
        } else {
            let passes = match (e.forward_seconds, e.backward_seconds) {
                (Some(f), Some(b)) => format!("forward {f:.2} s, backward {b:.2} s"),
                _ => format!("forward+backward (fused) {:.2} s", e.forward_backward_seconds),
            };
            say!(
                "{} epoch {}: {:.2} s ({:.0} img/s; {passes}, optimiser {:.2} s) loss {:.3}",
                e.model,
                e.epoch,
                e.epoch_seconds,
                e.samples_per_s,
                e.optimizer_seconds,
                e.train_loss
            );
        }
    })?;
    Ok(())
}

fn run(args: &[String]) -> CliResult<()> {
    let (cmd, rest) = match args.split_first() {
        Some((c, r)) => (c.as_str(), r),
        None => return Err(Usage("missing command".into()).into()),
    };
    // `vae <command> --help` asks for the usage: print it and succeed.
    if rest.iter().any(|a| a == "--help" || a == "-h") {
        say!("{}", usage());
        return Ok(());
    }
    match cmd {
        "train" => cmd_train(rest),
        "eval" => cmd_eval(rest),
        "data" => cmd_data(rest),
        "bench" => cmd_bench(rest),
        "sample" => figures_cli::cmd_sample(rest),
        "manifold" => figures_cli::cmd_manifold(rest),
        "reconstruct" => figures_cli::cmd_reconstruct(rest),
        "scatter" => figures_cli::cmd_scatter(rest),
        "explore" => figures_cli::cmd_explore(rest),
        "help" | "--help" | "-h" => {
            say!("{}", usage());
            Ok(())
        }
        other => Err(Usage(format!("unknown command '{other}'")).into()),
    }
}

mod figures_cli {
    use super::*;

    pub fn cmd_sample(args: &[String]) -> CliResult<()> {
        let o = Opts::parse("sample", args)?;
        let ckpt = o.one_positional("checkpoint path")?;
        let out = o.require("out")?;
        let n = o.count("n", 64, 1024, "samples in one grid image")?;
        let seed: u64 = o.num("seed", 0)?;
        check_out("sample", out)?;
        let model = checkpoint::load(ckpt, &vae_core::device::default_device())?;
        if !model.is_variational() {
            return Err(not_a_vae(
                ckpt,
                &model,
                "it has no prior to draw codes from, so its samples mean nothing; train a VAE (mlp-vae, conv-vae, deep-vae-2d, cvae) to sample",
            ));
        }
        let labels = match model.num_classes() {
            Some(c) => Some(candle_core::Tensor::from_vec(
                (0..n as u32).map(|i| i % c as u32).collect::<Vec<_>>(),
                n,
                model.device(),
            )?),
            None => None,
        };
        let images = model.sample_prior(n, labels.as_ref(), &mut Rng::new(seed))?;
        write_grid(&images, Path::new(out))?;
        say!("wrote {n} samples to {out}");
        Ok(())
    }

    pub fn cmd_manifold(args: &[String]) -> CliResult<()> {
        let o = Opts::parse("manifold", args)?;
        let ckpt = o.one_positional("checkpoint path")?;
        let out = o.require("out")?;
        let n = o.count("n", 20, 100, "rows and columns of decoded images: n x n of them")?;
        let quantiles = o.get("range").unwrap_or("quantiles") == "quantiles";
        let manifold = match o.get("range").unwrap_or("quantiles") {
            "quantiles" => vae_core::figures::Manifold::quantiles(n),
            r => {
                let (lo, hi) = r
                    .split_once(':')
                    .ok_or_else(|| Usage(format!("manifold: --range {r}: expected quantiles or LO:HI")))?;
                let lo: f64 = lo.parse().map_err(|_| Usage(format!("manifold: --range {r}: bad number")))?;
                let hi: f64 = hi.parse().map_err(|_| Usage(format!("manifold: --range {r}: bad number")))?;
                if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                    return Err(Usage(format!("manifold: --range {r}: expected finite LO < HI, e.g. -3:3")).into());
                }
                vae_core::figures::Manifold::linear(n, lo, hi)
            }
        };
        check_out("manifold", out)?;
        let model = checkpoint::load(ckpt, &vae_core::device::default_device())?;
        // Notebook 02 draws an autoencoder's manifold over the range its codes span; the
        // quantiles of N(0, I) are only meaningful under a VAE's prior.
        if quantiles && !model.is_variational() {
            return Err(not_a_vae(
                ckpt,
                &model,
                "it has no prior, so standard-normal quantiles say nothing about where its codes lie; \
                 pass --range LO:HI covering its codes (see `vae scatter`)",
            ));
        }
        if model.num_classes().is_some() {
            return Err(CliError::Run(vae_core::Error::Config(
                "manifold: conditional models need a class; use sample instead".into(),
            )));
        }
        let grid = manifold.render(model.latent_dim(), model.device(), |z| model.decode(z, None))?;
        grid.save(out)?;
        say!("wrote a {n}x{n} latent manifold to {out}");
        Ok(())
    }

    fn test_images(o: &Opts, dataset: &str, n: usize) -> CliResult<(vae_core::data::Split, Vec<String>)> {
        let data = load_dataset(dataset, o.get("data-dir"))?;
        Ok((data.test.take(n)?, data.class_names.clone()))
    }

    pub fn cmd_reconstruct(args: &[String]) -> CliResult<()> {
        let o = Opts::parse("reconstruct", args)?;
        let ckpt = o.one_positional("checkpoint path")?;
        let out = o.require("out")?;
        let n = o.count("n", 16, 64, "originals in one row of the figure")?;
        let dataset = dataset_option(&o)?;
        check_out("reconstruct", out)?;
        let model = checkpoint::load(ckpt, &vae_core::device::default_device())?;
        let (test, _) = test_images(&o, dataset, n)?;
        let images = test.images.to_device(model.device())?;
        let labels = test.labels.to_device(model.device())?;
        let recon = model.reconstruct(&images, model.num_classes().map(|_| &labels))?;
        vae_core::figures::reconstructions(&images, &recon)?.save(out)?;
        say!("wrote {} originals and reconstructions to {out}", test.len());
        Ok(())
    }

    pub fn cmd_scatter(args: &[String]) -> CliResult<()> {
        let o = Opts::parse("scatter", args)?;
        let ckpt = o.one_positional("checkpoint path")?;
        let out = o.require("out")?;
        let n = o.count("n", 5000, TEST_SET_SIZE, "the size of the MNIST and Fashion-MNIST test sets")?;
        let dataset = dataset_option(&o)?;
        check_out("scatter", out)?;
        let model = checkpoint::load(ckpt, &vae_core::device::default_device())?;
        let (test, names) = test_images(&o, dataset, n)?;
        let test = vae_core::data::Split {
            images: test.images.to_device(model.device())?,
            labels: test.labels.to_device(model.device())?,
        };
        let z = evaluation::encode_split(&model, &test)?;
        vae_core::figures::LatentScatter::new(&z, &test.labels)?.class_names(names).save(out)?;
        say!("wrote the codes of {} test images to {out}", test.len());
        Ok(())
    }

    pub fn cmd_explore(args: &[String]) -> CliResult<()> {
        let o = Opts::parse("explore", args)?;
        let ckpt = o.one_positional("checkpoint path")?;
        let out = o.require("out")?;
        let n = o.count("n", 3000, TEST_SET_SIZE, "the size of the MNIST and Fashion-MNIST test sets")?;
        let dataset = dataset_option(&o)?;
        check_out("explore", out)?;
        let model = checkpoint::load(ckpt, &vae_core::device::default_device())?;
        let (test, names) = test_images(&o, dataset, n)?;
        let test = vae_core::data::Split {
            images: test.images.to_device(model.device())?,
            labels: test.labels.to_device(model.device())?,
        };
        let explorer = vae_core::explorer::explorer_for(&model, &test, &names)?
            .with_title(format!("{} latent space", model.name()));
        explorer.save(out)?;
        let size = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
        say!("wrote the explorer ({:.2} MB, {} points) to {out}", size as f64 / 1e6, test.len());
        Ok(())
    }

    pub fn write_grid(images: &candle_core::Tensor, out: &Path) -> CliResult<()> {
        vae_core::figures::ImageGrid::new(images)?.save(out)?;
        Ok(())
    }
}

fn main() -> ExitCode {
    vae_core::perf::tune_allocator();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        // A closed stderr must not turn the exit code into a panic's 101.
        Err(CliError::Usage(msg)) => {
            let _ = writeln!(std::io::stderr(), "vae: {msg}\n\n{}", usage());
            ExitCode::from(2)
        }
        Err(CliError::Run(e)) => {
            let msg = e.to_string().replace('\n', " ");
            let _ = writeln!(std::io::stderr(), "vae: error: {msg}");
            ExitCode::from(1)
        }
        Err(CliError::Fail(msg)) => {
            let _ = writeln!(std::io::stderr(), "vae: error: {msg}");
            ExitCode::from(1)
        }
    }
}

#[allow(dead_code)]
fn _assert_result_type(_: Result<()>) {}
