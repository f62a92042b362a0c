#!/usr/bin/env node
// Installs what `npm start` / `npm test` need and is missing. Runs before both (pre-scripts), so it
// uses only Node built-ins. `--for start` installs what the flagship example (examples/src/
// train-digits.ts) needs: the npm packages, the native addon, the digits data set; `--for test` (the
// default) adds what only the tests need: Debian's PyTorch, chromium, Open MPI and lavapipe, gpu.js's
// headless GL, the Python venv with NVRTC, the distributed addon. npm packages are installed when node_modules is absent or older than the
// lockfile; Debian packages with apt-get as root, otherwise the exact command is printed and what it
// enables is named as skipped. Data sets are extracted from the Debian packages that ship them.
// `--bench` (run before the benchmarks) adds what only they need.
import { execSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Debian packages: { name, for: what needs it }. */
const BASE_DEBIAN = [
  { name: 'python3-torch', for: 'the PyTorch equivalence tests (libs/nn/test/torch-equivalence.test.ts)' },
  { name: 'chromium', for: "the bench dashboard's browser test (Playwright drives Debian's chromium)" },
  { name: 'openmpi-bin', for: "the 'mpi' process-group backend (mpirun) and its tests" },
  { name: 'libopenmpi-dev', for: "the 'mpi' process-group backend (mpi.h and libmpi, linked into the distributed addon)" },
];
/**
 * With --bench (the benchmarks' own setup, apps/bench-dashboard): what only the benchmarks need. Not
 * installed for npm start/test: it becomes the system's default libblas.so.3, which the tests' PyTorch
 * would then pick up.
 */
const BENCH_DEBIAN = [
  { name: 'libopenblas0-pthread', for: "the benchmarks' pytorch-openblas peer (PyTorch on OpenBLAS)" },
];
const { values: args } = parseArgs({ options: { for: { type: 'string', default: 'test' }, bench: { type: 'boolean', default: false } } });
if (args.for !== 'start' && args.for !== 'test') throw new Error(`setup: --for takes start or test, got '${args.for}'`);
const bench = args.bench;
const DEBIAN = bench ? [...BASE_DEBIAN, ...BENCH_DEBIAN] : BASE_DEBIAN;

/** Data sets copied out of Debian packages (downloaded, not installed): { file, pkg, member }. */
const DATA = [
  {
    file: 'examples/data/digits.csv.gz',
    pkg: 'python3-sklearn',
    member: './usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz',
    for: 'the flagship example (UCI 8x8 handwritten digits, as shipped with scikit-learn)',
  },
];

/** Python packages from PyPI, in the project's own virtual environment (.venv): { name, module (to import), for }. */
const PYPI = [
  { name: 'safetensors', module: 'safetensors', for: "checking checkpoints with Hugging Face's own safetensors reader" },
  { name: 'numpy', module: 'numpy', for: 'safetensors.numpy' },
  // NVRTC compiles without a GPU: the tests compile every generated CUDA kernel with it (libs/kernels-native/src/cuda).
  { name: 'nvidia-cuda-nvrtc', module: 'nvidia.cu13', for: "compiling device 'cuda''s generated kernels in the tests (NVRTC; no GPU needed)" },
];

const isRoot = process.getuid?.() === 0;
let aptUpdated = false;
function aptUpdate() {
  if (aptUpdated || !isRoot) return;
  execSync('apt-get update -qq', { stdio: 'inherit' });
  aptUpdated = true;
}

/** What npm last installed here: 'start' (the flagship example's packages only) or 'test' (all). */
const installedFor = join(root, 'node_modules', '.tessera-installed-for');

/**
 * npm packages, when node_modules is absent or older than the lockfile, or holds only npm start's set
 * and the tests need the rest. For `--for start` only the examples' workspace without dev, optional
 * and peer packages (tsx and tessera's own, seconds); a tree that had everything keeps everything.
 */
function npmPackages(level) {
  const marker = join(root, 'node_modules', '.package-lock.json');
  const lock = join(root, 'package-lock.json');
  const stale = !existsSync(marker) || (existsSync(lock) && statSync(lock).mtimeMs > statSync(marker).mtimeMs);
  const had = existsSync(installedFor) ? readFileSync(installedFor, 'utf8').trim() : stale ? undefined : 'test';
  const want = level === 'start' && had !== 'test' ? 'start' : 'test';
  if (!stale && !(want === 'test' && had === 'start')) return;
  const only = want === 'start' ? ['-w', 'examples', '--omit=dev', '--omit=optional', '--omit=peer'] : [];
  console.log(`[setup] installing npm packages${want === 'start' ? " (the examples' only; npm test adds the rest)" : ''}`);
  // onnxruntime-node (a benchmark peer) ships its CPU binaries in the package; skip its optional downloads.
  const r = spawnSync('npm', ['install', '--no-audit', '--no-fund', ...only], { cwd: root, stdio: 'inherit', env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' } });
  if (r.status !== 0) process.exit(r.status ?? 1);
  writeFileSync(installedFor, `${want}\n`);
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
  const has = () => existsSync(py) && spawnSync(py, ['-c', PYPI.map((p) => `import ${p.module}`).join('; ')], { stdio: 'ignore' }).status === 0;
  if (has()) return;
  console.log(`[setup] creating .venv with ${PYPI.map((p) => p.name).join(', ')}`);
  const made = spawnSync('python3', ['-m', 'venv', venv], { stdio: 'inherit' }).status === 0
    && spawnSync(py, ['-m', 'pip', 'install', '-q', '--disable-pip-version-check', ...PYPI.map((p) => p.name)], { stdio: 'inherit' }).status === 0;
  if (!made || !has()) console.log(`[setup] could not set up .venv; skipped: ${PYPI.map((p) => p.for).join('; ')}. Run: python3 -m venv .venv && .venv/bin/pip install ${PYPI.map((p) => p.name).join(' ')}`);
}

/**
 * gpu.js's headless WebGL mode (device 'gpujs'): the npm package `gl` has no prebuilt binary offline and
 * is optional for gpu.js, so `npm install` skips it quietly when it cannot build. Its build needs
 * Debian's X/GL headers (installed before the npm packages), then it is built from source here
 * (~3 min, once); Xvfb gives it a display when DISPLAY is unset.
 */
const GL_DEBS = ['libxi-dev', 'libglu1-mesa-dev', 'libglew-dev', 'pkg-config', 'libx11-dev', 'libxext-dev', 'xvfb', 'xauth', 'g++', 'make', 'python3'];
const GL_WHY = "device 'gpujs' in its headless WebGL mode (libs/kernels-gpujs)";

function gpujsBuildDeps() {
  const missing = GL_DEBS.filter((p) => spawnSync('dpkg', ['-s', p], { stdio: 'ignore' }).status !== 0);
  if (missing.length === 0) return;
  if (!isRoot) {
    console.log(`[setup] not root: skipping ${GL_WHY}; as root run: apt-get install -y ${missing.join(' ')} && npm rebuild gl`);
    return;
  }
  console.log(`[setup] apt-get install ${missing.join(' ')} (for ${GL_WHY})`);
  aptUpdate();
  execSync(`DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${missing.join(' ')}`, { stdio: 'inherit' });
}

function gpujsWebGL() {
  const loads = () => spawnSync(process.execPath, ['-e', "require('gl')"], { cwd: root, stdio: 'ignore' }).status === 0;
  if (loads()) return;
  if (GL_DEBS.some((p) => spawnSync('dpkg', ['-s', p], { stdio: 'ignore' }).status !== 0)) return; // said why above
  const pinned = JSON.parse(readFileSync(join(root, 'node_modules', 'gpu.js', 'package.json'), 'utf8')).optionalDependencies?.gl ?? '8.1.6';
  console.log(`[setup] building the npm package gl@${pinned} from source (headless WebGL for gpu.js, ~3 min)`);
  const args = existsSync(join(root, 'node_modules', 'gl')) ? ['rebuild', 'gl', '--foreground-scripts'] : ['install', '--no-save', '--no-audit', '--no-fund', '--foreground-scripts', `gl@${pinned}`];
  const r = spawnSync('npm', args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0 || !loads()) console.log(`[setup] building gl failed: ${GL_WHY} will be reported unavailable (see the log above)`);
}

/**
 * A Rust addon: rebuilt when missing or older than its sources (cargo itself is incremental).
 * `inputs` are the folders whose .rs/.ts/.toml/.c files it is built from.
 */
function rustAddon(name, what, inputs, fallback, stale = () => false) {
  const pkg = join(root, 'libs', name);
  const outDir = join(pkg, 'native');
  const built = existsSync(outDir) ? readdirSync(outDir).filter((f) => f.endsWith('.node')).map((f) => statSync(join(outDir, f)).mtimeMs)[0] : undefined;
  const newest = (dir) => readdirSync(dir, { recursive: true }).map((f) => join(dir, String(f))).filter((f) => /\.(rs|ts|toml|c)$/.test(f)).reduce((m, f) => Math.max(m, statSync(f).mtimeMs), 0);
  const sources = Math.max(statSync(join(pkg, 'Cargo.toml')).mtimeMs, statSync(join(pkg, 'build.rs')).mtimeMs, ...inputs.map((d) => newest(join(root, d))));
  if (built !== undefined && built >= sources && !stale(join(outDir, readdirSync(outDir).find((f) => f.endsWith('.node'))))) return;
  if (spawnSync('cargo', ['--version'], { stdio: 'ignore' }).status !== 0) {
    console.log(`[setup] cargo not found: skipping ${what} (${fallback}). Install Rust (rustup) to build it.`);
    return;
  }
  console.log(`[setup] building ${what} (Rust, napi-rs)`);
  const r = spawnSync('npm', ['run', 'build', '-w', `@tessera/${name}`], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) console.log(`[setup] ${what} failed to build; ${fallback}`);
}

/** `cargo fetch` in the background (best effort: the build fetches what is still missing). */
function cargoFetch() {
  return new Promise((done) => {
    const child = spawn('cargo', ['fetch', '--quiet'], { cwd: root, stdio: 'ignore' });
    child.on('error', () => done());
    child.on('exit', () => done());
  });
}

const nativeAddon = () => rustAddon('kernels-native', 'the native CPU addon', ['libs/kernels-native/rust', 'libs/kernels-native/src', 'libs/ops/src'], 'the pure-JS backend serves');

if (args.for === 'start') {
  // The crates download while npm installs (a child process runs on while spawnSync blocks this one).
  const fetching = cargoFetch();
  npmPackages('start');
  dataSets();
  await fetching;
  nativeAddon();
} else {
  gpujsBuildDeps();
  npmPackages('test');
  debianPackages();
  vulkanDriver();
  gpujsWebGL();
  dataSets();
  pythonPackages();
  nativeAddon();
  // Built after Open MPI is installed (debianPackages), so its 'mpi' transport is compiled in.
  const builtWithoutMpi = (addon) => spawnSync('mpicc', ['--showme:version'], { stdio: 'ignore' }).status === 0
    && spawnSync(process.execPath, ['-e', `process.exit(require(${JSON.stringify(addon)}).hasMpi() ? 0 : 1)`], { stdio: 'ignore' }).status !== 0;
  rustAddon('distributed', 'the distributed addon', ['libs/distributed/rust'], 'process groups are unavailable', builtWithoutMpi);
}
