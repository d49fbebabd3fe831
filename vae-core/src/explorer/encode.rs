//! Packing numbers into the page: base64 of little-endian binary arrays.
//!
//! JSON would spell each weight in ~10 characters; base64 of a `Float32` spends 5.33. Point
//! coordinates are only drawn, never decoded, so they travel as IEEE half floats (2 bytes),
//! which is exact to 1 part in 2048: far below a pixel of the scatter plot.
//!
//! ```
//! use vae_core::explorer::encode::{base64, f32_to_f16_bits};
//! assert_eq!(base64(b"Man"), "TWFu");
//! assert_eq!(base64(b"Ma"), "TWE=");
//! assert_eq!(f32_to_f16_bits(1.0), 0x3C00);
//! assert_eq!(f32_to_f16_bits(-2.5), 0xC100);
//! ```

/// Standard base64 (RFC 4648, with `=` padding), the form `atob` reads: the figures' encoder.
pub use crate::figures::display::base64;

/// base64 of `values` as little-endian `Float32`.
pub fn base64_f32(values: &[f32]) -> String {
    base64(&values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>())
}

/// base64 of `values` as little-endian `Uint32`.
pub fn base64_u32(values: &[u32]) -> String {
    base64(&values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>())
}

/// base64 of `values` as little-endian IEEE half floats.
pub fn base64_f16(values: &[f32]) -> String {
    base64(&values.iter().flat_map(|v| f32_to_f16_bits(*v).to_le_bytes()).collect::<Vec<u8>>())
}

/// The IEEE 754 half-precision bits nearest to `x` (round to nearest, ties to even).
pub fn f32_to_f16_bits(x: f32) -> u16 {
    let bits = x.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let exp = ((bits >> 23) & 0xFF) as i32;
    let man = bits & 0x7F_FFFF;
    if exp == 0xFF {
        // Inf stays Inf; every NaN becomes a quiet NaN.
        return sign | 0x7C00 | if man != 0 { 0x200 } else { 0 };
    }
    let e = exp - 127 + 15;
    if e >= 0x1F {
        return sign | 0x7C00;
    }
    if e <= 0 {
        if e < -10 {
            return sign;
        }
        // Subnormal half: shift the mantissa (with its implicit 1) into place, then round.
        let m = man | 0x80_0000;
        let shift = (14 - e) as u32;
        let half = m >> shift;
        let rem = m & ((1 << shift) - 1);
        let mid = 1 << (shift - 1);
        let round = rem > mid || (rem == mid && half & 1 == 1);
        return sign | (half + u32::from(round)) as u16;
    }
    let half = ((e as u32) << 10) | (man >> 13);
    let rem = man & 0x1FFF;
    let round = rem > 0x1000 || (rem == 0x1000 && half & 1 == 1);
    // A carry out of the mantissa correctly bumps the exponent (up to Inf).
    sign | (half + u32::from(round)) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f16_to_f32(h: u16) -> f32 {
        let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
        let e = i32::from((h >> 10) & 0x1F);
        let m = f32::from(h & 0x3FF);
        sign * match e {
            0 => m * 2f32.powi(-24),
            31 => f32::INFINITY,
            _ => (1.0 + m / 1024.0) * 2f32.powi(e - 15),
        }
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (input, want) in [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foobar", "Zm9vYmFy")] {
            assert_eq!(base64(input.as_bytes()), want);
        }
        assert_eq!(base64_f32(&[1.0]), "AACAPw==");
    }

    #[test]
    fn f16_round_trip_is_within_half_an_ulp() {
        for &x in &[0.0f32, 1.0, -1.0, 0.1, 3.3, -2.7, 65504.0, 1e-5, 6.0e-8, 1234.5] {
            let y = f16_to_f32(f32_to_f16_bits(x));
            let ulp = if x.abs() < 6.1e-5 { 2f32.powi(-24) } else { x.abs() * 2f32.powi(-10) };
            assert!((x - y).abs() <= ulp / 2.0 + 1e-12, "{x} -> {y}");
        }
        assert_eq!(f32_to_f16_bits(1e6), 0x7C00);
        assert_eq!(f32_to_f16_bits(-0.0), 0x8000);
        assert_eq!(f32_to_f16_bits(f32::NAN) & 0x7C00, 0x7C00);
    }
}
