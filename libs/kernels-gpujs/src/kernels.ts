/**
 * Elementwise and reduction kernels generated from the IR as gpu.js kernel functions, one per
 * (kernel, rank): shapes, strides, offsets and scalar parameters are arguments (`m0`, `m1`, ...),
 * buffers are `b0`, `b1`, ..., and every kernel computes one output element per thread.
 */
import { type Expr, NotImplementedError, topoSort } from '@tessera/ops';
import { type ElementwiseKernel, type ElementwiseLaunch, type Epilogue, type ReduceKernel, type ReduceLaunch, type View, paramDtype } from '@tessera/tensor';
import { castCode, checkDtype, emitExpr, emitExprs, helpersFor, literal } from './emit.js';
import { type GBuffer, type Runtime, dataOffset } from './runtime.js';

const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
/** `v` with another shape and strides (views may be class instances whose fields a spread would drop). */
export const reshaped = (v: View, shape: readonly number[], strides: readonly number[]): View => ({ buffer: v.buffer, dtype: v.dtype, offset: v.offset, shape, strides });

/** A kernel function: buffers, then `words` scalar arguments, after the constants every kernel takes. */
export function kernelFunction(buffers: number, words: number, body: string): string {
  const params = ['nanv', 'infv', ...Array.from({ length: buffers }, (_, i) => `b${i}`), ...Array.from({ length: words }, (_, i) => `m${i}`)];
  return `function (${params.join(', ')}) {\n  ${body}\n}`;
}

/**
 * Statements that walk linear index `lin` through `rank` dims (sizes in m[shapeAt + d]) and add
 * coordinate * stride to each offset variable (strides at m[strideAt + d]).
 */
export function unravel(lin: string, rank: number, shapeAt: number, offsets: readonly { v: string; strideAt: number }[], tag: string): string {
  if (rank === 0) return '';
  const lines = [`let ${tag} = ${lin};`];
  for (let d = rank - 1; d >= 0; d--) {
    const c = `${tag}c${d}`;
    lines.push(`const ${c} = ${tag} % m${shapeAt + d};`, `${tag} = Math.floor(${tag} / m${shapeAt + d});`, ...offsets.map((o) => `${o.v} = ${o.v} + ${c} * m${o.strideAt + d};`));
  }
  return lines.join('\n  ');
}

/** Refuses a kernel whose IR uses a primitive the runtime's mode cannot compute accurately (see Runtime.inexact). */
function checkPrims(rt: Runtime, id: string, roots: readonly Expr[]): void {
  for (const root of roots) {
    for (const e of topoSort(root)) {
      const why = e.kind === 'op' ? rt.inexact[e.op] : undefined;
      if (why) throw new NotImplementedError(id, why);
    }
  }
}

/** Scalar parameters as the kernel sees them: rounded to their IR dtype (float32, or an integer). */
function paramWords(k: ElementwiseKernel | ReduceKernel, values: readonly number[]): number[] {
  return k.params.map((p, i) => { const v = values[i]!; return paramDtype(k, p) === 'float32' || !Number.isFinite(v) ? Math.fround(v) : Math.trunc(v); });
}

// ------------------------------------------------------------------ elementwise

/**
 * One thread per element of the launch shape, in row-major order (the runtime commits the result to
 * the output view). Words: shape[R], then per input its offset and strides[R], then the params.
 * A kernel with further `outputs` hands each to its store function (outputSources) before it
 * returns the first: gpu.js's kernel map stores each in a texture of its own, in the same pass.
 */
export function elementwiseSource(k: ElementwiseKernel, rank: number): string {
  k.inputs.forEach((d) => checkDtype(k.id, d));
  [k.out, ...(k.outputs ?? []).map((o) => o.dtype)].forEach((d) => checkDtype(k.id, d));
  const opBase = (i: number) => rank + i * (rank + 1);
  const pBase = opBase(k.inputs.length);
  const roots = [k.expr, ...(k.outputs ?? []).map((o) => o.expr)];
  const expr = emitExprs(roots, { input: (i) => `x${i}`, param: (p) => `m${pBase + k.params.indexOf(p)}` });
  const body = [
    ...k.inputs.map((_, i) => `let o${i} = m${opBase(i)};`),
    unravel('this.thread.x', rank, 0, k.inputs.map((_, i) => ({ v: `o${i}`, strideAt: opBase(i) + 1 })), 'u'),
    ...k.inputs.map((_, i) => `const x${i} = b${i}[o${i}];`),
    expr.code,
    ...storeCalls(expr.results.slice(1)),
    `return ${expr.results[0]};`,
  ].filter(Boolean).join('\n  ');
  return kernelFunction(k.inputs.length, pBase + k.params.length, body);
}

/** The store function of a kernel's j-th further output (a gpu.js sub-kernel: what it returns is stored). */
const storeName = (j: number) => `store${j + 1}`;
/** Statements handing each of `results` to its store function, in order. */
const storeCalls = (results: readonly string[]): string[] => results.map((r, j) => `${storeName(j)}(${r});`);
/** The sources of `count` store functions (gpu.js sub-kernels: what one returns is stored). */
const storeSources = (count: number): string[] => Array.from({ length: count }, (_, j) => `function ${storeName(j)}(v) { return v; }`);

/** The sub-kernel sources a kernel with further `outputs` stores them through, in order. */
export function outputSources(k: ElementwiseKernel): string[] {
  return storeSources(k.outputs?.length ?? 0);
}

export function runElementwise(rt: Runtime, k: ElementwiseKernel, l: ElementwiseLaunch): void {
  checkPrims(rt, k.id, [k.expr, ...(k.outputs ?? []).map((o) => o.expr)]);
  const rank = l.shape.length;
  const words = [...l.shape, ...l.inputs.flatMap((v) => [dataOffset(v), ...v.strides]), ...paramWords(k, l.params)];
  const args = [...l.inputs.map((v) => v.buffer as GBuffer), ...words];
  // out's strides follow the launch's (coalesced) shape, not the tensor's.
  const outs = [l.out, ...(l.outs ?? [])].map((v) => reshaped(v, l.shape, v.strides));
  if (!k.outputs?.length) {
    rt.commit(k.id, outs[0]!, rt.launch(k.id, `ew|${k.id}|${rank}`, () => elementwiseSource(k, rank), numel(l.shape), args));
    return;
  }
  const results = rt.launchMap(k.id, `ew|${k.id}|${rank}`, () => ({ main: elementwiseSource(k, rank), outputs: outputSources(k) }), numel(l.shape), args);
  results.forEach((r, j) => rt.commit(k.id, outs[j]!, r));
}

/**
 * Several launches of one kernel as one (compile's horizontal groups: an optimizer's update of each
 * parameter): their results one after another, member j's from the end of member j - 1's. A thread
 * finds its member by comparing with the members' ends, reads that member's inputs and params, and
 * the kernel's expression runs once for all. `inputs[j][i]` is the buffer (argument) member j's
 * input i reads. Words: the members' ends, then per member its shape, its inputs' offsets and
 * strides, and its params.
 */
export function elementwiseGroupSource(k: ElementwiseKernel, ranks: readonly number[], inputs: readonly (readonly number[])[], buffers: number): string {
  const P = k.params.length;
  let w = ranks.length;
  const branches = ranks.map((R, j) => {
    const shapeAt = w;
    w += R;
    const offsets = k.inputs.map((_, i) => { const v = { v: `o${j}_${i}`, strideAt: w + 1 }; w += 1 + R; return v; });
    const pAt = w;
    w += P;
    return [
      `li = this.thread.x${j ? ` - m${j - 1}` : ''};`,
      ...offsets.map((o) => `let ${o.v} = m${o.strideAt - 1};`),
      unravel('li', R, shapeAt, offsets, `u${j}`),
      ...k.inputs.map((_, i) => `x${i} = b${inputs[j]![i]}[${offsets[i]!.v}];`),
      ...k.params.map((_, q) => `p${q} = m${pAt + q};`),
    ].filter(Boolean).join('\n    ');
  });
  const roots = [k.expr, ...(k.outputs ?? []).map((o) => o.expr)];
  const expr = emitExprs(roots, { input: (i) => `x${i}`, param: (p) => `p${k.params.indexOf(p)}` });
  const body = [
    'let li = 0.0;',
    ...k.inputs.map((_, i) => `let x${i} = 0.0;`),
    ...k.params.map((_, q) => `let p${q} = 0.0;`),
    // Side by side, not an else-if chain: GLSL parsers nest those, and ANGLE's ran out of stack at 15.
    ...branches.map((b, j) => `if (${[j ? `this.thread.x >= m${j - 1}` : '', `this.thread.x < m${j}`].filter(Boolean).join(' && ')}) {\n    ${b}\n  }`),
    expr.code,
    ...storeCalls(expr.results.slice(1)),
    `return ${expr.results[0]};`,
  ].join('\n  ');
  return kernelFunction(buffers, w, body);
}

export function runElementwiseGroup(rt: Runtime, k: ElementwiseKernel, launches: readonly ElementwiseLaunch[]): void {
  checkPrims(rt, k.id, [k.expr, ...(k.outputs ?? []).map((o) => o.expr)]);
  const buffers: GBuffer[] = [];
  const inputs = launches.map((l) => l.inputs.map((v) => {
    const b = v.buffer as GBuffer;
    const at = buffers.indexOf(b);
    return at >= 0 ? at : buffers.push(b) - 1;
  }));
  const ranks = launches.map((l) => l.shape.length);
  const sizes = launches.map((l) => numel(l.shape));
  let total = 0;
  const starts = sizes.map((n) => (total += n) - n);
  const words = [
    ...sizes.map((n, j) => starts[j]! + n),
    ...launches.flatMap((l) => [...l.shape, ...l.inputs.flatMap((v) => [dataOffset(v), ...v.strides]), ...paramWords(k, l.params)]),
  ];
  const key = `ewg|${k.id}|${ranks.join(',')}|${inputs.map((b) => b.join(',')).join(';')}`;
  const source = () => elementwiseGroupSource(k, ranks, inputs, buffers.length);
  const results = k.outputs?.length
    ? rt.launchMap(k.id, key, () => ({ main: source(), outputs: outputSources(k) }), total, [...buffers, ...words])
    : [rt.launch(k.id, key, source, total, [...buffers, ...words])];
  // Each result's views, over the launches' (coalesced) shapes.
  results.forEach((r, o) => rt.placeGroup(k.id, launches.map((l) => { const v = o === 0 ? l.out : l.outs![o - 1]!; return reshaped(v, l.shape, v.strides); }), starts, r));
}

// ------------------------------------------------------------------ routine epilogues

/** Whether a routine's per-element kernel can run elementwise kernel `k` as its epilogue (routineEpilogue). */
export function takesEpilogue(rt: Runtime, k: ElementwiseKernel, routineBuffers: number): boolean {
  const roots = [k.expr, ...(k.outputs ?? []).map((o) => o.expr)];
  return rt.multiOutput && 2 + (k.outputs?.length ?? 0) <= rt.maxOutputs && routineBuffers + k.inputs.length <= MAX_TEXTURES
    && [k.out, ...k.inputs, ...(k.outputs ?? []).map((o) => o.dtype)].every((d) => d !== 'float64' && d !== 'float16')
    && roots.every((r) => topoSort(r).every((e) => e.kind !== 'op' || !rt.inexact[e.op]));
}

/** Textures one kernel reads (WebGL guarantees 16 units to a fragment shader; headlessgl has 32). */
const MAX_TEXTURES = 16;

/** An epilogue as part of a routine's kernel: its code, arguments and where its results go. */
export interface RoutineEpilogue {
  /** Statements computing the epilogue's results from the routine's value `value`, each handed to its store function. */
  code(value: string): string;
  /** The sub-kernel sources of those store functions (after the routine's own result). */
  readonly outputs: string[];
  /** Its buffer arguments, after the routine's. */
  readonly buffers: GBuffer[];
  /** Its scalar arguments, after the routine's. */
  readonly words: number[];
  /** What its code depends on (part of the routine kernel's cache key). */
  readonly key: string;
  /** The views its results go to, in store order, each over the order the routine computes the result in. */
  readonly views: View[];
}

/**
 * A routine's epilogue (compile's epilogue.ts) run by the thread that computes element e of the
 * routine's result (contiguous: e is the thread): the epilogue reads the result through one view,
 * blockwise, a permutation of a dense layout at most (heads transposed back), so its launch with
 * the dims ordered by that view's strides walks the result's own order, and its element there is e.
 * Buffers are b(bufBase + i), words m(wordBase + i).
 */
export function routineEpilogue(ep: Epilogue, result: View, bufBase: number, wordBase: number): RoutineEpilogue {
  const { kernel: k, launch: l } = ep;
  const onResult = l.inputs.find((v) => v.buffer === result.buffer)!;
  const dims = l.shape.map((_, d) => d).filter((d) => l.shape[d]! > 1).sort((a, b) => onResult.strides[b]! - onResult.strides[a]!);
  const shape = dims.map((d) => l.shape[d]!);
  const permute = (v: View): View => reshaped(v, shape, dims.map((d) => v.strides[d]!));
  const R = shape.length;
  const reads = l.inputs.map((v) => (v.buffer === result.buffer ? undefined : permute(v)));
  const buffers: GBuffer[] = [], words: number[] = [...shape];
  const offsets: { v: string; strideAt: number }[] = [];
  const names = reads.map((v, i) => {
    if (!v) return 'value';
    offsets.push({ v: `eo${i}`, strideAt: wordBase + words.length + 1 });
    words.push(dataOffset(v), ...v.strides);
    buffers.push(v.buffer as GBuffer);
    return `b${bufBase + buffers.length - 1}`;
  });
  const pBase = wordBase + words.length;
  words.push(...paramWords(k, l.params));
  const roots = [k.expr, ...(k.outputs ?? []).map((o) => o.expr)];
  const code = (value: string): string => {
    const expr = emitExprs(roots, { input: (i) => (reads[i] ? `ex${i}` : value), param: (p) => `m${pBase + k.params.indexOf(p)}` }, 'ep');
    return [
      ...offsets.map((o) => `let ${o.v} = m${o.strideAt - 1};`),
      unravel('this.thread.x', R, wordBase, offsets, 'eu'),
      ...reads.map((v, i) => (v ? `const ex${i} = ${names[i]}[eo${i}];` : '')),
      expr.code,
      ...storeCalls(expr.results),
    ].filter(Boolean).join('\n  ');
  };
  return {
    code, buffers, words,
    outputs: storeSources(roots.length),
    key: `${k.id}|${R}|${reads.map((v) => (v ? 'b' : 'r')).join('')}|${bufBase}|${wordBase}`,
    views: [l.out, ...(l.outs ?? [])].map(permute),
  };
}

// ------------------------------------------------------------------ reductions

/**
 * One thread per output (per kept position; for scans, per element) looping over its row.
 * Words: outer shape[OR], inner shape[IR], input offset and strides[OR + IR], row length, params.
 * Index reductions keep the first best position; the result is the position.
 */
/** Elements per partial of a reduction (reduceSource). */
const REDUCE_BLOCK = 64;

export function reduceSource(k: ReduceKernel, or: number, ir: number): string {
  checkDtype(k.id, k.input);
  checkDtype(k.id, k.out);
  const xAt = or + ir, lenAt = xAt + 1 + or + ir, pBase = lenAt + 1;
  const param = (p: string) => `m${pBase + k.params.indexOf(p)}`;
  const names = (ns: string[]) => ({ input: (i: number) => ns[i]!, param });
  const mapE = emitExpr(k.map, names(['xv']), 'mp');
  const comb = emitExpr(k.combine, names(['acc', mapE.result]), 'cb');
  const better = k.better && emitExpr(k.better, names([mapE.result, 'acc']), 'bt');
  const fin = emitExpr(k.finalize, names(['acc', `m${lenAt}`]), 'fn');
  // Scans: thread = (row, j); the row is walked up to j.
  const row = k.scan ? `Math.floor(this.thread.x / m${lenAt})` : 'this.thread.x';
  const upTo = k.scan ? `this.thread.x - ${row} * m${lenAt} + 1.0` : `m${lenAt}`;
  const element = (indent: string) => [
    'let xe = xo;',
    unravel('j', ir, or, [{ v: 'xe', strideAt: xAt + 1 + or }], 'e'),
    'const xv = b0[xe];',
    mapE.code,
  ].filter(Boolean).join('\n').replace(/\n\s*/g, `\n${indent}`);
  // Reductions (not index reductions or scans) take blocks of REDUCE_BLOCK elements into fresh
  // partials combined into the total: a long row's float32 sum rounds over n / 64 + 64 terms, not n.
  const part = emitExpr(k.combine, names(['part', mapE.result]), 'cp'), total = emitExpr(k.combine, names(['acc', 'part']), 'ct');
  const walk = better
    ? [
      'for (let j = 0; j < count; j++) {',
      `  ${element('    ')}`,
      `  ${better.code.replace(/\n {2}/g, '\n    ')}`,
      `  if (j == 0 || ${better.result} != 0.0) { acc = ${mapE.result}; best = j; }`,
      '}',
    ]
    : k.scan
      ? [
        'for (let j = 0; j < count; j++) {',
        `  ${element('    ')}`,
        `  ${comb.code.replace(/\n {2}/g, '\n    ')}`,
        `  acc = ${comb.result};`,
        '}',
      ]
      : [
        `for (let j0 = 0; j0 < count; j0 = j0 + ${REDUCE_BLOCK}) {`,
        `  let part = ${literal(k.init, k.map.dtype)};`,
        `  for (let j1 = 0; j1 < ${REDUCE_BLOCK}; j1++) {`,
        '    const j = j0 + j1;',
        '    if (j < count) {',
        `      ${element('        ')}`,
        `      ${part.code.replace(/\n {2}/g, '\n        ')}`,
        `      part = ${part.result};`,
        '    }',
        '  }',
        `  ${total.code.replace(/\n {2}/g, '\n    ')}`,
        `  acc = ${total.result};`,
        '}',
      ];
  const body = [
    `let xo = m${xAt};`,
    unravel(row, or, 0, [{ v: 'xo', strideAt: xAt + 1 }], 'q'),
    `let acc = ${literal(k.init, k.map.dtype)};`,
    better ? 'let best = 0.0;' : '',
    `const count = ${upTo};`,
    ...walk,
    ...(better ? ['return best;'] : k.scan ? [`return ${castCode('acc', k.map.dtype, k.out)};`] : [fin.code, `return ${fin.result};`]),
  ].filter(Boolean).join('\n  ');
  return kernelFunction(1, pBase + k.params.length, body);
}

export function runReduce(rt: Runtime, k: ReduceKernel, l: ReduceLaunch): void {
  checkPrims(rt, k.id, [k.map, k.combine, k.finalize]);
  const or = l.outer.length, ir = l.inner.length;
  const rows = numel(l.outer), len = numel(l.inner);
  const words = [...l.outer, ...l.inner, dataOffset(l.input), ...l.input.strides, len, ...paramWords(k, l.params)];
  const n = k.scan ? rows * len : rows;
  const result = rt.launch(k.id, `rd|${k.id}|${or}|${ir}`, () => reduceSource(k, or, ir), n, [l.input.buffer as GBuffer, ...words]);
  // Scans write out's full shape, whose strides come in the same outer-then-inner order as the input's.
  rt.commit(k.id, k.scan ? reshaped(l.out, [...l.outer, ...l.inner], l.out.strides) : reshaped(l.out, l.outer, l.out.strides.slice(0, or)), result);
}

/** The complete source of a kernel with the helpers it calls (what `tessera codegen --backend gpujs` prints). */
export function withHelpers(src: string): string {
  return [...helpersFor(src), src].join('\n');
}
