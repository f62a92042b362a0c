#!/usr/bin/env node
// Installs what `npm start` / `npm test` need and is missing. Runs before both (pre-scripts), so it
// uses only Node built-ins. npm packages are installed when node_modules is absent or older than the
// lockfile; Debian packages (none needed yet: later backends add theirs to DEBIAN) with apt-get as
// root, otherwise the exact command is printed and what it enables is named as skipped.
import { execSync, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Debian packages: { name, for: what needs it }. */
const DEBIAN = [];

function npmPackages() {
  const marker = join(root, 'node_modules', '.package-lock.json');
  const lock = join(root, 'package-lock.json');
  const stale = !existsSync(marker) || (existsSync(lock) && statSync(lock).mtimeMs > statSync(marker).mtimeMs);
  if (!stale) return;
  console.log('[setup] installing npm packages');
  const r = spawnSync('npm', ['install', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

function debianPackages() {
  const missing = DEBIAN.filter((p) => spawnSync('dpkg', ['-s', p.name], { stdio: 'ignore' }).status !== 0);
  if (missing.length === 0) return;
  const names = missing.map((p) => p.name).join(' ');
  if (process.getuid?.() !== 0) {
    console.log(`[setup] not root: skipping Debian packages (${missing.map((p) => `${p.name}: ${p.for}`).join('; ')})`);
    console.log(`[setup] to enable them run: sudo apt-get update && sudo apt-get install -y ${names}`);
    return;
  }
  console.log(`[setup] apt-get install ${names}`);
  execSync(`apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${names}`, { stdio: 'inherit' });
}

npmPackages();
debianPackages();
