//! Collectives through MPI (Open MPI on Debian), via the C shim: what users take across machines.
//! MPI counts are C ints, so large buffers go in pieces of at most 2^30 elements.
use crate::engine::{Desc, Ptr, Transport, DESC_WORDS};
use crate::reduce::{DType, Red};
use std::os::raw::{c_char, c_int, c_longlong, c_void};

extern "C" {
    fn tmpi_init(rank: *mut c_int, size: *mut c_int, provided: *mut c_int) -> c_int;
    fn tmpi_finalize() -> c_int;
    fn tmpi_abort(code: c_int);
    fn tmpi_error_string(code: c_int, err: *mut c_char, cap: c_int);
    fn tmpi_allreduce(buf: *mut c_void, count: c_int, dtype: c_int, op: c_int) -> c_int;
    fn tmpi_bcast(buf: *mut c_void, count: c_int, root: c_int) -> c_int;
    fn tmpi_allgather(send: *const c_void, recv: *mut c_void, bytes: c_int) -> c_int;
    fn tmpi_reduce_scatter(send: *const c_void, recv: *mut c_void, count: c_int, dtype: c_int, op: c_int) -> c_int;
    fn tmpi_barrier() -> c_int;
    fn tmpi_gather_descriptors(mine: *const c_longlong, all: *mut c_longlong, n: c_int) -> c_int;
}

const PIECE: usize = 1 << 30;

pub struct Mpi { rank: usize, world: usize, context: String }

fn check(rc: c_int, what: &str) -> Result<(), String> {
    if rc == 0 { return Ok(()); }
    let mut buf = [0 as c_char; 512];
    unsafe { tmpi_error_string(rc, buf.as_mut_ptr(), buf.len() as c_int) };
    let text = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().into_owned();
    Err(format!("MPI failed in {what}: {text}"))
}

impl Mpi {
    /// MPI_Init_thread on the calling (communication) thread: MPI_THREAD_FUNNELED is all it needs.
    pub fn connect() -> Result<Mpi, String> {
        let (mut rank, mut size, mut provided) = (0, 0, 0);
        check(unsafe { tmpi_init(&mut rank, &mut size, &mut provided) }, "MPI_Init_thread")?;
        Ok(Mpi { rank: rank as usize, world: size as usize, context: String::new() })
    }
}

/// Ends the whole MPI job (every rank): for a rank that cannot go on and must not leave peers waiting.
pub fn abort(code: i32) { unsafe { tmpi_abort(code) } }

impl Transport for Mpi {
    fn rank(&self) -> usize { self.rank }
    fn world(&self) -> usize { self.world }
    fn set_context(&mut self, what: &str) { self.context = what.to_string(); }

    fn exchange(&mut self, desc: &Desc) -> Result<Option<Vec<Desc>>, String> {
        let mut all = vec![0i64; DESC_WORDS * self.world];
        check(unsafe { tmpi_gather_descriptors(desc.as_ptr(), all.as_mut_ptr(), DESC_WORDS as c_int) }, &self.context)?;
        Ok(Some(all.chunks(DESC_WORDS).map(|c| c.try_into().unwrap()).collect()))
    }

    fn all_reduce(&mut self, buf: Ptr, count: usize, dtype: DType, red: Red) -> Result<(), String> {
        let mut off = 0;
        while off < count {
            let n = PIECE.min(count - off);
            check(unsafe { tmpi_allreduce(buf.0.add(off * dtype.size()) as *mut c_void, n as c_int, dtype.code(), red.code()) }, &self.context)?;
            off += n;
        }
        Ok(())
    }

    fn broadcast(&mut self, buf: Ptr, bytes: usize, root: usize) -> Result<(), String> {
        let mut off = 0;
        while off < bytes {
            let n = PIECE.min(bytes - off);
            check(unsafe { tmpi_bcast(buf.0.add(off) as *mut c_void, n as c_int, root as c_int) }, &self.context)?;
            off += n;
        }
        Ok(())
    }

    fn all_gather(&mut self, send: Ptr, recv: Ptr, bytes: usize) -> Result<(), String> {
        if bytes > i32::MAX as usize { return Err(format!("{}: more than 2 GiB per rank is beyond MPI_Allgather's int count", self.context)); }
        check(unsafe { tmpi_allgather(send.0 as *const c_void, recv.0 as *mut c_void, bytes as c_int) }, &self.context)
    }

    fn reduce_scatter(&mut self, send: Ptr, recv: Ptr, count: usize, dtype: DType, red: Red) -> Result<(), String> {
        if count > i32::MAX as usize { return Err(format!("{}: more than 2^31 elements per rank is beyond MPI_Reduce_scatter_block's int count", self.context)); }
        check(unsafe { tmpi_reduce_scatter(send.0 as *const c_void, recv.0 as *mut c_void, count as c_int, dtype.code(), red.code()) }, &self.context)
    }

    fn barrier(&mut self) -> Result<(), String> { check(unsafe { tmpi_barrier() }, &self.context) }
    fn finish(&mut self) -> Result<(), String> { check(unsafe { tmpi_finalize() }, "MPI_Finalize") }
}
