/**
 * Tensor factories. JS cannot tell 1 from 1.0, so number data defaults to float32 (as TensorFlow.js),
 * not PyTorch's int64; pass { dtype: 'int64' } or an Int32Array/BigInt64Array for integers.
 * arange follows PyTorch: all-integer arguments give int64.
 */
import { ArgumentError, type DType, DEFAULT_FLOAT, ShapeError, fmtShape, isDType, numel } from '@tessera/ops';
import { type DeviceKind, getBackend } from './backend.js';
import { type Generator, defaultGenerator } from './random.js';
import { Tensor } from './tensor.js';
import { type TypedArray, allocHost, dtypeOfArray, setter } from './typed.js';

export interface FactoryOptions { dtype?: DType; device?: DeviceKind }
export type NestedData = number | boolean | bigint | readonly NestedData[];
type ShapeArgs = [readonly number[], FactoryOptions?] | number[] | [...number[], FactoryOptions];

function checkDtype(op: string, dtype: DType | undefined): void {
  if (dtype !== undefined && !isDType(dtype)) throw new ArgumentError(op, `unknown dtype '${String(dtype)}'`);
}

let defaultDevice: DeviceKind = 'cpu';

/** The device factories use when none is given (torch.set_default_device). */
export function setDefaultDevice(device: DeviceKind): void {
  getBackend(device, 'setDefaultDevice');
  defaultDevice = device;
}
export const getDefaultDevice = (): DeviceKind => defaultDevice;

function fromHostData(op: string, data: TypedArray, dtype: DType, shape: readonly number[], device: DeviceKind = defaultDevice): Tensor {
  checkDtype(op, dtype);
  const backend = getBackend(device, op);
  return Tensor.fromHost(backend, data, dtype, shape);
}

/** Host array of `dtype` holding `values` (converted with the dtype's store rule). */
function hostOf(dtype: DType, values: ArrayLike<number | boolean | bigint>): TypedArray {
  const a = allocHost(dtype, values.length);
  if (dtype === 'int64') {
    const b = a as BigInt64Array;
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      b[i] = typeof v === 'bigint' ? v : BigInt.asIntN(64, BigInt(Math.trunc(Number(v)) || 0));
    }
    return a;
  }
  const set = setter(dtype, a);
  for (let i = 0; i < values.length; i++) set(i, Number(values[i]!));
  return a;
}

function inferShape(data: NestedData): number[] {
  const shape: number[] = [];
  let d: NestedData = data;
  while (Array.isArray(d)) { shape.push(d.length); d = d[0] as NestedData; if (d === undefined) break; }
  return shape;
}

function flatten(data: NestedData, shape: readonly number[]): (number | boolean | bigint)[] {
  const out: (number | boolean | bigint)[] = [];
  const walk = (d: NestedData, level: number, path: number[]): void => {
    if (level === shape.length) {
      if (Array.isArray(d)) throw new ShapeError('tensor', `ragged nested data: element at [${path.join(', ')}] is a list but the shape is ${fmtShape(shape)}`);
      if (typeof d !== 'number' && typeof d !== 'boolean' && typeof d !== 'bigint') throw new ArgumentError('tensor', `element at [${path.join(', ')}] is ${typeof d}; expected number, boolean or bigint`);
      out.push(d as number | boolean | bigint);
      return;
    }
    if (!Array.isArray(d) || d.length !== shape[level]) {
      throw new ShapeError('tensor', `ragged nested data: at [${path.join(', ')}] expected a list of length ${shape[level]}, got ${Array.isArray(d) ? `length ${d.length}` : typeof d}`);
    }
    d.forEach((v, i) => walk(v, level + 1, [...path, i]));
  };
  walk(data, 0, []);
  return out;
}

/** tensor(data): from nested arrays, a scalar, or a typed array (1-D, or reshaped by `shape`). */
export function tensor(data: NestedData | TypedArray, opt: FactoryOptions & { shape?: readonly number[] } = {}): Tensor {
  checkDtype('tensor', opt.dtype);
  if (ArrayBuffer.isView(data)) {
    const own = dtypeOfArray(data);
    if (!own && !opt.dtype) throw new ArgumentError('tensor', `cannot infer a dtype from ${data.constructor.name}; pass { dtype }`);
    const shape = opt.shape ?? [data.length];
    if (numel(shape) !== data.length) throw new ShapeError('tensor', `shape ${fmtShape(shape)} does not hold ${data.length} elements`);
    const dtype = opt.dtype ?? own!;
    const host = own === dtype ? (data as TypedArray).slice() : hostOf(dtype, Array.from(data as ArrayLike<number>));
    return fromHostData('tensor', host, dtype, shape, opt.device);
  }
  const shape = inferShape(data);
  const flat = flatten(data, shape);
  const dtype = opt.dtype ?? (flat.length > 0 && flat.every((v) => typeof v === 'boolean') ? 'bool' : flat.some((v) => typeof v === 'bigint') ? 'int64' : DEFAULT_FLOAT);
  return fromHostData('tensor', hostOf(dtype, flat), dtype, opt.shape ?? shape, opt.device);
}

function shapeArgs(op: string, args: ShapeArgs): { shape: number[]; opt: FactoryOptions } {
  const a = args as unknown[];
  const shape = (Array.isArray(a[0]) ? a[0] : a.filter((v) => typeof v === 'number')) as number[];
  const last = a[a.length - 1];
  const opt = (last && typeof last === 'object' && !Array.isArray(last) ? last : {}) as FactoryOptions;
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) throw new ShapeError(op, `invalid shape ${fmtShape(shape)}: sizes must be non-negative integers`);
  checkDtype(op, opt.dtype);
  return { shape: shape.slice(), opt };
}

export function full(shape: readonly number[], value: number | boolean, opt: FactoryOptions = {}): Tensor {
  checkDtype('full', opt.dtype);
  const dtype = opt.dtype ?? (typeof value === 'boolean' ? 'bool' : DEFAULT_FLOAT);
  const t = Tensor.empty(getBackend(opt.device ?? defaultDevice, 'full'), shape, dtype);
  return t.numel ? t.fill_(value) : t;
}

export const zeros = (...args: ShapeArgs): Tensor => { const { shape, opt } = shapeArgs('zeros', args); return full(shape, 0, opt); };
export const ones = (...args: ShapeArgs): Tensor => { const { shape, opt } = shapeArgs('ones', args); return full(shape, 1, opt); };
export const empty = (...args: ShapeArgs): Tensor => {
  const { shape, opt } = shapeArgs('empty', args);
  return Tensor.empty(getBackend(opt.device ?? defaultDevice, 'empty'), shape, opt.dtype ?? DEFAULT_FLOAT);
};
const like = (x: Tensor, opt: FactoryOptions) => ({ dtype: opt.dtype ?? x.dtype, device: opt.device ?? x.device });
export const zerosLike = (x: Tensor, opt: FactoryOptions = {}): Tensor => full(x.shape, 0, like(x, opt));
export const onesLike = (x: Tensor, opt: FactoryOptions = {}): Tensor => full(x.shape, 1, like(x, opt));
export const fullLike = (x: Tensor, value: number | boolean, opt: FactoryOptions = {}): Tensor => full(x.shape, value, like(x, opt));

/** Values from a host function of the flat index, built on the host then uploaded. */
function generate(op: string, shape: readonly number[], dtype: DType, device: DeviceKind | undefined, f: (i: number) => number): Tensor {
  const host = allocHost(dtype, numel(shape));
  const set = setter(dtype, host);
  for (let i = 0; i < host.length; i++) set(i, f(i));
  return fromHostData(op, host, dtype, shape, device);
}

/** arange(end) or arange(start, end, step?): int64 when every argument is an integer, else float32. */
export function arange(start: number, end: number, step?: number, opt?: FactoryOptions): Tensor;
export function arange(end: number, opt?: FactoryOptions): Tensor;
export function arange(a: number, b?: number | FactoryOptions, c: number = 1, d: FactoryOptions = {}): Tensor {
  const [start, end, step, opt] = typeof b === 'number' ? [a, b, c, d] : [0, a, 1, b ?? {}];
  if (step === 0 || !Number.isFinite(start) || !Number.isFinite(end) || !Number.isFinite(step)) {
    throw new ArgumentError('arange', `start=${start}, end=${end}, step=${step} must be finite with a nonzero step`);
  }
  if ((end - start) / step < 0) throw new ArgumentError('arange', `step ${step} moves away from end: start=${start}, end=${end}`);
  const n = Math.ceil((end - start) / step);
  const dtype = opt.dtype ?? ([start, end, step].every(Number.isInteger) ? 'int64' : DEFAULT_FLOAT);
  return generate('arange', [n], dtype, opt.device, (i) => start + i * step);
}

export function linspace(start: number, end: number, steps: number, opt: FactoryOptions = {}): Tensor {
  if (!Number.isInteger(steps) || steps < 0) throw new ArgumentError('linspace', `steps must be a non-negative integer, got ${steps}`);
  const h = steps > 1 ? (end - start) / (steps - 1) : 0;
  // Fill symmetrically from both ends (as PyTorch) so the last value is exactly `end`.
  return generate('linspace', [steps], opt.dtype ?? DEFAULT_FLOAT, opt.device, (i) => (i < steps / 2 ? start + i * h : end - (steps - 1 - i) * h));
}

export function eye(n: number, m: number = n, opt: FactoryOptions = {}): Tensor {
  if (![n, m].every((v) => Number.isInteger(v) && v >= 0)) throw new ArgumentError('eye', `sizes must be non-negative integers, got ${n} x ${m}`);
  return generate('eye', [n, m], opt.dtype ?? DEFAULT_FLOAT, opt.device, (i) => (Math.floor(i / m) === i % m ? 1 : 0));
}

export interface RandomOptions extends FactoryOptions { generator?: Generator }

const floatOnly = (op: string, dtype: DType): void => {
  if (dtype !== 'float32' && dtype !== 'float64' && dtype !== 'float16') throw new ArgumentError(op, `needs a floating dtype, got ${dtype}`);
};

/** Uniform [0, 1). */
export function rand(...args: ShapeArgs | [readonly number[], RandomOptions]): Tensor {
  const { shape, opt } = shapeArgs('rand', args as ShapeArgs);
  const g = (opt as RandomOptions).generator ?? defaultGenerator;
  const dtype = opt.dtype ?? DEFAULT_FLOAT;
  floatOnly('rand', dtype);
  if (dtype === 'float16') return generate('rand', shape, dtype, opt.device, () => g.uniform());
  const host = allocHost(dtype, numel(shape)) as Float32Array | Float64Array;
  g.fillUniform(host);
  return fromHostData('rand', host, dtype, shape, opt.device);
}

/** Standard normal. */
export function randn(...args: ShapeArgs | [readonly number[], RandomOptions]): Tensor {
  const { shape, opt } = shapeArgs('randn', args as ShapeArgs);
  const g = (opt as RandomOptions).generator ?? defaultGenerator;
  const dtype = opt.dtype ?? DEFAULT_FLOAT;
  floatOnly('randn', dtype);
  return generate('randn', shape, dtype, opt.device, () => g.normal());
}

/** Integers uniform in [low, high), int64 by default. */
export function randint(low: number, high: number, shape: readonly number[], opt: RandomOptions = {}): Tensor {
  if (!Number.isInteger(low) || !Number.isInteger(high) || high <= low) throw new ArgumentError('randint', `expected integers low < high, got low=${low}, high=${high}`);
  const g = opt.generator ?? defaultGenerator;
  return generate('randint', shape.slice(), opt.dtype ?? 'int64', opt.device, () => low + Math.floor(g.uniform() * (high - low)));
}
