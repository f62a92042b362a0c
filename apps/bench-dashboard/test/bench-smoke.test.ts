/**
 * Smoke test: the benchmark cases run in-process and produce well-formed results. Timings are
 * machine-dependent, so nothing here asserts a threshold: only structure and positive finite numbers.
 */
import * as tsr from 'tessera';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type CaseResult, type TesseraBackend, dispatchCases, elementwiseCases, formatTable, gitCommit, initTfjs, machineInfo, matmulCases, ratios,
  runCases, runExtraPeers, tesseraBackends, toRecords, trainStepCase, withBackend,
} from '../src/suites.js';

const tiny = { maxTime: 0.02, minSamples: 2 };

function expectPositiveFinite(v: number | undefined): void {
  expect(typeof v).toBe('number');
  expect(Number.isFinite(v)).toBe(true);
  expect(v).toBeGreaterThan(0);
}

describe('bench-dashboard suites', () => {
  let results: CaseResult[] = [];
  // tessera-js always; tessera-native too where the addon is built (the test does not require it).
  let backends: TesseraBackend[] = [];
  let impls: string[] = [];

  beforeAll(async () => {
    await initTfjs();
    ({ backends } = tesseraBackends());
    impls = backends.map((b) => b.impl);
    // 8192 elements: above the size from which the native backend leaves its JS fallback.
    // Tessera's side of the MLP train step only: the PyTorch side is a subprocess the CLI runs.
    results = [
      ...runCases(dispatchCases(16, backends), tiny), ...runCases(matmulCases(16, backends), tiny),
      ...runCases(elementwiseCases('exp', 8192, backends), tiny),
      ...runCases(backends.map((b) => trainStepCase('mlp', b)), tiny),
    ];
  }, 60_000);

  it('runs every impl of each case, each Tessera case once per backend', () => {
    expect(results.map((r) => `${r.case}/${r.impl}`)).toEqual([
      'add-f32-16/plain-js', ...impls.map((i) => `add-f32-16/${i}`), 'add-f32-16/tfjs-cpu',
      ...impls.map((i) => `matmul-f32-16/${i}`), 'matmul-f32-16/tfjs-cpu',
      'exp-f32-8192/plain-js', ...impls.map((i) => `exp-f32-8192/${i}`), 'exp-f32-8192/tfjs-cpu',
      ...impls.map((i) => `mlp-784-128-10-b64/${i}`),
    ]);
  });

  it('restores the registered backend after building and running cases', () => {
    const before = tsr.getBackend('cpu');
    expect(withBackend(tsr.jsBackend, () => tsr.getBackend('cpu'))).toBe(tsr.jsBackend);
    expect(tsr.getBackend('cpu')).toBe(before);
  });

  it('reports positive finite statistics, GFLOPS for matmul and GB/s for elementwise', () => {
    for (const r of results) {
      expectPositiveFinite(r.meanUs);
      expect(Number.isFinite(r.rme) && r.rme >= 0).toBe(true);
      expect(r.samples).toBeGreaterThanOrEqual(tiny.minSamples);
      if (r.suite === 'matmul') expectPositiveFinite(r.gflops);
      else expect(r.gflops).toBeUndefined();
      if (r.suite === 'elementwise') expectPositiveFinite(r.gbps);
      else expect(r.gbps).toBeUndefined();
    }
  });

  it('builds JSON records with machine, commit and date', () => {
    const machine = machineInfo();
    const date = new Date().toISOString();
    const records = toRecords(results, { machine, commit: gitCommit(), date });
    expect(records).toHaveLength(results.length);
    const extra: Record<string, string[]> = { matmul: ['gflops'], elementwise: ['gbps'] };
    for (const rec of JSON.parse(JSON.stringify(records)) as Record<string, unknown>[]) {
      expect(Object.keys(rec).sort()).toEqual(
        ['case', 'commit', 'config', 'date', 'impl', 'machine', 'meanUs', 'rme', 'size', 'suite', ...(extra[rec['suite'] as string] ?? [])].sort(),
      );
      // Each of these impls says how many threads it ran on.
      expect((rec['config'] as { threads: number }).threads).toBeGreaterThan(0);
      expect(['tessera-js', 'tessera-native', 'tfjs-cpu', 'plain-js']).toContain(rec['impl']);
      expect(rec['date']).toBe(date);
      expect(typeof rec['commit']).toBe('string');
    }
    expect(machine.cores).toBeGreaterThan(0);
    expect(machine.node).toMatch(/^v\d+/);
  });

  it('computes a ratio per case, Tessera backend and peer, and formats a table', () => {
    const rs = ratios(results);
    // add and exp have plain-js and tfjs peers, matmul tfjs only; native is also compared with tessera-js.
    const perBackend = (tessera: string, peers: number) => (tessera === 'tessera-native' ? peers + 1 : peers);
    expect(rs.filter((r) => r.case === 'add-f32-16')).toHaveLength(impls.reduce((n, i) => n + perBackend(i, 2), 0));
    expect(rs.filter((r) => r.case === 'matmul-f32-16')).toHaveLength(impls.reduce((n, i) => n + perBackend(i, 1), 0));
    for (const r of rs) expectPositiveFinite(r.value);
    const table = formatTable(results);
    for (const r of results) expect(table).toContain(r.impl);
  });

  it('runs the tfjs-wasm and onnxruntime peers on the same case names, checked before timing', async () => {
    const rs = [...await runExtraPeers('matmul', 16, tiny), ...await runExtraPeers('exp', 8192, tiny)];
    expect(rs.map((r) => `${r.case}/${r.impl}`)).toEqual(['matmul-f32-16/tfjs-wasm', 'matmul-f32-16/onnxruntime', 'exp-f32-8192/tfjs-wasm', 'exp-f32-8192/onnxruntime']);
    for (const r of rs) expectPositiveFinite(r.meanUs);
    expectPositiveFinite(rs[0]!.gflops);
    expectPositiveFinite(rs[3]!.gbps);
  }, 60_000);

  it('gives one time ratio per Tessera backend and peer for a train-step case', () => {
    const row = (impl: CaseResult['impl'], meanUs: number): CaseResult => ({ suite: 'train-step', case: 'mlp', impl, size: 64, meanUs, rme: 1, samples: 5 });
    const rs = ratios([row('tessera-js', 100), row('tessera-native', 50), row('pytorch-refblas', 400), row('pytorch-openblas', 50)]);
    expect(rs).toEqual([
      { case: 'mlp', tessera: 'tessera-js', peer: 'pytorch-refblas', value: 4 },
      { case: 'mlp', tessera: 'tessera-js', peer: 'pytorch-openblas', value: 0.5 },
      { case: 'mlp', tessera: 'tessera-native', peer: 'tessera-js', value: 2 },
      { case: 'mlp', tessera: 'tessera-native', peer: 'pytorch-refblas', value: 8 },
      { case: 'mlp', tessera: 'tessera-native', peer: 'pytorch-openblas', value: 1 },
    ]);
  });
});
