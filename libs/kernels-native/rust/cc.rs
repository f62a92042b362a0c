//! Fused kernels compiled to machine code by the system C compiler (Inductor's approach). The JS side
//! (src/cc.ts) writes each fused kernel's bytecode out as a C function over one tile, compiles a
//! batch of them into a shared library, and hands it here to load; launches then run the same tiles
//! the interpreter would (interp::for_each_tile), each a call into the compiled code, whose values
//! stay in vector registers instead of passing through block registers in memory.
//!
//! A compiled function assumes its views' dtypes and the steps of their last dim (0, 1, or any):
//! its signature says which, and every launch is checked against it before the call.

use crate::interp::{self, View};
use libloading::os::unix::{Library, Symbol, RTLD_LOCAL, RTLD_NOW};
use std::sync::{Mutex, RwLock};

/// One tile: `nr` rows of `nc` values; `ptrs` are the views' (leaves', then outputs') first elements
/// in the tile; `rs` and `cs` their row and column steps in elements; `consts` the kernel's constants
/// then the launch's params.
pub type TileFn = unsafe extern "C" fn(nr: i64, nc: i64, ptrs: *const *mut u8, rs: *const i64, cs: *const i64, consts: *const f64);

/// What a compiled function assumes of each view: its dtype code and its column step (None: any).
#[derive(Clone, PartialEq, Debug)]
pub struct Signature(pub Vec<(i32, Option<isize>)>);

impl Signature {
    /// Parses "f1,d0,b*": per view a dtype letter (f: float32, d: float64, b: bool, i: int32, l: int64,
    /// u: uint8) and a step (0, 1, *).
    pub fn parse(s: &str) -> Result<Self, String> {
        let view = |v: &str| -> Result<(i32, Option<isize>), String> {
            let mut c = v.chars();
            let dtype = match c.next() {
                Some('f') => interp::F32, Some('d') => interp::F64, Some('b') => interp::BOOL,
                Some('i') => interp::I32, Some('l') => interp::I64, Some('u') => interp::U8,
                _ => return Err(format!("bad view signature {v:?}")),
            };
            let step = match c.as_str() { "0" => Some(0), "1" => Some(1), "*" => None, _ => return Err(format!("bad view signature {v:?}")) };
            Ok((dtype, step))
        };
        Ok(Signature(s.split(',').map(view).collect::<Result<_, _>>()?))
    }
}

struct Compiled { f: TileFn, signature: Signature }

/// Loaded libraries stay loaded for the life of the process (their functions are in KERNELS).
static LIBRARIES: Mutex<Vec<Library>> = Mutex::new(Vec::new());
static KERNELS: RwLock<Vec<Compiled>> = RwLock::new(Vec::new());

/// Loads the library at `path` and its functions `symbols`, each with its signature; returns their ids.
pub fn load(path: &str, symbols: &[String], signatures: &[String]) -> Result<Vec<u32>, String> {
    if symbols.len() != signatures.len() { return Err(format!("{} symbols, {} signatures", symbols.len(), signatures.len())); }
    // SAFETY: the library is one src/cc.ts compiled from generated C with no initialisers.
    let lib = unsafe { Library::open(Some(path), RTLD_NOW | RTLD_LOCAL) }.map_err(|e| format!("cannot load {path}: {e}"))?;
    let mut found = Vec::with_capacity(symbols.len());
    for (name, sig) in symbols.iter().zip(signatures) {
        let f: Symbol<TileFn> = unsafe { lib.get(name.as_bytes()) }.map_err(|e| format!("{path} has no {name}: {e}"))?;
        found.push(Compiled { f: *f, signature: Signature::parse(sig)? });
    }
    let mut kernels = KERNELS.write().map_err(|_| "kernel table poisoned".to_string())?;
    let first = kernels.len() as u32;
    let n = found.len() as u32;
    kernels.extend(found);
    LIBRARIES.lock().map_err(|_| "library list poisoned".to_string())?.push(lib);
    Ok((first..first + n).collect())
}

/// Runs compiled kernel `id` (of `ops` instructions, which decide when to use threads) over `shape`. The views must have been bounds-checked over `shape`.
pub unsafe fn run(id: u32, ops: usize, consts: &[f64], shape: &[usize], leaves: &[View], outs: &[View]) -> Result<(), String> {
    let kernels = KERNELS.read().map_err(|_| "kernel table poisoned".to_string())?;
    let k = kernels.get(id as usize).ok_or_else(|| format!("no compiled kernel {id}"))?;
    let views: Vec<&View> = leaves.iter().chain(outs).collect();
    let rank = shape.len();
    let wants = &k.signature.0;
    if wants.len() != views.len() { return Err(format!("compiled kernel {id} takes {} views, got {}", wants.len(), views.len())); }
    for (v, &(dtype, step)) in views.iter().zip(wants) {
        let last = if rank >= 1 { v.strides[rank - 1] } else { 0 };
        if v.dtype != dtype || step.is_some_and(|s| s != last) {
            return Err(format!("compiled kernel {id} was made for {:?}, not dtype {} with step {last}", k.signature, v.dtype));
        }
    }
    let f = k.f;
    interp::for_each_tile(shape, &views, ops, |t| {
        let mut ptrs = [std::ptr::null_mut::<u8>(); interp::MAX_VIEWS];
        let (mut rs, mut cs) = ([0i64; interp::MAX_VIEWS], [0i64; interp::MAX_VIEWS]);
        for (j, v) in views.iter().enumerate() {
            ptrs[j] = v.ptr.wrapping_offset(t.bases[j] * interp::elem_size(v.dtype).unwrap_or(1) as isize);
            rs[j] = t.rows[j] as i64;
            cs[j] = t.cols[j] as i64;
        }
        // SAFETY: the function was compiled for these dtypes and steps (checked above) and reads and
        // writes only the tile's elements, which lie within the bounds-checked views.
        unsafe { f(t.nr as i64, t.nc as i64, ptrs.as_ptr(), rs.as_ptr(), cs.as_ptr(), consts.as_ptr()) }
    });
    Ok(())
}
