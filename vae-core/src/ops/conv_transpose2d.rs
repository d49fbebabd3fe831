//! Transposed 2D convolution as a candle custom op: `y[b] = col2im(Wᵀ · x[b])`.
//!
//! With `x: [B, Cin, H, W]` and `w: [Cin, Cout, K, K]` (candle's and PyTorch's layout), every
//! input pixel spreads a `Cout x K x K` patch, weighted by `w`, over the output; overlapping patches
//! add. As matrices: `w` viewed as `[Cin, Cout*K*K]`, transposed, times `x[b]` viewed as
//! `[Cin, H*W]`, then `col2im` scatters the columns. It is the adjoint of [`super::conv2d`] with the
//! same stride and padding, which is why the output size is any `OH` with
//! `(OH + 2p - K) / s + 1 = H`, i.e. `OH = (H-1)*s - 2p + K + output_padding`, `output_padding < s`.
//!
//! Gradients: `dx = conv2d(dy, w)` (same stride and padding) and
//! `dW = Σ_b x[b] · im2col(dy[b])ᵀ`, the convolution weight gradient with the roles swapped.
//!
//! ```
//! use candle_core::{DType, Device, Tensor};
//! let x = Tensor::ones((1, 1, 2, 2), DType::F32, &Device::Cpu)?;
//! let w = Tensor::ones((1, 1, 3, 3), DType::F32, &Device::Cpu)?;
//! // stride 2, padding 1, output_padding 1 doubles the size ("same" in Keras terms).
//! let y = vae_core::ops::conv_transpose2d(&x, &w, 2, 1, 1)?;
//! assert_eq!(y.dims(), &[1, 1, 4, 4]);
//! // Pixel (1, 1) of the output is covered by the patches of all four input pixels.
//! assert_eq!(y.get(0)?.get(0)?.to_vec2::<f32>()?[1][1], 4.0);
//! # Ok::<(), candle_core::Error>(())
//! ```
use candle_core::{bail, CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};

use super::conv2d::{Conv2dOp, Conv2dWeightGrad};
use super::kernels::{col2im, conv_out_len, for_batches, matmul, num_threads, Elem, Mat};
use super::dims4;

/// Transposed convolution with an explicit output size; see the module docs.
#[derive(Debug, Clone, Copy)]
pub struct ConvTranspose2dOp {
    pub stride: usize,
    pub padding: usize,
    pub out_h: usize,
    pub out_w: usize,
}

/// `y[b] = col2im(Wᵀ · x[b])` for every image, images spread over threads.
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv_transpose2d_forward<T: Elem>(
    x: &[T],
    wt: &[T],
    (b, cin, h, w): (usize, usize, usize, usize),
    (cout, k): (usize, usize),
    op: &ConvTranspose2dOp,
) -> Vec<T> {
    let (rows, n, out_n) = (cout * k * k, h * w, op.out_h * op.out_w);
    let mut y = vec![T::ZERO; b * cout * out_n];
    for_batches(b, cout * out_n, &mut y, num_threads(), |range, out| {
        let mut col = vec![T::ZERO; rows * n];
        for (i, bi) in range.enumerate() {
            // Wᵀ without a copy: element (r, c) of the transpose is w[c*rows + r].
            let lhs = Mat { ptr: wt.as_ptr(), rs: 1, cs: rows as isize };
            let rhs = Mat { ptr: x[bi * cin * n..].as_ptr(), rs: n as isize, cs: 1 };
            matmul(rows, n, cin, &mut col, false, lhs, rhs);
            let img = &mut out[i * cout * out_n..(i + 1) * cout * out_n];
            col2im(&col, cout, op.out_h, op.out_w, k, op.stride, op.padding, h, w, img);
        }
    });
    y
}

impl CustomOp2 for ConvTranspose2dOp {
    fn name(&self) -> &'static str {
        "vae-conv-transpose2d"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let (b, cin, h, w) = dims4(l1, "conv_transpose2d input")?;
        let (cin_w, cout, kh, kw) = dims4(l2, "conv_transpose2d kernel")?;
        if cin != cin_w {
            bail!("conv_transpose2d: input has {cin} channels but the kernel expects {cin_w}; kernel layout is [Cin, Cout, K, K]")
        }
        if kh != kw {
            bail!("conv_transpose2d: only square kernels are supported, got {kh}x{kw}")
        }
        let (s, p) = (self.stride, self.padding);
        if conv_out_len(self.out_h, kh, s, p) != Some(h) || conv_out_len(self.out_w, kw, s, p) != Some(w) {
            bail!(
                "conv_transpose2d: output {}x{} is not reachable from a {h}x{w} input with kernel {kh}, stride {s}, padding {p} (output_padding must be < stride)",
                self.out_h,
                self.out_w
            )
        }
        let dims = (b, cin, h, w);
        let out = dispatch2!(s1, l1, s2, l2, "conv_transpose2d", |x, wt| conv_transpose2d_forward(
            &x,
            &wt,
            dims,
            (cout, kh),
            self
        ));
        Ok((out, Shape::from((b, cout, self.out_h, self.out_w))))
    }

    fn bwd(&self, x: &Tensor, w: &Tensor, _y: &Tensor, dy: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let dy = dy.contiguous()?;
        let k = w.dim(2)?;
        let dx = if x.track_op() {
            Some(dy.apply_op2(w, Conv2dOp { stride: self.stride, padding: self.padding })?)
        } else {
            None
        };
        let dw = if w.track_op() {
            Some(dy.apply_op2_no_bwd(x, &Conv2dWeightGrad { k, stride: self.stride, padding: self.padding })?)
        } else {
            None
        };
        Ok((dx, dw))
    }
}
