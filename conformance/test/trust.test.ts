/**
 * The Trust issue's silent wrong results that depend on the backend, run on every backend that loads:
 * each must give PyTorch's answer (values checked against torch 1.13's, written here) or raise a
 * typed error, and the same on every backend.
 */
import { describe, expect, it } from 'vitest';
import * as tsr from 'tessera';
import { forEachBackend, logical } from '../src/index.js';

/** Not-run backends are reported by the spec suites' matrix; this file only runs where a backend loads. */
const NO_MATRIX = { record: () => undefined };

const values = async (t: tsr.Tensor): Promise<number[]> => Array.from(await logical(t));

/** Raises a typed error, at the call or (asynchronous devices) at the next read of the result. */
async function refuses(fn: () => tsr.Tensor | Promise<unknown>, type: new (...a: never[]) => Error = tsr.TesseraError): Promise<void> {
  let err: unknown;
  try {
    const r = fn();
    if (r instanceof tsr.Tensor) await r.data();
    else await r;
  } catch (e) { err = e; }
  expect(err, 'expected a typed error').toBeInstanceOf(type);
}

await forEachBackend(NO_MATRIX, [], '*', (c, device) => {
  const gpujs = c.device === 'gpujs';
  describe(`${c.name}: trust`, () => {
    it('reads an input that overlaps the output as it was before the write', async () => {
      const x = tsr.arange(4, { dtype: 'float32', device });
      x.add_(x.flip(0));
      expect(await values(x)).toEqual([3, 3, 3, 3]);
      const m = tsr.arange(64 * 64, { dtype: 'float32', device }).reshape(64, 64);
      const want = await values(m.t().contiguous());
      m.copy_(m.t());
      expect(await values(m)).toEqual(want);
      const y = tsr.arange(5, { dtype: 'float32', device });
      y.slice(0, 1).add_(y.slice(0, 0, 4));
      expect(await values(y)).toEqual([0, 1, 3, 5, 7]);
    });

    it('refuses to write a tensor whose elements share memory, except a fill', async () => {
      await refuses(() => tsr.zeros([1, 3], { device }).expand(4, 3).add_(1), tsr.ArgumentError);
      await refuses(() => tsr.zeros([1, 3], { device }).expand(4, 3).copy_(tsr.ones([4, 3], { device })), tsr.ArgumentError);
      const z = tsr.zeros([1, 3], { device });
      z.expand(4, 3).fill_(2);
      expect(await values(z)).toEqual([2, 2, 2]);
    });

    it('refuses negative indices in gather, indexSelect, embedding and scatterAdd, and negative loss targets', async () => {
      const x = tsr.arange(6, { dtype: 'float32', device }).reshape(2, 3);
      const neg = tsr.tensor([[-1]], { dtype: 'int64', device });
      await refuses(() => x.gather(1, neg), tsr.IndexError);
      await refuses(() => x.indexSelect(0, tsr.tensor([-1], { dtype: 'int64', device })), tsr.IndexError);
      await refuses(() => tsr.embedding(tsr.tensor([-1], { dtype: 'int64', device }), x), tsr.IndexError);
      if (!gpujs) await refuses(() => x.scatterAdd(1, neg, tsr.ones([1, 1], { device })), tsr.IndexError);
      await refuses(() => tsr.nn.crossEntropy(tsr.randn([1, 3], { device }), tsr.tensor([-1], { dtype: 'int64', device })), tsr.IndexError);
      // ignoreIndex (-100 by default) is not an index: it still works.
      expect(Number.isNaN((await values(tsr.nn.crossEntropy(tsr.randn([1, 3], { device }), tsr.tensor([-100], { dtype: 'int64', device }))))[0])).toBe(true);
    });

    it('scatterAdd adds only what its index reaches when the index is smaller than src (a broadcast index too)', async () => {
      // torch 1.13: torch.zeros(4, 8).scatter_add(0, torch.tensor([1, 2, 0, 3, 1]).reshape(5, 1).expand(5, 3), torch.ones(5, 8))
      const narrow = tsr.tensor([1n, 2n, 0n, 3n, 1n]).to(device).reshape(5, 1).expand(5, 3);
      const row = (v: number) => [v, v, v, 0, 0, 0, 0, 0];
      expect(await values(tsr.zeros([4, 8], { device }).scatterAdd(0, narrow, tsr.ones([5, 8], { device })))).toEqual([...row(1), ...row(2), ...row(1), ...row(1)]);
      // ... and index rows fewer than src's: the rows past the index are not added.
      const short = tsr.tensor([1n, 2n]).to(device).reshape(2, 1).expand(2, 8);
      expect(await values(tsr.zeros([4, 8], { device }).scatterAdd(0, short, tsr.ones([5, 8], { device })))).toEqual([...Array(8).fill(0), ...Array(8).fill(1), ...Array(8).fill(1), ...Array(8).fill(0)]);
    });

    it('refuses integer division by zero and negative integer scalar powers', async () => {
      const i = tsr.tensor([5, 3], { dtype: 'int32', device });
      await refuses(() => i.fmod(0), tsr.ArgumentError);
      await refuses(() => i.remainder(tsr.tensor([1, 0], { dtype: 'int32', device })), tsr.ArgumentError);
      await refuses(() => i.pow(-1), tsr.ArgumentError);
      // A tensor exponent follows C, as torch: 2^-1 is 0 in integers.
      expect(await values(i.pow(tsr.tensor([-1, 2], { dtype: 'int32', device })))).toEqual([0, 9]);
    });

    it('pow(1, y) and pow(-1, +-inf) are 1 (C99, PyTorch)', async () => {
      const base = tsr.tensor([1, 1, 1, -1, -1], { device });
      expect(await values(base.pow(tsr.tensor([NaN, Infinity, -Infinity, Infinity, -Infinity], { device })))).toEqual([1, 1, 1, 1, 1]);
    });

    it('logsumexp over an empty dim is -inf', async () => {
      expect(await values(tsr.zeros([3, 0], { device }).logsumexp(1))).toEqual([-Infinity, -Infinity, -Infinity]);
    });

    it('softmax and logSoftmax of a row holding +inf are NaN everywhere', async () => {
      const x = tsr.tensor([[Infinity, 1, 2], [0, 1, 2]], { device });
      for (const y of [x.softmax(1), x.logSoftmax(1)]) {
        const v = await values(y);
        expect(v.slice(0, 3).every(Number.isNaN), `${v}`).toBe(true);
        expect(v.slice(3).every(Number.isFinite)).toBe(true);
      }
    });

    it('log1p and expm1 do not overflow in an intermediate', async () => {
      const [a] = await values(tsr.tensor([1e38], { device }).log1p());
      const [b] = await values(tsr.tensor([88], { device }).expm1());
      expect(a).toBeCloseTo(87.49823, 4);
      expect(b! / 1.6516362549940018e38).toBeCloseTo(1, 5);
    });

    it('round and division keep the sign of zero', async () => {
      const [r] = await values(tsr.tensor([-0.4], { device }).round());
      const [d] = await values(tsr.tensor([-1], { device }).div(Infinity));
      expect(Object.is(r, -0)).toBe(true);
      expect(Object.is(d, -0)).toBe(true);
    });

    it('cat after cat keeps every value', async () => {
      const a = tsr.cat([tsr.tensor([1, 2], { device }), tsr.tensor([3], { device })]);
      const b = tsr.cat([a, tsr.tensor([4, 5], { device })]);
      expect(await values(b)).toEqual([1, 2, 3, 4, 5]);
    });

    it('conv2d over zero input channels is the bias (no kernel sees the empty operands)', async () => {
      const y = tsr.randn([3, 1, 0, 5, 7], { device }).select(0, 2).conv2d(tsr.randn([6, 0, 3, 3], { device }), tsr.arange(6, { dtype: 'float32', device }));
      expect(y.shape).toEqual([1, 6, 3, 5]);
      const v = await values(y);
      expect([0, 1, 2, 3, 4, 5].map((c) => v[c * 15])).toEqual([0, 1, 2, 3, 4, 5]);
    });

    it("avgPool2d's gradient with ceilMode where the extra window appears (as torch)", async () => {
      const x = tsr.ones([1, 1, 5, 5], { device }).requiresGrad_();
      x.avgPool2d({ kernelSize: 2, stride: 2, ceilMode: true }).sum().backward();
      const row = [0.25, 0.25, 0.25, 0.25, 0.5];
      expect(await values(x.grad!)).toEqual([...row, ...row, ...row, ...row, 0.5, 0.5, 0.5, 0.5, 1]);
    });

    it('oneHot checks its classes (on the device where reads are asynchronous) and refuses an out-of-range one', async () => {
      const classes = tsr.tensor([2, 0, 1], { dtype: 'int64', device });
      expect(await values(tsr.nn.functional.oneHot(classes, 4))).toEqual([0, 0, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0]);
      await refuses(() => tsr.nn.functional.oneHot(tsr.tensor([1, 4], { dtype: 'int64', device }), 4), tsr.ArgumentError);
      await refuses(() => tsr.nn.functional.oneHot(tsr.tensor([-1, 0], { dtype: 'int64', device }), 4), tsr.ArgumentError);
      expect(await values(tsr.nn.functional.oneHot(classes, 3))).toEqual([0, 0, 1, 1, 0, 0, 0, 1, 0]);
    });
  });
});
