/** Builders that fill an elementwise spec's defaults, so each op below reads as its math alone. */
import type { DTypeSet } from '../dtype.js';
import type { Expr } from '../ir.js';
import type { GradContext, GradTensor } from '../grad.js';
import type { ElementwiseSpec, ParamSpec, ResultRule, Sample, Tolerances } from '../spec.js';

interface Common {
  readonly accepts?: DTypeSet;
  readonly result?: ResultRule;
  readonly sample?: Sample;
  readonly tol?: Tolerances;
  readonly params?: Readonly<Record<string, ParamSpec>>;
  readonly integralDomain?: ElementwiseSpec['integralDomain'];
  readonly refuseBool?: boolean;
  readonly sameDtype?: boolean;
}

type P = Readonly<Record<string, Expr>>;
type PN = Readonly<Record<string, number>>;

type Rule = (c: GradContext) => GradTensor;

export function unary(name: string, o: Common & {
  expr: (x: Expr, p: P) => Expr;
  ref: (x: number, p: PN) => number;
  grad?: Rule;
}): ElementwiseSpec {
  return {
    kind: 'elementwise', name, arity: 1, accepts: o.accepts ?? 'all', result: o.result ?? 'float',
    params: o.params, sample: o.sample ?? {}, tol: o.tol ?? {}, ...(o.grad ? { grad: [o.grad] } : {}),
    expr: ([x], p) => o.expr(x!, p),
    ref: ([x], p) => o.ref(x!, p),
  };
}

export function binary(name: string, o: Common & {
  expr: (a: Expr, b: Expr, p: P) => Expr;
  ref: (a: number, b: number, p: PN) => number;
  /** Per operand; undefined where the operand gets no gradient (a mask, a threshold). */
  grad?: readonly [Rule, Rule | undefined];
}): ElementwiseSpec {
  return {
    kind: 'elementwise', name, arity: 2, accepts: o.accepts ?? 'all', result: o.result ?? 'promote',
    params: o.params, sample: o.sample ?? {}, tol: o.tol ?? {}, ...(o.grad ? { grad: o.grad } : {}),
    ...(o.integralDomain ? { integralDomain: o.integralDomain } : {}),
    ...(o.refuseBool ? { refuseBool: true } : {}),
    ...(o.sameDtype ? { sameDtype: true } : {}),
    expr: ([a, b], p) => o.expr(a!, b!, p),
    ref: ([a, b], p) => o.ref(a!, b!, p),
  };
}
