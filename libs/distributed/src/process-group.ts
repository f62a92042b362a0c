/**
 * Process groups and collectives, with torch.distributed's semantics: every rank calls the same
 * collectives in the same order; allReduce/broadcast work in place; each call returns a Work at once
 * (the bytes move on the group's communication thread) that is awaited, or waited on synchronously.
 * Tensors live on CPU (either CPU backend); contiguous ones are handed to the transport without a copy.
 */
import { ALL_DTYPES, ArgumentError, DTypeError, DeviceError, type DType, ShapeError, fmtShape, isFloating } from '@tessera/ops';
import { type Tensor, type TypedArray, untracked, zeros } from '@tessera/tensor';
import { DistributedError } from './errors.js';
import { type GroupHandle, type WorkHandle, loadAddon } from './native.js';

/**
 * Transport of a process group: `'shm'` shared memory between processes on one machine (tessera-run), `'mpi'`
 * an MPI job launched by mpirun; `'nccl'` is reserved for CUDA tensors and refused until that backend exists.
 */
export type DistBackend = 'shm' | 'mpi' | 'nccl';
/** Reduction of allReduce / reduceScatter; `'avg'` is a sum divided by worldSize (floating tensors only). */
export type ReduceOp = 'sum' | 'avg' | 'max' | 'min' | 'product';

/** Options of initProcessGroup; each falls back to the environment tessera-run (or torchrun) sets. */
export interface InitOptions {
  /** Default: $TESSERA_DIST_BACKEND (tessera-run sets it). */
  backend?: DistBackend;
  /** 'shm' only (MPI learns them from mpirun). Default: $TESSERA_RANK, $TESSERA_WORLD_SIZE (else torchrun's $RANK, $WORLD_SIZE). */
  rank?: number;
  /** 'shm' only: number of ranks (see `rank` for the default). */
  worldSize?: number;
  /** 'shm' only: the shared-memory segment's name. Default: $TESSERA_SHM_NAME. */
  name?: string;
  /** How long a collective may wait for its peers before failing. Default: $TESSERA_DIST_TIMEOUT_MS or 60 s. */
  timeoutMs?: number;
}

/** Codes shared with rust/reduce.rs and the C shim. */
const WIRE: Partial<Record<DType, number>> = { float32: 0, float64: 1, int32: 2, int64: 3, uint8: 4, bool: 4 };
const REDUCTION: Record<Exclude<ReduceOp, 'avg'>, number> = { sum: 0, max: 1, min: 2, product: 3 };
/** Descriptor kinds, by the position in this list. */
const KINDS = ['allReduce', 'broadcast', 'allGather', 'reduceScatter', 'barrier'] as const;
type Kind = (typeof KINDS)[number];
const MAX_DIMS = 11;
/** Effectively unbounded (a day): the shared-memory transport times out on its own. */
const SHM_WAIT_MS = 86_400_000;

/** bool tensors travel as uint8: sum is logical or and product logical and, as in torch.distributed. */
const wireOp = (dtype: DType, op: ReduceOp): Exclude<ReduceOp, 'avg'> =>
  op === 'avg' ? 'sum' : dtype !== 'bool' ? op : op === 'sum' ? 'max' : op === 'product' ? 'min' : op;

/** A collective in flight. Awaitable; `waitSync()` blocks the thread instead. */
export class Work implements PromiseLike<void> {
  private finished = false;
  private failure: Error | undefined;

  constructor(private readonly handle: WorkHandle, private readonly what: string, private readonly group: ProcessGroup, private readonly finish: () => void = () => {}) {}

  /** Whether the collective is done, its result written back (a staged copy, an average) included. */
  isCompleted(): boolean {
    if (this.finished) return true;
    if (!this.handle.isCompleted()) return false;
    try { this.handle.waitSync(0); } catch (e) { this.fail(e); }
    this.complete();
    return true;
  }

  /** Resolves once the collective is done and written back; rejects with a DistributedError on failure or timeout. */
  async wait(): Promise<void> {
    if (!this.finished) {
      try { await this.handle.wait(this.group.waitMs); } catch (e) { this.fail(e); }
      this.complete();
    }
    if (this.failure) throw this.failure;
  }

  /** Blocks the thread until the collective is done; throws a DistributedError if it failed or timed out. */
  waitSync(): void {
    if (!this.finished) {
      try { this.handle.waitSync(this.group.waitMs); } catch (e) { this.fail(e); }
      this.complete();
    }
    if (this.failure) throw this.failure;
  }

  then<A = void, B = never>(onDone?: ((v: void) => A | PromiseLike<A>) | null, onError?: ((e: unknown) => B | PromiseLike<B>) | null): Promise<A | B> {
    return this.wait().then(onDone, onError);
  }

  private complete(): void {
    if (this.finished) return;
    try {
      // The write-back is bookkeeping of a collective, not a differentiable op.
      if (!this.failure) untracked(this.finish);
    } catch (e) {
      this.failure ??= e as Error;
    } finally {
      this.finished = true;
      this.group.settled(this);
    }
  }

  private fail(e: unknown): void {
    this.failure = this.group.explain(this.what, (e as Error).message);
  }
}

/**
 * A set of ranks that run collectives together (torch.distributed's ProcessGroup); made by initProcessGroup.
 * Collectives take CPU tensors and return a Work at once; a timeout or a mismatch between ranks leaves the
 * group broken, and later failures name the first cause.
 */
export class ProcessGroup {
  private destroyed = false;
  private broken: string | undefined;
  /**
   * Works not yet waited on. They hold the tensors (and staging copies) the communication thread
   * writes into, so the garbage collector cannot free those while it does.
   */
  private readonly inflight = new Set<Work>();
  /** A wait timed out: the communication thread may still be inside that collective. */
  private stuck = false;

  /**
   * @param backend - The transport the group runs on.
   * @param rank - This process's rank, `0 <= rank < worldSize`.
   * @param worldSize - Number of ranks in the group.
   * @param timeoutMs - How long a collective may wait for its peers before failing.
   */
  private constructor(private readonly handle: GroupHandle, readonly backend: DistBackend, readonly rank: number, readonly worldSize: number, readonly timeoutMs: number) {}

  /** Joins the group; resolves once every rank has. */
  static async create(opt: InitOptions = {}): Promise<ProcessGroup> {
    const env = process.env;
    const backend = opt.backend ?? (env['TESSERA_DIST_BACKEND'] as DistBackend | undefined);
    const timeoutMs = opt.timeoutMs ?? Number(env['TESSERA_DIST_TIMEOUT_MS'] ?? 60_000);
    if (!(timeoutMs > 0)) throw new ArgumentError('initProcessGroup', `timeoutMs must be positive, got ${timeoutMs}`);
    let handle: GroupHandle;
    if (backend === 'shm') {
      // torchrun's names as well, which tessera-run also sets.
      const rank = opt.rank ?? Number(env['TESSERA_RANK'] ?? env['RANK']);
      const world = opt.worldSize ?? Number(env['TESSERA_WORLD_SIZE'] ?? env['WORLD_SIZE']);
      const name = opt.name ?? env['TESSERA_SHM_NAME'];
      if (!Number.isInteger(world) || world < 1 || !Number.isInteger(rank) || rank < 0 || rank >= world) {
        throw new ArgumentError('initProcessGroup', `'shm' needs 0 <= rank < worldSize (got rank ${rank}, worldSize ${world}): launch with tessera-run --nproc N, or pass them`);
      }
      if (!name || !/^[\w.-]+$/.test(name)) throw new ArgumentError('initProcessGroup', `'shm' needs a segment name of letters, digits, '.', '_' or '-' (got ${JSON.stringify(name)}): launch with tessera-run, or pass { name }`);
      handle = loadAddon().ProcessGroupHandle.shm(name, rank, world, timeoutMs);
    } else if (backend === 'mpi') {
      handle = loadAddon().ProcessGroupHandle.mpi();
    } else if (backend === 'nccl') {
      throw new DeviceError('initProcessGroup', "'nccl' needs the CUDA backend, which is not built yet; use 'mpi' or 'shm' with CPU tensors");
    } else {
      throw new ArgumentError('initProcessGroup', `backend must be 'shm', 'mpi' or 'nccl' (got ${JSON.stringify(backend)}); tessera-run sets TESSERA_DIST_BACKEND`);
    }
    try {
      // shm: the transport's own deadlines end the startup (waiting for rank 0's segment, then its peers).
      await handle.ready().wait(backend === 'shm' ? SHM_WAIT_MS : timeoutMs + 1000);
    } catch (e) {
      const msg = (e as Error).message;
      throw new DistributedError('initProcessGroup', msg === 'TIMEOUT' ? `the ${backend} group did not start within ${timeoutMs / 1000} s` : msg);
    }
    return new ProcessGroup(handle, backend, handle.rank, handle.worldSize, timeoutMs);
  }

  /** Sums (or max/min/product/avg) `t` across ranks, in place. */
  allReduce(t: Tensor, opt: { op?: ReduceOp } = {}): Work {
    const op = opt.op ?? 'sum';
    const name = `allReduce(${op})`;
    if (!(op in REDUCTION) && op !== 'avg') throw new ArgumentError('allReduce', `op must be one of sum, avg, max, min, product; got ${JSON.stringify(op)}`);
    if (op === 'avg' && !isFloating(t.dtype)) throw new DTypeError('allReduce', `op 'avg' needs a floating tensor, got ${t.dtype}`);
    const code = REDUCTION[wireOp(t.dtype, op)];
    const io = this.stage(name, t, { reduces: true, writes: true });
    const h = this.handle.allReduce(io.bytes, io.count, io.wire, code, this.describe('allReduce', t, code));
    return this.track(h, name, () => {
      if (op === 'avg') io.tensor.div_(this.worldSize);
      io.done();
    });
  }

  /** Copies rank `src`'s `t` into every rank's `t`. */
  broadcast(t: Tensor, src = 0): Work {
    this.checkRank('broadcast', src);
    const io = this.stage('broadcast', t, { reduces: false, writes: true });
    const h = this.handle.broadcast(io.bytes, src, this.describe('broadcast', t, src));
    return this.track(h, 'broadcast', io.done);
  }

  /**
   * Every rank's `input`, in rank order: into `outputs[r]` (a list of worldSize tensors shaped like
   * `input`) or into one tensor of worldSize times its elements (all_gather_into_tensor).
   */
  allGather(outputs: Tensor | readonly Tensor[], input: Tensor): Work {
    const list = Array.isArray(outputs) ? (outputs as readonly Tensor[]) : undefined;
    if (list) {
      if (list.length !== this.worldSize) throw new ArgumentError('allGather', `needs ${this.worldSize} output tensors (one per rank), got ${list.length}`);
      for (const o of list) this.checkLike('allGather', o, input.shape, input.dtype);
    } else this.checkLike('allGather', outputs as Tensor, [this.worldSize * input.numel], input.dtype, true);
    const src = this.stage('allGather', input, { reduces: false, writes: false });
    const flat = list ? zeros([this.worldSize * input.numel], { dtype: input.dtype }) : (outputs as Tensor);
    const dst = this.stage('allGather', flat, { reduces: false, writes: true });
    const h = this.handle.allGather(src.bytes, dst.bytes, this.describe('allGather', input, 0));
    return this.track(h, 'allGather', () => {
      dst.done();
      if (list) list.forEach((o, r) => o.copy_(flat.narrow(0, r * input.numel, input.numel).view(input.shape)));
      src.done();
    });
  }

  /** Reduces `input` (worldSize times `output`'s elements) across ranks; rank r keeps block r. */
  reduceScatter(output: Tensor, input: Tensor, opt: { op?: ReduceOp } = {}): Work {
    const op = opt.op ?? 'sum';
    if (op === 'avg' && !isFloating(input.dtype)) throw new DTypeError('reduceScatter', `op 'avg' needs a floating tensor, got ${input.dtype}`);
    if (!(op in REDUCTION) && op !== 'avg') throw new ArgumentError('reduceScatter', `op must be one of sum, avg, max, min, product; got ${JSON.stringify(op)}`);
    this.checkLike('reduceScatter', input, [this.worldSize * output.numel], output.dtype, true);
    const code = REDUCTION[wireOp(input.dtype, op)];
    const src = this.stage('reduceScatter', input, { reduces: true, writes: false });
    const dst = this.stage('reduceScatter', output, { reduces: true, writes: true });
    const h = this.handle.reduceScatter(src.bytes, dst.bytes, output.numel, dst.wire, code, this.describe('reduceScatter', input, code));
    return this.track(h, `reduceScatter(${op})`, () => {
      if (op === 'avg') dst.tensor.div_(this.worldSize);
      dst.done();
      src.done();
    });
  }

  /** Completes once every rank has reached the same barrier call (torch.distributed.barrier). */
  barrier(): Work {
    return this.track(this.handle.barrier([KINDS.indexOf('barrier')]), 'barrier');
  }

  /** Ends the group (MPI_Finalize under MPI); collectives after it fail. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    if (this.stuck) {
      // MPI cannot finalize under a collective that never returns: end the job, so no peer waits on.
      if (this.backend === 'mpi') {
        console.error(`tessera: rank ${this.rank} of ${this.worldSize} ends the MPI job: ${this.broken}`);
        this.abort(1);
      }
      return;
    }
    try { this.handle.shutdown().waitSync(this.timeoutMs); } catch (e) { if (!this.broken) throw this.explain('destroyProcessGroup', (e as Error).message); }
  }

  /** Under MPI, ends every rank's process (for a rank that cannot go on); elsewhere a no-op. */
  abort(code = 1): void { this.handle.abort(code); }

  /** Whether a collective has timed out or found the ranks disagreeing; the group is then unfit for further use. */
  get isBroken(): boolean { return this.broken !== undefined; }

  /**
   * How long a Work waits. The shared-memory transport ends every wait by itself (each barrier has
   * the timeout, and names the rank it waited for), so a Work waits for it however many rounds a
   * collective takes; MPI blocks inside the call, so there the wait is the only clock.
   */
  get waitMs(): number { return this.backend === 'shm' ? SHM_WAIT_MS : this.timeoutMs; }

  /** Turns the addon's failure text into a DistributedError naming the collective and the ranks. */
  explain(what: string, message: string): DistributedError {
    let text = message;
    if (message === 'TIMEOUT') {
      this.stuck = true;
      text = `did not complete within ${this.timeoutMs / 1000} s on rank ${this.rank} of ${this.worldSize}: a peer rank died or hung, or the ranks called different collectives`;
    } else if (message.startsWith('MISMATCH ')) {
      const [, call, all] = /^MISMATCH (\S+ #\d+) (.*)$/.exec(message) ?? [];
      const descs = (all ?? '').split(';').map((d) => d.split(',').map(Number));
      text = `${call}: the ranks disagree: ${descs.map((d, r) => `rank ${r} called ${formatDesc(d)}`).join('; ')}`;
    }
    this.broken ??= text;
    return new DistributedError(what, text);
  }

  private track(h: WorkHandle, what: string, finish?: () => void): Work {
    const w = new Work(h, what, this, finish);
    this.inflight.add(w);
    return w;
  }

  /** Called by a Work once it has completed. */
  settled(w: Work): void { this.inflight.delete(w); }

  private checkUsable(what: string): void {
    if (this.destroyed) throw new DistributedError(what, 'the process group has been destroyed');
  }

  private checkRank(what: string, r: number): void {
    if (!Number.isInteger(r) || r < 0 || r >= this.worldSize) throw new ArgumentError(what, `rank ${r} is outside the group of ${this.worldSize}`);
  }

  private checkLike(what: string, t: Tensor, shape: readonly number[], dtype: DType, byNumel = false): void {
    if (t.dtype !== dtype) throw new DTypeError(what, `output is ${t.dtype} but the input is ${dtype}`);
    const ok = byNumel ? t.numel === shape[0] : t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i]);
    if (!ok) throw new ShapeError(what, `output has shape ${fmtShape(t.shape)}, expected ${byNumel ? `${shape[0]} elements` : fmtShape(shape)}`);
  }

  /** Descriptor words compared across ranks before any data moves. */
  private describe(kind: Kind, t: Tensor, arg: number): number[] {
    return [KINDS.indexOf(kind), ALL_DTYPES.indexOf(t.dtype), arg, t.numel, t.ndim, ...t.shape.slice(0, MAX_DIMS)];
  }

  /**
   * The bytes the transport reads and writes for `t`: its own memory when it is a contiguous CPU
   * tensor, else a contiguous staging copy (float16 is reduced in float32) written back on completion.
   */
  private stage(what: string, t: Tensor, { reduces, writes }: { reduces: boolean; writes: boolean }): { bytes: Uint8Array; count: number; wire: number; tensor: Tensor; done: () => void } {
    this.checkUsable(what);
    if (t.device !== 'cpu') throw new DeviceError(what, `collectives take CPU tensors, got one on '${t.device}': move it with .to('cpu') ('nccl' for CUDA tensors is not built yet)`);
    const widen = reduces && t.dtype === 'float16';
    const direct = t.isContiguous() && !widen;
    const work = direct ? t : widen ? t.to('float32') : t.contiguous();
    const wire = WIRE[work.dtype] ?? (reduces ? undefined : WIRE.uint8);
    if (wire === undefined) throw new DTypeError(what, `cannot reduce ${t.dtype} tensors`);
    work.storage.retain();
    // Written in place: autograd must see that values it saved from this tensor are gone.
    if (writes) t.storage.version++;
    const arr = work.storage.buffer as TypedArray;
    const size = arr.BYTES_PER_ELEMENT;
    const bytes = new Uint8Array(arr.buffer, arr.byteOffset + work.offset * size, work.numel * size);
    const count = reduces ? work.numel : bytes.length;
    return {
      bytes, count, wire, tensor: work,
      done: () => {
        if (!direct && writes) t.copy_(work);
        work.storage.release();
      },
    };
  }
}

function formatDesc(d: readonly number[]): string {
  const [kind = 0, dtype = 0, arg = 0, numel = 0, ndim = 0] = d;
  const name = KINDS[kind] ?? `collective ${kind}`;
  if (name === 'barrier') return 'barrier';
  const shape = ndim <= MAX_DIMS ? fmtShape(d.slice(5, 5 + ndim)) : `${numel} elements`;
  const extra = name === 'broadcast' ? ` from rank ${arg}` : name === 'allGather' ? '' : ` (${Object.keys(REDUCTION)[arg] ?? arg})`;
  return `${name} on ${ALL_DTYPES[dtype] ?? dtype} ${shape}${extra}`;
}
