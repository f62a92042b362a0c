/**
 * Device 'cuda': `await initCuda()` finds the CUDA libraries (TESSERA_CUDA_LIBS, pip's nvidia
 * wheels in Python's site-packages, /usr/local/cuda, the loader's own paths), opens the device and
 * registers the backend; tensors then take `{ device: 'cuda' }`. Where there is no NVIDIA driver or
 * GPU it rejects with a DeviceError saying what is missing; `cudaStatus()` tells without throwing.
 * The emitter is registered on import, so `tessera codegen --backend cuda` needs no GPU.
 */
import { DeviceError } from '@tessera/ops';
import { type Backend, registerBackend, registerEmitter } from '@tessera/tensor';
import { createCudaBackend } from './backend.js';
import { elementwiseSource, indexType, reduceSource } from './kernels.js';
import { type CudaAddon, CudaRuntime, libraryDirs, preload } from './runtime.js';

export { elementwiseSource, reduceSource } from './kernels.js';
export { CUDA_OPS, castCode, literal } from './emit.js';
export { type CudaAddon, CudaRuntime, libraryDirs } from './runtime.js';

registerEmitter('cuda', {
  elementwise: (k, rank) => elementwiseSource(k, rank, indexType(1)),
  reduce: (k, outerRank, innerRank) => reduceSource(k, outerRank, innerRank, k.scan ? 'scan' : 'group', 'full'),
});

export interface CudaStatus {
  /** Whether a device can be opened. */
  readonly available: boolean;
  /** Why not, when it cannot. */
  readonly reason?: string;
  /** NVRTC's version, or why it is missing (kernels cannot compile without it). */
  readonly nvrtc: string;
  /** CUDA libraries loaded from the folders searched. */
  readonly libraries: readonly string[];
}

let addonRef: CudaAddon | string | undefined;
let libraries: string[] = [];

/** The addon's CUDA entry points, with the CUDA libraries preloaded once. */
export function cudaAddon(load: () => CudaAddon | string, projectRoot?: string): CudaAddon | string {
  if (addonRef !== undefined) return addonRef;
  const a = load();
  if (typeof a !== 'string' && typeof a.cudaProbe !== 'function') {
    addonRef = 'the native addon was built without the cuda feature (npm run build -w @tessera/kernels-native builds it with)';
  } else {
    addonRef = a;
    if (typeof a !== 'string') {
      const { loaded, failed } = preload(a, libraryDirs(projectRoot));
      libraries = loaded.filter((p) => !failed.some((f) => f.startsWith(`${p}:`)));
      for (const f of failed) console.warn(`tessera: could not load ${f}`);
    }
  }
  return addonRef;
}

export function cudaStatusOf(addon: CudaAddon | string): CudaStatus {
  if (typeof addon === 'string') return { available: false, reason: addon, nvrtc: 'unknown', libraries };
  const probe = addon.cudaProbe();
  const rtc = addon.nvrtcInfo();
  const nvrtc = rtc.version ?? `missing: ${rtc.reason}`;
  if (probe.available && !rtc.version) return { available: false, reason: `a GPU is present but NVRTC is not: ${rtc.reason}`, nvrtc, libraries };
  return { available: probe.available, ...(probe.reason ? { reason: probe.reason } : {}), nvrtc, libraries };
}

const opened = new Map<number, Backend & { readonly runtime: CudaRuntime }>();

/** Opens CUDA device `ordinal` (default 0, or TESSERA_CUDA_DEVICE) and makes it the backend of device 'cuda'. */
export function openCuda(addon: CudaAddon | string, ordinal = Number(process.env['TESSERA_CUDA_DEVICE'] ?? 0)): Backend & { readonly runtime: CudaRuntime } {
  let b = opened.get(ordinal);
  if (!b) {
    const status = cudaStatusOf(addon);
    if (!status.available || typeof addon === 'string') throw new DeviceError('cuda', `device 'cuda' is unavailable: ${status.reason}`);
    let device;
    try { device = addon.cudaInit(ordinal); } catch (e) { throw new DeviceError('cuda', (e as Error).message); }
    b = createCudaBackend(new CudaRuntime(addon, device));
    opened.set(ordinal, b);
  }
  registerBackend(b);
  return b;
}
