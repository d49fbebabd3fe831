//! Fast CPU convolutions for the convolutional VAEs, as candle custom ops.
//!
//! candle 0.11 runs `conv2d` and `conv_transpose2d` on CPU as direct loops, and their backward
//! passes as more of the same; a small conv VAE then trains about ten times slower than in
//! PyTorch. Here both convolutions become matrix products (`im2col` + `gemm` and
//! `gemm` + `col2im`, with the same `gemm` crate candle uses for `matmul`), and so do their
//! gradients, so training runs entirely on the fast path:
//!
//! | op | forward | input gradient | weight gradient |
//! |----|---------|----------------|-----------------|
//! | [`conv2d`](fn@conv2d) | `W · im2col(x)` | `conv_transpose2d(dy, W)` | `dy · im2col(x)ᵀ` |
//! | [`conv_transpose2d`](fn@conv_transpose2d) | `col2im(Wᵀ · x)` | `conv2d(dy, W)` | `x · im2col(dy)ᵀ` |
//!
//! Semantics are candle's (`Tensor::conv2d` with dilation 1 and groups 1, `Tensor::conv_transpose2d`
//! with dilation 1), square kernels only. Bias is left to the caller (`broadcast_add`). On CUDA or
//! Metal tensors, for dtypes other than f32/f64, and for `output_padding >= stride`, the functions
//! simply call candle's own ops, so every device keeps working.
//!
//! Threads: the batch is split over `VAE_OPS_THREADS` threads (default: candle's thread count,
//! i.e. `RAYON_NUM_THREADS` or the number of physical cores); each `gemm` itself is single-threaded.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! let mut rng = vae_core::rng::Rng::new(0);
//! let x = rng.randn((2, 3, 9, 9), &Device::Cpu)?;
//! let w = rng.randn((4, 3, 3, 3), &Device::Cpu)?;
//! let fast = vae_core::ops::conv2d(&x, &w, 2, 1)?;
//! let slow = x.conv2d(&w, 1, 2, 1, 1)?;
//! let diff = (fast - slow)?.abs()?.max_all()?.to_scalar::<f32>()?;
//! assert!(diff < 1e-4);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
pub use bias::{add_channel_bias, add_channel_bias_relu};

/// A contiguous f32 CPU storage as a slice, or an error naming the op and the argument.
pub(crate) fn f32_slice<'a>(s: &'a candle_core::CpuStorage, l: &Layout, what: &str) -> Result<&'a [f32]> {
    match (s, l.contiguous_offsets()) {
        (candle_core::CpuStorage::F32(v), Some((a, b))) => Ok(&v[a..b]),
        _ => bail!("{what} must be a contiguous f32 tensor"),
    }
}
use std::borrow::Cow;

use candle_core::{bail, DType, Layout, Result, Tensor};

/// Runs `$body` with both storages as contiguous slices of the same float type.
macro_rules! dispatch2 {
    ($s1:expr, $l1:expr, $s2:expr, $l2:expr, $name:expr, |$a:ident, $b:ident| $body:expr) => {
        match ($s1, $s2) {
            (candle_core::CpuStorage::F32(d1), candle_core::CpuStorage::F32(d2)) => {
                let $a = $crate::ops::contiguous(d1, $l1);
                let $b = $crate::ops::contiguous(d2, $l2);
                candle_core::CpuStorage::F32($body)
            }
            (candle_core::CpuStorage::F64(d1), candle_core::CpuStorage::F64(d2)) => {
                let $a = $crate::ops::contiguous(d1, $l1);
                let $b = $crate::ops::contiguous(d2, $l2);
                candle_core::CpuStorage::F64($body)
            }
            _ => candle_core::bail!(
                "{}: only f32 or f64 pairs run on the fast CPU path, got {:?} and {:?}",
                $name,
                candle_core::backend::BackendStorage::dtype($s1),
                candle_core::backend::BackendStorage::dtype($s2)
            ),
        }
    };
}

/// [`dispatch2`] for three storages.
macro_rules! dispatch3 {
    ($s1:expr, $l1:expr, $s2:expr, $l2:expr, $s3:expr, $l3:expr, $name:expr, |$a:ident, $b:ident, $c:ident| $body:expr) => {
        match ($s1, $s2, $s3) {
            (candle_core::CpuStorage::F32(d1), candle_core::CpuStorage::F32(d2), candle_core::CpuStorage::F32(d3)) => {
                let ($a, $b, $c) = (
                    $crate::ops::contiguous(d1, $l1),
                    $crate::ops::contiguous(d2, $l2),
                    $crate::ops::contiguous(d3, $l3),
                );
                candle_core::CpuStorage::F32($body)
            }
            (candle_core::CpuStorage::F64(d1), candle_core::CpuStorage::F64(d2), candle_core::CpuStorage::F64(d3)) => {
                let ($a, $b, $c) = (
                    $crate::ops::contiguous(d1, $l1),
                    $crate::ops::contiguous(d2, $l2),
                    $crate::ops::contiguous(d3, $l3),
                );
                candle_core::CpuStorage::F64($body)
            }
            _ => candle_core::bail!("{}: only f32 or f64 run on the fast CPU path", $name),
        }
    };
}

pub(crate) mod bias;
pub mod channels_last;
pub mod conv2d;
pub mod conv_transpose2d;
pub mod kernels;
#[cfg(test)]
mod tests;

pub use conv2d::{Conv2dOp, Conv2dWeightGrad};
pub use conv_transpose2d::ConvTranspose2dOp;

/// 2D convolution of `x: [B, Cin, H, W]` by `w: [Cout, Cin, K, K]`, no bias.
///
/// Same result as `x.conv2d(w, padding, stride, 1, 1)`, output `[B, Cout, OH, OW]` with
/// `OH = (H + 2*padding - K) / stride + 1`; differentiable in both arguments.
pub fn conv2d(x: &Tensor, w: &Tensor, stride: usize, padding: usize) -> Result<Tensor> {
    if !fast_path(x, w) {
        return x.conv2d(w, padding, stride, 1, 1);
    }
    x.contiguous()?.apply_op2(&w.contiguous()?, Conv2dOp { stride, padding })
}

/// Transposed 2D convolution of `x: [B, Cin, H, W]` by `w: [Cin, Cout, K, K]`, no bias.
///
/// Same result as `x.conv_transpose2d(w, padding, output_padding, stride, 1)`: output
/// `[B, Cout, OH, OW]` with `OH = (H - 1)*stride - 2*padding + K + output_padding`.
/// Differentiable in both arguments.
pub fn conv_transpose2d(
    x: &Tensor,
    w: &Tensor,
    stride: usize,
    padding: usize,
    output_padding: usize,
) -> Result<Tensor> {
    conv_transpose2d_cropped(x, w, stride, padding, output_padding, 0)
}

/// [`conv_transpose2d`](fn@conv_transpose2d) with `crop_end` more rows and columns cut from the bottom and the right:
/// `OH = (H - 1)*stride - 2*padding + K + output_padding - crop_end`, the same values as candle's
/// `conv_transpose2d` followed by `narrow` to the first `OH` rows and `OW` columns.
///
/// TensorFlow's `padding='same'` needs it. A full transposed convolution has `K - stride` rows more
/// than `H*stride`; PyTorch's `padding` cuts the same number from both sides (then
/// `output_padding` adds back at the end), TensorFlow cuts `(K - stride) / 2` at the start and the
/// rest, the odd one, at the end. For kernel 3 and stride 2: PyTorch `padding 1, output_padding 1`
/// keeps rows 1..=2H of the full output, TensorFlow `padding 0, crop_end 1` keeps rows 0..2H.
///
/// ```
/// use candle_core::{DType, Device, Tensor};
/// let x = Tensor::ones((1, 1, 2, 2), DType::F32, &Device::Cpu)?;
/// let w = Tensor::ones((1, 1, 3, 3), DType::F32, &Device::Cpu)?;
/// let tf = vae_core::ops::conv_transpose2d_cropped(&x, &w, 2, 0, 0, 1)?;
/// let full = x.conv_transpose2d(&w, 0, 0, 2, 1)?; // 5x5
/// assert_eq!(tf.dims(), &[1, 1, 4, 4]);
/// let cut = full.narrow(2, 0, 4)?.narrow(3, 0, 4)?;
/// assert_eq!(tf.flatten_all()?.to_vec1::<f32>()?, cut.flatten_all()?.to_vec1::<f32>()?);
/// # Ok::<(), candle_core::Error>(())
/// ```
pub fn conv_transpose2d_cropped(
    x: &Tensor,
    w: &Tensor,
    stride: usize,
    padding: usize,
    output_padding: usize,
    crop_end: usize,
) -> Result<Tensor> {
    let (_, _, h, wd) = x.dims4()?;
    let k = w.dim(2)?;
    let out = |len: usize| -> Result<usize> {
        match conv_transpose_out_len(len, k, stride, padding, output_padding, crop_end) {
            Some(n) => Ok(n),
            None => bail!(
                "conv_transpose2d: a {h}x{wd} input with kernel {k}, stride {stride}, padding {padding}, output_padding {output_padding}, crop_end {crop_end} gives an empty output"
            ),
        }
    };
    let (out_h, out_w) = (out(h)?, out(wd)?);
    // output_padding >= stride adds rows no input pixel reaches; rare enough to leave to candle.
    if !fast_path(x, w) || output_padding >= stride {
        let y = x.conv_transpose2d(w, padding, output_padding, stride, 1)?;
        return if crop_end == 0 { Ok(y) } else { y.narrow(2, 0, out_h)?.narrow(3, 0, out_w) };
    }
    let op = ConvTranspose2dOp { stride, padding, out_h, out_w };
    x.contiguous()?.apply_op2(&w.contiguous()?, op)
}

/// Output side of [`conv_transpose2d_cropped`] for an input side `len`:
/// `(len - 1)*stride - 2*padding + k + output_padding - crop_end`, or `None` when that is empty.
pub fn conv_transpose_out_len(
    len: usize,
    k: usize,
    stride: usize,
    padding: usize,
    output_padding: usize,
    crop_end: usize,
) -> Option<usize> {
    let full = len.checked_sub(1)? * stride + k + output_padding;
    full.checked_sub(2 * padding + crop_end).filter(|&n| n > 0)
}

fn fast_path(x: &Tensor, w: &Tensor) -> bool {
    x.device().is_cpu() && x.dtype() == w.dtype() && matches!(x.dtype(), DType::F32 | DType::F64)
}

/// The dims of a rank-4 layout, or an error naming `what`.
pub(crate) fn dims4(l: &Layout, what: &str) -> Result<(usize, usize, usize, usize)> {
    match *l.dims() {
        [a, b, c, d] => Ok((a, b, c, d)),
        ref dims => bail!("{what}: expected a rank-4 tensor [B, C, H, W], got shape {dims:?}"),
    }
}

/// The elements a layout addresses, in row-major order, borrowed when already contiguous.
pub(crate) fn contiguous<'a, T: Copy>(data: &'a [T], layout: &Layout) -> Cow<'a, [T]> {
    if let Some((start, end)) = layout.contiguous_offsets() {
        return Cow::Borrowed(&data[start..end]);
    }
    // Odometer over the multi-index; the public wrappers make inputs contiguous first, so this
    // only runs for custom-op users handing in strided views.
    let (dims, stride) = (layout.dims(), layout.stride());
    let total: usize = dims.iter().product();
    let mut out = Vec::with_capacity(total);
    let mut index = vec![0usize; dims.len()];
    let mut offset = layout.start_offset();
    for _ in 0..total {
        out.push(data[offset]);
        for d in (0..dims.len()).rev() {
            index[d] += 1;
            offset += stride[d];
            if index[d] < dims[d] {
                break;
            }
            offset -= stride[d] * dims[d];
            index[d] = 0;
        }
    }
    Cow::Owned(out)
}
