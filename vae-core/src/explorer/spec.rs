//! A model-free description of a decoder, and a plain-Rust forward pass over it.
//!
//! The explorer page runs the decoder in the browser, so it needs the weights as plain
//! numbers, not candle modules. A model exports itself as a [`DecoderSpec`]: a list of
//! layers in candle's own layouts (`candle_nn::Linear` keeps its weight as `[out, in]`,
//! `conv_transpose2d` keeps its kernel as `[c_in, c_out, k, k]`). The explorer never
//! needs to know which model produced it.
//!
//! [`DecoderSpec::decode`] is the reference forward pass: the JavaScript decoder in the
//! page is tested against it pixel by pixel, and it is itself tested against candle.
//!
//! A transposed convolution scatters every input pixel into a `k x k` window of the output:
//! `out[co, iy*s - p + ky, ix*s - p + kx] += x[ci, iy, ix] * w[ci, co, ky, kx]`, so the
//! output side is `(in - 1)*s - 2p + (k - 1) + output_padding + 1` (candle's formula), less
//! `crop_end` rows and columns cut at the bottom and right (TensorFlow's `padding='same'`).
//!
//! ```
//! use vae_core::explorer::{Activation, DecoderLayer, DecoderSpec, OutputKind};
//! // z (2) -> 4 pixels, a 2x2 "image" whose logits are z[0] + z[1] and z[0] - z[1].
//! let spec = DecoderSpec {
//!     latent_dim: 2,
//!     layers: vec![DecoderLayer::Dense {
//!         weight: vec![1., 1., 1., -1., 0., 0., 0., 0.],
//!         bias: vec![0.; 4],
//!         in_dim: 2,
//!         out_dim: 4,
//!         activation: Activation::Identity,
//!     }],
//!     output: OutputKind::Logits,
//!     height: 2,
//!     width: 2,
//!     conditional_classes: None,
//! };
//! spec.validate().unwrap();
//! let logits = spec.decode(&[1.0, 2.0]).unwrap();
//! assert_eq!(logits, vec![3.0, -1.0, 0.0, 0.0]);
//! let pixels = spec.decode_pixels(&[1.0, 2.0], None).unwrap();
//! assert!((pixels[2] - 0.5).abs() < 1e-6); // sigmoid(0)
//! ```
use crate::{Error, Result};

/// The nonlinearity applied after a layer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    /// `x`: no nonlinearity (the output layer of a logits decoder).
    Identity,
    /// `max(x, 0)`.
    Relu,
    /// `tanh(x)`.
    Tanh,
    /// `1 / (1 + e^-x)`.
    Sigmoid,
    /// `x` for `x > 0`, `slope * x` otherwise.
    LeakyRelu(f32),
    /// `x` for `x > 0`, `e^x - 1` otherwise.
    Elu,
}

impl Activation {
    /// The nonlinearity at `x`, as the page's JavaScript computes it.
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Activation::Identity => x,
            Activation::Relu => x.max(0.0),
            Activation::Tanh => x.tanh(),
            Activation::Sigmoid => sigmoid(x),
            Activation::LeakyRelu(slope) => {
                if x > 0.0 {
                    x
                } else {
                    slope * x
                }
            }
            Activation::Elu => {
                if x > 0.0 {
                    x
                } else {
                    x.exp_m1()
                }
            }
        }
    }

    /// Name and parameter, as the page's JavaScript reads them.
    pub(crate) fn js(self) -> (&'static str, f32) {
        match self {
            Activation::Identity => ("identity", 0.0),
            Activation::Relu => ("relu", 0.0),
            Activation::Tanh => ("tanh", 0.0),
            Activation::Sigmoid => ("sigmoid", 0.0),
            Activation::LeakyRelu(s) => ("leaky_relu", s),
            Activation::Elu => ("elu", 0.0),
        }
    }
}

pub(crate) fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// One decoder layer, with its parameters in candle's layout.
#[derive(Clone, Debug, PartialEq)]
pub enum DecoderLayer {
    /// `y = W x + b`; `weight` is `[out_dim, in_dim]` row-major (as `candle_nn::Linear`).
    Dense {
        /// `out_dim * in_dim` values.
        weight: Vec<f32>,
        /// `out_dim` values.
        bias: Vec<f32>,
        /// Inputs per example.
        in_dim: usize,
        /// Outputs per example.
        out_dim: usize,
        /// Applied to `y`.
        activation: Activation,
    },
    /// `[C*H*W] -> [C, H, W]`, channel-major (candle's `reshape`): only the shape changes.
    Reshape {
        /// C.
        channels: usize,
        /// H.
        height: usize,
        /// W.
        width: usize,
    },
    /// Transposed 2-D convolution; `weight` is `[c_in, c_out, kernel, kernel]`.
    ConvTranspose2d {
        /// `c_in * c_out * kernel * kernel` values.
        weight: Vec<f32>,
        /// `c_out` values.
        bias: Vec<f32>,
        /// Input channels.
        c_in: usize,
        /// Output channels.
        c_out: usize,
        /// Side of the square kernel.
        kernel: usize,
        /// Output pixels per input pixel along each axis.
        stride: usize,
        /// Rows and columns cut from every side of the full output (PyTorch's `padding`).
        padding: usize,
        /// Rows and columns added at the bottom and right (PyTorch's `output_padding`).
        output_padding: usize,
        /// Rows and columns cut at the end, see [`crate::ops::conv_transpose2d_cropped`].
        crop_end: usize,
        /// Applied to the output.
        activation: Activation,
    },
}

/// What the last layer produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputKind {
    /// Bernoulli logits: the image shown is `sigmoid(output)`.
    Logits,
    /// Values already in `[0, 1]` (clamped for display).
    Probabilities,
}

/// Everything the explorer needs to run a decoder: its layers and how to read its output.
#[derive(Clone, Debug, PartialEq)]
pub struct DecoderSpec {
    /// Dimensions of the code the decoder takes (labels not counted).
    pub latent_dim: usize,
    /// Applied in order to the code.
    pub layers: Vec<DecoderLayer>,
    /// How to turn the last layer's output into pixels.
    pub output: OutputKind,
    /// Output image size; the decoder produces `channels * height * width` values with
    /// `channels` 1 (grey) or 3 (RGB, channel-major).
    pub height: usize,
    /// Output image width (see `height`).
    pub width: usize,
    /// `Some(k)` for a conditional decoder, whose input is `concat(z, one_hot(label, k))`.
    pub conditional_classes: Option<usize>,
}

/// The shape flowing between layers: a flat vector or a `[C, H, W]` feature map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    Flat(usize),
    Map(usize, usize, usize),
}

impl Shape {
    fn len(self) -> usize {
        match self {
            Shape::Flat(n) => n,
            Shape::Map(c, h, w) => c * h * w,
        }
    }
}

fn bad(msg: String) -> Error {
    Error::Config(format!("invalid DecoderSpec: {msg}"))
}

impl DecoderSpec {
    /// Width of the first layer's input: the latent size plus the one-hot label, if any.
    pub fn input_dim(&self) -> usize {
        self.latent_dim + self.conditional_classes.unwrap_or(0)
    }

    /// Number of image channels the decoder produces (1 or 3).
    pub fn channels(&self) -> usize {
        self.output_len().unwrap_or(0) / (self.height * self.width).max(1)
    }

    fn output_len(&self) -> Result<usize> {
        Ok(self.shapes()?.last().map(|s| s.len()).unwrap_or(self.input_dim()))
    }

    /// The shape after each layer; checks that every layer fits its input.
    pub(crate) fn shapes(&self) -> Result<Vec<Shape>> {
        let mut cur = Shape::Flat(self.input_dim());
        let mut out = Vec::with_capacity(self.layers.len());
        for (i, layer) in self.layers.iter().enumerate() {
            cur = match *layer {
                DecoderLayer::Dense { ref weight, ref bias, in_dim, out_dim, .. } => {
                    if cur.len() != in_dim {
                        return Err(bad(format!(
                            "layer {i} (Dense) expects {in_dim} inputs but receives {}; check in_dim \
                             (for a conditional decoder it is latent_dim + classes)",
                            cur.len()
                        )));
                    }
                    if weight.len() != in_dim * out_dim || bias.len() != out_dim {
                        return Err(bad(format!(
                            "layer {i} (Dense {in_dim}->{out_dim}) has {} weights and {} biases, \
                             expected {} and {out_dim}",
                            weight.len(),
                            bias.len(),
                            in_dim * out_dim
                        )));
                    }
                    Shape::Flat(out_dim)
                }
                DecoderLayer::Reshape { channels, height, width } => {
                    if cur.len() != channels * height * width {
                        return Err(bad(format!(
                            "layer {i} (Reshape to {channels}x{height}x{width}) receives {} values",
                            cur.len()
                        )));
                    }
                    Shape::Map(channels, height, width)
                }
                DecoderLayer::ConvTranspose2d {
                    ref weight,
                    ref bias,
                    c_in,
                    c_out,
                    kernel,
                    stride,
                    padding,
                    output_padding,
                    crop_end,
                    ..
                } => {
                    let Shape::Map(c, h, w) = cur else {
                        return Err(bad(format!(
                            "layer {i} (ConvTranspose2d) needs a [C, H, W] input; add a Reshape before it"
                        )));
                    };
                    if c != c_in {
                        return Err(bad(format!("layer {i} (ConvTranspose2d) expects {c_in} channels, receives {c}")));
                    }
                    if weight.len() != c_in * c_out * kernel * kernel || bias.len() != c_out {
                        return Err(bad(format!(
                            "layer {i} (ConvTranspose2d) has {} weights and {} biases, expected {} and {c_out}",
                            weight.len(),
                            bias.len(),
                            c_in * c_out * kernel * kernel
                        )));
                    }
                    if stride == 0 || kernel == 0 {
                        return Err(bad(format!("layer {i} (ConvTranspose2d) has a zero stride or kernel")));
                    }
                    let side = |n: usize| {
                        crate::ops::conv_transpose_out_len(n, kernel, stride, padding, output_padding, crop_end)
                            .unwrap_or(0)
                    };
                    let (oh, ow) = (side(h), side(w));
                    if oh == 0 || ow == 0 {
                        return Err(bad(format!("layer {i} (ConvTranspose2d) produces an empty output")));
                    }
                    Shape::Map(c_out, oh, ow)
                }
            };
            out.push(cur);
        }
        Ok(out)
    }

    /// Checks the layers chain together and end in a 1- or 3-channel `height x width` image.
    pub fn validate(&self) -> Result<()> {
        if self.latent_dim == 0 {
            return Err(bad("latent_dim is 0".into()));
        }
        if self.conditional_classes == Some(0) {
            return Err(bad("conditional_classes is Some(0); use None for an unconditional decoder".into()));
        }
        let n = self.output_len()?;
        let hw = self.height * self.width;
        if hw == 0 || (n != hw && n != 3 * hw) {
            return Err(bad(format!(
                "the last layer produces {n} values, but a {}x{} image needs {hw} (grey) or {} (RGB)",
                self.height,
                self.width,
                3 * hw
            )));
        }
        Ok(())
    }

    /// The raw decoder output (logits or probabilities, as [`OutputKind`] says) for one
    /// decoder input `x` of length [`input_dim`](Self::input_dim).
    pub fn decode(&self, x: &[f32]) -> Result<Vec<f32>> {
        let shapes = self.shapes()?;
        if x.len() != self.input_dim() {
            return Err(bad(format!(
                "decode got an input of length {}, expected {} (latent {} + classes {})",
                x.len(),
                self.input_dim(),
                self.latent_dim,
                self.conditional_classes.unwrap_or(0)
            )));
        }
        let mut cur = x.to_vec();
        let mut shape = Shape::Flat(x.len());
        for (layer, next) in self.layers.iter().zip(shapes) {
            cur = match *layer {
                DecoderLayer::Dense { ref weight, ref bias, in_dim, activation, .. } => bias
                    .iter()
                    .enumerate()
                    .map(|(o, b)| {
                        let row = &weight[o * in_dim..(o + 1) * in_dim];
                        activation.apply(row.iter().zip(&cur).fold(*b, |acc, (w, v)| acc + w * v))
                    })
                    .collect(),
                DecoderLayer::Reshape { .. } => cur,
                DecoderLayer::ConvTranspose2d {
                    ref weight,
                    ref bias,
                    c_in,
                    c_out,
                    kernel: k,
                    stride,
                    padding,
                    activation,
                    ..
                } => {
                    let (Shape::Map(_, h, w), Shape::Map(_, oh, ow)) = (shape, next) else {
                        unreachable!("shapes() checked ConvTranspose2d gets and gives maps")
                    };
                    let mut out = vec![0f32; c_out * oh * ow];
                    for (co, plane) in out.chunks_mut(oh * ow).enumerate() {
                        plane.fill(bias[co]);
                    }
                    for ci in 0..c_in {
                        for iy in 0..h {
                            for ix in 0..w {
                                let v = cur[(ci * h + iy) * w + ix];
                                for co in 0..c_out {
                                    let wk = &weight[(ci * c_out + co) * k * k..][..k * k];
                                    for ky in 0..k {
                                        let oy = (iy * stride + ky) as isize - padding as isize;
                                        if oy < 0 || oy as usize >= oh {
                                            continue;
                                        }
                                        for kx in 0..k {
                                            let ox = (ix * stride + kx) as isize - padding as isize;
                                            if ox < 0 || ox as usize >= ow {
                                                continue;
                                            }
                                            out[(co * oh + oy as usize) * ow + ox as usize] += v * wk[ky * k + kx];
                                        }
                                    }
                                }
                            }
                        }
                    }
                    out.iter_mut().for_each(|x| *x = activation.apply(*x));
                    out
                }
            };
            shape = next;
        }
        Ok(cur)
    }

    /// The decoder input for latent `z` and, for a conditional decoder, class `label`.
    pub fn decoder_input(&self, z: &[f32], label: Option<usize>) -> Result<Vec<f32>> {
        if z.len() != self.latent_dim {
            return Err(bad(format!("z has length {}, the latent size is {}", z.len(), self.latent_dim)));
        }
        let mut x = z.to_vec();
        match (self.conditional_classes, label) {
            (None, None) => {}
            (Some(k), Some(l)) if l < k => x.extend((0..k).map(|c| if c == l { 1.0 } else { 0.0 })),
            (Some(k), l) => {
                return Err(bad(format!("a conditional decoder over {k} classes needs a label below {k}, got {l:?}")))
            }
            (None, Some(_)) => return Err(bad("a label was given to an unconditional decoder".into())),
        }
        Ok(x)
    }

    /// The displayed image for `z` (and `label`): values in `[0, 1]`, `channels*height*width`.
    pub fn decode_pixels(&self, z: &[f32], label: Option<usize>) -> Result<Vec<f32>> {
        let out = self.decode(&self.decoder_input(z, label)?)?;
        Ok(match self.output {
            OutputKind::Logits => out.into_iter().map(sigmoid).collect(),
            OutputKind::Probabilities => out.into_iter().map(|p| p.clamp(0.0, 1.0)).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use candle_core::{Device, Module, Tensor};

    fn dense(rng: &mut Rng, i: usize, o: usize, activation: Activation) -> DecoderLayer {
        let weight = rng.normal_vec(i * o).iter().map(|v| v / (i as f32).sqrt()).collect();
        DecoderLayer::Dense { weight, bias: rng.normal_vec(o), in_dim: i, out_dim: o, activation }
    }

    /// Kernel 3, stride 2, doubling the size: TensorFlow's 'same' window or PyTorch's.
    fn convt(rng: &mut Rng, c_in: usize, c_out: usize, activation: Activation, tf_same: bool) -> DecoderLayer {
        DecoderLayer::ConvTranspose2d {
            weight: rng.normal_vec(c_in * c_out * 9).iter().map(|v| v * 0.4).collect(),
            bias: rng.normal_vec(c_out),
            c_in,
            c_out,
            kernel: 3,
            stride: 2,
            padding: if tf_same { 0 } else { 1 },
            output_padding: if tf_same { 0 } else { 1 },
            crop_end: usize::from(tf_same),
            activation,
        }
    }

    /// The same forward pass with candle's own modules and ops.
    fn candle_decode(spec: &DecoderSpec, x: &[f32]) -> Vec<f32> {
        let dev = Device::Cpu;
        let mut t = Tensor::from_slice(x, (1, x.len()), &dev).unwrap();
        let act = |t: Tensor, a: Activation| match a {
            Activation::Identity => t,
            Activation::Relu => t.relu().unwrap(),
            Activation::Tanh => t.tanh().unwrap(),
            Activation::Sigmoid => candle_nn::ops::sigmoid(&t).unwrap(),
            Activation::LeakyRelu(s) => candle_nn::ops::leaky_relu(&t, f64::from(s)).unwrap(),
            Activation::Elu => t.elu(1.0).unwrap(),
        };
        for layer in &spec.layers {
            t = match layer {
                DecoderLayer::Dense { weight, bias, in_dim, out_dim, activation } => {
                    let lin = candle_nn::Linear::new(
                        Tensor::from_slice(weight, (*out_dim, *in_dim), &dev).unwrap(),
                        Some(Tensor::from_slice(bias, *out_dim, &dev).unwrap()),
                    );
                    act(lin.forward(&t).unwrap(), *activation)
                }
                DecoderLayer::Reshape { channels, height, width } => {
                    t.reshape((1, *channels, *height, *width)).unwrap()
                }
                DecoderLayer::ConvTranspose2d {
                    weight,
                    bias,
                    c_in,
                    c_out,
                    kernel,
                    stride,
                    padding,
                    output_padding,
                    crop_end,
                    activation,
                } => {
                    let w = Tensor::from_slice(weight, (*c_in, *c_out, *kernel, *kernel), &dev).unwrap();
                    let b = Tensor::from_slice(bias, (1, *c_out, 1, 1), &dev).unwrap();
                    let y = t.conv_transpose2d(&w, *padding, *output_padding, *stride, 1).unwrap();
                    let (oh, ow) = (y.dim(2).unwrap() - crop_end, y.dim(3).unwrap() - crop_end);
                    let y = y.narrow(2, 0, oh).unwrap().narrow(3, 0, ow).unwrap();
                    act(y.broadcast_add(&b).unwrap(), *activation)
                }
            };
        }
        t.flatten_all().unwrap().to_vec1().unwrap()
    }

    fn assert_close(a: &[f32], b: &[f32]) {
        assert_eq!(a.len(), b.len());
        let worst = a.iter().zip(b).map(|(x, y)| (x - y).abs() / (1.0 + y.abs())).fold(0f32, f32::max);
        assert!(worst < 1e-4, "reference and candle differ by {worst}");
    }

    #[test]
    fn mlp_decoder_matches_candle_linear() {
        let mut rng = Rng::new(7);
        let spec = DecoderSpec {
            latent_dim: 20,
            layers: vec![
                dense(&mut rng, 20, 64, Activation::Relu),
                dense(&mut rng, 64, 32, Activation::Elu),
                dense(&mut rng, 32, 784, Activation::Identity),
            ],
            output: OutputKind::Logits,
            height: 28,
            width: 28,
            conditional_classes: None,
        };
        spec.validate().unwrap();
        for _ in 0..3 {
            let z = rng.normal_vec(20);
            assert_close(&spec.decode(&z).unwrap(), &candle_decode(&spec, &z));
        }
    }

    #[test]
    fn conv_decoder_matches_candle_conv_transpose2d() {
        let mut rng = Rng::new(11);
        let spec = DecoderSpec {
            latent_dim: 2,
            layers: vec![
                dense(&mut rng, 2, 7 * 7 * 8, Activation::Relu),
                DecoderLayer::Reshape { channels: 8, height: 7, width: 7 },
                convt(&mut rng, 8, 4, Activation::LeakyRelu(0.1), true),
                convt(&mut rng, 4, 1, Activation::Identity, false),
            ],
            output: OutputKind::Logits,
            height: 28,
            width: 28,
            conditional_classes: None,
        };
        spec.validate().unwrap();
        for _ in 0..3 {
            let z = rng.normal_vec(2);
            assert_close(&spec.decode(&z).unwrap(), &candle_decode(&spec, &z));
        }
    }

    #[test]
    fn odd_kernel_stride_and_padding_match_candle() {
        // k=4, s=3, p=2, op=2 exercises every term of the output-size formula.
        let mut rng = Rng::new(3);
        let layer = DecoderLayer::ConvTranspose2d {
            weight: rng.normal_vec(2 * 3 * 16),
            bias: rng.normal_vec(3),
            c_in: 2,
            c_out: 3,
            kernel: 4,
            stride: 3,
            padding: 2,
            output_padding: 2,
            crop_end: 0,
            activation: Activation::Tanh,
        };
        // (4-1)*3 - 4 + 3 + 2 + 1 = 11
        let spec = DecoderSpec {
            latent_dim: 32,
            layers: vec![DecoderLayer::Reshape { channels: 2, height: 4, width: 4 }, layer],
            output: OutputKind::Probabilities,
            height: 11,
            width: 11,
            conditional_classes: None,
        };
        spec.validate().unwrap();
        assert_eq!(spec.channels(), 3);
        let z = rng.normal_vec(32);
        assert_close(&spec.decode(&z).unwrap(), &candle_decode(&spec, &z));
    }

    #[test]
    fn conditional_input_appends_one_hot() {
        let mut rng = Rng::new(5);
        let spec = DecoderSpec {
            latent_dim: 2,
            layers: vec![dense(&mut rng, 5, 4, Activation::Sigmoid)],
            output: OutputKind::Probabilities,
            height: 2,
            width: 2,
            conditional_classes: Some(3),
        };
        assert_eq!(spec.decoder_input(&[0.5, -1.0], Some(2)).unwrap(), vec![0.5, -1.0, 0.0, 0.0, 1.0]);
        assert!(spec.decoder_input(&[0.5, -1.0], Some(3)).is_err());
        assert!(spec.decoder_input(&[0.5, -1.0], None).is_err());
        let x = spec.decoder_input(&[0.5, -1.0], Some(1)).unwrap();
        assert_close(&spec.decode_pixels(&[0.5, -1.0], Some(1)).unwrap(), &candle_decode(&spec, &x));
    }

    #[test]
    fn validate_names_the_broken_layer() {
        let mut rng = Rng::new(1);
        let spec = DecoderSpec {
            latent_dim: 3,
            layers: vec![dense(&mut rng, 2, 4, Activation::Relu)],
            output: OutputKind::Logits,
            height: 2,
            width: 2,
            conditional_classes: None,
        };
        let msg = spec.validate().unwrap_err().to_string();
        assert!(msg.contains("layer 0") && msg.contains("expects 2 inputs but receives 3"), "{msg}");
        let spec = DecoderSpec { latent_dim: 2, height: 3, ..spec };
        let msg = spec.validate().unwrap_err().to_string();
        assert!(msg.contains("produces 4 values"), "{msg}");
        let conv_first = DecoderSpec {
            latent_dim: 2,
            layers: vec![convt(&mut rng, 2, 1, Activation::Identity, false)],
            output: OutputKind::Logits,
            height: 2,
            width: 2,
            conditional_classes: None,
        };
        assert!(conv_first.validate().unwrap_err().to_string().contains("add a Reshape"));
    }
}
