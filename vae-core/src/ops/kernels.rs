//! CPU kernels behind the fast convolutions: `im2col`, `col2im`, a strided `gemm` wrapper and a
//! batch splitter that hands disjoint slices of the batch to worker threads.
//!
//! With an input `x` of shape `[C, H, W]`, a square kernel of size `K`, stride `s` and padding `p`,
//! `im2col` builds the matrix `col[(c, kh, kw), (oh, ow)] = x[c, oh*s + kh - p, ow*s + kw - p]`
//! (zero outside the image), so a convolution becomes one matrix product `W · col`.
//! `col2im` is its adjoint: it scatters-adds such a matrix back into an image, which is what a
//! transposed convolution (and the input gradient of a convolution) needs.
//!
//! ```
//! // A 1x3x3 image, kernel 2, stride 1, no padding: 4 output positions, 4 taps each.
//! let x: Vec<f32> = (0..9).map(|v| v as f32).collect();
//! use vae_core::ops::kernels::{im2col, Window};
//! let win = Window::new(1, 3, 3, 2, 1, 0).unwrap();
//! assert_eq!((win.oh, win.ow), (2, 2));
//! let mut col = vec![0f32; win.taps() * win.positions()];
//! im2col(&x, win, &mut col);
//! // Tap (kh=0, kw=0) sees the top-left pixel of every window.
//! assert_eq!(&col[0..4], &[0.0, 1.0, 3.0, 4.0]);
//! ```
use std::ops::{AddAssign, Range};

/// Element types the kernels run on (the ones `gemm` supports and candle stores on CPU).
pub trait Elem: Copy + Default + Send + Sync + AddAssign + 'static {
    /// The additive identity, for clearing buffers.
    const ZERO: Self;
    /// The multiplicative identity, for `gemm`'s scale factors.
    const ONE: Self;
}
impl Elem for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
}
impl Elem for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
}

/// Output size of a convolution along one axis, or `None` when the kernel does not fit.
pub fn conv_out_len(len: usize, k: usize, stride: usize, padding: usize) -> Option<usize> {
    let padded = len + 2 * padding;
    if stride == 0 || padded < k {
        return None;
    }
    Some((padded - k) / stride + 1)
}

/// A square `k x k` window sliding with `stride` over a `c`-channel `h x w` image, zero-padded by
/// `padding` on every side, and the `oh x ow` positions it stops at: the shapes that [`im2col`],
/// [`col2im`] and their [channels-last twins](super::channels_last) share. The image is the
/// input of a convolution and the output of a transposed convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Channels of the image.
    pub c: usize,
    /// Image height.
    pub h: usize,
    /// Image width.
    pub w: usize,
    /// Kernel size.
    pub k: usize,
    /// Step between window positions.
    pub stride: usize,
    /// Zeros around the image.
    pub padding: usize,
    /// Positions down (a convolution's output height, a transposed convolution's input height).
    pub oh: usize,
    /// Positions across.
    pub ow: usize,
}

impl Window {
    /// The window of a convolution over a `[c, h, w]` image, its positions given by
    /// [`conv_out_len`]; `None` when the kernel does not fit.
    pub fn new(c: usize, h: usize, w: usize, k: usize, stride: usize, padding: usize) -> Option<Self> {
        let (oh, ow) = (conv_out_len(h, k, stride, padding)?, conv_out_len(w, k, stride, padding)?);
        Some(Self { c, h, w, k, stride, padding, oh, ow })
    }

    /// Values in one image, `c*h*w`.
    pub fn image_len(&self) -> usize {
        self.c * self.h * self.w
    }

    /// Number of positions, `oh*ow`.
    pub fn positions(&self) -> usize {
        self.oh * self.ow
    }

    /// Values the window sees at one position, `c*k*k`.
    pub fn taps(&self) -> usize {
        self.c * self.k * self.k
    }
}

/// Unfolds one image `x: [c, h, w]` into `col: [c*k*k, oh*ow]` (row-major), the shapes of `win`.
///
/// With stride `s > 1` a tap reads every `s`-th pixel of an image row, a gather the compiler
/// cannot vectorise. Each channel is first split into `s` column phases (see `deinterleave`),
/// after which every tap of every output row is one contiguous copy.
pub fn im2col<T: Elem>(x: &[T], win: Window, col: &mut [T]) {
    let Window { c, h, w, k, stride, padding, oh, ow } = win;
    let n = oh * ow;
    assert!(x.len() >= win.image_len() && col.len() >= win.taps() * n, "im2col: buffers too small for {win:?}");
    let pw = w.div_ceil(stride);
    let mut phases = if stride > 1 { vec![T::ZERO; stride * h * pw] } else { Vec::new() };
    for ci in 0..c {
        let img = &x[ci * h * w..(ci + 1) * h * w];
        // `src[r*plane + iy*row_len + j]` is pixel (iy, j*stride + r).
        let (src, row_len, plane) = if stride == 1 {
            (img, w, 0)
        } else {
            deinterleave(img, h, w, stride, &mut phases);
            (&phases[..], pw, h * pw)
        };
        for kh in 0..k {
            for kw in 0..k {
                let row = &mut col[((ci * k + kh) * k + kw) * n..][..n];
                // Output columns whose tap lands inside the image: ow*s + kw - p in [0, w).
                let (ow_lo, ow_hi) = valid_range(kw, padding, stride, w, ow);
                let ix0 = (ow_lo * stride + kw).saturating_sub(padding);
                let (r, j0) = (ix0 % stride, ix0 / stride);
                for y in 0..oh {
                    let dst = &mut row[y * ow..(y + 1) * ow];
                    let iy = (y * stride + kh) as isize - padding as isize;
                    if iy < 0 || iy >= h as isize || ow_lo >= ow_hi {
                        dst.fill(T::ZERO);
                        continue;
                    }
                    dst[..ow_lo].fill(T::ZERO);
                    dst[ow_hi..].fill(T::ZERO);
                    let from = r * plane + iy as usize * row_len + j0;
                    dst[ow_lo..ow_hi].copy_from_slice(&src[from..from + (ow_hi - ow_lo)]);
                }
            }
        }
    }
}

/// Adds `col: [c*k*k, oh*ow]` back into the image `y: [c, h, w]`, the shapes of `win`: the
/// adjoint of [`im2col`]. `y` is accumulated into, not overwritten.
///
/// With stride `s > 1` the columns are added into `s` contiguous column phases of each channel
/// first (vectorised adds instead of a strided scatter), which are then interleaved into `y`.
pub fn col2im<T: Elem>(col: &[T], win: Window, y: &mut [T]) {
    let Window { c, h, w, k, stride, padding, oh, ow } = win;
    let n = oh * ow;
    assert!(y.len() >= win.image_len() && col.len() >= win.taps() * n, "col2im: buffers too small for {win:?}");
    let pw = w.div_ceil(stride);
    let mut phases = if stride > 1 { vec![T::ZERO; stride * h * pw] } else { Vec::new() };
    for ci in 0..c {
        let img = &mut y[ci * h * w..(ci + 1) * h * w];
        // `dst[r*plane + iy*row_len + j]` is pixel (iy, j*stride + r).
        let (dst, row_len, plane) = if stride == 1 {
            (&mut img[..], w, 0)
        } else {
            phases.fill(T::ZERO);
            (&mut phases[..], pw, h * pw)
        };
        for kh in 0..k {
            for kw in 0..k {
                let row = &col[((ci * k + kh) * k + kw) * n..][..n];
                let (x_lo, x_hi) = valid_range(kw, padding, stride, w, ow);
                if x_lo >= x_hi {
                    continue;
                }
                let ix0 = x_lo * stride + kw - padding;
                let (r, j0) = (ix0 % stride, ix0 / stride);
                for py in 0..oh {
                    let iy = (py * stride + kh) as isize - padding as isize;
                    if iy < 0 || iy >= h as isize {
                        continue;
                    }
                    let src = &row[py * ow + x_lo..py * ow + x_hi];
                    let from = r * plane + iy as usize * row_len + j0;
                    for (d, s) in dst[from..from + src.len()].iter_mut().zip(src) {
                        *d += *s;
                    }
                }
            }
        }
        if stride > 1 {
            interleave_add(&phases, h, w, stride, img);
        }
    }
}

/// Splits an image `[h, w]` into `stride` column phases: `out[(r*h + iy)*pw + j] = img[iy, j*stride + r]`
/// with `pw = ceil(w / stride)` (entries past the row's end are left alone).
fn deinterleave<T: Elem>(img: &[T], h: usize, w: usize, stride: usize, out: &mut [T]) {
    let pw = w.div_ceil(stride);
    for iy in 0..h {
        let src = &img[iy * w..(iy + 1) * w];
        if stride == 2 {
            let (even, rest) = out[iy * pw..].split_at_mut(h * pw);
            let odd = &mut rest[..pw];
            for (j, pair) in src.chunks_exact(2).enumerate() {
                even[j] = pair[0];
                odd[j] = pair[1];
            }
            if w % 2 == 1 {
                even[w / 2] = src[w - 1];
            }
        } else {
            for r in 0..stride.min(w) {
                let dst = &mut out[(r * h + iy) * pw..][..pw];
                for (d, &v) in dst.iter_mut().zip(src[r..].iter().step_by(stride)) {
                    *d = v;
                }
            }
        }
    }
}

/// The adjoint of [`deinterleave`], accumulating: `img[iy, j*stride + r] += phases[(r*h + iy)*pw + j]`.
fn interleave_add<T: Elem>(phases: &[T], h: usize, w: usize, stride: usize, img: &mut [T]) {
    let pw = w.div_ceil(stride);
    for iy in 0..h {
        let dst = &mut img[iy * w..(iy + 1) * w];
        if stride == 2 {
            let even = &phases[iy * pw..][..pw];
            let odd = &phases[(h + iy) * pw..][..pw];
            for (j, pair) in dst.chunks_exact_mut(2).enumerate() {
                pair[0] += even[j];
                pair[1] += odd[j];
            }
            if w % 2 == 1 {
                dst[w - 1] += even[w / 2];
            }
        } else {
            for r in 0..stride.min(w) {
                let src = &phases[(r * h + iy) * pw..][..pw];
                for (d, &v) in dst[r..].iter_mut().step_by(stride).zip(src) {
                    *d += v;
                }
            }
        }
    }
}

/// Range `[lo, hi)` of positions `j` in `0..n` with `j*stride + tap - padding` in `[0, len)`.
#[inline(always)]
pub(crate) fn valid_range(tap: usize, padding: usize, stride: usize, len: usize, n: usize) -> (usize, usize) {
    // j*stride >= padding - tap
    let lo = if padding > tap { (padding - tap).div_ceil(stride) } else { 0 };
    // j*stride + tap - padding <= len - 1  <=>  j*stride <= len - 1 + padding - tap
    let hi = if len + padding > tap { (len - 1 + padding - tap) / stride + 1 } else { 0 };
    (lo.min(n), hi.min(n))
}

/// A row-major matrix view for [`matmul`]: element `(i, j)` lives at `ptr[i*rs + j*cs]`.
#[derive(Clone, Copy)]
pub struct Mat<T> {
    /// Element (0, 0).
    pub ptr: *const T,
    /// Row stride, in elements.
    pub rs: isize,
    /// Column stride, in elements.
    pub cs: isize,
}

/// `dst[m, n] (row-major) = (accumulate ? dst : 0) + lhs[m, k] · rhs[k, n]`, single-threaded.
///
/// Threads are spread over the batch by the callers instead: the matrices here are small
/// (tens to hundreds of rows), where splitting one product across cores costs more than it saves.
pub fn matmul<T: Elem>(m: usize, n: usize, k: usize, dst: &mut [T], accumulate: bool, lhs: Mat<T>, rhs: Mat<T>) {
    assert!(dst.len() >= m * n, "matmul destination too small");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst[..m * n].fill(T::ZERO);
        }
        return;
    }
    // SAFETY: dst holds m*n elements (checked above); the callers build lhs/rhs views over
    // slices holding m*k and k*n elements with the given strides.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.ptr,
            lhs.cs,
            lhs.rs,
            rhs.ptr,
            rhs.cs,
            rhs.rs,
            T::ONE,
            T::ONE,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

/// Number of worker threads for the batch loop: candle's own setting (`RAYON_NUM_THREADS`,
/// default the physical cores), overridden by `VAE_OPS_THREADS`.
pub fn num_threads() -> usize {
    std::env::var("VAE_OPS_THREADS")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(candle_core::utils::get_num_threads)
        .max(1)
}

/// Splits `0..items` into at most `threads` contiguous chunks and runs `f(range, out_chunk)` on
/// each, where `out_chunk` is the part of `out` (`per_item` elements per item) that the range owns.
/// Scoped OS threads rather than a pool: one spawn costs tens of microseconds, small next to a
/// convolution over a batch, and idle workers never spin while candle's own pool works.
pub fn for_batches<T: Send, F>(items: usize, per_item: usize, out: &mut [T], threads: usize, f: F)
where
    F: Fn(Range<usize>, &mut [T]) + Sync,
{
    let ranges = split(items, threads);
    if ranges.len() <= 1 {
        f(0..items, &mut out[..items * per_item]);
        return;
    }
    std::thread::scope(|scope| {
        let mut rest = &mut out[..items * per_item];
        let mut handles = Vec::with_capacity(ranges.len());
        let last = ranges.len() - 1;
        for (i, r) in ranges.into_iter().enumerate() {
            let (mine, tail) = rest.split_at_mut(r.len() * per_item);
            rest = tail;
            let f = &f;
            if i == last {
                // The calling thread takes the last chunk instead of idling.
                f(r, mine);
            } else {
                handles.push(scope.spawn(move || f(r, mine)));
            }
        }
        for h in handles {
            if let Err(e) = h.join() {
                std::panic::resume_unwind(e);
            }
        }
    });
}

/// `0..items` cut into at most `threads` contiguous, nearly equal, non-empty ranges.
pub fn split(items: usize, threads: usize) -> Vec<Range<usize>> {
    let parts = threads.min(items).max(1);
    let chunk = items.div_ceil(parts).max(1);
    (0..items).step_by(chunk).map(|s| s..(s + chunk).min(items)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `im2col` straight from its definition, one element at a time.
    fn im2col_naive(x: &[f64], win: Window) -> Vec<f64> {
        let Window { c, h, w, k, stride: s, padding: p, oh, ow } = win;
        let mut col = vec![f64::NAN; c * k * k * oh * ow];
        for ci in 0..c {
            for kh in 0..k {
                for kw in 0..k {
                    for y in 0..oh {
                        for xo in 0..ow {
                            let (iy, ix) = ((y * s + kh) as isize - p as isize, (xo * s + kw) as isize - p as isize);
                            let inside = (0..h as isize).contains(&iy) && (0..w as isize).contains(&ix);
                            let v = if inside { x[(ci * h + iy as usize) * w + ix as usize] } else { 0.0 };
                            col[((ci * k + kh) * k + kw) * oh * ow + y * ow + xo] = v;
                        }
                    }
                }
            }
        }
        col
    }

    /// Every stride (the phase split has a special case for 2 and a general one), odd and even
    /// sizes, paddings up to the kernel size: `im2col` matches its definition and `col2im` is
    /// its adjoint, `<im2col(x), c> = <x, col2im(c)>`, and accumulates into its output.
    #[test]
    fn im2col_matches_definition_and_col2im_is_its_adjoint() {
        let mut rng = crate::rng::Rng::new(3);
        for stride in 1..=4 {
            for k in 1..=4 {
                for padding in 0..k {
                    for (h, w) in [(5, 5), (6, 7), (9, 4), (1, 8)] {
                        let Some(win) = Window::new(2, h, w, k, stride, padding) else {
                            continue;
                        };
                        let x: Vec<f64> = rng.normal_vec(win.image_len()).into_iter().map(f64::from).collect();
                        let mut col = vec![f64::NAN; win.taps() * win.positions()];
                        im2col(&x, win, &mut col);
                        let want = im2col_naive(&x, win);
                        assert_eq!(col, want, "im2col stride {stride} k {k} padding {padding} {h}x{w}");

                        let cvec: Vec<f64> = rng.normal_vec(col.len()).into_iter().map(f64::from).collect();
                        let base: Vec<f64> = rng.normal_vec(x.len()).into_iter().map(f64::from).collect();
                        let mut back = base.clone();
                        col2im(&cvec, win, &mut back);
                        let lhs: f64 = col.iter().zip(&cvec).map(|(a, b)| a * b).sum();
                        let rhs: f64 = x.iter().zip(&back).zip(&base).map(|((a, b), c0)| a * (b - c0)).sum();
                        assert!(
                            (lhs - rhs).abs() < 1e-9 * (1.0 + lhs.abs()),
                            "col2im adjoint stride {stride} k {k} padding {padding} {h}x{w}: {lhs} vs {rhs}"
                        );
                    }
                }
            }
        }
    }
}
