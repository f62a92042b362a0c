/**
 * The dashboard page (web/) built by Vite. The server builds it into dist/ when dist/ is missing or
 * older than a file in web/, so `tessera serve` never shows a stale page.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const APP_DIR = fileURLToPath(new URL('../../', import.meta.url));
export const DIST_DIR = path.join(APP_DIR, 'dist');
const WEB_DIR = path.join(APP_DIR, 'web');

function newestSource(dir: string): number {
  return Math.max(...readdirSync(dir, { withFileTypes: true }).map((e) => (e.isDirectory() ? newestSource(path.join(dir, e.name)) : statSync(path.join(dir, e.name)).mtimeMs)));
}

export const isStale = (outDir: string): boolean =>
  !existsSync(path.join(outDir, 'index.html')) || statSync(path.join(outDir, 'index.html')).mtimeMs < newestSource(WEB_DIR);

/** `vite build` of web/ into `outDir`, through vite.config.ts. Vite is a development dependency, so it is loaded only here. */
export async function buildPage(outDir: string): Promise<void> {
  const { build } = await import('vite');
  // Under NODE_ENV=test (vitest) Vite would not build for production.
  const env = process.env['NODE_ENV'];
  process.env['NODE_ENV'] = 'production';
  try {
    await build({ configFile: path.join(APP_DIR, 'vite.config.ts'), root: WEB_DIR, logLevel: 'warn', build: { outDir, emptyOutDir: true } });
  } finally {
    if (env === undefined) delete process.env['NODE_ENV'];
    else process.env['NODE_ENV'] = env;
  }
}
