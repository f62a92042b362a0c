//! Device 'cuda': the driver API, NVRTC and cuBLAS through cudarc, loaded at run time (cudarc's
//! `dynamic-loading`), so the addon builds and loads on machines without CUDA and reports why the
//! device is unavailable instead of failing to load.
//!
//! The JS side generates every kernel's CUDA C from the op specs' IR; here it is compiled once per
//! source (NVRTC, straight to the device's SASS so a driver older than NVRTC still loads it), cached,
//! and launched on one stream. Kernels take a single by-value parameter block: the base pointers of
//! their buffers, then integer words (shapes, strides, offsets), then float words (scalar params).
//! Buffers are ids into a table owned here, so JS never handles a device pointer; freed memory goes
//! to a caching allocator (size classes, as PyTorch's), reused in stream order.

use cudarc::cublas::{result as blas, sys as blas_sys};
use cudarc::driver::{result as drv, sys as drv_sys};
use cudarc::nvrtc::{result as rtc, sys as rtc_sys};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::collections::HashMap;
use std::ffi::{c_void, CString};
use std::sync::Mutex;

/// Parameter block words (4 KiB: the classic CUDA kernel parameter limit).
const PARAM_WORDS: usize = 512;

fn err(op: &str, msg: impl std::fmt::Display) -> Error {
    Error::from_reason(format!("cuda {op}: {msg}"))
}

fn drv_err(op: &str, e: drv::DriverError) -> Error {
    let name = e.error_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|_| format!("{:?}", e.0));
    let text = e.error_string().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    err(op, format!("{name} ({text})"))
}

/// Loads shared libraries by absolute path, RTLD_GLOBAL, for the process lifetime: a later
/// dlopen by soname (cudarc's) then finds them, wherever they live (Python's site-packages).
#[napi]
pub fn cuda_preload(paths: Vec<String>) -> Vec<String> {
    use libloading::os::unix::{Library, RTLD_GLOBAL, RTLD_NOW};
    let mut failed = Vec::new();
    for p in paths {
        match unsafe { Library::open(Some(&p), RTLD_NOW | RTLD_GLOBAL) } {
            Ok(lib) => std::mem::forget(lib),
            Err(e) => failed.push(format!("{p}: {e}")),
        }
    }
    failed
}

/// NVRTC's version ("13.0"), or why it cannot be used.
#[napi(object)]
pub struct NvrtcInfo {
    pub version: Option<String>,
    pub reason: Option<String>,
}

#[napi]
pub fn nvrtc_info() -> NvrtcInfo {
    if !unsafe { rtc_sys::is_culib_present() } {
        return NvrtcInfo { version: None, reason: Some("libnvrtc was not found (install CUDA or pip install nvidia-cuda-nvrtc, or set TESSERA_CUDA_LIBS)".into()) };
    }
    let (mut major, mut minor) = (0, 0);
    match unsafe { rtc_sys::nvrtcVersion(&mut major, &mut minor) }.result() {
        Ok(()) => NvrtcInfo { version: Some(format!("{major}.{minor}")), reason: None },
        Err(e) => NvrtcInfo { version: None, reason: Some(format!("nvrtcVersion failed: {e:?}")) },
    }
}

/// Compiles CUDA C to a cubin for `arch` ("sm_90"). Needs only NVRTC, no GPU: the tests compile
/// every generated kernel this way.
#[napi]
pub fn nvrtc_compile(source: String, arch: String) -> Result<Buffer> {
    compile(&source, &arch).map(Buffer::from)
}

fn compile(source: &str, arch: &str) -> Result<Vec<u8>> {
    if !unsafe { rtc_sys::is_culib_present() } {
        return Err(err("compile", "libnvrtc was not found"));
    }
    let src = CString::new(source).map_err(|_| err("compile", "source contains a NUL byte"))?;
    let prog = rtc::create_program(&src, None).map_err(|e| err("compile", format!("{e:?}")))?;
    let opts = [format!("--gpu-architecture={arch}"), "--std=c++17".into()];
    let compiled = unsafe { rtc::compile_program(prog, &opts) };
    let result = match compiled {
        Ok(()) => unsafe {
            let mut size = 0usize;
            rtc_sys::nvrtcGetCUBINSize(prog, &mut size).result().map_err(|e| err("compile", format!("{e:?}")))?;
            let mut cubin = vec![0u8; size];
            rtc_sys::nvrtcGetCUBIN(prog, cubin.as_mut_ptr() as *mut _).result().map_err(|e| err("compile", format!("{e:?}")))?;
            Ok(cubin)
        },
        Err(e) => {
            let log = unsafe { rtc::get_program_log(prog) }.map(|l| {
                let bytes: Vec<u8> = l.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
                String::from_utf8_lossy(&bytes).into_owned()
            }).unwrap_or_default();
            Err(err("compile", format!("NVRTC rejected a generated kernel ({e:?}):\n{log}")))
        }
    };
    let _ = unsafe { rtc::destroy_program(prog) };
    result
}

/// What the 'cuda' device is, or why there is none.
#[napi(object)]
pub struct CudaProbe {
    pub available: bool,
    pub reason: Option<String>,
    pub devices: u32,
}

/// Checks for the driver library and a device without touching anything that could abort.
#[napi]
pub fn cuda_probe() -> CudaProbe {
    let no = |reason: String| CudaProbe { available: false, reason: Some(reason), devices: 0 };
    if !unsafe { drv_sys::is_culib_present() } {
        return no("the NVIDIA driver library (libcuda.so.1) was not found: no NVIDIA driver is installed".into());
    }
    if let Err(e) = drv::init() {
        return no(format!("cuInit failed: {}", drv_err("init", e).reason));
    }
    match drv::device::get_count() {
        Ok(0) => no("the NVIDIA driver reports no CUDA device".into()),
        Ok(n) => CudaProbe { available: true, reason: None, devices: n as u32 },
        Err(e) => no(format!("cuDeviceGetCount failed: {}", drv_err("init", e).reason)),
    }
}

struct Kernel {
    func: drv_sys::CUfunction,
    // Kept so the module stays loaded as long as the function is cached.
    _module: drv_sys::CUmodule,
}

struct Buf {
    ptr: drv_sys::CUdeviceptr,
    /// Size class actually allocated.
    class: usize,
}

struct Cuda {
    ctx: drv_sys::CUcontext,
    stream: drv_sys::CUstream,
    arch: String,
    blas: Option<blas_sys::cublasHandle_t>,
    buffers: HashMap<u32, Buf>,
    next_id: u32,
    pool: HashMap<usize, Vec<drv_sys::CUdeviceptr>>,
    pooled: usize,
    kernels: HashMap<String, Kernel>,
}

// The raw handles are used from the JS thread only; the mutex serialises access.
unsafe impl Send for Cuda {}

static STATE: Mutex<Option<Cuda>> = Mutex::new(None);

fn with<T>(op: &str, f: impl FnOnce(&mut Cuda) -> Result<T>) -> Result<T> {
    let mut guard = STATE.lock().map_err(|_| err(op, "state poisoned"))?;
    let cuda = guard.as_mut().ok_or_else(|| err(op, "the device is not initialised (call initCuda())"))?;
    unsafe { drv::ctx::set_current(cuda.ctx) }.map_err(|e| drv_err(op, e))?;
    f(cuda)
}

/// Allocation size classes: 512 bytes, then quarter steps between powers of two (<= 25% slack).
fn size_class(bytes: usize) -> usize {
    if bytes <= 512 {
        return 512;
    }
    let step = (1usize << (usize::BITS - 1 - bytes.leading_zeros())) / 4;
    bytes.div_ceil(step) * step
}

#[napi(object)]
pub struct CudaDevice {
    pub name: String,
    pub arch: String,
    pub memory: f64,
    pub ordinal: u32,
}

/// Opens device `ordinal` (its primary context and one stream).
#[napi]
pub fn cuda_init(ordinal: u32) -> Result<CudaDevice> {
    let probe = cuda_probe();
    if !probe.available {
        return Err(err("init", probe.reason.unwrap_or_default()));
    }
    if ordinal >= probe.devices {
        return Err(err("init", format!("no device {ordinal}: the driver reports {} device(s)", probe.devices)));
    }
    let mut guard = STATE.lock().map_err(|_| err("init", "state poisoned"))?;
    let dev = drv::device::get(ordinal as i32).map_err(|e| drv_err("init", e))?;
    let name = drv::device::get_name(dev).map_err(|e| drv_err("init", e))?;
    let attr = |a| unsafe { drv::device::get_attribute(dev, a) }.map_err(|e| drv_err("init", e));
    let major = attr(drv_sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)?;
    let minor = attr(drv_sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)?;
    let memory = unsafe { drv::device::total_mem(dev) }.map_err(|e| drv_err("init", e))?;
    let arch = format!("sm_{major}{minor}");
    if guard.is_none() {
        let ctx = unsafe { drv::primary_ctx::retain(dev) }.map_err(|e| drv_err("init", e))?;
        unsafe { drv::ctx::set_current(ctx) }.map_err(|e| drv_err("init", e))?;
        let stream = drv::stream::create(drv::stream::StreamKind::NonBlocking).map_err(|e| drv_err("init", e))?;
        *guard = Some(Cuda { ctx, stream, arch: arch.clone(), blas: None, buffers: HashMap::new(), next_id: 1, pool: HashMap::new(), pooled: 0, kernels: HashMap::new() });
    }
    Ok(CudaDevice { name, arch, memory: memory as f64, ordinal })
}

impl Cuda {
    fn alloc(&mut self, bytes: usize) -> Result<u32> {
        let class = size_class(bytes.max(1));
        let ptr = match self.pool.get_mut(&class).and_then(|l| l.pop()) {
            Some(p) => {
                self.pooled -= class;
                p
            }
            None => match unsafe { drv::malloc_sync(class) } {
                Ok(p) => p,
                Err(drv::DriverError(drv_sys::CUresult::CUDA_ERROR_OUT_OF_MEMORY)) => {
                    // As PyTorch's allocator: give the cache back to the driver and try once more.
                    self.trim()?;
                    unsafe { drv::malloc_sync(class) }.map_err(|e| drv_err("alloc", e).reason).map_err(|r| err("alloc", format!("out of GPU memory allocating {bytes} bytes ({r})")))?
                }
                Err(e) => return Err(drv_err("alloc", e)),
            },
        };
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        self.buffers.insert(id, Buf { ptr, class });
        Ok(id)
    }

    /// Frees every cached block (after the stream drains: pending kernels may still use them).
    fn trim(&mut self) -> Result<()> {
        unsafe { drv::stream::synchronize(self.stream) }.map_err(|e| drv_err("trim", e))?;
        for (_, list) in self.pool.drain() {
            for p in list {
                unsafe { drv::free_sync(p) }.map_err(|e| drv_err("free", e))?;
            }
        }
        self.pooled = 0;
        Ok(())
    }

    fn buf(&self, op: &str, id: u32) -> Result<&Buf> {
        self.buffers.get(&id).ok_or_else(|| err(op, format!("no buffer {id} (freed?)")))
    }

    /// Checks `[offset, offset + bytes)` lies within buffer `id`; returns its address.
    fn range(&self, op: &str, id: u32, offset: f64, bytes: f64) -> Result<drv_sys::CUdeviceptr> {
        let b = self.buf(op, id)?;
        if offset < 0.0 || bytes < 0.0 || offset + bytes > b.class as f64 {
            return Err(err(op, format!("bytes [{offset}, {}) are outside buffer {id} of {} bytes", offset + bytes, b.class)));
        }
        Ok(b.ptr + offset as u64)
    }

    fn kernel(&mut self, key: &str, source: Option<&str>) -> Result<drv_sys::CUfunction> {
        if let Some(k) = self.kernels.get(key) {
            return Ok(k.func);
        }
        let source = source.ok_or_else(|| err("launch", format!("kernel {key} is not compiled and no source was given")))?;
        let cubin = compile(source, &self.arch)?;
        let module = unsafe { drv::module::load_data(cubin.as_ptr() as *const c_void) }.map_err(|e| drv_err("load", e))?;
        let func = unsafe { drv::module::get_function(module, CString::new("k").unwrap()) }.map_err(|e| drv_err("load", e))?;
        self.kernels.insert(key.to_string(), Kernel { func, _module: module });
        Ok(func)
    }
}

/// A new device buffer of at least `bytes` bytes (contents undefined); returns its id.
#[napi]
pub fn cuda_alloc(bytes: f64) -> Result<u32> {
    if !(bytes >= 0.0) || bytes > (1u64 << 46) as f64 {
        return Err(err("alloc", format!("invalid size {bytes}")));
    }
    with("alloc", |c| c.alloc(bytes as usize))
}

/// Returns a buffer to the cache; launches already queued that use it still see it (stream order).
#[napi]
pub fn cuda_free(id: u32) -> Result<()> {
    with("free", |c| {
        let b = c.buffers.remove(&id).ok_or_else(|| err("free", format!("no buffer {id}")))?;
        c.pool.entry(b.class).or_default().push(b.ptr);
        c.pooled += b.class;
        Ok(())
    })
}

/// Host bytes into a buffer at `offset` (queued on the stream; the host array may be reused at once).
#[napi]
pub fn cuda_write(id: u32, offset: f64, data: Uint8Array) -> Result<()> {
    with("write", |c| {
        let dst = c.range("write", id, offset, data.len() as f64)?;
        if data.is_empty() {
            return Ok(());
        }
        unsafe { drv::memcpy_htod_async(dst, &data[..], c.stream) }.map_err(|e| drv_err("write", e))
    })
}

/// `bytes` bytes of a buffer from `offset`, after everything queued before has run. Errors of
/// earlier launches (an illegal address, say) surface here, as CUDA reports them at the next sync.
#[napi]
pub fn cuda_read(id: u32, offset: f64, bytes: f64) -> Result<Buffer> {
    with("read", |c| {
        let src = c.range("read", id, offset, bytes)?;
        let mut out = vec![0u8; bytes as usize];
        if !out.is_empty() {
            unsafe { drv::memcpy_dtoh_async(&mut out[..], src, c.stream) }.map_err(|e| drv_err("read", e))?;
        }
        unsafe { drv::stream::synchronize(c.stream) }.map_err(|e| drv_err("read", e))?;
        Ok(Buffer::from(out))
    })
}

/// Device-to-device copy of `bytes` bytes.
#[napi]
pub fn cuda_copy(dst: u32, dst_offset: f64, src: u32, src_offset: f64, bytes: f64) -> Result<()> {
    with("copy", |c| {
        let d = c.range("copy", dst, dst_offset, bytes)?;
        let s = c.range("copy", src, src_offset, bytes)?;
        if bytes > 0.0 {
            unsafe { drv::memcpy_dtod_async(d, s, bytes as usize, c.stream) }.map_err(|e| drv_err("copy", e))?;
        }
        Ok(())
    })
}

/// Waits for every queued launch.
#[napi]
pub fn cuda_synchronize() -> Result<()> {
    with("synchronize", |c| unsafe { drv::stream::synchronize(c.stream) }.map_err(|e| drv_err("synchronize", e)))
}

/// Whether kernel `key` is compiled (JS then launches it without resending its source).
#[napi]
pub fn cuda_has_kernel(key: String) -> Result<bool> {
    with("launch", |c| Ok(c.kernels.contains_key(&key)))
}

/// Launches kernel `key` (compiling `source` first if it is new) on `grid` blocks of `block`
/// threads. Its parameter block is: the base address of each buffer in `buffers`, then `ints` as
/// 64-bit integers, then `floats` as doubles.
#[napi]
pub fn cuda_launch(key: String, source: Option<String>, grid: Vec<u32>, block: u32, buffers: Uint32Array, ints: Float64Array, floats: Float64Array) -> Result<()> {
    with("launch", |c| {
        let words = buffers.len() + ints.len() + floats.len();
        if words > PARAM_WORDS {
            return Err(err("launch", format!("{key}: {words} parameter words exceed {PARAM_WORDS}")));
        }
        if grid.len() != 3 || grid.iter().any(|&g| g == 0) || block == 0 || block > 1024 {
            return Err(err("launch", format!("{key}: invalid launch shape {grid:?} x {block}")));
        }
        let func = c.kernel(&key, source.as_deref())?;
        let mut params = [0u64; PARAM_WORDS];
        for (i, &id) in buffers.iter().enumerate() {
            params[i] = c.buf("launch", id)?.ptr;
        }
        let mut at = buffers.len();
        for &v in ints.iter() {
            params[at] = v as i64 as u64;
            at += 1;
        }
        for &v in floats.iter() {
            params[at] = v.to_bits();
            at += 1;
        }
        let mut args = [params.as_mut_ptr() as *mut c_void];
        unsafe { drv::launch_kernel(func, (grid[0], grid[1], grid[2]), (block, 1, 1), 0, c.stream, &mut args) }.map_err(|e| drv_err("launch", e))
    })
}

/// One operand of a cuBLAS gemm: buffer, byte offset, leading dimension, batch stride (elements),
/// and whether it is transposed (column-major in cuBLAS's view).
#[napi(object)]
pub struct GemmOperand {
    pub buffer: u32,
    pub offset: f64,
    pub ld: f64,
    pub stride: f64,
    pub trans: bool,
}

/// Column-major C[m, n] = op(A)[m, k] op(B)[k, n], `batch` times (strided), through cuBLAS with
/// float32 accumulation for float32 and float16 (no TF32, as PyTorch's default) and float64 for
/// float64. The caller hands row-major operands swapped (C^T = B^T A^T).
#[napi]
#[allow(clippy::too_many_arguments)]
pub fn cuda_gemm(dtype: String, m: u32, n: u32, k: u32, batch: u32, a: GemmOperand, b: GemmOperand, c: GemmOperand) -> Result<()> {
    use blas_sys::{cublasComputeType_t as C, cublasOperation_t as Op, cudaDataType as T};
    let (ty, compute, elem) = match dtype.as_str() {
        "float32" => (T::CUDA_R_32F, C::CUBLAS_COMPUTE_32F, 4usize),
        "float16" => (T::CUDA_R_16F, C::CUBLAS_COMPUTE_32F, 2),
        "float64" => (T::CUDA_R_64F, C::CUBLAS_COMPUTE_64F, 8),
        other => return Err(err("gemm", format!("cuBLAS gemm takes float32, float16 or float64, not {other}"))),
    };
    with("gemm", |cu| {
        if m == 0 || n == 0 || batch == 0 {
            return Ok(());
        }
        // The last element each operand reaches, to check it stays inside its buffer.
        let extent = |o: &GemmOperand, rows: u32, cols: u32| -> f64 {
            let (r, cc) = if o.trans { (cols, rows) } else { (rows, cols) };
            ((batch as f64 - 1.0) * o.stride + (cc as f64 - 1.0) * o.ld + r as f64) * elem as f64
        };
        let pa = cu.range("gemm", a.buffer, a.offset, if k == 0 { 0.0 } else { extent(&a, m, k) })?;
        let pb = cu.range("gemm", b.buffer, b.offset, if k == 0 { 0.0 } else { extent(&b, k, n) })?;
        let pc = cu.range("gemm", c.buffer, c.offset, extent(&c, m, n))?;
        let handle = match cu.blas {
            Some(h) => h,
            None => {
                if !unsafe { blas_sys::is_culib_present() } {
                    return Err(err("gemm", "libcublas was not found (install CUDA or pip install nvidia-cublas, or set TESSERA_CUDA_LIBS)"));
                }
                let h = blas::create_handle().map_err(|e| err("gemm", format!("cublasCreate failed: {e:?}")))?;
                unsafe { blas::set_stream(h, cu.stream as _) }.map_err(|e| err("gemm", format!("{e:?}")))?;
                cu.blas = Some(h);
                h
            }
        };
        let (one32, zero32, one64, zero64) = (1f32, 0f32, 1f64, 0f64);
        let (alpha, beta): (*const c_void, *const c_void) = if elem == 8 {
            (&one64 as *const f64 as _, &zero64 as *const f64 as _)
        } else {
            (&one32 as *const f32 as _, &zero32 as *const f32 as _)
        };
        let op = |t: bool| if t { Op::CUBLAS_OP_T } else { Op::CUBLAS_OP_N };
        unsafe {
            blas::gemm_strided_batched_ex(
                handle, op(a.trans), op(b.trans), m as i32, n as i32, k as i32,
                alpha, pa as *const c_void, ty, a.ld as i32, a.stride as i64,
                pb as *const c_void, ty, b.ld as i32, b.stride as i64,
                beta, pc as *mut c_void, ty, c.ld as i32, c.stride as i64,
                batch as i32, compute, blas_sys::cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT,
            )
        }
        .map_err(|e| err("gemm", format!("{e:?}")))
    })
}

/// Device memory: (free, total) bytes as the driver sees them, and bytes held in the cache.
#[napi]
pub fn cuda_memory() -> Result<Vec<f64>> {
    with("memory", |c| {
        let (free, total) = drv::mem_get_info().map_err(|e| drv_err("memory", e))?;
        Ok(vec![free as f64, total as f64, c.pooled as f64])
    })
}
