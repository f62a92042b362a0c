/**
 * The seeded call generator of the differential fuzzer: public-API calls with good, edge-case and bad
 * arguments (shapes, dtypes, dims, sizes, indices, scalars of every JS type, strided, expanded,
 * flipped and overlapping views, in-place writes on views and on leaves that require grad,
 * factories, layers, losses, conv/pool parameters, gradients), each described for Tessera and for
 * torch at once. The same seed gives the same calls.
 */
import type { DType } from 'tessera';
import { type Call, type Num, type PtInvocation, type TensorDesc, type TsInvocation, type ViewOp, encodeNum } from './call.js';

/** What a backend holds: the dtypes drawn for it, and int64's width there. */
export interface Caps {
  readonly dtypes: readonly DType[];
  readonly int64Bits: 32 | 64;
}

export const ALL_DTYPES: readonly DType[] = ['float32', 'float64', 'float16', 'int32', 'int64', 'uint8', 'bool'];
const FLOATS: readonly DType[] = ['float32', 'float64', 'float16'];

/** mulberry32: small, fast, and the same stream in every run. */
export class Rng {
  private s: number;
  constructor(seed: number) { this.s = seed >>> 0; }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(lo: number, hi: number): number { return lo + Math.floor(this.next() * (hi - lo + 1)); }
  chance(p: number): boolean { return this.next() < p; }
  pick<T>(xs: readonly T[]): T { return xs[Math.floor(this.next() * xs.length)]!; }
  /** Picks by weight: [[weight, value], ...]. */
  weighted<T>(xs: readonly (readonly [number, T])[]): T {
    let r = this.next() * xs.reduce((a, [w]) => a + w, 0);
    for (const [w, v] of xs) if ((r -= w) < 0) return v;
    return xs[xs.length - 1]![1];
  }
  shuffle<T>(xs: readonly T[]): T[] {
    const a = xs.slice();
    for (let i = a.length - 1; i > 0; i--) { const j = this.int(0, i); [a[i], a[j]] = [a[j]!, a[i]!]; }
    return a;
  }
}

const T = (i: number) => ({ $t: i });
const U = { $u: 1 };
const F = (v: number): Num => encodeNum(v);
const D = (d: string) => ({ $dtype: d });

/** Builds one call: its tensors, then both invocations. */
class Builder {
  readonly tensors: TensorDesc[] = [];
  constructor(readonly r: Rng, readonly caps: Caps) {}

  dtype(from: readonly DType[] = ALL_DTYPES): DType {
    const ok = from.filter((d) => this.caps.dtypes.includes(d));
    return this.r.pick(ok.length ? ok : this.caps.dtypes);
  }

  shape(maxRank = 3, maxDim = 4): number[] {
    const rank = this.r.weighted(([[1, 0], [3, 1], [4, 2], [3, 3], [1, 4]] as [number, number][]).filter(([, k]) => k <= maxRank));
    return Array.from({ length: rank }, () => (this.r.chance(0.06) ? 0 : this.r.int(1, maxDim)));
  }

  value(dtype: DType, lo = -5, hi = 5, specials = true): Num {
    const r = this.r;
    switch (dtype) {
      case 'bool': return r.int(0, 1);
      case 'uint8': return r.int(0, 20);
      case 'int32': case 'int64': return r.int(Math.ceil(lo) * 2, Math.floor(hi) * 2);
      default:
        if (specials && r.chance(0.08)) return F(r.pick([NaN, Infinity, -Infinity, -0, 0]));
        return Math.round((lo + r.next() * (hi - lo)) * 1024) / 1024;
    }
  }

  /** A tensor of `shape` (after its views), possibly built through a chain of views. */
  tensor(dtype: DType, shape: readonly number[], o: { views?: boolean; expand?: boolean; grad?: boolean; lo?: number; hi?: number; specials?: boolean; values?: Num[] } = {}): number {
    const { base, views } = o.views === false ? { base: shape.slice(), views: [] as ViewOp[] } : this.viewsOf(shape, o.expand ?? true);
    const n = base.reduce((a, b) => a * b, 1);
    const data = o.values ?? Array.from({ length: n }, () => this.value(dtype, o.lo, o.hi, o.specials ?? true));
    this.tensors.push({ shape: base, dtype, data, views, ...(o.grad ? { grad: true } : {}) });
    return this.tensors.length - 1;
  }

  /** A view chain whose result has `shape`, and the base shape it starts from. */
  viewsOf(shape: readonly number[], expand: boolean): { base: number[]; views: ViewOp[] } {
    const r = this.r, rank = shape.length;
    const kind = r.weighted([[12, 'none'], [2, 'permute'], [2, 'slice'], [2, 'flip'], [expand ? 1 : 0, 'expand'], [1, 'transpose'], [1, 't']] as const);
    if (kind === 'permute' && rank >= 2) {
      const p = r.shuffle(shape.map((_, i) => i));
      const base = new Array<number>(rank);
      p.forEach((src, i) => { base[src] = shape[i]!; });
      return { base, views: [['permute', p]] };
    }
    if (kind === 'transpose' && rank >= 2) {
      const a = r.int(0, rank - 1), b = r.int(0, rank - 1);
      const base = shape.slice();
      [base[a], base[b]] = [base[b]!, base[a]!];
      return { base, views: [['transpose', a, b]] };
    }
    if (kind === 't' && rank === 2) return { base: [shape[1]!, shape[0]!], views: [['t']] };
    if (kind === 'slice' && rank >= 1) {
      const d = r.int(0, rank - 1), n = shape[d]!, step = r.int(1, 3), start = r.int(0, 2);
      const end = n === 0 ? start : start + (n - 1) * step + 1;
      const base = shape.slice();
      base[d] = end + r.int(0, 2);
      return { base, views: [['slice', d, start, end, step]] };
    }
    if (kind === 'flip' && rank >= 1) return { base: shape.slice(), views: [['flip', [r.int(0, rank - 1)]]] };
    if (kind === 'expand' && rank >= 1 && shape.some((d) => d > 1)) {
      const base = shape.map((d) => (d > 1 && r.chance(0.5) ? 1 : d));
      return { base, views: [['expand', shape.slice()]] };
    }
    return { base: shape.slice(), views: [] };
  }

  /** A view of tensor `of` (the same memory): how partial overlap is drawn. */
  aliasOf(of: number, views: ViewOp[]): number {
    this.tensors.push({ shape: [], dtype: this.tensors[of]!.dtype, from: of, views });
    return this.tensors.length - 1;
  }

  /** A shape that broadcasts with `shape` (usually), or one that does not. */
  partner(shape: readonly number[]): number[] {
    const r = this.r;
    return r.weighted([
      [6, () => shape.slice()],
      [3, () => shape.slice(r.int(0, shape.length)).map((d) => (r.chance(0.3) ? 1 : d))],
      [1, () => [...(r.chance(0.5) ? [r.int(1, 3)] : []), ...shape.map((d) => (r.chance(0.3) ? 1 : d))]],
      [1, () => this.shape()],
    ] as const)();
  }

  /** A JS scalar operand: usually a number, sometimes a bool, a special, a bigint, or a value no op can mean. */
  scalar(kind: 'any' | 'number' | 'good' | 'bad' = 'any'): unknown {
    const r = this.r;
    const good: (readonly [number, () => unknown])[] = [
      [5, () => r.int(-4, 4)], [5, () => Math.round(r.next() * 80 - 40) / 8], [1, () => r.chance(0.5)],
      [1, () => F(r.pick([NaN, Infinity, -Infinity, -0]))], [1, () => ({ $i: String(r.int(-5, 5)) })],
    ];
    const bad: (readonly [number, () => unknown])[] = [[1, () => 'a'], [1, () => null], [1, () => [2]], [1, () => ({})]];
    const pool = kind === 'good' ? good : kind === 'number' ? good.slice(0, 2) : kind === 'bad' ? bad : [...good, ...bad.map(([w, f]) => [w * 0.4, f] as const)];
    return r.weighted(pool)();
  }

  /** A dim for a tensor of `rank`: usually valid (maybe negative), sometimes out of range or not an integer. */
  dim(rank: number, allowBad = true): unknown {
    const r = this.r, n = Math.max(rank, 1);
    return r.weighted([
      [8, () => r.int(0, n - 1)], [4, () => r.int(-n, -1)],
      [allowBad ? 1 : 0, () => r.pick([n, -n - 1, n + 3])], [allowBad ? 0.5 : 0, () => r.pick([0.5, '1', null, [0]])],
    ] as const)();
  }

  call(family: string, op: string, ts: TsInvocation, pt: PtInvocation, extra: Partial<Pick<Call, 'inplace' | 'compare'>> = {}): Omit<Call, 'id'> {
    return { family, op, tensors: this.tensors, ts, pt, ...extra };
  }
}

// ------------------------------------------------------------------ families

type Gen = (b: Builder) => Omit<Call, 'id'>;

/** Unary elementwise methods: [Tessera name, torch call]. */
const UNARY: readonly (readonly [string, string, 'method' | 'F'])[] = [
  ['neg', 'neg', 'method'], ['abs', 'abs', 'method'], ['exp', 'exp', 'method'], ['log', 'log', 'method'], ['log1p', 'log1p', 'method'],
  ['expm1', 'expm1', 'method'], ['sqrt', 'sqrt', 'method'], ['rsqrt', 'rsqrt', 'method'], ['sin', 'sin', 'method'], ['cos', 'cos', 'method'],
  ['tanh', 'tanh', 'method'], ['sigmoid', 'sigmoid', 'method'], ['relu', 'relu', 'method'], ['silu', 'silu', 'F'], ['erf', 'erf', 'method'],
  ['floor', 'floor', 'method'], ['ceil', 'ceil', 'method'], ['round', 'round', 'method'], ['trunc', 'trunc', 'method'], ['sign', 'sign', 'method'],
  ['reciprocal', 'reciprocal', 'method'], ['square', 'square', 'method'], ['isnan', 'isnan', 'method'], ['logicalNot', 'logical_not', 'method'],
];

const unary: Gen = (b) => {
  const r = b.r;
  const gelu = r.chance(0.06);
  const x = b.tensor(b.dtype(), b.shape());
  if (gelu) {
    const approximate = r.pick(['none', 'tanh']);
    return b.call('unary', 'gelu', { kind: 'method', name: 'gelu', self: x, args: [{ approximate }] }, { kind: 'F', name: 'gelu', args: [T(x)], kwargs: { approximate } });
  }
  const [ts, pt, kind] = r.pick(UNARY);
  return b.call('unary', ts, { kind: 'method', name: ts, self: x }, kind === 'F' ? { kind: 'F', name: pt, args: [T(x)] } : { kind: 'method', name: pt, self: x });
};

/** Binary ops: [Tessera, torch, whether torch takes a scalar `other`]. */
const BINARY: readonly (readonly [string, string, boolean])[] = [
  ['add', 'add', true], ['sub', 'sub', true], ['mul', 'mul', true], ['div', 'div', true], ['pow', 'pow', true],
  ['maximum', 'maximum', false], ['minimum', 'minimum', false], ['atan2', 'atan2', false], ['remainder', 'remainder', true], ['fmod', 'fmod', true],
  ['lt', 'lt', true], ['le', 'le', true], ['gt', 'gt', true], ['ge', 'ge', true], ['eq', 'eq', true], ['ne', 'ne', true],
  ['logicalAnd', 'logical_and', false], ['logicalOr', 'logical_or', false], ['logicalXor', 'logical_xor', false],
];

const binary: Gen = (b) => {
  const r = b.r;
  const [ts, pt, scalarOk] = r.pick(BINARY);
  const shape = b.shape();
  const x = b.tensor(b.dtype(), shape);
  // torch takes a scalar `other` only for some ops (maximum(2) is a TypeError there): the others get tensors, or a value no op takes.
  const other = scalarOk && r.chance(0.3) ? b.scalar() : r.chance(0.03) ? b.scalar('bad') : T(b.tensor(b.dtype(), b.partner(shape)));
  const alpha = (ts === 'add' || ts === 'sub') && r.chance(0.2) ? b.scalar('number') : undefined;
  return b.call('binary', ts,
    { kind: 'method', name: ts, self: x, args: alpha === undefined ? [other] : [other, { alpha }] },
    { kind: 'method', name: pt, self: x, args: [other], kwargs: alpha === undefined ? {} : { alpha } });
};

const ternary: Gen = (b) => {
  const r = b.r;
  const shape = b.shape();
  const which = r.pick(['where', 'clamp', 'lerp'] as const);
  if (which === 'where') {
    const c = b.tensor('bool', b.partner(shape)), x = b.tensor(b.dtype(), shape), y = b.tensor(b.dtype(), b.partner(shape));
    return b.call('ternary', 'where', { kind: 'fn', name: 'where', args: [T(c), T(x), T(y)] }, { kind: 'torch', name: 'where', args: [T(c), T(x), T(y)] });
  }
  if (which === 'clamp') {
    const x = b.tensor(b.dtype(['float32', 'float64', 'int32', 'int64', 'uint8']), shape);
    const lo = r.chance(0.8) ? b.scalar('number') : undefined, hi = r.chance(0.8) ? b.scalar('number') : undefined;
    return b.call('ternary', 'clamp', { kind: 'method', name: 'clamp', self: x, args: [lo ?? U, hi ?? U] }, { kind: 'method', name: 'clamp', self: x, args: [lo ?? U, hi ?? U] });
  }
  const x = b.tensor(b.dtype(FLOATS), shape), y = b.tensor(b.tensors[x]!.dtype, b.partner(shape));
  const w = b.scalar('number');
  return b.call('ternary', 'lerp', { kind: 'method', name: 'lerp', self: x, args: [T(y), w] }, { kind: 'method', name: 'lerp', self: x, args: [T(y), w] });
};

const INPLACE = ['add_', 'sub_', 'mul_', 'div_', 'clamp_', 'lerp_', 'copy_', 'fill_', 'zero_'] as const;

const inplace: Gen = (b) => {
  const r = b.r;
  const op = r.pick(INPLACE);
  const shape = b.shape(3, 4);
  const dtype = op === 'lerp_' ? b.dtype(FLOATS) : b.dtype();
  const grad = r.chance(0.08) && (FLOATS as readonly string[]).includes(dtype);
  const x = b.tensor(dtype, shape, { expand: true, grad });
  let other: unknown;
  const form = r.weighted([[5, 'tensor'], [2, 'scalar'], [2, 'alias']] as const);
  if (form === 'alias' && shape.length > 0) {
    // A view of the target itself: read while it is written (partial or full overlap).
    const views: ViewOp[] = r.weighted([
      [3, () => [['flip', [r.int(0, shape.length - 1)]] as ViewOp]],
      [shape.length >= 2 && shape[0] === shape[1] ? 3 : 0, () => [['transpose', 0, 1] as ViewOp]],
      [2, () => []],
    ] as const)();
    other = T(b.aliasOf(x, views));
  } else if (form === 'scalar' || op === 'fill_') other = b.scalar();
  // NaN, infinities and out-of-range floats written into an integer tensor are undefined behaviour in C (and torch): not drawn.
  else other = T(b.tensor(b.dtype(), b.partner(shape), { specials: (FLOATS as readonly string[]).includes(dtype) }));
  const ts = (name: string, args: unknown[]): TsInvocation => ({ kind: 'method', name, self: x, args });
  const pt = (name: string, args: unknown[], kwargs: Record<string, unknown> = {}): PtInvocation => ({ kind: 'method', name, self: x, args, kwargs });
  switch (op) {
    case 'zero_': return b.call('inplace', op, ts(op, []), pt(op, []), { inplace: x });
    case 'clamp_': { const lo = b.scalar('number'); return b.call('inplace', op, ts(op, [lo, U]), pt(op, [lo, U]), { inplace: x }); }
    case 'lerp_': {
      const end = typeof other === 'object' && other !== null && '$t' in other ? other : T(b.tensor(dtype, shape));
      const w = b.scalar('number');
      return b.call('inplace', op, ts(op, [end, w]), pt(op, [end, w]), { inplace: x });
    }
    default: return b.call('inplace', op, ts(op, [other]), pt(op, [other]), { inplace: x });
  }
};

const REDUCE = ['sum', 'mean', 'prod', 'amax', 'amin', 'argmax', 'argmin', 'var', 'std', 'logsumexp', 'norm', 'cumsum'] as const;

const reduce: Gen = (b) => {
  const r = b.r;
  const op = r.pick(REDUCE);
  const shape = b.shape();
  const x = b.tensor(b.dtype(), shape);
  const rank = shape.length;
  // torch's prod takes one dim, as argmax, argmin and cumsum do.
  const single = op === 'argmax' || op === 'argmin' || op === 'cumsum' || op === 'prod';
  // torch requires a dim for cumsum and logsumexp.
  const needsDim = op === 'cumsum' || op === 'logsumexp';
  const dimArg = needsDim || r.chance(0.75)
    // (torch 1.13's logsumexp breaks on an empty dim list: "output with shape [] doesn't match the broadcast shape [1]".)
    ? (single || r.chance(0.6) ? b.dim(rank) : r.weighted([[4, () => [b.dim(rank, false), b.dim(rank, false)]], [2, () => [b.dim(rank, false)]], [op === 'logsumexp' ? 0 : 1, () => []]] as const)())
    : undefined;
  // keepdim and correction only with a dim: torch's overloads without one take neither (Tessera does; not compared).
  const keepdim = op === 'cumsum' || dimArg === undefined ? undefined : r.weighted<unknown>([[4, undefined], [3, true], [3, false], [0.3, 'yes']]);
  const ts: unknown[] = [], pt: unknown[] = [], kw: Record<string, unknown> = {};
  const tsOpt: Record<string, unknown> = {};
  if (keepdim !== undefined) { tsOpt['keepdim'] = keepdim; kw['keepdim'] = keepdim; }
  if (op === 'norm') {
    const p = r.pick([2, 1, 3, Infinity, -Infinity, 0]);
    ts.push(F(p), dimArg ?? U, tsOpt);
    pt.push(F(p));
    if (dimArg !== undefined) kw['dim'] = dimArg;
  } else if (op === 'var' || op === 'std') {
    const correction = dimArg === undefined ? undefined : r.pick([undefined, 0, 1, 2]);
    if (correction !== undefined) { tsOpt['correction'] = correction; kw['correction'] = correction; }
    ts.push(dimArg ?? U, tsOpt);
    if (dimArg !== undefined) pt.push(dimArg);
  } else if (op === 'cumsum') {
    ts.push(dimArg);
    pt.push(dimArg);
  } else {
    ts.push(dimArg ?? U, tsOpt);
    if (dimArg !== undefined) pt.push(dimArg);
  }
  return b.call('reduce', op, { kind: 'method', name: op, self: x, args: ts }, { kind: 'method', name: op, self: x, args: pt, kwargs: kw });
};

const view: Gen = (b) => {
  const r = b.r;
  const shape = b.shape(3, 4);
  const rank = shape.length;
  const x = b.tensor(b.dtype(), shape);
  const numel = shape.reduce((a, c) => a * c, 1);
  const m = (name: string, args: unknown[], ptArgs: unknown[] = args): Omit<Call, 'id'> =>
    b.call('view', name, { kind: 'method', name, self: x, args }, { kind: 'method', name, self: x, args: ptArgs });
  const target = (): unknown[] => r.weighted([
    [3, () => [numel]], [3, () => (numel % 2 === 0 && numel > 0 ? [2, -1] : [-1])], [2, () => shape.slice().reverse()],
    [1, () => [numel + 1]], [1, () => [-1, -1]], [0.5, () => [1.5, numel]], [1, () => [...shape, 1]],
  ] as const)();
  switch (r.pick(['view', 'reshape', 'flatten', 'permute', 'transpose', 't', 'expand', 'narrow', 'slice', 'select', 'squeeze', 'unsqueeze', 'flip'] as const)) {
    case 'view': { const s = target(); return m('view', [s], [s]); }
    case 'reshape': { const s = target(); return m('reshape', [s], [s]); }
    case 'flatten': { const a = b.dim(rank), c = b.dim(rank); return m('flatten', [a, c]); }
    case 'permute': { const p = r.chance(0.8) ? r.shuffle(shape.map((_, i) => i)) : [0, 0]; return m('permute', [p], [p]); }
    case 'transpose': return m('transpose', [b.dim(rank), b.dim(rank)]);
    case 't': return m('t', []);
    case 'expand': { const s = r.chance(0.7) ? [r.int(1, 3), ...shape.map((d) => (d === 1 ? r.int(1, 3) : d))] : shape.map(() => r.int(0, 4)); return m('expand', [s], [s]); }
    case 'narrow': { const d = b.dim(rank); const start = r.int(-2, 3), len = r.int(0, 3); return m('narrow', [d, start, len]); }
    case 'select': { const d = b.dim(rank); return m('select', [d, r.int(-3, 4)]); }
    case 'squeeze': return r.chance(0.3) ? m('squeeze', []) : m('squeeze', [b.dim(rank)]);
    case 'unsqueeze': return m('unsqueeze', [b.dim(rank + 1)]);
    case 'flip': { const d = r.chance(0.8) ? [b.dim(rank, false)] : [0, 0]; return m('flip', [d], [d]); }
    case 'slice': {
      const d = b.dim(rank), start = r.pick([0, 1, -1, -3, 5, null]), end = r.pick([2, 4, -1, 10, null]), step = r.pick([1, 1, 2, 3, 0, -1]);
      const idx = typeof d === 'number' && Number.isInteger(d) && d >= -Math.max(rank, 1) && d < Math.max(rank, 1)
        ? { $tuple: [...Array.from({ length: d < 0 ? d + rank : d }, () => ({ $slice: [null, null, null] })), { $slice: [start, end, step] }] }
        : { $tuple: [{ $slice: [start, end, step] }, 'bad-dim'] };
      return b.call('view', 'slice', { kind: 'method', name: 'slice', self: x, args: [d, start, end, step] }, { kind: 'index', name: 'slice', self: x, index: idx });
    }
  }
};

const routine: Gen = (b) => {
  const r = b.r;
  const which = r.pick(['matmul', 'softmax', 'logSoftmax', 'gather', 'scatterAdd', 'indexSelect', 'embedding', 'conv2d', 'maxPool2d', 'avgPool2d', 'layerNorm', 'cat', 'stack', 'maskedFill', 'tril'] as const);
  const fdt = () => b.dtype(['float32', 'float64']);
  switch (which) {
    case 'matmul': {
      const m = r.int(1, 4), k = r.int(0, 4), n = r.int(1, 4);
      const dt = fdt();
      const form = r.int(0, 5);
      const a = b.tensor(dt, form === 1 ? [k] : form === 3 ? [r.int(1, 2), m, k] : [m, k]);
      const bk = r.chance(0.9) ? k : k + 1;
      const c = b.tensor(r.chance(0.95) ? dt : b.dtype(), form === 2 ? [bk] : form === 4 ? [r.int(1, 2), bk, n] : [bk, n]);
      return b.call('routine', 'matmul', { kind: 'method', name: 'matmul', self: a, args: [T(c)] }, { kind: 'method', name: 'matmul', self: a, args: [T(c)] });
    }
    case 'softmax': case 'logSoftmax': {
      const shape = b.shape();
      const x = b.tensor(r.chance(0.9) ? fdt() : b.dtype(), shape, { lo: -20, hi: 20 });
      const d = b.dim(shape.length);
      return b.call('routine', which, { kind: 'method', name: which, self: x, args: [d] }, { kind: 'method', name: which === 'softmax' ? 'softmax' : 'log_softmax', self: x, args: [d] });
    }
    case 'gather': case 'scatterAdd': {
      const shape = b.shape(3, 4).map((d) => Math.max(d, 1));
      const x = b.tensor(fdt(), shape);
      const d = b.dim(shape.length, r.chance(0.1));
      const dd = typeof d === 'number' && Number.isInteger(d) ? ((d % Math.max(shape.length, 1)) + Math.max(shape.length, 1)) % Math.max(shape.length, 1) : 0;
      const ishape = shape.map((s, i) => (i === dd ? r.int(1, 3) : r.int(1, s)));
      const size = shape[dd] ?? 1;
      const idx = b.tensor(r.chance(0.9) ? 'int64' : b.dtype(), ishape, { views: false, values: Array.from({ length: ishape.reduce((a, c) => a * c, 1) }, () => r.weighted([[20, () => r.int(0, size - 1)], [1, () => r.pick([-1, size, -size - 1])]] as const)()) });
      if (which === 'gather') return b.call('routine', 'gather', { kind: 'method', name: 'gather', self: x, args: [d, T(idx)] }, { kind: 'method', name: 'gather', self: x, args: [d, T(idx)] });
      const src = b.tensor(b.tensors[x]!.dtype, ishape);
      return b.call('routine', 'scatterAdd', { kind: 'method', name: 'scatterAdd', self: x, args: [d, T(idx), T(src)] }, { kind: 'method', name: 'scatter_add', self: x, args: [d, T(idx), T(src)] });
    }
    case 'indexSelect': case 'embedding': {
      const rows = r.int(1, 5);
      const x = b.tensor(fdt(), which === 'embedding' ? [rows, r.int(1, 3)] : [rows, r.int(1, 4)]);
      const ishape = which === 'embedding' ? b.shape(2, 3) : [r.int(0, 4)];
      const n = ishape.reduce((a, c) => a * c, 1);
      const idx = b.tensor(r.chance(0.92) ? 'int64' : b.dtype(), ishape, { views: false, values: Array.from({ length: n }, () => r.weighted([[15, () => r.int(0, rows - 1)], [1, () => r.pick([-1, rows, rows + 2])]] as const)()) });
      if (which === 'indexSelect') return b.call('routine', 'indexSelect', { kind: 'method', name: 'indexSelect', self: x, args: [0, T(idx)] }, { kind: 'method', name: 'index_select', self: x, args: [0, T(idx)] });
      return b.call('routine', 'embedding', { kind: 'fn', name: 'embedding', args: [T(idx), T(x)] }, { kind: 'F', name: 'embedding', args: [T(idx), T(x)] });
    }
    case 'conv2d': {
      const n = r.int(1, 2), groups = r.pick([1, 1, 2]), cg = r.int(1, 2), og = r.int(1, 2);
      const c = cg * groups, o = og * groups;
      const k = r.int(1, 3), h = r.int(1, 6), w = r.int(1, 6);
      const dt = fdt();
      const x = b.tensor(dt, r.chance(0.85) ? [n, c, h, w] : r.chance(0.5) ? [c, h, w] : [n, c + 1, h, w]);
      const wt = b.tensor(dt, [o, r.chance(0.95) ? cg : cg + 1, k, r.chance(0.9) ? k : k + 1]);
      const bias = r.chance(0.5) ? T(b.tensor(dt, [r.chance(0.95) ? o : o + 1])) : undefined;
      const stride = r.pick([1, 1, 2, 0]), padding = r.pick([0, 0, 1, 2, -1]), dilation = r.pick([1, 1, 2]);
      const g = r.chance(0.95) ? groups : 3;
      return b.call('routine', 'conv2d',
        { kind: 'fn', name: 'conv2d', args: [T(x), T(wt), bias ?? U, { stride, padding, dilation, groups: g }] },
        { kind: 'F', name: 'conv2d', args: [T(x), T(wt), bias ?? U], kwargs: { stride, padding, dilation, groups: g } });
    }
    case 'maxPool2d': case 'avgPool2d': {
      const x = b.tensor(fdt(), r.chance(0.9) ? [r.int(1, 2), r.int(1, 2), r.int(1, 6), r.int(1, 6)] : [r.int(1, 4), r.int(1, 4)]);
      const kernelSize = r.weighted<() => unknown>([[8, () => r.int(1, 3)], [1, () => r.pick([0, 8, 2 ** 31])], [1, () => [2, 1]]])();
      const stride = r.pick([undefined, 1, 2, 3]), padding = r.pick([0, 0, 1, 2]), ceilMode = r.chance(0.3);
      const tsOpt: Record<string, unknown> = { kernelSize, padding, ceilMode }, kw: Record<string, unknown> = { kernel_size: kernelSize, padding, ceil_mode: ceilMode };
      if (stride !== undefined) { tsOpt['stride'] = stride; kw['stride'] = stride; }
      if (which === 'avgPool2d' && r.chance(0.3)) { tsOpt['countIncludePad'] = false; kw['count_include_pad'] = false; }
      return b.call('routine', which, { kind: 'method', name: which, self: x, args: [tsOpt] }, { kind: 'F', name: which === 'maxPool2d' ? 'max_pool2d' : 'avg_pool2d', args: [T(x)], kwargs: kw });
    }
    case 'layerNorm': {
      const shape = b.shape(3, 4).map((d) => Math.max(d, 1));
      const x = b.tensor(fdt(), shape);
      const k = r.int(shape.length ? 1 : 0, shape.length);
      const norm = r.chance(0.9) ? shape.slice(shape.length - k) : [...shape.slice(shape.length - k), 2];
      const withAffine = r.chance(0.5);
      const wt = withAffine ? T(b.tensor(b.tensors[x]!.dtype, norm)) : U, bs = withAffine ? T(b.tensor(b.tensors[x]!.dtype, norm)) : U;
      const eps = r.pick([1e-5, 1e-3]);
      return b.call('routine', 'layerNorm', { kind: 'fn', name: 'layerNorm', args: [T(x), norm, wt, bs, eps] }, { kind: 'F', name: 'layer_norm', args: [T(x), norm, wt, bs, eps] });
    }
    case 'cat': case 'stack': {
      const shape = b.shape(3, 3);
      const count = r.int(1, 3);
      const xs = Array.from({ length: count }, () => {
        const s = shape.slice();
        if (which === 'cat' && s.length && r.chance(0.5)) { const d = r.int(0, s.length - 1); s[d] = r.int(0, 3); }
        return T(b.tensor(b.dtype(), r.chance(0.93) ? s : b.shape()));
      });
      const d = b.dim(shape.length + (which === 'stack' ? 1 : 0));
      return b.call('routine', which, { kind: 'fn', name: which, args: [xs, d] }, { kind: 'torch', name: which, args: [xs, d] });
    }
    case 'maskedFill': {
      const shape = b.shape();
      const x = b.tensor(b.dtype(), shape);
      const m = b.tensor(r.chance(0.9) ? 'bool' : b.dtype(), b.partner(shape));
      const v = b.scalar('good');
      return b.call('routine', 'maskedFill', { kind: 'method', name: 'maskedFill', self: x, args: [T(m), v] }, { kind: 'method', name: 'masked_fill', self: x, args: [T(m), v] });
    }
    case 'tril': {
      const x = b.tensor(b.dtype(), b.shape(3, 4));
      const diag = r.int(-2, 2), upper = r.chance(0.5);
      const name = upper ? 'triu' : 'tril';
      return b.call('routine', name, { kind: 'method', name, self: x, args: [diag] }, { kind: 'method', name, self: x, args: [diag] });
    }
  }
};

const factory: Gen = (b) => {
  const r = b.r;
  const sizes = (): unknown[] => r.weighted<() => unknown[]>([
    [8, () => b.shape(3, 4)], [1, () => [-1]], [1, () => [2, -3]], [0.6, () => [1.5]], [0.6, () => [2, null]], [0.4, () => ['2']],
  ])();
  const dtype = r.weighted([[6, undefined], [4, b.dtype()], [0.5, 'float99']] as const);
  const opt = dtype === undefined ? {} : { dtype };
  const kw = dtype === undefined ? {} : { dtype: D(dtype) };
  const which = r.pick(['zeros', 'ones', 'full', 'empty', 'arange', 'linspace', 'eye', 'randint', 'rand', 'randn'] as const);
  const fn = (args: unknown[], ptArgs: unknown[], ptKw: Record<string, unknown> = kw, compare: 'values' | 'shape' = 'values') =>
    b.call('factory', which, { kind: 'fn', name: which, args }, { kind: 'torch', name: which, args: ptArgs, kwargs: ptKw }, { compare });
  switch (which) {
    case 'zeros': case 'ones': { const s = sizes(); return fn([s, opt], [s]); }
    case 'empty': { const s = sizes(); return fn([s, opt], [s], kw, 'shape'); }
    case 'rand': case 'randn': { const s = sizes(); return fn([s, opt], [s], kw, 'shape'); }
    case 'full': {
      // torch.full infers int64 from an int fill; a JS number cannot be told from a float (README): such
      // calls name their dtype. A bigint fill infers int64 on both sides.
      const s = sizes(), v = b.scalar();
      const named = dtype === undefined && typeof v === 'number' && Number.isInteger(v) ? { dtype: 'float32' } : opt;
      return fn([s, v, named], [s, v], dtype === undefined && typeof v === 'number' && Number.isInteger(v) ? { dtype: D('float32') } : kw);
    }
    case 'arange': {
      const start = r.pick([0, 1, -2, 0.5]), end = r.pick([5, 3, -1, 2.5, 1e12]), step = r.pick([1, 2, -1, 0, 0.5]);
      return r.chance(0.3) ? fn([end, opt], [end]) : fn([start, end, step, opt], [start, end, step]);
    }
    case 'linspace': { const n = r.pick([0, 1, 5, -1, 2.5]); return fn([0, 1, n, opt], [0, 1, n]); }
    case 'eye': { const n = r.pick([0, 2, 3, -1]), m = r.pick([undefined, 2, 4]); return fn(m === undefined ? [n, U, opt] : [n, m, opt], m === undefined ? [n] : [n, m]); }
    case 'randint': { const lo = r.pick([0, -3, 5]), hi = r.pick([5, 1, 5.5]); const s = sizes(); return fn([lo, hi, s, opt], [lo, hi, s], kw, 'shape'); }
  }
};

const nnLayer: Gen = (b) => {
  const r = b.r;
  const which = r.pick(['Linear', 'LayerNorm', 'Embedding', 'Conv2d', 'BatchNorm1d', 'Dropout', 'ReLU', 'Flatten'] as const);
  const mod = (ctor: unknown[], ctorKw: Record<string, unknown>, tsCtor: unknown[], input: number[], weights: Record<string, number> = {}, compare: 'values' | 'shape' = 'values', extra: Partial<PtInvocation> = {}) =>
    b.call('nn', which, { kind: 'module', name: which, ctor: tsCtor, weights, args: [T(input[0]!)], eval: extra.eval },
      { kind: 'module', name: which, ctor, ctorKwargs: ctorKw, weights, args: [T(input[0]!)], ...extra }, { compare });
  switch (which) {
    case 'Linear': {
      const fin = r.pick([3, 0, 2]), fout = r.pick([2, 4, 0, -1, 1.5]);
      const x = b.tensor('float32', [r.int(1, 3), r.chance(0.9) ? fin : fin + 1]);
      const ok = Number.isInteger(fout) && fout >= 0;
      const weights: Record<string, number> = ok ? { weight: b.tensor('float32', [fout, fin], { views: false }), bias: b.tensor('float32', [fout], { views: false }) } : {};
      return mod([fin, fout], {}, [fin, fout], [x], weights);
    }
    case 'LayerNorm': {
      const d = r.pick([3, 4]);
      const x = b.tensor('float32', [2, r.chance(0.9) ? d : d + 1]);
      return mod([d], {}, [d], [x]);
    }
    case 'Embedding': {
      const n = r.pick([5, 0, -2]), dim = r.pick([3, 2]);
      const ids = b.tensor('int64', [3], { views: false, values: [r.int(-1, 6), r.int(0, 4), r.int(0, 4)] });
      const weights: Record<string, number> = n > 0 ? { weight: b.tensor('float32', [n, dim], { views: false }) } : {};
      return mod([n, dim], {}, [n, dim], [ids], weights);
    }
    case 'Conv2d': {
      const cin = r.pick([1, 2]), cout = r.pick([2, 3]), k = r.pick([1, 3, 0]);
      const pad = r.pick([0, 1]);
      const x = b.tensor('float32', [1, r.chance(0.9) ? cin : cin + 1, r.int(1, 5), r.int(1, 5)]);
      const weights: Record<string, number> = k > 0 ? { weight: b.tensor('float32', [cout, cin, k, k], { views: false }), bias: b.tensor('float32', [cout], { views: false }) } : {};
      return mod([cin, cout, k], { padding: pad }, [cin, cout, k, { padding: pad }], [x], weights);
    }
    case 'BatchNorm1d': {
      const c = r.pick([3, 2]);
      const x = b.tensor('float32', [r.int(1, 4), r.chance(0.9) ? c : c + 1]);
      return mod([c], {}, [c], [x], {}, 'values', { eval: r.chance(0.5) });
    }
    case 'Dropout': {
      const p = r.pick([0, 0.5, 1, -0.5, 1.5]);
      const x = b.tensor('float32', b.shape());
      return mod([p], {}, [p], [x], {}, p === 0 || p === 1 ? 'values' : 'shape');
    }
    case 'ReLU': return mod([], {}, [], [b.tensor(b.dtype(), b.shape())]);
    case 'Flatten': { const x = b.tensor('float32', b.shape(4, 3)); return mod([], {}, [], [x]); }
  }
};

const loss: Gen = (b) => {
  const r = b.r;
  const which = r.pick(['mseLoss', 'l1Loss', 'nllLoss', 'crossEntropy', 'bceWithLogits'] as const);
  const reduction = r.weighted([[6, undefined], [2, 'sum'], [2, 'none'], [0.4, 'avg']] as const);
  const tsOpt: Record<string, unknown> = {}, kw: Record<string, unknown> = {};
  if (reduction !== undefined) { tsOpt['reduction'] = reduction; kw['reduction'] = reduction; }
  const ptName = { mseLoss: 'mse_loss', l1Loss: 'l1_loss', nllLoss: 'nll_loss', crossEntropy: 'cross_entropy', bceWithLogits: 'binary_cross_entropy_with_logits' }[which];
  const done = (x: number, y: number) => b.call('loss', which, { kind: 'nn', name: which, args: [T(x), T(y), tsOpt] }, { kind: 'F', name: ptName, args: [T(x), T(y)], kwargs: kw });
  if (which === 'mseLoss' || which === 'l1Loss' || which === 'bceWithLogits') {
    const shape = b.shape(3, 3);
    const x = b.tensor('float32', shape), y = b.tensor(r.chance(0.95) ? 'float32' : b.dtype(), r.chance(0.9) ? shape : b.partner(shape), { lo: 0, hi: 1 });
    return done(x, y);
  }
  const n = r.int(1, 4), c = r.int(1, 4);
  const unbatched = r.chance(0.1);
  const extra = r.chance(0.2) ? [r.int(1, 2)] : [];
  const x = b.tensor('float32', unbatched ? [c] : [n, c, ...extra], { specials: false });
  const tshape = unbatched ? [] : r.chance(0.93) ? [n, ...extra] : [n + 1];
  const tn = tshape.reduce((a, d) => a * d, 1);
  const y = b.tensor(r.chance(0.93) ? 'int64' : b.dtype(), tshape, { views: false, values: Array.from({ length: tn }, () => r.weighted([[20, () => r.int(0, c - 1)], [1, () => r.pick([-1, c, -100])]] as const)()) });
  if (r.chance(0.2)) { const ii = r.pick([-100, 0, 1]); tsOpt['ignoreIndex'] = ii; kw['ignore_index'] = ii; }
  if (which === 'crossEntropy' && r.chance(0.2)) { const ls = r.pick([0.1, 0, -0.1, 1.5]); tsOpt['labelSmoothing'] = ls; kw['label_smoothing'] = ls; }
  if (r.chance(0.15)) { const w = T(b.tensor('float32', [r.chance(0.9) ? c : c + 1], { lo: 0, hi: 2, specials: false })); tsOpt['weight'] = w; kw['weight'] = w; }
  return done(x, y);
};

/** Gradients: sum(f(x)).backward(), then x.grad. */
const grad: Gen = (b) => {
  const r = b.r;
  const shape = b.shape(3, 3);
  const dt = b.dtype(['float32', 'float64']);
  const x = b.tensor(dt, shape, { grad: true, views: false, specials: false, lo: -3, hi: 3 });
  const which = r.pick(['unary', 'binary', 'reduce', 'softmax', 'matmul'] as const);
  let ts: TsInvocation, pt: PtInvocation, op: string;
  if (which === 'unary') {
    const [name, ptName, kind] = r.pick(UNARY.filter(([n]) => !['isnan', 'logicalNot', 'sign', 'floor', 'ceil', 'round', 'trunc'].includes(n)));
    op = name;
    ts = { kind: 'method', name, self: x };
    pt = kind === 'F' ? { kind: 'F', name: ptName, args: [T(x)] } : { kind: 'method', name: ptName, self: x };
  } else if (which === 'binary') {
    const [name, ptName] = r.pick(BINARY.filter(([n]) => ['add', 'sub', 'mul', 'div', 'maximum', 'minimum', 'atan2'].includes(n)));
    op = name;
    const y = b.tensor(dt, b.partner(shape).map((d) => d), { views: false, specials: false, lo: -3, hi: 3 });
    ts = { kind: 'method', name, self: x, args: [T(y)] };
    pt = { kind: 'method', name: ptName, self: x, args: [T(y)] };
  } else if (which === 'reduce') {
    const name = r.pick(['sum', 'mean', 'prod', 'amax', 'var', 'logsumexp', 'norm'] as const);
    op = name;
    const d = shape.length ? r.int(0, shape.length - 1) : 0;
    ts = { kind: 'method', name, self: x, args: name === 'norm' ? [2, d] : [d] };
    pt = { kind: 'method', name, self: x, args: name === 'norm' ? [2, d] : [d] };
  } else if (which === 'softmax') {
    op = r.pick(['softmax', 'logSoftmax']);
    const d = shape.length ? r.int(0, shape.length - 1) : 0;
    ts = { kind: 'method', name: op, self: x, args: [d] };
    pt = { kind: 'method', name: op === 'softmax' ? 'softmax' : 'log_softmax', self: x, args: [d] };
  } else {
    op = 'matmul';
    const y = b.tensor(dt, [shape[shape.length - 1] ?? 1, 2], { views: false, specials: false });
    ts = { kind: 'method', name: 'matmul', self: x, args: [T(y)] };
    pt = { kind: 'method', name: 'matmul', self: x, args: [T(y)] };
  }
  return b.call('grad', op, { kind: 'backward', name: op, self: x, of: ts }, { kind: 'backward', name: op, self: x, of: pt });
};

const convert: Gen = (b) => {
  const r = b.r;
  const from = b.dtype();
  // Float -> int of NaN, infinities or out-of-range values is undefined behaviour in C (and torch): not drawn.
  const x = b.tensor(from, b.shape(), { specials: false, lo: -100, hi: 100 });
  const to = r.weighted<string>([[10, b.dtype()], [0.5, 'float99'], [0.3, '']]);
  return b.call('convert', `to ${to}`, { kind: 'method', name: 'to', self: x, args: [to] }, { kind: 'method', name: 'to', self: x, args: [D(to)] });
};

export const FAMILIES: readonly (readonly [number, string, Gen])[] = [
  [14, 'unary', unary], [16, 'binary', binary], [5, 'ternary', ternary], [12, 'inplace', inplace], [12, 'reduce', reduce],
  [10, 'view', view], [14, 'routine', routine], [5, 'factory', factory], [4, 'nn', nnLayer], [5, 'loss', loss], [5, 'grad', grad], [3, 'convert', convert],
];

/** Calls `[from, from + count)` of the stream for `seed` (each call seeded by its index: any slice is reproducible alone). */
export function generate(seed: number, from: number, count: number, caps: Caps): Call[] {
  const calls: Call[] = [];
  for (let id = from; id < from + count; id++) {
    const r = new Rng((seed * 2654435761 + id * 40503) >>> 0);
    const gen = r.weighted(FAMILIES.map(([w, , g]) => [w, g] as const));
    calls.push({ id, ...gen(new Builder(r, caps)) });
  }
  return calls;
}
