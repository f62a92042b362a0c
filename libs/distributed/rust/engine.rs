//! The communication thread: collectives are queued in program order (every rank issues them in the
//! same order, as MPI requires) and run one at a time on a thread of their own, so the caller's thread
//! keeps computing (DDP overlaps gradient all-reduce with the rest of backward). Each request completes
//! a `Slot` that the caller waits on. After the first failure the group is poisoned: later requests
//! fail at once with that failure, instead of waiting on peers that will never come.
use crate::reduce::{DType, Red};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Descriptor words of one collective, written by the caller: [kind, dtype, op or root, numel, ndim,
/// dims...]. Ranks compare them before moving data, so mismatched calls are reported, not corrupted.
pub const DESC_WORDS: usize = 16;
pub type Desc = [i64; DESC_WORDS];

/// A raw pointer into memory the caller keeps alive (and leaves alone) until the request completes.
#[derive(Clone, Copy)]
pub struct Ptr(pub *mut u8);
unsafe impl Send for Ptr {}

pub enum Op {
    AllReduce { buf: Ptr, count: usize, dtype: DType, red: Red },
    Broadcast { buf: Ptr, bytes: usize, root: usize },
    /// `bytes` per rank; `recv` holds world * bytes.
    AllGather { send: Ptr, recv: Ptr, bytes: usize },
    /// `count` elements per rank; `send` holds world * count.
    ReduceScatter { send: Ptr, recv: Ptr, count: usize, dtype: DType, red: Red },
    Barrier,
    Shutdown,
}

impl Op {
    fn name(&self) -> &'static str {
        match self {
            Op::AllReduce { .. } => "allReduce",
            Op::Broadcast { .. } => "broadcast",
            Op::AllGather { .. } => "allGather",
            Op::ReduceScatter { .. } => "reduceScatter",
            Op::Barrier => "barrier",
            Op::Shutdown => "shutdown",
        }
    }
}

/// What moves the bytes. Runs on the communication thread only.
pub trait Transport {
    fn rank(&self) -> usize;
    fn world(&self) -> usize;
    /// Names the collective in progress, for error messages (e.g. "allReduce #12").
    fn set_context(&mut self, _what: &str) {}
    /// Every rank's descriptor of the collective about to run, in rank order; or None when the
    /// transport checks them itself at the collective's first synchronisation (see `disagreement`),
    /// before any caller memory is written, saving a round trip.
    fn exchange(&mut self, desc: &Desc) -> Result<Option<Vec<Desc>>, String>;
    fn all_reduce(&mut self, buf: Ptr, count: usize, dtype: DType, red: Red) -> Result<(), String>;
    fn broadcast(&mut self, buf: Ptr, bytes: usize, root: usize) -> Result<(), String>;
    fn all_gather(&mut self, send: Ptr, recv: Ptr, bytes: usize) -> Result<(), String>;
    fn reduce_scatter(&mut self, send: Ptr, recv: Ptr, count: usize, dtype: DType, red: Red) -> Result<(), String>;
    fn barrier(&mut self) -> Result<(), String>;
    /// After a collective: completes a deferred descriptor check the collective had no occasion for.
    fn settle(&mut self) -> Result<(), String> { Ok(()) }
    fn finish(&mut self) -> Result<(), String>;
}

/// The error for ranks whose descriptors differ ("MISMATCH <call> <words;words;...>", parsed by the
/// TypeScript side, which knows the dtype and op names), or None when they agree.
pub fn disagreement(what: &str, mine: &Desc, all: &[Desc]) -> Option<String> {
    if all.iter().all(|d| d == mine) { return None; }
    let words: Vec<String> = all.iter().map(|d| d.iter().map(|w| w.to_string()).collect::<Vec<_>>().join(",")).collect();
    Some(format!("MISMATCH {what} {}", words.join(";")))
}

/// Completion of one request.
#[derive(Default)]
pub struct Slot {
    state: Mutex<Option<Result<(), String>>>,
    cv: Condvar,
}

pub enum WaitError { Failed(String), TimedOut }

impl Slot {
    pub fn complete(&self, r: Result<(), String>) {
        *self.state.lock().unwrap() = Some(r);
        self.cv.notify_all();
    }
    pub fn is_done(&self) -> bool { self.state.lock().unwrap().is_some() }
    pub fn wait(&self, timeout: Duration) -> Result<(), WaitError> {
        let deadline = Instant::now() + timeout;
        let mut state = self.state.lock().unwrap();
        loop {
            if let Some(r) = state.as_ref() { return r.clone().map_err(WaitError::Failed); }
            let now = Instant::now();
            if now >= deadline { return Err(WaitError::TimedOut); }
            state = self.cv.wait_timeout(state, deadline - now).unwrap().0;
        }
    }
}

pub struct Request { pub op: Op, pub desc: Desc, pub slot: Arc<Slot> }

/// Rank and world size, known once the transport is up (-1 before).
pub struct Info { pub rank: AtomicI64, pub world: AtomicI64 }

pub type Connect = Box<dyn FnOnce() -> Result<Box<dyn Transport>, String> + Send>;

/// Starts the thread; `ready` completes when `connect` has returned (with its error, if any).
pub fn start(connect: Connect) -> (Sender<Request>, Arc<Slot>, Arc<Info>) {
    let (tx, rx) = channel();
    let ready = Arc::new(Slot::default());
    let info = Arc::new(Info { rank: AtomicI64::new(-1), world: AtomicI64::new(-1) });
    let (r, i) = (ready.clone(), info.clone());
    std::thread::Builder::new()
        .name("tessera-comm".into())
        .spawn(move || serve(connect, rx, r, i))
        .expect("spawning the communication thread");
    (tx, ready, info)
}

fn serve(connect: Connect, rx: Receiver<Request>, ready: Arc<Slot>, info: Arc<Info>) {
    let mut transport = match connect() {
        Ok(t) => t,
        Err(e) => {
            ready.complete(Err(e.clone()));
            for req in rx { req.slot.complete(Err(format!("the process group never started: {e}"))); }
            return;
        }
    };
    info.rank.store(transport.rank() as i64, Ordering::Release);
    info.world.store(transport.world() as i64, Ordering::Release);
    ready.complete(Ok(()));
    let mut failed: Option<Failure> = None;
    let mut seq = 0u64;
    for req in rx {
        if let Op::Shutdown = req.op {
            // After a mismatch the transport still works (every rank saw it), so it can be finished cleanly.
            let r = match &failed { Some(f) if !f.transport_ok => Ok(()), _ => transport.finish() };
            req.slot.complete(r);
            return;
        }
        if let Some(f) = &failed {
            req.slot.complete(Err(format!("the process group failed earlier: {}", f.message)));
            continue;
        }
        seq += 1;
        let what = format!("{} #{seq}", req.op.name());
        transport.set_context(&what);
        let r = run(transport.as_mut(), &req, &what);
        if let Err(f) = &r { failed = Some(f.clone()); }
        req.slot.complete(r.map_err(|f| f.message));
    }
}

#[derive(Clone)]
struct Failure { message: String, transport_ok: bool }

/// After a mismatch the transport still works (every rank saw it); after anything else it may not.
fn failure(message: String) -> Failure {
    let transport_ok = message.starts_with("MISMATCH ");
    Failure { message, transport_ok }
}

fn run(t: &mut dyn Transport, req: &Request, what: &str) -> Result<(), Failure> {
    if let Some(all) = t.exchange(&req.desc).map_err(failure)? {
        if let Some(m) = disagreement(what, &req.desc, &all) { return Err(failure(m)); }
    }
    match req.op {
        Op::AllReduce { buf, count, dtype, red } => t.all_reduce(buf, count, dtype, red),
        Op::Broadcast { buf, bytes, root } => t.broadcast(buf, bytes, root),
        Op::AllGather { send, recv, bytes } => t.all_gather(send, recv, bytes),
        Op::ReduceScatter { send, recv, count, dtype, red } => t.reduce_scatter(send, recv, count, dtype, red),
        Op::Barrier => t.barrier(),
        Op::Shutdown => unreachable!(),
    }
    .and_then(|()| t.settle())
    .map_err(failure)
}
