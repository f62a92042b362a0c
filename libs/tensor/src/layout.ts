/** Stride arithmetic: broadcasting operands against an output, merging dims, PyTorch's view rule. */
import { contiguousStrides, type Shape } from '@tessera/ops';

/** Strides of `shape`/`strides` read as the larger `out` shape (broadcast dims get stride 0). */
export function broadcastStrides(shape: Shape, strides: readonly number[], out: Shape): number[] {
  const r = out.length - shape.length;
  return out.map((_, i) => (i < r || shape[i - r] === 1 ? 0 : strides[i - r]!));
}

/**
 * Merges adjacent dims that every operand walks contiguously (TensorIterator's coalescing), so a
 * contiguous N-d op becomes one flat loop and kernels are compiled for few ranks. Size-1 dims vanish.
 */
export function coalesce(shape: Shape, strides: readonly (readonly number[])[]): { shape: number[]; strides: number[][] } {
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    const n = shape[d]!;
    if (n === 1) continue;
    const last = outShape.length - 1;
    if (last >= 0 && strides.every((s, k) => outStrides[k]![last] === s[d]! * n)) {
      outShape[last]! *= n;
      strides.forEach((s, k) => { outStrides[k]![last] = s[d]!; });
    } else {
      outShape.push(n);
      strides.forEach((s, k) => outStrides[k]!.push(s[d]!));
    }
  }
  return { shape: outShape, strides: outStrides };
}

export function isContiguous(shape: Shape, strides: readonly number[]): boolean {
  let expected = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] === 1) continue;
    if (strides[d] !== expected) return false;
    expected *= shape[d]!;
  }
  return true;
}

/**
 * Strides for viewing (shape, strides) as `target` without a copy, or undefined when the memory
 * layout does not allow it (torch's computeStride): each run of target dims must map onto a chunk of
 * source dims that is itself contiguous.
 */
export function viewStrides(shape: Shape, strides: readonly number[], target: Shape): number[] | undefined {
  const numel = shape.reduce((a, b) => a * b, 1);
  const out = new Array<number>(target.length);
  if (numel === 0) return contiguousStrides(target);
  let viewD = target.length - 1;
  let chunkBase = strides[strides.length - 1] ?? 1;
  let tensorNumel = 1;
  let viewNumel = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    tensorNumel *= shape[d]!;
    if (d === 0 || (shape[d - 1] !== 1 && strides[d - 1] !== tensorNumel * chunkBase)) {
      while (viewD >= 0 && (viewNumel < tensorNumel || target[viewD] === 1)) {
        out[viewD] = viewNumel * chunkBase;
        viewNumel *= target[viewD]!;
        viewD--;
      }
      if (viewNumel !== tensorNumel) return undefined;
      if (d > 0) {
        chunkBase = strides[d - 1]!;
        tensorNumel = 1;
        viewNumel = 1;
      }
    }
  }
  if (viewD !== -1) {
    // Remaining leading target dims are all 1.
    for (; viewD >= 0; viewD--) out[viewD] = 1;
  }
  return out;
}

/** Whether two elements of a view share one memory location: a dim of size > 1 with stride 0 (expand). */
export function hasInternalOverlap(shape: Shape, strides: readonly number[]): boolean {
  for (let d = 0; d < shape.length; d++) if (strides[d] === 0 && shape[d]! > 1) return true;
  return false;
}

/** The lowest and highest element offsets a non-empty view touches. */
export function extent(shape: Shape, strides: readonly number[], offset: number): [number, number] {
  let lo = offset, hi = offset;
  for (let d = 0; d < shape.length; d++) {
    const span = (shape[d]! - 1) * strides[d]!;
    if (span < 0) lo += span;
    else hi += span;
  }
  return [lo, hi];
}

/**
 * Whether reading `b` (laid over `shape`) while writing `a` could see a location `a` wrote before
 * (PyTorch's partial overlap): they touch a common range of one storage and are not the very same
 * elements in the same order. Conservative: interleaved views that share a range count as overlapping.
 */
export function partiallyOverlaps(shape: Shape, a: { strides: readonly number[]; offset: number }, b: { strides: readonly number[]; offset: number }): boolean {
  if (shape.some((d) => d === 0)) return false;
  if (a.offset === b.offset && a.strides.every((s, d) => s === b.strides[d] || shape[d] === 1)) return false;
  const [alo, ahi] = extent(shape, a.strides, a.offset), [blo, bhi] = extent(shape, b.strides, b.offset);
  return alo <= bhi && blo <= ahi;
}
