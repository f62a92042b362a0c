/**
 * Movement folded into index arithmetic. A value computed elementwise over a launch shape `s` and
 * stored contiguously is read by a later kernel through a strided view. Rather than storing it, the
 * later kernel can compute it where it reads it, provided each of the producer's inputs can be read
 * through a view over the consumer's launch shape: the composition of the reading view with the
 * input's view. That composition is affine exactly when every consumer dim walks one producer dim
 * (permutes, broadcasts, slices, flips, selects, unsqueezes) without carrying into the next.
 */
import { contiguousStrides } from '@tessera/ops';

export interface Strided { readonly strides: readonly number[]; readonly offset: number }

/**
 * Whether views a and b, over launch shape `shape`, address the same elements: the same offset and
 * the same stride wherever a dim has more than one index (a unit dim's stride is never used, and
 * the views ops leave it as they find it: 0 for a broadcast, the contiguous stride for a fresh tensor).
 */
export const sameElements = (shape: readonly number[], a: Strided, b: Strided): boolean =>
  a.offset === b.offset && a.strides.length === shape.length && b.strides.length === shape.length && shape.every((n, d) => n === 1 || a.strides[d] === b.strides[d]);

/**
 * How `read` (a view over consumer shape `q` of a contiguous array of shape `s`) maps each consumer
 * dim onto the producer's dims: per consumer dim, the producer dim and step (or none for size-1
 * and broadcast dims), and the producer coordinates of the first element; undefined when a dim
 * would carry into another (a reshape that merges dims).
 */
export interface DimMap { readonly dims: readonly (readonly [number, number] | undefined)[]; readonly base: readonly number[] }

export function mapDims(s: readonly number[], q: readonly number[], read: Strided): DimMap | undefined {
  const c = contiguousStrides(s);
  const total = s.reduce((a, b) => a * b, 1);
  if (read.offset < 0 || read.offset >= Math.max(total, 1)) return undefined;
  let rest = read.offset;
  const base = s.map((_, d) => { const v = Math.floor(rest / c[d]!); rest -= v * c[d]!; return v; });
  const lo = base.slice(), hi = base.slice();
  const dims = q.map((n, j): readonly [number, number] | undefined => {
    const v = read.strides[j]!;
    if (n === 1 || v === 0) return undefined;
    // The producer dim whose stride divides v with a step that stays inside it.
    for (let d = 0; d < s.length; d++) {
      if (s[d] === 1 || v % c[d]! !== 0) continue;
      const m = v / c[d]!;
      if (Math.abs(m) >= s[d]!) continue;
      lo[d] = lo[d]! + Math.min(0, (n - 1) * m);
      hi[d] = hi[d]! + Math.max(0, (n - 1) * m);
      return [d, m];
    }
    return undefined;
  });
  // A consumer dim that moves but found no producer dim, or a producer dim walked out of its range.
  if (q.some((n, j) => n !== 1 && read.strides[j] !== 0 && !dims[j])) return undefined;
  if (s.some((n, d) => lo[d]! < 0 || hi[d]! >= n)) return undefined;
  return { dims, base };
}

/** The producer's input view `input` (over the producer's launch shape) read through `map`: a view over the consumer's shape. */
export function composeView(map: DimMap, input: Strided): Strided {
  const strides = map.dims.map((dm) => (dm ? dm[1] * input.strides[dm[0]]! : 0));
  const offset = map.base.reduce((o, b, d) => o + b * input.strides[d]!, input.offset);
  return { strides, offset };
}
