//! Picking the compute device: the first CUDA GPU when the crate is built with the `cuda`
//! feature and one is present, else the CPU (saying so once, so nobody waits for a GPU run
//! that is not happening).
//!
//! ```
//! # fn main() -> candle_core::Result<()> {
//! let dev = vae_core::device::default_device();
//! if !cfg!(feature = "cuda") {
//!     assert!(dev.is_cpu());
//! }
//! let x = candle_core::Tensor::new(&[1f32, 2.0, 3.0], &dev)?;
//! assert_eq!(x.sum_all()?.to_scalar::<f32>()?, 6.0);
//! # Ok(()) }
//! ```
use candle_core::Device;

/// The device models and data should go on: CUDA device 0 when built with `cuda` and usable,
/// else the CPU. Looks for a GPU on every call.
pub fn default_device() -> Device {
    #[cfg(feature = "cuda")]
    {
        match Device::new_cuda(0) {
            Ok(d) => return d,
            Err(e) => eprintln!("vae-core: built with CUDA but no GPU is usable ({e}); falling back to the CPU"),
        }
    }
    Device::Cpu
}
