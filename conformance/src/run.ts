/** Runs one conformance check and files its outcome in the matrix. */
import { DTypeError, NotImplementedError } from 'tessera';
import type { Matrix } from './matrix.js';

/**
 * pass when body completes; unsupported when the backend refuses (NotImplementedError, or a
 * DTypeError for a dtype the spec accepts); fail otherwise, and the error is rethrown so the test fails.
 */
export async function check(m: Matrix, ops: string | readonly string[], backend: string, dtype: string, body: () => void | Promise<void>): Promise<void> {
  const list = typeof ops === 'string' ? [ops] : ops;
  try {
    await body();
    for (const op of list) m.record(op, backend, dtype, 'pass');
  } catch (e) {
    // fast-check wraps what a property threw in its own error; the refusal is the root cause.
    let root = e;
    while (root instanceof Error && root.cause !== undefined && !(root instanceof NotImplementedError || root instanceof DTypeError)) root = root.cause;
    if (root instanceof NotImplementedError || root instanceof DTypeError) {
      for (const op of list) m.record(op, backend, dtype, 'unsupported', root.message);
      return;
    }
    for (const op of list) m.record(op, backend, dtype, 'fail', String(e).slice(0, 400));
    throw e;
  }
}
