//! The loop engine every generated elementwise kernel runs on: a contiguous fast path (split across
//! threads for large tensors) and a general strided N-d path. Kernels are closures over element
//! values, so the loops are written once and monomorphised per op and dtype.

use rayon::prelude::*;
use std::sync::OnceLock;

/// Instruction sets the contiguous elementwise loops are compiled for; the best one the CPU has is
/// picked once at run time, so one addon serves an SSE2-only x86-64 and an AVX-512 one. Every ISA runs
/// the same IEEE operations in the same order (no contraction into FMA), so results are bit-identical
/// across them. On aarch64 NEON is part of the baseline and there is a single version.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Isa {
    Baseline,
    Avx2,
    Avx512,
}

impl Isa {
    pub fn name(self) -> &'static str {
        match self {
            Isa::Baseline => if cfg!(target_arch = "aarch64") { "neon" } else { "baseline" },
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    fn detect() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bw") && is_x86_feature_detected!("avx512dq") && is_x86_feature_detected!("avx512vl") {
                return Isa::Avx512;
            }
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                return Isa::Avx2;
            }
        }
        Isa::Baseline
    }
}

/// The ISA in use: the best detected, or a lower one named by TESSERA_NATIVE_ISA
/// (baseline | avx2 | avx512; a higher one than the CPU has is ignored), read once.
pub fn isa() -> Isa {
    static ISA: OnceLock<Isa> = OnceLock::new();
    *ISA.get_or_init(|| {
        let best = Isa::detect();
        let wanted = match std::env::var("TESSERA_NATIVE_ISA").as_deref() {
            Ok("baseline") => Isa::Baseline,
            Ok("avx2") => Isa::Avx2,
            _ => best,
        };
        wanted.min(best)
    })
}

/// Runs `body(i)` for every i in 0..n on the rayon pool. Takes the body as a trait object, so rayon's
/// splitting machinery is compiled once rather than once per generated kernel (twice each, for ~660
/// kernels): that was most of the crate's build time, and a call per chunk or row costs nothing beside
/// the chunk's work.
pub fn par_for(n: usize, body: &(dyn Fn(usize) + Sync)) {
    (0..n).into_par_iter().for_each(body)
}

/// Work (elements touched, or multiply-adds) from which a call is split across the rayon pool; below
/// it the call runs on the calling thread. Node's main thread is not a pool worker, so a parallel call
/// hands its job over and sleeps until a worker wakes and finishes: tens of microseconds on a 2-core
/// machine whose other core V8's GC threads often hold, more than a small kernel's whole run (the digits
/// CNN's step spent most of its kernel time waiting so). At 2^20 the work is ~100 us or more on one core.
pub const PARALLEL_WORK: usize = 1 << 20;
/// The same for multiply-adds (GEMM, convolution), which run several times faster per unit than a
/// memory-bound element visit.
pub const PARALLEL_MACS: usize = 1 << 22;
const CHUNK: usize = 1 << 14;
/// Elements per staged block of the contiguous elementwise loop (see map1).
const STAGE: usize = 64;

/// One strided operand: base pointer (already at the view's offset) and element strides.
#[derive(Clone, Copy)]
pub struct Operand<'a> {
    pub ptr: *mut u8,
    pub strides: &'a [isize],
}
unsafe impl Send for Operand<'_> {}
unsafe impl Sync for Operand<'_> {}

pub struct Launch<'a> {
    pub shape: &'a [usize],
    pub out: Operand<'a>,
    pub ins: [Operand<'a>; 3],
}

impl Launch<'_> {
    fn numel(&self) -> usize {
        self.shape.iter().product()
    }
    fn contiguous(&self, arity: usize) -> bool {
        self.shape.len() <= 1 && self.out.strides.first().map_or(true, |&s| s == 1) && self.ins[..arity].iter().all(|o| o.strides.first().map_or(true, |&s| s == 1))
    }
}

#[inline(always)]
unsafe fn at<T: Copy>(o: &Operand, i: isize) -> T {
    *(o.ptr as *const T).offset(i)
}
#[inline(always)]
unsafe fn put<T>(o: &Operand, i: isize, v: T) {
    *(o.ptr as *mut T).offset(i) = v;
}

/// Offsets of each operand for the start of row `row` (all dims but the last), by mixed-radix decode.
fn row_offsets(shape: &[usize], ops: &[&Operand], row: usize, offs: &mut [isize]) {
    let mut r = row;
    offs.iter_mut().for_each(|o| *o = 0);
    for d in (0..shape.len() - 1).rev() {
        let i = (r % shape[d]) as isize;
        r /= shape[d];
        for (k, op) in ops.iter().enumerate() {
            offs[k] += i * op.strides[d];
        }
    }
}

macro_rules! map_fn {
    ($name:ident, $arity:literal, [$($A:ident $x:ident $k:literal),*]) => {
        /// Applies `f` elementwise: out = f(inputs...), any strides.
        pub unsafe fn $name<$($A: Copy + Default,)* O: Copy + Default>(l: &Launch, f: impl Fn($($A),*) -> O + Sync) {
            /// The contiguous loop over [lo, hi), staged through local arrays: the operands may
            /// alias (in-place updates), which keeps the compiler from vectorising a direct loop;
            /// the staged compute loop cannot alias, so it vectorises (a fused optimizer update ran
            /// ~8x faster so). Inlined, with `f`, into one copy per ISA below.
            #[inline(always)]
            unsafe fn staged<$($A: Copy + Default,)* O: Copy + Default>(l: &Launch, f: &impl Fn($($A),*) -> O, lo: usize, hi: usize) {
                let mut i = lo;
                while i + STAGE <= hi {
                    $(let mut $x = [$A::default(); STAGE];
                    for (k, v) in $x.iter_mut().enumerate() { *v = at::<$A>(&l.ins[$k], (i + k) as isize); })*
                    let mut outs = [O::default(); STAGE];
                    #[allow(unused_variables)]
                    for (k, o) in outs.iter_mut().enumerate() { *o = f($($x[k]),*); }
                    for (k, &o) in outs.iter().enumerate() { put(&l.out, (i + k) as isize, o); }
                    i += STAGE;
                }
                for j in i as isize..hi as isize {
                    put(&l.out, j, f($(at::<$A>(&l.ins[$k], j)),*));
                }
            }
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            unsafe fn staged_avx2<$($A: Copy + Default,)* O: Copy + Default>(l: &Launch, f: &impl Fn($($A),*) -> O, lo: usize, hi: usize) {
                staged(l, f, lo, hi)
            }
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
            unsafe fn staged_avx512<$($A: Copy + Default,)* O: Copy + Default>(l: &Launch, f: &impl Fn($($A),*) -> O, lo: usize, hi: usize) {
                staged(l, f, lo, hi)
            }
            let n = l.numel();
            if n == 0 { return; }
            if l.contiguous($arity) {
                let body = |lo: usize, hi: usize| match isa() {
                    #[cfg(target_arch = "x86_64")]
                    Isa::Avx512 => staged_avx512(l, &f, lo, hi),
                    #[cfg(target_arch = "x86_64")]
                    Isa::Avx2 => staged_avx2(l, &f, lo, hi),
                    _ => staged(l, &f, lo, hi),
                };
                if n >= PARALLEL_WORK {
                    par_for(n.div_ceil(CHUNK), &|c| body(c * CHUNK, ((c + 1) * CHUNK).min(n)));
                } else {
                    body(0, n);
                }
                return;
            }
            let rank = l.shape.len();
            let inner = l.shape[rank - 1];
            let rows = n / inner;
            let ops: [&Operand; $arity + 1] = [&l.out, $(&l.ins[$k]),*];
            let last = |op: &Operand| op.strides[rank - 1];
            let row = |r: usize| {
                let mut offs = [0isize; $arity + 1];
                row_offsets(l.shape, &ops, r, &mut offs);
                let so = last(&l.out);
                $(let $x = last(&l.ins[$k]);)*
                for j in 0..inner as isize {
                    put(&l.out, offs[0] + j * so, f($(at::<$A>(&l.ins[$k], offs[$k + 1] + j * $x)),*));
                }
            };
            if n >= PARALLEL_WORK && rows > 1 { par_for(rows, &row) } else { (0..rows).for_each(row) }
        }
    };
}

map_fn!(map0, 0, []);
map_fn!(map1, 1, [A x0 0]);
map_fn!(map2, 2, [A x0 0, B x1 1]);
map_fn!(map3, 3, [A x0 0, B x1 1, C x2 2]);

/// NaN-propagating max/min (torch.maximum), unlike f32::max.
#[inline(always)]
pub fn fmaxp<T: PartialOrd + Copy>(a: T, b: T) -> T {
    #[allow(clippy::eq_op)]
    if a != a { a } else if b != b { b } else if a > b { a } else { b }
}
#[inline(always)]
pub fn fminp<T: PartialOrd + Copy>(a: T, b: T) -> T {
    #[allow(clippy::eq_op)]
    if a != a { a } else if b != b { b } else if a < b { a } else { b }
}

/// The element count as a value of an accumulator type (mean divides by it).
pub trait Count: Copy + Send + Sync { fn count(n: usize) -> Self; }
impl Count for f32 { fn count(n: usize) -> Self { n as f32 } }
impl Count for f64 { fn count(n: usize) -> Self { n as f64 } }
impl Count for i32 { fn count(n: usize) -> Self { n as i32 } }
impl Count for i64 { fn count(n: usize) -> Self { n as i64 } }
impl Count for u8 { fn count(n: usize) -> Self { n as u8 } }
impl Count for bool { fn count(n: usize) -> Self { n != 0 } }

/// A reduction: `outer` dims are kept (walked by out), `inner` dims reduced. Strides list the outer
/// dims then the inner ones, for the input and for the output (zeros at inner dims unless a scan).
pub struct ReduceLaunch<'a> {
    pub outer: &'a [usize],
    pub inner: &'a [usize],
    pub x: Operand<'a>,
    pub out: Operand<'a>,
}

/// Partial results are combined every BLOCK elements: blocked (near-pairwise) accumulation keeps float32
/// sums accurate; valid because every reduction's combine is associative with `init` as identity.
const BLOCK: usize = 256;

fn offsets_of(dims: &[usize], strides: &[isize], mut flat: usize) -> isize {
    let mut off = 0;
    for d in (0..dims.len()).rev() {
        off += (flat % dims[d]) as isize * strides[d];
        flat /= dims[d];
    }
    off
}

/// Visits every inner element of one outer position in row-major order: f(x offset, out offset, position).
#[inline(always)]
fn for_inner(l: &ReduceLaunch, xo: isize, oo: isize, mut f: impl FnMut(isize, isize, usize)) {
    let r = l.inner.len();
    let (ko, xs, os) = (l.outer.len(), &l.x.strides, &l.out.strides);
    let n: usize = l.inner.iter().product();
    if r == 0 { f(xo, oo, 0); return; }
    let last = r - 1;
    let (xl, ol, inner_last) = (xs[ko + last], os[ko + last], l.inner[last]);
    let rows = n / inner_last.max(1);
    let mut pos = 0;
    for row in 0..rows {
        let xb = xo + offsets_of(&l.inner[..last], &xs[ko..ko + last], row);
        let ob = oo + offsets_of(&l.inner[..last], &os[ko..ko + last], row);
        for j in 0..inner_last as isize {
            f(xb + j * xl, ob + j * ol, pos);
            pos += 1;
        }
    }
}

fn for_outer(l: &ReduceLaunch, work: usize, body: impl Fn(isize, isize) + Sync) {
    let m: usize = l.outer.iter().product();
    let ko = l.outer.len();
    let at = |i: usize| (offsets_of(l.outer, &l.x.strides[..ko], i), offsets_of(l.outer, &l.out.strides[..ko], i));
    if work >= PARALLEL_WORK && m > 1 { par_for(m, &|i| { let (a, b) = at(i); body(a, b) }) } else { (0..m).for_each(|i| { let (a, b) = at(i); body(a, b) }) }
}

pub unsafe fn reduce<A: Copy, Acc: Count, O>(l: &ReduceLaunch, init: Acc, map: impl Fn(A) -> Acc + Sync, combine: impl Fn(Acc, Acc) -> Acc + Sync, finalize: impl Fn(Acc, Acc) -> O + Sync) {
    let n: usize = l.inner.iter().product();
    let work = n * l.outer.iter().product::<usize>();
    let ko = l.outer.len();
    if ko > 0 && l.x.strides[ko - 1] == 1 && l.outer[ko - 1] >= 4 {
        return reduce_columns(l, init, map, combine, finalize);
    }
    let ki = l.inner.len();
    if ki > 0 && l.x.strides[ko + ki - 1] == 1 && l.inner[ki - 1] >= LANES {
        return reduce_lanes(l, work, init, map, combine, finalize);
    }
    for_outer(l, work, |xo, oo| {
        let (mut acc, mut block, mut k) = (init, init, 0);
        for_inner(l, xo, oo, |xi, _, _| {
            block = combine(block, map(at::<A>(&l.x, xi)));
            k += 1;
            if k == BLOCK { acc = combine(acc, block); block = init; k = 0; }
        });
        put(&l.out, oo, finalize(combine(acc, block), Acc::count(n)));
    });
}

/// Accumulators a contiguous row is spread over (one AVX-512 register of f32, two of f64).
const LANES: usize = 16;

/// `reduce` over a contiguous innermost dim: element i of each LANES-wide chunk goes to accumulator i
/// (so the loop vectorises), each lane blocked as the row path is, and the lanes are combined in
/// order at the end. A different order of the same associative combine: float sums differ from the
/// row path's in the last bits, as vectorised sums do everywhere (PyTorch's included).
unsafe fn reduce_lanes<A: Copy, Acc: Count, O>(l: &ReduceLaunch, work: usize, init: Acc, map: impl Fn(A) -> Acc + Sync, combine: impl Fn(Acc, Acc) -> Acc + Sync, finalize: impl Fn(Acc, Acc) -> O + Sync) {
    let n: usize = l.inner.iter().product();
    let (ko, ki) = (l.outer.len(), l.inner.len());
    let (lead, last) = (&l.inner[..ki - 1], l.inner[ki - 1]);
    let lead_strides = &l.x.strides[ko..ko + ki - 1];
    if l.outer.iter().product::<usize>() == 1 && n == last && work >= PARALLEL_WORK {
        // One long contiguous run (a full reduction, which for_outer cannot split): fixed-size pieces
        // are reduced on the pool and their results combined in order, so the value does not depend
        // on the number of threads.
        let pieces: Vec<Acc> = (0..n.div_ceil(PIECE)).into_par_iter().map(|p| {
            let mut lanes = Lanes::new(init);
            lanes.fold((l.x.ptr as *const A).add(p * PIECE), PIECE.min(n - p * PIECE), init, &map, &combine);
            lanes.total(init, &combine)
        }).collect();
        put(&l.out, 0, finalize(pieces.into_iter().fold(init, &combine), Acc::count(n)));
        return;
    }
    for_outer(l, work, |xo, oo| {
        let mut lanes = Lanes::new(init);
        for row in 0..n / last {
            lanes.fold((l.x.ptr as *const A).offset(xo + offsets_of(lead, lead_strides, row)), last, init, &map, &combine);
        }
        put(&l.out, oo, finalize(lanes.total(init, &combine), Acc::count(n)));
    });
}

/// Elements per piece of a split full reduction (see reduce_lanes).
const PIECE: usize = 1 << 16;

/// LANES interleaved accumulators (element i of each LANES-wide chunk goes to lane i), each blocked:
/// a lane's running `block` is folded into its `acc` every BLOCK chunks.
struct Lanes<Acc> {
    acc: [Acc; LANES],
    block: [Acc; LANES],
    k: usize,
}

impl<Acc: Copy> Lanes<Acc> {
    fn new(init: Acc) -> Self { Lanes { acc: [init; LANES], block: [init; LANES], k: 0 } }

    /// Folds `len` contiguous elements from `src` in.
    #[inline(always)]
    unsafe fn fold<A: Copy>(&mut self, src: *const A, len: usize, init: Acc, map: &impl Fn(A) -> Acc, combine: &impl Fn(Acc, Acc) -> Acc) {
        let full = len - len % LANES;
        for j in (0..full).step_by(LANES) {
            for (t, b) in self.block.iter_mut().enumerate() { *b = combine(*b, map(*src.add(j + t))); }
            self.k += 1;
            if self.k >= BLOCK {
                for (a, b) in self.acc.iter_mut().zip(self.block.iter_mut()) { *a = combine(*a, *b); *b = init; }
                self.k = 0;
            }
        }
        if full < len {
            for (t, b) in self.block[..len - full].iter_mut().enumerate() { *b = combine(*b, map(*src.add(full + t))); }
            self.k += 1;
        }
    }

    /// The lanes combined in order.
    fn total(&self, init: Acc, combine: &impl Fn(Acc, Acc) -> Acc) -> Acc {
        self.acc.iter().zip(self.block.iter()).fold(init, |t, (&a, &b)| combine(t, combine(a, b)))
    }
}

/// Output columns reduced together: at most this many accumulators (two arrays of them stay in L1).
const TILE: usize = 256;

/// `reduce` where the input's innermost dim is a kept one (a sum over the batch dim, a bias gradient):
/// a tile of adjacent outputs is reduced together, so the input streams in memory order and the loop
/// over the tile vectorises. Each output still sees its elements in the same order with the same
/// blocking as the row path, so the results are identical; only the traversal changes.
unsafe fn reduce_columns<A: Copy, Acc: Count, O>(l: &ReduceLaunch, init: Acc, map: impl Fn(A) -> Acc + Sync, combine: impl Fn(Acc, Acc) -> Acc + Sync, finalize: impl Fn(Acc, Acc) -> O + Sync) {
    let n: usize = l.inner.iter().product();
    let ko = l.outer.len();
    let (cols, lead) = (l.outer[ko - 1], &l.outer[..ko - 1]);
    let out_step = l.out.strides[ko - 1];
    let tiles = cols.div_ceil(TILE);
    let tasks = lead.iter().product::<usize>() * tiles;
    let task = |t: usize| {
        let (j0, w) = ((t % tiles) * TILE, TILE.min(cols - (t % tiles) * TILE));
        let xo = offsets_of(lead, &l.x.strides[..ko - 1], t / tiles) + j0 as isize;
        let oo = offsets_of(lead, &l.out.strides[..ko - 1], t / tiles) + j0 as isize * out_step;
        let (mut acc, mut block, mut k) = ([init; TILE], [init; TILE], 0);
        for_inner(l, xo, oo, |xi, _, _| {
            let src = (l.x.ptr as *const A).offset(xi);
            for (j, b) in block[..w].iter_mut().enumerate() { *b = combine(*b, map(*src.add(j))); }
            k += 1;
            if k == BLOCK {
                for (a, b) in acc[..w].iter_mut().zip(block[..w].iter_mut()) { *a = combine(*a, *b); *b = init; }
                k = 0;
            }
        });
        for j in 0..w { put(&l.out, oo + j as isize * out_step, finalize(combine(acc[j], block[j]), Acc::count(n))); }
    };
    if n * cols * (tasks / tiles) >= PARALLEL_WORK && tasks > 1 { par_for(tasks, &task) } else { (0..tasks).for_each(task) }
}

/// Index of the best element (first on ties) along the inner dims, as int64.
pub unsafe fn argreduce<A: Copy, Acc: Count>(l: &ReduceLaunch, init: Acc, map: impl Fn(A) -> Acc + Sync, better: impl Fn(Acc, Acc) -> bool + Sync) {
    let work = l.inner.iter().product::<usize>() * l.outer.iter().product::<usize>();
    for_outer(l, work, |xo, oo| {
        let (mut best, mut at_best) = (init, 0usize);
        for_inner(l, xo, oo, |xi, _, pos| {
            let v = map(at::<A>(&l.x, xi));
            if better(v, best) { best = v; at_best = pos; }
        });
        put(&l.out, oo, at_best as i64);
    });
}

/// Inclusive scan along the inner dims (cumsum): every partial result is stored.
pub unsafe fn scan<A: Copy, Acc: Count, O>(l: &ReduceLaunch, init: Acc, map: impl Fn(A) -> Acc + Sync, combine: impl Fn(Acc, Acc) -> Acc + Sync, finalize: impl Fn(Acc, Acc) -> O + Sync) {
    let work = l.inner.iter().product::<usize>() * l.outer.iter().product::<usize>();
    for_outer(l, work, |xo, oo| {
        let mut acc = init;
        for_inner(l, xo, oo, |xi, oi, pos| {
            acc = combine(acc, map(at::<A>(&l.x, xi)));
            put(&l.out, oi, finalize(acc, Acc::count(pos + 1)));
        });
    });
}
