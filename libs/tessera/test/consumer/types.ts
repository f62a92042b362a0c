// Type-checked by consumer.test.ts with `tsc --strict` against the declarations the packages ship.
import * as tsr from 'tessera';

const { nn } = tsr;
const model: tsr.nn.Module = new nn.Sequential(new nn.Linear(4, 8), new nn.ReLU(), new nn.Linear(8, 2));
const x: tsr.Tensor = tsr.randn([3, 4]);
const loss: tsr.Tensor = nn.crossEntropy(model.forward(x) as tsr.Tensor, tsr.tensor([0, 1, 1], { dtype: 'int64' }));
const opt = new nn.SGD(model.parameters(), { lr: 0.1 });
loss.backward();
opt.step();
const value: Promise<number | boolean> = loss.item();
const options: tsr.WebGPUOptions = { adapter: 'vulkan', powerPreference: 'low-power' };
export const run = (): Promise<tsr.Backend> => tsr.initWebGPU(options).catch((e: unknown) => {
  if (e instanceof tsr.BackendNotInstalledError) console.log(e.packageName);
  throw e;
});
// The declarations are real types, not `any`: misuse must not compile.
// @ts-expect-error a device that does not exist
tsr.zeros([2], { device: 'tpu' });
// @ts-expect-error powerPreference takes 'low-power' or 'high-performance'
export const bad: tsr.WebGPUOptions = { powerPreference: 'fast' };
export { value };
