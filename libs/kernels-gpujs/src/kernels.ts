/**
 * Elementwise and reduction kernels generated from the IR as gpu.js kernel functions, one per
 * (kernel, rank): shapes, strides, offsets and scalar parameters are arguments (`m0`, `m1`, ...),
 * buffers are `b0`, `b1`, ..., and every kernel computes one output element per thread.
 */
import { type Expr, NotImplementedError, topoSort } from '@tessera/ops';
import { type ElementwiseKernel, type ElementwiseLaunch, type ReduceKernel, type ReduceLaunch, type View, paramDtype } from '@tessera/tensor';
import { castCode, checkDtype, emitExpr, emitExprs, helpersFor, literal } from './emit.js';
import type { GBuffer, Runtime } from './runtime.js';

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
    ...expr.results.slice(1).map((r, j) => `${storeName(j)}(${r});`),
    `return ${expr.results[0]};`,
  ].filter(Boolean).join('\n  ');
  return kernelFunction(k.inputs.length, pBase + k.params.length, body);
}

/** The store function of a kernel's j-th further output (a gpu.js sub-kernel: what it returns is stored). */
const storeName = (j: number) => `store${j + 1}`;

/** The sub-kernel sources a kernel with further `outputs` stores them through, in order. */
export function outputSources(k: ElementwiseKernel): string[] {
  return (k.outputs ?? []).map((_, j) => `function ${storeName(j)}(v) { return v; }`);
}

export function runElementwise(rt: Runtime, k: ElementwiseKernel, l: ElementwiseLaunch): void {
  checkPrims(rt, k.id, [k.expr, ...(k.outputs ?? []).map((o) => o.expr)]);
  const rank = l.shape.length;
  const words = [...l.shape, ...l.inputs.flatMap((v) => [v.offset, ...v.strides]), ...paramWords(k, l.params)];
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

// ------------------------------------------------------------------ reductions

/**
 * One thread per output (per kept position; for scans, per element) looping over its row.
 * Words: outer shape[OR], inner shape[IR], input offset and strides[OR + IR], row length, params.
 * Index reductions keep the first best position; the result is the position.
 */
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
  const body = [
    `let xo = m${xAt};`,
    unravel(row, or, 0, [{ v: 'xo', strideAt: xAt + 1 }], 'q'),
    `let acc = ${literal(k.init, k.map.dtype)};`,
    better ? 'let best = 0.0;' : '',
    `const count = ${upTo};`,
    `for (let j = 0; j < count; j++) {`,
    `  let xe = xo;`,
    `  ${unravel('j', ir, or, [{ v: 'xe', strideAt: xAt + 1 + or }], 'e').replace(/\n {2}/g, '\n    ')}`,
    `  const xv = b0[xe];`,
    `  ${mapE.code.replace(/\n {2}/g, '\n    ')}`,
    better
      ? `  ${better.code.replace(/\n {2}/g, '\n    ')}\n    if (j == 0 || ${better.result} != 0.0) { acc = ${mapE.result}; best = j; }`
      : `  ${comb.code.replace(/\n {2}/g, '\n    ')}\n    acc = ${comb.result};`,
    '}',
    better ? 'return best;' : k.scan ? `return ${castCode('acc', k.map.dtype, k.out)};` : `${fin.code}\n  return ${fin.result};`,
  ].filter(Boolean).join('\n  ');
  return kernelFunction(1, pBase + k.params.length, body);
}

export function runReduce(rt: Runtime, k: ReduceKernel, l: ReduceLaunch): void {
  checkPrims(rt, k.id, [k.map, k.combine, k.finalize]);
  const or = l.outer.length, ir = l.inner.length;
  const rows = numel(l.outer), len = numel(l.inner);
  const words = [...l.outer, ...l.inner, l.input.offset, ...l.input.strides, len, ...paramWords(k, l.params)];
  const n = k.scan ? rows * len : rows;
  const result = rt.launch(k.id, `rd|${k.id}|${or}|${ir}`, () => reduceSource(k, or, ir), n, [l.input.buffer as GBuffer, ...words]);
  // Scans write out's full shape, whose strides come in the same outer-then-inner order as the input's.
  rt.commit(k.id, k.scan ? reshaped(l.out, [...l.outer, ...l.inner], l.out.strides) : reshaped(l.out, l.outer, l.out.strides.slice(0, or)), result);
}

/** The complete source of a kernel with the helpers it calls (what `tessera codegen --backend gpujs` prints). */
export function withHelpers(src: string): string {
  return [...helpersFor(src), src].join('\n');
}
