import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { defaultClientConditions, defaultServerConditions } from 'vite';
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

// The workspace packages run from source: their exports map points the 'tessera-source' condition at
// src/index.ts (dist/ is what consumers get, built by `npm run build`). Vite resolves the imports of
// the test files; child processes (tsx scripts the tests spawn) get the same condition from Node.
const SOURCE = 'tessera-source';
if (!process.env['NODE_OPTIONS']?.includes(`--conditions=${SOURCE}`)) {
  process.env['NODE_OPTIONS'] = [process.env['NODE_OPTIONS'], `--conditions=${SOURCE}`].filter(Boolean).join(' ');
}
const fromSource = {
  resolve: { conditions: [SOURCE, ...defaultClientConditions] },
  ssr: { resolve: { conditions: [SOURCE, ...defaultServerConditions], externalConditions: [SOURCE] } },
};

export default defineConfig({
  test: {
    projects: [
      { ...fromSource, test: { name: 'ops', include: ['libs/ops/test/**/*.test.ts'] } },
      { ...fromSource, test: { name: 'tensor', include: ['libs/tensor/test/**/*.test.ts'] } },
      { ...fromSource, test: { name: 'kernels-native', include: ['libs/kernels-native/test/**/*.test.ts'] } },
      { ...fromSource, test: { name: 'kernels-wgsl', include: ['libs/kernels-wgsl/test/**/*.test.ts'] } },
      { ...fromSource, test: { name: 'kernels-gpujs', include: ['libs/kernels-gpujs/test/**/*.test.ts'] } },
      { ...fromSource, test: { name: 'autograd', include: ['libs/autograd/test/**/*.test.ts'] } },
      { ...fromSource, test: { name: 'nn', include: ['libs/nn/test/**/*.test.ts'] } },
      { ...fromSource, test: { name: 'distributed', include: ['libs/distributed/test/**/*.test.ts'] } },
      { ...fromSource, test: { name: 'conformance', include: ['conformance/test/**/*.test.ts'], globalSetup: ['conformance/vitest.setup.ts'], env: { TESSERA_CC: 'wait' } } },
      // The elementwise and reduction suites again with every launch deferred into programs that the
      // compile scheduler fuses and runs when a value is read (libs/tensor/src/graph): the same
      // properties, through compile's machinery. The matrix records the eager run only.
      { ...fromSource, test: { name: 'conformance-deferred', include: ['conformance/test/elementwise.test.ts', 'conformance/test/reduce.test.ts'], env: { TESSERA_DEFER_ALL: '1' } } },
      // Packs every package and installs the tarballs into a project outside the monorepo (~1-2 min).
      { ...fromSource, test: { name: 'tessera', include: ['libs/tessera/test/**/*.test.ts'] } },
      { ...fromSource, test: { name: 'examples', include: ['examples/test/**/*.test.ts'] } },
      { ...fromSource, test: { name: 'bench-dashboard', include: ['apps/bench-dashboard/test/**/*.test.ts'] } },
    ],
  },
});
