//! Transposed 2D convolution as a candle custom op: `y[b] = col2im(Wᵀ · x[b])`.
//!
//! With `x: [B, Cin, H, W]` and `w: [Cin, Cout, K, K]` (candle's and PyTorch's layout), every
//! input pixel spreads a `Cout x K x K` patch, weighted by `w`, over the output; overlapping patches
//! add. As matrices: `w` viewed as `[Cin, Cout*K*K]`, transposed, times `x[b]` viewed as
//! `[Cin, H*W]`, then `col2im` scatters the columns. It is the adjoint of [`conv2d`](fn@super::conv2d) with the
//! same stride and padding, which is why the output size is any `OH` with
//! `(OH + 2p - K) / s + 1 = H`, i.e. `OH = (H-1)*s - 2p + K + output_padding`, `output_padding < s`.
//! Smaller outputs cut rows and columns at the end ([`super::conv_transpose2d_cropped`],
//! TensorFlow's 'same'); their gradient treats the cut rows as zeros.
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
use candle_core::{bail, CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};

use super::conv2d::{Conv2dOp, Conv2dWeightGrad};
use super::dims4;
use super::kernels::{col2im, for_batches, im2col, matmul, num_threads, split, Elem, Mat, Window};

/// Transposed convolution with an explicit output size; see the module docs.
#[derive(Debug, Clone, Copy)]
pub struct ConvTranspose2dOp {
    /// Output pixels per input pixel along each axis.
    pub stride: usize,
    /// Rows and columns cut from every side of the full output.
    pub padding: usize,
    /// Output height: what PyTorch's `output_padding` and a crop at the end decide.
    pub out_h: usize,
    /// Output width.
    pub out_w: usize,
}

impl ConvTranspose2dOp {
    /// The window sliding over one `cout`-channel output image, stopping at the `h x w` input pixels.
    fn window(&self, cout: usize, k: usize, (h, w): (usize, usize)) -> Window {
        let (stride, padding) = (self.stride, self.padding);
        Window { c: cout, h: self.out_h, w: self.out_w, k, stride, padding, oh: h, ow: w }
    }
}

/// `y[b] = col2im(Wᵀ · x[b])` for every image, images spread over threads.
pub(crate) fn conv_transpose2d_forward<T: Elem>(
    x: &[T],
    wt: &[T],
    (b, cin, h, w): (usize, usize, usize, usize),
    (cout, k): (usize, usize),
    op: &ConvTranspose2dOp,
) -> Vec<T> {
    let win = op.window(cout, k, (h, w));
    let (rows, n, out_len) = (win.taps(), win.positions(), win.image_len());
    let mut y = vec![T::ZERO; b * out_len];
    for_batches(b, out_len, &mut y, num_threads(), |range, out| {
        let mut col = vec![T::ZERO; rows * n];
        for (i, bi) in range.enumerate() {
            // Wᵀ without a copy: element (r, c) of the transpose is w[c*rows + r].
            let lhs = Mat { ptr: wt.as_ptr(), rs: 1, cs: rows as isize };
            let rhs = Mat { ptr: x[bi * cin * n..].as_ptr(), rs: n as isize, cs: 1 };
            matmul(rows, n, cin, &mut col, false, lhs, rhs);
            let img = &mut out[i * out_len..(i + 1) * out_len];
            col2im(&col, win, img);
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
        // Any output up to PyTorch's largest (output_padding = stride - 1), cut at the end as
        // far as wanted (see `conv_transpose2d_cropped`).
        let reachable = |out: usize, len: usize| out >= 1 && out + 2 * p < len * s + kh;
        if !reachable(self.out_h, h) || !reachable(self.out_w, w) {
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
        if x.track_op() && w.track_op() && dy.device().is_cpu() {
            // Both gradients need im2col(dy): build it once (see ConvTranspose2dGrads).
            let both = dy.apply_op3_no_bwd(&w.contiguous()?, &x.contiguous()?, &ConvTranspose2dGrads { op: *self })?;
            let nx = x.elem_count();
            let dx = both.narrow(0, 0, nx)?.reshape(x.shape())?;
            let dw = both.narrow(0, nx, w.elem_count())?.reshape(w.shape())?;
            return Ok((Some(dx), Some(dw)));
        }
        // The conv2d ops infer their sizes from dy's: give back, as zeros, the rows and columns
        // that `crop_end` cut off (see `conv_transpose2d_cropped`).
        let (_, _, h, wd) = x.dims4()?;
        let uncropped =
            |len: usize| super::conv_transpose_out_len(len, k, self.stride, self.padding, 0, 0).unwrap_or(0);
        let cut = |len: usize, out: usize| uncropped(len).saturating_sub(out);
        let dy = dy.pad_with_zeros(2, 0, cut(h, self.out_h))?.pad_with_zeros(3, 0, cut(wd, self.out_w))?;
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

/// Both gradients of a transposed convolution from one `im2col` of the output gradient:
/// `(dy [B,Cout,OH,OW], w [Cin,Cout,K,K], x [B,Cin,H,W])` -> `dx` then `dW`, flattened into one
/// vector, with `col = im2col(dy[b])` (`[Cout*K*K, H*W]`), `dx[b] = W · col` and
/// `dW = Σ_b x[b] · colᵀ`. The two separate ops would each build `col`.
#[derive(Debug, Clone, Copy)]
pub struct ConvTranspose2dGrads {
    /// The forward transposed convolution.
    pub op: ConvTranspose2dOp,
}

impl CustomOp3 for ConvTranspose2dGrads {
    fn name(&self) -> &'static str {
        "vae-conv-transpose2d-grads"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (b, cout, oh, ow) = dims4(l1, "conv_transpose2d gradient")?;
        let (cin, cout_w, k, _) = dims4(l2, "conv_transpose2d kernel")?;
        let (b_x, cin_x, h, w) = dims4(l3, "conv_transpose2d input")?;
        if b != b_x || cin != cin_x || cout != cout_w || (oh, ow) != (self.op.out_h, self.op.out_w) {
            bail!("conv_transpose2d backward: gradient [{b}, {cout}, {oh}, {ow}], kernel [{cin}, {cout_w}, {k}, {k}] and input [{b_x}, {cin_x}, {h}, {w}] disagree")
        }
        let dims = Grads { b, cin, h, w, cout, k };
        let out = dispatch3!(s1, l1, s2, l2, s3, l3, "conv_transpose2d backward", |dy, wt, x| transpose_grads(
            &dy, &wt, &x, dims, &self.op
        ));
        Ok((out, Shape::from(b * cin * h * w + cin * cout * k * k)))
    }
}

#[derive(Clone, Copy)]
struct Grads {
    b: usize,
    cin: usize,
    h: usize,
    w: usize,
    cout: usize,
    k: usize,
}

fn transpose_grads<T: Elem>(dy: &[T], wt: &[T], x: &[T], d: Grads, op: &ConvTranspose2dOp) -> Vec<T> {
    let win = op.window(d.cout, d.k, (d.h, d.w));
    let (rows, n) = (win.taps(), win.positions());
    let (dx_len, dw_len) = (d.b * d.cin * n, d.cin * rows);
    let ranges = split(d.b, num_threads());
    let mut out = vec![T::ZERO; dx_len + ranges.len() * dw_len];
    let (dx, partials) = out.split_at_mut(dx_len);
    let work = |range: std::ops::Range<usize>, dx: &mut [T], dw: &mut [T]| {
        let mut col = vec![T::ZERO; rows * n];
        for (i, bi) in range.enumerate() {
            im2col(&dy[bi * win.image_len()..], win, &mut col);
            let w_mat = Mat { ptr: wt.as_ptr(), rs: rows as isize, cs: 1 };
            let col_mat = Mat { ptr: col.as_ptr(), rs: n as isize, cs: 1 };
            matmul(d.cin, n, rows, &mut dx[i * d.cin * n..(i + 1) * d.cin * n], false, w_mat, col_mat);
            let x_mat = Mat { ptr: x[bi * d.cin * n..].as_ptr(), rs: n as isize, cs: 1 };
            let col_t = Mat { ptr: col.as_ptr(), rs: 1, cs: n as isize };
            matmul(d.cin, rows, n, dw, i > 0, x_mat, col_t);
        }
    };
    std::thread::scope(|s| {
        let (mut dx_rest, mut dw_rest) = (dx, &mut partials[..]);
        let last = ranges.len() - 1;
        let mut handles = vec![];
        for (t, r) in ranges.iter().cloned().enumerate() {
            let (dx_mine, dx_tail) = std::mem::take(&mut dx_rest).split_at_mut(r.len() * d.cin * n);
            let (dw_mine, dw_tail) = std::mem::take(&mut dw_rest).split_at_mut(dw_len);
            dx_rest = dx_tail;
            dw_rest = dw_tail;
            let work = &work;
            if t == last {
                work(r, dx_mine, dw_mine);
            } else {
                handles.push(s.spawn(move || work(r, dx_mine, dw_mine)));
            }
        }
        for h in handles {
            if let Err(e) = h.join() {
                std::panic::resume_unwind(e);
            }
        }
    });
    let (head, rest) = out.split_at_mut(dx_len + dw_len);
    let dw = &mut head[dx_len..];
    for p in rest.chunks(dw_len) {
        dw.iter_mut().zip(p).for_each(|(a, &b)| *a += b);
    }
    out.truncate(dx_len + dw_len);
    out
}
