/**
 * torch functions that are compositions of other ops (so they are differentiable, run on every
 * backend and fuse under compile with no kernel of their own), with torch's argument checks.
 */
import { ArgumentError, DTypeError, ShapeError, checkInt, describe, fmtShape, isFloating, normDim, numel } from '@tessera/ops';
import type { TensorOrScalar } from '../dispatch.js';
import type { Tensor } from '../tensor.js';
import * as ew from './elementwise.js';
import { cat } from './join.js';
import { matmul } from './routines.js';
import * as vw from './views.js';
import * as rd from './reduce.js';
import { tensor } from '../factories.js';

const needRank = (name: string, what: string, t: Tensor, rank: number): void => {
  if (t.ndim !== rank) throw new ShapeError(name, `${what} must be ${rank}-D, got shape ${fmtShape(t.shape)}`);
};

/** torch.mm: the product of two matrices (no broadcasting). */
export function mm(a: Tensor, b: Tensor): Tensor {
  needRank('mm', 'self', a, 2);
  needRank('mm', 'mat2', b, 2);
  return matmul(a, b);
}

/** torch.bmm: batched products of [B, n, m] and [B, m, p], batch sizes equal (no broadcasting). */
export function bmm(a: Tensor, b: Tensor): Tensor {
  needRank('bmm', 'batch1', a, 3);
  needRank('bmm', 'batch2', b, 3);
  if (a.shape[0] !== b.shape[0]) throw new ShapeError('bmm', `batch sizes differ: ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  return matmul(a, b);
}

/** torch.addmm: beta * input + alpha * (m1 @ m2), input broadcast to the product's shape; with beta 0, input is not read (its NaNs do not propagate). */
export function addmm(input: Tensor, m1: Tensor, m2: Tensor, opt: { beta?: number; alpha?: number } = {}): Tensor {
  const { beta = 1, alpha = 1 } = opt;
  const prod = mm(m1, m2);
  const scaled = alpha === 1 ? prod : prod.mul(alpha);
  const base = vw.expand(input, scaled.shape); // a ShapeError where input does not broadcast to it
  return beta === 0 ? scaled : scaled.add(base, { alpha: beta });
}

/** torch.outer: the outer product of two vectors, [n] x [m] -> [n, m]. */
export function outer(a: Tensor, b: Tensor): Tensor {
  needRank('outer', 'self', a, 1);
  needRank('outer', 'vec2', b, 1);
  return a.unsqueeze(1).mul(b.unsqueeze(0));
}

/** torch.addcmul: input + value * t1 * t2 (broadcast). */
export function addcmul(input: Tensor, t1: TensorOrScalar, t2: TensorOrScalar, opt: { value?: number } = {}, out?: Tensor): Tensor {
  return ew.add(input, ew.mul(t1, t2), { alpha: opt.value ?? 1 }, out);
}

/** torch.addcdiv: input + value * t1 / t2 (broadcast); integer t1 and t2 are refused, as torch does. */
export function addcdiv(input: Tensor, t1: Tensor, t2: Tensor, opt: { value?: number } = {}, out?: Tensor): Tensor {
  if (!isFloating(t1.dtype) && !isFloating(t2.dtype)) throw new DTypeError('addcdiv', `integer division (${t1.dtype} / ${t2.dtype}) is not supported; use float tensors (as torch)`);
  return ew.add(input, ew.div(t1, t2), { alpha: opt.value ?? 1 }, out);
}

/**
 * torch.roll: elements shifted along `dims` by `shifts` (each wrapping around); with no dims, along
 * the flattened tensor, then restored to its shape.
 */
export function roll(x: Tensor, shifts: number | readonly number[], dims?: number | readonly number[]): Tensor {
  const s = typeof shifts === 'number' ? [shifts] : [...shifts];
  if (dims === undefined) {
    if (s.length !== 1) throw new ShapeError('roll', `${s.length} shifts need as many dims`);
    return roll(vw.flatten(x), s[0]!, 0).view(x.shape);
  }
  const d = typeof dims === 'number' ? [dims] : [...dims];
  if (d.length !== s.length) throw new ShapeError('roll', `${s.length} shifts but ${d.length} dims`);
  return d.reduce((t, dim, i) => {
    const at = normDim('roll', dim, t.ndim);
    const n = t.shape[at]!;
    const k = n === 0 ? 0 : ((s[i]! % n) + n) % n;
    return k === 0 ? t.clone() : cat([vw.narrow(t, at, n - k, k), vw.narrow(t, at, 0, n - k)], at);
  }, x);
}

/** torch.any: whether any element (along `dim`) is nonzero, as bool. */
export function any(x: Tensor, dim?: number, opt: { keepdim?: boolean } = {}): Tensor {
  return rd.sum(ew.ne(x, 0).to('int64'), dim, opt).gt(0);
}

/** torch.all: whether every element (along `dim`) is nonzero, as bool. */
export function all(x: Tensor, dim?: number, opt: { keepdim?: boolean } = {}): Tensor {
  return rd.sum(ew.eq(x, 0).to('int64'), dim, opt).eq(0);
}

/**
 * torch.Tensor.repeat: x tiled `sizes[i]` times along each dim (sizes may have more entries than x
 * has dims: new leading dims). A view expanded and copied once, so its gradient sums the tiles.
 */
export function repeat(x: Tensor, sizes: readonly number[]): Tensor {
  if (!Array.isArray(sizes) || sizes.length < x.ndim) throw new ArgumentError('repeat', `number of repeat dims (${describe(sizes)}) can not be smaller than number of tensor dims (${x.ndim})`);
  sizes.forEach((r, i) => checkInt('repeat', `sizes[${i}]`, r, 0));
  const shape = [...Array(sizes.length - x.ndim).fill(1), ...x.shape] as number[];
  // [r0, d0, r1, d1, ...]: each dim of x behind its repeat count, then merged pairwise.
  const spread = vw.reshape(x, shape.flatMap((d) => [1, d]));
  const tiled = vw.expand(spread, shape.flatMap((d, i) => [sizes[i]!, d]));
  return vw.reshape(tiled.contiguous(), shape.map((d, i) => d * sizes[i]!));
}

/**
 * torch.repeat_interleave: each element repeated along `dim` (x flattened when dim is not given):
 * `repeats` times, or repeats[i] times for element i (an array, or an int64 tensor read on the host).
 */
export function repeatInterleave(x: Tensor, repeats: number | readonly number[] | Tensor, dim?: number): Tensor {
  const src = dim === undefined ? vw.reshape(x, [-1]) : x;
  const d = dim === undefined ? 0 : normDim('repeatInterleave', dim, Math.max(x.ndim, 1));
  if (src.ndim === 0) return repeatInterleave(vw.reshape(src, [1]), repeats, 0);
  const n = src.shape[d]!;
  if (typeof repeats === 'number') {
    const r = checkInt('repeatInterleave', 'repeats', repeats, 0);
    // Each element behind a new axis of r copies, merged into dim.
    const spread = vw.unsqueeze(src, d + 1);
    const tiled = vw.expand(spread, [...src.shape.slice(0, d + 1), r, ...src.shape.slice(d + 1)]);
    return vw.reshape(tiled.contiguous(), src.shape.map((s, i) => (i === d ? s * r : s)));
  }
  const counts = Array.isArray(repeats) ? (repeats as readonly number[]) : Array.from((repeats as Tensor).dataSync() as ArrayLike<number | bigint>, Number);
  if (counts.length !== n && counts.length !== 1) throw new ShapeError('repeatInterleave', `repeats must have the same size as input along dim (${n}), got ${counts.length}`);
  counts.forEach((c, i) => checkInt('repeatInterleave', `repeats[${i}]`, c, 0));
  const per = counts.length === 1 ? Array(n).fill(counts[0]) as number[] : counts;
  const index = per.flatMap((c, i) => Array<number>(c).fill(i));
  return src.indexSelect(d, tensor(index, { dtype: 'int64', device: src.device }));
}

/** torch.Tensor.unflatten: dim split into `sizes` (one entry may be -1). */
export function unflatten(x: Tensor, dim: number, sizes: readonly number[]): Tensor {
  const d = normDim('unflatten', dim, x.ndim);
  const known = sizes.filter((s) => s !== -1);
  const size = x.shape[d]!;
  const filled = sizes.map((s) => (s === -1 ? size / Math.max(numel(known), 1) : s));
  if (sizes.filter((s) => s === -1).length > 1 || numel(filled) !== size || !filled.every(Number.isInteger)) {
    throw new ShapeError('unflatten', `sizes ${fmtShape(sizes)} do not multiply to dim ${d}'s size ${size}`);
  }
  return vw.reshape(x, [...x.shape.slice(0, d), ...filled, ...x.shape.slice(d + 1)]);
}
