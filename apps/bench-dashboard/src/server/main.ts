/**
 * `tessera serve [--port N] [--host H] [--web DIR] [--export DIR]`: the dashboard and its API on
 * 127.0.0.1 (port 8080 by default), or with --export the same as static files. `tessera serve`
 * delegates here (libs/tessera/src/cli.ts); `npm run dashboard` at the root runs it too.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { sourcesFromEnv } from '../collect.js';
import { buildApp } from './app.js';
import { exportSite } from './export.js';
import { DIST_DIR, buildPage, isStale } from './page.js';

export const USAGE = `usage: tessera serve [--port N (default 8080; 0 picks a free one)] [--host H (default 127.0.0.1)] [--web DIR (a built page)]
       tessera serve --export DIR   (the dashboard as static files, the API's GET data as JSON)
Results come from apps/bench-dashboard/results and conformance/report/matrix.json, or BENCH_RESULTS_DIR and BENCH_MATRIX.`;

/** Runs the command; resolves with an exit code once the server has closed (on SIGINT or SIGTERM). */
export async function main(argv: readonly string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: [...argv], options: { port: { type: 'string', default: '8080' }, host: { type: 'string', default: '127.0.0.1' }, web: { type: 'string' }, export: { type: 'string' }, help: { type: 'boolean' } } }));
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) { console.log(USAGE); return 0; }
  const port = Number(values.port);
  if (!/^\d+$/.test(values.port) || port > 65535) { console.error(`--port takes 0 to 65535, got '${values.port}'\n${USAGE}`); return 2; }
  const sources = sourcesFromEnv();
  if (values.export) {
    const dir = path.resolve(values.export);
    const { files } = await exportSite(dir, sources);
    console.log(`exported the dashboard to ${dir} (${files} JSON files beside the page); serve it with any static file server`);
    return 0;
  }
  const webDir = values.web ? path.resolve(values.web) : DIST_DIR;
  if (!values.web && isStale(DIST_DIR)) {
    console.log('building the page (web/ -> dist/) ...');
    await buildPage(DIST_DIR);
  }
  const app = await buildApp({ sources, webDir });
  const address = await app.listen({ port, host: values.host });
  console.log(`tessera dashboard on ${address}/ (API: ${address}/api/openapi.json); Ctrl-C stops it`);
  return new Promise<number>((resolve) => {
    const stop = (signal: string): void => {
      console.log(`${signal}: closing the server`);
      app.close().then(() => resolve(0), (e: unknown) => { console.error(e); resolve(1); });
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
