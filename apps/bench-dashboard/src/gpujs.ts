/**
 * gpu.js benchmarks: matmul 256..1024 and elementwise add of 1M on device 'gpujs' (one gpu.js mode per
 * run, named in the results), beside tessera-native (or tessera-js) on the CPU in the same run, written
 * as results/<timestamp>-gpujs-<mode>.json. As in webgpu.ts, each sample launches `iters` ops and reads
 * the last result back, so asynchronous modes are timed to completion.
 *
 *   npx tsx apps/bench-dashboard/src/gpujs.ts [--mode headlessgl|webgpu|webasm|cpu] [--quick]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tsr from 'tessera';
import { type Mode, initGpuJs } from '@tessera/kernels-gpujs';
import { createNativeBackend } from '@tessera/kernels-native';
import { type CaseResult, type TesseraImpl, formatTable, gitCommit, machineInfo, toRecords, withBackend } from './suites.js';

const quick = process.argv.includes('--quick');
const modeArg = process.argv[process.argv.indexOf('--mode') + 1];
const backend = await initGpuJs(process.argv.includes('--mode') ? { mode: modeArg as Mode } : {});
const native = createNativeBackend();
const cpu = typeof native === 'string' ? tsr.jsBackend : native;
const cpuImpl: TesseraImpl = typeof native === 'string' ? 'tessera-js' : 'tessera-native';

/** Median time per op in microseconds over `samples` samples of `iters` ops each, after a warm-up. */
async function time(op: () => tsr.Tensor, iters: number, samples: number): Promise<{ meanUs: number; rme: number; samples: number }> {
  const once = async (n: number) => {
    let last: tsr.Tensor | undefined;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) { last?.dispose(); last = op(); }
    await last!.narrow(0, 0, 1).data();
    const dt = performance.now() - t0;
    last!.dispose();
    return (dt * 1000) / n;
  };
  await once(2);
  const xs: number[] = [];
  for (let s = 0; s < samples; s++) xs.push(await once(iters));
  xs.sort((a, b) => a - b);
  const med = xs[Math.floor(xs.length / 2)]!;
  return { meanUs: med, rme: ((xs[xs.length - 1]! - xs[0]!) / 2 / med) * 100, samples };
}

const results: CaseResult[] = [];
const record = (r: Omit<CaseResult, 'meanUs' | 'rme' | 'samples'>, t: { meanUs: number; rme: number; samples: number }, work: { flops?: number; bytes?: number }) => {
  const res: CaseResult = { ...r, ...t, ...(work.flops ? { gflops: work.flops / t.meanUs / 1e3 } : {}), ...(work.bytes ? { gbps: work.bytes / t.meanUs / 1e3 } : {}) };
  results.push(res);
  console.log(`${res.case} ${res.impl}: ${res.meanUs.toFixed(1)} us${res.gflops ? ` ${res.gflops.toFixed(2)} GFLOP/s` : ''}${res.gbps ? ` ${res.gbps.toFixed(2)} GB/s` : ''}`);
};
const onCpu = (t: tsr.Tensor) => withBackend(cpu, () => tsr.tensor(t.dataSync() as Float32Array, { shape: t.shape }));

for (const n of quick ? [256] : [256, 512, 1024]) {
  const a = tsr.rand([n, n]), b = tsr.rand([n, n]);
  const ga = a.to('gpujs'), gb = b.to('gpujs');
  // Same product on both devices first: a wrong kernel must not produce a fast figure.
  const want = a.matmul(b).dataSync();
  const got = await ga.matmul(gb).data();
  for (let i = 0; i < want.length; i += 97) if (Math.abs(Number(got[i]) - Number(want[i])) > 1e-3 * (1 + Math.abs(Number(want[i])))) throw new Error(`matmul ${n}: gpujs differs at ${i}`);
  const work = { flops: 2 * n ** 3 };
  const name = `matmul-f32-${n}`;
  record({ suite: 'matmul', case: name, impl: 'tessera-gpujs', size: n }, await time(() => ga.matmul(gb), quick ? 1 : 3, quick ? 3 : 5), work);
  const ca = onCpu(a), cb = onCpu(b);
  record({ suite: 'matmul', case: name, impl: cpuImpl, size: n }, await time(() => withBackend(cpu, () => ca.matmul(cb)), quick ? 2 : 8, quick ? 3 : 7), work);
}

const n = 1 << 20;
const a = tsr.rand([n]), b = tsr.rand([n]);
const ga = a.to('gpujs'), gb = b.to('gpujs');
const name = `add-f32-${n}`;
const work = { bytes: 12 * n };
record({ suite: 'elementwise', case: name, impl: 'tessera-gpujs', size: n }, await time(() => ga.add(gb), quick ? 4 : 20, quick ? 3 : 7), work);
const ca = onCpu(a), cb = onCpu(b);
record({ suite: 'elementwise', case: name, impl: cpuImpl, size: n }, await time(() => withBackend(cpu, () => ca.add(cb)), quick ? 4 : 20, quick ? 3 : 7), work);

console.log(`\ngpu.js mode: ${backend.runtime.description}\n${formatTable(results)}`);
const machine = { ...machineInfo(), gpu: `gpu.js ${backend.runtime.description}` };
const date = new Date().toISOString();
const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../results');
mkdirSync(dir, { recursive: true });
const file = path.join(dir, `${date.replace(/:/g, '-')}-gpujs-${backend.mode}${quick ? '.tmp' : ''}.json`);
writeFileSync(file, `${JSON.stringify(toRecords(results, { machine, commit: gitCommit(), date }), null, 2)}\n`);
console.log(`wrote ${path.relative(process.cwd(), file)}`);
process.exit(0);
