/**
 * PyTorch's indexing, x[...] and x[...] = v, as x.index(...) and x.indexPut_([...], v). Indices:
 * integers (negative from the end), slices (`sl(start, stop, step)` or the strings ':', '1:', ':-1',
 * '::2', '1:5:2'), null for a new axis, '...' for the rest, and tensors (or lists, as Python's
 * x[:, [-1]]): int64 indices (advanced indexing, broadcast together) and bool masks (their true positions, over as many dims as the mask
 * has). Integers, slices, null and '...' give views, as torch's basic indexing does; tensor indices
 * give copies, placed where torch places them (together where the tensor indices are adjacent,
 * first otherwise). Everything is composed of differentiable ops.
 */
import { ArgumentError, IndexError, NotImplementedError, checkInt, fmtShape } from '@tessera/ops';
import { Tensor } from '../tensor.js';
import { tensor } from '../factories.js';
import { indexSelect } from './routines.js';
import * as vw from './views.js';
import * as ew from './elementwise.js';

const SLICE = Symbol('slice');
/** A slice, start:stop:step (null or undefined: Python's None). */
export interface Slice {
  /** Brand under a private symbol: only sl() (and the string forms) make slices. */
  readonly [SLICE]: true;
  /** First index, negative from the end; null from the start. */
  readonly start: number | null;
  /** Index past the last (exclusive), negative from the end; null to the end. */
  readonly stop: number | null;
  /** Positive stride; null for 1. */
  readonly step: number | null;
}
/** start:stop:step, as Python's slice. */
export const sl = (start: number | null = null, stop: number | null = null, step: number | null = null): Slice => ({ [SLICE]: true, start, stop, step });

/** One index of x.index(...). */
export type Index = number | null | '...' | string | Slice | Tensor | readonly number[] | readonly boolean[];

const isSlice = (v: unknown): v is Slice => typeof v === 'object' && v !== null && SLICE in v;

/** '1:5:2' -> sl(1, 5, 2); ':' -> sl(). */
function parseSlice(s: string): Slice {
  const parts = s.split(':');
  if (parts.length < 2 || parts.length > 3) throw new ArgumentError('index', `'${s}' is not a slice (start:stop or start:stop:step) or '...'`);
  const num = (p: string) => {
    if (p.trim() === '') return null;
    const v = Number(p);
    if (!Number.isInteger(v)) throw new ArgumentError('index', `'${s}': ${JSON.stringify(p)} is not an integer`);
    return v;
  };
  return sl(num(parts[0]!), num(parts[1]!), parts.length === 3 ? num(parts[2]!) : null);
}

type Norm = { kind: 'int'; i: number } | { kind: 'slice'; s: Slice } | { kind: 'new' } | { kind: 'tensor'; t: Tensor } | { kind: 'ellipsis' };

function normalize(x: Tensor, indices: readonly Index[]): Norm[] {
  return indices.map((ix): Norm => {
    // A list of integers, as Python's x[:, [-1]]: an int64 index tensor on x's device (bools: a mask).
    if (Array.isArray(ix)) {
      const list = ix as readonly (number | boolean)[];
      const bools = list.length > 0 && list.every((v) => typeof v === 'boolean');
      if (!bools) list.forEach((v, i) => checkInt('index', `list entry ${i}`, v as number));
      return { kind: 'tensor', t: bools ? tensor(list as boolean[], { device: x.device }) : tensor(list as number[], { dtype: 'int64', device: x.device }) };
    }
    if (ix === null) return { kind: 'new' };
    if (ix === '...') return { kind: 'ellipsis' };
    if (typeof ix === 'string') return { kind: 'slice', s: parseSlice(ix) };
    if (typeof ix === 'number') { checkInt('index', 'index', ix); return { kind: 'int', i: ix }; }
    if (isSlice(ix)) return { kind: 'slice', s: ix };
    if (ix instanceof Tensor) return { kind: 'tensor', t: ix };
    throw new ArgumentError('index', `an index must be an integer, a slice, null, '...' or a tensor, got ${String(ix)}`);
  });
}

/** Dims an index consumes. */
const consumes = (n: Norm): number => (n.kind === 'int' || n.kind === 'slice' ? 1 : n.kind === 'tensor' ? (n.t.dtype === 'bool' ? Math.max(n.t.ndim, 1) : 1) : 0);

/** Integer positions of a bool mask's true elements, one int64 tensor per mask dim (torch's nonzero, as a tuple). */
function nonzero(mask: Tensor): Tensor[] {
  const read = mask.storage.backend.readSync;
  if (!read) throw new NotImplementedError('index', `a bool mask on '${mask.device}' (whose reads are asynchronous) cannot index yet: read it with await and index with the positions`);
  const m = mask.ndim === 0 ? vw.unsqueeze(mask, 0) : mask;
  const flat = m.contiguous().dataSync() as Uint8Array;
  const cols: number[][] = m.shape.map(() => []);
  for (let k = 0; k < flat.length; k++) {
    if (!flat[k]) continue;
    let r = k;
    for (let d = m.ndim - 1; d >= 0; d--) { cols[d]!.push(r % m.shape[d]!); r = Math.floor(r / m.shape[d]!); }
  }
  return cols.map((c) => Tensor.fromHost(mask.storage.backend, BigInt64Array.from(c, BigInt), 'int64', [c.length]));
}

/**
 * The basic part of indexing: a view of x, with where each tensor index applies (a dim of the view)
 * and what it is. A bool mask's positions (a host read) are found only when `positions` asks: an
 * assignment through a mask writes where it holds, on the device, without them.
 */
function basic(x: Tensor, indices: readonly Index[], positions = true): { view: Tensor; advanced: { dim: number; index?: Tensor }[]; masks: Tensor[] } {
  const norm = normalize(x, indices);
  const ellipses = norm.filter((n) => n.kind === 'ellipsis').length;
  if (ellipses > 1) throw new IndexError('index', 'an index can only have a single ellipsis');
  const used = norm.reduce((n, ix) => n + consumes(ix), 0);
  if (used > x.ndim) throw new IndexError('index', `too many indices for a tensor of dimension ${x.ndim}`);
  const expanded: Norm[] = [];
  for (const n of norm) {
    if (n.kind === 'ellipsis') for (let k = 0; k < x.ndim - used; k++) expanded.push({ kind: 'slice', s: sl() });
    else expanded.push(n);
  }
  let view = x;
  let d = 0; // the view's dim the next index applies to
  const advanced: { dim: number; index?: Tensor }[] = [];
  const masks: Tensor[] = [];
  for (const n of expanded) {
    if (n.kind === 'new') { view = vw.unsqueeze(view, d); d++; continue; }
    if (n.kind === 'int') { view = vw.select(view, d, n.i); continue; }
    if (n.kind === 'slice') {
      const { start, stop, step } = n.s;
      if (step !== null && step <= 0) throw new ArgumentError('index', `step must be greater than zero, got ${step}`);
      view = vw.slice(view, d, start ?? 0, stop ?? Infinity, step ?? 1);
      d++;
      continue;
    }
    if (n.kind === 'tensor') {
      const t = n.t;
      if (t.dtype === 'bool') {
        const span = Math.max(t.ndim, 1);
        const dims = view.shape.slice(d, d + span);
        const maskShape = t.ndim === 0 ? [1] : t.shape;
        if (t.ndim > 0 && (dims.length !== t.ndim || dims.some((s, k) => s !== maskShape[k]))) {
          throw new IndexError('index', `the mask of shape ${fmtShape(t.shape)} does not match the indexed dims ${fmtShape(dims)}`);
        }
        if (t.ndim === 0) { view = vw.unsqueeze(view, d); }
        masks.push(t);
        if (positions) nonzero(t).forEach((pos, k) => advanced.push({ dim: d + k, index: pos }));
        else for (let k = 0; k < span; k++) advanced.push({ dim: d + k });
        d += span;
        continue;
      }
      if (t.dtype !== 'int64' && t.dtype !== 'int32' && t.dtype !== 'uint8') throw new IndexError('index', `tensors used as indices must be int64, int32, uint8 or bool, got ${t.dtype}`);
      advanced.push({ dim: d, index: t.dtype === 'int64' ? t : t.to('int64') });
      d++;
    }
  }
  return { view, advanced, masks };
}

/** x[indices], as PyTorch: views for integers, slices, null and '...'; a copy where tensors index. */
export function index(x: Tensor, ...indices: Index[]): Tensor {
  const { view, advanced } = basic(x, indices);
  if (!advanced.length) return view;
  const dims = advanced.map((a) => a.dim);
  const adjacent = dims.every((dm, k) => k === 0 || dm === dims[k - 1]! + 1);
  // The advanced dims moved together (kept in place where adjacent), merged into one, and read
  // through one linear index: each index normalised (negative from the end) and range-checked, an
  // out-of-range one made -1 so indexSelect raises an IndexError rather than reading a neighbour.
  const first = dims[0]!;
  const rest = view.shape.map((_, k) => k).filter((k) => !dims.includes(k));
  const order = adjacent ? [...rest.filter((k) => k < first), ...dims, ...rest.filter((k) => k > first)] : [...dims, ...rest];
  const at = adjacent ? rest.filter((k) => k < first).length : 0;
  const moved = vw.permute(view, order);
  const sizes = dims.map((dm) => view.shape[dm]!);
  const merged = vw.reshape(moved, [...moved.shape.slice(0, at), sizes.reduce((a, b) => a * b, 1), ...moved.shape.slice(at + dims.length)]);
  let linear: Tensor | undefined;
  let bad: Tensor | undefined;
  advanced.forEach(({ index }, k) => {
    const ix = index!;
    const size = sizes[k]!;
    const out = ew.logicalOr(ew.lt(ix, -size), ew.ge(ix, size));
    bad = bad ? ew.logicalOr(bad, out) : out;
    const pos = ew.where(ew.lt(ix, 0), ew.add(ix, size), ix);
    linear = linear ? ew.add(ew.mul(linear, size), pos) : pos;
  });
  const lin = ew.where(bad!, -1, linear!);
  const picked = indexSelect(merged, at, vw.reshape(lin, [lin.numel]));
  return vw.reshape(picked, [...merged.shape.slice(0, at), ...lin.shape, ...merged.shape.slice(at + 1)]);
}

/**
 * x[indices] = value, as PyTorch, in place: through the view where the indices are basic; where a
 * bool mask indexes, value (a scalar, or a tensor broadcast to the masked view) is written where
 * the mask holds. Integer tensor indices are not taken here yet (index_put_ with them: a typed error).
 */
export function indexPut_(x: Tensor, indices: readonly Index[], value: number | boolean | Tensor): Tensor {
  const { view, advanced, masks } = basic(x, indices, false);
  if (!advanced.length) {
    vw.expand(value instanceof Tensor ? value : view, view.shape); // a ShapeError where value does not broadcast
    if (value instanceof Tensor) view.copy_(value); else view.fill_(value);
    return x;
  }
  // Integer indices (tensors or lists) carry their positions; a mask's were not asked for.
  if (masks.length !== 1 || masks[0]!.ndim === 0 || advanced.some((a) => a.index !== undefined)) {
    throw new NotImplementedError('indexPut_', 'assigning through integer tensor indices (or several masks) is not supported yet; a bool mask, integers, slices, null and ... are');
  }
  // The masked dims of the view, in place: value where the mask holds, the old values elsewhere.
  const mask = masks[0]!;
  const d = advanced[0]!.dim;
  const lead = view.shape.slice(0, d), trail = view.shape.slice(d + mask.ndim);
  const m = vw.reshape(mask, [...lead.map(() => 1), ...mask.shape, ...trail.map(() => 1)]);
  const v: Tensor | number | boolean = value;
  if (value instanceof Tensor && value.ndim > 0) {
    // value is given for the selected elements ([count, ...trail], broadcast): scatter it into place.
    throw new NotImplementedError('indexPut_', 'assigning a non-scalar tensor through a bool mask is not supported yet; assign a scalar (or a 0-d tensor)');
  }
  view.copy_(ew.where(vw.expand(m, view.shape), v, view));
  return x;
}

