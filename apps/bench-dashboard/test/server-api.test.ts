/**
 * The server's JSON API (src/server): every route answers, every bad input gets a 4xx JSON error that
 * names the field, the kernel route's text is what `tessera codegen` prints, 1,000 concurrent kernel
 * requests all succeed (their p50/p99 latency is printed, never asserted), and `tessera serve` stops
 * cleanly on SIGTERM.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { FastifyInstance } from 'fastify';
import { codegen, emitterNames, ops } from 'tessera';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BODY_LIMIT, buildApp } from '../src/server/app.js';
import { EXAMPLES } from '../src/server/compile.js';
import { ROUTES } from '../src/server/routes.js';

const APP_DIR = fileURLToPath(new URL('../', import.meta.url));
const REPO = path.resolve(APP_DIR, '../..');
const FIXTURES = path.join(APP_DIR, 'test/fixtures');
const TESSERA_BIN = path.join(REPO, 'libs/tessera/bin/tessera.js');
const sources = { resultsDir: path.join(FIXTURES, 'results'), matrixPath: path.join(FIXTURES, 'matrix.json') };
const run = promisify(execFile);
const SLOW = 60_000;

let app: FastifyInstance;
beforeAll(async () => {
  app = await buildApp({ sources });
});
afterAll(async () => app.close());

const get = async (url: string) => {
  const res = await app.inject({ method: 'GET', url });
  return { status: res.statusCode, type: String(res.headers['content-type']), body: res.json() as Record<string, unknown> };
};
const post = async (body: string, contentType = 'application/json') => {
  const res = await app.inject({ method: 'POST', url: ROUTES.compile.path, payload: body, headers: { 'content-type': contentType } });
  return { status: res.statusCode, type: String(res.headers['content-type']), body: res.json() as Record<string, unknown> };
};

describe('routes', () => {
  it('GET /api/specs lists every spec with its data, and the IR of generated ones as a tree', async () => {
    const { status, body } = await get(ROUTES.specs.path);
    expect(status).toBe(200);
    const specs = body['specs'] as { name: string; kind: string; generated: boolean; tolerances: unknown; sample: unknown; ir?: { expr?: unknown; combine?: unknown } }[];
    expect(specs.map((s) => s.name).sort()).toEqual(ops.ALL_SPECS.map((s) => s.name).sort());
    expect((body['backends'] as { name: string }[]).map((b) => b.name)).toEqual(emitterNames());
    for (const name of Object.keys(ops.ELEMENTWISE)) {
      const s = specs.find((x) => x.name === name)!;
      expect(s.generated, name).toBe(true);
      expect(s.ir?.expr, name).toBeTypeOf('object');
    }
    // sigmoid's IR is built from its spec: the tree's leaves are its one input.
    const sigmoid = specs.find((s) => s.name === 'sigmoid')!;
    const leaves = (n: { kind: string; args?: unknown[] }): string[] => (n.kind === 'op' ? (n.args as { kind: string }[]).flatMap((a) => leaves(a as never)) : [n.kind]);
    expect(new Set(leaves(sigmoid.ir!.expr as never))).toContain('input');
    expect(specs.find((s) => s.name === 'sum')?.ir?.combine).toBeTypeOf('object');
  });

  it("GET /api/kernel gives every backend's source, each the text `tessera codegen` prints", async () => {
    const { status, body } = await get('/api/kernel?op=sigmoid&dtype=float32');
    expect(status).toBe(200);
    const kernels = body['kernels'] as Record<string, { language: string; source?: string }>;
    expect(Object.keys(kernels)).toEqual(emitterNames());
    for (const backend of emitterNames()) {
      expect(kernels[backend]!.source, backend).toBe(`// sigmoid (float32) for backend ${backend}, generated from the op spec\n${codegen({ backend, op: 'sigmoid', dtype: 'float32' })}`);
    }
    expect(kernels['native']!.language).toBe('Rust');
    expect(kernels['webgpu']!.language).toBe('WGSL');
    // The CLI itself, once: its stdout is the API's text plus a newline.
    const { stdout } = await run(process.execPath, [TESSERA_BIN, 'codegen', '--backend', 'webgpu', '--op', 'sigmoid', '--dtype', 'float32'], { cwd: REPO });
    expect(stdout).toBe(`${kernels['webgpu']!.source}\n`);
  }, SLOW);

  it('GET /api/kernel takes one backend, a rank and a reduction', async () => {
    const { body } = await get('/api/kernel?op=sum&dtype=float64&backend=native&rank=2&innerRank=2');
    expect(Object.keys(body['kernels'] as object)).toEqual(['native']);
    expect((body['kernels'] as Record<string, { source: string }>)['native']!.source).toContain(codegen({ backend: 'native', op: 'sum', dtype: 'float64', rank: 2, innerRank: 2 }));
  });

  it("says why in a backend's place when it cannot emit the op at that dtype (WGSL has no float64)", async () => {
    const { status, body } = await get('/api/kernel?op=sigmoid&dtype=float64&backend=webgpu,cuda');
    expect(status).toBe(200);
    const kernels = body['kernels'] as Record<string, { source?: string; error?: string }>;
    expect(() => codegen({ backend: 'webgpu', op: 'sigmoid', dtype: 'float64' })).toThrow(kernels['webgpu']!.error!);
    expect(kernels['webgpu']!.source).toBeUndefined();
    expect(kernels['cuda']!.source).toContain(codegen({ backend: 'cuda', op: 'sigmoid', dtype: 'float64' }));
  });

  it('POST /api/compile runs each named example and a posted graph', async () => {
    for (const example of Object.keys(EXAMPLES)) {
      const { status, body } = await post(JSON.stringify({ example }));
      expect(status, example).toBe(200);
      type Kernel = { kind: string; source?: Record<string, string>; epilogue?: Kernel };
      const kernels = (body['programs'] as Kernel[][]).flat();
      expect(kernels.length, example).toBeGreaterThan(0);
      // A fused kernel runs on its own, or inside a routine's launch as its epilogue (where the backend fuses them: native CPU's matmul).
      const fused = kernels.flatMap((k) => (k.epilogue ? [k, k.epilogue] : [k])).filter((k) => k.kind === 'elementwise');
      expect(fused.length, example).toBeGreaterThan(0);
      for (const k of fused) expect(Object.keys(k.source!).sort(), example).toEqual(emitterNames().sort());
    }
    const mlp = await post(JSON.stringify({ example: 'gelu-mlp' }));
    expect((mlp.body['programs'] as { kind: string; name: string }[][]).flat().filter((k) => k.kind === 'routine').map((k) => k.name)).toEqual(['matmul', 'matmul']);
    const graph = { inputs: { x: { shape: [4, 8] }, y: { shape: [8], dtype: 'float32' } }, ops: [{ op: 'mul', args: ['x', 'y'], out: 'p' }, { op: 'tanh', args: ['p'], out: 'q' }] };
    const { status, body } = await post(JSON.stringify({ graph }));
    expect(status).toBe(200);
    // An elementwise chain: one fused kernel over the broadcast shape.
    const ks = (body['programs'] as { kind: string; shape: number[]; source: Record<string, string> }[][]).flat();
    expect(ks).toHaveLength(1);
    expect(ks[0]!.kind).toBe('elementwise');
    expect(ks[0]!.shape.reduce((a, b) => a * b, 1)).toBe(32);
  });

  it('GET /api/matrix and /api/results read the files; a missing matrix is a 404 JSON error naming it', async () => {
    const matrix = await get(ROUTES.matrix.path);
    expect(matrix.status).toBe(200);
    expect(matrix.body).toMatchObject({ entries: JSON.parse(readFileSync(sources.matrixPath, 'utf8')).entries });
    const results = await get(ROUTES.results.path);
    expect(results.status).toBe(200);
    const files = (results.body['runs'] as { file: string }[]).map((r) => r.file);
    expect(files).toContain('2026-01-11T10-00-00.000Z-cpu.json');
    expect(files.some((f) => f.endsWith('.tmp.json'))).toBe(false);
    const bare = await buildApp({ sources: { ...sources, matrixPath: path.join(FIXTURES, 'no-such-matrix.json') } });
    const res = await bare.inject({ method: 'GET', url: ROUTES.matrix.path });
    await bare.close();
    expect(res.statusCode).toBe(404);
    expect(res.json().message).toContain('no-such-matrix.json does not exist');
  });

  it('GET /api/openapi.json documents every route', async () => {
    const { status, body } = await get(ROUTES.openapi.path);
    expect(status).toBe(200);
    expect(body['openapi']).toMatch(/^3\./);
    const paths = body['paths'] as Record<string, Record<string, unknown>>;
    for (const r of Object.values(ROUTES)) expect(paths[r.path]?.[r.method.toLowerCase()], `${r.method} ${r.path}`).toBeDefined();
  });
});

/** The first elementwise op that does not accept some dtype, and that dtype. */
const refused = Object.values(ops.ELEMENTWISE).flatMap((s) => ops.ALL_DTYPES.filter((d) => !(ops.DTYPE_SETS[s.accepts] as string[]).includes(d)).map((dtype) => ({ op: s.name, dtype })))[0]!;

describe('bad input: a 4xx JSON error naming the field', () => {
  const cases: [string, string, number, string][] = [
    ['unknown op', '/api/kernel?op=nosuchop', 400, 'op'],
    ['missing op', '/api/kernel', 400, 'op'],
    ['unknown dtype', '/api/kernel?op=sigmoid&dtype=float8', 400, 'dtype'],
    ['a dtype the op refuses', `/api/kernel?op=${refused.op}&dtype=${refused.dtype}`, 400, 'dtype'],
    ['unknown backend', '/api/kernel?op=sigmoid&backend=metal', 400, 'backend'],
    ['unknown backend in a list', '/api/kernel?op=sigmoid&backend=js,nope', 400, 'backend'],
    ['rank out of range', '/api/kernel?op=sigmoid&rank=9', 400, 'rank'],
    ['rank not a number', '/api/kernel?op=sigmoid&rank=two', 400, 'rank'],
    ['a field given twice', '/api/kernel?op=sigmoid&backend=js&backend=cuda', 400, 'backend'],
    ['unknown route', '/api/nothing', 404, 'path'],
  ];
  const expectError = (res: { status: number; type: string; body: Record<string, unknown> }, status: number, field: string): void => {
    expect(res.status).toBe(status);
    expect(res.type).toContain('application/json');
    expect(res.body['field']).toBe(field);
    expect(res.body['message']).toBeTypeOf('string');
  };
  it.each(cases)('GET: %s', async (_what, url, status, field) => expectError(await get(url), status, field));

  const bodies: [string, string, number, string][] = [
    ['malformed JSON', '{"example": ', 400, 'body'],
    ['not an object', '[1, 2]', 400, 'body'],
    ['unknown example', '{"example": "nope"}', 400, 'example'],
    ['no graph', '{"graph": 3}', 400, 'graph'],
    ['bad shape', '{"graph": {"inputs": {"x": {"shape": [2, -1]}}, "ops": [{"op": "exp", "args": ["x"], "out": "y"}]}}', 400, 'graph.inputs.x.shape'],
    ['unknown dtype', '{"graph": {"inputs": {"x": {"shape": [2], "dtype": "float8"}}, "ops": [{"op": "exp", "args": ["x"], "out": "y"}]}}', 400, 'graph.inputs.x.dtype'],
    ['unknown op', '{"graph": {"inputs": {"x": {"shape": [2]}}, "ops": [{"op": "constructor", "args": ["x"], "out": "y"}]}}', 400, 'graph.ops[0].op'],
    ['unknown operand', '{"graph": {"inputs": {"x": {"shape": [2]}}, "ops": [{"op": "add", "args": ["x", "z"], "out": "y"}]}}', 400, 'graph.ops[0].args'],
    ['shapes that do not broadcast', '{"graph": {"inputs": {"x": {"shape": [2]}, "w": {"shape": [3]}}, "ops": [{"op": "add", "args": ["x", "w"], "out": "y"}]}}', 400, 'graph.ops[0]'],
    ['too many elements', `{"graph": {"inputs": {"x": {"shape": [${1 << 12}, ${1 << 12}]}}, "ops": [{"op": "exp", "args": ["x"], "out": "y"}]}}`, 400, 'graph.inputs'],
  ];
  it.each(bodies)('POST: %s', async (_what, body, status, field) => expectError(await post(body), status, field));

  it('POST: an oversized body is a 413, a non-JSON body a 415', async () => {
    expectError(await post(JSON.stringify({ example: 'x'.repeat(BODY_LIMIT) })), 413, 'body');
    expectError(await post('example=gelu-mlp', 'text/plain'), 415, 'body');
  });
});

/** Starts `tessera serve --port 0` in a process of its own; resolves with its address once it listens. */
function startServe(args: readonly string[]): { child: ChildProcess; address: Promise<string>; output: () => string } {
  const child = spawn(process.execPath, [TESSERA_BIN, 'serve', '--port', '0', ...args], {
    cwd: REPO, env: { ...process.env, BENCH_RESULTS_DIR: sources.resultsDir, BENCH_MATRIX: sources.matrixPath }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const address = new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += String(d);
      const m = /on (http:\/\/[\d.]+:\d+)\//.exec(out);
      if (m) resolve(m[1]!);
    });
    child.stderr!.on('data', (d: Buffer) => { out += String(d); });
    child.once('exit', (code) => reject(new Error(`tessera serve exited ${code}: ${out}`)));
  });
  return { child, address, output: () => out };
}

describe('`tessera serve` in a process of its own', () => {
  const web = mkdtempSync(path.join(tmpdir(), 'serve-web-'));
  const serve = startServe(['--web', web]);
  afterAll(() => {
    if (serve.child.exitCode === null) serve.child.kill('SIGKILL');
    rmSync(web, { recursive: true, force: true });
  });

  it('binds 127.0.0.1 by default', async () => {
    expect(await serve.address).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  }, SLOW);

  it('answers 1,000 concurrent kernel requests, each a correct 200', async () => {
    const base = await serve.address;
    // Cycle over ops and dtypes, so that many requests are not answered from the cache. Latency under
    // this load is a benchmark's business: src/server-load.ts (nx run bench-dashboard:bench-server-load).
    const queries = Object.values(ops.ELEMENTWISE).flatMap((s) => ['float32', 'float64', 'int32'].filter((d) => (ops.DTYPE_SETS[s.accepts] as string[]).includes(d)).map((d) => `op=${s.name}&dtype=${d}`));
    await Promise.all(Array.from({ length: 1000 }, async (_, i) => {
      const res = await fetch(`${base}/api/kernel?${queries[i % queries.length]}`);
      const body = (await res.json()) as { kernels: Record<string, unknown> };
      expect(res.status).toBe(200);
      expect(Object.keys(body.kernels)).toEqual(emitterNames());
    }));
  }, SLOW);

  it('exits 0 on SIGTERM, closing the server', async () => {
    await serve.address;
    const exited = new Promise<number | null>((resolve) => serve.child.once('exit', resolve));
    serve.child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(serve.output()).toContain('SIGTERM: closing the server');
  }, SLOW);
});

it('`tessera serve` with a bad --port says so and exits 2', async () => {
  const e = await run(process.execPath, [TESSERA_BIN, 'serve', '--port', 'http'], { cwd: REPO }).then(() => undefined, (err: { code: number; stderr: string }) => err);
  expect(e?.code).toBe(2);
  expect(e?.stderr).toContain("--port takes 0 to 65535, got 'http'");
}, SLOW);
