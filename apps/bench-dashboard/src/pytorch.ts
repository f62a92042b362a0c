/**
 * Runs the PyTorch side of the benchmark under Debian's PyTorch: torch_train_step.py (train-step) and
 * torch_ops.py (matmul, elementwise), once per BLAS it can load, and turns their output into
 * CaseResults. Never invents a number: a missing PyTorch or BLAS becomes a note saying why, and a run
 * that loaded a different BLAS than asked is rejected.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type CaseResult, type Impl, type RunConfig, type Suite, throughput } from './suites.js';

/** Debian's python3-torch is only importable from the system interpreter, not from pyenv's python3. */
export const SYSTEM_PYTHON = '/usr/bin/python3';
const SRC = path.dirname(fileURLToPath(import.meta.url));
const LIBDIR = '/usr/lib/x86_64-linux-gnu';

/**
 * Each BLAS is selected by putting its libblas.so.3 and liblapack.so.3 first on LD_LIBRARY_PATH
 * (`dirs`; torch links both, and OpenBLAS's LAPACK pulls in libopenblas). Installing
 * libopenblas0-pthread makes OpenBLAS the system default too, so the reference BLAS is named
 * explicitly rather than assumed to be what loads without it.
 */
const BLAS: readonly { impl: Extract<Impl, `pytorch-${string}`>; dir: string; dirs: readonly string[]; pkg: string }[] = [
  { impl: 'pytorch-refblas', dir: `${LIBDIR}/blas`, dirs: [`${LIBDIR}/blas`, `${LIBDIR}/lapack`], pkg: 'libblas3' },
  { impl: 'pytorch-openblas', dir: `${LIBDIR}/openblas-pthread`, dirs: [`${LIBDIR}/openblas-pthread`], pkg: 'libopenblas0-pthread' },
];

/** Cores this process may use: torch's intra-op threads (the scripts' use_all_cores) and OpenBLAS's for the ops. */
export const CORES = os.availableParallelism();

/**
 * OpenBLAS threads per script, each its best measured configuration. torch_ops.py times one op at a
 * time (matmul, conv2d), which runs inside OpenBLAS: held to one thread it used half the machine while
 * Tessera's native matmul used all of it, so it gets every core. The training step and the compile
 * peers interleave torch's own intra-op threads with BLAS calls, and OpenBLAS's pool on top of them
 * oversubscribes the cores: the MLP step then swung between 0.5 and 55 ms per step, ~0.4 ms with one
 * BLAS thread. An OPENBLAS_NUM_THREADS already in the environment wins.
 */
export function openblasThreads(script: string, env: NodeJS.ProcessEnv = process.env): number {
  const given = Number(env['OPENBLAS_NUM_THREADS']);
  if (Number.isInteger(given) && given > 0) return given;
  return script === 'torch_ops.py' ? CORES : 1;
}

/** Other processes' CPU use (in cores) during a PyTorch case above which its figure is flagged. */
const CONTENDED = 0.2;

/** Exit code the scripts use when `import torch` fails. */
const NO_TORCH = 3;

/** `params` and `loss` come from torch_train_step.py only. */
interface TorchCase { meanUs: number; rme: number; samples: number; params?: number; loss?: number; otherCpu: number }
interface TorchOutput { torch: string; threads: number; blas: string[]; cases: Record<string, TorchCase> }

export interface TorchRun { readonly results: CaseResult[]; readonly notes: string[] }

/**
 * What a PyTorch row needs from the Tessera side: suite and size, the work per call for GFLOPS/GB/s,
 * and for train-step the Tessera model's parameter count, checked against PyTorch's so both sides
 * build the same shapes.
 */
export interface TorchWant { readonly suite: Suite; readonly size: number; readonly flops?: number; readonly bytes?: number; readonly params?: number }

/** Times the train-step `cases` (name -> what the row needs) for each available BLAS, for `seconds` each (default 2, --quick 0.3). */
export function runTorchTrainStep(cases: ReadonlyMap<string, TorchWant>, quick: boolean, seconds?: number): TorchRun {
  return runTorch('torch_train_step.py', 'train-step', cases, new Map(), seconds === undefined ? (quick ? ['--quick'] : []) : ['--seconds', String(seconds)]);
}

/** Times compile-bench's peer `cases` (block, gpt, cnn) for each available BLAS, for `seconds` each. */
export function runTorchCompilePeers(cases: ReadonlyMap<string, TorchWant>, seconds: number): TorchRun {
  return runTorch('torch_compile_peers.py', 'compile', cases, new Map(), ['--seconds', String(seconds)]);
}

/**
 * Times the matmul cases for each available BLAS (`pytorch-<blas>` rows), and the elementwise ones
 * once (`pytorch` rows, in the first BLAS's run: they never call BLAS).
 */
export function runTorchOps(matmul: ReadonlyMap<string, TorchWant>, elementwise: ReadonlyMap<string, TorchWant>, quick: boolean): TorchRun {
  return runTorch('torch_ops.py', 'matmul/elementwise', matmul, elementwise, quick ? ['--quick'] : []);
}

function runTorch(script: string, label: string, perBlas: ReadonlyMap<string, TorchWant>, once: ReadonlyMap<string, TorchWant>, budget: readonly string[]): TorchRun {
  const results: CaseResult[] = [], notes: string[] = [];
  if (!perBlas.size && !once.size) return { results, notes };
  if (!existsSync(SYSTEM_PYTHON)) return { results, notes: [`${label} PyTorch skipped: PyTorch not installed (${SYSTEM_PYTHON} not found)`] };
  let pending = once;
  const add = (impl: Impl, out: TorchOutput, cases: ReadonlyMap<string, TorchWant>): void => {
    const config = torchConfig(impl, out, openblasThreads(script));
    for (const [name, want] of cases) {
      const r = out.cases[name];
      if (!r) throw new Error(`${script}: no result for case ${name}`);
      if (want.params !== undefined && r.params !== want.params) throw new Error(`${label} ${name}: PyTorch model has ${r.params} parameters, Tessera's ${want.params}`);
      results.push({ suite: want.suite, case: name, impl, size: want.size, meanUs: r.meanUs, rme: r.rme, samples: r.samples, ...throughput(want, r.meanUs / 1e6), config });
      if (r.otherCpu > CONTENDED) notes.push(`warning: ${name} ${impl}: other processes used ${r.otherCpu.toFixed(2)} cores meanwhile; torch's threads contend with them, so this time is inflated`);
    }
  };
  for (const { impl, dir, dirs, pkg } of BLAS) {
    if (!existsSync(path.join(dir, 'libblas.so.3'))) {
      notes.push(`${label} ${impl} skipped: ${dir}/libblas.so.3 not found (apt-get install -y ${pkg})`);
      continue;
    }
    const out = runScript(script, [...budget, ...perBlas.keys(), ...pending.keys()], torchEnv(script, dirs));
    if (out === undefined) return { results, notes: [`${label} PyTorch skipped: PyTorch not installed (${SYSTEM_PYTHON} cannot import torch)`] };
    const loaded = out.blas;
    // Every BLAS/LAPACK library mapped comes from the asked-for folders, and its libblas is among them.
    const blasOk = loaded.some((l) => path.dirname(l) === dir && path.basename(l).startsWith('libblas.so')) && loaded.every((l) => dirs.includes(path.dirname(l)));
    const info = `torch ${out.torch}, ${out.threads} threads, ${loaded.join(', ') || 'no libblas'}${impl === 'pytorch-openblas' ? `, OPENBLAS_NUM_THREADS=${openblasThreads(script)}` : ''}`;
    if (pending.size) {
      // These cases never call BLAS, so they stand whichever one got loaded.
      add('pytorch', out, pending);
      notes.push(`pytorch (${[...pending.keys()].join(', ')}): ${info}`);
      pending = new Map();
    }
    if (!perBlas.size) continue;
    if (!blasOk) {
      notes.push(`${label} ${impl} skipped: asked for ${dir}/libblas.so.3 but torch loaded ${loaded.join(', ') || 'no libblas'}`);
      continue;
    }
    add(impl, out, perBlas);
    notes.push(`${impl} (${[...new Set([...perBlas.values()].map((w) => w.suite))].join(', ')}): ${info}`);
  }
  if (pending.size) notes.push(`${label} pytorch skipped: no BLAS installed, so no run to time ${[...pending.keys()].join(', ')} in`);
  return { results, notes };
}

/** The environment a script runs in: its BLAS first on the library path, OpenBLAS's threads as openblasThreads says. */
export function torchEnv(script: string, blasDirs: readonly string[], env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return {
    ...env,
    LD_LIBRARY_PATH: [...blasDirs, env['LD_LIBRARY_PATH']].filter(Boolean).join(':'),
    OPENBLAS_NUM_THREADS: String(openblasThreads(script, env)),
  };
}

/**
 * What a PyTorch record says about how it ran: torch's version and intra-op threads as the script
 * reported them, the BLAS it mapped, and that BLAS's threads (the reference BLAS has none of its own).
 */
export function torchConfig(impl: Impl, out: Pick<TorchOutput, 'torch' | 'threads' | 'blas'>, blasThreads: number): RunConfig {
  const base = { torch: out.torch, threads: out.threads };
  if (impl === 'pytorch') return base;
  const blas = out.blas.map((l) => path.basename(l)).join(', ') || 'none';
  return { ...base, blas, blasThreads: impl === 'pytorch-openblas' ? blasThreads : 1 };
}

/** The script's parsed output, or undefined when torch is not importable. */
function runScript(script: string, args: string[], env: NodeJS.ProcessEnv): TorchOutput | undefined {
  try {
    return JSON.parse(execFileSync(SYSTEM_PYTHON, [path.join(SRC, script), ...args], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })) as TorchOutput;
  } catch (e) {
    if ((e as { status?: unknown }).status === NO_TORCH) return undefined;
    // execFileSync's message already carries the script's stderr.
    throw new Error(`${script} failed: ${(e as Error).message}`);
  }
}
