/** The pure-JS CPU backend: host typed arrays as buffers, kernels compiled from the IR. */
import type { DType } from '@tessera/ops';
import type { Backend } from '../backend.js';
import type { TypedArray } from '../typed.js';
import { allocArray, releaseArray } from './pool.js';
import { runElementwise, runReduce } from './kernels.js';
import { cpuRoutines } from './routines.js';

/**
 * The pure-JavaScript backend of device 'cpu', with kernels emitted from the op specs; it serves until the native
 * addon registers over it.
 */
export const jsBackend: Backend = {
  device: 'cpu',
  name: 'js',
  gcManaged: true,
  multiOutput: true,
  alloc: (dtype: DType, size: number) => allocArray(dtype, size),
  fromHost: (data: TypedArray) => data,
  read: async (buffer, _dtype, offset, size) => (buffer as TypedArray).slice(offset, offset + size),
  readSync: (buffer, _dtype, offset, size) => (buffer as TypedArray).slice(offset, offset + size),
  free: (buffer, adopted) => { if (!adopted) releaseArray(buffer as TypedArray); },
  elementwise: runElementwise,
  reduce: runReduce,
  routines: cpuRoutines,
};
