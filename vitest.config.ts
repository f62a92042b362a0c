import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { defineConfig } from 'vitest/config';

// compile's plans go to a cache of this run's own (the workers inherit the variable), so tests never
// read plans another checkout or run wrote, and the workers exercise one another's plans on disk.
if (!process.env['TESSERA_CACHE_DIR']) {
  const dir = mkdtempSync(path.join(tmpdir(), 'tessera-test-cache-'));
  process.env['TESSERA_CACHE_DIR'] = dir;
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
}

// The native backend compiles fused kernels to C in the background by default (kernels-native's
// cc.ts). Tests interpret them, save in the conformance suite, which compiles them in the foreground
// so that every property there also holds for the compiled code; kernels-native's cc.test.ts checks
// compiled against interpreted bit for bit.
process.env['TESSERA_CC'] ??= 'off';

export default defineConfig({
  test: {
    projects: [
      { test: { name: 'ops', include: ['libs/ops/test/**/*.test.ts'] } },
      { test: { name: 'tensor', include: ['libs/tensor/test/**/*.test.ts'] } },
      { test: { name: 'kernels-native', include: ['libs/kernels-native/test/**/*.test.ts'] } },
      { test: { name: 'kernels-wgsl', include: ['libs/kernels-wgsl/test/**/*.test.ts'] } },
      { test: { name: 'kernels-gpujs', include: ['libs/kernels-gpujs/test/**/*.test.ts'] } },
      { test: { name: 'autograd', include: ['libs/autograd/test/**/*.test.ts'] } },
      { test: { name: 'nn', include: ['libs/nn/test/**/*.test.ts'] } },
      { test: { name: 'distributed', include: ['libs/distributed/test/**/*.test.ts'] } },
      { test: { name: 'conformance', include: ['conformance/test/**/*.test.ts'], globalSetup: ['conformance/vitest.setup.ts'], env: { TESSERA_CC: 'wait' } } },
      // The elementwise and reduction suites again with every launch deferred into programs that the
      // compile scheduler fuses and runs when a value is read (libs/tensor/src/graph): the same
      // properties, through compile's machinery. The matrix records the eager run only.
      { test: { name: 'conformance-deferred', include: ['conformance/test/elementwise.test.ts', 'conformance/test/reduce.test.ts'], env: { TESSERA_DEFER_ALL: '1' } } },
      { test: { name: 'examples', include: ['examples/test/**/*.test.ts'] } },
      { test: { name: 'bench-dashboard', include: ['apps/bench-dashboard/test/**/*.test.ts'] } },
    ],
  },
});
