//! The project's one source of randomness.
//!
//! candle 0.11 cannot seed its CPU generator (`Device::Cpu.set_seed` fails), so every
//! random draw in `vae-core` (weight initialisation, the reparameterisation noise
//! $\epsilon \sim \mathcal N(0, I)$, shuffling, binarisation, input corruption) comes from
//! this generator instead. Same seed and same inputs give bit-identical results on CPU.
//!
//! The generator is xoshiro256++ (Blackman & Vigna), seeded through SplitMix64 so that
//! nearby seeds give unrelated streams. Normals use the Box-Muller transform.
//!
//! ```
//! use vae_core::rng::Rng;
//! let mut a = Rng::new(42);
//! let mut b = Rng::new(42);
//! assert_eq!(a.normal_vec(5), b.normal_vec(5));
//! let u = a.uniform();
//! assert!((0.0..1.0).contains(&u));
//! ```
use candle_core::{Device, Result, Shape, Tensor};

/// A small, fast, seedable generator (xoshiro256++).
#[derive(Clone, Debug)]
pub struct Rng {
    s: [u64; 4],
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    /// A generator whose whole stream is fixed by `seed` (expanded by SplitMix64, so nearby
    /// seeds give unrelated streams).
    pub fn new(seed: u64) -> Self {
        let mut st = seed;
        let s = [splitmix64(&mut st), splitmix64(&mut st), splitmix64(&mut st), splitmix64(&mut st)];
        Self { s }
    }

    /// An independent generator derived from this one (for a sub-task such as one epoch's
    /// shuffling), so that adding draws in one place does not shift every later draw.
    pub fn fork(&mut self) -> Self {
        Self::new(self.next_u64())
    }

    /// The next 64 random bits; every other draw is made from these.
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1) with 24 bits of resolution (every value exactly representable).
    pub fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
    }

    /// Uniform integer in [0, n) without modulo bias (Lemire's method); an error for `n = 0`,
    /// an empty range.
    pub fn below(&mut self, n: usize) -> Result<usize> {
        if n == 0 {
            candle_core::bail!("Rng::below(0): the range [0, 0) holds no integer; pass n >= 1")
        }
        Ok(self.below_nonzero(n))
    }

    fn below_nonzero(&mut self, n: usize) -> usize {
        let n = n as u64;
        loop {
            let x = self.next_u64();
            let m = (x as u128) * (n as u128);
            let low = m as u64;
            if low >= n.wrapping_neg() % n {
                return (m >> 64) as usize;
            }
        }
    }

    /// Standard normal draws, Box-Muller on pairs of uniforms.
    pub fn normal_vec(&mut self, n: usize) -> Vec<f32> {
        let mut out = Vec::with_capacity(n + 1);
        while out.len() < n {
            // 53-bit uniform in (0, 1] so that ln never sees zero.
            let u1 = ((self.next_u64() >> 11) as f64 + 1.0) * (1.0 / (1u64 << 53) as f64);
            let u2 = (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
            let r = (-2.0 * u1.ln()).sqrt();
            let theta = std::f64::consts::TAU * u2;
            out.push((r * theta.cos()) as f32);
            out.push((r * theta.sin()) as f32);
        }
        out.truncate(n);
        out
    }

    /// `n` draws of [`uniform`](Self::uniform).
    pub fn uniform_vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.uniform()).collect()
    }

    /// A random permutation of 0..n (Fisher-Yates).
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = self.below_nonzero(i + 1);
            idx.swap(i, j);
        }
        idx
    }

    /// A tensor of standard normal draws.
    pub fn randn<S: Into<Shape>>(&mut self, shape: S, device: &Device) -> Result<Tensor> {
        let shape = shape.into();
        Tensor::from_vec(self.normal_vec(shape.elem_count()), shape, device)
    }

    /// A tensor of uniform draws in [lo, hi).
    pub fn rand<S: Into<Shape>>(&mut self, shape: S, lo: f32, hi: f32, device: &Device) -> Result<Tensor> {
        let shape = shape.into();
        let v: Vec<f32> = (0..shape.elem_count()).map(|_| lo + (hi - lo) * self.uniform()).collect();
        Tensor::from_vec(v, shape, device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_other_seed_other_stream() {
        let a: Vec<u64> = {
            let mut r = Rng::new(7);
            (0..8).map(|_| r.next_u64()).collect()
        };
        let b: Vec<u64> = {
            let mut r = Rng::new(7);
            (0..8).map(|_| r.next_u64()).collect()
        };
        let c: Vec<u64> = {
            let mut r = Rng::new(8);
            (0..8).map(|_| r.next_u64()).collect()
        };
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn normal_moments_are_right() {
        let v = Rng::new(1).normal_vec(200_000);
        let n = v.len() as f64;
        let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
        let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.01, "var {var}");
    }

    #[test]
    fn uniform_and_below_stay_in_range_and_cover_it() {
        let mut r = Rng::new(3);
        let mut seen = [0usize; 10];
        for _ in 0..10_000 {
            let u = r.uniform();
            assert!((0.0..1.0).contains(&u));
            seen[r.below(10).unwrap()] += 1;
        }
        assert!(seen.iter().all(|&c| c > 800 && c < 1200), "{seen:?}");
        let e = r.below(0).unwrap_err().to_string();
        assert!(e.contains("Rng::below(0)") && e.contains("pass n >= 1"), "{e}");
    }

    #[test]
    fn permutation_is_a_permutation() {
        let mut p = Rng::new(5).permutation(1000);
        assert_ne!(p, (0..1000).collect::<Vec<_>>());
        p.sort();
        assert_eq!(p, (0..1000).collect::<Vec<_>>());
    }
}
