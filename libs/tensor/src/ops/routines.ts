/** Routines: validate with the ops' shape rules, allocate, and call the backend's kernel. */
import {
  type Conv2dOptions, DTypeError, type DType, DTYPE_SETS, type Pool2dOptions, ROUTINES, type RoutineSpec, ShapeError,
  conv2dShape, embeddingShape, fmtShape, gatherShape, indexSelectShape, layerNormShape, matmulShape, normDim, numel,
  pool2dShape, scatterShape,
} from '@tessera/ops';
import { routine } from '../backend.js';
import { commonBackend } from '../dispatch.js';
import { Tensor } from '../tensor.js';
import { clone } from './convert.js';
import { expand, reshape, unsqueeze } from './views.js';

function accept(spec: RoutineSpec, ...ts: (Tensor | undefined)[]): DType {
  const present = ts.filter((t): t is Tensor => t !== undefined);
  const dtype = present[0]!.dtype;
  if (!(DTYPE_SETS[spec.accepts] as readonly DType[]).includes(dtype)) {
    throw new DTypeError(spec.name, `does not support dtype ${dtype}; expected one of ${DTYPE_SETS[spec.accepts].join(', ')}`);
  }
  if (present.some((t) => t.dtype !== dtype)) throw new DTypeError(spec.name, `expected operands of one dtype, got ${present.map((t) => t.dtype).join(', ')}`);
  return dtype;
}

function indexDtype(op: string, index: Tensor): void {
  if (index.dtype !== 'int64' && index.dtype !== 'int32') throw new DTypeError(op, `index must be int64 or int32, got ${index.dtype}`);
}

const R = ROUTINES;

export function matmul(a: Tensor, b: Tensor): Tensor {
  const backend = commonBackend('matmul', [a, b]);
  const dtype = accept(R['matmul']!, a, b);
  const p = matmulShape(a.shape, b.shape);
  const a2 = expand(a.ndim === 1 ? unsqueeze(a, 0) : a, [...p.batch, p.m, p.k]);
  const b2 = expand(b.ndim === 1 ? unsqueeze(b, 1) : b, [...p.batch, p.k, p.n]);
  const out = Tensor.empty(backend, [...p.batch, p.m, p.n], dtype);
  if (out.numel > 0) routine(backend, 'matmul')({ out, a: a2, b: b2, m: p.m, k: p.k, n: p.n });
  return out.ndim === p.out.length ? out : reshape(out, p.out);
}

function softmaxLike(name: 'softmax' | 'logSoftmax', x: Tensor, dim: number): Tensor {
  accept(R[name]!, x);
  const d = normDim(name, dim, x.ndim);
  const out = Tensor.empty(x.storage.backend, x.shape, x.dtype);
  if (out.numel > 0) routine(x.storage.backend, 'softmax')(out, x, d, name === 'logSoftmax');
  return out;
}
export const softmax = (x: Tensor, dim: number): Tensor => softmaxLike('softmax', x, dim);
export const logSoftmax = (x: Tensor, dim: number): Tensor => softmaxLike('logSoftmax', x, dim);

export function layerNorm(x: Tensor, normalizedShape: readonly number[], weight?: Tensor, bias?: Tensor, eps = 1e-5): Tensor {
  const backend = commonBackend('layerNorm', [x, weight, bias]);
  accept(R['layerNorm']!, x, weight, bias);
  layerNormShape(x.shape, normalizedShape, weight?.shape, bias?.shape);
  const out = Tensor.empty(backend, x.shape, x.dtype);
  if (out.numel > 0) routine(backend, 'layerNorm')(out, x.contiguous(), weight?.contiguous(), bias?.contiguous(), numel(normalizedShape), eps);
  return out;
}

export function gather(x: Tensor, dim: number, index: Tensor): Tensor {
  const backend = commonBackend('gather', [x, index]);
  accept(R['gather']!, x);
  indexDtype('gather', index);
  const d = gatherShape(x.shape, dim, index.shape);
  const out = Tensor.empty(backend, index.shape, x.dtype);
  if (out.numel > 0) routine(backend, 'gather')(out, x, index, d);
  return out;
}

export function scatterAdd(x: Tensor, dim: number, index: Tensor, src: Tensor): Tensor {
  const backend = commonBackend('scatterAdd', [x, index, src]);
  accept(R['scatterAdd']!, x, src);
  indexDtype('scatterAdd', index);
  const d = scatterShape(x.shape, dim, index.shape, src.shape);
  const out = clone(x);
  if (index.numel > 0) routine(backend, 'scatterAdd')(out, index, src, d);
  return out;
}

export function indexSelect(x: Tensor, dim: number, index: Tensor): Tensor {
  const backend = commonBackend('indexSelect', [x, index]);
  accept(R['indexSelect']!, x);
  indexDtype('indexSelect', index);
  const p = indexSelectShape(x.shape, dim, index.shape);
  const out = Tensor.empty(backend, p.out, x.dtype);
  if (out.numel > 0) routine(backend, 'indexSelect')(out, x, index.ndim === 0 ? reshape(index, [1]) : index, p.dim);
  return out;
}

/** Rows of `weight` [numEmbeddings, dim] picked by `indices` of any shape -> [...indices.shape, dim]. */
export function embedding(indices: Tensor, weight: Tensor): Tensor {
  indexDtype('embedding', indices);
  const shape = embeddingShape(weight.shape, indices.shape);
  return reshape(indexSelect(weight, 0, reshape(indices, [-1])), shape);
}

export function conv2d(x: Tensor, weight: Tensor, bias?: Tensor, opt: Conv2dOptions = {}): Tensor {
  const backend = commonBackend('conv2d', [x, weight, bias]);
  accept(R['conv2d']!, x, weight, bias);
  const p = conv2dShape(x.shape, weight.shape, bias?.shape, opt);
  const out = Tensor.empty(backend, p.out, x.dtype);
  if (out.numel > 0) routine(backend, 'conv2d')(out, x.contiguous(), weight.contiguous(), bias?.contiguous(), p);
  return out;
}

function pool(name: 'maxPool2d' | 'avgPool2d', x: Tensor, opt: Pool2dOptions): Tensor {
  accept(R[name]!, x);
  if (name === 'avgPool2d' && opt.dilation !== undefined && opt.dilation !== 1) throw new ShapeError(name, `has no dilation, got ${fmtShape([opt.dilation].flat())}`);
  const p = pool2dShape(name, x.shape, opt);
  const out = Tensor.empty(x.storage.backend, p.out, x.dtype);
  if (out.numel > 0) routine(x.storage.backend, 'pool2d')(out, x.contiguous(), p, name === 'maxPool2d' ? 'max' : 'avg', opt.countIncludePad ?? true);
  return out;
}
export const maxPool2d = (x: Tensor, opt: Pool2dOptions): Tensor => pool('maxPool2d', x, opt);
export const avgPool2d = (x: Tensor, opt: Pool2dOptions): Tensor => pool('avgPool2d', x, opt);
