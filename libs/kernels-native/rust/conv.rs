//! conv2d and its gradients as im2col + GEMM per group, with a batch of small feature maps folded
//! into one GEMM (their positions side by side), and the unfold/fold pair (im2col / col2im) that
//! conv2d's composed gradient (the differentiable one) is built from.

use rayon::prelude::*;

/// Convolution geometry, in the order the JS side packs it.
#[derive(Clone, Copy)]
pub struct Plan {
    pub n: usize, pub c: usize, pub h: usize, pub w: usize, pub o: usize, pub kh: usize, pub kw: usize,
    pub sh: usize, pub sw: usize, pub ph: usize, pub pw: usize, pub dh: usize, pub dw: usize,
    pub groups: usize, pub oh: usize, pub ow: usize,
}

impl Plan {
    /// The plan, if it is one: non-negative integers, strides, dilations and groups of at least 1,
    /// groups dividing both channel counts, and every buffer size it implies within 2^48 elements
    /// (so no size computation can wrap around and pass a bounds check).
    pub fn from(p: &[f64]) -> Option<Plan> {
        if p.len() != 16 || p.iter().any(|&v| !(0.0..=4294967295.0).contains(&v) || v.fract() != 0.0) { return None; }
        let u = |i: usize| p[i] as usize;
        let plan = Plan { n: u(0), c: u(1), h: u(2), w: u(3), o: u(4), kh: u(5), kw: u(6), sh: u(7), sw: u(8), ph: u(9), pw: u(10), dh: u(11), dw: u(12), groups: u(13), oh: u(14), ow: u(15) };
        let size = |dims: &[usize]| dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).is_some_and(|s| s < 1 << 48);
        let sane = plan.sh > 0 && plan.sw > 0 && plan.dh > 0 && plan.dw > 0 && plan.groups > 0 && plan.c % plan.groups == 0 && plan.o % plan.groups == 0
            && size(&[plan.n, plan.c, plan.h, plan.w]) && size(&[plan.n, plan.o, plan.oh, plan.ow]) && size(&[plan.o, plan.c, plan.kh, plan.kw])
            && size(&[plan.n, plan.c, plan.kh, plan.kw, plan.oh, plan.ow]) && size(&[plan.oh, plan.sh]) && size(&[plan.ow, plan.sw]) && size(&[plan.kh, plan.dh]) && size(&[plan.kw, plan.dw]);
        sane.then_some(plan)
    }
    pub fn image(&self) -> usize { self.c * self.h * self.w }
    pub fn cols(&self, channels: usize) -> usize { channels * self.kh * self.kw * self.oh * self.ow }
}

pub trait Float: Copy + Send + Sync + Default + std::ops::Add<Output = Self> + 'static {
    fn one() -> Self;
    /// Runs `f` on this thread's scratch buffer of `n` elements, kept between calls: fresh memory
    /// costs a page fault per 4 KiB, which for small convolutions is more than the arithmetic. Its
    /// contents are stale: callers write every element they read.
    fn with_scratch<R>(n: usize, f: impl FnOnce(&mut [Self]) -> R) -> R;
}

macro_rules! float_impl {
    ($t:ty, $scratch:ident) => {
        thread_local! { static $scratch: std::cell::RefCell<Vec<$t>> = const { std::cell::RefCell::new(Vec::new()) }; }
        impl Float for $t {
            fn one() -> Self { 1.0 }
            fn with_scratch<R>(n: usize, f: impl FnOnce(&mut [Self]) -> R) -> R {
                $scratch.with(|cell| match cell.try_borrow_mut() {
                    Ok(mut buf) => {
                        if buf.len() < n { buf.resize(n, 0.0); }
                        f(&mut buf[..n])
                    }
                    Err(_) => f(&mut vec![0.0; n]),
                })
            }
        }
    };
}
float_impl!(f32, SCRATCH_F32);
float_impl!(f64, SCRATCH_F64);

/// Where a column matrix keeps tap `t` (channel, ky, kx in order) of output position `q`:
/// `base + t * ts + q * qs`. Images folded into one GEMM sit side by side (`base` = image * positions).
#[derive(Clone, Copy)]
struct Cols { base: usize, ts: usize, qs: usize }

/// Output positions [lo, hi) along one axis whose input position o * stride + tap * dilation - pad
/// lies inside [0, n), for kernel tap `tap`.
#[inline(always)]
fn valid(n_out: usize, stride: usize, pad: usize, dilation: usize, n: usize, tap: usize) -> (usize, usize) {
    let shift = (tap * dilation) as isize - pad as isize; // input position of output position 0
    let ceil_div = |a: isize, b: isize| if a <= 0 { 0 } else { (a + b - 1) / b };
    let lo = (ceil_div(-shift, stride as isize) as usize).min(n_out);
    (lo, (ceil_div(n as isize - shift, stride as isize) as usize).clamp(lo, n_out))
}

/// Walks the column matrix of channels [c0, c0 + cn) one (tap, output row) at a time:
/// f(destination of the row's first position, input row start or None in the padding, valid output
/// columns [lo, hi), input column of `lo`). Row-wise, so interior rows are plain (strided) copies.
#[inline(always)]
fn for_each_row(p: &Plan, c0: usize, cn: usize, at: Cols, mut f: impl FnMut(usize, Option<usize>, usize, usize, usize)) {
    let mut t = 0;
    for ci in c0..c0 + cn {
        for u in 0..p.kh {
            for v in 0..p.kw {
                let (lo, hi) = valid(p.ow, p.sw, p.pw, p.dw, p.w, v);
                let z_lo = (lo * p.sw + v * p.dw).saturating_sub(p.pw);
                for i in 0..p.oh {
                    let y = (i * p.sh + u * p.dh) as isize - p.ph as isize;
                    let row = (y >= 0 && (y as usize) < p.h).then(|| (ci * p.h + y as usize) * p.w);
                    f(at.base + t * at.ts + i * p.ow * at.qs, row, lo, hi, z_lo);
                }
                t += 1;
            }
        }
    }
}

/// Patches of channels [c0, c0 + cn) of one image into `cols` at `at`, zero padded.
fn im2col<T: Float>(img: &[T], p: &Plan, c0: usize, cn: usize, cols: &mut [T], at: Cols) {
    if at.qs == 1 { return im2col_rows(img, p, c0, cn, cols, at); }
    let (qs, sw) = (at.qs, p.sw);
    for_each_row(p, c0, cn, at, |d, row, lo, hi, z| match row {
        None => (0..p.ow).for_each(|j| cols[d + j * qs] = T::default()),
        Some(r) => {
            (0..lo).chain(hi..p.ow).for_each(|j| cols[d + j * qs] = T::default());
            (lo..hi).for_each(|j| cols[d + j * qs] = img[r + z + (j - lo) * sw]);
        }
    });
}

/// im2col into the usual layout (each tap's positions contiguous): per tap, the rows and columns
/// that fall in the padding are found once, and each output row is a zero-filled margin around a
/// (strided) copy of an input row. Small feature maps make the per-row work the whole cost.
fn im2col_rows<T: Float>(img: &[T], p: &Plan, c0: usize, cn: usize, cols: &mut [T], at: Cols) {
    let (oh, ow) = (p.oh, p.ow);
    let mut t = 0;
    for ci in c0..c0 + cn {
        let plane = &img[ci * p.h * p.w..(ci + 1) * p.h * p.w];
        for u in 0..p.kh {
            let (ilo, ihi) = valid(oh, p.sh, p.ph, p.dh, p.h, u);
            for v in 0..p.kw {
                let (lo, hi) = valid(ow, p.sw, p.pw, p.dw, p.w, v);
                let dst = &mut cols[at.base + t * at.ts..][..oh * ow];
                dst[..ilo * ow].fill(T::default());
                dst[ihi * ow..].fill(T::default());
                if hi > lo {
                    let z = lo * p.sw + v * p.dw - p.pw;
                    // The last input element any row reads lies inside the plane (ilo..ihi and lo..hi
                    // were clipped to it): checked once here, then rows copy through raw pointers,
                    // since a 4-wide row's bounds checks and memcpy calls cost more than its copy.
                    if ihi > ilo {
                        let last = ((ihi - 1) * p.sh + u * p.dh - p.ph) * p.w + z + (hi - 1 - lo) * p.sw;
                        assert!(last < plane.len());
                    }
                    for i in ilo..ihi {
                        let y = i * p.sh + u * p.dh - p.ph;
                        let d = &mut dst[i * ow..(i + 1) * ow];
                        for o in &mut d[..lo] { *o = T::default(); }
                        for o in &mut d[hi..] { *o = T::default(); }
                        let src = unsafe { plane.as_ptr().add(y * p.w + z) };
                        for (k, o) in d[lo..hi].iter_mut().enumerate() { *o = unsafe { *src.add(k * p.sw) }; }
                    }
                } else {
                    dst.fill(T::default());
                }
                t += 1;
            }
        }
    }
}

/// Adds columns of channels [c0, c0 + cn) back onto one image's planes (the adjoint of im2col).
fn col2im<T: Float>(cols: &[T], p: &Plan, c0: usize, cn: usize, img: &mut [T], at: Cols) {
    let (qs, sw) = (at.qs, p.sw);
    for_each_row(p, c0, cn, at, |d, row, lo, hi, z| {
        if let Some(r) = row {
            (lo..hi).for_each(|j| { let s = r + z + (j - lo) * sw; img[s] = img[s] + cols[d + j * qs]; });
        }
    });
}

/// dst[m, n] = lhs[m, k] x rhs[k, n] (plus dst when `accumulate`); strides are (row, column) pairs.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_into<T: Float>(m: usize, n: usize, k: usize, dst: *mut T, dst_s: (usize, usize), accumulate: bool, lhs: *const T, lhs_s: (usize, usize), rhs: *const T, rhs_s: (usize, usize)) {
    let par = if m * n * k >= crate::engine::PARALLEL_MACS { gemm::Parallelism::Rayon(rayon::current_num_threads()) } else { gemm::Parallelism::None };
    gemm::gemm::<T>(
        m, n, k, dst, dst_s.1 as isize, dst_s.0 as isize, accumulate,
        lhs, lhs_s.1 as isize, lhs_s.0 as isize, rhs, rhs_s.1 as isize, rhs_s.0 as isize,
        T::one(), T::one(), false, false, false, par,
    );
}

/// Images per GEMM. Small feature maps make a per-image GEMM mostly call overhead (the digits CNN's
/// 4x4 maps give n = 16), so images are folded until the GEMM is ~1024 positions wide, as long as
/// their columns stay under ~1M elements.
fn images_per_gemm(p: &Plan, taps: usize) -> usize {
    let hw = (p.oh * p.ow).max(1);
    (1024 / hw).min((1 << 20) / (taps * hw).max(1)).clamp(1, p.n.max(1))
}

/// Runs `f(chunk index, chunk of out)` over chunks of `per` elements, across threads when `macs`
/// (multiply-adds, or copied elements) pay for waking the pool (see engine::PARALLEL_WORK).
fn per_chunk<T: Send>(out: &mut [T], per: usize, macs: usize, f: impl Fn((usize, &mut [T])) + Sync + Send) {
    if per == 0 { return; }
    if macs >= crate::engine::PARALLEL_MACS && out.len() > per { out.par_chunks_mut(per).enumerate().for_each(f) } else { out.chunks_mut(per).enumerate().for_each(f) }
}

/// Geometry shared by the conv2d kernels: per-group channel counts and the GEMM's inner size.
struct Shape { cg: usize, og: usize, taps: usize, hw: usize, nb: usize }
impl Shape {
    fn of(p: &Plan) -> Shape {
        let (cg, og) = (p.c / p.groups, p.o / p.groups);
        let taps = cg * p.kh * p.kw;
        Shape { cg, og, taps, hw: p.oh * p.ow, nb: images_per_gemm(p, taps) }
    }
}

/// out[N, O, OH, OW] = conv(x[N, C, H, W], w[O, C/groups, kh, kw]) + bias; all contiguous.
pub fn conv2d<T: Float>(x: &[T], wt: &[T], bias: Option<&[T]>, out: &mut [T], p: &Plan) {
    let Shape { cg, og, taps, hw, nb } = Shape::of(p);
    per_chunk(out, nb * p.o * hw, p.n * p.o * hw * taps, |(chunk, out)| {
        let (b0, nb) = (chunk * nb, out.len() / (p.o * hw));
        let width = nb * hw;
        let folded = nb > 1;
        T::with_scratch(taps * width + if folded { og * width } else { 0 }, |s| {
            let (cols, tmp) = s.split_at_mut(taps * width);
            for g in 0..p.groups {
                for j in 0..nb {
                    im2col(&x[(b0 + j) * p.image()..], p, g * cg, cg, cols, Cols { base: j * hw, ts: width, qs: 1 });
                }
                let w = wt[g * og * taps..].as_ptr();
                if folded {
                    // tmp[og, nb * hw] = W_g x cols, then each image's rows to its place in out, plus bias.
                    unsafe { gemm_into(og, width, taps, tmp.as_mut_ptr(), (width, 1), false, w, (taps, 1), cols.as_ptr(), (width, 1)) };
                    for j in 0..nb {
                        for o in 0..og {
                            let b = bias.map_or(T::default(), |b| b[g * og + o]);
                            let dst = &mut out[(j * p.o + g * og + o) * hw..][..hw];
                            for (d, &v) in dst.iter_mut().zip(&tmp[o * width + j * hw..][..hw]) { *d = v + b; }
                        }
                    }
                } else {
                    let dst = &mut out[g * og * hw..(g + 1) * og * hw];
                    if let Some(bias) = bias {
                        for o in 0..og { dst[o * hw..(o + 1) * hw].fill(bias[g * og + o]); }
                    }
                    unsafe { gemm_into(og, hw, taps, dst.as_mut_ptr(), (hw, 1), bias.is_some(), w, (taps, 1), cols.as_ptr(), (hw, 1)) };
                }
            }
        });
    });
}

/// Copies group `g`'s output gradient of images [b0, b0 + nb) side by side: gs[og, nb * hw].
fn gather_grad<T: Float>(grad: &[T], p: &Plan, sh: &Shape, g: usize, b0: usize, nb: usize, gs: &mut [T]) {
    let (og, hw, width) = (sh.og, sh.hw, nb * sh.hw);
    for j in 0..nb {
        for o in 0..og {
            gs[o * width + j * hw..][..hw].copy_from_slice(&grad[((b0 + j) * p.o + g * og + o) * hw..][..hw]);
        }
    }
}

/// conv2d's gradients from grad[N, O, OH, OW] (all contiguous): gx[N, C, H, W] = the transposed
/// convolution of grad with w, and gw[O, C/groups, kh, kw] = grad correlated with x's patches,
/// summed over the batch. Either may be skipped; each is overwritten.
pub fn conv2d_backward<T: Float>(grad: &[T], x: &[T], wt: &[T], gx: Option<&mut [T]>, gw: Option<&mut [T]>, p: &Plan) {
    let sh = Shape::of(p);
    let Shape { cg, og, taps, hw, nb } = sh;
    if let Some(gx) = gx {
        // Per group: cols[taps, nb * hw] = W_g^T x grad_g, then col2im onto each image.
        per_chunk(gx, nb * p.image(), p.n * p.o * hw * taps, |(chunk, gx)| {
            let (b0, nb) = (chunk * nb, gx.len() / p.image());
            let width = nb * hw;
            gx.fill(T::default());
            T::with_scratch((taps + og) * width, |s| {
                let (cols, gs) = s.split_at_mut(taps * width);
                for g in 0..p.groups {
                    gather_grad(grad, p, &sh, g, b0, nb, gs);
                    unsafe { gemm_into(taps, width, og, cols.as_mut_ptr(), (width, 1), false, wt[g * og * taps..].as_ptr(), (1, taps), gs.as_ptr(), (width, 1)) };
                    for j in 0..nb {
                        col2im(cols, p, g * cg, cg, &mut gx[j * p.image()..(j + 1) * p.image()], Cols { base: j * hw, ts: width, qs: 1 });
                    }
                }
            });
        });
    }
    if let Some(gw) = gw {
        // Per group, summed over chunks of images: gw_g[og, taps] += grad_g[og, nb * hw] x colsT[nb * hw, taps].
        // The patches are laid out one row per position: the GEMM is slow with a column-major right
        // operand (measured 3x on these shapes), and cheaper to feed than to transpose afterwards.
        if p.n == 0 || hw == 0 { gw.fill(T::default()); return; }
        for (chunk, b0) in (0..p.n).step_by(nb).enumerate() {
            let nb = nb.min(p.n - b0);
            let width = nb * hw;
            T::with_scratch((taps + og) * width, |s| {
                let (cols, gs) = s.split_at_mut(taps * width);
                for g in 0..p.groups {
                    gather_grad(grad, p, &sh, g, b0, nb, gs);
                    for j in 0..nb {
                        im2col(&x[(b0 + j) * p.image()..], p, g * cg, cg, cols, Cols { base: j * hw * taps, ts: 1, qs: taps });
                    }
                    unsafe { gemm_into(og, taps, width, gw[g * og * taps..].as_mut_ptr(), (taps, 1), chunk > 0, gs.as_ptr(), (width, 1), cols.as_ptr(), (taps, 1)) };
                }
            });
        }
    }
}

/// out[N, C*kh*kw, L] = patches of x[N, C, H, W].
pub fn unfold<T: Float>(x: &[T], out: &mut [T], p: &Plan) {
    let (per, hw) = (p.cols(p.c), p.oh * p.ow);
    per_chunk(out, per, p.n * per, |(b, o)| im2col(&x[b * p.image()..(b + 1) * p.image()], p, 0, p.c, o, Cols { base: 0, ts: hw, qs: 1 }));
}

/// out[N, C, H, W] = sum of cols[N, C*kh*kw, L] at their positions.
pub fn fold<T: Float>(cols: &[T], out: &mut [T], p: &Plan) {
    let (per, hw) = (p.cols(p.c), p.oh * p.ow);
    per_chunk(out, p.image(), p.n * per, |(b, o)| {
        o.fill(T::default());
        col2im(&cols[b * per..(b + 1) * per], p, 0, p.c, o, Cols { base: 0, ts: hw, qs: 1 });
    });
}
