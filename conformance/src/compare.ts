/** Test helpers: reading a view's logical values straight from storage (independent of kernels) and comparing with tolerances. */
import { type DType, type Tolerance, forEachIndex, isFloating } from '@tessera/ops';
import { HALF_TO_FLOAT, type Tensor, toHalf } from 'tessera';

/**
 * Row-major logical values of any view. Host-memory buffers are read with index arithmetic only
 * (independent of the copy kernel under test); device buffers through a contiguous read.
 */
export async function logical(t: Tensor): Promise<number[]> {
  if (!ArrayBuffer.isView(t.storage.buffer)) return Array.from(await t.contiguous().data() as ArrayLike<number>, Number);
  const buf = t.storage.buffer as unknown as ArrayLike<number | bigint>;
  const out: number[] = [];
  forEachIndex(t.shape, (idx) => {
    const raw = buf[t.offset + idx.reduce((o, i, d) => o + i * t.strides[d]!, 0)]!;
    out.push(t.dtype === 'float16' ? HALF_TO_FLOAT[Number(raw)]! : Number(raw));
  });
  return out;
}

/** The value a dtype can hold closest to v (what a correct kernel stores). */
export function roundTo(dtype: DType, v: number, int64Bits: 32 | 64 = 64): number {
  switch (dtype === 'int64' && int64Bits === 32 ? 'int32' : dtype) {
    case 'float32': return Math.fround(v);
    case 'float16': return HALF_TO_FLOAT[toHalf(v)]!;
    case 'bool': return v !== 0 ? 1 : 0;
    // Integer results wrap around like C (and PyTorch) integers.
    case 'int32': return Number.isFinite(v) ? Number(BigInt.asIntN(32, BigInt(Math.trunc(v)))) : 0;
    case 'uint8': return Number.isFinite(v) ? Number(BigInt.asUintN(8, BigInt(Math.trunc(v)))) : 0;
    default: return v;
  }
}

export function close(actual: number, expected: number, tol: Tolerance, dtype: DType): boolean {
  if (Number.isNaN(expected)) return Number.isNaN(actual);
  if (!isFloating(dtype) || !Number.isFinite(expected)) return actual === expected;
  return Math.abs(actual - expected) <= tol.atol + tol.rtol * Math.abs(expected);
}

/** Throws with a pasteable reproducer on the first mismatch. */
export function expectClose(op: string, actual: readonly number[], expected: readonly number[], tol: Tolerance, dtype: DType, context: unknown): void {
  if (actual.length !== expected.length) throw new Error(`${op}: got ${actual.length} values, expected ${expected.length}`);
  for (let i = 0; i < actual.length; i++) {
    if (!close(actual[i]!, expected[i]!, tol, dtype)) {
      throw new Error(`${op} (${dtype}) mismatch at flat index ${i}: got ${actual[i]}, expected ${expected[i]} (rtol ${tol.rtol}, atol ${tol.atol})\nreproduce with: ${JSON.stringify(context)}`);
    }
  }
}
