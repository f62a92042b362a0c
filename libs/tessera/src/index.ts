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
/** Device 'webgpu' on Dawn: `await initWebGPU()` opens it (the WGSL emitter is registered on import). */
export { initWebGPU, type WebGPUOptions } from '@tessera/kernels-wgsl';
/** Device 'gpujs' on gpu.js (headless WebGL, its WebGPU mode, WebAssembly or CPU): `await initGpuJs({ mode })`. */
export { initGpuJs, type GpuJsOptions } from '@tessera/kernels-gpujs';
/** Data-parallel training across processes (shared memory or Open MPI): DDP, DistributedSampler, collectives. */
export * as distributed from '@tessera/distributed';
