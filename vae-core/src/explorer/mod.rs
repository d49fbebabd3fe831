//! Interactive latent-space explorer: one self-contained HTML page, generated from a
//! decoder description, that decodes `z` live in the browser.
//!
//! - [`spec`]: [`DecoderSpec`], the model-free decoder description (and a reference forward pass);
//! - [`encode`]: base64 packing of weights and points;
//! - [`page`]: [`Explorer`], which writes the page, saves it, and shows it in evcxr notebooks;
//! - [`from_model`]: a trained model's decoder as a spec, and an explorer over its codes.
//!
//! ```
//! use vae_core::explorer::{Activation, DecoderLayer, DecoderSpec, Explorer, OutputKind};
//! let spec = DecoderSpec {
//!     latent_dim: 2,
//!     layers: vec![
//!         DecoderLayer::Dense { weight: vec![0.1; 2 * 8], bias: vec![0.0; 8], in_dim: 2, out_dim: 8,
//!                               activation: Activation::Relu },
//!         DecoderLayer::Reshape { channels: 2, height: 2, width: 2 },
//!         DecoderLayer::ConvTranspose2d { weight: vec![0.2; 2 * 1 * 3 * 3], bias: vec![0.0], c_in: 2, c_out: 1,
//!             kernel: 3, stride: 2, padding: 1, output_padding: 1, crop_end: 0, activation: Activation::Identity },
//!     ],
//!     output: OutputKind::Logits, height: 4, width: 4, conditional_classes: None,
//! };
//! let ex = Explorer::new(spec, &vec![vec![0.5f32, -0.5]], &[0], &[]).unwrap();
//! assert_eq!(ex.spec().decode_pixels(&[0.0, 0.0], None).unwrap().len(), 16);
//! assert!(ex.to_iframe_html().starts_with("<iframe srcdoc=\""));
//! ```
pub mod encode;
pub mod from_model;
pub mod page;
pub mod spec;

pub use from_model::{decoder_spec, explorer_for};
pub use page::{Explorer, ExplorerOptions, LatentPoints};
pub use spec::{Activation, DecoderLayer, DecoderSpec, OutputKind};
