/**
 * Importing this package makes the native addon the implementation of device 'cpu' when it is built;
 * otherwise the pure-JS backend keeps serving and the reason is printed once.
 */
import { type Backend, registerBackend, registerEmitter } from '@tessera/tensor';
import { createNativeBackend, loadAddonModule } from './backend.js';
import { rustKernel, rustReduce } from './emit-rust.js';
import { DTYPE_CODE, disassemble, encode } from './interp.js';
import { emitC } from './cc.js';
import { type CudaStatus, cudaAddon, cudaStatusOf, openCuda } from './cuda/index.js';
import type { CudaAddon, CudaRuntime } from './cuda/runtime.js';

export { createNativeBackend, NATIVE_MIN_ELEMENTS, type NativeBackend } from './backend.js';
export { type CcMode, CCompiler, emitC } from './cc.js';

// What the addon runs for a kernel: its generated Rust (the catalog's, compiled ahead of time), or,
// for compile's fused kernels, the bytecode its interpreter runs (interp.ts).
registerEmitter('native', {
  elementwise: (k) => {
    const b = k.id.startsWith('fused:') ? encode(k) : undefined;
    if (b) {
      const views = [...k.inputs, k.out, ...(k.outputs ?? []).map((o) => o.dtype)].map((d) => ({ dtype: DTYPE_CODE[d]!, step: 1 as const }));
      return `// bytecode for the addon's interpreter (rust/interp.rs)\n${disassemble(b)}\n\n` +
        `// and the C the system compiler builds from it where there is one (cc.ts), here for contiguous views\n${emitC(b, views, k.inputs.length, 'fused')}`;
    }
    const r = rustKernel(k);
    return `// Rust closure over (${r.types.join(', ')}) -> ${r.out}, in the catalog's kernels\n${r.prelude}\n|${r.types.map((_, i) => `x${i}`).join(', ')}| { ${r.body} }`;
  },
  reduce: (k) => `// Rust engine call, in the catalog's kernels\n${rustReduce(k)}`,
});

const native = createNativeBackend();
/**
 * The SIMD instruction set the native elementwise loops run with, picked at load from what the CPU has
 * ('avx512', 'avx2', 'baseline' x86-64 SSE2, or 'neon'; TESSERA_NATIVE_ISA may name a lower one), or
 * undefined without the addon. Every choice computes the same bits.
 */
export const nativeSimd: string | undefined = typeof native === 'string' ? undefined : (loadAddonModule() as unknown as { simdIsa(): string }).simdIsa();
/** Why the native backend is not in use, or undefined when it is. */
export const nativeUnavailable: string | undefined = typeof native === 'string' ? native : undefined;
if (typeof native === 'string') {
  if (process.env['TESSERA_NATIVE'] !== '0') console.warn(`tessera: native CPU backend unavailable (${native}); using the pure-JS backend`);
} else {
  registerBackend(native);
}

export { type CudaStatus, elementwiseSource as cudaElementwiseSource, reduceSource as cudaReduceSource } from './cuda/index.js';

/** The repository root, where setup's .venv may hold pip's NVIDIA libraries. */
const projectRoot = new URL('../../../', import.meta.url).pathname;
const cuda = (): CudaAddon | string => cudaAddon(() => loadAddonModule() as unknown as CudaAddon | string, projectRoot);

/** Whether device 'cuda' can run here, and if not why; never throws. */
export const cudaStatus = (): CudaStatus => cudaStatusOf(cuda());

/**
 * Opens the CUDA device (default 0, or TESSERA_CUDA_DEVICE) and registers it as device 'cuda'.
 * Rejects with a DeviceError naming what is missing where there is no NVIDIA GPU, driver or NVRTC.
 */
export async function initCuda(opt: { device?: number } = {}): Promise<Backend & { readonly runtime: CudaRuntime }> {
  return openCuda(cuda(), opt.device);
}

/** Compiles CUDA C with NVRTC for `arch` (no GPU needed): how the tests check every generated kernel. */
export function nvrtcCompile(source: string, arch = 'sm_90'): Uint8Array {
  const a = cuda();
  if (typeof a === 'string') throw new Error(a);
  return a.nvrtcCompile(source, arch);
}
