/** A minimal contiguous float64 N-d array for reference implementations. */
import { contiguousStrides, numel, type Shape } from '../shape.js';

export interface Nd { readonly shape: Shape; readonly data: Float64Array }

export const nd = (shape: Shape, data?: ArrayLike<number>): Nd => ({ shape, data: data ? Float64Array.from(data) : new Float64Array(numel(shape)) });

/** Calls fn with the multi-index and flat offset of every element, in row-major order. */
export function forEachIndex(shape: Shape, fn: (idx: number[], flat: number) => void): void {
  const n = numel(shape);
  const idx = new Array<number>(shape.length).fill(0);
  for (let flat = 0; flat < n; flat++) {
    fn(idx, flat);
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d]! < shape[d]!) break;
      idx[d] = 0;
    }
  }
}

export const offsetOf = (shape: Shape, idx: readonly number[]): number => {
  const st = contiguousStrides(shape);
  return idx.reduce((o, i, d) => o + i * st[d]!, 0);
};
