/**
 * The 'cuda' backend: buffers in device memory (ids into the addon's caching allocator), kernels
 * generated from the op specs' IR as CUDA C and compiled by NVRTC, GEMMs by cuBLAS. Tensors free
 * their buffers by storage refcounting and finalizers (this memory is not the JS heap's).
 */
import { type DType, DTYPES } from '@tessera/ops';
import type { Backend, TypedArray } from '@tessera/tensor';
import { type CBuffer } from './buffer.js';
import { checkView, runElementwise, runReduce } from './kernels.js';
import { createRoutines } from './routines.js';
import type { CudaRuntime } from './runtime.js';

const HOST: Readonly<Record<DType, new (b: ArrayBuffer, o: number, n: number) => TypedArray>> = {
  float32: Float32Array, float64: Float64Array, float16: Uint16Array, int32: Int32Array, int64: BigInt64Array, uint8: Uint8Array, bool: Uint8Array,
};

export function createCudaBackend(rt: CudaRuntime): Backend & { readonly runtime: CudaRuntime } {
  const alloc = (dtype: DType, size: number, op = 'empty'): CBuffer => ({ id: rt.alloc(size * DTYPES[dtype].bytes, op), dtype, length: size });
  const temp = (bytes: number): CBuffer => ({ id: rt.alloc(bytes, 'temp'), dtype: 'uint8', length: bytes });
  const release = (b: CBuffer) => rt.free(b.id);
  const routines = createRoutines(rt, temp, release);
  return {
    device: 'cuda',
    name: 'cuda',
    gcManaged: false,
    runtime: rt,
    alloc: (dtype, size) => alloc(dtype, size),
    fromHost(data: TypedArray, dtype: DType): CBuffer {
      const buf = alloc(dtype, data.length, 'tensor');
      if (data.byteLength > 0) rt.write(buf.id, 0, data, 'tensor');
      return buf;
    },
    async read(buffer, dtype, offset, size) {
      const b = DTYPES[dtype].bytes;
      const bytes = rt.read((buffer as CBuffer).id, offset * b, size * b, 'read');
      // A copy the typed array owns, aligned for its element type.
      const own = new ArrayBuffer(bytes.byteLength);
      new Uint8Array(own).set(bytes);
      return new HOST[dtype](own, 0, size);
    },
    free: (buffer) => release(buffer as CBuffer),
    elementwise(k, l) {
      for (const v of [l.out, ...l.inputs]) checkView(k.id, { ...v, shape: l.shape });
      runElementwise(rt, k, l);
    },
    reduce(k, l) {
      checkView(k.id, { ...l.input, shape: [...l.outer, ...l.inner] });
      runReduce(rt, k, l, temp, release);
    },
    routines,
  };
}
