#!/usr/bin/env node
// `npm run build`: builds every published package to dist/ (tsc -b tsconfig.build.json: JavaScript and
// .d.ts, dependencies first), adds what tsc does not emit (kernels-native's kernel catalog, the
// `require` entry that refuses CommonJS with a clear message), and puts the locally built native addon
// into its per-platform package (libs/kernels-native/npm/<platform>, napi-rs's layout).
// `--pack DIR` then packs each package into DIR with `npm pack` and prints the tarballs' paths as JSON.
// Inside the monorepo nothing needs this: tests, tsx and tsc run the packages from src/.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The published packages, dependencies first (tsconfig.build.json's order). */
export const PACKAGES = [
  'ops', 'tensor', 'autograd', 'nn', 'kernels-native', 'kernels-wgsl', 'kernels-gpujs', 'distributed', 'tessera',
];

const refusal = (name) =>
  `${name} is an ES module: load it with import (import * as m from '${name}') or, from CommonJS, with await import('${name}')`;
const requireStub = (name) =>
  `// ${name} is an ES module package; this is what require() gets.\nthrow new Error(${JSON.stringify(refusal(name))});\n`;

/** The addon built here (scripts/build-addon.mjs names it tessera-native.<platform>.node, as napi-rs does), into its package. */
function platformBinaries() {
  const built = join(root, 'libs/kernels-native/native');
  const binaries = existsSync(built) ? readdirSync(built).filter((f) => f.endsWith('.node')) : [];
  for (const file of binaries) {
    const platform = /^tessera-native\.(.+)\.node$/.exec(file)?.[1];
    const pkg = platform && join(root, 'libs/kernels-native/npm', platform);
    if (!pkg || !existsSync(join(pkg, 'package.json'))) {
      throw new Error(`${file}: no package for it under libs/kernels-native/npm (napi create-npm-dirs makes them from napi.targets)`);
    }
    copyFileSync(join(built, file), join(pkg, file));
    // The published copy without symbol tables (linux-x64: 9.2 MB -> 7.9 MB); the local build keeps them.
    if (platform.startsWith('linux-') && spawnSync('strip', ['--version'], { stdio: 'ignore' }).status === 0) {
      execFileSync('strip', ['--strip-unneeded', join(pkg, file)]);
    }
  }
  return binaries.map((f) => `libs/kernels-native/npm/${/^tessera-native\.(.+)\.node$/.exec(f)[1]}`);
}

export function build() {
  const tsc = join(root, 'node_modules/typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-b', join(root, 'tsconfig.build.json')], { cwd: root, stdio: 'inherit' });
  const catalog = join(root, 'libs/kernels-native/src/catalog.json');
  if (!existsSync(catalog)) {
    throw new Error('libs/kernels-native/src/catalog.json is missing: npm run build -w @tessera/kernels-native generates it');
  }
  // With the source's times: the addon built here is checked to be no older than the catalog it was
  // built against (backend.ts load), and a copy stamped now would make every local build look stale.
  const copied = join(root, 'libs/kernels-native/dist/catalog.json');
  copyFileSync(catalog, copied);
  const { atime, mtime } = statSync(catalog);
  utimesSync(copied, atime, mtime);
  for (const lib of PACKAGES) {
    const { name } = JSON.parse(readFileSync(join(root, 'libs', lib, 'package.json'), 'utf8'));
    writeFileSync(join(root, 'libs', lib, 'dist/require.cjs'), requireStub(name));
  }
  return [...PACKAGES.map((l) => `libs/${l}`), ...platformBinaries()];
}

/** Packs the built packages into `dir`; returns the tarballs' absolute paths. */
export function pack(dir, folders) {
  mkdirSync(dir, { recursive: true });
  return folders.map((folder) => {
    const out = execFileSync('npm', ['pack', '--json', '--pack-destination', dir], {
      cwd: join(root, folder), encoding: 'utf8',
    });
    return join(dir, JSON.parse(out)[0].filename);
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const folders = build();
  const at = process.argv.indexOf('--pack');
  if (at > 0) console.log(JSON.stringify(pack(resolve(process.argv[at + 1] ?? 'packs'), folders)));
}
