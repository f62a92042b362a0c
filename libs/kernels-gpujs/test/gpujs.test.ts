/**
 * The gpu.js backend's own contract (op-by-op conformance is in conformance/): every mode that can run
 * here computes the same results, the mode is reported and never changed silently, float64/float16 and
 * integers past float32's exact range are refused with DTypeErrors, partial writes through views
 * leave the rest of the buffer alone, and out-of-range indices raise IndexError.
 */
import { describe, expect, it } from 'vitest';
import * as tsr from 'tessera';
import { type GpuJsBackend, MODES, type Mode, initGpuJs } from '@tessera/kernels-gpujs';

// A mode is skipped (with the reason) only where this machine lacks it: headlessgl needs the `gl`
// build and an X server (Xvfb), webgpu a Vulkan adapter. With gpujs in TESSERA_REQUIRE_BACKENDS, as
// CI sets it, a missing headlessgl mode fails here instead.
const opened = new Map<Mode, GpuJsBackend | string>();
for (const mode of MODES) opened.set(mode, await initGpuJs({ mode }).catch((e: Error) => e.message));
const glWhy = opened.get('headlessgl');
if (typeof glWhy === 'string' && (process.env['TESSERA_REQUIRE_BACKENDS'] ?? '').split(',').includes('gpujs')) throw new Error(`gpujs (headlessgl) is required: ${glWhy}`);

/** Makes `mode` the backend of device 'gpujs' for one test. */
async function on<T>(mode: Mode, body: () => Promise<T>): Promise<T> {
  const b = opened.get(mode) as GpuJsBackend;
  tsr.registerBackend(b);
  return body();
}

for (const mode of MODES) {
  const why = opened.get(mode);
  describe.skipIf(typeof why === 'string')(`gpujs ${mode}${typeof why === 'string' ? ` (not here: ${why})` : ''}`, () => {
    const device = 'gpujs' as const;

    it('reports the mode it runs in', () => {
      const b = opened.get(mode) as GpuJsBackend;
      expect(b.mode).toBe(mode);
      expect(b.runtime.description.startsWith(mode)).toBe(true);
    });

    it('computes elementwise ops, reductions and matmul like the CPU backend', () => on(mode, async () => {
      tsr.manualSeed(5);
      const a = tsr.randn([5, 7]), b = tsr.randn([7, 3]);
      const ga = a.to(device), gb = b.to(device);
      const close = async (got: tsr.Tensor, want: tsr.Tensor) => {
        const g = await got.data(), w = want.dataSync();
        expect(g.length).toBe(w.length);
        w.forEach((v, i) => expect(Math.abs(Number(g[i]) - Number(v))).toBeLessThan(1e-4 * (1 + Math.abs(Number(v)))));
      };
      await close(ga.sigmoid().mul(ga.t().t()).add(1), a.sigmoid().mul(a).add(1));
      await close(ga.sum(1), a.sum(1));
      await close(ga.amax(0), a.amax(0));
      await close(ga.matmul(gb), a.matmul(b));
      await close(ga.softmax(1), a.softmax(1));
      await close(ga.cumsum(1), a.cumsum(1));
      expect(await ga.argmax(1).tolist()).toEqual(await a.argmax(1).tolist());
    }));

    it('computes the softmax and layerNorm gradients like the CPU backend', () => on(mode, async () => {
      tsr.manualSeed(6);
      const x = tsr.randn([4, 6]), g = tsr.randn([4, 6]), w = tsr.randn([6]), b = tsr.randn([6]);
      const grads = (device: tsr.DeviceKind) => {
        const xs = [0, 1, 2].map(() => x.to(device).detach().requiresGrad_());
        const ws = w.to(device).requiresGrad_(), bs = b.to(device).requiresGrad_();
        xs[0]!.softmax(1).backward(g.to(device));
        xs[1]!.logSoftmax(0).backward(g.to(device));
        tsr.layerNorm(xs[2]!, [6], ws, bs).backward(g.to(device));
        return [...xs.map((t) => t.grad!), ws.grad!, bs.grad!];
      };
      const want = grads('cpu'), got = grads(device);
      for (let i = 0; i < want.length; i++) {
        const gv = await got[i]!.data(), wv = want[i]!.dataSync();
        wv.forEach((v, j) => expect(Math.abs(Number(gv[j]) - Number(v)), `gradient ${i}, element ${j}`).toBeLessThan(1e-4 * (1 + Math.abs(Number(v)))));
      }
    }));

    // Two launches of one kernel at different sizes, back to back: in webgpu mode the second used to
    // resize the first while it was still in flight (gpu.js reads the output size when the run starts).
    it('keeps each launch at its own size when one kernel runs back to back at different sizes', () => on(mode, async () => {
      const a = tsr.tensor([1, 2, 3, 4, 5], { device }), b = tsr.tensor([10, 20, 30], { device });
      const na = a.neg(), nb = b.neg();
      expect(await na.tolist()).toEqual([-1, -2, -3, -4, -5]);
      expect(await nb.tolist()).toEqual([-10, -20, -30]);
    }));

    // Compile's kernels that store several results: one kernel map where the mode has them
    // (headlessgl, cpu), a kernel per result elsewhere; a stored result may be a strided view.
    it('stores several results of one compiled kernel, through strided views too', () => on(mode, async () => {
      const b = opened.get(mode) as GpuJsBackend;
      expect(b.multiOutput).toBe(mode === 'headlessgl' || mode === 'cpu');
      const f = (p: tsr.Tensor, q: tsr.Tensor, out: tsr.Tensor) => { const m = p.exp(); const v = m.mul(q); out.t().copy_(v.sub(1)); return [m, v]; };
      const p = tsr.tensor([[0, 1, 2], [3, -1, -2]], { device }), q = tsr.tensor([2, 3, 4], { device });
      const out = tsr.zeros([3, 2], { device });
      const r = tsr.explain(f, p, q, out);
      expect(r.programs.map((g) => g.kernels)).toEqual([b.multiOutput ? 1 : 3]);
      const e = [[0, 1, 2], [3, -1, -2]].map((row) => row.map(Math.exp));
      const close = async (t: tsr.Tensor, want: number[][]) => (await t.tolist() as number[][]).forEach((row, i) => row.forEach((v, j) => expect(Math.abs(v - want[i]![j]!)).toBeLessThan(1e-5 * (1 + Math.abs(want[i]![j]!)))));
      await close(r.result[0]!, e);
      await close(r.result[1]!, e.map((row) => row.map((v, j) => v * [2, 3, 4][j]!)));
      await close(out, [0, 1, 2].map((j) => [0, 1].map((i) => e[i]![j]! * [2, 3, 4][j]! - 1)));
    }));

    // Compile's horizontal groups: one launch per group, results placed in ranges of one texture
    // (GBuffer.base). Thirty parameters, with their gradients and moments, need more textures than a
    // WebGL shader samples (32 here): several groups.
    it('runs an optimizer step over many tensors as a few grouped launches, as eager does', () => on(mode, async () => {
      const b = opened.get(mode) as GpuJsBackend;
      const make = () => {
        tsr.manualSeed(4);
        const ps = Array.from({ length: 30 }, (_, i) => tsr.randn([(i % 5) + 1, 3]).to(device).requiresGrad_());
        const opt = new tsr.nn.AdamW(ps, { lr: 0.1 });
        const step = () => { opt.zeroGrad(); ps.reduce((acc, p) => acc.add(p.square().sum()), tsr.zeros([], { device })).backward(); opt.step(); };
        return { ps, step };
      };
      const eager = make(), compiled = make();
      const step = tsr.compile(compiled.step);
      for (let s = 0; s < 3; s++) {
        eager.step(); step();
        for (let j = 0; j < 30; j++) {
          const want = await eager.ps[j]!.data(), got = await compiled.ps[j]!.data();
          want.forEach((v, i) => expect(Math.abs(Number(got[i]) - Number(v)), `step ${s}, parameter ${j}[${i}]`).toBeLessThan(1e-5 * (1 + Math.abs(Number(v)))));
        }
      }
      const kernels = tsr.explain(step).programs.reduce((n, p) => n + p.kernels, 0);
      // Groups run synchronously (not in webgpu mode, whose launches chain on promises).
      if (!b.runtime.async) expect(kernels).toBeLessThan(30);
      // GL compiles each group's shader (tens of members' loads) on first use: seconds on a software GL.
    }), 60_000);

    it('writes through strided views without touching the rest of the buffer', () => on(mode, async () => {
      const base = tsr.zeros([4, 6], { device });
      base.slice(1, 0, 6, 2).t().add_(tsr.arange(4, { dtype: 'float32', device }));
      expect(await base.tolist()).toEqual([0, 1, 2, 3].map((i) => [i, 0, i, 0, i, 0]));
      const rows = tsr.zeros([3, 2], { device });
      rows.narrow(0, 1, 1).fill_(7);
      expect(await rows.tolist()).toEqual([[0, 0], [7, 7], [0, 0]]);
    }));

    it('refuses float64 and integers beyond 2^24 with DTypeErrors that say why', () => on(mode, async () => {
      expect(() => tsr.zeros([2], { dtype: 'float64', device })).toThrow(/computes and stores float32 only/);
      expect(() => tsr.tensor([2 ** 25], { dtype: 'int32', device })).toThrow(tsr.DTypeError);
      expect(await tsr.tensor([2 ** 24], { dtype: 'int32', device }).add(0).tolist()).toEqual([2 ** 24]);
      // 4096 * 8192 = 2^25 has no exact float32 integer neighbourhood: the read refuses it.
      await expect(tsr.tensor([4096], { dtype: 'int32', device }).mul(8192).data()).rejects.toThrow(tsr.DTypeError);
    }));

    it('raises an out-of-range gather index as an IndexError', () => on(mode, async () => {
      const x = tsr.randn([4, 5], { device });
      let thrown: unknown;
      try { await x.gather(0, tsr.tensor([[7, 0, 0, 0, 0]], { dtype: 'int64', device })).data(); } catch (e) { thrown = e; }
      expect(thrown).toBeInstanceOf(tsr.IndexError);
      // A negative index is out of range too (PyTorch does not count from the end here).
      // (At the call where the mode reads back synchronously, at the read on webgpu.)
      await expect((async () => x.gather(0, tsr.tensor([[-1, 0, 0, 0, 0]], { dtype: 'int64', device })).data())()).rejects.toThrow(tsr.IndexError);
    }));
  });
}

it('renders gpu.js kernel functions from the op specs without a device (tessera codegen --backend gpujs)', () => {
  const src = tsr.codegen({ backend: 'gpujs', op: 'maximum', dtype: 'float32', rank: 2 });
  expect(src).toContain('function t_max(a, b)');
  expect(src).toMatch(/this\.thread\.x/);
  expect(tsr.codegen({ backend: 'gpujs', op: 'argmax', dtype: 'float32' })).toContain('for (let j = 0; j < count; j++)');
});
