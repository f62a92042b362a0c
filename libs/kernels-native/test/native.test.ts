/** The native backend agrees with the pure-JS one on large inputs (where it takes over), strided too. */
import { describe, expect, it } from 'vitest';
import * as tsr from '@tessera/tensor';
import { ELEMENTWISE, ir, pool2dShape } from '@tessera/ops';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAddonModule } from '../src/backend.js';
import { NATIVE_MIN_ELEMENTS, createNativeBackend } from '../src/index.js';

const native = createNativeBackend();

// Skipped (reported as skipped) only where the addon is not built: setup builds it wherever cargo exists, as in CI.
describe.skipIf(typeof native === 'string')('native backend', () => {
  const onBackend = <T>(b: tsr.Backend, fn: () => T): T => { tsr.registerBackend(b); try { return fn(); } finally { tsr.registerBackend(tsr.jsBackend); } };
  const both = (fn: () => tsr.Tensor) => [onBackend(tsr.jsBackend, fn), onBackend(native as tsr.Backend, fn)] as const;
  /** Native kernels compute in float32 (as PyTorch); the JS ones in float64 rounded once: a few ulps apart. */
  const maxRelDiff = (a: tsr.Tensor, b: tsr.Tensor) => {
    const x = a.dataSync() as Float32Array, y = b.dataSync() as Float32Array;
    return x.reduce((m, v, i) => Math.max(m, v === y[i] ? 0 : Math.abs(v - y[i]!) / Math.max(Math.abs(v), 1e-30)), 0);
  };

  it('softmax, logSoftmax and layerNorm over rows match the JS kernels (NaN and -inf rows included)', () => {
    const [js, nat] = both(() => {
      tsr.manualSeed(4);
      const x = tsr.randn([300, 257]).mul(20);
      x.narrow(0, 0, 1).fill_(-Infinity);
      x.narrow(0, 1, 1).narrow(1, 5, 1).fill_(NaN);
      const w = tsr.randn([257]), b = tsr.randn([257]);
      return tsr.cat([x.softmax(-1).flatten(), x.logSoftmax(-1).flatten(), tsr.layerNorm(x.narrow(0, 2, 298), [257], w, b).flatten(), tsr.layerNorm(x.narrow(0, 2, 298), [257]).flatten()]);
    });
    const a = js.dataSync() as Float32Array, c = nat.dataSync() as Float32Array;
    expect(Array.from(c, Number.isNaN)).toEqual(Array.from(a, Number.isNaN));
    // NaN rows agree (above); the rest within float32 rounding. maxRelDiff treats NaN === NaN as different, so compare them out.
    const finite = (t: tsr.Tensor) => tsr.where(t.isnan(), 0, t);
    expect(maxRelDiff(finite(js), finite(nat))).toBeLessThanOrEqual(2.5e-7);
    // Causal-mask rows (-inf entries, whose results are exact zeros) that also hold subnormal results:
    // the zeros skip the subnormal recompute, the subnormals still take it.
    const [jm, nm] = both(() => {
      const m = tsr.full([64, 70], -95);
      m.narrow(1, 0, 1).fill_(0);
      return m.maskedFill(tsr.ones([64, 70]).triu(2).bool(), -Infinity).softmax(-1);
    });
    const want = jm.dataSync() as Float32Array, got = nm.dataSync() as Float32Array;
    expect(want.some((v) => v > 0 && v < 1.1754944e-38)).toBe(true);
    expect(Array.from(got)).toEqual(Array.from(want));
  });

  // Max pooling's backward is a scatterAdd of the gradient along the last dim by these indices.
  it('pools (max, avg) and scatter-adds rows like the JS kernels, and rejects a bad index', () => {
    for (const opt of [{ kernelSize: 2 }, { kernelSize: 3, stride: 2, padding: 1, ceilMode: true }, { kernelSize: 3, padding: 1, countIncludePad: false }]) {
      const [js, nat] = both(() => {
        tsr.manualSeed(2);
        const x = tsr.randn([3, 4, 9, 7]);
        return tsr.cat([x.maxPool2d(opt).flatten(), x.avgPool2d(opt).flatten()]);
      });
      expect(maxRelDiff(js, nat), JSON.stringify(opt)).toBeLessThanOrEqual(2.5e-7);
    }
    const [js, nat] = both(() => {
      tsr.manualSeed(3);
      const out = tsr.zeros([5, 6]), src = tsr.randn([5, 4]);
      return out.scatterAdd(1, tsr.randint(0, 6, [5, 4]), src);
    });
    expect(maxRelDiff(js, nat)).toBeLessThanOrEqual(2.5e-7);
    expect(() => onBackend(native as tsr.Backend, () => tsr.zeros([2, 3]).scatterAdd(1, tsr.tensor([[0, 3], [1, 1]], { dtype: 'int64' }), tsr.ones([2, 2])))).toThrow(tsr.IndexError);
    // Negative indices are out of range too, as PyTorch (not counted from the end).
    expect(() => onBackend(native as tsr.Backend, () => tsr.zeros([2, 3]).scatterAdd(1, tsr.tensor([[0, -1], [1, 1]], { dtype: 'int64' }), tsr.ones([2, 2])))).toThrow(tsr.IndexError);
    // Max pooling's fused gradient refuses an index outside its plane (an error, not a stray write).
    const plan = pool2dShape('maxPool2d', [1, 2, 2, 2], { kernelSize: 2 });
    const gx = tsr.empty([1, 2, 2, 2]), bad = tsr.tensor([0, 4], { dtype: 'int64' });
    expect(() => (native as tsr.Backend).routines.maxPool2dBackward!(gx, tsr.ones([1, 2, 1, 1]), bad, plan)).toThrow(/index 4 is outside a plane of 4 elements/);
  });

  // An embedding's forward picks rows (indexSelect along dim 0); its backward adds them back
  // (scatterAdd along dim 0, one index per row broadcast along it).
  it('picks rows by int32 and int64 indices and adds them back like the JS kernels (repeats add up), and rejects a bad index with nothing written', () => {
    for (const dtype of ['int64', 'int32'] as const) {
      const [js, nat] = both(() => {
        tsr.manualSeed(4);
        const w = tsr.randn([65, 24]), ids = tsr.randint(0, 65, [280]);
        const picked = w.indexSelect(0, ids.to(dtype));
        const added = tsr.zeros([65, 24]).scatterAdd(0, ids.reshape(280, 1).expand(280, 24), tsr.randn([280, 24]));
        return tsr.cat([picked.flatten(), added.flatten()]);
      });
      expect(maxRelDiff(js, nat), dtype).toBe(0);
    }
    // Any dtype's rows: int64 and bool tables.
    for (const table of [tsr.arange(0, 30).reshape(10, 3), tsr.arange(0, 30).reshape(10, 3).gt(14)]) {
      const [js, nat] = both(() => table.indexSelect(0, tsr.tensor([9, 0, 9, 4], { dtype: 'int64' })));
      expect(nat.tolistSync()).toEqual(js.tolistSync());
    }
    const view = (buffer: Float32Array | BigInt64Array, shape: number[], strides: number[]) => ({ buffer, dtype: buffer instanceof Float32Array ? 'float32' as const : 'int64' as const, shape, strides, offset: 0 });
    for (const bad of [65n, -1n]) {
      expect(() => onBackend(native as tsr.Backend, () => tsr.randn([65, 8]).indexSelect(0, tsr.tensor([3n, bad])))).toThrow(tsr.IndexError);
      const out = new Float32Array(65 * 8);
      const scatter = () => (native as tsr.Backend).routines.scatterAdd!(view(out, [65, 8], [8, 1]), view(BigInt64Array.of(3n, bad), [2, 8], [1, 0]), view(new Float32Array(16).fill(1), [2, 8], [8, 1]), 0);
      expect(scatter).toThrow(tsr.IndexError);
      expect(out.every((v) => v === 0), 'nothing written').toBe(true);
    }
  });

  // Cross-entropy picks each row's target logit: a gather along the last dim.
  it('gathers along the last dim like the JS kernel, any dtype, and names a bad index', () => {
    for (const x of [tsr.randn([50, 65]), tsr.arange(0, 60).reshape(3, 4, 5), tsr.arange(0, 60).reshape(3, 4, 5).gt(30)]) {
      const last = x.ndim - 1, index = tsr.randint(0, x.shape[last]!, [...x.shape.slice(0, -1), 3]);
      const [js, nat] = both(() => x.gather(last, index));
      expect(nat.tolistSync()).toEqual(js.tolistSync());
    }
    expect(() => onBackend(native as tsr.Backend, () => tsr.randn([2, 3]).gather(1, tsr.tensor([[0n], [3n]])))).toThrow(/gather: index 3 is out of bounds for dim 1 with size 3/);
  });

  // compile's horizontal groups (an optimizer's update of every parameter in one launch): large
  // enough that the launches run as tasks across threads.
  it('runs a group of launches across threads as the JS kernels run them, and refuses a bad launch before any runs', () => {
    const b = native as tsr.Backend & { elementwiseGroup(k: tsr.ElementwiseKernel, ls: tsr.ElementwiseLaunch[]): void };
    const x = ir.input(0, 'float32');
    const k: tsr.ElementwiseKernel = { id: 'fused:native-test-group', expr: ir.add(ir.mul(ir.tanh(x), ir.param('p0', 'float32')), ir.exp(ir.neg(ir.mul(x, x)))), inputs: ['float32'], out: 'float32', params: ['p0'] };
    const sizes = [70_000, 3, 40_000, 1_000, 90_000, 17];
    const view = (buffer: Float32Array) => ({ buffer, dtype: 'float32' as const, shape: [buffer.length], strides: [1], offset: 0 });
    const launches = (outs: Float32Array[]) => sizes.map((n, i) => ({ shape: [n], inputs: [view(Float32Array.from({ length: n }, (_, j) => Math.sin(i + j)))], out: view(outs[i]!), params: [i / 2] }));
    const got = sizes.map((n) => new Float32Array(n)), want = sizes.map((n) => new Float32Array(n));
    b.elementwiseGroup(k, launches(got));
    for (const l of launches(want)) tsr.jsBackend.elementwise(k, l);
    got.forEach((g, i) => expect(Math.max(...g.map((v, j) => Math.abs(v - want[i]![j]!))), `launch ${i}`).toBeLessThanOrEqual(1e-6));
    // One launch's output is shorter than its shape: refused, and no launch has written. The fourth
    // is small enough for the JS kernels (checked in JS), the third goes to the addon (checked there).
    for (const bad of [3, 2]) {
      const outs = sizes.map((n, i) => new Float32Array(i === bad ? n - 1 : n));
      expect(() => b.elementwiseGroup(k, launches(outs)), `launch ${bad}`).toThrow(/outside its buffer/);
      expect(outs.every((o) => o.every((v) => v === 0)), `nothing written (launch ${bad} bad)`).toBe(true);
    }
  });

  it('elementwise ops match the JS backend above the native threshold, contiguous and strided', () => {
    const n = NATIVE_MIN_ELEMENTS * 2;
    for (const op of ['add', 'mul', 'maximum', 'atan2', 'lt', 'where'] as const) {
      const [js, nat] = both(() => {
        tsr.manualSeed(1);
        const a = tsr.randn([2, n]), b = tsr.randn([n]);
        const t = a.t().contiguous().t();
        return op === 'where' ? tsr.where(a.gt(0), t, b.mul(2)) : tsr.elementwise(ELEMENTWISE[op]!, [t, b]);
      });
      expect(nat.dtype).toBe(js.dtype);
      expect(maxRelDiff(js, nat), op).toBeLessThanOrEqual(2.5e-7);
    }
    const [e1, e2] = both(() => { tsr.manualSeed(2); return tsr.randn([n]).mul(3).exp().sigmoid().gelu().add(1.5); });
    expect(maxRelDiff(e1, e2)).toBeLessThan(2e-6);
  });

  it('every instruction set the CPU has computes the same bits, for every elementwise spec (special values included)', () => {
    const levels = ['baseline', 'avx2', 'avx512'];
    const probe = (isa?: string) => JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'isa-probe.ts')], {
      encoding: 'utf8', cwd: join(import.meta.dirname, '../../..'), env: { ...process.env, TESSERA_NATIVE_ISA: isa ?? '' },
    })) as { isa: string; digests: Record<string, string> };
    const best = probe();
    const lower = levels.slice(0, Math.max(0, levels.indexOf(best.isa))).map(probe);
    // On x86-64 at least the baseline runs beside the best; on aarch64 (NEON) there is one version.
    if (best.isa !== 'neon') expect(lower.map((r) => r.isa)).toEqual(levels.slice(0, levels.indexOf(best.isa)));
    expect(Object.keys(best.digests).length).toBeGreaterThan(100);
    for (const r of lower) expect(r.digests, `${r.isa} vs ${best.isa}`).toEqual(best.digests);
  });

  it('runs a worker thread\'s parallel kernels while the main thread waits, with the main thread in the pool or not', () => {
    // The main thread joins the pool only where the pool has other threads (rust join_thread_pool);
    // with RAYON_NUM_THREADS=1 it must not, or the worker's kernels would wait on it forever.
    for (const threads of ['', '1']) {
      const out = execFileSync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'pool-probe.ts')], {
        encoding: 'utf8', cwd: join(import.meta.dirname, '../../..'), timeout: 60_000, env: { ...process.env, RAYON_NUM_THREADS: threads },
      });
      expect(JSON.parse(out), `RAYON_NUM_THREADS=${threads}`).toEqual({ product: 512 * 512 * 512 * 0.25, sum: 6 * (1 << 21) });
    }
  }, 120_000);

  it('matmul (batched, transposed) matches within float32 accumulation differences', () => {
    const [js, nat] = both(() => { tsr.manualSeed(3); return tsr.randn([3, 40, 70]).matmul(tsr.randn([90, 70]).t()); });
    const d = js.sub(nat).abs().amax().itemSync() as number;
    expect(d).toBeLessThan(1e-4);
    // Many small products (attention's heads: 64 of 64 x 64 by 16), which run as tasks across threads.
    const [jh, nh] = both(() => { tsr.manualSeed(4); return tsr.randn([4, 16, 64, 16]).matmul(tsr.randn([4, 16, 64, 16]).transpose(-1, -2)); });
    expect(jh.sub(nh).abs().amax().itemSync() as number).toBeLessThan(1e-4);
  });

  it('rejects a view outside its buffer instead of reading out of bounds', () => {
    // A tensor keeps the backend it was created on, so build it on the native one.
    expect(() => onBackend(native as tsr.Backend, () => {
      const x = tsr.randn([NATIVE_MIN_ELEMENTS * 2]);
      const bad = new tsr.Tensor(x.storage, [NATIVE_MIN_ELEMENTS * 4], [1], 0);
      return bad.add(bad);
    })).toThrow(/outside its buffer/);
  });

  it('rejects a kernel launch with the wrong scalar params or inputs, or a malformed launch block (errors, not aborts)', () => {
    type Launch = (...args: unknown[]) => void;
    const addon = loadAddonModule() as { elementwise: Launch; reduce: Launch };
    const ids = JSON.parse(readFileSync(new URL('../src/catalog.json', import.meta.url), 'utf8')) as { elementwise: Record<string, number>; reduce: Record<string, number> };
    const buf = new Float32Array(16);
    // add(a, b) reads its alpha param: without it the kernel would index past the params.
    const add = (launch: number[], ...ins: (Float32Array | undefined)[]) => addon.elementwise(ids.elementwise['add:|float32|float32'], Float64Array.from(launch), launch.length, buf, ...ins);
    const ok = [1, 0, 0, 0, 4, 1, 1, 1];
    expect(() => add(ok, buf, buf)).toThrow(/takes 1 scalar params, got 0/);
    expect(() => add([...ok, 1], buf, buf)).not.toThrow();
    // A missing input would be a null pointer in the kernel.
    expect(() => add([1, 0, 0, 4, 1, 1, 1], buf)).toThrow(/takes 2 inputs/);
    expect(() => add([1, 0, 0, 0, 4, 1, 1.5, 1, 1], buf, buf)).toThrow(/non-integer/);
    expect(() => add([1, 0, 0, 0, 4], buf, buf)).toThrow(/too short/);
    // An int32 kernel's bounds come from its own element size, whatever array it is handed.
    expect(() => add([1, 0, 0, 0, 17, 1, 1, 1, 1], buf, buf)).toThrow(/outside its buffer/);
    const sum = ids.reduce['sum:float32>float32']!;
    expect(() => addon.reduce(sum, Float64Array.of(1, 1, 0, 0, 4, 2, 1, 4, 1, 0, 3), 11, buf, buf)).toThrow(/takes 0 scalar params, got 1/);
    // A routine handed too few offsets is an error (indexing past them would abort the process).
    const conv = (loadAddonModule() as { conv2d: Launch }).conv2d;
    const bytes = new Uint8Array(64), plan = Float64Array.of(1, 1, 2, 2, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 2, 2);
    expect(() => conv('float32', bytes, bytes, undefined, bytes, plan, Float64Array.of(0, 0, 0))).toThrow(/conv2d: offsets must have 4 entries, got 3/);
    // The block's used length may not exceed it (the JS side reuses one block and says how much is filled).
    expect(() => addon.reduce(sum, Float64Array.of(1, 1, 0, 0, 4, 2, 1, 4, 1, 0), 11, buf, buf)).toThrow(/launch block of 10 values, 11 said used/);
  });

  it('sums over a leading dim (tiles of columns) and along rows (vector lanes) within float32 rounding of float64', () => {
    // The two traversals order a sum's additions differently from each other and from the JS kernel;
    // each must stay within what 700 float32 additions of values ~1e3 can err: ~700 * 2^-24 * 3e3.
    const x = onBackend(native as tsr.Backend, () => { tsr.manualSeed(5); return tsr.randn([700, 300]).mul(1e3); });
    onBackend(native as tsr.Backend, () => {
      const exact = x.to('float64').sum(0).to('float32');
      for (const got of [x.sum(0), x.t().contiguous().sum(1), x.t().contiguous().sum(-1, { keepdim: true }).flatten()]) {
        expect(got.sub(exact).abs().amax().itemSync() as number).toBeLessThan(0.2);
      }
      // Exact reductions (max) agree bit for bit whatever the traversal, NaN included.
      x.narrow(0, 3, 1).narrow(1, 7, 1).fill_(NaN);
      const [byColumns, byRows] = [x.amax(0), x.t().contiguous().amax(1)];
      expect(Array.from(byColumns.dataSync() as Float32Array)).toEqual(Array.from(byRows.dataSync() as Float32Array));
      expect(Number.isNaN((byColumns.dataSync() as Float32Array)[7])).toBe(true);
    });
  });

  it('splits a full reduction of a long tensor into pieces across threads, as accurate and exact as one pass', () => {
    onBackend(native as tsr.Backend, () => {
      tsr.manualSeed(6);
      const n = (1 << 21) + 12_345; // 32 pieces and a ragged last one
      const x = tsr.randn([n]).add(0.5);
      const exact = (x.to('float64').sum().itemSync() as number);
      // Blocked lanes err like ~n / (16 * 256) additions of the running total.
      expect(Math.abs((x.sum().itemSync() as number) - exact)).toBeLessThan(Math.abs(exact) * 1e-6);
      expect(x.mean().itemSync() as number).toBeCloseTo(exact / n, 6);
      // max is exact whatever the split; a NaN in the last piece reaches the result.
      const m = x.amax().itemSync() as number;
      expect(m).toBe((x.dataSync() as Float32Array).reduce((a, v) => (v > a ? v : a), -Infinity));
      x.narrow(0, n - 3, 1).fill_(NaN);
      expect(Number.isNaN(x.amax().itemSync() as number)).toBe(true);
      expect(Number.isNaN(x.sum().itemSync() as number)).toBe(true);
    });
  });
});
