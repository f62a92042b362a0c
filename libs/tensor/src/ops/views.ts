/** View ops: new shape/strides/offset over the same storage, never a copy (reshape copies only when it must). */
import { ArgumentError, IndexError, ShapeError, checkInt, describe, fmtShape, inferShape, normDim, normDims } from '@tessera/ops';
import { viewStrides } from '../layout.js';
import { Tensor } from '../tensor.js';
import { record, untracked } from '../grad-hook.js';

/**
 * `dimIndex(op, dim, ndim)`: a dim counted from the end when negative, made non-negative (a 0-d tensor takes 0
 * and -1); throws IndexError out of range and ArgumentError for a non-integer, naming `op`.
 */
export const dimIndex = normDim;

/** Accepts both `f(2, 3)` and `f([2, 3])`. */
export const shapeArg = (args: number[] | [readonly number[]]): readonly number[] =>
  (Array.isArray(args[0]) ? args[0] : args) as readonly number[];

const make = (x: Tensor, shape: readonly number[], strides: readonly number[], offset = x.offset): Tensor =>
  new Tensor(x.storage, shape, strides, offset);

/** A second handle on the same view (its own dispose); gradients pass straight through. */
export const alias = (x: Tensor): Tensor => record('alias', [x], make(x, x.shape, x.strides), (g) => [g]);

/** Indices [start, end) along one dim: the part of a tensor a narrow, a step-1 slice or a select picks. */
export interface Region {
  /** The dim the range runs along (non-negative). */
  readonly dim: number;
  /** First index, inclusive. */
  readonly start: number;
  /** Index past the last, exclusive. */
  readonly end: number;
}

/** What an embedded gradient is: `source` placed by `pick` into zeros (`region`: where, when it is one range). */
export interface Embedded {
  /** The gradient that was placed: the view's gradient. */
  readonly source: Tensor;
  /** The view op itself, applied to a tensor of the input's shape (where `source` goes). */
  readonly pick: (t: Tensor) => Tensor;
  /** The one contiguous range `pick` selects, when it is one (narrow, select, a step-1 slice); else undefined. */
  readonly region: Region | undefined;
}
const embedded = new WeakMap<Tensor, Embedded>();
/**
 * How `t` was made by embed, if it was: autograd adds further embedded gradients of the same tensor
 * (the pieces of a split, q/k/v of a packed projection) into the first one's buffer, a piece each,
 * instead of summing whole tensors of zeros.
 */
export const embeddedOf = (t: Tensor): Embedded | undefined => embedded.get(t);

/**
 * Gradient of a view that picks part of x: g placed into zeros of x's shape through the same view.
 * Recorded as an op of its own so that it is differentiable too (its gradient is the view again).
 */
function embed(x: Tensor, g: Tensor, pick: (t: Tensor) => Tensor, region?: Region): Tensor {
  const out = untracked(() => {
    const z = Tensor.empty(g.storage.backend, x.shape, g.dtype).zero_();
    pick(z).copy_(g);
    return z;
  });
  embedded.set(out, { source: g, pick, region });
  return record('embed', [g], out, (gg) => [pick(gg)]);
}

/** The same data as a new leaf, outside the graph. */
export const detach = (x: Tensor): Tensor => make(x, x.shape, x.strides);

/**
 * torch's `Tensor.view`: the same storage seen with a new shape (one dim may be -1, inferred). Throws
 * ShapeError when x's strides cannot express it without a copy (use reshape).
 */
export function view(x: Tensor, shape: readonly number[]): Tensor {
  const target = inferShape('view', x.shape, shape, x.numel);
  const strides = viewStrides(x.shape, x.strides, target);
  if (!strides) {
    throw new ShapeError('view', `cannot view a tensor of shape ${fmtShape(x.shape)} and strides ${fmtShape(x.strides)} as ${fmtShape(target)} without a copy; use reshape()`);
  }
  return record('view', [x], make(x, target, strides), (g) => [reshape(g, x.shape)]);
}

/** torch.reshape: a view where the strides allow one, else a contiguous copy with the new shape (one dim may be -1). */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const target = inferShape('reshape', x.shape, shape, x.numel);
  const strides = viewStrides(x.shape, x.strides, target);
  if (!strides) return view(x.clone(), target);
  return record('reshape', [x], make(x, target, strides), (g) => [reshape(g, x.shape)]);
}

/** torch.flatten: dims `startDim` to `endDim` (inclusive) merged into one; a 0-d tensor becomes `[1]`. */
export function flatten(x: Tensor, startDim = 0, endDim = -1): Tensor {
  const s = normDim('flatten', startDim, x.ndim), e = normDim('flatten', endDim, x.ndim);
  if (x.ndim === 0) return reshape(x, [1]);
  if (s > e) throw new IndexError('flatten', `startDim ${startDim} must not come after endDim ${endDim}`);
  return reshape(x, [...x.shape.slice(0, s), x.shape.slice(s, e + 1).reduce((a, b) => a * b, 1), ...x.shape.slice(e + 1)]);
}

/** torch.permute: a view with dims reordered, result dim i being x's dim `dims[i]`; every dim exactly once. */
export function permute(x: Tensor, dims: readonly number[]): Tensor {
  if (!Array.isArray(dims)) throw new ArgumentError('permute', `dims must be a list of integers, got ${describe(dims)}`);
  if (dims.length !== x.ndim) throw new ShapeError('permute', `expected ${x.ndim} dims for a tensor of shape ${fmtShape(x.shape)}, got ${fmtShape(dims)}`);
  const d = dims.map((v) => normDim('permute', v, x.ndim));
  if (new Set(d).size !== d.length) throw new IndexError('permute', `dims ${fmtShape(dims)} repeat a dim`);
  const inverse = d.map((_, i) => d.indexOf(i));
  return record('permute', [x], make(x, d.map((i) => x.shape[i]!), d.map((i) => x.strides[i]!)), (g) => [permute(g, inverse)]);
}

/** torch.transpose: a view with `dim0` and `dim1` swapped. */
export function transpose(x: Tensor, dim0: number, dim1: number): Tensor {
  const a = normDim('transpose', dim0, x.ndim), b = normDim('transpose', dim1, x.ndim);
  if (x.ndim === 0) return alias(x);
  const order = x.shape.map((_, i) => (i === a ? b : i === b ? a : i));
  return permute(x, order);
}

/** torch.t: a 2-D tensor transposed (0-d and 1-D ones unchanged); throws ShapeError above rank 2. */
export function t(x: Tensor): Tensor {
  if (x.ndim > 2) throw new ShapeError('t', `expects a tensor of rank <= 2, got shape ${fmtShape(x.shape)}; use transpose(dim0, dim1)`);
  return x.ndim < 2 ? alias(x) : transpose(x, 0, 1);
}

/** Every dim in reverse order, as a view (numpy's `x.T`; what `Tensor.T` returns). */
export const reverseDims = (x: Tensor): Tensor => permute(x, x.shape.map((_, i) => x.ndim - 1 - i));

/**
 * torch's `Tensor.expand`: a view broadcasting size-1 dims (and new leading dims) to `shape` with zero strides,
 * no copy; -1 keeps a dim's size. Elements then share memory, so write to a clone instead.
 */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  if (!Array.isArray(shape)) throw new ArgumentError('expand', `size must be a list of integers, got ${describe(shape)}`);
  if (shape.length < x.ndim) throw new ShapeError('expand', `target ${fmtShape(shape)} has fewer dims than input ${fmtShape(x.shape)}`);
  const lead = shape.length - x.ndim;
  const strides = shape.map((d, i) => {
    const src = i < lead ? undefined : x.shape[i - lead]!;
    if (d === -1) {
      if (src === undefined) throw new ShapeError('expand', `-1 is not allowed for a new leading dim (target ${fmtShape(shape)})`);
      return x.strides[i - lead]!;
    }
    if (src === undefined || (src === 1 && d !== 1)) {
      if (!Number.isInteger(d) || d < 0) throw new ShapeError('expand', `invalid size ${d} in ${fmtShape(shape)}`);
      return 0;
    }
    if (src !== d) throw new ShapeError('expand', `cannot expand ${fmtShape(x.shape)} to ${fmtShape(shape)}: dim ${i} has size ${src}, which is neither ${d} nor 1`);
    return x.strides[i - lead]!;
  });
  // The engine sums gradients back to the input's shape, which is exactly expand's gradient.
  return record('expand', [x], make(x, shape.map((d, i) => (d === -1 ? x.shape[i - lead]! : d)), strides), (g) => [g]);
}

/** torch.narrow: a view of `length` elements along `dim` from `start` (negative counts from the end). */
export function narrow(x: Tensor, dim: number, start: number, length: number): Tensor {
  if (x.ndim === 0) throw new IndexError('narrow', 'cannot be applied to a 0-d tensor');
  const d = normDim('narrow', dim, x.ndim);
  checkInt('narrow', 'start', start);
  checkInt('narrow', 'length', length);
  const size = x.shape[d]!;
  const s = start < 0 ? start + size : start;
  if (s < 0 || s > size || length < 0 || s + length > size) {
    throw new IndexError('narrow', `start ${start} and length ${length} exceed dim ${d} of size ${size}`);
  }
  const shape = x.shape.slice();
  shape[d] = length;
  return record('narrow', [x], make(x, shape, x.strides, x.offset + s * x.strides[d]!), (g) => [embed(x, g, (t) => narrow(t, d, s, length), { dim: d, start: s, end: s + length })]);
}

/** Python slice semantics x[start:end:step] along dim (indices clamp; step must be positive). */
export function slice(x: Tensor, dim: number, startArg: number | null = 0, endArg: number | null = Infinity, stepArg: number | null = 1): Tensor {
  if (x.ndim === 0) throw new IndexError('slice', 'cannot be applied to a 0-d tensor');
  const d = normDim('slice', dim, x.ndim);
  // null is Python's None (x[:e], x[s:]); the bounds are integers or +-Infinity.
  const bound = (name: string, v: unknown, dflt: number) => (v === null || v === undefined ? dflt : v === Infinity || v === -Infinity ? v : checkInt('slice', name, v));
  const start = bound('start', startArg, 0), end = bound('end', endArg, Infinity), step = bound('step', stepArg, 1);
  if (step < 1) throw new ArgumentError('slice', `step must be a positive integer, got ${step}`);
  const size = x.shape[d]!;
  const clampIdx = (i: number) => Math.min(Math.max(i < 0 ? i + size : i, 0), size);
  const s = clampIdx(start), e = Math.max(clampIdx(end), s);
  const shape = x.shape.slice(), strides = x.strides.slice();
  shape[d] = Math.ceil((e - s) / step);
  strides[d] = x.strides[d]! * step;
  return record('slice', [x], make(x, shape, strides, x.offset + s * x.strides[d]!), (g) => [embed(x, g, (t) => slice(t, d, start, end, step), step === 1 ? { dim: d, start: s, end: e } : undefined)]);
}

/** torch.select: the slice at `index` along `dim` (negative counts from the end), that dim removed; a view. */
export function select(x: Tensor, dim: number, index: number): Tensor {
  if (x.ndim === 0) throw new IndexError('select', 'cannot be applied to a 0-d tensor');
  const d = normDim('select', dim, x.ndim);
  checkInt('select', 'index', index);
  const size = x.shape[d]!;
  if (!Number.isInteger(index) || index < -size || index >= size) throw new IndexError('select', `index ${index} is out of range for dim ${d} of size ${size}`);
  const i = index < 0 ? index + size : index;
  const out = make(x, x.shape.filter((_, k) => k !== d), x.strides.filter((_, k) => k !== d), x.offset + i * x.strides[d]!);
  return record('select', [x], out, (g) => [embed(x, g, (t) => select(t, d, i), { dim: d, start: i, end: i + 1 })]);
}

/**
 * torch.split: pieces of `size` along dim (the last one shorter), or of the given sizes, which must
 * sum to the dim's size. Views; their gradients are assembled in one buffer (autograd's engine).
 */
export function split(x: Tensor, sizes: number | readonly number[], dim = 0): Tensor[] {
  if (x.ndim === 0) throw new ShapeError('split', 'expects at least a 1-dimensional tensor');
  const d = normDim('split', dim, x.ndim);
  const n = x.shape[d]!;
  let parts: number[];
  if (typeof sizes === 'number') {
    const size = checkInt('split', 'size', sizes);
    if (size < 0) throw new ArgumentError('split', `expects a non-negative size, got ${size}`);
    if (size === 0 && n !== 0) throw new ArgumentError('split', `size can only be 0 if dim ${d} has size 0, but it has size ${n}`);
    parts = n === 0 ? [0] : Array.from({ length: Math.ceil(n / size) }, (_, i) => Math.min(size, n - i * size));
  } else {
    if (!Array.isArray(sizes)) throw new ArgumentError('split', `expects a size or a list of sizes, got ${describe(sizes)}`);
    parts = sizes.map((v) => checkInt('split', 'size', v));
    if (parts.some((v) => v < 0)) throw new ArgumentError('split', `expects non-negative sizes, got [${parts.join(', ')}]`);
    const total = parts.reduce((a, b) => a + b, 0);
    if (total !== n) throw new ShapeError('split', `sizes [${parts.join(', ')}] sum to ${total}, not to the size ${n} of dim ${d}`);
  }
  let at = 0;
  return parts.map((len) => { const piece = narrow(x, d, at, len); at += len; return piece; });
}

/** torch.chunk: `chunks` pieces of ceil(size / chunks) along dim (fewer when the size runs out first). */
export function chunk(x: Tensor, chunks: number, dim = 0): Tensor[] {
  if (x.ndim === 0) throw new ShapeError('chunk', 'expects at least a 1-dimensional tensor');
  const c = checkInt('chunk', 'chunks', chunks);
  if (c <= 0) throw new ArgumentError('chunk', `expects chunks greater than 0, got ${c}`);
  const d = normDim('chunk', dim, x.ndim);
  const n = x.shape[d]!;
  // An empty dim gives `chunks` empty pieces, as torch does.
  return n === 0 ? Array.from({ length: c }, () => narrow(x, d, 0, 0)) : split(x, Math.ceil(n / c), d);
}

/** torch.unbind: the slices along dim, each without it. */
export function unbind(x: Tensor, dim = 0): Tensor[] {
  if (x.ndim === 0) throw new IndexError('unbind', 'cannot be applied to a 0-d tensor');
  const d = normDim('unbind', dim, x.ndim);
  return Array.from({ length: x.shape[d]! }, (_, i) => select(x, d, i));
}

/** torch.squeeze: a view without the size-1 dims among `dim` (all of them when omitted); other dims are kept. */
export function squeeze(x: Tensor, dim?: number | readonly number[]): Tensor {
  const dims = new Set(normDims('squeeze', dim, x.ndim));
  const keep = x.shape.map((s, i) => !(dims.has(i) && s === 1));
  return record('squeeze', [x], make(x, x.shape.filter((_, i) => keep[i]), x.strides.filter((_, i) => keep[i])), (g) => [reshape(g, x.shape)]);
}

/** torch.unsqueeze: a view with a size-1 dim inserted at `dim` (from -ndim-1 to ndim). */
export function unsqueeze(x: Tensor, dim: number): Tensor {
  const d = normDim('unsqueeze', dim, x.ndim + 1);
  const shape = x.shape.slice(), strides = x.strides.slice();
  shape.splice(d, 0, 1);
  strides.splice(d, 0, d < x.ndim ? x.strides[d]! * x.shape[d]! : 1);
  return record('unsqueeze', [x], make(x, shape, strides), (g) => [reshape(g, x.shape)]);
}

/** Reverses dims by negating strides: a view, unlike PyTorch's copying flip. */
export function flip(x: Tensor, dims: number | readonly number[]): Tensor {
  const ds = normDims('flip', dims, x.ndim);
  let offset = x.offset;
  const strides = x.strides.map((s, i) => {
    if (!ds.includes(i)) return s;
    if (x.shape[i]! > 0) offset += (x.shape[i]! - 1) * s;
    return -s;
  });
  return record('flip', [x], make(x, x.shape, strides, offset), (g) => [flip(g, ds)]);
}
