/** Reductions: primitive specs go straight to the backend; var/std/logsumexp are composites. */
import { REDUCTIONS, type ReduceSpec, normDims, reduceTypes } from '@tessera/ops';
import { reduce, scan } from '../dispatch.js';
import { tidy } from '../scope.js';
import type { Tensor } from '../tensor.js';
import { abs, add, div, log, exp, mul, ne, sub, sqrt, where } from './elementwise.js';

type Dims = number | readonly number[] | undefined;
interface Keep { keepdim?: boolean }

const spec = (name: string): ReduceSpec => REDUCTIONS[name]!;
const primitive = (name: string) => {
  const s = spec(name);
  return (x: Tensor, dim?: Dims, opt?: Keep): Tensor => reduce(s, x, dim, opt);
};

export const sum = primitive('sum'), mean = primitive('mean'), prod = primitive('prod');
export const amax = primitive('amax'), amin = primitive('amin');
export const argmax = primitive('argmax') as (x: Tensor, dim?: number, opt?: Keep) => Tensor;
export const argmin = primitive('argmin') as (x: Tensor, dim?: number, opt?: Keep) => Tensor;

const cumsumSpec = spec('cumsum');
export const cumsum = (x: Tensor, dim: number): Tensor => scan(cumsumSpec, x, dim);

export interface VarOptions extends Keep {
  /** Subtracted from the element count in the divisor: 1 is Bessel's correction (default), 0 the population variance. */
  correction?: number;
}

const count = (x: Tensor, dims: readonly number[]): number => dims.reduce((n, d) => n * x.shape[d]!, 1);

/** Two passes (mean, then squared deviations) rather than E[x^2] - E[x]^2, which cancels badly. */
export function var_(x: Tensor, dim?: Dims, opt: VarOptions = {}): Tensor {
  reduceTypes(spec('var'), x.dtype);
  const dims = normDims('var', dim, x.ndim);
  return tidy(() => {
    const dev = sub(x, mean(x, dims, { keepdim: true }));
    return div(sum(mul(dev, dev), dims, opt), Math.max(0, count(x, dims) - (opt.correction ?? 1)));
  });
}

export function std(x: Tensor, dim?: Dims, opt: VarOptions = {}): Tensor {
  reduceTypes(spec('std'), x.dtype);
  return tidy(() => sqrt(var_(x, dim, opt)));
}

/** m + log(sum(exp(x - m))) with m = amax(x), replaced by 0 where infinite so -inf rows stay -inf. */
export function logsumexp(x: Tensor, dim?: Dims, opt: Keep = {}): Tensor {
  reduceTypes(spec('logsumexp'), x.dtype);
  const dims = normDims('logsumexp', dim, x.ndim);
  return tidy(() => {
    const xf = x.dtype === 'float64' || x.dtype === 'float32' || x.dtype === 'float16' ? x : x.float();
    const m = amax(xf, dims, { keepdim: true });
    const shift = where(ne(abs(m), Infinity), m, 0);
    const s = sum(exp(sub(xf, shift)), dims, opt);
    return add(log(s), opt.keepdim ? shift : shift.squeeze(dims));
  });
}

const normSpec = spec('norm');
/** Vector p-norm over dims; p = Infinity / -Infinity are max / min of |x|, p = 0 counts nonzeros. */
export function norm(x: Tensor, p = 2, dim?: Dims, opt: Keep = {}): Tensor {
  reduceTypes(normSpec, x.dtype);
  if (p === Infinity) return tidy(() => amax(abs(x), dim, opt));
  if (p === -Infinity) return tidy(() => amin(abs(x), dim, opt));
  if (p === 0) return tidy(() => sum(ne(x, 0), dim, opt).to(x.dtype));
  return reduce(normSpec, x, dim, { ...opt, params: { p } });
}
