/** Device buffers as the backend hands them to tensors, and the host conversions of their element types. */
import { type DType, DTypeError } from '@tessera/ops';
import type { TypedArray, View } from '@tessera/tensor';
import { STORAGE_BYTES } from './emit.js';

export interface WBuffer {
  readonly gpu: GPUBuffer;
  readonly dtype: DType;
  /** Elements (the GPU buffer may be larger: sizes are rounded to pool classes). */
  readonly length: number;
}

export const gpuOf = (v: View): GPUBuffer => (v.buffer as WBuffer).gpu;

export const byteSize = (dtype: DType, n: number): number => Math.max(4, Math.ceil((n * STORAGE_BYTES[dtype]) / 4) * 4);

/** Host data in the layout the GPU holds (bool/uint8 widened to u32 words, int64 narrowed to i32). */
export function toDevice(data: TypedArray, dtype: DType): ArrayBufferView {
  switch (dtype) {
    case 'bool': case 'uint8': return Uint32Array.from(data as Uint8Array);
    case 'int64': {
      const src = data as BigInt64Array;
      const out = new Int32Array(src.length);
      for (let i = 0; i < src.length; i++) {
        const v = src[i]!;
        if (v > 2147483647n || v < -2147483648n) {
          throw new DTypeError('webgpu', `int64 value ${v} does not fit in the 32 bits that WebGPU holds int64 in (WGSL has no 64-bit integers); keep such tensors on 'cpu'`);
        }
        out[i] = Number(v);
      }
      return out;
    }
    default: return data;
  }
}

/** Bytes read back from the GPU as the host typed array of the dtype. */
export function fromDevice(bytes: ArrayBuffer, dtype: DType, n: number): TypedArray {
  switch (dtype) {
    case 'float32': return new Float32Array(bytes, 0, n);
    case 'float16': return new Uint16Array(bytes, 0, n);
    case 'int32': return new Int32Array(bytes, 0, n);
    case 'int64': return BigInt64Array.from(new Int32Array(bytes, 0, n), (v) => BigInt(v));
    case 'bool': case 'uint8': return Uint8Array.from(new Uint32Array(bytes, 0, n));
    default: throw new DTypeError('webgpu', `${dtype} is not supported on webgpu`);
  }
}
