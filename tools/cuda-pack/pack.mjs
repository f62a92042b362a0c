#!/usr/bin/env node
/**
 * Packs what a run of device 'cuda' needs on a bare NVIDIA machine into one folder (< 64 MiB): a
 * Node binary (xz), the built native addon, and run.ts bundled with the conformance tests and the
 * benchmarks. Copy the folder there and run `./run.sh` (conformance and benchmarks; or pass
 * `conformance` or `bench`); results land in its results/. The CUDA libraries come from the machine:
 * its driver, and NVRTC/cuBLAS from PyTorch's pip wheels or a CUDA install.
 *
 *   node tools/cuda-pack/pack.mjs [outDir]        (default: dist/cuda-pack)
 */
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { build } from 'esbuild';

const root = new URL('../../', import.meta.url).pathname;
const out = process.argv[2] ?? join(root, 'dist/cuda-pack');
const nativeDir = join(root, 'libs/kernels-native/native');
const addon = existsSync(nativeDir) ? readdirSync(nativeDir).find((f) => f.endsWith('.node')) : undefined;
if (!addon) throw new Error('the native addon is not built: npm run build -w @tessera/kernels-native');
if (typeof createRequire(import.meta.url)(join(nativeDir, addon)).cudaProbe !== 'function') throw new Error('the addon was built without the cuda feature: npm run build -w @tessera/kernels-native');

rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, 'native'), { recursive: true });
await build({
  entryPoints: [join(root, 'tools/cuda-pack/run.ts')],
  outfile: join(out, 'run.mjs'),
  bundle: true, platform: 'node', format: 'esm', target: 'node20', minify: false, legalComments: 'none',
  conditions: ['tessera-source'], // the workspace packages from their sources, as everywhere in the monorepo
  alias: { vitest: join(root, 'tools/cuda-pack/vitest-shim.ts') },
  // Other devices' runtimes load only when their device is opened, which this run never does.
  external: ['webgpu', 'gpu.js', 'gl', 'onnxruntime-node', '@tensorflow/*'],
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  logLevel: 'warning',
});
cpSync(join(root, 'tools/cuda-pack/bench_torch.py'), join(out, 'bench_torch.py'));
// Timestamps kept: the backend refuses an addon older than its kernel catalog.
cpSync(join(root, 'libs/kernels-native/src/catalog.json'), join(out, 'catalog.json'), { preserveTimestamps: true });
cpSync(join(nativeDir, addon), join(out, 'native', addon), { preserveTimestamps: true });
const deviceNode = join(root, '.device/node.xz');
if (existsSync(deviceNode)) cpSync(deviceNode, join(out, 'node.xz'));
else writeFileSync(join(out, 'node.xz'), execFileSync('xz', ['-T0', '-6', '-c', process.execPath], { maxBuffer: 256 << 20 }));
writeFileSync(join(out, 'run.sh'), `#!/usr/bin/env bash
# Runs Tessera's conformance suite and benchmarks on device 'cuda' (see run.mjs). Usage: ./run.sh [conformance|bench|all]
set -euo pipefail
here=$(cd "$(dirname "\${BASH_SOURCE[0]}")" && pwd)
[ -x "$here/node" ] || { xz -dc "$here/node.xz" > "$here/node"; chmod +x "$here/node"; }
export TESSERA_NATIVE_DIR="$here/native" TESSERA_CONFORMANCE_BACKENDS="\${TESSERA_CONFORMANCE_BACKENDS:-cuda}"
exec "$here/node" "$here/run.mjs" "$@"
`);
chmodSync(join(out, 'run.sh'), 0o755);
const size = readdirSync(out, { recursive: true }).map((f) => join(out, String(f))).filter((f) => statSync(f).isFile()).reduce((s, f) => s + statSync(f).size, 0);
console.log(`packed ${out}: ${(size / 2 ** 20).toFixed(1)} MiB`);
if (size > 64 * 2 ** 20) throw new Error('the pack exceeds 64 MiB');
