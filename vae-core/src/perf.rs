//! Process-wide performance settings that the library can apply itself, so that a notebook
//! kernel (which cannot choose its allocator) trains as fast as the `vae` binary.
//!
//! glibc's malloc returns every large buffer (above 128 KiB by default) to the kernel with
//! `munmap` and maps fresh zeroed pages for the next one: with weight-sized tensors allocated
//! and freed every step, that page-fault churn makes training about 3x slower. Raising the
//! mmap and trim thresholds keeps those buffers in the heap for reuse. The `vae` binary uses
//! mimalloc instead; this is the fix for everyone else.
//!
//! ```
//! vae_core::perf::tune_allocator(); // idempotent, a no-op off glibc
//! ```
use std::sync::Once;

static TUNE: Once = Once::new();

/// Applies the allocator settings once per process.
pub fn tune_allocator() {
    TUNE.call_once(|| {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        unsafe {
            extern "C" {
                fn mallopt(param: i32, value: i32) -> i32;
            }
            const M_TRIM_THRESHOLD: i32 = -1;
            const M_TOP_PAD: i32 = -2;
            const M_MMAP_THRESHOLD: i32 = -3;
            // 32 MiB is glibc's largest allowed mmap threshold on 64-bit systems.
            mallopt(M_MMAP_THRESHOLD, 32 << 20);
            mallopt(M_TRIM_THRESHOLD, 512 << 20);
            mallopt(M_TOP_PAD, 64 << 20);
        }
    });
}
