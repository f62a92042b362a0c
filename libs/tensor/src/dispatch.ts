/**
 * The dispatcher: looks up the spec, resolves output shape and dtype once, builds (and caches) the
 * kernel's IR, lays operands out for the backend (broadcast strides, coalesced dims) and launches.
 * Backends never see broadcasting, promotion or dim bookkeeping.
 */
import {
  ArgumentError, DTypeError, DeviceError, type DType, type ElementwiseSpec, type Operand, type ReduceSpec, ShapeError,
  REDUCTIONS, broadcastShapes, checkBool, checkNumber, checkOptions, elementwiseSpec, elementwiseTypes, fmtShape, sameShape, ir, isFloating, isIntegral, normDim, normDims, reduceTypes, scalarOperand,
} from '@tessera/ops';
import type { Backend, ElementwiseKernel, ReduceKernel, View } from './backend.js';
import { broadcastStrides, coalesce, hasInternalOverlap, partiallyOverlaps } from './layout.js';
import { checkInplace, gradWanted, record, untracked } from './grad-hook.js';
import { allocHost, setter } from './typed.js';
import { HALF_TO_FLOAT, toHalf } from './float16.js';
import { Tensor } from './tensor.js';
import { checkFlag } from './checks.js';
import { type StorageView, deferring, recordStep } from './graph/program.js';
import { countLaunch } from './graph/profile.js';

/** A plain value an op takes in place of a tensor (weakly typed, as a Python scalar in torch's promotion). */
export type Scalar = number | boolean;
/** An operand: a tensor or a plain value. */
export type TensorOrScalar = Tensor | Scalar;

/** The device shared by all tensor operands, or a DeviceError naming them. */
export function commonBackend(op: string, operands: readonly unknown[]): Backend {
  let first: Tensor | undefined;
  for (const o of operands) {
    if (!(o instanceof Tensor)) continue;
    if (!first) first = o;
    else if (o.device !== first.device) {
      const devs = operands.filter((t): t is Tensor => t instanceof Tensor).map((t) => t.device).join(', ');
      throw new DeviceError(op, `expected all tensors on the same device, got ${devs}; move them with .to(device)`);
    }
  }
  if (!first) throw new ArgumentError(op, 'expected at least one tensor operand');
  return first.storage.backend;
}

const category = (d: DType): number => (isFloating(d) ? 2 : isIntegral(d) ? 1 : 0);

/** PyTorch's can_cast: an in-place or out= result may not drop to a lower category. */
function checkCast(op: string, from: DType, to: DType): void {
  if (category(from) > category(to)) throw new DTypeError(op, `result type ${from} can't be cast to the output dtype ${to}`);
}

/** Everything about an elementwise call that follows from its operands' dtypes alone, cached. */
export interface ElementwisePlan {
  /** The kernel every call with this operand signature launches (scalars as params). */
  readonly kernel: ElementwiseKernel;
  /** The op's own result dtype (before any out= cast). */
  readonly result: DType;
  /** The dtype the op computes in; JS scalars and params are rounded to it. */
  readonly compute: DType;
}

const ewPlans = new Map<ElementwiseSpec, Map<string, ElementwisePlan>>();

/**
 * What decides promotion and the kernel: each tensor's dtype and whether it is 0-d, each scalar's
 * kind (bool / int-valued / float), and the destination dtype.
 */
function planKey(operands: readonly TensorOrScalar[], outDtype: DType | undefined): string {
  let key = outDtype ?? '';
  for (const o of operands) {
    key += o instanceof Tensor ? (o.shape.length === 0 ? `|0${o.dtype}` : `|${o.dtype}`) : typeof o === 'boolean' ? '|b' : Number.isInteger(o) && !Object.is(o, -0) ? '|i' : '|f';
  }
  return key;
}

function buildPlan(spec: ElementwiseSpec, operands: readonly TensorOrScalar[], outDtype: DType | undefined, key: string): ElementwisePlan {
  const opers: Operand[] = operands.map((o) => (o instanceof Tensor ? { kind: 'tensor', dtype: o.dtype, ndim: o.shape.length } : { kind: 'scalar', value: o }));
  const types = elementwiseTypes(spec, opers);
  const out = outDtype ?? types.out;
  const tensorDtypes: DType[] = [];
  const params: string[] = [];
  const args = operands.map((o, i) => {
    if (!(o instanceof Tensor)) {
      params.push(`s${i}`);
      return ir.param(`s${i}`, types.inputs[i]!);
    }
    tensorDtypes.push(o.dtype);
    return ir.cast(ir.input(tensorDtypes.length - 1, o.dtype), types.inputs[i]!);
  });
  const specParams = Object.keys(spec.params ?? {});
  params.push(...specParams);
  const p = Object.fromEntries(specParams.map((n) => [n, ir.param(n, types.compute)]));
  const kernel = { id: `${spec.name}:${key}`, expr: ir.cast(spec.expr(args, p), out), inputs: tensorDtypes, out, params };
  return { kernel, result: types.out, compute: types.compute };
}

/**
 * The cached plan for a spec over operands of these dtypes (0-d tensors and scalar kinds promote
 * differently, so they are part of the key), written to `outDtype` when given.
 */
export function planFor(spec: ElementwiseSpec, operands: readonly TensorOrScalar[], outDtype: DType | undefined): ElementwisePlan {
  const key = planKey(operands, outDtype);
  let perSpec = ewPlans.get(spec);
  if (!perSpec) ewPlans.set(spec, (perSpec = new Map()));
  let plan = perSpec.get(key);
  if (!plan) perSpec.set(key, (plan = buildPlan(spec, operands, outDtype, key)));
  return plan;
}

/** JS scalars and params become values of the compute dtype (as PyTorch converts alpha and scalars). */
const ROUND: Readonly<Partial<Record<DType, (v: number) => number>>> = {
  float32: Math.fround,
  float16: (v) => HALF_TO_FLOAT[toHalf(v)]!,
  int32: (v) => v | 0,
  uint8: (v) => v & 255,
  int64: (v) => Math.trunc(v) || 0,
};

const view = (t: Tensor, strides: readonly number[]): View => ({ buffer: t.storage.buffer, dtype: t.dtype, shape: t.shape, strides, offset: t.offset });
/** The same window as a deferred step records it: the storage, whose buffer is bound when the step runs. */
const storageView = (t: Tensor, strides: readonly number[]): StorageView => ({ storage: t.storage, dtype: t.dtype, shape: t.shape, strides, offset: t.offset });

const UNIT = [1] as const;

/** Broadcast strides of every operand against `shape`, with dims merged; one flat dim when all are contiguous alike. */
function layout(shape: readonly number[], result: Tensor, tensors: readonly Tensor[]): { shape: readonly number[]; strides: readonly (readonly number[])[] } {
  if (result.isContiguous() && tensors.every((t) => t.isContiguous() && sameShape(t.shape, shape))) {
    return { shape: [result.numel], strides: [UNIT, ...tensors.map(() => UNIT)] };
  }
  return coalesce(shape, [result.strides, ...tensors.map((t) => broadcastStrides(t.shape, t.strides, shape))]);
}

export interface ElementwiseOptions {
  /** Values of the spec's named parameters (add's alpha, lerp's weight); the spec's defaults otherwise. */
  readonly params?: Readonly<Record<string, number>>;
  /** Write the result into this tensor (in place / out=) instead of a new one. */
  readonly out?: Tensor;
  /** Let the result drop to a lower dtype category in `out` (copy_ and masked fills keep the destination's dtype). */
  readonly anyCast?: boolean;
  /** A fill: one value written everywhere, so an output whose elements share memory (an expanded view) is fine. */
  readonly fill?: boolean;
}

const COPY = elementwiseSpec('copy');

/** Operands with every JS scalar checked (bigints become numbers); the same array when all are fine. */
function checkedOperands(op: string, operands: readonly unknown[]): readonly TensorOrScalar[] {
  for (const o of operands) {
    if (!(o instanceof Tensor) && typeof o !== 'number' && typeof o !== 'boolean') {
      return operands.map((v) => (v instanceof Tensor ? v : scalarOperand(op, v)));
    }
  }
  return operands as readonly TensorOrScalar[];
}

/**
 * Checks a write into `out` of values computed from `tensors`. A written tensor whose elements share
 * memory (an expanded view) would be written twice from different values: refused, as PyTorch does,
 * unless nothing is read (a fill writes one value everywhere). An input that partially overlaps the
 * output is returned as a copy, so every element reads the input as it was before the write (NumPy's
 * rule; PyTorch raises there, but Tessera's flip is a view, so x.add_(x.flip(0)) must still work).
 */
function readableInputs(op: string, out: Tensor, shape: readonly number[], tensors: readonly Tensor[], fill: boolean): { inputs: readonly Tensor[]; copies: Tensor[] } {
  if (!(fill && !tensors.length) && hasInternalOverlap(out.shape, out.strides)) {
    throw new ArgumentError(op, `more than one element of the written-to tensor (shape ${fmtShape(out.shape)}, strides ${fmtShape(out.strides)}) refers to a single memory location; clone() it before writing in place`);
  }
  const copies: Tensor[] = [];
  if (!tensors.some((t) => t.storage === out.storage)) return { inputs: tensors, copies };
  const inputs = tensors.map((t) => {
    if (t.storage !== out.storage || !partiallyOverlaps(shape, out, { strides: broadcastStrides(t.shape, t.strides, shape), offset: t.offset })) return t;
    const c = untracked(() => elementwise(COPY, [t]));
    copies.push(c);
    return c;
  });
  return { inputs, copies };
}

/**
 * Runs an elementwise spec over tensors and JS scalars (scalars are runtime kernel parameters, so
 * `x.mul(2)` and `x.mul(3)` share one compiled kernel). With `out` it is in place / out=: the result
 * may then not drop to a lower dtype category unless `anyCast`.
 */
export function elementwise(spec: ElementwiseSpec, operandsIn: readonly TensorOrScalar[], opt: ElementwiseOptions = {}): Tensor {
  const { out, params } = opt;
  const operands = checkedOperands(spec.name, operandsIn);
  const tensors = operands.filter((o): o is Tensor => o instanceof Tensor);
  const backend = commonBackend(spec.name, out ? [out, ...tensors] : tensors);
  const plan = planFor(spec, operands, out?.dtype);
  const shape = tensors.length === 1 && !out ? tensors[0]!.shape : broadcastShapes(spec.name, out ? [out.shape, ...tensors.map((t) => t.shape)] : tensors.map((t) => t.shape));
  if (out) {
    if (!sameShape(out.shape, shape)) {
      throw new ShapeError(spec.name, `output of shape ${fmtShape(out.shape)} cannot hold the broadcast result of shape ${fmtShape(shape)}`);
    }
    if (!opt.anyCast) checkCast(spec.name, plan.result, out.dtype);
    checkInplace(spec.name, out, operands);
  }
  const round = ROUND[plan.compute];
  const paramValues: number[] = [];
  for (const o of operands) if (!(o instanceof Tensor)) paramValues.push(round ? round(+o) : +o);
  if (spec.params) {
    for (const name in spec.params) {
      const given = params?.[name];
      const v = given === undefined ? spec.params[name]!.default : checkNumber(spec.name, name, given);
      // -0 is a float (a Python int has no negative zero), as for scalar operands.
      if ((isIntegral(plan.compute) || plan.compute === 'bool') && (!Number.isInteger(v) || Object.is(v, -0))) throw new ArgumentError(spec.name, `${name}=${v} must be an integer for ${plan.compute} operands`);
      paramValues.push(round ? round(v) : v);
    }
  }
  checkDomain(spec, plan, operands, shape.every((d) => d > 0));
  const result = out ?? Tensor.empty(backend, shape, plan.kernel.out);
  if (result.numel === 0) {
    // Nothing to compute, but an empty result is still part of the graph (its gradient is empty too).
    if (!out && spec.grad && gradWanted(tensors)) recordElementwise(spec, operands, paramValues.slice(paramValues.length - Object.keys(spec.params ?? {}).length), result);
    return result;
  }
  const { inputs, copies } = out ? readableInputs(spec.name, out, shape, tensors, opt.fill ?? false) : { inputs: tensors, copies: undefined };
  if (deferring()) {
    // Recorded over the broadcast shape, dims not merged: the scheduler lines steps up dim by dim
    // to fuse them, and merges dims per fused kernel (graph/schedule.ts).
    recordStep({
      kind: 'elementwise', backend, kernel: plan.kernel, shape, params: paramValues,
      out: storageView(result, result.strides), inputs: inputs.map((t) => storageView(t, broadcastStrides(t.shape, t.strides, shape))),
    });
  } else {
    const lay = layout(shape, result, inputs);
    countLaunch(spec.name);
    backend.elementwise(plan.kernel, {
      shape: lay.shape,
      out: view(result, lay.strides[0]!),
      inputs: inputs.map((t, i) => view(t, lay.strides[i + 1]!)),
      params: paramValues,
    });
  }
  if (copies) for (const c of copies) c.dispose();
  if (out) out.storage.version++;
  else if (spec.grad && gradWanted(tensors)) recordElementwise(spec, operands, paramValues.slice(paramValues.length - Object.keys(spec.params ?? {}).length), result);
  return result;
}

/**
 * Refuses integral operand values an op has no result for, as PyTorch does (spec.integralDomain):
 * integer division by zero, in a scalar or anywhere in a tensor (read now on CPU; on asynchronous
 * devices checked on the device and raised at the next read), and negative integer scalar powers.
 */
function checkDomain(spec: ElementwiseSpec, plan: ElementwisePlan, operands: readonly TensorOrScalar[], computes: boolean): void {
  const domain = spec.integralDomain;
  // A negative scalar exponent is refused up front; a zero divisor only when something is divided (as torch).
  if (!domain || !isIntegral(plan.compute) || (domain.refuse === 'zero' && !computes)) return;
  const o = operands[domain.operand]!;
  const error = () => new ArgumentError(spec.name, domain.refuse === 'zero' ? `integer division by zero (ZeroDivisionError), operands of dtype ${plan.compute}` : `integers to negative integer powers are not allowed (exponent ${o})`);
  if (!(o instanceof Tensor)) {
    if (domain.refuse === 'zero' ? +o === 0 : +o < 0) throw error();
  } else if (domain.refuse === 'zero' && o.numel > 0) {
    const anyZero = untracked(() => reduce(REDUCTIONS['amax']!, elementwise(elementwiseSpec('eq'), [o, 0]), undefined));
    checkFlag(anyZero, error);
  }
}

/** A 0-d tensor holding a JS scalar operand, so gradient rules can treat every operand as a tensor. */
function scalarTensor(like: Tensor, value: number | boolean): Tensor {
  const host = allocHost(like.dtype, 1);
  setter(like.dtype, host)(0, +value);
  return Tensor.fromHost(like.storage.backend, host, like.dtype, []);
}

function recordElementwise(spec: ElementwiseSpec, operands: readonly TensorOrScalar[], specParams: readonly number[], result: Tensor): void {
  const inputs = operands.map((o) => (o instanceof Tensor ? o : undefined));
  record(spec.name, inputs, result, (g) => {
    const ctx = new RuleContext(spec, operands, specParams, g, result);
    return spec.grad!.map((rule, i) => (rule && inputs[i]?.requiresGrad ? (rule(ctx) as Tensor) : undefined));
  });
}

/**
 * What an elementwise spec's gradient rule sees (GradContext). A class, not an object literal of
 * closures: one is made per recorded op in every backward pass.
 */
class RuleContext {
  private params: Record<string, number> | undefined;
  constructor(private readonly spec: ElementwiseSpec, private readonly operands: readonly TensorOrScalar[], private readonly specParams: readonly number[], readonly g: Tensor, readonly out: Tensor) {}
  get a(): Tensor { return this.operand(0); }
  get b(): Tensor { return this.operand(1); }
  get c(): Tensor { return this.operand(2); }
  get p(): Readonly<Record<string, number>> {
    if (!this.params) {
      this.params = {};
      let i = 0;
      for (const name in this.spec.params) this.params[name] = this.specParams[i++]!;
    }
    return this.params;
  }
  op(name: string, xs: readonly TensorOrScalar[], ps?: Readonly<Record<string, number>>): Tensor { return elementwise(elementwiseSpec(name), xs, { params: ps }); }
  /** Operand i as a tensor: JS scalars as 0-d tensors of the result's dtype. */
  private operand(i: number): Tensor {
    const o = this.operands[i]!;
    return o instanceof Tensor ? o : scalarTensor(this.out, o);
  }
}

const rdKernels = new Map<ReduceSpec, Map<string, ReduceKernel>>();

/**
 * The cached reduction (or, with `scan`, inclusive scan) kernel of a spec loading `input`, accumulating
 * in `compute` and storing `out`.
 */
export function reduceKernel(spec: ReduceSpec, input: DType, compute: DType, out: DType, scan: boolean): ReduceKernel {
  const key = `${input}>${out}${scan ? 's' : ''}`;
  let perSpec = rdKernels.get(spec);
  if (!perSpec) rdKernels.set(spec, (perSpec = new Map()));
  let k = perSpec.get(key);
  if (k) return k;
  const names = Object.keys(spec.params ?? {});
  const p = Object.fromEntries(names.map((n) => [n, ir.param(n, compute)]));
  const x = ir.cast(ir.input(0, input), compute);
  const acc = ir.input(0, compute);
  k = {
    id: `${spec.name}:${key}`, input, out, params: names, scan,
    // amax's -inf as a bool init is true (any nonzero is), which made amax of all-false true: clamp
    // it into the bool range. Integer dtypes convert +-inf saturating, which is already right.
    init: compute === 'bool' ? Math.min(Math.max(spec.init ?? 0, 0), 1) : spec.init ?? 0,
    map: spec.map ? spec.map(x, p) : x,
    combine: spec.combine ? spec.combine(acc, ir.input(1, compute)) : acc,
    finalize: ir.cast(spec.finalize ? spec.finalize(acc, ir.input(1, compute), p) : acc, out),
    ...(spec.better ? { better: spec.better(ir.input(0, compute), ir.input(1, compute)) } : {}),
  };
  perSpec.set(key, k);
  return k;
}

export interface ReduceOptions { keepdim?: boolean; params?: Readonly<Record<string, number>> }

/** Reduces `dims` (all when undefined) of `x` with a primitive reduction spec. */
export function reduce(spec: ReduceSpec, x: Tensor, dims: number | readonly number[] | undefined | null, options: ReduceOptions = {}): Tensor {
  if (!spec.combine && !spec.better) throw new ArgumentError(spec.name, 'is a composite reduction; call its tensor function');
  const opt = checkOptions<ReduceOptions>(spec.name, options);
  if (opt.keepdim !== undefined) checkBool(spec.name, 'keepdim', opt.keepdim);
  const { compute, out } = reduceTypes(spec, x.dtype);
  // An empty dim list reduces every dim, as torch's sum(x, []) does.
  if (Array.isArray(dims) && dims.length === 0) dims = undefined;
  const all = dims === undefined || dims === null;
  if (spec.singleDim && !all && typeof dims !== 'number') throw new ArgumentError(spec.name, `takes one dim (or none for the flattened tensor), got ${JSON.stringify(dims)}`);
  const red = normDims(spec.name, dims, x.ndim);
  const isRed = x.shape.map((_, i) => red.includes(i));
  const count = x.shape.reduce((a, d, i) => (isRed[i] ? a * d : a), 1);
  if (spec.needsElements && count === 0) {
    throw new ShapeError(spec.name, `cannot reduce over zero elements (input ${fmtShape(x.shape)}, dims ${JSON.stringify(red)}): the result has no identity`);
  }
  const keep = opt.keepdim ?? false;
  const outShape = keep ? x.shape.map((d, i) => (isRed[i] ? 1 : d)) : x.shape.filter((_, i) => !isRed[i]);
  // argmax over the whole tensor returns a 0-d index even with keepdim=false, as in PyTorch.
  const kernel = reduceKernel(spec, x.dtype, compute, out, false);
  const result = Tensor.empty(x.storage.backend, spec.singleDim && all && keep ? x.shape.map(() => 1) : outShape, out);
  if (result.numel === 0) return result;
  // The output does not move along reduced dims: stride 0 there lets the inner dims coalesce freely.
  const outStrides = keep ? result.strides.map((s, i) => (isRed[i] ? 0 : s)) : expandStrides(result.strides, isRed);
  launchReduce(x, result, kernel, isRed, outStrides, opt.params, spec);
  return result;
}

/** Inclusive scan (cumsum) along one dim; the output has the input's shape. */
export function scan(spec: ReduceSpec, x: Tensor, dim: number): Tensor {
  const d = normDim(spec.name, dim, x.ndim);
  const { compute, out } = reduceTypes(spec, x.dtype);
  const result = Tensor.empty(x.storage.backend, x.shape, out);
  if (result.numel === 0) return result;
  const isRed = x.shape.map((_, i) => i === d);
  launchReduce(x, result, reduceKernel(spec, x.dtype, compute, out, true), isRed, result.strides, undefined, spec);
  return result;
}

/** Output strides laid over the input's dims, with 0 at reduced dims (they are not in the output). */
function expandStrides(outStrides: readonly number[], isRed: readonly boolean[]): number[] {
  let j = 0;
  return isRed.map((r) => (r ? 0 : outStrides[j++]!));
}

function launchReduce(x: Tensor, result: Tensor, kernel: ReduceKernel, isRed: readonly boolean[], outStrides: readonly number[], params: Readonly<Record<string, number>> | undefined, spec: ReduceSpec): void {
  const keptDims = x.shape.map((_, i) => i).filter((i) => !isRed[i]);
  const redDims = x.shape.map((_, i) => i).filter((i) => isRed[i]);
  const outer = coalesce(keptDims.map((i) => x.shape[i]!), [keptDims.map((i) => x.strides[i]!), keptDims.map((i) => outStrides[i]!)]);
  const inner = coalesce(redDims.map((i) => x.shape[i]!), [redDims.map((i) => x.strides[i]!), redDims.map((i) => outStrides[i]!)]);
  const paramValues = Object.entries(spec.params ?? {}).map(([n, p]) => params?.[n] ?? p.default);
  const inStrides = [...outer.strides[0]!, ...inner.strides[0]!], outStrides2 = [...outer.strides[1]!, ...inner.strides[1]!];
  if (deferring()) {
    recordStep({ kind: 'reduce', backend: x.storage.backend, kernel, outer: outer.shape, inner: inner.shape, input: storageView(x, inStrides), out: storageView(result, outStrides2), params: paramValues });
    return;
  }
  countLaunch(spec.name);
  x.storage.backend.reduce(kernel, { outer: outer.shape, inner: inner.shape, input: view(x, inStrides), out: view(result, outStrides2), params: paramValues });
}
