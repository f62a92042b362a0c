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
import { createNativeBackend } from '@tessera/kernels-native';
import { makeModel as makeDigitsCnn } from '../../../examples/src/train-digits.js';
import { type TorchWant, runTorchOps, runTorchTrainStep } from './pytorch.js';

const { nn } = tsr;

export type TesseraImpl = 'tessera-js' | 'tessera-native';
/** `pytorch` (no BLAS suffix) is PyTorch on a case that does not call BLAS (elementwise). */
export type Impl = TesseraImpl | 'tfjs-cpu' | 'plain-js' | 'pytorch' | 'pytorch-refblas' | 'pytorch-openblas';
export type Suite = 'dispatch' | 'matmul' | 'elementwise' | 'train-step';

/** One timed function. `dispose` frees the inputs it closes over once the case has run. */
export interface BenchCase {
  readonly suite: Suite;
  readonly case: string;
  readonly impl: Impl;
  readonly size: number;
  /** Floating-point operations per call; set for cases reported in GFLOPS. */
  readonly flops?: number;
  /** Bytes read plus written per call; set for cases reported in GB/s. */
  readonly bytes?: number;
  /** The Tessera backend that serves device 'cpu' while the case is timed (see withBackend). */
  readonly backend?: tsr.Backend;
  /** A smaller benchmark.js budget for a case whose single call takes seconds (pure-JS matmul at 1024). */
  readonly budget?: { readonly maxTime: number; readonly minSamples: number };
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
  /** Bytes read plus written per second, in GB/s (elementwise). */
  readonly gbps?: number;
}

export interface Machine { readonly cpus: string; readonly cores: number; readonly node: string }

/** One line of the results JSON: a case's result (without the sample count) and where it was measured. */
export interface BenchRecord extends Omit<CaseResult, 'samples'> {
  readonly machine: Machine;
  readonly commit: string;
  readonly date: string;
}

export interface RunOptions {
  /** benchmark.js `maxTime` in seconds. */
  readonly maxTime: number;
  readonly minSamples?: number;
}

/** Full-run and --quick settings (PyTorch's train-step budget is set in torch_train_step.py: 2 s, or 0.3 s). */
export const FULL = { maxTime: 5, matmulSizes: [128, 512], trainStep: ['mlp', 'cnn'] } as const;
export const QUICK = { maxTime: 0.2, matmulSizes: [128], trainStep: ['mlp'] } as const;

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

type Pair = { ts: tsr.Tensor; tfT: tf.Tensor };

/** Tessera tensors and tfjs tensors holding the same random values. */
function pair(shape: number[]): Pair {
  const ts = tsr.rand(shape);
  return { ts, tfT: tf.tensor(ts.dataSync() as Float32Array, shape, 'float32') };
}

/**
 * The Tessera and tfjs cases of one binary op on the same operands; each disposes its result every
 * call. `readBack` makes tfjs finish the work inside the timed call (dataSync).
 */
function peerCases(
  base: Omit<BenchCase, 'impl' | 'fn' | 'dispose'>, a: Pair, b: Pair,
  ops: { tessera: (x: tsr.Tensor, y: tsr.Tensor) => tsr.Tensor; tfjs: (x: tf.Tensor, y: tf.Tensor) => tf.Tensor; readBack?: boolean },
): BenchCase[] {
  return [
    {
      ...base, impl: 'tessera-js',
      fn: () => { const r = ops.tessera(a.ts, b.ts); sink = r; r.dispose(); },
      dispose: () => { a.ts.dispose(); b.ts.dispose(); },
    },
    {
      ...base, impl: 'tfjs-cpu',
      fn: () => { const r = ops.tfjs(a.tfT, b.tfT); sink = ops.readBack ? r.dataSync() : r; r.dispose(); },
      dispose: () => { a.tfT.dispose(); b.tfT.dispose(); },
    },
  ];
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
    ...peerCases(base, a, b, { tessera: tsr.add, tfjs: tf.add }),
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
  return peerCases(base, a, b, { tessera: tsr.matmul, tfjs: tf.matMul, readBack: true });
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

interface TrainSetup { model: tsr.nn.Module; opt: { zeroGrad(): void; step(): void }; x: tsr.Tensor; y: tsr.Tensor }

/** Train-step models; torch_train_step.py builds the same ones under the same case names. */
const TRAIN_STEP = {
  mlp: {
    name: 'mlp-784-128-10-b64', batch: 64,
    build: (): TrainSetup => {
      const model = new nn.Sequential(new nn.Linear(784, 128), new nn.ReLU(), new nn.Linear(128, 10));
      return { model, opt: new nn.SGD(model.parameters(), { lr: 0.1, momentum: 0.9 }), x: tsr.randn([64, 784]), y: tsr.randint(0, 10, [64]) };
    },
  },
  cnn: {
    name: 'cnn-digits-b32', batch: 32,
    build: (): TrainSetup => {
      const model = makeDigitsCnn();
      return { model, opt: new nn.AdamW(model.parameters(), { lr: 3e-3, weightDecay: 1e-4 }), x: tsr.randn([32, 1, 8, 8]), y: tsr.randint(0, 10, [32]) };
    },
  },
} as const;
export type TrainStepModel = keyof typeof TRAIN_STEP;

/** A train-step case also carries its parameter count, which the PyTorch side must match. */
export interface TrainStepCase extends BenchCase { readonly params: number }

/**
 * One training step (zeroGrad, forward, cross-entropy, backward, optimizer step) on a fixed random
 * batch, in train mode (the CNN's dropout is active). Intermediates are left to the garbage collector,
 * as in the examples' training loops, so its cost is part of the measured time.
 */
export function trainStepCase(kind: TrainStepModel): TrainStepCase {
  const { name, batch, build } = TRAIN_STEP[kind];
  tsr.manualSeed(0);
  const { model, opt, x, y } = build();
  model.train();
  const step = (): tsr.Tensor => {
    opt.zeroGrad();
    const loss = nn.crossEntropy(model.forward(x), y);
    loss.backward();
    opt.step();
    return loss;
  };
  // The untimed first step creates the optimizer state and catches a broken model before timing.
  const first = step().itemSync() as number;
  if (!Number.isFinite(first)) throw new Error(`train-step ${name}: first step gave loss ${first}`);
  const params = model.parameters();
  return {
    suite: 'train-step', case: name, impl: 'tessera-js', size: batch,
    params: params.reduce((n, p) => n + p.numel, 0),
    fn: () => { sink = step(); },
    dispose: () => { x.dispose(); y.dispose(); for (const p of params) p.dispose(); },
  };
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

export interface BenchOptions {
  readonly quick: boolean;
  readonly onResult?: (r: CaseResult) => void;
  /** Why a peer was skipped, and which PyTorch/BLAS produced the PyTorch rows. */
  readonly onNote?: (note: string) => void;
}

/**
 * The whole benchmark: dispatch, matmul at each size, then train-step in Tessera and in PyTorch
 * (--quick: matmul 128 and the MLP step only).
 */
export async function runAll(opt: BenchOptions): Promise<CaseResult[]> {
  await initTfjs();
  const cfg = opt.quick ? QUICK : FULL;
  const run = { maxTime: cfg.maxTime };
  const results = runCases(dispatchCases(16), run, opt.onResult);
  for (const n of cfg.matmulSizes) results.push(...runCases(matmulCases(n), run, opt.onResult));
  const train = cfg.trainStep.map(trainStepCase);
  results.push(...runCases(train, run, opt.onResult));
  const torch = runTorchTrainStep(new Map(train.map((c) => [c.case, { size: c.size, params: c.params }])), opt.quick);
  for (const r of torch.results) opt.onResult?.(r);
  for (const n of torch.notes) opt.onNote?.(n);
  return [...results, ...torch.results];
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

/** Peers Tessera is compared with, and their short names in ratio labels. */
const PEERS: readonly [Impl, string][] = [['tfjs-cpu', 'tfjs'], ['pytorch-refblas', 'pytorch-refblas'], ['pytorch-openblas', 'pytorch-openblas']];

/**
 * Cross-library ratios per case and peer measured in the run: peer/tessera time (> 1: Tessera is
 * faster), or tessera/peer GFLOPS where both report GFLOPS (matmul).
 */
export function ratios(results: readonly CaseResult[]): { case: string; label: string; value: number }[] {
  const out: { case: string; label: string; value: number }[] = [];
  for (const name of new Set(results.map((r) => r.case))) {
    const ts = results.find((r) => r.case === name && r.impl === 'tessera-js');
    if (!ts) continue;
    for (const [impl, short] of PEERS) {
      const peer = results.find((r) => r.case === name && r.impl === impl);
      if (!peer) continue;
      if (ts.gflops !== undefined && peer.gflops !== undefined) out.push({ case: name, label: `GFLOPS tessera/${short}`, value: ts.gflops / peer.gflops });
      else out.push({ case: name, label: `time ${short}/tessera`, value: peer.meanUs / ts.meanUs });
    }
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
