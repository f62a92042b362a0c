//! Row-wise routines on contiguous rows: softmax / logSoftmax and layerNorm. Values are loaded as
//! f64 for the row statistics (as the JS kernels compute), so float32 results are within an ulp of
//! the float64 reference; rows are spread across threads when there is enough work.

use rayon::prelude::*;

use crate::pool::Real;

/// From this many elements rows are spread across threads: each element costs an exp or two, some
/// sixteen element visits' worth (see engine::PARALLEL_WORK).
const PARALLEL_ELEMENTS: usize = crate::engine::PARALLEL_WORK / 16;

fn rows_of<T: Real>(out: &mut [T], x: &[T], n: usize, f: impl Fn(&mut [T], &[T]) + Sync + Send) {
    if n == 0 { return; }
    if out.len() >= PARALLEL_ELEMENTS {
        out.par_chunks_mut(n).zip(x.par_chunks(n)).for_each(|(o, r)| f(o, r));
    } else {
        out.chunks_mut(n).zip(x.chunks(n)).for_each(|(o, r)| f(o, r));
    }
}

/// Lanes a row's f64 sums are spread over, so the loops feeding them vectorise.
const LANES: usize = 8;

/// Sum of f(v) over a row, accumulated in LANES interleaved partial sums.
#[inline(always)]
fn lane_sum<T: Copy>(r: &[T], f: impl Fn(T) -> f64) -> f64 {
    let mut acc = [0.0f64; LANES];
    let chunks = r.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) { *a += f(v); }
    }
    for (a, &v) in acc.iter_mut().zip(tail) { *a += f(v); }
    acc.iter().sum()
}

/// softmax (or logSoftmax) of each row of `n`, in f64: exp(x - max) / sum for softmax, x - max -
/// ln(sum) for logSoftmax, the sum taken as 1 (the first maximum's exp) plus the rest, so that
/// ln(sum) = ln_1p(rest) stays accurate when one entry dominates (logSoftmax near 0), whatever the
/// order of the rest's sum. NaN or +inf anywhere in a row, or a row of -inf, makes the row NaN, as PyTorch.
/// Each pass is a plain loop (sums in f64 lanes, no branches), so the exps vectorise.
pub fn softmax<T: Real>(out: &mut [T], x: &[T], n: usize, log: bool) {
    rows_of(out, x, n, |o, r| {
        let (mut m, mut nan) = (f64::NEG_INFINITY, false);
        for &v in r {
            let v = v.to_f64();
            m = if v > m { v } else { m };
            nan |= v.is_nan();
        }
        // +inf anywhere makes x - max NaN at the maximum: a NaN row too, as PyTorch.
        if nan || m == f64::NEG_INFINITY || m == f64::INFINITY {
            o.fill(T::from_f64(f64::NAN));
            return;
        }
        if log {
            let at = r.iter().position(|v| v.to_f64() == m).unwrap_or(0);
            let e = |v: T| T::exp_nonpositive(v.to_f64() - m);
            let shift = m + (lane_sum(&r[..at], e) + lane_sum(&r[at + 1..], e)).ln_1p();
            for (y, &v) in o.iter_mut().zip(r) { *y = T::from_f64(v.to_f64() - shift); }
        } else {
            // Each exp once: stored (rounded to T) as the sum is taken, then scaled. For float32 that
            // is two roundings, within 1 ulp of the float64 reference (PyTorch's float softmax sums
            // and scales in float32), except where the result is subnormal and an ulp is a large
            // part of it: those few are recomputed and rounded once.
            let mut acc = [0.0f64; LANES];
            let step = |a: &mut f64, y: &mut T, v: T| {
                let e = T::exp_nonpositive(v.to_f64() - m);
                *y = T::from_f64(e);
                *a += e;
            };
            let full = n - n % LANES;
            for (oc, rc) in o[..full].chunks_exact_mut(LANES).zip(r[..full].chunks_exact(LANES)) {
                for k in 0..LANES { step(&mut acc[k], &mut oc[k], rc[k]); }
            }
            for k in full..n { step(&mut acc[k - full], &mut o[k], r[k]); }
            // (The sum's rounding is a relative error near 1e-16 here: no need to split off the 1.)
            let inv = 1.0 / acc.iter().sum::<f64>();
            let mut least = [f64::INFINITY; LANES];
            let scale = |l: &mut f64, y: &mut T| {
                let z = y.to_f64() * inv;
                *l = if z < *l { z } else { *l };
                *y = T::from_f64(z);
            };
            for oc in o[..full].chunks_exact_mut(LANES) {
                for k in 0..LANES { scale(&mut least[k], &mut oc[k]); }
            }
            for k in full..n { scale(&mut least[k - full], &mut o[k]); }
            if least.iter().any(|&l| l < T::MIN_NORMAL) {
                for (y, &v) in o.iter_mut().zip(r) {
                    if y.to_f64() < T::MIN_NORMAL { *y = T::from_f64(T::exp_nonpositive(v.to_f64() - m) * inv); }
                }
            }
        }
    });
}

/// (x - mean) / sqrt(var + eps) * weight + bias over each row of `n` (two-pass mean and variance).
pub fn layer_norm<T: Real>(out: &mut [T], x: &[T], weight: Option<&[T]>, bias: Option<&[T]>, n: usize, eps: f64) {
    rows_of(out, x, n, |o, r| {
        let mean = lane_sum(r, |v| v.to_f64()) / n as f64;
        let var = lane_sum(r, |v| { let d = v.to_f64() - mean; d * d }) / n as f64;
        let rstd = 1.0 / (var + eps).sqrt();
        for (i, (y, &v)) in o.iter_mut().zip(r).enumerate() {
            let mut z = (v.to_f64() - mean) * rstd;
            if let Some(w) = weight { z *= w[i].to_f64(); }
            if let Some(b) = bias { z += b[i].to_f64(); }
            *y = T::from_f64(z);
        }
    });
}
