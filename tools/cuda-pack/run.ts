/**
 * What the packed folder runs on a bare NVIDIA machine (see pack.mjs): the conformance suite on
 * device 'cuda' (the same generated test files as `npm test`, through a small vitest stand-in),
 * then the issue's benchmarks beside PyTorch on the same GPU, measured in the same run.
 *
 *   ./run.sh [conformance|bench|all]     (results in ./results/)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import * as tsr from 'tessera';
import { cudaStatus, initCuda } from '@tessera/kernels-native';
import { Gpt } from '../../examples/src/gpt-model.js';
import { run } from './vitest-shim.js';

const here = new URL('.', import.meta.url).pathname;
const out = join(here, 'results');
mkdirSync(out, { recursive: true });
const mode = process.argv[2] ?? 'all';

// The pack runs 'cuda'; naming another backend (TESSERA_CONFORMANCE_BACKENDS=native) checks the pack itself on a machine without a GPU.
const onCuda = (process.env['TESSERA_CONFORMANCE_BACKENDS'] ?? 'cuda') === 'cuda';
const status = cudaStatus();
console.log(`cuda: ${status.available ? 'available' : `unavailable (${status.reason})`}; NVRTC ${status.nvrtc}; loaded ${status.libraries.join(', ') || 'no libraries from site-packages'}`);
if (onCuda && !status.available) process.exit(2);
const backend = onCuda ? await initCuda() : undefined;
if (backend) {
  const dev = backend.runtime.device;
  console.log(`device ${dev.ordinal}: ${dev.name} (${dev.arch}, ${(dev.memory / 2 ** 30).toFixed(1)} GiB)`);
}

if (mode === 'conformance' || mode === 'all') {
  process.env['TESSERA_REPORT_DIR'] ??= join(out, 'conformance');
  await import('../../conformance/test/elementwise.test.js');
  await import('../../conformance/test/reduce.test.js');
  await import('../../conformance/test/routines.test.js');
  const t0 = Date.now();
  const counts = await run((line) => console.log(line));
  const { Matrix, REPORT_DIR } = await import('../../conformance/src/matrix.js');
  const m = Matrix.fromParts();
  m.write(REPORT_DIR, { seed: process.env['TESSERA_SEED'] ?? 20261123, date: new Date().toISOString().slice(0, 10) });
  const name = process.env['TESSERA_CONFORMANCE_BACKENDS'] ?? 'cuda';
  console.log(`conformance on ${name}: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  console.log(`matrix: ${JSON.stringify(m.summary()[name])} (${REPORT_DIR})`);
  if (counts.failed) process.exitCode = 1;
}

if (backend && (mode === 'bench' || mode === 'all')) {
  tsr.setDefaultDevice('cuda');
  const sync = () => backend.runtime.addon.cudaSynchronize();
  /** Seconds per call: a warm-up, then enough calls for ~1 s, timed between device synchronisations. */
  const time = (fn: () => tsr.Tensor | void): number => {
    const once = () => { const r = fn(); if (r) r.dispose(); };
    once(); once(); sync();
    let iters = 1;
    for (;;) {
      const t0 = performance.now();
      for (let i = 0; i < iters; i++) once();
      sync();
      const s = (performance.now() - t0) / 1000;
      if (s > 0.5 || iters >= 1 << 14) return s / iters;
      iters *= 4;
    }
  };
  const ours: Record<string, number> = {};
  for (const dtype of ['float32', 'float16'] as const) {
    const a = tsr.randn([4096, 4096]).to(dtype), b = tsr.randn([4096, 4096]).to(dtype);
    ours[`matmul 4096 ${dtype} TFLOP/s`] = (2 * 4096 ** 3) / time(() => a.matmul(b)) / 1e12;
  }
  const x = tsr.randn([1 << 26]), y = tsr.randn([1 << 26]);
  ours['add 64M float32 GB/s'] = (3 * 4 * 2 ** 26) / time(() => x.add(y)) / 1e9;
  // One training step of a small GPT (the example's model at a GPU size): forward, loss, backward, AdamW.
  const config = { vocab: 96, context: 128, dim: 384, heads: 6, layers: 4 };
  tsr.manualSeed(0);
  const model = new Gpt(config).to('cuda');
  const opt = new tsr.nn.AdamW(model.parameters(), { lr: 1e-4 });
  const ids = tsr.randint(0, config.vocab, [32, config.context]), target = tsr.randint(0, config.vocab, [32 * config.context]);
  ours['gpt step ms'] = 1000 * time(() => {
    const loss = tsr.nn.crossEntropy(model.forward(ids).reshape(-1, config.vocab), target);
    opt.zeroGrad();
    loss.backward();
    opt.step();
  });
  const py = spawnSync('python3', [join(here, 'bench_torch.py'), JSON.stringify(config)], { encoding: 'utf8' });
  const peer = py.status === 0 ? JSON.parse(py.stdout.trim().split('\n').at(-1)!) as Record<string, number> : undefined;
  if (!peer) console.log(`PyTorch peer did not run: ${py.stderr?.slice(-400)}`);
  const rows = Object.entries(ours).map(([k, v]) => {
    const p = peer?.[k];
    const ratio = p === undefined ? undefined : k.endsWith('ms') ? p / v : v / p;
    return { benchmark: k, tessera: +v.toFixed(3), pytorch: p === undefined ? null : +p.toFixed(3), ratio: ratio === undefined ? null : +ratio.toFixed(3) };
  });
  if (peer?.['copy 64M float32 GB/s']) rows.push({ benchmark: 'add GB/s / PyTorch copy GB/s', tessera: +ours['add 64M float32 GB/s']!.toFixed(1), pytorch: +peer['copy 64M float32 GB/s'].toFixed(1), ratio: +(ours['add 64M float32 GB/s']! / peer['copy 64M float32 GB/s']).toFixed(3) });
  console.table(rows);
  writeFileSync(join(out, 'bench.json'), JSON.stringify({ date: new Date().toISOString(), device: backend.runtime.device, torch: peer?.['version'] ?? null, rows }, null, 2));
}
