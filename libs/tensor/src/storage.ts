/**
 * Device memory shared by a tensor and its views, freed deterministically when the last user lets
 * go (dispose / tidy), with a FinalizationRegistry as a safety net for tensors nobody disposed.
 */
import { type DType, TesseraError } from '@tessera/ops';
import type { Backend } from './backend.js';
import { countStorage, countTensor } from './memory.js';

/** Runs the deferred program (graph/program.ts installs it): how a deferred storage gets its contents. */
let realizeDeferred: (() => void) | undefined;
export const setRealizer = (fn: () => void): void => { realizeDeferred = fn; };

export class Storage {
  private refs = 0;
  /** Bumped by every in-place write; autograd compares it to detect stale saved tensors. */
  version = 0;
  /**
   * Written by a deferred program that has not run yet (compile, graph/): it has no buffer until the
   * program runs, which the first use of the buffer makes happen.
   */
  deferred = false;
  /**
   * The compiled program's signature (graph/plan.ts, by generation) that last numbered this storage,
   * and its number there: a signature is built every compiled call, and a map of its own cost more.
   */
  signature = 0;
  signatureIndex = 0;
  constructor(
    readonly backend: Backend,
    private buf: unknown,
    readonly dtype: DType,
    readonly size: number,
    /** Made by fromHost: on CPU backends the caller's own array, which must never be reused. */
    readonly adopted = false,
  ) {
    countStorage(backend, dtype, size, 1);
  }

  get buffer(): unknown {
    // Not computed yet, or written by a step that has not run: the pending program runs first.
    if (this.deferred || this.pendingWrites > 0) realizeDeferred?.();
    if (this.buf === undefined) throw new TesseraError('storage', 'tensor used after dispose()');
    return this.buf;
  }
  get freed(): boolean { return this.buf === undefined && !this.deferred; }
  /** Holds by steps of a deferred program that has not run: they keep the memory, not the result, alive. */
  private stepRefs = 0;
  /** Steps of the pending program that write it: until they run, its buffer holds stale values. */
  private pendingWrites = 0;
  /** Whether a tensor or an autograd node still holds it (a pending step's hold does not count). */
  get live(): boolean { return this.refs > this.stepRefs; }
  /** A pending step uses it: its buffer must survive until the program has run. */
  holdForStep(writes: boolean): void {
    this.stepRefs++;
    this.refs++;
    if (writes) this.pendingWrites++;
  }
  releaseFromStep(writes: boolean): void {
    this.stepRefs--;
    if (writes) this.pendingWrites--;
    this.release();
  }

  /** A deferred storage gets the buffer the program computed it into. */
  materialize(buffer: unknown): void {
    this.buf = buffer;
    this.deferred = false;
  }

  retain(): void { this.refs++; }
  release(): void {
    if (--this.refs > 0) return;
    if (this.deferred) {
      // Never computed, and now never needed by a tensor: the program computes it only if a later step reads it.
      if (!this.dropped) { this.dropped = true; countStorage(this.backend, this.dtype, this.size, -1); }
      return;
    }
    if (this.buf === undefined) return;
    this.backend.free(this.buf, this.adopted);
    this.buf = undefined;
    countStorage(this.backend, this.dtype, this.size, -1);
  }
  /** A deferred storage whose last holder let go (its memory is no longer counted). */
  private dropped = false;

  /** Gives back a buffer the program computed only for its own later steps (a temporary). */
  freeTemporary(): void {
    if (this.buf === undefined) return;
    this.backend.free(this.buf, false);
    this.buf = undefined;
  }
}

/** Releases a storage reference held by a tensor that was collected without dispose(). */
export const collected = new FinalizationRegistry<Storage>((s) => {
  countTensor(s.backend, -1);
  s.release();
});
