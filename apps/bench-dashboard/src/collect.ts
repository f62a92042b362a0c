/**
 * Collects what the dashboard shows into one `DashboardData`: every full results file (smoke runs,
 * `*.tmp.json`, are left out) and the conformance matrix, validated so that a malformed file fails
 * the build with its name instead of breaking the page. vite.config.ts serves and emits the result.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ConformanceMatrix, type DashboardData, type Machine, type Measurement, type Run, STATUSES, SUITES } from '../web/data.js';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const APP_DIR = fileURLToPath(new URL('../', import.meta.url));

export interface Sources {
  readonly resultsDir: string;
  readonly matrixPath: string;
}

/**
 * apps/bench-dashboard/results and conformance/report/matrix.json, unless BENCH_RESULTS_DIR or
 * BENCH_MATRIX say otherwise. Relative paths resolve from the repository root, not from the
 * directory Nx runs the target in.
 */
export function sourcesFromEnv(env: NodeJS.ProcessEnv = process.env): Sources {
  return {
    resultsDir: path.resolve(REPO_ROOT, env['BENCH_RESULTS_DIR'] ?? path.join(APP_DIR, 'results')),
    matrixPath: path.resolve(REPO_ROOT, env['BENCH_MATRIX'] ?? path.join(REPO_ROOT, 'conformance/report/matrix.json')),
  };
}

export function collect(sources: Sources): DashboardData {
  if (!existsSync(sources.resultsDir)) throw new Error(`bench-dashboard: results directory ${sources.resultsDir} does not exist (set BENCH_RESULTS_DIR to another one)`);
  const files = readdirSync(sources.resultsDir).filter((f) => f.endsWith('.json') && !f.endsWith('.tmp.json'));
  const runs = files
    .map((f) => readRun(sources.resultsDir, f))
    .sort((a, b) => Date.parse(a.date) - Date.parse(b.date) || a.file.localeCompare(b.file));
  return {
    collected: new Date().toISOString(),
    resultsDir: fromRoot(sources.resultsDir),
    matrixPath: fromRoot(sources.matrixPath),
    runs,
    matrix: matrixAt(sources.matrixPath),
  };
}

/** The conformance matrix, validated, or null when the file does not exist (the conformance tests write it). */
export const matrixAt = (file: string): ConformanceMatrix | null => (existsSync(file) ? readMatrix(file) : null);

/** Paths inside the repository are shown from its root; others in full. */
export function fromRoot(p: string): string {
  const rel = path.relative(REPO_ROOT, p);
  return rel.startsWith('..') || path.isAbsolute(rel) ? p : rel || '.';
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function invalid(where: string, what: string, got: unknown): never {
  throw new Error(`bench-dashboard: ${where}: expected ${what}, got ${JSON.stringify(got)}`);
}

function parseJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`bench-dashboard: ${fromRoot(file)} is not valid JSON: ${(e as Error).message}`);
  }
}

function text(o: Json, key: string, where: string): string {
  const v = o[key];
  return typeof v === 'string' && v !== '' ? v : invalid(`${where}.${key}`, 'a non-empty string', v);
}

function finite(o: Json, key: string, where: string): number {
  const v = o[key];
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : invalid(`${where}.${key}`, 'a finite number >= 0', v);
}

function positive(o: Json, key: string, where: string): number {
  const v = o[key];
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : invalid(`${where}.${key}`, 'a finite number > 0', v);
}

function oneOf<T extends string>(o: Json, key: string, allowed: readonly T[], where: string): T {
  const v = o[key];
  return allowed.includes(v as T) ? (v as T) : invalid(`${where}.${key}`, `one of ${allowed.join(', ')}`, v);
}

function machine(v: unknown, where: string): Machine {
  if (!isObject(v)) return invalid(where, 'an object { cpus, cores, node, gpu? }', v);
  const m = { cpus: text(v, 'cpus', where), cores: positive(v, 'cores', where), node: text(v, 'node', where) };
  return v['gpu'] === undefined ? m : { ...m, gpu: text(v, 'gpu', where) };
}

function measurement(r: Json, where: string): Measurement {
  const m: Measurement = {
    suite: oneOf(r, 'suite', SUITES, where), case: text(r, 'case', where), impl: text(r, 'impl', where),
    size: positive(r, 'size', where), meanUs: positive(r, 'meanUs', where), rme: finite(r, 'rme', where),
  };
  const gflops = r['gflops'] === undefined ? undefined : positive(r, 'gflops', where);
  const gbps = r['gbps'] === undefined ? undefined : positive(r, 'gbps', where);
  return { ...m, ...(gflops === undefined ? {} : { gflops }), ...(gbps === undefined ? {} : { gbps }), ...(r['config'] === undefined ? {} : { config: config(r['config'], `${where}.config`) }) };
}

function config(v: unknown, where: string): NonNullable<Measurement['config']> {
  const ok = isObject(v) && Object.values(v).every((x) => ['string', 'number', 'boolean'].includes(typeof x));
  return ok ? (v as NonNullable<Measurement['config']>) : invalid(where, 'an object of strings, numbers and booleans', v);
}

/** One results file is one run: its records must agree on commit, date and machine. */
function readRun(dir: string, file: string): Run {
  const where = fromRoot(path.join(dir, file));
  const raw = parseJson(path.join(dir, file));
  if (!Array.isArray(raw) || raw.length === 0) return invalid(where, 'a non-empty array of benchmark records', raw);
  const records = raw.map((r: unknown, i) => (isObject(r) ? r : invalid(`${where}[${i}]`, 'a record object', r)));
  const first = records[0]!;
  const run = { file, commit: text(first, 'commit', `${where}[0]`), date: text(first, 'date', `${where}[0]`), machine: machine(first['machine'], `${where}[0].machine`) };
  if (Number.isNaN(Date.parse(run.date))) invalid(`${where}[0].date`, 'an ISO date', run.date);
  const measurements = records.map((r, i) => {
    const at = `${where}[${i}]`;
    if (r['commit'] !== run.commit || r['date'] !== run.date || JSON.stringify(machine(r['machine'], `${at}.machine`)) !== JSON.stringify(run.machine)) {
      invalid(at, `the commit, date and machine of the file's first record (${run.commit}, ${run.date})`, { commit: r['commit'], date: r['date'], machine: r['machine'] });
    }
    return measurement(r, at);
  });
  return { ...run, measurements };
}

function readMatrix(file: string): ConformanceMatrix {
  const where = fromRoot(file);
  const raw = parseJson(file);
  if (!isObject(raw) || !Array.isArray(raw['entries']) || !isObject(raw['summary'])) return invalid(where, 'an object { seed, date, summary, entries }', raw);
  const seed = raw['seed'];
  if (typeof seed !== 'number' && typeof seed !== 'string') return invalid(`${where}.seed`, 'a number or string', seed);
  const summary = Object.fromEntries(Object.entries(raw['summary']).map(([backend, counts]) => {
    const at = `${where}.summary.${backend}`;
    if (!isObject(counts)) return invalid(at, 'an object of counts per status', counts);
    return [backend, Object.fromEntries(STATUSES.map((s) => [s, finite(counts, s, at)]))];
  })) as ConformanceMatrix['summary'];
  const entries = raw['entries'].map((e: unknown, i) => {
    const at = `${where}.entries[${i}]`;
    if (!isObject(e)) return invalid(at, 'an entry { op, backend, dtype, status, detail? }', e);
    const entry = { op: text(e, 'op', at), backend: text(e, 'backend', at), dtype: text(e, 'dtype', at), status: oneOf(e, 'status', STATUSES, at) };
    return e['detail'] === undefined ? entry : { ...entry, detail: text(e, 'detail', at) };
  });
  return { seed, date: text(raw, 'date', where), summary, entries };
}
