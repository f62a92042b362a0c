/**
 * Benchmarks of an asynchronous device (webgpu, gpujs): matmul and elementwise add on the device,
 * beside tessera-native (or tessera-js) on the CPU in the same run, written in the results format as
 * results/<timestamp>-<tag>.json. benchmark.js times synchronous calls; device work completes
 * asynchronously, so each sample launches `iters` ops and waits for the last result to be read back
 * (one readback per sample, amortised). The device's product is checked against the CPU's first, so
 * a wrong kernel cannot produce a fast figure.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tsr from 'tessera';
import { createNativeBackend } from '@tessera/kernels-native';
import { type CaseResult, type TesseraImpl, formatTable, gitCommit, machineInfo, toRecords, withBackend } from './suites.js';

export interface DeviceBench {
  readonly device: tsr.DeviceKind;
  readonly impl: TesseraImpl;
  /** What ran the device (adapter, gpu.js mode): the results' machine.gpu. */
  readonly describe: string;
  /** Results file suffix: results/<timestamp>-<tag>.json. */
  readonly tag: string;
  readonly matmulSizes: readonly number[];
  readonly addSizes: readonly number[];
  /** Ops per sample (matmul, add) and samples. */
  readonly iters: { matmul: number; add: number };
  readonly samples: number;
  readonly quick: boolean;
}

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

export async function benchDevice(o: DeviceBench): Promise<void> {
  const native = createNativeBackend();
  const cpu = typeof native === 'string' ? tsr.jsBackend : native;
  const cpuImpl: TesseraImpl = typeof native === 'string' ? 'tessera-js' : 'tessera-native';
  const onCpu = (t: tsr.Tensor) => withBackend(cpu, () => tsr.tensor(t.dataSync() as Float32Array, { shape: t.shape }));
  const results: CaseResult[] = [];
  const record = (r: Omit<CaseResult, 'meanUs' | 'rme' | 'samples'>, t: { meanUs: number; rme: number; samples: number }, work: { flops?: number; bytes?: number }) => {
    const res: CaseResult = { ...r, ...t, ...(work.flops ? { gflops: work.flops / t.meanUs / 1e3 } : {}), ...(work.bytes ? { gbps: work.bytes / t.meanUs / 1e3 } : {}) };
    results.push(res);
    console.log(`${res.case} ${res.impl}: ${res.meanUs.toFixed(1)} us${res.gflops ? ` ${res.gflops.toFixed(2)} GFLOP/s` : ''}${res.gbps ? ` ${res.gbps.toFixed(2)} GB/s` : ''}`);
  };

  for (const n of o.matmulSizes) {
    const a = tsr.rand([n, n]), b = tsr.rand([n, n]);
    const ga = a.to(o.device), gb = b.to(o.device);
    const want = a.matmul(b).dataSync();
    const got = await ga.matmul(gb).data();
    for (let i = 0; i < want.length; i += 97) if (Math.abs(Number(got[i]) - Number(want[i])) > 1e-3 * (1 + Math.abs(Number(want[i])))) throw new Error(`matmul ${n}: ${o.device} differs at ${i}`);
    const work = { flops: 2 * n ** 3 };
    const name = `matmul-f32-${n}`;
    record({ suite: 'matmul', case: name, impl: o.impl, size: n }, await time(() => ga.matmul(gb), o.iters.matmul, o.samples), work);
    const ca = onCpu(a), cb = onCpu(b);
    record({ suite: 'matmul', case: name, impl: cpuImpl, size: n }, await time(() => withBackend(cpu, () => ca.matmul(cb)), o.quick ? 2 : 8, o.quick ? 3 : 7), work);
  }

  for (const n of o.addSizes) {
    const a = tsr.rand([n]), b = tsr.rand([n]);
    const ga = a.to(o.device), gb = b.to(o.device);
    const name = `add-f32-${n}`;
    const work = { bytes: 12 * n };
    record({ suite: 'elementwise', case: name, impl: o.impl, size: n }, await time(() => ga.add(gb), o.iters.add, o.samples), work);
    const ca = onCpu(a), cb = onCpu(b);
    record({ suite: 'elementwise', case: name, impl: cpuImpl, size: n }, await time(() => withBackend(cpu, () => ca.add(cb)), o.iters.add, o.samples), work);
  }

  console.log(`\n${o.device}: ${o.describe}\n${formatTable(results)}`);
  const machine = { ...machineInfo(), gpu: o.describe };
  const date = new Date().toISOString();
  const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${date.replace(/:/g, '-')}-${o.tag}${o.quick ? '.tmp' : ''}.json`);
  writeFileSync(file, `${JSON.stringify(toRecords(results, { machine, commit: gitCommit(), date }), null, 2)}\n`);
  console.log(`wrote ${path.relative(process.cwd(), file)}`);
}
