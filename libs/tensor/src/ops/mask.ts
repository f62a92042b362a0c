/** Masked fills and triangular masks, as `where` over the destination's dtype. */
import { DTypeError, ShapeError, broadcastShapes, fmtShape } from '@tessera/ops';
import type { Tensor } from '../tensor.js';
import { arange } from '../factories.js';
import { tidy } from '../scope.js';
import { le, ge, sub, where } from './elementwise.js';

/** Like `where(cond, a, b)` but the result keeps x's shape and dtype (as torch.masked_fill). */
function fillWhere(op: string, x: Tensor, cond: Tensor, value: number | boolean): Tensor {
  const shape = broadcastShapes(op, [x.shape, cond.shape]);
  if (shape.length !== x.ndim || shape.some((d, i) => d !== x.shape[i])) {
    throw new ShapeError(op, `mask of shape ${fmtShape(cond.shape)} must broadcast to the input's shape ${fmtShape(x.shape)}`);
  }
  const r = where(cond, value, x);
  return r.dtype === x.dtype ? r : r.to(x.dtype);
}

export function maskedFill(x: Tensor, mask: Tensor, value: number | boolean): Tensor {
  if (mask.dtype !== 'bool') throw new DTypeError('maskedFill', `mask must be bool, got ${mask.dtype}`);
  return fillWhere('maskedFill', x, mask, value);
}

/** Keeps elements with (col - row) on the kept side of `diagonal` in the last two dims. */
function triangle(op: string, x: Tensor, diagonal: number, lower: boolean): Tensor {
  if (x.ndim < 2) throw new ShapeError(op, `expects a tensor of rank >= 2, got shape ${fmtShape(x.shape)}`);
  const [h, w] = x.shape.slice(-2) as [number, number];
  return tidy(() => {
    const offsetFromDiag = sub(arange(w, { device: x.device }).view(1, w), arange(h, { device: x.device }).view(h, 1));
    const drop = lower ? le(offsetFromDiag, diagonal).logicalNot() : ge(offsetFromDiag, diagonal).logicalNot();
    return fillWhere(op, x, drop, 0);
  });
}

export const tril = (x: Tensor, diagonal = 0): Tensor => triangle('tril', x, diagonal, true);
export const triu = (x: Tensor, diagonal = 0): Tensor => triangle('triu', x, diagonal, false);
