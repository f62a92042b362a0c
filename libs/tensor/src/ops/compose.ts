/**
 * torch functions that are compositions of other ops (so they are differentiable, run on every
 * backend and fuse under compile with no kernel of their own), with torch's argument checks.
 */
import { ArgumentError, DTypeError, ShapeError, broadcastShapes, checkInt, describe, fmtShape, isFloating, normDim, numel } from '@tessera/ops';
import type { TensorOrScalar } from '../dispatch.js';
import type { Tensor } from '../tensor.js';
import * as ew from './elementwise.js';
import { cat } from './join.js';
import { matmul } from './routines.js';
import * as vw from './views.js';
import * as rd from './reduce.js';
import { arange, full, tensor } from '../factories.js';

const needRank = (name: string, what: string, t: Tensor, rank: number): void => {
  if (t.ndim !== rank) throw new ShapeError(name, `${what} must be ${rank}-D, got shape ${fmtShape(t.shape)}`);
};

/** torch.mm: the product of two matrices (no broadcasting). */
export function mm(a: Tensor, b: Tensor): Tensor {
  needRank('mm', 'self', a, 2);
  needRank('mm', 'mat2', b, 2);
  return matmul(a, b);
}

/** torch.bmm: batched products of [B, n, m] and [B, m, p], batch sizes equal (no broadcasting). */
export function bmm(a: Tensor, b: Tensor): Tensor {
  needRank('bmm', 'batch1', a, 3);
  needRank('bmm', 'batch2', b, 3);
  if (a.shape[0] !== b.shape[0]) throw new ShapeError('bmm', `batch sizes differ: ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  return matmul(a, b);
}

/** torch.addmm: beta * input + alpha * (m1 @ m2), input broadcast to the product's shape; with beta 0, input is not read (its NaNs do not propagate). */
export function addmm(input: Tensor, m1: Tensor, m2: Tensor, opt: { beta?: number; alpha?: number } = {}): Tensor {
  const { beta = 1, alpha = 1 } = opt;
  const prod = mm(m1, m2);
  const scaled = alpha === 1 ? prod : prod.mul(alpha);
  const base = vw.expand(input, scaled.shape); // a ShapeError where input does not broadcast to it
  return beta === 0 ? scaled : scaled.add(base, { alpha: beta });
}

/** torch.outer: the outer product of two vectors, [n] x [m] -> [n, m]. */
export function outer(a: Tensor, b: Tensor): Tensor {
  needRank('outer', 'self', a, 1);
  needRank('outer', 'vec2', b, 1);
  return a.unsqueeze(1).mul(b.unsqueeze(0));
}

/** torch.addcmul: input + value * t1 * t2 (broadcast). */
export function addcmul(input: Tensor, t1: TensorOrScalar, t2: TensorOrScalar, opt: { value?: number } = {}, out?: Tensor): Tensor {
  return ew.add(input, ew.mul(t1, t2), { alpha: opt.value ?? 1 }, out);
}

/** torch.addcdiv: input + value * t1 / t2 (broadcast); integer t1 and t2 are refused, as torch does. */
export function addcdiv(input: Tensor, t1: Tensor, t2: Tensor, opt: { value?: number } = {}, out?: Tensor): Tensor {
  if (!isFloating(t1.dtype) && !isFloating(t2.dtype)) throw new DTypeError('addcdiv', `integer division (${t1.dtype} / ${t2.dtype}) is not supported; use float tensors (as torch)`);
  return ew.add(input, ew.div(t1, t2), { alpha: opt.value ?? 1 }, out);
}

/**
 * torch.roll: elements shifted along `dims` by `shifts` (each wrapping around); with no dims, along
 * the flattened tensor, then restored to its shape.
 */
export function roll(x: Tensor, shifts: number | readonly number[], dims?: number | readonly number[]): Tensor {
  const s = typeof shifts === 'number' ? [shifts] : [...shifts];
  if (dims === undefined) {
    if (s.length !== 1) throw new ShapeError('roll', `${s.length} shifts need as many dims`);
    return roll(vw.flatten(x), s[0]!, 0).view(x.shape);
  }
  const d = typeof dims === 'number' ? [dims] : [...dims];
  if (d.length !== s.length) throw new ShapeError('roll', `${s.length} shifts but ${d.length} dims`);
  return d.reduce((t, dim, i) => {
    const at = normDim('roll', dim, t.ndim);
    const n = t.shape[at]!;
    const k = n === 0 ? 0 : ((s[i]! % n) + n) % n;
    return k === 0 ? t.clone() : cat([vw.narrow(t, at, n - k, k), vw.narrow(t, at, 0, n - k)], at);
  }, x);
}

/** torch.any: whether any element (along `dim`) is nonzero, as bool. */
export function any(x: Tensor, dim?: number, opt: { keepdim?: boolean } = {}): Tensor {
  return rd.sum(ew.ne(x, 0).to('int64'), dim, opt).gt(0);
}

/** torch.all: whether every element (along `dim`) is nonzero, as bool. */
export function all(x: Tensor, dim?: number, opt: { keepdim?: boolean } = {}): Tensor {
  return rd.sum(ew.eq(x, 0).to('int64'), dim, opt).eq(0);
}

/**
 * torch.Tensor.repeat: x tiled `sizes[i]` times along each dim (sizes may have more entries than x
 * has dims: new leading dims). A view expanded and copied once, so its gradient sums the tiles.
 */
export function repeat(x: Tensor, sizes: readonly number[]): Tensor {
  if (!Array.isArray(sizes) || sizes.length < x.ndim) throw new ArgumentError('repeat', `number of repeat dims (${describe(sizes)}) can not be smaller than number of tensor dims (${x.ndim})`);
  sizes.forEach((r, i) => checkInt('repeat', `sizes[${i}]`, r, 0));
  const shape = [...Array(sizes.length - x.ndim).fill(1), ...x.shape] as number[];
  // [r0, d0, r1, d1, ...]: each dim of x behind its repeat count, then merged pairwise.
  const spread = vw.reshape(x, shape.flatMap((d) => [1, d]));
  const tiled = vw.expand(spread, shape.flatMap((d, i) => [sizes[i]!, d]));
  return vw.reshape(tiled.contiguous(), shape.map((d, i) => d * sizes[i]!));
}

/**
 * torch.repeat_interleave: each element repeated along `dim` (x flattened when dim is not given):
 * `repeats` times, or repeats[i] times for element i (an array, or an int64 tensor read on the host).
 */
export function repeatInterleave(x: Tensor, repeats: number | readonly number[] | Tensor, dim?: number): Tensor {
  const src = dim === undefined ? vw.reshape(x, [-1]) : x;
  const d = dim === undefined ? 0 : normDim('repeatInterleave', dim, Math.max(x.ndim, 1));
  if (src.ndim === 0) return repeatInterleave(vw.reshape(src, [1]), repeats, 0);
  const n = src.shape[d]!;
  if (typeof repeats === 'number') {
    const r = checkInt('repeatInterleave', 'repeats', repeats, 0);
    // Each element behind a new axis of r copies, merged into dim.
    const spread = vw.unsqueeze(src, d + 1);
    const tiled = vw.expand(spread, [...src.shape.slice(0, d + 1), r, ...src.shape.slice(d + 1)]);
    return vw.reshape(tiled.contiguous(), src.shape.map((s, i) => (i === d ? s * r : s)));
  }
  const counts = Array.isArray(repeats) ? (repeats as readonly number[]) : Array.from((repeats as Tensor).dataSync() as ArrayLike<number | bigint>, Number);
  if (counts.length !== n && counts.length !== 1) throw new ShapeError('repeatInterleave', `repeats must have the same size as input along dim (${n}), got ${counts.length}`);
  counts.forEach((c, i) => checkInt('repeatInterleave', `repeats[${i}]`, c, 0));
  const per = counts.length === 1 ? Array(n).fill(counts[0]) as number[] : counts;
  const index = per.flatMap((c, i) => Array<number>(c).fill(i));
  return src.indexSelect(d, tensor(index, { dtype: 'int64', device: src.device }));
}

/** torch.Tensor.unflatten: dim split into `sizes` (one entry may be -1). */
export function unflatten(x: Tensor, dim: number, sizes: readonly number[]): Tensor {
  const d = normDim('unflatten', dim, x.ndim);
  const known = sizes.filter((s) => s !== -1);
  const size = x.shape[d]!;
  const filled = sizes.map((s) => (s === -1 ? size / Math.max(numel(known), 1) : s));
  if (sizes.filter((s) => s === -1).length > 1 || numel(filled) !== size || !filled.every(Number.isInteger)) {
    throw new ShapeError('unflatten', `sizes ${fmtShape(sizes)} do not multiply to dim ${d}'s size ${size}`);
  }
  return vw.reshape(x, [...x.shape.slice(0, d), ...filled, ...x.shape.slice(d + 1)]);
}

/**
 * torch.einsum over letter subscripts ('bij,bjk->bik'; without '->' the output is '...' then the
 * letters that appear once, in alphabetical order). '...' stands for an operand's leading dims,
 * broadcast across operands (right-aligned, as torch); a letter repeated within one operand takes
 * the diagonal ('ii->i', 'ii->' the trace). Operands are contracted left to right, each pair as one
 * batched matrix product (the letters both share and the rest still need are the batch, the letters
 * only they share are summed by the product), so nothing of the full outer product is built.
 */
export function einsum(equation: string, ...operands: Tensor[]): Tensor {
  if (typeof equation !== 'string') throw new ArgumentError('einsum', `the equation must be a string, got ${describe(equation)}`);
  const eq = equation.replace(/\s+/g, '');
  const [lhs, rhs, extra] = eq.split('->') as [string, string | undefined, string | undefined];
  if (extra !== undefined) throw new ArgumentError('einsum', `an equation has at most one '->', got '${equation}'`);
  const written = lhs.split(',');
  if (written.length !== operands.length) throw new ArgumentError('einsum', `the equation names ${written.length} operands, ${operands.length} given`);
  const ellipses = (t: string) => t.split('...').length - 1;
  for (const t of [...written, rhs ?? '']) {
    if (ellipses(t) > 1) throw new ArgumentError('einsum', `'...' may appear once per operand, got '${t}'`);
    if (!/^[a-zA-Z]*$/.test(t.replace('...', ''))) throw new ArgumentError('einsum', `subscripts must be letters (and one '...'), got '${t}'`);
  }
  // '...' becomes private subscripts (not letters) for the broadcast leading dims, each operand's expanded to the common shape.
  const spans = written.map((t, i) => {
    const letters = t.replace('...', '').length, x = operands[i]!;
    if (ellipses(t) === 0 ? letters !== x.ndim : letters > x.ndim) throw new ShapeError('einsum', `operand ${i} has ${x.ndim} dims, its subscripts '${t}' name ${letters}`);
    return ellipses(t) ? x.ndim - letters : 0;
  });
  const lead = broadcastShapes('einsum', written.map((t, i) => operands[i]!.shape.slice(t.indexOf('...') < 0 ? 0 : t.indexOf('...'), (t.indexOf('...') < 0 ? 0 : t.indexOf('...')) + spans[i]!)));
  const hidden = lead.map((_, k) => String.fromCharCode(0x100 + k));
  const xs = operands.map((x, i) => {
    const at = written[i]!.indexOf('...');
    if (at < 0 || spans[i] === 0) return x;
    const span = spans[i]!, own = lead.slice(lead.length - span);
    return vw.expand(x, [...x.shape.slice(0, at), ...own, ...x.shape.slice(at + span)]);
  });
  const terms = written.map((t, i) => t.replace('...', hidden.slice(hidden.length - spans[i]!).join('')));
  const sizes = new Map<string, number>();
  terms.forEach((t, i) => {
    [...t].forEach((c, d) => {
      const n = xs[i]!.shape[d]!, had = sizes.get(c);
      if (had !== undefined && had !== n) throw new ShapeError('einsum', `subscript '${c}' has size ${had} and ${n}`);
      sizes.set(c, n);
    });
  });
  // A letter repeated within an operand: its diagonal (where() keeps NaN elsewhere from leaking into it).
  terms.forEach((t, i) => {
    for (let d2 = t.length - 1; d2 > 0; d2--) {
      const d1 = t.indexOf(t[d2]!);
      if (d1 === d2) continue;
      const n = sizes.get(t[d2]!)!, x = xs[i]!;
      const axis = (d: number) => vw.reshape(arange(n, { device: x.device }), x.shape.map((_, k) => (k === d ? n : 1)));
      xs[i] = rd.sum(ew.where(ew.eq(axis(d1), axis(d2)), x, 0), [d2]);
      t = t.slice(0, d2) + t.slice(d2 + 1);
      terms[i] = t;
    }
  });
  const counts = new Map<string, number>();
  for (const c of written.join('').replace(/\.\.\./g, '')) counts.set(c, (counts.get(c) ?? 0) + 1);
  const out = rhs !== undefined ? rhs.replace('...', hidden.join('')) : hidden.join('') + [...counts].filter(([, n]) => n === 1).map(([c]) => c).sort().join('');
  for (const c of out) if (!sizes.has(c)) throw new ArgumentError('einsum', `output subscript '${c}' appears in no operand`);
  if (new Set(out).size !== out.length) throw new ArgumentError('einsum', `output subscripts repeat a letter: '${out}'`);
  // Sums the letters of `t` (over x) nobody else needs, then keeps the rest in order.
  const reduce = (x: Tensor, t: string, needed: Set<string>): [Tensor, string] => {
    const gone = [...t].map((c, d) => (needed.has(c) ? -1 : d)).filter((d) => d >= 0);
    return gone.length ? [rd.sum(x, gone), [...t].filter((c) => needed.has(c)).join('')] : [x, t];
  };
  const need = (from: number): Set<string> => new Set([...out, ...terms.slice(from).join('')]);
  let [acc, at] = reduce(xs[0]!, terms[0]!, need(1));
  for (let i = 1; i < operands.length; i++) {
    const keep = need(i + 1);
    const [b, bt] = reduce(xs[i]!, terms[i]!, new Set([...keep, ...at]));
    [acc, at] = reduce(acc, at, new Set([...keep, ...bt]));
    const batch = [...at].filter((c) => bt.includes(c) && keep.has(c));
    const summed = [...at].filter((c) => bt.includes(c) && !keep.has(c));
    const left = [...at].filter((c) => !bt.includes(c)), right = [...bt].filter((c) => !at.includes(c));
    const size = (cs: string[]) => cs.reduce((n, c) => n * sizes.get(c)!, 1);
    const a3 = vw.reshape(vw.permute(acc, [...batch, ...left, ...summed].map((c) => at.indexOf(c))), [size(batch), size(left), size(summed)]);
    const b3 = vw.reshape(vw.permute(b, [...batch, ...summed, ...right].map((c) => bt.indexOf(c))), [size(batch), size(summed), size(right)]);
    acc = vw.reshape(matmul(a3, b3), [...batch, ...left, ...right].map((c) => sizes.get(c)!));
    at = [...batch, ...left, ...right].join('');
  }
  [acc, at] = reduce(acc, at, new Set(out));
  return at === out ? acc : vw.permute(acc, [...out].map((c) => at.indexOf(c)));
}

/**
 * torch.cumprod: running products along `dim` (int64 for integer and bool input, as torch). A
 * Hillis-Steele scan, log2(n) elementwise products each with the running value shifted by a power
 * of two, so it runs on every backend, and its gradient (through those products) is exact where
 * elements are zero, where dividing the output by the input is not.
 */
export function cumprod(x: Tensor, dim: number): Tensor {
  const d = normDim('cumprod', dim, Math.max(x.ndim, 1));
  let y = isFloating(x.dtype) ? x : x.to('int64');
  if (x.ndim === 0) return y.mul(1);
  const n = y.shape[d]!;
  for (let off = 1; off < n; off *= 2) {
    const ones = full(y.shape.map((s, i) => (i === d ? off : s)), 1, { dtype: y.dtype, device: y.device });
    y = y.mul(cat([ones, y.narrow(d, 0, n - off)], d));
  }
  return n === 1 ? y.mul(1) : y;
}
