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
    /// groups dividing both channel counts, windows inside the padded input, and every buffer size
    /// it implies within 2^48 elements (so no size computation can wrap around and pass a bounds check).
    pub fn from(p: &[f64]) -> Option<Plan> {
        if p.len() != 16 || p.iter().any(|&v| !(0.0..=4294967295.0).contains(&v) || v.fract() != 0.0) { return None; }
        let u = |i: usize| p[i] as usize;
        let plan = Plan { n: u(0), c: u(1), h: u(2), w: u(3), o: u(4), kh: u(5), kw: u(6), sh: u(7), sw: u(8), ph: u(9), pw: u(10), dh: u(11), dw: u(12), groups: u(13), oh: u(14), ow: u(15) };
        let size = |dims: &[usize]| dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).is_some_and(|s| s < 1 << 48);
        let sane = plan.sh > 0 && plan.sw > 0 && plan.dh > 0 && plan.dw > 0 && plan.groups > 0 && plan.c % plan.groups == 0 && plan.o % plan.groups == 0
            && size(&[plan.n, plan.c, plan.h, plan.w]) && size(&[plan.n, plan.o, plan.oh, plan.ow]) && size(&[plan.o, plan.c, plan.kh, plan.kw])
            && size(&[plan.n, plan.c, plan.kh, plan.kw, plan.oh, plan.ow]) && size(&[plan.oh, plan.sh]) && size(&[plan.ow, plan.sw]) && size(&[plan.kh, plan.dh]) && size(&[plan.kw, plan.dw])
            && size(&[plan.h + 2 * plan.ph, plan.w + 2 * plan.pw]);
        // Every window lies inside the padded input (as the output size formula makes it): the
        // im2col family reads padded planes without clipping.
        let fits = |o: usize, s: usize, k: usize, d: usize, n: usize| o == 0 || k == 0 || (o - 1) * s + (k - 1) * d < n;
        let fits = fits(plan.oh, plan.sh, plan.kh, plan.dh, plan.h + 2 * plan.ph) && fits(plan.ow, plan.sw, plan.kw, plan.dw, plan.w + 2 * plan.pw);
        (sane && fits).then_some(plan)
    }
    pub fn image(&self) -> usize { self.c * self.h * self.w }
    pub fn cols(&self, channels: usize) -> usize { channels * self.kh * self.kw * self.oh * self.ow }
}

pub trait Float: Copy + Send + Sync + Default + std::ops::Add<Output = Self> + 'static {
    fn one() -> Self;
    fn to_f64(self) -> f64;
    fn from_f64(v: f64) -> Self;
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
            fn to_f64(self) -> f64 { self as f64 }
            fn from_f64(v: f64) -> Self { v as $t }
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

/// Calls `$f::<W>($args)` with the runtime width `$n` as a const generic `W` for widths up to 16
/// (a row copy then compiles to one or two vector moves instead of a memcpy call, which for the
/// 4- and 8-wide rows of small feature maps cost more than the copy), and `W = 0` (the width read
/// at run time) past that.
macro_rules! with_width {
    ($n:expr, $f:ident::<$t:ty>($($arg:expr),*)) => {
        match $n {
            1 => $f::<$t, 1>($($arg),*), 2 => $f::<$t, 2>($($arg),*), 3 => $f::<$t, 3>($($arg),*), 4 => $f::<$t, 4>($($arg),*),
            5 => $f::<$t, 5>($($arg),*), 6 => $f::<$t, 6>($($arg),*), 7 => $f::<$t, 7>($($arg),*), 8 => $f::<$t, 8>($($arg),*),
            9 => $f::<$t, 9>($($arg),*), 10 => $f::<$t, 10>($($arg),*), 11 => $f::<$t, 11>($($arg),*), 12 => $f::<$t, 12>($($arg),*),
            13 => $f::<$t, 13>($($arg),*), 14 => $f::<$t, 14>($($arg),*), 15 => $f::<$t, 15>($($arg),*), 16 => $f::<$t, 16>($($arg),*),
            _ => $f::<$t, 0>($($arg),*),
        }
    };
}

/// `n` elements from `src` (`stride` apart) to `dst` (contiguous); `W` is `n` when non-zero.
#[inline(always)]
unsafe fn copy_row<T: Copy, const W: usize>(dst: *mut T, src: *const T, n: usize, stride: usize) {
    if stride != 1 { for k in 0..n { *dst.add(k) = *src.add(k * stride) } }
    else if W > 0 { std::ptr::copy_nonoverlapping(src, dst, W) }
    else { std::ptr::copy_nonoverlapping(src, dst, n) }
}

/// Adds `n` contiguous elements of `src` onto `dst` (`stride` apart); `W` is `n` when non-zero.
#[inline(always)]
unsafe fn add_row<T: Float, const W: usize>(dst: *mut T, src: *const T, n: usize, stride: usize) {
    let n = if W > 0 { W } else { n };
    if stride != 1 { for k in 0..n { *dst.add(k * stride) = *dst.add(k * stride) + *src.add(k) } }
    else { for k in 0..n { *dst.add(k) = *dst.add(k) + *src.add(k) } }
}

/// The planes im2col reads: channels [c0, c0 + cn) copied into scratch with a zero border of the
/// padding's width, so every tap's rows lie wholly inside them and are plain copies (no per-row
/// clipping). All channels are copied before any is read: a vector load of a row just written by
/// narrower stores would stall on store forwarding. Without padding the image is read in place.
struct Planes<'a, T> { planes: &'a [T], hp: usize, wp: usize }

impl<'a, T: Float> Planes<'a, T> {
    /// Scratch elements the padded planes of `channels` channels need.
    fn scratch(p: &Plan, channels: usize) -> usize { if p.ph + p.pw > 0 { channels * (p.h + 2 * p.ph) * (p.w + 2 * p.pw) } else { 0 } }

    fn new(img: &'a [T], p: &Plan, c0: usize, cn: usize, pad: &'a mut [T]) -> Self {
        let plane = p.h * p.w;
        if p.ph + p.pw == 0 { return Planes { planes: &img[c0 * plane..(c0 + cn) * plane], hp: p.h, wp: p.w }; }
        let (hp, wp) = (p.h + 2 * p.ph, p.w + 2 * p.pw);
        let pad = &mut pad[..cn * hp * wp];
        pad.fill(T::default());
        for (c, src) in img[c0 * plane..(c0 + cn) * plane].chunks_exact(plane.max(1)).enumerate() {
            for y in 0..p.h {
                // A loop, not copy_from_slice: rows this short cost more as memcpy calls.
                let row = &mut pad[(c * hp + y + p.ph) * wp + p.pw..][..p.w];
                for (d, &s) in row.iter_mut().zip(&src[y * p.w..(y + 1) * p.w]) { *d = s; }
            }
        }
        Planes { planes: pad, hp, wp }
    }

    /// Channel `c` (counted from c0) as a plane of hp x wp elements.
    fn channel(&self, c: usize) -> &[T] { &self.planes[c * self.hp * self.wp..(c + 1) * self.hp * self.wp] }
}

/// Patches of channels [c0, c0 + cn) of one image into `cols` at `at`, zero padded: each tap's
/// positions contiguous (`at.qs == 1`, what conv2d's forward GEMM reads) or each position's taps
/// contiguous (`at.ts == 1`, the weight gradient's operand).
fn im2col<T: Float>(img: &[T], p: &Plan, c0: usize, cn: usize, cols: &mut [T], at: Cols, pad: &mut [T]) {
    let n = if at.qs == 1 { p.ow } else { p.kw };
    with_width!(n, im2col_w::<T>(img, p, c0, cn, cols, at, pad))
}

fn im2col_w<T: Float, const W: usize>(img: &[T], p: &Plan, c0: usize, cn: usize, cols: &mut [T], at: Cols, pad: &mut [T]) {
    let (taps, hw) = (cn * p.kh * p.kw, p.oh * p.ow);
    if taps == 0 || hw == 0 { return; }
    let planes = Planes::new(img, p, c0, cn, pad);
    // Every destination lies inside `cols`, and every source inside its plane (Plan::from checked
    // that the windows fit the padded input): checked once here, then rows move through raw pointers.
    assert!(at.base + (taps - 1) * at.ts + (hw - 1) * at.qs < cols.len());
    let (dst, wp, kk) = (cols.as_mut_ptr(), planes.wp, p.kh * p.kw);
    for c in 0..cn {
        let plane = planes.channel(c);
        assert!(((p.oh - 1) * p.sh + (p.kh - 1) * p.dh) * wp + (p.ow - 1) * p.sw + (p.kw - 1) * p.dw < plane.len());
        for u in 0..p.kh {
            for v in 0..p.kw {
                let t = c * kk + u * p.kw + v;
                // Tap (u, v) of every output row: rows sh * wp apart in the plane.
                let mut s = unsafe { plane.as_ptr().add(u * p.dh * wp + v * p.dw) };
                let mut d = unsafe { dst.add(at.base + t * at.ts) };
                if at.qs == 1 {
                    for _ in 0..p.oh {
                        unsafe {
                            copy_row::<T, W>(d, s, p.ow, p.sw);
                            d = d.add(p.ow);
                            s = s.add(p.sh * wp);
                        }
                    }
                } else if v == 0 {
                    // Each position's taps contiguous: kernel row u's kw taps of position (i, j) at once.
                    for _ in 0..p.oh {
                        for j in 0..p.ow {
                            unsafe { copy_row::<T, W>(d.add(j * at.qs), s.add(j * p.sw), p.kw, p.dw) };
                        }
                        unsafe {
                            d = d.add(p.ow * at.qs);
                            s = s.add(p.sh * wp);
                        }
                    }
                }
            }
        }
    }
}

/// Writes channels [c0, c0 + cn) of one image from columns in the usual layout (`at.qs == 1`),
/// summing overlapping patches (the adjoint of im2col). Padded planes accumulate in scratch, whose
/// interior is then the image's plane.
fn col2im<T: Float>(cols: &[T], p: &Plan, c0: usize, cn: usize, img: &mut [T], at: Cols, pad: &mut [T]) {
    debug_assert!(at.qs == 1);
    with_width!(p.ow, col2im_w::<T>(cols, p, c0, cn, img, at, pad))
}

fn col2im_w<T: Float, const W: usize>(cols: &[T], p: &Plan, c0: usize, cn: usize, img: &mut [T], at: Cols, pad: &mut [T]) {
    let padded = p.ph + p.pw > 0;
    let (hp, wp, hw) = (p.h + 2 * p.ph, p.w + 2 * p.pw, p.oh * p.ow);
    let taps = cn * p.kh * p.kw;
    if taps > 0 && hw > 0 { assert!(at.base + (taps - 1) * at.ts + hw - 1 < cols.len()); }
    for (c, ci) in (c0..c0 + cn).enumerate() {
        let plane = &mut img[ci * p.h * p.w..(ci + 1) * p.h * p.w];
        let acc: &mut [T] = if padded { &mut pad[..hp * wp] } else { plane };
        acc.fill(T::default());
        if hw > 0 {
            assert!(((p.oh - 1) * p.sh + (p.kh - 1) * p.dh) * wp + (p.ow - 1) * p.sw + (p.kw - 1) * p.dw < acc.len());
            let (dst, src) = (acc.as_mut_ptr(), cols.as_ptr());
            // Kernel columns outermost: neighbouring taps of one row overlap by all but one element,
            // and a vector load of a row that was just stored shifted by one stalls on store forwarding.
            for v in 0..p.kw {
                for u in 0..p.kh {
                    let t = (c * p.kh + u) * p.kw + v;
                    for i in 0..p.oh {
                        unsafe { add_row::<T, W>(dst.add((i * p.sh + u * p.dh) * wp + v * p.dw), src.add(at.base + t * at.ts + i * p.ow), p.ow, p.sw) };
                    }
                }
            }
        }
        if padded {
            let plane = &mut img[ci * p.h * p.w..(ci + 1) * p.h * p.w];
            for y in 0..p.h {
                for (d, &s) in plane[y * p.w..(y + 1) * p.w].iter_mut().zip(&pad[(y + p.ph) * wp + p.pw..][..p.w]) { *d = s; }
            }
        }
    }
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
        T::with_scratch(taps * width + if folded { og * width } else { 0 } + Planes::<T>::scratch(p, cg), |s| {
            let (cols, rest) = s.split_at_mut(taps * width);
            let (tmp, pad) = rest.split_at_mut(if folded { og * width } else { 0 });
            for g in 0..p.groups {
                for j in 0..nb {
                    im2col(&x[(b0 + j) * p.image()..], p, g * cg, cg, cols, Cols { base: j * hw, ts: width, qs: 1 }, pad);
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
/// summed over the batch. Either may be skipped; each is overwritten. (Running the two on two
/// threads at once made the digits CNN's step slower: rayon's workers spin after a job, on a core
/// the main thread and V8's collector need.)
pub fn conv2d_backward<T: Float>(grad: &[T], x: &[T], wt: &[T], gx: Option<&mut [T]>, gw: Option<&mut [T]>, gb: Option<&mut [T]>, p: &Plan) {
    let sh = Shape::of(p);
    if let Some(gx) = gx { input_grad(grad, wt, gx, p, &sh); }
    if let Some(gw) = gw { weight_grad(grad, x, gw, p, &sh); }
    if let Some(gb) = gb { bias_grad(grad, gb, p); }
}

/// gb[o] = the sum of grad[n, o, :, :] over images and positions, accumulated in f64 (each image's
/// row summed in T across lanes first, so the loop vectorises).
fn bias_grad<T: Float>(grad: &[T], gb: &mut [T], p: &Plan) {
    let hw = p.oh * p.ow;
    for (o, out) in gb.iter_mut().enumerate() {
        let mut acc = 0.0f64;
        for n in 0..p.n {
            let row = &grad[(n * p.o + o) * hw..][..hw];
            let mut lanes = [T::default(); 8];
            let mut chunks = row.chunks_exact(8);
            for c in &mut chunks { for (l, &v) in lanes.iter_mut().zip(c) { *l = *l + v; } }
            acc += lanes.iter().chain(chunks.remainder()).map(|&v| v.to_f64()).sum::<f64>();
        }
        *out = T::from_f64(acc);
    }
}

/// Per group: cols[taps, nb * hw] = W_g^T x grad_g, then col2im onto each image.
fn input_grad<T: Float>(grad: &[T], wt: &[T], gx: &mut [T], p: &Plan, sh: &Shape) {
    let &Shape { cg, og, taps, hw, nb } = sh;
    per_chunk(gx, nb * p.image(), p.n * p.o * hw * taps, |(chunk, gx)| {
        let (b0, nb) = (chunk * nb, gx.len() / p.image());
        let width = nb * hw;
        T::with_scratch((taps + og) * width + Planes::<T>::scratch(p, 1), |s| {
            let (cols, rest) = s.split_at_mut(taps * width);
            let (gs, pad) = rest.split_at_mut(og * width);
            for g in 0..p.groups {
                gather_grad(grad, p, sh, g, b0, nb, gs);
                unsafe { gemm_into(taps, width, og, cols.as_mut_ptr(), (width, 1), false, wt[g * og * taps..].as_ptr(), (1, taps), gs.as_ptr(), (width, 1)) };
                for j in 0..nb {
                    col2im(cols, p, g * cg, cg, &mut gx[j * p.image()..(j + 1) * p.image()], Cols { base: j * hw, ts: width, qs: 1 }, pad);
                }
            }
        });
    });
}

/// Per group, summed over chunks of images: gw_g[og, taps] += grad_g[og, nb * hw] x colsT[nb * hw, taps].
/// The patches are laid out one row per position: the GEMM is slow with a column-major right
/// operand (measured 3x on these shapes), and cheaper to feed than to transpose afterwards.
fn weight_grad<T: Float>(grad: &[T], x: &[T], gw: &mut [T], p: &Plan, sh: &Shape) {
    let &Shape { cg, og, taps, hw, nb } = sh;
    if p.n == 0 || hw == 0 { gw.fill(T::default()); return; }
    for (chunk, b0) in (0..p.n).step_by(nb).enumerate() {
        let nb = nb.min(p.n - b0);
        let width = nb * hw;
        T::with_scratch((taps + og) * width + Planes::<T>::scratch(p, cg), |s| {
            let (cols, rest) = s.split_at_mut(taps * width);
            let (gs, pad) = rest.split_at_mut(og * width);
            for g in 0..p.groups {
                gather_grad(grad, p, sh, g, b0, nb, gs);
                for j in 0..nb {
                    im2col(&x[(b0 + j) * p.image()..], p, g * cg, cg, cols, Cols { base: j * hw * taps, ts: 1, qs: taps }, pad);
                }
                unsafe { gemm_into(og, taps, width, gw[g * og * taps..].as_mut_ptr(), (taps, 1), chunk > 0, gs.as_ptr(), (width, 1), cols.as_ptr(), (taps, 1)) };
            }
        });
    }
}

/// out[N, C*kh*kw, L] = patches of x[N, C, H, W].
pub fn unfold<T: Float>(x: &[T], out: &mut [T], p: &Plan) {
    let (per, hw) = (p.cols(p.c), p.oh * p.ow);
    per_chunk(out, per, p.n * per, |(b, o)| {
        T::with_scratch(Planes::<T>::scratch(p, p.c), |pad| im2col(&x[b * p.image()..(b + 1) * p.image()], p, 0, p.c, o, Cols { base: 0, ts: hw, qs: 1 }, pad));
    });
}

/// out[N, C, H, W] = sum of cols[N, C*kh*kw, L] at their positions.
pub fn fold<T: Float>(cols: &[T], out: &mut [T], p: &Plan) {
    let (per, hw) = (p.cols(p.c), p.oh * p.ow);
    per_chunk(out, p.image(), p.n * per, |(b, o)| {
        T::with_scratch(Planes::<T>::scratch(p, 1), |pad| col2im(&cols[b * per..(b + 1) * per], p, 0, p.c, o, Cols { base: 0, ts: hw, qs: 1 }, pad));
    });
}
