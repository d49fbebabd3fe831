//! Parameter storage with seeded initialisation.
//!
//! candle's `VarMap` draws initial weights from candle's own CPU generator, which cannot be
//! seeded. [`Params`] is a `VarMap` whose new variables are drawn from the project [`Rng`]
//! instead, so that a model built twice with the same seed has bit-identical weights.
//! Layers ask for parameters through an ordinary `candle_nn::VarBuilder`.
//!
//! ```
//! # fn main() -> vae_core::Result<()> {
//! use candle_core::{DType, Device};
//! use vae_core::models::params::Params;
//! let a = Params::new(7);
//! let w = a.var_builder(DType::F32, &Device::Cpu).get_with_hints((3, 2), "w", candle_nn::Init::Randn { mean: 0., stdev: 1. })?;
//! let b = Params::new(7);
//! let w2 = b.var_builder(DType::F32, &Device::Cpu).get_with_hints((3, 2), "w", candle_nn::Init::Randn { mean: 0., stdev: 1. })?;
//! assert_eq!(w.to_vec2::<f32>()?, w2.to_vec2::<f32>()?);
//! # Ok(()) }
//! ```
use crate::rng::Rng;
use candle_core::{DType, Device, Result, Shape, Tensor, Var};
use candle_nn::init::{FanInOut, NormalOrUniform};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, VarBuilder, VarMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// A `VarMap` plus the generator its new variables are drawn from.
#[derive(Clone)]
pub struct Params {
    /// The variables by name (`encoder.fc0.weight`, ...); shared by every clone.
    pub varmap: VarMap,
    rng: Arc<Mutex<Rng>>,
    /// For [`Params::with_limit`]; shared by every clone.
    limit: Option<Arc<Limit>>,
}

struct Limit {
    /// Elements still allowed.
    left: AtomicUsize,
    /// Whether a request was refused.
    hit: AtomicBool,
}

impl Params {
    /// An empty store whose variables will be initialised from the project RNG seeded by `seed`,
    /// in the order the model asks for them: the same seed and model give the same weights.
    pub fn new(seed: u64) -> Self {
        Self { varmap: VarMap::new(), rng: Arc::new(Mutex::new(Rng::new(seed))), limit: None }
    }

    /// A store that refuses to create more than `max_elements` values in all, before allocating
    /// them: a checkpoint whose metadata describes a model bigger than its own data cannot make
    /// the loader allocate that model.
    pub fn with_limit(seed: u64, max_elements: usize) -> Self {
        Self {
            limit: Some(Arc::new(Limit { left: AtomicUsize::new(max_elements), hit: AtomicBool::new(false) })),
            ..Self::new(seed)
        }
    }

    /// Whether a store made by [`Params::with_limit`] refused a parameter. Callers should test
    /// this rather than format the error: a candle error carries a backtrace when
    /// `RUST_BACKTRACE` is set, and formatting it resolves the symbols (tens of MiB).
    pub fn limit_hit(&self) -> bool {
        self.limit.as_ref().is_some_and(|l| l.hit.load(Ordering::Relaxed))
    }

    /// Takes the shape's elements from the limit, if there is one.
    fn reserve(&self, name: &str, shape: &Shape) -> Result<()> {
        let Some(limit) = &self.limit else { return Ok(()) };
        let n = shape.dims().iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        let ok = n.is_some_and(|n| {
            limit.left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |l| l.checked_sub(n)).is_ok()
        });
        if !ok {
            limit.hit.store(true, Ordering::Relaxed);
            candle_core::bail!(
                "parameter {name} of shape {:?} exceeds the limit of {} more values",
                shape.dims(),
                limit.left.load(Ordering::Relaxed)
            );
        }
        Ok(())
    }

    /// A candle `VarBuilder` that creates (or returns) this store's variables as `dtype` on
    /// `device`: what the layer constructors take.
    pub fn var_builder(&self, dtype: DType, device: &Device) -> VarBuilder<'static> {
        VarBuilder::from_backend(Box::new(self.clone()), dtype, device.clone())
    }

    /// All variables sorted by name (`VarMap::all_vars` has no stable order).
    pub fn named_vars(&self) -> Vec<(String, Var)> {
        let data = self.varmap.data().lock().unwrap();
        let mut v: Vec<(String, Var)> = data.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Trainable variables, sorted by name (batch-norm running statistics excluded).
    pub fn trainable_vars(&self) -> Vec<Var> {
        self.named_vars().into_iter().filter(|(n, _)| !n.contains("running_")).map(|(_, v)| v).collect()
    }

    /// The number of trainable values (weights and biases; batch-norm running statistics are
    /// not counted), as PyTorch's and Keras's summaries count them.
    pub fn num_parameters(&self) -> usize {
        self.trainable_vars().iter().map(|v| v.elem_count()).sum()
    }

    fn init_tensor(&self, shape: &Shape, init: Init, dtype: DType, dev: &Device) -> Result<Tensor> {
        let mut rng = self.rng.lock().unwrap();
        let n = shape.elem_count();
        let values: Vec<f32> = match init {
            Init::Const(c) => vec![c as f32; n],
            Init::Uniform { lo, up } => (0..n).map(|_| (lo + (up - lo) * rng.uniform() as f64) as f32).collect(),
            Init::Randn { mean, stdev } => {
                rng.normal_vec(n).into_iter().map(|e| (mean + stdev * e as f64) as f32).collect()
            }
            Init::Kaiming { dist, fan, non_linearity } => {
                let std = non_linearity.gain() / (fan.for_shape(shape) as f64).sqrt();
                match dist {
                    NormalOrUniform::Uniform => {
                        let b = 3f64.sqrt() * std;
                        (0..n).map(|_| (-b + 2.0 * b * rng.uniform() as f64) as f32).collect()
                    }
                    NormalOrUniform::Normal => rng.normal_vec(n).into_iter().map(|e| (std * e as f64) as f32).collect(),
                }
            }
        };
        Tensor::from_vec(values, shape.clone(), dev)?.to_dtype(dtype)
    }
}

impl SimpleBackend for Params {
    fn get(&self, s: Shape, name: &str, h: Init, dtype: DType, dev: &Device) -> Result<Tensor> {
        if let Some(v) = self.varmap.data().lock().unwrap().get(name) {
            if v.shape() != &s {
                candle_core::bail!("parameter {name}: requested shape {s:?} but it exists as {:?}", v.shape());
            }
            return Ok(v.as_tensor().clone());
        }
        self.reserve(name, &s)?;
        let t = self.init_tensor(&s, h, dtype, dev)?;
        let var = Var::from_tensor(&t)?;
        let out = var.as_tensor().clone();
        self.varmap.data().lock().unwrap().insert(name.to_string(), var);
        Ok(out)
    }

    fn get_unchecked(&self, name: &str, _dtype: DType, _dev: &Device) -> Result<Tensor> {
        match self.varmap.data().lock().unwrap().get(name) {
            Some(v) => Ok(v.as_tensor().clone()),
            None => candle_core::bail!("parameter {name} does not exist"),
        }
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.varmap.data().lock().unwrap().contains_key(name)
    }
}

/// PyTorch's default for `nn.Linear` / `nn.Conv2d`: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for
/// weight and bias, which the reference tutorials' results were obtained with.
pub fn torch_default(fan_in: usize) -> Init {
    let b = 1.0 / (fan_in as f64).sqrt();
    Init::Uniform { lo: -b, up: b }
}

/// Fan-in of a weight of this shape (PyTorch's rule).
pub fn fan_in(shape: &[usize]) -> usize {
    FanInOut::FanIn.for_shape(&Shape::from(shape.to_vec()))
}
