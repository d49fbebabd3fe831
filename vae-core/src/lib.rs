//! # vae-core
//!
//! Autoencoders and variational autoencoders on [candle](https://github.com/huggingface/candle),
//! built for teaching: the data layer, models, losses, training, evaluation, checkpoints and
//! the figures of the `vae-notebooks` course.
//!
//! Layers, each using only those above it in this list:
//! 1. [`data`] (IDX files, MNIST / Fashion-MNIST, batching, binarisation, corruption) and [`rng`]
//! 2. models
//! 3. losses, training, evaluation, checkpoints
//! 4. figures and the explorer
pub mod data;
pub mod error;
pub mod rng;

pub use error::{Error, Result};
pub mod models;
pub mod ops;
pub mod checkpoint;
pub mod evaluation;
pub mod losses;
pub mod objective;
pub mod perf;
pub mod training;
pub mod bench;
pub mod device;
pub mod by_hand;
pub mod notebook;
