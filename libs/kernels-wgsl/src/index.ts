/**
 * Device 'webgpu': `await initWebGPU()` opens a Dawn device (adapter by option or
 * TESSERA_WEBGPU_ADAPTER) and registers the backend; tensors then take `{ device: 'webgpu' }`.
 * The emitter is registered on import, so `tessera codegen --backend webgpu` needs no GPU.
 */
import { type Backend, registerBackend, registerEmitter } from '@tessera/tensor';
import { createWebGPUBackend } from './backend.js';
import { elementwiseSource, reduceSource } from './kernels.js';
import { type WebGPUOptions, openRuntime } from './runtime.js';

export { type WebGPUOptions, type Runtime } from './runtime.js';
export { createWebGPUBackend } from './backend.js';
export { elementwiseSource, reduceSource } from './kernels.js';

registerEmitter('webgpu', {
  // Every operand in a buffer of its own (no in-place aliasing).
  elementwise: (k, rank) => elementwiseSource(k, rank, [k.out, ...(k.outputs ?? []), ...k.inputs].map(() => -1)),
  reduce: (k, outerRank, innerRank) => reduceSource(k, outerRank, innerRank, k.scan ? 'scan' : 'group', 'full'),
});

const backends = new Map<string, Promise<Backend>>();

/** Opens the WebGPU device and makes it the backend of device 'webgpu' (once per adapter choice). */
export function initWebGPU(opt: WebGPUOptions = {}): Promise<Backend> {
  const key = JSON.stringify(opt);
  let b = backends.get(key);
  if (!b) {
    b = openRuntime(opt).then((rt) => createWebGPUBackend(rt));
    backends.set(key, b);
  }
  return b.then((backend) => { registerBackend(backend); return backend; });
}
