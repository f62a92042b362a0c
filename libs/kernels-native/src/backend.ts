/**
 * The native CPU backend: the pure-JS backend with its hot kernels replaced by the Rust addon. Storage
 * stays plain typed arrays (zero copy: the addon reads and writes them in place), so the two backends
 * can hand tensors to each other freely and anything the addon lacks runs on the JS kernels.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isMainThread } from 'node:worker_threads';
import { type Backend, type ElementwiseKernel, type ElementwiseLaunch, type Epilogue, type MatmulLaunch, type ReduceKernel, type ReduceLaunch, type View, extent, jsBackend } from '@tessera/tensor';
import { type Conv2dPlan, type DType, IndexError, type Pool2dPlan } from '@tessera/ops';
import { CCompiler, type CcMode, type ViewShape, emitC, signatureOf } from './cc.js';
import { type Bytecode, DTYPE_CODE, encode } from './interp.js';
import { locateAddon } from './locate.js';

/** Storage as the addon takes it: any typed array (element sizes come from the kernel). */
type Storage = ArrayBufferView;

/** An epilogue as the addon takes it (rust with_epilogue): its compiled function's id (-1: interpret), its launch block and length, its output and leaf arrays. */
type EpilogueArgs = [compiled: number, block: Float64Array, used: number, outs: Storage[], leaves: Storage[]];

interface Addon {
  elementwise(kernel: number, launch: Float64Array, used: number, out: Storage, a?: Storage, b?: Storage, c?: Storage): void;
  fusedProgram(program: Float64Array, used: number): number;
  fused(launch: Float64Array, used: number, outs: Storage[], leaves: Storage[]): void;
  fusedCompiled(id: number, launch: Float64Array, used: number, outs: Storage[], leaves: Storage[]): void;
  fusedGroup(ids: number[], launch: Float64Array, used: number, outs: Storage[], leaves: Storage[]): void;
  ccLoad(path: string, symbols: string[], signatures: string[]): number[];
  matmul(dtype: string, a: Uint8Array, b: Uint8Array, out: Uint8Array, offsets: Float64Array,
    m: number, k: number, n: number, aRs: number, aCs: number, bRs: number, bCs: number): void;
  kernelCount(): number[];
  simdIsa(): string;
  tuneHostAllocator(): boolean;
  joinThreadPool(): boolean;
  reduce(kernel: number, launch: Float64Array, used: number, x: Storage, out: Storage): void;
  conv2d(dtype: string, x: Uint8Array, w: Uint8Array, bias: Uint8Array | undefined, out: Uint8Array, plan: Float64Array, offsets: Float64Array, ...epilogue: EpilogueArgs | []): void;
  conv2dBackward(dtype: string, grad: Uint8Array, x: Uint8Array, w: Uint8Array, gx: Uint8Array | undefined, gw: Uint8Array | undefined, gb: Uint8Array | undefined, plan: Float64Array, offsets: Float64Array): void;
  unfold(dtype: string, src: Uint8Array, dst: Uint8Array, plan: Float64Array, offsets: Float64Array, adjoint: boolean): void;
  pool2d(dtype: string, x: Uint8Array, out: Uint8Array, indices: Uint8Array | undefined, plan: Float64Array, offsets: Float64Array, max: boolean, countIncludePad: boolean): void;
  softmaxRows(dtype: string, x: Uint8Array, out: Uint8Array, rows: number, n: number, offsets: Float64Array, log: boolean): void;
  layerNormRows(dtype: string, x: Uint8Array, out: Uint8Array, weight: Uint8Array | undefined, bias: Uint8Array | undefined, rows: number, n: number, offsets: Float64Array, eps: number): void;
  matmulEpilogue(dtype: string, a: Uint8Array, b: Uint8Array, out: Uint8Array, offsets: Float64Array, m: number, k: number, n: number, aRs: number, aCs: number, bRs: number, bCs: number,
    ...epilogue: EpilogueArgs): void;
  softmaxBackwardRows(dtype: string, gx: Uint8Array, grad: Uint8Array, y: Uint8Array, rows: number, n: number, offsets: Float64Array, log: boolean, ...epilogue: EpilogueArgs | []): void;
  layerNormBackwardRows(dtype: string, gx: Uint8Array | undefined, gw: Uint8Array | undefined, gb: Uint8Array | undefined, grad: Uint8Array, x: Uint8Array, weight: Uint8Array | undefined, rows: number, n: number, offsets: Float64Array, eps: number, ...epilogue: EpilogueArgs | []): void;
  maxPool2dBackward(dtype: string, gx: Uint8Array, grad: Uint8Array, indices: Uint8Array, planes: number, hw: number, l: number, offsets: Float64Array, ...epilogue: EpilogueArgs | []): void;
  scatterAddRows(dtype: string, out: Uint8Array, index: Uint8Array, src: Uint8Array, rows: number, n: number, k: number, offsets: Float64Array): void;
  indexRows(out: Uint8Array, x: Uint8Array, index: Uint8Array, indexDtype: string, rows: number, row: number, size: number, elem: number, offsets: Float64Array): void;
  indexAddRows(dtype: string, out: Uint8Array, index: Uint8Array, src: Uint8Array, rows: number, row: number, size: number, offsets: Float64Array): void;
  gatherRows(out: Uint8Array, x: Uint8Array, index: Uint8Array, rows: number, n: number, k: number, elem: number, dim: number, offsets: Float64Array): void;
}


const packPlan = (p: Conv2dPlan): Float64Array =>
  Float64Array.of(p.n, p.c, p.h, p.w, p.o, p.kh, p.kw, p.stride[0], p.stride[1], p.padding[0], p.padding[1], p.dilation[0], p.dilation[1], p.groups, p.oh, p.ow);
const floating = (...vs: (View | undefined)[]): boolean => vs.every((v) => !v || v.dtype === 'float32' || v.dtype === 'float64');

/** Below this many elements the JS kernel wins: where float32 add, mul, relu and sum cross over on the CI machine (a native call costs ~1 us). */
export const NATIVE_MIN_ELEMENTS = 1024;
/**
 * The same for kernels with an int64 operand, which the JS kernels compute in BigInt (~20x slower an
 * element): native from here (an int64 eq over 320 elements: 8.8 us in JS, 1.9 us native).
 */
export const NATIVE_MIN_ELEMENTS_INT64 = 64;
const isInt64 = (v: View): boolean => v.dtype === 'int64';

/** The addon and its catalog, or why they cannot be used. */
interface Catalog { elementwise: Record<string, number>; reduce: Record<string, number> }

/** The addon module itself (its CPU kernels, and device 'cuda''s entry points), or why it cannot load. */
export function loadAddonModule(): Record<string, unknown> | string {
  const file = locateAddon();
  if (typeof file === 'string') return file;
  try {
    return createRequire(import.meta.url)(file.path) as Record<string, unknown>;
  } catch (e) {
    return `the addon failed to load: ${(e as Error).message.split('\n')[0]}`;
  }
}

function load(): { addon: Addon; catalog: Catalog } | string {
  if (process.env['TESSERA_NATIVE'] === '0') return 'disabled by TESSERA_NATIVE=0';
  const file = locateAddon();
  if (typeof file === 'string') return file;
  const catalogFile = new URL('./catalog.json', import.meta.url);
  if (!existsSync(catalogFile)) return 'its kernel catalog is missing (run npm run build -w @tessera/kernels-native)';
  // Only a local build can be older than the catalog; a packed one carries npm's fixed timestamps.
  if (file.local && statSync(catalogFile).mtimeMs > statSync(file.path).mtimeMs) return 'the addon is older than its kernel catalog: rebuild it';
  const module = loadAddonModule();
  if (typeof module === 'string') return module;
  const addon = module as unknown as Addon;
  const catalog = JSON.parse(readFileSync(catalogFile, 'utf8')) as Catalog;
  const counts = [new Set(Object.values(catalog.elementwise ?? {})).size, Object.keys(catalog.reduce ?? {}).length];
  const have = addon.kernelCount();
  if (have[0] !== counts[0] || have[1] !== counts[1]) return `the addon has ${have.join('/')} kernels but its catalog ${counts.join('/')}: rebuild it`;
  return { addon, catalog };
}

const bytes = (v: View): Uint8Array => {
  const a = v.buffer as Float32Array;
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
};
/** Bytes per element of a view's array (rows copied as bytes, whatever the dtype). */
const elemBytes = (v: View): number => (v.buffer as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
/** Row-major with no gaps (size-1 dims may have any stride). */
const contiguous = (v: View): boolean => {
  let expected = 1;
  for (let i = v.shape.length - 1; i >= 0; i--) {
    if (v.shape[i] !== 1 && v.strides[i] !== expected) return false;
    expected *= v.shape[i]!;
  }
  return true;
};

/**
 * What a compiled fused kernel assumes of its views (cc.ts signatureOf: each view's dtype and whether
 * its last dim steps by 0, 1 or more) as one number, a digit of 3 * 6 per view: found per launch
 * without building the signature's string. Past 12 views, beyond exact integers, the string.
 */
function viewKey(views: readonly View[], rank: number): number | string {
  const digit = (v: View): number | undefined => {
    const step = rank === 0 ? 0 : v.strides[rank - 1]!, code = DTYPE_CODE[v.dtype];
    return code === undefined ? undefined : code * 3 + (step === 0 ? 0 : step === 1 ? 1 : 2);
  };
  let key = 0;
  for (let i = 0; i < views.length && key !== -1; i++) {
    const d = digit(views[i]!);
    key = d === undefined || views.length > 12 ? -1 : key * 18 + d;
  }
  return key !== -1 ? key : views.map((v) => `${v.dtype}:${digit(v) ?? '?'}`).join(',');
}

/** Throws, as the addon's check does, where view `v` reaches outside its array over `shape`. */
function within(what: string, v: View, shape: readonly number[]): void {
  if (shape.includes(0)) return;
  const [lo, hi] = extent(shape, v.strides, v.offset);
  const length = (v.buffer as { length?: number }).length ?? 0;
  if (lo < 0 || hi >= length) throw new Error(`${what}: view [${lo}, ${hi}] is outside its buffer of ${length} elements`);
}

/** The native backend, with the compiler of its fused kernels (whose counts say how they ran). */
export type NativeBackend = Backend & { readonly compiler: CCompiler };

/**
 * `minElements`: the size from which elementwise ops go native (0 sends everything there, for
 * testing); `cc`: whether fused kernels are compiled to C (cc.ts; default from TESSERA_CC).
 */
export function createNativeBackend(opt: { minElements?: number; cc?: CcMode } = {}): NativeBackend | string {
  const minElements = opt.minElements ?? NATIVE_MIN_ELEMENTS;
  /** Whether a launch over `n` elements is small enough for the JS kernel; `int64`: whether an operand is int64 (asked only then). */
  const small = (n: number, int64: () => boolean): boolean => n < minElements && (n < NATIVE_MIN_ELEMENTS_INT64 || !int64());
  const loaded = load();
  if (typeof loaded === 'string') return loaded;
  const { addon, catalog } = loaded;
  addon.tuneHostAllocator();
  // Node's main thread works in the kernels' parallel loops (rust join_thread_pool); a backend made
  // on a worker thread leaves the pool to whichever thread builds it.
  if (isMainThread) addon.joinThreadPool();

  // Launch blocks are written into one reused array (calls are synchronous) and passed with their
  // length: a kernel call allocates nothing. Kernel ids are found once per kernel object.
  let block = new Float64Array(256);
  let used = 0;
  const put = (v: number): void => {
    if (used === block.length) { const bigger = new Float64Array(block.length * 2); bigger.set(block); block = bigger; }
    block[used++] = v;
  };
  const putAll = (vs: readonly number[]): void => { for (let i = 0; i < vs.length; i++) put(vs[i]!); };
  const ids = new Map<ElementwiseKernel | ReduceKernel, number | undefined>();
  const idOf = (k: ElementwiseKernel | ReduceKernel, table: Record<string, number>): number | undefined => {
    let id = ids.get(k);
    if (id === undefined && !ids.has(k)) ids.set(k, (id = table[k.id]));
    return id;
  };
  const size = (shape: readonly number[]): number => { let n = 1; for (let i = 0; i < shape.length; i++) n *= shape[i]!; return n; };

  // Kernels outside the catalog (compile's fused ones) run as bytecode, encoded once per kernel id,
  // and as C compiled from that bytecode once the system compiler has made it (cc.ts).
  const bytecode = new Map<string, Bytecode | undefined>();
  const compiler = new CCompiler(addon, opt.cc);
  /** Compiled functions found ready, by kernel and viewKey (a plan's kernels are the same objects every call). */
  const ready = new WeakMap<ElementwiseKernel, Map<number | string, number>>();
  /** The compiled function for `b` over these views, if ready. */
  function compiled(k: ElementwiseKernel, b: Bytecode, views: readonly View[], leaves: number, rank: number): number | undefined {
    const key = viewKey(views, rank);
    const known = ready.get(k)?.get(key);
    if (known !== undefined) return known;
    const shapes: ViewShape[] = views.map((v) => {
      const step = rank === 0 ? 0 : v.strides[rank - 1]!;
      return { dtype: DTYPE_CODE[v.dtype]!, step: step === 0 || step === 1 ? step : '*' };
    });
    const signature = signatureOf(shapes);
    const id = compiler.lookup(`${k.id}|${signature}`, signature, (name) => emitC(b, shapes, leaves, name));
    if (id !== undefined) (ready.get(k) ?? ready.set(k, new Map()).get(k)!).set(key, id);
    return id;
  }
  const bytecodeOf = (k: ElementwiseKernel): Bytecode | undefined => {
    let b = bytecode.get(k.id);
    if (b === undefined && !bytecode.has(k.id)) bytecode.set(k.id, (b = encode(k)));
    return b;
  };
  // Each program is registered with the addon once, which parses and checks it there; launches name it by number.
  const programs = new WeakMap<Bytecode, number>();
  /** Puts program `b`'s number into the block (rust/lib.rs read_program), registering it the first time. */
  function packProgram(b: Bytecode): void {
    let id = programs.get(b);
    if (id === undefined) {
      // Its own array: the block may already hold the start of the launch being packed.
      const packed = Float64Array.of(b.wide ? 1 : 0, b.regs, b.code.length / 5, b.consts.length, ...b.code, ...b.consts);
      programs.set(b, (id = addon.fusedProgram(packed, packed.length)));
    }
    put(id);
  }
  /** Packs launch `l` of `b` into the block (with_fused_launch) and returns its compiled kernel's id, if ready. */
  function packLaunch(k: ElementwiseKernel, b: Bytecode, l: ElementwiseLaunch, outs: readonly View[]): number | undefined {
    const views = [...l.inputs, ...outs];
    put(l.params.length); putAll(l.params);
    put(l.shape.length); put(l.inputs.length); put(outs.length); putAll(l.shape);
    for (const v of views) { put(DTYPE_CODE[v.dtype]!); put(v.offset); putAll(v.strides); }
    const id = compiler.mode === 'off' ? undefined : compiled(k, b, views, l.inputs.length, l.shape.length);
    if (id === undefined) compiler.launches.interpreted++; else compiler.launches.compiled++;
    return id;
  }
  function fused(k: ElementwiseKernel, l: ElementwiseLaunch): boolean {
    const b = bytecodeOf(k);
    if (!b) return false;
    used = 0;
    const outs = [l.out, ...(l.outs ?? [])];
    packProgram(b);
    const id = packLaunch(k, b, l, outs);
    const buffers = [outs.map((v) => v.buffer as Storage), l.inputs.map((v) => v.buffer as Storage)] as const;
    if (id === undefined) addon.fused(block, used, ...buffers);
    else addon.fusedCompiled(id, block, used, ...buffers);
    return true;
  }
  // Horizontal groups (compile's group.ts): the launches of one fused kernel in one call into the addon (small ones on the JS kernels).
  const groupable = (k: ElementwiseKernel): boolean => k.id.startsWith('fused:') && bytecodeOf(k) !== undefined;
  /** Whether launch `l` is small enough for the JS kernels (as `elementwise` routes single launches). */
  const smallLaunch = (l: ElementwiseLaunch): boolean => small(size(l.shape), () => isInt64(l.out) || l.inputs.some(isInt64) || (l.outs?.some(isInt64) ?? false));
  function elementwiseGroup(k: ElementwiseKernel, all: readonly ElementwiseLaunch[]): void {
    const b = bytecodeOf(k);
    if (!b) throw new Error(`native: kernel ${k.id} cannot run as a group (an internal error: the scheduler asks groupable first)`);
    // The group's small launches (an optimizer's biases) run on the JS kernels, as they would alone:
    // below that size crossing into the addon costs more than the work. The members are independent
    // (group.ts), so which runs first does not matter; the JS ones run last, after the addon has
    // checked the rest, and are checked here first, so a bad launch still stops the group before
    // any member writes.
    if (!all.some(smallLaunch)) return groupInAddon(k, b, all);
    const inJs = all.filter(smallLaunch), launches = all.filter((l) => !smallLaunch(l));
    for (const l of inJs) for (const v of [l.out, ...(l.outs ?? []), ...l.inputs]) within('fused group', v, l.shape);
    if (launches.length === 1) elementwise(k, launches[0]!);
    else if (launches.length > 1) groupInAddon(k, b, launches);
    for (const l of inJs) jsBackend.elementwise(k, l);
  }
  function groupInAddon(k: ElementwiseKernel, b: Bytecode, launches: readonly ElementwiseLaunch[]): void {
    used = 0;
    put(launches.length);
    packProgram(b);
    const ids: number[] = [], outBuffers: Storage[] = [], leafBuffers: Storage[] = [];
    for (const l of launches) {
      const outs = [l.out, ...(l.outs ?? [])];
      ids.push(packLaunch(k, b, l, outs) ?? -1);
      for (const v of outs) outBuffers.push(v.buffer as Storage);
      for (const v of l.inputs) leafBuffers.push(v.buffer as Storage);
    }
    addon.fusedGroup(ids, block, used, outBuffers, leafBuffers);
  }

  function elementwise(k: ElementwiseKernel, l: ElementwiseLaunch): void {
    if (smallLaunch(l)) return jsBackend.elementwise(k, l);
    const id = idOf(k, catalog.elementwise);
    if (id === undefined) { if (!fused(k, l)) jsBackend.elementwise(k, l); return; }
    const { out, inputs } = l;
    used = 0;
    put(l.shape.length); put(out.offset);
    for (const v of inputs) put(v.offset);
    putAll(l.shape); putAll(out.strides);
    for (const v of inputs) putAll(v.strides);
    putAll(l.params);
    addon.elementwise(id, block, used, out.buffer as Storage, inputs[0]?.buffer as Storage | undefined, inputs[1]?.buffer as Storage | undefined, inputs[2]?.buffer as Storage | undefined);
  }

  function reduce(k: ReduceKernel, l: ReduceLaunch): void {
    const id = idOf(k, catalog.reduce);
    if (id === undefined || small(size(l.outer) * size(l.inner), () => isInt64(l.input) || isInt64(l.out))) return jsBackend.reduce(k, l);
    used = 0;
    put(l.outer.length); put(l.inner.length); put(l.input.offset); put(l.out.offset);
    putAll(l.outer); putAll(l.inner); putAll(l.input.strides); putAll(l.out.strides); putAll(l.params);
    addon.reduce(id, block, used, l.input.buffer as Storage, l.out.buffer as Storage);
  }

  function matmul(l: MatmulLaunch): void {
    const { out, a, b, m, k, n, epilogue } = l;
    if ((out.dtype !== 'float32' && out.dtype !== 'float64') || a.dtype !== out.dtype || b.dtype !== out.dtype) {
      jsBackend.routines.matmul!({ out, a, b, m, k, n });
      return thenEpilogue(epilogue);
    }
    const r = a.shape.length;
    const args = [out.dtype, bytes(a), bytes(b), bytes(out), productOffsets(a, b, out), m, k, n, a.strides[r - 2]!, a.strides[r - 1]!, b.strides[r - 2]!, b.strides[r - 1]!] as const;
    if (epilogue) addon.matmulEpilogue(...args, ...epilogueArgs(epilogue));
    else addon.matmul(...args);
  }

  /** The element offsets of a, b and out for each product of a (batched) matmul, batch dims row-major. */
  function productOffsets(a: View, b: View, out: View): Float64Array {
    const batch = out.shape.length - 2;
    let count = 1;
    for (let d = 0; d < batch; d++) count *= out.shape[d]!;
    const offsets = new Float64Array(3 * count);
    for (let t = 0; t < count; t++) {
      let [oa, ob, oo] = [a.offset, b.offset, out.offset];
      for (let d = batch - 1, rest = t; d >= 0; d--) {
        const i = rest % out.shape[d]!;
        rest = (rest - i) / out.shape[d]!;
        oa += i * a.strides[d]!; ob += i * b.strides[d]!; oo += i * out.strides[d]!;
      }
      offsets[3 * t] = oa; offsets[3 * t + 1] = ob; offsets[3 * t + 2] = oo;
    }
    return offsets;
  }

  /**
   * Epilogues: matmul, softmaxBackward and layerNormBackward run fused kernels over their float
   * results as they complete blocks of rows (rust/lib.rs rows_then_epilogue); conv2d and max
   * pooling's gradient over their whole result right after computing it, in the same call (a ReLU
   * and its gradient around a convolution). Where the routine itself falls back to its JS kernel (a
   * layout or dtype mix the addon does not take, which compiled steps do not produce), the epilogue
   * runs right after it instead.
   */
  const fusesEpilogue = (routine: string, dtype: DType, k: ElementwiseKernel): boolean =>
    ['matmul', 'softmaxBackward', 'layerNormBackward', 'conv2d', 'maxPool2dBackward'].includes(routine) && (dtype === 'float32' || dtype === 'float64') && bytecodeOf(k) !== undefined;
  /** Epilogue e's program and launch, packed as for `fused`, with its arrays. */
  function epilogueArgs(e: Epilogue): EpilogueArgs {
    const code = bytecodeOf(e.kernel)!;
    const outs = [e.launch.out, ...(e.launch.outs ?? [])];
    used = 0;
    packProgram(code);
    const id = packLaunch(e.kernel, code, e.launch, outs);
    return [id ?? -1, block, used, outs.map((v) => v.buffer as Storage), e.launch.inputs.map((v) => v.buffer as Storage)];
  }
  /** Runs an epilogue on its own: after a routine that fell back to its JS kernel. */
  const thenEpilogue = (e: Epilogue | undefined): void => { if (e) elementwise(e.kernel, e.launch); };

  // The routines receive contiguous operands (the dispatcher's contract for conv2d/unfold/fold).
  function conv2d(out: View, x: View, w: View, bias: View | undefined, p: Conv2dPlan, epilogue?: Epilogue): void {
    if (!floating(out, x, w, bias)) { jsBackend.routines.conv2d!(out, x, w, bias, p); thenEpilogue(epilogue); return; }
    addon.conv2d(out.dtype, bytes(x), bytes(w), bias && bytes(bias), bytes(out), packPlan(p), Float64Array.of(x.offset, w.offset, bias?.offset ?? 0, out.offset),
      ...(epilogue ? epilogueArgs(epilogue) : []));
  }
  /** float32/float64 operands of one dtype; anything else is left to the composed gradient. */
  function conv2dBackward(gx: View | undefined, gw: View | undefined, gb: View | undefined, grad: View, x: View, w: View, p: Conv2dPlan): boolean {
    if (!floating(grad, x, w, gx, gw, gb) || [gx, gw, gb, x, w].some((v) => v && v.dtype !== grad.dtype)) return false;
    addon.conv2dBackward(grad.dtype, bytes(grad), bytes(x), bytes(w), gx && bytes(gx), gw && bytes(gw), gb && bytes(gb), packPlan(p),
      Float64Array.of(grad.offset, x.offset, w.offset, gx?.offset ?? 0, gw?.offset ?? 0, gb?.offset ?? 0));
    return true;
  }
  const unfoldLike = (adjoint: boolean) => (out: View, src: View, p: Conv2dPlan): void => {
    if (!floating(out, src)) return (adjoint ? jsBackend.routines.fold! : jsBackend.routines.unfold!)(out, src, p);
    addon.unfold(out.dtype, bytes(src), bytes(out), packPlan(p), Float64Array.of(src.offset, out.offset), adjoint);
  };

  /** Along the last dim of contiguous operands (the common case): rows in the addon; otherwise the JS kernel. */
  function softmax(out: View, x: View, dim: number, log: boolean): void {
    const r = x.shape.length;
    if (r === 0 || dim !== r - 1 || !floating(out, x) || out.dtype !== x.dtype || out.buffer === x.buffer || !contiguous(out) || !contiguous(x)) {
      return jsBackend.routines.softmax!(out, x, dim, log);
    }
    const n = x.shape[r - 1]!;
    addon.softmaxRows(x.dtype, bytes(x), bytes(out), n === 0 ? 0 : x.shape.reduce((a, b) => a * b, 1) / n, n, Float64Array.of(x.offset, out.offset), log);
  }

  /** Along the last dim of contiguous operands of one dtype: rows in the addon; otherwise the JS kernel. */
  function softmaxBackward(gx: View, grad: View, y: View, dim: number, log: boolean, epilogue?: Epilogue): void {
    const r = y.shape.length;
    if (r === 0 || dim !== r - 1 || !floating(gx, grad, y) || grad.dtype !== y.dtype || gx.dtype !== y.dtype || ![gx, grad, y].every(contiguous)) {
      jsBackend.routines.softmaxBackward!(gx, grad, y, dim, log);
      return thenEpilogue(epilogue);
    }
    const n = y.shape[r - 1]!;
    addon.softmaxBackwardRows(y.dtype, bytes(gx), bytes(grad), bytes(y), n === 0 ? 0 : y.shape.reduce((a, b) => a * b, 1) / n, n, Float64Array.of(gx.offset, grad.offset, y.offset), log,
      ...(epilogue ? epilogueArgs(epilogue) : []));
  }

  function layerNorm(out: View, x: View, weight: View | undefined, bias: View | undefined, inner: number, eps: number): void {
    const same = [out, weight, bias].every((v) => !v || v.dtype === x.dtype);
    if (!floating(out, x, weight, bias) || !same || out.buffer === x.buffer || !contiguous(out) || !contiguous(x) || inner === 0) {
      return jsBackend.routines.layerNorm!(out, x, weight, bias, inner, eps);
    }
    const rows = x.shape.reduce((a, b) => a * b, 1) / inner;
    addon.layerNormRows(x.dtype, bytes(x), bytes(out), weight && bytes(weight), bias && bytes(bias), rows, inner,
      Float64Array.of(x.offset, out.offset, weight?.offset ?? 0, bias?.offset ?? 0), eps);
  }

  function layerNormBackward(gx: View | undefined, gw: View | undefined, gb: View | undefined, grad: View, x: View, weight: View | undefined, inner: number, eps: number, epilogue?: Epilogue): void {
    const views = [gx, gw, gb, grad, x, weight];
    if (!floating(...views) || !views.every((v) => !v || (v.dtype === x.dtype && contiguous(v))) || inner === 0) {
      jsBackend.routines.layerNormBackward!(gx, gw, gb, grad, x, weight, inner, eps);
      return thenEpilogue(epilogue);
    }
    const rows = x.shape.reduce((a, b) => a * b, 1) / inner;
    addon.layerNormBackwardRows(x.dtype, gx && bytes(gx), gw && bytes(gw), gb && bytes(gb), bytes(grad), bytes(x), weight && bytes(weight), rows, inner,
      Float64Array.of(...views.map((v) => v?.offset ?? 0)), eps, ...(epilogue ? epilogueArgs(epilogue) : []));
  }

  function pool2d(out: View, x: View, p: Pool2dPlan, mode: 'max' | 'avg', countIncludePad: boolean, indices?: View): void {
    if (!floating(out, x) || !contiguous(out) || (indices && !contiguous(indices))) return jsBackend.routines.pool2d!(out, x, p, mode, countIncludePad, indices);
    const plan = Float64Array.of(p.planes, p.h, p.w, p.k[0], p.k[1], p.stride[0], p.stride[1], p.padding[0], p.padding[1], p.dilation[0], p.dilation[1], p.oh, p.ow);
    addon.pool2d(out.dtype, bytes(x), bytes(out), indices && bytes(indices), plan, Float64Array.of(x.offset, out.offset, indices?.offset ?? 0), mode === 'max', countIncludePad);
  }

  function maxPool2dBackward(gx: View, grad: View, indices: View, p: Pool2dPlan, epilogue?: Epilogue): boolean {
    if (!floating(gx, grad) || gx.dtype !== grad.dtype || indices.dtype !== 'int64' || ![gx, grad, indices].every(contiguous)) return false;
    addon.maxPool2dBackward(grad.dtype, bytes(gx), bytes(grad), bytes(indices), p.planes, p.h * p.w, p.oh * p.ow, Float64Array.of(gx.offset, grad.offset, indices.offset),
      ...(epilogue ? epilogueArgs(epilogue) : []));
    return true;
  }

  /**
   * scatterAdd along the last dim of contiguous operands whose leading dims agree (max pooling's
   * backward, one-hot style updates): rows in the addon. Anything else runs on the JS kernel.
   */
  function scatterAdd(out: View, index: View, src: View, dim: number): void {
    if (indexAddRows(out, index, src, dim)) return;
    const r = out.shape.length;
    const rowsAgree = index.shape.length === r && src.shape.length === r && index.shape.every((d, i) => i === r - 1 || (d === out.shape[i] && d === src.shape[i])) && index.shape[r - 1] === src.shape[r - 1];
    if (dim !== r - 1 || !rowsAgree || !floating(out, src) || index.dtype !== 'int64' || out.buffer === src.buffer || ![out, index, src].every(contiguous)) {
      return jsBackend.routines.scatterAdd!(out, index, src, dim);
    }
    const n = out.shape[r - 1]!, k = index.shape[r - 1]!, rows = out.shape.slice(0, -1).reduce((a, b) => a * b, 1);
    try {
      addon.scatterAddRows(out.dtype, bytes(out), bytes(index), bytes(src), rows, n, k, Float64Array.of(out.offset, index.offset, src.offset));
    } catch (e) {
      throw new IndexError('scatterAdd', (e as Error).message.replace(/^scatterAdd: /, ''));
    }
  }

  /** Elements below dim 0 of a contiguous view (one row), and its rows. */
  const rowsOf = (v: View): [number, number] => { const row = v.shape.slice(1).reduce((a, b) => a * b, 1); return [v.shape[0] ?? 1, row]; };
  /**
   * scatterAdd along dim 0 with one index per row, broadcast along the rest (how indexSelect's and
   * embedding's gradients scatter), over contiguous float operands: whole rows added in the addon.
   * False where the operands have another form.
   */
  function indexAddRows(out: View, index: View, src: View, dim: number): boolean {
    const r = out.shape.length;
    if (dim !== 0 || r === 0 || !floating(out, src) || out.dtype !== src.dtype || index.dtype !== 'int64' || out.buffer === src.buffer) return false;
    if (!contiguous(out) || !contiguous(src) || src.shape.length !== r || out.shape.some((d, i) => i > 0 && d !== src.shape[i])) return false;
    // The index must reach every element of src (torch's may be smaller, and then only the part it covers is added).
    if (index.shape.length !== r || index.shape.some((d, i) => d !== src.shape[i]) || (src.shape[0]! > 1 && index.strides[0] !== 1) || index.strides.some((st, i) => i > 0 && st !== 0 && index.shape[i] !== 1)) return false;
    const [rows, row] = rowsOf(src);
    try {
      addon.indexAddRows(out.dtype, bytes(out), bytes(index), bytes(src), rows, row, out.shape[0]!, Float64Array.of(out.offset, index.offset, src.offset));
    } catch (e) {
      throw new IndexError('scatterAdd', (e as Error).message.replace(/^scatterAdd: /, ''));
    }
    return true;
  }
  /** indexSelect along dim 0 of contiguous operands of one dtype by a 1-d index: rows copied in the addon; otherwise the JS kernel. */
  function indexSelect(out: View, x: View, index: View, dim: number): void {
    const wide = index.dtype === 'int64' || index.dtype === 'int32';
    if (dim !== 0 || x.shape.length === 0 || out.dtype !== x.dtype || !wide || index.shape.length !== 1 || (index.shape[0]! > 1 && index.strides[0] !== 1) || !contiguous(out) || !contiguous(x)) {
      return jsBackend.routines.indexSelect!(out, x, index, dim);
    }
    const [size, row] = rowsOf(x);
    try {
      addon.indexRows(bytes(out), bytes(x), bytes(index), index.dtype, index.shape[0]!, row, size, elemBytes(x), Float64Array.of(out.offset, x.offset, index.offset));
    } catch (e) {
      throw new IndexError('indexSelect', (e as Error).message.replace(/^indexSelect: /, ''));
    }
  }

  /** torch.gather along the last dim of contiguous operands whose other dims agree (cross-entropy's pick of each row's target): in the addon; otherwise the JS kernel. */
  function gather(out: View, x: View, index: View, dim: number): void {
    const r = x.shape.length;
    if (r === 0 || dim !== r - 1 || out.dtype !== x.dtype || index.dtype !== 'int64' || index.shape.length !== r || index.shape.some((d, i) => i < r - 1 && d !== x.shape[i]) || ![out, x, index].every(contiguous)) {
      return jsBackend.routines.gather!(out, x, index, dim);
    }
    const n = x.shape[r - 1]!, k = index.shape[r - 1]!, rows = index.shape.slice(0, -1).reduce((a, b) => a * b, 1);
    try {
      addon.gatherRows(bytes(out), bytes(x), bytes(index), rows, n, k, elemBytes(x), dim, Float64Array.of(out.offset, x.offset, index.offset));
    } catch (e) {
      throw new IndexError('gather', (e as Error).message.replace(/^gather: /, ''));
    }
  }

  return { ...jsBackend, name: 'native', compiler, groupable, elementwiseGroup, fusesEpilogue, elementwise, reduce, routines: { ...jsBackend.routines, matmul, conv2d, conv2dBackward, unfold: unfoldLike(false), fold: unfoldLike(true), pool2d, maxPool2dBackward, scatterAdd, indexSelect, gather, softmax, softmaxBackward, layerNorm, layerNormBackward } };
}
