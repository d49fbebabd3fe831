//! Picking the compute device: the first CUDA GPU when the crate is built with the `cuda`
//! feature and one is present, else the CPU (saying so once, so nobody waits for a GPU run
//! that is not happening).
//!
//! ```
//! let dev = vae_core::device::default_device();
//! assert!(dev.is_cpu() || dev.is_cuda());
//! ```
use candle_core::Device;

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
