/**
 * Runs the PyTorch side of the train-step suite (torch_train_step.py) under Debian's PyTorch, once per
 * BLAS it can load, and turns its output into CaseResults. Never invents a number: a missing PyTorch
 * or BLAS becomes a note saying why, and a run that loaded a different BLAS than asked is rejected.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CaseResult, Impl } from './suites.js';

/** Debian's python3-torch is only importable from the system interpreter, not from pyenv's python3. */
export const SYSTEM_PYTHON = '/usr/bin/python3';
const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'torch_train_step.py');
const LIBDIR = '/usr/lib/x86_64-linux-gnu';

/**
 * Each BLAS is selected by putting its libblas.so.3 first on LD_LIBRARY_PATH. Installing
 * libopenblas0-pthread makes OpenBLAS the system default too, so the reference BLAS is named
 * explicitly rather than assumed to be what loads without it.
 */
const BLAS: readonly { impl: Extract<Impl, `pytorch-${string}`>; dir: string; pkg: string }[] = [
  { impl: 'pytorch-refblas', dir: `${LIBDIR}/blas`, pkg: 'libblas3' },
  { impl: 'pytorch-openblas', dir: `${LIBDIR}/openblas-pthread`, pkg: 'libopenblas0-pthread' },
];

/**
 * OpenBLAS's own thread pool on top of torch's two intra-op threads oversubscribes a 2-core machine:
 * the MLP step then swings between 0.5 and 55 ms per step. One BLAS thread keeps it at ~0.4 ms.
 * An OPENBLAS_NUM_THREADS already in the environment wins.
 */
const OPENBLAS_THREADS = process.env['OPENBLAS_NUM_THREADS'] ?? '1';

/** Other processes' CPU use (in cores) during a PyTorch case above which its figure is flagged. */
const CONTENDED = 0.2;

/** Exit code torch_train_step.py uses when `import torch` fails. */
const NO_TORCH = 3;

interface TorchCase { meanUs: number; rme: number; samples: number; params: number; loss: number; otherCpu: number }
interface TorchOutput { torch: string; threads: number; blas: string[]; cases: Record<string, TorchCase> }

export interface TorchRun { readonly results: CaseResult[]; readonly notes: string[] }

/**
 * Times `cases` (name -> batch size and the Tessera model's parameter count, checked against
 * PyTorch's so both sides build the same shapes) for each available BLAS.
 */
export function runTorchTrainStep(cases: ReadonlyMap<string, { size: number; params: number }>, quick: boolean): TorchRun {
  const results: CaseResult[] = [], notes: string[] = [];
  if (!cases.size) return { results, notes };
  if (!existsSync(SYSTEM_PYTHON)) return { results, notes: [`train-step PyTorch skipped: PyTorch not installed (${SYSTEM_PYTHON} not found)`] };
  for (const { impl, dir, pkg } of BLAS) {
    if (!existsSync(path.join(dir, 'libblas.so.3'))) {
      notes.push(`train-step ${impl} skipped: ${dir}/libblas.so.3 not found (apt-get install -y ${pkg})`);
      continue;
    }
    const out = runScript([...(quick ? ['--quick'] : []), ...cases.keys()], dir);
    if (out === undefined) return { results, notes: [`train-step PyTorch skipped: PyTorch not installed (${SYSTEM_PYTHON} cannot import torch)`] };
    const loaded = out.blas;
    if (loaded.length !== 1 || path.dirname(loaded[0]!) !== dir) {
      notes.push(`train-step ${impl} skipped: asked for ${dir}/libblas.so.3 but torch loaded ${loaded.join(', ') || 'no libblas'}`);
      continue;
    }
    for (const [name, want] of cases) {
      const r = out.cases[name];
      if (!r) throw new Error(`torch_train_step.py: no result for case ${name}`);
      if (r.params !== want.params) throw new Error(`train-step ${name}: PyTorch model has ${r.params} parameters, Tessera's ${want.params}`);
      results.push({ suite: 'train-step', case: name, impl, size: want.size, meanUs: r.meanUs, rme: r.rme, samples: r.samples });
      if (r.otherCpu > CONTENDED) notes.push(`warning: ${name} ${impl}: other processes used ${r.otherCpu.toFixed(2)} cores meanwhile; torch's threads contend with them, so this time is inflated`);
    }
    notes.push(`${impl}: torch ${out.torch}, ${out.threads} threads, ${loaded[0]}${impl === 'pytorch-openblas' ? `, OPENBLAS_NUM_THREADS=${OPENBLAS_THREADS}` : ''}`);
  }
  return { results, notes };
}

/** The script's parsed output, or undefined when torch is not importable. */
function runScript(args: string[], blasDir: string): TorchOutput | undefined {
  const env = {
    ...process.env,
    LD_LIBRARY_PATH: [blasDir, process.env['LD_LIBRARY_PATH']].filter(Boolean).join(':'),
    OPENBLAS_NUM_THREADS: OPENBLAS_THREADS,
  };
  try {
    return JSON.parse(execFileSync(SYSTEM_PYTHON, [SCRIPT, ...args], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })) as TorchOutput;
  } catch (e) {
    if ((e as { status?: unknown }).status === NO_TORCH) return undefined;
    // execFileSync's message already carries the script's stderr.
    throw new Error(`torch_train_step.py failed: ${(e as Error).message}`);
  }
}
