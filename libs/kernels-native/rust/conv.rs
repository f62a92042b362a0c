//! conv2d as im2col + gemm per image and group (images spread across threads), and the unfold/fold
//! pair (im2col / col2im) that conv2d's backward is built from.

use rayon::prelude::*;

/// Convolution geometry, in the order the JS side packs it.
#[derive(Clone, Copy)]
pub struct Plan {
    pub n: usize, pub c: usize, pub h: usize, pub w: usize, pub o: usize, pub kh: usize, pub kw: usize,
    pub sh: usize, pub sw: usize, pub ph: usize, pub pw: usize, pub dh: usize, pub dw: usize,
    pub groups: usize, pub oh: usize, pub ow: usize,
}

impl Plan {
    pub fn from(p: &[f64]) -> Option<Plan> {
        if p.len() != 16 { return None; }
        let u = |i: usize| p[i] as usize;
        Some(Plan { n: u(0), c: u(1), h: u(2), w: u(3), o: u(4), kh: u(5), kw: u(6), sh: u(7), sw: u(8), ph: u(9), pw: u(10), dh: u(11), dw: u(12), groups: u(13), oh: u(14), ow: u(15) })
    }
    pub fn image(&self) -> usize { self.c * self.h * self.w }
    pub fn cols(&self, channels: usize) -> usize { channels * self.kh * self.kw * self.oh * self.ow }
}

pub trait Float: Copy + Send + Sync + Default + std::ops::Add<Output = Self> + 'static {
    fn one() -> Self;
}
impl Float for f32 { fn one() -> Self { 1.0 } }
impl Float for f64 { fn one() -> Self { 1.0 } }

/// Visits every (channel, kernel tap, output position) of channels [c0, c0 + cn) in column order:
/// f(column index, index in the image, or None where the tap falls in the zero padding).
#[inline(always)]
fn for_each_tap(p: &Plan, c0: usize, cn: usize, mut f: impl FnMut(usize, Option<usize>)) {
    let mut r = 0;
    for ci in c0..c0 + cn {
        for u in 0..p.kh {
            for v in 0..p.kw {
                for i in 0..p.oh {
                    let y = (i * p.sh + u * p.dh) as isize - p.ph as isize;
                    for j in 0..p.ow {
                        let z = (j * p.sw + v * p.dw) as isize - p.pw as isize;
                        let inside = y >= 0 && (y as usize) < p.h && z >= 0 && (z as usize) < p.w;
                        f(r, inside.then(|| (ci * p.h + y as usize) * p.w + z as usize));
                        r += 1;
                    }
                }
            }
        }
    }
}

/// Patches of channels [c0, c0 + cn) of one image into cols [cn*kh*kw, oh*ow], zero padded.
pub fn im2col<T: Float>(x: &[T], p: &Plan, c0: usize, cn: usize, cols: &mut [T]) {
    for_each_tap(p, c0, cn, |r, src| cols[r] = src.map_or(T::default(), |s| x[s]));
}

/// Adds cols [c*kh*kw, oh*ow] of one image back onto its planes (the adjoint of im2col).
pub fn col2im<T: Float>(cols: &[T], p: &Plan, out: &mut [T]) {
    for_each_tap(p, 0, p.c, |r, src| if let Some(s) = src { out[s] = out[s] + cols[r] });
}

/// Runs `f(image index, image's chunk of out)` over chunks of `per`, across threads when `macs`
/// (multiply-adds, or copied elements) pay for waking the pool (see engine::PARALLEL_WORK).
fn per_image<T: Send>(out: &mut [T], per: usize, macs: usize, f: impl Fn((usize, &mut [T])) + Sync + Send) {
    if per == 0 { return; }
    if macs >= crate::engine::PARALLEL_MACS { out.par_chunks_mut(per).enumerate().for_each(f) } else { out.chunks_mut(per).enumerate().for_each(f) }
}

/// out[N, O, OH, OW] = conv(x[N, C, H, W], w[O, C/groups, kh, kw]) + bias; all contiguous.
pub fn conv2d<T: Float>(x: &[T], wt: &[T], bias: Option<&[T]>, out: &mut [T], p: &Plan) {
    let (cg, og) = (p.c / p.groups, p.o / p.groups);
    let kk = cg * p.kh * p.kw;
    let hw = p.oh * p.ow;
    per_image(out, p.o * hw, p.n * p.o * hw * kk, |(b, img_out)| {
        let img = &x[b * p.image()..(b + 1) * p.image()];
        let mut cols = vec![T::default(); kk * hw];
        for g in 0..p.groups {
            im2col(img, p, g * cg, cg, &mut cols);
            let dst = &mut img_out[g * og * hw..(g + 1) * og * hw];
            if let Some(bias) = bias {
                for oc in 0..og { dst[oc * hw..(oc + 1) * hw].fill(bias[g * og + oc]); }
            }
            // dst[og, hw] (+)= W_g[og, kk] x cols[kk, hw]
            unsafe {
                gemm::gemm::<T>(
                    og, hw, kk,
                    dst.as_mut_ptr(), 1, hw as isize, bias.is_some(),
                    wt.as_ptr().add(g * og * kk), 1, kk as isize,
                    cols.as_ptr(), 1, hw as isize,
                    T::one(), T::one(), false, false, false, gemm::Parallelism::None,
                );
            }
        }
    });
}

/// out[N, C*kh*kw, L] = patches of x[N, C, H, W].
pub fn unfold<T: Float>(x: &[T], out: &mut [T], p: &Plan) {
    let per = p.cols(p.c);
    per_image(out, per, p.n * per, |(b, o)| im2col(&x[b * p.image()..(b + 1) * p.image()], p, 0, p.c, o));
}

/// out[N, C, H, W] = sum of cols[N, C*kh*kw, L] at their positions.
pub fn fold<T: Float>(cols: &[T], out: &mut [T], p: &Plan) {
    let per = p.cols(p.c);
    per_image(out, p.image(), p.n * per, |(b, o)| {
        o.fill(T::default());
        col2im(&cols[b * per..(b + 1) * per], p, o);
    });
}
