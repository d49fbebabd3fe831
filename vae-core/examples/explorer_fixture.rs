//! Writes explorer pages for known random decoders, plus the outputs the Rust reference
//! decoder expects at chosen plane pixels, for the browser test in `tests/browser/`.
//!
//! `cargo run -p vae-core --example explorer_fixture -- OUT_DIR`
use std::path::PathBuf;

use serde_json::json;
use vae_core::explorer::{Activation, DecoderLayer, DecoderSpec, Explorer, OutputKind};
use vae_core::figures::{Figure, ImageGrid, LossCurves, Panel};
use vae_core::rng::Rng;

fn dense(rng: &mut Rng, i: usize, o: usize, activation: Activation) -> DecoderLayer {
    let scale = 1.5 / (i as f32).sqrt();
    let weight = rng.normal_vec(i * o).iter().map(|v| v * scale).collect();
    let bias = rng.normal_vec(o).iter().map(|v| v * 0.3).collect();
    DecoderLayer::Dense { weight, bias, in_dim: i, out_dim: o, activation }
}

/// Kernel 3, stride 2: TensorFlow's 'same' window (`tf_same`) or PyTorch's padding 1 + 1.
fn convt(rng: &mut Rng, c_in: usize, c_out: usize, activation: Activation, tf_same: bool) -> DecoderLayer {
    DecoderLayer::ConvTranspose2d {
        weight: rng.normal_vec(c_in * c_out * 9).iter().map(|v| v * 0.5).collect(),
        bias: rng.normal_vec(c_out).iter().map(|v| v * 0.2).collect(),
        c_in,
        c_out,
        kernel: 3,
        stride: 2,
        padding: if tf_same { 0 } else { 1 },
        output_padding: if tf_same { 0 } else { 1 },
        crop_end: usize::from(tf_same),
        activation,
    }
}

/// A `hidden -> 784` layer whose columns are smooth blobs on a dark background, so that
/// decoded images look like soft strokes (random dense weights look like static).
fn strokes(rng: &mut Rng, hidden: usize) -> DecoderLayer {
    let mut weight = vec![0f32; 784 * hidden];
    for h in 0..hidden {
        let (cx, cy) = (6.0 + 16.0 * rng.uniform(), 5.0 + 18.0 * rng.uniform());
        let (ex, ey) = (1.5 + 2.5 * rng.uniform(), 1.5 + 2.5 * rng.uniform());
        let amp = 1.2 * (rng.uniform() - 0.35);
        for y in 0..28 {
            for x in 0..28 {
                let d = ((x as f32 - cx) / ex).powi(2) + ((y as f32 - cy) / ey).powi(2);
                weight[(y * 28 + x) * hidden + h] = amp * (-0.5 * d).exp();
            }
        }
    }
    DecoderLayer::Dense {
        weight,
        bias: vec![-4.0; 784],
        in_dim: hidden,
        out_dim: 784,
        activation: Activation::Identity,
    }
}

fn mnist_like(latent_dim: usize, layers: Vec<DecoderLayer>, conditional_classes: Option<usize>) -> DecoderSpec {
    DecoderSpec { latent_dim, layers, output: OutputKind::Logits, height: 28, width: 28, conditional_classes }
}

/// Ten Gaussian blobs, one per label, like an encoded MNIST test set.
fn blobs(rng: &mut Rng, n: usize, d: usize) -> (Vec<Vec<f32>>, Vec<u32>) {
    let centres: Vec<Vec<f32>> = (0..10).map(|_| rng.normal_vec(d).iter().map(|v| v * 1.3).collect()).collect();
    let labels: Vec<u32> = (0..n).map(|_| rng.below(10).expect("10 > 0") as u32).collect();
    let points = labels
        .iter()
        .map(|&l| rng.normal_vec(d).iter().zip(&centres[l as usize]).map(|(e, c)| c + 0.45 * e).collect())
        .collect();
    (points, labels)
}

fn main() -> vae_core::Result<()> {
    let out = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "target/explorer-fixture".into()));
    std::fs::create_dir_all(&out).map_err(|source| vae_core::Error::Io { path: out.clone(), source })?;
    let mut rng = Rng::new(2024);
    let names: Vec<String> = (0..10).map(|d| d.to_string()).collect();

    let mlp2 = mnist_like(
        2,
        vec![
            dense(&mut rng, 2, 16, Activation::Relu),
            dense(&mut rng, 16, 16, Activation::Elu),
            dense(&mut rng, 16, 784, Activation::Identity),
        ],
        None,
    );
    let conv = mnist_like(
        2,
        vec![
            dense(&mut rng, 2, 7 * 7 * 8, Activation::Relu),
            DecoderLayer::Reshape { channels: 8, height: 7, width: 7 },
            convt(&mut rng, 8, 4, Activation::Relu, true),
            convt(&mut rng, 4, 1, Activation::Identity, false),
        ],
        None,
    );
    let mlp20 = mnist_like(20, vec![dense(&mut rng, 20, 400, Activation::Relu), strokes(&mut rng, 400)], None);
    let cond = mnist_like(
        2,
        vec![dense(&mut rng, 12, 32, Activation::Tanh), dense(&mut rng, 32, 784, Activation::Identity)],
        Some(10),
    );

    let mut cases = Vec::new();
    for (name, spec, n_points, perf) in [
        ("mlp2", mlp2, 2000, false),
        ("conv", conv, 2000, false),
        ("mlp20", mlp20, 5000, true),
        ("cond", cond, 2000, false),
    ] {
        let d = spec.latent_dim;
        let (points, labels) = blobs(&mut rng, n_points, d);
        let ex = Explorer::new(spec.clone(), &points, &labels, &names)?
            .with_title(format!("Latent explorer test page: {name}"))
            .with_range(-3.0, 3.0)?;
        let file = format!("{name}.html");
        ex.save(out.join(&file))?;
        let size = std::fs::metadata(out.join(&file)).map(|m| m.len()).unwrap_or(0);

        let class_of = |i: usize| spec.conditional_classes.map(|k| i % k);
        // Probes: (px, py, optional slider (dim, value)).
        let mut probes = Vec::new();
        let pixels = [(220usize, 220usize), (37, 401), (400, 15), (300, 120), (5, 5), (439, 439)];
        for (i, &(px, py)) in pixels.iter().enumerate() {
            let slider = if d > 2 && i % 2 == 1 { Some((5usize, 1.5f32)) } else { None };
            let mut z = ex.pixel_to_latent(px, py);
            if let Some((dim, v)) = slider {
                z[dim] = v;
            }
            let label = class_of(i + 3);
            probes.push(json!({"px": px, "py": py, "z": z, "label": label, "slider": slider,
                               "expected": spec.decode_pixels(&z, label)?}));
        }
        // Interpolation between two clicked pixels, sliders at 0.
        let (a, b) = ((60usize, 80usize), (390usize, 350usize));
        let (za, zb) = (ex.pixel_to_latent(a.0, a.1), ex.pixel_to_latent(b.0, b.1));
        let frames = ex.options().frames;
        let label = class_of(7);
        let expected: Vec<Vec<f32>> = (0..frames)
            .map(|f| {
                let t = f as f32 / (frames - 1) as f32;
                let z: Vec<f32> = za.iter().zip(&zb).map(|(a, b)| a + (b - a) * t).collect();
                spec.decode_pixels(&z, label)
            })
            .collect::<vae_core::Result<_>>()?;
        cases.push(json!({"name": name, "file": file, "bytes": size, "latent_dim": d, "perf": perf,
                          "probes": probes, "interp": {"a": [a.0, a.1], "b": [b.0, b.1], "label": label, "frames": expected}}));
    }

    // Two explorers on one host page, each in its own <iframe srcdoc>, as a notebook shows them.
    let mut rng2 = Rng::new(99);
    let (p1, l1) = blobs(&mut rng2, 300, 2);
    let s1 = mnist_like(2, vec![dense(&mut rng2, 2, 784, Activation::Identity)], None);
    let s2 = mnist_like(2, vec![dense(&mut rng2, 2, 784, Activation::Identity)], None);
    let e1 = Explorer::new(s1.clone(), &p1, &l1, &names)?.with_range(-3.0, 3.0)?.with_title("first");
    let e2 = Explorer::new(s2.clone(), &p1, &l1, &names)?.with_range(-3.0, 3.0)?.with_title("second");
    let host = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>two explorers</title></head><body>\
         <h3>Two explorers in one document</h3>{}<p>between</p>{}</body></html>",
        e1.to_iframe_html(),
        e2.to_iframe_html()
    );
    std::fs::write(out.join("two_iframes.html"), host)
        .map_err(|source| vae_core::Error::Io { path: out.clone(), source })?;
    // A figure panel wider than a notebook's output area (two 12x12 digit grids at their default
    // scale, 1126 px each, and a chart): it must shrink to fit the page, in the host page's 600 px
    // column and in the nbconvert export.
    let digits = candle_core::Tensor::rand(0f32, 1f32, (144, 1, 28, 28), &candle_core::Device::Cpu)?;
    let grid = ImageGrid::new(&digits)?.cols(12);
    let curves = LossCurves::new(vec![("KL".into(), vec![5.4, 5.8, 6.2])]).size(420, 300);
    let panel =
        Panel::row().add_titled("inside", &grid).add_titled("outside", &grid).add_titled("KL", &curves).to_html();
    let host = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>panel</title></head><body>\
         <div id=\"column\" style=\"width: 600px\">{panel}</div></body></html>"
    );
    std::fs::write(out.join("panel.html"), host).map_err(|source| vae_core::Error::Io { path: out.clone(), source })?;
    // The same two outputs in a notebook, as evcxr's display_data (for `jupyter nbconvert`).
    let cell = |i: usize, html: String| {
        json!({"cell_type": "code", "execution_count": i, "id": format!("cell{i}"), "metadata": {},
               "source": [format!("explorer{i}")],
               "outputs": [{"output_type": "display_data", "metadata": {}, "data": {"text/html": html}}]})
    };
    let nb = json!({"nbformat": 4, "nbformat_minor": 5,
                    "metadata": {"kernelspec": {"name": "rust", "display_name": "Rust", "language": "rust"},
                                 "language_info": {"name": "Rust"}},
                    "cells": [cell(1, e1.to_iframe_html()), cell(2, e2.to_iframe_html()), cell(3, panel)]});
    std::fs::write(out.join("notebook.ipynb"), nb.to_string())
        .map_err(|source| vae_core::Error::Io { path: out.clone(), source })?;
    let z = e2.pixel_to_latent(100, 300);
    let iframes = json!({"file": "two_iframes.html", "px": 100, "py": 300, "z": z,
                         "expected": [s1.decode_pixels(&z, None)?, s2.decode_pixels(&z, None)?]});

    let manifest = json!({"cases": cases, "iframes": iframes, "panel": "panel.html"});
    let path = out.join("manifest.json");
    std::fs::write(&path, manifest.to_string()).map_err(|source| vae_core::Error::Io { path: path.clone(), source })?;
    println!("wrote explorer fixtures to {}", out.display());
    Ok(())
}
