#!/usr/bin/env node
// The `tessera` command. Installed, it runs the built CLI (dist/); in the monorepo (src/ is there and
// is not published) it runs the source through tsx, with the condition that resolves the workspace
// packages to their sources too, in a child process that signals reach (`tessera serve` closes its
// server on SIGTERM) and whose exit status is this command's.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';

const source = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
if (existsSync(source)) {
  const tsx = import.meta.resolve('tsx');
  const args = ['--conditions=tessera-source', '--import', tsx, source, ...process.argv.slice(2)];
  const child = spawn(process.execPath, args, { stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? 128 + (constants.signals[signal] ?? 0)));
} else {
  await import('../dist/cli.js');
}
