/** Tape behaviour and the typed errors of the autograd issue. */
import { describe, expect, it } from 'vitest';
import * as tsr from 'tessera';

const leaf = (v: number[], dtype: tsr.DType = 'float64') => tsr.tensor(v, { dtype }).requiresGrad_();

describe('backward and grad', () => {
  it('accumulates into leaves across backward calls and broadcasts back to input shapes', () => {
    const w = leaf([1, 2, 3]);
    const x = tsr.ones([4, 3], { dtype: 'float64' });
    x.mul(w).sum().backward();
    x.mul(w).sum().backward();
    expect(w.grad!.tolistSync()).toEqual([8, 8, 8]);
    expect(x.grad).toBeUndefined();
  });

  it('nanToNum passes the gradient where the input is finite and none where it is NaN or infinite (as torch)', () => {
    const g = leaf([NaN, 2, Infinity, -Infinity]);
    g.nanToNum().mul(3).sum().backward();
    expect(g.grad!.tolistSync()).toEqual([0, 3, 0, 0]);
  });

  it('gradients keep the input dtype through mixed-precision ops', () => {
    const a = leaf([1, 2], 'float32');
    a.double().mul(tsr.tensor([3, 4], { dtype: 'float64' })).sum().backward();
    expect(a.grad!.dtype).toBe('float32');
    expect(a.grad!.tolistSync()).toEqual([3, 4]);
  });

  it('non-scalar outputs take an explicit gradient', () => {
    const a = leaf([1, 2]);
    a.mul(3).backward(tsr.tensor([1, 10], { dtype: 'float64' }));
    expect(a.grad!.tolistSync()).toEqual([3, 30]);
  });

  it('frees its own temporaries during backward, and nothing user code was shown', () => {
    tsr.emptyCache();
    const x = tsr.tensor([0.5, 1, 2, 3], { dtype: 'float64' }).requiresGrad_();
    const h = x.exp().mul(x).relu();
    let hooked: tsr.Tensor | undefined;
    h.registerHook((g) => { hooked = g; });
    // A custom Function whose backward keeps what it makes: the engine must leave it alone.
    let kept: tsr.Tensor | undefined;
    const twice = tsr.defineFunction({ name: 'twice', forward: (_c, a: tsr.Tensor) => a.mul(2), backward: (_c, g) => { kept = g.add(1); return [g.mul(2)]; } });
    twice(h).sum().backward();
    // Intermediate gradients (exp's, mul's, relu's and their masks) went back to the allocator...
    expect(tsr.pooledArrayBytes()).toBeGreaterThan(0);
    // ...while the leaf's gradient, the hook's and the custom backward's tensors are intact.
    const want = [0.5, 1, 2, 3].map((v) => 2 * (Math.exp(v) + v * Math.exp(v)));
    (x.grad!.dataSync() as Float64Array).forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 12));
    expect(hooked!.tolistSync()).toEqual([2, 2, 2, 2]);
    expect(kept!.tolistSync()).toEqual([2, 2, 2, 2]); // the sum's gradient, plus one
    const [gx] = tsr.grad(x.square().sin().sum(), x);
    expect(gx!.isDisposed).toBe(false);
    (gx!.dataSync() as Float64Array).forEach((v, i) => { const u = [0.5, 1, 2, 3][i]!; expect(v).toBeCloseTo(Math.cos(u * u) * 2 * u, 12); });
  });

  it('grad() returns higher derivatives and does not touch .grad', () => {
    const x = leaf([0.5, 1.5]);
    const [d1] = tsr.grad(x.sin().sum(), x, { createGraph: true });
    const [d2] = tsr.grad(d1!.sum(), x, { createGraph: true });
    const [d3] = tsr.grad(d2!.sum(), x);
    expect(d3!.tolistSync()).toEqual([0.5, 1.5].map((v) => -Math.cos(v)));
    expect(x.grad).toBeUndefined();
  });

  it('allowUnused returns undefined for unused inputs', () => {
    const a = leaf([1]), b = leaf([2]);
    expect(tsr.grad(a.mul(2).sum(), [a, b], { allowUnused: true })[1]).toBeUndefined();
    expect(() => tsr.grad(a.mul(2).sum(), [a, b])).toThrow(tsr.ArgumentError);
  });

  it('noGrad, detach, hooks and retainGrad', () => {
    const a = leaf([1, 2]);
    expect(tsr.noGrad(() => a.mul(2)).requiresGrad).toBe(false);
    expect(a.detach().requiresGrad).toBe(false);
    const h = a.mul(2).retainGrad();
    h.registerHook((g) => g.mul(10));
    h.sum().backward();
    // As in PyTorch 2: retained .grad is stored after the tensor's hooks ran.
    expect(h.grad!.tolistSync()).toEqual([10, 10]);
    expect(a.grad!.tolistSync()).toEqual([20, 20]);
  });

  it('custom Function with saved tensors', () => {
    const cube = tsr.defineFunction<[tsr.Tensor]>({
      name: 'cube',
      forward(ctx, x) { ctx.saveForBackward(x); return x.pow(3); },
      backward(ctx, g) { const [x] = ctx.savedTensors; return [g.mul(x!.square()).mul(3)]; },
    });
    const x = leaf([2, 3]);
    cube(x).sum().backward();
    expect(x.grad!.tolistSync()).toEqual([12, 27]);
  });

  it('gradcheck raises GradcheckError, naming the element, on a wrong gradient', () => {
    const wrong = tsr.defineFunction<[tsr.Tensor]>({
      name: 'wrongCube',
      forward(ctx, x) { ctx.saveForBackward(x); return x.pow(3); },
      backward(ctx, g) { const [x] = ctx.savedTensors; return [g.mul(x!.square()).mul(2)]; },
    });
    const x = tsr.tensor([0.5, -1.25], { dtype: 'float64' }).requiresGrad_();
    expect(() => tsr.gradcheck((t) => wrong(t), [x])).toThrow(tsr.GradcheckError);
    expect(() => tsr.gradcheck((t) => wrong(t), [x])).toThrow(/input 0 at output 0, input element 0/);
    expect(tsr.gradcheck((t) => t.pow(3), [x])).toBe(true);
  });

  it('jvp of elementwise and linear maps', () => {
    const x = tsr.tensor([0.3, 1.2], { dtype: 'float64' });
    const [y, t] = tsr.jvp((u) => u.exp().mul(2), [x], [tsr.tensor([1, -1], { dtype: 'float64' })]);
    expect(y.tolistSync()).toEqual([0.3, 1.2].map((v) => 2 * Math.exp(v)));
    expect(t.tolistSync()).toEqual([2 * Math.exp(0.3), -2 * Math.exp(1.2)]);
    const m = tsr.tensor([[1, 2], [3, 4]], { dtype: 'float64' });
    expect(tsr.jvp((u) => m.matmul(u), [x], [tsr.tensor([1, 0], { dtype: 'float64' })])[1].tolistSync()).toEqual([1, 3]);
  });

  it('jvp of a function of no input is zero; wrong tangents are typed errors', () => {
    const x = tsr.tensor([0.3, 1.2]), v = tsr.tensor([1, -1]);
    expect(tsr.jvp(() => tsr.tensor([5, 6, 7]), [x], [v])[1].tolistSync()).toEqual([0, 0, 0]);
    const y = tsr.tensor([2]);
    expect(tsr.jvp((_a, b) => b!.mul(3), [x, y], [v, tsr.tensor([1])])[1].tolistSync()).toEqual([3]);
    expect(tsr.jvp((a) => a.detach().mul(2), [x], [v])[1].tolistSync()).toEqual([0, 0]);
    expect(() => tsr.jvp((a) => a, [x], [])).toThrow(tsr.ArgumentError);
    expect(() => tsr.jvp((a) => a, [x], [tsr.tensor([1, 2, 3])])).toThrow(tsr.ShapeError);
  });

  it('keeps graph values alive when intermediates are disposed (tidy)', () => {
    const a = leaf([1, 2, 3]);
    const y = tsr.tidy(() => a.exp().mul(a).sum());
    y.backward();
    expect(a.grad!.tolistSync()).toEqual([1, 2, 3].map((v) => Math.exp(v) * (1 + v)));
  });

  it('keeps what a gradient rule saved besides its inputs (indices) alive past tidy, and refuses an in-place write to it', () => {
    const x = tsr.arange(12, { dtype: 'float64' }).reshape(3, 4).sin().requiresGrad_();
    const picks = tsr.tensor([[2], [0], [3]], { dtype: 'int64' });
    // Each index below is made inside the scope, so tidy disposes it; the graph must still read it.
    const cases: [string, (t: tsr.Tensor) => tsr.Tensor][] = [
      ['gather (one per row)', (t) => t.gather(1, picks.add(0)).mul(tsr.tensor([[1], [2], [3]], { dtype: 'float64' })).sum()],
      ['gather (several per row)', (t) => t.gather(1, picks.expand(3, 2).add(0)).sum()],
      ['indexSelect', (t) => t.indexSelect(1, tsr.tensor([3, 1, 3], { dtype: 'int64' })).square().sum()],
      ['sort', (t) => t.sort(1)[0].mul(tsr.arange(4, { dtype: 'float64' })).sum()],
      ['maxPool2d', (t) => tsr.nn.functional.maxPool2d(t.reshape(1, 1, 3, 4), 2).sum()],
    ];
    for (const [name, f] of cases) {
      const want = tsr.grad(f(x), [x])[0]!.tolistSync();
      const y = tsr.tidy(() => f(x));
      y.backward();
      expect(x.grad!.tolistSync(), name).toEqual(want);
      x.grad = undefined;
    }
    const index = picks.add(0);
    const y = x.gather(1, index).sum();
    index.fill_(1);
    expect(() => y.backward()).toThrow(/modified by an in-place operation/);
  });

  it('assembles the gradient of narrowed pieces in one buffer: disjoint pieces, overlapping ones, other dims, strided slices', () => {
    const x = tsr.arange(24, { dtype: 'float64' }).reshape(6, 4).requiresGrad_();
    const rows = (g: tsr.Tensor) => (g.tolistSync() as number[][]).map((r) => r[0]);
    const run = (f: (t: tsr.Tensor) => tsr.Tensor) => { x.grad = undefined; f(x).backward(); return x.grad!; };
    // q/k/v-like thirds of dim 0
    expect(rows(run((t) => t.narrow(0, 0, 2).sum().add(t.narrow(0, 2, 2).mul(2).sum()).add(t.narrow(0, 4, 2).mul(3).sum())))).toEqual([1, 1, 2, 2, 3, 3]);
    // overlapping pieces add
    expect(rows(run((t) => t.narrow(0, 0, 4).sum().add(t.narrow(0, 2, 4).mul(2).sum())))).toEqual([1, 1, 3, 3, 2, 2]);
    // pieces along different dims add
    expect(run((t) => t.narrow(0, 0, 3).sum().add(t.narrow(1, 0, 2).mul(2).sum())).tolistSync()).toEqual(
      [0, 1, 2, 3, 4, 5].map((r) => [0, 1, 2, 3].map((c) => (r < 3 ? 1 : 0) + (c < 2 ? 2 : 0))));
    // strided slices and selects
    expect(rows(run((t) => t.slice(0, 0, 6, 2).sum().add(t.slice(0, 1, 6, 2).mul(2).sum()).add(t.select(0, 0).mul(4).sum())))).toEqual([5, 2, 1, 2, 1, 2]);
    // the pieces' own gradient tensors are left as they were
    const a = tsr.ones([4], { dtype: 'float64', requiresGrad: true });
    const [ga] = tsr.grad([a.narrow(0, 0, 2).sum().add(a.narrow(0, 2, 2).mul(5).sum())], [a]);
    expect(ga!.tolistSync()).toEqual([1, 1, 5, 5]);
    // and a second-order gradient through them still works
    const [g1] = tsr.grad([a.narrow(0, 0, 2).square().sum().add(a.narrow(0, 2, 2).pow(3).sum())], [a], { createGraph: true });
    const [g2] = tsr.grad([g1!.sum()], [a]);
    expect(g2!.tolistSync()).toEqual([2, 2, 6, 6]);
  });

  it('differentiates split, chunk and unbind: the pieces\' gradients land where the pieces came from', () => {
    const w = tsr.arange(12, { dtype: 'float64' }).reshape(4, 3).requiresGrad_();
    const [a, b, c] = w.chunk(3, 1);
    a!.sum().add(b!.mul(2).sum()).add(c!.mul(3).sum()).backward();
    expect(w.grad!.tolistSync()).toEqual([[1, 2, 3], [1, 2, 3], [1, 2, 3], [1, 2, 3]]);
    w.grad = undefined;
    const rows = w.unbind(0);
    rows[0]!.sum().add(rows[3]!.mul(-1).sum()).backward();
    expect(w.grad!.tolistSync()).toEqual([[1, 1, 1], [0, 0, 0], [0, 0, 0], [-1, -1, -1]]);
  });

  it('folds a batch of matrices times one matrix into rows: one product each way, no batched weight gradient to sum', () => {
    const x = tsr.randn([3, 5, 4], { dtype: 'float64', requiresGrad: true }), w = tsr.randn([4, 2], { dtype: 'float64', requiresGrad: true });
    const v = tsr.randn([4], { dtype: 'float64', requiresGrad: true });
    const fwd = tsr.profile(() => x.matmul(w));
    expect(fwd.result.shape).toEqual([3, 5, 2]);
    expect(fwd.kernels).toEqual({ matmul: 1 });
    const bwd = tsr.profile(() => fwd.result.sum().backward());
    expect(bwd.kernels['matmul']).toBe(2);
    expect(bwd.kernels['sum'] ?? 0).toBeLessThanOrEqual(1); // the loss's own sum; none for w's gradient
    // Against the unfolded product, matrix by matrix.
    const xs = x.detach(), ws = w.detach();
    for (let b = 0; b < 3; b++) {
      const want = xs.select(0, b).matmul(ws).tolistSync() as number[][];
      (fwd.result.select(0, b).tolistSync() as number[][]).forEach((row, i) => row.forEach((y, j) => expect(y).toBeCloseTo(want[i]![j]!, 12)));
    }
    const gw = xs.reshape(15, 4).sum(0).tolistSync() as number[];
    (w.grad!.tolistSync() as number[][]).forEach((row, i) => row.forEach((g) => expect(g).toBeCloseTo(gw[i]!, 12)));
    expect(x.matmul(v).shape).toEqual([3, 5]); // a vector on the right folds too
  });
});

describe('autograd errors', () => {
  it('backward twice without retainGraph', () => {
    const a = leaf([1, 2]);
    const y = a.exp().sum();
    y.backward();
    expect(() => y.backward()).toThrow(/second time/);
    const z = a.exp().sum();
    z.backward(undefined, { retainGraph: true });
    expect(() => z.backward()).not.toThrow();
  });

  it('backward of a tensor that does not require grad, and grad w.r.t. one', () => {
    expect(() => tsr.ones(2).sum().backward()).toThrow(/does not require grad/);
    const a = leaf([1]);
    expect(() => tsr.grad(a.mul(2).sum(), [tsr.ones(1)])).toThrow(tsr.ArgumentError);
  });

  it('mismatched or missing gradient for a non-scalar output', () => {
    const y = leaf([1, 2]).mul(2);
    expect(() => y.backward()).toThrow(tsr.ShapeError);
    expect(() => y.backward(tsr.ones(3, { dtype: 'float64' }))).toThrow(/shape \[3\].*\[2\]/);
  });

  it('in-place ops on graph tensors and stale saved values are refused', () => {
    const a = leaf([1, 2]);
    expect(() => a.add_(1)).toThrow(/in-place/);
    const b = tsr.tensor([1, 2], { dtype: 'float64' });
    const y = a.mul(b).sum();
    tsr.noGrad(() => b.add_(1));
    expect(() => y.backward()).toThrow(/modified by an in-place operation/);
  });

  it('only floating leaves can require grad', () => {
    expect(() => tsr.ones([2], { dtype: 'int32' }).requiresGrad_()).toThrow(/floating/);
  });
});
