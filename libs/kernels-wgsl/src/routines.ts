/**
 * Routine kernels in WGSL: tiled matmul, row-wise softmax and layerNorm and their one-pass gradients
 * (a workgroup per long row with trees in workgroup memory, a thread per short row: rowWalk), indexing (gather, scatterAdd without atomics: one thread owns each output column),
 * sort (by rank: one thread per element),
 * and the convolution family (direct conv2d, unfold, fold, pooling), one thread per output element.
 *
 * Indexing kernels cannot throw: an out-of-range index sets a flag in the runtime's status buffer,
 * and the next read raises IndexError (as CUDA reports device-side asserts at the next sync).
 */
import { type DType, DTypeError, type Conv2dPlan, type Pool2dPlan, isFloating } from '@tessera/ops';
import type { Epilogue, MatmulLaunch, RoutineKernels, View } from '@tessera/tensor';
import { WGSL_OPS, castCode, load, storeValue, valueType } from './emit.js';
import type { Runtime } from './runtime.js';
import { type Buf, MetaWriter, WG, mi, shader, unravel } from './shader.js';
import { gpuOf } from './buffer.js';
import { elementwiseBody, elementwiseMetaWords, writeParams } from './kernels.js';

const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const dropDim = (strides: readonly number[], dim: number) => strides.map((s, i) => (i === dim ? 0 : s));
const unitAt = (rank: number, dim: number) => Array.from({ length: rank }, (_, i) => (i === dim ? 1 : 0));
/** Float routines compute in f32 (float16 included). */
function floatOnly(op: string, ...views: (View | undefined)[]): void {
  for (const v of views) if (v && !isFloating(v.dtype)) throw new DTypeError(op, `webgpu ${op} takes floating tensors, got ${v.dtype}`);
}
const STATUS: Buf = { name: 'ST', type: 'atomic<u32>', write: true };
const flagBadIndex = 'atomicOr(&ST[0], 1u);';

/** Reduction tree over SV[0..WG) with `op` (WGSL expression of a, b); leaves the result in SV[0]. */
const tree = (op: string) => `
  for (var s = ${WG / 2}u; s > 0u; s = s >> 1u) {
    workgroupBarrier();
    if (lid.x < s) { let a = SV[lid.x]; let b = SV[lid.x + s]; SV[lid.x] = ${op}; }
  }
  workgroupBarrier();`;
const SHARED = `var<workgroup> SV: array<f32, ${WG}>;`;

/** Rows at most this long get a thread each (rowWalk). */
const SHORT_ROW = 128;
/** Threads per workgroup when each thread owns a row. */
const ROW_WG = 64;

/**
 * How a row routine spreads each row over invocations. A long row gets a workgroup, whose partial
 * results a tree in workgroup memory combines. A short one (at most SHORT_ROW elements) gets one
 * invocation, which walks it with no workgroup memory and no barriers: a 64-wide row left 3/4 of a
 * 256-thread workgroup idle and paid 8 barriers per reduction, and on lavapipe, where a barrier is
 * a pass over the whole workgroup, softmax over [4096, 64] took 88 ms.
 */
interface RowWalk {
  /** The row this invocation works on. */
  readonly row: string;
  /** A `for` header walking j over the elements of a row of `n` this invocation owns. */
  loop(n: string): string;
  /** Code that combines every invocation's `partial` with `op` (an expression of a and b) into `name`, seen by all. */
  reduce(name: string, partial: string, op: string): string;
  /** shader() options: workgroup size and memory. */
  readonly options: { wg: number; shared?: string };
  /** Workgroups for `rows` rows. */
  groups(rows: number): number;
}

function rowWalk(n: number): RowWalk {
  if (n <= SHORT_ROW) {
    return {
      row: 'tid',
      loop: (len) => `for (var j = 0u; j < ${len}; j++)`,
      reduce: (name, partial) => `let ${name} = ${partial};`,
      options: { wg: ROW_WG },
      groups: (rows) => Math.ceil(rows / ROW_WG),
    };
  }
  return {
    row: 'group',
    loop: (len) => `for (var j = lid.x; j < ${len}; j += ${WG}u)`,
    reduce: (name, partial, op) => `SV[lid.x] = ${partial};
  ${tree(op)}
  let ${name} = SV[0];
  workgroupBarrier();`,
    options: { wg: WG, shared: SHARED },
    groups: (rows) => rows,
  };
}

/** An epilogue's code for one stored element (at storage offset `e`), and its meta words and their count. */
interface EpilogueCode {
  code(e: string): string;
  words(m: MetaWriter): void;
  readonly size: number;
  /** What the code depends on: with the routine's own, names its pipeline without building the source. */
  readonly key: string;
}
/** A buffer a routine binds, under the name its shader uses. */
interface Binding { readonly gpu: GPUBuffer; readonly buf: Buf }
const binding = (v: View, name: string, write: boolean): Binding => ({ gpu: gpuOf(v), buf: { name, dtype: v.dtype, write } });
/** The signature (access per binding, then the meta buffer's) of a routine's bindings. */
const signatureOf = (bindings: readonly Binding[]): string => `${bindings.map((x) => (x.buf.write ? 'w' : 'r')).join('')}r`;
/** What a routine's buffers contribute to its source: names, dtypes, access. */
const bufsKey = (bufs: readonly Buf[]): string => bufs.map((b) => `${b.name}:${b.dtype ?? b.type}:${b.write ? 'w' : 'r'}`).join(',');
const bindingKey = (bindings: readonly Binding[]): string => bufsKey(bindings.map((x) => x.buf));

export function createRoutines(rt: Runtime): RoutineKernels {
  /** Launches a routine: `key` names everything its source depends on, so the source is built once. */
  const run = (key: string, source: () => string, sig: string, bindings: GPUBuffer[], words: (m: MetaWriter) => void, size: number, groups: number, op: string) => {
    const meta = rt.metaSlot(size);
    words(new MetaWriter(meta.words));
    rt.dispatch(rt.pipeline(key, source, sig, op), bindings, meta, groups, op);
  };

  /**
   * A routine's epilogue (compile's epilogue.ts), run by the thread that computes each element of the
   * routine's result right after storing it: the epilogue reads the result block by block (possibly with heads
   * transposed), so element e of the result is the epilogue's element i whose coordinates are
   * (e / stride_d) % size_d over its view of the result. Returns the code for one stored element at
   * storage offset `e`, and adds the epilogue's buffers (one binding each, shared where a buffer is
   * already bound) and its meta words after the matmul's.
   */
  function epilogueCode(result: View, ep: Epilogue | undefined, bindings: Binding[], metaBase: number): EpilogueCode | undefined {
    if (!ep) return undefined;
    const { kernel: k, launch } = ep;
    const views = [launch.out, ...(launch.outs ?? []), ...launch.inputs];
    const nOut = 1 + (launch.outs?.length ?? 0);
    const dtypes = [k.out, ...(k.outputs ?? []).map((o) => o.dtype), ...k.inputs];
    const outGpu = gpuOf(result);
    const arr = views.map((v, j) => {
      const g = gpuOf(v);
      let at = bindings.findIndex((b) => b.gpu === g);
      if (at < 0) {
        at = bindings.length;
        bindings.push({ gpu: g, buf: { name: `E${at}`, dtype: dtypes[j]!, write: j < nOut } });
      } else if (j < nOut && !bindings[at]!.buf.write) {
        bindings[at] = { gpu: g, buf: { ...bindings[at]!.buf, write: true } };
      }
      return bindings[at]!.buf.name;
    });
    const rank = launch.shape.length;
    // The view through which the epilogue reads the result gives the element order (epilogue.ts: blockwise).
    const onResult = views.findIndex((v, j) => j >= nOut && gpuOf(v) === outGpu);
    const strideAt = metaBase + 1 + rank + onResult * (rank + 1) + 1;
    const dense = launch.shape.map((_, d) => numel(launch.shape.slice(d + 1)));
    // Read in the result's own order (the usual case), the element is the offset itself: no divisions,
    // which cost (scalarised) on every element where GPUs and lavapipe run them.
    const inOrder = views[onResult]!.strides.every((st, d) => launch.shape[d] === 1 || st === dense[d]);
    const index = (e: string): string => (inOrder ? e : launch.shape
      .map((size, d) => (size > 1 ? `((${e} / u32(${mi(strideAt + d)})) % ${size}u) * ${dense[d]}u` : ''))
      .filter(Boolean).join(' + ') || '0u');
    const code = (e: string) => `{ let t: u32 = ${index(e)};\n      ${elementwiseBody(k, rank, arr, metaBase, 't')} }`;
    const words = (m: MetaWriter) => {
      m.u(numel(launch.shape)).all(launch.shape, false);
      for (const v of views) m.i(v.offset).all(v.strides);
      writeParams(m, k, launch.params);
    };
    const key = `${k.id}|${rank}|${metaBase}|${arr.join(',')}|${bindings.map((b) => b.buf.dtype).join(',')}|${onResult}|${inOrder ? '' : launch.shape.join(',')}`;
    return { code, words, size: elementwiseMetaWords(k, rank), key };
  }

  function matmul(l: MatmulLaunch): void {
    const { a, b, out, m, k, n } = l;
    const B = out.shape.length - 2;
    const acc: DType = isFloating(out.dtype) ? 'float32' : out.dtype === 'bool' ? 'int32' : out.dtype;
    const A = valueType(acc);
    const la = (v: string) => castCode(load(a.dtype, v), a.dtype, acc), lb = (v: string) => castCode(load(b.dtype, v), b.dtype, acc);
    const zero = A === 'f32' ? '0.0' : A === 'u32' ? '0u' : '0i';
    // Meta: m, k, n, batches, batch shape[B], then a, b, out: offset and strides[B + 2].
    const at = (j: number) => 4 + B + j * (B + 3);
    const cells = [0, 1, 2, 3].flatMap((i) => [0, 1, 2, 3].map((j) => `c${i}${j}`));
    const batch = out.shape.slice(0, B);
    const batches = numel(batch);
    const matmulWords = 4 + B + 3 * (B + 3);
    const bindings: Binding[] = [binding(out, 'O', true), binding(a, 'A', false), binding(b, 'Bm', false)];
    const epilogue = epilogueCode(out, l.epilogue, bindings, matmulWords);
    // The source is built only when its pipeline is new (a GELU epilogue makes it long): the key names what it depends on.
    const key = `matmul|${B}|${a.dtype}|${b.dtype}|${out.dtype}|${bindingKey(bindings)}|${epilogue?.key ?? ''}`;
    const source = (): string => {
      const mac = (c: string, x: string, y: string) => (A === 'f32' ? `fma(${x}, ${y}, ${c})` : acc === 'uint8' ? `(${c} + ${x} * ${y}) & 255u` : `${c} + ${x} * ${y}`);
      const body = `
  let tilesN = (M[2] + 63u) / 64u; let tiles = tilesN * ((M[0] + 63u) / 64u);
  let batch = group / tiles; let tile = group % tiles;
  if (batch >= M[3]) { return; }
  let r0 = (tile / tilesN) * 64u; let c0 = (tile % tilesN) * 64u;
  var ao: i32 = ${mi(at(0))}; var bo: i32 = ${mi(at(1))}; var oo: i32 = ${mi(at(2))};
  ${unravel('batch', B, 4, [{ v: 'ao', strideAt: at(0) + 1 }, { v: 'bo', strideAt: at(1) + 1 }, { v: 'oo', strideAt: at(2) + 1 }])}
  let ars = ${mi(at(0) + 1 + B)}; let acs = ${mi(at(0) + 2 + B)};
  let brs = ${mi(at(1) + 1 + B)}; let bcs = ${mi(at(1) + 2 + B)};
  let ors = ${mi(at(2) + 1 + B)}; let ocs = ${mi(at(2) + 2 + B)};
  let tx = lid.x % 16u; let ty = lid.x / 16u;
  ${cells.map((c) => `var ${c}: ${A} = ${zero};`).join(' ')}
  for (var k0 = 0u; k0 < M[1]; k0 += 16u) {
    for (var q = 0u; q < 4u; q++) {
      let e = lid.x + q * 256u;
      let ar = r0 + e / 16u; let ak = k0 + e % 16u;
      var av = ${zero};
      if (ar < M[0] && ak < M[1]) { av = ${la('A[ao + i32(ar) * ars + i32(ak) * acs]')}; }
      AS[(e % 16u) * 64u + e / 16u] = av;
      let bk = k0 + e / 64u; let bc = c0 + e % 64u;
      var bv = ${zero};
      if (bk < M[1] && bc < M[2]) { bv = ${lb('Bm[bo + i32(bk) * brs + i32(bc) * bcs]')}; }
      BS[e] = bv;
    }
    workgroupBarrier();
    // Each k-tile sums into fresh partials added to the totals after it: the rounding error grows
    // with 16 + k / 16 terms instead of k (blocked summation).
    ${cells.map((c) => `var p${c}: ${A} = ${zero};`).join(' ')}
    for (var kk = 0u; kk < 16u; kk++) {
      ${[0, 1, 2, 3].map((i) => `let a${i} = AS[kk * 64u + ty + ${16 * i}u];`).join(' ')}
      ${[0, 1, 2, 3].map((j) => `let b${j} = BS[kk * 64u + tx + ${16 * j}u];`).join(' ')}
      ${cells.map((c) => `p${c} = ${mac(`p${c}`, `a${c[1]}`, `b${c[2]}`)};`).join('\n      ')}
    }
    ${cells.map((c) => `${c} = ${acc === 'uint8' ? `(${c} + p${c}) & 255u` : `${c} + p${c}`};`).join(' ')}
    workgroupBarrier();
  }
  ${[0, 1, 2, 3].map((i) => `{ let r = r0 + ty + ${16 * i}u; if (r < M[0]) {
    ${[0, 1, 2, 3].map((j) => `{ let cc = c0 + tx + ${16 * j}u; if (cc < M[2]) { let e = oo + i32(r) * ors + i32(cc) * ocs; O[e] = ${storeValue(out.dtype, castCode(`c${i}${j}`, acc, out.dtype))};${epilogue ? `\n      ${epilogue.code('u32(e)')}` : ''} } }`).join('\n    ')}
  } }`).join('\n  ')}`;
      const shared = `var<workgroup> AS: array<${A}, 1024>;\nvar<workgroup> BS: array<${A}, 1024>;`;
      return shader(bindings.map((x) => x.buf), body, { shared });
    };
    run(key, source, signatureOf(bindings), bindings.map((x) => x.gpu), (w) => {
      w.u(m).u(k).u(n).u(batches).all(batch, false);
      for (const v of [a, b, out]) w.i(v.offset).all(v.strides);
      epilogue?.words(w);
    }, matmulWords + (epilogue?.size ?? 0), batches * Math.ceil(m / 64) * Math.ceil(n / 64), 'matmul');
  }

  function softmax(out: View, x: View, dim: number, log: boolean): void {
    floatOnly('softmax', x, out);
    const R = x.shape.length;
    const outer = x.shape.filter((_, i) => i !== dim);
    const R1 = outer.length;
    const xAt = 2 + R1, oAt = xAt + R1 + 2;
    const walk = rowWalk(R ? x.shape[dim]! : 1);
    const body = (): string => `
  let row = ${walk.row};
  if (row >= M[0]) { return; }
  var xo: i32 = ${mi(xAt)}; var oo: i32 = ${mi(oAt)};
  ${unravel('row', R1, 2, [{ v: 'xo', strideAt: xAt + 1 }, { v: 'oo', strideAt: oAt + 1 }])}
  let xs = ${mi(xAt + 1 + R1)}; let os = ${mi(oAt + 1 + R1)};
  var mx = -t_inf();
  ${walk.loop('M[1]')} { mx = t_max(mx, ${load(x.dtype, 'X[xo + i32(j) * xs]')}); }
  ${walk.reduce('rowMax', 'mx', 't_max(a, b)')}
  var top = rowMax;
  if (top == -t_inf()) { top = 0.0; }
  var s = 0.0;
  ${walk.loop('M[1]')} { s += exp(${load(x.dtype, 'X[xo + i32(j) * xs]')} - top); }
  ${walk.reduce('total', 's', 'a + b')}
  let lsum = log(total);
  ${walk.loop('M[1]')} {
    // (x - max) first: subtracting max + log(sum) in one rounding loses the digits log-probabilities near 0 need.
    let v = ${load(x.dtype, 'X[xo + i32(j) * xs]')} - top;
    O[oo + i32(j) * os] = ${storeValue(out.dtype, log ? 'v - lsum' : 'exp(v) / total')};
  }`;
    const key = `softmax|${R1}|${x.dtype}|${out.dtype}|${log}|${walk.row}`;
    const source = () => shader([{ name: 'O', dtype: out.dtype, write: true }, { name: 'X', dtype: x.dtype, write: false }], body(), walk.options);
    const rows = numel(outer);
    run(key, source, 'wrr', [gpuOf(out), gpuOf(x)], (w) => {
      w.u(rows).u(R ? x.shape[dim]! : 1).all(outer, false);
      w.i(x.offset).all(dropDim(x.strides, dim).filter((_, i) => i !== dim)).i(R ? x.strides[dim]! : 0);
      w.i(out.offset).all(dropDim(out.strides, dim).filter((_, i) => i !== dim)).i(R ? out.strides[dim]! : 0);
    }, 2 + R1 + 2 * (R1 + 2), walk.groups(rows), 'softmax');
  }

  /**
   * softmax's (logSoftmax's) gradient from the forward's output y, a workgroup per line:
   * gx = y (g - sum(g y)), or g - exp(y) sum(g) for logSoftmax (PyTorch's softmax_backward_data).
   */
  function softmaxBackward(gx: View, grad: View, y: View, dim: number, log: boolean, ep?: Epilogue): void {
    floatOnly('softmaxBackward', gx, grad, y);
    const R = y.shape.length;
    const outer = y.shape.filter((_, i) => i !== dim);
    const R1 = outer.length;
    const gAt = 2 + R1, yAt = gAt + R1 + 2, oAt = yAt + R1 + 2;
    const G = (j: string) => load(grad.dtype, `Gr[go + i32(${j}) * gs]`), Y = (j: string) => load(y.dtype, `Y[yo + i32(${j}) * ys]`);
    const bindings: Binding[] = [binding(gx, 'O', true), binding(grad, 'Gr', false), binding(y, 'Y', false)];
    const words = 2 + R1 + 3 * (R1 + 2);
    const epilogue = epilogueCode(gx, ep, bindings, words);
    const walk = rowWalk(R ? y.shape[dim]! : 1);
    const body = (): string => `
  let row = ${walk.row};
  if (row >= M[0]) { return; }
  var go: i32 = ${mi(gAt)}; var yo: i32 = ${mi(yAt)}; var oo: i32 = ${mi(oAt)};
  ${unravel('row', R1, 2, [{ v: 'go', strideAt: gAt + 1 }, { v: 'yo', strideAt: yAt + 1 }, { v: 'oo', strideAt: oAt + 1 }])}
  let gs = ${mi(gAt + 1 + R1)}; let ys = ${mi(yAt + 1 + R1)}; let os = ${mi(oAt + 1 + R1)};
  var s = 0.0;
  ${walk.loop('M[1]')} { s += ${log ? G('j') : `${G('j')} * ${Y('j')}`}; }
  ${walk.reduce('total', 's', 'a + b')}
  ${walk.loop('M[1]')} {
    let e = oo + i32(j) * os;
    O[e] = ${storeValue(gx.dtype, log ? `${G('j')} - exp(${Y('j')}) * total` : `${Y('j')} * (${G('j')} - total)`)};${epilogue ? `\n    ${epilogue.code('u32(e)')}` : ''}
  }`;
    const key = `softmaxBackward|${R1}|${log}|${walk.row}|${bindingKey(bindings)}|${epilogue?.key ?? ''}`;
    const source = () => shader(bindings.map((x) => x.buf), body(), walk.options);
    const rows = numel(outer);
    run(key, source, signatureOf(bindings), bindings.map((x) => x.gpu), (w) => {
      w.u(rows).u(R ? y.shape[dim]! : 1).all(outer, false);
      for (const v of [grad, y, gx]) w.i(v.offset).all(dropDim(v.strides, dim).filter((_, i) => i !== dim)).i(R ? v.strides[dim]! : 0);
      epilogue?.words(w);
    }, words + (epilogue?.size ?? 0), walk.groups(rows), 'softmaxBackward');
  }

  /**
   * layerNorm's gradients (PyTorch's layer_norm_backward): a workgroup per row recomputes the row's
   * mean and 1/std, writes gx = rstd (gy - mean(gy) - xhat mean(gy xhat)) with gy = grad * weight,
   * and keeps the row statistics; then, for gw and gb, a thread per column sums grad * xhat and grad
   * over the rows (two dispatches; no atomics, so the sums are in row order every time).
   */
  function layerNormBackward(gx: View | undefined, gw: View | undefined, gb: View | undefined, grad: View, x: View, weight: View | undefined, inner: number, eps: number, ep?: Epilogue): void {
    floatOnly('layerNormBackward', gx, gw, gb, grad, x, weight);
    const rows = inner === 0 ? 0 : numel(x.shape) / inner;
    if (rows === 0) return;
    const stats = gw || gb ? rt.createBuffer(rows * 8, 'layerNormBackward') : undefined;
    const bindings: Binding[] = [binding(grad, 'Gr', false), binding(x, 'X', false)];
    if (weight) bindings.push(binding(weight, 'W', false));
    if (gx) bindings.push(binding(gx, 'O', true));
    if (stats) bindings.push({ gpu: stats, buf: { name: 'ST2', type: 'f32', write: true } });
    const epilogue = gx ? epilogueCode(gx, ep, bindings, 7) : undefined;
    // Meta: rows, inner, eps, grad, x, weight and gx offsets.
    const X = (j: string) => load(x.dtype, `X[xo + i32(${j})]`);
    const GY = (j: string) => `${load(grad.dtype, `Gr[go + i32(${j})]`)}${weight ? ` * ${load(weight.dtype, `W[${mi(5)} + i32(${j})]`)}` : ''}`;
    const walk = rowWalk(inner);
    const sum = (name: string, term: (j: string) => string) => `
  var ${name}p = 0.0;
  ${walk.loop('n')} { ${name}p += ${term('j')}; }
  ${walk.reduce(name, `${name}p`, 'a + b')}`;
    const body = (): string => `
  let row = ${walk.row};
  if (row >= M[0]) { return; }
  let n = M[1];
  let go = ${mi(3)} + i32(row * n); let xo = ${mi(4)} + i32(row * n);
  ${sum('sx', X)}
  let mean = sx / f32(n);
  ${sum('sd', (j) => `(${X(j)} - mean) * (${X(j)} - mean)`)}
  let rstd = inverseSqrt(sd / f32(n) + bitcast<f32>(M[2]));
  ${stats ? `if (${walk.row === 'tid' ? 'true' : 'lid.x == 0u'}) { ST2[2u * row] = mean; ST2[2u * row + 1u] = rstd; }` : ''}
  ${gx ? `${sum('sg', GY)}
  ${sum('sgx', (j) => `${GY(j)} * (${X(j)} - mean) * rstd`)}
  let mg = sg / f32(n); let mgx = sgx / f32(n);
  ${walk.loop('n')} {
    let e = ${mi(6)} + i32(row * n + j);
    O[e] = ${storeValue(gx.dtype, `rstd * (${GY('j')} - mg - (${X('j')} - mean) * rstd * mgx)`)};${epilogue ? `\n    ${epilogue.code('u32(e)')}` : ''}
  }` : ''}`;
    const key = `layerNormBackward|${walk.row}|${bindingKey(bindings)}|${epilogue?.key ?? ''}`;
    const source = () => shader(bindings.map((b) => b.buf), body(), walk.options);
    run(key, source, signatureOf(bindings), bindings.map((b) => b.gpu), (w) => {
      w.u(rows).u(inner).f(eps).i(grad.offset).i(x.offset).i(weight?.offset ?? 0).i(gx?.offset ?? 0);
      epilogue?.words(w);
    }, 7 + (epilogue?.size ?? 0), walk.groups(rows), 'layerNormBackward');
    if (!stats) return;
    // Column sums: thread j walks the rows. Meta: rows, inner, grad, x, gw, gb offsets.
    const cbufs: Buf[] = [{ name: 'Gr', dtype: grad.dtype, write: false }, { name: 'X', dtype: x.dtype, write: false }, { name: 'ST2', type: 'f32', write: false }];
    const cbind = [gpuOf(grad), gpuOf(x), stats];
    if (gw) { cbufs.push({ name: 'GW', dtype: gw.dtype, write: true }); cbind.push(gpuOf(gw)); }
    if (gb) { cbufs.push({ name: 'GB', dtype: gb.dtype, write: true }); cbind.push(gpuOf(gb)); }
    const cbody = (): string => `
  if (tid >= M[1]) { return; }
  var sw = 0.0; var sb = 0.0;
  for (var r = 0u; r < M[0]; r++) {
    let at = r * M[1] + tid;
    let g = ${load(grad.dtype, `Gr[${mi(2)} + i32(at)]`)};
    sw += g * (${load(x.dtype, `X[${mi(3)} + i32(at)]`)} - ST2[2u * r]) * ST2[2u * r + 1u];
    sb += g;
  }
  ${gw ? `GW[${mi(4)} + i32(tid)] = ${storeValue(gw.dtype, 'sw')};` : ''}
  ${gb ? `GB[${mi(5)} + i32(tid)] = ${storeValue(gb.dtype, 'sb')};` : ''}`;
    const ckey = `layerNormBackward.columns|${bufsKey(cbufs)}`;
    run(ckey, () => shader(cbufs, cbody()), cbufs.map((b) => (b.write ? 'w' : 'r')).join('') + 'r', cbind, (w) => {
      w.u(rows).u(inner).i(grad.offset).i(x.offset).i(gw?.offset ?? 0).i(gb?.offset ?? 0);
    }, 6, Math.ceil(inner / WG), 'layerNormBackward');
    rt.release(stats);
  }

  function layerNorm(out: View, x: View, weight: View | undefined, bias: View | undefined, inner: number, eps: number): void {
    floatOnly('layerNorm', x, out, weight, bias);
    const rows = inner === 0 ? 0 : numel(x.shape) / inner;
    if (rows === 0) return;
    const bufs: Buf[] = [{ name: 'O', dtype: out.dtype, write: true }, { name: 'X', dtype: x.dtype, write: false }];
    if (weight) bufs.push({ name: 'W', dtype: weight.dtype, write: false });
    if (bias) bufs.push({ name: 'Bi', dtype: bias.dtype, write: false });
    // Meta: rows, inner, eps, x offset, out offset, weight offset, bias offset.
    const walk = rowWalk(inner);
    const body = (): string => `
  let row = ${walk.row};
  if (row >= M[0]) { return; }
  let n = M[1];
  let xo = ${mi(3)} + i32(row * n); let oo = ${mi(4)} + i32(row * n);
  var s = 0.0;
  ${walk.loop('n')} { s += ${load(x.dtype, 'X[xo + i32(j)]')}; }
  ${walk.reduce('sx', 's', 'a + b')}
  let mean = sx / f32(n);
  var v = 0.0;
  ${walk.loop('n')} { let d = ${load(x.dtype, 'X[xo + i32(j)]')} - mean; v += d * d; }
  ${walk.reduce('sd', 'v', 'a + b')}
  let rstd = inverseSqrt(sd / f32(n) + bitcast<f32>(M[2]));
  ${walk.loop('n')} {
    var y = (${load(x.dtype, 'X[xo + i32(j)]')} - mean) * rstd;
    ${weight ? `y = y * ${load(weight.dtype, `W[${mi(5)} + i32(j)]`)};` : ''}
    ${bias ? `y = y + ${load(bias.dtype, `Bi[${mi(6)} + i32(j)]`)};` : ''}
    O[oo + i32(j)] = ${storeValue(out.dtype, 'y')};
  }`;
    const key = `layerNorm|${walk.row}|${bufsKey(bufs)}`;
    const source = () => shader(bufs, body(), walk.options);
    const bindings = [gpuOf(out), gpuOf(x), ...(weight ? [gpuOf(weight)] : []), ...(bias ? [gpuOf(bias)] : [])];
    run(key, source, `w${'r'.repeat(bindings.length)}`, bindings, (w) => {
      w.u(rows).u(inner).f(eps).i(x.offset).i(out.offset).i(weight?.offset ?? 0).i(bias?.offset ?? 0);
    }, 7, walk.groups(rows), 'layerNorm');
  }

  /** Elementwise-like indexing launch over `shape`: operands' offsets and strides, then extra words. */
  function indexing(op: string, shape: readonly number[], ops: readonly { v: string; view: View; strides: readonly number[] }[], bufs: Buf[], bindings: GPUBuffer[], code: string, extra: readonly number[]): void {
    const R = shape.length;
    const at = (j: number) => 1 + R + j * (R + 1);
    const eAt = at(ops.length);
    const body = [
      'if (tid >= M[0]) { return; }',
      ...ops.map((o, j) => `var ${o.v}: i32 = ${mi(at(j))};`),
      unravel('tid', R, 1, ops.map((o, j) => ({ v: o.v, strideAt: at(j) + 1 }))),
      code.replace(/E\[(\d+)\]/g, (_, i: string) => mi(eAt + Number(i))),
    ].join('\n  ');
    const src = shader([...bufs, STATUS], body);
    const n = numel(shape);
    run(src, () => src, `${bufs.map((b) => (b.write ? 'w' : 'r')).join('')}wr`, [...bindings, rt.status], (w) => {
      w.u(n).all(shape, false);
      for (const o of ops) w.i(o.view.offset).all(o.strides);
      w.all(extra);
    }, 1 + R + ops.length * (R + 1) + extra.length, Math.ceil(n / WG), op);
  }

  const idx = (index: View, access: string) => `i32(${load(index.dtype, access)})`;

  /**
   * out[...] = x[... j ...] for the index j read at `access` (one outside [0, E[0]), negative ones
   * included, sets the status flag): the body of gather and indexSelect, which differ in where j is.
   */
  function copyIndexed(op: string, shape: readonly number[], out: View, x: View, index: View, ops: Parameters<typeof indexing>[2], access: string, xStride: string, extra: readonly number[]): void {
    const code = `
  let j = ${idx(index, access)};
  if (j < 0 || j >= E[0]) { ${flagBadIndex} return; }
  O[oo] = ${storeValue(out.dtype, castCode(load(x.dtype, `X[xo + j * ${xStride}]`), x.dtype, out.dtype))};`;
    const bufs: Buf[] = [{ name: 'O', dtype: out.dtype, write: true }, { name: 'X', dtype: x.dtype, write: false }, { name: 'I', dtype: index.dtype, write: false }];
    indexing(op, shape, ops, bufs, [gpuOf(out), gpuOf(x), gpuOf(index)], code, extra);
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

  function scatterAdd(out: View, index: View, src: View, dim: number): void {
    // One thread per output column (every coordinate but `dim`): it applies that column's updates in order.
    const cols = index.shape.map((d, i) => (i === dim ? 1 : d));
    const d = out.dtype, V = valueType(d);
    const code = `
  for (var k = 0i; k < E[0]; k++) {
    let j = ${idx(index, 'I[io + k * E[1]]')};
    if (j < 0 || j >= E[3]) { ${flagBadIndex} continue; }
    let t = oo + j * E[4];
    let cur: ${V} = ${load(d, 'O[t]')};
    let add: ${V} = ${castCode(load(src.dtype, 'S[so + k * E[2]]'), src.dtype, d)};
    O[t] = ${storeValue(d, WGSL_OPS.add(['cur', 'add'], d, d))};
  }`;
    indexing('scatterAdd', cols, [
      { v: 'io', view: index, strides: index.strides }, { v: 'so', view: src, strides: src.strides }, { v: 'oo', view: out, strides: dropDim(out.strides, dim) },
    ], [{ name: 'O', dtype: d, write: true }, { name: 'I', dtype: index.dtype, write: false }, { name: 'S', dtype: src.dtype, write: false }],
    [gpuOf(out), gpuOf(index), gpuOf(src)], code, [index.shape[dim]!, index.strides[dim]!, src.strides[dim]!, out.shape[dim]!, out.strides[dim]!]);
  }

  /**
   * Stable sort of each line along `dim` (NaN largest) by rank: one thread per element counts the
   * elements that order before it (ties by position) and writes itself and its position at that
   * rank. O(n) work per element, n^2 per line, with no workgroup cooperation: fine for the lines
   * sort, topk and multinomial see in training scripts (classes, vocabularies of a few thousand); a
   * merge sort would be the step for long lines.
   */
  function sort(values: View, indices: View, x: View, dim: number, descending: boolean): void {
    const R = x.shape.length;
    const float = isFloating(x.dtype);
    // Keys compare in the value type; bools as 0 and 1.
    const key = (access: string) => (x.dtype === 'bool' ? `i32(${load(x.dtype, access)})` : load(x.dtype, access));
    const nan = (v: string) => (float ? `t_isnan(${v})` : 'false');
    // before(a, b): a orders strictly before b (ascending: NaN last; descending: NaN first).
    const before = descending
      ? `(${nan('a')} && !${nan('b')}) || (!${nan('a')} && !${nan('b')} && a > b)`
      : `!${nan('a')} && (${nan('b')} || a < b)`;
    const tie = float ? `(${nan('a')} && ${nan('b')}) || a == b` : 'a == b';
    const code = `
  let n = i32(E[0]);
  let b = ${key('X[xl + ci * E[1]]')};
  var rank = 0i;
  for (var j = 0i; j < n; j++) {
    let a = ${key('X[xl + j * E[1]]')};
    if ((${before}) || (j < ci && (${tie}))) { rank++; }
  }
  V[vo + rank * E[2]] = X[xl + ci * E[1]];
  Ix[io + rank * E[3]] = ${storeValue(indices.dtype, 'ci')};`;
    indexing('sort', x.shape, [
      { v: 'xl', view: x, strides: R ? dropDim(x.strides, dim) : [] }, { v: 'vo', view: values, strides: R ? dropDim(values.strides, dim) : [] },
      { v: 'io', view: indices, strides: R ? dropDim(indices.strides, dim) : [] }, { v: 'ci', view: { ...x, offset: 0 }, strides: R ? unitAt(R, dim) : [] },
    ], [{ name: 'V', dtype: values.dtype, write: true }, { name: 'Ix', dtype: indices.dtype, write: true }, { name: 'X', dtype: x.dtype, write: false }],
    [gpuOf(values), gpuOf(indices), gpuOf(x)], code, [R ? x.shape[dim]! : 1, R ? x.strides[dim]! : 0, R ? values.strides[dim]! : 0, R ? indices.strides[dim]! : 0]);
  }

  /** Plan words shared by the convolution family. */
  const planWords = (p: Conv2dPlan) => [p.n, p.c, p.h, p.w, p.o, p.kh, p.kw, p.stride[0], p.stride[1], p.padding[0], p.padding[1], p.dilation[0], p.dilation[1], p.groups, p.oh, p.ow];
  const PLAN = `let N = i32(M[1]); let C = i32(M[2]); let H = i32(M[3]); let W = i32(M[4]); let OC = i32(M[5]); let KH = i32(M[6]); let KW = i32(M[7]);
  let SH = i32(M[8]); let SW = i32(M[9]); let PH = i32(M[10]); let PW = i32(M[11]); let DH = i32(M[12]); let DW = i32(M[13]); let G = i32(M[14]); let OH = i32(M[15]); let OW = i32(M[16]);`;

  /** A convolution-family body: one thread per output element `t`, with the plan's sizes in scope. */
  const onePerOutput = (body: string) => `
  if (tid >= M[0]) { return; }
  ${PLAN}
  let t = i32(tid);${body}`;

  function conv2d(out: View, x: View, weight: View, bias: View | undefined, p: Conv2dPlan): void {
    floatOnly('conv2d', x, weight, out, bias);
    const n = p.n * p.o * p.oh * p.ow;
    const body = onePerOutput(`
  let ow = t % OW; let oh = (t / OW) % OH; let oc = (t / (OW * OH)) % OC; let b = t / (OW * OH * OC);
  let cg = C / G; let g = oc / (OC / G);
  var acc = ${bias ? load(bias.dtype, `Bi[${mi(20)} + oc]`) : '0.0'};
  for (var ci = 0i; ci < cg; ci++) {
    let xc = ${mi(17)} + ((b * C + g * cg + ci) * H) * W;
    let wc = ${mi(18)} + ((oc * cg + ci) * KH) * KW;
    for (var u = 0i; u < KH; u++) {
      let y = oh * SH - PH + u * DH;
      if (y < 0 || y >= H) { continue; }
      for (var v = 0i; v < KW; v++) {
        let z = ow * SW - PW + v * DW;
        if (z < 0 || z >= W) { continue; }
        acc += ${load(x.dtype, 'X[xc + y * W + z]')} * ${load(weight.dtype, 'Wt[wc + u * KW + v]')};
      }
    }
  }
  O[${mi(19)} + t] = ${storeValue(out.dtype, 'acc')};`);
    const bufs: Buf[] = [{ name: 'O', dtype: out.dtype, write: true }, { name: 'X', dtype: x.dtype, write: false }, { name: 'Wt', dtype: weight.dtype, write: false }];
    if (bias) bufs.push({ name: 'Bi', dtype: bias.dtype, write: false });
    const bindings = [gpuOf(out), gpuOf(x), gpuOf(weight), ...(bias ? [gpuOf(bias)] : [])];
    const src = shader(bufs, body);
    run(src, () => src, `w${'r'.repeat(bindings.length)}`, bindings, (w) => {
      w.u(n).all(planWords(p)).i(x.offset).i(weight.offset).i(out.offset).i(bias?.offset ?? 0);
    }, 21, Math.ceil(n / WG), 'conv2d');
  }

  function unfold(out: View, x: View, p: Conv2dPlan): void {
    const n = p.n * p.c * p.kh * p.kw * p.oh * p.ow;
    const body = onePerOutput(`
  let L = OH * OW;
  let l = t % L; let r = (t / L) % (C * KH * KW); let b = t / (L * C * KH * KW);
  let v = r % KW; let u = (r / KW) % KH; let c = r / (KW * KH);
  let y = (l / OW) * SH - PH + u * DH; let z = (l % OW) * SW - PW + v * DW;
  var val = ${castCode('0.0', 'float32', x.dtype)};
  if (y >= 0 && y < H && z >= 0 && z < W) { val = ${load(x.dtype, `X[${mi(17)} + ((b * C + c) * H + y) * W + z]`)}; }
  O[${mi(18)} + t] = ${storeValue(out.dtype, castCode('val', x.dtype, out.dtype))};`);
    const src = shader([{ name: 'O', dtype: out.dtype, write: true }, { name: 'X', dtype: x.dtype, write: false }], body);
    run(src, () => src, 'wrr', [gpuOf(out), gpuOf(x)], (w) => {
      w.u(n).all(planWords(p)).i(x.offset).i(out.offset);
    }, 19, Math.ceil(n / WG), 'unfold');
  }

  function fold(out: View, cols: View, p: Conv2dPlan): void {
    floatOnly('fold', cols, out);
    const n = p.n * p.c * p.h * p.w;
    // Each output pixel gathers the patch entries that cover it (no atomics).
    const body = onePerOutput(`
  let z = t % W; let y = (t / W) % H; let c = (t / (W * H)) % C; let b = t / (W * H * C);
  let L = OH * OW;
  var acc = 0.0;
  for (var u = 0i; u < KH; u++) {
    let yy = y + PH - u * DH;
    if (yy < 0 || yy % SH != 0 || yy / SH >= OH) { continue; }
    for (var v = 0i; v < KW; v++) {
      let zz = z + PW - v * DW;
      if (zz < 0 || zz % SW != 0 || zz / SW >= OW) { continue; }
      acc += ${load(cols.dtype, `X[${mi(17)} + (b * C * KH * KW + (c * KH + u) * KW + v) * L + (yy / SH) * OW + zz / SW]`)};
    }
  }
  O[${mi(18)} + t] = ${storeValue(out.dtype, 'acc')};`);
    const src = shader([{ name: 'O', dtype: out.dtype, write: true }, { name: 'X', dtype: cols.dtype, write: false }], body);
    run(src, () => src, 'wrr', [gpuOf(out), gpuOf(cols)], (w) => {
      w.u(n).all(planWords(p)).i(cols.offset).i(out.offset);
    }, 19, Math.ceil(n / WG), 'fold');
  }

  function pool2d(out: View, x: View, p: Pool2dPlan, mode: 'max' | 'avg', countIncludePad: boolean, indices?: View): void {
    floatOnly(`${mode}Pool2d`, x, out);
    const n = p.planes * p.oh * p.ow;
    const body = `
  if (tid >= M[0]) { return; }
  let H = i32(M[1]); let W = i32(M[2]); let KH = i32(M[3]); let KW = i32(M[4]); let SH = i32(M[5]); let SW = i32(M[6]);
  let PH = i32(M[7]); let PW = i32(M[8]); let DH = i32(M[9]); let DW = i32(M[10]); let OH = i32(M[11]); let OW = i32(M[12]);
  let t = i32(tid);
  let j = t % OW; let i = (t / OW) % OH; let plane = t / (OW * OH);
  let base = ${mi(13)} + plane * H * W;
  let y0 = i * SH - PH; let z0 = j * SW - PW;
  var acc = ${mode === 'max' ? '-t_inf()' : '0.0'}; var cnt = 0i; var at = -1i;
  for (var u = 0i; u < KH; u++) {
    let y = y0 + u * DH;
    if (y < 0 || y >= H) { continue; }
    for (var v = 0i; v < KW; v++) {
      let z = z0 + v * DW;
      if (z < 0 || z >= W) { continue; }
      let val = ${load(x.dtype, 'X[base + y * W + z]')};
      ${mode === 'avg' ? 'acc += val;' : 'if (at < 0 || val > acc || (t_isnan(val) && !t_isnan(acc))) { acc = val; at = y * W + z; }'}
      cnt++;
    }
  }
  ${mode === 'avg' ? `let yEnd = min(y0 + KH, H + PH); let zEnd = min(z0 + KW, W + PW);
  acc = acc / f32(${countIncludePad ? '(yEnd - y0) * (zEnd - z0)' : 'cnt'});` : ''}
  ${indices ? `IX[${mi(15)} + t] = at;` : ''}
  O[${mi(14)} + t] = ${storeValue(out.dtype, 'acc')};`;
    const bufs: Buf[] = [{ name: 'O', dtype: out.dtype, write: true }, { name: 'X', dtype: x.dtype, write: false }];
    if (indices) bufs.push({ name: 'IX', dtype: indices.dtype, write: true });
    const bindings = [gpuOf(out), gpuOf(x), ...(indices ? [gpuOf(indices)] : [])];
    const src = shader(bufs, body);
    run(src, () => src, indices ? 'wrwr' : 'wrr', bindings, (w) => {
      w.u(n).all([p.h, p.w, p.k[0], p.k[1], p.stride[0], p.stride[1], p.padding[0], p.padding[1], p.dilation[0], p.dilation[1], p.oh, p.ow]);
      w.i(x.offset).i(out.offset).i(indices?.offset ?? 0);
    }, 16, Math.ceil(n / WG), `${mode}Pool2d`);
  }

  return { matmul, softmax, softmaxBackward, layerNorm, layerNormBackward, gather, scatterAdd, indexSelect, sort, conv2d, unfold, fold, pool2d };
}
