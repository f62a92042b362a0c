/** Reductions: primitive specs go straight to the backend; var/std/logsumexp are composites. */
import { REDUCTIONS, type ReduceSpec, checkNumber, normDims, reduceTypes } from '@tessera/ops';
import { reduce, scan } from '../dispatch.js';
import { tidy } from '../scope.js';
import type { Tensor } from '../tensor.js';
import { record } from '../grad-hook.js';
import { abs, add, div, log, exp, mul, ne, sub, sqrt, where } from './elementwise.js';

type Dims = number | readonly number[] | undefined;
interface Keep {
  /** Keep each reduced dim as size 1 (torch's keepdim), so the result broadcasts against the input. Default false. */
  keepdim?: boolean;
}

const spec = (name: string): ReduceSpec => REDUCTIONS[name]!;

/** torch reads an empty dim list as every dim (sum(x, []) is a full sum). */
const dimsOf = (dim: Dims | null): Dims => (dim === null || (Array.isArray(dim) && dim.length === 0) ? undefined : dim);

/** Broadcasts a reduced result back over the input's shape (re-inserting dims dropped by keepdim=false). */
function expandBack(t: Tensor, x: Tensor, dims: readonly number[], keepdim: boolean): Tensor {
  let r = t;
  if (!keepdim) for (const d of dims) r = r.unsqueeze(d);
  return r.expand(x.shape);
}

type ReduceVjp = (g: Tensor, x: Tensor, out: Tensor, dims: readonly number[], keepdim: boolean) => Tensor;

/** Gradient rules of the primitive reductions, in tensor ops (so they are differentiable again). */
const REDUCE_GRADS: Readonly<Record<string, ReduceVjp>> = {
  sum: (g, x, _o, d, k) => expandBack(g, x, d, k),
  mean: (g, x, _o, d, k) => expandBack(g, x, d, k).div(count(x, d)),
  // Ties share the gradient evenly, as in PyTorch.
  amax: (g, x, o, d, k) => minmaxGrad(g, x, o, d, k),
  amin: (g, x, o, d, k) => minmaxGrad(g, x, o, d, k),
  // prod of the others: out / x where x != 0; with exactly one zero, that zero gets the product of the rest.
  prod: (g, x, o, d, k) => {
    const isZero = x.eq(0);
    const zeros = expandBack(sum(isZero, d, { keepdim: k }), x, d, k);
    // prod takes one dim or none (all): d is one dim here, or every dim.
    const others = expandBack(prod(x.where(isZero.logicalNot(), 1), d.length === 1 && x.ndim > 1 ? d[0] : undefined, { keepdim: k }), x, d, k);
    const noZero = expandBack(o, x, d, k).div(x.where(isZero.logicalNot(), 1));
    return expandBack(g, x, d, k).mul(noZero.where(zeros.eq(0), others.where(zeros.eq(1).logicalAnd(isZero), 0)));
  },
};

function minmaxGrad(g: Tensor, x: Tensor, out: Tensor, dims: readonly number[], keepdim: boolean): Tensor {
  const hit = x.eq(expandBack(out, x, dims, keepdim));
  return expandBack(g, x, dims, keepdim).mul(hit).div(expandBack(sum(hit, dims, { keepdim }), x, dims, keepdim));
}

const primitive = (name: string) => {
  const s = spec(name);
  const vjp = REDUCE_GRADS[name];
  return (x: Tensor, dimArg?: Dims, opt: Keep = {}): Tensor => {
    const dim = dimsOf(dimArg);
    const out = reduce(s, x, dim, opt);
    if (!vjp) return out;
    const dims = normDims(name, dim, x.ndim), keepdim = opt.keepdim ?? false;
    return record(name, [x], out, (g) => [vjp(g, x, out, dims, keepdim)]);
  };
};

/** torch.sum over `dim` (one, several, or all when omitted or `[]`); integer and bool inputs give int64. */
export const sum = primitive('sum');
/** torch.mean over `dim` (one, several, or all when omitted or `[]`); floating inputs only, as torch. */
export const mean = primitive('mean');
/** torch.prod over one `dim`, or all when omitted; integer and bool inputs give int64; zeros get an exact gradient. */
export const prod = primitive('prod');
/** torch.amax: the largest value over `dim` (all when omitted), NaN-propagating; ties share the gradient evenly. */
export const amax = primitive('amax');
/** torch.amin: the smallest value over `dim` (all when omitted), NaN-propagating; ties share the gradient evenly. */
export const amin = primitive('amin');
/**
 * torch.argmax: int64 position of the largest value along one `dim`, or in the flattened tensor when omitted;
 * the first of equal maxima, and a NaN counts as the largest. Throws on an empty reduced dim.
 */
export const argmax = primitive('argmax') as (x: Tensor, dim?: number, opt?: Keep) => Tensor;
/** torch.argmin: as argmax, the first position of the smallest value (a NaN counts as the smallest). */
export const argmin = primitive('argmin') as (x: Tensor, dim?: number, opt?: Keep) => Tensor;

const cumsumSpec = spec('cumsum');
/** torch.cumsum: inclusive running sum along `dim`, same shape as x (integer and bool inputs give int64). */
export function cumsum(x: Tensor, dim: number): Tensor {
  const out = scan(cumsumSpec, x, dim);
  return record('cumsum', [x], out, (g) => [g.flip(dim).cumsum(dim).flip(dim)]);
}

/** Options of var and std: keepdim and the divisor's correction. */
export interface VarOptions extends Keep {
  /** Subtracted from the element count in the divisor: 1 is Bessel's correction (default), 0 the population variance. */
  correction?: number;
}

const count = (x: Tensor, dims: readonly number[]): number => dims.reduce((n, d) => n * x.shape[d]!, 1);

/** Two passes (mean, then squared deviations) rather than E[x^2] - E[x]^2, which cancels badly. */
export function var_(x: Tensor, dim?: Dims, opt: VarOptions = {}): Tensor {
  reduceTypes(spec('var'), x.dtype);
  const dims = normDims('var', dimsOf(dim), x.ndim);
  return tidy(() => {
    const dev = sub(x, mean(x, dims, { keepdim: true }));
    return div(sum(mul(dev, dev), dims, opt), Math.max(0, count(x, dims) - (opt.correction ?? 1)));
  });
}

/** torch.std: the square root of var over `dim` (all when omitted), with Bessel's correction by default. */
export function std(x: Tensor, dim?: Dims, opt: VarOptions = {}): Tensor {
  reduceTypes(spec('std'), x.dtype);
  return tidy(() => sqrt(var_(x, dimsOf(dim), opt)));
}

/** m + log(sum(exp(x - m))) with m = amax(x), replaced by 0 where infinite so -inf rows stay -inf. */
export function logsumexp(x: Tensor, dim?: Dims, opt: Keep = {}): Tensor {
  reduceTypes(spec('logsumexp'), x.dtype);
  const dims = normDims('logsumexp', dimsOf(dim), x.ndim);
  return tidy(() => {
    const xf = x.dtype === 'float64' || x.dtype === 'float32' || x.dtype === 'float16' ? x : x.float();
    // Over zero elements the sum is 0 and the result -inf, as PyTorch (amax has no value there).
    if (count(x, dims) === 0) return log(sum(exp(xf), dims, opt));
    const m = amax(xf, dims, { keepdim: true });
    const shift = where(ne(abs(m), Infinity), m, 0);
    const s = sum(exp(sub(xf, shift)), dims, opt);
    return add(log(s), opt.keepdim ? shift : shift.squeeze(dims));
  });
}

const normSpec = spec('norm');
/** Vector p-norm over dims; p = Infinity / -Infinity are max / min of |x|, p = 0 counts nonzeros. */
export function norm(x: Tensor, p = 2, dimArg?: Dims, opt: Keep = {}): Tensor {
  reduceTypes(normSpec, x.dtype);
  checkNumber('norm', 'p', p);
  const dim = dimsOf(dimArg);
  // The norm of no elements is 0 for every p (amax and amin have no value there).
  if (count(x, normDims('norm', dim, x.ndim)) === 0) return tidy(() => sum(abs(x), dim, opt));
  if (p === Infinity) return tidy(() => amax(abs(x), dim, opt));
  if (p === -Infinity) return tidy(() => amin(abs(x), dim, opt));
  if (p === 0) return tidy(() => sum(ne(x, 0), dim, opt).to(x.dtype));
  const out = reduce(normSpec, x, dim, { ...opt, params: { p } });
  const dims = normDims('norm', dim, x.ndim), keepdim = opt.keepdim ?? false;
  // d|x|_p/dx = sign(x) |x|^(p-1) / |x|_p^(p-1); 0 where the norm is 0 (PyTorch's subgradient).
  return record('norm', [x], out, (g) => {
    const o = expandBack(out, x, dims, keepdim);
    const d = x.sign().mul(x.abs().pow(p - 1)).div(o.pow(p - 1));
    return [expandBack(g, x, dims, keepdim).mul(d.where(o.ne(0), 0))];
  });
}
