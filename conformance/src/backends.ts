/**
 * Every backend the matrix reports on. An available one is registered and tested; the others are
 * listed as "not run" with the reason, never as passing.
 */
import { type Backend, jsBackend } from 'tessera';
import { createNativeBackend } from '@tessera/kernels-native';

export interface Candidate {
  readonly name: string;
  /** The device string tensors use on it. */
  readonly device: string;
  /** The backend, or why it cannot run here. */
  readonly load: () => Backend | string;
}

export const CANDIDATES: readonly Candidate[] = [
  { name: 'js', device: 'cpu', load: () => jsBackend },
  // Every size goes to the addon here, so the suite's small tensors exercise the Rust kernels.
  { name: 'native', device: 'cpu', load: () => createNativeBackend({ minElements: 0 }) },
  { name: 'webgpu', device: 'webgpu', load: () => 'not implemented: libs/kernels-wgsl does not exist yet' },
  { name: 'gpujs', device: 'gpujs', load: () => 'not implemented: libs/kernels-gpujs does not exist yet' },
  { name: 'cuda', device: 'cuda', load: () => 'no hardware: no NVIDIA GPU on the CI machine (and no CUDA backend yet)' },
  { name: 'metal', device: 'webgpu', load: () => 'no hardware: needs an Apple GPU' },
  { name: 'rocm', device: 'webgpu', load: () => 'no hardware: needs an AMD GPU' },
];
