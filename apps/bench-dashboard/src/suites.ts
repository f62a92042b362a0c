/**
 * Benchmark cases and their runner, kept free of CLI concerns so the smoke test can run them
 * in-process with a tiny time budget.
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import Benchmark from 'benchmark';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tsr from 'tessera';

export type Impl = 'tessera-js' | 'tfjs-cpu' | 'plain-js';
export type Suite = 'dispatch' | 'matmul';

/** One timed function. `dispose` frees the inputs it closes over once the case has run. */
export interface BenchCase {
  readonly suite: Suite;
  readonly case: string;
  readonly impl: Impl;
  readonly size: number;
  /** Floating-point operations per call; set for cases reported in GFLOPS. */
  readonly flops?: number;
  readonly fn: () => void;
  readonly dispose: () => void;
}

export interface CaseResult {
  readonly suite: Suite;
  readonly case: string;
  readonly impl: Impl;
  readonly size: number;
  /** Mean time per call in microseconds. */
  readonly meanUs: number;
  /** Relative margin of error of the mean, in percent (benchmark.js `stats.rme`). */
  readonly rme: number;
  readonly samples: number;
  readonly gflops?: number;
}

export interface Machine { readonly cpus: string; readonly cores: number; readonly node: string }

/** One line of the results JSON. */
export interface BenchRecord {
  readonly suite: Suite;
  readonly case: string;
  readonly impl: Impl;
  readonly size: number;
  readonly meanUs: number;
  readonly rme: number;
  readonly gflops?: number;
  readonly machine: Machine;
  readonly commit: string;
  readonly date: string;
}

export interface RunOptions {
  /** benchmark.js `maxTime` in seconds. */
  readonly maxTime: number;
  readonly minSamples?: number;
}

/** Full-run and --quick settings. */
export const FULL = { maxTime: 5, matmulSizes: [128, 512] } as const;
export const QUICK = { maxTime: 0.2, matmulSizes: [128] } as const;

/** Results land here so no engine can prove a benchmarked call dead and drop it. */
let sink: unknown;
export const lastSink = (): unknown => sink;

let tfReady = false;

/** Selects tfjs's pure-JS 'cpu' backend; call (and await) before building tfjs cases. */
export async function initTfjs(): Promise<void> {
  if (tfReady) return;
  // Production mode skips tfjs's debug-time checks and the "install tfjs-node" console banner.
  tf.enableProdMode();
  if (!(await tf.setBackend('cpu'))) throw new Error("tfjs: could not initialise the 'cpu' backend");
  await tf.ready();
  tfReady = true;
}

function requireTfjs(): void {
  if (!tfReady || tf.getBackend() !== 'cpu') throw new Error("tfjs 'cpu' backend not active: await initTfjs() first");
}

/** Tessera tensors and tfjs tensors holding the same random values. */
function pair(shape: number[]): { ts: tsr.Tensor; tfT: tf.Tensor } {
  const ts = tsr.rand(shape);
  return { ts, tfT: tf.tensor(ts.dataSync() as Float32Array, shape, 'float32') };
}

/**
 * Elementwise add of two `n`-element float32 vectors: at n = 16 the arithmetic is negligible, so
 * this measures each library's per-op cost (validation, dispatch, allocation, disposal).
 * Both libraries dispose their result every iteration so neither benefits from deferred cleanup.
 */
export function dispatchCases(n = 16): BenchCase[] {
  requireTfjs();
  const name = `add-f32-${n}`;
  const a = pair([n]), b = pair([n]);
  const x = a.ts.dataSync() as Float32Array, y = b.ts.dataSync() as Float32Array;
  const base = { suite: 'dispatch', case: name, size: n } as const;
  return [
    {
      ...base, impl: 'plain-js',
      fn: () => {
        const out = new Float32Array(n);
        for (let i = 0; i < n; i++) out[i] = x[i]! + y[i]!;
        sink = out;
      },
      dispose: () => {},
    },
    {
      ...base, impl: 'tessera-js',
      fn: () => {
        const r = tsr.add(a.ts, b.ts);
        sink = r;
        r.dispose();
      },
      dispose: () => { a.ts.dispose(); b.ts.dispose(); },
    },
    {
      ...base, impl: 'tfjs-cpu',
      fn: () => {
        const r = tf.add(a.tfT, b.tfT);
        sink = r;
        r.dispose();
      },
      dispose: () => { a.tfT.dispose(); b.tfT.dispose(); },
    },
  ];
}

/**
 * Square float32 matmul n x n x n. tfjs results are read back with dataSync() so the product is
 * complete inside the timed call (Tessera's CPU backend is synchronous already).
 */
export function matmulCases(n: number): BenchCase[] {
  requireTfjs();
  const name = `matmul-f32-${n}`;
  const a = pair([n, n]), b = pair([n, n]);
  checkSameProduct(a, b, n);
  const base = { suite: 'matmul', case: name, size: n, flops: 2 * n ** 3 } as const;
  return [
    {
      ...base, impl: 'tessera-js',
      fn: () => {
        const r = tsr.matmul(a.ts, b.ts);
        sink = r;
        r.dispose();
      },
      dispose: () => { a.ts.dispose(); b.ts.dispose(); },
    },
    {
      ...base, impl: 'tfjs-cpu',
      fn: () => {
        const r = tf.matMul(a.tfT, b.tfT);
        sink = r.dataSync();
        r.dispose();
      },
      dispose: () => { a.tfT.dispose(); b.tfT.dispose(); },
    },
  ];
}

/** Guards against comparing different computations: both products must agree to float32 accuracy. */
function checkSameProduct(a: ReturnType<typeof pair>, b: ReturnType<typeof pair>, n: number): void {
  const mine = tsr.matmul(a.ts, b.ts);
  const theirs = tf.matMul(a.tfT, b.tfT);
  const p = mine.dataSync(), q = theirs.dataSync();
  mine.dispose();
  theirs.dispose();
  // Far above float32 accumulation error at these sizes, far below what a wrong product would give.
  for (let i = 0; i < p.length; i++) {
    const d = Math.abs(Number(p[i]) - Number(q[i]));
    if (!(d <= 1e-3 * (1 + Math.abs(Number(q[i]))))) throw new Error(`matmul ${n}: Tessera and tfjs disagree at ${i}: ${p[i]} vs ${q[i]}`);
  }
}

/**
 * Times one case with benchmark.js, synchronously. benchmark.js inlines a test body into its timing
 * loop when it can decompile it; every case here closes over module state, so that pretest fails
 * and it calls `fn` each iteration instead, the same way for every impl.
 */
export function runCase(c: BenchCase, opt: RunOptions): CaseResult {
  const bench = new Benchmark(`${c.case} ${c.impl}`, c.fn, {
    maxTime: opt.maxTime,
    ...(opt.minSamples === undefined ? {} : { minSamples: opt.minSamples }),
    async: false,
  });
  bench.run();
  // benchmark.js reports a throwing test through `error` rather than rethrowing it.
  if (bench.error) throw bench.error;
  const mean = bench.stats.mean;
  return {
    suite: c.suite, case: c.case, impl: c.impl, size: c.size,
    meanUs: mean * 1e6,
    rme: bench.stats.rme,
    samples: bench.stats.sample.length,
    ...(c.flops === undefined ? {} : { gflops: c.flops / mean / 1e9 }),
  };
}

/** Runs every case of a group, disposing its inputs afterwards even if a case fails. */
export function runCases(cases: readonly BenchCase[], opt: RunOptions, onResult?: (r: CaseResult) => void): CaseResult[] {
  try {
    return cases.map((c) => {
      const r = runCase(c, opt);
      onResult?.(r);
      return r;
    });
  } finally {
    for (const c of cases) c.dispose();
  }
}

export interface BenchOptions { readonly quick: boolean; readonly onResult?: (r: CaseResult) => void }

/** The whole benchmark: dispatch suite, then matmul at each size (only 128 with --quick). */
export async function runAll(opt: BenchOptions): Promise<CaseResult[]> {
  await initTfjs();
  const cfg = opt.quick ? QUICK : FULL;
  const run = { maxTime: cfg.maxTime };
  const results = runCases(dispatchCases(16), run, opt.onResult);
  for (const n of cfg.matmulSizes) results.push(...runCases(matmulCases(n), run, opt.onResult));
  return results;
}

export function machineInfo(): Machine {
  const cpus = os.cpus();
  return { cpus: cpus[0]?.model ?? 'unknown', cores: cpus.length, node: process.version };
}

export function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'uncommitted';
  }
}

export function toRecords(results: readonly CaseResult[], meta: { machine: Machine; commit: string; date: string }): BenchRecord[] {
  return results.map(({ samples: _samples, ...r }) => ({ ...r, ...meta }));
}

/** Cross-library ratios per case: tfjs/tessera time for dispatch (> 1: Tessera is faster), tessera/tfjs GFLOPS for matmul. */
export function ratios(results: readonly CaseResult[]): { case: string; label: string; value: number }[] {
  const out: { case: string; label: string; value: number }[] = [];
  for (const name of new Set(results.map((r) => r.case))) {
    const ts = results.find((r) => r.case === name && r.impl === 'tessera-js');
    const tfr = results.find((r) => r.case === name && r.impl === 'tfjs-cpu');
    if (!ts || !tfr) continue;
    if (ts.gflops !== undefined && tfr.gflops !== undefined) out.push({ case: name, label: 'GFLOPS tessera/tfjs', value: ts.gflops / tfr.gflops });
    else out.push({ case: name, label: 'time tfjs/tessera', value: tfr.meanUs / ts.meanUs });
  }
  return out;
}

const fmt = (v: number): string => (v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(2) : v.toPrecision(3));

export function formatTable(results: readonly CaseResult[]): string {
  const head = ['suite', 'case', 'impl', 'mean (us)', 'rme', 'GFLOPS', 'samples'];
  const rows = results.map((r) => [
    r.suite, r.case, r.impl, fmt(r.meanUs), `±${r.rme.toFixed(2)}%`, r.gflops === undefined ? '' : r.gflops.toFixed(3), String(r.samples),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  // Text columns left-aligned, numeric ones right-aligned.
  const line = (cells: readonly string[]) => cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const lines = [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
  const rs = ratios(results);
  if (rs.length) lines.push('', ...rs.map((r) => `${r.case}: ${r.label} = ${r.value.toFixed(2)}x`));
  return lines.join('\n');
}
