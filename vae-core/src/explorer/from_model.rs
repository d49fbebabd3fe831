//! From a trained [`Model`] to the explorer: its decoder as a [`DecoderSpec`] (batch norm
//! folded into the dense layers), and an [`Explorer`] over the encoded test set.
//!
//! ```
//! # fn main() -> vae_core::Result<()> {
//! use candle_core::{Device, Tensor};
//! use vae_core::{explorer::decoder_spec, models::Model, rng::Rng};
//! let model = Model::from_name("mlp-vae", Some(2), 0, &Device::Cpu)?;
//! let spec = decoder_spec(&model)?;
//! let z = [0.3f32, -1.0];
//! let js_side = spec.decode_pixels(&z, None)?;
//! let rust_side = model.decode(&Tensor::new(&[z], &Device::Cpu)?, None)?.flatten_all()?.to_vec1::<f32>()?;
//! assert!(js_side.iter().zip(&rust_side).all(|(a, b)| (a - b).abs() < 1e-5));
//! # Ok(()) }
//! ```
use super::{Activation, DecoderLayer, DecoderSpec, Explorer, OutputKind};
use crate::data::Split;
use crate::error::{Error, Result};
use crate::evaluation::encode_split;
use crate::models::{layers, Model};
use candle_core::Tensor;
use candle_nn::Linear;

fn activation(a: layers::Activation) -> Activation {
    match a {
        layers::Activation::Relu => Activation::Relu,
        layers::Activation::Tanh => Activation::Tanh,
        layers::Activation::Sigmoid => Activation::Sigmoid,
        layers::Activation::LeakyRelu => Activation::LeakyRelu(0.01),
        layers::Activation::Elu => Activation::Elu,
    }
}

fn vec(t: &Tensor) -> Result<Vec<f32>> {
    Ok(t.flatten_all()?.to_vec1::<f32>()?)
}

/// A dense layer, with an evaluation-mode batch norm `y = s * (Wx + b) + t` folded in.
fn dense(lin: &Linear, bn: Option<&layers::BatchNorm1d>, act: Activation) -> Result<DecoderLayer> {
    let (out_dim, in_dim) = lin.weight().dims2()?;
    let mut weight = lin.weight().clone();
    let mut bias = lin.bias().cloned().unwrap_or(Tensor::zeros(out_dim, weight.dtype(), weight.device())?);
    if let Some(bn) = bn {
        let (s, t) = bn.scale_shift()?;
        weight = weight.broadcast_mul(&s.unsqueeze(1)?)?;
        bias = ((bias * &s)? + t)?;
    }
    Ok(DecoderLayer::Dense { weight: vec(&weight)?, bias: vec(&bias)?, in_dim, out_dim, activation: act })
}

/// The model's decoder, layer by layer, as the explorer's JavaScript runs it.
pub fn decoder_spec(model: &Model) -> Result<DecoderSpec> {
    let mut layers = vec![];
    if let Some(d) = model.mlp_decoder() {
        let act = activation(d.body.activation());
        for (lin, bn) in d.body.layers() {
            layers.push(dense(lin, bn, act)?);
        }
        layers.push(dense(&d.out, None, Activation::Identity)?);
    } else if let Some(d) = model.conv_decoder() {
        layers.push(dense(&d.fc, None, Activation::Relu)?);
        let (c, h, w) = d.start;
        layers.push(DecoderLayer::Reshape { channels: c, height: h, width: w });
        let last = d.deconvs.len() - 1;
        for (i, t) in d.deconvs.iter().enumerate() {
            let (c_in, c_out, k, _) = t.weight.dims4()?;
            layers.push(DecoderLayer::ConvTranspose2d {
                weight: vec(&t.weight)?,
                bias: vec(&t.bias)?,
                c_in,
                c_out,
                kernel: k,
                stride: t.stride,
                padding: t.padding,
                output_padding: t.output_padding,
                crop_end: t.crop_end,
                activation: if i < last { Activation::Relu } else { Activation::Identity },
            });
        }
    } else {
        return Err(Error::config(format!("{}: no exportable decoder", model.name())));
    }
    let spec = DecoderSpec {
        latent_dim: model.latent_dim(),
        layers,
        output: OutputKind::Logits,
        height: 28,
        width: 28,
        conditional_classes: model.num_classes(),
    };
    spec.validate()?;
    Ok(spec)
}

/// An explorer of `model` over the codes (posterior means) of `split`.
pub fn explorer_for(model: &Model, split: &Split, class_names: &[String]) -> Result<Explorer> {
    let z = encode_split(model, split)?;
    let labels = split.labels_vec()?;
    Explorer::new(decoder_spec(model)?, &z, &labels, class_names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use candle_core::Device;

    #[test]
    fn exported_decoders_match_the_models_for_every_kind() {
        let dev = Device::Cpu;
        let mut r = Rng::new(0);
        let split = Split {
            images: r.rand((96, 784), 0.0, 1.0, &dev).unwrap(),
            labels: Tensor::zeros(96, candle_core::DType::U32, &dev).unwrap(),
        };
        let data = crate::data::Dataset {
            name: "noise".into(),
            train: split.clone(),
            test: split,
            class_names: vec!["0".into()],
            height: 28,
            width: 28,
        };
        for name in crate::models::MODEL_NAMES {
            let m = Model::from_name(name, None, 3, &dev).unwrap();
            if name == "deep-vae-2d" {
                // move the running statistics away from (0, 1) so folding is really tested
                let cfg = crate::training::TrainConfig {
                    epochs: 1,
                    batch_size: 32,
                    quiet: true,
                    eval_test: false,
                    ..Default::default()
                };
                crate::training::Trainer::new(cfg).fit(&m, &data).unwrap();
            }
            let spec = decoder_spec(&m).unwrap();
            let mut rng = Rng::new(1);
            for trial in 0..3 {
                let z = rng.normal_vec(m.latent_dim());
                let label = m.num_classes().map(|_| trial as usize);
                let js = spec.decode_pixels(&z, label).unwrap();
                let zt = Tensor::from_vec(z.clone(), (1, z.len()), &dev).unwrap();
                let lt = label.map(|l| Tensor::new(&[l as u32], &dev).unwrap());
                let rust = m.decode(&zt, lt.as_ref()).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
                let worst = js.iter().zip(&rust).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
                assert!(worst < 1e-4, "{name}: max |js - rust| = {worst}");
            }
        }
    }
}
