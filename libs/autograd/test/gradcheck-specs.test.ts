/**
 * gradcheck for every differentiable spec (float64, central differences), generated from the specs,
 * with broadcasting and non-contiguous views; gradgradcheck for a representative set.
 */
import { describe, expect, it } from 'vitest';
import { ELEMENTWISE } from '@tessera/ops';
import * as tsr from 'tessera';

/** Smooth, well-conditioned input ranges per op (kinks and poles are measure-zero but numerically nasty). */
const RANGE: Record<string, readonly (readonly [number, number])[]> = {
  log: [[0.5, 3]], log1p: [[0.5, 3]], sqrt: [[0.5, 3]], rsqrt: [[0.5, 3]], reciprocal: [[0.5, 3]],
  pow: [[0.5, 3], [-2, 2]], div: [[-2, 2], [0.5, 3]], remainder: [[-5, 5], [1, 3]], fmod: [[-5, 5], [1, 3]],
};

/** Deterministic values in [lo, hi] kept at least 0.05 from 0 (relu, abs, sign have a kink there). */
function values(n: number, lo: number, hi: number, seed: number): Float64Array {
  const g = new tsr.Generator(seed);
  return Float64Array.from({ length: n }, () => {
    const v = lo + (hi - lo) * g.uniform();
    return Math.abs(v) < 0.05 ? v + 0.1 : v;
  });
}

const leaf = (shape: number[], range: readonly [number, number], seed: number) =>
  tsr.tensor(values(shape.reduce((a, b) => a * b, 1), range[0], range[1], seed), { shape }).requiresGrad_();

describe('gradcheck: every elementwise spec with a gradient rule', () => {
  for (const spec of Object.values(ELEMENTWISE).filter((s) => s.grad)) {
    it(spec.name, () => {
      const range = (i: number) => RANGE[spec.name]?.[i] ?? [-2, 2];
      const call = (...xs: tsr.Tensor[]) => tsr.elementwise(spec, xs, { params: spec.params ? { alpha: 0.7 } : undefined });
      if (spec.condition) {
        const cond = tsr.tensor([[true, false, true], [false, true, false]]);
        expect(tsr.gradcheck((a, b) => tsr.where(cond, a, b), [leaf([2, 3], range(1), 1), leaf([3], range(2), 2)])).toBe(true);
      } else if (spec.arity === 3) {
        // [2, 3], [3] and [2, 1]: two broadcast patterns whose gradients are summed back.
        expect(tsr.gradcheck(call, [leaf([2, 3], range(0), 8), leaf([3], range(1), 9), leaf([2, 1], range(2), 10)])).toBe(true);
      } else if (spec.arity === 1) {
        // A transposed (non-contiguous) view of the leaf exercises strided reads and the view's gradient.
        expect(tsr.gradcheck((a) => call(a.t()), [leaf([3, 2], range(0), 3)])).toBe(true);
      } else {
        // [2, 3] op [3]: the second operand's gradient is summed over the broadcast dim.
        expect(tsr.gradcheck(call, [leaf([2, 3], range(0), 4), leaf([3], range(1), 5)])).toBe(true);
        expect(tsr.gradcheck((a, b) => call(a, b.t()), [leaf([2, 1], range(0), 6), leaf([3, 2], range(1), 7)])).toBe(true);
      }
    });
  }
});

const x64 = (shape: number[], seed = 1, range: readonly [number, number] = [-2, 2]) => leaf(shape, range, seed);

describe('gradcheck: reductions (composites included) over dims with keepdim', () => {
  const cases: [string, (x: tsr.Tensor) => tsr.Tensor][] = [
    ['sum', (x) => x.sum(1)], ['sum all', (x) => x.sum()], ['mean', (x) => x.mean([0, 2], { keepdim: true })],
    ['prod', (x) => x.prod(2)], ['amax', (x) => x.amax(1)], ['amin', (x) => x.amin([0, 1])],
    ['norm 2', (x) => x.norm(2, 2)], ['norm 3', (x) => x.norm(3, [1, 2], { keepdim: true })], ['norm inf', (x) => x.norm(Infinity, 1)],
    ['var', (x) => x.var(1)], ['std', (x) => x.std(2, { correction: 0 })], ['logsumexp', (x) => x.logsumexp(2)], ['cumsum', (x) => x.cumsum(1)],
  ];
  for (const [name, f] of cases) it(name, () => expect(tsr.gradcheck(f, [x64([2, 3, 4], name.length)])).toBe(true));

  it('prod with zeros (one and two per row)', () => {
    const x = tsr.tensor([[0, 2, 3], [0, 0, 4], [1, 2, 3]], { dtype: 'float64' }).requiresGrad_();
    expect(tsr.gradcheck((t) => t.prod(1), [x])).toBe(true);
  });
});

describe('gradcheck: routines', () => {
  it('matmul: 2-D, 1-D operands and broadcast batches', () => {
    expect(tsr.gradcheck((a, b) => a.matmul(b), [x64([3, 4]), x64([4, 2], 2)])).toBe(true);
    expect(tsr.gradcheck((a, b) => a.matmul(b), [x64([4], 3), x64([2, 4, 3], 4)])).toBe(true);
    expect(tsr.gradcheck((a, b) => a.matmul(b), [x64([2, 1, 3, 4], 5), x64([4, 2], 6)])).toBe(true);
    expect(tsr.gradcheck((a, b) => a.matmul(b), [x64([4], 7), x64([4], 8)])).toBe(true);
  });
  it('softmax and logSoftmax', () => {
    expect(tsr.gradcheck((a) => a.softmax(1), [x64([2, 3, 2])])).toBe(true);
    expect(tsr.gradcheck((a) => a.logSoftmax(-1), [x64([3, 4], 2)])).toBe(true);
  });
  it('layerNorm with weight and bias', () => {
    expect(tsr.gradcheck((a, w, b) => tsr.layerNorm(a, [2, 3], w, b), [x64([2, 2, 3]), x64([2, 3], 2), x64([2, 3], 3)])).toBe(true);
  });
  it('gather, scatterAdd, indexSelect, embedding', () => {
    const idx = tsr.tensor([[0, 2, 1], [2, 2, 0]], { dtype: 'int64' });
    expect(tsr.gradcheck((a) => a.gather(1, idx), [x64([2, 3])])).toBe(true);
    expect(tsr.gradcheck((a, s) => a.scatterAdd(1, idx, s), [x64([2, 3]), x64([2, 3], 2)])).toBe(true);
    const sel = tsr.tensor([2, 0, 2], { dtype: 'int64' });
    expect(tsr.gradcheck((a) => a.indexSelect(0, sel), [x64([3, 2])])).toBe(true);
    expect(tsr.gradcheck((w) => tsr.embedding(idx, w), [x64([3, 2], 3)])).toBe(true);
  });
  it('conv2d with stride, padding, dilation, groups and bias', () => {
    expect(tsr.gradcheck((a, w, b) => a.conv2d(w, b, { stride: 2, padding: 1 }), [x64([2, 2, 5, 4]), x64([3, 2, 3, 2], 2), x64([3], 3)])).toBe(true);
    expect(tsr.gradcheck((a, w) => a.conv2d(w, undefined, { dilation: 2, groups: 2 }), [x64([1, 4, 5, 5], 4), x64([2, 2, 2, 2], 5)])).toBe(true);
    expect(tsr.gradcheck((a, w) => a.conv2d(w), [x64([2, 4, 4], 6), x64([1, 2, 3, 3], 7)])).toBe(true);
  });
  it('maxPool2d and avgPool2d (padding, ceilMode, countIncludePad), unfold and fold', () => {
    expect(tsr.gradcheck((a) => a.maxPool2d({ kernelSize: 2, stride: 1, padding: 1 }), [x64([1, 2, 4, 4])])).toBe(true);
    expect(tsr.gradcheck((a) => a.avgPool2d({ kernelSize: 3, stride: 2, padding: 1, ceilMode: true }), [x64([1, 2, 5, 5], 2)])).toBe(true);
    expect(tsr.gradcheck((a) => a.avgPool2d({ kernelSize: 2, padding: 1, countIncludePad: false }), [x64([2, 1, 3, 3], 3)])).toBe(true);
    expect(tsr.gradcheck((a) => tsr.unfold(a, { kernelSize: 2, stride: 1, padding: 1 }), [x64([1, 2, 3, 3], 4)])).toBe(true);
    expect(tsr.gradcheck((c) => tsr.fold(c, { kernelSize: 2, outputSize: [3, 3] }), [x64([1, 8, 4], 5)])).toBe(true);
  });
});

describe('gradcheck: views, joins and masks', () => {
  const cases: [string, (x: tsr.Tensor) => tsr.Tensor][] = [
    ['reshape', (x) => x.reshape(4, 6).mul(x.reshape(4, 6))], ['permute', (x) => x.permute(2, 0, 1).exp()],
    ['expand', (x) => x.select(1, 0).unsqueeze(1).expand(2, 5, 4).sin()], ['narrow', (x) => x.narrow(2, 1, 2).square()],
    ['slice with step', (x) => x.slice(2, 0, 4, 3).tanh()], ['select', (x) => x.select(-1, 2).sigmoid()],
    ['flip', (x) => x.flip([0, 2]).mul(tsr.arange(4, { dtype: 'float64' }))], ['squeeze', (x) => x.narrow(0, 0, 1).squeeze(0).cos()],
    ['cat', (x) => tsr.cat([x, x.exp()], 1)], ['stack', (x) => tsr.stack([x, x.square()], 3)],
    ['maskedFill', (x) => x.maskedFill(x.gt(0), 0).mul(x)], ['tril', (x) => x.tril(1).exp()],
  ];
  for (const [name, f] of cases) it(name, () => expect(tsr.gradcheck(f, [x64([2, 3, 4], name.length)])).toBe(true));
});

describe('gradgradcheck: second derivatives', () => {
  it('tanh, sigmoid, mul, matmul, softmax, logSoftmax, layerNorm', () => {
    expect(tsr.gradgradcheck((a) => a.tanh(), [x64([2, 3])])).toBe(true);
    expect(tsr.gradgradcheck((a) => a.sigmoid(), [x64([2, 3], 2)])).toBe(true);
    expect(tsr.gradgradcheck((a, b) => a.mul(b), [x64([2, 3], 3), x64([3], 4)])).toBe(true);
    expect(tsr.gradgradcheck((a, b) => a.matmul(b), [x64([2, 3], 5), x64([3, 2], 6)])).toBe(true);
    expect(tsr.gradgradcheck((a) => a.softmax(1), [x64([2, 3], 7)])).toBe(true);
    expect(tsr.gradgradcheck((a) => a.logSoftmax(1), [x64([2, 3], 8)])).toBe(true);
    expect(tsr.gradgradcheck((a, w, b) => tsr.layerNorm(a, [3], w, b), [x64([2, 3], 9), x64([3], 10), x64([3], 11)])).toBe(true);
  });
  it('through views, reductions and conv2d', () => {
    expect(tsr.gradgradcheck((a) => a.t().exp().sum(0), [x64([2, 3])])).toBe(true);
    expect(tsr.gradgradcheck((a, w) => a.conv2d(w, undefined, { padding: 1 }).square(), [x64([1, 1, 3, 3], 2), x64([1, 1, 2, 2], 3)])).toBe(true);
  });
});
