/**
 * Benchmark cases and their runner, kept free of CLI concerns so the smoke test can run them
 * in-process with a tiny time budget.
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import Benchmark from 'benchmark';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { createRequire } from 'node:module';
import { ORT_THREADS, ortCase } from './onnx.js';
import * as tsr from 'tessera';
import { createNativeBackend, nativeSimd } from '@tessera/kernels-native';
import { makeModel as makeDigitsCnn } from '../../../examples/src/train-digits.js';
import { type TorchWant, runTorchOps, runTorchTrainStep } from './pytorch.js';

const { nn } = tsr;

export type TesseraImpl = 'tessera-js' | 'tessera-native' | 'tessera-webgpu' | 'tessera-gpujs';
/** `pytorch` (no BLAS suffix) is PyTorch on a case that does not call BLAS (elementwise). */
export type Impl = TesseraImpl | 'tfjs-cpu' | 'tfjs-wasm' | 'onnxruntime' | 'plain-js' | 'pytorch' | 'pytorch-refblas' | 'pytorch-openblas';
export type { Suite } from '../web/data.js';
import type { Suite } from '../web/data.js';

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
  /** For a peer whose calls complete asynchronously (onnxruntime): timed as a deferred benchmark. */
  readonly fnAsync?: () => Promise<unknown>;
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
  /** How the impl ran, where its runner knows better than implConfig (PyTorch's threads and BLAS). */
  readonly config?: RunConfig;
}

/**
 * How an impl ran (threads, BLAS, execution provider), recorded with each result, so that a reader
 * can check that every peer ran in its best configuration and not only Tessera.
 */
export type RunConfig = Readonly<Record<string, string | number | boolean>>;

export interface Machine { readonly cpus: string; readonly cores: number; readonly node: string; readonly simd?: string; readonly gpu?: string }

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

/**
 * Full-run and --quick settings (PyTorch's budget is set in its scripts: 2 s, or 0.3 s). Elementwise
 * ops run on `elementwiseSize` float32 elements: 16 MiB per operand, far past every cache.
 */
export const FULL = {
  maxTime: 5, matmulSizes: [64, 128, 512, 1024], elementwise: ['add', 'mul', 'exp'], elementwiseSize: 4_194_304,
  ops: ['softmax', 'sum', 'conv2d'], trainStep: ['mlp', 'cnn'],
} as const;
export const QUICK = { maxTime: 0.2, matmulSizes: [128], elementwise: ['add'], elementwiseSize: 4_194_304, ops: ['softmax'], trainStep: ['mlp'] } as const;

/**
 * Pure-JS matmul (tessera-js, tfjs-cpu) takes 0.5 to 2.5 s per call from n = 1024, and benchmark.js
 * only starts counting maxTime after minSamples samples: these get 3 samples and 1 s instead.
 */
const SLOW_MATMUL = { fromSize: 1024, impls: ['tessera-js', 'tfjs-cpu', 'tfjs-wasm'] as readonly Impl[], budget: { maxTime: 1, minSamples: 3 } } as const;

/** Results land here so no engine can prove a benchmarked call dead and drop it. */
let sink: unknown;
export const lastSink = (): unknown => sink;

let tfReady = false;

/** Selects tfjs's pure-JS 'cpu' backend; call (and await) before building tfjs cases. */
export async function initTfjs(): Promise<void> {
  if (!tfReady) {
    // Production mode skips tfjs's debug-time checks and the "install tfjs-node" console banner.
    tf.enableProdMode();
    // The wasm backend loads its .wasm files from its package's dist directory.
    setWasmPaths(`${path.dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm'))}/`);
    tfReady = true;
  }
  await useTfjs('cpu');
}

/**
 * Makes tfjs's 'cpu' (pure JS) or 'wasm' (WebAssembly with SIMD, single-threaded in Node) backend the
 * active one; tfjs cases are built and timed under the backend they are named after.
 */
export async function useTfjs(backend: 'cpu' | 'wasm'): Promise<void> {
  if (!(await tf.setBackend(backend))) throw new Error(`tfjs: could not initialise the '${backend}' backend`);
  await tf.ready();
}

const tfjsImpl = (): Impl => (tf.getBackend() === 'wasm' ? 'tfjs-wasm' : 'tfjs-cpu');

function requireTfjs(): void {
  if (!tfReady || !['cpu', 'wasm'].includes(tf.getBackend())) throw new Error("tfjs backend not active: await initTfjs() first");
}

/** A Tessera CPU backend measured as its own impl. */
export interface TesseraBackend { readonly impl: TesseraImpl; readonly backend: tsr.Backend }

export const JS_BACKEND: TesseraBackend = { impl: 'tessera-js', backend: tsr.jsBackend };

/**
 * The pure-JS backend, plus the native one when its addon loads; otherwise `skipped` says why.
 * Importing 'tessera' registers native over JS when it can, so neither is taken from the registry.
 */
export function tesseraBackends(): { backends: TesseraBackend[]; skipped?: string } {
  const native = createNativeBackend();
  if (typeof native === 'string') return { backends: [JS_BACKEND], skipped: `tessera-native skipped: native backend: ${native}` };
  return { backends: [JS_BACKEND, { impl: 'tessera-native', backend: native }] };
}

/**
 * Runs `f` with `backend` serving device 'cpu', then restores the previous one. Tensors stay on the
 * backend they were created with, but factories called inside a step (dropout masks, optimizer state,
 * the seed gradient) take the registered one, so it must be active while timing too, not only while building.
 */
export function withBackend<T>(backend: tsr.Backend, f: () => T): T {
  const prev = tsr.getBackend('cpu');
  tsr.registerBackend(backend);
  let result: T;
  try {
    result = f();
  } catch (e) {
    tsr.registerBackend(prev);
    throw e;
  }
  // An async `f` keeps the backend until its promise settles, not only until its first await.
  if (result instanceof Promise) return result.finally(() => tsr.registerBackend(prev)) as T;
  tsr.registerBackend(prev);
  return result;
}

/** Host values every library's inputs are copied from, so all impls of a case see the same numbers. */
interface Operand { readonly shape: number[]; readonly data: Float32Array }

function randOperand(shape: number[]): Operand {
  return withBackend(tsr.jsBackend, () => {
    const t = tsr.rand(shape);
    const data = t.dataSync() as Float32Array;
    t.dispose();
    return { shape, data };
  });
}

/** Tessera tensors of `operands` created with `backend` registered (tensor() copies the host data). */
function tesseraInputs(backend: tsr.Backend, operands: readonly Operand[]): tsr.Tensor[] {
  return withBackend(backend, () => operands.map((o) => tsr.tensor(o.data, { shape: o.shape })));
}

/** A unary or binary op in each library (`y` is set exactly when the op is binary). */
interface PeerOps {
  readonly tessera: (x: tsr.Tensor, y?: tsr.Tensor) => tsr.Tensor;
  readonly tfjs: (x: tf.Tensor, y?: tf.Tensor) => tf.Tensor;
  /** Makes tfjs finish the work inside the timed call (dataSync). */
  readonly readBack?: boolean;
}

/**
 * One Tessera case per backend, each on inputs created under that backend, and the tfjs case, all on
 * the same operand values; each disposes its result every call.
 */
function peerCases(
  base: Omit<BenchCase, 'impl' | 'fn' | 'dispose'>, operands: readonly Operand[], backends: readonly TesseraBackend[], ops: PeerOps,
): BenchCase[] {
  const tessera = backends.map(({ impl, backend }): BenchCase => {
    const xs = tesseraInputs(backend, operands);
    const [x, y] = xs;
    return {
      ...base, impl, backend,
      fn: () => { const r = ops.tessera(x!, y); sink = r; r.dispose(); },
      dispose: () => { for (const t of xs) t.dispose(); },
    };
  });
  const ts = operands.map((o) => tf.tensor(o.data, o.shape, 'float32'));
  const [a, b] = ts;
  return [
    ...tessera,
    {
      ...base, impl: tfjsImpl(),
      fn: () => { const r = ops.tfjs(a!, b); sink = ops.readBack ? r.dataSync() : r; r.dispose(); },
      dispose: () => { for (const t of ts) t.dispose(); },
    },
  ];
}

/** The result of `ops` on `operands` in tfjs, and in Tessera on `backend`: what the checks compare. */
function tfjsResult(operands: readonly Operand[], ops: PeerOps): Float32Array {
  const ts = operands.map((o) => tf.tensor(o.data, o.shape, 'float32'));
  const r = ops.tfjs(ts[0]!, ts[1]);
  const data = r.dataSync() as Float32Array;
  for (const t of [...ts, r]) t.dispose();
  return data;
}

function tesseraResult(backend: tsr.Backend, operands: readonly Operand[], ops: PeerOps): Float32Array {
  const xs = tesseraInputs(backend, operands);
  const r = withBackend(backend, () => ops.tessera(xs[0]!, xs[1]));
  const data = r.dataSync() as Float32Array;
  for (const t of [...xs, r]) t.dispose();
  return data;
}

/** Guards against comparing different computations: `got` must match `want` to `tol` relative (plus `tol` absolute). */
function expectClose(name: string, impl: Impl, got: ArrayLike<number>, want: ArrayLike<number>, tol: number): void {
  for (let i = 0; i < want.length; i++) {
    const w = Number(want[i]), d = Math.abs(Number(got[i]) - w);
    if (!(d <= tol * (1 + Math.abs(w)))) throw new Error(`${name}: ${impl} gives ${got[i]} at ${i}, expected ${w}`);
  }
}

/**
 * Elementwise add of two `n`-element float32 vectors: at n = 16 the arithmetic is negligible, so
 * this measures each library's per-op cost (validation, dispatch, allocation, disposal).
 * Both libraries dispose their result every iteration so neither benefits from deferred cleanup.
 */
export function dispatchCases(n: number, backends: readonly TesseraBackend[]): BenchCase[] {
  requireTfjs();
  const name = `add-f32-${n}`;
  const a = randOperand([n]), b = randOperand([n]);
  const x = a.data, y = b.data;
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
    ...peerCases(base, [a, b], backends, { tessera: (p, q) => tsr.add(p, q!), tfjs: (p, q) => tf.add(p, q!) }),
  ];
}

/**
 * Square float32 matmul n x n x n. tfjs results are read back with dataSync() so the product is
 * complete inside the timed call (Tessera's CPU backends are synchronous already).
 */
export function matmulCases(n: number, backends: readonly TesseraBackend[]): BenchCase[] {
  requireTfjs();
  const name = `matmul-f32-${n}`;
  const operands = [randOperand([n, n]), randOperand([n, n])];
  const ops: PeerOps = { tessera: (p, q) => tsr.matmul(p, q!), tfjs: (p, q) => tf.matMul(p, q!), readBack: true };
  // Far above float32 accumulation error at these sizes, far below what a wrong product would give.
  const want = tfjsResult(operands, ops);
  for (const { impl, backend } of backends) expectClose(name, impl, tesseraResult(backend, operands, ops), want, 1e-3);
  const base = { suite: 'matmul', case: name, size: n, flops: 2 * n ** 3 } as const;
  return peerCases(base, operands, backends, ops)
    .map((c) => (n >= SLOW_MATMUL.fromSize && SLOW_MATMUL.impls.includes(c.impl) ? { ...c, budget: SLOW_MATMUL.budget } : c));
}

/** Elementwise ops of the `elementwise` suite; `plain` is the plain-js loop into a new array. */
const ELEMENTWISE = {
  add: {
    arity: 2, tessera: (x, y) => tsr.add(x, y!), tfjs: (x, y) => tf.add(x, y!),
    plain: (x, y) => { const out = new Float32Array(x.length); for (let i = 0; i < out.length; i++) out[i] = x[i]! + y![i]!; return out; },
  },
  mul: {
    arity: 2, tessera: (x, y) => tsr.mul(x, y!), tfjs: (x, y) => tf.mul(x, y!),
    plain: (x, y) => { const out = new Float32Array(x.length); for (let i = 0; i < out.length; i++) out[i] = x[i]! * y![i]!; return out; },
  },
  exp: {
    arity: 1, tessera: (x) => tsr.exp(x), tfjs: (x) => tf.exp(x),
    plain: (x) => { const out = new Float32Array(x.length); for (let i = 0; i < out.length; i++) out[i] = Math.exp(x[i]!); return out; },
  },
} satisfies Record<string, PeerOps & { arity: 1 | 2; plain: (x: Float32Array, y?: Float32Array) => Float32Array }>;
export type ElementwiseOp = keyof typeof ELEMENTWISE;

/**
 * One elementwise op on `n` float32 elements per operand: memory-bound, so reported in GB/s of
 * operands read plus result written. Every impl allocates its result each call.
 */
export function elementwiseCases(op: ElementwiseOp, n: number, backends: readonly TesseraBackend[]): BenchCase[] {
  requireTfjs();
  const spec = ELEMENTWISE[op];
  const name = `${op}-f32-${n}`;
  const operands = Array.from({ length: spec.arity }, () => randOperand([n]));
  const [x, y] = operands.map((o) => o.data);
  const plain = spec.plain;
  // Libraries may round exp differently (f32 or f64 evaluation): a few ulp, far below a wrong op.
  const want = plain(x!, y);
  expectClose(name, tfjsImpl(), tfjsResult(operands, spec), want, 1e-5);
  for (const { impl, backend } of backends) expectClose(name, impl, tesseraResult(backend, operands, spec), want, 1e-5);
  const base = { suite: 'elementwise', case: name, size: n, bytes: 4 * n * (spec.arity + 1) } as const;
  return [
    { ...base, impl: 'plain-js', fn: () => { sink = plain(x!, y); }, dispose: () => {} },
    ...peerCases(base, operands, backends, spec),
  ];
}

/**
 * The `ops` suite: a row softmax, a full sum and a 3x3 convolution, at one size each. `n` is the
 * case's size (rows, elements, batch); torch_ops.py builds the same shapes from the same case names.
 */
const OPS = {
  softmax: {
    n: 256, shapes: (n: number) => [[n, 1024]], out: (n: number) => [n, 1024], work: (n: number) => ({ bytes: 2 * 4 * n * 1024 }),
    ops: { tessera: (x) => x.softmax(-1), tfjs: (x) => tf.softmax(x, -1) } as PeerOps,
    onnx: { op: 'Softmax', attrs: { axis: -1 } },
  },
  sum: {
    n: 4_194_304, shapes: (n: number) => [[n]], out: () => [1], work: (n: number) => ({ bytes: 4 * n }),
    ops: { tessera: (x) => x.sum().reshape([1]), tfjs: (x) => tf.reshape(tf.sum(x), [1]) } as PeerOps,
    onnx: { op: 'ReduceSum', attrs: { keepdims: 1 } },
  },
  conv2d: {
    n: 32, shapes: (n: number) => [[n, 3, 32, 32], [16, 3, 3, 3]], out: (n: number) => [n, 16, 32, 32], work: (n: number) => ({ flops: 2 * n * 16 * 32 * 32 * 3 * 9 }),
    // tfjs convolves NHWC with HWIO filters: transposed in and out so all impls compute the same NCHW result.
    ops: {
      tessera: (x, w) => x.conv2d(w!, undefined, { padding: 1 }),
      tfjs: (x, w) => tf.transpose(tf.conv2d(tf.transpose(x, [0, 2, 3, 1]) as tf.Tensor4D, tf.transpose(w!, [2, 3, 1, 0]) as tf.Tensor4D, 1, 'same'), [0, 3, 1, 2]),
    } as PeerOps,
    onnx: { op: 'Conv', attrs: { pads: [1, 1, 1, 1] } },
  },
} as const;
export type OpKind = keyof typeof OPS;
/** PyTorch's conv2d goes through BLAS (im2col + gemm): timed once per BLAS, like matmul. */
export const OPS_PER_BLAS: readonly OpKind[] = ['conv2d'];

/** An `ops` case on every Tessera backend and tfjs-cpu, checked against Tessera's pure-JS result. */
export function opCases(kind: OpKind, backends: readonly TesseraBackend[]): BenchCase[] {
  requireTfjs();
  const o = OPS[kind];
  const operands = o.shapes(o.n).map((s) => randOperand(s));
  const want = tesseraResult(tsr.jsBackend, operands, o.ops);
  const tol = kind === 'conv2d' ? 1e-4 : kind === 'sum' ? 1e-4 : 1e-5;
  const name = `${kind}-f32-${o.n}`;
  expectClose(name, tfjsImpl(), tfjsResult(operands, o.ops), want, tol);
  for (const { impl, backend } of backends) expectClose(name, impl, tesseraResult(backend, operands, o.ops), want, tol);
  return peerCases({ suite: 'ops', case: name, size: o.n, ...o.work(o.n) }, operands, backends, o.ops);
}

/** Ops the extra peers run: tfjs function and ONNX operator per suite case kind. */
type PeerKind = 'matmul' | ElementwiseOp | OpKind;
const PEER_OPS: Record<PeerKind, { ops: PeerOps; onnx: { op: string; attrs?: Readonly<Record<string, number | readonly number[]>> }; shapes: (n: number) => readonly (readonly number[])[]; out: (n: number) => readonly number[] }> = {
  matmul: { ops: { tessera: (p, q) => tsr.matmul(p, q!), tfjs: (p, q) => tf.matMul(p, q!), readBack: true }, onnx: { op: 'MatMul' }, shapes: (n) => [[n, n], [n, n]], out: (n) => [n, n] },
  add: { ops: ELEMENTWISE.add, onnx: { op: 'Add' }, shapes: (n) => [[n], [n]], out: (n) => [n] },
  mul: { ops: ELEMENTWISE.mul, onnx: { op: 'Mul' }, shapes: (n) => [[n], [n]], out: (n) => [n] },
  exp: { ops: ELEMENTWISE.exp, onnx: { op: 'Exp' }, shapes: (n) => [[n]], out: (n) => [n] },
  ...Object.fromEntries(Object.entries(OPS).map(([k, o]) => [k, { ops: o.ops, onnx: o.onnx, shapes: o.shapes, out: o.out }])) as Record<OpKind, never>,
};

/**
 * The peers that cannot share the main pass: tfjs-wasm (tfjs has one active backend, so it gets a
 * pass of its own) and onnxruntime-node (its calls complete asynchronously). Both are checked against
 * Tessera's pure-JS result on the same operands before timing; `notes` receives ORT's thread count.
 */
export async function runExtraPeers(kind: PeerKind, n: number, opt: RunOptions, onResult?: (r: CaseResult) => void): Promise<CaseResult[]> {
  const p = PEER_OPS[kind];
  const operands = p.shapes(n).map((s) => randOperand([...s]));
  const want = tesseraResult(tsr.jsBackend, operands, p.ops);
  const base: Omit<BenchCase, 'impl' | 'fn' | 'dispose'> = kind === 'matmul'
    ? { suite: 'matmul', case: `matmul-f32-${n}`, size: n, flops: 2 * n ** 3 }
    : kind in OPS ? { suite: 'ops', case: `${kind}-f32-${n}`, size: n, ...OPS[kind as OpKind].work(n) }
      : { suite: 'elementwise', case: `${kind}-f32-${n}`, size: n, bytes: 4 * n * (operands.length + 1) };
  const tol = kind === 'matmul' ? 1e-3 : kind === 'sum' || kind === 'conv2d' ? 1e-4 : 1e-5;
  const out: CaseResult[] = [];
  const done = (r: CaseResult) => { onResult?.(r); out.push(r); };
  await useTfjs('wasm');
  try {
    expectClose(base.case, 'tfjs-wasm', tfjsResult(operands, p.ops), want, tol);
    const [c] = peerCases(base, operands, [], p.ops).map((x) => (kind === 'matmul' && n >= SLOW_MATMUL.fromSize ? { ...x, budget: SLOW_MATMUL.budget } : x));
    for (const r of runCases([c!], opt)) done(r);
  } finally {
    await useTfjs('cpu');
  }
  const session = await ortCase(p.onnx.op, operands, p.out(n), p.onnx.attrs);
  try {
    expectClose(base.case, 'onnxruntime', await session.run(), want, tol);
    done(await runCaseAsync({ ...base, impl: 'onnxruntime', fn: () => {}, fnAsync: async () => { sink = await session.run(); }, dispose: () => {} }, opt));
  } finally {
    await session.release();
  }
  return out;
}

/** Says how the extra peers ran (for the notes printed with the table). */
export const EXTRA_PEERS_NOTE = `tfjs-wasm: @tensorflow/tfjs-backend-wasm (SIMD, single-threaded in Node); onnxruntime: onnxruntime-node CPU EP, ${ORT_THREADS} intra-op threads`;

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
 * batch, in train mode (the CNN's dropout is active), with model, batch and optimizer created on
 * `tb`'s backend. Intermediates are left to the garbage collector, as in the examples' training
 * loops, so its cost is part of the measured time.
 */
export function trainStepCase(kind: TrainStepModel, tb: TesseraBackend): TrainStepCase {
  const { name, batch, build } = TRAIN_STEP[kind];
  const step = (s: TrainSetup): tsr.Tensor => {
    s.opt.zeroGrad();
    const loss = nn.crossEntropy(s.model.forward(s.x), s.y);
    loss.backward();
    s.opt.step();
    return loss;
  };
  const setup = withBackend(tb.backend, () => {
    // Same seed on every backend: the same initial weights and batch.
    tsr.manualSeed(0);
    const s = build();
    s.model.train();
    // The untimed first step creates the optimizer state and catches a broken model before timing.
    const first = step(s).itemSync() as number;
    if (!Number.isFinite(first)) throw new Error(`train-step ${name} ${tb.impl}: first step gave loss ${first}`);
    return s;
  });
  const params = setup.model.parameters();
  return {
    suite: 'train-step', case: name, impl: tb.impl, size: batch, backend: tb.backend,
    params: params.reduce((n, p) => n + p.numel, 0),
    fn: () => { sink = step(setup); },
    dispose: () => { setup.x.dispose(); setup.y.dispose(); for (const p of params) p.dispose(); },
  };
}

/**
 * Times one case with benchmark.js, synchronously, with the case's Tessera backend registered.
 * benchmark.js inlines a test body into its timing loop when it can decompile it; every case here
 * closes over module state, so that pretest fails and it calls `fn` each iteration instead, the same
 * way for every impl.
 */
export function runCase(c: BenchCase, opt: RunOptions): CaseResult {
  const bench = new Benchmark(`${c.case} ${c.impl}`, c.fn, { ...budgetOf(c, opt), async: false });
  if (c.backend) withBackend(c.backend, () => bench.run());
  else bench.run();
  return resultOf(c, bench);
}

/** Times a case whose calls complete asynchronously (`fnAsync`), as a deferred benchmark.js test. */
export function runCaseAsync(c: BenchCase, opt: RunOptions): Promise<CaseResult> {
  return new Promise((resolve, reject) => {
    const bench = new Benchmark(`${c.case} ${c.impl}`, {
      ...budgetOf(c, opt),
      defer: true,
      fn: (d: { resolve(): void }) => { c.fnAsync!().then(() => d.resolve(), reject); },
      onComplete: () => { try { resolve(resultOf(c, bench)); } catch (e) { reject(e); } },
    });
    bench.run({ async: true });
  });
}

function budgetOf(c: BenchCase, opt: RunOptions): { maxTime: number; minSamples?: number } {
  const maxTime = Math.min(opt.maxTime, c.budget?.maxTime ?? Infinity);
  const minSamples = c.budget ? Math.min(c.budget.minSamples, opt.minSamples ?? Infinity) : opt.minSamples;
  return { maxTime, ...(minSamples === undefined ? {} : { minSamples }) };
}

function resultOf(c: BenchCase, bench: Benchmark): CaseResult {
  // benchmark.js reports a throwing test through `error` rather than rethrowing it.
  if (bench.error) throw bench.error;
  const mean = bench.stats.mean;
  return {
    suite: c.suite, case: c.case, impl: c.impl, size: c.size,
    meanUs: mean * 1e6,
    rme: bench.stats.rme,
    samples: bench.stats.sample.length,
    ...throughput(c, mean),
  };
}

/** GFLOPS and GB/s of a case whose call takes `seconds` (the PyTorch rows use it too). */
export function throughput(c: { flops?: number; bytes?: number }, seconds: number): { gflops?: number; gbps?: number } {
  return {
    ...(c.flops === undefined ? {} : { gflops: c.flops / seconds / 1e9 }),
    ...(c.bytes === undefined ? {} : { gbps: c.bytes / seconds / 1e9 }),
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
  /** Why an impl was skipped, and which PyTorch/BLAS produced the PyTorch rows. */
  readonly onNote?: (note: string) => void;
}

/** Rounds of the train-step suite in a full run, and PyTorch's whole budget per case (see trainSteps). */
const TRAIN_ROUNDS = 3;
const TORCH_SECONDS = 2;

/**
 * The train steps, Tessera's and PyTorch's alternating for TRAIN_ROUNDS rounds of a third of the
 * budget each, every impl keeping its fastest round: run minutes apart, as the other suites' peers
 * are, a shared machine's load drifted by more than these figures differ (a 0.97x and a 1.20x run
 * of the same commit), and interference only ever adds time. Each round builds its models afresh
 * from the same seed.
 */
function trainSteps(cfg: typeof FULL | typeof QUICK, backends: readonly TesseraBackend[], opt: BenchOptions): CaseResult[] {
  const rounds = opt.quick ? 1 : TRAIN_ROUNDS;
  const fastest = new Map<string, CaseResult>();
  const keep = (r: CaseResult) => {
    const key = `${r.case}|${r.impl}`, prev = fastest.get(key);
    if (!prev || r.meanUs < prev.meanUs) fastest.set(key, r);
  };
  const notes = new Set<string>();
  for (let i = 0; i < rounds; i++) {
    const train = cfg.trainStep.flatMap((kind) => backends.map((b) => trainStepCase(kind, b)));
    const want = new Map(train.map((c) => [c.case, { suite: c.suite, size: c.size, params: c.params }]));
    runCases(train, { maxTime: cfg.maxTime / rounds }).forEach(keep);
    const torch = runTorchTrainStep(want, opt.quick, opt.quick ? undefined : TORCH_SECONDS / rounds);
    torch.results.forEach(keep);
    torch.notes.forEach((n) => notes.add(n));
  }
  for (const n of notes) opt.onNote?.(n);
  if (rounds > 1) opt.onNote?.(`train-step: ${rounds} alternating rounds of Tessera and PyTorch, each impl's fastest round`);
  const out = [...fastest.values()];
  for (const r of out) opt.onResult?.(r);
  return out;
}

/**
 * The whole benchmark: dispatch, matmul at each size, the elementwise ops, then train-step, each
 * Tessera case once per available backend, then the PyTorch side (--quick: matmul 128, add and the
 * MLP step only). Rows come back grouped by case.
 */
export async function runAll(opt: BenchOptions): Promise<CaseResult[]> {
  await initTfjs();
  const cfg = opt.quick ? QUICK : FULL;
  const run = { maxTime: cfg.maxTime };
  const { backends, skipped } = tesseraBackends();
  if (skipped) opt.onNote?.(skipped);
  // What PyTorch's rows of the matmul and elementwise cases need: the size and the work per call.
  const matmul = new Map<string, TorchWant>(), elementwise = new Map<string, TorchWant>();
  const group = (cases: readonly BenchCase[], torch?: Map<string, TorchWant>): CaseResult[] => {
    const c = cases[0];
    if (torch && c) torch.set(c.case, { suite: c.suite, size: c.size, ...(c.flops === undefined ? {} : { flops: c.flops }), ...(c.bytes === undefined ? {} : { bytes: c.bytes }) });
    return runCases(cases, run, opt.onResult);
  };
  const results = group(dispatchCases(16, backends));
  for (const n of cfg.matmulSizes) {
    results.push(...group(matmulCases(n, backends), matmul));
    results.push(...await runExtraPeers('matmul', n, run, opt.onResult));
  }
  for (const op of cfg.elementwise) {
    results.push(...group(elementwiseCases(op, cfg.elementwiseSize, backends), elementwise));
    results.push(...await runExtraPeers(op, cfg.elementwiseSize, run, opt.onResult));
  }
  for (const kind of cfg.ops) {
    results.push(...group(opCases(kind, backends), OPS_PER_BLAS.includes(kind) ? matmul : elementwise));
    results.push(...await runExtraPeers(kind, OPS[kind].n, run, opt.onResult));
  }
  opt.onNote?.(EXTRA_PEERS_NOTE);
  results.push(...trainSteps(cfg, backends, opt));
  const torch = runTorchOps(matmul, elementwise, opt.quick);
  for (const r of torch.results) opt.onResult?.(r);
  for (const n of torch.notes) opt.onNote?.(n);
  results.push(...torch.results);
  const order = [...new Set(results.map((r) => r.case))];
  // sort is stable: within a case, rows keep the order they ran in.
  return results.sort((a, b) => order.indexOf(a.case) - order.indexOf(b.case));
}

export function machineInfo(): Machine {
  const cpus = os.cpus();
  return { cpus: cpus[0]?.model ?? 'unknown', cores: cpus.length, node: process.version, ...(nativeSimd ? { simd: nativeSimd } : {}) };
}

export function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'uncommitted';
  }
}

/**
 * The configuration of the impls that run in this process: JS on the main thread (tfjs-wasm has no
 * threads in Node), the native backend's rayon pool and ORT's intra-op pool one thread per core.
 * PyTorch's comes from its scripts (pytorch.ts); a GPU backend's device is the run's machine.gpu.
 */
export function implConfig(impl: Impl, machine: Machine): RunConfig | undefined {
  switch (impl) {
    case 'plain-js': case 'tessera-js': case 'tfjs-cpu': return { threads: 1 };
    case 'tfjs-wasm': return { threads: 1, simd: true };
    case 'tessera-native': return { threads: machine.cores, ...(machine.simd ? { simd: machine.simd } : {}) };
    case 'onnxruntime': return { executionProvider: 'cpu', intraOpThreads: ORT_THREADS, interOpThreads: 1 };
    default: return undefined;
  }
}

export function toRecords(results: readonly CaseResult[], meta: { machine: Machine; commit: string; date: string }): BenchRecord[] {
  return results.map(({ samples: _samples, ...r }) => {
    const config = r.config ?? implConfig(r.impl, meta.machine);
    return { ...r, ...(config ? { config } : {}), ...meta };
  });
}

const TESSERA: readonly TesseraImpl[] = ['tessera-js', 'tessera-native'];
/** What each Tessera backend is compared with, in print order; native is also compared with tessera-js. */
const PEERS: readonly Impl[] = ['tessera-js', 'plain-js', 'tfjs-cpu', 'tfjs-wasm', 'onnxruntime', 'pytorch', 'pytorch-refblas', 'pytorch-openblas'];

export interface Ratio { readonly case: string; readonly tessera: TesseraImpl; readonly peer: Impl; readonly value: number }

/**
 * Per case, each Tessera backend against each other impl measured in the run: peer time / Tessera
 * time (> 1: Tessera is faster). For matmul this equals the GFLOPS ratio Tessera/peer.
 */
export function ratios(results: readonly CaseResult[]): Ratio[] {
  const out: Ratio[] = [];
  for (const name of new Set(results.map((r) => r.case))) {
    for (const tessera of TESSERA) {
      const ts = results.find((r) => r.case === name && r.impl === tessera);
      if (!ts) continue;
      for (const impl of PEERS) {
        const peer = impl === tessera ? undefined : results.find((r) => r.case === name && r.impl === impl);
        if (peer) out.push({ case: name, tessera, peer: impl, value: peer.meanUs / ts.meanUs });
      }
    }
  }
  return out;
}

const fmt = (v: number): string => (v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(2) : v.toPrecision(3));

export function formatTable(results: readonly CaseResult[]): string {
  const head = ['suite', 'case', 'impl', 'mean (us)', 'rme', 'GFLOPS', 'GB/s', 'samples'];
  const rows = results.map((r) => [
    r.suite, r.case, r.impl, fmt(r.meanUs), `±${r.rme.toFixed(2)}%`,
    r.gflops === undefined ? '' : r.gflops.toFixed(3), r.gbps === undefined ? '' : r.gbps.toFixed(2), String(r.samples),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  // Text columns left-aligned, numeric ones right-aligned.
  const line = (cells: readonly string[]) => cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const lines = [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
  const rs = ratios(results);
  if (rs.length) {
    // One line per case and Tessera backend.
    const keyed = new Map<string, Ratio[]>();
    for (const r of rs) keyed.set(`${r.case}\0${r.tessera}`, [...(keyed.get(`${r.case}\0${r.tessera}`) ?? []), r]);
    const w = Math.max(...rs.map((r) => r.case.length + r.tessera.length + 1));
    lines.push('', 'time ratios, peer / tessera (> 1: Tessera is faster):');
    for (const group of keyed.values()) {
      const { case: name, tessera } = group[0]!;
      lines.push(`${`${name} ${tessera}`.padEnd(w)}  ${group.map((r) => `vs ${r.peer} ${r.value.toFixed(2)}x`).join(', ')}`);
    }
  }
  return lines.join('\n');
}
