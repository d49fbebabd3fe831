//! Helpers for the course notebooks: one switch between the full teaching run and a quick
//! run for tests and CI.
//!
//! `VAE_QUICK=1` (or `true`, `yes`, `on`) selects quick mode: the notebooks run the same
//! code with fewer epochs and examples, so that the whole series executes in minutes. Any
//! other value, or no variable, is full mode. Each notebook asks once and picks its sizes
//! with [`pick`]:
//!
//! ```
//! use vae_core::notebook::{pick, quick_mode_from};
//! let epochs = pick(10, 2);
//! assert!(epochs == 10 || epochs == 2);
//! assert!(quick_mode_from(Some("1")));
//! assert!(!quick_mode_from(Some("0")));
//! ```

/// The environment variable that selects quick mode.
pub const QUICK_ENV: &str = "VAE_QUICK";

/// Whether `VAE_QUICK` asks for quick mode.
pub fn quick_mode() -> bool {
    quick_mode_from(std::env::var(QUICK_ENV).ok().as_deref())
}

/// Whether a value of `VAE_QUICK` means quick mode: `1`, `true`, `yes`, `on` (any case).
pub fn quick_mode_from(value: Option<&str>) -> bool {
    match value {
        Some(v) => matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"),
        None => false,
    }
}

/// `quick` in quick mode, `full` otherwise.
pub fn pick<T>(full: T, quick: T) -> T {
    if quick_mode() {
        quick
    } else {
        full
    }
}

/// A one-line banner for the top of a notebook's output: which mode runs and how to change it.
pub fn mode_banner() -> String {
    if quick_mode() {
        format!("quick mode ({QUICK_ENV}=1): fewer epochs and examples, for tests; unset {QUICK_ENV} for the full run")
    } else {
        format!("full mode: the teaching run (set {QUICK_ENV}=1 for a quick check)")
    }
}

/// The area under the ROC curve of a score that should be higher for `positives` than for
/// `negatives`: the probability that a random positive outscores a random negative (ties count
/// half). 1 is a perfect detector, 0.5 a coin flip. Used to grade anomaly detection.
pub fn auroc(negatives: &[f32], positives: &[f32]) -> f64 {
    if negatives.is_empty() || positives.is_empty() {
        return f64::NAN;
    }
    // Rank-sum (Mann-Whitney U) form: sort all scores once, O((n + m) log(n + m)).
    let mut all: Vec<(f32, bool)> = negatives.iter().map(|&s| (s, false)).chain(positives.iter().map(|&s| (s, true))).collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut rank_sum = 0f64;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j < all.len() && all[j].0 == all[i].0 {
            j += 1;
        }
        // Tied scores share the mean of ranks i+1..=j.
        let mean_rank = (i + 1 + j) as f64 / 2.0;
        rank_sum += mean_rank * all[i..j].iter().filter(|p| p.1).count() as f64;
        i = j;
    }
    let (n, m) = (negatives.len() as f64, positives.len() as f64);
    (rank_sum - m * (m + 1.0) / 2.0) / (n * m)
}

/// The decoder of a dense model (autoencoder or VAE, conditional or not, without batch norm) as
/// an explorer [`DecoderSpec`](crate::explorer::DecoderSpec), so that the interactive page can
/// run it in the browser.
pub fn decoder_spec(model: &crate::models::Model) -> crate::Result<crate::explorer::DecoderSpec> {
    use crate::explorer::{Activation as A, DecoderLayer, DecoderSpec, OutputKind};
    use crate::models::{Activation, ModelConfig};
    let act = match model.config() {
        ModelConfig::MlpAe(c) => c.activation,
        ModelConfig::MlpVae(c) => c.activation,
        _ => return Err(crate::Error::Config(format!("decoder_spec: {} has a convolutional decoder; only dense models are supported", model.kind()))),
    };
    let dec = model.mlp_decoder().ok_or_else(|| crate::Error::Config("decoder_spec: the model has no dense decoder".into()))?;
    if dec.body.has_batch_norm() {
        return Err(crate::Error::Config("decoder_spec: decoders with batch norm are not supported by the explorer".into()));
    }
    let act = match act {
        Activation::Relu => A::Relu,
        Activation::Tanh => A::Tanh,
        Activation::Sigmoid => A::Sigmoid,
        Activation::LeakyRelu => A::LeakyRelu(0.01),
    };
    let dense = |lin: &candle_nn::Linear, activation: A| -> crate::Result<DecoderLayer> {
        let (out_dim, in_dim) = lin.weight().dims2()?;
        let bias = match lin.bias() {
            Some(b) => b.to_vec1::<f32>()?,
            None => vec![0.0; out_dim],
        };
        Ok(DecoderLayer::Dense { weight: lin.weight().flatten_all()?.to_vec1::<f32>()?, bias, in_dim, out_dim, activation })
    };
    let mut layers = dec.body.layers().map(|l| dense(l, act)).collect::<crate::Result<Vec<_>>>()?;
    layers.push(dense(&dec.out, A::Identity)?);
    let side = (model.config().input_dim() as f64).sqrt() as usize;
    Ok(DecoderSpec {
        latent_dim: model.latent_dim(),
        layers,
        output: OutputKind::Logits,
        height: side,
        width: model.config().input_dim() / side.max(1),
        conditional_classes: model.num_classes(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_that_mean_quick() {
        for v in ["1", "true", "TRUE", "yes", "On", " 1 "] {
            assert!(quick_mode_from(Some(v)), "{v:?} should select quick mode");
        }
        for v in ["", "0", "false", "no", "off", "quick?"] {
            assert!(!quick_mode_from(Some(v)), "{v:?} should not select quick mode");
        }
        assert!(!quick_mode_from(None));
    }

    #[test]
    fn auroc_counts_ordered_pairs() {
        assert_eq!(auroc(&[0.0, 1.0], &[2.0, 3.0]), 1.0);
        assert_eq!(auroc(&[2.0, 3.0], &[0.0, 1.0]), 0.0);
        assert_eq!(auroc(&[1.0, 1.0], &[1.0]), 0.5);
        // Pairs: (3 > 1), (3 > 2), (0 < 1), (0 < 2) -> 2 of 4.
        assert_eq!(auroc(&[1.0, 2.0], &[3.0, 0.0]), 0.5);
        // Brute force on an irregular case with ties.
        let (neg, pos) = ([0.5f32, 1.0, 1.0, 2.0, 7.0], [1.0f32, 3.0, 0.1, 7.0]);
        let mut wins = 0.0;
        for p in pos {
            for n in neg {
                wins += if p > n { 1.0 } else if p == n { 0.5 } else { 0.0 };
            }
        }
        assert!((auroc(&neg, &pos) - wins / 20.0).abs() < 1e-12);
        assert!(auroc(&[], &[1.0]).is_nan());
    }

    #[test]
    fn decoder_spec_decodes_like_the_model() {
        use candle_core::Device;
        let dev = Device::Cpu;
        for name in ["mlp-vae", "mlp-ae-2d", "cvae"] {
            let model = crate::models::Model::from_name(name, Some(2), 3, &dev).unwrap();
            let spec = decoder_spec(&model).unwrap();
            let z = [0.3f32, -1.2];
            let label = model.num_classes().map(|_| 4usize);
            let ours = spec.decode_pixels(&z, label).unwrap();
            let zt = candle_core::Tensor::new(&[z], &dev).unwrap();
            let lt = candle_core::Tensor::new(&[4u32], &dev).unwrap();
            let theirs = model.decode(&zt, label.map(|_| &lt)).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let worst = ours.iter().zip(&theirs).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            assert!(worst < 1e-4, "{name}: explorer decoder differs from the model by {worst}");
        }
        let conv = crate::models::Model::from_name("conv-vae", None, 0, &dev).unwrap();
        assert!(decoder_spec(&conv).unwrap_err().to_string().contains("convolutional"));
    }

    #[test]
    fn pick_follows_the_environment() {
        // Reading the real variable keeps this test honest about what `pick` does.
        let expected = if quick_mode() { 2 } else { 10 };
        assert_eq!(pick(10, 2), expected);
        assert!(mode_banner().contains(QUICK_ENV));
    }
}
