/** cat and stack: one output allocation, each input copied into its slice. */
import { ArgumentError, ShapeError, describe, fmtShape, normDim, resultType } from '@tessera/ops';
import { commonBackend } from '../dispatch.js';
import { Tensor } from '../tensor.js';
import { copy_ } from './convert.js';
import { narrow, unsqueeze } from './views.js';
import { record, untracked } from '../grad-hook.js';

/** Array.isArray without its narrowing (which would turn a readonly Tensor[] into any[]). */
const isList = (v: unknown): boolean => Array.isArray(v);

/**
 * torch.cat: the tensors joined along existing dim `dim` into a new tensor of their promoted dtype; shapes
 * must match outside `dim` (1-D empty tensors are skipped, as torch's legacy rule). Throws on 0-d inputs.
 */
export function cat(tensorsIn: readonly Tensor[], dim = 0): Tensor {
  if (!isList(tensorsIn) || tensorsIn.length === 0) throw new ArgumentError('cat', 'expected a non-empty list of tensors');
  tensorsIn.forEach((t, i) => { if (!(t instanceof Tensor)) throw new ArgumentError('cat', `element ${i} of the list is ${describe(t)}, not a tensor`); });
  // torch's legacy rule: a 1-D empty tensor ([0]) is skipped whatever the other shapes are.
  const kept = tensorsIn.filter((t) => !(t.ndim === 1 && t.shape[0] === 0));
  const tensors: readonly Tensor[] = kept.length ? kept : tensorsIn;
  const backend = commonBackend('cat', tensors);
  const first = tensors[0]!;
  if (first.ndim === 0) throw new ShapeError('cat', 'zero-dimensional tensors cannot be concatenated; use stack');
  const d = normDim('cat', dim, first.ndim);
  tensors.forEach((t, i) => {
    if (t.ndim !== first.ndim || t.shape.some((s, k) => k !== d && s !== first.shape[k])) {
      throw new ShapeError('cat', `tensor ${i} has shape ${fmtShape(t.shape)}, which does not match tensor 0's ${fmtShape(first.shape)} outside dim ${d}`);
    }
  });
  const dtype = resultType(tensorsIn.map((t) => ({ kind: 'tensor', dtype: t.dtype, ndim: 1 })));
  const shape = first.shape.slice();
  shape[d] = tensors.reduce((n, t) => n + t.shape[d]!, 0);
  const out = Tensor.empty(backend, shape, dtype);
  const starts: number[] = [];
  let at = 0;
  untracked(() => {
    for (const t of tensors) {
      const part = narrow(out, d, at, t.shape[d]!);
      copy_(part, t);
      part.dispose();
      starts.push(at);
      at += t.shape[d]!;
    }
  });
  return record('cat', tensors, out, (g) => tensors.map((t, i) => (t.requiresGrad ? narrow(g, d, starts[i]!, t.shape[d]!) : undefined)));
}

/** torch.stack: tensors of one shape joined along a new dim inserted at `dim` (from -ndim-1 to ndim). */
export function stack(tensors: readonly Tensor[], dim = 0): Tensor {
  if (!isList(tensors) || tensors.length === 0) throw new ArgumentError('stack', 'expected a non-empty list of tensors');
  tensors.forEach((t, i) => { if (!(t instanceof Tensor)) throw new ArgumentError('stack', `element ${i} of the list is ${describe(t)}, not a tensor`); });
  const first = tensors[0]!;
  tensors.forEach((t, i) => {
    if (t.ndim !== first.ndim || t.shape.some((s, k) => s !== first.shape[k])) {
      throw new ShapeError('stack', `all tensors must have the same shape: tensor ${i} has ${fmtShape(t.shape)}, tensor 0 has ${fmtShape(first.shape)}`);
    }
  });
  const d = normDim('stack', dim, first.ndim + 1);
  const parts = tensors.map((t) => unsqueeze(t, d));
  const out = cat(parts, d);
  parts.forEach((p) => p.dispose());
  return out;
}
