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
    fn pick_follows_the_environment() {
        // Reading the real variable keeps this test honest about what `pick` does.
        let expected = if quick_mode() { 2 } else { 10 };
        assert_eq!(pick(10, 2), expected);
        assert!(mode_banner().contains(QUICK_ENV));
    }
}
