/**
 * The kernel API under load: 1,000 GET /api/kernel requests sent at once to the server `tessera serve`
 * runs (buildApp, on a free port), cycling over every elementwise op and dtype so most miss the cache.
 * Prints p50, p99 and max latency and the throughput; every answer must be a 200 with every emitter's
 * kernel. (The suite checks the answers under the same load; latency is measured only here.)
 *
 *   npx nx run bench-dashboard:bench-server-load
 */
import { emitterNames, ops } from 'tessera';
import { sourcesFromEnv } from './collect.js';
import { buildApp } from './server/app.js';

const REQUESTS = 1000;
const app = await buildApp({ sources: sourcesFromEnv() });
const base = await app.listen({ port: 0, host: '127.0.0.1' });
const queries = Object.values(ops.ELEMENTWISE).flatMap((s) => ['float32', 'float64', 'int32']
  .filter((d) => (ops.DTYPE_SETS[s.accepts] as string[]).includes(d)).map((d) => `op=${s.name}&dtype=${d}`));
const want = emitterNames().join(',');
const t0 = performance.now();
const times = await Promise.all(Array.from({ length: REQUESTS }, async (_, i) => {
  const start = performance.now();
  const res = await fetch(`${base}/api/kernel?${queries[i % queries.length]}`);
  const body = (await res.json()) as { kernels?: Record<string, unknown> };
  if (res.status !== 200 || Object.keys(body.kernels ?? {}).join(',') !== want) {
    throw new Error(`request ${i} (${queries[i % queries.length]}): status ${res.status}, ${JSON.stringify(body).slice(0, 200)}`);
  }
  return performance.now() - start;
}));
const wall = performance.now() - t0;
await app.close();
times.sort((a, b) => a - b);
const pct = (p: number): string => times[Math.min(times.length - 1, Math.floor((p / 100) * times.length))]!.toFixed(1);
console.log(`${REQUESTS} concurrent GET /api/kernel (${queries.length} distinct queries, all sent at once): p50 ${pct(50)} ms, `
  + `p99 ${pct(99)} ms, max ${times.at(-1)!.toFixed(1)} ms; all answered in ${wall.toFixed(0)} ms (${(REQUESTS / (wall / 1000)).toFixed(0)} requests/s)`);
