/**
 * Tessera as a dependency: every package is built and packed (`npm run build -- --pack`), and a
 * project outside the monorepo (plain package.json, no workspace, no tsx) installs the CPU set from
 * the tarballs offline, then runs plain `node` and `tsc --strict` against what was installed. Needs
 * the native addon built (npm test's setup builds it); CI (CI or TESSERA_REQUIRE_BACKENDS set) fails
 * without it, elsewhere the suite is skipped with the reason in its name.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../../..');
const fixtures = join(import.meta.dirname, 'consumer');
const addonBuilt = existsSync(join(root, 'libs/kernels-native/native')) && readdirSync(join(root, 'libs/kernels-native/native')).some((f) => f.endsWith('.node'));
const required = !!process.env['CI'] || (process.env['TESSERA_REQUIRE_BACKENDS'] ?? '').split(',').includes('native');
if (!addonBuilt && required) throw new Error('the consumer test needs the native addon built (libs/kernels-native/native): npm test builds it (needs cargo)');

/** The environment of a user's shell: none of the monorepo's npm settings or its source condition. */
const userEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_OPTIONS' && !k.startsWith('npm_') && k !== 'INIT_CWD'));

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

describe.skipIf(!addonBuilt)(addonBuilt ? 'an npm project outside the monorepo' : 'an npm project outside the monorepo (skipped: the native addon is not built)', () => {
  let dir = '';
  let tarballs: string[] = [];
  const packageOf = (tgz: string): string => JSON.parse(ok(run('tar', ['-xOzf', tgz, 'package/package.json'], dir), 'tar').stdout).name as string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tessera-consumer-'));
    const packs = join(dir, 'packs');
    tarballs = lastJson<string[]>(ok(run(process.execPath, [join(root, 'scripts/build-packages.mjs'), '--pack', packs], root), 'npm run build -- --pack'));
    // @types/node is the one thing a TypeScript user adds themselves; packed from here to stay offline.
    for (const dep of ['@types/node', 'undici-types']) ok(run('npm', ['pack', join(root, 'node_modules', dep), '--pack-destination', packs], dir), `npm pack ${dep}`);
    const project = join(dir, 'project');
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), `${JSON.stringify({ name: 'tessera-consumer', private: true, type: 'module' }, null, 2)}\n`);
    for (const f of readdirSync(fixtures)) copyFileSync(join(fixtures, f), join(project, f));
    writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { strict: true, target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', noEmit: true, skipLibCheck: false, types: ['node'] },
      files: ['types.ts'],
    }));
    dir = project;
  }, 300_000);
  afterAll(() => { if (dir) rmSync(join(dir, '..'), { recursive: true, force: true }); });

  /** The CPU set: every package but the opt-in GPU backends, each installed from its tarball. */
  const cpuSet = (): string[] => tarballs.filter((t) => !/kernels-(wgsl|gpujs)/.test(basename(t)));

  it('installs the CPU set from its tarballs offline, with no runtime dependency outside it', () => {
    const extra = readdirSync(join(dir, '../packs')).filter((f) => /^(types-node|undici-types)-/.test(f)).map((f) => join(dir, '../packs', f));
    ok(run('npm', ['install', '--offline', '--no-audit', '--no-fund', ...cpuSet(), ...extra], dir), 'npm install --offline');
    const installed = readdirSync(join(dir, 'node_modules')).filter((f) => !f.startsWith('.'))
      .flatMap((f) => (f.startsWith('@') ? readdirSync(join(dir, 'node_modules', f)).map((g) => `${f}/${g}`) : [f])).sort();
    expect(installed).toEqual([...cpuSet().map(packageOf), '@types/node', 'undici-types'].sort());
  }, 120_000);

  it('trains an MLP on cpu with plain node through the native addon, and the loss falls', () => {
    const t = lastJson<Training>(ok(run(process.execPath, ['train.mjs'], dir), 'node train.mjs'));
    expect(t).toMatchObject({ backend: 'native', nativeUnavailable: null });
    expect(t.last).toBeLessThan(t.first / 4);
    // The check can tell the backends apart: with the addon switched off the same script reports js.
    expect(lastJson<Training>(ok(run(process.execPath, ['train.mjs'], dir, { TESSERA_NATIVE: '0' }), 'node train.mjs')).backend).toBe('js');
  }, 120_000);

  it('falls back to the pure-JS backend with one line naming the missing platform package', () => {
    const platform = cpuSet().map(packageOf).find((n) => n.startsWith('@tessera/kernels-native-'))!;
    const at = join(dir, 'node_modules', platform);
    renameSync(at, `${at}.hidden`);
    try {
      const r = ok(run(process.execPath, ['train.mjs'], dir), 'node train.mjs');
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
    const outcome = lastJson<Record<string, unknown>>(ok(run(process.execPath, ['webgpu-missing.mjs'], dir), 'node webgpu-missing.mjs'));
    expect(outcome).toMatchObject({ opened: false, name: 'BackendNotInstalledError', typed: true, packageName: '@tessera/kernels-wgsl' });
    expect(outcome['message']).toContain('npm install @tessera/kernels-wgsl');
  }, 60_000);

  it('type-checks a TypeScript file with tsc --strict against the shipped declarations', () => {
    ok(run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], dir), 'tsc --strict');
  }, 120_000);

  it('refuses require() with a message that says to import', () => {
    const r = run(process.execPath, ['-e', "require('tessera')"], dir);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('tessera is an ES module: load it with import');
  }, 60_000);
});
