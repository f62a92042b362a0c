/**
 * The backend interface: what a device must provide. It is deliberately narrow (memory, transfer,
 * and a handful of kernel launches) so a vendor can bring up a device by implementing it; the
 * dispatcher has already resolved shapes, dtypes, broadcasting and dim coalescing.
 */
import { type DType, DeviceError, type Expr, NotImplementedError, type Pool2dPlan, type Conv2dPlan, topoSort } from '@tessera/ops';
import type { TypedArray } from './typed.js';

/** The devices a tensor can live on; one backend serves each at a time. */
export type DeviceKind = 'cpu' | 'webgpu' | 'cuda' | 'gpujs';

/** A strided window onto a device buffer: what every kernel reads and writes. */
export interface View {
  /** The backend's own buffer handle (a typed array on CPU backends, a GPU buffer elsewhere). */
  readonly buffer: unknown;
  /** The element type stored in `buffer`. */
  readonly dtype: DType;
  /** Extent of each dim of the window. */
  readonly shape: readonly number[];
  /** Step per dim, in elements (not bytes); 0 where a dim is broadcast. */
  readonly strides: readonly number[];
  /** Position of the window's first element in `buffer`, in elements. */
  readonly offset: number;
}

/**
 * An elementwise kernel: one IR expression over typed inputs, identified by `id` so backends can
 * cache what they compile. Built once per (op, operand dtypes, scalar positions) by the dispatcher.
 */
export interface ElementwiseKernel {
  /** Cache key: equal ids mean the same code, so a backend compiles each id once. */
  readonly id: string;
  /** The IR stored to the launch's `out`; `input(i)` reads the i-th tensor input. */
  readonly expr: Expr;
  /** dtype of each tensor input as loaded (the expr casts from these). */
  readonly inputs: readonly DType[];
  /** dtype `expr` is stored as. */
  readonly out: DType;
  /** Names of runtime scalar parameters, in launch order. */
  readonly params: readonly string[];
  /**
   * More results stored by the same pass (compile's fused kernels on a backend with `multiOutput`):
   * each an expression over the same inputs and params, stored to the launch's `outs` in order,
   * before `expr` is stored to `out`. Sub-expressions they share with `expr` are computed once.
   */
  readonly outputs?: readonly {
    /** IR of this further result, over the kernel's inputs and params. */
    readonly expr: Expr;
    /** dtype it is stored as. */
    readonly dtype: DType;
  }[];
}

/** A reduction: acc = init; acc = combine(acc, map(x)) over the inner dims; out = finalize(acc, n). */
export interface ReduceKernel {
  /** Cache key, as ElementwiseKernel's `id`. */
  readonly id: string;
  /** dtype of the input as loaded. */
  readonly input: DType;
  /** dtype of the result (int64 positions for index reductions). */
  readonly out: DType;
  /** The accumulator's starting value (0 for sum, -Infinity for max, ...). */
  readonly init: number;
  /** IR over input(0) = element (already cast to compute dtype). */
  readonly map: Expr;
  /** IR over input(0) = acc, input(1) = mapped element. */
  readonly combine: Expr;
  /** IR over input(0) = acc, input(1) = element count. */
  readonly finalize: Expr;
  /** Names of runtime scalar parameters, in launch order. */
  readonly params: readonly string[];
  /** Index reductions: IR over input(0) = candidate, input(1) = best; the result is the position. */
  readonly better?: Expr;
  /** Scans write every partial result instead of the final one. */
  readonly scan?: boolean;
}

const paramDtypes = new WeakMap<ElementwiseKernel | ReduceKernel, Map<string, DType>>();

/**
 * The dtype a kernel's scalar parameter has in its IR (params are typed nodes), found once per
 * kernel: what emitters convert a launch's parameter values to.
 */
export function paramDtype(k: ElementwiseKernel | ReduceKernel, name: string): DType {
  let types = paramDtypes.get(k);
  if (!types) {
    types = new Map();
    const roots = 'expr' in k ? [k.expr, ...(k.outputs ?? []).map((o) => o.expr)] : [k.map, k.combine, k.finalize, ...(k.better ? [k.better] : [])];
    for (const root of roots) for (const e of topoSort(root)) if (e.kind === 'param') types.set(e.name, e.dtype);
    paramDtypes.set(k, types);
  }
  const d = types.get(name);
  if (!d) throw new Error(`kernel ${k.id}: param ${name} does not occur in its IR`);
  return d;
}

/**
 * Elementwise launch: shapes are already broadcast and coalesced; `out` may be a strided view; `outs`
 * are the views of the kernel's further `outputs`, over the same shape.
 */
export interface ElementwiseLaunch {
  /** The index space walked, shared by `out` and every input (broadcast inputs have zero strides). */
  readonly shape: readonly number[];
  /** Where `expr` is stored. */
  readonly out: View;
  /** One view per kernel input, in the kernel's order. */
  readonly inputs: readonly View[];
  /** Values of the kernel's scalar params, in its `params` order. */
  readonly params: readonly number[];
  /** Views for the kernel's further `outputs`, in order. */
  readonly outs?: readonly View[];
}

/**
 * Reduction launch: dims are split into `outer` (kept, walked by `out`) and `inner` (reduced);
 * `input.strides` lists the outer strides then the inner ones. For scans, out has the input's
 * full shape and its strides follow the same outer-then-inner order.
 */
export interface ReduceLaunch {
  /** Sizes of the kept dims, one result per index. */
  readonly outer: readonly number[];
  /** Sizes of the reduced dims (for scans, the dims scanned along). */
  readonly inner: readonly number[];
  /** The reduced tensor; its strides list the outer dims then the inner ones. */
  readonly input: View;
  /** The result, strided over `outer` (over outer then inner for scans). */
  readonly out: View;
  /** Values of the kernel's scalar params, in its `params` order. */
  readonly params: readonly number[];
}

/**
 * An elementwise launch a routine runs over its result as it completes it (compile's epilogue
 * fusion, epilogue.ts: a matmul's bias and activation, a residual add). The launch reads the
 * routine's result at the element it walks (its index space is the result's, row-major), so the
 * routine may run it over any range of its outermost dim once the result's elements there are
 * written, while they are still in cache.
 */
export interface Epilogue {
  /** The elementwise kernel to run. */
  readonly kernel: ElementwiseKernel;
  /** Its launch over the routine's whole result; the routine runs it a range of rows at a time. */
  readonly launch: ElementwiseLaunch;
}

/** A (batched) matrix product: out = a @ b, with a `[...batch, m, k]` and b `[...batch, k, n]`. */
export interface MatmulLaunch {
  /** The contiguous result, `[...batch, m, n]`. */
  readonly out: View;
  /** Left operand, `[...batch, m, k]`, any strides (zero strides broadcast the batch). */
  readonly a: View;
  /** Right operand, `[...batch, k, n]`, any strides. */
  readonly b: View;
  /** Rows of a and of out. */
  readonly m: number;
  /** The contracted dim: columns of a, rows of b. */
  readonly k: number;
  /** Columns of b and of out. */
  readonly n: number;
  /** Run over `out` as its rows are computed (only where the backend said it fuses this one: fusesEpilogue). */
  readonly epilogue?: Epilogue;
}

/** Routine kernels a backend may provide; a missing one raises NotImplementedError naming the backend. */
export interface RoutineKernels {
  /** a: [...batch, m, k], b: [...batch, k, n] (batch broadcast via zero strides); out contiguous. */
  matmul(l: MatmulLaunch): void;
  /** x and out share a shape; normalise along `dim`. */
  softmax(out: View, x: View, dim: number, log: boolean): void;
  /**
   * softmax's (log: logSoftmax's) gradient along `dim` in one pass over each line (PyTorch's
   * softmax_backward_data), from the forward's output y: gx = y (grad - sum(grad y)), or
   * gx = grad - exp(y) sum(grad) for logSoftmax; gx is overwritten, and `epilogue` (where
   * fusesEpilogue said so) runs over its rows as they are done. Optional: without it, and whenever
   * the gradient is itself being differentiated, the gradient is composed from tensor ops.
   */
  softmaxBackward?(gx: View, grad: View, y: View, dim: number, log: boolean, epilogue?: Epilogue): void;
  /** x contiguous, rows of `inner` elements; weight/bias contiguous of `inner` elements. */
  layerNorm(out: View, x: View, weight: View | undefined, bias: View | undefined, inner: number, eps: number): void;
  /**
   * layerNorm's gradients in one pass over each row (PyTorch's layer_norm_backward), all operands
   * contiguous, rows of `inner`: gx (like x) = rstd (gy - mean(gy) - xhat mean(gy xhat)) with
   * gy = grad * weight, gw = sum over rows of grad * xhat, gb = sum of grad; each given one is
   * overwritten; `epilogue` (where fusesEpilogue said so) runs over gx's rows as they are done.
   * Optional: without it, and whenever the gradient is itself being differentiated, the gradient is
   * composed from tensor ops.
   */
  layerNormBackward?(gx: View | undefined, gw: View | undefined, gb: View | undefined, grad: View, x: View, weight: View | undefined, inner: number, eps: number, epilogue?: Epilogue): void;
  /** torch.gather: out (index's shape) takes x at `index` (int64) along `dim`, at its own position in other dims. */
  gather(out: View, x: View, index: View, dim: number): void;
  /**
   * x sorted along `dim` into values (x's dtype) and indices (int64, the positions along dim), all
   * of x's shape: NaN above every number, equal values in their order (stable). Optional: a backend
   * without it refuses sort, argsort and topk with NotImplementedError.
   */
  sort?(values: View, indices: View, x: View, dim: number, descending: boolean): void;
  /** out already holds the input; adds src at the indexed positions. */
  scatterAdd(out: View, index: View, src: View, dim: number): void;
  /** torch.index_select: out = x with dim `dim` replaced by the rows a 1-D index picks (int64 or int32). */
  indexSelect(out: View, x: View, index: View, dim: number): void;
  /**
   * x, weight contiguous; bias contiguous or undefined; out contiguous, written whole. `epilogue`
   * (where fusesEpilogue said so) runs over out once it is computed, in the same launch.
   */
  conv2d(out: View, x: View, weight: View, bias: View | undefined, plan: Conv2dPlan, epilogue?: Epilogue): void;
  /**
   * conv2d's gradients from grad [N, O, OH, OW] (all operands contiguous): any of gx [N, C, H, W],
   * gw [O, C/groups, kh, kw] and gb [O], each overwritten, as PyTorch's convolution_backward. Optional: without
   * it, where it returns false (operands it does not take), and whenever the gradient is itself
   * being differentiated, the gradient is composed from unfold, fold and matmul.
   */
  conv2dBackward?(gx: View | undefined, gw: View | undefined, gb: View | undefined, grad: View, x: View, weight: View, plan: Conv2dPlan): boolean;
  /** x contiguous [N, C, H, W] -> out [N, C*kh*kw, L] (im2col); plan.o and plan.groups are unused. */
  unfold(out: View, x: View, plan: Conv2dPlan): void;
  /** cols contiguous [N, C*kh*kw, L] -> out [N, C, H, W], summing overlaps (col2im). */
  fold(out: View, cols: View, plan: Conv2dPlan): void;
  /**
   * Max pooling's input gradient: gx (contiguous, like the input) = each window's gradient at its
   * maximum (`indices` as pool2d wrote them), zero elsewhere. Optional, as conv2dBackward; false
   * where it does not take the operands. `epilogue` (where fusesEpilogue said so) runs over gx once
   * it is computed, in the same launch.
   */
  maxPool2dBackward?(gx: View, grad: View, indices: View, plan: Pool2dPlan, epilogue?: Epilogue): boolean;
  /** x contiguous; for max pooling, `indices` (int64, like out) receives each maximum's flat position in its plane. */
  pool2d(out: View, x: View, plan: Pool2dPlan, mode: 'max' | 'avg', countIncludePad: boolean, indices?: View): void;
}

/**
 * What serves a device: memory (alloc, read, write), kernel launches, the routines' tuned kernels, capability flags.
 */
export interface Backend {
  /** The device kind this backend serves; registering it replaces any earlier backend for the kind. */
  readonly device: DeviceKind;
  /** Implementation name shown in messages and reports ('js', 'native', ...). */
  readonly name: string;
  /**
   * Buffers are plain garbage-collected host memory: tensors need no finalizer (registering one per
   * tensor makes V8's GC crawl in loops that never dispose); a released buffer goes back to the
   * backend's cache, and one never released is simply collected.
   */
  readonly gcManaged: boolean;
  /** Bits int64 values keep on this device (64 unless declared: WebGPU holds int64 in 32 bits). */
  readonly int64Bits?: 32 | 64;
  /**
   * Whether float32 subnormals survive. WGSL lets implementations flush them to zero (and treat
   * them inexactly), so the conformance suite does not draw subnormal inputs for 'flush' backends.
   */
  readonly subnormals?: 'preserve' | 'flush';
  /** The most inputs one elementwise kernel may read; the scheduler fuses within it (16 when unset). */
  readonly maxKernelInputs?: number;
  /** The most buffers (inputs and results) one elementwise kernel may bind (WGSL's storage buffers per stage). */
  readonly maxKernelBuffers?: number;
  /**
   * Whether its elementwise kernels take further `outputs` (one pass storing several results); the scheduler fuses so
   * only then.
   */
  readonly multiOutput?: boolean;
  /**
   * Whether writing part of a buffer costs a pass over all of it (gpu.js: a kernel writes a whole
   * texture, so a partial write merges the rest in). Optimizers then keep each parameter's state in
   * its own buffer rather than slices of a shared one (Optimizer.zerosState).
   */
  readonly wholeBufferWrites?: boolean;
  /**
   * What else decides this backend's answers to the scheduler besides its name, limits and code
   * (gpujs: its mode, whose kernel maps and launches differ): plans cached on disk are kept apart by it.
   */
  readonly planVariant?: string;
  /** The most results one elementwise kernel stores (unbounded when unset); the scheduler fuses within it. */
  readonly maxKernelOutputs?: number;
  /**
   * Horizontal fusion, as PyTorch's foreach kernels: whether `elementwiseGroup` runs launches of `k`
   * (compile's scheduler asks before grouping, so a group is always one launch where it is made).
   */
  groupable?(k: ElementwiseKernel): boolean;
  /**
   * Runs several launches of one kernel, none reading what another writes, as one launch (one
   * crossing into the device or addon): what compile's scheduler makes of an optimizer's
   * per-parameter updates.
   */
  elementwiseGroup?(k: ElementwiseKernel, launches: readonly ElementwiseLaunch[]): void;
  /**
   * Epilogue fusion: whether routine `routine`'s kernel runs elementwise kernel `k` over its `dtype`
   * result as it computes it (an Epilogue), in the same launch. Compile's scheduler asks before it
   * attaches one, so an attached epilogue is always fused where it is made.
   */
  fusesEpilogue?(routine: string, dtype: DType, k: ElementwiseKernel): boolean;
  /** A new buffer of `size` elements of `dtype`; contents unspecified (callers overwrite it). */
  alloc(dtype: DType, size: number): unknown;
  /** Copies host data into a new device buffer (CPU backends may adopt the array). */
  fromHost(data: TypedArray, dtype: DType): unknown;
  /** Host copy of `size` elements from `offset` of a buffer, after pending work completes. */
  read(buffer: unknown, dtype: DType, offset: number, size: number): Promise<TypedArray>;
  /** Synchronous read, for backends whose memory is host memory. */
  readSync?(buffer: unknown, dtype: DType, offset: number, size: number): TypedArray;
  /**
   * Releases a buffer whose last reference is gone; `adopted` when it came from fromHost (a CPU
   * backend's fromHost adopts the caller's array, which it must then never hand out again).
   */
  free(buffer: unknown, adopted: boolean): void;
  /** Runs one elementwise kernel over a launch's index space (may be queued; reads wait for it). */
  elementwise(kernel: ElementwiseKernel, launch: ElementwiseLaunch): void;
  /** Runs a reduction or scan over a launch. */
  reduce(kernel: ReduceKernel, launch: ReduceLaunch): void;
  /** The routine kernels it provides; a missing one raises NotImplementedError when an op needs it. */
  readonly routines: Partial<RoutineKernels>;
}

const backends = new Map<DeviceKind, Backend>();

/** Registers (or replaces, e.g. native over pure JS) the backend serving a device kind. */
export function registerBackend(backend: Backend): void {
  backends.set(backend.device, backend);
}

/** The backend serving `device`; a DeviceError names the registered devices when none does (`op` names the caller). */
export function getBackend(device: DeviceKind, op = 'to'): Backend {
  const b = backends.get(device);
  if (!b) {
    const have = [...backends.keys()].join(', ');
    throw new DeviceError(op, `device '${device}' is not available (registered: ${have}); import its backend package to enable it`);
  }
  return b;
}

/** The devices that have a backend registered (device 'cpu' always). */
export const availableDevices = (): DeviceKind[] => [...backends.keys()];

export function routine<K extends keyof RoutineKernels>(backend: Backend, name: K): RoutineKernels[K] {
  const k = backend.routines[name];
  if (!k) throw new NotImplementedError(name, `backend '${backend.name}' (device '${backend.device}') has no ${name} kernel`);
  return k.bind(backend.routines) as RoutineKernels[K];
}
