/** A minimal contiguous float64 N-d array for reference implementations. */
import { contiguousStrides, numel, type Shape } from '../shape.js';

/** A contiguous float64 array with a shape: the operand and result type of the reference implementations. */
export interface Nd {
  /** The array's shape. */
  readonly shape: Shape;
  /** The elements in row-major order, `numel(shape)` of them. */
  readonly data: Float64Array;
}

/** An Nd of `shape` holding a copy of `data`, or zeros when no data is given. */
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

/** Flat row-major offset of multi-index `idx` in a contiguous array of `shape`. */
export const offsetOf = (shape: Shape, idx: readonly number[]): number => {
  const st = contiguousStrides(shape);
  return idx.reduce((o, i, d) => o + i * st[d]!, 0);
};
