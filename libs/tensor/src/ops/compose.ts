/**
 * torch functions that are compositions of other ops (so they are differentiable, run on every
 * backend and fuse under compile with no kernel of their own), with torch's argument checks.
 */
import { DTypeError, ShapeError, fmtShape, isFloating, normDim } from '@tessera/ops';
import type { TensorOrScalar } from '../dispatch.js';
import type { Tensor } from '../tensor.js';
import * as ew from './elementwise.js';
import { cat } from './join.js';
import { matmul } from './routines.js';
import * as vw from './views.js';

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
