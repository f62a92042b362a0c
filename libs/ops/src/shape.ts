/** Shape arithmetic shared by every layer: broadcasting, dim normalisation, strides. */
import { ArgumentError, IndexError, ShapeError, fmtShape } from './errors.js';
import { describe } from './validate.js';

/** Sizes of a tensor's dims, outermost first; `[]` is a 0-d (scalar) tensor. */
export type Shape = readonly number[];

/** Number of elements: the product of the sizes (1 for a 0-d shape). */
export const numel = (shape: Shape): number => shape.reduce((a, b) => a * b, 1);

/** Row-major strides in elements; size-0 dims count as 1, so every stride stays positive. */
export function contiguousStrides(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= Math.max(shape[i]!, 1);
  }
  return strides;
}

/** Whether two shapes have the same rank and sizes. */
export const sameShape = (a: Shape, b: Shape): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

/** PyTorch broadcasting: align right; each dim pair must be equal or contain a 1. */
export function broadcastShapes(op: string, shapes: readonly Shape[]): number[] {
  if (shapes.length === 2 && sameShape(shapes[0]!, shapes[1]!)) return shapes[0]!.slice();
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const o = rank - s.length + i;
      const d = s[i]!;
      if (d === out[o]) continue;
      if (out[o] === 1) out[o] = d;
      else if (d !== 1) {
        throw new ShapeError(op, `shapes ${shapes.map(fmtShape).join(' and ')} are not broadcastable: dim ${o - rank} has sizes ${out[o]} and ${d} (each must be equal or 1)`);
      }
    }
  }
  return out;
}

/** Wraps a possibly negative dim into [0, ndim); a 0-d tensor accepts dims 0 and -1, as in PyTorch. */
export function normDim(op: string, dim: number, ndim: number): number {
  const n = Math.max(ndim, 1);
  if (!Number.isInteger(dim)) throw new ArgumentError(op, `dim must be an integer, got ${describe(dim)}`);
  if (dim < -n || dim >= n) {
    throw new IndexError(op, `dim ${dim} is out of range for a tensor of rank ${ndim} (expected ${-n} to ${n - 1})`);
  }
  return dim < 0 ? dim + n : dim;
}

/** Normalises a dim list, rejecting repeats; `undefined` (or null, Python's None) means every dim. */
export function normDims(op: string, dims: number | readonly number[] | undefined | null, ndim: number): number[] {
  if (dims === undefined || dims === null) return Array.from({ length: ndim }, (_, i) => i);
  if (typeof dims !== 'number' && !Array.isArray(dims)) throw new ArgumentError(op, `dim must be an integer or a list of them, got ${describe(dims)}`);
  const list = (typeof dims === 'number' ? [dims] : dims).map((d) => normDim(op, d, ndim));
  if (new Set(list).size !== list.length) throw new IndexError(op, `dim ${fmtShape(dims as number[])} contains a repeated dim`);
  return ndim === 0 ? [] : list.sort((a, b) => a - b);
}

/** Validates a target shape, resolving one -1 against `total` elements. */
export function inferShape(op: string, from: Shape, shape: readonly number[], total: number): number[] {
  if (!Array.isArray(shape)) throw new ArgumentError(op, `shape must be a list of integers, got ${describe(shape)}`);
  let infer = -1;
  let known = 1;
  shape.forEach((d, i) => {
    if (d === -1) {
      if (infer >= 0) throw new ShapeError(op, `only one dim can be -1, got ${fmtShape(shape)}`);
      infer = i;
    } else if (!Number.isInteger(d)) {
      throw new ArgumentError(op, `shape must hold integers, got ${describe(d)} in ${fmtShape(shape)}`);
    } else if (d < 0) {
      throw new ShapeError(op, `invalid size ${d} in shape ${fmtShape(shape)}`);
    } else known *= d;
  });
  const out = shape.slice();
  if (infer >= 0) {
    if (known === 0 || total % known !== 0) throw new ShapeError(op, `shape ${fmtShape(shape)} is invalid for input of shape ${fmtShape(from)} (${total} elements)`);
    out[infer] = total / known;
  } else if (known !== total) {
    throw new ShapeError(op, `shape ${fmtShape(shape)} is invalid for input of shape ${fmtShape(from)} (${total} elements)`);
  }
  return out;
}
