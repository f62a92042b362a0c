//! Node addon (napi-rs): process groups over shared memory or MPI. Each group owns a communication
//! thread (engine.rs); every collective returns a Work handle at once, waited on synchronously or as
//! a Promise. Buffers are the caller's typed arrays: it keeps them alive and untouched until done.
mod engine;
#[cfg(tessera_mpi)]
mod mpi;
mod reduce;
mod shm;

use engine::{Desc, Op, Ptr, Request, Slot, WaitError, DESC_WORDS};
use napi::bindgen_prelude::*;
use napi::{Env, Task};
use napi_derive::napi;
use reduce::{DType, Red};
use std::sync::atomic::Ordering;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Whether this build has the MPI transport (Open MPI was found when it was compiled).
#[napi]
pub fn has_mpi() -> bool { cfg!(tessera_mpi) }

#[napi]
pub struct ProcessGroupHandle {
    tx: Mutex<Option<Sender<Request>>>,
    ready: Arc<Slot>,
    info: Arc<engine::Info>,
    mpi: bool,
}

fn millis(ms: f64) -> Duration { Duration::from_secs_f64((ms.max(0.0)) / 1e3) }

fn descriptor(words: &[f64]) -> Result<Desc> {
    if words.len() > DESC_WORDS { return Err(Error::from_reason(format!("a collective descriptor has at most {DESC_WORDS} words"))); }
    let mut d = [0i64; DESC_WORDS];
    for (w, &x) in d.iter_mut().zip(words) { *w = x as i64; }
    Ok(d)
}

fn dtype(code: u32) -> Result<DType> { DType::from_code(code).ok_or_else(|| Error::from_reason(format!("unknown dtype code {code}"))) }
fn red(code: u32) -> Result<Red> { Red::from_code(code).ok_or_else(|| Error::from_reason(format!("unknown reduction code {code}"))) }
fn ptr(buf: &Uint8Array) -> Ptr { Ptr(buf.as_ptr() as *mut u8) }

#[napi]
impl ProcessGroupHandle {
    /// Joins (rank 0: creates) the shared-memory group `name` of `world` processes.
    #[napi(factory)]
    pub fn shm(name: String, rank: u32, world: u32, timeout_ms: f64) -> Self {
        let timeout = millis(timeout_ms);
        let (tx, ready, info) = engine::start(Box::new(move || {
            shm::Shm::connect(&name, rank as usize, world as usize, timeout).map(|s| Box::new(s) as Box<dyn engine::Transport>)
        }));
        ProcessGroupHandle { tx: Mutex::new(Some(tx)), ready, info, mpi: false }
    }

    /// Initialises MPI (rank and size come from the launcher, mpirun).
    #[napi(factory)]
    pub fn mpi() -> Result<Self> {
        #[cfg(tessera_mpi)]
        {
            let (tx, ready, info) = engine::start(Box::new(|| mpi::Mpi::connect().map(|m| Box::new(m) as Box<dyn engine::Transport>)));
            Ok(ProcessGroupHandle { tx: Mutex::new(Some(tx)), ready, info, mpi: true })
        }
        #[cfg(not(tessera_mpi))]
        Err(Error::from_reason("this build of the distributed addon has no MPI: install Open MPI (apt-get install openmpi-bin libopenmpi-dev) and rebuild it (npm test does both)".to_string()))
    }

    /// Completes when the transport is up (all ranks have joined), or with why it could not start.
    #[napi]
    pub fn ready(&self) -> WorkHandle { WorkHandle { slot: self.ready.clone() } }

    #[napi(getter)]
    pub fn rank(&self) -> i64 { self.info.rank.load(Ordering::Acquire) }
    #[napi(getter)]
    pub fn world_size(&self) -> i64 { self.info.world.load(Ordering::Acquire) }

    fn submit(&self, op: Op, desc: &[f64]) -> Result<WorkHandle> {
        let desc = descriptor(desc)?;
        let slot = Arc::new(Slot::default());
        let tx = self.tx.lock().unwrap();
        let Some(tx) = tx.as_ref() else { return Err(Error::from_reason("the process group has been destroyed".to_string())) };
        tx.send(Request { op, desc, slot: slot.clone() }).map_err(|_| Error::from_reason("the communication thread has stopped".to_string()))?;
        Ok(WorkHandle { slot })
    }

    /// In place over `count` elements of `buf`.
    #[napi]
    pub fn all_reduce(&self, buf: Uint8Array, count: f64, dtype_code: u32, op: u32, desc: Vec<f64>) -> Result<WorkHandle> {
        let (dt, count) = (dtype(dtype_code)?, count as usize);
        if count * dt.size() > buf.len() { return Err(Error::from_reason("allReduce: count exceeds the buffer".to_string())); }
        self.submit(Op::AllReduce { buf: ptr(&buf), count, dtype: dt, red: red(op)? }, &desc)
    }

    #[napi]
    pub fn broadcast(&self, buf: Uint8Array, root: u32, desc: Vec<f64>) -> Result<WorkHandle> {
        if root as i64 >= self.world_size() { return Err(Error::from_reason(format!("broadcast: root {root} is outside the group of {}", self.world_size()))); }
        self.submit(Op::Broadcast { buf: ptr(&buf), bytes: buf.len(), root: root as usize }, &desc)
    }

    /// `recv` holds world * send.len() bytes.
    #[napi]
    pub fn all_gather(&self, send: Uint8Array, recv: Uint8Array, desc: Vec<f64>) -> Result<WorkHandle> {
        let world = self.world_size().max(1) as usize;
        if recv.len() != world * send.len() { return Err(Error::from_reason(format!("allGather: the output has {} bytes, expected {world} x {}", recv.len(), send.len()))); }
        self.submit(Op::AllGather { send: ptr(&send), recv: ptr(&recv), bytes: send.len() }, &desc)
    }

    /// `send` holds world * count elements; rank r receives the reduction of every rank's piece r.
    #[napi]
    pub fn reduce_scatter(&self, send: Uint8Array, recv: Uint8Array, count: f64, dtype_code: u32, op: u32, desc: Vec<f64>) -> Result<WorkHandle> {
        let (dt, count) = (dtype(dtype_code)?, count as usize);
        let world = self.world_size().max(1) as usize;
        if send.len() < world * count * dt.size() || recv.len() < count * dt.size() {
            return Err(Error::from_reason("reduceScatter: buffers are smaller than world x count elements".to_string()));
        }
        self.submit(Op::ReduceScatter { send: ptr(&send), recv: ptr(&recv), count, dtype: dt, red: red(op)? }, &desc)
    }

    #[napi]
    pub fn barrier(&self, desc: Vec<f64>) -> Result<WorkHandle> { self.submit(Op::Barrier, &desc) }

    /// Finishes the transport (MPI_Finalize under MPI) and ends the thread.
    #[napi]
    pub fn shutdown(&self) -> Result<WorkHandle> {
        let w = self.submit(Op::Shutdown, &[])?;
        self.tx.lock().unwrap().take();
        Ok(w)
    }

    /// For a rank that cannot go on: under MPI, ends the whole job so no peer waits forever.
    #[napi]
    pub fn abort(&self, code: i32) {
        #[cfg(tessera_mpi)]
        if self.mpi { mpi::abort(code); }
        let _ = (code, self.mpi);
    }
}

#[napi]
pub struct WorkHandle { slot: Arc<Slot> }

fn outcome(r: std::result::Result<(), WaitError>) -> Result<()> {
    match r {
        Ok(()) => Ok(()),
        Err(WaitError::Failed(e)) => Err(Error::from_reason(e)),
        Err(WaitError::TimedOut) => Err(Error::from_reason("TIMEOUT".to_string())),
    }
}

pub struct WaitTask { slot: Arc<Slot>, timeout: Duration }

impl Task for WaitTask {
    type Output = ();
    type JsValue = ();
    fn compute(&mut self) -> Result<()> { outcome(self.slot.wait(self.timeout)) }
    fn resolve(&mut self, _env: Env, _out: ()) -> Result<()> { Ok(()) }
}

#[napi]
impl WorkHandle {
    #[napi]
    pub fn is_completed(&self) -> bool { self.slot.is_done() }
    /// Blocks the calling thread; fails with the collective's error or "TIMEOUT".
    #[napi]
    pub fn wait_sync(&self, timeout_ms: f64) -> Result<()> { outcome(self.slot.wait(millis(timeout_ms))) }
    /// The same, as a Promise (the wait runs on libuv's thread pool).
    #[napi]
    pub fn wait(&self, timeout_ms: f64) -> AsyncTask<WaitTask> { AsyncTask::new(WaitTask { slot: self.slot.clone(), timeout: millis(timeout_ms) }) }
}
