/**
 * The dashboard as `tessera serve` serves it, driven in Debian's chromium: the headline's geometric
 * means are those of the results files (computed here from the records), the kernel explorer shows
 * each backend's generated source for sigmoid (WGSL for webgpu, Rust for native), a bad query shows
 * the API's own error, the conformance filters hide what they should, GPU sections say which peers ran
 * on the device, the page opened from file:// says how to serve it, and a `--export` folder works from
 * a plain static server. Screenshots go to out/ (committed, shown in the READMEs).
 *
 * Without /usr/bin/chromium the browser tests are skipped, unless TESSERA_REQUIRE_BROWSER=1 (CI) makes
 * that a failure.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import type { FastifyInstance } from 'fastify';
import type { Browser, Page } from 'playwright-core';
import { codegen, ops } from 'tessera';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/server/app.js';
import type { BenchRecord } from '../src/suites.js';
import type { ConformanceMatrix } from '../web/data.js';
import { CHROMIUM, expectedSpeedups, openDashboard, serveDir } from './helpers.js';

const APP_DIR = fileURLToPath(new URL('../', import.meta.url));
const REPO = path.resolve(APP_DIR, '../..');
const FIXTURES = path.join(APP_DIR, 'test/fixtures');
const OUT = path.join(APP_DIR, 'out');
const hasBrowser = existsSync(CHROMIUM);
const requireBrowser = process.env['TESSERA_REQUIRE_BROWSER'] === '1';
const run = promisify(execFile);
/** Exporting (a Vite build) on a 2-core machine and starting chromium take tens of seconds. */
const SLOW = 120_000;

const fixtureMatrix = JSON.parse(readFileSync(path.join(FIXTURES, 'matrix.json'), 'utf8')) as ConformanceMatrix;

/**
 * Two GPU machines beside the CPU fixtures: one whose runs measured Tessera's backends only (the page
 * must say no peer ran on it), one with a peer on the same device.
 */
function gpuRuns(): Record<string, BenchRecord[]> {
  const rec = (gpu: string, date: string, impl: string, c: string, meanUs: number): BenchRecord => ({
    suite: 'matmul', case: c, impl: impl as BenchRecord['impl'], size: 512, meanUs, rme: 1,
    machine: { cpus: 'Fixture CPU G', cores: 2, node: 'v20.20.2', gpu }, commit: `${date.slice(0, 4)}${'d'.repeat(36)}`, date,
  });
  const alone = 'Fixture GPU without peers';
  const paired = 'Fixture GPU with a peer';
  return {
    '2026-01-20T10-00-00.000Z-webgpu.json': [rec(alone, '2026-01-20T10:00:00.000Z', 'tessera-native', 'matmul-f32-512', 900), rec(alone, '2026-01-20T10:00:00.000Z', 'tessera-webgpu', 'matmul-f32-512', 3000)],
    '2026-01-21T10-00-00.000Z-webgpu.json': [
      rec(alone, '2026-01-21T10:00:00.000Z', 'tessera-native', 'matmul-f32-512', 800), rec(alone, '2026-01-21T10:00:00.000Z', 'tessera-webgpu', 'matmul-f32-512', 2000),
      rec(alone, '2026-01-21T10:00:00.000Z', 'tessera-native', 'matmul-f32-128', 50), rec(alone, '2026-01-21T10:00:00.000Z', 'tessera-webgpu', 'matmul-f32-128', 400),
    ],
    '2026-01-22T10-00-00.000Z-webgpu.json': [rec(paired, '2026-01-22T10:00:00.000Z', 'tessera-webgpu', 'matmul-f32-512', 700), rec(paired, '2026-01-22T10:00:00.000Z', 'onnxruntime-webgpu', 'matmul-f32-512', 1400)],
  };
}

const machineLabel = (m: BenchRecord['machine']): string => `${m.cpus}, ${m.cores} cores${m.gpu === undefined ? '' : `, GPU ${m.gpu}`}`;
const geomean = (vs: readonly number[]): number => Math.exp(vs.reduce((a, v) => a + Math.log(v), 0) / vs.length);

/**
 * What the headline must show, keyed `machine|tessera|peer`: the geometric mean of the latest run's
 * ratios, its case count, and latest / previous geometric mean over the cases both runs have.
 */
function expectedHeadline(runs: readonly BenchRecord[][]): Map<string, { geomean: number; cases: number; change?: number }> {
  const byMachine = new Map<string, BenchRecord[][]>();
  for (const r of runs) byMachine.set(machineLabel(r[0]!.machine), [...(byMachine.get(machineLabel(r[0]!.machine)) ?? []), r]);
  const out = new Map<string, { geomean: number; cases: number; change?: number }>();
  for (const [label, rs] of byMachine) {
    rs.sort((a, b) => Date.parse(a[0]!.date) - Date.parse(b[0]!.date));
    const pairs = (r: BenchRecord[] | undefined): Map<string, Map<string, number>> => {
      const m = new Map<string, Map<string, number>>();
      for (const [key, v] of r ? expectedSpeedups(r) : []) {
        const [c, t, p] = key.split('|') as [string, string, string];
        m.set(`${t}|${p}`, (m.get(`${t}|${p}`) ?? new Map()).set(c, v));
      }
      return m;
    };
    const latest = pairs(rs.at(-1)), previous = pairs(rs.at(-2));
    for (const [pair, cases] of latest) {
      const before = previous.get(pair);
      const shared = [...cases.keys()].filter((c) => before?.has(c));
      out.set(`${label}|${pair}`, {
        geomean: geomean([...cases.values()]), cases: cases.size,
        ...(shared.length ? { change: geomean(shared.map((c) => cases.get(c)!)) / geomean(shared.map((c) => before!.get(c)!)) } : {}),
      });
    }
  }
  return out;
}

it.runIf(!hasBrowser && requireBrowser)(`finds chromium at ${CHROMIUM} (TESSERA_REQUIRE_BROWSER=1)`, () => {
  throw new Error(`${CHROMIUM} not found: the dashboard's browser test needs Debian's chromium (\`apt-get install chromium\`, or \`node scripts/setup.mjs\`)`);
});

// Skipped only on a machine without Debian's chromium (a developer's, before npm test's setup): the
// skip names it, and in CI (TESSERA_REQUIRE_BROWSER=1) the guard above fails the run instead.
describe.skipIf(!hasBrowser)(hasBrowser ? 'tessera serve in chromium' : `tessera serve in chromium (skipped: ${CHROMIUM} not found)`, () => {
  const tmp = mkdtempSync(path.join(tmpdir(), 'tessera-serve-'));
  const resultsDir = path.join(tmp, 'results');
  const exportDir = path.join(tmp, 'site');
  const sources = { resultsDir, matrixPath: path.join(FIXTURES, 'matrix.json') };
  let runs: BenchRecord[][] = [];
  let app: FastifyInstance | undefined;
  let url = '';
  let browser: Browser | undefined;
  let page: Page;
  const errors: string[] = [];

  beforeAll(async () => {
    mkdirSync(resultsDir);
    for (const f of readdirSync(path.join(FIXTURES, 'results'))) copyFileSync(path.join(FIXTURES, 'results', f), path.join(resultsDir, f));
    for (const [f, records] of Object.entries(gpuRuns())) writeFileSync(path.join(resultsDir, f), JSON.stringify(records));
    runs = readdirSync(resultsDir).filter((f) => !f.endsWith('.tmp.json')).map((f) => JSON.parse(readFileSync(path.join(resultsDir, f), 'utf8')) as BenchRecord[]);
    // The export builds the page; the live server then serves that folder with the API beside it.
    await run(process.execPath, [path.join(REPO, 'libs/tessera/bin/tessera.js'), 'serve', '--export', exportDir], {
      cwd: REPO, env: { ...process.env, BENCH_RESULTS_DIR: resultsDir, BENCH_MATRIX: sources.matrixPath },
    });
    app = await buildApp({ sources, webDir: exportDir });
    await app.listen({ port: 0, host: '127.0.0.1' });
    url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/`;
    ({ browser, page } = await openDashboard(url, errors, SLOW));
    mkdirSync(OUT, { recursive: true });
    // The section, not the page: the header names the temporary results folder and the time, which would change the committed file on every run.
    await page.locator('#headline').screenshot({ path: path.join(OUT, 'serve-headline.png') });
  }, SLOW);

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('draws without errors, the headline first', async () => {
    const state = await page.getAttribute('html', 'data-state');
    expect(state, state === 'error' ? (await page.textContent('.notice.error')) ?? '' : '').toBe('ready');
    expect(errors).toEqual([]);
    expect(await page.locator('main > section').first().getAttribute('id')).toBe('headline');
  });

  it("shows as headline each machine's geometric-mean speedups over the latest run's cases, case counts and change since the previous run", async () => {
    const want = expectedHeadline(runs);
    const shown = await page.locator('#headline td[data-geomean]').evaluateAll((tds) => tds.map((td) => ({
      key: `${td.getAttribute('data-machine')}|${td.getAttribute('data-tessera')}|${td.getAttribute('data-peer')}`,
      geomean: Number(td.getAttribute('data-geomean')), cases: Number(td.getAttribute('data-cases')),
      change: td.querySelector('[data-change]')?.getAttribute('data-change') ?? null,
      ratioText: td.querySelector('.ratio')?.textContent ?? '', text: td.textContent ?? '',
    })));
    expect(shown.map((s) => s.key).sort()).toEqual([...want.keys()].sort());
    for (const s of shown) {
      const w = want.get(s.key)!;
      expect(s.geomean / w.geomean, s.key).toBeCloseTo(1, 12);
      expect(Math.abs(Number.parseFloat(s.ratioText) / w.geomean - 1), `${s.key}: ${s.ratioText} vs ${w.geomean}`).toBeLessThanOrEqual(0.005);
      expect(s.cases, s.key).toBe(w.cases);
      expect(s.text, s.key).toContain(`${w.cases} case`);
      if (w.change === undefined) expect(s.change, s.key).toBe('');
      else expect(Number(s.change) / w.change, s.key).toBeCloseTo(1, 12);
    }
    // The GPU machine without peers compares webgpu with native over 2 cases, one of them also in its previous run.
    expect(want.get('Fixture CPU G, 2 cores, GPU Fixture GPU without peers|tessera-webgpu|tessera-native')?.cases).toBe(2);
  });

  it('shows WGSL for webgpu and Rust for native in the kernel explorer, each as the emitter generates it, beside the IR', async () => {
    await page.locator('#explorer').scrollIntoViewIfNeeded();
    await page.locator('#explorer').screenshot({ path: path.join(OUT, 'serve-kernel-explorer.png') });
    const text = async (backend: string): Promise<{ language: string | null; source: string }> => ({
      language: await page.getAttribute(`#explorer .kernel[data-backend="${backend}"]`, 'data-language'),
      source: (await page.textContent(`#explorer .kernel[data-backend="${backend}"] pre`)) ?? '',
    });
    const webgpu = await text('webgpu');
    const native = await text('native');
    expect(webgpu.language).toBe('WGSL');
    expect(native.language).toBe('Rust');
    expect(webgpu.source).toBe(`// sigmoid (float32) for backend webgpu, generated from the op spec\n${codegen({ backend: 'webgpu', op: 'sigmoid', dtype: 'float32' })}`);
    expect(native.source).toBe(`// sigmoid (float32) for backend native, generated from the op spec\n${codegen({ backend: 'native', op: 'sigmoid', dtype: 'float32' })}`);
    // Each in its language, not merely labelled so.
    expect(webgpu.source).toMatch(/@compute @workgroup_size/);
    expect(native.source).toMatch(/let \w+: f32 =/);
    expect(await page.textContent('#explorer pre[data-ir="expr"]')).toMatch(/exp: float32/);
  });

  it('follows the form: another op and dtype, fewer backends, the choice kept in the address', async () => {
    const form = page.locator('#explorer form[data-form="explorer"]');
    await form.locator('select[name="op"]').selectOption('sum');
    await form.locator('select[name="dtype"]').selectOption('float64');
    for (const backend of ['js', 'webgpu', 'gpujs']) await form.locator(`input[name="backend"][value="${backend}"]`).uncheck();
    // A string, evaluated in the page: the root typecheck has no DOM library.
    await page.waitForFunction("document.querySelectorAll('#explorer .kernel[data-backend]').length === 2 && new URL(location.href).searchParams.get('backend') === 'cuda,native'");
    expect(await page.locator('#explorer .kernel[data-backend]').evaluateAll((ks) => ks.map((k) => k.getAttribute('data-backend')))).toEqual(['cuda', 'native']);
    expect(await page.textContent('#explorer .kernel[data-backend="native"] pre')).toBe(`// sum (float64) for backend native, generated from the op spec\n${codegen({ backend: 'native', op: 'sum', dtype: 'float64' })}`);
    // A reduction's IR is the parts its spec defines, of map, combine, finalize and better.
    const sum = ops.REDUCTIONS['sum']!;
    expect(await page.locator('#explorer pre[data-ir]').evaluateAll((ps) => ps.map((p) => p.getAttribute('data-ir')))).toEqual((['map', 'combine', 'finalize', 'better'] as const).filter((k) => sum[k] !== undefined));
    const search = new URL(page.url()).searchParams;
    expect([search.get('op'), search.get('dtype')]).toEqual(['sum', 'float64']);
  });

  it("shows the API's own error for a bad query", async () => {
    const bad = await browser!.newPage();
    for (const [query, field] of [['op=nosuchop&dtype=float32&rank=1', 'op'], ['op=sigmoid&dtype=float32&rank=9', 'rank'], ['op=sigmoid&dtype=float8&rank=1', 'dtype']] as const) {
      const api = await fetch(`${url}api/kernel?${query}`);
      expect(api.status).toBe(400);
      const { message } = (await api.json()) as { message: string };
      await bad.goto(`${url}?${query}`);
      await bad.waitForSelector('#explorer[data-state="ready"]', { timeout: SLOW });
      const notice = bad.locator('#explorer [data-notice="kernel-error"]');
      expect(await notice.textContent(), query).toBe(message);
      expect(await notice.getAttribute('data-field'), query).toBe(field);
    }
    await bad.locator('#explorer').screenshot({ path: path.join(OUT, 'serve-bad-query.png') });
    await bad.close();
  }, SLOW);

  it('filters the conformance matrix by backend, op and status', async () => {
    const visible = () => page.locator('table[data-table="conformance"] td[data-op]').evaluateAll((tds) => tds.filter((td) => td.offsetParent !== null).map((td) => `${td.getAttribute('data-op')}/${td.getAttribute('data-backend')}`));
    const all = fixtureMatrix.entries.map((e) => `${e.op}/${e.backend}`);
    expect((await visible()).sort()).toEqual([...new Set(all)].sort());
    const form = page.locator('form[data-form="conformance-filter"]');
    await form.locator('select[name="backend"]').selectOption('webgpu');
    expect((await visible()).sort()).toEqual([...new Set(fixtureMatrix.entries.filter((e) => e.backend === 'webgpu').map((e) => `${e.op}/${e.backend}`))].sort());
    await form.locator('select[name="status"]').selectOption('unsupported');
    expect((await visible()).sort()).toEqual([...new Set(fixtureMatrix.entries.filter((e) => e.backend === 'webgpu' && e.status === 'unsupported').map((e) => `${e.op}/${e.backend}`))].sort());
    await form.locator('select[name="backend"]').selectOption('');
    await form.locator('select[name="status"]').selectOption('');
    await form.locator('input[name="op"]').fill('mat');
    const ops = [...new Set(fixtureMatrix.entries.map((e) => e.op))].filter((o) => o.includes('mat'));
    expect((await visible()).sort()).toEqual([...new Set(fixtureMatrix.entries.filter((e) => ops.includes(e.op)).map((e) => `${e.op}/${e.backend}`))].sort());
    await form.locator('input[name="op"]').fill('');
  });

  it('says plainly when no peer ran on a GPU, and names the peers that did', async () => {
    const alone = page.locator('section[data-machine="Fixture CPU G, 2 cores, GPU Fixture GPU without peers"]');
    expect(await alone.locator('[data-notice="no-gpu-peers"]').textContent()).toContain('No peer was measured on this GPU');
    const paired = page.locator('section[data-machine="Fixture CPU G, 2 cores, GPU Fixture GPU with a peer"]');
    expect(await paired.locator('[data-notice="no-gpu-peers"]').count()).toBe(0);
    expect(await paired.locator('[data-notice="gpu-peers"]').textContent()).toContain('onnxruntime-webgpu');
    // The CPU machines have no GPU section note.
    expect(await page.locator('section[data-machine="Fixture CPU A, 4 cores"] [data-notice$="gpu-peers"]').count()).toBe(0);
  });

  it('opened from file://, says how to serve it', async () => {
    const file = await browser!.newPage({ viewport: { width: 1000, height: 300 } });
    await file.goto(pathToFileURL(path.join(exportDir, 'index.html')).href);
    await file.waitForSelector('html[data-state="file"]', { timeout: SLOW });
    const hint = await file.textContent('[data-notice="file-protocol"]');
    expect(hint).toContain('npx tessera serve');
    expect(hint).toContain('npm run dashboard');
    await file.screenshot({ path: path.join(OUT, 'serve-file-hint.png') });
    await file.close();
  }, SLOW);

  it('works as a static export behind a plain file server: the explorer reads the exported JSON', async () => {
    const { server, url: staticUrl } = await serveDir(exportDir);
    const exported = await browser!.newPage();
    try {
      await exported.goto(`${staticUrl}?op=sigmoid&dtype=float32`);
      await exported.waitForSelector('html[data-state]', { timeout: SLOW });
      expect(await exported.getAttribute('html', 'data-state')).toBe('ready');
      await exported.waitForSelector('#explorer[data-state="ready"]', { timeout: SLOW });
      expect(await exported.textContent('#explorer .kernel[data-backend="webgpu"] pre')).toBe(`// sigmoid (float32) for backend webgpu, generated from the op spec\n${codegen({ backend: 'webgpu', op: 'sigmoid', dtype: 'float32' })}`);
      expect(await exported.locator('#headline td[data-geomean]').count()).toBe(expectedHeadline(runs).size);
      // Each exported GET route is a file.
      for (const f of ['api/specs.json', 'api/results.json', 'api/matrix.json', 'api/openapi.json', 'api/examples.json', 'api/compile/gelu-mlp.json']) expect(existsSync(path.join(exportDir, f)), f).toBe(true);
    } finally {
      await exported.close();
      await new Promise((resolve) => server.close(resolve));
    }
  }, SLOW);
});
