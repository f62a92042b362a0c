/**
 * The published packages' manifests: one version for all, internal dependencies pinned to it, and the
 * exports map that serves consumers dist/ while the monorepo runs src/ (the 'tessera-source' condition).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';

const root = join(import.meta.dirname, '../../..');
interface Manifest {
  name: string; version: string; private?: boolean; exports?: Record<string, unknown>; files?: string[];
  engines?: { node?: string }; sideEffects?: boolean; napi?: { targets: string[] };
  dependencies?: Record<string, string>; peerDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>; devDependencies?: Record<string, string>;
}
const read = (dir: string): Manifest & { dir: string } =>
  ({ dir, ...JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8')) as Manifest });
const libs = readdirSync(join(root, 'libs')).map((d) => read(`libs/${d}`));
const platforms = readdirSync(join(root, 'libs/kernels-native/npm')).map((d) => read(`libs/kernels-native/npm/${d}`));
const published = [...libs, ...platforms].filter((m) => !m.private);
const workspaces = ['.', 'examples', 'conformance', ...readdirSync(join(root, 'apps')).map((d) => `apps/${d}`)].map(read);
const ours = (name: string): boolean => name === 'tessera' || name.startsWith('@tessera/');

it('gives every published package one version and pins every dependency on them to it', () => {
  const version = read('libs/tessera').version;
  for (const m of [...published, ...workspaces]) {
    if (!m.private) expect(m.version, m.name).toBe(version);
    const all = { ...m.dependencies, ...m.devDependencies, ...m.peerDependencies, ...m.optionalDependencies };
    const internal = Object.entries(all).filter(([n]) => ours(n));
    for (const [dep, range] of internal) expect(`${m.name} -> ${dep}@${range}`).toBe(`${m.name} -> ${dep}@${version}`);
  }
});

it('exports dist/ to consumers (import, types, a refusing require) and src/ under tessera-source', () => {
  for (const m of libs) {
    expect(m.exports?.['.'], m.name).toEqual({
      'tessera-source': './src/index.ts', types: './dist/index.d.ts',
      import: './dist/index.js', require: './dist/require.cjs',
    });
    expect(existsSync(join(root, m.dir, 'src/index.ts')), m.name).toBe(true);
    expect(m.files, m.name).toContain('dist');
    expect(m.engines?.node, m.name).toBeDefined();
    expect(typeof m.sideEffects, m.name).toBe('boolean');
  }
});

it('has a per-platform package for each napi target of the native addon, and depends optionally only on those', () => {
  const native = read('libs/kernels-native');
  const names = new Set(platforms.map((p) => p.name));
  expect(platforms).toHaveLength(native.napi!.targets.length);
  for (const dep of Object.keys(native.optionalDependencies ?? {})) expect(names).toContain(dep);
});
