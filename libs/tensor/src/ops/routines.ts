/** Routines: validate with the ops' shape rules, allocate, and call the backend's kernel. */
import {
  ArgumentError, type Conv2dOptions, type Conv2dPlan, DTypeError, type DType, DTYPE_SETS, NotImplementedError, type Pair, type Pool2dOptions, type Pool2dPlan, ROUTINES,
  type RoutineSpec, ShapeError, conv2dShape, elementwiseSpec, embeddingShape, fmtShape, gatherShape, indexSelectShape, layerNormShape, matmulShape, normDim,
  checkInt, checkOptions, numel, pair, pool2dShape, sameShape, scatterShape,
} from '@tessera/ops';
import { type Backend, type Epilogue, type RoutineKernels, routine } from '../backend.js';
import { deferring, recordStep } from '../graph/program.js';
import { countLaunch } from '../graph/profile.js';
import { commonBackend, elementwise } from '../dispatch.js';
import { Tensor } from '../tensor.js';
import { clone } from './convert.js';
import { arange } from '../factories.js';
import { gradWanted, record, untracked } from '../grad-hook.js';
import { expand, reshape, unsqueeze } from './views.js';
import { amax, amin, argmax, argmin } from './reduce.js';

function accept(spec: RoutineSpec, ...ts: (Tensor | undefined)[]): DType {
  const present = ts.filter((t): t is Tensor => t !== undefined);
  const dtype = present[0]!.dtype;
  if (!(DTYPE_SETS[spec.accepts] as readonly DType[]).includes(dtype)) {
    throw new DTypeError(spec.name, `does not support dtype ${dtype}; expected one of ${DTYPE_SETS[spec.accepts].join(', ')}`);
  }
  if (present.some((t) => t.dtype !== dtype)) throw new DTypeError(spec.name, `expected operands of one dtype, got ${present.map((t) => t.dtype).join(', ')}`);
  return dtype;
}

/** gather and scatterAdd take int64 indices; indexSelect and embedding int64 or int32, as torch. */
function indexDtype(op: string, index: Tensor, int32 = true): void {
  if (!(index instanceof Tensor)) throw new DTypeError(op, 'index must be a tensor');
  if (index.dtype !== 'int64' && !(int32 && index.dtype === 'int32')) throw new DTypeError(op, `index must be ${int32 ? 'int64 or int32' : 'int64'}, got ${index.dtype}`);
}

const R = ROUTINES;

type Kernels = Required<RoutineKernels>;

/**
 * Runs a routine kernel now or, while a program is recorded (compile), records it as an opaque step
 * that writes `writes` and reads `reads`: its views are bound to buffers when the step runs. The
 * kernel is looked up now, so a backend without it fails at the call, not later.
 */
function launch<K extends keyof Kernels>(backend: Backend, name: K, writes: readonly (Tensor | undefined)[], reads: readonly (Tensor | undefined)[], call: (k: Kernels[K], epilogue?: Epilogue) => void, takesEpilogue = false): void {
  const kernel = routine(backend, name) as Kernels[K];
  if (!deferring()) {
    countLaunch(name);
    call(kernel);
    return;
  }
  const storages = (ts: readonly (Tensor | undefined)[]) => ts.filter((t): t is Tensor => t !== undefined).map((t) => t.storage);
  recordStep({ kind: 'routine', backend, name, writes: storages(writes), reads: storages([...reads, ...writes]), run: (e) => call(kernel, e), ...(takesEpilogue ? { takesEpilogue } : {}) });
}

/** Whether t is a matrix stored column by column (the transpose of a contiguous one) and not also row by row. */
const columnMajor = (t: Tensor): boolean =>
  t.ndim === 2 && t.shape[0]! > 1 && t.shape[1]! > 1 && t.strides[0] === 1 && t.strides[1] === t.shape[0];

/**
 * torch.matmul: matrix product over the last two dims, batch dims broadcast. A 1-D `a` is a row and a
 * 1-D `b` a column, that dim dropped from the result; `[..., m, k] @ [k, n]` runs as one product. Both
 * operands of one numeric dtype; throws ShapeError when the inner dims differ.
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  const backend = commonBackend('matmul', [a, b]);
  const dtype = accept(R['matmul']!, a, b);
  const p = matmulShape(a.shape, b.shape);
  // A batch of matrices times one matrix is one matrix product with the batch folded into rows (as
  // torch.matmul does): one launch, and b's gradient is one product rather than a batch of them
  // summed over the batch.
  if (a.ndim > 2 && b.ndim <= 2) {
    const rows = numel(a.shape.slice(0, -1));
    return reshape(matmul(reshape(a, [rows, p.k]), b), p.out);
  }
  const [a2, b2] = untracked(() => [
    expand(a.ndim === 1 ? unsqueeze(a, 0) : a, [...p.batch, p.m, p.k]),
    expand(b.ndim === 1 ? unsqueeze(b, 1) : b, [...p.batch, p.k, p.n]),
  ]);
  const out = Tensor.empty(backend, [...p.batch, p.m, p.n], dtype);
  // A sum over zero terms is 0: no kernel is asked to handle k = 0 (empty operands, non-empty result).
  if (out.numel > 0 && p.k === 0) untracked(() => out.zero_());
  // The result is fresh and contiguous, written whole: a compiled step may fuse an epilogue into it.
  else if (out.numel > 0) launch(backend, 'matmul', [out], [a2, b2], (k, epilogue) => k({ out, a: a2, b: b2, m: p.m, k: p.k, n: p.n, ...(epilogue ? { epilogue } : {}) }), true);
  const result = out.ndim === p.out.length ? out : untracked(() => reshape(out, p.out));
  return record('matmul', [a, b], result, (g) => {
    // Restore the matrix dims torch.matmul dropped for 1-D operands; the engine sums batch broadcasts.
    const g2 = b.ndim === 1 ? (a.ndim === 1 ? g.unsqueeze(-1).unsqueeze(-2) : g.unsqueeze(-1)) : a.ndim === 1 ? g.unsqueeze(-2) : g;
    const A = a.ndim === 1 ? a.unsqueeze(0) : a, B = b.ndim === 1 ? b.unsqueeze(1) : b;
    // An operand that is a transposed matrix (Linear's weight.t()) gets its gradient in the same
    // layout, computed as the transposed product, as PyTorch's mm backward does: the weight's own
    // gradient is then contiguous, and whatever reads it (the optimizer) walks it in order.
    const ga = a.requiresGrad ? (columnMajor(A) ? matmul(B, g2.transpose(-1, -2)).transpose(-1, -2) : matmul(g2, B.transpose(-1, -2))) : undefined;
    const gb = b.requiresGrad ? (columnMajor(B) ? matmul(g2.transpose(-1, -2), A).transpose(-1, -2) : matmul(A.transpose(-1, -2), g2)) : undefined;
    return [ga && a.ndim === 1 ? ga.squeeze(-2) : ga, gb && b.ndim === 1 ? gb.squeeze(-1) : gb];
  });
}

function softmaxLike(name: 'softmax' | 'logSoftmax', x: Tensor, dim: number): Tensor {
  accept(R[name]!, x);
  const d = normDim(name, dim, x.ndim), log = name === 'logSoftmax', backend = x.storage.backend;
  const out = Tensor.empty(backend, x.shape, x.dtype);
  if (out.numel > 0) launch(backend, 'softmax', [out], [x], (k) => k(out, x, d, log));
  return record(name, [x], out, (g) => {
    // One pass when the backend has the kernel and the gradient is not itself differentiated.
    if (backend.routines.softmaxBackward && !gradWanted([g, out]) && g.storage.backend === backend && g.dtype === out.dtype) {
      const gx = Tensor.empty(backend, x.shape, g.dtype);
      if (gx.numel > 0) untracked(() => launch(backend, 'softmaxBackward', [gx], [g, out], (k, e) => k(gx, g, out, d, log, e), true));
      return [gx];
    }
    return [log
      ? elementwise(elementwiseSpec('logSoftmaxBackward'), [g, out, g.sum(d, { keepdim: true })])
      : out.mul(g.sub(g.mul(out).sum(d, { keepdim: true })))];
  });
}
/** torch.softmax: exp(x) normalised to sum 1 along `dim` (floating x; computed stably by the backend's kernel). */
export const softmax = (x: Tensor, dim: number): Tensor => softmaxLike('softmax', x, dim);
/** torch.log_softmax: x - logsumexp(x) along `dim`, more accurate than log(softmax(x)) for tiny probabilities. */
export const logSoftmax = (x: Tensor, dim: number): Tensor => softmaxLike('logSoftmax', x, dim);

/**
 * F.layer_norm: normalises over the trailing dims `normalizedShape` to zero mean and unit (biased)
 * variance, (x - mean) / sqrt(var + eps), then scales by `weight` and shifts by `bias` (both of
 * `normalizedShape`). Throws ShapeError when the trailing dims do not match.
 */
export function layerNorm(x: Tensor, normalizedShape: readonly number[], weight?: Tensor, bias?: Tensor, eps = 1e-5): Tensor {
  const backend = commonBackend('layerNorm', [x, weight, bias]);
  accept(R['layerNorm']!, x, weight, bias);
  layerNormShape(x.shape, normalizedShape, weight?.shape, bias?.shape);
  const out = Tensor.empty(backend, x.shape, x.dtype);
  if (out.numel > 0) {
    untracked(() => {
      const [xc, wc, bc] = [x.contiguous(), weight?.contiguous(), bias?.contiguous()];
      launch(backend, 'layerNorm', [out], [xc, wc, bc], (k) => k(out, xc, wc, bc, numel(normalizedShape), eps));
    });
  }
  return record('layerNorm', [x, weight, bias], out, (g) => {
    const inner = numel(normalizedShape);
    // One pass when the backend has the kernel and the gradient is not itself differentiated.
    if (backend.routines.layerNormBackward && !gradWanted([g, x, weight]) && x.numel > 0 && inner > 0) {
      const want = (t: Tensor | undefined) => (t?.requiresGrad ? Tensor.empty(backend, t.shape, g.dtype) : undefined);
      const grads = [want(x), want(weight), want(bias)] as const;
      untracked(() => {
        const [gc, xc, wc] = [g.contiguous(), x.contiguous(), weight?.contiguous()];
        // gx (when wanted) comes first of what it writes: a compiled step may fuse an epilogue over it.
        launch(backend, 'layerNormBackward', [...grads], [gc, xc, wc], (k, e) => k(grads[0], grads[1], grads[2], gc, xc, wc, inner, eps, e), grads[0] !== undefined);
      });
      return [...grads];
    }
    // Recomputed with tensor ops so the backward pass is itself differentiable.
    const dims = normalizedShape.map((_, i) => x.ndim - normalizedShape.length + i);
    const keep = { keepdim: true };
    const xc = x.sub(x.mean(dims, keep));
    const rstd = xc.square().mean(dims, keep).add(eps).rsqrt();
    const xhat = xc.mul(rstd);
    const gy = weight ? g.mul(weight) : g;
    const gx = x.requiresGrad ? rstd.mul(gy.sub(gy.mean(dims, keep)).sub(xhat.mul(gy.mul(xhat).mean(dims, keep)))) : undefined;
    return [gx, weight?.requiresGrad ? g.mul(xhat) : undefined, bias?.requiresGrad ? g : undefined];
  });
}

/**
 * torch.gather: a tensor of index's shape whose element at position p is x at p with the `dim` coordinate
 * replaced by `index[p]`. `index` is int64, of x's rank, no larger than x off `dim`; an out-of-range
 * index throws IndexError (negative ones too).
 */
export function gather(x: Tensor, dim: number, index: Tensor): Tensor {
  const backend = commonBackend('gather', [x, index]);
  accept(R['gather']!, x);
  indexDtype('gather', index, false);
  const d = gatherShape(x.shape, dim, index.shape);
  const out = Tensor.empty(backend, index.shape, x.dtype);
  // A 0-d input is launched as one element of rank 1: kernels index a dim that exists.
  const one = (t: Tensor) => (t.ndim === 0 ? untracked(() => reshape(t, [1])) : t);
  if (out.numel > 0) {
    const [o1, x1, i1] = [one(out), one(x), one(index)];
    launch(backend, 'gather', [o1], [x1, i1], (k) => k(o1, x1, i1, d));
  }
  return record('gather', [x], out, (g) => [picksOne(x, index, d) ? oneHotGrad(x, g, d, index) : scatterIntoZeros(x, g, d, index, g)], [index]);
}

/** Whether gather picks one element along `dim` for every position of x's other dims (as nllLoss picks a class). */
const picksOne = (x: Tensor, index: Tensor, dim: number): boolean =>
  x.ndim > 0 && index.ndim === x.ndim && index.shape.every((s, i) => (i === dim ? s === 1 : s === x.shape[i]));

/**
 * gather's gradient where it picks one element per line: g where the position along `dim` is the
 * index, 0 elsewhere. The same values as the scatter into zeros (each line gets one term), as an
 * elementwise expression: a compiled step fuses it into its consumer instead of a fill and a scatter.
 */
function oneHotGrad(x: Tensor, g: Tensor, dim: number, index: Tensor): Tensor {
  const positions = arange(x.shape[dim]!, { device: g.device }).reshape(x.shape.map((s, i) => (i === dim ? s : 1)));
  return g.where(index.eq(positions), 0);
}

/**
 * scatterAdd(zeros like x, dim, index, src): gather's and indexSelect's gradient. In place into the
 * fresh zeros when src's gradient is not itself recorded; otherwise the differentiable scatterAdd
 * (which copies its input).
 */
function scatterIntoZeros(x: Tensor, g: Tensor, dim: number, index: Tensor, src: Tensor): Tensor {
  const zeros = zerosOf(x, g);
  if (gradWanted([src])) return scatterAdd(zeros, dim, index, src);
  const d = scatterShape(zeros.shape, dim, index.shape, src.shape);
  if (index.numel > 0) untracked(() => launch(g.storage.backend, 'scatterAdd', [zeros], [index, src], (k) => k(zeros, index, src, d)));
  zeros.storage.version++;
  return zeros;
}

/** Zeros with x's shape and g's dtype/device (a gradient buffer). */
const zerosOf = (x: Tensor, g: Tensor): Tensor => untracked(() => Tensor.empty(g.storage.backend, x.shape, g.dtype).zero_());

/** A (values, indices) pair, as torch's namedtuple: destructure it, or read .values and .indices. */
export type ValuesIndices = readonly [values: Tensor, indices: Tensor] & {
  /** The values (sorted, or the top k). */
  readonly values: Tensor;
  /** Their int64 positions along the dim in the input. */
  readonly indices: Tensor;
};
/** Makes a ValuesIndices pair from its two tensors. */
export const valuesIndices = (values: Tensor, indices: Tensor): ValuesIndices => Object.assign([values, indices] as const, { values, indices });

/**
 * torch's max(dim) and min(dim): the extreme values along `dim` with their first positions (int64). The
 * values' gradient goes to those positions only, as torch's; amax/amin share it among tied elements.
 */
export function extremeAlong(which: 'max' | 'min', x: Tensor, dim: number, keepdim = false): ValuesIndices {
  if (x.ndim === 0) {
    normDim(which, dim, 1);
    const [v, i] = extremeAlong(which, reshape(x, [1]), 0, false);
    return valuesIndices(reshape(v, []), i);
  }
  const d = normDim(which, dim, x.ndim);
  const indices = (which === 'max' ? argmax : argmin)(x, d, { keepdim });
  const values = untracked(() => (which === 'max' ? amax : amin)(x, d, { keepdim }));
  const along = (t: Tensor): Tensor => (keepdim ? t : unsqueeze(t, d));
  return valuesIndices(record(which, [x], values, (g) => [scatterAdd(zerosOf(x, g), d, along(indices), along(g))], [indices]), indices);
}

/** Options of sort and argsort. */
export interface SortOptions {
  /** Largest first (NaN first too, as it orders above every number). Default false. */
  descending?: boolean;
  /** Accepted for torch's signature: the sort is always stable (equal values keep their order). */
  stable?: boolean;
}

/**
 * torch.sort: x's values along `dim` in order, with their positions (int64). NaN orders above every
 * number; equal values keep their order. The values' gradient goes back to the positions they came from.
 */
export function sort(x: Tensor, dim = -1, options: SortOptions = {}): ValuesIndices {
  accept(R['sort']!, x);
  const { descending = false } = checkOptions<SortOptions>('sort', options);
  if (x.ndim === 0) {
    // A 0-d tensor is one line of one element (torch takes dim 0 or -1 there).
    normDim('sort', dim, 1);
    const [v, i] = sort(reshape(x, [1]), 0, options);
    return valuesIndices(reshape(v, []), untracked(() => reshape(i, [])));
  }
  const d = normDim('sort', dim, x.ndim), backend = x.storage.backend;
  const values = Tensor.empty(backend, x.shape, x.dtype), indices = Tensor.empty(backend, x.shape, 'int64');
  if (x.numel > 0) launch(backend, 'sort', [values, indices], [x], (k) => k(values, indices, x, d, descending));
  return valuesIndices(record('sort', [x], values, (g) => [scatterAdd(zerosOf(x, g), d, indices, g)], [indices]), indices);
}

/** torch.argsort: the positions that sort x along `dim`. */
export const argsort = (x: Tensor, dim = -1, options: SortOptions = {}): Tensor => sort(x, dim, options).indices;

/**
 * torch.topk: the k largest (or, with largest false, smallest) values along `dim` and their
 * positions, in order (the result is sorted whatever `sorted` says).
 */
export function topk(x: Tensor, k: number, dim = -1, options: { largest?: boolean; sorted?: boolean } = {}): ValuesIndices {
  const { largest = true } = checkOptions<{ largest?: boolean; sorted?: boolean }>('topk', options);
  const d = normDim('topk', dim, Math.max(x.ndim, 1));
  const size = x.ndim === 0 ? 1 : x.shape[d]!;
  checkInt('topk', 'k', k);
  if (k < 0 || k > size) throw new ArgumentError('topk', `selected index k out of range: k = ${k} for a dim of size ${size}`);
  const [v, i] = sort(x, dim, { descending: largest });
  if (x.ndim === 0) return valuesIndices(v, i);
  return valuesIndices(v.narrow(d, 0, k), untracked(() => i.narrow(d, 0, k)));
}

/**
 * torch.scatter_add (out of place): a copy of x with each src element added at the position `index`
 * names along `dim`; repeated indices accumulate. int64 index of x's rank, no larger than src anywhere
 * nor than x off `dim`; the gradient to src needs index and src of one shape.
 */
export function scatterAdd(x: Tensor, dim: number, index: Tensor, src: Tensor): Tensor {
  const backend = commonBackend('scatterAdd', [x, index, src]);
  accept(R['scatterAdd']!, x, src);
  indexDtype('scatterAdd', index, false);
  const d = scatterShape(x.shape, dim, index.shape, src.shape);
  const out = untracked(() => clone(x));
  const one = (t: Tensor) => (t.ndim === 0 ? untracked(() => reshape(t, [1])) : t);
  if (index.numel > 0) {
    const [o1, i1, s1] = [one(out), one(index), one(src)];
    launch(backend, 'scatterAdd', [o1], [i1, s1], (k) => k(o1, i1, s1, d));
  }
  return record('scatterAdd', [x, src], out, (g) => {
    if (src.requiresGrad && !sameShape(index.shape, src.shape)) {
      throw new NotImplementedError('scatterAdd', `gradient w.r.t. src needs index and src of one shape, got ${fmtShape(index.shape)} and ${fmtShape(src.shape)}`);
    }
    return [g, src.requiresGrad ? g.gather(d, index) : undefined];
  }, [index]);
}

/**
 * torch.index_select: the slices of x at the positions a 0-d or 1-D int64/int32 `index` lists along `dim`,
 * in that order (repeats allowed); out-of-range or negative indices throw IndexError.
 */
export function indexSelect(x: Tensor, dim: number, index: Tensor): Tensor {
  const backend = commonBackend('indexSelect', [x, index]);
  accept(R['indexSelect']!, x);
  indexDtype('indexSelect', index);
  const p = indexSelectShape(x.shape, dim, index.shape);
  const out = Tensor.empty(backend, p.out, x.dtype);
  if (out.numel > 0) {
    const idx = index.ndim === 0 ? reshape(index, [1]) : index;
    launch(backend, 'indexSelect', [out], [x, idx], (k) => k(out, x, idx, p.dim));
  }
  return record('indexSelect', [x], out, (g) => {
    const along = x.shape.map((_, i) => (i === p.dim ? index.numel : 1));
    const idx = index.dtype === 'int64' ? index : index.to('int64');
    return [scatterIntoZeros(x, g, p.dim, reshape(idx, along).expand(g.shape), g)];
  }, [index]);
}

/** Rows of `weight` [numEmbeddings, dim] picked by `indices` of any shape -> [...indices.shape, dim]. */
export function embedding(indices: Tensor, weight: Tensor): Tensor {
  indexDtype('embedding', indices);
  const shape = embeddingShape(weight.shape, indices.shape);
  return reshape(indexSelect(weight, 0, reshape(indices, [-1])), shape);
}

/**
 * F.conv2d (cross-correlation): x `[N, C, H, W]` (or unbatched `[C, H, W]`), weight `[O, C/groups, kH, kW]`,
 * optional bias `[O]` -> `[N, O, OH, OW]`. stride (default 1), padding (0) and dilation (1) take a number or a
 * pair; shape mismatches throw ShapeError, a `groups` that does not divide C and O ArgumentError.
 */
export function conv2d(x: Tensor, weight: Tensor, bias?: Tensor, opt: Conv2dOptions = {}): Tensor {
  const backend = commonBackend('conv2d', [x, weight, bias]);
  accept(R['conv2d']!, x, weight, bias);
  const p = conv2dShape(x.shape, weight.shape, bias?.shape, opt);
  const out = Tensor.empty(backend, p.out, x.dtype);
  if (out.numel > 0 && (x.numel === 0 || weight.numel === 0)) {
    // No input channels (or an empty kernel): every output is the sum of zero terms, plus the bias.
    untracked(() => (bias ? out.copy_(bias.reshape([p.o, 1, 1])) : out.zero_()));
  } else if (out.numel > 0) {
    untracked(() => {
      const [xc, wc, bc] = [x.contiguous(), weight.contiguous(), bias?.contiguous()];
      // The result is fresh and contiguous, written whole: a compiled step may fuse an epilogue into it (a ReLU).
      launch(backend, 'conv2d', [out], [xc, wc, bc], (k, e) => k(out, xc, wc, bc, p, e), true);
    });
  }
  return record('conv2d', [x, weight, bias], out, (g) => {
    const fused = fusedConv2dGrad(g, x, weight, bias, p);
    if (fused) return fused;
    const gb = bias?.requiresGrad ? (x.ndim === 4 ? g : g.unsqueeze(0)).sum([0, 2, 3]) : undefined;
    // As im2col: out = W [G, O/G, K] x unfold(x) [N, G, K, L]; so gW = g x cols^T and gX = fold(W^T x g).
    const batched = x.ndim === 4;
    const X = batched ? x : x.unsqueeze(0), G4 = batched ? g : g.unsqueeze(0);
    const k = p.c / p.groups * p.kh * p.kw, og = p.o / p.groups, l = p.oh * p.ow;
    const g2 = G4.reshape(p.n, p.groups, og, l);
    const geo = { kernelSize: [p.kh, p.kw] as const, stride: p.stride, padding: p.padding, dilation: p.dilation };
    let gx: Tensor | undefined;
    if (x.requiresGrad) {
      gx = fold(weight.reshape(p.groups, og, k).transpose(1, 2).matmul(g2).reshape(p.n, p.groups * k, l), { ...geo, outputSize: [p.h, p.w] });
      if (!batched) gx = gx.squeeze(0);
    }
    const gw = weight.requiresGrad ? g2.matmul(unfold(X, geo).reshape(p.n, p.groups, k, l).transpose(2, 3)).sum(0).reshape(weight.shape) : undefined;
    return [gx, gw, gb];
  });
}

/**
 * conv2d's gradients from the backend's fused routine (as PyTorch's convolution_backward: input,
 * weight and bias in one call), when it has one that takes these operands and the gradient is not
 * itself being recorded (higher-order gradients go through the differentiable composition).
 */
function fusedConv2dGrad(g: Tensor, x: Tensor, weight: Tensor, bias: Tensor | undefined, p: Conv2dPlan): (Tensor | undefined)[] | undefined {
  const backend = g.storage.backend;
  const kernel = backend.routines.conv2dBackward;
  if (!kernel || gradWanted([g, x, weight])) return undefined;
  // A deferred program cannot ask the kernel before it runs: it records the kernel for the operands
  // every backend's fused kernel takes (one float dtype), and composes the gradient otherwise.
  if (deferring() && !sameFloat([g, x, weight, bias])) return undefined;
  const grad = (t: Tensor | undefined) => (t?.requiresGrad ? Tensor.empty(backend, t.shape, t.dtype) : undefined);
  const out = [grad(x), grad(weight), grad(bias)] as const;
  if (!out.some((t) => t)) return [undefined, undefined, undefined];
  const handled = untracked(() => {
    const [gc, xc, wc] = [g.contiguous(), x.contiguous(), weight.contiguous()];
    return refusable(backend, 'conv2dBackward', [...out], [gc, xc, wc], () => kernel.call(backend.routines, out[0], out[1], out[2], gc, xc, wc, p));
  });
  return handled ? [...out] : undefined;
}

/** Whether the given tensors all have one float dtype (float32 or float64). */
const sameFloat = (ts: readonly (Tensor | undefined)[]): boolean => {
  const d = ts.find((t) => t)?.dtype;
  return (d === 'float32' || d === 'float64') && ts.every((t) => !t || t.dtype === d);
};

/**
 * Runs an optional fused kernel that may refuse its operands (returns false): now, or recorded into
 * the deferred program, where it must take them (the caller checked the operands' form beforehand,
 * and a refusal then is an error, not a silent wrong result).
 */
function refusable(backend: Backend, name: string, writes: readonly (Tensor | undefined)[], reads: readonly Tensor[], call: (epilogue?: Epilogue) => boolean, takesEpilogue = false): boolean {
  if (!deferring()) {
    countLaunch(name);
    return call();
  }
  const storages = (ts: readonly (Tensor | undefined)[]) => ts.filter((t): t is Tensor => t !== undefined).map((t) => t.storage);
  recordStep({
    kind: 'routine', backend, name, writes: storages(writes), reads: storages([...reads, ...writes]),
    run: (e) => { if (!call(e)) throw new Error(`${name}: backend '${backend.name}' refused operands of a form it takes (an internal error)`); },
    ...(takesEpilogue ? { takesEpilogue } : {}),
  });
  return true;
}

/** Patch geometry of unfold and fold, as F.unfold's arguments; a number means the same for height and width. */
export interface UnfoldOptions {
  /** Patch size, `kH` and `kW`. */
  kernelSize: number | Pair;
  /** Step between patches. Default 1. */
  stride?: number | Pair;
  /** Implicit zeros on each side of the input. Default 0. */
  padding?: number | Pair;
  /** Spacing between a patch's elements. Default 1. */
  dilation?: number | Pair;
}

/** F.unfold: [N, C, H, W] -> [N, C*kh*kw, L], the sliding patches as columns. */
export function unfold(x: Tensor, opt: UnfoldOptions): Tensor {
  if (x.ndim !== 4) throw new ShapeError('unfold', `expects a 4-D input [N, C, H, W], got ${fmtShape(x.shape)}`);
  const k = pair('unfold', 'kernelSize', opt.kernelSize, 1);
  const p = conv2dShape(x.shape, [1, x.shape[1]!, k[0], k[1]], undefined, opt);
  const out = Tensor.empty(x.storage.backend, [p.n, p.c * p.kh * p.kw, p.oh * p.ow], x.dtype);
  if (out.numel > 0) untracked(() => { const xc = x.contiguous(); launch(x.storage.backend, 'unfold', [out], [xc], (k) => k(out, xc, p)); });
  return record('unfold', [x], out, (g) => [fold(g, { ...opt, outputSize: [p.h, p.w] })]);
}

/** F.fold: [N, C*kh*kw, L] -> [N, C, H, W], summing overlapping patches (the adjoint of unfold). */
export function fold(cols: Tensor, opt: UnfoldOptions & { outputSize: Pair }): Tensor {
  const k = pair('fold', 'kernelSize', opt.kernelSize, 1);
  const kk = k[0] * k[1];
  if (cols.ndim !== 3 || cols.shape[1]! % kk !== 0) throw new ShapeError('fold', `expects [N, C*${k[0]}*${k[1]}, L], got ${fmtShape(cols.shape)}`);
  const [n, ck, l] = cols.shape as [number, number, number];
  const p = conv2dShape([n, ck / kk, ...opt.outputSize], [1, ck / kk, k[0], k[1]], undefined, opt);
  if (p.oh * p.ow !== l) throw new ShapeError('fold', `${l} columns do not match the ${p.oh}x${p.ow} patches of output size ${fmtShape(opt.outputSize)}`);
  const out = Tensor.empty(cols.storage.backend, [n, ck / kk, ...opt.outputSize], cols.dtype);
  if (out.numel > 0) untracked(() => { const cc = cols.contiguous(); launch(cols.storage.backend, 'fold', [out], [cc], (k) => k(out, cc, p)); });
  return record('fold', [cols], out, (g) => [unfold(g, opt)]);
}

function pool(name: 'maxPool2d' | 'avgPool2d', x: Tensor, opt: Pool2dOptions): Tensor {
  accept(R[name]!, x);
  if (name === 'avgPool2d' && opt.dilation !== undefined && opt.dilation !== 1) throw new ShapeError(name, `has no dilation, got ${fmtShape([opt.dilation].flat())}`);
  const p = pool2dShape(name, x.shape, opt);
  const backend = x.storage.backend;
  const out = Tensor.empty(backend, p.out, x.dtype);
  const isMax = name === 'maxPool2d';
  const indices = isMax && x.requiresGrad ? Tensor.empty(backend, p.out, 'int64') : undefined;
  if (out.numel > 0) {
    untracked(() => {
      const xc = x.contiguous();
      launch(backend, 'pool2d', [out, indices], [xc], (k) => k(out, xc, p, isMax ? 'max' : 'avg', opt.countIncludePad ?? true, indices));
    });
  }
  const l = p.oh * p.ow;
  if (isMax) return record(name, [x], out, (g) => [maxPoolGrad(x, g, indices!, p)], indices && [indices]);
  return record(name, [x], out, (g) => {
    // Average pooling is linear: spread each window's gradient over it with fold, divided by the
    // window's divisor. With ceilMode the last window may reach past the padded input: fold onto a
    // canvas large enough for every window, then keep the input's part.
    const geo = { kernelSize: p.k, stride: p.stride, padding: p.padding };
    const divisor = avgDivisors(p, opt.countIncludePad ?? true, g);
    const cols = g.reshape(p.planes, 1, l).div(divisor).expand(p.planes, p.k[0] * p.k[1], l);
    const canvas = [0, 1].map((d) => Math.max([p.h, p.w][d]!, (([p.oh, p.ow][d]! - 1) * p.stride[d]! + p.k[d]! - 2 * p.padding[d]!))) as [number, number];
    const full = fold(cols, { ...geo, outputSize: canvas });
    return [(canvas[0] === p.h && canvas[1] === p.w ? full : full.narrow(2, 0, p.h).narrow(3, 0, p.w)).reshape(x.shape)];
  });
}

/**
 * Max pooling's gradient: each window's gradient to its (first) maximum, as in PyTorch, a scatter-add
 * into zeros: the backend's fused kernel, else written in place, when the gradient is not itself
 * recorded; otherwise the differentiable scatterAdd (which copies its input).
 */
function maxPoolGrad(x: Tensor, g: Tensor, indices: Tensor, p: Pool2dPlan): Tensor {
  const l = p.oh * p.ow;
  const backend = g.storage.backend, kernel = backend.routines.maxPool2dBackward;
  if (kernel && !gradWanted([g]) && (!deferring() || (sameFloat([g]) && indices.dtype === 'int64' && indices.isContiguous()))) {
    const gx = Tensor.empty(backend, x.shape, g.dtype);
    // gx is fresh and contiguous, written whole: a compiled step may fuse an epilogue into it (a ReLU's gradient).
    if (untracked(() => { const gc = g.contiguous(); return refusable(backend, 'maxPool2dBackward', [gx], [gc, indices], (e) => kernel.call(backend.routines, gx, gc, indices, p, e), true); })) return gx;
    gx.dispose();
  }
  const zeros = zerosOf(x, g).reshape(p.planes, p.h * p.w);
  if (gradWanted([g])) return scatterAdd(zeros, 1, indices.reshape(p.planes, l), g.reshape(p.planes, l)).reshape(x.shape);
  untracked(() => {
    const [i2, g2] = [indices.reshape(p.planes, l), g.contiguous().reshape(p.planes, l)];
    launch(backend, 'scatterAdd', [zeros], [i2, g2], (k) => k(zeros, i2, g2, 1));
  });
  zeros.storage.version++;
  return zeros.reshape(x.shape);
}

/** The divisor of each pooling window: its size clipped to the padded input, or its count of real elements. */
function avgDivisors(p: Pool2dPlan, countIncludePad: boolean, like: Tensor): Tensor {
  const d = new Float64Array(p.oh * p.ow);
  for (let i = 0; i < p.oh; i++) {
    for (let j = 0; j < p.ow; j++) {
      const y0 = i * p.stride[0] - p.padding[0], z0 = j * p.stride[1] - p.padding[1];
      const y1 = Math.min(y0 + p.k[0], p.h + p.padding[0]), z1 = Math.min(z0 + p.k[1], p.w + p.padding[1]);
      d[i * p.ow + j] = countIncludePad ? (y1 - y0) * (z1 - z0) : (Math.min(y1, p.h) - Math.max(y0, 0)) * (Math.min(z1, p.w) - Math.max(z0, 0));
    }
  }
  // Built in float32 where float64 is not wanted: a device may have no float64 (WGSL, gpu.js).
  const host = like.dtype === 'float64' ? d : Float32Array.from(d);
  const t = Tensor.fromHost(like.storage.backend, host, like.dtype === 'float64' ? 'float64' : 'float32', [d.length]);
  return like.dtype === 'float16' ? t.to('float16') : t;
}
/**
 * F.max_pool2d over `[N, C, H, W]` or `[C, H, W]`: each window's maximum (NaN if it holds one). stride defaults to
 * kernelSize; padding may be at most half the kernel; the gradient goes to each window's first maximum.
 */
export const maxPool2d = (x: Tensor, opt: Pool2dOptions): Tensor => pool('maxPool2d', x, opt);
/**
 * F.avg_pool2d over `[N, C, H, W]` or `[C, H, W]`: each window's mean, padded zeros counted in the divisor
 * unless `countIncludePad` is false; no dilation (other than 1) is accepted. stride defaults to kernelSize.
 */
export const avgPool2d = (x: Tensor, opt: Pool2dOptions): Tensor => pool('avgPool2d', x, opt);
