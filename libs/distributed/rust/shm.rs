//! Collectives between processes of one machine through a POSIX shared-memory segment, with no
//! sockets and no MPI. Layout: one 512-byte block per rank (arrival counter, pid, two descriptor
//! slots), then two sets (by round parity) of one `chunk`-byte slot per rank. A round is: each rank
//! writes its slot, arrives at a barrier, then reads what it needs; because every round uses the other
//! parity's slots, a slot is only rewritten after every rank has passed the next barrier, that is,
//! after everyone has finished reading it. Waiting spins briefly, then sleeps on a futex in the shared
//! page; while waiting it checks that the awaited ranks are still alive and gives up after a timeout.
use crate::engine::{disagreement, Desc, Ptr, Transport, DESC_WORDS};
use crate::reduce::{combine, DType, Red};
use std::ffi::CString;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::time::{Duration, Instant};

const MAGIC: u32 = 0x7e55_e4a1;
const RANK_BLOCK: usize = 512;
/// Offsets inside a rank block.
const SEQ: usize = 0;
const PID: usize = 4;
/// Two descriptor slots (DESC_WORDS i64s each) after the counters: 64 + 2 * 128 <= RANK_BLOCK.
const DESCS: usize = 64;
const _: () = assert!(DESCS + 2 * DESC_WORDS * 8 <= RANK_BLOCK);
/// Offsets inside the first page (before the rank blocks).
const HEADER: usize = 4096;
const SPINS: u32 = 2000;
/// How often a waiter wakes to check for dead peers and the deadline.
const POLL: Duration = Duration::from_millis(20);

pub struct Shm {
    base: *mut u8,
    len: usize,
    rank: usize,
    world: usize,
    chunk: usize,
    seq: u32,
    round: usize,
    exchanges: usize,
    /// This rank's descriptor of the collective in progress and its slot parity, until the
    /// collective's first barrier has compared it with every rank's.
    staged: Option<(usize, Desc)>,
    timeout: Duration,
    context: String,
}

unsafe impl Send for Shm {}

fn os_error(what: &str) -> String { format!("{what}: {}", std::io::Error::last_os_error()) }

/// The segment's size limit: Docker and Kubernetes give /dev/shm 64 MiB by default.
const SEGMENT_MAX: usize = 64 << 20;

/// Slot bytes per rank: 4 MiB, less for large groups so the whole segment fits in SEGMENT_MAX.
fn chunk_for(world: usize) -> Result<usize, String> {
    let room = SEGMENT_MAX.saturating_sub(HEADER + world * RANK_BLOCK) / (2 * world);
    let chunk = room.min(4 << 20) & !4095;
    if chunk == 0 { return Err(format!("{world} processes are too many for one shared-memory segment of {} MiB: use the 'mpi' backend", SEGMENT_MAX >> 20)); }
    Ok(chunk)
}

impl Shm {
    pub fn connect(name: &str, rank: usize, world: usize, timeout: Duration) -> Result<Shm, String> {
        if world == 0 || rank >= world { return Err(format!("rank {rank} is outside a world of size {world}")); }
        let chunk = chunk_for(world)?;
        let len = HEADER + world * RANK_BLOCK + 2 * world * chunk;
        let cname = CString::new(format!("/{name}")).map_err(|_| "the segment name contains a NUL byte".to_string())?;
        if rank != 0 { return Self::join(name, &cname, -1, rank, world, chunk, len, timeout); }
        let fd = unsafe { libc::shm_open(cname.as_ptr(), libc::O_CREAT | libc::O_EXCL | libc::O_RDWR, 0o600) };
        if fd < 0 { return Err(os_error(&format!("creating shared memory /dev/shm/{name} (left over from a crashed run? remove it)"))); }
        let joined = Self::join(name, &cname, fd, rank, world, chunk, len, timeout);
        // Every rank has it mapped once the rendezvous is over (and on failure nobody will): the name
        // goes now, so no segment outlives the run, however it ends.
        unsafe { libc::shm_unlink(cname.as_ptr()) };
        joined
    }

    /// Maps the segment (rank 0: `fd`, created; others: opened when rank 0 has made it) and meets the peers.
    #[allow(clippy::too_many_arguments)]
    fn join(name: &str, cname: &CString, fd: libc::c_int, rank: usize, world: usize, chunk: usize, len: usize, timeout: Duration) -> Result<Shm, String> {
        let deadline = Instant::now() + timeout;
        let fd = if rank == 0 {
            // Reserve the pages now: on a full tmpfs a lazily touched page is a SIGBUS, not an error.
            let rc = unsafe { libc::posix_fallocate(fd, 0, len as libc::off_t) };
            if rc != 0 {
                unsafe { libc::close(fd) };
                return Err(format!("reserving {len} bytes of shared memory in /dev/shm: {}", std::io::Error::from_raw_os_error(rc)));
            }
            fd
        } else {
            loop {
                let fd = unsafe { libc::shm_open(cname.as_ptr(), libc::O_RDWR, 0) };
                if fd >= 0 { break fd; }
                if Instant::now() >= deadline { return Err(format!("rank 0 did not create /dev/shm/{name} within {:.0} s", timeout.as_secs_f64())); }
                std::thread::sleep(Duration::from_millis(2));
            }
        };
        let base = unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, fd, 0) };
        unsafe { libc::close(fd) };
        if base == libc::MAP_FAILED { return Err(os_error("mapping the shared memory segment")); }
        let mut shm = Shm { base: base as *mut u8, len, rank, world, chunk, seq: 0, round: 0, exchanges: 0, staged: None, timeout, context: "startup".into() };
        let magic = shm.word(0);
        if rank == 0 {
            unsafe { (shm.base.add(8) as *mut u64).write(world as u64) };
            shm.rank_word(0, PID).store(std::process::id(), Ordering::Relaxed);
            magic.store(MAGIC, Ordering::Release);
        } else {
            // The segment exists before rank 0 has sized it; wait for the magic it writes last.
            loop {
                let size = unsafe { let mut st: libc::stat = std::mem::zeroed(); let p = format!("/dev/shm/{name}\0"); if libc::stat(p.as_ptr() as *const libc::c_char, &mut st) == 0 { st.st_size as usize } else { 0 } };
                if size >= len && magic.load(Ordering::Acquire) == MAGIC { break; }
                if Instant::now() >= deadline { return Err(format!("rank 0 did not finish setting up /dev/shm/{name} within {:.0} s", timeout.as_secs_f64())); }
                std::thread::sleep(Duration::from_millis(2));
            }
            let theirs = unsafe { (shm.base.add(8) as *const u64).read() } as usize;
            if theirs != world { return Err(format!("rank 0 started a group of {theirs} processes but rank {rank} expects {world}")); }
            let owner = shm.rank_word(0, PID).load(Ordering::Relaxed);
            if !alive(owner) { return Err(format!("/dev/shm/{name} is left over from a run whose rank 0 (pid {owner}) has exited: remove it, or use another name")); }
        }
        shm.rank_word(rank, PID).store(std::process::id(), Ordering::Release);
        shm.context = "the startup rendezvous".into();
        shm.barrier()?;
        Ok(shm)
    }

    fn word(&self, offset: usize) -> &AtomicU32 { unsafe { &*(self.base.add(offset) as *const AtomicU32) } }
    fn rank_word(&self, r: usize, field: usize) -> &AtomicU32 { self.word(HEADER + r * RANK_BLOCK + field) }
    fn desc_slot(&self, r: usize, parity: usize) -> *mut i64 {
        unsafe { self.base.add(HEADER + r * RANK_BLOCK + DESCS + parity * DESC_WORDS * 8) as *mut i64 }
    }
    fn slot(&self, parity: usize, r: usize) -> *mut u8 {
        unsafe { self.base.add(HEADER + self.world * RANK_BLOCK + (parity * self.world + r) * self.chunk) }
    }

    /// Arrives at the next barrier and waits until every rank has.
    fn barrier_(&mut self) -> Result<(), String> {
        self.seq = self.seq.wrapping_add(1);
        let mine = self.rank_word(self.rank, SEQ);
        mine.store(self.seq, Ordering::Release);
        futex_wake(mine);
        // One deadline for the whole barrier, however many peers it waits for.
        let deadline = Instant::now() + self.timeout;
        for r in 0..self.world { if r != self.rank { self.await_rank(r, deadline)?; } }
        if let Some((parity, mine)) = self.staged.take() {
            let words = |r: usize| self.desc_slot(r, parity) as *const AtomicI64;
            let all: Vec<Desc> = (0..self.world).map(|r| std::array::from_fn(|i| unsafe { (*words(r).add(i)).load(Ordering::Relaxed) })).collect();
            if let Some(m) = disagreement(&self.context, &mine, &all) { return Err(m); }
        }
        Ok(())
    }

    fn await_rank(&self, r: usize, deadline: Instant) -> Result<(), String> {
        let w = self.rank_word(r, SEQ);
        let reached = |v: u32| v.wrapping_sub(self.seq) as i32 >= 0;
        for _ in 0..SPINS {
            if reached(w.load(Ordering::Acquire)) { return Ok(()); }
            std::hint::spin_loop();
        }
        loop {
            let v = w.load(Ordering::Acquire);
            if reached(v) { return Ok(()); }
            let pid = self.rank_word(r, PID).load(Ordering::Acquire);
            if pid != 0 && !alive(pid) {
                return Err(format!("rank {r} (pid {pid}) exited while rank {} waited for it in {}", self.rank, self.context));
            }
            if Instant::now() >= deadline {
                return Err(format!("rank {r} did not reach {} within {:.0} s (rank {} waited): it is hung, or ranks issued different collectives", self.context, self.timeout.as_secs_f64(), self.rank));
            }
            futex_wait(w, v, POLL);
        }
    }

    fn parity(&mut self) -> usize { self.round += 1; self.round & 1 }
}

/// Whether process `pid` still runs (a zombie has exited: its parent has not collected it yet).
fn alive(pid: u32) -> bool {
    if unsafe { libc::kill(pid as libc::pid_t, 0) } != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH) { return false; }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !matches!(s.rsplit_once(") ").and_then(|(_, rest)| rest.chars().next()), Some('Z' | 'X')),
        Err(_) => true,
    }
}

fn futex_wait(w: &AtomicU32, expected: u32, timeout: Duration) {
    let ts = libc::timespec { tv_sec: timeout.as_secs() as libc::time_t, tv_nsec: timeout.subsec_nanos() as libc::c_long };
    unsafe { libc::syscall(libc::SYS_futex, w as *const AtomicU32, libc::FUTEX_WAIT, expected, &ts as *const libc::timespec, 0usize, 0u32) };
}

fn futex_wake(w: &AtomicU32) {
    unsafe { libc::syscall(libc::SYS_futex, w as *const AtomicU32, libc::FUTEX_WAKE, i32::MAX, 0usize, 0usize, 0u32) };
}

impl Drop for Shm {
    fn drop(&mut self) { unsafe { libc::munmap(self.base as *mut libc::c_void, self.len) }; }
}

impl Transport for Shm {
    fn rank(&self) -> usize { self.rank }
    fn world(&self) -> usize { self.world }
    fn set_context(&mut self, what: &str) { self.context = what.to_string(); }

    /// Deferred to the collective's first barrier, which every rank reaches before writing any caller
    /// memory. Two descriptor slots by parity, for the same reason as the data slots.
    fn exchange(&mut self, desc: &Desc) -> Result<Option<Vec<Desc>>, String> {
        let parity = self.exchanges & 1;
        self.exchanges += 1;
        let mine = self.desc_slot(self.rank, parity) as *const AtomicI64;
        for (i, &w) in desc.iter().enumerate() { unsafe { (*mine.add(i)).store(w, Ordering::Relaxed) }; }
        self.staged = Some((parity, *desc));
        Ok(None)
    }

    /// A collective that moved nothing (zero elements) still meets its peers, to compare descriptors.
    fn settle(&mut self) -> Result<(), String> {
        if self.staged.is_some() { self.barrier_() } else { Ok(()) }
    }

    fn all_reduce(&mut self, buf: Ptr, count: usize, dtype: DType, red: Red) -> Result<(), String> {
        let es = dtype.size();
        let per_round = self.chunk / es;
        let mut off = 0;
        while off < count {
            let n = per_round.min(count - off);
            let p = self.parity();
            let seg = n.div_ceil(self.world);
            let mine = unsafe { buf.0.add(off * es) };
            unsafe { std::ptr::copy_nonoverlapping(mine, self.slot(p, self.rank), n * es) };
            self.barrier_()?;
            // Reduce this rank's segment across all slots, into its own slot.
            let (s0, s1) = ((self.rank * seg).min(n), ((self.rank + 1) * seg).min(n));
            if s1 > s0 {
                let srcs: Vec<*const u8> = (0..self.world).map(|r| unsafe { self.slot(p, r).add(s0 * es) } as *const u8).collect();
                unsafe { combine(dtype, red, self.slot(p, self.rank).add(s0 * es), &srcs, s1 - s0) };
            }
            self.barrier_()?;
            for r in 0..self.world {
                let (a, b) = ((r * seg).min(n), ((r + 1) * seg).min(n));
                if b > a { unsafe { std::ptr::copy_nonoverlapping(self.slot(p, r).add(a * es), mine.add(a * es), (b - a) * es) }; }
            }
            off += n;
        }
        Ok(())
    }

    fn broadcast(&mut self, buf: Ptr, bytes: usize, root: usize) -> Result<(), String> {
        let mut off = 0;
        while off < bytes {
            let n = self.chunk.min(bytes - off);
            let p = self.parity();
            if self.rank == root { unsafe { std::ptr::copy_nonoverlapping(buf.0.add(off), self.slot(p, root), n) }; }
            self.barrier_()?;
            if self.rank != root { unsafe { std::ptr::copy_nonoverlapping(self.slot(p, root), buf.0.add(off), n) }; }
            off += n;
        }
        Ok(())
    }

    fn all_gather(&mut self, send: Ptr, recv: Ptr, bytes: usize) -> Result<(), String> {
        let mut off = 0;
        while off < bytes {
            let n = self.chunk.min(bytes - off);
            let p = self.parity();
            unsafe { std::ptr::copy_nonoverlapping(send.0.add(off), self.slot(p, self.rank), n) };
            self.barrier_()?;
            for r in 0..self.world { unsafe { std::ptr::copy_nonoverlapping(self.slot(p, r), recv.0.add(r * bytes + off), n) }; }
            off += n;
        }
        Ok(())
    }

    fn reduce_scatter(&mut self, send: Ptr, recv: Ptr, count: usize, dtype: DType, red: Red) -> Result<(), String> {
        let es = dtype.size();
        let per_round = (self.chunk / es / self.world).max(1);
        let mut off = 0;
        while off < count {
            let n = per_round.min(count - off);
            let p = self.parity();
            // This rank's slot holds, for every rank j, its piece j of the round.
            for j in 0..self.world {
                unsafe { std::ptr::copy_nonoverlapping(send.0.add((j * count + off) * es), self.slot(p, self.rank).add(j * n * es), n * es) };
            }
            self.barrier_()?;
            let srcs: Vec<*const u8> = (0..self.world).map(|r| unsafe { self.slot(p, r).add(self.rank * n * es) } as *const u8).collect();
            unsafe { combine(dtype, red, recv.0.add(off * es), &srcs, n) };
            off += n;
        }
        Ok(())
    }

    fn barrier(&mut self) -> Result<(), String> { self.barrier_() }
    /// Nothing to agree on: peers' mappings outlive this one, and the name was unlinked at startup.
    fn finish(&mut self) -> Result<(), String> { Ok(()) }
}
