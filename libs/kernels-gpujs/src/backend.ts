/**
 * The 'gpujs' backend: buffers and kernels of one gpu.js mode, kernels generated from the op specs' IR.
 * Every dtype but float64 and float16 is held as float32 values (integers exactly up to 2^24).
 */
import { type DType, DTypeError, DeviceError } from '@tessera/ops';
import type { Backend, TypedArray } from '@tessera/tensor';
import { EXACT_INT, checkDtype } from './emit.js';
import { runElementwise, runElementwiseGroup, runReduce, takesEpilogue } from './kernels.js';
import { EPILOGUE_ROUTINES, createRoutines } from './routines.js';
import type { GBuffer, Mode, Runtime } from './runtime.js';

export interface GpuJsBackend extends Backend {
  readonly runtime: Runtime;
  /** The gpu.js mode every kernel runs in (never changed silently). */
  readonly mode: Mode;
}

/** Host values as the float32 the device holds; integers beyond 2^24 would change, so they are refused. */
function toDevice(data: TypedArray, dtype: DType): Float32Array {
  if (dtype === 'float32') return data as Float32Array;
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = Number(data[i]!);
    if (Math.abs(v) > EXACT_INT) {
      throw new DTypeError('gpujs', `${dtype} value ${v} does not fit the float32 that gpujs holds integers in (exact to 2^24 = ${EXACT_INT}); keep such tensors on 'cpu'`);
    }
    out[i] = v;
  }
  return out;
}

/** Device float32 values as the host array of `dtype`; an integer tensor holding NaN overflowed 2^24 in a kernel. */
function fromDevice(values: Float32Array, dtype: DType): TypedArray {
  switch (dtype) {
    case 'float32': return values;
    case 'bool': case 'uint8': return Uint8Array.from(values);
    case 'int32': case 'int64': {
      if (values.some((v) => Number.isNaN(v))) {
        throw new DTypeError('gpujs', `an ${dtype} result left the range gpujs holds integers in exactly (float32: +-2^24); compute it on 'cpu'`);
      }
      return dtype === 'int32' ? Int32Array.from(values) : BigInt64Array.from(values, (v) => BigInt(v));
    }
    default: throw new DTypeError('gpujs', `${dtype} is not supported on gpujs`);
  }
}

export function createGpuJsBackend(rt: Runtime): GpuJsBackend {
  function alloc(dtype: DType, size: number): GBuffer {
    checkDtype('empty', dtype);
    if (size > EXACT_INT) throw new DeviceError('empty', `a tensor of ${size} elements exceeds what gpujs indexes exactly (2^24 elements: gpu.js computes indices in float32)`);
    // Zeros on the host: a launch's result replaces them (uploaded only if a partial write merges into them).
    return { data: size ? new Float32Array(size) : null, length: size };
  }
  return {
    device: 'gpujs',
    name: 'gpujs',
    gcManaged: false,
    subnormals: rt.subnormals,
    planVariant: rt.mode,
    // A kernel writes a whole texture: a partial write merges the rest in (Runtime.commit).
    wholeBufferWrites: true,
    multiOutput: rt.multiOutput,
    maxKernelOutputs: rt.maxOutputs,
    maxKernelBuffers: rt.textureUnits,
    // Groups are one launch with their members' results one after another (runElementwiseGroup).
    groupable: (k) => !rt.async && (!k.outputs?.length || rt.multiOutput),
    elementwiseGroup: (k, launches) => runElementwiseGroup(rt, k, launches),
    // Epilogues run in the routine's per-element kernel as further results of its kernel map.
    fusesEpilogue: (routine, dtype, k) => dtype === 'float32' && EPILOGUE_ROUTINES[routine] !== undefined && takesEpilogue(rt, k, EPILOGUE_ROUTINES[routine]!),
    runtime: rt,
    mode: rt.mode,
    alloc,
    fromHost(data: TypedArray, dtype: DType): GBuffer {
      checkDtype('tensor', dtype);
      if (data.length > EXACT_INT) throw new DeviceError('tensor', `a tensor of ${data.length} elements exceeds what gpujs indexes exactly (2^24 elements)`);
      return rt.upload(toDevice(data, dtype));
    },
    async read(buffer, dtype, offset, size) {
      return fromDevice(await rt.read(buffer as GBuffer, offset, size), dtype);
    },
    free: (buffer) => rt.free(buffer as GBuffer),
    elementwise: (k, l) => runElementwise(rt, k, l),
    reduce: (k, l) => runReduce(rt, k, l),
    routines: createRoutines(rt),
  };
}
