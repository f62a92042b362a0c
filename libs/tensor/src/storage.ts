/**
 * Device memory shared by a tensor and its views, freed deterministically when the last user lets
 * go (dispose / tidy), with a FinalizationRegistry as a safety net for tensors nobody disposed.
 */
import { type DType, TesseraError } from '@tessera/ops';
import type { Backend } from './backend.js';
import { countStorage, countTensor } from './memory.js';

export class Storage {
  private refs = 0;
  /** Bumped by every in-place write; autograd compares it to detect stale saved tensors. */
  version = 0;
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
    if (this.buf === undefined) throw new TesseraError('storage', 'tensor used after dispose()');
    return this.buf;
  }
  get freed(): boolean { return this.buf === undefined; }

  retain(): void { this.refs++; }
  release(): void {
    if (--this.refs > 0 || this.buf === undefined) return;
    this.backend.free(this.buf, this.adopted);
    this.buf = undefined;
    countStorage(this.backend, this.dtype, this.size, -1);
  }
}

/** Releases a storage reference held by a tensor that was collected without dispose(). */
export const collected = new FinalizationRegistry<Storage>((s) => {
  countTensor(s.backend, -1);
  s.release();
});
