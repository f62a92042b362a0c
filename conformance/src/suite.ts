/** Declaring a suite per backend (test-side: imports vitest, so the global setup must not import it). */
import { type DeviceKind, registerBackend } from 'tessera';
import { beforeAll, describe } from 'vitest';
import { CANDIDATES, type Candidate } from './backends.js';

/**
 * Declares `suite` once per candidate that can run, inside a describe block that makes it the backend
 * of its device before its tests run (registration at collection time would leave the last one active
 * for every block); the others get "not run" with the reason for every op in `ops`.
 */
export function forEachBackend(matrix: { record(op: string, backend: string, dtype: string, status: 'not run', detail: string): void },
  ops: Iterable<string>, dtype: string, suite: (c: Candidate, device: DeviceKind) => void): void {
  for (const c of CANDIDATES) {
    const backend = c.load();
    if (typeof backend === 'string') {
      for (const op of ops) matrix.record(op, c.name, dtype, 'not run', backend);
      continue;
    }
    describe(`[${c.name}]`, () => {
      beforeAll(() => registerBackend(backend));
      suite(c, c.device as DeviceKind);
    });
  }
}

