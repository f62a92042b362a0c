/**
 * The backends a user opts into by installing their package: device 'webgpu' (@tessera/kernels-wgsl,
 * which brings Dawn) and device 'gpujs' (@tessera/kernels-gpujs, which brings gpu.js). They are
 * optional peer dependencies, imported here when present (so their emitters register on import as
 * before), and their init functions raise BackendNotInstalledError naming the package when absent.
 */
import { type Backend, DeviceError } from '@tessera/tensor';

/** A device whose backend package is not installed: `npm install <packageName>` adds it. */
export class BackendNotInstalledError extends DeviceError {
  /** The npm package that provides the device. */
  readonly packageName: string;
  constructor(device: string, packageName: string) {
    const why = `device '${device}' needs the package ${packageName}, which is not installed`;
    super(device, `${why}: npm install ${packageName}`);
    this.packageName = packageName;
  }
}

// The options are restated here rather than imported, so that tessera's declarations stand without
// the optional packages; test/optional-backends.test.ts checks they match the packages' own.

/** Options of `initWebGPU`. */
export interface WebGPUOptions {
  /**
   * Which adapter: a Dawn backend ('vulkan', 'opengles'), a substring of the adapter's name, or
   * 'backend:name'. Defaults to env TESSERA_WEBGPU_ADAPTER, then Dawn's choice.
   */
  adapter?: string;
  /** The adapter WebGPU should prefer where there are several. */
  powerPreference?: 'low-power' | 'high-performance';
}

/** Options of `initGpuJs`. */
export interface GpuJsOptions {
  /** gpu.js's mode ('headlessgl', 'webgpu', 'webasm', 'cpu'); default: env TESSERA_GPUJS_MODE, then 'headlessgl'. */
  mode?: 'headlessgl' | 'webgpu' | 'webasm' | 'cpu';
}

interface WebGPUPackage { initWebGPU(opt?: WebGPUOptions): Promise<Backend> }
interface GpuJsPackage { initGpuJs(opt?: GpuJsOptions): Promise<Backend> }

/** The package, or undefined when it is not installed; any other failure to load it is thrown. */
async function optional<T>(name: string, load: () => Promise<unknown>): Promise<T | undefined> {
  try {
    return (await load()) as T;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const notFound = err.code === 'ERR_MODULE_NOT_FOUND' || err.code === 'MODULE_NOT_FOUND';
    if (notFound && err.message.includes(name)) return undefined;
    throw e;
  }
}

// Literal specifiers, so that bundlers and vitest see the imports.
const webgpu = await optional<WebGPUPackage>('@tessera/kernels-wgsl', () => import('@tessera/kernels-wgsl'));
const gpujs = await optional<GpuJsPackage>('@tessera/kernels-gpujs', () => import('@tessera/kernels-gpujs'));

/**
 * Opens a WebGPU device on Dawn and makes it the backend of device 'webgpu'; tensors then take
 * `{ device: 'webgpu' }`. Rejects with BackendNotInstalledError without @tessera/kernels-wgsl.
 */
export function initWebGPU(opt: WebGPUOptions = {}): Promise<Backend> {
  if (!webgpu) return Promise.reject(new BackendNotInstalledError('webgpu', '@tessera/kernels-wgsl'));
  return webgpu.initWebGPU(opt);
}

/**
 * Opens gpu.js in one mode (headless WebGL, its WebGPU mode, WebAssembly or CPU) and makes it the
 * backend of device 'gpujs'. Rejects with BackendNotInstalledError without @tessera/kernels-gpujs.
 */
export function initGpuJs(opt: GpuJsOptions = {}): Promise<Backend> {
  if (!gpujs) return Promise.reject(new BackendNotInstalledError('gpujs', '@tessera/kernels-gpujs'));
  return gpujs.initGpuJs(opt);
}
