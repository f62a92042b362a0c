/**
 * Every backend the matrix reports on. An available one is registered and tested; the others are
 * listed as "not run" with the reason, never as passing.
 */
import { type Backend, type DeviceKind, jsBackend, registerBackend } from 'tessera';

export interface Candidate {
  readonly name: string;
  /** The device string tensors use on it. */
  readonly device: string;
  /** The backend, or why it cannot run here. */
  readonly load: () => Backend | string;
}

export const CANDIDATES: readonly Candidate[] = [
  { name: 'js', device: 'cpu', load: () => jsBackend },
  { name: 'native', device: 'cpu', load: () => 'not built: the Rust addon (libs/kernels-native) does not exist yet' },
  { name: 'webgpu', device: 'webgpu', load: () => 'not implemented: libs/kernels-wgsl does not exist yet' },
  { name: 'gpujs', device: 'gpujs', load: () => 'not implemented: libs/kernels-gpujs does not exist yet' },
  { name: 'cuda', device: 'cuda', load: () => 'no hardware: no NVIDIA GPU on the CI machine (and no CUDA backend yet)' },
  { name: 'metal', device: 'webgpu', load: () => 'no hardware: needs an Apple GPU' },
  { name: 'rocm', device: 'webgpu', load: () => 'no hardware: needs an AMD GPU' },
];

/**
 * Calls `suite` for every candidate that can run (after making it the backend of its device), and
 * files every op in `ops` as "not run" with the reason for the others.
 */
export function forEachBackend(matrix: { record(op: string, backend: string, dtype: string, status: 'not run', detail: string): void },
  ops: Iterable<string>, dtype: string, suite: (c: Candidate, device: DeviceKind) => void): void {
  for (const c of CANDIDATES) {
    const backend = activate(c);
    if (typeof backend === 'string') for (const op of ops) matrix.record(op, c.name, dtype, 'not run', backend);
    else suite(c, c.device as DeviceKind);
  }
}

/** Makes `c` the backend serving its device for the tests that follow. */
export function activate(c: Candidate): Backend | string {
  const b = c.load();
  if (typeof b !== 'string') registerBackend(b);
  return b;
}
