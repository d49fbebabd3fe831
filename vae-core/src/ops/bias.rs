//! Adding a per-channel bias to `[B, C, H, W]` feature maps, with a fast gradient.
//!
//! `x.broadcast_add(&b.reshape((1, C, 1, 1)))` is correct, but its backward pass reduces the
//! output gradient over three strided axes with candle's generic reduction, which dominated
//! the conv VAE's backward pass. Here $y_{bchw} = x_{bchw} + b_c$ and
//! $\partial L / \partial b_c = \sum_{b,h,w} \partial L / \partial y_{bchw}$ are single passes
//! over contiguous memory. Other devices use the broadcast form.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! let x = Tensor::zeros((2, 3, 4, 4), candle_core::DType::F32, &Device::Cpu)?;
//! let b = Tensor::new(&[1f32, 2., 3.], &Device::Cpu)?;
//! let y = vae_core::ops::add_channel_bias(&x, &b)?;
//! assert_eq!(y.sum_all()?.to_scalar::<f32>()?, 2. * 16. * 6.);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};

/// `x + b` with `b` broadcast over batch and space: `x` `[B, C, H, W]`, `b` `[C]`.
pub fn add_channel_bias(x: &Tensor, b: &Tensor) -> Result<Tensor> {
    if fast_path(x, b)? {
        return x.contiguous()?.apply_op2(&b.contiguous()?, ChannelBias);
    }
    x.broadcast_add(&b.reshape((1, (), 1, 1))?)
}

/// `relu(x + b)`, the bias-then-activation of every hidden convolution, in one pass each way:
/// the backward pass masks the gradient with the output's sign and sums it per channel, where
/// candle's `relu` alone would spend a comparison, a cast and a product over the whole map.
pub fn add_channel_bias_relu(x: &Tensor, b: &Tensor) -> Result<Tensor> {
    if fast_path(x, b)? {
        return x.contiguous()?.apply_op2(&b.contiguous()?, ChannelBiasRelu);
    }
    add_channel_bias(x, b)?.relu()
}

/// f32 `[B, C, H, W]` maps and a `[C]` bias on the CPU: the custom ops apply.
fn fast_path(x: &Tensor, b: &Tensor) -> Result<bool> {
    Ok(x.device().is_cpu()
        && x.dtype() == candle_core::DType::F32
        && b.dtype() == candle_core::DType::F32
        && x.rank() == 4
        && b.dims() == [x.dim(1)?])
}

/// `f(x, b_c)` for every element of `[B, C, H, W]`, the forward pass of both bias ops.
fn per_channel(
    s1: &CpuStorage,
    l1: &Layout,
    s2: &CpuStorage,
    l2: &Layout,
    f: impl Fn(f32, f32) -> f32,
) -> Result<(CpuStorage, Shape)> {
    let x = slice(s1, l1)?;
    let b = slice(s2, l2)?;
    let (_, c, h, w) = l1.shape().dims4()?;
    let plane = h * w;
    // Sized up front: collecting a flat_map would grow the vector by reallocation.
    let mut out = vec![0f32; x.len()];
    for (i, (yc, xc)) in out.chunks_exact_mut(plane).zip(x.chunks_exact(plane)).enumerate() {
        let bc = b[i % c];
        for (y, &v) in yc.iter_mut().zip(xc) {
            *y = f(v, bc);
        }
    }
    Ok((CpuStorage::F32(out), l1.shape().clone()))
}

/// Sum of a slice in 16 independent lanes: a single running f32 sum is a dependency chain the
/// compiler may not reorder (so it never vectorises), and lanes are more accurate too.
pub(crate) fn lane_sum(v: &[f32]) -> f32 {
    let mut lanes = [0f32; 16];
    let chunks = v.chunks_exact(16);
    let tail: f32 = chunks.remainder().iter().sum();
    for ch in chunks {
        for (l, &x) in lanes.iter_mut().zip(ch) {
            *l += x;
        }
    }
    lanes.iter().sum::<f32>() + tail
}

fn slice<'a>(s: &'a CpuStorage, l: &Layout) -> Result<&'a [f32]> {
    super::f32_slice(s, l, "channel bias: the input")
}

struct ChannelBias;

impl CustomOp2 for ChannelBias {
    fn name(&self) -> &'static str {
        "add-channel-bias"
    }
    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        per_channel(s1, l1, s2, l2, |v, bc| v + bc)
    }
    fn bwd(&self, _x: &Tensor, b: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let gb = if b.track_op() { Some(grad.contiguous()?.apply_op1_no_bwd(&ChannelSum)?) } else { None };
        Ok((Some(grad.clone()), gb))
    }
}

struct ChannelBiasRelu;

impl CustomOp2 for ChannelBiasRelu {
    fn name(&self) -> &'static str {
        "add-channel-bias-relu"
    }
    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        per_channel(s1, l1, s2, l2, |v, bc| (v + bc).max(0.0))
    }
    fn bwd(&self, _x: &Tensor, b: &Tensor, res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let masked = grad.contiguous()?.apply_op2_no_bwd(res, &ReluMask)?;
        let gb = if b.track_op() { Some(masked.apply_op1_no_bwd(&ChannelSum)?) } else { None };
        Ok((Some(masked), gb))
    }
}

/// `(grad, out) -> grad * [out > 0]`.
struct ReluMask;

impl CustomOp2 for ReluMask {
    fn name(&self) -> &'static str {
        "relu-mask"
    }
    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let g = slice(s1, l1)?;
        let y = super::f32_slice(s2, l2, "relu mask: the output")?;
        let out = g.iter().zip(y).map(|(&g, &y)| if y > 0.0 { g } else { 0.0 }).collect();
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// `[B, C, H, W]` -> `[C]`: sum over batch and space.
struct ChannelSum;

impl CustomOp1 for ChannelSum {
    fn name(&self) -> &'static str {
        "channel-sum"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let g = slice(s, l)?;
        let (_, c, h, w) = l.shape().dims4()?;
        let plane = h * w;
        let mut out = vec![0f32; c];
        for (i, chunk) in g.chunks_exact(plane).enumerate() {
            out[i % c] += lane_sum(chunk);
        }
        Ok((CpuStorage::F32(out), Shape::from(c)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use candle_core::{Device, Var};

    /// `fast` against `slow` (the same op composed from candle's), forward and backward.
    fn check(seed: u64, fast: impl Fn(&Tensor, &Tensor) -> Result<Tensor>, slow: impl Fn(&Tensor) -> Result<Tensor>) {
        let mut rng = Rng::new(seed);
        let x = Var::from_tensor(&rng.randn((3, 4, 5, 6), &Device::Cpu).unwrap()).unwrap();
        let b = Var::from_tensor(&rng.randn(4, &Device::Cpu).unwrap()).unwrap();
        let w = rng.randn((3, 4, 5, 6), &Device::Cpu).unwrap();
        let max_abs = |t: Tensor| t.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        let f = fast(x.as_tensor(), b.as_tensor()).unwrap();
        let s = slow(&x.as_tensor().broadcast_add(&b.as_tensor().reshape((1, 4, 1, 1)).unwrap()).unwrap()).unwrap();
        assert!(max_abs((&f - &s).unwrap()) < 1e-6);
        let gf = f.mul(&w).unwrap().sum_all().unwrap().backward().unwrap();
        let gs = s.mul(&w).unwrap().sum_all().unwrap().backward().unwrap();
        for v in [&x, &b] {
            let d = max_abs((gf.get(v).unwrap() - gs.get(v).unwrap()).unwrap());
            assert!(d < 1e-4, "{d}");
        }
    }

    #[test]
    fn bias_relu_matches_the_composed_ops_forward_and_backward() {
        check(3, add_channel_bias_relu, |t| t.relu());
    }

    #[test]
    fn matches_broadcast_add_forward_and_backward() {
        check(2, add_channel_bias, |t| Ok(t.clone()));
    }
}
