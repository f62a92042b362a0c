#!/usr/bin/env node
// Installs what `npm start` / `npm test` need and is missing. Runs before both (pre-scripts), so it
// uses only Node built-ins. npm packages are installed when node_modules is absent or older than the
// lockfile; Debian packages with apt-get as root, otherwise the exact command is printed and what it
// enables is named as skipped. Data sets are extracted from the Debian packages that ship them.
import { execSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Debian packages: { name, for: what needs it }. */
const DEBIAN = [
  { name: 'python3-torch', for: 'the PyTorch equivalence tests (libs/nn/test/torch-equivalence.test.ts)' },
  { name: 'chromium', for: "the bench dashboard's browser test (Playwright drives Debian's chromium)" },
];

/** Data sets copied out of Debian packages (downloaded, not installed): { file, pkg, member }. */
const DATA = [
  {
    file: 'examples/data/digits.csv.gz',
    pkg: 'python3-sklearn',
    member: './usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz',
    for: 'the flagship example (UCI 8x8 handwritten digits, as shipped with scikit-learn)',
  },
];

/** Python packages from PyPI, in the project's own virtual environment (.venv): { name, for }. */
const PYPI = [
  { name: 'safetensors', for: "checking checkpoints with Hugging Face's own safetensors reader" },
  { name: 'numpy', for: 'safetensors.numpy' },
];

const isRoot = process.getuid?.() === 0;
let aptUpdated = false;
function aptUpdate() {
  if (aptUpdated || !isRoot) return;
  execSync('apt-get update -qq', { stdio: 'inherit' });
  aptUpdated = true;
}

function npmPackages() {
  const marker = join(root, 'node_modules', '.package-lock.json');
  const lock = join(root, 'package-lock.json');
  const stale = !existsSync(marker) || (existsSync(lock) && statSync(lock).mtimeMs > statSync(marker).mtimeMs);
  if (!stale) return;
  console.log('[setup] installing npm packages');
  // onnxruntime-node (a benchmark peer) ships its CPU binaries in the package; skip its optional downloads.
  const r = spawnSync('npm', ['install', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit', env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' } });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

function debianPackages() {
  const missing = DEBIAN.filter((p) => spawnSync('dpkg', ['-s', p.name], { stdio: 'ignore' }).status !== 0);
  if (missing.length === 0) return;
  const names = missing.map((p) => p.name).join(' ');
  if (!isRoot) {
    console.log(`[setup] not root: skipping Debian packages (${missing.map((p) => `${p.name}: ${p.for}`).join('; ')})`);
    console.log(`[setup] to enable them run: sudo apt-get update && sudo apt-get install -y ${names}`);
    return;
  }
  console.log(`[setup] apt-get install ${names}`);
  aptUpdate();
  execSync(`DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${names}`, { stdio: 'inherit' });
}

/**
 * A Vulkan driver Dawn accepts, for device 'webgpu' without a GPU: Mesa >= 25's lavapipe from
 * bookworm-backports (Debian 12's own Mesa 22 is rejected by Dawn). Installed as root only.
 */
function vulkanDriver() {
  const icd = '/usr/share/vulkan/icd.d/lvp_icd.json';
  const version = spawnSync('dpkg-query', ['-W', '-f=${Version}', 'mesa-vulkan-drivers'], { encoding: 'utf8' }).stdout ?? '';
  if (existsSync(icd) && Number(version.split('.')[0]) >= 25) return;
  const why = "the 'webgpu' backend's tests on machines without a GPU (lavapipe, Mesa >= 25)";
  if (!isRoot) {
    console.log(`[setup] not root: skipping Mesa's lavapipe (${why}); as root: add bookworm-backports and apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1`);
    return;
  }
  const os = existsSync('/etc/os-release') ? readFileSync('/etc/os-release', 'utf8') : '';
  if (!/VERSION_CODENAME=bookworm/.test(os)) {
    console.log(`[setup] not Debian 12: install a Vulkan driver Dawn accepts yourself (Mesa >= 25 lavapipe) for ${why}`);
    return;
  }
  const list = '/etc/apt/sources.list.d/bookworm-backports.sources';
  if (!existsSync(list)) {
    const mirror = /URIs:\s*(\S+debian)\s/.exec(existsSync('/etc/apt/sources.list.d/debian.sources') ? readFileSync('/etc/apt/sources.list.d/debian.sources', 'utf8') : '')?.[1] ?? 'http://deb.debian.org/debian';
    writeFileSync(list, `Types: deb\nURIs: ${mirror}\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n`);
    aptUpdated = false;
  }
  console.log('[setup] apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1 (lavapipe for the webgpu backend)');
  aptUpdate();
  execSync('DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1', { stdio: 'inherit' });
}

function dataSets() {
  for (const d of DATA) {
    const target = join(root, d.file);
    if (existsSync(target)) continue;
    console.log(`[setup] extracting ${d.file} from Debian's ${d.pkg}`);
    const tmp = mkdtempSync(join(tmpdir(), 'tessera-data-'));
    try {
      const download = () => spawnSync('apt-get', ['download', d.pkg], { cwd: tmp, stdio: 'ignore' }).status === 0;
      if (!download()) { aptUpdate(); if (!download()) throw new Error(`apt-get download ${d.pkg} failed`); }
      const deb = readdirSync(tmp).find((f) => f.endsWith('.deb'));
      mkdirSync(dirname(target), { recursive: true });
      execSync(`dpkg-deb --fsys-tarfile ${JSON.stringify(join(tmp, deb))} | tar -xO ${JSON.stringify(d.member)} > ${JSON.stringify(target)}`, { stdio: 'inherit', shell: '/bin/bash' });
    } catch (e) {
      rmSync(target, { force: true });
      console.log(`[setup] could not extract ${d.file} (${e.message}); ${d.for} needs it. As root run: apt-get update && npm start`);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
}

function pythonPackages() {
  const venv = join(root, '.venv');
  const py = join(venv, 'bin', 'python');
  const has = () => existsSync(py) && spawnSync(py, ['-c', PYPI.map((p) => `import ${p.name}`).join('; ')], { stdio: 'ignore' }).status === 0;
  if (has()) return;
  console.log(`[setup] creating .venv with ${PYPI.map((p) => p.name).join(', ')}`);
  const made = spawnSync('python3', ['-m', 'venv', venv], { stdio: 'inherit' }).status === 0
    && spawnSync(py, ['-m', 'pip', 'install', '-q', '--disable-pip-version-check', ...PYPI.map((p) => p.name)], { stdio: 'inherit' }).status === 0;
  if (!made || !has()) console.log(`[setup] could not set up .venv; skipped: ${PYPI.map((p) => p.for).join('; ')}. Run: python3 -m venv .venv && .venv/bin/pip install ${PYPI.map((p) => p.name).join(' ')}`);
}

/** The Rust addon: rebuilt when missing or older than its sources (cargo itself is incremental). */
function nativeAddon() {
  const pkg = join(root, 'libs', 'kernels-native');
  const outDir = join(pkg, 'native');
  const built = existsSync(outDir) ? readdirSync(outDir).filter((f) => f.endsWith('.node')).map((f) => statSync(join(outDir, f)).mtimeMs)[0] : undefined;
  const newest = (dir) => readdirSync(dir, { recursive: true }).map((f) => join(dir, String(f))).filter((f) => /\.(rs|ts|toml)$/.test(f)).reduce((m, f) => Math.max(m, statSync(f).mtimeMs), 0);
  const sources = Math.max(newest(join(pkg, 'rust')), newest(join(pkg, 'src')), statSync(join(pkg, 'Cargo.toml')).mtimeMs, newest(join(root, 'libs', 'ops', 'src')));
  if (built !== undefined && built >= sources) return;
  if (spawnSync('cargo', ['--version'], { stdio: 'ignore' }).status !== 0) {
    console.log('[setup] cargo not found: skipping the native CPU addon (the pure-JS backend serves). Install Rust (rustup) to build it.');
    return;
  }
  console.log('[setup] building the native CPU addon (Rust, napi-rs)');
  const r = spawnSync('npm', ['run', 'build', '-w', '@tessera/kernels-native'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) console.log('[setup] the native addon failed to build; the pure-JS backend serves');
}

npmPackages();
debianPackages();
vulkanDriver();
dataSets();
pythonPackages();
nativeAddon();
