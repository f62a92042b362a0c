#!/usr/bin/env node
// The `tessera` command. Installed, it runs the built CLI (dist/); in the monorepo (src/ is there and
// is not published) it runs the source through tsx, with the condition that resolves the workspace
// packages to their sources too.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const source = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
if (existsSync(source)) {
  const tsx = import.meta.resolve('tsx');
  const args = ['--conditions=tessera-source', '--import', tsx, source, ...process.argv.slice(2)];
  const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
  process.exit(r.status ?? 1);
} else {
  await import('../dist/cli.js');
}
