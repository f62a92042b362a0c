/**
 * Tensor factories. JS cannot tell 1 from 1.0, so number data defaults to float32 (as TensorFlow.js),
 * not PyTorch's int64; pass { dtype: 'int64' } or an Int32Array/BigInt64Array for integers.
 * arange follows PyTorch: all-integer arguments give int64.
 */
import { ArgumentError, type DType, DEFAULT_FLOAT, DTYPES, ShapeError, checkFillValue, checkInt, isFloating, checkNumber, checkOptions, checkShape, describe, fmtShape, isDType, numel, scalarOperand } from '@tessera/ops';
import { type DeviceKind, getBackend } from './backend.js';
import { type Generator, defaultGenerator } from './random.js';
import { Tensor } from './tensor.js';
import { multinomialOnDevice } from './ops/sample.js';
import { type TypedArray, allocChecked, allocHost, dtypeOfArray, setter } from './typed.js';

/** Where and as what a factory makes its tensor. */
export interface FactoryOptions {
  /** The element type (default float32, or what the data implies). */
  dtype?: DType;
  /** The device (default: getDefaultDevice()). */
  device?: DeviceKind;
  /** Make the new tensor a leaf that requires grad (floating dtypes only). */
  requiresGrad?: boolean;
}
/** Values as nested arrays (one level per dim) or a scalar, as tensor() takes them. */
export type NestedData = number | boolean | bigint | readonly NestedData[];
type ShapeArgs = [readonly number[], FactoryOptions?] | number[] | [...number[], FactoryOptions];

function checkDtype(op: string, dtype: DType | undefined): void {
  if (dtype !== undefined && !isDType(dtype)) throw new ArgumentError(op, `unknown dtype ${describe(dtype)}; expected one of float32, float64, float16, int32, int64, uint8, bool`);
}

/** The options object of a factory, checked (a misplaced positional value fails here). */
function factoryOptions<O extends FactoryOptions>(op: string, opt: unknown): O {
  const o = checkOptions<O>(op, opt) as O;
  checkDtype(op, o.dtype);
  if (o.requiresGrad !== undefined && typeof o.requiresGrad !== 'boolean') throw new ArgumentError(op, `requiresGrad must be a boolean, got ${describe(o.requiresGrad)}`);
  return o;
}

/** Applies the requiresGrad option to a factory's result. */
const finish = (t: Tensor, opt: FactoryOptions): Tensor => (opt.requiresGrad ? t.requiresGrad_() : t);

let defaultDevice: DeviceKind = 'cpu';

/** The device factories use when none is given (torch.set_default_device). */
export function setDefaultDevice(device: DeviceKind): void {
  getBackend(device, 'setDefaultDevice');
  defaultDevice = device;
}
/** The device factories use when none is given (torch.get_default_device). */
export const getDefaultDevice = (): DeviceKind => defaultDevice;

function fromHostData(op: string, data: TypedArray, dtype: DType, shape: readonly number[], device: DeviceKind = defaultDevice): Tensor {
  checkDtype(op, dtype);
  const backend = getBackend(device, op);
  return Tensor.fromHost(backend, data, dtype, shape);
}

/** A host array for `n` elements, or an OutOfMemoryError naming the op and the shape. */
function hostArray(op: string, dtype: DType, shape: readonly number[]): TypedArray {
  return allocChecked(op, dtype, shape, () => allocHost(dtype, numel(shape)));
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
export function tensor(data: NestedData | TypedArray, options: FactoryOptions & { shape?: readonly number[] } = {}): Tensor {
  const opt = factoryOptions<FactoryOptions & { shape?: readonly number[] }>('tensor', options);
  const given = opt.shape === undefined ? undefined : checkShape('tensor', opt.shape);
  if (ArrayBuffer.isView(data)) {
    const own = dtypeOfArray(data);
    if (!own && !opt.dtype) throw new ArgumentError('tensor', `cannot infer a dtype from ${data.constructor.name}; pass { dtype }`);
    const shape = given ?? [(data as TypedArray).length];
    if (numel(shape) !== (data as TypedArray).length) throw new ShapeError('tensor', `shape ${fmtShape(shape)} does not hold ${(data as TypedArray).length} elements`);
    const dtype = opt.dtype ?? own!;
    const host = own === dtype ? (data as TypedArray).slice() : hostOf(dtype, Array.from(data as ArrayLike<number>));
    return finish(fromHostData('tensor', host, dtype, shape, opt.device), opt);
  }
  const shape = inferShape(data);
  const flat = flatten(data, shape);
  if (given && numel(given) !== flat.length) throw new ShapeError('tensor', `shape ${fmtShape(given)} does not hold the ${flat.length} elements of data of shape ${fmtShape(shape)}`);
  const dtype = opt.dtype ?? (flat.length > 0 && flat.every((v) => typeof v === 'boolean') ? 'bool' : flat.some((v) => typeof v === 'bigint') ? 'int64' : DEFAULT_FLOAT);
  return finish(fromHostData('tensor', hostOf(dtype, flat), dtype, given ?? shape, opt.device), opt);
}

/** `f(2, 3)`, `f([2, 3])`, `f(2, 3, opt)` or `f([2, 3], opt)`: the sizes and the options, both checked. */
function shapeArgs(op: string, args: ShapeArgs): { shape: number[]; opt: FactoryOptions } {
  const a = args as unknown[];
  const last = a[a.length - 1];
  const hasOpt = a.length > 0 && (last === undefined || (typeof last === 'object' && last !== null && !Array.isArray(last) && !ArrayBuffer.isView(last)));
  const sizes = hasOpt ? a.slice(0, -1) : a;
  const list = sizes.length === 1 && (Array.isArray(sizes[0]) || ArrayBuffer.isView(sizes[0])) ? sizes[0] : sizes;
  return { shape: checkShape(op, list), opt: factoryOptions(op, hasOpt ? last : undefined) };
}

/** A tensor of `shape` with every element `value` (float32 for a number, bool for a boolean, unless dtype says). */
export function full(shape: readonly number[], value: number | boolean, options: FactoryOptions = {}): Tensor {
  const opt = factoryOptions('full', options);
  const sizes = checkShape('full', shape);
  const v = scalarOperand('full', value);
  // A bigint fill is an integer (torch.full infers int64 from a Python int); a JS number cannot say.
  const dtype = opt.dtype ?? (typeof v === 'boolean' ? 'bool' : typeof value === 'bigint' ? 'int64' : DEFAULT_FLOAT);
  checkFillValue('full', v, dtype);
  const t = Tensor.empty(getBackend(opt.device ?? defaultDevice, 'full'), sizes, dtype, 'full');
  return finish(t.numel ? t.fill_(v) : t, opt);
}

/** Zeros of a shape given as sizes or one array, options last: `zeros(2, 3)`, `zeros([2, 3], { dtype })`. */
export const zeros = (...args: ShapeArgs): Tensor => { const { shape, opt } = shapeArgs('zeros', args); return full(shape, 0, opt); };
/** Ones of a shape given as sizes or one array, options last. */
export const ones = (...args: ShapeArgs): Tensor => { const { shape, opt } = shapeArgs('ones', args); return full(shape, 1, opt); };
/** A tensor of a shape given as sizes or one array, its contents unspecified (torch.empty). */
export const empty = (...args: ShapeArgs): Tensor => {
  const { shape, opt } = shapeArgs('empty', args);
  return finish(Tensor.empty(getBackend(opt.device ?? defaultDevice, 'empty'), shape, opt.dtype ?? DEFAULT_FLOAT, 'empty'), opt);
};
const like = (x: Tensor, opt: FactoryOptions) => {
  if (!(x instanceof Tensor)) throw new ArgumentError('zerosLike', `expected a tensor, got ${describe(x)}`);
  return { ...opt, dtype: opt.dtype ?? x.dtype, device: opt.device ?? x.device };
};
/** Zeros with `x`'s shape, dtype and device (unless options say otherwise). */
export const zerosLike = (x: Tensor, opt: FactoryOptions = {}): Tensor => full(x.shape, 0, like(x, opt));
/** Ones with `x`'s shape, dtype and device (unless options say otherwise). */
export const onesLike = (x: Tensor, opt: FactoryOptions = {}): Tensor => full(x.shape, 1, like(x, opt));
/** `value` everywhere, with `x`'s shape, dtype and device (unless options say otherwise). */
export const fullLike = (x: Tensor, value: number | boolean, opt: FactoryOptions = {}): Tensor => full(x.shape, value, like(x, opt));

/** Values from a host function of the flat index, built on the host then uploaded. */
function generate(op: string, shape: readonly number[], dtype: DType, device: DeviceKind | undefined, f: (i: number) => number): Tensor {
  const host = hostArray(op, dtype, shape);
  const set = setter(dtype, host);
  for (let i = 0; i < host.length; i++) set(i, f(i));
  return fromHostData(op, host, dtype, shape, device);
}

/** arange(end), arange(start, end) or arange(start, end, step), options last: int64 when every argument is an integer, else float32. */
export function arange(start: number, end: number, step?: number, opt?: FactoryOptions): Tensor;
export function arange(start: number, end: number, opt?: FactoryOptions): Tensor;
export function arange(end: number, opt?: FactoryOptions): Tensor;
export function arange(a: number, b?: number | FactoryOptions, c: number | FactoryOptions = 1, d: FactoryOptions = {}): Tensor {
  // arange(start, end, options): the options where the step would be.
  if (typeof c === 'object' && c !== null) return arange(a, b as number, 1, c);
  const numeric = typeof b === 'number' || typeof b === 'bigint';
  const [start, end, step] = (numeric ? [a, b, c] : [0, a, 1]).map((v, i) => checkNumber('arange', ['start', 'end', 'step'][i]!, v)) as [number, number, number];
  const opt = factoryOptions('arange', numeric ? d : b);
  if (!Number.isFinite(start) || !Number.isFinite(end) || !Number.isFinite(step)) throw new ArgumentError('arange', `start=${start}, end=${end}, step=${step} must be finite`);
  const dtype = opt.dtype ?? ([start, end, step].every(Number.isInteger) ? 'int64' : DEFAULT_FLOAT);
  // As torch: an integer dtype steps by the arguments truncated to integers (a step of 0.5 is 0), and
  // int64 also counts its elements from them (arange(2.5, { dtype: int64 }) is [0, 1]).
  const integral = !isFloating(dtype);
  const [x0, x1, dx] = integral ? [start, end, step].map(Math.trunc) as [number, number, number] : [start, end, step];
  if (dx === 0) throw new ArgumentError('arange', `step must be nonzero, got ${step}${integral ? ` (as ${dtype}: 0)` : ''}`);
  const span = dtype === 'int64' ? (x1 - x0) / dx : (end - start) / step;
  if (span < 0) throw new ArgumentError('arange', `step ${step} moves away from end: start=${start}, end=${end}`);
  const n = checkShape('arange', [Math.ceil(span)], 'length')[0]!;
  return finish(generate('arange', [n], dtype, opt.device, (i) => x0 + i * dx), opt);
}

/** `steps` evenly spaced values from `start` to `end`, both included (torch.linspace). */
export function linspace(start: number, end: number, steps: number, options: FactoryOptions = {}): Tensor {
  const opt = factoryOptions('linspace', options);
  const [a, b] = [checkNumber('linspace', 'start', start), checkNumber('linspace', 'end', end)];
  const n = checkInt('linspace', 'steps', steps, 0);
  const h = n > 1 ? (b - a) / (n - 1) : 0;
  // Fill symmetrically from both ends (as PyTorch) so the last value is exactly `end`.
  return finish(generate('linspace', [n], opt.dtype ?? DEFAULT_FLOAT, opt.device, (i) => (i < n / 2 ? a + i * h : b - (n - 1 - i) * h)), opt);
}

/** The n x m identity matrix (m defaults to n). */
export function eye(n: number, m: number = n, options: FactoryOptions = {}): Tensor {
  const opt = factoryOptions('eye', options);
  const shape = checkShape('eye', [n, m], 'size');
  return finish(generate('eye', shape, opt.dtype ?? DEFAULT_FLOAT, opt.device, (i) => (Math.floor(i / shape[1]!) === i % shape[1]! ? 1 : 0)), opt);
}

/** Factory options of the random factories. */
export interface RandomOptions extends FactoryOptions {
  /** The generator to draw from (default: the global one that manualSeed seeds). */
  generator?: Generator;
}

const floatOnly = (op: string, dtype: DType): void => {
  if (dtype !== 'float32' && dtype !== 'float64' && dtype !== 'float16') throw new ArgumentError(op, `needs a floating dtype, got ${dtype}`);
};

/** Uniform [0, 1). */
export function rand(...args: ShapeArgs | [readonly number[], RandomOptions]): Tensor {
  const { shape, opt } = shapeArgs('rand', args as ShapeArgs);
  const g = (opt as RandomOptions).generator ?? defaultGenerator;
  const dtype = opt.dtype ?? DEFAULT_FLOAT;
  floatOnly('rand', dtype);
  if (dtype === 'float16') return finish(generate('rand', shape, dtype, opt.device, () => g.uniform()), opt);
  const host = hostArray('rand', dtype, shape) as Float32Array | Float64Array;
  g.fillUniform(host);
  return finish(fromHostData('rand', host, dtype, shape, opt.device), opt);
}

/** Standard normal. */
export function randn(...args: ShapeArgs | [readonly number[], RandomOptions]): Tensor {
  const { shape, opt } = shapeArgs('randn', args as ShapeArgs);
  const g = (opt as RandomOptions).generator ?? defaultGenerator;
  const dtype = opt.dtype ?? DEFAULT_FLOAT;
  floatOnly('randn', dtype);
  return finish(generate('randn', shape, dtype, opt.device, () => g.normal()), opt);
}

/** Integers uniform in [low, high), int64 by default. */
export function randint(low: number, high: number, shape: readonly number[], options: RandomOptions = {}): Tensor {
  const opt = factoryOptions<RandomOptions>('randint', options);
  const lo = checkInt('randint', 'low', low), hi = checkInt('randint', 'high', high);
  if (hi <= lo) throw new ArgumentError('randint', `expected low < high, got low=${lo}, high=${hi}`);
  const dt = opt.dtype ?? 'int64';
  if (lo < DTYPES[dt].min || hi - 1 > DTYPES[dt].max) throw new ArgumentError('randint', `[${lo}, ${hi}) is out of bounds for ${dt}`);
  const sizes = checkShape('randint', shape, 'size');
  const g = opt.generator ?? defaultGenerator;
  return generate('randint', sizes, dt, opt.device, () => lo + Math.floor(g.uniform() * (hi - lo)));
}

/**
 * torch.multinomial: `numSamples` category indices (int64) per row of `probs` ([C] or [N, C]),
 * drawn with probability proportional to the weights (which need not sum to 1). Without replacement
 * a category is drawn at most once per row. CPU weights are read on the host and checked at the
 * call; on a device with asynchronous reads the draws are made there (ops/sample.ts), and torch's
 * checks of the weights raise at the device's next read.
 */
export function multinomial(probs: Tensor, numSamples: number, options: { replacement?: boolean; generator?: Generator } = {}): Tensor {
  if (!(probs instanceof Tensor)) throw new ArgumentError('multinomial', `expected a tensor of probabilities, got ${describe(probs)}`);
  const { replacement = false, generator } = checkOptions<{ replacement?: boolean; generator?: Generator }>('multinomial', options);
  if (probs.ndim !== 1 && probs.ndim !== 2) throw new ShapeError('multinomial', `prob_dist must be 1 or 2 dim, got ${fmtShape(probs.shape)}`);
  if (!isFloating(probs.dtype)) throw new ArgumentError('multinomial', `probabilities must be floating, got ${probs.dtype}`);
  const n = checkInt('multinomial', 'numSamples', numSamples);
  if (n <= 0) throw new ArgumentError('multinomial', `cannot sample n_sample <= 0 samples, got ${n}`);
  const c = probs.shape[probs.ndim - 1]!, rows = probs.ndim === 2 ? probs.shape[0]! : 1;
  if (!replacement && n > c) throw new ArgumentError('multinomial', `cannot sample n_sample > prob_dist.size(-1) samples without replacement (${n} > ${c})`);
  const g = generator ?? defaultGenerator;
  if (!probs.storage.backend.readSync) {
    const draws = multinomialOnDevice(probs.ndim === 2 ? probs : probs.unsqueeze(0), n, replacement, g);
    return probs.ndim === 2 ? draws : draws.squeeze(0);
  }
  const p = probs.contiguous().dataSync();
  const out = new BigInt64Array(rows * n);
  const w = new Float64Array(c);
  for (let r = 0; r < rows; r++) {
    let total = 0, positive = 0;
    for (let j = 0; j < c; j++) {
      const v = Number(p[r * c + j]!);
      if (!Number.isFinite(v) || v < 0) throw new ArgumentError('multinomial', 'probability tensor contains either inf, nan or element < 0');
      w[j] = v; total += v; if (v > 0) positive++;
    }
    if (!(total > 0)) throw new ArgumentError('multinomial', 'invalid multinomial distribution (sum of probabilities <= 0)');
    if (!replacement && n > positive) throw new ArgumentError('multinomial', `invalid multinomial distribution (with replacement=False, not enough non-negative category to sample): ${positive} categories of nonzero weight for ${n} samples`);
    for (let k = 0; k < n; k++) {
      // The first category whose running sum passes u (never one of zero weight).
      const u = g.uniform() * total;
      let acc = 0, pick = -1;
      for (let j = 0; j < c; j++) {
        if (w[j]! <= 0) continue;
        acc += w[j]!;
        pick = j;
        if (u < acc) break;
      }
      out[r * n + k] = BigInt(pick);
      if (!replacement) { w[pick] = 0; total = w.reduce((a, b) => a + b, 0); }
    }
  }
  return fromHostData('multinomial', out, 'int64', probs.ndim === 2 ? [rows, n] : [n], probs.device);
}

/** torch.rand_like: uniform [0, 1) of x's shape, dtype and device. */
export const randLike = (x: Tensor, opt: RandomOptions = {}): Tensor => rand([...x.shape], like(x, opt));
/** torch.randn_like: standard normal of x's shape, dtype and device. */
export const randnLike = (x: Tensor, opt: RandomOptions = {}): Tensor => randn([...x.shape], like(x, opt));
