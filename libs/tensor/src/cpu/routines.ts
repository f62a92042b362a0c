/** Hand-written pure-JS routine kernels; shapes were validated by the ops' shape rules. */
import { checkIndex, type Conv2dPlan, type Pool2dPlan } from '@tessera/ops';
import type { MatmulLaunch, RoutineKernels, View } from '../backend.js';
import { type TypedArray, getter, setter } from '../typed.js';
import { gemm } from './gemm.js';
import { dropDim, forEachOffset, withDim } from './iterate.js';

const get = (v: View) => getter(v.dtype, v.buffer as TypedArray);
const set = (v: View) => setter(v.dtype, v.buffer as TypedArray);

function matmul({ out, a, b, m, k, n }: MatmulLaunch): void {
  const batch = out.shape.slice(0, -2);
  const ag = get(a), bg = get(b), write = set(out);
  const direct = out.dtype === 'float64' ? (out.buffer as Float64Array) : undefined;
  const tmp = direct ? undefined : new Float64Array(m * n);
  const r = a.shape.length;
  forEachOffset(batch, [a.strides.slice(0, -2), b.strides.slice(0, -2), out.strides.slice(0, -2)], [a.offset, b.offset, out.offset], ([ao, bo, oo]) => {
    const c = direct ?? tmp!;
    const cOff = direct ? oo! : 0;
    c.fill(0, cOff, cOff + m * n);
    gemm({ m, k, n, a: ag, aOff: ao!, aRs: a.strides[r - 2]!, aCs: a.strides[r - 1]!, b: bg, bOff: bo!, bRs: b.strides[r - 2]!, bCs: b.strides[r - 1]!, c, cOff });
    if (tmp) for (let i = 0; i < m * n; i++) write(oo! + i, tmp[i]!);
  });
}

function softmax(out: View, x: View, dim: number, log: boolean): void {
  const n = x.shape[dim] ?? 1;
  const xs = x.strides[dim] ?? 0, os = out.strides[dim] ?? 0;
  const xg = get(x), write = set(out);
  const line = new Float64Array(n);
  const outer = x.shape.length ? withDim(x.shape, dim, 1) : [];
  forEachOffset(outer, [dropDim(x.strides, dim), dropDim(out.strides, dim)], [x.offset, out.offset], ([xo, oo]) => {
    let m = -Infinity, at = -1;
    for (let i = 0; i < n; i++) { const v = (line[i] = xg(xo! + i * xs)); if (v > m || v !== v) { m = v; at = i; } }
    // NaN or +inf anywhere (inf - inf is NaN), or a row of -inf, gives a NaN row, as PyTorch.
    if (m === -Infinity || m === Infinity || m !== m) { for (let i = 0; i < n; i++) write(oo! + i * os, NaN); return; }
    // The sum of exp(x - m) is 1 (the first maximum's) plus the rest: log1p of the rest keeps
    // logSoftmax's results near 0 (a dominant entry) accurate whatever the summation order.
    let rest = 0;
    for (let i = 0; i < n; i++) if (i !== at) rest += Math.exp(line[i]! - m);
    const lse = m + Math.log1p(rest);
    for (let i = 0; i < n; i++) write(oo! + i * os, log ? line[i]! - lse : Math.exp(line[i]! - lse));
  });
}

/**
 * softmax's (or logSoftmax's) gradient along `dim` from the forward's output y, one line at a time
 * in float64: gx = y (g - sum(g y)) for softmax, gx = g - exp(y) sum(g) for logSoftmax.
 */
function softmaxBackward(gx: View, grad: View, y: View, dim: number, log: boolean): void {
  const n = y.shape[dim] ?? 1;
  const [gs, ys, os] = [grad, y, gx].map((v) => v.strides[dim] ?? 0) as [number, number, number];
  const gg = get(grad), yg = get(y), write = set(gx);
  const outer = y.shape.length ? withDim(y.shape, dim, 1) : [];
  forEachOffset(outer, [dropDim(grad.strides, dim), dropDim(y.strides, dim), dropDim(gx.strides, dim)], [grad.offset, y.offset, gx.offset], ([go, yo, oo]) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += log ? gg(go! + i * gs) : gg(go! + i * gs) * yg(yo! + i * ys);
    for (let i = 0; i < n; i++) {
      const g = gg(go! + i * gs), v = yg(yo! + i * ys);
      write(oo! + i * os, log ? g - Math.exp(v) * s : v * (g - s));
    }
  });
}

/** Stable sort of each line along `dim` (NaN largest), values and int64 positions. */
function sort(values: View, indices: View, x: View, dim: number, descending: boolean): void {
  const n = x.shape[dim] ?? 1;
  const [xs, vs, is] = [x, values, indices].map((v) => v.strides[dim] ?? 0) as [number, number, number];
  const xg = get(x), writeV = set(values), writeI = set(indices);
  const line = new Float64Array(n);
  const order = Array.from({ length: n }, (_, i) => i);
  // Ascending with NaN last; descending is its reverse order but for ties, which keep their order.
  const cmp = (a: number, b: number): number => {
    const p = line[a]!, q = line[b]!;
    const c = p !== p ? (q !== q ? 0 : 1) : q !== q ? -1 : p < q ? -1 : p > q ? 1 : 0;
    return (descending ? -c : c) || a - b;
  };
  const outer = x.shape.length ? withDim(x.shape, dim, 1) : [];
  forEachOffset(outer, [dropDim(x.strides, dim), dropDim(values.strides, dim), dropDim(indices.strides, dim)], [x.offset, values.offset, indices.offset], ([xo, vo, io]) => {
    for (let i = 0; i < n; i++) { line[i] = xg(xo! + i * xs); order[i] = i; }
    order.sort(cmp);
    for (let j = 0; j < n; j++) { writeV(vo! + j * vs, line[order[j]!]!); writeI(io! + j * is, order[j]!); }
  });
}

/** The mean and 1 / sqrt(var + eps) of `inner` values from `base` (two passes, as the forward and backward kernels agree on). */
function rowStats(xg: (i: number) => number, base: number, inner: number, eps: number): { mean: number; rstd: number } {
  let mean = 0;
  for (let i = 0; i < inner; i++) mean += xg(base + i);
  mean /= inner;
  let v = 0;
  for (let i = 0; i < inner; i++) { const d = xg(base + i) - mean; v += d * d; }
  return { mean, rstd: 1 / Math.sqrt(v / inner + eps) };
}

function layerNorm(out: View, x: View, weight: View | undefined, bias: View | undefined, inner: number, eps: number): void {
  const xg = get(x), write = set(out);
  const wg = weight && get(weight), bg = bias && get(bias);
  const rows = inner === 0 ? 0 : x.shape.reduce((a, b) => a * b, 1) / inner;
  for (let r = 0; r < rows; r++) {
    const base = x.offset + r * inner;
    const { mean, rstd } = rowStats(xg, base, inner, eps);
    for (let i = 0; i < inner; i++) {
      const y = (xg(base + i) - mean) * rstd;
      write(out.offset + r * inner + i, (wg ? y * wg(weight!.offset + i) : y) + (bg ? bg(bias!.offset + i) : 0));
    }
  }
}

function layerNormBackward(gx: View | undefined, gw: View | undefined, gb: View | undefined, grad: View, x: View, weight: View | undefined, inner: number, eps: number): void {
  const xg = get(x), gg = get(grad), wg = weight && get(weight);
  const rows = inner === 0 ? 0 : x.shape.reduce((a, b) => a * b, 1) / inner;
  const sumW = new Float64Array(inner), sumB = new Float64Array(inner), gy = new Float64Array(inner);
  const writeX = gx && set(gx);
  for (let r = 0; r < rows; r++) {
    const xb = x.offset + r * inner, gb0 = grad.offset + r * inner;
    const { mean, rstd } = rowStats(xg, xb, inner, eps);
    let sumGy = 0, sumGyXhat = 0;
    for (let i = 0; i < inner; i++) {
      const g = gg(gb0 + i), xhat = (xg(xb + i) - mean) * rstd;
      const y = wg ? g * wg(weight!.offset + i) : g;
      gy[i] = y;
      sumGy += y;
      sumGyXhat += y * xhat;
      sumW[i] = sumW[i]! + g * xhat;
      sumB[i] = sumB[i]! + g;
    }
    if (writeX) {
      const mg = sumGy / inner, mgx = sumGyXhat / inner;
      for (let i = 0; i < inner; i++) writeX(gx!.offset + r * inner + i, rstd * (gy[i]! - mg - (xg(xb + i) - mean) * rstd * mgx));
    }
  }
  if (gw) { const w = set(gw); for (let i = 0; i < inner; i++) w(gw.offset + i, sumW[i]!); }
  if (gb) { const w = set(gb); for (let i = 0; i < inner; i++) w(gb.offset + i, sumB[i]!); }
}

function gather(out: View, x: View, index: View, dim: number): void {
  const xg = get(x), ig = get(index), write = set(out);
  const size = x.shape[dim]!, xs = x.strides[dim]!;
  forEachOffset(index.shape, [index.strides, dropDim(x.strides, dim), out.strides], [index.offset, x.offset, out.offset], ([io, xo, oo]) => {
    write(oo!, xg(xo! + checkIndex('gather', ig(io!), size, dim) * xs));
  });
}

/** Whether v's dims from `from` on are row-major with no gaps (its trailing block is contiguous). */
function trailingContiguous(v: View, from: number): boolean {
  let expected = 1;
  for (let i = v.shape.length - 1; i >= from; i--) {
    if (v.shape[i] !== 1 && v.strides[i] !== expected) return false;
    expected *= v.shape[i]!;
  }
  return true;
}
const floatBuffer = (v: View): Float32Array | Float64Array | undefined =>
  v.dtype === 'float32' || v.dtype === 'float64' ? (v.buffer as Float32Array | Float64Array) : undefined;

/**
 * scatterAdd along dim 0 with one index per row (the index broadcast along the other dims, as
 * indexSelect's and embedding's gradients pass it) on float rows that are contiguous: whole rows
 * added in a tight loop. False where the operands do not have that form.
 */
function scatterAddRows(out: View, index: View, src: View, dim: number): boolean {
  const [o, s] = [floatBuffer(out), floatBuffer(src)];
  // The index must reach every element of src: torch's index may be smaller, and then only the part it covers is added.
  if (dim !== 0 || !o || !s || out.dtype !== src.dtype || index.shape.length < 1 || index.shape.some((d, i) => d !== src.shape[i])) return false;
  if (index.strides.slice(1).some((st, i) => st !== 0 && index.shape[i + 1] !== 1)) return false;
  if (!trailingContiguous(out, 1) || !trailingContiguous(src, 1) || out.shape.slice(1).some((d, i) => d !== src.shape[i + 1])) return false;
  const rows = src.shape[0]!, inner = src.shape.slice(1).reduce((a, b) => a * b, 1), size = out.shape[0]!;
  const ig = get(index);
  // Every index is checked before anything is written: a bad one leaves out as it was.
  const at = new Array<number>(rows);
  for (let r = 0; r < rows; r++) at[r] = checkIndex('scatterAdd', ig(index.offset + r * index.strides[0]!), size, 0);
  for (let r = 0; r < rows; r++) {
    const ob = out.offset + at[r]! * out.strides[0]!, sb = src.offset + r * src.strides[0]!;
    for (let j = 0; j < inner; j++) o[ob + j] = o[ob + j]! + s[sb + j]!;
  }
  return true;
}

function scatterAdd(out: View, index: View, src: View, dim: number): void {
  if (src.shape.every((d) => d > 0) && scatterAddRows(out, index, src, dim)) return;
  const og = get(out), ig = get(index), sg = get(src), write = set(out);
  const size = out.shape[dim]!, os = out.strides[dim]!;
  forEachOffset(index.shape, [index.strides, src.strides, dropDim(out.strides, dim)], [index.offset, src.offset, out.offset], ([io, so, oo]) => {
    const at = oo! + checkIndex('scatterAdd', ig(io!), size, dim) * os;
    write(at, og(at) + sg(so!));
  });
}

function indexSelect(out: View, x: View, index: View, dim: number): void {
  // Whole blocks copied where x and out are contiguous from `dim` on and share a storage type.
  if (out.dtype === x.dtype && (x.buffer as TypedArray).constructor === (out.buffer as TypedArray).constructor && trailingContiguous(x, dim + 1) && trailingContiguous(out, dim)
      && x.shape.slice(dim + 1).every((d, i) => d === out.shape[dim + 1 + i]) && out.shape.every((d) => d > 0)) {
    const xb = x.buffer as Float32Array, ob = out.buffer as Float32Array, ig = get(index);
    const size = x.shape[dim] ?? 1, inner = x.shape.slice(dim + 1).reduce((a, b) => a * b, 1), n = out.shape[dim] ?? 1;
    const picks = Array.from({ length: n }, (_, k) => checkIndex('indexSelect', ig(index.offset + k * (index.strides[0] ?? 0)), size, dim));
    forEachOffset(out.shape.slice(0, dim), [x.strides.slice(0, dim), out.strides.slice(0, dim)], [x.offset, out.offset], ([xo, oo]) => {
      for (let k = 0; k < n; k++) {
        const from = xo! + picks[k]! * (x.strides[dim] ?? 0), to = oo! + k * (out.strides[dim] ?? inner);
        ob.set(xb.subarray(from, from + inner), to);
      }
    });
    return;
  }
  const xg = get(x), ig = get(index), write = set(out);
  const size = x.shape[dim] ?? 1, xs = x.strides[dim] ?? 0, is = index.strides[0] ?? 0;
  forEachOffset(out.shape, [dropDim(x.strides, dim), out.strides], [x.offset, out.offset], ([xo, oo], idx) => {
    const j = checkIndex('indexSelect', ig(index.offset + (idx[dim] ?? 0) * is), size, dim);
    write(oo!, xg(xo! + j * xs));
  });
}

/** Writes the patches of one image's channels [c0, c0 + cn) into cols [cn*kh*kw, oh*ow] (zero padding). */
function im2col(xg: (i: number) => number, imageBase: number, p: Conv2dPlan, c0: number, cn: number, cols: Float64Array | { [i: number]: number }, colsOff: number): void {
  let w = colsOff;
  for (let ci = c0; ci < c0 + cn; ci++) {
    const plane = imageBase + ci * p.h * p.w;
    for (let u = 0; u < p.kh; u++) {
      for (let v = 0; v < p.kw; v++) {
        for (let i = 0; i < p.oh; i++) {
          const y = i * p.stride[0] - p.padding[0] + u * p.dilation[0];
          for (let j = 0; j < p.ow; j++) {
            const z = j * p.stride[1] - p.padding[1] + v * p.dilation[1];
            cols[w++] = y >= 0 && y < p.h && z >= 0 && z < p.w ? xg(plane + y * p.w + z) : 0;
          }
        }
      }
    }
  }
}

/** im2col per image and group, then one GEMM: W_g [O/g, C/g*kh*kw] x cols [C/g*kh*kw, OH*OW]. */
function conv2d(out: View, x: View, weight: View, bias: View | undefined, p: Conv2dPlan): void {
  const xg = get(x), wg = get(weight), write = set(out);
  const cg = p.c / p.groups, og = p.o / p.groups, kk = cg * p.kh * p.kw, hw = p.oh * p.ow;
  const cols = new Float64Array(kk * hw);
  const res = new Float64Array(og * hw);
  const bg = bias && get(bias);
  for (let b = 0; b < p.n; b++) {
    for (let g = 0; g < p.groups; g++) {
      im2col(xg, x.offset + b * p.c * p.h * p.w, p, g * cg, cg, cols, 0);
      res.fill(0);
      gemm({ m: og, k: kk, n: hw, a: wg, aOff: weight.offset + g * og * kk, aRs: kk, aCs: 1, b: (i) => cols[i]!, bOff: 0, bRs: hw, bCs: 1, c: res, cOff: 0 });
      for (let oc = 0; oc < og; oc++) {
        const add = bg ? bg(bias!.offset + g * og + oc) : 0;
        const base = out.offset + (b * p.o + g * og + oc) * hw;
        for (let t = 0; t < hw; t++) write(base + t, res[oc * hw + t]! + add);
      }
    }
  }
}

/** out [N, C*kh*kw, L] = the patches of x [N, C, H, W] (x contiguous). */
function unfold(out: View, x: View, p: Conv2dPlan): void {
  const xg = get(x), write = set(out);
  const rows = p.c * p.kh * p.kw * p.oh * p.ow;
  const cols = new Float64Array(rows);
  for (let b = 0; b < p.n; b++) {
    im2col(xg, x.offset + b * p.c * p.h * p.w, p, 0, p.c, cols, 0);
    for (let i = 0; i < rows; i++) write(out.offset + b * rows + i, cols[i]!);
  }
}

/** out [N, C, H, W] = sum of the patches in cols [N, C*kh*kw, L] at their positions (cols contiguous). */
function fold(out: View, cols: View, p: Conv2dPlan): void {
  const cg = get(cols), write = set(out);
  const acc = new Float64Array(p.n * p.c * p.h * p.w);
  let r = cols.offset;
  for (let b = 0; b < p.n; b++) {
    for (let ci = 0; ci < p.c; ci++) {
      const plane = (b * p.c + ci) * p.h * p.w;
      for (let u = 0; u < p.kh; u++) {
        for (let v = 0; v < p.kw; v++) {
          for (let i = 0; i < p.oh; i++) {
            const y = i * p.stride[0] - p.padding[0] + u * p.dilation[0];
            for (let j = 0; j < p.ow; j++, r++) {
              const z = j * p.stride[1] - p.padding[1] + v * p.dilation[1];
              if (y >= 0 && y < p.h && z >= 0 && z < p.w) acc[plane + y * p.w + z]! += cg(r);
            }
          }
        }
      }
    }
  }
  for (let i = 0; i < acc.length; i++) write(out.offset + i, acc[i]!);
}

/** The taps [first, end) of a window starting at `start` (step `d`, `k` taps) that land in [0, size). */
function taps(start: number, d: number, k: number, size: number): [number, number] {
  const first = start >= 0 ? 0 : Math.ceil(-start / d);
  const end = start > size - 1 ? 0 : Math.min(k, Math.floor((size - 1 - start) / d) + 1);
  return [first, Math.max(first, end)];
}

function pool2d(out: View, x: View, p: Pool2dPlan, mode: 'max' | 'avg', countIncludePad: boolean, indices?: View): void {
  const xg = get(x), write = set(out);
  const writeIndex = indices && set(indices);
  let o = out.offset;
  for (let c = 0; c < p.planes; c++) {
    const plane = x.offset + c * p.h * p.w;
    for (let i = 0; i < p.oh; i++) {
      for (let j = 0; j < p.ow; j++) {
        const y0 = i * p.stride[0] - p.padding[0], z0 = j * p.stride[1] - p.padding[1];
        let acc = mode === 'max' ? -Infinity : 0, n = 0, at = -1;
        // Only the taps inside the plane are visited: a window may be far larger than the input.
        const [u0, u1] = taps(y0, p.dilation[0], p.k[0], p.h), [v0, v1] = taps(z0, p.dilation[1], p.k[1], p.w);
        for (let u = u0; u < u1; u++) {
          const y = y0 + u * p.dilation[0];
          for (let v = v0; v < v1; v++) {
            const z = z0 + v * p.dilation[1];
            const val = xg(plane + y * p.w + z);
            if (mode === 'avg') acc += val;
            else if (at < 0 || val > acc || (val !== val && acc === acc)) { acc = val; at = y * p.w + z; }
            n++;
          }
        }
        if (mode === 'avg') {
          const yEnd = Math.min(y0 + p.k[0], p.h + p.padding[0]), zEnd = Math.min(z0 + p.k[1], p.w + p.padding[1]);
          acc /= countIncludePad ? (yEnd - y0) * (zEnd - z0) : n;
        }
        if (writeIndex) writeIndex(indices!.offset + o - out.offset, at);
        write(o++, acc);
      }
    }
  }
}

export const cpuRoutines: RoutineKernels = { matmul, softmax, softmaxBackward, sort, layerNorm, layerNormBackward, gather, scatterAdd, indexSelect, conv2d, unfold, fold, pool2d };
