/**
 * Tessera as a dependency: every package is built and packed (`npm run build -- --pack`), and a
 * project outside the monorepo (plain package.json, no workspace, no tsx) installs the CPU set from
 * the tarballs offline, then runs plain `node` and `tsc --strict` against what was installed. Needs
 * the native addon built (npm test's setup builds it); CI (CI or TESSERA_REQUIRE_BACKENDS set) fails
 * without it, elsewhere the suite is skipped with the reason in its name.
 */
import { spawnSync } from 'node:child_process';
import {
  copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../../..');
const fixtures = join(import.meta.dirname, 'consumer');
const nativeDir = join(root, 'libs/kernels-native/native');
const addonBuilt = existsSync(nativeDir) && readdirSync(nativeDir).some((f) => f.endsWith('.node'));
const required = !!process.env['CI'] || (process.env['TESSERA_REQUIRE_BACKENDS'] ?? '').split(',').includes('native');
if (!addonBuilt && required) {
  throw new Error('the consumer test needs the native addon in libs/kernels-native/native: npm test builds it (cargo)');
}

/** The environment of a user's shell: none of the monorepo's npm settings or its source condition. */
const userEnv = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => k !== 'NODE_OPTIONS' && k !== 'INIT_CWD' && !k.startsWith('npm_')),
);

interface Run { status: number | null; stdout: string; stderr: string }
function run(cmd: string, args: string[], cwd: string, env: Record<string, string> = {}): Run {
  const r = spawnSync(cmd, args, { cwd, env: { ...userEnv, ...env }, encoding: 'utf8', timeout: 240_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
const ok = (r: Run, what: string): Run => {
  if (r.status !== 0) throw new Error(`${what} exited with ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return r;
};
const lastJson = <T>(r: Run): T => JSON.parse(r.stdout.trim().split('\n').at(-1)!) as T;

interface Training { backend: string; nativeUnavailable: string | null; first: number; last: number }

const title = `an npm project outside the monorepo${addonBuilt ? '' : ' (skipped: the native addon is not built)'}`;
// Skipped only where the native addon is not built (no cargo), the reason in the title; CI and any run
// requiring 'native' throw above instead.
describe.skipIf(!addonBuilt)(title, () => {
  let base = '';
  let dir = '';
  let tarballs: string[] = [];
  const packageOf = (tgz: string): string =>
    (JSON.parse(ok(run('tar', ['-xOzf', tgz, 'package/package.json'], dir), 'tar').stdout) as { name: string }).name;
  /** The CPU set: every package but the opt-in GPU backends, each installed from its tarball. */
  const cpuSet = (): string[] => tarballs.filter((t) => !/kernels-(wgsl|gpujs)/.test(basename(t)));
  const node = (script: string, env: Record<string, string> = {}): Run =>
    ok(run(process.execPath, [script], dir, env), `node ${script}`);

  beforeAll(() => {
    base = mkdtempSync(join(tmpdir(), 'tessera-consumer-'));
    const packs = join(base, 'packs');
    const build = run(process.execPath, [join(root, 'scripts/build-packages.mjs'), '--pack', packs], root);
    tarballs = lastJson<string[]>(ok(build, 'npm run build -- --pack'));
    // @types/node is the one thing a TypeScript user adds themselves; packed from here to stay offline.
    for (const dep of ['@types/node', 'undici-types']) {
      ok(run('npm', ['pack', join(root, 'node_modules', dep), '--pack-destination', packs], base), `npm pack ${dep}`);
    }
    dir = join(base, 'project');
    mkdirSync(dir);
    const manifest = { name: 'tessera-consumer', private: true, type: 'module' };
    writeFileSync(join(dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    for (const f of readdirSync(fixtures)) copyFileSync(join(fixtures, f), join(dir, f));
    const compilerOptions = {
      strict: true, target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', noEmit: true,
      skipLibCheck: false, types: ['node'],
    };
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['types.ts'] }));
  }, 300_000);
  afterAll(() => { if (base) rmSync(base, { recursive: true, force: true }); });

  it('installs the CPU set from its tarballs offline, with no runtime dependency outside it', () => {
    const packs = join(base, 'packs');
    const types = readdirSync(packs).filter((f) => /^(types-node|undici-types)-/.test(f)).map((f) => join(packs, f));
    const install = run('npm', ['install', '--offline', '--no-audit', '--no-fund', ...cpuSet(), ...types], dir);
    ok(install, 'npm install --offline');
    const modules = join(dir, 'node_modules');
    const installed = readdirSync(modules).filter((f) => !f.startsWith('.'))
      .flatMap((f) => (f.startsWith('@') ? readdirSync(join(modules, f)).map((g) => `${f}/${g}`) : [f]));
    expect(installed.sort()).toEqual([...cpuSet().map(packageOf), '@types/node', 'undici-types'].sort());
  }, 120_000);

  it('trains an MLP on cpu with plain node through the native addon, and the loss falls', () => {
    const t = lastJson<Training>(node('train.mjs'));
    expect(t).toMatchObject({ backend: 'native', nativeUnavailable: null });
    expect(t.last).toBeLessThan(t.first / 4);
    // The check can tell the backends apart: with the addon switched off the same script reports js.
    expect(lastJson<Training>(node('train.mjs', { TESSERA_NATIVE: '0' })).backend).toBe('js');
  }, 120_000);

  it('falls back to the pure-JS backend with one line naming the missing platform package', () => {
    const platform = cpuSet().map(packageOf).find((n) => n.startsWith('@tessera/kernels-native-'))!;
    const at = join(dir, 'node_modules', platform);
    renameSync(at, `${at}.hidden`);
    try {
      const r = node('train.mjs');
      const t = lastJson<Training>(r);
      expect(t.backend).toBe('js');
      expect(t.last).toBeLessThan(t.first / 4);
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(`${platform} is not installed`);
    } finally {
      renameSync(`${at}.hidden`, at);
    }
  }, 120_000);

  it('initWebGPU() without @tessera/kernels-wgsl rejects with a typed error naming the package', () => {
    const outcome = lastJson<Record<string, unknown>>(node('webgpu-missing.mjs'));
    expect(outcome).toMatchObject({ opened: false, name: 'BackendNotInstalledError', typed: true });
    expect(outcome['packageName']).toBe('@tessera/kernels-wgsl');
    expect(outcome['message']).toContain('npm install @tessera/kernels-wgsl');
  }, 60_000);

  it('type-checks a TypeScript file with tsc --strict against the shipped declarations', () => {
    const tsc = join(root, 'node_modules/typescript/bin/tsc');
    ok(run(process.execPath, [tsc, '-p', 'tsconfig.json'], dir), 'tsc --strict');
  }, 120_000);

  it('refuses require() with a message that says to import', () => {
    const r = run(process.execPath, ['-e', "require('tessera')"], dir);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('tessera is an ES module: load it with import');
  }, 60_000);
});
