//! The building blocks of every model: dense, convolution, transposed convolution and batch
//! norm layers, initialised as PyTorch does (so the reference tutorials' numbers are
//! reproducible) from the seeded [`Params`](super::params::Params).
//!
//! Shapes follow candle: dense weights are `[out, in]`, convolution weights `[c_out, c_in, k, k]`,
//! transposed-convolution weights `[c_in, c_out, k, k]`, images `[B, C, H, W]`.
//!
//! ```
//! # fn main() -> vae_core::Result<()> {
//! use candle_core::{DType, Device, Module, Tensor};
//! use vae_core::models::{layers, params::Params};
//! let p = Params::new(0);
//! let conv = layers::conv2d(1, 4, 3, 2, 1, p.var_builder(DType::F32, &Device::Cpu).pp("c"))?;
//! let y = conv.forward(&Tensor::zeros((2, 1, 28, 28), DType::F32, &Device::Cpu)?)?;
//! assert_eq!(y.dims(), &[2, 4, 14, 14]);
//! # Ok(()) }
//! ```
use super::params::{fan_in, torch_default};
use candle_core::{Module, ModuleT, Result, Tensor, Var, D};
use candle_nn::{Init, Linear, VarBuilder};
use serde::{Deserialize, Serialize};

/// Element-wise non-linearities used between layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// max(x, 0)
    Relu,
    /// tanh x, in (-1, 1)
    Tanh,
    /// 1 / (1 + e^-x), in (0, 1)
    Sigmoid,
    /// max(x, 0.01 x)
    LeakyRelu,
    /// x for x > 0, e^x - 1 otherwise (Clevert et al., 2016): smooth, with negative outputs
    /// that keep a gradient where ReLU has none.
    Elu,
}

impl Activation {
    /// The non-linearity applied element-wise to `x`.
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Activation::Relu => x.relu(),
            Activation::Tanh => x.tanh(),
            Activation::Sigmoid => candle_nn::ops::sigmoid(x),
            Activation::LeakyRelu => candle_nn::ops::leaky_relu(x, 0.01),
            Activation::Elu => x.elu(1.0),
        }
    }
    /// All of them, in the order the CLI lists them.
    pub const ALL: [Activation; 5] =
        [Activation::Relu, Activation::LeakyRelu, Activation::Elu, Activation::Tanh, Activation::Sigmoid];

    /// The activation called `name` (`relu`, `leaky_relu`, `elu`, `tanh`, `sigmoid`; `-` works for `_`).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name.replace('-', "_"))
    }

    /// The snake-case name that [`from_name`](Self::from_name), configs and the CLI use.
    pub fn name(&self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::Tanh => "tanh",
            Activation::Sigmoid => "sigmoid",
            Activation::LeakyRelu => "leaky_relu",
            Activation::Elu => "elu",
        }
    }
}

/// How a layer's parameters are drawn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InitScheme {
    /// PyTorch's defaults: weight and bias from U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    #[default]
    Torch,
    /// Keras's defaults, which the TensorFlow CVAE tutorial's numbers come from: Glorot-uniform
    /// weights, U(-l, l) with l = sqrt(6 / (fan_in + fan_out)), and zero biases.
    Keras,
}

impl InitScheme {
    /// Initialisers for (weight, bias) of a layer with these fans (receptive field included).
    pub fn weight_bias(self, fan_in: usize, fan_out: usize) -> (Init, Init) {
        match self {
            InitScheme::Torch => (torch_default(fan_in), torch_default(fan_in)),
            InitScheme::Keras => {
                let l = (6.0 / (fan_in + fan_out) as f64).sqrt();
                (Init::Uniform { lo: -l, up: l }, Init::Const(0.0))
            }
        }
    }
}

/// A dense layer `y = x W^T + b` with PyTorch's default initialisation.
pub fn linear(in_dim: usize, out_dim: usize, vb: VarBuilder) -> Result<Linear> {
    linear_with(in_dim, out_dim, InitScheme::Torch, vb)
}

/// A dense layer initialised by `scheme`.
pub fn linear_with(in_dim: usize, out_dim: usize, scheme: InitScheme, vb: VarBuilder) -> Result<Linear> {
    let (wi, bi) = scheme.weight_bias(in_dim, out_dim);
    let w = vb.get_with_hints((out_dim, in_dim), "weight", wi)?;
    let b = vb.get_with_hints(out_dim, "bias", bi)?;
    Ok(Linear::new(w, Some(b)))
}

/// 2-D convolution with square kernels.
#[derive(Clone, Debug)]
pub struct Conv2d {
    /// `[c_out, c_in, k, k]`.
    pub weight: Tensor,
    /// `[c_out]`.
    pub bias: Tensor,
    /// Step between output pixels, in input pixels (2 halves the feature maps).
    pub stride: usize,
    /// Zeros added on every side of the input.
    pub padding: usize,
}

/// A `k`x`k` convolution from `c_in` to `c_out` channels, initialised as PyTorch does, with
/// weights from `vb` (`weight`, `bias`).
pub fn conv2d(c_in: usize, c_out: usize, k: usize, stride: usize, padding: usize, vb: VarBuilder) -> Result<Conv2d> {
    conv2d_with(c_in, c_out, k, stride, padding, InitScheme::Torch, vb)
}

/// [`conv2d`] initialised by `scheme`.
pub fn conv2d_with(
    c_in: usize,
    c_out: usize,
    k: usize,
    stride: usize,
    padding: usize,
    scheme: InitScheme,
    vb: VarBuilder,
) -> Result<Conv2d> {
    let (weight, bias) = kernel_and_bias([c_out, c_in, k, k], c_out, c_out * k * k, scheme, &vb)?;
    Ok(Conv2d { weight, bias, stride, padding })
}

/// A convolution's weight of `shape` and its `c_out` biases, drawn as `scheme` says. `fan_out` is
/// Glorot's: output channels times the kernel area for a convolution; for a transposed one,
/// whose weight is `[c_in, c_out, k, k]`, Keras counts input channels times the area.
fn kernel_and_bias(
    shape: [usize; 4],
    c_out: usize,
    fan_out: usize,
    scheme: InitScheme,
    vb: &VarBuilder,
) -> Result<(Tensor, Tensor)> {
    let (wi, bi) = scheme.weight_bias(fan_in(&shape), fan_out);
    Ok((vb.get_with_hints(shape.to_vec(), "weight", wi)?, vb.get_with_hints(c_out, "bias", bi)?))
}

impl Module for Conv2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = crate::ops::conv2d(x, &self.weight, self.stride, self.padding)?;
        crate::ops::add_channel_bias(&y, &self.bias)
    }
}

impl Conv2d {
    /// `relu(forward(x))`, with bias and activation fused.
    pub fn forward_relu(&self, x: &Tensor) -> Result<Tensor> {
        let y = crate::ops::conv2d(x, &self.weight, self.stride, self.padding)?;
        crate::ops::add_channel_bias_relu(&y, &self.bias)
    }
}

/// 2-D transposed convolution: output size
/// `(in - 1) * stride - 2 * padding + k + output_padding - crop_end` (PyTorch's, less `crop_end`
/// rows and columns cut at the bottom and right; see [`crate::ops::conv_transpose2d_cropped`]).
#[derive(Clone, Debug)]
pub struct ConvTranspose2d {
    /// `[c_in, c_out, k, k]` (PyTorch's layout for a transposed convolution).
    pub weight: Tensor,
    /// `[c_out]`.
    pub bias: Tensor,
    /// Output pixels per input pixel along each axis (2 doubles the feature maps).
    pub stride: usize,
    /// Rows and columns cut from every side of the full output.
    pub padding: usize,
    /// Rows and columns added at the bottom and right, to reach an even size.
    pub output_padding: usize,
    /// Rows and columns cut at the end: 1 where TensorFlow's `padding='same'` puts an odd surplus.
    pub crop_end: usize,
}

/// A `k`x`k` transposed convolution from `c_in` to `c_out` channels, initialised as PyTorch
/// does, with weights from `vb` (`weight`, `bias`).
pub fn conv_transpose2d(
    c_in: usize,
    c_out: usize,
    k: usize,
    stride: usize,
    padding: usize,
    output_padding: usize,
    vb: VarBuilder,
) -> Result<ConvTranspose2d> {
    conv_transpose2d_with(c_in, c_out, k, stride, padding, output_padding, InitScheme::Torch, vb)
}

/// [`conv_transpose2d`] initialised by `scheme`.
#[allow(clippy::too_many_arguments)]
pub fn conv_transpose2d_with(
    c_in: usize,
    c_out: usize,
    k: usize,
    stride: usize,
    padding: usize,
    output_padding: usize,
    scheme: InitScheme,
    vb: VarBuilder,
) -> Result<ConvTranspose2d> {
    let (weight, bias) = kernel_and_bias([c_in, c_out, k, k], c_out, c_in * k * k, scheme, &vb)?;
    Ok(ConvTranspose2d { weight, bias, stride, padding, output_padding, crop_end: 0 })
}

/// Keras's `Conv2DTranspose(padding='same')`: output `in * stride`. Of the `k - stride` rows and
/// columns a full transposed convolution has beyond that, `(k - stride) / 2` are cut at the start
/// and the rest at the end (PyTorch-style padding would cut the odd one at the start instead,
/// shifting the output by a pixel).
pub fn conv_transpose2d_same(
    c_in: usize,
    c_out: usize,
    k: usize,
    stride: usize,
    scheme: InitScheme,
    vb: VarBuilder,
) -> Result<ConvTranspose2d> {
    if k < stride {
        candle_core::bail!(
            "conv_transpose2d_same: kernel {k} is smaller than stride {stride}; 'same' needs k >= stride"
        )
    }
    let surplus = k - stride;
    let mut layer = conv_transpose2d_with(c_in, c_out, k, stride, surplus / 2, 0, scheme, vb)?;
    layer.crop_end = surplus % 2;
    Ok(layer)
}

impl Module for ConvTranspose2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        crate::ops::add_channel_bias(&self.transpose(x)?, &self.bias)
    }
}

impl ConvTranspose2d {
    /// `relu(forward(x))`, with bias and activation fused.
    pub fn forward_relu(&self, x: &Tensor) -> Result<Tensor> {
        crate::ops::add_channel_bias_relu(&self.transpose(x)?, &self.bias)
    }

    fn transpose(&self, x: &Tensor) -> Result<Tensor> {
        crate::ops::conv_transpose2d_cropped(
            x,
            &self.weight,
            self.stride,
            self.padding,
            self.output_padding,
            self.crop_end,
        )
    }

    /// Output side for an input side `len` (square kernels); 0 when the output would be empty.
    pub fn out_len(&self, len: usize) -> usize {
        let k = self.weight.dim(2).unwrap_or(0);
        crate::ops::conv_transpose_out_len(len, k, self.stride, self.padding, self.output_padding, self.crop_end)
            .unwrap_or(0)
    }
}

/// Batch normalisation over the batch axis of `[B, F]` inputs:
/// $y = \gamma (x - \mu_B) / \sqrt{\sigma^2_B + \epsilon} + \beta$ in training, with running
/// averages (momentum 0.1) used at evaluation time.
#[derive(Clone, Debug)]
pub struct BatchNorm1d {
    gamma: Tensor,
    beta: Tensor,
    running_mean: Var,
    running_var: Var,
}

/// Batch norm over `features` columns: scale 1, shift 0, running mean 0 and variance 1, from `vb`.
pub fn batch_norm1d(features: usize, vb: VarBuilder) -> Result<BatchNorm1d> {
    let gamma = vb.get_with_hints(features, "weight", Init::Const(1.0))?;
    let beta = vb.get_with_hints(features, "bias", Init::Const(0.0))?;
    // The running statistics live in the parameter store (so checkpoints carry them) but are
    // excluded from the optimiser by their name.
    let rm = vb.get_with_hints(features, "running_mean", Init::Const(0.0))?;
    let rv = vb.get_with_hints(features, "running_var", Init::Const(1.0))?;
    Ok(BatchNorm1d { gamma, beta, running_mean: Var::from_tensor(&rm)?, running_var: Var::from_tensor(&rv)? })
}

impl BatchNorm1d {
    const EPS: f64 = 1e-5;
    const MOMENTUM: f64 = 0.1;

    /// The evaluation-mode layer as `y = s * x + t` (running statistics folded in), for
    /// exporting a decoder as plain dense layers.
    pub fn scale_shift(&self) -> Result<(Tensor, Tensor)> {
        let s = (&self.gamma / (self.running_var.as_tensor() + Self::EPS)?.sqrt()?)?;
        let t = (&self.beta - (self.running_mean.as_tensor() * &s)?)?;
        Ok((s, t))
    }
}

impl ModuleT for BatchNorm1d {
    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let (mean, var) = if train && x.dim(0)? > 1 {
            let mean = x.mean_keepdim(0)?;
            let var = x.broadcast_sub(&mean)?.sqr()?.mean_keepdim(0)?;
            let n = x.dim(0)? as f64;
            let m = Self::MOMENTUM;
            let new_mean = ((self.running_mean.as_tensor() * (1.0 - m))? + (mean.squeeze(0)?.detach() * m)?)?;
            let unbiased = (var.squeeze(0)?.detach() * (n / (n - 1.0)))?;
            let new_var = ((self.running_var.as_tensor() * (1.0 - m))? + (unbiased * m)?)?;
            self.running_mean.set(&new_mean)?;
            self.running_var.set(&new_var)?;
            (mean, var)
        } else {
            (self.running_mean.as_tensor().unsqueeze(0)?, self.running_var.as_tensor().unsqueeze(0)?)
        };
        let xhat = x.broadcast_sub(&mean)?.broadcast_div(&(var + Self::EPS)?.sqrt()?)?;
        xhat.broadcast_mul(&self.gamma.unsqueeze(0)?)?.broadcast_add(&self.beta.unsqueeze(0)?)
    }
}

/// A stack of dense layers with an activation (and optional batch norm) after each one.
#[derive(Clone, Debug)]
pub struct DenseStack {
    layers: Vec<(Linear, Option<BatchNorm1d>)>,
    activation: Activation,
}

/// Dense layers of widths `sizes` from `in_dim` inputs (`fc0`, `fc1`, ... in `vb`), each
/// followed by batch norm (`bn0`, ...) if `batch_norm`, then `activation`.
pub fn dense_stack(
    in_dim: usize,
    sizes: &[usize],
    activation: Activation,
    batch_norm: bool,
    vb: VarBuilder,
) -> Result<DenseStack> {
    let mut layers = vec![];
    let mut d = in_dim;
    for (i, &h) in sizes.iter().enumerate() {
        let lin = linear(d, h, vb.pp(format!("fc{i}")))?;
        let bn = if batch_norm { Some(batch_norm1d(h, vb.pp(format!("bn{i}")))?) } else { None };
        layers.push((lin, bn));
        d = h;
    }
    Ok(DenseStack { layers, activation })
}

impl DenseStack {
    /// Outputs per row: the last layer's width, or `in_dim` for a stack of no layers.
    pub fn out_dim(&self, in_dim: usize) -> usize {
        self.layers.last().map(|(l, _)| l.weight().dim(0).unwrap_or(in_dim)).unwrap_or(in_dim)
    }
    /// Each dense layer with its batch norm, if any.
    pub fn layers(&self) -> impl Iterator<Item = (&Linear, Option<&BatchNorm1d>)> {
        self.layers.iter().map(|(l, b)| (l, b.as_ref()))
    }
    /// The non-linearity after each layer.
    pub fn activation(&self) -> Activation {
        self.activation
    }
    /// Whether any layer has batch norm (the fused training steps do not cover it).
    pub fn has_batch_norm(&self) -> bool {
        self.layers.iter().any(|(_, b)| b.is_some())
    }
}

impl ModuleT for DenseStack {
    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        // CUDA's matmul takes only contiguous (or transposed) inputs, where the CPU's takes any
        // strides: a caller's slice such as a posterior mean cut out of `[B, 2 * latent]`
        // failed `vae eval` on a GPU. The copy is free when `x` is contiguous already.
        let mut h = x.contiguous()?;
        for (lin, bn) in &self.layers {
            h = lin.forward(&h)?;
            if let Some(bn) = bn {
                h = bn.forward_t(&h, train)?;
            }
            h = self.activation.apply(&h)?;
        }
        Ok(h)
    }
}

/// What is wrong with `labels` as the class indices of `rows` images of a model with `classes`
/// classes (`[rows]`, u8, u32 or i64, each below `classes`), with what to pass instead; `None`
/// when nothing is. Shared by the models, the fused step and the trainer, so that all three
/// accept the same labels.
pub fn class_label_problem(labels: &Tensor, rows: usize, classes: usize) -> Result<Option<String>> {
    if !matches!(labels.dtype(), candle_core::DType::U8 | candle_core::DType::U32 | candle_core::DType::I64) {
        return Ok(Some(format!(
            "labels are {:?}; pass class indices as u32 (e.g. `Tensor::new(&[7u32], &dev)`)",
            labels.dtype()
        )));
    }
    if labels.dims() != [rows] {
        return Ok(Some(format!(
            "labels of shape {:?} for {rows} images; pass one class index per image, shape [{rows}]",
            labels.dims()
        )));
    }
    let bad = labels
        .to_dtype(candle_core::DType::I64)?
        .to_vec1::<i64>()?
        .into_iter()
        .find(|&l| l < 0 || l as usize >= classes);
    Ok(bad.map(|bad| format!("label {bad} is not one of its {classes} classes (0..{})", classes.saturating_sub(1))))
}

/// Concatenates a one-hot encoding of `labels` (`[B]` class indices, u8, u32 or i64) to `x`
/// (`[B, F]`), for conditional models. Wrong labels are refused with what to pass instead, not
/// left to `one_hot` and `cat`, whose messages name neither the labels nor the fix.
pub fn concat_one_hot(x: &Tensor, labels: &Tensor, classes: usize) -> Result<Tensor> {
    if let Some(why) = class_label_problem(labels, x.dim(0)?, classes)? {
        candle_core::bail!("conditional model: {why}")
    }
    let oh = candle_nn::encoding::one_hot(labels.clone(), classes, 1f32, 0f32)?;
    Tensor::cat(&[x, &oh], D::Minus1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    #[test]
    fn wrong_labels_are_refused_with_the_fix() {
        let dev = Device::Cpu;
        let x = Tensor::zeros((4, 3), DType::F32, &dev).unwrap();
        let err = |l: Tensor| concat_one_hot(&x, &l, 10).unwrap_err().to_string();
        assert!(err(Tensor::new(&[1f32, 2., 3., 4.], &dev).unwrap()).contains("pass class indices as u32"));
        assert!(err(Tensor::new(&[7u32], &dev).unwrap()).contains("shape [4]"));
        assert!(err(Tensor::new(&[1u32, 2, 10, 3], &dev).unwrap()).contains("label 10 is not one of its 10 classes"));
        let ok = concat_one_hot(&x, &Tensor::new(&[0u32, 9, 3, 3], &dev).unwrap(), 10).unwrap();
        assert_eq!(ok.dims(), &[4, 13]);
    }

    #[test]
    fn keras_scheme_draws_glorot_weights_and_zero_biases() {
        let p = super::super::params::Params::new(0);
        let vb = p.var_builder(DType::F32, &Device::Cpu);
        let c = conv_transpose2d_with(32, 64, 3, 2, 1, 1, InitScheme::Keras, vb.pp("t")).unwrap();
        let limit = (6.0f32 / ((32 + 64) * 9) as f32).sqrt();
        let w = c.weight.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let max = w.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(max <= limit && max > 0.9 * limit, "max |w| {max}, limit {limit}");
        assert_eq!(c.bias.abs().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap(), 0.0);
        let d = linear_with(2304, 4, InitScheme::Keras, vb.pp("d")).unwrap();
        let max = d.weight().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(max <= (6.0f32 / 2308.0).sqrt(), "dense glorot limit exceeded: {max}");
    }

    /// Keras 'same' keeps the first `in * stride` rows and columns of the full transposed
    /// convolution (after `(k - stride) / 2` cut at the start), not PyTorch's centred window.
    #[test]
    fn same_transposed_convolution_keeps_tensorflows_window() {
        let p = super::super::params::Params::new(3);
        let vb = p.var_builder(DType::F32, &Device::Cpu);
        let x = crate::rng::Rng::new(4).randn((2, 3, 7, 5), &Device::Cpu).unwrap();
        for (k, s) in [(3, 2), (3, 1), (4, 2), (5, 2), (2, 2)] {
            let t = conv_transpose2d_same(3, 2, k, s, InitScheme::Torch, vb.pp(format!("t{k}{s}"))).unwrap();
            let y = t.forward(&x).unwrap();
            assert_eq!(y.dims(), &[2, 2, 7 * s, 5 * s], "k {k} s {s}");
            assert_eq!((t.out_len(7), t.out_len(5)), (7 * s, 5 * s));
            let full = x
                .conv_transpose2d(&t.weight, 0, 0, s, 1)
                .unwrap()
                .broadcast_add(&t.bias.reshape((1, 2, 1, 1)).unwrap())
                .unwrap();
            let start = (k - s) / 2;
            let want = full.narrow(2, start, 7 * s).unwrap().narrow(3, start, 5 * s).unwrap();
            let d = (y - want).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
            assert!(d < 1e-5, "k {k} s {s}: max diff {d}");
        }
        assert!(conv_transpose2d_same(3, 2, 1, 2, InitScheme::Torch, vb.pp("bad")).is_err());
    }
}
