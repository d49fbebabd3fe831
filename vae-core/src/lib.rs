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
//! 4. [`figures`] and the explorer
#![warn(missing_docs)]

/// Defines `fn $name` that runs `$body` compiled for AVX-512 when the CPU has it (checked at run
/// time, once per call), and for the baseline target otherwise. For elementwise loops that
/// vectorise (losses, activations, Adam): the default x86-64 target gives them 4-wide SSE
/// registers where the CPU may have 16-wide ones. `$body` must inline fully into it (mark
/// what it calls `#[inline(always)]`) to be compiled for the wider registers.
macro_rules! widest_simd {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($a:ident: $t:ty),*) -> $r:ty $body:block) => {
        $(#[$m])*
        $vis fn $name($($a: $t),*) -> $r {
            #[inline(always)]
            fn generic($($a: $t),*) -> $r $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                unsafe fn wide($($a: $t),*) -> $r {
                    generic($($a),*)
                }
                if std::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU supports AVX-512F, checked just above.
                    return unsafe { wide($($a),*) };
                }
            }
            generic($($a),*)
        }
    };
}

pub mod bench;
pub mod by_hand;
pub mod checkpoint;
pub mod data;
pub mod device;
pub mod error;
pub mod evaluation;
pub mod explorer;
pub mod figures;
pub mod fused_conv_vae;
pub mod fused_vae;
pub mod losses;
pub mod models;
pub mod notebook;
pub mod objective;
pub mod ops;
pub mod optim;
pub mod perf;
pub mod rng;
pub mod training;

pub use error::{Error, Result};
