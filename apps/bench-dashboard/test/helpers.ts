/** What the dashboard's browser tests share: a static file server and the speedups a run must show. */
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { type Browser, type Page, chromium } from 'playwright-core';
import type { BenchRecord } from '../src/suites.js';

/** Serves `dir` on a free port of 127.0.0.1, as any static host would (no API behind it). */
export async function serveDir(dir: string): Promise<{ server: Server; url: string }> {
  const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json' };
  const server = createServer((req, res) => {
    const pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
    const file = path.join(dir, pathname.endsWith('/') ? `${pathname}index.html` : pathname);
    const notFound = (): void => {
      res.statusCode = 404;
      res.end();
    };
    if (!file.startsWith(dir + path.sep)) return notFound();
    readFile(file).then((body) => {
      res.setHeader('Content-Type', types[path.extname(file)] ?? 'application/octet-stream');
      res.end(body);
    }, notFound);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` };
}

/** Tessera backends compared with each other: each against the ones before it here. */
const TESSERA_ORDER = ['tessera-js', 'tessera-native', 'tessera-webgpu'];

/**
 * The speedups the page must show for a run, keyed `case|tessera|peer`: time(peer) / time(Tessera) for
 * each Tessera backend against every other impl of the case, where a Tessera peer must come before it
 * (tessera-native against tessera-js, never the reverse).
 */
export function expectedSpeedups(records: readonly BenchRecord[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const t of records.filter((r) => r.impl.startsWith('tessera-'))) {
    for (const p of records.filter((r) => r.case === t.case && r.impl !== t.impl)) {
      if (p.impl.startsWith('tessera-') && !(TESSERA_ORDER.indexOf(p.impl) < TESSERA_ORDER.indexOf(t.impl))) continue;
      out.set(`${t.case}|${t.impl}|${p.impl}`, p.meanUs / t.meanUs);
    }
  }
  return out;
}

export const CHROMIUM = '/usr/bin/chromium';

/**
 * Starts Debian's chromium and opens `url` in a 1400x900 page, waiting for the page's `data-state`;
 * page errors and console errors are pushed to `errors`.
 */
export async function openDashboard(url: string, errors: string[], timeout: number): Promise<{ browser: Browser; page: Page }> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console error: ${m.text()}`);
  });
  await page.goto(url);
  await page.waitForSelector('html[data-state]', { timeout });
  return { browser, page };
}
