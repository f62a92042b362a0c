/** The umbrella package: everything a user needs from one import. */
export * from '@tessera/tensor';
/** Makes the Rust addon serve device 'cpu' when it is built (else says why, once). */
export { nativeUnavailable } from '@tessera/kernels-native';
export * from '@tessera/autograd';
/** Layers, losses, optimizers, data loading, checkpoints. */
export * as nn from '@tessera/nn';
/** torch.save / torch.load: nested training state (state dicts, epoch, config) in one safetensors file. */
export { save, saveAsync, load, type Saveable } from '@tessera/nn';
/** Progress for long loops: a bar on a terminal, plain lines in a log. */
export { Progress, track, type ProgressOptions } from '@tessera/nn';
/** The op specs and IR, for backend authors and tooling. */
export * as ops from '@tessera/ops';
/**
 * Devices 'webgpu' (Dawn) and 'gpujs' (gpu.js), from packages a user opts into: `await initWebGPU()`,
 * `await initGpuJs({ mode })`; without the package they reject with BackendNotInstalledError.
 */
export { initWebGPU, initGpuJs, BackendNotInstalledError, type WebGPUOptions, type GpuJsOptions } from './optional-backends.js';
/** Data-parallel training across processes (shared memory or Open MPI): DDP, DistributedSampler, collectives. */
export * as distributed from '@tessera/distributed';
