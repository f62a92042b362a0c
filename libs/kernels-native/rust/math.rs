//! Transcendental functions in straight-line arithmetic, so the loops the generated kernels run on
//! vectorise (a call to libm's scalar expf kept every exp, sigmoid and softmax-style kernel scalar).

/// e^x for f32: Cody-Waite reduction x = n ln2 + r (|r| <= ln2 / 2), Cephes' degree-6 polynomial
/// for e^r evaluated by Estrin's scheme (a short dependency chain), then 2^n as two exact powers of
/// two so subnormal results underflow gradually. Within 2 ulp of the correctly rounded result;
/// NaN -> NaN, +inf and x > 88.72 -> inf, -inf and x < -103.97 -> 0. Every step is a lane-wise
/// float or integer operation (no float-to-int cast, which Rust saturates lane by lane), so loops
/// over it vectorise.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split so that n * LN2_HI is exact for |n| <= 2^9.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding 1.5 * 2^23 rounds to an integer (ties to even) and leaves it in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-104.0, 89.0); // NaN stays NaN
    let shifted = x * LOG2E + ROUND;
    let n = shifted - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let r2 = r * r;
    let a = 1.666_666_5e-1 * r + 5.000_000_1e-1;
    let b = 8.333_452e-3 * r + 4.166_579_6e-2;
    let c = 1.987_569_1e-4 * r + 1.398_199_9e-3;
    let er = (a + r2 * (b + r2 * c)) * r2 + r + 1.0;
    // n in [-150, 129], read from shifted's bits; each half is a normal power of two, so the products
    // round at most once (twice only for subnormal results). For a NaN x the powers are garbage and
    // er's NaN carries through.
    let ni = (shifted.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    let h = ni >> 1;
    let pow2 = |e: i32| f32::from_bits((e.wrapping_add(127) as u32) << 23);
    er * pow2(h) * pow2(ni - h)
}

#[cfg(test)]
mod tests {
    use super::exp_f32;

    /// Distance in units in the last place between two finite f32 of one sign.
    fn ulps(a: f32, b: f32) -> u32 { (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs() as u32 }

    #[test]
    fn exp_is_within_two_ulp_of_the_f64_result_and_keeps_the_specials() {
        let mut x = -103.0f32;
        while x < 88.7 {
            let want = (x as f64).exp() as f32;
            let got = exp_f32(x);
            // Subnormal results keep absolute accuracy (one subnormal step, 2^-149).
            let ok = if want < f32::MIN_POSITIVE { (got - want).abs() <= f32::from_bits(2) } else { ulps(got, want) <= 2 };
            assert!(ok, "exp({x}) = {got}, want {want}");
            x += 0.0137;
        }
        assert!(exp_f32(f32::NAN).is_nan());
        assert_eq!(exp_f32(f32::INFINITY), f32::INFINITY);
        assert_eq!(exp_f32(89.0), f32::INFINITY);
        assert_eq!(exp_f32(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_f32(-200.0), 0.0);
        assert_eq!(exp_f32(0.0), 1.0);
        assert_eq!(exp_f32(-0.0), 1.0);
    }
}

