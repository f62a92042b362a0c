/**
 * Routines: ops with hand-tuned kernels per backend. What they share lives here: the shape rule
 * (which throws the typed errors every backend reports identically) and the float64 reference.
 */
import { ArgumentError, IndexError, ShapeError, fmtShape } from '../errors.js';
import { type Nd, forEachIndex, nd, offsetOf } from '../ref/nd.js';
import { broadcastShapes, normDim, numel, type Shape } from '../shape.js';
import type { RoutineSpec } from '../spec.js';

const routine = (name: string, f: Partial<Omit<RoutineSpec, 'kind' | 'name'>> = {}): RoutineSpec =>
  ({ kind: 'routine', name, accepts: 'floating', sample: {}, tol: {}, ...f });

// ---------------------------------------------------------------- matmul
export const matmul = routine('matmul', { accepts: 'numeric', tol: { float32: { rtol: 1e-4, atol: 1e-5 }, float16: { rtol: 1e-2, atol: 1e-2 } } });

/** The shape facts of one torch.matmul call, from matmulShape. */
export interface MatmulPlan {
  /** Broadcast batch shape (without the matrix dims). */
  readonly batch: number[];
  /** Rows of each product (1 when the first operand is 1-D). */
  readonly m: number;
  /** The contracted size: last dim of the first operand, second-to-last (or only) dim of the second. */
  readonly k: number;
  /** Columns of each product (1 when the second operand is 1-D). */
  readonly n: number;
  /** Final output shape after dropping the dims torch.matmul adds for 1-D operands. */
  readonly out: number[];
}

/**
 * torch.matmul's shape rule: 1-D operands are promoted to a row / column and the added dim is dropped
 * again, leading dims broadcast. Throws ShapeError for a 0-d operand, unequal inner sizes or batch dims
 * that do not broadcast.
 */
export function matmulShape(a: Shape, b: Shape): MatmulPlan {
  if (a.length === 0 || b.length === 0) throw new ShapeError('matmul', `both arguments need at least 1 dim, got shapes ${fmtShape(a)} and ${fmtShape(b)}`);
  const a2 = a.length === 1 ? [1, a[0]!] : a;
  const b2 = b.length === 1 ? [b[0]!, 1] : b;
  const [m, k] = a2.slice(-2) as [number, number];
  const [k2, n] = b2.slice(-2) as [number, number];
  if (k !== k2) throw new ShapeError('matmul', `shapes ${fmtShape(a)} and ${fmtShape(b)} cannot be multiplied (${k} != ${k2}: the last dim of the first must equal the ${b.length === 1 ? 'only' : 'second-to-last'} dim of the second)`);
  const batch = broadcastShapes('matmul', [a2.slice(0, -2), b2.slice(0, -2)]);
  const out = [...batch, ...(a.length === 1 ? [] : [m]), ...(b.length === 1 ? [] : [n])];
  return { batch, m, k, n, out };
}

/** float64 torch.matmul, with matmulShape's broadcasting and 1-D rules, by plain dot products. */
export function matmulRef(a: Nd, b: Nd): Nd {
  const p = matmulShape(a.shape, b.shape);
  const a2 = a.shape.length === 1 ? [1, a.shape[0]!] : a.shape;
  const b2 = b.shape.length === 1 ? [b.shape[0]!, 1] : b.shape;
  const out = nd(p.out);
  const bat = (s: Shape, idx: readonly number[]) => idx.slice(idx.length - (s.length - 2)).map((v, i) => (s[i] === 1 ? 0 : v));
  let o = 0;
  forEachIndex([...p.batch, p.m, p.n], (idx) => {
    const bi = idx.slice(0, -2), i = idx[idx.length - 2]!, j = idx[idx.length - 1]!;
    let s = 0;
    for (let t = 0; t < p.k; t++) {
      s += a.data[offsetOf(a2, [...bat(a2, bi), i, t])]! * b.data[offsetOf(b2, [...bat(b2, bi), t, j])]!;
    }
    out.data[o++] = s;
  });
  return out;
}

// ---------------------------------------------------------------- softmax family
export const softmax = routine('softmax', { sample: { domain: [-50, 50] } });
export const logSoftmax = routine('logSoftmax', { sample: { domain: [-50, 50] } });

/** Applies fn to every 1-D line along `dim` (values in, values out). */
function mapLines(op: string, x: Nd, dim: number, fn: (line: number[]) => number[]): Nd {
  const d = normDim(op, dim, x.shape.length);
  const out = nd(x.shape);
  if (x.shape.length === 0) { out.data[0] = fn([x.data[0]!])[0]!; return out; }
  const outer = x.shape.slice(); outer[d] = 1;
  forEachIndex(outer, (idx) => {
    const offs = Array.from({ length: x.shape[d]! }, (_, t) => offsetOf(x.shape, idx.map((v, i) => (i === d ? t : v))));
    fn(offs.map((o) => x.data[o]!)).forEach((v, t) => { out.data[offs[t]!] = v; });
  });
  return out;
}

/** float64 softmax along `dim`, shifted by the line's max so large inputs do not overflow. */
export function softmaxRef(x: Nd, dim: number): Nd {
  return mapLines('softmax', x, dim, (l) => {
    const m = Math.max(...l);
    const e = l.map((v) => Math.exp(v - m));
    const s = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / s);
  });
}

/** float64 logSoftmax along `dim`: `x - logsumexp(x)`, with the max shifted out first. */
export function logSoftmaxRef(x: Nd, dim: number): Nd {
  return mapLines('logSoftmax', x, dim, (l) => {
    const m = Math.max(...l);
    const lse = m + Math.log(l.reduce((a, v) => a + Math.exp(v - m), 0));
    return l.map((v) => v - lse);
  });
}

/**
 * softmax's (log: logSoftmax's) gradient along `dim` from the output gradient g, straight from the
 * derivative with p = softmax(x): gx = p (g - sum(g p)), or g - p sum(g) for logSoftmax.
 */
export function softmaxBackwardRef(x: Nd, g: Nd, dim: number, log: boolean): Nd {
  const p = softmaxRef(x, dim);
  const d = normDim(log ? 'logSoftmaxBackward' : 'softmaxBackward', dim, x.shape.length);
  const out = nd(x.shape);
  if (x.shape.length === 0) { out.data[0] = log ? g.data[0]! - p.data[0]! * g.data[0]! : 0; return out; }
  const outer = x.shape.slice(); outer[d] = 1;
  forEachIndex(outer, (idx) => {
    const offs = Array.from({ length: x.shape[d]! }, (_, t) => offsetOf(x.shape, idx.map((v, i) => (i === d ? t : v))));
    const s = offs.reduce((a, o) => a + g.data[o]! * (log ? 1 : p.data[o]!), 0);
    for (const o of offs) out.data[o] = log ? g.data[o]! - p.data[o]! * s : p.data[o]! * (g.data[o]! - s);
  });
  return out;
}

// ---------------------------------------------------------------- sort
/**
 * Sorting along a dim: the values and their positions (int64). NaN orders above every number, as
 * torch orders it; equal values keep their order (a stable sort, in both directions).
 */
export const sort = routine('sort', { accepts: 'all' });

/** The values of x sorted along `dim` and their positions, in float64. */
export function sortRef(x: Nd, dim: number, descending: boolean): {
  /** x's elements in order along `dim`. */
  values: Nd;
  /** Where each value was along `dim` in x, as float64 integers. */
  indices: Nd;
} {
  const d = normDim('sort', dim, x.shape.length);
  const values = nd(x.shape), indices = nd(x.shape);
  if (x.shape.length === 0) { values.data[0] = x.data[0]!; return { values, indices }; }
  const outer = x.shape.slice(); outer[d] = 1;
  // NaN is the largest; ties go by position (stable).
  const cmp = (a: number, b: number) => (Number.isNaN(a) && Number.isNaN(b) ? 0 : Number.isNaN(a) ? 1 : Number.isNaN(b) ? -1 : a < b ? -1 : a > b ? 1 : 0);
  forEachIndex(outer, (idx) => {
    const offs = Array.from({ length: x.shape[d]! }, (_, t) => offsetOf(x.shape, idx.map((v, i) => (i === d ? t : v))));
    const order = offs.map((_, t) => t).sort((a, b) => (descending ? cmp(x.data[offs[b]!]!, x.data[offs[a]!]!) : cmp(x.data[offs[a]!]!, x.data[offs[b]!]!)) || a - b);
    order.forEach((t, j) => { values.data[offs[j]!] = x.data[offs[t]!]!; indices.data[offs[j]!] = t; });
  });
  return { values, indices };
}

// ---------------------------------------------------------------- layerNorm
export const layerNorm = routine('layerNorm', { tol: { float32: { rtol: 1e-4, atol: 1e-5 } } });

/**
 * Checks layerNorm's shapes: `normalized` must be non-empty and equal x's trailing dims, and weight and bias
 * (when given) must have shape `normalized`. Throws ShapeError otherwise.
 */
export function layerNormShape(x: Shape, normalized: Shape, weight?: Shape, bias?: Shape): void {
  const tail = x.slice(x.length - normalized.length);
  if (normalized.length === 0 || normalized.length > x.length || tail.some((d, i) => d !== normalized[i])) {
    throw new ShapeError('layerNorm', `normalizedShape ${fmtShape(normalized)} must match the trailing dims of input ${fmtShape(x)}`);
  }
  for (const [name, s] of [['weight', weight], ['bias', bias]] as const) {
    if (s && (s.length !== normalized.length || s.some((d, i) => d !== normalized[i]))) {
      throw new ShapeError('layerNorm', `${name} of shape ${fmtShape(s)} must have normalizedShape ${fmtShape(normalized)}`);
    }
  }
}

/** float64 layerNorm over the trailing `normalized` dims, with biased variance and `eps` inside the sqrt, as torch. */
export function layerNormRef(x: Nd, normalized: Shape, weight: Nd | undefined, bias: Nd | undefined, eps: number): Nd {
  layerNormShape(x.shape, normalized, weight?.shape, bias?.shape);
  const inner = numel(normalized);
  const out = nd(x.shape);
  for (let r = 0; r < x.data.length / Math.max(inner, 1); r++) {
    const row = Array.from(x.data.subarray(r * inner, (r + 1) * inner));
    const mean = row.reduce((a, b) => a + b, 0) / inner;
    const v = row.reduce((a, b) => a + (b - mean) ** 2, 0) / inner;
    row.forEach((val, i) => {
      out.data[r * inner + i] = ((val - mean) / Math.sqrt(v + eps)) * (weight ? weight.data[i]! : 1) + (bias ? bias.data[i]! : 0);
    });
  }
  return out;
}

/**
 * layerNorm's gradients from the output gradient g, straight from the derivative: with
 * xhat = (x - mean) / sqrt(var + eps) and gy = g * weight, dx = (gy - mean(gy) - xhat mean(gy xhat))
 * / sqrt(var + eps) per row, dweight = sum over rows of g * xhat, dbias = sum of g.
 */
export function layerNormBackwardRef(x: Nd, normalized: Shape, weight: Nd | undefined, g: Nd, eps: number): {
  /** Gradient of the input, shaped like x. */
  gx: Nd;
  /** Gradient of the weight, shaped `normalized` (computed even when no weight was given). */
  gw: Nd;
  /** Gradient of the bias, shaped `normalized`. */
  gb: Nd;
} {
  const inner = numel(normalized);
  const gx = nd(x.shape), gw = nd(normalized), gb = nd(normalized);
  for (let r = 0; r < x.data.length / Math.max(inner, 1); r++) {
    const at = (i: number) => r * inner + i;
    const row = Array.from(x.data.subarray(at(0), at(inner)));
    const mean = row.reduce((a, b) => a + b, 0) / inner;
    const rstd = 1 / Math.sqrt(row.reduce((a, b) => a + (b - mean) ** 2, 0) / inner + eps);
    const xhat = row.map((v) => (v - mean) * rstd);
    const gy = xhat.map((_, i) => g.data[at(i)]! * (weight ? weight.data[i]! : 1));
    const mg = gy.reduce((a, b) => a + b, 0) / inner;
    const mgx = gy.reduce((a, b, i) => a + b * xhat[i]!, 0) / inner;
    xhat.forEach((h, i) => {
      gx.data[at(i)] = rstd * (gy[i]! - mg - h * mgx);
      gw.data[i] = gw.data[i]! + g.data[at(i)]! * h;
      gb.data[i] = gb.data[i]! + g.data[at(i)]!;
    });
  }
  return { gx, gw, gb };
}

// ---------------------------------------------------------------- indexing
export const gather = routine('gather', { accepts: 'all' });
export const scatterAdd = routine('scatterAdd', { accepts: 'numeric' });
export const indexSelect = routine('indexSelect', { accepts: 'all' });
export const embedding = routine('embedding', { accepts: 'all' });

/**
 * An index into a dim of `size` elements, as the index tensors of gather, scatterAdd, indexSelect and
 * embedding hold them: 0 <= i < size. Negative indices are refused, as PyTorch refuses them there
 * (only select() and slicing count from the end): a -1 must not quietly pick the last row.
 */
export function checkIndex(op: string, i: number, size: number, dim: number): number {
  if (!(i >= 0 && i < size)) throw new IndexError(op, `index ${i} is out of bounds for dim ${dim} with size ${size}`);
  return i;
}

/**
 * Checks torch.gather's shapes (index has x's rank and is no larger than x except at `dim`) and returns
 * `dim` normalised; the result has index's shape. Throws ShapeError or IndexError.
 */
export function gatherShape(x: Shape, dim: number, index: Shape): number {
  const d = normDim('gather', dim, x.length);
  if (index.length !== x.length) throw new ShapeError('gather', `index ${fmtShape(index)} must have the same rank as input ${fmtShape(x)}`);
  index.forEach((s, i) => {
    if (i !== d && s > x[i]!) throw new ShapeError('gather', `index ${fmtShape(index)} is larger than input ${fmtShape(x)} at dim ${i} (allowed only at dim ${d})`);
  });
  return d;
}

/**
 * Checks torch.scatter_add's shapes (x, index and src share a rank; index is no larger than src anywhere nor
 * than x except at `dim`) and returns `dim` normalised. Throws ShapeError or IndexError.
 */
export function scatterShape(x: Shape, dim: number, index: Shape, src: Shape): number {
  const d = normDim('scatterAdd', dim, x.length);
  if (index.length !== x.length || src.length !== x.length) {
    throw new ShapeError('scatterAdd', `input ${fmtShape(x)}, index ${fmtShape(index)} and src ${fmtShape(src)} must have the same rank`);
  }
  index.forEach((s, i) => {
    if (s > src[i]! || (i !== d && s > x[i]!)) {
      throw new ShapeError('scatterAdd', `index ${fmtShape(index)} must be no larger than src ${fmtShape(src)} at every dim and than input ${fmtShape(x)} except at dim ${d}`);
    }
  });
  return d;
}

/** float64 torch.gather: `out[i][j][k] = x[index[i][j][k]][j][k]` for dim 0, and so on; refuses bad indices. */
export function gatherRef(x: Nd, dim: number, index: Nd): Nd {
  const d = gatherShape(x.shape, dim, index.shape);
  const out = nd(index.shape);
  forEachIndex(index.shape, (idx, flat) => {
    const j = checkIndex('gather', index.data[flat]!, x.shape[d]!, d);
    out.data[flat] = x.data[offsetOf(x.shape, idx.map((v, i) => (i === d ? j : v)))]!;
  });
  return out;
}

/** float64 torch.scatter_add, out of place: a copy of x with each src element added at its index along `dim`. */
export function scatterAddRef(x: Nd, dim: number, index: Nd, src: Nd): Nd {
  const d = scatterShape(x.shape, dim, index.shape, src.shape);
  const out = nd(x.shape, x.data);
  forEachIndex(index.shape, (idx, flat) => {
    const j = checkIndex('scatterAdd', index.data[flat]!, x.shape[d]!, d);
    out.data[offsetOf(x.shape, idx.map((v, i) => (i === d ? j : v)))]! += src.data[offsetOf(src.shape, idx)]!;
  });
  return out;
}

/** torch.index_select's shape rule: index must be 0-d or 1-D; throws ShapeError or IndexError. */
export function indexSelectShape(x: Shape, dim: number, index: Shape): {
  /** `dim`, normalised to be non-negative. */
  dim: number;
  /** x's shape with the size at `dim` replaced by the number of indices. */
  out: number[];
} {
  const d = normDim('indexSelect', dim, x.length);
  if (index.length > 1) throw new ShapeError('indexSelect', `index must be 0-d or 1-D, got shape ${fmtShape(index)}`);
  const out = x.slice();
  if (x.length > 0) out[d] = numel(index);
  return { dim: d, out };
}

/** float64 torch.index_select: the slices of x along `dim` at the given indices, in their order. */
export function indexSelectRef(x: Nd, dim: number, index: Nd): Nd {
  const { dim: d, out: shape } = indexSelectShape(x.shape, dim, index.shape);
  const out = nd(shape);
  forEachIndex(shape, (idx, flat) => {
    const j = checkIndex('indexSelect', index.data[idx[d]!]!, x.shape[d]!, d);
    out.data[flat] = x.data[offsetOf(x.shape, idx.map((v, i) => (i === d ? j : v)))]!;
  });
  return out;
}

/** Shape of an embedding lookup: `[...indices, embeddingDim]`; throws ShapeError unless weight is 2-D. */
export function embeddingShape(weight: Shape, indices: Shape): number[] {
  if (weight.length !== 2) throw new ShapeError('embedding', `weight must be 2-D [numEmbeddings, dim], got ${fmtShape(weight)}`);
  return [...indices, weight[1]!];
}

/** float64 embedding lookup: row `i` of weight for each index `i`; refuses indices outside `[0, numEmbeddings)`. */
export function embeddingRef(weight: Nd, indices: Nd): Nd {
  const out = nd(embeddingShape(weight.shape, indices.shape));
  const dimSize = weight.shape[1]!;
  indices.data.forEach((v, r) => {
    const j = checkIndex('embedding', v, weight.shape[0]!, 0);
    out.data.set(weight.data.subarray(j * dimSize, (j + 1) * dimSize), r * dimSize);
  });
  return out;
}

// ---------------------------------------------------------------- convolution and pooling
export const conv2d = routine('conv2d', { tol: { float32: { rtol: 1e-4, atol: 1e-5 } } });
export const maxPool2d = routine('maxPool2d', { accepts: 'numeric' });
export const avgPool2d = routine('avgPool2d');

/** A per-spatial-dim setting, `[height, width]`. */
export type Pair = readonly [number, number];
/** Sizes are C ints in PyTorch's kernels: a larger one is refused there too ("integer out of range"). */
const INT_MAX = 2 ** 31 - 1;
/**
 * Normalises a conv/pool size given as one integer or a pair to a pair, refusing non-integers and values
 * outside `[min, 2^31 - 1]` with an ArgumentError naming `op` and `name`.
 */
export const pair = (op: string, name: string, v: number | Pair, min: number): Pair => {
  const p = (typeof v === 'number' ? [v, v] : v) as unknown;
  if (!Array.isArray(p) || p.length !== 2 || p.some((x) => !Number.isInteger(x) || x < min || x > INT_MAX)) {
    throw new ArgumentError(op, `${name} must be an integer in [${min}, 2^31 - 1] or a pair of them, got ${v === undefined ? 'undefined' : JSON.stringify(v)}`);
  }
  return p as unknown as Pair;
};

/** torch.nn.functional.conv2d's keyword arguments; a single number applies to both spatial dims. */
export interface Conv2dOptions {
  /** Step between kernel positions (default 1). */
  stride?: number | Pair;
  /** Zeros added on each side of the input (default 0). */
  padding?: number | Pair;
  /** Spacing between kernel taps (default 1). */
  dilation?: number | Pair;
  /** Channel groups: each output channel sees `C / groups` input channels; must divide C and O (default 1). */
  groups?: number;
}
/** The validated sizes of one conv2d call, from conv2dShape; an unbatched input counts as `n = 1`. */
export interface Conv2dPlan {
  /** Batch size. */
  readonly n: number;
  /** Input channels. */
  readonly c: number;
  /** Input height. */
  readonly h: number;
  /** Input width. */
  readonly w: number;
  /** Output channels. */
  readonly o: number;
  /** Kernel height. */
  readonly kh: number;
  /** Kernel width. */
  readonly kw: number;
  /** Stride, `[height, width]`. */
  readonly stride: Pair;
  /** Zero padding per side, `[height, width]`. */
  readonly padding: Pair;
  /** Dilation, `[height, width]`. */
  readonly dilation: Pair;
  /** Channel groups. */
  readonly groups: number;
  /** Output height. */
  readonly oh: number;
  /** Output width. */
  readonly ow: number;
  /** [N, O, OH, OW], or [O, OH, OW] for an unbatched input. */
  readonly out: number[];
}

const convOut = (size: number, k: number, s: number, p: number, d: number, ceil = false): number => {
  const span = size + 2 * p - d * (k - 1) - 1;
  let o = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
  if (ceil && (o - 1) * s >= size + p) o--;
  return o;
};

/**
 * torch's conv2d shape rule for an input `[N, C, H, W]` or `[C, H, W]` and weight `[O, C/groups, kH, kW]`.
 * Throws ShapeError for mismatched channels, a bias not of shape `[O]` or a kernel larger than the padded
 * input, and ArgumentError for bad groups, strides, paddings or dilations.
 */
export function conv2dShape(x: Shape, weight: Shape, bias: Shape | undefined, opt: Conv2dOptions = {}): Conv2dPlan {
  const op = 'conv2d';
  if (x.length !== 3 && x.length !== 4) throw new ShapeError(op, `input must be 3-D [C, H, W] or 4-D [N, C, H, W], got ${fmtShape(x)}`);
  if (weight.length !== 4) throw new ShapeError(op, `weight must be 4-D [O, C/groups, kH, kW], got ${fmtShape(weight)}`);
  const [n, c, h, w] = x.length === 4 ? x : [1, ...x];
  const [o, cg, kh, kw] = weight as [number, number, number, number];
  if (kh < 1 || kw < 1) throw new ShapeError(op, `kernel size should be greater than zero, got ${kh}x${kw} (weight ${fmtShape(weight)})`);
  const groups = opt.groups ?? 1;
  if (!Number.isInteger(groups) || groups < 1 || c! % groups !== 0 || o % groups !== 0) {
    throw new ArgumentError(op, `groups=${groups} must divide both input channels (${c}) and output channels (${o})`);
  }
  if (cg * groups !== c) throw new ShapeError(op, `weight ${fmtShape(weight)} expects ${cg * groups} input channels (C/groups=${cg}, groups=${groups}), but input ${fmtShape(x)} has ${c}`);
  if (bias && (bias.length !== 1 || bias[0] !== o)) throw new ShapeError(op, `bias must have shape [${o}], got ${fmtShape(bias)}`);
  const stride = pair(op, 'stride', opt.stride ?? 1, 1), padding = pair(op, 'padding', opt.padding ?? 0, 0), dilation = pair(op, 'dilation', opt.dilation ?? 1, 1);
  const oh = convOut(h!, kh, stride[0], padding[0], dilation[0]), ow = convOut(w!, kw, stride[1], padding[1], dilation[1]);
  if (oh < 1 || ow < 1) throw new ShapeError(op, `kernel ${kh}x${kw} (dilation ${dilation}) is larger than padded input ${h! + 2 * padding[0]}x${w! + 2 * padding[1]}`);
  const out = x.length === 4 ? [n!, o, oh, ow] : [o, oh, ow];
  return { n: n!, c: c!, h: h!, w: w!, o, kh, kw, stride, padding, dilation, groups, oh, ow, out };
}

/** float64 conv2d (a cross-correlation, as torch's) by direct summation over each window. */
export function conv2dRef(x: Nd, weight: Nd, bias: Nd | undefined, opt: Conv2dOptions = {}): Nd {
  const p = conv2dShape(x.shape, weight.shape, bias?.shape, opt);
  const out = nd(p.out);
  const cg = p.c / p.groups, og = p.o / p.groups;
  forEachIndex([p.n, p.o, p.oh, p.ow], ([b, oc, i, j], flat) => {
    const g = Math.floor(oc! / og);
    let s = bias ? bias.data[oc!]! : 0;
    for (let ci = 0; ci < cg; ci++) {
      for (let u = 0; u < p.kh; u++) {
        for (let v = 0; v < p.kw; v++) {
          const y = i! * p.stride[0] - p.padding[0] + u * p.dilation[0], z = j! * p.stride[1] - p.padding[1] + v * p.dilation[1];
          if (y < 0 || y >= p.h || z < 0 || z >= p.w) continue;
          s += x.data[((b! * p.c + g * cg + ci) * p.h + y) * p.w + z]! * weight.data[((oc! * cg + ci) * p.kh + u) * p.kw + v]!;
        }
      }
    }
    out.data[flat] = s;
  });
  return out;
}

/** maxPool2d / avgPool2d keyword arguments, as torch's; a single number applies to both spatial dims. */
export interface Pool2dOptions {
  /** Window size. */
  kernelSize: number | Pair;
  /** Step between windows (default: kernelSize). */
  stride?: number | Pair;
  /** Implicit padding per side, at most half the kernel size (default 0); padded cells never win a max. */
  padding?: number | Pair;
  /** Spacing between window taps (default 1; maxPool2d only, avgPool2d ignores it). */
  dilation?: number | Pair;
  /** Round the output size up rather than down, dropping a last window that would start in the padding. */
  ceilMode?: boolean;
  /** avgPool2d: count padded zeros in the divisor (PyTorch's default true). */
  countIncludePad?: boolean;
}
/** The validated sizes of one pooling call, from pool2dShape. */
export interface Pool2dPlan {
  /** Number of independent 2-D planes: the product of the leading dims (N * C, or C unbatched). */
  readonly planes: number;
  /** Input height. */
  readonly h: number;
  /** Input width. */
  readonly w: number;
  /** Window size, `[height, width]`. */
  readonly k: Pair;
  /** Stride, `[height, width]`. */
  readonly stride: Pair;
  /** Padding per side, `[height, width]`. */
  readonly padding: Pair;
  /** Dilation, `[height, width]`. */
  readonly dilation: Pair;
  /** Output height. */
  readonly oh: number;
  /** Output width. */
  readonly ow: number;
  /** Output shape: the input's leading dims, then `[oh, ow]`. */
  readonly out: number[];
}

/**
 * The pooling shape rule for an input `[N, C, H, W]` or `[C, H, W]`, with defaults filled in. Throws
 * ShapeError for another rank or a window larger than the padded input, ArgumentError for bad sizes.
 */
export function pool2dShape(op: string, x: Shape, opt: Pool2dOptions): Pool2dPlan {
  if (x.length !== 3 && x.length !== 4) throw new ShapeError(op, `input must be 3-D [C, H, W] or 4-D [N, C, H, W], got ${fmtShape(x)}`);
  const k = pair(op, 'kernelSize', opt.kernelSize, 1);
  const stride = pair(op, 'stride', opt.stride ?? k, 1), padding = pair(op, 'padding', opt.padding ?? 0, 0), dilation = pair(op, 'dilation', opt.dilation ?? 1, 1);
  if (padding[0] * 2 > k[0] || padding[1] * 2 > k[1]) throw new ArgumentError(op, `padding ${padding} must be at most half of kernelSize ${k}`);
  const [h, w] = x.slice(-2) as [number, number];
  const oh = convOut(h, k[0], stride[0], padding[0], dilation[0], opt.ceilMode), ow = convOut(w, k[1], stride[1], padding[1], dilation[1], opt.ceilMode);
  if (oh < 1 || ow < 1) throw new ShapeError(op, `kernel ${k} is larger than padded input ${fmtShape(x)}`);
  return { planes: numel(x.slice(0, -2)), h, w, k, stride, padding, dilation, oh, ow, out: [...x.slice(0, -2), oh, ow] };
}

function poolRef(op: string, x: Nd, opt: Pool2dOptions, reduceWindow: (vals: number[], count: number) => number): Nd {
  const p = pool2dShape(op, x.shape, opt);
  const out = nd(p.out);
  forEachIndex([p.planes, p.oh, p.ow], ([c, i, j], flat) => {
    const vals: number[] = [];
    const y0 = i! * p.stride[0] - p.padding[0], z0 = j! * p.stride[1] - p.padding[1];
    const yEnd = Math.min(y0 + (p.k[0] - 1) * p.dilation[0] + 1, p.h + p.padding[0]), zEnd = Math.min(z0 + (p.k[1] - 1) * p.dilation[1] + 1, p.w + p.padding[1]);
    for (let u = 0; u < p.k[0]; u++) {
      for (let v = 0; v < p.k[1]; v++) {
        const y = y0 + u * p.dilation[0], z = z0 + v * p.dilation[1];
        if (y >= 0 && y < p.h && z >= 0 && z < p.w) vals.push(x.data[(c! * p.h + y) * p.w + z]!);
      }
    }
    out.data[flat] = reduceWindow(vals, opt.countIncludePad === false ? vals.length : (yEnd - y0) * (zEnd - z0));
  });
  return out;
}

/** float64 maxPool2d; a NaN in a window makes that output NaN. */
export const maxPool2dRef = (x: Nd, opt: Pool2dOptions): Nd =>
  poolRef('maxPool2d', x, opt, (v) => (v.some(Number.isNaN) ? NaN : Math.max(...v)));
/** float64 avgPool2d; the divisor counts padded cells unless `countIncludePad` is false. */
export const avgPool2dRef = (x: Nd, opt: Pool2dOptions): Nd =>
  poolRef('avgPool2d', x, { ...opt, dilation: 1 }, (v, count) => v.reduce((a, b) => a + b, 0) / count);
