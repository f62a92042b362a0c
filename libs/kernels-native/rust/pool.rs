//! Pooling (max with first-maximum indices, average) and the scatter-add that max pooling's backward
//! uses, on contiguous float32/float64 planes. Planes are spread across threads when there is enough
//! work to pay for it.

use rayon::prelude::*;

/// Pooling geometry, in the order the JS side packs it.
#[derive(Clone, Copy)]
pub struct Plan {
    pub planes: usize, pub h: usize, pub w: usize, pub kh: usize, pub kw: usize,
    pub sh: usize, pub sw: usize, pub ph: usize, pub pw: usize, pub dh: usize, pub dw: usize,
    pub oh: usize, pub ow: usize,
}

impl Plan {
    pub fn from(p: &[f64]) -> Option<Plan> {
        if p.len() != 13 || p.iter().any(|&v| !(v >= 0.0) || v.fract() != 0.0) { return None; }
        let u = |i: usize| p[i] as usize;
        let plan = Plan { planes: u(0), h: u(1), w: u(2), kh: u(3), kw: u(4), sh: u(5), sw: u(6), ph: u(7), pw: u(8), dh: u(9), dw: u(10), oh: u(11), ow: u(12) };
        (plan.sh > 0 && plan.sw > 0).then_some(plan)
    }
}

pub trait Real: Copy + Send + Sync + 'static {
    fn to_f64(self) -> f64;
    fn from_f64(v: f64) -> Self;
    /// e^x for x <= 0, in f64, accurate enough for a result of this type (softmax's exps).
    fn exp_nonpositive(x: f64) -> f64;
    /// The smallest normal value, as f64: below it results lose precision (subnormals).
    const MIN_NORMAL: f64;
}
impl Real for f32 {
    #[inline(always)]
    fn to_f64(self) -> f64 { self as f64 }
    #[inline(always)]
    fn from_f64(v: f64) -> Self { v as f32 }
    #[inline(always)]
    fn exp_nonpositive(x: f64) -> f64 { crate::math::exp_nonpositive_f64(x) }
    const MIN_NORMAL: f64 = f32::MIN_POSITIVE as f64;
}
impl Real for f64 {
    #[inline(always)]
    fn to_f64(self) -> f64 { self }
    #[inline(always)]
    fn from_f64(v: f64) -> Self { v }
    #[inline(always)]
    fn exp_nonpositive(x: f64) -> f64 { x.exp() }
    const MIN_NORMAL: f64 = f64::MIN_POSITIVE;
}

/// From this many window taps (element visits) a call is split across threads (see engine::PARALLEL_WORK).
const PARALLEL_TAPS: usize = crate::engine::PARALLEL_WORK;

/// Taps u in [0, k) whose position start + u * d lies in [0, n): the part of a window inside the plane.
#[inline(always)]
fn inside(start: isize, k: usize, d: usize, n: usize) -> std::ops::Range<usize> {
    let ceil_div = |a: isize, b: usize| if a <= 0 { 0 } else { (a as usize).div_ceil(b) };
    let lo = ceil_div(-start, d).min(k);
    lo..ceil_div(n as isize - start, d).clamp(lo, k)
}

/// The windows along one axis: for each output position, its first input position (may be
/// negative: padding) and the taps that fall inside the plane. Computed once per call, not per output.
fn windows(n_out: usize, stride: usize, pad: usize, k: usize, d: usize, n_in: usize) -> Vec<(isize, std::ops::Range<usize>)> {
    (0..n_out).map(|i| { let s = (i * stride) as isize - pad as isize; (s, inside(s, k, d, n_in)) }).collect()
}

/// One plane: each output's window maximum (the first one, NaN counting as largest) and its flat
/// position in the plane (-inf and -1 for a window wholly in the padding).
fn max_plane<T: Real + PartialOrd>(x: &[T], out: &mut [T], mut idx: Option<&mut [i64]>, p: &Plan, rows: &[(isize, std::ops::Range<usize>)], cols: &[(isize, std::ops::Range<usize>)]) {
    for (i, (y0, us)) in rows.iter().enumerate() {
        for (j, (z0, vs)) in cols.iter().enumerate() {
            let (mut best, mut at) = (T::from_f64(f64::NEG_INFINITY), -1i64);
            for u in us.clone() {
                let row = (y0 + (u * p.dh) as isize) as usize * p.w;
                for v in vs.clone() {
                    let pos = row + (z0 + (v * p.dw) as isize) as usize;
                    let val = x[pos];
                    // Selects, not jumps (see max_plane_2x2).
                    #[allow(clippy::eq_op)]
                    let take = (at < 0) | (val > best) | ((val != val) & (best == best));
                    best = if take { val } else { best };
                    at = if take { pos as i64 } else { at };
                }
            }
            let o = i * p.ow + j;
            out[o] = best;
            if let Some(ix) = idx.as_deref_mut() { ix[o] = at; }
        }
    }
}

/// One plane: each output's window average (f64 accumulation, as the JS kernels), divided by the
/// window's size clipped to the padded plane, or by its count of real elements.
fn avg_plane<T: Real>(x: &[T], out: &mut [T], p: &Plan, count_include_pad: bool, rows: &[(isize, std::ops::Range<usize>)], cols: &[(isize, std::ops::Range<usize>)]) {
    for (i, (y0, us)) in rows.iter().enumerate() {
        for (j, (z0, vs)) in cols.iter().enumerate() {
            let mut acc = 0.0;
            for u in us.clone() {
                let row = (y0 + (u * p.dh) as isize) as usize * p.w;
                for v in vs.clone() { acc += x[row + (z0 + (v * p.dw) as isize) as usize].to_f64(); }
            }
            let divisor = if count_include_pad {
                let y1 = (y0 + p.kh as isize).min((p.h + p.ph) as isize);
                let z1 = (z0 + p.kw as isize).min((p.w + p.pw) as isize);
                ((y1 - y0) * (z1 - z0)) as f64
            } else {
                (us.len() * vs.len()) as f64
            };
            out[i * p.ow + j] = T::from_f64(acc / divisor);
        }
    }
}

/// The ubiquitous 2x2, stride 2, unpadded max pooling (every window whole), with the general
/// kernel's first-maximum and NaN rules. Branch-free: a window's winner is picked by selects, not
/// jumps, since which of four activations is largest is a coin toss the branch predictor loses
/// (the digits CNN's first pooling took ~3x longer on fresh activations than on repeated ones).
fn max_plane_2x2<T: Real + PartialOrd>(x: &[T], out: &mut [T], idx: Option<&mut [i64]>, p: &Plan) {
    let (w, oh, ow) = (p.w, p.oh, p.ow);
    assert!(2 * ow <= w && 2 * oh * w <= x.len() && oh * ow <= out.len() && idx.as_ref().is_none_or(|ix| oh * ow <= ix.len()));
    // v takes over from best where it is larger, or NaN where best is not (non-short-circuit: no jumps).
    #[allow(clippy::eq_op)]
    let better = |v: T, best: T| (v > best) | ((v != v) & (best == best));
    // Each window's maximum and its position relative to its top-left element (0, 1, w or w + 1).
    let window = |top: &[T], bottom: &[T]| -> (T, usize) {
        let (mut best, mut at) = (top[0], 0);
        for (v, pos) in [(top[1], 1), (bottom[0], w), (bottom[1], w + 1)] {
            let take = better(v, best);
            best = if take { v } else { best };
            at = if take { pos } else { at };
        }
        (best, at)
    };
    let mut idx = idx;
    for i in 0..oh {
        let (top, bottom) = (&x[2 * i * w..][..2 * ow], &x[(2 * i + 1) * w..][..2 * ow]);
        let os = &mut out[i * ow..][..ow];
        let pairs = top.chunks_exact(2).zip(bottom.chunks_exact(2));
        match idx.as_deref_mut() {
            Some(ix) => {
                let first = (2 * i * w) as i64;
                for (((t, b), o), (j, ix)) in pairs.zip(os.iter_mut()).zip(ix[i * ow..][..ow].iter_mut().enumerate()) {
                    let (v, at) = window(t, b);
                    *o = v;
                    *ix = first + 2 * j as i64 + at as i64;
                }
            }
            None => for ((t, b), o) in pairs.zip(os.iter_mut()) { *o = window(t, b).0; },
        }
    }
}

pub fn pool2d<T: Real + PartialOrd>(x: &[T], out: &mut [T], idx: Option<&mut [i64]>, p: &Plan, max: bool, count_include_pad: bool) {
    let (hw, l) = (p.h * p.w, p.oh * p.ow);
    if hw == 0 || l == 0 { return; }
    let rows = windows(p.oh, p.sh, p.ph, p.kh, p.dh, p.h);
    let cols = windows(p.ow, p.sw, p.pw, p.kw, p.dw, p.w);
    let (rows, cols) = (&rows[..], &cols[..]);
    let whole_2x2 = (p.kh, p.kw, p.sh, p.sw, p.ph, p.pw, p.dh, p.dw) == (2, 2, 2, 2, 0, 0, 1, 1) && 2 * p.oh <= p.h && 2 * p.ow <= p.w;
    let plane = |xs: &[T], os: &mut [T], is: Option<&mut [i64]>| match (max, whole_2x2) {
        (true, true) => max_plane_2x2(xs, os, is, p),
        (true, false) => max_plane(xs, os, is, p, rows, cols),
        (false, _) => avg_plane(xs, os, p, count_include_pad, rows, cols),
    };
    let parallel = p.planes * l * p.kh * p.kw >= PARALLEL_TAPS;
    match idx {
        Some(ix) if parallel => x.par_chunks(hw).zip(out.par_chunks_mut(l)).zip(ix.par_chunks_mut(l)).for_each(|((xs, os), is)| plane(xs, os, Some(is))),
        Some(ix) => x.chunks(hw).zip(out.chunks_mut(l)).zip(ix.chunks_mut(l)).for_each(|((xs, os), is)| plane(xs, os, Some(is))),
        None if parallel => x.par_chunks(hw).zip(out.par_chunks_mut(l)).for_each(|(xs, os)| plane(xs, os, None)),
        None => x.chunks(hw).zip(out.chunks_mut(l)).for_each(|(xs, os)| plane(xs, os, None)),
    }
}

/// Max pooling's input gradient, one plane at a time (zeroed, then each window's gradient added at
/// its maximum, so the plane stays in cache): gx planes of `hw`, grad and indices planes of `l`.
/// A negative index (a window wholly in the padding, whose -inf output took no input) sends its
/// gradient nowhere; one past the plane is an error.
pub fn max_pool_backward<T: Real + std::ops::Add<Output = T> + Default>(gx: &mut [T], grad: &[T], idx: &[i64], hw: usize, l: usize) -> Result<(), String> {
    if hw == 0 { return Ok(()); }
    let plane = |(dst, (gs, is)): (&mut [T], (&[T], &[i64]))| -> Result<(), String> {
        dst.fill(T::default());
        for (&g, &i) in gs.iter().zip(is) {
            if i < 0 { continue; }
            let d = dst.get_mut(i as usize).ok_or_else(|| format!("index {i} is outside a plane of {hw} elements"))?;
            *d = *d + g;
        }
        Ok(())
    };
    if l == 0 { gx.fill(T::default()); return Ok(()); }
    if gx.len() / hw * l >= PARALLEL_TAPS {
        gx.par_chunks_mut(hw).zip(grad.par_chunks(l).zip(idx.par_chunks(l))).try_for_each(plane)
    } else {
        gx.chunks_mut(hw).zip(grad.chunks(l).zip(idx.chunks(l))).try_for_each(plane)
    }
}

/// The index of each of `index`'s entries, checked against `size` (the length of dim 0) before
/// anything is read or written through it.
fn checked_rows<I: Copy + Into<i64>>(index: &[I], size: usize) -> Result<(), String> {
    match index.iter().map(|&i| i.into()).find(|&i| i < 0 || i >= size as i64) {
        Some(bad) => Err(format!("index {bad} is out of bounds for dim 0 with size {size}")),
        None => Ok(()),
    }
}

/// Rows of x [size, row] picked by `index` into out [index.len(), row] (indexSelect and embedding
/// along dim 0), as bytes: any dtype. Every index is checked before anything is written.
pub fn index_rows<I: Copy + Into<i64>>(out: &mut [u8], x: &[u8], index: &[I], row: usize, size: usize) -> Result<(), String> {
    checked_rows(index, size)?;
    if row == 0 { return Ok(()); }
    for (o, &i) in out.chunks_exact_mut(row).zip(index) {
        let at = i.into() as usize * row;
        o.copy_from_slice(&x[at..at + row]);
    }
    Ok(())
}

/// out[r, j] = x[r, index[r, j]] over rows of x of `n` and of index and out of `k` (torch.gather
/// along the last dim, as cross-entropy picks each row's target). Every index is checked first;
/// `dim` is the last dim's number, for the error.
pub fn gather_rows<T: Copy>(out: &mut [T], x: &[T], index: &[i64], n: usize, k: usize, dim: usize) -> Result<(), String> {
    if let Some(&bad) = index.iter().find(|&&i| i < 0 || i >= n as i64) {
        return Err(format!("index {bad} is out of bounds for dim {dim} with size {n}"));
    }
    if k == 0 || n == 0 { return Ok(()); }
    for ((o, is), xr) in out.chunks_exact_mut(k).zip(index.chunks_exact(k)).zip(x.chunks_exact(n)) {
        for (o, &i) in o.iter_mut().zip(is) { *o = xr[i as usize]; }
    }
    Ok(())
}

/// out[index[r], :] += src[r, :] for each row r of `row` elements (an index_add along dim 0, as the
/// gradients of indexSelect and embedding scatter), rows in order so repeated indices add up as the
/// JS kernel adds them, each sum rounded once. Every index is checked before anything is written.
pub fn index_add_rows<T: Real>(out: &mut [T], index: &[i64], src: &[T], row: usize, size: usize) -> Result<(), String> {
    checked_rows(index, size)?;
    if row == 0 { return Ok(()); }
    for (&i, s) in index.iter().zip(src.chunks_exact(row)) {
        let o = &mut out[i as usize * row..][..row];
        for (o, &s) in o.iter_mut().zip(s) { *o = T::from_f64(o.to_f64() + s.to_f64()); }
    }
    Ok(())
}

/// out[r, index[r, j]] += src[r, j] for rows of `n` (out) and `k` (index, src) elements. An index
/// outside [0, n) (negative ones included, as PyTorch) is an error naming it, and nothing is
/// written (all indices are checked first).
pub fn scatter_add_rows<T: Real>(out: &mut [T], index: &[i64], src: &[T], n: usize, k: usize) -> Result<(), String> {
    if let Some(&bad) = index.iter().find(|&&i| i < 0 || i >= n as i64) {
        return Err(format!("index {bad} is out of bounds for dim 1 with size {n}"));
    }
    if n == 0 || k == 0 { return Ok(()); }
    let row = |(os, (is, ss)): (&mut [T], (&[i64], &[T]))| {
        for (&i, &s) in is.iter().zip(ss) {
            let t = i as usize;
            os[t] = T::from_f64(os[t].to_f64() + s.to_f64());
        }
    };
    if out.len() / n * k >= PARALLEL_TAPS {
        out.par_chunks_mut(n).zip(index.par_chunks(k).zip(src.par_chunks(k))).for_each(row);
    } else {
        out.chunks_mut(n).zip(index.chunks(k).zip(src.chunks(k))).for_each(row);
    }
    Ok(())
}
