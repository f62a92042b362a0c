/** Host arrays per dtype: how each dtype is stored in CPU memory. */
import { type DType, DTYPES, OutOfMemoryError, TesseraError, fmtShape } from '@tessera/ops';
import { HALF_TO_FLOAT, toHalf } from './float16.js';

/** The host arrays tensor data comes in and is read out as (Uint16Array holds float16 bits; BigInt64Array int64). */
export type TypedArray = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | Uint16Array;

export interface HostArrayTypes {
  float32: Float32Array; float64: Float64Array; float16: Uint16Array;
  int32: Int32Array; int64: BigInt64Array; uint8: Uint8Array; bool: Uint8Array;
}

/** float16 is kept as raw bits in a Uint16Array; bool as 0/1 bytes. */
export const STORAGE: { readonly [D in DType]: { new (n: number): HostArrayTypes[D]; from(a: ArrayLike<never>): HostArrayTypes[D] } } = {
  float32: Float32Array, float64: Float64Array, float16: Uint16Array,
  int32: Int32Array, int64: BigInt64Array, uint8: Uint8Array, bool: Uint8Array,
} as never;

export const allocHost = <D extends DType>(dtype: D, n: number): HostArrayTypes[D] => new STORAGE[dtype](n);

/**
 * Runs an allocation for a tensor of `shape`; a failure (a RangeError from the typed-array or
 * buffer constructor, a device's own allocation error) becomes an OutOfMemoryError naming the op,
 * the shape and the bytes, as torch's allocator reports.
 */
export function allocChecked<T>(op: string, dtype: DType, shape: readonly number[], alloc: () => T): T {
  try {
    return alloc();
  } catch (e) {
    if (e instanceof TesseraError) throw e;
    const bytes = shape.reduce((a, b) => a * b, 1) * DTYPES[dtype].bytes;
    throw new OutOfMemoryError(op, `cannot allocate ${bytes} bytes for a ${dtype} tensor of shape ${fmtShape(shape)} (${(e as Error).message})`);
  }
}

/** Element reader/writer in JS numbers (int64 beyond 2^53 loses precision; read BigInt64Array for exact). */
export function getter(dtype: DType, a: TypedArray): (i: number) => number {
  if (dtype === 'int64') return (i) => Number((a as BigInt64Array)[i]!);
  if (dtype === 'float16') return (i) => HALF_TO_FLOAT[(a as Uint16Array)[i]!]!;
  return (i) => (a as Float32Array)[i]!;
}

export function setter(dtype: DType, a: TypedArray): (i: number, v: number) => void {
  switch (dtype) {
    case 'int64': return (i, v) => { (a as BigInt64Array)[i] = toBigInt(v); };
    case 'float16': return (i, v) => { (a as Uint16Array)[i] = toHalf(v); };
    case 'bool': return (i, v) => { (a as Uint8Array)[i] = v !== 0 ? 1 : 0; };
    default: return (i, v) => { (a as Float32Array)[i] = v; };
  }
}

/** C-style float -> int64: truncates; NaN and +-Inf have no int64 value and become 0. */
export const toBigInt = (v: number): bigint => (Number.isFinite(v) ? BigInt.asIntN(64, BigInt(Math.trunc(v))) : 0n);

/** Which dtype a typed array stands for when handed to a factory. */
export function dtypeOfArray(a: ArrayBufferView): DType | undefined {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Float64Array) return 'float64';
  if (a instanceof Int32Array) return 'int32';
  if (a instanceof BigInt64Array) return 'int64';
  if (a instanceof Uint8Array) return 'uint8';
  return undefined;
}
