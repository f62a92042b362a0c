/**
 * headless-gl creates its context through X: with DISPLAY unset (CI, a fresh shell) a private Xvfb is
 * started for this process and stopped when it exits, so plain `npm test` runs the WebGL mode.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { Readable } from 'node:stream';

let started: Promise<{ display?: string; reason?: string }> | undefined;

/** The X display to use: DISPLAY if set, else a private Xvfb (no display, with the reason, if none can start). */
export function ensureDisplay(): Promise<{ display?: string; reason?: string }> {
  if (process.env['DISPLAY']) return Promise.resolve({ display: process.env['DISPLAY'] });
  return (started ??= startXvfb());
}

async function startXvfb(): Promise<{ display?: string; reason?: string }> {
  if (spawnSync('Xvfb', ['-help'], { stdio: 'ignore' }).error) {
    return { reason: "DISPLAY is unset and Xvfb is not installed (apt-get install xvfb; npm test's setup does, as root)" };
  }
  // -displayfd: Xvfb picks a free display number and writes it to fd 3 once it accepts clients.
  // -terminate: it exits when its last client disconnects, so it dies with this process even when the
  // process is killed (the runtime keeps one GL context open for its lifetime).
  const x = spawn('Xvfb', ['-displayfd', '3', '-terminate', '-screen', '0', '64x64x24', '-nolisten', 'tcp'], { stdio: ['ignore', 'ignore', 'ignore', 'pipe'] });
  const pipe = x.stdio[3] as Readable;
  const num = await new Promise<string | undefined>((resolve) => {
    let text = '';
    const timer = setTimeout(() => resolve(undefined), 10_000);
    pipe.on('data', (d: Buffer) => {
      text += d.toString();
      if (text.includes('\n')) { clearTimeout(timer); resolve(text.trim()); }
    });
    x.on('exit', () => { clearTimeout(timer); resolve(undefined); });
  });
  if (!num || !/^\d+$/.test(num)) {
    x.kill();
    return { reason: 'DISPLAY is unset and Xvfb did not start within 10 s' };
  }
  // The server lives as long as this process, without keeping it alive.
  x.unref();
  pipe.destroy();
  process.on('exit', () => x.kill());
  process.env['DISPLAY'] = `:${num}`;
  return { display: `:${num}` };
}
