/**
 * The CUDA runtime as JS sees it: the addon's cuda* entry points (rust/cuda.rs), finding the CUDA
 * libraries, and launching generated kernels. Launches are asynchronous on one stream; reads
 * synchronise. Kernels flag out-of-range indices in a status word, checked at every read (as CUDA
 * reports device-side asserts at the next synchronisation).
 */
import { existsSync, readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { DeviceError, IndexError } from '@tessera/ops';

export interface CudaAddon {
  cudaPreload(paths: string[]): string[];
  cudaProbe(): { available: boolean; reason?: string; devices: number };
  nvrtcInfo(): { version?: string; reason?: string };
  nvrtcCompile(source: string, arch: string): Buffer;
  cudaInit(ordinal: number): { name: string; arch: string; memory: number; ordinal: number };
  cudaAlloc(bytes: number): number;
  cudaFree(id: number): void;
  cudaWrite(id: number, offset: number, data: Uint8Array): void;
  cudaRead(id: number, offset: number, bytes: number): Buffer;
  cudaCopy(dst: number, dstOffset: number, src: number, srcOffset: number, bytes: number): void;
  cudaSynchronize(): void;
  cudaLaunch(key: string, source: string | undefined, grid: number[], block: number, buffers: Uint32Array, ints: Float64Array, floats: Float64Array): void;
  cudaGemm(dtype: string, m: number, n: number, k: number, batch: number, a: GemmOperand, b: GemmOperand, c: GemmOperand): void;
  cudaMemory(): number[];
}

export interface GemmOperand { buffer: number; offset: number; ld: number; stride: number; trans: boolean }

/** Shared libraries the backend loads, by file-name prefix, in load order (cuBLASLt before cuBLAS, which needs it). */
const LIBS = ['libnvrtc-builtins.so', 'libnvrtc.so', 'libcublasLt.so', 'libcublas.so'];

/** Python site-packages folders where pip's NVIDIA wheels put their libraries (nvidia/<pkg>/lib). */
function sitePackages(projectRoot: string | undefined): string[] {
  const roots = new Set<string>();
  const globPy = (base: string) => {
    if (!existsSync(base)) return;
    for (const v of readdirSync(base).filter((d) => d.startsWith('python3'))) for (const s of ['site-packages', 'dist-packages']) roots.add(join(base, v, s));
  };
  for (const prefix of ['/usr/local/lib', '/usr/lib', join(homedir(), '.local/lib'), '/opt/conda/lib']) globPy(prefix);
  if (process.env['VIRTUAL_ENV']) globPy(join(process.env['VIRTUAL_ENV'], 'lib'));
  if (projectRoot) globPy(join(projectRoot, '.venv/lib'));
  const found = [...roots].filter((r) => existsSync(join(r, 'nvidia')));
  if (found.length) return found;
  // Not in the usual places: ask Python where its packages live.
  const py = spawnSync('python3', ['-c', 'import site; print("\\n".join(site.getsitepackages() + [site.getusersitepackages()]))'], { encoding: 'utf8' });
  return py.status === 0 ? py.stdout.split('\n').filter((r) => r && existsSync(join(r, 'nvidia'))) : [];
}

/**
 * Library folders to search: TESSERA_CUDA_LIBS (colon-separated), then every nvidia/<pkg>/lib of
 * pip's wheels, then /usr/local/cuda. LD_LIBRARY_PATH and the system paths need nothing: dlopen
 * searches those itself.
 */
export function libraryDirs(projectRoot?: string): string[] {
  const dirs = (process.env['TESSERA_CUDA_LIBS'] ?? '').split(':').filter(Boolean);
  for (const sp of sitePackages(projectRoot)) {
    for (const pkg of readdirSync(join(sp, 'nvidia'))) {
      const lib = join(sp, 'nvidia', pkg, 'lib');
      if (existsSync(lib)) dirs.push(lib);
    }
  }
  for (const d of ['/usr/local/cuda/lib64', '/usr/local/cuda/lib']) if (existsSync(d)) dirs.push(d);
  return dirs;
}

/** Preloads the newest version of each CUDA library found in `dirs`; returns what it loaded and what failed. */
export function preload(addon: CudaAddon, dirs: readonly string[]): { loaded: string[]; failed: string[] } {
  const picked = new Map<string, string>();
  for (const dir of dirs) {
    let files: string[];
    try { files = readdirSync(dir); } catch { continue; }
    for (const prefix of LIBS) {
      // Versioned names (libcublas.so.13); the first folder that has a library wins.
      const f = files.filter((n) => n.startsWith(`${prefix}.`) || n === prefix).sort().at(-1);
      if (f && !picked.has(prefix)) picked.set(prefix, join(dir, f));
    }
  }
  const paths = LIBS.map((l) => picked.get(l)).filter((p): p is string => !!p);
  return { loaded: paths, failed: addon.cudaPreload(paths) };
}

/** Errors from the addon as Tessera's typed DeviceError (the addon prefixes them 'cuda <op>: '). */
export function deviceError(op: string, e: unknown): DeviceError {
  return new DeviceError(op, (e as Error).message.replace(/^cuda [a-z]+: /, ''));
}

export const BLOCK = 256;

export class CudaRuntime {
  /** Word 0 is set by indexing kernels that met an out-of-range index; checked at every read. */
  readonly status: number;
  private readonly compiled = new Set<string>();

  constructor(readonly addon: CudaAddon, readonly device: { name: string; arch: string; memory: number; ordinal: number }) {
    this.status = this.alloc(16, 'init');
    addon.cudaWrite(this.status, 0, new Uint8Array(16));
  }

  alloc(bytes: number, op: string): number {
    try { return this.addon.cudaAlloc(bytes); } catch (e) { throw deviceError(op, e); }
  }

  free(id: number): void {
    try { this.addon.cudaFree(id); } catch { /* already gone with a failed context: nothing to release */ }
  }

  write(id: number, byteOffset: number, data: ArrayBufferView, op: string): void {
    try { this.addon.cudaWrite(id, byteOffset, new Uint8Array(data.buffer, data.byteOffset, data.byteLength)); } catch (e) { throw deviceError(op, e); }
  }

  /** Bytes of a buffer after every queued launch ran; an out-of-range index met earlier raises here. */
  read(id: number, byteOffset: number, bytes: number, op: string): Buffer {
    let out: Buffer, bad: boolean;
    try {
      out = this.addon.cudaRead(id, byteOffset, bytes);
      bad = this.addon.cudaRead(this.status, 0, 4).readUInt32LE(0) !== 0;
    } catch (e) {
      throw deviceError(op, e);
    }
    if (bad) {
      this.addon.cudaWrite(this.status, 0, new Uint8Array(4));
      throw new IndexError(op, 'an index was out of range in a gather, scatterAdd, indexSelect or embedding launched earlier on cuda; the tensors computed from it hold undefined values');
    }
    return out;
  }

  /**
   * Launches kernel `key` (its CUDA C from `source()`, compiled on first use) over `threads`
   * threads in blocks of BLOCK, or over `blocks` whole blocks when given as { blocks }.
   */
  launch(key: string, source: () => string, size: number | { blocks: number }, buffers: readonly number[], ints: readonly number[], floats: readonly number[], op: string): void {
    // At most 2^20 blocks: every kernel's grid-stride loop covers the rest.
    const blocks = Math.min(typeof size === 'number' ? Math.ceil(size / BLOCK) : size.blocks, 1 << 20);
    if (blocks === 0) return;
    const src = this.compiled.has(key) ? undefined : source();
    try {
      this.addon.cudaLaunch(key, src, [blocks, 1, 1], BLOCK, Uint32Array.from(buffers), Float64Array.from(ints), Float64Array.from(floats));
    } catch (e) {
      throw deviceError(op, e);
    }
    this.compiled.add(key);
  }

  gemm(op: string, dtype: string, m: number, n: number, k: number, batch: number, a: GemmOperand, b: GemmOperand, c: GemmOperand): void {
    try { this.addon.cudaGemm(dtype, m, n, k, batch, a, b, c); } catch (e) { throw deviceError(op, e); }
  }
}
