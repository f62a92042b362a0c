/**
 * gpu.js benchmarks (device-bench.ts): matmul 256..1024 and elementwise add of 1M on device 'gpujs'
 * in one gpu.js mode (named in the results), beside tessera-native in the same run.
 *
 *   npx nx run bench-dashboard:bench-gpujs   or   npx tsx apps/bench-dashboard/src/gpujs.ts [--mode headlessgl|webgpu|webasm|cpu] [--quick]
 */
import { type Mode, initGpuJs } from '@tessera/kernels-gpujs';
import { benchDevice } from './device-bench.js';

const quick = process.argv.includes('--quick');
const mode = process.argv.includes('--mode') ? (process.argv[process.argv.indexOf('--mode') + 1] as Mode) : undefined;
const backend = await initGpuJs(mode ? { mode } : {});
await benchDevice({
  device: 'gpujs', impl: 'tessera-gpujs', tag: `gpujs-${backend.mode}`, quick,
  describe: `gpu.js ${backend.runtime.description}`,
  matmulSizes: quick ? [256] : [256, 512, 1024], addSizes: [1 << 20],
  iters: { matmul: quick ? 1 : 3, add: quick ? 4 : 20 }, samples: quick ? 3 : 5,
});
process.exit(0);
