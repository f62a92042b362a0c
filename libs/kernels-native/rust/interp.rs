//! The fused-kernel interpreter. compile's fused elementwise kernels are expressions no catalog can
//! hold ahead of time, and a machine need not have a compiler at run time, so the addon runs them as
//! bytecode over blocks (numexpr's approach). An instruction computes one block of values into a
//! register; each is one plain loop with its operation chosen outside it, so the loops vectorise
//! where the operation does, and a value stays in cache from the instruction that makes it to those
//! that use it. Values are held in the kernel's float type (f32 when all its floats are float32,
//! else f64), bools as 0/1, and each operation is the one the generated kernels use (emit-rust.ts),
//! so a fused kernel gives what its ops give one by one, save for the roundings the eager ops make
//! at each store of a wider intermediate.

use rayon::prelude::*;

/// Values per register: enough that an instruction's loop (64 AVX-512 vectors of f32) outweighs
/// choosing it. Negating 2M float32 took 0.34 ms at 256 and 0.26 ms at 1024, against 0.17 ms for the
/// catalog's kernel. A kernel's registers (4 KB each) live in L1 or L2.
pub const BLOCK: usize = 1024;
/// Most leaves plus the output a launch may have.
pub const MAX_VIEWS: usize = 64;

/// Instruction opcodes (the JS side, src/interp.ts, writes the same numbers).
pub mod op {
    pub const LOAD: i32 = 0;
    pub const CONST: i32 = 1;
    pub const NEG: i32 = 3;
    pub const ABS: i32 = 4;
    pub const EXP: i32 = 5;
    pub const LOG: i32 = 6;
    pub const LOG1P: i32 = 7;
    pub const EXPM1: i32 = 8;
    pub const SQRT: i32 = 9;
    pub const RSQRT: i32 = 10;
    pub const SIN: i32 = 11;
    pub const COS: i32 = 12;
    pub const TANH: i32 = 13;
    pub const ERF: i32 = 14;
    pub const FLOOR: i32 = 15;
    pub const CEIL: i32 = 16;
    pub const RINT: i32 = 17;
    pub const TRUNC: i32 = 18;
    pub const RECIP: i32 = 19;
    pub const NOT: i32 = 20;
    pub const ISNAN: i32 = 21;
    pub const ADD: i32 = 22;
    pub const SUB: i32 = 23;
    pub const MUL: i32 = 24;
    pub const DIV: i32 = 25;
    pub const POW: i32 = 26;
    pub const MAX: i32 = 27;
    pub const MIN: i32 = 28;
    pub const ATAN2: i32 = 29;
    pub const FMOD: i32 = 30;
    pub const LT: i32 = 31;
    pub const LE: i32 = 32;
    pub const GT: i32 = 33;
    pub const GE: i32 = 34;
    pub const EQ: i32 = 35;
    pub const NE: i32 = 36;
    pub const AND: i32 = 37;
    pub const OR: i32 = 38;
    pub const WHERE: i32 = 39;
    /// To bool: nonzero (NaN included) is 1.
    pub const TO_BOOL: i32 = 40;
    /// Rounds a value to float32 precision (a cast to float32 in an f64 program).
    pub const ROUND_F32: i32 = 41;
    /// A copy (the stored value is the last instruction's).
    #[allow(dead_code)] // the unary default arm
    pub const COPY: i32 = 42;
    pub const LAST: i32 = 42;
    /// Stores register b to further output a (1, 2, ...; output 0 is the last instruction's register, stored at the end).
    pub const STORE: i32 = 43;
}

/// Storage dtypes of loads and the store. Integers travel in f64 registers (src/interp.ts lets them
/// be selected and compared only, so every value stored is one that was loaded or a constant).
pub const F32: i32 = 0;
pub const F64: i32 = 1;
pub const BOOL: i32 = 2;
pub const I32: i32 = 3;
pub const I64: i32 = 4;
pub const U8: i32 = 5;

/// Bytes per element of storage dtype `d`, or None for an unknown code.
pub fn elem_size(d: i32) -> Option<usize> {
    match d { F32 => Some(4), F64 | I64 => Some(8), I32 => Some(4), BOOL | U8 => Some(1), _ => None }
}

/// The register type: one block-wise loop per operation, the operation picked once per block.
pub trait Num: Copy + Send + Sync + Default + PartialEq + 'static {
    fn from_f64(v: f64) -> Self;
    fn from_f32(v: f32) -> Self;
    fn to_f64(self) -> f64;
    fn to_f32(self) -> f32;
    fn truthy(self) -> bool;
    fn unary(o: i32, x: &[Self], d: &mut [Self]);
    fn binary(o: i32, a: &[Self], b: &[Self], d: &mut [Self]);
    /// d = c ? a : b, with every operand read (so the loop is a vector blend, not a branch).
    fn select(c: &[Self], a: &[Self], b: &[Self], d: &mut [Self]);
}

macro_rules! impl_num {
    ($t:ty, $bits:ty, $exp:expr, $tanh:expr, $erf:expr) => {
        impl Num for $t {
            #[inline(always)] fn from_f64(v: f64) -> Self { v as $t }
            #[inline(always)] fn from_f32(v: f32) -> Self { v as $t }
            #[inline(always)] fn to_f64(self) -> f64 { self as f64 }
            #[inline(always)] fn to_f32(self) -> f32 { self as f32 }
            #[inline(always)] fn truthy(self) -> bool { self != 0.0 }
            #[inline(always)]
            fn unary(o: i32, x: &[Self], d: &mut [Self]) {
                macro_rules! each { ($f:expr) => { for (d, &x) in d.iter_mut().zip(x) { *d = $f(x); } } }
                let b = |c: bool| if c { 1.0 } else { 0.0 };
                match o {
                    op::NEG => each!(|x: $t| -x),
                    op::ABS => each!(|x: $t| x.abs()),
                    op::EXP => each!($exp),
                    op::LOG => each!(|x: $t| x.ln()),
                    op::LOG1P => each!(|x: $t| x.ln_1p()),
                    op::EXPM1 => each!(|x: $t| x.exp_m1()),
                    op::SQRT => each!(|x: $t| x.sqrt()),
                    op::RSQRT => each!(|x: $t| 1.0 / x.sqrt()),
                    op::SIN => each!(|x: $t| x.sin()),
                    op::COS => each!(|x: $t| x.cos()),
                    op::TANH => each!($tanh),
                    op::ERF => each!($erf),
                    op::FLOOR => each!(|x: $t| x.floor()),
                    op::CEIL => each!(|x: $t| x.ceil()),
                    op::RINT => each!(|x: $t| x.round_ties_even()),
                    op::TRUNC => each!(|x: $t| x.trunc()),
                    op::RECIP => each!(|x: $t| 1.0 / x),
                    op::NOT => each!(|x: $t| b(x == 0.0)),
                    op::ISNAN => each!(|x: $t| b(x.is_nan())),
                    op::TO_BOOL => each!(|x: $t| b(x != 0.0)),
                    op::ROUND_F32 => each!(|x: $t| x as f32 as $t),
                    // op::COPY
                    _ => d.copy_from_slice(x),
                }
            }
            #[inline(always)]
            fn select(c: &[Self], a: &[Self], b: &[Self], d: &mut [Self]) {
                // As bit masks: a plain `if` here compiles to a per-element select of addresses.
                for (((d, &c), &x), &y) in d.iter_mut().zip(c).zip(a).zip(b) {
                    let m = (c != 0.0) as $bits;
                    let m = m.wrapping_neg();
                    *d = <$t>::from_bits((x.to_bits() & m) | (y.to_bits() & !m));
                }
            }
            #[inline(always)]
            fn binary(o: i32, a: &[Self], b: &[Self], d: &mut [Self]) {
                macro_rules! each { ($f:expr) => { for ((d, &x), &y) in d.iter_mut().zip(a).zip(b) { *d = $f(x, y); } } }
                let t = |c: bool| if c { 1.0 } else { 0.0 };
                match o {
                    op::ADD => each!(|x: $t, y: $t| x + y),
                    op::SUB => each!(|x: $t, y: $t| x - y),
                    op::MUL => each!(|x: $t, y: $t| x * y),
                    op::DIV => each!(|x: $t, y: $t| x / y),
                    op::POW => each!(|x: $t, y: $t| x.powf(y)),
                    op::MAX => each!(|x: $t, y: $t| crate::engine::fmaxp(x, y)),
                    op::MIN => each!(|x: $t, y: $t| crate::engine::fminp(x, y)),
                    op::ATAN2 => each!(|x: $t, y: $t| x.atan2(y)),
                    op::FMOD => each!(|x: $t, y: $t| x % y),
                    op::LT => each!(|x: $t, y: $t| t(x < y)),
                    op::LE => each!(|x: $t, y: $t| t(x <= y)),
                    op::GT => each!(|x: $t, y: $t| t(x > y)),
                    op::GE => each!(|x: $t, y: $t| t(x >= y)),
                    op::EQ => each!(|x: $t, y: $t| t(x == y)),
                    op::NE => each!(|x: $t, y: $t| t(x != y)),
                    op::AND => each!(|x: $t, y: $t| t(x != 0.0 && y != 0.0)),
                    op::OR => each!(|x: $t, y: $t| t(x != 0.0 || y != 0.0)),
                    _ => d.copy_from_slice(a),
                }
            }
        }
    };
}
impl_num!(f32, u32, crate::math::exp_f32, crate::math::tanh_f32, crate::math::erf_f32);
impl_num!(f64, u64, f64::exp, f64::tanh, c_erf);

extern "C" {
    /// The C library's erf: what the fused kernels compiled to C call too (cc.rs), so the two agree bit for bit.
    fn erf(x: f64) -> f64;
}
#[inline(always)]
fn c_erf(x: f64) -> f64 { unsafe { erf(x) } }

/// A strided leaf or the output: where its element 0 of the launch is, its dtype and strides.
#[derive(Clone, Copy)]
pub struct View<'a> {
    pub ptr: *mut u8,
    pub dtype: i32,
    pub strides: &'a [isize],
}
unsafe impl Send for View<'_> {}
unsafe impl Sync for View<'_> {}

/// Loads `d.len()` values of `v` from element `base` on, `stride` apart.
#[inline(always)]
unsafe fn load<T: Num>(v: &View, base: isize, stride: isize, d: &mut [T]) {
    macro_rules! each {
        ($e:ty, $to:expr) => {{
            let p = (v.ptr as *const $e).offset(base);
            if stride == 1 { for (i, r) in d.iter_mut().enumerate() { *r = $to(*p.add(i)); } }
            else { for (i, r) in d.iter_mut().enumerate() { *r = $to(*p.offset(i as isize * stride)); } }
        }};
    }
    match v.dtype {
        F32 => each!(f32, T::from_f32),
        F64 => each!(f64, T::from_f64),
        I32 => each!(i32, |x: i32| T::from_f64(x as f64)),
        I64 => each!(i64, |x: i64| T::from_f64(x as f64)),
        U8 => each!(u8, |x: u8| T::from_f32(x as f32)),
        _ => each!(u8, |b: u8| T::from_f32(if b != 0 { 1.0 } else { 0.0 })),
    }
}

#[inline(always)]
unsafe fn store<T: Num>(v: &View, base: isize, stride: isize, s: &[T]) {
    macro_rules! each {
        ($e:ty, $from:expr) => {{
            let p = (v.ptr as *mut $e).offset(base);
            if stride == 1 { for (i, &x) in s.iter().enumerate() { *p.add(i) = $from(x); } }
            else { for (i, &x) in s.iter().enumerate() { *p.offset(i as isize * stride) = $from(x); } }
        }};
    }
    match v.dtype {
        F32 => each!(f32, |x: T| x.to_f32()),
        F64 => each!(f64, |x: T| x.to_f64()),
        I32 => each!(i32, |x: T| x.to_f64() as i32),
        I64 => each!(i64, |x: T| x.to_f64() as i64),
        U8 => each!(u8, |x: T| x.to_f64() as u8),
        _ => each!(u8, |x: T| u8::from(x.truthy())),
    }
}

/// A checked program: instructions [op, dst, a, b, c] (a: the leaf for LOAD, the constant for
/// CONST, the output for STORE; registers otherwise). The register of the last instruction that is
/// not a STORE is stored to output 0 at the end of each block. The CONSTs it begins with fill their
/// registers once per tile (no later instruction may write those registers).
pub struct Program<'a> {
    pub code: &'a [i32],
    pub consts: &'a [f64],
    pub regs: usize,
}

impl Program<'_> {
    /// How many instructions the leading run of CONSTs is.
    fn hoisted(&self) -> usize {
        self.code.chunks(5).take_while(|i| i[0] == op::CONST).count()
    }

    /// Whether every opcode is known and every index in range (a bad program is an error, not a read out of bounds).
    pub fn check(&self, leaves: usize, outs: usize) -> Result<(), String> {
        if self.code.is_empty() || self.code.len() % 5 != 0 { return Err(format!("{} code values, not a positive multiple of 5", self.code.len())); }
        let reg = |r: i32| r >= 0 && (r as usize) < self.regs;
        for ins in self.code.chunks(5) {
            let [o, d, a, b, c] = [ins[0], ins[1], ins[2], ins[3], ins[4]];
            if o == op::STORE {
                if a < 1 || a as usize >= outs || !reg(b) { return Err(format!("bad store {ins:?}")); }
                continue;
            }
            let args: &[i32] = match o {
                op::LOAD | op::CONST => &[],
                op::WHERE => &[a, b, c],
                _ if (op::ADD..=op::OR).contains(&o) => &[a, b],
                _ if (op::NEG..=op::LAST).contains(&o) => &[a],
                _ => return Err(format!("unknown instruction {ins:?}")),
            };
            let ok = reg(d) && args.iter().all(|&r| reg(r) && r != d) && match o {
                op::LOAD => a >= 0 && (a as usize) < leaves,
                op::CONST => a >= 0 && (a as usize) < self.consts.len(),
                _ => true,
            };
            if !ok { return Err(format!("bad instruction {ins:?}")); }
        }
        let fixed: Vec<i32> = self.code.chunks(5).take(self.hoisted()).map(|i| i[1]).collect();
        if let Some(ins) = self.code.chunks(5).skip(fixed.len()).find(|i| i[0] != op::STORE && fixed.contains(&i[1])) {
            return Err(format!("instruction {ins:?} overwrites a constant's register"));
        }
        Ok(())
    }
}

/// Where a tile's operands start and how they step: views' offsets of its first element, and their
/// strides along the launch's last two dims (rows, cols).
pub struct Tile<'a> { pub bases: &'a [isize], pub rows: &'a [isize], pub cols: &'a [isize], pub nr: usize, pub nc: usize, bs: usize }

/// Runs one tile of `nr` rows by `nc` columns. A block of registers holds part of a row when rows are
/// long, or several whole rows when they are short (a broadcast bias's rows of 64), so a block is
/// always nearly full and short rows cost no more per element than long ones. Inlined into one copy
/// per ISA (below), as the generated kernels' loops are.
#[inline(always)]
unsafe fn run_tile<T: Num>(p: &Program, leaves: &[View], outs: &[View], t: &Tile, regs: &mut [T]) {
    let nl = leaves.len();
    // The last instruction computing a value (STOREs of further outputs may follow it).
    let result_reg = p.code.chunks(5).rev().find(|i| i[0] != op::STORE).map_or(0, |i| i[1]);
    let bs = t.bs;
    let per = if t.nc >= bs { 1 } else { bs / t.nc };
    let hoisted = p.hoisted();
    for ins in p.code.chunks(5).take(hoisted) {
        regs[ins[1] as usize * bs..][..bs].fill(T::from_f64(p.consts[ins[2] as usize]));
    }
    let body = &p.code[hoisted * 5..];
    let mut r0 = 0;
    while r0 < t.nr {
        let k = per.min(t.nr - r0);
        let mut c0 = 0;
        while c0 < t.nc {
            let w = if per == 1 { (t.nc - c0).min(bs) } else { t.nc };
            let len = k * w;
            // Element offset of view v at row r0 + j, column c0.
            let at = |v: usize, j: usize| t.bases[v] + (r0 + j) as isize * t.rows[v] + c0 as isize * t.cols[v];
            let reg = |r: i32| r as usize * bs;
            for ins in body.chunks(5) {
                let [o, d, a, b, c] = [ins[0], ins[1], ins[2], ins[3], ins[4]];
                // Registers are disjoint slices of bs values; an instruction's destination is never one of its operands.
                let base = regs.as_mut_ptr();
                let arg = |r: i32| std::slice::from_raw_parts(base.add(reg(r)) as *const T, len);
                if o == op::STORE {
                    let (v, src) = (nl + a as usize, arg(b));
                    for j in 0..k { store(&outs[a as usize], at(v, j), t.cols[v], &src[j * w..(j + 1) * w]) }
                    continue;
                }
                let dst = std::slice::from_raw_parts_mut(base.add(reg(d)), len);
                match o {
                    op::LOAD => { let v = a as usize; for j in 0..k { load(&leaves[v], at(v, j), t.cols[v], &mut dst[j * w..(j + 1) * w]) } }
                    op::CONST => dst.fill(T::from_f64(p.consts[a as usize])),
                    op::WHERE => T::select(arg(a), arg(b), arg(c), dst),
                    _ if (op::ADD..=op::OR).contains(&o) => T::binary(o, arg(a), arg(b), dst),
                    _ => T::unary(o, arg(a), dst),
                }
            }
            let result = &regs[reg(result_reg)..][..len];
            for j in 0..k { store(&outs[0], at(nl, j), t.cols[nl], &result[j * w..(j + 1) * w]) }
            c0 += w;
        }
        r0 += k;
    }
}
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_tile_avx2<T: Num>(p: &Program, leaves: &[View], outs: &[View], t: &Tile, regs: &mut [T]) { run_tile(p, leaves, outs, t, regs) }
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
unsafe fn run_tile_avx512<T: Num>(p: &Program, leaves: &[View], outs: &[View], t: &Tile, regs: &mut [T]) { run_tile(p, leaves, outs, t, regs) }

thread_local! {
    /// Each thread's registers, kept between launches: allocating and zeroing them per launch (tens
    /// of KB for a kernel with many registers) cost more than a small kernel's work.
    static REGISTERS: std::cell::RefCell<Vec<f64>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Calls f with `n` registers' values of type T from this thread's scratch. Every register is written
/// by an instruction (or the hoisted constants) before any instruction reads it, so what a previous
/// launch left there is never seen.
fn with_registers<T: Num, R>(n: usize, f: impl FnOnce(&mut [T]) -> R) -> R {
    REGISTERS.with(|cell| {
        let mut scratch = cell.borrow_mut();
        let words = (n * std::mem::size_of::<T>()).div_ceil(8);
        if scratch.len() < words { scratch.resize(words, 0.0); }
        // f64 storage is aligned for f32 and f64 alike; T is one of the two (Num).
        let regs = unsafe { std::slice::from_raw_parts_mut(scratch.as_mut_ptr() as *mut T, n) };
        f(regs)
    })
}

/// Cuts `shape`, seen as [outer..., rows, cols], into tiles of about CHUNK elements (whole short rows,
/// or parts of a long one) and calls `tile` on each, spread across threads when the work (elements
/// times `ops` per element) is large. The rows are the longest dim before the columns, not always
/// the one next to them: an elementwise kernel's elements are independent, so any order will do, and
/// a permuted copy of [16, 4, 64, 16] as [16, 64, 4, 16] then runs as 64 tiles of 64 rows rather than
/// 1,024 tiles of 4, each tile a call with its own setup. Every view must have been bounds-checked over `shape`.
pub fn for_each_tile(shape: &[usize], views: &[&View], ops: usize, tile: impl Fn(&Tile) + Sync) {
    const CHUNK: usize = 1 << 14;
    let rank = shape.len();
    let cols = if rank >= 1 { shape[rank - 1] } else { 1 };
    // Ties keep the dim next to the columns (the larger index).
    let row_dim = (0..rank.saturating_sub(1)).max_by_key(|&d| (shape[d], d));
    let rows = row_dim.map_or(1, |d| shape[d]);
    let outer_dims: Vec<usize> = (0..rank.saturating_sub(1)).filter(|&d| Some(d) != row_dim).collect();
    let outer: usize = outer_dims.iter().map(|&d| shape[d]).product();
    if outer == 0 || rows == 0 || cols == 0 { return; }
    let col_steps: Vec<isize> = views.iter().map(|v| if rank >= 1 { v.strides[rank - 1] } else { 0 }).collect();
    let row_steps: Vec<isize> = views.iter().map(|v| row_dim.map_or(0, |d| v.strides[d])).collect();
    let (tile_rows, tile_cols) = if cols >= BLOCK { (1, cols.min(CHUNK)) } else { ((CHUNK / cols).max(1).min(rows), cols) };
    let (row_tiles, col_tiles) = (rows.div_ceil(tile_rows), cols.div_ceil(tile_cols));
    // Registers of a block's size: no more than a tile holds (a small launch allocates little).
    let bs = BLOCK.min(tile_rows * tile_cols);
    let items = outer * row_tiles * col_tiles;
    let body = |item: usize| {
        let (o, rest) = (item / (row_tiles * col_tiles), item % (row_tiles * col_tiles));
        let (rt, ct) = (rest / col_tiles, rest % col_tiles);
        let mut all = [0isize; MAX_VIEWS];
        let bases = &mut all[..views.len()];
        for (k, b) in bases.iter_mut().enumerate() { *b = (rt * tile_rows) as isize * row_steps[k] + (ct * tile_cols) as isize * col_steps[k]; }
        let mut r = o;
        for &dim in outer_dims.iter().rev() {
            let i = (r % shape[dim]) as isize;
            r /= shape[dim];
            for (b, v) in bases.iter_mut().zip(views) { *b += i * v.strides[dim]; }
        }
        tile(&Tile { bases, rows: &row_steps, cols: &col_steps, nr: tile_rows.min(rows - rt * tile_rows), nc: tile_cols.min(cols - ct * tile_cols), bs });
    };
    if outer * rows * cols * ops >= crate::engine::PARALLEL_WORK && items > 1 {
        (0..items).into_par_iter().for_each(body);
    } else {
        (0..items).for_each(body);
    }
}

/// Runs the program over `shape` (see for_each_tile). Every view must have been bounds-checked over `shape`.
pub unsafe fn run<T: Num>(p: &Program, shape: &[usize], leaves: &[View], outs: &[View]) {
    let views: Vec<&View> = leaves.iter().chain(outs).collect();
    for_each_tile(shape, &views, p.code.len() / 5, |t| {
        with_registers(p.regs * t.bs, |regs: &mut [T]| match crate::engine::isa() {
            #[cfg(target_arch = "x86_64")]
            crate::engine::Isa::Avx512 => run_tile_avx512(p, leaves, outs, t, regs),
            #[cfg(target_arch = "x86_64")]
            crate::engine::Isa::Avx2 => run_tile_avx2(p, leaves, outs, t, regs),
            _ => run_tile(p, leaves, outs, t, regs),
        })
    });
}
