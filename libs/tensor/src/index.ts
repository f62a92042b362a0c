import { registerBackend } from './backend.js';
import { jsBackend } from './cpu/backend.js';
import { elementwiseSource, reduceSource } from './cpu/kernels.js';
import { registerEmitter } from './codegen.js';

export {
  TesseraError, ShapeError, DTypeError, DeviceError, IndexError, ArgumentError, NotImplementedError, OutOfMemoryError,
  type DType, DTYPES, promoteTypes, resultType, type Conv2dOptions, type Pool2dOptions,
} from '@tessera/ops';
export { Tensor, type NestedList } from './tensor.js';
export { checkFlag } from './checks.js';
export { type Backend, type DeviceKind, type View, type RoutineKernels, type ElementwiseKernel, type ElementwiseLaunch, type ReduceKernel, type ReduceLaunch, type MatmulLaunch, type Epilogue, registerBackend, getBackend, availableDevices, paramDtype } from './backend.js';
export { elementwise, reduce, scan, planFor, reduceKernel, type ElementwisePlan, type Scalar, type TensorOrScalar } from './dispatch.js';
export { tidy, keep, collecting, handBack } from './scope.js';
export { type MemoryStats, memoryStats, memoryAllocated, trackCollection } from './memory.js';
export { compile, explain, type Explanation, type ProgramReport } from './compile.js';
export { profile, launchCount, type Profile } from './graph/profile.js';
export { cacheRoot } from './graph/disk-cache.js';
export { type GradNode, type Recorder, type Vjp, installRecorder, record, untracked } from './grad-hook.js';
export { Generator, manualSeed, defaultGenerator } from './random.js';
export * from './factories.js';
export * from './ops/elementwise.js';
export * from './ops/reduce.js';
export { var_ as var } from './ops/reduce.js';
export * from './ops/views.js';
export * from './ops/routines.js';
export * from './ops/join.js';
export * from './ops/compose.js';
export { index, indexPut_, sl, type Slice, type Index } from './ops/indexing.js';
export * from './ops/mask.js';
export { to, toAsync, clone, copy_ } from './ops/convert.js';
export { jsBackend };
export type { TypedArray } from './typed.js';
export { HALF_TO_FLOAT, toHalf } from './float16.js';
export { forEachOffset } from './cpu/iterate.js';
export { extent } from './layout.js';
export { emptyCache, pooledArrayBytes } from './cpu/pool.js';
export { elementwiseSource, reduceSource } from './cpu/kernels.js';
export { type Emitter, type CodegenRequest, type CompiledKernel, codegen, compiledKernels, registerEmitter, emitterNames } from './codegen.js';

/** The pure-JS backend serves 'cpu' until a faster one (the native addon) registers over it. */
registerBackend(jsBackend);
registerEmitter('js', { elementwise: elementwiseSource, reduce: reduceSource });
