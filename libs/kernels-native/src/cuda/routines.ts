/**
 * Routine kernels on 'cuda': matmul and conv2d through cuBLAS (conv2d as im2col + batched GEMM) with
 * a generated fallback for other dtypes and layouts; row-wise softmax and layerNorm (a block per
 * row, trees in shared memory); indexing (gather, indexSelect, scatterAdd with one thread owning
 * each output column, so results are deterministic); sort by rank (a thread per element); unfold, fold and pooling, a thread per output.
 */
import { type DType, DTypeError, type Conv2dPlan, type Pool2dPlan, isFloating } from '@tessera/ops';
import { type MatmulLaunch, type RoutineKernels, type View, forEachOffset } from '@tessera/tensor';
import { CUDA_OPS, VALUE, castCode, load, storeValue } from './emit.js';
import { BLOCK, type CudaRuntime, type GemmOperand } from './runtime.js';
import { type Binding, gridLoop, kernelSource, unravel } from './kernels.js';
import { type CBuffer, idOf } from './buffer.js';

const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const dropDim = (strides: readonly number[], dim: number) => strides.map((s, i) => (i === dim ? 0 : s));
const unitAt = (rank: number, dim: number) => Array.from({ length: rank }, (_, i) => (i === dim ? 1 : 0));
const BYTES: Readonly<Record<DType, number>> = { float32: 4, float64: 8, float16: 2, int32: 4, int64: 8, uint8: 1, bool: 1 };
/** Float routines compute in float (float16 included) or double. */
function floatOnly(op: string, ...views: (View | undefined)[]): void {
  for (const v of views) if (v && !isFloating(v.dtype)) throw new DTypeError(op, `cuda ${op} takes floating tensors, got ${v.dtype}`);
}
const accOf = (d: DType) => (d === 'float64' ? 'double' : 'float');
const NEG_INF = '__int_as_float(0xff800000)';
const GEMM_DTYPES: ReadonlySet<DType> = new Set(['float32', 'float16', 'float64']);
const STATUS: Binding = { name: 'ST', type: 'unsigned', write: true };
const flagBadIndex = 'atomicOr((unsigned*)ST, 1u);';

/** Reduction tree over SV[0..BLOCK) with `op` (a C expression of a, b); leaves the result in SV[0]. */
const tree = (op: string) => `
    for (unsigned s = ${BLOCK / 2}; s > 0; s >>= 1) {
      __syncthreads();
      if (threadIdx.x < s) { const ACC a = SV[threadIdx.x]; const ACC b = SV[threadIdx.x + s]; SV[threadIdx.x] = ${op}; }
    }
    __syncthreads();`;

/**
 * How cuBLAS (column-major) sees a row-major rows x cols matrix with strides (rs, cs): untransposed
 * with leading dimension rs when its rows are contiguous, transposed with cs when its columns are,
 * or undefined when neither (the caller then uses the generated kernel).
 */
function asColumnMajor(rows: number, cols: number, rs: number, cs: number): { ld: number; trans: boolean } | undefined {
  if ((cs === 1 || cols === 1) && (rows === 1 || rs >= cols)) return { ld: rows === 1 ? Math.max(cols, 1) : rs, trans: false };
  if ((rs === 1 || rows === 1) && (cols === 1 || cs >= rows)) return { ld: cols === 1 ? Math.max(rows, 1) : cs, trans: true };
  return undefined;
}

/** One stride that walks every batch of `shape` with these strides (0 for broadcast), if there is one. */
function batchStride(shape: readonly number[], strides: readonly number[]): number | undefined {
  let stride: number | undefined, inner = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] !== 1) {
      const s = strides[d]! / inner;
      if (!Number.isInteger(s) || (stride !== undefined && s !== stride)) return undefined;
      stride = s;
    }
    inner *= shape[d]!;
  }
  return stride ?? 0;
}

export function createRoutines(rt: CudaRuntime, temp: (bytes: number) => CBuffer, done: (b: CBuffer) => void): RoutineKernels {
  const operand = (v: View, offset: number, layout: { ld: number; trans: boolean }, stride: number): GemmOperand =>
    ({ buffer: idOf(v), offset: offset * BYTES[v.dtype], ld: layout.ld, stride, trans: layout.trans });

  /** cuBLAS for float32/float16/float64 operands it can address; false when the kernel must run instead. */
  function gemmMatmul(l: MatmulLaunch): boolean {
    const { a, b, out, m, k, n } = l;
    if (!GEMM_DTYPES.has(out.dtype) || a.dtype !== out.dtype || b.dtype !== out.dtype) return false;
    const r = out.shape.length;
    // Row-major C = A B is column-major C^T = B^T A^T: cuBLAS's "A" is our b, its "B" our a.
    const la = asColumnMajor(k, n, b.strides[r - 2]!, b.strides[r - 1]!);
    const lb = asColumnMajor(m, k, a.strides[r - 2]!, a.strides[r - 1]!);
    if (!la || !lb) return false;
    const batch = out.shape.slice(0, -2);
    const sa = batchStride(batch, a.strides.slice(0, -2)), sb = batchStride(batch, b.strides.slice(0, -2));
    const lc = { ld: n, trans: false };
    if (sa !== undefined && sb !== undefined) {
      rt.gemm('matmul', out.dtype, n, m, k, numel(batch), operand(b, b.offset, la, sb), operand(a, a.offset, lb, sa), operand(out, out.offset, lc, m * n));
      return true;
    }
    // Batch dims that no single stride walks (a partly broadcast batch): one GEMM per matrix.
    forEachOffset(batch, [a.strides.slice(0, -2), b.strides.slice(0, -2), out.strides.slice(0, -2)], [a.offset, b.offset, out.offset], ([ao, bo, oo]) => {
      rt.gemm('matmul', out.dtype, n, m, k, 1, operand(b, bo!, la, 0), operand(a, ao!, lb, 0), operand(out, oo!, lc, 0));
    });
    return true;
  }

  /** Any dtype and layout: a thread per output element. Words: m, k, n, batches, batch shape[B], then a, b, out offset and strides[B + 2]. */
  function kernelMatmul(l: MatmulLaunch): void {
    const { a, b, out, m, k, n } = l;
    const B = out.shape.length - 2;
    const acc: DType = isFloating(out.dtype) ? (out.dtype === 'float64' ? 'float64' : 'float32') : out.dtype === 'bool' ? 'int32' : out.dtype;
    const at = (j: number) => 4 + B + j * (B + 3);
    const la = castCode(load(a.dtype, 'A[ao + i * ars + q * acs]'), a.dtype, acc), lb = castCode(load(b.dtype, 'Bm[bo + q * brs + j * bcs]'), b.dtype, acc);
    const I = 'unsigned long long';
    const body = `
  ${gridLoop('t', I, '(unsigned long long)(p.m[0] * p.m[2] * p.m[3])')} {
    const long long j = t % p.m[2]; const long long i = (t / p.m[2]) % p.m[0]; const ${I} batch = t / (p.m[2] * p.m[0]);
    long long ao = p.m[${at(0)}], bo = p.m[${at(1)}], oo = p.m[${at(2)}];
    ${unravel('batch', I, B, 4, [{ v: 'ao', strideAt: at(0) + 1 }, { v: 'bo', strideAt: at(1) + 1 }, { v: 'oo', strideAt: at(2) + 1 }])}
    const long long ars = p.m[${at(0) + 1 + B}], acs = p.m[${at(0) + 2 + B}], brs = p.m[${at(1) + 1 + B}], bcs = p.m[${at(1) + 2 + B}];
    ${VALUE[acc]} c = ${castCode('0', 'int32', acc)};
    for (long long q = 0; q < p.m[1]; q++) { const ${VALUE[acc]} x = ${la}; const ${VALUE[acc]} y = ${lb}; c = ${CUDA_OPS.add(['c', CUDA_OPS.mul(['x', 'y'], acc, acc)], acc, acc)}; }
    O[oo + i * p.m[${at(2) + 1 + B}] + j * p.m[${at(2) + 2 + B}]] = ${storeValue(out.dtype, castCode('c', acc, out.dtype))};
  }`;
    const bufs: Binding[] = [{ name: 'O', dtype: out.dtype, write: true }, { name: 'A', dtype: a.dtype, write: false }, { name: 'Bm', dtype: b.dtype, write: false }];
    const batch = out.shape.slice(0, B);
    const ints = [m, k, n, numel(batch), ...batch];
    for (const v of [a, b, out]) ints.push(v.offset, ...v.strides);
    rt.launch(`matmul|${a.dtype}|${b.dtype}|${out.dtype}|${B}`, () => kernelSource(bufs, ints.length, 0, body), m * n * numel(batch), [idOf(out), idOf(a), idOf(b)], ints, [], 'matmul');
  }

  function matmul(l: MatmulLaunch): void {
    if (l.m === 0 || l.n === 0 || numel(l.out.shape) === 0) return;
    if (!gemmMatmul(l)) kernelMatmul(l);
  }

  function softmax(out: View, x: View, dim: number, log: boolean): void {
    floatOnly('softmax', x, out);
    const R = x.shape.length;
    const outer = x.shape.filter((_, i) => i !== dim);
    const R1 = outer.length;
    const xAt = 2 + R1, oAt = xAt + R1 + 2;
    const I = 'unsigned long long';
    const body = `
  typedef ${accOf(x.dtype)} ACC;
  ${gridLoop('row', I, '(unsigned long long)p.m[0]', true)} {
    long long xo = p.m[${xAt}], oo = p.m[${oAt}];
    ${unravel('row', I, R1, 2, [{ v: 'xo', strideAt: xAt + 1 }, { v: 'oo', strideAt: oAt + 1 }])}
    const long long xs = p.m[${xAt + 1 + R1}], os = p.m[${oAt + 1 + R1}], n = p.m[1];
    ACC mx = ${NEG_INF};
    for (long long j = threadIdx.x; j < n; j += ${BLOCK}) mx = t_max(mx, (ACC)${load(x.dtype, 'X[xo + j * xs]')});
    SV[threadIdx.x] = mx;
    ${tree('t_max(a, b)')}
    ACC top = SV[0];
    __syncthreads();
    if (top == (ACC)${NEG_INF}) top = 0;
    ACC s = 0;
    for (long long j = threadIdx.x; j < n; j += ${BLOCK}) s += ${x.dtype === 'float64' ? 'exp' : 'expf'}((ACC)${load(x.dtype, 'X[xo + j * xs]')} - top);
    SV[threadIdx.x] = s;
    ${tree('a + b')}
    const ACC total = SV[0];
    const ACC lsum = ${x.dtype === 'float64' ? 'log' : 'logf'}(total);
    for (long long j = threadIdx.x; j < n; j += ${BLOCK}) {
      // (x - max) first: subtracting max + log(sum) in one rounding loses the digits log-probabilities near 0 need.
      const ACC v = (ACC)${load(x.dtype, 'X[xo + j * xs]')} - top;
      O[oo + j * os] = ${storeValue(out.dtype, `(${VALUE[out.dtype]})(${log ? 'v - lsum' : `${x.dtype === 'float64' ? 'exp' : 'expf'}(v) / total`})`)};
    }
    __syncthreads();
  }`;
    const bufs: Binding[] = [{ name: 'O', dtype: out.dtype, write: true }, { name: 'X', dtype: x.dtype, write: false }];
    const rows = numel(outer);
    const ints = [rows, R ? x.shape[dim]! : 1, ...outer,
      x.offset, ...x.strides.filter((_, i) => i !== dim), R ? x.strides[dim]! : 0,
      out.offset, ...out.strides.filter((_, i) => i !== dim), R ? out.strides[dim]! : 0];
    rt.launch(`softmax|${x.dtype}|${out.dtype}|${R1}|${log}`, () => kernelSource(bufs, ints.length, 0, body, `__shared__ ${accOf(x.dtype)} SV[${BLOCK}];`),
      { blocks: rows }, [idOf(out), idOf(x)], ints, [], log ? 'logSoftmax' : 'softmax');
  }

  function layerNorm(out: View, x: View, weight: View | undefined, bias: View | undefined, inner: number, eps: number): void {
    floatOnly('layerNorm', x, out, weight, bias);
    const rows = inner === 0 ? 0 : numel(x.shape) / inner;
    if (rows === 0) return;
    const bufs: Binding[] = [{ name: 'O', dtype: out.dtype, write: true }, { name: 'X', dtype: x.dtype, write: false }];
    if (weight) bufs.push({ name: 'W', dtype: weight.dtype, write: false });
    if (bias) bufs.push({ name: 'Bi', dtype: bias.dtype, write: false });
    // Words: rows, inner, x offset, out offset, weight offset, bias offset; float: eps.
    const sqrt = x.dtype === 'float64' ? 'sqrt' : 'sqrtf';
    const body = `
  typedef ${accOf(x.dtype)} ACC;
  ${gridLoop('row', 'unsigned long long', '(unsigned long long)p.m[0]', true)} {
    const long long n = p.m[1];
    const long long xo = p.m[2] + row * n, oo = p.m[3] + row * n;
    ACC s = 0;
    for (long long j = threadIdx.x; j < n; j += ${BLOCK}) s += (ACC)${load(x.dtype, 'X[xo + j]')};
    SV[threadIdx.x] = s;
    ${tree('a + b')}
    const ACC mean = SV[0] / (ACC)n;
    __syncthreads();
    ACC v = 0;
    for (long long j = threadIdx.x; j < n; j += ${BLOCK}) { const ACC d = (ACC)${load(x.dtype, 'X[xo + j]')} - mean; v += d * d; }
    SV[threadIdx.x] = v;
    ${tree('a + b')}
    const ACC rstd = (ACC)1 / ${sqrt}(SV[0] / (ACC)n + (ACC)p.f[0]);
    for (long long j = threadIdx.x; j < n; j += ${BLOCK}) {
      ACC y = ((ACC)${load(x.dtype, 'X[xo + j]')} - mean) * rstd;
      ${weight ? `y = y * (ACC)${load(weight.dtype, 'W[p.m[4] + j]')};` : ''}
      ${bias ? `y = y + (ACC)${load(bias.dtype, 'Bi[p.m[5] + j]')};` : ''}
      O[oo + j] = ${storeValue(out.dtype, `(${VALUE[out.dtype]})y`)};
    }
    __syncthreads();
  }`;
    const ids = [idOf(out), idOf(x), ...(weight ? [idOf(weight)] : []), ...(bias ? [idOf(bias)] : [])];
    rt.launch(`layerNorm|${bufs.map((b) => b.dtype).join(',')}|${bufs.map((b) => b.name).join('')}`, () => kernelSource(bufs, 6, 1, body, `__shared__ ${accOf(x.dtype)} SV[${BLOCK}];`),
      { blocks: rows }, ids, [rows, inner, x.offset, out.offset, weight?.offset ?? 0, bias?.offset ?? 0], [eps], 'layerNorm');
  }

  /**
   * An elementwise-like indexing launch over `shape`: words n, shape[R], then each operand's offset
   * and strides[R], then `extra` words (E[i] in `code`); the status word is the last binding.
   */
  /** `variant` names what else the code depends on (sort's direction): the compiled kernel is cached by op, rank, dtypes and variant. */
  function indexing(op: string, shape: readonly number[], ops: readonly { v: string; view: View; strides: readonly number[] }[], bufs: Binding[], ids: readonly number[], code: string, extra: readonly number[], variant = ''): void {
    const R = shape.length;
    const at = (j: number) => 1 + R + j * (R + 1);
    const eAt = at(ops.length);
    const I = 'unsigned long long';
    const body = [
      `${gridLoop('tid', I, '(unsigned long long)p.m[0]')} {`,
      `  ${ops.map((o, j) => `long long ${o.v} = p.m[${at(j)}];`).join(' ')}`,
      `  ${unravel('tid', I, R, 1, ops.map((o, j) => ({ v: o.v, strideAt: at(j) + 1 })))}`,
      code.replace(/E\[(\d+)\]/g, (_, i: string) => `p.m[${eAt + Number(i)}]`),
      '}',
    ].join('\n  ');
    const ints = [numel(shape), ...shape];
    for (const o of ops) ints.push(o.view.offset, ...o.strides);
    ints.push(...extra);
    rt.launch(`${op}|${R}|${bufs.map((b) => b.dtype).join(',')}${variant}`, () => kernelSource([...bufs, STATUS], ints.length, 0, body), numel(shape), [...ids, rt.status], ints, [], op);
  }

  const idx = (index: View, access: string) => `(long long)${load(index.dtype, access)}`;

  /**
   * out[...] = x[... j ...] for the index j read at `access` (one outside [0, E[0]), negative ones
   * included, sets the status flag): the body of gather and indexSelect, which differ in where j is.
   */
  function copyIndexed(op: string, shape: readonly number[], out: View, x: View, index: View, ops: Parameters<typeof indexing>[2], access: string, xStride: string, extra: readonly number[]): void {
    const code = `
    const long long j = ${idx(index, access)};
    if (j < 0 || j >= E[0]) { ${flagBadIndex} continue; }
    O[oo] = ${storeValue(out.dtype, castCode(load(x.dtype, `X[xo + j * ${xStride}]`), x.dtype, out.dtype))};`;
    const bufs: Binding[] = [{ name: 'O', dtype: out.dtype, write: true }, { name: 'X', dtype: x.dtype, write: false }, { name: 'I', dtype: index.dtype, write: false }];
    indexing(op, shape, ops, bufs, [idOf(out), idOf(x), idOf(index)], code, extra);
  }

  function gather(out: View, x: View, index: View, dim: number): void {
    copyIndexed('gather', index.shape, out, x, index, [
      { v: 'io', view: index, strides: index.strides }, { v: 'xo', view: x, strides: dropDim(x.strides, dim) }, { v: 'oo', view: out, strides: out.strides },
    ], 'I[io]', 'E[1]', [x.shape[dim]!, x.strides[dim]!]);
  }

  function indexSelect(out: View, x: View, index: View, dim: number): void {
    // `ci` walks out's coordinate along dim (stride 1 there, 0 elsewhere): the position in index.
    copyIndexed('indexSelect', out.shape, out, x, index, [
      { v: 'oo', view: out, strides: out.strides }, { v: 'xo', view: x, strides: dropDim(x.strides, dim) },
      { v: 'ci', view: { ...index, offset: 0 }, strides: unitAt(out.shape.length, dim) },
    ], 'I[E[3] + ci * E[1]]', 'E[2]', [x.shape[dim] ?? 1, index.strides[0] ?? 0, x.strides[dim] ?? 0, index.offset]);
  }

  /**
   * Stable sort of each line along `dim` (NaN largest) by rank: a thread per element counts the
   * elements ordering before it (ties by position) and writes itself and its position at that rank.
   * n^2 work per line, deterministic; a segmented radix sort would be the step for long lines.
   */
  function sort(values: View, indices: View, x: View, dim: number, descending: boolean): void {
    const R = x.shape.length;
    const nan = (v: string) => (isFloating(x.dtype) ? `(${v} != ${v})` : 'false');
    const before = descending
      ? `(${nan('a')} && !${nan('b')}) || (!${nan('a')} && !${nan('b')} && a > b)`
      : `!${nan('a')} && (${nan('b')} || a < b)`;
    const tie = isFloating(x.dtype) ? `(${nan('a')} && ${nan('b')}) || a == b` : 'a == b';
    const V = VALUE[x.dtype];
    const code = `
    const ${V} b = ${load(x.dtype, 'X[xl + ci * E[1]]')};
    long long rank = 0;
    for (long long j = 0; j < E[0]; j++) {
      const ${V} a = ${load(x.dtype, 'X[xl + j * E[1]]')};
      if ((${before}) || (j < ci && (${tie}))) rank++;
    }
    Vs[vo + rank * E[2]] = X[xl + ci * E[1]];
    Ix[io + rank * E[3]] = ${storeValue(indices.dtype, 'ci')};`;
    indexing('sort', x.shape, [
      { v: 'xl', view: x, strides: dropDim(x.strides, dim) }, { v: 'vo', view: values, strides: dropDim(values.strides, dim) },
      { v: 'io', view: indices, strides: dropDim(indices.strides, dim) }, { v: 'ci', view: { ...x, offset: 0 }, strides: unitAt(R, dim) },
    ], [{ name: 'Vs', dtype: values.dtype, write: true }, { name: 'Ix', dtype: indices.dtype, write: true }, { name: 'X', dtype: x.dtype, write: false }],
    [idOf(values), idOf(indices), idOf(x)], code, [x.shape[dim]!, x.strides[dim]!, values.strides[dim]!, indices.strides[dim]!], descending ? '|descending' : '');
  }

  function scatterAdd(out: View, index: View, src: View, dim: number): void {
    // One thread per output column (every coordinate but `dim`): it applies that column's updates in order.
    const cols = index.shape.map((d, i) => (i === dim ? 1 : d));
    const d = out.dtype, V = VALUE[d];
    const code = `
    for (long long q = 0; q < E[0]; q++) {
      const long long j = ${idx(index, 'I[io + q * E[1]]')};
      if (j < 0 || j >= E[3]) { ${flagBadIndex} continue; }
      const long long t = oo + j * E[4];
      const ${V} cur = ${load(d, 'O[t]')};
      const ${V} add = ${castCode(load(src.dtype, 'S[so + q * E[2]]'), src.dtype, d)};
      O[t] = ${storeValue(d, CUDA_OPS.add(['cur', 'add'], d, d))};
    }`;
    indexing('scatterAdd', cols, [
      { v: 'io', view: index, strides: index.strides }, { v: 'so', view: src, strides: src.strides }, { v: 'oo', view: out, strides: dropDim(out.strides, dim) },
    ], [{ name: 'O', dtype: d, write: true }, { name: 'I', dtype: index.dtype, write: false }, { name: 'S', dtype: src.dtype, write: false }],
    [idOf(out), idOf(index), idOf(src)], code, [index.shape[dim]!, index.strides[dim]!, src.strides[dim]!, out.shape[dim]!, out.strides[dim]!]);
  }

  /** Plan words shared by the convolution family (words 1..16; word 0 is the thread count). */
  const planWords = (p: Conv2dPlan) => [p.n, p.c, p.h, p.w, p.o, p.kh, p.kw, p.stride[0], p.stride[1], p.padding[0], p.padding[1], p.dilation[0], p.dilation[1], p.groups, p.oh, p.ow];
  const PLAN = `const long long N = p.m[1], C = p.m[2], H = p.m[3], W = p.m[4], OC = p.m[5], KH = p.m[6], KW = p.m[7];
    const long long SH = p.m[8], SW = p.m[9], PH = p.m[10], PW = p.m[11], DH = p.m[12], DW = p.m[13], G = p.m[14], OH = p.m[15], OW = p.m[16];`;

  /** A convolution-family kernel: one thread per output element `t`, with the plan's sizes in scope. */
  const onePerOutput = (body: string) => `
  ${gridLoop('tid', 'unsigned long long', '(unsigned long long)p.m[0]')} {
    ${PLAN}
    (void)N; (void)OC; (void)G;
    const long long t = (long long)tid;${body}
  }`;

  function unfold(out: View, x: View, p: Conv2dPlan): void {
    const n = p.n * p.c * p.kh * p.kw * p.oh * p.ow;
    const body = onePerOutput(`
    const long long L = OH * OW;
    const long long l = t % L, r = (t / L) % (C * KH * KW), b = t / (L * C * KH * KW);
    const long long v = r % KW, u = (r / KW) % KH, c = r / (KW * KH);
    const long long y = (l / OW) * SH - PH + u * DH, z = (l % OW) * SW - PW + v * DW;
    ${VALUE[x.dtype]} val = ${castCode('0', 'int32', x.dtype)};
    if (y >= 0 && y < H && z >= 0 && z < W) val = ${load(x.dtype, 'X[p.m[17] + ((b * C + c) * H + y) * W + z]')};
    O[p.m[18] + t] = ${storeValue(out.dtype, castCode('val', x.dtype, out.dtype))};`);
    const bufs: Binding[] = [{ name: 'O', dtype: out.dtype, write: true }, { name: 'X', dtype: x.dtype, write: false }];
    rt.launch(`unfold|${x.dtype}|${out.dtype}`, () => kernelSource(bufs, 19, 0, body), n, [idOf(out), idOf(x)], [n, ...planWords(p), x.offset, out.offset], [], 'unfold');
  }

  function fold(out: View, cols: View, p: Conv2dPlan): void {
    floatOnly('fold', cols, out);
    const n = p.n * p.c * p.h * p.w;
    // Each output pixel gathers the patch entries that cover it (no atomics, deterministic).
    const body = onePerOutput(`
    const long long z = t % W, y = (t / W) % H, c = (t / (W * H)) % C, b = t / (W * H * C);
    const long long L = OH * OW;
    ${accOf(out.dtype)} acc = 0;
    for (long long u = 0; u < KH; u++) {
      const long long yy = y + PH - u * DH;
      if (yy < 0 || yy % SH != 0 || yy / SH >= OH) continue;
      for (long long v = 0; v < KW; v++) {
        const long long zz = z + PW - v * DW;
        if (zz < 0 || zz % SW != 0 || zz / SW >= OW) continue;
        acc += ${load(cols.dtype, 'X[p.m[17] + (b * C * KH * KW + (c * KH + u) * KW + v) * L + (yy / SH) * OW + zz / SW]')};
      }
    }
    O[p.m[18] + t] = ${storeValue(out.dtype, `(${VALUE[out.dtype]})acc`)};`);
    const bufs: Binding[] = [{ name: 'O', dtype: out.dtype, write: true }, { name: 'X', dtype: cols.dtype, write: false }];
    rt.launch(`fold|${cols.dtype}|${out.dtype}`, () => kernelSource(bufs, 19, 0, body), n, [idOf(out), idOf(cols)], [n, ...planWords(p), cols.offset, out.offset], [], 'fold');
  }

  /** Direct convolution, a thread per output: for dtypes cuBLAS does not take. */
  function directConv2d(out: View, x: View, weight: View, bias: View | undefined, p: Conv2dPlan): void {
    const n = p.n * p.o * p.oh * p.ow;
    const body = onePerOutput(`
    const long long ow = t % OW, oh = (t / OW) % OH, oc = (t / (OW * OH)) % OC, b = t / (OW * OH * OC);
    const long long cg = C / G, g = oc / (OC / G);
    ${accOf(out.dtype)} acc = ${bias ? load(bias.dtype, 'Bi[p.m[20] + oc]') : '0'};
    for (long long ci = 0; ci < cg; ci++) {
      const long long xc = p.m[17] + ((b * C + g * cg + ci) * H) * W;
      const long long wc = p.m[18] + ((oc * cg + ci) * KH) * KW;
      for (long long u = 0; u < KH; u++) {
        const long long y = oh * SH - PH + u * DH;
        if (y < 0 || y >= H) continue;
        for (long long v = 0; v < KW; v++) {
          const long long z = ow * SW - PW + v * DW;
          if (z < 0 || z >= W) continue;
          acc += ${load(x.dtype, 'X[xc + y * W + z]')} * ${load(weight.dtype, 'Wt[wc + u * KW + v]')};
        }
      }
    }
    O[p.m[19] + t] = ${storeValue(out.dtype, `(${VALUE[out.dtype]})acc`)};`);
    const bufs: Binding[] = [{ name: 'O', dtype: out.dtype, write: true }, { name: 'X', dtype: x.dtype, write: false }, { name: 'Wt', dtype: weight.dtype, write: false }];
    if (bias) bufs.push({ name: 'Bi', dtype: bias.dtype, write: false });
    const ids = [idOf(out), idOf(x), idOf(weight), ...(bias ? [idOf(bias)] : [])];
    rt.launch(`conv2d|${bufs.map((b) => b.dtype).join(',')}`, () => kernelSource(bufs, 21, 0, body), n, ids,
      [n, ...planWords(p), x.offset, weight.offset, out.offset, bias?.offset ?? 0], [], 'conv2d');
  }

  /**
   * conv2d as im2col (unfold into a temporary [N, C*kh*kw, L]) then, per group, one batched GEMM over
   * the images: out[n, g] (og x L) = W[g] (og x C/G*kh*kw) cols[n, g]; bias added after.
   */
  function conv2d(out: View, x: View, weight: View, bias: View | undefined, p: Conv2dPlan): void {
    floatOnly('conv2d', x, weight, out, bias);
    const same = [x, weight, ...(bias ? [bias] : [])].every((v) => v.dtype === out.dtype);
    if (!GEMM_DTYPES.has(out.dtype) || !same) return directConv2d(out, x, weight, bias, p);
    const L = p.oh * p.ow, ckk = p.c * p.kh * p.kw, ckkG = ckk / p.groups, og = p.o / p.groups;
    if (p.n * p.o * L === 0) return;
    const e = BYTES[out.dtype];
    const cols = temp(p.n * ckk * L * e);
    const colsView: View = { buffer: cols, dtype: out.dtype, shape: [p.n, ckk, L], strides: [ckk * L, L, 1], offset: 0 };
    unfold(colsView, x, p);
    for (let g = 0; g < p.groups; g++) {
      rt.gemm('conv2d', out.dtype, L, og, ckkG, p.n,
        { buffer: cols.id, offset: g * ckkG * L * e, ld: L, stride: ckk * L, trans: false },
        { buffer: idOf(weight), offset: (weight.offset + g * og * ckkG) * e, ld: ckkG, stride: 0, trans: false },
        { buffer: idOf(out), offset: (out.offset + g * og * L) * e, ld: L, stride: p.o * L, trans: false });
    }
    done(cols);
    if (bias) {
      const n = p.n * p.o * L;
      const body = `
  ${gridLoop('t', 'unsigned long long', '(unsigned long long)p.m[0]')} {
    const long long oc = (long long)((t / p.m[1]) % p.m[2]);
    const long long at = p.m[3] + (long long)t;
    O[at] = ${storeValue(out.dtype, `(${VALUE[out.dtype]})(${load(out.dtype, 'O[at]')} + ${load(bias.dtype, 'Bi[p.m[4] + oc]')})`)};
  }`;
      const bufs: Binding[] = [{ name: 'O', dtype: out.dtype, write: true }, { name: 'Bi', dtype: bias.dtype, write: false }];
      rt.launch(`conv2d.bias|${out.dtype}`, () => kernelSource(bufs, 5, 0, body), n, [idOf(out), idOf(bias)], [n, L, p.o, out.offset, bias.offset], [], 'conv2d');
    }
  }

  function pool2d(out: View, x: View, p: Pool2dPlan, mode: 'max' | 'avg', countIncludePad: boolean, indices?: View): void {
    floatOnly(`${mode}Pool2d`, x, out);
    const n = p.planes * p.oh * p.ow;
    const A = accOf(x.dtype);
    const body = `
  ${gridLoop('tid', 'unsigned long long', '(unsigned long long)p.m[0]')} {
    const long long H = p.m[1], W = p.m[2], KH = p.m[3], KW = p.m[4], SH = p.m[5], SW = p.m[6];
    const long long PH = p.m[7], PW = p.m[8], DH = p.m[9], DW = p.m[10], OH = p.m[11], OW = p.m[12];
    const long long t = (long long)tid;
    const long long j = t % OW, i = (t / OW) % OH, plane = t / (OW * OH);
    const long long base = p.m[13] + plane * H * W;
    const long long y0 = i * SH - PH, z0 = j * SW - PW;
    ${A} acc = ${mode === 'max' ? NEG_INF : '0'}; long long cnt = 0, at = -1;
    for (long long u = 0; u < KH; u++) {
      const long long y = y0 + u * DH;
      if (y < 0 || y >= H) continue;
      for (long long v = 0; v < KW; v++) {
        const long long z = z0 + v * DW;
        if (z < 0 || z >= W) continue;
        const ${A} val = ${load(x.dtype, 'X[base + y * W + z]')};
        ${mode === 'avg' ? 'acc += val;' : 'if (at < 0 || val > acc || (val != val && acc == acc)) { acc = val; at = y * W + z; }'}
        cnt++;
      }
    }
    ${mode === 'avg' ? `const long long yEnd = y0 + KH < H + PH ? y0 + KH : H + PH, zEnd = z0 + KW < W + PW ? z0 + KW : W + PW;
    acc = acc / (${A})(${countIncludePad ? '(yEnd - y0) * (zEnd - z0)' : 'cnt'});` : ''}
    ${indices ? 'IX[p.m[15] + t] = at;' : ''}
    O[p.m[14] + t] = ${storeValue(out.dtype, `(${VALUE[out.dtype]})acc`)};
  }`;
    const bufs: Binding[] = [{ name: 'O', dtype: out.dtype, write: true }, { name: 'X', dtype: x.dtype, write: false }];
    if (indices) bufs.push({ name: 'IX', dtype: indices.dtype, write: true });
    const ids = [idOf(out), idOf(x), ...(indices ? [idOf(indices)] : [])];
    rt.launch(`pool2d|${mode}|${countIncludePad}|${bufs.map((b) => b.dtype).join(',')}`, () => kernelSource(bufs, 16, 0, body), n, ids,
      [n, p.h, p.w, p.k[0], p.k[1], p.stride[0], p.stride[1], p.padding[0], p.padding[1], p.dilation[0], p.dilation[1], p.oh, p.ow, x.offset, out.offset, indices?.offset ?? 0], [], `${mode}Pool2d`);
  }

  return { matmul, softmax, layerNorm, gather, scatterAdd, indexSelect, sort, conv2d, unfold, fold, pool2d };
}
