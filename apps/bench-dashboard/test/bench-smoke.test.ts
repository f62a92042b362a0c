/**
 * Smoke test: the benchmark cases run in-process and produce well-formed results. Timings are
 * machine-dependent, so nothing here asserts a threshold: only structure and positive finite numbers.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type CaseResult, dispatchCases, formatTable, gitCommit, initTfjs, machineInfo, matmulCases, ratios, runCases, toRecords, trainStepCase,
} from '../src/suites.js';

const tiny = { maxTime: 0.02, minSamples: 2 };

function expectPositiveFinite(v: number | undefined): void {
  expect(typeof v).toBe('number');
  expect(Number.isFinite(v)).toBe(true);
  expect(v).toBeGreaterThan(0);
}

describe('bench-dashboard suites', () => {
  let results: CaseResult[] = [];

  beforeAll(async () => {
    await initTfjs();
    // Tessera's side of the MLP train step only: the PyTorch side is a subprocess the CLI runs.
    results = [...runCases(dispatchCases(16), tiny), ...runCases(matmulCases(16), tiny), ...runCases([trainStepCase('mlp')], tiny)];
  }, 60_000);

  it('runs every impl of each case', () => {
    expect(results.map((r) => `${r.case}/${r.impl}`)).toEqual([
      'add-f32-16/plain-js', 'add-f32-16/tessera-js', 'add-f32-16/tfjs-cpu',
      'matmul-f32-16/tessera-js', 'matmul-f32-16/tfjs-cpu',
      'mlp-784-128-10-b64/tessera-js',
    ]);
  });

  it('reports positive finite statistics', () => {
    for (const r of results) {
      expectPositiveFinite(r.meanUs);
      expect(Number.isFinite(r.rme) && r.rme >= 0).toBe(true);
      expect(r.samples).toBeGreaterThanOrEqual(tiny.minSamples);
      if (r.suite === 'matmul') expectPositiveFinite(r.gflops);
      else expect(r.gflops).toBeUndefined();
    }
  });

  it('builds JSON records with machine, commit and date', () => {
    const machine = machineInfo();
    const date = new Date().toISOString();
    const records = toRecords(results, { machine, commit: gitCommit(), date });
    expect(records).toHaveLength(results.length);
    for (const rec of JSON.parse(JSON.stringify(records)) as Record<string, unknown>[]) {
      expect(Object.keys(rec).sort()).toEqual(
        ['case', 'commit', 'date', 'impl', 'machine', 'meanUs', 'rme', 'size', 'suite', ...(rec['suite'] === 'matmul' ? ['gflops'] : [])].sort(),
      );
      expect(['tessera-js', 'tfjs-cpu', 'plain-js']).toContain(rec['impl']);
      expect(rec['date']).toBe(date);
      expect(typeof rec['commit']).toBe('string');
    }
    expect(machine.cores).toBeGreaterThan(0);
    expect(machine.node).toMatch(/^v\d+/);
  });

  it('computes one cross-library ratio per case with a peer and formats a table', () => {
    const rs = ratios(results);
    expect(rs.map((r) => r.case)).toEqual(['add-f32-16', 'matmul-f32-16']);
    for (const r of rs) expectPositiveFinite(r.value);
    const table = formatTable(results);
    for (const r of results) expect(table).toContain(r.impl);
  });

  it('gives one time ratio per PyTorch variant for a train-step case', () => {
    const row = (impl: CaseResult['impl'], meanUs: number): CaseResult => ({ suite: 'train-step', case: 'mlp', impl, size: 64, meanUs, rme: 1, samples: 5 });
    const rs = ratios([row('tessera-js', 100), row('pytorch-refblas', 400), row('pytorch-openblas', 50)]);
    expect(rs).toEqual([
      { case: 'mlp', label: 'time pytorch-refblas/tessera', value: 4 },
      { case: 'mlp', label: 'time pytorch-openblas/tessera', value: 0.5 },
    ]);
  });
});
