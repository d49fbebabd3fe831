//! Helpers for the course notebooks: one switch between the full teaching run and a quick
//! run for tests and CI.
//!
//! `VAE_QUICK=1` (or `true`, `yes`, `on`) selects quick mode: the notebooks run the same
//! code with fewer epochs and examples, so that the whole series executes in minutes. Any
//! other value, or no variable, is full mode. Each notebook asks once and picks its sizes
//! with [`pick`]:
//!
//! ```
//! use vae_core::notebook::{pick, quick_mode_from, QUICK_ENV};
//! // A doctest is a process of its own: setting the variable here changes nothing elsewhere.
//! std::env::set_var(QUICK_ENV, "1");
//! assert_eq!(pick(10, 2), 2);
//! std::env::set_var(QUICK_ENV, "no");
//! assert_eq!(pick(10, 2), 10);
//! assert!(quick_mode_from(Some(" Yes ")) && !quick_mode_from(Some("0")) && !quick_mode_from(None));
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
/// half). 1 is a perfect detector, 0.5 a coin flip. Used to grade anomaly detection. NaN when
/// either side is empty or holds a NaN score (a score that is not a number ranks nowhere).
pub fn auroc(negatives: &[f32], positives: &[f32]) -> f64 {
    if negatives.is_empty() || positives.is_empty() || negatives.iter().chain(positives).any(|s| s.is_nan()) {
        return f64::NAN;
    }
    // Rank-sum (Mann-Whitney U) form: sort all scores once, O((n + m) log(n + m)).
    let mut all: Vec<(f32, bool)> =
        negatives.iter().map(|&s| (s, false)).chain(positives.iter().map(|&s| (s, true))).collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut rank_sum = 0f64;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        // total_cmp, not ==: equality must hold for every value the sort accepted.
        while j < all.len() && all[j].0.total_cmp(&all[i].0).is_eq() {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auroc_of_nan_scores_is_nan_and_returns() {
        // This looped forever: NaN == NaN is false, so the tie scan never advanced.
        assert!(auroc(&[0.1, f32::NAN], &[0.5]).is_nan());
        assert!(auroc(&[0.1], &[f32::NAN, 0.5]).is_nan());
        assert_eq!(auroc(&[0.1, 0.2], &[0.5, 0.6]), 1.0);
        assert_eq!(auroc(&[0.5], &[0.5]), 0.5);
    }

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
                wins += if p > n {
                    1.0
                } else if p == n {
                    0.5
                } else {
                    0.0
                };
            }
        }
        assert!((auroc(&neg, &pos) - wins / 20.0).abs() < 1e-12);
        assert!(auroc(&[], &[1.0]).is_nan());
    }

    #[test]
    fn pick_follows_the_environment() {
        // Reading the real variable keeps this test honest about what `pick` does.
        let expected = if quick_mode() { 2 } else { 10 };
        assert_eq!(pick(10, 2), expected);
        assert!(mode_banner().contains(QUICK_ENV));
    }
}
