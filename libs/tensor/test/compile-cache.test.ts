/**
 * compile's plans on disk (graph/disk-cache.ts): a second process that runs the same compiled step
 * takes the plan the first stored instead of scheduling again, and gets the same result; a damaged
 * or foreign plan file is a miss, never a wrong plan.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const dir = mkdtempSync(path.join(tmpdir(), 'tessera-plan-cache-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A compiled step with a fused chain, a reduction, NaN and -0 constants and a param (alpha); prints its plan sources and result. */
const script = `
import * as tsr from 'tessera';
const x = tsr.tensor([[1, -2, 3], [0.5, NaN, -0]]), w = tsr.tensor([0.25, -1, 2]);
const step = tsr.compile((a) => a.mul(w).add(x.neg(), { alpha: 0.5 }).tanh().maximum(tsr.tensor(-0)).clamp(-0.9, 0.9).sum(1).add(a.square().mean()));
const r = tsr.explain(step, x.add(1));
process.stdout.write(JSON.stringify({ plans: r.programs.map((p) => p.plan), value: r.result.tolistSync() }));
`;
const run = (env: Record<string, string> = {}) =>
  JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, encoding: 'utf8', env: { ...process.env, TESSERA_CACHE_DIR: dir, ...env } })) as { plans: string[]; value: number[] };

describe('compile plan cache on disk', () => {
  it('is written by the first process and read by the second, with the same result', () => {
    const first = run();
    expect(first.plans).toEqual(['scheduled']);
    expect(readdirSync(path.join(dir, 'plans')).filter((f) => f.endsWith('.json'))).toHaveLength(1);
    const second = run();
    expect(second.plans).toEqual(['disk']);
    expect(second.value).toEqual(first.value);
    // Against the same step run eagerly, in this process.
    expect(run({ TESSERA_CACHE_DIR: 'off' })).toEqual({ plans: ['scheduled'], value: first.value });
  }, 60_000);

  it('keeps at most 2,000 plans, removing the oldest', () => {
    const crowded = mkdtempSync(path.join(tmpdir(), 'tessera-plan-evict-'));
    try {
      const plans = path.join(crowded, 'plans');
      mkdirSync(plans);
      const old = new Date('2020-01-01T00:00:00Z'); // older than any plan written now
      for (let i = 0; i < 2100; i++) {
        const f = path.join(plans, `old-${i}.json`);
        writeFileSync(f, '{}');
        utimesSync(f, old, old);
      }
      expect(run({ TESSERA_CACHE_DIR: crowded }).plans).toEqual(['scheduled']);
      const left = readdirSync(plans);
      expect(left.length).toBeLessThanOrEqual(1501);
      expect(left.filter((f) => !f.startsWith('old-'))).toHaveLength(1); // the new plan stays
    } finally {
      rmSync(crowded, { recursive: true, force: true });
    }
  }, 60_000);

  it('treats a damaged or foreign plan file as a miss and writes it again', () => {
    const [file] = readdirSync(path.join(dir, 'plans')).filter((f) => f.endsWith('.json'));
    const at = path.join(dir, 'plans', file!);
    const good = readFileSync(at, 'utf8');
    const expected = run().value;
    const damaged = [
      '{"format":1,"key":',
      JSON.stringify({ ...JSON.parse(good), key: 'another program' }),
      good.replace(/"storage":\d+/, '"storage":9999'),
      good.replace(/"paramRefs":\[\[\d+,\d+\]/, '"paramRefs":[[0,99]'),
      good.replace(/\["tanh"/, '["no-such-op"'),
    ];
    for (const text of damaged) {
      writeFileSync(at, text);
      const r = run();
      expect(r.plans).toEqual(['scheduled']);
      expect(r.value).toEqual(expected);
      expect(run().plans).toEqual(['disk']); // written again
    }
  }, 120_000);
});
