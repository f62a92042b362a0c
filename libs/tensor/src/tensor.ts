/**
 * Tensor: a strided view (shape, strides, offset) onto reference-counted device storage. Method forms
 * delegate to the function forms in ops/, which are the one implementation of each op.
 */
import { type DType, type Pool2dOptions, type Conv2dOptions, TesseraError, numel as numelOf, contiguousStrides, type Shape } from '@tessera/ops';
import type { Backend, DeviceKind, View } from './backend.js';
import { HALF_TO_FLOAT } from './float16.js';
import { isContiguous } from './layout.js';
import { Storage, collected } from './storage.js';
import { countTensor, registersCollection } from './memory.js';
import { keep, track } from './scope.js';
import { type TypedArray, allocChecked } from './typed.js';
import { formatTensor } from './format.js';
import { settleChecks } from './checks.js';
import { deferredStorage, deferring } from './graph/program.js';
import { type GradNode, activeRecorder, untracked } from './grad-hook.js';
import * as ew from './ops/elementwise.js';
import * as rd from './ops/reduce.js';
import * as vw from './ops/views.js';
import * as rt from './ops/routines.js';
import * as cp from './ops/compose.js';
import * as ix from './ops/indexing.js';
import * as cv from './ops/convert.js';
import * as mk from './ops/mask.js';
import { full as fill, multinomial } from './factories.js';
import type { Generator } from './random.js';

type T = Tensor;
type TS = Tensor | number | boolean;
type Dims = number | readonly number[];

/** Element values as read back: numbers (bools as booleans), nested by shape. */
export type NestedList = number | boolean | NestedList[];

export class Tensor implements View {
  private disposed = false;
  /** Exempt from tidy() scopes (keep()): state its owner holds beyond them. */
  kept = false;
  /** Registered with the collection finalizer (memory.ts says when). */
  private registered = false;
  private contiguous_: boolean | undefined;
  /** Whether gradients flow to this tensor (set on leaves with requiresGrad_()). */
  requiresGrad = false;
  private grad_: Tensor | undefined = undefined;
  /** The op that produced this tensor in the autograd graph; undefined for leaves. */
  gradFn: GradNode | undefined;
  /** Functions applied to this tensor's gradient during backward (registerHook); created on first use. */
  hooks: ((grad: Tensor) => Tensor | void)[] | undefined;
  /** Functions called on a leaf after backward has accumulated into its .grad; created on first use. */
  postAccumulateGradHooks: ((leaf: Tensor) => void)[] | undefined;
  /** Whether backward keeps this non-leaf tensor's gradient in .grad (set by retainGrad()). */
  retainsGrad = false;

  constructor(
    /** The elements' memory on the device, shared by every view of it. */
    readonly storage: Storage,
    /** The length of each dim. */
    readonly shape: readonly number[],
    /** How many elements apart consecutive indices of each dim are in the storage. */
    readonly strides: readonly number[],
    /** Where element [0, ..., 0] is in the storage. */
    readonly offset: number,
  ) {
    storage.retain();
    countTensor(storage.backend, 1);
    if (registersCollection(storage.backend)) {
      collected.register(this, storage, this);
      this.registered = true;
    }
    track(this);
  }

  /** A fresh contiguous tensor of `shape` on `backend` (contents unspecified). */
  static empty(backend: Backend, shape: Shape, dtype: DType, op = 'empty'): Tensor {
    const n = numelOf(shape);
    // While a program is recorded (compile), outputs get their memory only if they are still needed when it runs.
    if (deferring()) return new Tensor(deferredStorage(backend, dtype, n), shape.slice(), contiguousStrides(shape), 0);
    const buffer = allocChecked(op, dtype, shape, () => backend.alloc(dtype, n));
    return new Tensor(new Storage(backend, buffer, dtype, n), shape.slice(), contiguousStrides(shape), 0);
  }

  /** Wraps host data as a contiguous tensor (the CPU backend adopts the array without copying). */
  static fromHost(backend: Backend, data: TypedArray, dtype: DType, shape: Shape): Tensor {
    return new Tensor(new Storage(backend, backend.fromHost(data, dtype), dtype, data.length, true), shape.slice(), contiguousStrides(shape), 0);
  }

  /** The element type: 'float32', 'float64', 'float16', 'int32', 'int64', 'uint8' or 'bool'. */
  get dtype(): DType { return this.storage.dtype; }
  /** The device whose memory holds the elements: 'cpu', 'webgpu', 'cuda' or 'gpujs'. */
  get device(): DeviceKind { return this.storage.backend.device; }
  /** The backend's buffer behind the storage (a typed array on 'cpu'), for backend code. */
  get buffer(): unknown { return this.storage.buffer; }
  /** The number of dims (0 for a scalar tensor). */
  get ndim(): number { return this.shape.length; }
  /** torch's Tensor.new_zeros: zeros of `shape` with this tensor's dtype and device (unless given). */
  newZeros(shape: readonly number[], opt?: { dtype?: DType; device?: DeviceKind }): T { return Tensor.newFilled(this, shape, 0, opt); }
  /** torch's Tensor.new_ones. */
  newOnes(shape: readonly number[], opt?: { dtype?: DType; device?: DeviceKind }): T { return Tensor.newFilled(this, shape, 1, opt); }
  private static newFilled(like: Tensor, shape: readonly number[], value: number, opt: { dtype?: DType; device?: DeviceKind } = {}): Tensor {
    return untracked(() => fill(shape, value, { dtype: opt.dtype ?? like.dtype, device: opt.device ?? like.device }));
  }
  /** torch's Tensor.dim(): the number of dims (ndim). */
  dim(): number { return this.shape.length; }
  /** The number of elements: the product of the shape. */
  get numel(): number { return numelOf(this.shape); }
  /** Whether dispose() has released this tensor's hold on its storage. */
  get isDisposed(): boolean { return this.disposed; }
  /** The shape as a fresh array, or the length of dim `dim` (negative counts from the end), as torch's size(). */
  size(): number[];
  size(dim: number): number;
  size(dim?: number): number | number[] { return dim === undefined ? this.shape.slice() : this.shape[vw.dimIndex('size', dim, this.ndim)]!; }
  /** Whether the elements are laid out row-major without gaps (size-1 dims aside). */
  isContiguous(): boolean { return (this.contiguous_ ??= isContiguous(this.shape, this.strides)); }

  /** Releases this tensor's hold on its storage now (views keep the storage alive). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.registered) collected.unregister(this);
    countTensor(this.storage.backend, -1);
    this.storage.release();
  }
  /** Disposes the tensor at the end of a `using` block. */
  [Symbol.dispose](): void { this.dispose(); }

  /**
   * Points this tensor at `src`'s data (torch's `t.data = src`): its identity, requiresGrad, .grad
   * and hooks stay, so whoever holds it (an optimizer, a tied module) sees the new values. How
   * Module.to moves parameters without replacing them.
   */
  setData_(src: Tensor): this {
    if (!(src instanceof Tensor)) throw new TesseraError('setData_', 'expects a tensor');
    if (this.disposed) throw new TesseraError('setData_', 'tensor used after dispose()');
    const self = this as unknown as { storage: Storage; shape: readonly number[]; strides: readonly number[]; offset: number };
    const old = this.storage;
    src.storage.retain();
    if (this.registered) collected.unregister(this);
    countTensor(old.backend, -1);
    self.storage = src.storage;
    self.shape = src.shape.slice();
    self.strides = src.strides.slice();
    self.offset = src.offset;
    this.contiguous_ = undefined;
    countTensor(src.storage.backend, 1);
    this.registered = registersCollection(src.storage.backend);
    if (this.registered) collected.register(this, src.storage, this);
    old.release();
    return this;
  }

  // ------------------------------------------------------------------ autograd
  /**
   * Accumulated gradient of a leaf (or of a tensor that called retainGrad()). The tensor owns the
   * handle it holds here: it outlives tidy() scopes, and it is disposed when it is replaced or
   * cleared (zeroGrad), as PyTorch frees a dropped gradient; to keep one past that, take your own
   * handle with detach() or clone().
   */
  get grad(): Tensor | undefined { return this.grad_; }
  /**
   * Replaces the gradient (undefined clears it), disposing the old one; throws when `g` differs from the tensor in
   * dtype, shape or device.
   */
  set grad(g: Tensor | undefined) {
    if (g === this.grad_) return;
    if (g !== undefined && g !== null) {
      if (!(g instanceof Tensor)) throw new TesseraError('grad', `expected a tensor or undefined, got ${typeof g}`);
      if (g.device !== this.device || g.dtype !== this.dtype || g.shape.length !== this.shape.length || g.shape.some((d, i) => d !== this.shape[i])) {
        throw new TesseraError('grad', `assigned grad (${g.dtype} [${g.shape.join(', ')}] on ${g.device}) must match the tensor (${this.dtype} [${this.shape.join(', ')}] on ${this.device})`);
      }
      keep(g);
    }
    const old = this.grad_;
    this.grad_ = g ?? undefined;
    old?.dispose();
  }
  /** Whether the tensor was not produced by a recorded op (parameters and inputs are leaves). */
  get isLeaf(): boolean { return this.gradFn === undefined; }
  /** Marks a leaf as requiring grad (floating dtypes only). */
  requiresGrad_(flag = true): this {
    if (!this.isLeaf) throw new TesseraError('requiresGrad_', 'can only be set on leaf tensors; use detach() to make a new leaf');
    if (flag && this.dtype !== 'float32' && this.dtype !== 'float64' && this.dtype !== 'float16') {
      throw new TesseraError('requiresGrad_', `only floating tensors can require grad, got ${this.dtype}`);
    }
    this.requiresGrad = flag;
    return this;
  }
  /** Computes gradients of this tensor w.r.t. graph leaves, accumulating into their .grad. */
  backward(gradient?: Tensor | { gradient?: Tensor; retainGraph?: boolean }, opt: { retainGraph?: boolean } = {}): void {
    const r = activeRecorder();
    if (!r) throw new TesseraError('backward', "autograd is not loaded: import 'tessera' (or '@tessera/autograd')");
    // Also PyTorch's keyword style: backward({ retainGraph: true }) or backward({ gradient, retainGraph }).
    const o = gradient !== undefined && !(gradient instanceof Tensor) ? gradient : { gradient, ...opt };
    if (o === null || typeof o !== 'object') throw new TesseraError('backward', `expected a gradient tensor or an options object, got ${String(o)}`);
    if (o.gradient !== undefined && !(o.gradient instanceof Tensor)) throw new TesseraError('backward', `gradient must be a tensor, got ${typeof o.gradient}`);
    if (o.retainGraph !== undefined && typeof o.retainGraph !== 'boolean') throw new TesseraError('backward', `retainGraph must be a boolean, got ${typeof o.retainGraph}`);
    r.backward(this, o.gradient, o.retainGraph ?? false);
  }
  /** A view of the same data cut from the graph. */
  detach(): T { return vw.detach(this); }
  /** Also keep .grad on this non-leaf tensor during backward. */
  retainGrad(): this { this.retainsGrad = true; return this; }
  /** Runs fn on this tensor's gradient during backward; a returned tensor replaces the gradient. */
  registerHook(fn: (grad: Tensor) => Tensor | void): () => void {
    (this.hooks ??= []).push(fn);
    return () => { const i = this.hooks!.indexOf(fn); if (i >= 0) this.hooks!.splice(i, 1); };
  }
  /** Runs fn(this) once backward has accumulated this leaf's .grad (how DDP learns a gradient is ready). */
  registerPostAccumulateGradHook(fn: (leaf: Tensor) => void): () => void {
    if (!this.isLeaf) throw new TesseraError('registerPostAccumulateGradHook', 'only leaf tensors accumulate gradients');
    (this.postAccumulateGradHooks ??= []).push(fn);
    return () => { const i = this.postAccumulateGradHooks!.indexOf(fn); if (i >= 0) this.postAccumulateGradHooks!.splice(i, 1); };
  }

  // ------------------------------------------------------------------ reads
  /** Contiguous copy of the values (float16 as Float32Array, int64 as BigInt64Array). */
  async data(): Promise<TypedArray> {
    await settleChecks(this.storage.backend); // errors found on the device since its last read
    const c = untracked(() => this.contiguous()); // a read is not part of the graph
    let raw: TypedArray;
    try {
      raw = await c.storage.backend.read(c.storage.buffer, c.dtype, c.offset, c.numel);
    } finally {
      c.dispose(); // the alias or copy read from: its storage reference must not outlive the read
    }
    return this.dtype === 'float16' ? Float32Array.from(raw as Uint16Array, (h) => HALF_TO_FLOAT[h]!) : raw;
  }
  /** All elements in row-major order as a typed array, synchronously (CPU tensors only; elsewhere use await data()). */
  dataSync(): TypedArray {
    const b = this.storage.backend;
    if (!b.readSync) throw new TesseraError('dataSync', `synchronous reads are only available on CPU; this tensor is on '${this.device}': use await t.data()`);
    const c = untracked(() => this.contiguous()); // a read is not part of the graph
    const raw = b.readSync(c.storage.buffer, c.dtype, c.offset, c.numel);
    c.dispose();
    return this.dtype === 'float16' ? Float32Array.from(raw as Uint16Array, (h) => HALF_TO_FLOAT[h]!) : raw;
  }
  /** The elements as nested arrays of the tensor's shape (a number or boolean for a scalar). */
  async tolist(): Promise<NestedList> { return nest(await this.data(), this.shape, this.dtype); }
  /** tolist() synchronously (CPU tensors only). */
  tolistSync(): NestedList { return nest(this.dataSync(), this.shape, this.dtype); }
  /** The value of a one-element tensor. */
  async item(): Promise<number | boolean> { return itemOf(this, await this.data()); }
  /** item() synchronously (CPU tensors only). */
  itemSync(): number | boolean { return itemOf(this, this.dataSync()); }
  toString(): string { return formatTensor(this); }

  // ------------------------------------------------------------------ conversion
  /** This tensor on another device and/or dtype, as torch's to(); when nothing changes, a view sharing its storage. */
  to(target: DeviceKind | DType | { device?: DeviceKind; dtype?: DType }): T { return cv.to(this, target); }
  /** `to` that awaits the read where the device's reads are asynchronous (a WebGPU tensor to the CPU, as torch's x.cpu()). */
  toAsync(target: DeviceKind | DType | { device?: DeviceKind; dtype?: DType }): Promise<T> { return cv.toAsync(this, target); }
  /** This tensor as float32: a converted copy, or a view sharing its storage if it is float32 already. */
  float(): T { return cv.to(this, 'float32'); }
  /** This tensor as float64: a converted copy, or a view sharing its storage if it is float64 already. */
  double(): T { return cv.to(this, 'float64'); }
  /** This tensor as float16: a converted copy, or a view sharing its storage if it is float16 already. */
  half(): T { return cv.to(this, 'float16'); }
  /** This tensor as int32: a converted copy, or a view sharing its storage if it is int32 already. */
  int(): T { return cv.to(this, 'int32'); }
  /** This tensor as int64: a converted copy, or a view sharing its storage if it is int64 already. */
  long(): T { return cv.to(this, 'int64'); }
  /** This tensor as bool: a converted copy, or a view sharing its storage if it is bool already. */
  bool(): T { return cv.to(this, 'bool'); }
  /** A copy with storage of its own; gradients flow back to this tensor. */
  clone(): T { return cv.clone(this); }
  /** A view sharing the storage if this tensor is contiguous, else a contiguous copy. */
  contiguous(): T { return this.isContiguous() ? vw.alias(this) : cv.clone(this); }
  /** Copies `src` (broadcast to this shape, cast to this dtype) into this tensor in place. */
  copy_(src: TS): T { return cv.copy_(this, src); }
  /** Sets every element to `value` in place. */
  fill_(value: number | boolean | Tensor): T { return cv.copy_(this, value, 'fill_'); }
  /** Sets every element to zero in place. */
  zero_(): T { return cv.copy_(this, 0, 'zero_'); }

  // ------------------------------------------------------------------ elementwise
  /** -this, as torch's `Tensor.neg` (integer dtypes kept). */
  neg(): T { return ew.neg(this); }
  /** |this|, as torch's `Tensor.abs` (integer dtypes kept). */
  abs(): T { return ew.abs(this); }
  /** e to the power of each element; integer input gives float32. */
  exp(): T { return ew.exp(this); }
  /** Natural logarithm (NaN below 0, -Infinity at 0); integer input gives float32. */
  log(): T { return ew.log(this); }
  /** log(1 + this), accurate for elements near 0. */
  log1p(): T { return ew.log1p(this); }
  /** exp(this) - 1, accurate for elements near 0. */
  expm1(): T { return ew.expm1(this); }
  /** Square root (NaN below 0); integer input gives float32. */
  sqrt(): T { return ew.sqrt(this); }
  /** 1 / sqrt(this), as torch's `Tensor.rsqrt`. */
  rsqrt(): T { return ew.rsqrt(this); }
  /** Sine of each element, in radians. */
  sin(): T { return ew.sin(this); }
  /** Cosine of each element, in radians. */
  cos(): T { return ew.cos(this); }
  /** Hyperbolic tangent. */
  tanh(): T { return ew.tanh(this); }
  /** 1 / (1 + exp(-this)), the logistic function. */
  sigmoid(): T { return ew.sigmoid(this); }
  /** max(this, 0), keeping the dtype; NaN passes through, as torch.relu. */
  relu(): T { return ew.relu(this); }
  /** GELU, x * Phi(x): exact (erf) by default, or PyTorch's tanh approximation with `approximate: 'tanh'`. */
  gelu(opt?: { approximate?: 'none' | 'tanh' }): T { return ew.gelu(this, opt); }
  /** this * sigmoid(this) (SiLU, swish). */
  silu(): T { return ew.silu(this); }
  /** The Gauss error function. */
  erf(): T { return ew.erf(this); }
  /** Rounds down; integer tensors are returned unchanged in value. */
  floor(): T { return ew.floor(this); }
  /** Rounds up; integer tensors are returned unchanged in value. */
  ceil(): T { return ew.ceil(this); }
  /** Rounds to the nearest integer, halves to even (as torch.round: 0.5 -> 0, 1.5 -> 2). */
  round(): T { return ew.round(this); }
  /** Rounds toward zero. */
  trunc(): T { return ew.trunc(this); }
  /** -1, 0 or 1 by the sign of each element (NaN gives 0); bool stays bool. */
  sign(): T { return ew.sign(this); }
  /** 1 / this; integer input gives float32. */
  reciprocal(): T { return ew.reciprocal(this); }
  /** this * this; a bool tensor gives int64, as torch.square. */
  square(): T { return ew.square(this); }
  /** Bool tensor, true where an element is NaN. */
  isnan(): T { return ew.isnan(this); }
  /** Bool tensor, true where an element is +Infinity or -Infinity. */
  isinf(): T { return ew.isinf(this); }
  /** Bool tensor, true where an element is neither NaN nor infinite (always true for integers). */
  isfinite(): T { return ew.isfinite(this); }
  /** torch.nan_to_num (see the function form). */
  nanToNum(opt?: { nan?: number; posinf?: number; neginf?: number }): T { return ew.nanToNum(this, opt); }
  /** nanToNum in place: this tensor's NaNs and infinities replaced, returning this. */
  nanToNum_(opt?: { nan?: number; posinf?: number; neginf?: number }): T { return ew.nanToNum(this, opt, this); }
  /** Bool tensor, true where an element is zero. */
  logicalNot(): T { return ew.logicalNot(this); }
  /** this + alpha * other, broadcast and type-promoted, as torch's `Tensor.add` (alpha default 1). */
  add(other: TS, opt?: { alpha?: number }): T { return ew.add(this, other, opt); }
  /** this - alpha * other, broadcast, as torch's `Tensor.sub`; bool operands are refused. */
  sub(other: TS, opt?: { alpha?: number }): T { return ew.sub(this, other, opt); }
  /** other - this (PyTorch's rsub). */
  rsub(other: TS): T { return ew.sub(other, this); }
  /** this * other, broadcast and type-promoted. */
  mul(other: TS): T { return ew.mul(this, other); }
  /** this / other, true division: integer operands give float32 (torch.div without rounding_mode). */
  div(other: TS): T { return ew.div(this, other); }
  /** this ** exponent elementwise; an integer tensor refuses a negative integer scalar exponent. */
  pow(exponent: TS): T { return ew.pow(this, exponent); }
  /** Elementwise maximum with broadcasting; NaN wins (propagates), as torch.maximum. */
  maximum(other: TS): T { return ew.maximum(this, other); }
  /** this + weight * (end - this), as torch.lerp with a scalar weight. */
  lerp(end: TS, weight: number): T { return ew.lerp(this, end, weight); }
  /** Elementwise minimum with broadcasting; NaN wins (propagates), as torch.minimum. */
  minimum(other: TS): T { return ew.minimum(this, other); }
  /** atan2(this, other): the angle of the point (other, this) in radians, in `[-pi, pi]`. */
  atan2(other: TS): T { return ew.atan2(this, other); }
  /** Python's modulo: the result has the divisor's sign (torch.remainder); an integer zero divisor throws. */
  remainder(other: TS): T { return ew.remainder(this, other); }
  /** C's fmod: the result has the dividend's sign (torch.fmod); an integer zero divisor throws. */
  fmod(other: TS): T { return ew.fmod(this, other); }
  /** Each element limited to `[min, max]` (either may be omitted, not both; NaN stays NaN), as torch.clamp. */
  clamp(min?: TS, max?: TS): T { return ew.clamp(this, min, max); }
  /** Bool tensor: this < other, broadcast. */
  lt(other: TS): T { return ew.lt(this, other); }
  /** Bool tensor: this <= other, broadcast. */
  le(other: TS): T { return ew.le(this, other); }
  /** Bool tensor: this > other, broadcast. */
  gt(other: TS): T { return ew.gt(this, other); }
  /** Bool tensor: this >= other, broadcast. */
  ge(other: TS): T { return ew.ge(this, other); }
  /** Bool tensor: this == other elementwise (NaN equals nothing), broadcast. */
  eq(other: TS): T { return ew.eq(this, other); }
  /** Bool tensor: this != other elementwise, broadcast. */
  ne(other: TS): T { return ew.ne(this, other); }
  /** Bool tensor: both nonzero. */
  logicalAnd(other: TS): T { return ew.logicalAnd(this, other); }
  /** Bool tensor: either nonzero. */
  logicalOr(other: TS): T { return ew.logicalOr(this, other); }
  /** Bool tensor: exactly one nonzero. */
  logicalXor(other: TS): T { return ew.logicalXor(this, other); }
  /** torch's `Tensor.where`: this where `condition` is true, else `other` (all broadcast together). */
  where(condition: T, other: TS): T { return ew.where(condition, this, other); }
  /**
   * add in place (torch's `add_`), `other` broadcast to this shape: throws when the result's dtype category
   * would drop (float into int), or, with grad mode on, when this tensor or `other` requires grad.
   */
  add_(other: TS, opt?: { alpha?: number }): T { return ew.add(this, other, opt, this); }
  /** sub in place, as add_. */
  sub_(other: TS, opt?: { alpha?: number }): T { return ew.sub(this, other, opt, this); }
  /** mul in place, as add_. */
  mul_(other: TS): T { return ew.mul(this, other, this); }
  /** lerp in place: this += weight * (end - this), Adam's running-moment update. */
  lerp_(end: TS, weight: number): T { return ew.lerp(this, end, weight, this); }
  /** div in place, as add_; an integer tensor refuses it (true division gives floats). */
  div_(other: TS): T { return ew.div(this, other, this); }
  /** clamp in place, as add_. */
  clamp_(min?: TS, max?: TS): T { return ew.clamp(this, min, max, this); }

  // ------------------------------------------------------------------ reductions
  /** Sum over `dim` (one, several, or all when omitted), as torch.sum; integer and bool give int64. */
  sum(dim?: Dims, opt?: { keepdim?: boolean }): T { return rd.sum(this, dim, opt); }
  /** Mean over `dim` (all when omitted), as torch.mean; floating tensors only. */
  mean(dim?: Dims, opt?: { keepdim?: boolean }): T { return rd.mean(this, dim, opt); }
  /** Product over one `dim` or all elements, as torch.prod; integer and bool give int64. */
  prod(dim?: Dims, opt?: { keepdim?: boolean }): T { return rd.prod(this, dim, opt); }
  /** Maximum over `dim` (all when omitted), NaN-propagating; ties share the gradient evenly. */
  amax(dim?: Dims, opt?: { keepdim?: boolean }): T { return rd.amax(this, dim, opt); }
  /** Minimum over `dim` (all when omitted), NaN-propagating; ties share the gradient evenly. */
  amin(dim?: Dims, opt?: { keepdim?: boolean }): T { return rd.amin(this, dim, opt); }
  /**
   * int64 position of the first maximum along `dim`, or in the flattened tensor when omitted (a NaN counts as largest).
   */
  argmax(dim?: number, opt?: { keepdim?: boolean }): T { return rd.argmax(this, dim, opt); }
  /**
   * torch's max: over everything; along `dim`, the values and their positions (as torch's
   * namedtuple: destructure it or read .values and .indices); against another tensor, elementwise.
   * Along a dim the gradient goes to the returned position only; over everything, ties share it (torch's).
   */
  max(): T;
  max(dim: number, opt?: { keepdim?: boolean }): rt.ValuesIndices;
  max(other: T): T;
  max(a?: number | T, opt?: { keepdim?: boolean }): T | rt.ValuesIndices {
    if (a === undefined) return rd.amax(this);
    if (a instanceof Tensor) return ew.maximum(this, a);
    return rt.extremeAlong('max', this, a, opt?.keepdim);
  }
  /** torch's min, as max. */
  min(): T;
  min(dim: number, opt?: { keepdim?: boolean }): rt.ValuesIndices;
  min(other: T): T;
  min(a?: number | T, opt?: { keepdim?: boolean }): T | rt.ValuesIndices {
    if (a === undefined) return rd.amin(this);
    if (a instanceof Tensor) return ew.minimum(this, a);
    return rt.extremeAlong('min', this, a, opt?.keepdim);
  }
  /** torch.sort along `dim` (default last): values and int64 positions, stable, NaN above every number. */
  sort(dim?: number, opt?: rt.SortOptions): rt.ValuesIndices { return rt.sort(this, dim, opt); }
  /**
   * torch.multinomial: `numSamples` int64 category indices per row, drawn in proportion to this tensor's weights (`[C]`
   * or `[N, C]`).
   */
  multinomial(numSamples: number, opt?: { replacement?: boolean; generator?: Generator }): T { return multinomial(this, numSamples, opt); }
  /** The int64 positions that would sort this along `dim` (default last), as torch.argsort. */
  argsort(dim?: number, opt?: rt.SortOptions): T { return rt.argsort(this, dim, opt); }
  /**
   * torch.topk: the k largest (or smallest, `largest: false`) values along `dim` (default last) and their positions,
   * always sorted.
   */
  topk(k: number, dim?: number, opt?: { largest?: boolean; sorted?: boolean }): rt.ValuesIndices { return rt.topk(this, k, dim, opt); }
  /**
   * int64 position of the first minimum along `dim`, or in the flattened tensor when omitted (a NaN counts as
   * smallest).
   */
  argmin(dim?: number, opt?: { keepdim?: boolean }): T { return rd.argmin(this, dim, opt); }
  /**
   * Variance over `dim` (all when omitted), with Bessel's correction unless `correction` says otherwise, as torch.var.
   */
  var(dim?: Dims, opt?: rd.VarOptions): T { return rd.var_(this, dim, opt); }
  /** Standard deviation: the square root of var, with the same options. */
  std(dim?: Dims, opt?: rd.VarOptions): T { return rd.std(this, dim, opt); }
  /** log(sum(exp(this))) over `dim`, computed without overflow by shifting by the maximum. */
  logsumexp(dim?: Dims, opt?: { keepdim?: boolean }): T { return rd.logsumexp(this, dim, opt); }
  /**
   * Vector p-norm over `dim` (all when omitted), p default 2; Infinity and -Infinity give max and min of |x|, 0 counts
   * nonzeros.
   */
  norm(p?: number, dim?: Dims, opt?: { keepdim?: boolean }): T { return rd.norm(this, p, dim, opt); }
  /** Inclusive running sum along `dim`, same shape (integer and bool give int64). */
  cumsum(dim: number): T { return rd.cumsum(this, dim); }
  /** Inclusive running product along `dim` (integer and bool give int64); its gradient is exact at zeros. */
  cumprod(dim: number): T { return cp.cumprod(this, dim); }

  // ------------------------------------------------------------------ views and layout
  /**
   * The same storage with a new shape (sizes as arguments or one array, one may be -1); throws ShapeError where the
   * strides would need a copy (reshape copies then).
   */
  view(...shape: number[] | [readonly number[]]): T { return vw.view(this, vw.shapeArg(shape)); }
  /**
   * A view with the new shape where possible, else a contiguous copy (sizes as arguments or one array, one may be -1).
   */
  reshape(...shape: number[] | [readonly number[]]): T { return vw.reshape(this, vw.shapeArg(shape)); }
  /** Dims `startDim` through `endDim` merged into one (all by default), as torch.flatten. */
  flatten(startDim = 0, endDim = -1): T { return vw.flatten(this, startDim, endDim); }
  /** A view with dims reordered: result dim i is this tensor's dim `dims[i]`. */
  permute(...dims: number[] | [readonly number[]]): T { return vw.permute(this, vw.shapeArg(dims)); }
  /** A view with `dim0` and `dim1` swapped. */
  transpose(dim0: number, dim1: number): T { return vw.transpose(this, dim0, dim1); }
  /** Transpose of a tensor of rank <= 2. */
  t(): T { return vw.t(this); }
  /** All dims reversed, as a view (numpy's and torch's `x.T`; for a matrix, its transpose). */
  get T(): T { return vw.reverseDims(this); }
  /** A view broadcasting size-1 dims to `shape` without copying (-1 keeps a size); write to a clone, not to it. */
  expand(...shape: number[] | [readonly number[]]): T { return vw.expand(this, vw.shapeArg(shape)); }
  /** expand to `other`'s shape. */
  expandAs(other: T): T { return vw.expand(this, other.shape); }
  /** A view of `length` elements along `dim` from `start` (negative counts from the end). */
  narrow(dim: number, start: number, length: number): T { return vw.narrow(this, dim, start, length); }
  /**
   * A view of `start:end:step` along `dim` with Python's slice rules: bounds clamp, negatives count from the end;
   * step must be positive.
   */
  slice(dim: number, start?: number, end?: number, step?: number): T { return vw.slice(this, dim, start, end, step); }
  /** A view of the slice at `index` along `dim`, that dim removed (as torch's `x.select`, or `x[i]` on dim 0). */
  select(dim: number, index: number): T { return vw.select(this, dim, index); }
  /**
   * torch.split: views of `sizes` elements along `dim` (the last shorter), or of each listed size, which must sum to
   * the dim's size.
   */
  split(sizes: number | readonly number[], dim = 0): T[] { return vw.split(this, sizes, dim); }
  /** torch.chunk: at most `chunks` views of ceil(size / chunks) along `dim`. */
  chunk(chunks: number, dim = 0): T[] { return vw.chunk(this, chunks, dim); }
  /** torch.unbind: every slice along `dim` as a view without that dim. */
  unbind(dim = 0): T[] { return vw.unbind(this, dim); }
  /** A view without the size-1 dims among `dim` (all size-1 dims when omitted). */
  squeeze(dim?: Dims): T { return vw.squeeze(this, dim); }
  /** A view with a new size-1 dim at `dim`. */
  unsqueeze(dim: number): T { return vw.unsqueeze(this, dim); }
  /** Reverses the order along `dims`: a view with negated strides, where torch.flip copies. */
  flip(dims: Dims): T { return vw.flip(this, dims); }
  /** torch's `masked_fill`: a copy with `value` where the bool mask (broadcast) is true, keeping this dtype. */
  maskedFill(mask: T, value: number | boolean): T { return mk.maskedFill(this, mask, value); }
  /** Lower triangle of the last two dims: elements above `diagonal` zeroed, as torch.tril. */
  tril(diagonal = 0): T { return mk.tril(this, diagonal); }
  /** Upper triangle of the last two dims: elements below `diagonal` zeroed, as torch.triu. */
  triu(diagonal = 0): T { return mk.triu(this, diagonal); }

  // ------------------------------------------------------------------ routines
  /**
   * Matrix product with torch.matmul's rules: batch dims broadcast; 1-D operands act as a row (left) or a column
   * (right) and that dim is dropped.
   */
  matmul(other: T): T { return rt.matmul(this, other); }
  /** Product of two 2-D matrices, no broadcasting (torch.mm). */
  mm(other: T): T { return cp.mm(this, other); }
  /** Batched product `[B, n, m] @ [B, m, p]`, equal batch sizes, no broadcasting (torch.bmm). */
  bmm(other: T): T { return cp.bmm(this, other); }
  /** Outer product of two 1-D tensors, `[n]` and `[m]` -> `[n, m]`. */
  outer(other: T): T { return cp.outer(this, other); }
  /**
   * beta * this + alpha * (m1 @ m2) with 2-D m1 and m2, this broadcast to the product (torch.addmm); beta 0 ignores
   * this.
   */
  addmm(m1: T, m2: T, opt?: { beta?: number; alpha?: number }): T { return cp.addmm(this, m1, m2, opt); }
  /** this + value * t1 * t2, as torch.addcmul. */
  addcmul(t1: TS, t2: TS, opt?: { value?: number }): T { return cp.addcmul(this, t1, t2, opt); }
  /** addcmul in place (torch's `addcmul_`): this += value * t1 * t2, the optimizers' second-moment update. */
  addcmul_(t1: TS, t2: TS, opt?: { value?: number }): T { return cp.addcmul(this, t1, t2, opt, this); }
  /** this + value * t1 / t2, as torch.addcdiv. */
  addcdiv(t1: T, t2: T, opt?: { value?: number }): T { return cp.addcdiv(this, t1, t2, opt); }
  /** addcdiv in place (torch's `addcdiv_`): this += value * t1 / t2; integer t1 and t2 are refused. */
  addcdiv_(t1: T, t2: T, opt?: { value?: number }): T { return cp.addcdiv(this, t1, t2, opt, this); }
  /**
   * torch.roll: elements shifted along `dims` by `shifts`, wrapping around; with no dims, over the flattened tensor.
   */
  roll(shifts: number | readonly number[], dims?: number | readonly number[]): T { return cp.roll(this, shifts, dims); }
  /** Bool: whether any element is nonzero, over everything or along `dim`. */
  any(dim?: number, opt?: { keepdim?: boolean }): T { return cp.any(this, dim, opt); }
  /** Bool: whether every element is nonzero, over everything or along `dim`. */
  all(dim?: number, opt?: { keepdim?: boolean }): T { return cp.all(this, dim, opt); }
  /** torch's repeat: tiled sizes[i] times along each dim (as a list or as arguments). */
  repeat(...sizes: number[] | [readonly number[]]): T { return cp.repeat(this, (Array.isArray(sizes[0]) ? sizes[0] : sizes) as number[]); }
  /**
   * torch.repeat_interleave: each element repeated `repeats` times (or `repeats[i]` for element i) along `dim`, the
   * flattened tensor when omitted.
   */
  repeatInterleave(repeats: number | readonly number[] | T, dim?: number): T { return cp.repeatInterleave(this, repeats, dim); }
  /** Dim `dim` split into `sizes` (one may be -1), as torch's `Tensor.unflatten`. */
  unflatten(dim: number, sizes: readonly number[]): T { return cp.unflatten(this, dim, sizes); }
  /**
   * this[indices], as PyTorch's x[...]: integers, slices (sl(a, b, step) or '1:5:2'), null (a new
   * axis), '...', int64 index tensors and bool masks; views where the indices are basic.
   */
  index(...indices: ix.Index[]): T { return ix.index(this, ...indices); }
  /** this[indices] = value, in place (see index). */
  indexPut_(indices: readonly ix.Index[], value: number | boolean | T): T { return ix.indexPut_(this, indices, value); }
  /** this viewed with other's shape, as torch's view_as. */
  viewAs(other: T): T { return vw.view(this, other.shape); }
  /** exp normalised to sum 1 along `dim` (floating tensors), as torch.softmax. */
  softmax(dim: number): T { return rt.softmax(this, dim); }
  /** log(softmax) along `dim`, computed directly for accuracy. */
  logSoftmax(dim: number): T { return rt.logSoftmax(this, dim); }
  /** torch.gather: values along `dim` at an int64 `index` of this rank; the result has index's shape. */
  gather(dim: number, index: T): T { return rt.gather(this, dim, index); }
  /** torch.scatter_add (out of place): a copy with `src` added at the positions `index` names along `dim`. */
  scatterAdd(dim: number, index: T, src: T): T { return rt.scatterAdd(this, dim, index, src); }
  /** torch.index_select: the slices along `dim` at a 1-D int64/int32 `index`, in its order. */
  indexSelect(dim: number, index: T): T { return rt.indexSelect(this, dim, index); }
  /** 2-D convolution of this `[N, C, H, W]` (or `[C, H, W]`) input with weight `[O, C/groups, kH, kW]`, as F.conv2d. */
  conv2d(weight: T, bias?: T, opt?: Conv2dOptions): T { return rt.conv2d(this, weight, bias, opt); }
  /** 2-D max pooling of a `[N, C, H, W]` or `[C, H, W]` tensor, as F.max_pool2d (stride defaults to kernelSize). */
  maxPool2d(opt: Pool2dOptions): T { return rt.maxPool2d(this, opt); }
  /** 2-D average pooling of a `[N, C, H, W]` or `[C, H, W]` tensor, as F.avg_pool2d (stride defaults to kernelSize). */
  avgPool2d(opt: Pool2dOptions): T { return rt.avgPool2d(this, opt); }
}

function value(v: number | bigint, dtype: DType): number | boolean {
  return dtype === 'bool' ? v !== 0 : Number(v);
}

function nest(flat: TypedArray, shape: readonly number[], dtype: DType): NestedList {
  if (shape.length === 0) return value(flat[0]!, dtype);
  let i = 0;
  const build = (d: number): NestedList[] =>
    Array.from({ length: shape[d]! }, () => (d === shape.length - 1 ? value(flat[i++]!, dtype) : build(d + 1)));
  return build(0);
}

function itemOf(t: Tensor, flat: TypedArray): number | boolean {
  if (t.numel !== 1) throw new TesseraError('item', `only a tensor with one element can be converted to a scalar, got shape [${t.shape.join(', ')}]`);
  return value(flat[0]!, t.dtype);
}
