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

/// tanh for f32 in straight-line arithmetic (so loops over it vectorise): Cephes' odd polynomial
/// below |x| = 0.625, 1 - 2 / (e^2|x| + 1) with x's sign above, both computed and one picked. Within
/// 2 ulp of the correctly rounded result (tested below); +-inf -> +-1, NaN -> NaN, -0 -> -0.
#[inline(always)]
pub fn tanh_f32(x: f32) -> f32 {
    let a = x.abs();
    let z = x * x;
    let small = ((((-5.704_988_7e-3 * z + 2.063_908_9e-2) * z - 5.373_971_6e-2) * z + 1.333_144_2e-1) * z - 3.333_328_2e-1) * z * a + a;
    let large = 1.0 - 2.0 / (exp_f32(2.0 * a) + 1.0);
    // NaN fails the comparison and takes `large`, which is NaN too; the sign goes on last, so -0 stays -0.
    (if a < 0.625 { small } else { large }).copysign(x)
}

/// erf for f32 in f32 straight-line arithmetic (so loops over it vectorise, 16 lanes to a 512-bit
/// vector; libm's erff is a branchy scalar call). Two fits made for Tessera (numpy, reweighted least
/// squares on Chebyshev nodes): on |x| < 1, erf = x + x P(x^2) with P of degree 6 (erf(x)/x - 1 to
/// 1.2e-9 relative; the 1 kept apart, as fdlibm does, so P's roundings are a tenth of the result's);
/// on [1, 4], erfc(x) e^(x^2) as a degree-8 polynomial in (|x| - 2.5) * 2/3, fitted for the error
/// it puts into erf = 1 - that * e^(-x^2) (6e-10 absolute). Past 4, erfc is below half an f32 ulp
/// of 1 and the clamped input gives 1. Within 1 ulp of the correctly rounded result (tested below;
/// PyTorch's vectorised float erf is within 1.5e-7 absolute). NaN -> NaN, -0 -> -0.
#[inline(always)]
pub fn erf_f32(x: f32) -> f32 {
    const SMALL: [f32; 7] = [0.128_379_17, -0.376_126_26, 0.112_835_854, -0.026_853_811, 0.005_188_327_7, -0.000_801_019_2, 7.853_856_4e-5];
    const LARGE: [f32; 9] = [0.210_807_59, -0.111_521_07, 0.056_000_214, -0.027_542_455, 0.011_904_921, -0.003_883_194_9, 0.007_860_387, 0.004_960_411, 0.003_024_141];
    let horner = |c: &[f32], t: f32| c.iter().rev().fold(0.0, |acc, &k| acc * t + k);
    let a = x.abs().min(4.0);
    let s = a * a;
    let small = a + a * horner(&SMALL, s);
    let large = 1.0 - horner(&LARGE, (a - 2.5) * 0.666_666_7) * exp_f32(-s);
    let r = if a < 1.0 { small } else { large };
    // f32::min drops a NaN, so NaN is put back here.
    if x.is_nan() { x } else { r.copysign(x) }
}

/// e^x for x <= 0 in f64 arithmetic, to ~1e-13 relative: enough that a result rounded to f32 is the
/// correctly rounded one but for near-ties. Inputs below -200 give e^-200 (far below f32's smallest
/// subnormal, and negligible beside the e^0 = 1 a softmax row always sums); NaN stays NaN. The
/// float32 softmax uses it so its exps vectorise and still round as the float64 reference's.
#[inline(always)]
pub fn exp_nonpositive_f64(x: f64) -> f64 {
    const LOG2E: f64 = std::f64::consts::LOG2_E;
    // ln 2 split so that n * LN2_HI is exact for |n| <= 2^11.
    const LN2_HI: f64 = 6.931_471_803_691_238_2e-1;
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    // Adding 1.5 * 2^52 rounds to an integer and leaves it in the low mantissa bits.
    const ROUND: f64 = 6_755_399_441_055_744.0;
    let x = x.clamp(-200.0, 0.0);
    let shifted = x * LOG2E + ROUND;
    let n = shifted - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    // Taylor to r^10 on |r| <= ln2 / 2 (remainder < 3e-13), by Estrin's scheme.
    let r2 = r * r;
    let r4 = r2 * r2;
    let c = |k: u32| 1.0 / (1..=k).map(f64::from).product::<f64>();
    let p01 = 1.0 + r;
    let p23 = c(2) + c(3) * r;
    let p45 = c(4) + c(5) * r;
    let p67 = c(6) + c(7) * r;
    let p89 = c(8) + c(9) * r;
    let p = (p01 + r2 * p23) + r4 * ((p45 + r2 * p67) + r4 * (p89 + r2 * c(10)));
    // n in [-289, 0]: 2^n is a normal f64, put straight into the exponent.
    let ni = (shifted.to_bits() as i64).wrapping_sub(ROUND.to_bits() as i64);
    p * f64::from_bits((ni.wrapping_add(1023) as u64) << 52)
}

#[cfg(test)]
mod tests {
    use super::{erf_f32, exp_f32, exp_nonpositive_f64, tanh_f32};

    /// Distance in units in the last place between two finite f32 of one sign.
    fn ulps(a: f32, b: f32) -> u32 { (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs() as u32 }

    #[test]
    fn erf_is_within_one_ulp_of_the_f64_result_and_keeps_the_specials() {
        let mut x = -6.0f32;
        while x < 6.0 {
            let want = libm::erf(x as f64) as f32;
            let got = erf_f32(x);
            let ok = if want.abs() < f32::MIN_POSITIVE { (got - want).abs() <= f32::from_bits(1) } else { ulps(got, want) <= 1 };
            assert!(ok, "erf({x}) = {got}, want {want}");
            x += 0.000_317;
        }
        for &t in &[1e-38f32, 1e-30, -1e-10, 0.999_999, 1.0, 1.000_001, 3.999, 4.0, 4.5, 1e30] {
            let want = libm::erf(t as f64) as f32;
            assert!(ulps(erf_f32(t), want) <= 1, "erf({t}) = {}, want {want}", erf_f32(t));
        }
        assert!(erf_f32(f32::NAN).is_nan());
        assert_eq!(erf_f32(f32::INFINITY), 1.0);
        assert_eq!(erf_f32(f32::NEG_INFINITY), -1.0);
        assert!(erf_f32(-0.0) == 0.0 && erf_f32(-0.0).is_sign_negative());
    }

    #[test]
    fn tanh_is_within_two_ulp_of_the_f64_result_and_keeps_the_specials() {
        let mut x = -12.0f32;
        let mut worst = 0;
        while x < 12.0 {
            let want = (x as f64).tanh() as f32;
            let got = tanh_f32(x);
            // Below f32's normal range tanh(x) is x; compare absolutely there.
            let ok = if want.abs() < f32::MIN_POSITIVE { got == want } else { ulps(got, want) <= 2 };
            assert!(ok, "tanh({x}) = {got}, want {want}");
            if want.abs() >= f32::MIN_POSITIVE { worst = worst.max(ulps(got, want)); }
            x += 0.000_713;
        }
        for &t in &[1e-30f32, -1e-20, 1e-6, 0.3, 0.624_9, 0.625, -0.625_1, 5.0, 9.1, 50.0] {
            let want = (t as f64).tanh() as f32;
            assert!(ulps(tanh_f32(t), want) <= 2, "tanh({t}) = {}, want {want}", tanh_f32(t));
        }
        assert!(tanh_f32(f32::NAN).is_nan());
        assert_eq!(tanh_f32(f32::INFINITY), 1.0);
        assert_eq!(tanh_f32(f32::NEG_INFINITY), -1.0);
        assert!(tanh_f32(-0.0) == 0.0 && tanh_f32(-0.0).is_sign_negative());
        assert!(worst <= 2);
    }

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

    #[test]
    fn exp_nonpositive_f64_is_within_1e_12_of_libm_and_rounds_to_f32_as_libm() {
        let (mut x, mut worst, mut f32_misses) = (0.0f64, 0.0f64, 0);
        while x > -200.0 {
            let (want, got) = (x.exp(), exp_nonpositive_f64(x));
            worst = worst.max(((got - want) / want).abs());
            if got as f32 != want as f32 { f32_misses += 1; }
            x -= 0.000_731;
        }
        assert!(worst < 1e-12, "worst relative error {worst}");
        // ~270,000 points: near-ties may round the other way, a handful at most.
        assert!(f32_misses < 10, "{f32_misses} results round to another f32");
        assert!(exp_nonpositive_f64(f64::NAN).is_nan());
        assert_eq!(exp_nonpositive_f64(0.0), 1.0);
        assert!(exp_nonpositive_f64(f64::NEG_INFINITY) as f32 == 0.0);
    }
}

/// Integer powers as torch computes them: by squaring with wrapping multiplies; a negative exponent
/// gives 0 except for bases 1 and -1 (C integer semantics).
macro_rules! ipow_signed {
    ($name:ident, $t:ty) => {
        #[inline(always)]
        pub fn $name(a: $t, b: $t) -> $t {
            if b < 0 {
                return if a == 1 { 1 } else if a == -1 { if b & 1 == 1 { -1 } else { 1 } } else { 0 };
            }
            let (mut r, mut base, mut e): ($t, $t, $t) = (1, a, b);
            while e > 0 {
                if e & 1 == 1 { r = r.wrapping_mul(base); }
                base = base.wrapping_mul(base);
                e >>= 1;
            }
            r
        }
    };
}
ipow_signed!(ipow_i32, i32);
ipow_signed!(ipow_i64, i64);

#[inline(always)]
pub fn ipow_u8(a: u8, b: u8) -> u8 {
    let (mut r, mut base, mut e) = (1u8, a, b);
    while e > 0 {
        if e & 1 == 1 { r = r.wrapping_mul(base); }
        base = base.wrapping_mul(base);
        e >>= 1;
    }
    r
}
