/** `tsx conformance/src/fuzz/show.ts <backend> <seed> <id>...`: one call of the stream, both sides' outcomes and the verdict (a reproducer). */
import { runCall } from './tessera.js';
import { generate } from './gen.js';
import { CAPS, type FuzzBackend } from './run.js';
import { TorchOracle } from './torch.js';
import { judge } from './verdict.js';
import * as tsr from 'tessera';

const [backend, seed, ...ids] = process.argv.slice(2);
if (backend === 'webgpu') await tsr.initWebGPU();
if (backend === 'gpujs') await tsr.initGpuJs({ mode: 'headlessgl' });
if (backend === 'js') tsr.registerBackend(tsr.jsBackend);
const device = (backend === 'webgpu' || backend === 'gpujs' ? backend : 'cpu') as tsr.DeviceKind;
tsr.setDefaultDevice(device);
const torch = new TorchOracle();
for (const id of ids) {
  const [call] = generate(Number(seed), Number(id), 1, CAPS[backend as FuzzBackend]);
  const [theirs] = await torch.run([call!]);
  const ours = await runCall(call!, device);
  console.log(JSON.stringify({ call, tessera: ours, torch: theirs, verdict: judge(call!, ours, theirs!) }, null, 1));
}
torch.close();
