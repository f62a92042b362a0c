#!/usr/bin/env node
// `node scripts/build-addon.mjs [--features a,b]`, run in a Rust addon's package folder (its `build`
// script): builds the crate with cargo (release) and puts the library where napi-rs's layout has it,
// native/<napi.binaryName>.<platform>.node. What napi-rs's CLI did for us, with Node built-ins only, so
// that `npm start` builds the addon without installing the CLI and its ~40 MB of dependencies.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { features: { type: 'string', default: '' } } });
const pkgDir = process.cwd();
const binaryName = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')).napi?.binaryName;
const crate = /^\s*name\s*=\s*"([^"]+)"/m.exec(readFileSync(join(pkgDir, 'Cargo.toml'), 'utf8'))?.[1];
if (!binaryName || !crate) throw new Error(`build-addon: ${pkgDir} needs napi.binaryName in package.json and a [package] name in Cargo.toml`);

/** napi-rs's name for this platform (as libs/kernels-native/src/locate.ts): linux-x64-gnu, darwin-arm64, win32-x64-msvc, ... */
function platformTriple() {
  const base = `${process.platform}-${process.arch}`;
  if (process.platform === 'win32') return `${base}-msvc`;
  if (process.platform !== 'linux') return base;
  return `${base}-${process.report?.getReport()?.header?.glibcVersionRuntime ? 'gnu' : 'musl'}`;
}

const features = values.features ? ['--features', values.features] : [];
const cargo = spawnSync('cargo', ['build', '--release', '--message-format=json-render-diagnostics', '-p', crate, ...features], {
  cwd: pkgDir, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', maxBuffer: 1 << 28,
});
if (cargo.status !== 0) process.exit(cargo.status ?? 1);
// cargo names the library it built (lib<crate>.so, .dylib, or <crate>.dll) in its artifact message.
const artifact = cargo.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l))
  .find((m) => m.reason === 'compiler-artifact' && m.target?.name === crate.replaceAll('-', '_') && m.target.kind.includes('cdylib'));
const library = artifact?.filenames.find((f) => /\.(so|dylib|dll)$/.test(f));
if (!library) throw new Error(`build-addon: cargo built ${crate} but named no cdylib`);
mkdirSync(join(pkgDir, 'native'), { recursive: true });
const target = join(pkgDir, 'native', `${binaryName}.${platformTriple()}.node`);
copyFileSync(library, target);
console.log(`[build-addon] ${target}`);
