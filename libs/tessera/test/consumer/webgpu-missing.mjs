// Run by consumer.test.ts where @tessera/kernels-wgsl is not installed: what initWebGPU() rejects with.
import * as tsr from 'tessera';

const outcome = await tsr.initWebGPU().then(
  () => ({ opened: true }),
  (e) => ({
    opened: false, name: e.name, typed: e instanceof tsr.BackendNotInstalledError && e instanceof tsr.DeviceError,
    packageName: e.packageName, message: e.message,
  }),
);
console.log(JSON.stringify(outcome));
