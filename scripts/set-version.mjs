#!/usr/bin/env node
// `npm run set-version -- 0.2.0`: moves every published package (libs/* and the addon's per-platform
// packages) to one version and pins every dependency on them to it, in the private workspaces too (a pin
// left behind would make npm look for that version on the registry), as they are released together
// (libs/tessera/test/packages.test.ts checks it). Then run npm install to update the lockfile.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const version = process.argv[2];
if (!version || !/^\d+\.\d+\.\d+(-[\w.]+)?$/.test(version)) {
  throw new Error(`usage: npm run set-version -- <x.y.z>, got '${version ?? ''}'`);
}

const folders = [
  root, join(root, 'examples'), join(root, 'conformance'),
  ...readdirSync(join(root, 'apps')).map((d) => join(root, 'apps', d)),
  ...readdirSync(join(root, 'libs')).map((d) => join(root, 'libs', d)),
  ...readdirSync(join(root, 'libs/kernels-native/npm')).map((d) => join(root, 'libs/kernels-native/npm', d)),
];
const ours = (name) => name === 'tessera' || name.startsWith('@tessera/');
for (const folder of folders) {
  const file = join(folder, 'package.json');
  const text = readFileSync(file, 'utf8');
  const manifest = JSON.parse(text);
  if (!manifest.private) manifest.version = version;
  for (const field of ['dependencies', 'devDependencies', 'peerDependencies', 'optionalDependencies']) {
    for (const dep of Object.keys(manifest[field] ?? {})) if (ours(dep)) manifest[field][dep] = version;
  }
  const changed = JSON.stringify(manifest) !== JSON.stringify(JSON.parse(text));
  if (changed) writeFileSync(file, `${JSON.stringify(manifest, null, 2)}\n`);
}
console.log(`published packages at ${version}, pins on them updated; now run npm install to update package-lock.json`);
