/**
 * The WebGPU runtime's own contract (the op-by-op conformance is in conformance/): typed errors
 * instead of crashes, dispatches split past the 65,535-workgroup limit, reductions spread over
 * workgroups, batching, and device loss. Skipped only where no adapter exists (CI requires one).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tsr from 'tessera';
import { createWebGPUBackend, initWebGPU } from '@tessera/kernels-wgsl';
import { openRuntime } from '../src/runtime.js';

// Skipped (with the reason) only where no adapter exists; with webgpu in TESSERA_REQUIRE_BACKENDS, as CI
// sets it, a missing adapter fails here instead.
const adapter = await initWebGPU().then(() => undefined, (e: Error) => e.message);
if (adapter && (process.env['TESSERA_REQUIRE_BACKENDS'] ?? '').includes('webgpu')) throw new Error(`webgpu is required: ${adapter}`);

describe.skipIf(adapter !== undefined)('webgpu runtime', () => {
  const device = 'webgpu' as const;
  beforeAll(() => tsr.setDefaultDevice(device));
  afterAll(() => tsr.setDefaultDevice('cpu'));

  it('splits launches past 65,535 workgroups per dimension (20M elements)', async () => {
    const n = 20_000_000;
    const x = tsr.arange(n, { dtype: 'int32' });
    const y = x.add(1);
    const tail = await y.narrow(0, n - 3, 3).tolist();
    expect(tail).toEqual([n - 2, n - 1, n]);
    expect(await y.narrow(0, 0, 2).tolist()).toEqual([1, 2]);
    x.dispose(); y.dispose();
  });

  it('reduces long rows across many workgroups, exactly for integers', async () => {
    const n = 3_000_001;
    const x = tsr.ones([n], { dtype: 'int32' });
    expect(await x.sum().item()).toBe(n);
    const f = tsr.arange(4096, { dtype: 'float32' }).view(64, 64);
    expect(await f.sum(0).narrow(0, 0, 2).tolist()).toEqual([129024, 129088]);
    expect(await f.amax(1).narrow(0, 62, 2).tolist()).toEqual([4031, 4095]);
  });

  it('keeps results of many batched launches in order (in-place chains on one buffer)', async () => {
    const x = tsr.zeros([1000]);
    for (let i = 0; i < 300; i++) x.add_(1);
    expect(await x.sum().item()).toBe(300_000);
  });

  it('moves a tensor to the CPU with toAsync (to refuses, naming it), and gradients flow back', async () => {
    const x = tsr.tensor([1, -2, 3], { device: 'webgpu' }).requiresGrad_();
    expect(() => x.to('cpu')).toThrow(/toAsync/);
    const c = await x.mul(2).toAsync('cpu');
    expect([c.device, c.tolistSync()]).toEqual(['cpu', [2, -4, 6]]);
    c.square().sum().backward();
    expect(await x.grad!.tolist()).toEqual([8, -16, 24]);
    expect((await x.toAsync({ device: 'cpu', dtype: 'int32' })).dtype).toBe('int32');
  });

  it('refuses float64 with a DTypeError that names the way out', () => {
    expect(() => tsr.zeros([2], { dtype: 'float64' })).toThrow(tsr.DTypeError);
    expect(() => tsr.zeros([2], { dtype: 'float64' })).toThrow(/cast them with \.float\(\)/);
  });

  it('holds int64 in 32 bits and says so for values that do not fit', () => {
    expect(() => tsr.tensor([2n ** 40n], { dtype: 'int64' })).toThrow(tsr.DTypeError);
  });

  it('computes float16 in f32 and stores halves', async () => {
    const h = tsr.tensor([1, 2.5, 65504, 1e-3], { dtype: 'float16' });
    // 65504 * 2 overflows half to Infinity; 1e-3 is stored as the half nearest it, doubled exactly.
    expect(await h.mul(2).tolist()).toEqual([2, 5, Infinity, 2 * tsr.HALF_TO_FLOAT[tsr.toHalf(1e-3)]!]);
  });

  it('raises an out-of-range index at the next read as an IndexError, and recovers', async () => {
    const x = tsr.randn([4, 5]);
    const bad = x.gather(0, tsr.tensor([[7, 0, 0, 0, 0]], { dtype: 'int64' }));
    await expect(bad.data()).rejects.toThrow(tsr.IndexError);
    expect(await x.gather(0, tsr.tensor([[3, 0, 0, 0, 0]], { dtype: 'int64' })).shape).toEqual([1, 5]);
    expect((await x.sum().data()).length).toBe(1);
  });

  it('reports a buffer beyond the adapter limits as a DeviceError, not a crash', () => {
    expect(() => tsr.empty([2 ** 31], { dtype: 'float32' })).toThrow(tsr.DeviceError);
  });

  it('moves tensors to and from the CPU', async () => {
    const c = tsr.tensor([[1, 2], [3, 4]], { device: 'cpu' });
    const g = c.to(device);
    expect(g.device).toBe('webgpu');
    expect(() => g.dataSync()).toThrow(/await t.data\(\)/);
    expect(await g.matmul(g).tolist()).toEqual([[7, 10], [15, 22]]);
  });

  it('turns device loss into DeviceErrors on later calls', async () => {
    // A second device of its own, so losing it leaves the suite's device alone.
    const rt = await openRuntime({ adapter: 'vulkan' });
    const b = createWebGPUBackend(rt);
    const buf = b.fromHost(new Float32Array([1, 2, 3]), 'float32');
    expect(Array.from(await b.read(buf, 'float32', 0, 3) as Float32Array)).toEqual([1, 2, 3]);
    rt.device.destroy();
    await new Promise((r) => setTimeout(r, 50));
    expect(() => b.alloc('float32', 4)).toThrow(tsr.DeviceError);
    await expect(b.read(buf, 'float32', 0, 3)).rejects.toThrow(tsr.DeviceError);
  });
});

it('renders WGSL from the op specs without a device (tessera codegen --backend webgpu)', () => {
  const src = tsr.codegen({ backend: 'webgpu', op: 'sigmoid', dtype: 'float16', rank: 2 });
  expect(src).toContain('enable f16;');
  expect(src).toContain('@compute @workgroup_size(256)');
  expect(tsr.codegen({ backend: 'webgpu', op: 'argmax', dtype: 'float32' })).toContain('workgroupBarrier()');
});
