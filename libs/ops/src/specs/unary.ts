/** Elementwise unary ops. `expr` is what backends compile; `ref` is the independent float64 oracle. */
import * as ir from '../ir.js';
import { isFloating } from '../dtype.js';
import { erf, rint, sigmoid as sigmoidRef } from '../ref/scalar.js';
import type { GradContext } from '../grad.js';
import { unary } from './elementwise.js';

const { add, div, exp, mul, where } = ir;
const SQRT1_2 = Math.SQRT1_2;
const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
/** Piecewise-constant ops: zero gradient almost everywhere, as in PyTorch. */
const zeroGrad = ({ g }: GradContext) => g.mul(0);

/** Ops that keep integer dtypes (result 'promote'); the rest compute in floating point. */
export const neg = unary('neg', { accepts: 'numeric', result: 'promote', expr: ir.neg, ref: (x) => -x, grad: ({ g }) => g.neg() });
export const abs_ = unary('abs', { accepts: 'numeric', result: 'promote', expr: ir.abs, ref: Math.abs, grad: ({ g, a }) => g.mul(a.sign()) });
export const exp_ = unary('exp', { expr: exp, ref: Math.exp, sample: { domain: [-80, 80] }, grad: ({ g, out }) => g.mul(out) });
export const log = unary('log', { expr: ir.log, ref: Math.log, sample: { domain: [0, 1e4] }, grad: ({ g, a }) => g.div(a) });
export const log1p = unary('log1p', { expr: ir.log1p, ref: Math.log1p, sample: { domain: [-1, 1e4] }, grad: ({ g, a }) => g.div(a.add(1)) });
export const expm1 = unary('expm1', { expr: ir.expm1, ref: Math.expm1, sample: { domain: [-80, 80] }, grad: ({ g, out }) => g.mul(out.add(1)) });
export const sqrt = unary('sqrt', { expr: ir.sqrt, ref: Math.sqrt, sample: { domain: [0, 1e6] }, grad: ({ g, out }) => g.div(out.mul(2)) });
export const rsqrt = unary('rsqrt', { expr: ir.rsqrt, ref: (x) => 1 / Math.sqrt(x), sample: { domain: [0, 1e6] }, grad: ({ g, out }) => g.mul(out.pow(3)).mul(-0.5) });
export const sin = unary('sin', { expr: ir.sin, ref: Math.sin, sample: { domain: [-100, 100] }, grad: ({ g, a }) => g.mul(a.cos()) });
export const cos = unary('cos', { expr: ir.cos, ref: Math.cos, sample: { domain: [-100, 100] }, grad: ({ g, a }) => g.mul(a.sin()).neg() });
export const tanh = unary('tanh', { expr: ir.tanh, ref: Math.tanh, grad: ({ g, out }) => g.mul(out.square().neg().add(1)) });
export const sigmoid = unary('sigmoid', {
  expr: (x) => div(1, add(1, exp(ir.neg(x)))),
  ref: sigmoidRef,
  sample: { domain: [-100, 100] },
  grad: ({ g, out }) => g.mul(out).mul(out.neg().add(1)),
});
/** `x < 0 ? 0 : x`, as torch.relu: NaN and -0 pass through. Its gradient is threshold_backward, as torch's. */
export const relu = unary('relu', { accepts: 'numeric', result: 'promote', expr: (x) => where(ir.lt(x, 0), 0, x), ref: (x) => (x < 0 ? 0 : x), grad: ({ g, a, op }) => op('thresholdBackward', [g, a], { threshold: 0 }) });
export const gelu = unary('gelu', {
  expr: (x) => mul(mul(x, 0.5), add(1, ir.erf(mul(x, SQRT1_2)))),
  ref: (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)),
  grad: ({ g, a, op }) => op('geluBackward', [g, a]),
});
export const geluTanh = unary('geluTanh', {
  expr: (x) => mul(mul(x, 0.5), add(1, ir.tanh(mul(SQRT_2_OVER_PI, add(x, mul(0.044715, mul(x, mul(x, x)))))))),
  ref: (x) => 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x ** 3))),
  grad: ({ g, a, op }) => op('geluTanhBackward', [g, a]),
});
export const silu = unary('silu', {
  expr: (x) => div(x, add(1, exp(ir.neg(x)))),
  ref: (x) => x * sigmoidRef(x),
  sample: { domain: [-100, 100] },
  grad: ({ g, a, op }) => op('siluBackward', [g, a]),
});
export const erf_ = unary('erf', { expr: ir.erf, ref: erf, grad: ({ g, a }) => g.mul(a.square().neg().exp().mul(2 / Math.sqrt(Math.PI))) });
export const floor = unary('floor', { accepts: 'numeric', grad: zeroGrad, result: 'promote', expr: ir.floor, ref: Math.floor, sample: { domain: [-1e3, 1e3] } });
export const ceil = unary('ceil', { accepts: 'numeric', grad: zeroGrad, result: 'promote', expr: ir.ceil, ref: Math.ceil, sample: { domain: [-1e3, 1e3] } });
export const round = unary('round', { accepts: 'numeric', grad: zeroGrad, result: 'promote', expr: ir.rint, ref: rint, sample: { domain: [-1e3, 1e3] } });
export const trunc = unary('trunc', { accepts: 'numeric', grad: zeroGrad, result: 'promote', expr: ir.trunc, ref: Math.trunc, sample: { domain: [-1e3, 1e3] } });
/** (0 < x) - (x < 0), as torch.sign: NaN and -0 give +0. */
export const sign = unary('sign', {
  accepts: 'all', result: 'promote', grad: zeroGrad,
  // A bool is its own sign (torch keeps bool).
  expr: (x) => (x.dtype === 'bool' ? x : where(ir.gt(x, 0), 1, where(ir.lt(x, 0), -1, ir.constant(0, x.dtype)))),
  ref: (x) => (x > 0 ? 1 : x < 0 ? -1 : 0),
});
export const reciprocal = unary('reciprocal', { expr: ir.recip, ref: (x) => 1 / x, grad: ({ g, out }) => g.mul(out.square()).neg() });
export const logicalNot = unary('logicalNot', { result: 'logical', expr: ir.not, ref: (x) => (x === 0 ? 1 : 0) });
export const isnan = unary('isnan', { result: 'compare', expr: ir.isnan, ref: (x) => (Number.isNaN(x) ? 1 : 0) });
/** torch.isinf: +-inf; integers and bools never are. */
export const isinf = unary('isinf', {
  result: 'compare',
  expr: (x) => (isFloating(x.dtype) ? ir.eq(ir.abs(x), Infinity) : ir.ne(x, x)),
  ref: (x) => (x === Infinity || x === -Infinity ? 1 : 0),
});
/** torch.isfinite: neither NaN nor +-inf (|x| < inf is false for both); integers and bools always are. */
export const isfinite = unary('isfinite', {
  result: 'compare',
  expr: (x) => (isFloating(x.dtype) ? ir.lt(ir.abs(x), Infinity) : ir.eq(x, x)),
  ref: (x) => (Number.isFinite(x) ? 1 : 0),
});
/**
 * torch.nan_to_num with explicit replacements (the tensor op fills torch's defaults: 0, and the
 * dtype's largest and lowest finite values, and copies integer and bool tensors, which it leaves as they are).
 */
export const nanToNum = unary('nanToNum', {
  accepts: 'floating', result: 'promote',
  params: { nan: { default: 0, sample: [-10, 10] }, posinf: { default: 1e4, sample: [-10, 10] }, neginf: { default: -1e4, sample: [-10, 10] } },
  expr: (x, p) => where(ir.isnan(x), p['nan']!, where(ir.eq(x, Infinity), p['posinf']!, where(ir.eq(x, -Infinity), p['neginf']!, x))),
  ref: (x, p) => (Number.isNaN(x) ? p['nan']! : x === Infinity ? p['posinf']! : x === -Infinity ? p['neginf']! : x),
  grad: ({ g, a, op }) => g.mul(op('isfinite', [a])),
});
/** Identity with a dtype change: the copy/cast kernel (contiguous(), to(dtype), copy_). */
export const copy = unary('copy', { result: 'promote', expr: (x) => x, ref: (x) => x, grad: ({ g }) => g });
export const square = unary('square', { accepts: 'numeric', result: 'promote', expr: (x) => mul(x, x), ref: (x) => x * x, grad: ({ g, a }) => g.mul(a).mul(2) });
