//! Fast tensor operations (placeholder delegating to candle until the im2col ops land).
use candle_core::{Result, Tensor};

pub fn conv2d(x: &Tensor, w: &Tensor, stride: usize, padding: usize) -> Result<Tensor> {
    x.conv2d(w, padding, stride, 1, 1)
}

pub fn conv_transpose2d(x: &Tensor, w: &Tensor, stride: usize, padding: usize, output_padding: usize) -> Result<Tensor> {
    x.conv_transpose2d(w, padding, output_padding, stride, 1)
}
