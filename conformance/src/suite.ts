/** Declaring a suite per backend (test-side: imports vitest, so the global setup must not import it). */
import { type Backend, type DeviceKind, getDefaultDevice, registerBackend, setDefaultDevice } from 'tessera';
import { afterAll, beforeAll, describe } from 'vitest';
import { CANDIDATES, type Candidate, loadCandidate } from './backends.js';

/** A candidate that loaded, with what its tests need to know about it. */
export interface Running extends Candidate {
  readonly backend: Backend;
  /** Integer width of int64 on this backend (WebGPU holds int64 in 32 bits). */
  readonly int64Bits: 32 | 64;
  /** Whether float32 subnormal inputs are drawn (not on backends that flush them, as WGSL allows). */
  readonly subnormals: boolean;
}

/**
 * Declares `suite` once per candidate that can run, inside a describe block that makes it the backend
 * of its device, and its device the default one, before its tests run (registration at collection
 * time would leave the last one active for every block); the others get "not run" with the reason
 * for every op in `ops`.
 */
export async function forEachBackend(matrix: { record(op: string, backend: string, dtype: string, status: 'not run', detail: string): void },
  ops: Iterable<string>, dtype: string, suite: (c: Running, device: DeviceKind) => void): Promise<void> {
  for (const c of CANDIDATES) {
    const backend = await loadCandidate(c);
    if (typeof backend === 'string') {
      for (const op of ops) matrix.record(op, c.name, dtype, 'not run', backend);
      continue;
    }
    const device = c.device as DeviceKind;
    describe(`[${c.name}]`, () => {
      let before: DeviceKind = 'cpu';
      beforeAll(() => { registerBackend(backend); before = getDefaultDevice(); setDefaultDevice(device); });
      afterAll(() => setDefaultDevice(before));
      suite({ ...c, backend, int64Bits: backend.int64Bits ?? 64, subnormals: backend.subnormals !== 'flush' }, device);
    });
  }
}
