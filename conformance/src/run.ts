/** Runs one conformance check and files its outcome in the matrix. */
import { DTypeError, NotImplementedError } from 'tessera';
import type { Matrix } from './matrix.js';

/**
 * pass when body completes; unsupported when the backend refuses (NotImplementedError, or a
 * DTypeError for a dtype the spec accepts); fail otherwise, and the error is rethrown so the test fails.
 */
export function check(m: Matrix, ops: string | readonly string[], backend: string, dtype: string, body: () => void): void {
  const list = typeof ops === 'string' ? [ops] : ops;
  try {
    body();
    for (const op of list) m.record(op, backend, dtype, 'pass');
  } catch (e) {
    if (e instanceof NotImplementedError || e instanceof DTypeError) {
      for (const op of list) m.record(op, backend, dtype, 'unsupported', (e as Error).message);
      return;
    }
    for (const op of list) m.record(op, backend, dtype, 'fail', String(e).slice(0, 400));
    throw e;
  }
}
