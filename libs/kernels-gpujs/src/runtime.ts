/**
 * The gpu.js runtime: one GPU instance in one explicitly chosen mode, a cache of compiled kernels, and
 * device buffers as gpu.js holds them (GL textures, WebGPU storage buffers, or Float32Arrays on the
 * webasm and cpu modes). Every launch writes a fresh result (gpu.js kernels cannot write into part of
 * an existing buffer); `commit` makes it the storage of the output view, merging when the view covers
 * only part of its buffer.
 *
 * The mode is never changed behind the caller's back: an unavailable mode is an error naming why, and a
 * kernel that gpu.js quietly moves to its CPU fallback is refused (NotImplementedError with gpu.js's reason).
 */
import { createRequire } from 'node:module';
import { DeviceError, NotImplementedError } from '@tessera/ops';
import type { View } from '@tessera/tensor';
import { ensureDisplay } from './display.js';
import { EXACT_INT, HELPERS } from './emit.js';

/** gpu.js backends Tessera runs on: headless WebGL (npm `gl`), WebGPU (Dawn via npm `webgpu`), WebAssembly, plain JS. */
export const MODES = ['headlessgl', 'webgpu', 'webasm', 'cpu'] as const;
export type Mode = (typeof MODES)[number];

export interface GpuJsOptions {
  /** Defaults to env TESSERA_GPUJS_MODE, then 'headlessgl'. */
  mode?: Mode;
}

/** What gpu.js returns from a pipeline kernel: a GL texture, a WebGPU buffer handle, or an array. */
interface Handle { toArray?(): Float32Array | Promise<Float32Array>; delete?(): void }
type Data = Handle | Float32Array | null;

/** A device buffer: replaced wholesale by each write (in-place ops included), so tensors share this box. */
export interface GBuffer {
  data: Data | Promise<Data>;
  readonly length: number;
  /**
   * Where element 0 sits in `data`: 0 but for a range of a horizontal group's result, which holds
   * the results of several buffers in one texture (Runtime.placeGroup). Kernels read element p of
   * a view at data[base + p] (Runtime.at).
   */
  base?: number;
}

/** Where a kernel reads element 0 of view v in its buffer's data: its offset past the buffer's base (GBuffer.base). */
export const dataOffset = (v: View): number => v.offset + ((v.buffer as GBuffer).base ?? 0);

/** gpu.js's callable kernel (its "run shortcut"). */
interface KernelRun {
  (...args: unknown[]): unknown;
  setOutput(o: number[]): void;
  kernel: { constructor: { name: string }; fallbackReason?: string | null };
}
interface GpuJs {
  createKernel(src: string, settings: object): KernelRun;
  createKernelMap(subKernels: string[], src: string, settings: object): KernelRun;
  addFunction(src: string): void;
  destroy(): void;
}
/** What a kernel map returns: its own result, and each sub-kernel's under its position. */
type MapResult = { result: Data } & Record<number, Data>;

/** Kernel class gpu.js uses for each mode (the CPU one in a non-cpu mode means it fell back). */
const KERNEL_CLASS: Readonly<Record<Mode, string>> = { headlessgl: 'HeadlessGLKernel', webgpu: 'WebGPUKernel', webasm: 'WebAssemblyKernel', cpu: 'CPUKernel' };
const EMPTY = new Float32Array(1);
/** Loops in generated kernels run at most this often (a GLSL loop needs a constant bound). */
const LOOP_MAX = EXACT_INT;

export class Runtime {
  /** Kernel calls return promises (WebGPU readback is asynchronous), so launches chain on them. */
  readonly async: boolean;
  /**
   * Primitives this mode cannot compute to the specs' tolerance, with why: the GPU modes' sin/cos
   * reduce large arguments inexactly (sin(1e30) comes back as -1), and an exact reduction needs the
   * integer bit operations gpu.js's subset lacks. webasm and cpu compute them in float64 JS.
   */
  readonly inexact: Readonly<Partial<Record<string, string>>>;
  /** Whether float32 subnormals survive (GPU modes flush them). */
  readonly subnormals: 'preserve' | 'flush';
  /** Textures one kernel may read (headlessgl: the GL context's texture units); undefined where unbounded. */
  readonly textureUnits: number | undefined;
  private readonly kernels = new Map<string, KernelRun>();
  private readonly maps = new Map<string, Data>();

  constructor(readonly mode: Mode, private readonly gpu: GpuJs, readonly description: string, textureUnits?: number) {
    this.async = mode === 'webgpu';
    const gpuMode = mode === 'headlessgl' || mode === 'webgpu';
    this.subnormals = gpuMode ? 'flush' : 'preserve';
    const trig = `gpu.js's ${mode} mode has no accurate argument reduction for sin/cos (|x| past ~1e4 loses every digit; sin(1e30) gives -1), and gpu.js's subset has no integer bit operations to build one`;
    this.inexact = gpuMode ? { sin: trig, cos: trig } : {};
    this.textureUnits = textureUnits;
    for (const h of Object.values(HELPERS)) gpu.addFunction(h);
  }

  /**
   * Runs the kernel `key` (compiled once from `source()`) over `n` outputs. Buffer arguments may still
   * be pending (async mode): the launch then waits for them, and so does whatever reads its result.
   */
  launch(op: string, key: string, source: () => string, n: number, args: readonly (GBuffer | number)[], raw = false): Data | Promise<Data> {
    if (n === 0) return null;
    return this.start(op, key, (settings) => this.gpu.createKernel(source(), settings), n, args, raw) as Data | Promise<Data>;
  }

  /**
   * Whether kernels here store several results in one pass (gpu.js's kernel maps: headlessgl draws
   * into several color attachments at once; its webgpu and webasm modes have no kernel maps).
   */
  get multiOutput(): boolean { return this.mode === 'headlessgl' || this.mode === 'cpu'; }

  /** The most results one kernel stores (WebGL 1's draw buffers on the machines we know: 8). */
  readonly maxOutputs = 8;

  /**
   * Runs a kernel that stores further results through its sub-kernels (`outputs`, functions whose
   * return values gpu.js stores), each `n` long: its result, then theirs in order. Only where
   * multiOutput, whose modes all launch synchronously.
   */
  launchMap(op: string, key: string, source: () => { main: string; outputs: string[] }, n: number, args: readonly (GBuffer | number)[]): Data[] {
    if (!this.multiOutput) throw new NotImplementedError(op, `gpu.js's ${this.mode} mode has no kernel maps: its kernels store one result each`);
    const out = n === 0 ? null : this.start(op, key, (settings) => {
      const s = source();
      if (1 + s.outputs.length > this.maxOutputs) throw new DeviceError(op, `a kernel storing ${1 + s.outputs.length} results exceeds gpujs's ${this.maxOutputs}`);
      this.subKernels.set(key, s.outputs.length);
      return this.gpu.createKernelMap(s.outputs, s.main, settings);
    }, n, args, false);
    if (out instanceof Promise) throw new Error(`gpujs ${this.mode}: a kernel map launched asynchronously`);
    if (out === null) return [];
    const r = out as MapResult;
    return [r.result, ...Array.from({ length: this.subKernels.get(key)! }, (_, j) => r[j]!)];
  }

  /**
   * gpu.js kernel runs so far: the backend's launches and the runtime's own (uploads, the merges of
   * partial writes), which the launch counter (tsr.profile) does not see.
   */
  draws = 0;

  /** Sub-kernels of each kernel map, by key. */
  private readonly subKernels = new Map<string, number>();

  /** Compiles (once per key) and runs a kernel over `n` outputs. */
  private start(op: string, key: string, create: (settings: object) => KernelRun, n: number, args: readonly (GBuffer | number)[], raw: boolean): unknown {
    if (n > EXACT_INT) throw new DeviceError(op, `${n} elements exceed what gpujs indexes exactly (2^24: gpu.js computes indices in float32)`);
    this.draws++;
    const textures = args.filter((a) => typeof a !== 'number').length;
    if (this.textureUnits !== undefined && textures > this.textureUnits) {
      throw new DeviceError(op, `a kernel reading ${textures} buffers exceeds the ${this.textureUnits} textures a WebGL shader samples here`);
    }
    let k = this.kernels.get(key);
    if (!k) {
      k = create({
        output: [n], pipeline: true, immutable: true, precision: 'single', tactic: 'precision',
        dynamicOutput: true, dynamicArguments: true, loopMaxIterations: LOOP_MAX,
      });
      this.kernels.set(key, k);
    }
    const run = k;
    const call = (vals: readonly unknown[]): Data | Promise<Data> => {
      run.setOutput([n]);
      let out: unknown;
      try {
        out = run(NaN, Infinity, ...vals);
      } catch (e) {
        throw new DeviceError(op, `gpu.js (${this.mode}) could not compile or run the ${op} kernel: ${(e as Error).message.split('\n')[0]}`);
      }
      if (run.kernel.constructor.name !== KERNEL_CLASS[this.mode]) {
        throw new NotImplementedError(op, `gpu.js moved this ${op} kernel from ${this.mode} to its ${run.kernel.constructor.name} fallback (${run.kernel.fallbackReason ?? 'no reason given'}); gpujs does not change modes silently, so the op is unsupported in ${this.mode} mode`);
      }
      return out as Data | Promise<Data>;
    };
    // An empty buffer (a zero-size input of a non-empty output, as a sum over no elements) is never read.
    const vals = args.map((a) => (typeof a === 'number' ? a : raw ? a.data ?? EMPTY : this.onDevice(a)));
    if (!this.async && !vals.some((v) => v instanceof Promise)) return call(vals);
    // gpu.js's WebGPU kernels read their (dynamic) output size only once they run, after an await: a
    // later launch's setOutput would resize an earlier one still in flight, so launches go one at a time.
    const out = Promise.all([this.previous, ...vals]).then(([, ...v]) => call(v));
    this.previous = out.then(() => undefined, () => undefined);
    this.tail = Promise.allSettled([this.tail, out]);
    return out;
  }

  /** Settles when the last launch issued has finished (async mode serialises launches on it). */
  private previous: Promise<unknown> = Promise.resolve();

  /** Counts `work` (a launch issued later) among the launches frees wait for. */
  pending<T>(work: Promise<T>): Promise<T> {
    this.tail = Promise.allSettled([this.tail, work]);
    return work;
  }

  /** Settles after every launch issued so far (async mode): frees wait for it, so no pending launch loses an input. */
  private tail: Promise<unknown> = Promise.resolve();

  /** A buffer holding `data` (copied: the caller's array stays its own). */
  upload(data: Float32Array): GBuffer {
    const copy = Float32Array.from(data);
    if (!this.gpuMode || copy.length === 0) return { data: copy.length ? copy : null, length: copy.length };
    return { data: this.toDevice(copy), length: copy.length };
  }

  /** GPU modes: an identity kernel moves a host array into device memory (once per buffer). */
  private toDevice(host: Float32Array): Data | Promise<Data> {
    return this.launch('tensor', 'upload', () => 'function (nanv, infv, a) { return a[this.thread.x]; }', host.length, [{ data: host, length: host.length }], true);
  }

  private get gpuMode(): boolean { return this.mode === 'headlessgl' || this.mode === 'webgpu'; }
  private emptyOnDevice: Data | Promise<Data> | undefined;

  /**
   * A kernel argument's data, in GPU modes always on the device: a buffer still holding host values
   * (fresh zeros from alloc) is uploaded first. gpu.js builds a kernel's argument slot for the kind
   * of value it first sees; an argument that is a texture in one call and a host array in the next
   * made it rebuild the slot at the host array's size, and a larger array later overflowed it.
   */
  private onDevice(buf: GBuffer): Data | Promise<Data> {
    if (!this.gpuMode) return buf.data ?? EMPTY;
    if (buf.data === null) return (this.emptyOnDevice ??= this.toDevice(EMPTY));
    if (buf.data instanceof Float32Array) buf.data = this.toDevice(buf.data);
    return buf.data;
  }

  /** `size` elements from `offset`, after every launch that writes the buffer. */
  async read(buf: GBuffer, offset: number, size: number): Promise<Float32Array> {
    const from = (buf.base ?? 0) + offset;
    const d = await buf.data;
    if (d === null || size === 0) return new Float32Array(size);
    const all = d instanceof Float32Array ? d : await d.toArray!();
    return Float32Array.from(all.subarray(from, from + size));
  }

  /**
   * All of a buffer's values: synchronously where gpu.js reads back synchronously (GL textures,
   * arrays), else a promise. Indexing routines validate their indices with it.
   */
  peek(buf: GBuffer): Float32Array | Promise<Float32Array> {
    const base = buf.base ?? 0;
    const own = (all: Float32Array) => (base === 0 && all.length === buf.length ? all : all.subarray(base, base + buf.length));
    const get = (d: Data): Float32Array | Promise<Float32Array> => {
      if (d === null) return new Float32Array(0);
      const all = d instanceof Float32Array ? d : d.toArray!();
      return all instanceof Promise ? all.then(own) : own(all);
    };
    return buf.data instanceof Promise ? buf.data.then(get) : get(buf.data);
  }

  /** Releases a buffer's device memory once whatever produces it has finished. */
  free(buf: GBuffer): void {
    this.dispose(buf.data);
    buf.data = null;
    buf.base = 0;
  }

  /** Textures held by several buffers (a group's result), with how many: each dispose drops one. */
  private readonly holders = new Map<Data, number>();

  private dispose(data: Data | Promise<Data>): void {
    const release = (d: Data) => {
      const held = d && this.holders.get(d);
      if (held) {
        if (held > 1) { this.holders.set(d!, held - 1); return; }
        this.holders.delete(d!);
      }
      if (d && !(d instanceof Float32Array)) d.delete?.();
    };
    if (data instanceof Promise || this.async) {
      const d = data;
      this.tail.then(() => d).then(release, () => {});
    } else release(data);
  }

  /**
   * Makes `result` (the launch's values in row-major order of out.shape) the contents of view `out`:
   * adopted as the buffer when the view is the whole buffer in row-major order, else merged into it
   * (dense views compute their positions in the kernel, others read a position map built once here).
   */
  commit(op: string, out: View, result: Data | Promise<Data>): void {
    if (!this.place(op, out, result, 0)) this.dispose(result);
  }

  /**
   * Puts values [resultBase, resultBase + n) of `result` (row-major over out.shape) into view `out`:
   * adopted as its buffer's data (true: the buffer now holds `result`) when the view is the whole
   * buffer in row-major order, else merged into a new texture (false: `result` is the caller's still).
   */
  private place(op: string, out: View, result: Data | Promise<Data>, resultBase: number): boolean {
    const buf = out.buffer as GBuffer;
    const n = out.shape.reduce((a, b) => a * b, 1);
    if (n === 0) return false;
    const old = buf.data, oldBase = buf.base ?? 0;
    const res: GBuffer = { data: result, length: n };
    if (out.offset === 0 && n === buf.length && isRowMajor(out.shape, out.strides)) {
      buf.data = result;
      buf.base = resultBase;
      this.dispose(old);
      return true;
    }
    // A partial write merges into the old contents, on the device (see onDevice).
    // In the GPU modes a buffer still on the host is alloc's zeros: the merge writes zeros there
    // itself instead of uploading them first (scatterAdd into fresh zeros, a slice of a new tensor).
    const fresh = this.gpuMode && old instanceof Float32Array;
    const prior = fresh ? EMPTY : this.gpuMode ? this.onDevice(buf) : old;
    const keep = (at: string) => (fresh ? '0.0' : `old[${at}]`);
    const dense = denseOrder(out.shape, out.strides);
    // Words: the old contents' base, the result's, then the view's.
    if (dense) {
      const R = dense.length;
      const terms = dense.map((_, j) => `li = li + (Math.floor(q / m${4 + 3 * j}) % m${5 + 3 * j}) * m${6 + 3 * j};`);
      const src = `function (nanv, infv, old, res, ${['m0', 'm1', 'm2', 'm3', ...dense.flatMap((_, j) => [`m${4 + 3 * j}`, `m${5 + 3 * j}`, `m${6 + 3 * j}`])].join(', ')}) {
  const q = this.thread.x - m2;
  if (q < 0.0 || q >= m3) { return ${keep('m0 + this.thread.x')}; }
  let li = 0.0;
  ${terms.join('\n  ')}
  return res[m1 + li];
}`;
      const words = [oldBase, resultBase, out.offset, n, ...dense.flatMap((d) => [d.stride, d.size, d.logical])];
      buf.data = this.launch(op, `merge|dense|${R}|${fresh}`, () => src, buf.length, [{ data: prior, length: buf.length }, res, ...words], fresh);
    } else {
      const key = `${buf.length}|${out.offset}|${out.shape.join(',')}|${out.strides.join(',')}`;
      let map = this.maps.get(key);
      if (map === undefined) {
        const m = new Float32Array(buf.length).fill(-1);
        let li = 0;
        forEachOffset(out.shape, out.strides, out.offset, (p) => { m[p] = li++; });
        map = this.upload(m).data as Data;
        this.maps.set(key, map);
      }
      const src = `function (nanv, infv, old, res, map, m0, m1) { const j = map[this.thread.x]; if (j < 0.0) { return ${keep('m0 + this.thread.x')}; } return res[m1 + j]; }`;
      buf.data = this.launch(op, `merge|map|${fresh}`, () => src, buf.length, [{ data: prior, length: buf.length }, res, { data: map, length: buf.length }, oldBase, resultBase], fresh);
    }
    buf.base = 0;
    if (!fresh) this.dispose(prior);
    return false;
  }

  /**
   * Puts a horizontal group's result (its members' values one after another, member j's from
   * `starts[j]`) into the members' views. Members that fill a buffer, contiguous and in order (an
   * optimizer's state in one buffer, a parameter each), make it a range of the result's texture, with
   * no pass over memory; the rest merge, one pass per buffer where its members are one contiguous
   * range, else one per member.
   */
  placeGroup(op: string, views: readonly View[], starts: readonly number[], result: Data | Promise<Data>): void {
    let holders = 0;
    const byBuffer = new Map<GBuffer, number[]>();
    views.forEach((v, j) => { const b = v.buffer as GBuffer; byBuffer.set(b, [...(byBuffer.get(b) ?? []), j]); });
    for (const [b, members] of byBuffer) {
      const sizes = members.map((j) => views[j]!.shape.reduce((x, y) => x * y, 1));
      const contiguous = members.every((j) => isRowMajor(views[j]!.shape, views[j]!.strides));
      const shift = starts[members[0]!]! - views[members[0]!]!.offset;
      const lo = Math.min(...members.map((j) => views[j]!.offset));
      const total = sizes.reduce((x, y) => x + y, 0);
      // One shift and no gaps: the members are [lo, lo + total) of the buffer, at [lo + shift, ...) of the result.
      if (contiguous && members.every((j) => starts[j]! - views[j]!.offset === shift) && total === Math.max(...members.map((j, i) => views[j]!.offset + sizes[i]!)) - lo) {
        const range: View = { buffer: b, dtype: views[members[0]!]!.dtype, offset: lo, shape: [total], strides: [1] };
        if (this.place(op, range, result, lo + shift)) holders++;
      } else {
        for (const j of members) if (this.place(op, views[j]!, result, starts[j]!)) holders++;
      }
    }
    if (holders === 0) this.dispose(result);
    else if (holders > 1) this.holders.set(result as Data, holders);
  }
}

function isRowMajor(shape: readonly number[], strides: readonly number[]): boolean {
  let want = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] !== 1 && strides[d] !== want) return false;
    want *= shape[d]!;
  }
  return true;
}

/**
 * For a view whose elements fill [offset, offset + n) (a permutation of a row-major layout), each dim
 * in decreasing stride order with its stride, size and row-major (logical) stride; else undefined.
 */
function denseOrder(shape: readonly number[], strides: readonly number[]): { stride: number; size: number; logical: number }[] | undefined {
  const logical: number[] = [];
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) { logical[d] = acc; acc *= shape[d]!; }
  const dims = shape.map((size, d) => ({ stride: strides[d]!, size, logical: logical[d]! })).filter((d) => d.size !== 1).sort((a, b) => b.stride - a.stride);
  let want = 1;
  for (let j = dims.length - 1; j >= 0; j--) {
    if (dims[j]!.stride !== want) return undefined;
    want *= dims[j]!.size;
  }
  return dims;
}

function forEachOffset(shape: readonly number[], strides: readonly number[], offset: number, fn: (p: number) => void): void {
  const rec = (d: number, p: number): void => {
    if (d === shape.length) { fn(p); return; }
    for (let i = 0; i < shape[d]!; i++) rec(d + 1, p + i * strides[d]!);
  };
  rec(0, offset);
}

const runtimes = new Map<Mode, Promise<Runtime>>();

/** Opens (once per mode) a gpu.js instance in that mode, or says why it cannot run here. */
export function openRuntime(opt: GpuJsOptions = {}): Promise<Runtime> {
  const mode = opt.mode ?? (process.env['TESSERA_GPUJS_MODE'] as Mode | undefined) ?? 'headlessgl';
  if (!MODES.includes(mode)) return Promise.reject(new DeviceError('gpujs', `unknown gpu.js mode '${mode}' (have: ${MODES.join(', ')})`));
  let r = runtimes.get(mode);
  if (!r) {
    r = open(mode);
    runtimes.set(mode, r);
    r.catch(() => runtimes.delete(mode));
  }
  return r;
}

const require = createRequire(import.meta.url);
/** Dawn's GPU object must outlive every device opened from it (a collected instance crashes Dawn). */
let dawn: unknown;

async function open(mode: Mode): Promise<Runtime> {
  let description: string = mode;
  if (mode === 'headlessgl') {
    const why = await glProblem();
    if (why) throw new DeviceError('gpujs', `gpu.js's headlessgl mode cannot run: ${why}`);
  }
  if (mode === 'webgpu') {
    process.env['XDG_RUNTIME_DIR'] ??= '/tmp';
    // gpu.js reads navigator.gpu; its own pinned webgpu@0.2.9 does not load here, so Dawn comes from npm webgpu 0.6.
    const { create, globals } = await import('webgpu');
    Object.assign(globalThis, globals);
    dawn ??= create([]);
    const nav = (globalThis as { navigator?: { gpu?: unknown } }).navigator;
    if (nav) { if (!nav.gpu) Object.defineProperty(nav, 'gpu', { value: dawn, configurable: true }); } else Object.defineProperty(globalThis, 'navigator', { value: { gpu: dawn }, configurable: true });
    const adapter = await (dawn as GPU).requestAdapter();
    if (!adapter) throw new DeviceError('gpujs', "gpu.js's webgpu mode cannot run: no WebGPU adapter (on Linux without a GPU, Mesa >= 25's lavapipe; npm test's setup installs it as root)");
    description = `webgpu (${adapter.info.description || adapter.info.vendor || 'adapter'})`;
  }
  const { GPU } = require('gpu.js') as { GPU: new (s: object) => GpuJs & { Kernel: { name: string } } };
  let gpu: GpuJs & { Kernel: { name: string } };
  try {
    gpu = new GPU({ mode });
  } catch (e) {
    throw new DeviceError('gpujs', `gpu.js refused mode '${mode}': ${(e as Error).message}`);
  }
  if (gpu.Kernel.name !== KERNEL_CLASS[mode]) throw new DeviceError('gpujs', `gpu.js chose ${gpu.Kernel.name} for mode '${mode}'`);
  if (mode === 'headlessgl') description = `headlessgl (${glRenderer()})`;
  return new Runtime(mode, gpu, description, mode === 'headlessgl' ? glTextureUnits() : undefined);
}

let keepAlive: unknown;

/** Textures a fragment shader samples (gpu.js's contexts are made like this one): past it, GL reads wrong values silently. */
function glTextureUnits(): number {
  const gl = keepAlive as { MAX_TEXTURE_IMAGE_UNITS: number; getParameter(p: number): unknown };
  return Number(gl.getParameter(gl.MAX_TEXTURE_IMAGE_UNITS));
}

/** Why headless WebGL cannot run, or undefined when it can (gpu.js itself would quietly pick another mode). */
async function glProblem(): Promise<string | undefined> {
  let createGL: (w: number, h: number) => unknown;
  try {
    createGL = require('gl') as typeof createGL;
  } catch (e) {
    return `the npm package 'gl' is not built (${(e as Error).message.split('\n')[0]}); install libxi-dev libglu1-mesa-dev libglew-dev pkg-config and run \`npm rebuild gl\` (npm test's setup does, as root)`;
  }
  const { reason } = await ensureDisplay();
  if (reason) return reason;
  // Kept open for the process lifetime: a private Xvfb exits when its last client goes (see display.ts).
  keepAlive = createGL(1, 1);
  if (!keepAlive) return `'gl' could not create a context on X display ${process.env['DISPLAY']}`;
  return undefined;
}

function glRenderer(): string {
  type GL = { VERSION: number; RENDERER: number; getParameter(p: number): string; getExtension(n: string): unknown };
  const gl = (require('gl') as (w: number, h: number) => GL | null)(1, 1);
  if (!gl) return 'no context';
  const r = `${gl.getParameter(gl.VERSION)}, ${gl.getParameter(gl.RENDERER)}`;
  (gl.getExtension('STACKGL_destroy_context') as { destroy(): void } | null)?.destroy();
  return r;
}
