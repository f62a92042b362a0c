/**
 * The WebGPU runtime on Dawn: one instance for the process (a collected instance crashes Dawn), one
 * device, a pipeline cache, a buffer pool, and a command batch that many launches share before one
 * submit. Errors that Dawn reports asynchronously (validation, out-of-memory, device loss) are kept
 * and raised as typed errors at the next launch or read, never as a crash or a hang.
 */
import { DeviceError, IndexError } from '@tessera/ops';

export interface WebGPUOptions {
  /**
   * Which adapter: a Dawn backend ('vulkan', 'opengles'), a substring of the adapter's name, or
   * 'backend:name'. Defaults to env TESSERA_WEBGPU_ADAPTER, then Dawn's choice.
   */
  adapter?: string;
  powerPreference?: 'low-power' | 'high-performance';
}

/** Dawn backends Tessera knows how to ask for; OpenGL ES needs WebGPU's compatibility mode. */
const BACKENDS = ['vulkan', 'opengles', 'metal', 'd3d12'] as const;

const META_BYTES = 1 << 20;
/** Launches recorded before a batch is submitted even if JS has not yielded. */
const MAX_BATCH = 128;
/** Bytes of freed buffers kept for reuse. */
const POOL_LIMIT = 512 << 20;

/** Buffer sizes are rounded to classes (quarter steps between powers of two) so freed buffers fit new requests. */
export function sizeClass(bytes: number): number {
  if (bytes <= 256) return 256;
  const step = 2 ** Math.floor(Math.log2(bytes)) / 4;
  return Math.ceil(bytes / step) * step;
}

/** A binding of a launch: a buffer bound read-only or read-write. */
export interface Binding { readonly buffer: GPUBuffer; readonly write: boolean }

export class Runtime {
  /** Adapter description shown in reports ('llvmpipe: Mesa 25.0.7 ...'). */
  readonly adapterName: string;
  readonly hasF16: boolean;
  readonly maxBinding: number;
  /** Storage buffers one shader stage may bind. */
  readonly maxStorageBuffers: number;
  readonly maxWorkgroups: number;
  readonly maxWorkgroupStorage: number;
  private readonly offsetAlign: number;
  private encoder: GPUCommandEncoder | undefined;
  private pass: GPUComputePassEncoder | undefined;
  private launches = 0;
  private flushScheduled = false;
  private readonly pendingFree: GPUBuffer[] = [];
  private readonly pool = new Map<number, GPUBuffer[]>();
  private pooledBytes = 0;
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly layouts = new Map<string, GPUBindGroupLayout>();
  private readonly meta: GPUBuffer;
  /** Word 0 is set by indexing kernels that met an out-of-range index; checked at every read. */
  readonly status: GPUBuffer;
  private readonly metaHost = new ArrayBuffer(META_BYTES);
  private readonly metaU32 = new Uint32Array(this.metaHost);
  private metaUsed = 0;
  /** The first asynchronous error, raised at the next launch or read. */
  private failure: Error | undefined;
  private lost: string | undefined;

  constructor(readonly device: GPUDevice, adapter: GPUAdapter) {
    const info = adapter.info;
    this.adapterName = info.description || [info.vendor, info.architecture, info.device].filter(Boolean).join(' ') || 'unknown adapter';
    this.hasF16 = device.features.has('shader-f16');
    this.maxBinding = device.limits.maxStorageBufferBindingSize;
    this.maxStorageBuffers = device.limits.maxStorageBuffersPerShaderStage;
    this.maxWorkgroups = device.limits.maxComputeWorkgroupsPerDimension;
    this.maxWorkgroupStorage = device.limits.maxComputeWorkgroupStorageSize;
    this.offsetAlign = device.limits.minStorageBufferOffsetAlignment;
    this.meta = device.createBuffer({ size: META_BYTES, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
    this.status = device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
    device.lost.then((info) => { this.lost = `${info.reason}: ${info.message}`; }, () => {});
    device.addEventListener('uncapturederror', (ev) => {
      this.failure ??= new DeviceError('webgpu', `${(ev as GPUUncapturedErrorEvent).error.message}`);
    });
  }

  /** Raises the pending asynchronous error, if any (once). */
  check(op: string): void {
    if (this.lost) throw new DeviceError(op, `the WebGPU device was lost (${this.lost}); tensors on it are gone: create the backend again`);
    const f = this.failure;
    if (f) {
      this.failure = undefined;
      throw new DeviceError(op, `an earlier WebGPU operation failed: ${f.message}`);
    }
  }

  // ------------------------------------------------------------------ memory
  createBuffer(bytes: number, op: string): GPUBuffer {
    this.check(op);
    const size = sizeClass(bytes);
    if (size > this.device.limits.maxBufferSize) {
      throw new DeviceError(op, `a buffer of ${bytes} bytes exceeds this adapter's maxBufferSize (${this.device.limits.maxBufferSize})`);
    }
    const free = this.pool.get(size);
    const reused = free?.pop();
    if (reused) { this.pooledBytes -= size; return reused; }
    this.device.pushErrorScope('out-of-memory');
    const buf = this.device.createBuffer({ size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
    this.device.popErrorScope().then((e) => {
      if (e) this.failure ??= new DeviceError(op, `out of GPU memory allocating ${bytes} bytes: ${e.message}`);
    }, () => {});
    return buf;
  }

  /** Returns a buffer to the pool once the launches recorded so far (which may still use it) are submitted. */
  release(buf: GPUBuffer): void {
    if (this.encoder) this.pendingFree.push(buf);
    else this.recycle(buf);
  }

  private recycle(buf: GPUBuffer): void {
    if (this.pooledBytes + buf.size > POOL_LIMIT) { buf.destroy(); return; }
    let list = this.pool.get(buf.size);
    if (!list) this.pool.set(buf.size, (list = []));
    list.push(buf);
    this.pooledBytes += buf.size;
  }

  write(buf: GPUBuffer, data: ArrayBufferView): void {
    this.device.queue.writeBuffer(buf, 0, data.buffer, data.byteOffset, data.byteLength);
  }

  /**
   * Bytes [byteOffset, byteOffset + bytes) of a buffer, after every recorded launch has run. The
   * status word comes back with them: an out-of-range index met by an earlier kernel raises here.
   */
  async read(buf: GPUBuffer, byteOffset: number, bytes: number, op: string): Promise<ArrayBuffer> {
    this.check(op);
    const start = byteOffset & ~3;
    const size = Math.max(4, (byteOffset + bytes - start + 3) & ~3);
    const staging = this.device.createBuffer({ size: size + 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const enc = this.encoderFor();
    if (bytes > 0) enc.copyBufferToBuffer(buf, start, staging, 0, size);
    enc.copyBufferToBuffer(this.status, 0, staging, size, 4);
    this.flush();
    try {
      await staging.mapAsync(GPUMapMode.READ);
    } catch (e) {
      this.check(op);
      throw new DeviceError(op, `reading back from the GPU failed: ${(e as Error).message}`);
    }
    this.check(op);
    const mapped = staging.getMappedRange();
    const bad = new Uint32Array(mapped, size, 1)[0] !== 0;
    const out = mapped.slice(byteOffset - start, byteOffset - start + bytes);
    staging.unmap();
    staging.destroy();
    if (bad) {
      this.device.queue.writeBuffer(this.status, 0, new Uint32Array(4));
      throw new IndexError(op, 'an index was out of range in a gather, scatterAdd, indexSelect or embedding launched earlier on webgpu; the tensors computed from it hold undefined values');
    }
    return out;
  }

  // ------------------------------------------------------------------ kernels
  /**
   * The compute pipeline for `key` (what determines the source, so launches skip generating it),
   * built from `source()` with bindings per `signature` ('w' read-write, 'r' read-only).
   */
  pipeline(key: string, source: () => string, signature: string, op: string): GPUComputePipeline {
    let p = this.pipelines.get(key);
    if (p) return p;
    return this.build(key, source(), signature, op);
  }

  private build(key: string, source: string, signature: string, op: string): GPUComputePipeline {
    let p: GPUComputePipeline;
    this.check(op);
    let layout = this.layouts.get(signature);
    if (!layout) {
      layout = this.device.createBindGroupLayout({
        entries: [...signature].map((s, binding) => ({
          binding, visibility: GPUShaderStage.COMPUTE, buffer: { type: s === 'w' ? 'storage' as const : 'read-only-storage' as const },
        })),
      });
      this.layouts.set(signature, layout);
    }
    this.device.pushErrorScope('validation');
    const module = this.device.createShaderModule({ code: source });
    p = this.device.createComputePipeline({ layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }), compute: { module, entryPoint: 'main' } });
    this.device.popErrorScope().then((e) => {
      if (e) this.failure ??= new DeviceError(op, `kernel failed to compile: ${e.message}\n--- WGSL ---\n${source}`);
    }, () => {});
    this.pipelines.set(key, p);
    return p;
  }

  /**
   * Room for `words` 32-bit launch parameters in this batch's meta buffer; fill the returned array,
   * then pass the offset to `dispatch`.
   */
  metaSlot(words: number): { words: Uint32Array; offset: number } {
    const bytes = Math.max(words * 4, 16);
    if (bytes > META_BYTES) throw new DeviceError('webgpu', `a launch needs ${bytes} bytes of parameters (limit ${META_BYTES})`);
    if (this.metaUsed + bytes > META_BYTES) this.flush();
    const offset = this.metaUsed;
    this.metaUsed = Math.ceil((offset + bytes) / this.offsetAlign) * this.offsetAlign;
    return { words: this.metaU32.subarray(offset / 4, offset / 4 + words), offset };
  }

  /**
   * Records one dispatch: `threads` invocations (workgroups of `groupSize`, spread over x and y when
   * one dimension's limit is too small) with the bindings in order and the meta slot last.
   */
  dispatch(pipeline: GPUComputePipeline, bindings: readonly GPUBuffer[], meta: { offset: number; words: Uint32Array }, groups: number, op: string): void {
    this.check(op);
    if (groups === 0) return;
    const entries: GPUBindGroupEntry[] = bindings.map((buffer, binding) => ({ binding, resource: { buffer } }));
    entries.push({ binding: bindings.length, resource: { buffer: this.meta, offset: meta.offset, size: Math.max(meta.words.length * 4, 16) } });
    const group = this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
    const x = Math.min(groups, this.maxWorkgroups);
    const y = Math.ceil(groups / x);
    if (y > this.maxWorkgroups) throw new DeviceError(op, `${groups} workgroups exceed the adapter's ${this.maxWorkgroups}^2 grid`);
    if (!this.pass) this.pass = this.encoderFor().beginComputePass();
    this.pass.setPipeline(pipeline);
    this.pass.setBindGroup(0, group);
    this.pass.dispatchWorkgroups(x, y);
    if (++this.launches >= MAX_BATCH) this.flush();
    else this.scheduleFlush();
  }

  private encoderFor(): GPUCommandEncoder {
    if (this.pass) { this.pass.end(); this.pass = undefined; }
    return (this.encoder ??= this.device.createCommandEncoder());
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => { this.flushScheduled = false; this.flush(); });
  }

  /** Submits the recorded batch (with its launch parameters) and recycles the buffers it freed. */
  flush(): void {
    if (!this.encoder) return;
    if (this.pass) { this.pass.end(); this.pass = undefined; }
    if (this.metaUsed > 0) this.device.queue.writeBuffer(this.meta, 0, this.metaHost, 0, this.metaUsed);
    this.device.queue.submit([this.encoder.finish()]);
    this.encoder = undefined;
    this.launches = 0;
    this.metaUsed = 0;
    for (const b of this.pendingFree.splice(0)) this.recycle(b);
  }
}

let instance: GPU | undefined;
const runtimes = new Map<string, Promise<Runtime>>();

function parseAdapter(spec: string | undefined): { backend?: string; name?: string } {
  if (!spec) return {};
  const [a, b] = spec.split(':');
  if (b !== undefined) return { backend: a, name: b };
  return (BACKENDS as readonly string[]).includes(spec) ? { backend: spec } : { name: spec };
}

/** Opens (once per adapter choice) a device with the adapter's largest limits and shader-f16 when offered. */
export function openRuntime(opt: WebGPUOptions = {}): Promise<Runtime> {
  const spec = opt.adapter ?? process.env['TESSERA_WEBGPU_ADAPTER'];
  const key = `${spec ?? ''}|${opt.powerPreference ?? ''}`;
  let r = runtimes.get(key);
  if (!r) runtimes.set(key, (r = open(spec, opt)));
  return r;
}

async function open(spec: string | undefined, opt: WebGPUOptions): Promise<Runtime> {
  process.env['XDG_RUNTIME_DIR'] ??= '/tmp';
  const { backend, name } = parseAdapter(spec);
  if (backend === 'opengles') process.env['EGL_PLATFORM'] ??= 'surfaceless';
  const flags = [...(backend ? [`backend=${backend}`] : []), ...(name ? [`adapter=${name}`] : [])];
  // Dawn (21 MB) loads only when a device is opened; its globals provide GPUBufferUsage and friends.
  const { create, globals } = await import('webgpu');
  Object.assign(globalThis, globals);
  // Dawn crashes if the GPU object is collected while devices live: keep it for the process lifetime.
  instance = create(flags);
  const adapter = await instance.requestAdapter({
    ...(backend === 'opengles' ? { featureLevel: 'compatibility' } : {}),
    ...(opt.powerPreference ? { powerPreference: opt.powerPreference } : {}),
  });
  if (!adapter) {
    throw new DeviceError('webgpu', `no WebGPU adapter${spec ? ` matching '${spec}'` : ''}: on Linux without a GPU install Mesa >= 25's lavapipe (npm test's setup does, as root)`);
  }
  const want = ['maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize', 'maxStorageBuffersPerShaderStage', 'maxComputeInvocationsPerWorkgroup'] as const;
  const requiredLimits = Object.fromEntries(want.map((k) => [k, adapter.limits[k]]));
  const requiredFeatures = (['shader-f16'] as GPUFeatureName[]).filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  return new Runtime(device, adapter);
}
