/**
 * Fairness without timing: every peer is set up in its best configuration (threads = cores for
 * PyTorch's ops under OpenBLAS and for onnxruntime) and each record says how it ran, through the
 * results file and the collector the page reads.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { collect } from '../src/collect.js';
import { ORT_THREADS } from '../src/onnx.js';
import { CORES, openblasThreads, torchConfig, torchEnv } from '../src/pytorch.js';
import { type CaseResult, type Impl, machineInfo, toRecords } from '../src/suites.js';

const cores = os.availableParallelism();
const OPENBLAS = '/usr/lib/x86_64-linux-gnu/openblas-pthread';
const torchOut = { torch: '1.13.0', threads: cores, blas: [`${OPENBLAS}/libblas.so.3`, `${OPENBLAS}/libopenblasp-r0.3.21.so`] };

describe('PyTorch and OpenBLAS', () => {
  it('give OpenBLAS every core for the ops (matmul, conv2d), one thread where torch already runs its own', () => {
    expect(CORES).toBe(cores);
    const env = torchEnv('torch_ops.py', [OPENBLAS], {});
    expect(env['OPENBLAS_NUM_THREADS']).toBe(String(cores));
    expect(env['LD_LIBRARY_PATH']?.split(':')[0]).toBe(OPENBLAS);
    expect(openblasThreads('torch_train_step.py', {})).toBe(1);
    expect(openblasThreads('torch_compile_peers.py', {})).toBe(1);
    // A setting in the environment wins, a malformed one does not.
    expect(openblasThreads('torch_ops.py', { OPENBLAS_NUM_THREADS: '3' })).toBe(3);
    expect(openblasThreads('torch_ops.py', { OPENBLAS_NUM_THREADS: 'many' })).toBe(cores);
  });

  it("record torch's threads, the BLAS mapped and its threads", () => {
    expect(torchConfig('pytorch-openblas', torchOut, openblasThreads('torch_ops.py', {}))).toEqual({
      torch: '1.13.0', threads: cores, blas: 'libblas.so.3, libopenblasp-r0.3.21.so', blasThreads: cores,
    });
    expect(torchConfig('pytorch-refblas', { ...torchOut, blas: ['/usr/lib/x86_64-linux-gnu/blas/libblas.so.3'] }, 8)).toMatchObject({ blasThreads: 1 });
    expect(torchConfig('pytorch', torchOut, 8)).toEqual({ torch: '1.13.0', threads: cores });
  });
});

describe('records', () => {
  const result = (impl: Impl, extra: Partial<CaseResult> = {}): CaseResult => ({ suite: 'matmul', case: 'matmul-f32-64', impl, size: 64, meanUs: 10, rme: 1, samples: 5, ...extra });
  const machine = { ...machineInfo(), simd: 'avx2' };
  const records = toRecords([
    result('onnxruntime'), result('tfjs-wasm'), result('tfjs-cpu'), result('tessera-native'), result('tessera-js'),
    result('pytorch-openblas', { config: torchConfig('pytorch-openblas', torchOut, openblasThreads('torch_ops.py', {})) }),
  ], { machine, commit: 'c'.repeat(40), date: '2026-02-01T00:00:00.000Z' });
  const config = (impl: Impl) => records.find((r) => r.impl === impl)?.config;

  it('say how each peer ran: onnxruntime one intra-op thread per core, the wasm and JS peers on one thread', () => {
    expect(ORT_THREADS).toBe(os.cpus().length);
    expect(config('onnxruntime')).toEqual({ executionProvider: 'cpu', intraOpThreads: ORT_THREADS, interOpThreads: 1 });
    expect(config('tfjs-wasm')).toMatchObject({ threads: 1 });
    expect(config('tfjs-cpu')).toEqual({ threads: 1 });
    expect(config('tessera-native')).toEqual({ threads: machine.cores, simd: 'avx2' });
    expect(config('pytorch-openblas')).toMatchObject({ threads: cores, blasThreads: cores });
  });

  it('reach the page: the collector keeps each configuration and refuses a malformed one', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'peer-config-'));
    try {
      writeFileSync(path.join(dir, 'run-cpu.json'), JSON.stringify(records));
      const [run] = collect({ resultsDir: dir, matrixPath: path.join(dir, 'none.json') }).runs;
      expect(run!.measurements.map((m) => [m.impl, m.config])).toEqual(records.map((r) => [r.impl, r.config]));
      writeFileSync(path.join(dir, 'run-cpu.json'), JSON.stringify([{ ...records[0], config: { threads: [2] } }]));
      expect(() => collect({ resultsDir: dir, matrixPath: path.join(dir, 'none.json') })).toThrow(/run-cpu.json\[0\]\.config: expected an object of strings, numbers and booleans/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
