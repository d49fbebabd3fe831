//! Channels-last (`[H, W, C]`) twins of [`im2col`](super::kernels::im2col) and
//! [`col2im`](super::kernels::col2im), and the index shuffles that move weights between candle's
//! layouts and the ones these kernels want.
//!
//! With an image `x` of shape `[H, W, C]`, a square kernel of size `K`, stride `s` and padding `p`,
//! `im2col_hwc` builds `col[(oy, ox), (kh, kw, c)] = x[oy*s + kh - p, ox*s + kw - p, c]` (zero
//! outside the image): one row per output pixel, so a convolution of a whole batch is one matrix
//! product `col · W` with `W` of shape `[K*K*C, C_out]`, and its output is channels-last again.
//! `col2im_hwc` is the adjoint, the scatter-add a transposed convolution needs.
//!
//! Why a second layout: in `[C, H, W]` every tap of `im2col`/`col2im` moves one image row, 7 to 28
//! values in the conv VAE, and with a stride of 2 the rows must first be split into column phases;
//! the loop overhead per row cost as much as the matrix products. Channels-last, every tap moves the
//! `C` values of one pixel (32 or 64 there), contiguous on both sides, and a whole batch shares one
//! matrix product per layer.
//!
//! ```
//! use vae_core::ops::{channels_last::im2col_hwc, kernels::Window};
//! // A 2x2 image with 2 channels, kernel 2, stride 1, padding 1: 3x3 output pixels.
//! let x = [1f32, 10., 2., 20., 3., 30., 4., 40.]; // pixel (0,0) = (1, 10), (0,1) = (2, 20), ...
//! let win = Window::new(2, 2, 2, 2, 1, 1).unwrap();
//! let mut col = vec![f32::NAN; 9 * 8];
//! im2col_hwc(&x, win, &mut col);
//! // Output pixel (1,1) sees the whole image, tap by tap, channels innermost.
//! assert_eq!(&col[4 * 8..5 * 8], &[1., 10., 2., 20., 3., 30., 4., 40.]);
//! // Output pixel (0,0) sees only pixel (0,0), through its last tap.
//! assert_eq!(&col[..8], &[0., 0., 0., 0., 0., 0., 1., 10.]);
//! ```

use super::kernels::{valid_range, Window};

/// `dst.copy_from_slice(src)` for the few dozen values of one pixel: in blocks of 16 that compile
/// to single vector moves, where `copy_from_slice` would call `memcpy` for every pixel and tap.
#[inline(always)]
fn copy_short(dst: &mut [f32], src: &[f32]) {
    if let ([d], [s]) = (&mut *dst, src) {
        *d = *s;
        return;
    }
    let mut d = dst.chunks_exact_mut(16);
    let mut s = src.chunks_exact(16);
    for (d, s) in d.by_ref().zip(s.by_ref()) {
        let s: &[f32; 16] = s.try_into().expect("16 values");
        d.copy_from_slice(s);
    }
    for (d, s) in d.into_remainder().iter_mut().zip(s.remainder()) {
        *d = *s;
    }
}

widest_simd! {
    /// Unfolds one channels-last image `x: [h, w, c]` into `col: [oh*ow, k*k*c]`, the shapes of
    /// `win` (module docs).
    pub fn im2col_hwc(x: &[f32], win: Window, col: &mut [f32]) -> () {
        let Window { c, h, w, k, stride, padding, oh, ow } = win;
        let row_len = win.taps();
        assert!(x.len() >= win.image_len() && col.len() >= oh * ow * row_len, "im2col_hwc: buffers too small for {win:?}");
        for oy in 0..oh {
            for ox in 0..ow {
                let row = &mut col[(oy * ow + ox) * row_len..][..row_len];
                for ky in 0..k {
                    let iy = (oy * stride + ky) as isize - padding as isize;
                    for kx in 0..k {
                        let dst = &mut row[(ky * k + kx) * c..][..c];
                        let ix = (ox * stride + kx) as isize - padding as isize;
                        if iy < 0 || iy >= h as isize || ix < 0 || ix >= w as isize {
                            dst.fill(0.0);
                        } else {
                            copy_short(dst, &x[(iy as usize * w + ix as usize) * c..][..c]);
                        }
                    }
                }
            }
        }
    }
}

widest_simd! {
    /// Adds `col: [oh*ow, k*k*c]` back into the channels-last image `y: [h, w, c]`, the shapes of
    /// `win`: the adjoint of [`im2col_hwc`]. `y` is accumulated into, not overwritten.
    pub fn col2im_hwc(col: &[f32], win: Window, y: &mut [f32]) -> () {
        let Window { c, h, w, k, stride, padding, oh, ow } = win;
        let row_len = win.taps();
        assert!(y.len() >= win.image_len() && col.len() >= oh * ow * row_len, "col2im_hwc: buffers too small for {win:?}");
        for oy in 0..oh {
            for ky in 0..k {
                let iy = (oy * stride + ky) as isize - padding as isize;
                if iy < 0 || iy >= h as isize {
                    continue;
                }
                let image_row = &mut y[iy as usize * w * c..(iy as usize + 1) * w * c];
                for kx in 0..k {
                    let (lo, hi) = valid_range(kx, padding, stride, w, ow);
                    for ox in lo..hi {
                        let ix = ox * stride + kx - padding;
                        let src = &col[(oy * ow + ox) * row_len + (ky * k + kx) * c..][..c];
                        let dst = &mut image_row[ix * c..][..c];
                        for (d, s) in dst.iter_mut().zip(src) {
                            *d += *s;
                        }
                    }
                }
            }
        }
    }
}

widest_simd! {
    /// `out[p, j] = act(out[p, j] + b[j])` for every row `p` of a `[rows, b.len()]` matrix, where
    /// `act` is ReLU when `relu` is set and the identity otherwise.
    pub fn add_bias(out: &mut [f32], b: &[f32], relu: bool) -> () {
        for row in out.chunks_exact_mut(b.len()) {
            for (o, &bj) in row.iter_mut().zip(b) {
                let v = *o + bj;
                *o = if relu { v.max(0.0) } else { v };
            }
        }
    }
}

widest_simd! {
    /// `sums[j] = Σ_p d[p, j]` over the rows of a `[rows, sums.len()]` matrix: the bias gradient
    /// of a channels-last layer.
    pub fn column_sums(d: &[f32], sums: &mut [f32]) -> () {
        sums.fill(0.0);
        for row in d.chunks_exact(sums.len()) {
            for (s, &v) in sums.iter_mut().zip(row) {
                *s += v;
            }
        }
    }
}

/// A reordering of the axes of a 3-D array: `dims` is the source's shape, axis `a` of the result
/// is axis `axes[a]` of the source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Permute3 {
    /// The source's shape.
    pub dims: [usize; 3],
    /// For each axis of the result, the source axis it is.
    pub axes: [usize; 3],
}

impl Permute3 {
    /// The result's shape.
    pub fn out_dims(&self) -> [usize; 3] {
        self.axes.map(|a| self.dims[a])
    }

    /// The reordering that undoes this one.
    pub fn inverse(&self) -> Permute3 {
        let mut axes = [0; 3];
        for (a, &src) in self.axes.iter().enumerate() {
            axes[src] = a;
        }
        Permute3 { dims: self.out_dims(), axes }
    }

    /// `dst[i0, i1, i2] = src[...]` with `i_a` the index along source axis `axes[a]`.
    pub fn apply(&self, src: &[f32], dst: &mut [f32]) {
        let [d0, d1, d2] = self.dims;
        let n = d0 * d1 * d2;
        assert!(src.len() >= n && dst.len() >= n, "Permute3: {n} elements needed");
        let strides = [d1 * d2, d2, 1];
        let [s0, s1, s2] = self.axes.map(|a| strides[a]);
        let [e0, e1, e2] = self.out_dims();
        let mut out = dst[..n].iter_mut();
        for i0 in 0..e0 {
            for i1 in 0..e1 {
                let base = i0 * s0 + i1 * s1;
                for (i2, o) in (0..e2).zip(out.by_ref()) {
                    *o = src[base + i2 * s2];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::kernels::{col2im, im2col};
    use crate::rng::Rng;

    fn to_hwc(x: &[f32], c: usize, h: usize, w: usize) -> Vec<f32> {
        let mut out = vec![0f32; x.len()];
        Permute3 { dims: [c, h * w, 1], axes: [1, 0, 2] }.apply(x, &mut out);
        out
    }

    /// Against the channels-first kernels (tested against their definition in `kernels`): the
    /// same numbers, rows and columns swapped and channels moved last; and `col2im_hwc` is the
    /// adjoint of `im2col_hwc` and accumulates.
    #[test]
    fn channels_last_kernels_match_the_channels_first_ones() {
        let mut rng = Rng::new(5);
        for stride in 1..=3 {
            for k in 1..=4 {
                for padding in 0..k {
                    for (c, h, w) in [(1, 5, 5), (3, 6, 7), (2, 9, 4), (4, 1, 8), (5, 7, 7)] {
                        let Some(win) = Window::new(c, h, w, k, stride, padding) else {
                            continue;
                        };
                        let what = format!("{win:?}");
                        let x = rng.normal_vec(win.image_len());
                        let n = win.positions();
                        let mut chw = vec![0f32; c * k * k * n];
                        im2col(&x, win, &mut chw);
                        let mut hwc = vec![f32::NAN; n * k * k * c];
                        im2col_hwc(&to_hwc(&x, c, h, w), win, &mut hwc);
                        for p in 0..n {
                            for t in 0..k * k {
                                for ci in 0..c {
                                    assert_eq!(hwc[(p * k * k + t) * c + ci], chw[(ci * k * k + t) * n + p], "{what}");
                                }
                            }
                        }
                        // col2im: the same scatter, compared through the layouts.
                        let g = rng.normal_vec(n * k * k * c);
                        let mut g_chw = vec![0f32; g.len()];
                        Permute3 { dims: [n, k * k, c], axes: [2, 1, 0] }.apply(&g, &mut g_chw);
                        let base = rng.normal_vec(c * h * w);
                        let mut back_chw = base.clone();
                        col2im(&g_chw, win, &mut back_chw);
                        let mut back_hwc = to_hwc(&base, c, h, w);
                        col2im_hwc(&g, win, &mut back_hwc);
                        let want = to_hwc(&back_chw, c, h, w);
                        for (a, b) in back_hwc.iter().zip(&want) {
                            assert!((a - b).abs() < 1e-5, "col2im_hwc {what}: {a} vs {b}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn permute3_moves_axes_and_inverse_undoes_it() {
        let src: Vec<f32> = (0..24).map(|v| v as f32).collect();
        let p = Permute3 { dims: [2, 3, 4], axes: [2, 0, 1] };
        assert_eq!(p.out_dims(), [4, 2, 3]);
        let mut dst = vec![0f32; 24];
        p.apply(&src, &mut dst);
        // dst[i0, i1, i2] = src[i1, i2, i0]
        for i0 in 0..4 {
            for i1 in 0..2 {
                for i2 in 0..3 {
                    assert_eq!(dst[(i0 * 2 + i1) * 3 + i2], src[(i1 * 3 + i2) * 4 + i0]);
                }
            }
        }
        let mut back = vec![0f32; 24];
        p.inverse().apply(&dst, &mut back);
        assert_eq!(back, src);
    }

    #[test]
    fn bias_and_column_sums_work_row_by_row() {
        let mut m = vec![1f32, -5., 2., -1.];
        add_bias(&mut m, &[1.0, 2.0], true);
        assert_eq!(m, [2., 0., 3., 1.]);
        add_bias(&mut m, &[-3.0, 0.0], false);
        assert_eq!(m, [-1., 0., 0., 1.]);
        let mut s = vec![9f32; 2];
        column_sums(&[1., 2., 3., 4., 5., 6.], &mut s);
        assert_eq!(s, [9., 12.]);
    }
}
