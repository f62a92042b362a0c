//! Elementwise combination of equal-length operands, for the shared-memory transport (MPI brings its
//! own). Dtype and operator codes match the C shim's enums and the TypeScript side.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DType { F32, F64, I32, I64, U8 }

impl DType {
    pub fn from_code(c: u32) -> Option<DType> {
        [DType::F32, DType::F64, DType::I32, DType::I64, DType::U8].get(c as usize).copied()
    }
    pub fn code(self) -> i32 { self as i32 }
    pub fn size(self) -> usize {
        match self { DType::F32 | DType::I32 => 4, DType::F64 | DType::I64 => 8, DType::U8 => 1 }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Red { Sum, Max, Min, Prod }

impl Red {
    pub fn from_code(c: u32) -> Option<Red> { [Red::Sum, Red::Max, Red::Min, Red::Prod].get(c as usize).copied() }
    pub fn code(self) -> i32 { self as i32 }
}

trait Elem: Copy + Default {
    fn apply(r: Red, a: Self, b: Self) -> Self;
}

macro_rules! float_elem {
    ($t:ty) => {
        impl Elem for $t {
            #[inline(always)]
            fn apply(r: Red, a: Self, b: Self) -> Self {
                // max/min propagate NaN, as torch.maximum does.
                match r {
                    Red::Sum => a + b,
                    Red::Prod => a * b,
                    Red::Max => if a.is_nan() || a > b { a } else { b },
                    Red::Min => if a.is_nan() || a < b { a } else { b },
                }
            }
        }
    };
}
macro_rules! int_elem {
    ($t:ty) => {
        impl Elem for $t {
            #[inline(always)]
            fn apply(r: Red, a: Self, b: Self) -> Self {
                match r { Red::Sum => a.wrapping_add(b), Red::Prod => a.wrapping_mul(b), Red::Max => a.max(b), Red::Min => a.min(b) }
            }
        }
    };
}
float_elem!(f32);
float_elem!(f64);
int_elem!(i32);
int_elem!(i64);
int_elem!(u8);

const BLOCK: usize = 1024;

/// dst[i] = srcs[0][i] ∘ srcs[1][i] ∘ … in rank order, so every rank's copy of an element is the same
/// value. `dst` may be one of the sources: each block is read in full before it is written.
///
/// # Safety
/// Every pointer addresses `count` elements of `T`; sources other than `dst` do not overlap it.
unsafe fn combine_typed<T: Elem>(red: Red, dst: *mut T, srcs: &[*const T], count: usize) {
    let mut acc = [T::default(); BLOCK];
    let mut start = 0;
    while start < count {
        let n = BLOCK.min(count - start);
        let acc = &mut acc[..n];
        acc.copy_from_slice(std::slice::from_raw_parts(srcs[0].add(start), n));
        for src in &srcs[1..] {
            let s = std::slice::from_raw_parts(src.add(start), n);
            match red {
                Red::Sum => for (a, &b) in acc.iter_mut().zip(s) { *a = T::apply(Red::Sum, *a, b) },
                Red::Prod => for (a, &b) in acc.iter_mut().zip(s) { *a = T::apply(Red::Prod, *a, b) },
                Red::Max => for (a, &b) in acc.iter_mut().zip(s) { *a = T::apply(Red::Max, *a, b) },
                Red::Min => for (a, &b) in acc.iter_mut().zip(s) { *a = T::apply(Red::Min, *a, b) },
            }
        }
        std::ptr::copy_nonoverlapping(acc.as_ptr(), dst.add(start), n);
        start += n;
    }
}

/// # Safety
/// As for `combine_typed`, with byte pointers aligned for `dtype`.
pub unsafe fn combine(dtype: DType, red: Red, dst: *mut u8, srcs: &[*const u8], count: usize) {
    macro_rules! go {
        ($t:ty) => {{
            let s: Vec<*const $t> = srcs.iter().map(|&p| p as *const $t).collect();
            combine_typed::<$t>(red, dst as *mut $t, &s, count)
        }};
    }
    match dtype { DType::F32 => go!(f32), DType::F64 => go!(f64), DType::I32 => go!(i32), DType::I64 => go!(i64), DType::U8 => go!(u8) }
}
