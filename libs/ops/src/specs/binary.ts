/** Elementwise binary and ternary ops (broadcasting is the dispatcher's job, not the spec's). */
import * as ir from '../ir.js';
import { cPow, erf as erfRef, remainder as remainderRef, sigmoid as sigmoidRef } from '../ref/scalar.js';
import type { GradContext, GradTensor } from '../grad.js';
import type { ElementwiseSpec } from '../spec.js';
import { binary } from './elementwise.js';

const { add: addE, div: divE, mul: mulE, sub: subE, where: whereE } = ir;

/** maximum/minimum: the gradient goes to the winner; ties split it evenly (as PyTorch). */
const split = (wins: (a: GradTensor, b: GradTensor) => GradTensor) => [
  ({ g, a, b }: GradContext) => g.mul(wins(a, b).add(a.eq(b).mul(0.5))),
  ({ g, a, b }: GradContext) => g.mul(wins(b, a).add(a.eq(b).mul(0.5))),
] as const;

/** a + alpha * b (torch.add's alpha). */
export const add = binary('add', {
  params: { alpha: { default: 1, sample: [-3, 3] } },
  expr: (a, b, p) => addE(a, mulE(b, p['alpha']!)),
  ref: (a, b, p) => a + p['alpha']! * b,
  // alpha = 1 (nearly every call) passes g on to b unscaled, as PyTorch's AddBackward does.
  grad: [({ g }) => g, ({ g, p }) => (p['alpha'] === 1 ? g : g.mul(p['alpha']!))],
});
export const sub = binary('sub', {
  accepts: 'numeric', refuseBool: true,
  params: { alpha: { default: 1, sample: [-3, 3] } },
  expr: (a, b, p) => subE(a, mulE(b, p['alpha']!)),
  ref: (a, b, p) => a - p['alpha']! * b,
  grad: [({ g }) => g, ({ g, p }) => g.mul(-p['alpha']!)],
});
export const mul = binary('mul', { expr: mulE, ref: (a, b) => a * b, grad: [({ g, b }) => g.mul(b), ({ g, a }) => g.mul(a)] });
/** True division: integer operands give a float result (torch.div without rounding_mode). */
export const div = binary('div', { result: 'float', expr: divE, ref: (a, b) => a / b, grad: [({ g, b }) => g.div(b), ({ g, a, b }) => g.mul(a).div(b.square()).neg()] });
export const pow = binary('pow', {
  accepts: 'numeric', expr: ir.pow, ref: cPow,
  integralDomain: { operand: 1, refuse: 'negativeScalar' },
  sample: { domain: [[0, 10], [-4, 4]] },
  // d/db is 0 where a == 0 and b >= 0 (PyTorch's convention), not 0 * log(0) = NaN.
  grad: [
    ({ g, a, b }) => g.mul(b).mul(a.pow(b.sub(1))),
    ({ g, a, b, out }) => g.mul(out.mul(a.log()).where(a.eq(0).logicalAnd(b.ge(0)).logicalNot(), 0)),
  ],
  tol: { float32: { rtol: 2e-5, atol: 1e-6 } },
});
export const maximum = binary('maximum', { accepts: 'all', expr: ir.max, ref: (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b)), grad: split((a, b) => a.gt(b)) });
export const minimum = binary('minimum', { accepts: 'all', expr: ir.min, ref: (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.min(a, b)), grad: split((a, b) => a.lt(b)) });
export const atan2 = binary('atan2', {
  result: 'float', expr: ir.atan2, ref: Math.atan2,
  grad: [({ g, a, b }) => g.mul(b).div(a.square().add(b.square())), ({ g, a, b }) => g.mul(a).div(a.square().add(b.square())).neg()],
});
/** Python-style remainder: the result takes the sign of the divisor. */
export const remainder = binary('remainder', {
  accepts: 'numeric',
  integralDomain: { operand: 1, refuse: 'zero' },
  expr: (a, b) => {
    const m = ir.fmod(a, b);
    const fix = ir.and(ir.ne(m, 0), ir.ne(ir.lt(m, 0), ir.lt(b, 0)));
    return whereE(fix, addE(m, b), m);
  },
  ref: remainderRef,
  sample: { domain: [[-100, 100], [-10, 10]] },
  grad: [({ g }) => g, ({ g, a, b }) => g.mul(a.div(b).floor()).neg()],
});
/** C fmod: the result takes the sign of the dividend. */
export const fmod = binary('fmod', { accepts: 'numeric', integralDomain: { operand: 1, refuse: 'zero' }, expr: ir.fmod, ref: (a, b) => a % b, sample: { domain: [[-100, 100], [-10, 10]] }, grad: [({ g }) => g, ({ g, a, b }) => g.mul(a.div(b).trunc()).neg()] });

const compare = (name: string, expr: (a: ir.Expr, b: ir.Expr) => ir.Expr, ref: (a: number, b: number) => boolean) =>
  binary(name, { result: 'compare', expr, ref: (a, b) => (ref(a, b) ? 1 : 0) });
export const lt = compare('lt', ir.lt, (a, b) => a < b);
export const le = compare('le', ir.le, (a, b) => a <= b);
export const gt = compare('gt', ir.gt, (a, b) => a > b);
export const ge = compare('ge', ir.ge, (a, b) => a >= b);
export const eq = compare('eq', ir.eq, (a, b) => a === b);
export const ne = compare('ne', ir.ne, (a, b) => a !== b);

export const logicalAnd = binary('logicalAnd', { result: 'logical', expr: ir.and, ref: (a, b) => (a !== 0 && b !== 0 ? 1 : 0) });
export const logicalOr = binary('logicalOr', { result: 'logical', expr: ir.or, ref: (a, b) => (a !== 0 || b !== 0 ? 1 : 0) });
export const logicalXor = binary('logicalXor', { result: 'logical', expr: ir.ne, ref: (a, b) => ((a !== 0) !== (b !== 0) ? 1 : 0) });

/** where(cond, a, b): operand 0 is a bool condition; a and b promote together. */
export const where: ElementwiseSpec = {
  kind: 'elementwise', name: 'where', arity: 3, accepts: 'all', result: 'promote', condition: true,
  sample: {}, tol: {},
  expr: ([c, a, b]) => whereE(c!, a!, b!),
  ref: ([c, a, b]) => (c !== 0 ? a! : b!),
  grad: [undefined, ({ g, a }) => g.where(a, 0), ({ g, a }) => g.where(a.logicalNot(), 0)],
};

/**
 * PyTorch's threshold_backward(grad, x, threshold): x <= threshold ? 0 : grad, relu's gradient in
 * one pass (a zero where x is NaN-free and at most the threshold, even for a NaN or infinite grad).
 */
export const thresholdBackward = binary('thresholdBackward', {
  accepts: 'floating',
  params: { threshold: { default: 0, sample: [-1, 1] } },
  expr: (g, x, p) => whereE(ir.le(x, p['threshold']!), 0, g),
  ref: (g, x, p) => (x <= p['threshold']! ? 0 : g),
  // Linear in grad with x's mask: the gradient of grad is the same op; x's is zero almost everywhere.
  grad: [({ g, b, p, op }) => op('thresholdBackward', [g, b], p), undefined],
});

const SQRT1_2 = Math.SQRT1_2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);
const K_TANH = Math.sqrt(2 / Math.PI), C_TANH = 0.044715;

/**
 * gelu's input gradient in one pass, g * (Phi(x) + x phi(x)) (torch's gelu_backward), instead of
 * the dozen-op composite its gradient formula records. Its own gradient (grad of grad) is composite.
 */
export const geluBackward = binary('geluBackward', {
  accepts: 'floating',
  expr: (g, x) => mulE(g, addE(mulE(0.5, addE(1, ir.erf(mulE(x, SQRT1_2)))), mulE(mulE(x, ir.exp(mulE(mulE(x, x), -0.5))), INV_SQRT_2PI))),
  ref: (g, x) => g * (0.5 * (1 + erfRef(x * SQRT1_2)) + x * Math.exp(-0.5 * x * x) * INV_SQRT_2PI),
  grad: [
    ({ g, b, op }) => op('geluBackward', [g, b]),
    // d/dx of g * gelu'(x) = g * phi(x) * (2 - x^2)
    ({ g, a, b }) => g.mul(a).mul(b.square().mul(-0.5).exp().mul(INV_SQRT_2PI)).mul(b.square().neg().add(2)),
  ],
});

/**
 * The tanh-approximated gelu's input gradient in one pass (torch's gelu_backward, approximate='tanh'):
 * with t = tanh(k (x + c x^3)), g * (0.5 (1 + t) + 0.5 x (1 - t^2) k (1 + 3 c x^2)). x^2 is capped
 * at 100 in the last factor: from |x| = 10 on, 1 - t^2 is exactly 0 and the term vanishes, where an
 * overflowing x^2 (float32 past 1.8e19, float16 past 256) would make it 0 * inf = NaN, as PyTorch's does.
 */
export const geluTanhBackward = binary('geluTanhBackward', {
  accepts: 'floating',
  expr: (g, x) => {
    const x2 = mulE(x, x);
    const t = ir.tanh(mulE(K_TANH, addE(x, mulE(C_TANH, mulE(x, x2)))));
    const du = mulE(K_TANH, addE(1, mulE(3 * C_TANH, ir.min(x2, 100))));
    return mulE(g, addE(mulE(0.5, addE(1, t)), mulE(mulE(mulE(0.5, x), subE(1, mulE(t, t))), du)));
  },
  ref: (g, x) => {
    const t = Math.tanh(K_TANH * (x + C_TANH * x ** 3));
    return g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * K_TANH * (1 + 3 * C_TANH * Math.min(x * x, 100)));
  },
  grad: [
    ({ g, b, op }) => op('geluTanhBackward', [g, b]),
    // d/dx of g * f'(x) = g * (1 - t^2) (u' - x t u'^2 + 3 k c x^2), u' = k (1 + 3 c x^2)
    ({ g, a, b }) => {
      const t = b.add(b.pow(3).mul(C_TANH)).mul(K_TANH).tanh();
      const du = b.square().mul(3 * C_TANH).add(1).mul(K_TANH);
      return g.mul(a).mul(t.square().neg().add(1)).mul(du.sub(b.mul(t).mul(du.square())).add(b.square().mul(3 * K_TANH * C_TANH)));
    },
  ],
});

/** silu's input gradient in one pass, g * s (1 + x (1 - s)) with s = sigmoid(x) (torch's silu_backward). */
export const siluBackward = binary('siluBackward', {
  accepts: 'floating',
  // Below x = -11, exp(-x) overflows float16 and s is 0 where float16 math is float16 (webgpu), so an
  // infinite g gives NaN where PyTorch's float32 opmath and the reference give inf: x stays above.
  sample: { domain: [[-10, 10], [-10, 10]] },
  expr: (g, x) => {
    const s = divE(1, addE(1, ir.exp(ir.neg(x))));
    return mulE(g, mulE(s, addE(1, mulE(x, subE(1, s)))));
  },
  ref: (g, x) => { const s = sigmoidRef(x); return g * s * (1 + x * (1 - s)); },
  grad: [
    ({ g, b, op }) => op('siluBackward', [g, b]),
    // d/dx of g * s (1 + x (1 - s)) = g * s (1 - s) (2 + x (1 - 2 s))
    ({ g, a, b }) => {
      const s = b.sigmoid();
      return g.mul(a).mul(s.mul(s.neg().add(1))).mul(b.mul(s.mul(-2).add(1)).add(2));
    },
  ],
});

/**
 * Dropout from uniform draws u in [0, 1): x * (u >= p ? 1 / (1 - p) : 0), as torch's x * mask with
 * the mask pre-scaled (a NaN or infinite x stays NaN where dropped, as there). One pass forward
 * and one backward (the same op on the gradient), instead of a mask, a product and a division.
 */
export const dropout = binary('dropout', {
  accepts: 'floating',
  params: { p: { default: 0.5, sample: [0, 0.9] } },
  sample: { domain: [[-10, 10], [0, 1]] },
  expr: (x, u, p) => mulE(x, whereE(ir.ge(u, p['p']!), divE(1, subE(1, p['p']!)), 0)),
  ref: (x, u, p) => x * (u >= p['p']! ? 1 / (1 - p['p']!) : 0),
  grad: [({ g, b, p, op }) => op('dropout', [g, b], p), undefined],
});

/**
 * logSoftmax's input gradient from its output gradient g, output y and s = g summed along the
 * softmax dim (broadcast back): g - exp(y) * s, one pass instead of three (torch's
 * _log_softmax_backward_data). Differentiable in every operand, so grad of grad still works.
 */
export const logSoftmaxBackward: ElementwiseSpec = {
  kind: 'elementwise', name: 'logSoftmaxBackward', arity: 3, accepts: 'floating', result: 'float',
  sample: { domain: [[-10, 10], [-10, 0], [-10, 10]] }, tol: {},
  expr: ([g, y, s]) => subE(g!, mulE(ir.exp(y!), s!)),
  ref: ([g, y, s]) => g! - Math.exp(y!) * s!,
  grad: [({ g }) => g, ({ g, b, c }) => g.mul(b.exp()).mul(c).neg(), ({ g, b }) => g.mul(b.exp()).neg()],
};

/** torch.lerp with a scalar weight: a + weight * (b - a). Adam's moment updates are lerps. */
export const lerp = binary('lerp', {
  accepts: 'floating', result: 'float', sameDtype: true,
  params: { weight: { default: 0.5, sample: [-1, 2] } },
  // torch's two-sided form (exact at both ends, and the same infinities and NaNs as torch).
  expr: (a, b, p) => whereE(ir.lt(p['weight']!, 0.5), addE(a, mulE(p['weight']!, subE(b, a))), subE(b, mulE(subE(b, a), subE(1, p['weight']!)))),
  ref: (a, b, p) => (p['weight']! < 0.5 ? a + p['weight']! * (b - a) : b - (b - a) * (1 - p['weight']!)),
  grad: [({ g, p }) => g.mul(1 - p['weight']!), ({ g, p }) => g.mul(p['weight']!)],
});

/**
 * One Adam/AdamW parameter update from the already-updated moments, fused into a single pass (as
 * torch's fused Adam): p * decay - stepSize * m / (sqrt(v) / bc2 + eps), where decay = 1 - lr * wd
 * (AdamW's decoupled decay, 1 for Adam), stepSize = lr / (1 - beta1^t) and bc2 = sqrt(1 - beta2^t).
 * An optimizer step, not a differentiable op: it has no gradient.
 */
export const adamUpdate: ElementwiseSpec = {
  kind: 'elementwise', name: 'adamUpdate', arity: 3, accepts: 'floating', result: 'float',
  params: { decay: { default: 1, sample: [0.9, 1] }, stepSize: { default: 1e-3, sample: [0, 1] }, bc2: { default: 1, sample: [0.01, 1] }, eps: { default: 1e-8, sample: [1e-8, 1e-3] } },
  // v is a running mean of squares: never negative.
  sample: { domain: [[-10, 10], [-10, 10], [0, 10]] },
  tol: {},
  expr: ([p, m, v], q) => subE(mulE(p!, q['decay']!), divE(mulE(m!, q['stepSize']!), addE(divE(ir.sqrt(v!), q['bc2']!), q['eps']!))),
  ref: ([p, m, v], q) => p! * q['decay']! - (q['stepSize']! * m!) / (Math.sqrt(v!) / q['bc2']! + q['eps']!),
};