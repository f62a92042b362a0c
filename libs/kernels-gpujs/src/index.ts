/**
 * Device 'gpujs': `await initGpuJs({ mode })` opens gpu.js in one mode ('headlessgl', 'webgpu', 'webasm'
 * or 'cpu'; default TESSERA_GPUJS_MODE, then 'headlessgl') and registers the backend. The emitter is
 * registered on import, so `tessera codegen --backend gpujs` needs neither gpu.js nor a GPU.
 */
import { registerBackend, registerEmitter } from '@tessera/tensor';
import { type GpuJsBackend, createGpuJsBackend } from './backend.js';
import { elementwiseSource, outputSources, reduceSource, withHelpers } from './kernels.js';
import { type GpuJsOptions, openRuntime } from './runtime.js';

export { type GpuJsBackend, createGpuJsBackend } from './backend.js';
export { type GpuJsOptions, type Mode, MODES, type Runtime, openRuntime } from './runtime.js';
export { GPUJS_OPS } from './emit.js';
export { elementwiseSource, reduceSource } from './kernels.js';

registerEmitter('gpujs', {
  elementwise: (k, rank) => withHelpers([...outputSources(k), elementwiseSource(k, rank)].join('\n')),
  reduce: (k, outerRank, innerRank) => withHelpers(reduceSource(k, outerRank, innerRank)),
});

const backends = new Map<string, Promise<GpuJsBackend>>();

/** Opens gpu.js in the chosen mode and makes it the backend of device 'gpujs' (once per mode). */
export function initGpuJs(opt: GpuJsOptions = {}): Promise<GpuJsBackend> {
  const key = opt.mode ?? '';
  let b = backends.get(key);
  if (!b) {
    b = openRuntime(opt).then(createGpuJsBackend);
    backends.set(key, b);
    b.catch(() => backends.delete(key));
  }
  return b.then((backend) => { registerBackend(backend); return backend; });
}
