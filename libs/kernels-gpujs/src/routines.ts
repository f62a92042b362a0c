/**
 * Routine kernels as gpu.js functions: matmul (a thread per output, batched and strided), and
 * softmax/logSoftmax and layerNorm (a thread per row for the row statistics, then a thread per
 * element), and the indexing routines. Routines not written for gpujs raise NotImplementedError
 * (reported "unsupported").
 */
import { DTypeError, NotImplementedError, checkIndex } from '@tessera/ops';
import type { MatmulLaunch, RoutineKernels, View } from '@tessera/tensor';
import { kernelFunction, reshaped, unravel } from './kernels.js';
import type { GBuffer, Runtime } from './runtime.js';

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

/** Words for a row-wise routine: outer shape[R1], x offset and outer strides[R1], x stride along dim, row length. */
function rowWords(x: View, dim: number): { outer: number[]; words: number[] } {
  const outer = x.shape.filter((_, i) => i !== dim);
  const strides = x.strides.filter((_, i) => i !== dim);
  return { outer, words: [...outer, x.offset, ...strides, x.strides[dim] ?? 0, x.shape[dim] ?? 1] };
}

export function createRoutines(rt: Runtime): Partial<RoutineKernels> {
  function matmul({ out, a, b, m, k, n }: MatmulLaunch): void {
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
      'return acc;',
    ].filter(Boolean).join('\n  ');
    const src = kernelFunction(2, 3 + B + 2 * (B + 3), body);
    const words = [m, k, n, ...batch, a.offset, ...a.strides, b.offset, ...b.strides];
    rt.commit('matmul', out, rt.launch('matmul', `matmul|${B}`, () => src, numel(out.shape), [buf(a), buf(b), ...words]));
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
    const rowStrides = (() => { let acc = 1; const r: number[] = Array(R).fill(0); for (let d = R - 1; d >= 0; d--) if (d !== dim) { r[d] = acc; acc *= x.shape[d]!; } return r; })();
    const body = [
      `let xo = m${R};`, 'let so = 0.0;',
      unravel('this.thread.x', R, 0, [{ v: 'xo', strideAt: R + 1 }, { v: 'so', strideAt: 2 * R + 1 }], 'q'),
      `const v = b0[xo] - b1[so];`,
      log ? 'return v - Math.log(b2[so]);' : 'return Math.exp(v) / b2[so];',
    ].join('\n  ');
    const src = kernelFunction(3, 3 * R + 1, body);
    const result = rt.launch('softmax', `softmax|${R}|${log}`, () => src, numel(x.shape), [buf(x), top, total, ...x.shape, x.offset, ...x.strides, ...rowStrides]);
    rt.commit(log ? 'logSoftmax' : 'softmax', out, result);
    rt.free(top); rt.free(total);
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
    const result = rt.launch('layerNorm', `layerNorm|${!!weight}|${!!bias}`, () => src, rows * inner, [...bufs, x.offset, inner, weight?.offset ?? 0, bias?.offset ?? 0]);
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
    indexed('gather', out, x, index, dim, index.shape, [x.offset, ...xs, index.offset, ...index.strides]);
  }

  function indexSelect(out: View, x: View, index: View, dim: number): void {
    // The index position walks out's coordinate along dim (index is 1-D).
    const xs = x.strides.map((s, i) => (i === dim ? 0 : s));
    const is = out.shape.map((_, i) => (i === dim ? index.strides[0] ?? 0 : 0));
    indexed('indexSelect', out, x, index, dim, out.shape, [x.offset, ...xs, index.offset, ...is]);
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
    const words = [...out.shape, out.offset, ...out.strides, index.offset, ...along(index), src.offset, ...along(src), ...index.shape, index.strides[dim] ?? 0, src.strides[dim] ?? 0];
    const launch = () => rt.launch('scatterAdd', `scatterAdd|${R}|${dim}`, () => src0, numel(out.shape), [...operands, ...words]);
    const check = (vals: Float32Array) => { forEachIndexed(index, (p) => checkIndex('scatterAdd', vals[p]!, size, dim)); };
    const vals = rt.peek(buf(index));
    if (vals instanceof Promise) rt.commit('scatterAdd', out, rt.pending(vals.then((v) => { check(v); return launch(); })));
    else { check(vals); rt.commit('scatterAdd', out, launch()); }
  }

  /** Routines gpujs has no kernel for yet: refused with the reason, so the matrix says "unsupported". */
  const missing = (name: string) => (): never => {
    throw new NotImplementedError(name, `gpujs has no ${name} kernel yet (the convolution family is not written for gpu.js yet)`);
  };
  return {
    matmul, softmax, layerNorm,
    gather, indexSelect, scatterAdd,
    conv2d: missing('conv2d'), unfold: missing('unfold'), fold: missing('fold'), pool2d: missing('pool2d'),
  };
}
