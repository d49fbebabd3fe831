//! 2D convolution as a candle custom op: `y[b] = W · im2col(x[b])`.
//!
//! With `x: [B, Cin, H, W]` and `w: [Cout, Cin, K, K]`, every image is unfolded into a
//! `[Cin*K*K, OH*OW]` matrix and multiplied by `w` viewed as `[Cout, Cin*K*K]`, so the output
//! `y: [B, Cout, OH, OW]` with `OH = (H + 2p - K) / s + 1` comes out of one `gemm` per image.
//!
//! Gradients reuse the same machinery:
//! - input: `dx[b] = col2im(Wᵀ · dy[b])`, exactly a transposed convolution of `dy` by `w`;
//! - weight: `dW = Σ_b dy[b] · im2col(x[b])ᵀ`, computed by [`Conv2dWeightGrad`].
//!
//! ```
//! use candle_core::{Device, Tensor};
//! let x = Tensor::ones((1, 1, 4, 4), candle_core::DType::F32, &Device::Cpu)?;
//! let w = Tensor::ones((2, 1, 3, 3), candle_core::DType::F32, &Device::Cpu)?;
//! let y = vae_core::ops::conv2d(&x, &w, 1, 1)?;
//! assert_eq!(y.dims(), &[1, 2, 4, 4]);
//! // A corner sees 4 pixels of the padded image, the centre 9.
//! assert_eq!(y.get(0)?.get(0)?.to_vec2::<f32>()?[0][0], 4.0);
//! assert_eq!(y.get(0)?.get(0)?.to_vec2::<f32>()?[1][1], 9.0);
//! # Ok::<(), candle_core::Error>(())
//! ```
use candle_core::{bail, CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};

use super::conv_transpose2d::ConvTranspose2dOp;
use super::dims4;
use super::kernels::{conv_out_len, for_batches, im2col, matmul, num_threads, split, Elem, Mat, Window};

/// Forward convolution `conv2d(x, w)`; see the module docs.
#[derive(Debug, Clone, Copy)]
pub struct Conv2dOp {
    /// Step between output pixels, in input pixels.
    pub stride: usize,
    /// Zeros added on every side of the input.
    pub padding: usize,
}

/// Shapes of one convolution, validated once.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConvDims {
    pub b: usize,
    pub cin: usize,
    pub h: usize,
    pub w: usize,
    pub cout: usize,
    pub k: usize,
    pub oh: usize,
    pub ow: usize,
}

impl ConvDims {
    /// The window sliding over one input image.
    fn window(&self, stride: usize, padding: usize) -> Window {
        Window { c: self.cin, h: self.h, w: self.w, k: self.k, stride, padding, oh: self.oh, ow: self.ow }
    }
}

impl Conv2dOp {
    fn dims(&self, l1: &Layout, l2: &Layout) -> Result<ConvDims> {
        let (b, cin, h, w) = dims4(l1, "conv2d input")?;
        let (cout, cin_w, kh, kw) = dims4(l2, "conv2d kernel")?;
        if cin != cin_w {
            bail!("conv2d: input has {cin} channels but the kernel expects {cin_w}; kernel layout is [Cout, Cin, K, K]")
        }
        if kh != kw {
            bail!("conv2d: only square kernels are supported, got {kh}x{kw}")
        }
        let (Some(oh), Some(ow)) =
            (conv_out_len(h, kh, self.stride, self.padding), conv_out_len(w, kw, self.stride, self.padding))
        else {
            bail!(
                "conv2d: a {kh}x{kw} kernel with stride {} and padding {} does not fit a {h}x{w} input",
                self.stride,
                self.padding
            )
        };
        Ok(ConvDims { b, cin, h, w, cout, k: kh, oh, ow })
    }
}

/// `y[b] = W · im2col(x[b])` for every image, images spread over threads.
pub(crate) fn conv2d_forward<T: Elem>(x: &[T], wt: &[T], d: ConvDims, stride: usize, padding: usize) -> Vec<T> {
    let win = d.window(stride, padding);
    let (rows, n) = (win.taps(), win.positions());
    let mut y = vec![T::ZERO; d.b * d.cout * n];
    for_batches(d.b, d.cout * n, &mut y, num_threads(), |range, out| {
        let mut col = vec![T::ZERO; rows * n];
        for (i, bi) in range.enumerate() {
            im2col(&x[bi * win.image_len()..], win, &mut col);
            let lhs = Mat { ptr: wt.as_ptr(), rs: rows as isize, cs: 1 };
            let rhs = Mat { ptr: col.as_ptr(), rs: n as isize, cs: 1 };
            matmul(d.cout, n, rows, &mut out[i * d.cout * n..(i + 1) * d.cout * n], false, lhs, rhs);
        }
    });
    y
}

/// `dW = Σ_b dy[b] · im2col(x[b])ᵀ`, one partial sum per thread, added at the end.
pub(crate) fn conv2d_weight_grad<T: Elem>(x: &[T], dy: &[T], d: ConvDims, stride: usize, padding: usize) -> Vec<T> {
    let win = d.window(stride, padding);
    let (rows, n) = (win.taps(), win.positions());
    let size = d.cout * rows;
    let ranges = split(d.b, num_threads());
    let mut partial = vec![T::ZERO; ranges.len() * size];
    for_batches(ranges.len(), size, &mut partial, ranges.len(), |chunks, out| {
        let mut col = vec![T::ZERO; rows * n];
        for (slot, ci) in chunks.enumerate() {
            let acc = &mut out[slot * size..(slot + 1) * size];
            for (j, bi) in ranges[ci].clone().enumerate() {
                im2col(&x[bi * win.image_len()..], win, &mut col);
                let lhs = Mat { ptr: dy[bi * d.cout * n..].as_ptr(), rs: n as isize, cs: 1 };
                // im2col(x)ᵀ without a copy: element (i, j) of the transpose is col[j*n + i].
                let rhs = Mat { ptr: col.as_ptr(), rs: 1, cs: n as isize };
                matmul(d.cout, rows, n, acc, j > 0, lhs, rhs);
            }
        }
    });
    let (first, rest) = partial.split_at_mut(size);
    for p in rest.chunks(size) {
        for (a, b) in first.iter_mut().zip(p) {
            *a += *b;
        }
    }
    partial.truncate(size);
    partial
}

impl CustomOp2 for Conv2dOp {
    fn name(&self) -> &'static str {
        "vae-conv2d"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let d = self.dims(l1, l2)?;
        let (s, p) = (self.stride, self.padding);
        let out = dispatch2!(s1, l1, s2, l2, "conv2d", |x, w| conv2d_forward(&x, &w, d, s, p));
        Ok((out, Shape::from((d.b, d.cout, d.oh, d.ow))))
    }

    fn bwd(&self, x: &Tensor, w: &Tensor, _y: &Tensor, dy: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let dy = dy.contiguous()?;
        let (_, _, h, wd) = x.dims4()?;
        let k = w.dim(2)?;
        let back = ConvTranspose2dOp { stride: self.stride, padding: self.padding, out_h: h, out_w: wd };
        // The first layer's input is data: its gradient would be computed and thrown away.
        let dx = if x.track_op() { Some(dy.apply_op2(w, back)?) } else { None };
        let dw = if w.track_op() {
            Some(x.apply_op2_no_bwd(&dy, &Conv2dWeightGrad { k, stride: self.stride, padding: self.padding })?)
        } else {
            None
        };
        Ok((dx, dw))
    }
}

/// Weight gradient of a convolution: `(x [B,Cin,H,W], dy [B,Cout,OH,OW]) -> dW [Cout,Cin,K,K]`.
///
/// Also the weight gradient of a transposed convolution, with the roles of the two swapped.
#[derive(Debug, Clone, Copy)]
pub struct Conv2dWeightGrad {
    /// Side of the square kernel.
    pub k: usize,
    /// The forward convolution's stride.
    pub stride: usize,
    /// The forward convolution's padding.
    pub padding: usize,
}

impl CustomOp2 for Conv2dWeightGrad {
    fn name(&self) -> &'static str {
        "vae-conv2d-weight-grad"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let (b, cin, h, w) = dims4(l1, "conv2d weight-grad input")?;
        let (b2, cout, oh, ow) = dims4(l2, "conv2d weight-grad output gradient")?;
        let (k, s, p) = (self.k, self.stride, self.padding);
        if b != b2 || conv_out_len(h, k, s, p) != Some(oh) || conv_out_len(w, k, s, p) != Some(ow) {
            bail!(
                "conv2d weight-grad: output gradient [{b2}, {cout}, {oh}, {ow}] does not match input [{b}, {cin}, {h}, {w}] with kernel {k}, stride {s}, padding {p}"
            )
        }
        let d = ConvDims { b, cin, h, w, cout, k, oh, ow };
        let out = dispatch2!(s1, l1, s2, l2, "conv2d weight-grad", |x, dy| conv2d_weight_grad(&x, &dy, d, s, p));
        Ok((out, Shape::from((cout, cin, k, k))))
    }
}
