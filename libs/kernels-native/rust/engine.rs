//! The loop engine every generated elementwise kernel runs on: a contiguous fast path (split across
//! threads for large tensors) and a general strided N-d path. Kernels are closures over element
//! values, so the loops are written once and monomorphised per op and dtype.

use rayon::prelude::*;

/// Tensors at or above this many elements are split across the rayon pool.
const PAR_MIN: usize = 1 << 16;
const CHUNK: usize = 1 << 14;

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
        pub unsafe fn $name<$($A: Copy,)* O>(l: &Launch, f: impl Fn($($A),*) -> O + Sync) {
            let n = l.numel();
            if n == 0 { return; }
            if l.contiguous($arity) {
                let body = |lo: usize, hi: usize| {
                    for i in lo as isize..hi as isize {
                        put(&l.out, i, f($(at::<$A>(&l.ins[$k], i)),*));
                    }
                };
                if n >= PAR_MIN {
                    (0..n.div_ceil(CHUNK)).into_par_iter().for_each(|c| body(c * CHUNK, ((c + 1) * CHUNK).min(n)));
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
            if n >= PAR_MIN && rows > 1 { (0..rows).into_par_iter().for_each(row) } else { (0..rows).for_each(row) }
        }
    };
}

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
