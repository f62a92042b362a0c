/**
 * DistributedDataParallel: every rank holds a replica; gradients are averaged across ranks during
 * backward. Parameters are packed (in reverse registration order, roughly the order backward produces
 * their gradients) into buckets of about bucketCapMB; when the last gradient of a bucket has been
 * accumulated, the bucket's all-reduce starts on the communication thread while backward goes on.
 * Buckets start in a fixed order on every rank (a ready bucket waits for the ones before it), so the
 * ranks' collectives always match. When backward ends, the averaged gradients are written to .grad.
 */
import { isGradEnabled, queueCallback } from '@tessera/autograd';
import { ArgumentError, DTYPES } from '@tessera/ops';
import { type AnyModule, Module } from '@tessera/nn';
import { type Tensor, zeros } from '@tessera/tensor';
import { defaultGroup } from './group.js';
import type { ProcessGroup, Work } from './process-group.js';

/** Options of DistributedDataParallel. */
export interface DDPOptions {
  /** The group to average over (default: the default group). */
  group?: ProcessGroup;
  /** Bucket size in MiB (torch's default: 25). */
  bucketCapMB?: number;
  /** Broadcast buffers (e.g. BatchNorm statistics) from rank 0 before each forward that a synced backward follows (grad enabled). Default true. */
  broadcastBuffers?: boolean;
}

interface Bucket {
  readonly params: Tensor[];
  readonly offsets: number[];
  /** The gradients, packed. */
  readonly flat: Tensor;
  pending: number;
  work?: Work;
}

/** Wraps a module of any forward signature; its own forward has that signature. */
export class DistributedDataParallel<M extends AnyModule = Module> extends Module<Parameters<M['forward']>, ReturnType<M['forward']>> {
  /** The group gradients are averaged over. */
  readonly group: ProcessGroup;
  private readonly buckets: Bucket[] = [];
  private readonly bucketOf = new Map<Tensor, Bucket>();
  private readonly broadcastBuffers: boolean;
  /** Buckets before this index have started their all-reduce in the current backward. */
  private launched = 0;
  private armed = false;
  private syncing = true;
  /** Parameters whose gradient arrived in the current backward. */
  private readonly arrived = new Set<Tensor>();

  /**
   * Broadcasts rank 0's parameters and buffers to every rank, then packs the trainable parameters into buckets.
   * A collective: every rank must construct its replica at the same point.
   * @param module - The wrapped replica; saveCheckpoint saves its stateDict rather than the wrapper's.
   */
  constructor(readonly module: M, opt: DDPOptions = {}) {
    super();
    this.group = opt.group ?? defaultGroup('DistributedDataParallel');
    this.broadcastBuffers = opt.broadcastBuffers ?? true;
    const capBytes = (opt.bucketCapMB ?? 25) * 2 ** 20;
    if (!(capBytes > 0)) throw new ArgumentError('DistributedDataParallel', `bucketCapMB must be positive, got ${opt.bucketCapMB}`);
    // Every replica starts from rank 0's weights.
    for (const t of [...module.parameters(), ...this.moduleBuffers()]) this.group.broadcast(t.detach(), 0).waitSync();
    this.packBuckets(module.parameters().filter((p) => p.requiresGrad).reverse(), capBytes);
  }

  forward(...inputs: Parameters<M['forward']>): ReturnType<M['forward']> {
    // A backward that threw never reached finish(): start this step from a clean slate.
    if (this.armed) this.reset();
    // As torch's DDP: buffers are synced only for a forward that will be followed by a synced
    // backward (grad enabled), so one rank alone may evaluate under noGrad (nanoGPT's estimate_loss).
    if (this.broadcastBuffers && this.syncing && isGradEnabled()) for (const b of this.moduleBuffers()) this.group.broadcast(b, 0).waitSync();
    return this.module.forward(...inputs) as ReturnType<M['forward']>;
  }

  /** Runs fn without averaging gradients (local accumulation, as torch's no_sync()); the next synced backward averages the sum. */
  noSync<T>(fn: () => T): T {
    const was = this.syncing;
    this.syncing = false;
    try { return fn(); } finally { this.syncing = was; }
  }

  /**
   * Whether the next backward averages the gradients (torch's require_backward_grad_sync): false
   * accumulates locally, as noSync() does, for the micro-steps of gradient accumulation before the last.
   */
  get requireBackwardGradSync(): boolean { return this.syncing; }
  /** Sets whether the next backward averages the gradients (see the getter). */
  set requireBackwardGradSync(sync: boolean) {
    if (typeof sync !== 'boolean') throw new ArgumentError('DistributedDataParallel', `requireBackwardGradSync must be a boolean, got ${typeof sync}`);
    this.syncing = sync;
  }

  private moduleBuffers(): Tensor[] { return [...this.module.namedBuffers()].map(([, b]) => b); }

  private packBuckets(params: Tensor[], capBytes: number): void {
    let open: Tensor[] = [];
    let bytes = 0;
    const close = () => {
      if (!open.length) return;
      const offsets: number[] = [];
      let n = 0;
      for (const p of open) { offsets.push(n); n += p.numel; }
      const bucket: Bucket = { params: open, offsets, flat: zeros([n], { dtype: open[0]!.dtype, device: open[0]!.device }), pending: open.length };
      this.buckets.push(bucket);
      for (const p of open) this.bucketOf.set(p, bucket);
      open = [];
      bytes = 0;
    };
    for (const p of params) {
      if (open.length && (p.dtype !== open[0]!.dtype || p.device !== open[0]!.device)) close();
      open.push(p);
      bytes += p.numel * DTYPES[p.dtype].bytes;
      if (bytes >= capBytes) close();
    }
    close();
    for (const p of params) p.registerPostAccumulateGradHook(() => this.gradReady(p));
  }

  private gradReady(p: Tensor): void {
    if (!this.syncing) return;
    if (!this.armed) {
      this.armed = true;
      queueCallback(() => this.finish());
    }
    this.arrived.add(p);
    const b = this.bucketOf.get(p)!;
    const k = b.params.indexOf(p);
    this.slice(b, k).copy_(p.grad!);
    if (--b.pending === 0) this.launchReady();
  }

  /** Forgets a backward that did not finish (its collectives are waited for, errors included). */
  private reset(): void {
    for (const b of this.buckets) {
      try { b.work?.waitSync(); } catch { /* the step failed already; its error was thrown there */ }
      b.work = undefined;
      b.pending = b.params.length;
    }
    this.arrived.clear();
    this.launched = 0;
    this.armed = false;
  }

  private slice(b: Bucket, k: number): Tensor {
    const p = b.params[k]!;
    return b.flat.narrow(0, b.offsets[k]!, p.numel).view(p.shape);
  }

  private launchReady(): void {
    while (this.launched < this.buckets.length && this.buckets[this.launched]!.pending === 0) {
      const b = this.buckets[this.launched++]!;
      b.work = this.group.allReduce(b.flat, { op: 'avg' });
    }
  }

  /** End of backward: parameters that got no gradient this time contribute zeros, so every rank reduces every bucket. */
  private finish(): void {
    this.armed = false;
    for (const b of this.buckets) {
      if (b.pending > 0) {
        // No gradient this time: what noSync() steps accumulated locally, else zeros.
        b.params.forEach((p, k) => {
          if (this.arrived.has(p)) return;
          if (p.grad) this.slice(b, k).copy_(p.grad);
          else this.slice(b, k).zero_();
        });
        b.pending = 0;
      }
    }
    this.arrived.clear();
    this.launchReady();
    this.launched = 0;
    for (const b of this.buckets) {
      b.work!.waitSync();
      b.work = undefined;
      b.pending = b.params.length;
      // A fresh tensor: backward may hand one gradient tensor to several leaves (e.g. both sides of an add).
      b.params.forEach((p, k) => { p.grad = this.slice(b, k).clone(); });
    }
  }
}
