/**
 * The CPU backends' caching allocator, as PyTorch's caching allocators: arrays whose storage was
 * released (dispose, tidy, the autograd engine's temporaries) are kept by dtype and length and handed
 * out again. A fresh off-heap typed array costs ~1-2 us (malloc, V8's external-memory accounting, and
 * for large ones a page fault per 4 KiB on first write), a reused one tens of nanoseconds.
 * Arrays a caller handed over (fromHost adopts them) are never released here (Backend.free says
 * which): the caller may still hold them.
 */
import { constants } from 'node:buffer';
import { type DType, DTYPES } from '@tessera/ops';
import { type TypedArray, allocHost } from '../typed.js';

/** From this size, fresh arrays are not zero-filled (every kernel writes its whole output; factories fill explicitly). */
const UNFILLED_MIN_BYTES = 1 << 16;
const BUFFER_MAX_BYTES = constants.MAX_LENGTH;
/** Bytes of released arrays kept for reuse; past it, released arrays are left to the garbage collector. */
const POOL_LIMIT_BYTES = 256 << 20;

type Ctor = new (buffer: ArrayBuffer, offset: number, length: number) => TypedArray;
const VIEW: Readonly<Record<DType, Ctor>> = {
  float32: Float32Array, float64: Float64Array, float16: Uint16Array, int32: Int32Array, int64: BigInt64Array, uint8: Uint8Array, bool: Uint8Array,
} as never;

/** Released arrays by storage class (bool and uint8 share Uint8Array) and length. */
const free = new Map<Ctor, Map<number, TypedArray[]>>();
let pooledBytes = 0;

/** An array of `size` elements: a released one when there is one (zero-filled below 64 KiB, as fresh small ones are). */
export function allocArray(dtype: DType, size: number): TypedArray {
  const bytes = size * DTYPES[dtype].bytes;
  const reused = free.get(VIEW[dtype])?.get(size)?.pop();
  if (reused) {
    pooledBytes -= bytes;
    if (bytes < UNFILLED_MIN_BYTES) reused.fill((dtype === 'int64' ? 0n : 0) as never);
    return reused;
  }
  // Node's Buffer stops at 4 GiB; larger arrays come from the (zero-filling) typed-array constructor.
  if (bytes < UNFILLED_MIN_BYTES || bytes > BUFFER_MAX_BYTES) return allocHost(dtype, size);
  return new VIEW[dtype](Buffer.allocUnsafeSlow(bytes).buffer as ArrayBuffer, 0, size);
}

/** Takes back an array whose last storage reference is gone. */
export function releaseArray(a: TypedArray): void {
  if (pooledBytes + a.byteLength > POOL_LIMIT_BYTES) return;
  const kind = a.constructor as Ctor;
  let byLength = free.get(kind);
  if (!byLength) free.set(kind, (byLength = new Map()));
  let list = byLength.get(a.length);
  if (!list) byLength.set(a.length, (list = []));
  list.push(a);
  pooledBytes += a.byteLength;
}

/** Drops every pooled array (torch.cuda.empty_cache's counterpart): they go to the garbage collector. */
export function emptyCache(): void {
  free.clear();
  pooledBytes = 0;
}

/** Bytes held for reuse. */
export const pooledArrayBytes = (): number => pooledBytes;
