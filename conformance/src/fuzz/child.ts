/**
 * The process the fuzzer runs Tessera in (FUZZ_BACKEND: js, native, webgpu or gpujs), so a crash or
 * a hang in a call takes down this process, not the run: the parent sees it, records the call and
 * starts a fresh one. Protocol (IPC): {calls} in; {start: id} before each call and {id, outcome}
 * after it, out.
 */
import * as tsr from 'tessera';
import { createNativeBackend } from '@tessera/kernels-native';
import type { Call, Outcome } from './call.js';
import { runCall } from './tessera.js';

async function open(name: string): Promise<tsr.DeviceKind> {
  switch (name) {
    case 'js': tsr.registerBackend(tsr.jsBackend); return 'cpu';
    case 'native': {
      // Every size goes to the addon, so small fuzz tensors exercise the Rust kernels.
      const b = createNativeBackend({ minElements: 0 });
      if (typeof b === 'string') throw new Error(`native backend unavailable: ${b}`);
      tsr.registerBackend(b);
      return 'cpu';
    }
    case 'webgpu': await tsr.initWebGPU(); return 'webgpu';
    case 'gpujs': await tsr.initGpuJs({ mode: 'headlessgl' }); return 'gpujs';
    default: throw new Error(`unknown fuzz backend '${name}'`);
  }
}

const device = await open(process.env['FUZZ_BACKEND'] ?? 'js');
tsr.setDefaultDevice(device);
const send = (m: unknown) => new Promise<void>((resolve) => process.send!(m, () => resolve()));

let queue = Promise.resolve();
process.on('message', (m: { calls: Call[] }) => {
  queue = queue.then(async () => {
    for (const call of m.calls) {
      await send({ start: call.id });
      let outcome: Outcome;
      try {
        outcome = await runCall(call, device);
      } catch (e) {
        outcome = { raises: 'harness', msg: String(e), typed: false };
      }
      await send({ id: call.id, outcome });
    }
  });
});
await send({ ready: true });
