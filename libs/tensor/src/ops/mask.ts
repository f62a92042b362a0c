/** Masked fills and triangular masks, as `where` over the destination's dtype. */
import { DTypeError, ShapeError, broadcastShapes, checkFillValue, describe, fmtShape, scalarOperand } from '@tessera/ops';
import { Tensor } from '../tensor.js';
import { arange } from '../factories.js';
import { keep, tidy } from '../scope.js';
import { checkFlag } from '../checks.js';
import { le, ge, logicalAnd, ne, sub, where } from './elementwise.js';
import { amax } from './reduce.js';

/**
 * Like `where(cond, a, b)` but the result keeps x's dtype (as torch.masked_fill); out of place the
 * mask may broadcast x to a larger shape, as torch's does (`within`: the triangles keep x's shape).
 */
function fillWhere(op: string, x: Tensor, cond: Tensor, value: number | boolean, within = false): Tensor {
  const shape = broadcastShapes(op, [x.shape, cond.shape]);
  if (within && (shape.length !== x.ndim || shape.some((d, i) => d !== x.shape[i]))) {
    throw new ShapeError(op, `mask of shape ${fmtShape(cond.shape)} must broadcast to the input's shape ${fmtShape(x.shape)}`);
  }
  const r = where(cond, value, x);
  return r.dtype === x.dtype ? r : r.to(x.dtype);
}

/**
 * torch.masked_fill (out of place): x with `value` where the bool mask (broadcast against x) is true, keeping
 * x's dtype. A non-bool mask holding only 0 and 1 is accepted as torch's byte masks; other values throw DTypeError.
 */
export function maskedFill(x: Tensor, mask: Tensor, value: number | boolean): Tensor {
  if (!(mask instanceof Tensor)) throw new DTypeError('maskedFill', `mask must be a bool tensor, got ${describe(mask)}`);
  checkFillValue('maskedFill', scalarOperand('maskedFill', value), x.dtype);
  if (mask.dtype === 'bool') return fillWhere('maskedFill', x, mask, value);
  // torch still takes a non-bool mask that holds only 0 and 1 (its deprecated byte masks).
  const bool = tidy(() => {
    if (mask.numel > 0) {
      const other = amax(logicalAnd(ne(mask, 0), ne(mask, 1)));
      checkFlag(keep(other), () => new DTypeError('maskedFill', `a ${mask.dtype} mask can hold only 0 and 1 (use a bool mask)`));
    }
    return ne(mask, 0);
  });
  return fillWhere('maskedFill', x, bool, value);
}

/** Keeps elements with (col - row) on the kept side of `diagonal` in the last two dims. */
function triangle(op: string, x: Tensor, diagonal: number, lower: boolean): Tensor {
  // An empty tensor has no triangle to keep, whatever its rank (torch returns it as it is).
  if (x.numel === 0) return x.clone();
  if (x.ndim < 2) throw new ShapeError(op, `expects a tensor of rank >= 2, got shape ${fmtShape(x.shape)}`);
  const [h, w] = x.shape.slice(-2) as [number, number];
  return tidy(() => {
    const offsetFromDiag = sub(arange(w, { device: x.device }).view(1, w), arange(h, { device: x.device }).view(h, 1));
    const drop = lower ? le(offsetFromDiag, diagonal).logicalNot() : ge(offsetFromDiag, diagonal).logicalNot();
    return fillWhere(op, x, drop, 0, true);
  });
}

/**
 * torch.tril: x with elements above `diagonal` of its last two dims zeroed (0 the main diagonal, positive
 * above it, negative below); batch dims are kept. Throws ShapeError for a non-empty x below rank 2.
 */
export const tril = (x: Tensor, diagonal = 0): Tensor => triangle('tril', x, diagonal, true);
/** torch.triu: x with elements below `diagonal` of its last two dims zeroed; as tril otherwise. */
export const triu = (x: Tensor, diagonal = 0): Tensor => triangle('triu', x, diagonal, false);
