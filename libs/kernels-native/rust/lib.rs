//! Node addon (napi-rs): elementwise kernels generated from the op specs, and gemm-based matmul.
//! Every entry point validates what it is given before touching memory: out-of-bounds views are a
//! JS error, never a crash.

mod cc;
mod conv;
#[cfg(feature = "cuda")]
mod cuda;
mod engine;
mod interp;
mod math;
mod pool;
mod rows;
mod generated;

use engine::{Launch, Operand};
use rayon::prelude::*;
use std::sync::{Arc, Mutex, RwLock};
use napi::bindgen_prelude::*;
use napi_derive::napi;

/// Elements of `elem` bytes reachable from `offset` with `shape`/`strides`: [min, max] indices.
fn span(offset: isize, shape: &[usize], strides: &[isize]) -> (isize, isize) {
    let (mut lo, mut hi) = (offset, offset);
    for (&d, &s) in shape.iter().zip(strides) {
        if d == 0 { return (offset, offset - 1); }
        // Saturating: huge strides from JS must fail the bounds check, not wrap into passing it.
        let ext = (d as isize - 1).saturating_mul(s);
        if ext < 0 { lo = lo.saturating_add(ext) } else { hi = hi.saturating_add(ext) }
    }
    (lo, hi)
}

fn check(name: &str, bytes: usize, elem: usize, offset: isize, shape: &[usize], strides: &[isize]) -> Result<()> {
    let (lo, hi) = span(offset, shape, strides);
    if hi >= lo && (lo < 0 || (hi as usize).saturating_add(1).saturating_mul(elem) > bytes) {
        return Err(Error::from_reason(format!("{name}: view [{lo}, {hi}] is outside its buffer of {} elements", bytes / elem)));
    }
    Ok(())
}

/// Up to 32 launch values (a rank-8 elementwise launch's strides) on the stack, a heap vector past
/// that: unpacking a launch allocates nothing, which at ~0.5 us per small op mattered.
enum Packed<T: Copy + Default> { Inline([T; 32], usize), Heap(Vec<T>) }
impl<T: Copy + Default> FromIterator<T> for Packed<T> {
    fn from_iter<I: IntoIterator<Item = T>>(it: I) -> Self {
        let it = it.into_iter();
        let mut buf = [T::default(); 32];
        let mut n = 0;
        let mut rest = Vec::new();
        for x in it {
            if n < 32 { buf[n] = x; n += 1 } else { if rest.is_empty() { rest.extend_from_slice(&buf) } rest.push(x) }
        }
        if rest.is_empty() { Packed::Inline(buf, n) } else { Packed::Heap(rest) }
    }
}
impl<T: Copy + Default> std::ops::Deref for Packed<T> {
    type Target = [T];
    fn deref(&self) -> &[T] { match self { Packed::Inline(b, n) => &b[..*n], Packed::Heap(v) => v } }
}

/// Reads the integers of a packed launch block in turn (dims, strides, offsets), each checked to be
/// an integer within +-2^53 so a bad value is an error rather than a wrapped size.
struct Block<'a> { v: &'a [f64], at: usize, what: &'static str }
impl<'a> Block<'a> {
    /// The first `used` values of `v`.
    fn of(v: &'a [f64], used: u32, what: &'static str) -> Result<Self> {
        let v = v.get(..used as usize).ok_or_else(|| Error::from_reason(format!("{what}: launch block of {} values, {used} said used", v.len())))?;
        Ok(Block { v, at: 0, what })
    }
    fn take(&mut self, n: usize) -> Result<&'a [f64]> {
        let s = self.v.get(self.at..self.at.saturating_add(n)).ok_or_else(|| Error::from_reason(format!("{}: launch block too short", self.what)))?;
        if s.iter().any(|x| x.fract() != 0.0 || x.abs() > 9007199254740992.0) {
            return Err(Error::from_reason(format!("{}: launch block holds a non-integer dim, stride or offset", self.what)));
        }
        self.at += n;
        Ok(s)
    }
    fn dims(&mut self, n: usize) -> Result<Packed<usize>> {
        let d = self.take(n)?;
        if d.iter().any(|&x| x < 0.0) { return Err(Error::from_reason(format!("{}: negative dim", self.what))); }
        Ok(d.iter().map(|&x| x as usize).collect())
    }
    fn ints(&mut self, n: usize) -> Result<Packed<isize>> { Ok(self.take(n)?.iter().map(|&x| x as isize).collect()) }
    /// The next `n` values as they are (constants and params: any floats).
    fn floats(&mut self, n: usize) -> Result<&'a [f64]> {
        let s = self.v.get(self.at..self.at.saturating_add(n)).ok_or_else(|| Error::from_reason(format!("{}: launch block too short", self.what)))?;
        self.at += n;
        Ok(s)
    }
    /// The next value as a dim (one value: no Packed built, whose 32 slots a launch would copy about).
    fn count(&mut self) -> Result<usize> {
        let x = self.take(1)?[0];
        if x < 0.0 { return Err(Error::from_reason(format!("{}: negative dim", self.what))); }
        Ok(x as usize)
    }
    /// The next value as an offset or stride.
    fn int(&mut self) -> Result<isize> { Ok(self.take(1)?[0] as isize) }
    /// The rest: the kernel's scalar params, which must be exactly as many as it reads (a short list
    /// would be an out-of-bounds read in the kernel, which aborts the process).
    fn params(&self, table: &[u8], kernel: u32) -> Result<&'a [f64]> {
        let rest = &self.v[self.at.min(self.v.len())..];
        match table.get(kernel as usize) {
            None => Err(Error::from_reason(format!("{}: no kernel {kernel}", self.what))),
            Some(&need) if need as usize != rest.len() => Err(Error::from_reason(format!("{}: kernel {kernel} takes {need} scalar params, got {}", self.what, rest.len()))),
            Some(_) => Ok(rest),
        }
    }
}

/// The bytes of a typed array operand, for writing.
fn bytes_mut<'a>(t: &'a mut TypedArray) -> &'a mut [u8] { unsafe { t.arraybuffer.as_mut() } }

/// Runs generated kernel `kernel` (see the catalog) on operands of any typed-array kind; their
/// element sizes come from the kernel, never from the caller. `launch` packs
/// [rank, offsets of out and each input, shape, strides of out then each input, scalar params] in
/// its first `used` values (the JS side reuses one block).
#[napi]
pub fn elementwise(kernel: u32, launch: Float64ArraySlice, used: u32, mut out: TypedArray, a: Option<TypedArray>, b: Option<TypedArray>, c: Option<TypedArray>) -> Result<()> {
    let ins = [a, b, c];
    let arity = ins.iter().filter(|x| x.is_some()).count();
    let sizes = generated::SIZES.get(kernel as usize).ok_or_else(|| Error::from_reason(format!("elementwise: no kernel {kernel}")))?;
    if ins.iter().enumerate().any(|(k, x)| x.is_some() != (sizes[k + 1] != 0)) {
        return Err(Error::from_reason(format!("elementwise: kernel {kernel} takes {} inputs in order", sizes[1..].iter().filter(|&&s| s != 0).count())));
    }
    let mut block = Block::of(&launch, used, "elementwise")?;
    let rank = block.count()?;
    let offsets = block.ints(arity + 1)?;
    let shape = block.dims(rank)?;
    let strides = block.ints(rank * (arity + 1))?;
    let params = block.params(&generated::PARAMS, kernel)?;
    let size = |k: usize| sizes[k] as usize;
    let out_bytes = bytes_mut(&mut out);
    check("elementwise out", out_bytes.len(), size(0), offsets[0], &shape, &strides[0..rank])?;
    let mut operands = [Operand { ptr: std::ptr::null_mut(), strides: &[] }; 3];
    for (k, buf) in ins.iter().enumerate() {
        if let Some(buf) = buf {
            let st = &strides[(k + 1) * rank..(k + 2) * rank];
            let data: &[u8] = &buf.arraybuffer;
            check("elementwise input", data.len(), size(k + 1), offsets[k + 1], &shape, st)?;
            operands[k] = Operand { ptr: (data.as_ptr() as *mut u8).wrapping_offset(offsets[k + 1] * size(k + 1) as isize), strides: st };
        }
    }
    let out_ptr = out_bytes.as_mut_ptr().wrapping_offset(offsets[0] * size(0) as isize);
    let launch = Launch { shape: &shape, out: Operand { ptr: out_ptr, strides: &strides[0..rank] }, ins: operands };
    if unsafe { generated::run(kernel, &launch, params) } { Ok(()) } else { Err(Error::from_reason(format!("elementwise: no kernel {kernel}"))) }
}

/// A fused kernel's program, registered once (`fusedProgram`) and named by its number in launch
/// blocks: its bytecode is parsed once rather than with every launch (for a small launch, parsing
/// and checking it took longer than running it), and checked once per (params, leaves, outputs).
struct FusedProgram { wide: bool, regs: usize, code: Vec<i32>, consts: Vec<f64>, checked: Mutex<Vec<[usize; 3]>> }

impl FusedProgram {
    /// Whether the program was checked against launches of `counts` (params, leaves, outputs).
    fn checked_for(&self, counts: [usize; 3]) -> bool { self.checked.lock().is_ok_and(|c| c.contains(&counts)) }
    fn mark_checked(&self, counts: [usize; 3]) { if let Ok(mut c) = self.checked.lock() { if !c.contains(&counts) { c.push(counts); } } }
}

/// Registered programs, for the life of the process (as compiled kernels are; a step's fused kernels are few).
static PROGRAMS: RwLock<Vec<Arc<FusedProgram>>> = RwLock::new(Vec::new());

/// Registers a fused kernel's program, packed as [wide, registers, instructions, constants, then the
/// code (5 values an instruction), then the constants], in the first `used` values; returns its number.
#[napi(js_name = "fusedProgram")]
pub fn fused_program(program: Float64ArraySlice, used: u32) -> Result<u32> {
    let mut block = Block::of(&program, used, "fused program")?;
    let head = block.dims(4)?;
    let [wide, regs, ninst, nconst] = [head[0], head[1], head[2], head[3]];
    if regs > 4096 { return Err(Error::from_reason(format!("fused program: {regs} registers"))); }
    let code: Vec<i32> = block.ints(ninst.saturating_mul(5))?.iter().map(|&x| x.clamp(-1, i32::MAX as isize) as i32).collect();
    let consts = block.floats(nconst)?.to_vec();
    if block.at != block.v.len() { return Err(Error::from_reason("fused program: values left over".to_string())); }
    let mut all = PROGRAMS.write().map_err(|_| Error::from_reason("program table poisoned".to_string()))?;
    all.push(Arc::new(FusedProgram { wide: wide == 1, regs, code, consts, checked: Mutex::new(Vec::new()) }));
    Ok((all.len() - 1) as u32)
}

/// The registered program a launch block names (its first value).
fn read_program(block: &mut Block) -> Result<Arc<FusedProgram>> {
    let id = block.count()?;
    let all = PROGRAMS.read().map_err(|_| Error::from_reason("program table poisoned".to_string()))?;
    all.get(id).cloned().ok_or_else(|| Error::from_reason(format!("{}: no fused program {id}", block.what)))
}

/// One launch of a fused program, unpacked from its block and checked against its arrays: the
/// program's constants followed by the launch's params, its shape, and each leaf's then each
/// output's data pointer, dtype and strides. The arrays stay with the caller, which keeps them alive
/// while the launch runs.
struct FusedLaunch { consts: Vec<f64>, shape: Packed<usize>, views: Vec<(Ptr, i32)>, strides: Vec<isize>, leaves: usize }

/// A view's data pointer, shared by the threads of a horizontal group (each launch of a group writes
/// its own outputs: compile's group.ts groups only launches that do not touch each other's).
#[derive(Clone, Copy)]
struct Ptr(*mut u8);
unsafe impl Send for Ptr {}
unsafe impl Sync for Ptr {}

impl FusedLaunch {
    /// Unpacks one launch of program `fp` and checks it. A launch packs [params, the params, rank,
    /// leaves, outputs, the shape, then each leaf's and each output's dtype, offset and strides].
    /// The program is checked against the launch's counts the first time it meets them.
    fn unpack(block: &mut Block, fp: &FusedProgram, outs: &mut [TypedArray], leaves: &[TypedArray]) -> Result<Self> {
        let nparams = block.count()?;
        let mut consts = fp.consts.clone();
        consts.extend_from_slice(block.floats(nparams)?);
        let head = block.dims(3)?;
        let [rank, nleaves, nouts] = [head[0], head[1], head[2]];
        if nleaves != leaves.len() || nouts != outs.len() || nouts == 0 {
            return Err(Error::from_reason(format!("fused: {nleaves} leaves and {nouts} outputs said, {} and {} given", leaves.len(), outs.len())));
        }
        if nleaves + nouts > interp::MAX_VIEWS { return Err(Error::from_reason(format!("fused: {nleaves} leaves and {nouts} outputs; at most {} in all", interp::MAX_VIEWS))); }
        let shape = block.dims(rank)?;
        let counts = [nparams, nleaves, nouts];
        if !fp.checked_for(counts) {
            let program = interp::Program { code: &fp.code, consts: &consts, regs: fp.regs };
            program.check(nleaves, nouts).map_err(|e| Error::from_reason(format!("fused: {e}")))?;
            fp.mark_checked(counts);
        }
        let elem = |d: usize| -> Result<usize> {
            interp::elem_size(d as i32).ok_or_else(|| Error::from_reason(format!("fused: unknown dtype {d}")))
        };
        let kinds = |t: &TypedArray, d: usize| -> Result<()> {
            let fits = matches!((d as i32, t.typed_array_type),
                (interp::F32, TypedArrayType::Float32) | (interp::F64, TypedArrayType::Float64) | (interp::BOOL | interp::U8, TypedArrayType::Uint8)
                | (interp::I32, TypedArrayType::Int32) | (interp::I64, TypedArrayType::BigInt64));
            if fits { Ok(()) } else { Err(Error::from_reason(format!("fused: a {:?} array for dtype {d}", t.typed_array_type))) }
        };
        // Every view's strides one after another (rank each): one allocation for the launch.
        let mut strides = Vec::with_capacity((nleaves + nouts) * rank);
        let mut metas = Vec::with_capacity(nleaves + nouts);
        for _ in 0..nleaves + nouts {
            let d = block.count()?;
            let off = block.int()?;
            strides.extend(block.take(rank)?.iter().map(|&x| x as isize));
            metas.push((d, off));
        }
        let strides_of = |k: usize| &strides[k * rank..(k + 1) * rank];
        let mut views = Vec::with_capacity(nleaves + nouts);
        for (k, t) in leaves.iter().enumerate() {
            let (d, off) = metas[k];
            kinds(t, d)?;
            let data: &[u8] = &t.arraybuffer;
            check("fused leaf", data.len(), elem(d)?, off, &shape, strides_of(k))?;
            views.push((Ptr((data.as_ptr() as *mut u8).wrapping_offset(off * elem(d)? as isize)), d as i32));
        }
        for (j, t) in outs.iter_mut().enumerate() {
            let (d, off) = metas[nleaves + j];
            kinds(t, d)?;
            let bytes = bytes_mut(t);
            check("fused out", bytes.len(), elem(d)?, off, &shape, strides_of(nleaves + j))?;
            views.push((Ptr(bytes.as_mut_ptr().wrapping_offset(off * elem(d)? as isize)), d as i32));
        }
        Ok(FusedLaunch { consts, shape, views, strides, leaves: nleaves })
    }

    /// Element-instruction pairs it runs (how it weighs against engine::PARALLEL_WORK).
    fn work(&self, fp: &FusedProgram) -> usize { self.shape.iter().product::<usize>() * (fp.code.len() / 5).max(1) }

    /// Calls `go` with the program (with this launch's constants), the shape, the leaves and the outputs.
    fn run<R>(&self, fp: &FusedProgram, go: impl FnOnce(&interp::Program, bool, &[usize], &[interp::View], &[interp::View]) -> R) -> R {
        let program = interp::Program { code: &fp.code, consts: &self.consts, regs: fp.regs };
        let rank = self.shape.len();
        let views: Vec<interp::View> = self.views.iter().enumerate().map(|(k, &(p, d))| interp::View { ptr: p.0, dtype: d, strides: &self.strides[k * rank..(k + 1) * rank] }).collect();
        let (leaves, outs) = views.split_at(self.leaves);
        go(&program, fp.wide, &self.shape, leaves, outs)
    }
}

/// Unpacks one launch of program `fp` and checks it (FusedLaunch::unpack), then runs it with `go`.
fn with_fused_launch(block: &mut Block, fp: &FusedProgram, mut outs: Vec<TypedArray>, leaves: Vec<TypedArray>,
    go: impl FnOnce(&interp::Program, bool, &[usize], &[interp::View], &[interp::View]) -> Result<()>) -> Result<()> {
    FusedLaunch::unpack(block, fp, &mut outs, &leaves)?.run(fp, go)
}

/// Runs a fused elementwise kernel as bytecode (see interp.rs). `launch` packs, in its first `used`
/// values, the number of its registered program (fusedProgram) then one launch (see with_fused_launch). Dtypes are
/// interp's storage codes (F32, F64, BOOL, I32, I64, U8) and must match the arrays given.
#[napi]
pub fn fused(launch: Float64ArraySlice, used: u32, outs: Vec<TypedArray>, leaves: Vec<TypedArray>) -> Result<()> {
    let mut block = Block::of(&launch, used, "fused")?;
    let fp = read_program(&mut block)?;
    with_fused_launch(&mut block, &fp, outs, leaves, interpret)
}

fn interpret(program: &interp::Program, wide: bool, shape: &[usize], views: &[interp::View], out_views: &[interp::View]) -> Result<()> {
    // SAFETY: the program was checked (known ops, registers and indices in range) and every view lies within its buffer over `shape`.
    unsafe { if wide { interp::run::<f64>(program, shape, views, out_views) } else { interp::run::<f32>(program, shape, views, out_views) } }
    Ok(())
}

fn run_compiled(id: u32) -> impl FnOnce(&interp::Program, bool, &[usize], &[interp::View], &[interp::View]) -> Result<()> {
    move |program, _, shape, views, out_views| {
        // SAFETY: every view lies within its buffer over `shape`; cc::run checks them against the function's signature.
        unsafe { cc::run(id, program.code.len() / 5, program.consts, shape, views, out_views) }.map_err(|e| Error::from_reason(format!("fused: {e}")))
    }
}

/// Runs several launches of one fused kernel in one call (compile's horizontal groups): `launch`
/// packs their number, the program's number once, then each launch (as `fused` packs them); `ids[i]` is
/// launch i's compiled kernel, or -1 to interpret it; `outs` and `leaves` hold every launch's arrays
/// in turn.
#[napi(js_name = "fusedGroup")]
pub fn fused_group(ids: Vec<i32>, launch: Float64ArraySlice, used: u32, mut outs: Vec<TypedArray>, mut leaves: Vec<TypedArray>) -> Result<()> {
    let mut block = Block::of(&launch, used, "fused group")?;
    let n = block.count()?;
    if ids.len() != n { return Err(Error::from_reason(format!("fused group: {n} launches, {} kernel ids", ids.len()))); }
    let fp = read_program(&mut block)?;
    // Every launch is unpacked and checked before any runs. Their arrays stay here until all have run
    // (a launch holds pointers into the arrays' memory, which moving the handles does not move).
    let mut arrays: Vec<(Vec<TypedArray>, Vec<TypedArray>)> = Vec::with_capacity(n);
    let mut launches = Vec::with_capacity(n);
    for _ in 0..n {
        // A launch's counts of leaves and outputs follow its params (checked again as it is unpacked).
        let at = block.at + 1 + block.v.get(block.at).copied().unwrap_or(0.0).max(0.0) as usize;
        let (nl, no) = match block.v.get(at + 1..at + 3) { Some(h) => (h[0] as usize, h[1] as usize), None => return Err(Error::from_reason("fused group: launch block too short".to_string())) };
        if nl > leaves.len() || no > outs.len() { return Err(Error::from_reason("fused group: fewer arrays than its launches take".to_string())); }
        arrays.push((leaves.drain(..nl).collect(), outs.drain(..no).collect()));
        let (l, o) = arrays.last_mut().unwrap();
        launches.push(FusedLaunch::unpack(&mut block, &fp, o, l)?);
    }
    if !leaves.is_empty() || !outs.is_empty() || block.at != block.v.len() { return Err(Error::from_reason("fused group: arrays or values left over".to_string())); }
    // The launches write disjoint outputs and read nothing another writes (group.ts), so they may run
    // at once: as tasks across threads when the group's work is large (an optimizer's updates of
    // many small parameters, each too small to be split itself), else one after another.
    let one = |(&id, l): (&i32, &FusedLaunch)| -> std::result::Result<(), String> {
        let ran = if id < 0 { l.run(&fp, interpret) } else { l.run(&fp, run_compiled(id as u32)) };
        ran.map_err(|e| e.reason.clone())
    };
    let work: usize = launches.iter().map(|l| l.work(&fp)).sum();
    let ran = if n > 1 && work >= engine::PARALLEL_WORK {
        ids.par_iter().zip(launches.par_iter()).map(one).collect::<std::result::Result<Vec<()>, String>>()
    } else {
        ids.iter().zip(launches.iter()).map(one).collect()
    };
    ran.map(|_| ()).map_err(Error::from_reason)
}

/// Loads a library of compiled fused kernels (see cc.rs): `symbols` its functions, `signatures` what
/// each assumes of its views ("f1,d0,b*": dtype and last-dim step per view). Returns their ids.
#[napi(js_name = "ccLoad")]
pub fn cc_load(path: String, symbols: Vec<String>, signatures: Vec<String>) -> Result<Vec<u32>> {
    cc::load(&path, &symbols, &signatures).map_err(Error::from_reason)
}

/// Runs compiled kernel `id` on a launch packed as for `fused` (whose bytecode it was compiled from).
#[napi(js_name = "fusedCompiled")]
pub fn fused_compiled(id: u32, launch: Float64ArraySlice, used: u32, outs: Vec<TypedArray>, leaves: Vec<TypedArray>) -> Result<()> {
    let mut block = Block::of(&launch, used, "fused")?;
    let fp = read_program(&mut block)?;
    with_fused_launch(&mut block, &fp, outs, leaves, run_compiled(id))
}

/// The instruction set the elementwise loops run with here: "avx512", "avx2", "baseline" (x86-64
/// SSE2) or "neon" (see engine::Isa; TESSERA_NATIVE_ISA may lower it).
#[napi(js_name = "simdIsa")]
pub fn simd_isa() -> &'static str {
    engine::isa().name()
}

/// Numbers of generated elementwise and reduction kernels, to check the addon matches its catalog.
#[napi]
pub fn kernel_count() -> Vec<u32> {
    vec![generated::COUNT, generated::REDUCE_COUNT]
}

/// Runs generated reduction `kernel`. `launch` packs [outer rank, inner rank, offsets of input and
/// out, outer dims, inner dims, the input's outer then inner strides, the output's likewise (zeros at
/// inner dims unless the kernel is a scan), scalar params], in its first `used` values.
#[napi]
pub fn reduce(kernel: u32, launch: Float64ArraySlice, used: u32, x: TypedArray, mut out: TypedArray) -> Result<()> {
    let sizes = generated::REDUCE_SIZES.get(kernel as usize).ok_or_else(|| Error::from_reason(format!("reduce: no kernel {kernel}")))?;
    let (xs, os) = (sizes[0] as usize, sizes[1] as usize);
    let mut block = Block::of(&launch, used, "reduce")?;
    let (ko, ki) = (block.count()?, block.count()?);
    let offsets = block.ints(2)?;
    let outer = block.dims(ko)?;
    let inner = block.dims(ki)?;
    let r = ko + ki;
    let strides = block.ints(2 * r)?;
    let params = block.params(&generated::REDUCE_PARAMS, kernel)?;
    let dims: Packed<usize> = outer.iter().chain(inner.iter()).copied().collect();
    let data: &[u8] = &x.arraybuffer;
    check("reduce input", data.len(), xs, offsets[0], &dims, &strides[..r])?;
    let out_bytes = bytes_mut(&mut out);
    check("reduce out", out_bytes.len(), os, offsets[1], &dims, &strides[r..])?;
    let xp = (data.as_ptr() as *mut u8).wrapping_offset(offsets[0] * xs as isize);
    let op = out_bytes.as_mut_ptr().wrapping_offset(offsets[1] * os as isize);
    let l = engine::ReduceLaunch { outer: &outer, inner: &inner, x: Operand { ptr: xp, strides: &strides[..r] }, out: Operand { ptr: op, strides: &strides[r..] } };
    if unsafe { generated::run_reduce(kernel, &l, params) } { Ok(()) } else { Err(Error::from_reason(format!("reduce: no kernel {kernel}"))) }
}

/// A checked batched matmul: raw pointers to its operands and each product's (a, b, out) element
/// offsets; out rows are contiguous (stride n).
struct Products { elem: usize, m: usize, k: usize, n: usize, a: *const u8, b: *const u8, out: *mut u8, strides: [isize; 4], offsets: Vec<[isize; 3]> }
// SAFETY: the pointers stay valid for the call that made them; tasks write disjoint rows of out.
unsafe impl Send for Products {}
unsafe impl Sync for Products {}

#[allow(clippy::too_many_arguments)]
fn products(dtype: &str, a: &[u8], b: &[u8], out: &mut [u8], offsets: &[f64], m: u32, k: u32, n: u32, strides: [f64; 4]) -> Result<Products> {
    let (m, k, n) = (m as usize, k as usize, n as usize);
    let elem = match dtype { "float32" => 4, "float64" => 8, _ => return Err(Error::from_reason(format!("matmul: unsupported dtype {dtype}"))) };
    if offsets.len() % 3 != 0 { return Err(Error::from_reason("matmul: offsets must come in (a, b, out) triples".to_string())); }
    let [a_rs, a_cs, b_rs, b_cs] = strides.map(|v| v as isize);
    let mut list = Vec::with_capacity(offsets.len() / 3);
    for t in offsets.chunks(3) {
        let (ao, bo, oo) = (t[0] as isize, t[1] as isize, t[2] as isize);
        check("matmul a", a.len(), elem, ao, &[m, k], &[a_rs, a_cs])?;
        check("matmul b", b.len(), elem, bo, &[k, n], &[b_rs, b_cs])?;
        check("matmul out", out.len(), elem, oo, &[m, n], &[n as isize, 1])?;
        list.push([ao, bo, oo]);
    }
    Ok(Products { elem, m, k, n, a: a.as_ptr(), b: b.as_ptr(), out: out.as_mut_ptr(), strides: [a_rs, a_cs, b_rs, b_cs], offsets: list })
}

impl Products {
    /// Rows [r0, r1) of product `t`.
    ///
    /// # Safety
    /// No other thread may write those rows of out meanwhile.
    unsafe fn rows(&self, t: usize, r0: usize, r1: usize, par: gemm::Parallelism) {
        let [ao, bo, oo] = self.offsets[t];
        let [a_rs, a_cs, b_rs, b_cs] = self.strides;
        macro_rules! go {
            ($t:ty) => {
                gemm::gemm::<$t>(
                    r1 - r0, self.n, self.k,
                    (self.out as *mut $t).offset(oo + (r0 * self.n) as isize), 1, self.n as isize, false,
                    (self.a as *const $t).offset(ao + r0 as isize * a_rs), a_cs, a_rs,
                    (self.b as *const $t).offset(bo), b_cs, b_rs,
                    0 as $t, 1 as $t, false, false, false, par,
                )
            };
        }
        if self.elem == 4 { go!(f32) } else { go!(f64) }
    }

    /// Every product whole: each parallelised within (gemm's threads) when it is large; many small
    /// ones (attention's heads) as tasks across threads when their results do not overlap.
    fn all(&self) {
        let macs = self.m * self.n * self.k;
        if macs < engine::PARALLEL_MACS && self.offsets.len() > 1 && self.offsets.len() * macs >= engine::PARALLEL_MACS && self.disjoint() {
            // SAFETY: each task writes its own product's results, which no other product's overlap.
            (0..self.offsets.len()).into_par_iter().for_each(|t| unsafe { self.rows(t, 0, self.m, gemm::Parallelism::None) });
            return;
        }
        let par = if macs >= engine::PARALLEL_MACS { gemm::Parallelism::Rayon(rayon::current_num_threads()) } else { gemm::Parallelism::None };
        // SAFETY: one product at a time, on this thread (gemm's own threads split its rows).
        for t in 0..self.offsets.len() { unsafe { self.rows(t, 0, self.m, par) } }
    }

    /// Whether no two products' results overlap (each is m n contiguous elements).
    fn disjoint(&self) -> bool {
        let mut starts: Vec<isize> = self.offsets.iter().map(|o| o[2]).collect();
        starts.sort_unstable();
        starts.windows(2).all(|w| w[1] - w[0] >= (self.m * self.n) as isize)
    }
}

/// Batched C = A B: `offsets` holds (a, b, out) element offsets per batch; out rows are contiguous (stride n).
#[napi]
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    dtype: String, a: Uint8ArraySlice, b: Uint8ArraySlice, mut out: Uint8ArraySlice, offsets: Float64ArraySlice,
    m: u32, k: u32, n: u32, a_rs: f64, a_cs: f64, b_rs: f64, b_cs: f64,
) -> Result<()> {
    products(&dtype, &a, &b, unsafe { out.as_mut() }, &offsets, m, k, n, [a_rs, a_cs, b_rs, b_cs])?.all();
    Ok(())
}

fn gcd(a: usize, b: usize) -> usize { if b == 0 { a } else { gcd(b, a % b) } }

/// A fused elementwise kernel a routine runs over its result as it completes it (compile's epilogue
/// fusion): index j of its launch's outermost dim covers elements [j unit, (j + 1) unit) of the result.
struct Epilogue<'a> { program: &'a interp::Program<'a>, wide: bool, shape: &'a [usize], views: &'a [interp::View<'a>], outs: &'a [interp::View<'a>], compiled: i32 }

impl Epilogue<'_> {
    fn unit(&self) -> usize { self.shape.iter().skip(1).product() }

    /// Runs over outer indices [j0, j1). (Errors as strings: a napi Error may not cross threads.)
    fn run(&self, j0: usize, j1: usize) -> std::result::Result<(), String> {
        fn at<'v>(v: &interp::View<'v>, j0: usize) -> interp::View<'v> {
            let elem = interp::elem_size(v.dtype).unwrap_or(1) as isize;
            interp::View { ptr: v.ptr.wrapping_offset(j0 as isize * v.strides[0] * elem), dtype: v.dtype, strides: v.strides }
        }
        let (sv, so): (Vec<_>, Vec<_>) = (self.views.iter().map(|v| at(v, j0)).collect(), self.outs.iter().map(|v| at(v, j0)).collect());
        let mut sub = self.shape.to_vec();
        sub[0] = j1 - j0;
        let ran = if self.compiled >= 0 { run_compiled(self.compiled as u32)(self.program, self.wide, &sub, &sv, &so) } else { interpret(self.program, self.wide, &sub, &sv, &so) };
        ran.map_err(|e| e.reason.clone())
    }

    /// The rows of `n` results a block must span to end where an outer index ends.
    fn align(&self, n: usize) -> usize { let u = self.unit(); u / gcd(u, n) }
}

/// The operands of an epilogue as the JS side passes them: its compiled function's id (or -1 to
/// interpret it), and its program and launch packed as for `fused`, with their arrays.
type EpilogueArgs<'a> = (i32, Float64ArraySlice<'a>, u32, Vec<TypedArray<'a>>, Vec<TypedArray<'a>>);

/// Unpacks and checks an epilogue over a result of `total` elements, then calls `f` with it.
fn with_epilogue(what: &'static str, total: usize, args: EpilogueArgs<'_>, f: impl FnOnce(&Epilogue) -> Result<()>) -> Result<()> {
    let (compiled, launch, used, outs, leaves) = args;
    let mut block = Block::of(&launch, used, what)?;
    let fp = read_program(&mut block)?;
    with_fused_launch(&mut block, &fp, outs, leaves, |program, wide, shape, views, out_views| {
        let e = Epilogue { program, wide, shape, views, outs: out_views, compiled };
        if shape.is_empty() || shape[0] * e.unit() != total {
            return Err(Error::from_reason(format!("{what}: an epilogue over {shape:?} does not walk the {total} results")));
        }
        f(&e)
    })
}

/// Runs `compute` (a routine writing its whole result of `total` elements), then, when one is given,
/// the epilogue over all of it, in this one call while the result is in cache. The epilogue is
/// unpacked and checked first: a malformed one writes nothing.
fn whole_then_epilogue(what: &'static str, total: usize, epilogue: Option<EpilogueArgs<'_>>, compute: impl FnOnce() -> Result<()>) -> Result<()> {
    let Some(args) = epilogue else { return compute() };
    with_epilogue(what, total, args, |e| {
        compute()?;
        e.run(0, e.shape[0]).map_err(Error::from_reason)
    })
}

/// Output rows a task computes and then runs the epilogue over while they are in cache: about
/// 512 KiB of results (in L2 beside the packed operands), at least 16 rows (a matmul packs B again
/// per task), and enough tasks for every thread; a multiple of `align`.
fn epilogue_block_rows(rows: usize, n: usize, elem: usize, align: usize) -> usize {
    let threads = rayon::current_num_threads();
    let fits_cache = (512 * 1024 / (n * elem).max(1)).max(16);
    let spread = rows.div_ceil(2 * threads).max(16);
    fits_cache.min(spread).div_ceil(align) * align
}

/// Computes `rows` rows of `n` results with `body(r0, r1)` (rows [r0, r1)), running the epilogue
/// over each block of rows right after it: blocks as tasks across threads when `parallel` and
/// there are enough rows, else all rows, then the epilogue (with its own threads), in this one call.
fn rows_then_epilogue(rows: usize, n: usize, elem: usize, parallel: bool, e: &Epilogue, body: impl Fn(usize, usize) + Sync) -> Result<()> {
    let unit = e.unit();
    if rows * n == 0 { return Ok(()); }
    let block_rows = epilogue_block_rows(rows, n, elem, e.align(n));
    let tasks = rows.div_ceil(block_rows);
    if !parallel || tasks < 2 {
        body(0, rows);
        return e.run(0, e.shape[0]).map_err(Error::from_reason);
    }
    (0..tasks).into_par_iter().try_for_each(|task| {
        let (r0, r1) = (task * block_rows, ((task + 1) * block_rows).min(rows));
        body(r0, r1);
        e.run(r0 * n / unit, r1 * n / unit)
    }).map_err(Error::from_reason)
}

/// Batched C = A B (as matmul; the products' results one after another from the first) followed by
/// an elementwise epilogue over C: a fused kernel packed as for `fused` (or its compiled function,
/// `compiled` >= 0), whose launch walks C block by block (compile's epilogue fusion). Blocks of rows
/// run as tasks across threads; each computes its rows with gemm, then the epilogue over them.
#[napi(js_name = "matmulEpilogue")]
#[allow(clippy::too_many_arguments)]
pub fn matmul_epilogue(
    dtype: String, a: Uint8ArraySlice, b: Uint8ArraySlice, mut out: Uint8ArraySlice, offsets: Float64ArraySlice,
    m: u32, k: u32, n: u32, a_rs: f64, a_cs: f64, b_rs: f64, b_cs: f64,
    compiled: i32, launch: Float64ArraySlice, used: u32, outs: Vec<TypedArray>, leaves: Vec<TypedArray>,
) -> Result<()> {
    let p = products(&dtype, &a, &b, unsafe { out.as_mut() }, &offsets, m, k, n, [a_rs, a_cs, b_rs, b_cs])?;
    let (m, n, per) = (p.m, p.n, p.m * p.n);
    if p.offsets.iter().enumerate().any(|(t, o)| o[2] != p.offsets[0][2] + (t * per) as isize) {
        return Err(Error::from_reason("matmul epilogue: the products' results must lie one after another".to_string()));
    }
    let total = p.offsets.len() * per;
    with_epilogue("matmul epilogue", total, (compiled, launch, used, outs, leaves), |e| {
        if total * p.k < engine::PARALLEL_MACS {
            p.all();
            return e.run(0, e.shape[0]).map_err(Error::from_reason);
        }
        rows_then_epilogue(p.offsets.len() * m, n, p.elem, true, e, |g0, g1| {
            // Global rows [g0, g1), across products.
            let mut g = g0;
            while g < g1 {
                let (t, r0) = (g / m, g % m);
                let r1 = (r0 + g1 - g).min(m);
                // SAFETY: rows [g0, g1) of C belong to this task alone.
                unsafe { p.rows(t, r0, r1, gemm::Parallelism::None) };
                g += r1 - r0;
            }
        })
    })
}

/// The epilogue's arguments when all are given, none when none are, an error otherwise.
#[allow(clippy::type_complexity)]
fn epilogue_args<'a>(what: &str, compiled: Option<i32>, launch: Option<Float64ArraySlice<'a>>, used: Option<u32>, outs: Option<Vec<TypedArray<'a>>>, leaves: Option<Vec<TypedArray<'a>>>) -> Result<Option<EpilogueArgs<'a>>> {
    match (compiled, launch, used, outs, leaves) {
        (Some(c), Some(l), Some(u), Some(o), Some(v)) => Ok(Some((c, l, u, o, v))),
        (None, None, None, None, None) => Ok(None),
        _ => Err(Error::from_reason(format!("{what}: an epilogue takes its compiled id, launch block, length, outputs and leaves together"))),
    }
}

/// Whether `len` elements of T at element offset `off` lie within `bytes` bytes (checked arithmetic:
/// sizes from JS never wrap around into a passing check).
fn fits<T>(name: &str, bytes: usize, off: usize, len: usize) -> Result<()> {
    let size = std::mem::size_of::<T>();
    match off.checked_add(len).and_then(|end| end.checked_mul(size)) {
        Some(end) if end <= bytes => Ok(()),
        _ => Err(Error::from_reason(format!("{name}: {len} elements at offset {off} exceed its buffer of {} elements", bytes / size))),
    }
}

/// Typed slice of `len` elements at element offset `off` of a byte buffer, bounds-checked.
fn slice_of<'a, T>(name: &str, bytes: &'a [u8], off: usize, len: usize) -> Result<&'a [T]> {
    fits::<T>(name, bytes.len(), off, len)?;
    Ok(unsafe { std::slice::from_raw_parts((bytes.as_ptr() as *const T).add(off), len) })
}
fn slice_of_mut<'a, T>(name: &str, bytes: &'a mut [u8], off: usize, len: usize) -> Result<&'a mut [T]> {
    fits::<T>(name, bytes.len(), off, len)?;
    Ok(unsafe { std::slice::from_raw_parts_mut((bytes.as_mut_ptr() as *mut T).add(off), len) })
}

/// The `n` element offsets a routine's JS side packs, or a JS error naming `op` (a short list would
/// index past its end, and a panic aborts the process).
fn offsets_of<'a>(op: &str, offsets: &'a [f64], n: usize) -> Result<impl Fn(usize) -> usize + 'a> {
    if offsets.len() != n { return Err(Error::from_reason(format!("{op}: offsets must have {n} entries, got {}", offsets.len()))); }
    Ok(move |i: usize| offsets[i] as usize)
}

/// Runs `$body` with `$t` the Rust type of a float32/float64 `dtype`; any other dtype is a JS error
/// naming `op`.
macro_rules! by_float {
    ($op:expr, $dtype:expr, $t:ident => $body:block) => {
        match $dtype.as_str() {
            "float32" => { type $t = f32; $body }
            "float64" => { type $t = f64; $body }
            d => return Err(Error::from_reason(format!("{}: unsupported dtype {d}", $op))),
        }
    };
}

/// The convolution plan packed in `plan`, or a JS error naming `op`.
fn conv_plan(op: &str, plan: &[f64]) -> Result<conv::Plan> {
    conv::Plan::from(plan).ok_or_else(|| Error::from_reason(format!("{op}: invalid plan (16 non-negative integers; strides, dilations and groups >= 1; groups dividing the channels; windows inside the padded input)")))
}

/// conv2d on contiguous float32/float64 operands; `plan` and `offsets` (x, w, bias, out) as packed by
/// the JS side. With an epilogue (see matmulEpilogue), it runs over the result right after it, in
/// this call, while the result is in cache (compile's epilogue fusion: a ReLU after the convolution).
#[napi(js_name = "conv2d")]
#[allow(clippy::too_many_arguments)]
pub fn conv2d(
    dtype: String, x: Uint8ArraySlice, w: Uint8ArraySlice, bias: Option<Uint8ArraySlice>, mut out: Uint8ArraySlice, plan: Float64ArraySlice, offsets: Float64ArraySlice,
    compiled: Option<i32>, launch: Option<Float64ArraySlice>, used: Option<u32>, outs: Option<Vec<TypedArray>>, leaves: Option<Vec<TypedArray>>,
) -> Result<()> {
    let p = conv_plan("conv2d", &plan)?;
    let o = offsets_of("conv2d", &offsets, 4)?;
    let epilogue = epilogue_args("conv2d", compiled, launch, used, outs, leaves)?;
    let total = p.n * p.o * p.oh * p.ow;
    let out_bytes = unsafe { out.as_mut() };
    by_float!("conv2d", dtype, T => {
        let xs = slice_of::<T>("conv2d x", &x, o(0), p.n * p.image())?;
        let ws = slice_of::<T>("conv2d weight", &w, o(1), p.o * (p.c / p.groups) * p.kh * p.kw)?;
        let bs = match &bias { Some(b) => Some(slice_of::<T>("conv2d bias", b, o(2), p.o)?), None => None };
        let os = slice_of_mut::<T>("conv2d out", out_bytes, o(3), total)?;
        whole_then_epilogue("conv2d epilogue", total, epilogue, || { conv::conv2d::<T>(xs, ws, bs, os, &p); Ok(()) })?;
    });
    Ok(())
}

/// conv2d's input, weight and/or bias gradients from grad (contiguous float32/float64 operands, as
/// conv2d); `offsets`: grad, x, w, gx, gw, gb.
#[napi(js_name = "conv2dBackward")]
#[allow(clippy::too_many_arguments)]
pub fn conv2d_backward(dtype: String, grad: Uint8ArraySlice, x: Uint8ArraySlice, w: Uint8ArraySlice, gx: Option<Uint8ArraySlice>, gw: Option<Uint8ArraySlice>, gb: Option<Uint8ArraySlice>, plan: Float64ArraySlice, offsets: Float64ArraySlice) -> Result<()> {
    let p = conv_plan("conv2dBackward", &plan)?;
    let o = offsets_of("conv2dBackward", &offsets, 6)?;
    let (mut gx, mut gw, mut gb) = (gx, gw, gb);
    let weights = p.o * (p.c / p.groups) * p.kh * p.kw;
    by_float!("conv2dBackward", dtype, T => {
        let gs = slice_of::<T>("conv2dBackward grad", &grad, o(0), p.n * p.o * p.oh * p.ow)?;
        let xs = slice_of::<T>("conv2dBackward x", &x, o(1), p.n * p.image())?;
        let ws = slice_of::<T>("conv2dBackward weight", &w, o(2), weights)?;
        let gxs = match gx.as_mut() { Some(b) => Some(slice_of_mut::<T>("conv2dBackward gx", unsafe { b.as_mut() }, o(3), p.n * p.image())?), None => None };
        let gws = match gw.as_mut() { Some(b) => Some(slice_of_mut::<T>("conv2dBackward gw", unsafe { b.as_mut() }, o(4), weights)?), None => None };
        let gbs = match gb.as_mut() { Some(b) => Some(slice_of_mut::<T>("conv2dBackward gb", unsafe { b.as_mut() }, o(5), p.o)?), None => None };
        conv::conv2d_backward::<T>(gs, xs, ws, gxs, gws, gbs, &p);
    });
    Ok(())
}

/// unfold (im2col) or, with `adjoint`, fold (col2im), on contiguous float32/float64 operands.
#[napi]
pub fn unfold(dtype: String, src: Uint8ArraySlice, mut dst: Uint8ArraySlice, plan: Float64ArraySlice, offsets: Float64ArraySlice, adjoint: bool) -> Result<()> {
    let p = conv_plan("unfold", &plan)?;
    let o = offsets_of("unfold", &offsets, 2)?;
    let (image, cols) = (p.n * p.image(), p.n * p.cols(p.c));
    let (src_len, dst_len) = if adjoint { (cols, image) } else { (image, cols) };
    let dst_bytes = unsafe { dst.as_mut() };
    by_float!("unfold", dtype, T => {
        let s = slice_of::<T>("unfold src", &src, o(0), src_len)?;
        let d = slice_of_mut::<T>("unfold dst", dst_bytes, o(1), dst_len)?;
        if adjoint { conv::fold::<T>(s, d, &p) } else { conv::unfold::<T>(s, d, &p) }
    });
    Ok(())
}

/// max/avg pooling on contiguous float32/float64 planes; `indices` (int64) receives each maximum's
/// flat position in its plane. `offsets`: x, out, indices.
#[napi(js_name = "pool2d")]
pub fn pool2d(dtype: String, x: Uint8ArraySlice, mut out: Uint8ArraySlice, indices: Option<Uint8ArraySlice>, plan: Float64ArraySlice, offsets: Float64ArraySlice, max: bool, count_include_pad: bool) -> Result<()> {
    let p = pool::Plan::from(&plan).ok_or_else(|| Error::from_reason("pool2d: plan must have 13 non-negative integers and strides > 0".to_string()))?;
    let o = offsets_of("pool2d", &offsets, 3)?;
    let (image, pooled) = (p.planes * p.h * p.w, p.planes * p.oh * p.ow);
    let out_bytes = unsafe { out.as_mut() };
    let mut indices = indices;
    let idx = match indices.as_mut() { Some(b) => Some(slice_of_mut::<i64>("pool2d indices", unsafe { b.as_mut() }, o(2), pooled)?), None => None };
    by_float!("pool2d", dtype, T => {
        let xs = slice_of::<T>("pool2d x", &x, o(0), image)?;
        let os = slice_of_mut::<T>("pool2d out", out_bytes, o(1), pooled)?;
        pool::pool2d::<T>(xs, os, idx, &p, max, count_include_pad);
    });
    Ok(())
}

/// Max pooling's input gradient: gx [planes, h*w] = each window's gradient at its maximum's flat
/// position (`indices`, int64, as pool2d wrote them), zero elsewhere; contiguous operands, float32 or
/// float64; `offsets`: gx, grad, indices. An index outside its plane is an error. With an epilogue
/// (see conv2d), it runs over gx right after (a ReLU's gradient before the pooling).
#[napi(js_name = "maxPool2dBackward")]
#[allow(clippy::too_many_arguments)]
pub fn max_pool2d_backward(
    dtype: String, mut gx: Uint8ArraySlice, grad: Uint8ArraySlice, indices: Uint8ArraySlice, planes: u32, hw: u32, l: u32, offsets: Float64ArraySlice,
    compiled: Option<i32>, launch: Option<Float64ArraySlice>, used: Option<u32>, outs: Option<Vec<TypedArray>>, leaves: Option<Vec<TypedArray>>,
) -> Result<()> {
    let o = offsets_of("maxPool2dBackward", &offsets, 3)?;
    let (planes, hw, l) = (planes as usize, hw as usize, l as usize);
    let epilogue = epilogue_args("maxPool2dBackward", compiled, launch, used, outs, leaves)?;
    let gx_bytes = unsafe { gx.as_mut() };
    let is = slice_of::<i64>("maxPool2dBackward indices", &indices, o(2), planes * l)?;
    by_float!("maxPool2dBackward", dtype, T => {
        let gxs = slice_of_mut::<T>("maxPool2dBackward gx", gx_bytes, o(0), planes * hw)?;
        let gs = slice_of::<T>("maxPool2dBackward grad", &grad, o(1), planes * l)?;
        whole_then_epilogue("maxPool2dBackward epilogue", planes * hw, epilogue, || {
            pool::max_pool_backward::<T>(gxs, gs, is, hw, l).map_err(|e| Error::from_reason(format!("maxPool2dBackward: {e}")))
        })?;
    });
    Ok(())
}

/// out[r, index[r, j]] += src[r, j] on contiguous rows (`rows` of `n` out elements and `k` index and
/// src elements); `offsets`: out, index, src. An out-of-range index is an error and nothing is written.
#[napi(js_name = "scatterAddRows")]
#[allow(clippy::too_many_arguments)]
pub fn scatter_add_rows(dtype: String, mut out: Uint8ArraySlice, index: Uint8ArraySlice, src: Uint8ArraySlice, rows: u32, n: u32, k: u32, offsets: Float64ArraySlice) -> Result<()> {
    let o = offsets_of("scatterAdd", &offsets, 3)?;
    let (rows, n, k) = (rows as usize, n as usize, k as usize);
    let out_bytes = unsafe { out.as_mut() };
    let is = slice_of::<i64>("scatterAdd index", &index, o(1), rows * k)?;
    by_float!("scatterAdd", dtype, T => {
        let os = slice_of_mut::<T>("scatterAdd out", out_bytes, o(0), rows * n)?;
        let ss = slice_of::<T>("scatterAdd src", &src, o(2), rows * k)?;
        pool::scatter_add_rows::<T>(os, is, ss, n, k).map_err(|e| Error::from_reason(format!("scatterAdd: {e}")))?;
    });
    Ok(())
}

/// indexSelect / embedding along dim 0 of contiguous x [size, row] into out [rows, row], `elem`
/// bytes an element, by an int32 or int64 `index` of `rows` entries; `offsets` (elements): out, x, index.
#[napi(js_name = "indexRows")]
#[allow(clippy::too_many_arguments)]
pub fn index_rows(mut out: Uint8ArraySlice, x: Uint8ArraySlice, index: Uint8ArraySlice, index_dtype: String, rows: u32, row: u32, size: u32, elem: u32, offsets: Float64ArraySlice) -> Result<()> {
    let o = offsets_of("indexSelect", &offsets, 3)?;
    let (rows, bytes, size, elem) = (rows as usize, row as usize * elem as usize, size as usize, elem as usize);
    let os = slice_of_mut::<u8>("indexSelect out", unsafe { out.as_mut() }, o(0) * elem, rows * bytes)?;
    let xs = slice_of::<u8>("indexSelect x", &x, o(1) * elem, size * bytes)?;
    let done = match index_dtype.as_str() {
        "int64" => pool::index_rows(os, xs, slice_of::<i64>("indexSelect index", &index, o(2), rows)?, bytes, size),
        "int32" => pool::index_rows(os, xs, slice_of::<i32>("indexSelect index", &index, o(2), rows)?, bytes, size),
        d => return Err(Error::from_reason(format!("indexSelect: unsupported index dtype {d}"))),
    };
    done.map_err(|e| Error::from_reason(format!("indexSelect: {e}")))
}

/// torch.gather along the last dim of contiguous operands: x [rows, n], index and out [rows, k]
/// (int64 index), `elem` bytes an element (any dtype), the last dim being dim `dim`; `offsets`
/// (elements): out, x, index.
#[napi(js_name = "gatherRows")]
#[allow(clippy::too_many_arguments)]
pub fn gather_rows(mut out: Uint8ArraySlice, x: Uint8ArraySlice, index: Uint8ArraySlice, rows: u32, n: u32, k: u32, elem: u32, dim: u32, offsets: Float64ArraySlice) -> Result<()> {
    let o = offsets_of("gather", &offsets, 3)?;
    let (rows, n, k) = (rows as usize, n as usize, k as usize);
    let out_bytes = unsafe { out.as_mut() };
    let is = slice_of::<i64>("gather index", &index, o(2), rows * k)?;
    macro_rules! by_size {
        ($($size:literal => $t:ty),*) => {
            match elem {
                $($size => pool::gather_rows::<$t>(slice_of_mut::<$t>("gather out", out_bytes, o(0), rows * k)?, slice_of::<$t>("gather x", &x, o(1), rows * n)?, is, n, k, dim as usize),)*
                e => return Err(Error::from_reason(format!("gather: unsupported element size {e}"))),
            }
        };
    }
    by_size!(1 => u8, 2 => u16, 4 => u32, 8 => u64).map_err(|e| Error::from_reason(format!("gather: {e}")))
}

/// out[index[r]] += src[r] over rows of `row` elements along dim 0 (scatterAdd as indexSelect's and
/// embedding's gradients call it): contiguous out [size, row] and src [rows, row], int64 index of
/// `rows` entries; `offsets`: out, index, src.
#[napi(js_name = "indexAddRows")]
#[allow(clippy::too_many_arguments)]
pub fn index_add_rows(dtype: String, mut out: Uint8ArraySlice, index: Uint8ArraySlice, src: Uint8ArraySlice, rows: u32, row: u32, size: u32, offsets: Float64ArraySlice) -> Result<()> {
    let o = offsets_of("scatterAdd", &offsets, 3)?;
    let (rows, row, size) = (rows as usize, row as usize, size as usize);
    let out_bytes = unsafe { out.as_mut() };
    let is = slice_of::<i64>("scatterAdd index", &index, o(1), rows)?;
    by_float!("scatterAdd", dtype, T => {
        let os = slice_of_mut::<T>("scatterAdd out", out_bytes, o(0), size * row)?;
        let ss = slice_of::<T>("scatterAdd src", &src, o(2), rows * row)?;
        pool::index_add_rows::<T>(os, is, ss, row, size).map_err(|e| Error::from_reason(format!("scatterAdd: {e}")))?;
    });
    Ok(())
}

/// softmax / logSoftmax over contiguous rows of `n` (`rows` of them); `offsets`: x, out.
#[napi(js_name = "softmaxRows")]
pub fn softmax_rows(dtype: String, x: Uint8ArraySlice, mut out: Uint8ArraySlice, rows: u32, n: u32, offsets: Float64ArraySlice, log: bool) -> Result<()> {
    let o = offsets_of("softmax", &offsets, 2)?;
    let len = rows as usize * n as usize;
    let out_bytes = unsafe { out.as_mut() };
    by_float!("softmax", dtype, T => {
        let xs = slice_of::<T>("softmax x", &x, o(0), len)?;
        let os = slice_of_mut::<T>("softmax out", out_bytes, o(1), len)?;
        rows::softmax::<T>(os, xs, n as usize, log);
    });
    Ok(())
}

/// softmax's / logSoftmax's gradient over contiguous rows of `n` from the forward's output y;
/// `offsets`: gx, grad, y. With an epilogue (see matmulEpilogue), it runs over gx's rows as they are done.
#[napi(js_name = "softmaxBackwardRows")]
#[allow(clippy::too_many_arguments)]
pub fn softmax_backward_rows(
    dtype: String, mut gx: Uint8ArraySlice, grad: Uint8ArraySlice, y: Uint8ArraySlice, rows: u32, n: u32, offsets: Float64ArraySlice, log: bool,
    compiled: Option<i32>, launch: Option<Float64ArraySlice>, used: Option<u32>, outs: Option<Vec<TypedArray>>, leaves: Option<Vec<TypedArray>>,
) -> Result<()> {
    let o = offsets_of("softmaxBackward", &offsets, 3)?;
    let (rows, n) = (rows as usize, n as usize);
    let len = rows * n;
    let epilogue = epilogue_args("softmaxBackward", compiled, launch, used, outs, leaves)?;
    let gx_bytes = unsafe { gx.as_mut() };
    by_float!("softmaxBackward", dtype, T => {
        let gxs = slice_of_mut::<T>("softmaxBackward gx", gx_bytes, o(0), len)?;
        let gs = slice_of::<T>("softmaxBackward grad", &grad, o(1), len)?;
        let ys = slice_of::<T>("softmaxBackward y", &y, o(2), len)?;
        let Some(args) = epilogue else {
            rows::softmax_backward::<T>(gxs, gs, ys, n, log);
            return Ok(());
        };
        let out = RowsPtr(gxs.as_mut_ptr());
        with_epilogue("softmaxBackward epilogue", len, args, |e| {
            rows_then_epilogue(rows, n, std::mem::size_of::<T>(), len >= rows::PARALLEL_ELEMENTS, e, |r0, r1| {
                // SAFETY: rows [r0, r1) of gx belong to this task alone.
                let gx = unsafe { std::slice::from_raw_parts_mut(out.get().add(r0 * n), (r1 - r0) * n) };
                rows::softmax_backward::<T>(gx, &gs[r0 * n..r1 * n], &ys[r0 * n..r1 * n], n, log);
            })
        })?;
    });
    Ok(())
}

/// A raw pointer to rows that tasks write (never the same row twice).
#[derive(Clone, Copy)]
struct RowsPtr<T>(*mut T);
unsafe impl<T> Send for RowsPtr<T> {}
unsafe impl<T> Sync for RowsPtr<T> {}
impl<T> RowsPtr<T> {
    // (A method, so closures capture the wrapper, not the bare pointer.)
    fn get(self) -> *mut T { self.0 }
}

/// layerNorm over contiguous rows of `n`; weight and bias (n elements each) optional; `offsets`: x, out, weight, bias.
#[napi(js_name = "layerNormRows")]
#[allow(clippy::too_many_arguments)]
pub fn layer_norm_rows(dtype: String, x: Uint8ArraySlice, mut out: Uint8ArraySlice, weight: Option<Uint8ArraySlice>, bias: Option<Uint8ArraySlice>, rows: u32, n: u32, offsets: Float64ArraySlice, eps: f64) -> Result<()> {
    let o = offsets_of("layerNorm", &offsets, 4)?;
    let (len, n) = (rows as usize * n as usize, n as usize);
    let out_bytes = unsafe { out.as_mut() };
    by_float!("layerNorm", dtype, T => {
        let xs = slice_of::<T>("layerNorm x", &x, o(0), len)?;
        let ws = match &weight { Some(w) => Some(slice_of::<T>("layerNorm weight", w, o(2), n)?), None => None };
        let bs = match &bias { Some(b) => Some(slice_of::<T>("layerNorm bias", b, o(3), n)?), None => None };
        let os = slice_of_mut::<T>("layerNorm out", out_bytes, o(1), len)?;
        rows::layer_norm::<T>(os, xs, ws, bs, n, eps);
    });
    Ok(())
}

/// layerNorm's gradients over contiguous rows of `n` (`rows` of them): any of gx (like x), gw and gb
/// (n elements each), overwritten; weight optional; `offsets`: gx, gw, gb, grad, x, weight.
#[napi(js_name = "layerNormBackwardRows")]
#[allow(clippy::too_many_arguments)]
pub fn layer_norm_backward_rows(
    dtype: String, gx: Option<Uint8ArraySlice>, gw: Option<Uint8ArraySlice>, gb: Option<Uint8ArraySlice>, grad: Uint8ArraySlice, x: Uint8ArraySlice, weight: Option<Uint8ArraySlice>,
    rows: u32, n: u32, offsets: Float64ArraySlice, eps: f64,
    compiled: Option<i32>, launch: Option<Float64ArraySlice>, used: Option<u32>, outs: Option<Vec<TypedArray>>, leaves: Option<Vec<TypedArray>>,
) -> Result<()> {
    let o = offsets_of("layerNormBackward", &offsets, 6)?;
    let (len, n) = (rows as usize * n as usize, n as usize);
    let epilogue = epilogue_args("layerNormBackward", compiled, launch, used, outs, leaves)?;
    if epilogue.is_some() && gx.is_none() { return Err(Error::from_reason("layerNormBackward: an epilogue runs over gx, which is not given".to_string())); }
    let (mut gx, mut gw, mut gb) = (gx, gw, gb);
    by_float!("layerNormBackward", dtype, T => {
        let gs = slice_of::<T>("layerNormBackward grad", &grad, o(3), len)?;
        let xs = slice_of::<T>("layerNormBackward x", &x, o(4), len)?;
        let ws = match &weight { Some(w) => Some(slice_of::<T>("layerNormBackward weight", w, o(5), n)?), None => None };
        let gxs = match gx.as_mut() { Some(b) => Some(slice_of_mut::<T>("layerNormBackward gx", unsafe { b.as_mut() }, o(0), len)?), None => None };
        let gws = match gw.as_mut() { Some(b) => Some(slice_of_mut::<T>("layerNormBackward gw", unsafe { b.as_mut() }, o(1), n)?), None => None };
        let gbs = match gb.as_mut() { Some(b) => Some(slice_of_mut::<T>("layerNormBackward gb", unsafe { b.as_mut() }, o(2), n)?), None => None };
        match epilogue {
            None => rows::layer_norm_backward::<T>(gxs, gws, gbs, gs, xs, ws, n, eps, None).map_err(Error::from_reason)?,
            Some(args) => with_epilogue("layerNormBackward epilogue", len, args, |e| {
                let unit = e.unit();
                let done = |r0: usize, r1: usize| e.run(r0 * n / unit, r1 * n / unit);
                rows::layer_norm_backward::<T>(gxs, gws, gbs, gs, xs, ws, n, eps, Some((e.align(n), &done))).map_err(Error::from_reason)
            })?,
        }
    });
    Ok(())
}

/// Keeps freed tensor buffers in the process heap (glibc only): tensors up to 32 MiB come from the
/// heap rather than fresh mmap()s, and up to 128 MiB of free heap top is kept rather than trimmed.
/// glibc's own heuristic drifts there for a steady workload, but a garbage collector's bursts of
/// frees keep trimming it, and then every new buffer costs a page fault per 4 KiB on first write:
/// ~9 us of a 128 KiB result's ~13 us, measured. Returns whether the thresholds were set.
#[napi(js_name = "tuneHostAllocator")]
pub fn tune_host_allocator() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" { fn mallopt(param: i32, value: i32) -> i32; }
        const M_TRIM_THRESHOLD: i32 = -1;
        const M_MMAP_THRESHOLD: i32 = -3;
        // SAFETY: mallopt only adjusts allocator parameters; it returns 0 on a value it refuses.
        unsafe { mallopt(M_MMAP_THRESHOLD, 32 << 20) != 0 && mallopt(M_TRIM_THRESHOLD, 128 << 20) != 0 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    { false }
}

/// Makes the calling thread (Node's main thread, which calls every kernel) one of the rayon pool's
/// threads, with one fewer thread spawned beside it, as OpenMP's master thread works in its own
/// parallel regions. Otherwise each parallel kernel hands its work to pool threads and sleeps until
/// they finish: a pool thread that has gone to sleep between kernels (tens of microseconds of JS
/// apart) must be woken first, and on a loaded machine that wake-up waits for a core. As a member,
/// the calling thread starts on the work at once, and does all of it when the other threads are
/// slow to come. Returns false, leaving the pool as rayon makes it, when the pool was already built
/// (a second backend, or a kernel that ran first), or when it would have no thread but this one (one
/// core, or RAYON_NUM_THREADS=1): a kernel called from a worker thread must find a pool thread that
/// is not the main thread, which may sit idle in JS (or wait on that worker) and never run it.
#[napi(js_name = "joinThreadPool")]
pub fn join_thread_pool() -> bool {
    // rayon's own default: RAYON_NUM_THREADS when set and positive, else the cores available.
    let threads = std::env::var("RAYON_NUM_THREADS").ok().and_then(|v| v.parse::<usize>().ok()).filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    threads >= 2 && rayon::ThreadPoolBuilder::new().num_threads(threads).use_current_thread().build_global().is_ok()
}
