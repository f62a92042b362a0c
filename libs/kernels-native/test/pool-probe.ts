/**
 * Run by native.test.ts in a process of its own: the main thread makes the native backend (which
 * makes it one of the addon's pool threads where there are others), then a worker thread runs
 * parallel kernels while the main thread only waits for the worker's message. Prints the worker's
 * result. A pool whose only thread were the waiting main thread would never run the worker's work.
 */
import { Worker, isMainThread, parentPort } from 'node:worker_threads';
import * as tsr from '@tessera/tensor';
import { createNativeBackend } from '../src/index.js';

const native = createNativeBackend();
if (typeof native === 'string') throw new Error(native);
if (isMainThread) {
  // The worker runs this file too, through tsx as this thread does (a worker does not inherit --import).
  const worker = new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(import.meta.url)}); });`, { eval: true });
  const result = await new Promise((resolve, reject) => { worker.once('message', resolve); worker.once('error', reject); });
  await worker.terminate();
  process.stdout.write(JSON.stringify(result));
} else {
  tsr.registerBackend(native);
  // Past every parallel threshold: a 512^3 matmul and a 2^21-element elementwise op.
  const x = tsr.full([512, 512], 0.5);
  const product = x.matmul(x).sum().itemSync(); // 512^2 entries of 512 * 0.25
  const sum = tsr.full([1 << 21], 2).mul(3).sum().itemSync();
  parentPort!.postMessage({ product, sum });
}
