//! Row-wise routines on contiguous rows: softmax / logSoftmax and layerNorm. Values are loaded as
//! f64 for the row statistics (as the JS kernels compute), so float32 results are within an ulp of
//! the float64 reference; rows are spread across threads when there is enough work.

use rayon::prelude::*;

use crate::pool::Real;

/// From this many elements rows are spread across threads: each element costs an exp or two, some
/// sixteen element visits' worth (see engine::PARALLEL_WORK).
pub const PARALLEL_ELEMENTS: usize = crate::engine::PARALLEL_WORK / 16;

/// Declares a function whose body is compiled once per ISA (as the generated kernels' loops are),
/// the copy for this CPU picked at each call, so a routine's row loops, written once, use the widest
/// vectors the CPU has.
macro_rules! per_isa {
    ($(#[$m:meta])* fn $name:ident<$T:ident: $B:path>($($a:ident: $t:ty),* $(,)?) $body:block) => {
        $(#[$m])*
        fn $name<$T: $B>($($a: $t),*) {
            #[inline(always)]
            fn imp<$T: $B>($($a: $t),*) $body
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2<$T: $B>($($a: $t),*) { imp($($a),*) }
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
            unsafe fn avx512<$T: $B>($($a: $t),*) { imp($($a),*) }
            // SAFETY: each copy runs only where engine::isa() detected its instruction set.
            match crate::engine::isa() {
                #[cfg(target_arch = "x86_64")]
                crate::engine::Isa::Avx512 => unsafe { avx512($($a),*) },
                #[cfg(target_arch = "x86_64")]
                crate::engine::Isa::Avx2 => unsafe { avx2($($a),*) },
                _ => imp($($a),*),
            }
        }
    };
}

/// Applies `f` to blocks of whole rows of `n`: across threads, about PARALLEL_ELEMENTS / 4
/// elements a block, when there is enough work; as one block otherwise.
fn rows_of<T: Real>(out: &mut [T], x: &[T], n: usize, f: impl Fn(&mut [T], &[T]) + Sync + Send) {
    if n == 0 { return; }
    if out.len() >= PARALLEL_ELEMENTS {
        let block = n * (PARALLEL_ELEMENTS / 4 / n).max(1);
        out.par_chunks_mut(block).zip(x.par_chunks(block)).for_each(|(o, r)| f(o, r));
    } else {
        f(out, x);
    }
}

/// Lanes a row's f64 sums are spread over, so the loops feeding them vectorise.
const LANES: usize = 8;

/// The lanes' total, added as a tree: three dependent adds in registers, where a left-to-right sum
/// made a chain of seven through memory, a latency each row paid up to five times (rows are short:
/// 64 elements in the small GPT).
#[inline(always)]
fn total(acc: [f64; LANES]) -> f64 {
    let a = [acc[0] + acc[4], acc[1] + acc[5], acc[2] + acc[6], acc[3] + acc[7]];
    (a[0] + a[2]) + (a[1] + a[3])
}

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
    total(acc)
}

/// Sum of u v over two rows of one length (f64 products).
#[inline(always)]
fn lane_dot<T: Real>(a: &[T], b: &[T]) -> f64 { lane_sums2(a, b, |u, v| u.to_f64() * v.to_f64(), |_, _| 0.0).0 }

/// Sums of f(u, v) and g(u, v) over two rows of one length, in one pass (two independent chains).
#[inline(always)]
fn lane_sums2<T: Copy, U: Copy>(a: &[T], b: &[U], f: impl Fn(T, U) -> f64, g: impl Fn(T, U) -> f64) -> (f64, f64) {
    let (mut p, mut q) = ([0.0f64; LANES], [0.0f64; LANES]);
    let n = a.len().min(b.len());
    let full = n - n % LANES;
    for (ca, cb) in a[..full].chunks_exact(LANES).zip(b[..full].chunks_exact(LANES)) {
        for k in 0..LANES { p[k] += f(ca[k], cb[k]); q[k] += g(ca[k], cb[k]); }
    }
    for k in full..n { p[k - full] += f(a[k], b[k]); q[k - full] += g(a[k], b[k]); }
    (total(p), total(q))
}

/// softmax (or logSoftmax) of each row of `n`, in f64: exp(x - max) / sum for softmax, x - max -
/// ln(sum) for logSoftmax, the sum taken as 1 (the first maximum's exp) plus the rest, so that
/// ln(sum) = ln_1p(rest) stays accurate when one entry dominates (logSoftmax near 0), whatever the
/// order of the rest's sum. NaN or +inf anywhere in a row, or a row of -inf, makes the row NaN, as PyTorch.
/// Each pass is a plain loop (sums in f64 lanes, no branches), so the exps vectorise.
pub fn softmax<T: Real>(out: &mut [T], x: &[T], n: usize, log: bool) {
    rows_of(out, x, n, |o, r| softmax_rows(o, r, n, log));
}

per_isa! {
fn softmax_rows<T: Real>(out: &mut [T], x: &[T], n: usize, log: bool) {
    for (o, r) in out.chunks_mut(n).zip(x.chunks(n)) {
        let (mut m, mut nan) = (f64::NEG_INFINITY, false);
        for &v in r {
            let v = v.to_f64();
            m = if v > m { v } else { m };
            nan |= v.is_nan();
        }
        // +inf anywhere makes x - max NaN at the maximum: a NaN row too, as PyTorch.
        if nan || m == f64::NEG_INFINITY || m == f64::INFINITY {
            o.fill(T::from_f64(f64::NAN));
            continue;
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
                // A chunk all -inf (a causal mask's end of a row, about half of a causal attention's
                // scores) is exp(-inf) = 0 throughout: stored without computing its exps.
                if rc.iter().all(|&v| v.to_f64() == f64::NEG_INFINITY) {
                    oc.fill(T::from_f64(0.0));
                    continue;
                }
                for k in 0..LANES { step(&mut acc[k], &mut oc[k], rc[k]); }
            }
            for k in full..n { step(&mut acc[k - full], &mut o[k], r[k]); }
            // (The sum's rounding is a relative error near 1e-16 here: no need to split off the 1.)
            let inv = 1.0 / total(acc);
            // The least nonzero result. Zeros need no second look: the sum is at least 1, so an exp
            // that rounded to 0 gives 0 scaled too (a causal mask's -inf entries are such zeros, and
            // counting them sent every masked row down the slow path below).
            let mut least = [f64::INFINITY; LANES];
            let scale = |l: &mut f64, y: &mut T| {
                let z = y.to_f64() * inv;
                *l = if z < *l && z != 0.0 { z } else { *l };
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
    }
}
}

/// softmax's (or logSoftmax's) gradient over each row of `n` from the forward's output y, in one pass
/// over the row as PyTorch's softmax_backward_data: gx = y (g - sum(g y)) for softmax,
/// gx = g - exp(y) sum(g) for logSoftmax (y <= 0 there), with the sum in f64 and one rounding per result.
pub fn softmax_backward<T: Real>(gx: &mut [T], grad: &[T], y: &[T], n: usize, log: bool) {
    if n == 0 { return; }
    if gx.len() >= PARALLEL_ELEMENTS {
        let block = n * (PARALLEL_ELEMENTS / 4 / n).max(1);
        gx.par_chunks_mut(block).zip(grad.par_chunks(block).zip(y.par_chunks(block))).for_each(|(o, (g, y))| softmax_backward_rows(o, g, y, n, log));
    } else {
        softmax_backward_rows(gx, grad, y, n, log);
    }
}

per_isa! {
fn softmax_backward_rows<T: Real>(gx: &mut [T], grad: &[T], y: &[T], n: usize, log: bool) {
    for ((o, g), y) in gx.chunks_mut(n).zip(grad.chunks(n)).zip(y.chunks(n)) {
        if log {
            let s = lane_sum(g, |v| v.to_f64());
            for ((o, &g), &y) in o.iter_mut().zip(g).zip(y) { *o = T::from_f64(g.to_f64() - T::exp_nonpositive(y.to_f64()) * s); }
        } else {
            let s = lane_dot(g, y);
            for ((o, &g), &y) in o.iter_mut().zip(g).zip(y) { *o = T::from_f64(y.to_f64() * (g.to_f64() - s)); }
        }
    }
}
}

/// (x - mean) / sqrt(var + eps) * weight + bias over each row of `n` (two-pass mean and variance).
pub fn layer_norm<T: Real>(out: &mut [T], x: &[T], weight: Option<&[T]>, bias: Option<&[T]>, n: usize, eps: f64) {
    rows_of(out, x, n, |o, r| layer_norm_rows(o, r, weight, bias, n, eps));
}

per_isa! {
fn layer_norm_rows<T: Real>(out: &mut [T], x: &[T], weight: Option<&[T]>, bias: Option<&[T]>, n: usize, eps: f64) {
    let inv_n = 1.0 / n as f64;
    for (o, r) in out.chunks_mut(n).zip(x.chunks(n)) {
        let mean = lane_sum(r, |v| v.to_f64()) * inv_n;
        let var = lane_sum(r, |v| { let d = v.to_f64() - mean; d * d }) * inv_n;
        let rstd = 1.0 / (var + eps).sqrt();
        // One rounding per result; the affine cases are separate loops so each vectorises.
        let z = |v: T| (v.to_f64() - mean) * rstd;
        match (weight, bias) {
            (Some(w), Some(b)) => for ((y, &v), (&w, &b)) in o.iter_mut().zip(r).zip(w.iter().zip(b)) { *y = T::from_f64(z(v) * w.to_f64() + b.to_f64()); },
            (Some(w), None) => for ((y, &v), &w) in o.iter_mut().zip(r).zip(w) { *y = T::from_f64(z(v) * w.to_f64()); },
            (None, Some(b)) => for ((y, &v), &b) in o.iter_mut().zip(r).zip(b) { *y = T::from_f64(z(v) + b.to_f64()); },
            (None, None) => for (y, &v) in o.iter_mut().zip(r) { *y = T::from_f64(z(v)); },
        }
    }
}
}

/// A raw row pointer rows of different tasks write through (never the same row twice).
#[derive(Clone, Copy)]
struct RowsOut<T>(*mut T);
unsafe impl<T> Send for RowsOut<T> {}
unsafe impl<T> Sync for RowsOut<T> {}

/// layerNorm's gradients over rows of `n` (contiguous), in one pass over each row as PyTorch's
/// layer_norm_backward: with xhat = (x - mean) rstd and gy = grad * weight,
/// gx = rstd (gy - mean(gy) - xhat mean(gy xhat)) per row, and gw = sum of grad * xhat, gb = sum of
/// grad over the rows. Each is overwritten when given. The row statistics are recomputed in f64 as
/// the forward pass computes them; the weight and bias sums are f64 partials per task, added after.
///
/// `after` (with gx): rows [r0, r1) of gx are passed to it as soon as a task has written them (a
/// fused epilogue runs over them while they are in cache); tasks then span multiples of `align` rows.
/// Its first error is returned.
#[allow(clippy::too_many_arguments)]
pub fn layer_norm_backward<T: Real>(gx: Option<&mut [T]>, gw: Option<&mut [T]>, gb: Option<&mut [T]>, grad: &[T], x: &[T], weight: Option<&[T]>, n: usize, eps: f64, after: Option<RowsDone>) -> Result<(), String> {
    if n == 0 { return Ok(()); }
    let rows = x.len() / n;
    let want_sums = gw.is_some() || gb.is_some();
    let gx_ptr = gx.map(|g| RowsOut(g.as_mut_ptr()));
    // Tasks of whole rows, about PARALLEL_ELEMENTS / 4 elements each when the work is large.
    let per_task = if x.len() >= PARALLEL_ELEMENTS { (PARALLEL_ELEMENTS / 4 / n).max(1) } else { rows.max(1) };
    let per_task = match after { Some((align, _)) => per_task.div_ceil(align) * align, None => per_task };
    let tasks = rows.div_ceil(per_task);
    let failed = std::sync::Mutex::new(None::<String>);
    let task = |t: usize| -> Vec<f64> {
        let mut sums = if want_sums { vec![0.0f64; 2 * n] } else { Vec::new() };
        let (r0, r1) = (t * per_task, ((t + 1) * per_task).min(rows));
        // SAFETY: rows [r0, r1) lie within gx (as long as x) and no other task writes them.
        let gx = gx_ptr.map(|p| unsafe { std::slice::from_raw_parts_mut(p.0.add(r0 * n), (r1 - r0) * n) });
        layer_norm_backward_rows(gx, &mut sums, &grad[r0 * n..r1 * n], &x[r0 * n..r1 * n], weight, n, eps);
        if let Some((_, done)) = after {
            if let Err(e) = done(r0, r1) { failed.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e); }
        }
        sums
    };
    let add = |mut a: Vec<f64>, b: Vec<f64>| { for (x, y) in a.iter_mut().zip(&b) { *x += y; } a };
    let sums = if tasks > 1 { (0..tasks).into_par_iter().map(task).reduce(Vec::new, |a, b| if a.is_empty() { b } else if b.is_empty() { a } else { add(a, b) }) }
        else { task(0) };
    if let Some(gw) = gw { for (o, &s) in gw.iter_mut().zip(&sums[..n]) { *o = T::from_f64(s); } }
    if let Some(gb) = gb { for (o, &s) in gb.iter_mut().zip(&sums[n..]) { *o = T::from_f64(s); } }
    match failed.into_inner().unwrap_or_else(|p| p.into_inner()) { Some(e) => Err(e), None => Ok(()) }
}

/// What a row routine calls as it completes rows [r0, r1) of its result (a fused epilogue), with the
/// multiple of rows its blocks must span.
pub type RowsDone<'a> = (usize, &'a (dyn Fn(usize, usize) -> Result<(), String> + Sync));

per_isa! {
// layer_norm_backward's rows of one task: gx rows when given, and the weight and bias sums
// (`sums`: n of each, added to) when it has room for them.
fn layer_norm_backward_rows<T: Real>(gx: Option<&mut [T]>, sums: &mut [f64], grad: &[T], x: &[T], weight: Option<&[T]>, n: usize, eps: f64) {
    // Per-row scratch, filled by plain loops so they vectorise.
    let (mut gy, mut xh) = (vec![0.0f64; n], vec![0.0f64; n]);
    let inv_n = 1.0 / n as f64;
    let mut gx = gx;
    for (r, (xr, gr)) in x.chunks(n).zip(grad.chunks(n)).enumerate() {
        let mean = lane_sum(xr, |v| v.to_f64()) * inv_n;
        let var = lane_sum(xr, |v| { let d = v.to_f64() - mean; d * d }) * inv_n;
        let rstd = 1.0 / (var + eps).sqrt();
        for (h, &v) in xh.iter_mut().zip(xr) { *h = (v.to_f64() - mean) * rstd; }
        match weight {
            Some(w) => for ((y, &f), &wv) in gy.iter_mut().zip(gr).zip(w) { *y = f.to_f64() * wv.to_f64(); },
            None => for (y, &f) in gy.iter_mut().zip(gr) { *y = f.to_f64(); },
        }
        let (sum_gy, sum_gyxh) = lane_sums2(&gy, &xh, |y, _| y, |y, h| y * h);
        let (mg, mgx) = (sum_gy * inv_n, sum_gyxh * inv_n);
        if sums.len() == 2 * n {
            let (sw, sb) = sums.split_at_mut(n);
            for ((s, &f), &h) in sw.iter_mut().zip(gr).zip(&xh) { *s += f.to_f64() * h; }
            for (s, &f) in sb.iter_mut().zip(gr) { *s += f.to_f64(); }
        }
        if let Some(out) = gx.as_deref_mut() {
            for ((o, &y), &h) in out[r * n..(r + 1) * n].iter_mut().zip(&gy).zip(&xh) { *o = T::from_f64(rstd * (y - mg - h * mgx)); }
        }
    }
}
}
