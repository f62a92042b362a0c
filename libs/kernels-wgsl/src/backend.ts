/**
 * The 'webgpu' backend: buffers on a Dawn device, kernels generated from the op specs' IR. Buffers
 * are freed back to the runtime's pool by storage refcounting (tensors also register finalizers,
 * since this memory is not the JS heap's).
 */
import { type DType, DTypeError, DeviceError } from '@tessera/ops';
import type { Backend, TypedArray } from '@tessera/tensor';
import { type WBuffer, byteSize, fromDevice, toDevice } from './buffer.js';
import { STORAGE_BYTES, valueType } from './emit.js';
import { runElementwise, runElementwiseGroup, runReduce } from './kernels.js';
import { createRoutines } from './routines.js';
import type { Runtime } from './runtime.js';

export function createWebGPUBackend(rt: Runtime): Backend & { readonly runtime: Runtime } {
  function alloc(dtype: DType, size: number, op = 'empty'): WBuffer {
    valueType(dtype);
    if (dtype === 'float16' && !rt.hasF16) throw new DTypeError(op, `float16 needs the WebGPU feature 'shader-f16', which ${rt.adapterName} does not offer`);
    const bytes = byteSize(dtype, size);
    if (bytes > rt.maxBinding) {
      throw new DeviceError(op, `a ${dtype} tensor of ${size} elements (${bytes} bytes) exceeds ${rt.adapterName}'s maxStorageBufferBindingSize (${rt.maxBinding} bytes)`);
    }
    return { gpu: rt.createBuffer(bytes, op), dtype, length: size };
  }
  const temp = (bytes: number): WBuffer => ({ gpu: rt.createBuffer(bytes, 'reduce'), dtype: 'float32', length: bytes / 4 });
  return {
    device: 'webgpu',
    name: 'webgpu',
    gcManaged: false,
    // WGSL has no 64-bit integers: int64 tensors hold (and wrap at) 32 bits here.
    int64Bits: 32,
    // WGSL allows flushing float32 subnormals to zero; lavapipe and GPUs do.
    subnormals: 'flush',
    // compile's fused kernels store several results; each result and input is a storage buffer, and
    // one more carries the launch's parameters.
    multiOutput: true,
    maxKernelBuffers: rt.maxStorageBuffers - 1,
    runtime: rt,
    alloc: (dtype, size) => alloc(dtype, size),
    fromHost(data: TypedArray, dtype: DType): WBuffer {
      const buf = alloc(dtype, data.length, 'tensor');
      let dev = toDevice(data, dtype);
      // writeBuffer moves whole 4-byte words: pad odd-length float16 data.
      if (dev.byteLength % 4 !== 0) { const padded = new Uint16Array(data.length + 1); padded.set(dev as Uint16Array); dev = padded; }
      if (dev.byteLength > 0) rt.write(buf.gpu, dev);
      return buf;
    },
    async read(buffer, dtype, offset, size) {
      const b = STORAGE_BYTES[dtype];
      const bytes = await rt.read((buffer as WBuffer).gpu, offset * b, size * b, 'read');
      return fromDevice(bytes, dtype, size);
    },
    free: (buffer) => rt.release((buffer as WBuffer).gpu),
    elementwise: (k, l) => runElementwise(rt, k, l),
    // Horizontal groups (compile's group.ts, within maxKernelBuffers): one dispatch for them all.
    groupable: () => true,
    // Epilogues: these float32 routines run them per element as they store it (routines.ts), within
    // the storage-buffer budget (the routine's own buffers, up to 5, and the epilogue's).
    fusesEpilogue: (routine, dtype, k) => ['matmul', 'softmaxBackward', 'layerNormBackward'].includes(routine) && dtype === 'float32'
      && 5 + 1 + (k.outputs?.length ?? 0) + k.inputs.length <= rt.maxStorageBuffers - 1,
    elementwiseGroup: (k, launches) => runElementwiseGroup(rt, k, launches),
    reduce: (k, l) => runReduce(rt, k, l, temp, (b) => rt.release(b.gpu)),
    routines: createRoutines(rt),
  };
}
