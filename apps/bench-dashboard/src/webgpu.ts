/**
 * WebGPU benchmarks (device-bench.ts): matmul 256..1024 and elementwise add of 1M and 4M on device
 * 'webgpu', beside tessera-native in the same run. On lavapipe (a CPU rasteriser) these are smoke
 * figures, not GPU figures.
 *
 *   npx nx run bench-dashboard:bench-webgpu [-- --quick]
 */
import * as tsr from 'tessera';
import { benchDevice } from './device-bench.js';

const quick = process.argv.includes('--quick');
const backend = await tsr.initWebGPU();
await benchDevice({
  device: 'webgpu', impl: 'tessera-webgpu', tag: 'webgpu', quick,
  describe: (backend as tsr.Backend & { runtime: { adapterName: string } }).runtime.adapterName,
  matmulSizes: quick ? [256] : [256, 512, 1024], addSizes: quick ? [1 << 20] : [1 << 20, 1 << 22],
  iters: { matmul: quick ? 2 : 8, add: quick ? 4 : 20 }, samples: quick ? 3 : 7,
});
process.exit(0);
