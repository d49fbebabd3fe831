//! The fast ops against candle's reference ops (values and autograd gradients) and against
//! central finite differences.
use candle_core::{DType, Device, Tensor, Var};

use super::{conv2d, conv_transpose2d, conv_transpose2d_cropped};
use crate::rng::Rng;

type R<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn max_diff(a: &Tensor, b: &Tensor) -> R<f64> {
    assert_eq!(a.dims(), b.dims(), "shapes differ");
    Ok((a - b)?.abs()?.flatten_all()?.max(0)?.to_dtype(DType::F64)?.to_scalar::<f64>()?)
}

/// Conv2d case: (batch, cin, cout, h, w, k, stride, padding).
type Conv2dCase = (usize, usize, usize, usize, usize, usize, usize, usize);

/// Conv-transpose case: (batch, cin, cout, h, w, k, stride, padding, output_padding).
type ConvTCase = (usize, usize, usize, usize, usize, usize, usize, usize, usize);

fn conv2d_cases() -> Vec<Conv2dCase> {
    let mut cases = vec![];
    for &(b, cin, cout) in &[(1, 1, 1), (3, 2, 4), (2, 3, 5)] {
        for &(h, w) in &[(5, 5), (7, 6), (8, 9)] {
            for k in [1, 2, 3] {
                for stride in [1, 2] {
                    for padding in [0, 1] {
                        cases.push((b, cin, cout, h, w, k, stride, padding));
                    }
                }
            }
        }
    }
    cases
}

fn conv_t_cases() -> Vec<ConvTCase> {
    let mut cases = vec![];
    for (b, cin, cout, h, w, k, stride, padding) in conv2d_cases() {
        for op in 0..stride {
            // Skip shapes where the output would be empty.
            if (h - 1) * stride + k + op > 2 * padding && (w - 1) * stride + k + op > 2 * padding {
                cases.push((b, cin, cout, h, w, k, stride, padding, op));
            }
        }
    }
    cases
}

#[test]
fn conv2d_forward_matches_candle() -> R<()> {
    let dev = Device::Cpu;
    let mut rng = Rng::new(1);
    for (b, cin, cout, h, w, k, s, p) in conv2d_cases() {
        let x = rng.randn((b, cin, h, w), &dev)?;
        let wt = rng.randn((cout, cin, k, k), &dev)?;
        let fast = conv2d(&x, &wt, s, p)?;
        let slow = x.conv2d(&wt, p, s, 1, 1)?;
        let d = max_diff(&fast, &slow)?;
        assert!(d < 1e-4, "conv2d {:?}: max diff {d}", (b, cin, cout, h, w, k, s, p));
    }
    Ok(())
}

#[test]
fn conv_transpose2d_forward_matches_candle() -> R<()> {
    let dev = Device::Cpu;
    let mut rng = Rng::new(2);
    for (b, cin, cout, h, w, k, s, p, op) in conv_t_cases() {
        let x = rng.randn((b, cin, h, w), &dev)?;
        let wt = rng.randn((cin, cout, k, k), &dev)?;
        let fast = conv_transpose2d(&x, &wt, s, p, op)?;
        let slow = x.conv_transpose2d(&wt, p, op, s, 1)?;
        let d = max_diff(&fast, &slow)?;
        assert!(d < 1e-4, "conv_transpose2d {:?}: max diff {d}", (b, cin, cout, h, w, k, s, p, op));
    }
    Ok(())
}

/// Gradients of `sum(f(x, w) * r)` (a random projection, so every output element matters).
fn grads(
    f: impl Fn(&Tensor, &Tensor) -> candle_core::Result<Tensor>,
    x: &Tensor,
    w: &Tensor,
    r_seed: u64,
) -> R<(Tensor, Tensor)> {
    let (xv, wv) = (Var::from_tensor(x)?, Var::from_tensor(w)?);
    let y = f(xv.as_tensor(), wv.as_tensor())?;
    let r = Rng::new(r_seed).randn(y.shape().clone(), x.device())?.to_dtype(y.dtype())?;
    let g = (y * r)?.sum_all()?.backward()?;
    let gx = g.get(xv.as_tensor()).ok_or("no gradient for x")?.clone();
    let gw = g.get(wv.as_tensor()).ok_or("no gradient for w")?.clone();
    Ok((gx, gw))
}

#[test]
fn conv2d_gradients_match_candle_autograd() -> R<()> {
    let dev = Device::Cpu;
    let mut rng = Rng::new(3);
    for (i, (b, cin, cout, h, w, k, s, p)) in conv2d_cases().into_iter().enumerate() {
        // candle 0.11's own conv2d backward derives one output_padding from the height and uses it
        // for the width too, so it fails when the two leftovers differ; the finite-difference
        // tests below cover those shapes for the fast op.
        if (h + 2 * p - k) % s != (w + 2 * p - k) % s {
            continue;
        }
        let x = rng.randn((b, cin, h, w), &dev)?;
        let wt = rng.randn((cout, cin, k, k), &dev)?;
        let (fx, fw) = grads(|x, w| conv2d(x, w, s, p), &x, &wt, i as u64)?;
        let (sx, sw) = grads(|x, w| x.conv2d(w, p, s, 1, 1), &x, &wt, i as u64)?;
        let case = (b, cin, cout, h, w, k, s, p);
        assert!(max_diff(&fx, &sx)? < 1e-4, "conv2d dx {case:?}: {}", max_diff(&fx, &sx)?);
        assert!(max_diff(&fw, &sw)? < 1e-3, "conv2d dw {case:?}: {}", max_diff(&fw, &sw)?);
    }
    Ok(())
}

#[test]
fn conv_transpose2d_gradients_match_candle_autograd() -> R<()> {
    let dev = Device::Cpu;
    let mut rng = Rng::new(4);
    for (i, (b, cin, cout, h, w, k, s, p, op)) in conv_t_cases().into_iter().enumerate() {
        let x = rng.randn((b, cin, h, w), &dev)?;
        let wt = rng.randn((cin, cout, k, k), &dev)?;
        let (fx, fw) = grads(|x, w| conv_transpose2d(x, w, s, p, op), &x, &wt, i as u64)?;
        let (sx, sw) = grads(|x, w| x.conv_transpose2d(w, p, op, s, 1), &x, &wt, i as u64)?;
        let case = (b, cin, cout, h, w, k, s, p, op);
        assert!(max_diff(&fx, &sx)? < 1e-4, "conv_t dx {case:?}: {}", max_diff(&fx, &sx)?);
        assert!(max_diff(&fw, &sw)? < 1e-3, "conv_t dw {case:?}: {}", max_diff(&fw, &sw)?);
    }
    Ok(())
}

/// Rows and columns cut at the end (TensorFlow's 'same'), against candle's transposed
/// convolution cut with `narrow`: values, both gradients together (the fused backward op) and
/// each one alone (the conv2d ops on the zero-padded output gradient).
#[test]
fn cropped_conv_transpose2d_matches_candle_then_narrow() -> R<()> {
    let dev = Device::Cpu;
    let mut rng = Rng::new(8);
    let mut checked = 0;
    for (i, (b, cin, cout, h, w, k, s, p, op)) in conv_t_cases().into_iter().enumerate() {
        for crop in 1..=2 {
            let (full_h, full_w) = ((h - 1) * s + k + op, (w - 1) * s + k + op);
            if full_h < 2 * p + crop + 1 || full_w < 2 * p + crop + 1 {
                continue;
            }
            let reference = |x: &Tensor, wt: &Tensor| -> candle_core::Result<Tensor> {
                let y = x.conv_transpose2d(wt, p, op, s, 1)?;
                let (oh, ow) = (y.dim(2)? - crop, y.dim(3)? - crop);
                y.narrow(2, 0, oh)?.narrow(3, 0, ow)
            };
            let ours = |x: &Tensor, wt: &Tensor| conv_transpose2d_cropped(x, wt, s, p, op, crop);
            let case = (b, cin, cout, h, w, k, s, p, op, crop);
            let x = rng.randn((b, cin, h, w), &dev)?;
            let wt = rng.randn((cin, cout, k, k), &dev)?;
            assert!(max_diff(&ours(&x, &wt)?, &reference(&x, &wt)?)? < 1e-4, "forward {case:?}");
            let (fx, fw) = grads(ours, &x, &wt, i as u64)?;
            let (sx, sw) = grads(reference, &x, &wt, i as u64)?;
            assert!(max_diff(&fx, &sx)? < 1e-4, "dx {case:?}: {}", max_diff(&fx, &sx)?);
            assert!(max_diff(&fw, &sw)? < 1e-3, "dw {case:?}: {}", max_diff(&fw, &sw)?);
            // One argument tracked at a time.
            let r = Rng::new(i as u64).randn(reference(&x, &wt)?.shape().clone(), &dev)?;
            let xv = Var::from_tensor(&x)?;
            let gx = (ours(xv.as_tensor(), &wt)? * &r)?.sum_all()?.backward()?;
            assert!(max_diff(gx.get(xv.as_tensor()).ok_or("no dx")?, &sx)? < 1e-4, "dx alone {case:?}");
            let wv = Var::from_tensor(&wt)?;
            let gw = (ours(&x, wv.as_tensor())? * &r)?.sum_all()?.backward()?;
            assert!(max_diff(gw.get(wv.as_tensor()).ok_or("no dw")?, &sw)? < 1e-3, "dw alone {case:?}");
            checked += 1;
        }
    }
    assert!(checked > 100, "only {checked} cases");
    Ok(())
}

/// Central differences of `sum(f(x, w) * r)` in f64 against the custom-op gradients.
fn finite_difference_check(
    f: impl Fn(&Tensor, &Tensor) -> candle_core::Result<Tensor>,
    xs: (usize, usize, usize, usize),
    ws: (usize, usize, usize, usize),
) -> R<()> {
    let dev = Device::Cpu;
    let mut rng = Rng::new(5);
    let x = rng.randn(xs, &dev)?.to_dtype(DType::F64)?;
    let w = rng.randn(ws, &dev)?.to_dtype(DType::F64)?;
    let (gx, gw) = grads(&f, &x, &w, 99)?;
    let r = Rng::new(99).randn(f(&x, &w)?.shape().clone(), &dev)?.to_dtype(DType::F64)?;
    let loss = |x: &Tensor, w: &Tensor| -> R<f64> { Ok((f(x, w)? * &r)?.sum_all()?.to_scalar::<f64>()?) };
    let eps = 1e-5;
    for (which, t, g) in [("x", &x, &gx), ("w", &w, &gw)] {
        let base = t.flatten_all()?.to_vec1::<f64>()?;
        let analytic = g.flatten_all()?.to_vec1::<f64>()?;
        for i in 0..base.len() {
            let mut plus = base.clone();
            plus[i] += eps;
            let mut minus = base.clone();
            minus[i] -= eps;
            let plus = Tensor::from_vec(plus, t.shape().clone(), &dev)?;
            let minus = Tensor::from_vec(minus, t.shape().clone(), &dev)?;
            let (lp, lm) = if which == "x" {
                (loss(&plus, &w)?, loss(&minus, &w)?)
            } else {
                (loss(&x, &plus)?, loss(&x, &minus)?)
            };
            let numeric = (lp - lm) / (2.0 * eps);
            assert!(
                (numeric - analytic[i]).abs() < 1e-6 * (1.0 + numeric.abs()),
                "d{which}[{i}]: finite difference {numeric}, op gradient {}",
                analytic[i]
            );
        }
    }
    Ok(())
}

#[test]
fn conv2d_gradient_matches_finite_differences() -> R<()> {
    finite_difference_check(|x, w| conv2d(x, w, 2, 1), (2, 2, 5, 4), (3, 2, 3, 3))
}

#[test]
fn conv_transpose2d_gradient_matches_finite_differences() -> R<()> {
    finite_difference_check(|x, w| conv_transpose2d(x, w, 2, 1, 1), (2, 2, 3, 4), (2, 3, 3, 3))?;
    // TensorFlow's 'same' for kernel 3, stride 2.
    finite_difference_check(|x, w| conv_transpose2d_cropped(x, w, 2, 0, 0, 1), (2, 2, 3, 4), (2, 3, 3, 3))
}

#[test]
fn non_contiguous_inputs_give_the_same_result() -> R<()> {
    let dev = Device::Cpu;
    let mut rng = Rng::new(6);
    // [B, H, C, W] transposed to [B, C, H, W]: same values, strided layout.
    let x = rng.randn((2, 7, 3, 7), &dev)?.transpose(1, 2)?;
    assert!(!x.is_contiguous());
    let w = rng.randn((3, 4, 3, 3), &dev)?;
    let fast = conv2d(&x, &w.transpose(0, 1)?, 2, 1)?;
    let slow = x.contiguous()?.conv2d(&w.transpose(0, 1)?.contiguous()?, 1, 2, 1, 1)?;
    assert!(max_diff(&fast, &slow)? < 1e-4);
    let fast = conv_transpose2d(&x, &w, 2, 1, 1)?;
    let slow = x.contiguous()?.conv_transpose2d(&w, 1, 1, 2, 1)?;
    assert!(max_diff(&fast, &slow)? < 1e-4);
    Ok(())
}

#[test]
fn threaded_and_single_threaded_kernels_agree() -> R<()> {
    use super::kernels::for_batches;
    // The splitter must hand every item to exactly one worker, in order.
    for threads in 1..5 {
        for items in 1..7 {
            let mut out = vec![0usize; items * 2];
            for_batches(items, 2, &mut out, threads, |range, chunk| {
                for (i, item) in range.enumerate() {
                    chunk[2 * i] = item + 1;
                    chunk[2 * i + 1] += 1;
                }
            });
            let expect: Vec<usize> = (0..items).flat_map(|i| [i + 1, 1]).collect();
            assert_eq!(out, expect, "threads {threads}, items {items}");
        }
    }
    Ok(())
}

#[test]
fn shape_errors_are_reported_not_panicked() -> R<()> {
    let dev = Device::Cpu;
    let x = Tensor::zeros((1, 2, 4, 4), DType::F32, &dev)?;
    let w = Tensor::zeros((3, 5, 3, 3), DType::F32, &dev)?;
    let e = conv2d(&x, &w, 1, 0).unwrap_err().to_string();
    assert!(e.contains("channels"), "{e}");
    let big = Tensor::zeros((3, 2, 7, 7), DType::F32, &dev)?;
    let e = conv2d(&x, &big, 1, 0).unwrap_err().to_string();
    assert!(e.contains("does not fit"), "{e}");
    let e = conv2d(&x.flatten_all()?, &w, 1, 0).unwrap_err().to_string();
    assert!(e.contains("rank"), "{e}");
    Ok(())
}
