import { describe, expect, it } from 'vitest';
import { ELEMENTWISE, PRIMS, REDUCTIONS, ROUTINES, scalar, ir, topoSort } from '../src/index.js';

describe('scalar IR', () => {
  it('types literals from the operand they meet and rejects mixed dtypes', () => {
    const x = ir.input(0, 'int32');
    const e = ir.add(x, 1);
    expect(e.dtype).toBe('int32');
    expect(ir.lt(x, 2).dtype).toBe('bool');
    expect(() => ir.add(x, ir.input(1, 'float32'))).toThrow(/mixed dtypes/);
    expect(() => ir.exp(x)).toThrow(/floating/);
    expect(() => ir.where(x, 1, 2)).toThrow(/bool/);
  });

  it('shares nodes by identity, so topoSort visits a reused subtree once', () => {
    const x = ir.input(0, 'float32');
    const s = ir.exp(x);
    expect(topoSort(ir.mul(s, s)).length).toBe(3);
  });

  it('every spec builds a well-typed expression for a float input', () => {
    for (const spec of Object.values(ELEMENTWISE)) {
      const args = Array.from({ length: spec.arity }, (_, i) => (spec.condition && i === 0 ? ir.input(i, 'bool') : ir.input(i, 'float32')));
      const p = Object.fromEntries(Object.keys(spec.params ?? {}).map((n) => [n, ir.param(n, 'float32')]));
      const e = spec.expr(args, p);
      expect(['float32', 'bool']).toContain(e.dtype);
    }
  });

  it('every primitive has a decomposition or is expected natively; decomposed erf is within 1.5e-7', () => {
    const erf = PRIMS.erf.decompose!;
    expect(erf(ir.input(0, 'float32')).dtype).toBe('float32');
    // Evaluate the decomposition with a tiny interpreter over the IR.
    const evalE = (e: ir.Expr, x: number): number => {
      if (e.kind === 'const') return e.value;
      if (e.kind !== 'op') return x;
      const a = e.args.map((c) => evalE(c, x));
      const f: Partial<Record<string, (...v: number[]) => number>> = {
        add: (p, q) => p! + q!, sub: (p, q) => p! - q!, mul: (p, q) => p! * q!, div: (p, q) => p! / q!, neg: (p) => -p!, abs: Math.abs, exp: Math.exp,
        lt: (p, q) => +(p! < q!), where: (c, p, q) => (c ? p! : q!),
      };
      return f[e.op]!(...a);
    };
    for (let v = -5; v <= 5; v += 0.01) expect(Math.abs(evalE(erf(ir.input(0, 'float64')), v) - scalar.erf(v))).toBeLessThan(1.5e-7);
  });

  it('covers the op list of the foundation issue', () => {
    const names = [...Object.keys(ELEMENTWISE), ...Object.keys(REDUCTIONS), ...Object.keys(ROUTINES)];
    for (const op of ['neg', 'abs', 'exp', 'log', 'log1p', 'expm1', 'sqrt', 'rsqrt', 'sin', 'cos', 'tanh', 'sigmoid', 'relu', 'gelu', 'geluTanh', 'silu', 'erf',
      'floor', 'ceil', 'round', 'sign', 'reciprocal', 'add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum', 'atan2', 'remainder', 'fmod', 'lt', 'le', 'gt',
      'ge', 'eq', 'ne', 'logicalAnd', 'logicalOr', 'logicalNot', 'where', 'sum', 'mean', 'prod', 'amax', 'amin', 'argmax', 'argmin', 'var', 'std', 'logsumexp',
      'norm', 'cumsum', 'matmul', 'softmax', 'logSoftmax', 'layerNorm', 'gather', 'scatterAdd', 'indexSelect', 'embedding', 'conv2d', 'maxPool2d', 'avgPool2d']) {
      expect(names).toContain(op);
    }
  });
});

describe('reference scalar math', () => {
  it('erf, round-half-even and Python remainder', () => {
    expect(scalar.erf(1)).toBeCloseTo(0.8427007929497149, 15);
    expect(scalar.erf(-0.5)).toBeCloseTo(-0.5204998778130465, 15);
    expect([0.5, 1.5, 2.5, -2.5, -0.4].map(scalar.rint)).toEqual([0, 2, 2, -2, -0]);
    expect([scalar.remainder(-3, 2), scalar.remainder(3, -2), scalar.remainder(-3, -2)]).toEqual([1, -1, -1]);
  });
});
