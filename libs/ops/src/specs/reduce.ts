/** Reductions over any set of dims (keepdim is the dispatcher's), plus the single-dim scans. */
import * as ir from '../ir.js';
import type { ReduceSpec } from '../spec.js';

const { add, div, max: maxE, min: minE, mul, pow, abs, or, isnan, gt, lt, and, not } = ir;

type Fields = Omit<ReduceSpec, 'kind' | 'name' | 'sample' | 'tol'> & Partial<Pick<ReduceSpec, 'sample' | 'tol'>>;
const reduce = (name: string, f: Fields): ReduceSpec => ({ kind: 'reduce', name, sample: {}, tol: {}, ...f });

const sumRef = (xs: readonly number[]): number => xs.reduce((s, x) => s + x, 0);
const meanRef = (xs: readonly number[]): number => sumRef(xs) / xs.length;
const nanAware = (pick: (a: number, b: number) => number) => (xs: readonly number[]): number =>
  xs.reduce((m, x) => (Number.isNaN(m) || Number.isNaN(x) ? NaN : pick(m, x)));
const varRef = (xs: readonly number[], p: Readonly<Record<string, number>>): number => {
  const m = meanRef(xs);
  return xs.reduce((s, x) => s + (x - m) ** 2, 0) / Math.max(0, xs.length - p['correction']!);
};

export const sum = reduce('sum', { accepts: 'all', result: 'widen', init: 0, combine: add, ref: sumRef });
/** One dim (or all), as torch.prod. */
export const prod = reduce('prod', {
  accepts: 'all', result: 'widen', singleDim: true, init: 1, combine: mul, ref: (xs) => xs.reduce((s, x) => s * x, 1),
  sample: { domain: [-2, 2] },
});
export const mean = reduce('mean', {
  accepts: 'floating', result: 'float', init: 0, combine: add, finalize: (acc, n) => div(acc, n), ref: meanRef,
});
/** max/min propagate NaN (ir.max is NaN-propagating). */
export const amax = reduce('amax', { accepts: 'all', result: 'same', needsElements: true, init: -Infinity, combine: maxE, ref: nanAware(Math.max) });
export const amin = reduce('amin', { accepts: 'all', result: 'same', needsElements: true, init: Infinity, combine: minE, ref: nanAware(Math.min) });
/** A NaN is the largest and the smallest value: its first position wins, as in PyTorch. */
export const argmax = reduce('argmax', {
  accepts: 'all', result: 'index', singleDim: true, needsElements: true, init: -Infinity,
  better: (x, best) => and(not(isnan(best)), or(isnan(x), gt(x, best))),
  ref: (xs) => { const i = xs.findIndex(Number.isNaN); return i >= 0 ? i : xs.indexOf(Math.max(...xs)); },
});
export const argmin = reduce('argmin', {
  accepts: 'all', result: 'index', singleDim: true, needsElements: true, init: Infinity,
  better: (x, best) => and(not(isnan(best)), or(isnan(x), lt(x, best))),
  ref: (xs) => { const i = xs.findIndex(Number.isNaN); return i >= 0 ? i : xs.indexOf(Math.min(...xs)); },
});
/** Vector p-norm; p = Infinity is the max-abs norm (composite), p = 0 counts nonzeros. */
export const norm = reduce('norm', {
  accepts: 'floating', result: 'float', params: { p: { default: 2, sample: [1, 4] } },
  init: 0, combine: add,
  map: (x, p) => pow(abs(x), p['p']!),
  finalize: (acc, _n, p) => pow(acc, div(1, p['p']!)),
  ref: (xs, p) => (p['p'] === Infinity ? Math.max(...xs.map(Math.abs)) : sumRef(xs.map((x) => Math.abs(x) ** p['p']!)) ** (1 / p['p']!)),
});
/** Composite: two passes (mean, then squared deviations), numerically stable. */
export const var_ = reduce('var', { accepts: 'floating', result: 'float', params: { correction: { default: 1 } }, ref: varRef });
export const std = reduce('std', { accepts: 'floating', result: 'float', params: { correction: { default: 1 } }, ref: (xs, p) => Math.sqrt(varRef(xs, p)) });
/** Composite: m + log(sum(exp(x - m))) with m = amax(x), so large inputs do not overflow. */
export const logsumexp = reduce('logsumexp', {
  accepts: 'all', result: 'float',
  ref: (xs) => {
    const m = Math.max(...xs);
    if (!Number.isFinite(m)) return xs.some(Number.isNaN) ? NaN : m;
    return m + Math.log(sumRef(xs.map((x) => Math.exp(x - m))));
  },
});
/** Inclusive prefix sum along one dim; ref gives the last element of the scan. */
export const cumsum = reduce('cumsum', { accepts: 'all', result: 'widen', singleDim: true, init: 0, combine: add, ref: sumRef });
