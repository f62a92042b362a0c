/**
 * Routine kernels as gpu.js functions: matmul (a thread per output, batched and strided), and
 * softmax/logSoftmax and layerNorm and their gradients (a thread per row for the row statistics,
 * then a thread per element), the indexing routines, sort, and the convolution family (direct conv2d, unfold, fold,
 * pooling), a thread per output element.
 */
import { type Conv2dPlan, DTypeError, type Pool2dPlan, checkIndex } from '@tessera/ops';
import type { Epilogue, MatmulLaunch, RoutineKernels, View } from '@tessera/tensor';
import { kernelFunction, reshaped, routineEpilogue, unravel } from './kernels.js';
import { type GBuffer, type Runtime, dataOffset } from './runtime.js';

const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const buf = (v: View) => v.buffer as GBuffer;

/** Calls fn with the buffer position of every element of a view. */
function forEachIndexed(v: View, fn: (p: number) => void): void {
  const rec = (d: number, p: number): void => {
    if (d === v.shape.length) { fn(p); return; }
    for (let i = 0; i < v.shape[d]!; i++) rec(d + 1, p + i * v.strides[d]!);
  };
  rec(0, v.offset);
}

function floatOnly(op: string, ...views: (View | undefined)[]): void {
  for (const v of views) if (v && v.dtype !== 'float32') throw new DTypeError(op, `gpujs ${op} takes float32 tensors, got ${v.dtype}`);
}

/** How a row-wise kernel reads v's rows along dim: v's offset, its strides over the other dims, its stride along dim. */
function lineWords(v: View, dim: number): number[] {
  return [dataOffset(v), ...v.strides.filter((_, i) => i !== dim), v.strides[dim] ?? 0];
}

/** Words for a row-wise routine: outer shape[R1], x's lineWords, row length. */
function rowWords(x: View, dim: number): { outer: number[]; words: number[] } {
  const outer = x.shape.filter((_, i) => i !== dim);
  return { outer, words: [...outer, ...lineWords(x, dim), x.shape[dim] ?? 1] };
}

/** Per dim of `shape`, the stride of a row statistic's index (row-major over the dims but `dim`; 0 along it). */
function statStrides(shape: readonly number[], dim: number): number[] {
  const r: number[] = Array(shape.length).fill(0);
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) if (d !== dim) { r[d] = acc; acc *= shape[d]!; }
  return r;
}

/** Buffers the per-element kernel of each routine that takes epilogues reads (the backend's fusesEpilogue budgets with them). */
export const EPILOGUE_ROUTINES: Readonly<Record<string, number>> = { matmul: 2, softmaxBackward: 3, layerNormBackward: 4 };

export function createRoutines(rt: Runtime): Partial<RoutineKernels> {
  /**
   * Runs a routine's kernel whose thread computes element this.thread.x of `out` (`lines` leave it in
   * `value`), with compile's epilogue, when one is attached, in the same pass: a kernel map storing
   * the result and then the epilogue's results.
   */
  function perElement(op: string, key: string, out: View, n: number, lines: readonly string[], buffers: readonly GBuffer[], words: readonly number[], ep?: Epilogue): void {
    if (!ep) {
      const src = kernelFunction(buffers.length, words.length, [...lines, 'return value;'].join('\n  '));
      rt.commit(op, out, rt.launch(op, key, () => src, n, [...buffers, ...words]));
      return;
    }
    const e = routineEpilogue(ep, out, buffers.length, words.length);
    const source = () => ({
      main: kernelFunction(buffers.length + e.buffers.length, words.length + e.words.length, [...lines, e.code('value'), 'return value;'].join('\n  ')),
      outputs: e.outputs,
    });
    const results = rt.launchMap(op, `${key}|${e.key}`, source, n, [...buffers, ...e.buffers, ...words, ...e.words]);
    rt.commit(op, out, results[0]!);
    e.views.forEach((v, j) => rt.commit(op, v, results[j + 1]!));
  }

  function matmul({ out, a, b, m, k, n, epilogue }: MatmulLaunch): void {
    floatOnly('matmul', a, b);
    const B = out.shape.length - 2;
    const batch = out.shape.slice(0, B);
    // Words: m, k, n, batch shape[B], then a and b: offset, strides[B + 2].
    const at = (j: number) => 3 + B + j * (B + 3);
    const body = [
      'const col = this.thread.x % m2;',
      'const rest = Math.floor(this.thread.x / m2);',
      'const row = rest % m0;',
      `let ao = m${at(0)};`, `let bo = m${at(1)};`,
      unravel('Math.floor(rest / m0)', B, 3, [{ v: 'ao', strideAt: at(0) + 1 }, { v: 'bo', strideAt: at(1) + 1 }], 'q'),
      `ao = ao + row * m${at(0) + 1 + B};`,
      `bo = bo + col * m${at(1) + 2 + B};`,
      // Blocked summation: 16-term partials added to the total (a plain float32 running sum over
      // k = 300 drifts past the spec's rtol; Kahan's compensation is folded away by the GLSL compiler).
      'let acc = 0.0;',
      'for (let i0 = 0; i0 < m1; i0 = i0 + 16) {',
      '  let part = 0.0;',
      '  for (let i = 0; i < 16; i++) {',
      '    if (i0 + i < m1) {',
      `      part = part + b0[ao + (i0 + i) * m${at(0) + 2 + B}] * b1[bo + (i0 + i) * m${at(1) + 1 + B}];`,
      '    }',
      '  }',
      '  acc = acc + part;',
      '}',
      'const value = acc;',
    ].filter(Boolean);
    const words = [m, k, n, ...batch, dataOffset(a), ...a.strides, dataOffset(b), ...b.strides];
    perElement('matmul', `matmul|${B}`, out, numel(out.shape), body, [buf(a), buf(b)], words, epilogue);
  }

  /** A row-statistics launch (one value per row of x along dim): `body` sees the row's base `xo`, stride `m${sAt}`, length `m${nAt}`. */
  function rowStat(op: string, key: string, x: View, dim: number, body: (sAt: number, nAt: number) => string, extra: readonly (GBuffer | number)[] = []) {
    const { outer, words } = rowWords(x, dim);
    const R1 = outer.length;
    const src = kernelFunction(1 + extra.filter((e) => typeof e !== 'number').length, words.length + extra.filter((e) => typeof e === 'number').length, [
      `let xo = m${R1};`,
      unravel('this.thread.x', R1, 0, [{ v: 'xo', strideAt: R1 + 1 }], 'q'),
      body(2 * R1 + 1, 2 * R1 + 2),
    ].filter(Boolean).join('\n  '));
    const bufs = extra.filter((e): e is GBuffer => typeof e !== 'number');
    const nums = extra.filter((e): e is number => typeof e === 'number');
    return { stat: { data: rt.launch(op, `${key}|${R1}`, () => src, numel(outer), [buf(x), ...bufs, ...words, ...nums]), length: numel(outer) } as GBuffer, outer };
  }

  function softmax(out: View, x: View, dim: number, log: boolean): void {
    floatOnly('softmax', x, out);
    if (x.shape.length === 0) { x = reshaped(x, [1], [1]); out = reshaped(out, [1], [1]); dim = 0; }
    // Per row: the max (NaN wins; all -inf counts as 0), then sum(exp(x - max)). The element kernel
    // subtracts the max first: subtracting max + log(sum) in one rounding loses log-probabilities' digits.
    const { stat: top } = rowStat('softmax', 'softmax-max', x, dim, (s, n) => `let mx = -infv;
  for (let j1 = 0; j1 < m${n}; j1++) { const v = b0[xo + j1 * m${s}]; if (v != v || v > mx) { mx = v; } }
  if (mx == -infv) { mx = 0.0; }
  return mx;`);
    const { stat: total } = rowStat('softmax', 'softmax-sum', x, dim, (s, n) => `let sum = 0.0;
  for (let j2 = 0; j2 < m${n}; j2++) { sum = sum + Math.exp(b0[xo + j2 * m${s}] - b1[this.thread.x]); }
  return sum;`, [top]);
    const R = x.shape.length;
    // Per element: x - lse (or its exp); the row's statistic sits at the element's index with dim dropped.
    const rowStrides = statStrides(x.shape, dim);
    const body = [
      `let xo = m${R};`, 'let so = 0.0;',
      unravel('this.thread.x', R, 0, [{ v: 'xo', strideAt: R + 1 }, { v: 'so', strideAt: 2 * R + 1 }], 'q'),
      `const v = b0[xo] - b1[so];`,
      log ? 'return v - Math.log(b2[so]);' : 'return Math.exp(v) / b2[so];',
    ].join('\n  ');
    const src = kernelFunction(3, 3 * R + 1, body);
    const result = rt.launch('softmax', `softmax|${R}|${log}`, () => src, numel(x.shape), [buf(x), top, total, ...x.shape, dataOffset(x), ...x.strides, ...rowStrides]);
    rt.commit(log ? 'logSoftmax' : 'softmax', out, result);
    rt.free(top); rt.free(total);
  }

  /**
   * softmax's (logSoftmax's) gradient from the forward's output y (PyTorch's softmax_backward_data):
   * a thread per row sums grad * y (grad), then a thread per element writes y (grad - sum), or
   * grad - exp(y) sum.
   */
  function softmaxBackward(gx: View, grad: View, y: View, dim: number, log: boolean, ep?: Epilogue): void {
    floatOnly('softmaxBackward', gx, grad, y);
    if (y.shape.length === 0) { [gx, grad, y] = [gx, grad, y].map((v) => reshaped(v, [1], [1])) as [View, View, View]; dim = 0; }
    const R = y.shape.length;
    const outer = y.shape.filter((_, i) => i !== dim);
    const R1 = outer.length;
    // Words: outer shape[R1], then grad and y: offset, outer strides[R1], stride along dim; the row length.
    const gAt = R1, yAt = 2 * R1 + 2, nAt = 3 * R1 + 4;
    const statSrc = kernelFunction(2, nAt + 1, [
      `let go = m${gAt};`, `let yo = m${yAt};`,
      unravel('this.thread.x', R1, 0, [{ v: 'go', strideAt: gAt + 1 }, { v: 'yo', strideAt: yAt + 1 }], 'q'),
      'let acc = 0.0;',
      `for (let j = 0; j < m${nAt}; j++) { acc = acc + b0[go + j * m${gAt + 1 + R1}]${log ? '' : ` * b1[yo + j * m${yAt + 1 + R1}]`}; }`,
      'return acc;',
    ].filter(Boolean).join('\n  '));
    const sum: GBuffer = {
      data: rt.launch('softmaxBackward', `softmaxBackward-sum|${R1}|${log}`, () => statSrc, numel(outer), [buf(grad), buf(y), ...outer, ...lineWords(grad, dim), ...lineWords(y, dim), y.shape[dim]!]),
      length: numel(outer),
    };
    // Per element, row-major over y's shape: the row's sum sits at the element's index with dim dropped.
    const rowStrides = statStrides(y.shape, dim);
    const lines = [
      `let go = m${R};`, `let yo = m${2 * R + 1};`, 'let so = 0.0;',
      unravel('this.thread.x', R, 0, [{ v: 'go', strideAt: R + 1 }, { v: 'yo', strideAt: 2 * R + 2 }, { v: 'so', strideAt: 3 * R + 2 }], 'q'),
      'const gv = b0[go];', 'const yv = b1[yo];', 'const s = b2[so];',
      log ? 'const value = gv - Math.exp(yv) * s;' : 'const value = yv * (gv - s);',
    ].filter(Boolean);
    const words = [...y.shape, dataOffset(grad), ...grad.strides, dataOffset(y), ...y.strides, ...rowStrides];
    perElement('softmaxBackward', `softmaxBackward|${R}|${log}`, reshaped(gx, y.shape, gx.strides), numel(y.shape), lines, [buf(grad), buf(y), sum], words, ep);
    rt.free(sum);
  }

  /**
   * layerNorm's gradients (PyTorch's layer_norm_backward), all operands contiguous: a thread per
   * (row, statistic) computes the row's mean, 1/std, mean(gy) and mean(gy xhat) with gy = grad *
   * weight; then a thread per element writes gx = rstd (gy - mean(gy) - xhat mean(gy xhat)), and a
   * thread per column sums grad * xhat (gw) and grad (gb) over the rows.
   */
  function layerNormBackward(gx: View | undefined, gw: View | undefined, gb: View | undefined, grad: View, x: View, weight: View | undefined, inner: number, eps: number, ep?: Epilogue): void {
    floatOnly('layerNormBackward', gx, gw, gb, grad, x, weight);
    const rows = inner === 0 ? 0 : numel(x.shape) / inner;
    if (rows === 0) return;
    const W = (j: string) => (weight ? ` * b2[m4 + ${j}]` : '');
    // Words: x offset, grad offset, inner, eps, weight offset. Four statistics per row, in one launch.
    const statSrc = kernelFunction(weight ? 3 : 2, 5, [
      'const r = Math.floor(this.thread.x / 4.0);', 'const which = this.thread.x - r * 4.0;',
      'const xo = m0 + r * m2;', 'const go = m1 + r * m2;',
      // Each loop its own variable: gpu.js declares them all in one GLSL scope.
      'let sx = 0.0;', 'for (let j1 = 0; j1 < m2; j1++) { sx = sx + b0[xo + j1]; }',
      'const mean = sx / m2;',
      'let sd = 0.0;', 'for (let j2 = 0; j2 < m2; j2++) { const d = b0[xo + j2] - mean; sd = sd + d * d; }',
      'const rstd = 1.0 / Math.sqrt(sd / m2 + m3);',
      'if (which == 0.0) { return mean; }',
      'if (which == 1.0) { return rstd; }',
      'let acc = 0.0;',
      `for (let j3 = 0; j3 < m2; j3++) { const gy = b1[go + j3]${W('j3')}; if (which == 2.0) { acc = acc + gy; } else { acc = acc + gy * (b0[xo + j3] - mean) * rstd; } }`,
      'return acc / m2;',
    ].join('\n  '));
    const wb = weight ? [buf(weight)] : [];
    const stats: GBuffer = {
      data: rt.launch('layerNormBackward', `layerNormBackward-stats|${!!weight}`, () => statSrc, 4 * rows, [buf(x), buf(grad), ...wb, dataOffset(x), dataOffset(grad), inner, Math.fround(eps), (weight ? dataOffset(weight) : 0)]),
      length: 4 * rows,
    };
    if (gx) {
      const st = `b${weight ? 3 : 2}`;
      const lines = [
        'const r = Math.floor(this.thread.x / m2);',
        `const gy = b1[m1 + this.thread.x]${W('(this.thread.x - r * m2)')};`,
        `const mean = ${st}[4.0 * r];`, `const rstd = ${st}[4.0 * r + 1.0];`,
        `const value = rstd * (gy - ${st}[4.0 * r + 2.0] - (b0[m0 + this.thread.x] - mean) * rstd * ${st}[4.0 * r + 3.0]);`,
      ];
      perElement('layerNormBackward', `layerNormBackward-gx|${!!weight}`, reshaped(gx, [rows * inner], [1]), rows * inner, lines, [buf(x), buf(grad), ...wb, stats], [dataOffset(x), dataOffset(grad), inner, 0, (weight ? dataOffset(weight) : 0)], ep);
    }
    // Column sums in row order (the same every run). Words: x offset, grad offset, inner, rows.
    for (const [g, withX] of [[gw, true], [gb, false]] as const) {
      if (!g) continue;
      const src = kernelFunction(3, 4, [
        'let acc = 0.0;',
        `for (let r = 0; r < m3; r++) { const gv = b1[m1 + r * m2 + this.thread.x]; acc = acc + ${withX ? 'gv * (b0[m0 + r * m2 + this.thread.x] - b2[4.0 * r]) * b2[4.0 * r + 1.0]' : 'gv'}; }`,
        'return acc;',
      ].join('\n  '));
      const result = rt.launch('layerNormBackward', `layerNormBackward-${withX ? 'gw' : 'gb'}`, () => src, inner, [buf(x), buf(grad), stats, dataOffset(x), dataOffset(grad), inner, rows]);
      rt.commit('layerNormBackward', reshaped(g, [inner], [1]), result);
    }
    rt.free(stats);
  }

  function layerNorm(out: View, x: View, weight: View | undefined, bias: View | undefined, inner: number, eps: number): void {
    floatOnly('layerNorm', x, out, weight, bias);
    const rows = inner === 0 ? 0 : numel(x.shape) / inner;
    if (rows === 0) return;
    const flat = reshaped(x, [rows, inner], [inner, 1]);
    const stat = (what: 'mean' | 'rstd', extra: (GBuffer | number)[]) => rowStat('layerNorm', `layerNorm-${what}`, flat, 1, (s, n) => `let acc = 0.0;
  for (let j = 0; j < m${n}; j++) { ${what === 'mean' ? `acc = acc + b0[xo + j * m${s}];` : `const d = b0[xo + j * m${s}] - b1[this.thread.x]; acc = acc + d * d;`} }
  ${what === 'mean' ? `return acc / m${n};` : `return 1.0 / Math.sqrt(acc / m${n} + m${n + 1});`}`, extra).stat;
    const mean = stat('mean', []);
    const rstd = stat('rstd', [mean, Math.fround(eps)]);
    const body = [
      'const r = Math.floor(this.thread.x / m1);', 'const i = this.thread.x - r * m1;',
      'let y = (b0[m0 + this.thread.x] - b1[r]) * b2[r];',
      weight ? 'y = y * b3[m2 + i];' : '',
      bias ? `y = y + b${weight ? 4 : 3}[m3 + i];` : '',
      'return y;',
    ].filter(Boolean).join('\n  ');
    const bufs = [buf(x), mean, rstd, ...(weight ? [buf(weight)] : []), ...(bias ? [buf(bias)] : [])];
    const src = kernelFunction(bufs.length, 4, body);
    const result = rt.launch('layerNorm', `layerNorm|${!!weight}|${!!bias}`, () => src, rows * inner, [...bufs, dataOffset(x), inner, (weight ? dataOffset(weight) : 0), (bias ? dataOffset(bias) : 0)]);
    rt.commit('layerNorm', out, result);
    rt.free(mean); rt.free(rstd);
  }

  /**
   * out[...] = x[... j ...] for j = the index at each position (negative ones wrap). Indices are
   * checked on the host before the launch (gpu.js kernels cannot report errors): an out-of-range one
   * raises IndexError at the call, or at the next read where readback is asynchronous (webgpu).
   */
  function indexed(op: string, out: View, x: View, index: View, dim: number, walk: readonly number[], words: readonly number[]): void {
    const R = walk.length;
    const size = x.shape[dim] ?? 1;
    const body = [
      `let xo = m${R};`, `let io = m${2 * R + 1};`,
      unravel('this.thread.x', R, 0, [{ v: 'xo', strideAt: R + 1 }, { v: 'io', strideAt: 2 * R + 2 }], 'q'),
      'let j = b1[io];',
      `return b0[xo + j * m${3 * R + 3}];`,
    ].filter(Boolean).join('\n  ');
    const src = kernelFunction(2, 3 * R + 4, body);
    // The operands as they are now: where the launch waits for the index check (webgpu), later ops
    // may already have replaced or freed the buffers' contents.
    const operands = [{ ...buf(x) }, { ...buf(index) }];
    const launch = () => rt.launch(op, `${op}|${R}`, () => src, numel(walk), [...operands, ...walk, ...words, size, x.strides[dim] ?? 0]);
    const check = (vals: Float32Array) => { forEachIndexed(index, (p) => checkIndex(op, vals[p]!, size, dim)); };
    const vals = rt.peek(buf(index));
    if (vals instanceof Promise) rt.commit(op, out, rt.pending(vals.then((v) => { check(v); return launch(); })));
    else { check(vals); rt.commit(op, out, launch()); }
  }

  function gather(out: View, x: View, index: View, dim: number): void {
    const xs = x.strides.map((s, i) => (i === dim ? 0 : s));
    indexed('gather', out, x, index, dim, index.shape, [dataOffset(x), ...xs, dataOffset(index), ...index.strides]);
  }

  function indexSelect(out: View, x: View, index: View, dim: number): void {
    // The index position walks out's coordinate along dim (index is 1-D).
    const xs = x.strides.map((s, i) => (i === dim ? 0 : s));
    const is = out.shape.map((_, i) => (i === dim ? index.strides[0] ?? 0 : 0));
    indexed('indexSelect', out, x, index, dim, out.shape, [dataOffset(x), ...xs, dataOffset(index), ...is]);
  }

  /**
   * out[... index[p] ...] += src[p] along dim, as a thread per element of out (gpu.js kernels write
   * only their own output): each sums, in index order, the src values whose index along dim names
   * its coordinate, among the positions that share its other coordinates. Indices are checked on the
   * host first, as gather's are.
   */
  function scatterAdd(out: View, index: View, src: View, dim: number): void {
    floatOnly('scatterAdd', out, src);
    const R = out.shape.length;
    const size = out.shape[dim] ?? 1;
    const along = (v: View) => v.strides.map((s, i) => (i === dim ? 0 : s));
    // Words: out shape[R], out offset + strides[R], index offset + strides[R] (0 along dim), src
    // likewise, index shape[R] (bounds of the other coordinates), index and src strides along dim.
    const [oAt, iAt, sAt, limAt] = [R, 2 * R + 1, 3 * R + 2, 4 * R + 3];
    const body = [
      `let oo = m${oAt};`, `let io = m${iAt};`, `let so = m${sAt};`,
      unravel('this.thread.x', R, 0, [{ v: 'oo', strideAt: oAt + 1 }, { v: 'io', strideAt: iAt + 1 }, { v: 'so', strideAt: sAt + 1 }], 'q'),
      'let acc = b0[oo];',
      'let inside = 1.0;',
      ...out.shape.map((_, e) => (e === dim ? '' : `if (qc${e} >= m${limAt + e}) { inside = 0.0; }`)),
      'if (inside > 0.5) {',
      `  for (let j = 0; j < m${limAt + dim}; j++) {`,
      `    if (b1[io + j * m${limAt + R}] == qc${dim}) { acc = acc + b2[so + j * m${limAt + R + 1}]; }`,
      '  }',
      '}',
      'return acc;',
    ].filter(Boolean).join('\n  ');
    const src0 = kernelFunction(3, limAt + R + 2, body);
    const operands = [{ ...buf(out) }, { ...buf(index) }, { ...buf(src) }];
    const words = [...out.shape, dataOffset(out), ...out.strides, dataOffset(index), ...along(index), dataOffset(src), ...along(src), ...index.shape, index.strides[dim] ?? 0, src.strides[dim] ?? 0];
    const launch = () => rt.launch('scatterAdd', `scatterAdd|${R}|${dim}`, () => src0, numel(out.shape), [...operands, ...words]);
    const check = (vals: Float32Array) => { forEachIndexed(index, (p) => checkIndex('scatterAdd', vals[p]!, size, dim)); };
    const vals = rt.peek(buf(index));
    if (vals instanceof Promise) rt.commit('scatterAdd', out, rt.pending(vals.then((v) => { check(v); return launch(); })));
    else { check(vals); rt.commit('scatterAdd', out, launch()); }
  }

  /**
   * Stable sort along dim (NaN largest) in three launches, each a thread per element (gpu.js
   * kernels write only their own output): every element's rank in its line (the elements that order
   * before it, ties by position), then each output position finds the element of that rank (its
   * index), then the values are read at those indices. O(n) work per thread, n^2 per line.
   */
  function sort(values: View, indices: View, x: View, dim: number, descending: boolean): void {
    const R = x.shape.length, n = x.shape[dim]!;
    const rowMajor = (() => { let acc = 1; const r: number[] = Array(R).fill(0); for (let d = R - 1; d >= 0; d--) { r[d] = acc; acc *= x.shape[d]!; } return r; })();
    const zeroDim = (strides: readonly number[]) => strides.map((st, i) => (i === dim ? 0 : st));
    // Words: shape[R]; x offset, x strides (0 along dim)[R], x stride along dim, n; row-major strides (0 along dim)[R], row-major stride along dim.
    const [xAt, xsAt, nAt, rmAt, rmsAt] = [R, 2 * R + 1, 2 * R + 2, 2 * R + 3, 3 * R + 3];
    const words = [...x.shape, dataOffset(x), ...zeroDim(x.strides), x.strides[dim]!, n, ...zeroDim(rowMajor), rowMajor[dim]!];
    const nanOf = (v: string) => `(${v} != ${v})`;
    const before = descending
      ? `(${nanOf('a')} && !${nanOf('b')}) || (!${nanOf('a')} && !${nanOf('b')} && a > b)`
      : `!${nanOf('a')} && (${nanOf('b')} || a < b)`;
    const tie = `(${nanOf('a')} && ${nanOf('b')}) || a == b`;
    const walk = (v: string, strideAt: number) => [`let ${v} = ${v === 'xl' ? `m${xAt}` : '0'};`, unravel('this.thread.x', R, 0, [{ v, strideAt }], 'q')].join('\n  ');
    const ranks = kernelFunction(1, words.length, [
      walk('xl', xAt + 1),
      `const b = b0[xl + qc${dim} * m${xsAt}];`,
      'let rank = 0;',
      `for (let j = 0; j < m${nAt}; j++) {`,
      `  const a = b0[xl + j * m${xsAt}];`,
      `  if ((${before}) || (j < qc${dim} && (${tie}))) { rank = rank + 1; }`,
      '}',
      'return rank;',
    ].join('\n  '));
    const positions = kernelFunction(1, words.length, [
      walk('lo', rmAt),
      'let found = 0;',
      `for (let j = 0; j < m${nAt}; j++) { if (b0[lo + j * m${rmsAt}] == qc${dim}) { found = j; } }`,
      'return found;',
    ].join('\n  '));
    const picked = kernelFunction(2, words.length, [walk('xl', xAt + 1), `return b0[xl + b1[this.thread.x] * m${xsAt}];`].join('\n  '));
    const size = numel(x.shape);
    const key = `${R}|${dim}|${descending}`;
    const rank: GBuffer = { data: rt.launch('sort', `sort-rank|${key}`, () => ranks, size, [buf(x), ...words]), length: size };
    const order: GBuffer = { data: rt.launch('sort', `sort-index|${key}`, () => positions, size, [rank, ...words]), length: size };
    rt.commit('sort', values, rt.launch('sort', `sort-values|${key}`, () => picked, size, [buf(x), order, ...words]));
    rt.commit('sort', indices, order.data);
    rt.free(rank);
  }

  /** The convolution plan's sizes as kernel locals (words m0..m15), and the thread's output element `t`. */
  const PLAN = ['const C = m1;', 'const H = m2;', 'const W = m3;', 'const OC = m4;', 'const KH = m5;', 'const KW = m6;', 'const SH = m7;', 'const SW = m8;',
    'const PH = m9;', 'const PW = m10;', 'const DH = m11;', 'const DW = m12;', 'const G = m13;', 'const OH = m14;', 'const OW = m15;', 'const t = this.thread.x;'].join('\n  ');
  const planWords = (p: Conv2dPlan) => [p.n, p.c, p.h, p.w, p.o, p.kh, p.kw, p.stride[0], p.stride[1], p.padding[0], p.padding[1], p.dilation[0], p.dilation[1], p.groups, p.oh, p.ow];

  /** Direct convolution, a thread per output element (operands contiguous, as the tensor layer passes them). */
  function conv2d(out: View, x: View, weight: View, bias: View | undefined, p: Conv2dPlan): void {
    floatOnly('conv2d', x, weight, out, bias);
    const body = [
      PLAN,
      'const ow = t % OW;', 'const oh = Math.floor(t / OW) % OH;', 'const oc = Math.floor(t / (OW * OH)) % OC;', 'const b = Math.floor(t / (OW * OH * OC));',
      'const cg = Math.floor(C / G);', 'const g = Math.floor(oc / Math.floor(OC / G));',
      `let acc = ${bias ? 'b2[m18 + oc]' : '0.0'};`,
      'for (let ci = 0; ci < cg; ci++) {',
      '  const xc = m16 + ((b * C + g * cg + ci) * H) * W;',
      '  const wc = m17 + ((oc * cg + ci) * KH) * KW;',
      '  for (let u = 0; u < KH; u++) {',
      '    const y = oh * SH - PH + u * DH;',
      '    if (y >= 0 && y < H) {',
      '      for (let v = 0; v < KW; v++) { const z = ow * SW - PW + v * DW; if (z >= 0 && z < W) { acc = acc + b0[xc + y * W + z] * b1[wc + u * KW + v]; } }',
      '    }',
      '  }',
      '}',
      'return acc;',
    ].join('\n  ');
    const bufs = [buf(x), buf(weight), ...(bias ? [buf(bias)] : [])];
    const src = kernelFunction(bufs.length, 19, body);
    rt.commit('conv2d', out, rt.launch('conv2d', `conv2d|${!!bias}`, () => src, numel(out.shape), [...bufs, ...planWords(p), dataOffset(x), dataOffset(weight), (bias ? dataOffset(bias) : 0)]));
  }

  /** im2col: [N, C * KH * KW, L] patches of x (zeros outside it), a thread per entry. */
  function unfold(out: View, x: View, p: Conv2dPlan): void {
    floatOnly('unfold', x, out);
    const body = [
      PLAN,
      'const L = OH * OW;',
      'const l = t % L;', 'const r = Math.floor(t / L) % (C * KH * KW);', 'const b = Math.floor(t / (L * C * KH * KW));',
      'const v = r % KW;', 'const u = Math.floor(r / KW) % KH;', 'const c = Math.floor(r / (KW * KH));',
      'const y = Math.floor(l / OW) * SH - PH + u * DH;', 'const z = (l % OW) * SW - PW + v * DW;',
      'let val = 0.0;',
      'if (y >= 0 && y < H && z >= 0 && z < W) { val = b0[m16 + ((b * C + c) * H + y) * W + z]; }',
      'return val;',
    ].join('\n  ');
    const src = kernelFunction(1, 17, body);
    rt.commit('unfold', out, rt.launch('unfold', 'unfold', () => src, numel(out.shape), [buf(x), ...planWords(p), dataOffset(x)]));
  }

  /** col2im: each output pixel sums the patch entries that cover it (no scattered writes). */
  function fold(out: View, cols: View, p: Conv2dPlan): void {
    floatOnly('fold', cols, out);
    const body = [
      PLAN,
      'const z = t % W;', 'const y = Math.floor(t / W) % H;', 'const c = Math.floor(t / (W * H)) % C;', 'const b = Math.floor(t / (W * H * C));',
      'const L = OH * OW;',
      'let acc = 0.0;',
      'for (let u = 0; u < KH; u++) {',
      '  const yy = y + PH - u * DH;',
      '  if (yy >= 0 && yy % SH == 0 && Math.floor(yy / SH) < OH) {',
      '    for (let v = 0; v < KW; v++) {',
      '      const zz = z + PW - v * DW;',
      '      if (zz >= 0 && zz % SW == 0 && Math.floor(zz / SW) < OW) {',
      '        acc = acc + b0[m16 + (b * C * KH * KW + (c * KH + u) * KW + v) * L + Math.floor(yy / SH) * OW + Math.floor(zz / SW)];',
      '      }',
      '    }',
      '  }',
      '}',
      'return acc;',
    ].join('\n  ');
    const src = kernelFunction(1, 17, body);
    rt.commit('fold', out, rt.launch('fold', 'fold', () => src, numel(out.shape), [buf(cols), ...planWords(p), dataOffset(cols)]));
  }

  /**
   * Max or average pooling, a thread per output element; max pooling's positions (within the plane,
   * the first maximum, NaN winning) come from a second launch of the same window walk.
   */
  function pool2d(out: View, x: View, p: Pool2dPlan, mode: 'max' | 'avg', countIncludePad: boolean, indices?: View): void {
    floatOnly(`${mode}Pool2d`, x, out);
    const walk = (result: 'value' | 'index') => [
      'const H = m0;', 'const W = m1;', 'const KH = m2;', 'const KW = m3;', 'const SH = m4;', 'const SW = m5;',
      'const PH = m6;', 'const PW = m7;', 'const DH = m8;', 'const DW = m9;', 'const OH = m10;', 'const OW = m11;',
      'const t = this.thread.x;',
      'const j = t % OW;', 'const i = Math.floor(t / OW) % OH;', 'const plane = Math.floor(t / (OW * OH));',
      'const base = m12 + plane * H * W;',
      'const y0 = i * SH - PH;', 'const z0 = j * SW - PW;',
      `let acc = ${mode === 'max' ? '-infv' : '0.0'};`, 'let cnt = 0.0;', 'let at = -1.0;',
      'for (let u = 0; u < KH; u++) {',
      '  const y = y0 + u * DH;',
      '  if (y >= 0 && y < H) {',
      '    for (let v = 0; v < KW; v++) {',
      '      const z = z0 + v * DW;',
      '      if (z >= 0 && z < W) {',
      '        const val = b0[base + y * W + z];',
      mode === 'avg' ? '        acc = acc + val;' : '        if (at < 0.0 || val > acc || (val != val && acc == acc)) { acc = val; at = y * W + z; }',
      '        cnt = cnt + 1.0;',
      '      }',
      '    }',
      '  }',
      '}',
      mode === 'avg' ? `const yEnd = Math.min(y0 + KH, H + PH);
  const zEnd = Math.min(z0 + KW, W + PW);
  acc = acc / ${countIncludePad ? '((yEnd - y0) * (zEnd - z0))' : 'cnt'};` : '',
      result === 'value' ? 'return acc;' : 'return at;',
    ].filter(Boolean).join('\n  ');
    const words = [p.h, p.w, p.k[0], p.k[1], p.stride[0], p.stride[1], p.padding[0], p.padding[1], p.dilation[0], p.dilation[1], p.oh, p.ow, dataOffset(x)];
    const n = numel(out.shape), key = `pool2d|${mode}|${countIncludePad}`;
    const values = kernelFunction(1, words.length, walk('value'));
    rt.commit(`${mode}Pool2d`, out, rt.launch(`${mode}Pool2d`, key, () => values, n, [buf(x), ...words]));
    if (indices) {
      const positions = kernelFunction(1, words.length, walk('index'));
      rt.commit(`${mode}Pool2d`, indices, rt.launch(`${mode}Pool2d`, `${key}|indices`, () => positions, n, [buf(x), ...words]));
    }
  }

  return {
    matmul, softmax, softmaxBackward, layerNorm, layerNormBackward,
    gather, indexSelect, scatterAdd, sort,
    conv2d, unfold, fold, pool2d,
  };
}
