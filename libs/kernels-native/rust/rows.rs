//! Row-wise routines on contiguous rows: softmax / logSoftmax and layerNorm. Values are loaded as
//! f64 for the row statistics (as the JS kernels compute), so float32 results round once; rows are
//! spread across threads when there is enough work.

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

/// softmax (or logSoftmax) of each row of `n`: NaN anywhere in a row makes the row NaN; a row of
/// -inf gives NaN (exp(-inf - 0) sums to 0), as PyTorch.
pub fn softmax<T: Real>(out: &mut [T], x: &[T], n: usize, log: bool) {
    rows_of(out, x, n, |o, r| {
        let mut m = f64::NEG_INFINITY;
        for &v in r { let v = v.to_f64(); if v > m || v.is_nan() { m = v; } if m.is_nan() { break; } }
        if m == f64::NEG_INFINITY { m = 0.0; }
        let s: f64 = r.iter().map(|&v| (v.to_f64() - m).exp()).sum();
        let lse = m + s.ln();
        for (y, &v) in o.iter_mut().zip(r) {
            let d = v.to_f64() - lse;
            *y = T::from_f64(if log { d } else { d.exp() });
        }
    });
}

/// (x - mean) / sqrt(var + eps) * weight + bias over each row of `n` (two-pass mean and variance).
pub fn layer_norm<T: Real>(out: &mut [T], x: &[T], weight: Option<&[T]>, bias: Option<&[T]>, n: usize, eps: f64) {
    rows_of(out, x, n, |o, r| {
        let mean = r.iter().map(|v| v.to_f64()).sum::<f64>() / n as f64;
        let var = r.iter().map(|v| { let d = v.to_f64() - mean; d * d }).sum::<f64>() / n as f64;
        let rstd = 1.0 / (var + eps).sqrt();
        for (i, (y, &v)) in o.iter_mut().zip(r).enumerate() {
            let mut z = (v.to_f64() - mean) * rstd;
            if let Some(w) = weight { z *= w[i].to_f64(); }
            if let Some(b) = bias { z += b[i].to_f64(); }
            *y = T::from_f64(z);
        }
    });
}
