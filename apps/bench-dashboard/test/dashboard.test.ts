/**
 * The dashboard page, built from the committed fixtures (test/fixtures) and driven in Debian's chromium:
 * every chart is drawn, the speedups shown are the fixtures' time ratios, and the conformance table has
 * the fixture matrix's ops, backends and statuses. Leaves a screenshot in out/dashboard.png.
 *
 * Without /usr/bin/chromium the browser tests are skipped, unless TESSERA_REQUIRE_BROWSER=1 (CI) makes
 * that a failure.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BenchRecord } from '../src/suites.js';
import { type ConformanceMatrix, STATUSES, type Status } from '../web/data.js';
import { CHROMIUM, expectedSpeedups, openDashboard, serveDir } from './helpers.js';

const APP_DIR = fileURLToPath(new URL('../', import.meta.url));
const FIXTURES = path.join(APP_DIR, 'test/fixtures');
const SCREENSHOT = path.join(APP_DIR, 'out/dashboard.png');
const hasBrowser = existsSync(CHROMIUM);
const requireBrowser = process.env['TESSERA_REQUIRE_BROWSER'] === '1';

const require = createRequire(import.meta.url);
const run = promisify(execFile);
/** Building on a 2-core machine and starting chromium take tens of seconds. */
const SLOW = 120_000;

/** The fixtures' machines, as the page labels (and ids) them. */
const MACHINE_A = 'Fixture CPU A, 4 cores';
const MACHINE_B = 'Fixture CPU B, 8 cores';

/**
 * What the page must draw for each machine: speedups per suite; throughput and history per suite and
 * unit (the ops fixtures mix GB/s, softmax, with GFLOPS, conv2d); time where a suite has no throughput.
 */
const CHARTS: Readonly<Record<string, readonly string[]>> = {
  [MACHINE_A]: [
    'speedup:dispatch', 'speedup:matmul', 'speedup:elementwise', 'speedup:ops', 'speedup:train-step',
    'throughput:matmul:gflops', 'throughput:elementwise:gbps', 'throughput:ops:gbps', 'throughput:ops:gflops',
    'history:dispatch:time', 'history:matmul:gflops', 'history:elementwise:gbps', 'history:ops:gbps', 'history:ops:gflops', 'history:train-step:time',
  ],
  [MACHINE_B]: ['speedup:matmul', 'throughput:matmul:gflops', 'history:matmul:gflops'],
};

/**
 * test/fixtures/results: machine A has two full runs (commits aaaaaaaa..., bbbbbbbb..., the second with
 * a faster tessera-native) and a newer smoke run (cccccccc..., *.tmp.json, to be left out); machine B
 * has one run, older than all of A's, which is still its latest.
 */
const fixtureRuns: BenchRecord[][] = readdirSync(path.join(FIXTURES, 'results'))
  .filter((f) => f.endsWith('.json') && !f.endsWith('.tmp.json'))
  .map((f) => JSON.parse(readFileSync(path.join(FIXTURES, 'results', f), 'utf8')) as BenchRecord[]);
const fixtureMatrix = JSON.parse(readFileSync(path.join(FIXTURES, 'matrix.json'), 'utf8')) as ConformanceMatrix;

function latestRun(cpus: string): BenchRecord[] {
  const runs = fixtureRuns.filter((r) => r[0]!.machine.cpus === cpus).sort((a, b) => Date.parse(b[0]!.date) - Date.parse(a[0]!.date));
  return runs[0]!;
}

it('typechecks the page under its own DOM tsconfig (the root typecheck has no DOM lib)', async () => {
  await run(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(APP_DIR, 'web/tsconfig.json')]).catch((e: { stdout?: string }) => {
    throw new Error(`tsc -p web/tsconfig.json failed:\n${e.stdout ?? String(e)}`);
  });
}, SLOW);

it.runIf(!hasBrowser && requireBrowser)(`finds chromium at ${CHROMIUM} (TESSERA_REQUIRE_BROWSER=1)`, () => {
  throw new Error(`${CHROMIUM} not found: the dashboard's browser test needs Debian's chromium (\`apt-get install chromium\`, or \`node scripts/setup.mjs\`)`);
});

describe.skipIf(!hasBrowser)(hasBrowser ? 'dashboard in chromium' : `dashboard in chromium (skipped: ${CHROMIUM} not found)`, () => {
  let dist = '';
  let server: Server | undefined;
  let url = '';
  let browser: Browser | undefined;
  let page: Page;
  const errors: string[] = [];

  beforeAll(async () => {
    dist = mkdtempSync(path.join(tmpdir(), 'bench-dashboard-'));
    const vite = path.join(path.dirname(require.resolve('vite/package.json')), 'bin/vite.js');
    await run(process.execPath, [vite, 'build', '--outDir', dist, '--emptyOutDir', '--logLevel', 'warn'], {
      cwd: APP_DIR,
      // Vitest sets NODE_ENV=test, under which Vite would not build for production.
      env: { ...process.env, NODE_ENV: 'production', BENCH_RESULTS_DIR: path.join(FIXTURES, 'results'), BENCH_MATRIX: path.join(FIXTURES, 'matrix.json') },
    });
    ({ server, url } = await serveDir(dist));
    ({ browser, page } = await openDashboard(url, errors, SLOW));
    mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
  }, SLOW);

  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    if (dist) rmSync(dist, { recursive: true, force: true });
  });

  it('draws without errors: one section per machine, most recently measured first, smoke runs left out', async () => {
    const state = await page.getAttribute('html', 'data-state');
    expect(state, state === 'error' ? (await page.textContent('.notice.error')) ?? '' : '').toBe('ready');
    expect(errors).toEqual([]);
    expect(await page.locator('section[data-machine]').evaluateAll((ss) => ss.map((s) => s.getAttribute('data-machine')))).toEqual([MACHINE_A, MACHINE_B]);
    // The *.tmp.json fixture is machine A's newest file, on commit cccccccc.
    const text = await page.textContent('body');
    expect(text).not.toContain('cccccccc');
    expect(text).toContain('3 full runs');
  });

  it('draws every chart it should, titled and not blank', async () => {
    for (const [machine, ids] of Object.entries(CHARTS)) {
      const charts = await page.locator(`section[data-machine="${machine}"] canvas[data-chart]`).evaluateAll((cs) => cs.map((c) => {
        const { data } = c.getContext('2d').getImageData(0, 0, c.width, c.height);
        let painted = 0;
        let coloured = 0;
        for (let i = 0; i < data.length; i += 4) {
          const [r, g, b, a] = [data[i], data[i + 1], data[i + 2], data[i + 3]];
          if (a > 0) painted++;
          // Text, axes and grid are grey; only bars, lines and legend keys carry colour.
          if (a > 200 && Math.max(r, g, b) - Math.min(r, g, b) > 60) coloured++;
        }
        return { id: c.getAttribute('data-chart') as string, title: c.getAttribute('aria-label') as string, area: c.width * c.height, painted, coloured };
      }));
      expect(charts.map((c) => c.id)).toEqual(ids);
      for (const c of charts) {
        expect(c.title, c.id).not.toBe('');
        expect(c.area, c.id).toBeGreaterThan(100_000);
        expect(c.painted / c.area, `${machine} ${c.id}: share of painted pixels`).toBeGreaterThan(0.02);
        expect(c.coloured, `${machine} ${c.id}: coloured pixels`).toBeGreaterThan(100);
      }
    }
  });

  it("shows each machine's latest-run speedups as the fixture's time ratios", async () => {
    for (const [machine, cpus] of [[MACHINE_A, 'Fixture CPU A'], [MACHINE_B, 'Fixture CPU B']] as const) {
      const want = expectedSpeedups(latestRun(cpus));
      const shown = await page.locator(`section[data-machine="${machine}"] td[data-peer]`).evaluateAll((tds) => tds.map((td) => ({
        key: `${td.getAttribute('data-case')}|${td.getAttribute('data-tessera')}|${td.getAttribute('data-peer')}`,
        value: Number(td.getAttribute('data-value')),
        text: td.textContent as string,
      })));
      expect(shown.map((s) => s.key).sort()).toEqual([...want.keys()].sort());
      for (const s of shown) {
        const expected = want.get(s.key)!;
        expect(s.value / expected, s.key).toBeCloseTo(1, 12);
        // Shown to three significant digits.
        expect(s.text, s.key).toMatch(/^[\d.]+×$/);
        expect(Math.abs(Number.parseFloat(s.text) / expected - 1), `${s.key}: ${s.text} vs ${expected}`).toBeLessThanOrEqual(0.005);
      }
    }
    // One by hand, from the newest full run: matmul 512, tfjs 200000 µs / native 800 µs.
    expect(await page.textContent(`section[data-machine="${MACHINE_A}"] td[data-case="matmul-f32-512"][data-tessera="tessera-native"][data-peer="tfjs-cpu"]`)).toBe('250×');
  });

  it("shows the matrix's ops and backends, each cell's dtypes and statuses, and the per-backend summary", async () => {
    const ops = [...new Set(fixtureMatrix.entries.map((e) => e.op))].sort();
    const backends = [...new Set(fixtureMatrix.entries.map((e) => e.backend))].sort();
    const table = 'table[data-table="conformance"]';
    expect(await page.locator(`${table} thead th`).allTextContents()).toEqual(['op', ...backends]);
    expect(await page.locator(`${table} tbody th`).allTextContents()).toEqual(ops);
    const cells = await page.locator(`${table} td[data-op]`).evaluateAll((tds) => tds.map((td) => ({
      op: td.getAttribute('data-op') as string, backend: td.getAttribute('data-backend') as string,
      status: td.getAttribute('data-status') as string, text: td.textContent as string, title: td.getAttribute('title') as string,
    })));
    expect(cells).toHaveLength(ops.length * backends.length);
    for (const cell of cells) {
      const entries = fixtureMatrix.entries.filter((e) => e.op === cell.op && e.backend === cell.backend);
      for (const e of entries) {
        expect(cell.text, `${cell.op}/${cell.backend}`).toContain(e.status);
        if (e.dtype !== '*') expect(cell.text, `${cell.op}/${cell.backend}`).toContain(e.dtype);
        if (e.detail !== undefined) expect(cell.title, `${cell.op}/${cell.backend}`).toContain(e.detail);
      }
    }
    // A cell takes its worst status: fail over pass over unsupported over not run.
    const status = (op: string, backend: string): string | undefined => cells.find((c) => c.op === op && c.backend === backend)?.status;
    const want: [string, string, Status][] = [
      ['matmul', 'native', 'fail'], ['matmul', 'webgpu', 'pass'], ['conv2d', 'webgpu', 'unsupported'], ['add', 'cuda', 'not run'], ['add', 'js', 'pass'],
    ];
    for (const [op, backend, s] of want) expect(status(op, backend), `${op}/${backend}`).toBe(s);

    const summary = await page.locator('table[data-table="conformance-summary"] td[data-backend]').evaluateAll((tds) => tds.map((td) => ({
      backend: td.getAttribute('data-backend') as string, status: td.getAttribute('data-status') as Status, count: Number(td.textContent),
    })));
    expect(summary).toHaveLength(Object.keys(fixtureMatrix.summary).length * STATUSES.length);
    for (const s of summary) expect(s.count, `${s.backend} ${s.status}`).toBe(fixtureMatrix.summary[s.backend]![s.status]);
  });

  it('says so when there is no conformance matrix', async () => {
    const bare = await browser!.newPage();
    await bare.route('**/data.json', async (route) => {
      const response = await route.fetch();
      await route.fulfill({ response, json: { ...(await response.json()), matrix: null } });
    });
    await bare.goto(url);
    await bare.waitForSelector('html[data-state="ready"]', { timeout: SLOW });
    expect(await bare.textContent('[data-notice="no-matrix"]')).toContain('apps/bench-dashboard/test/fixtures/matrix.json does not exist');
    expect(await bare.locator('table[data-table="conformance"]').count()).toBe(0);
    await bare.close();
  }, SLOW);
});
