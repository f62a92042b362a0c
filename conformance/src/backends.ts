/**
 * Every backend the matrix reports on. An available one is registered and tested; the others are
 * listed as "not run" with the reason, never as passing. TESSERA_REQUIRE_BACKENDS (CI sets it) names
 * backends that must load: for those a failure to load fails the run instead of becoming "not run".
 */
import { type Backend, jsBackend } from 'tessera';
import { createNativeBackend, cudaStatus, initCuda } from '@tessera/kernels-native';

export interface Candidate {
  readonly name: string;
  /** The device string tensors use on it. */
  readonly device: string;
  /** The backend, or why it cannot run here. */
  readonly load: () => Backend | string | Promise<Backend | string>;
}

async function webgpu(): Promise<Backend | string> {
  try {
    const { initWebGPU } = await import('@tessera/kernels-wgsl');
    return await initWebGPU();
  } catch (e) {
    return `no WebGPU adapter: ${(e as Error).message}`;
  }
}

/** Device 'cuda' where an NVIDIA GPU, its driver and NVRTC are present; otherwise why not. */
async function cuda(): Promise<Backend | string> {
  const s = cudaStatus();
  if (!s.available) return `no hardware: ${s.reason}`;
  try {
    return await initCuda();
  } catch (e) {
    return `cuda cannot run: ${(e as Error).message}`;
  }
}

/** gpu.js runs in one mode (TESSERA_GPUJS_MODE, default headless WebGL), named in its matrix column. */
const GPUJS_MODE = process.env['TESSERA_GPUJS_MODE'] ?? 'headlessgl';

async function gpujs(): Promise<Backend | string> {
  let reason: string;
  try {
    const { initGpuJs } = await import('@tessera/kernels-gpujs');
    return await initGpuJs({ mode: GPUJS_MODE as 'headlessgl' });
  } catch (e) {
    reason = `gpu.js (${GPUJS_MODE}) cannot run: ${(e as Error).message}`;
  }
  // TESSERA_REQUIRE_BACKENDS names it 'gpujs' whatever the mode.
  if (required.has('gpujs')) throw new Error(`backend 'gpujs' is required (TESSERA_REQUIRE_BACKENDS) but cannot run: ${reason}`);
  return reason;
}

const ALL: readonly Candidate[] = [
  { name: 'js', device: 'cpu', load: () => jsBackend },
  // Every size goes to the addon here, so the suite's small tensors exercise the Rust kernels.
  { name: 'native', device: 'cpu', load: () => createNativeBackend({ minElements: 0 }) },
  { name: 'webgpu', device: 'webgpu', load: webgpu },
  { name: `gpujs (${GPUJS_MODE})`, device: 'gpujs', load: gpujs },
  { name: 'cuda', device: 'cuda', load: cuda },
  { name: 'metal', device: 'webgpu', load: () => 'no hardware: needs an Apple GPU' },
  { name: 'rocm', device: 'webgpu', load: () => 'no hardware: needs an AMD GPU' },
];

/** TESSERA_CONFORMANCE_BACKENDS (comma-separated names) limits a run to those backends (tools/cuda-pack runs only 'cuda'). */
const only = new Set((process.env['TESSERA_CONFORMANCE_BACKENDS'] ?? '').split(',').filter(Boolean));
export const CANDIDATES: readonly Candidate[] = only.size ? ALL.filter((c) => only.has(c.name)) : ALL;

const required = new Set((process.env['TESSERA_REQUIRE_BACKENDS'] ?? '').split(',').filter(Boolean));

/** Loads a candidate; a required one that cannot load throws. */
export async function loadCandidate(c: Candidate): Promise<Backend | string> {
  const b = await c.load();
  if (typeof b === 'string' && required.has(c.name)) throw new Error(`backend '${c.name}' is required (TESSERA_REQUIRE_BACKENDS) but cannot run: ${b}`);
  return b;
}
