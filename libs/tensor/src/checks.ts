/**
 * Data-dependent errors (an integer division by zero found inside a tensor). On a device with
 * synchronous reads the flag is read at once; an asynchronous device (webgpu, gpujs, cuda) cannot
 * make the op wait, so its flag stays on the device and the next read there raises the error, as
 * CUDA reports device-side asserts at the next synchronisation.
 */
import type { TesseraError } from '@tessera/ops';
import type { Backend } from './backend.js';
import type { Tensor } from './tensor.js';

const pending = new Map<Backend, { flag: Tensor; error: () => TesseraError }[]>();

/** Raises `error` if the 0-d `flag` is nonzero: now on CPU, at the device's next read elsewhere. */
export function checkFlag(flag: Tensor, error: () => TesseraError): void {
  const backend = flag.storage.backend;
  if (backend.readSync) {
    const hit = flag.dataSync()[0];
    flag.dispose();
    if (hit) throw error();
    return;
  }
  let list = pending.get(backend);
  if (!list) pending.set(backend, (list = []));
  list.push({ flag, error });
}

/** Reads the device's pending flags; raises the first error found (the others are cleared with it). */
export async function settleChecks(backend: Backend): Promise<void> {
  const list = pending.get(backend);
  if (!list) return;
  pending.delete(backend);
  let first: TesseraError | undefined;
  for (const { flag, error } of list) {
    const hit = (await flag.data())[0];
    flag.dispose();
    if (hit && !first) first = error();
  }
  if (first) throw first;
}
