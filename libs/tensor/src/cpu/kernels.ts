/**
 * Compiles elementwise and reduction kernels to JS functions: one function per (kernel id, rank),
 * with the strided loop nest unrolled to that rank so the inner loop is a plain indexed walk.
 */
import { HALF_TO_FLOAT, toHalf } from '../float16.js';
import { scalar } from '@tessera/ops';
import type { ElementwiseKernel, ElementwiseLaunch, ReduceKernel, ReduceLaunch } from '../backend.js';
import { toBigInt } from '../typed.js';
import { emitExpr, emitExprs, literal, load, store } from './emit.js';

/** Runtime helpers visible to generated code as `H`. */
const H = { erf: scalar.erf, rint: scalar.rint, pow: scalar.cPow, ipow: scalar.ipow, h2f: HALF_TO_FLOAT, f2h: toHalf, i64: toBigInt };

type Compiled = (...args: unknown[]) => void;

function compile(params: string[], body: string): Compiled {
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  return new Function('H', `return function kernel(${params.join(', ')}) {\n${body}\n};`)(H) as Compiled;
}

/**
 * Nested loops over `rank` dims named `${tag}n{d}`, advancing one running index per operand
 * (`${op}${tag}{d}` by stride `${op}${tag}s{d}`). `body` gets the innermost index of each operand.
 */
function nest(rank: number, tag: string, ops: readonly string[], body: (idx: (op: string) => string) => string): string {
  let code = body((op) => `${op}${tag}${rank}`);
  for (let d = rank - 1; d >= 0; d--) {
    const enter = ops.map((op) => `let ${op}${tag}${d + 1} = ${op}${tag}${d};`).join(' ');
    const step = ops.map((op) => `${op}${tag}${d} += ${op}${tag}s${d};`).join(' ');
    code = `for (let i${tag}${d} = 0; i${tag}${d} < ${tag}n${d}; i${tag}${d}++) {\n${enter}\n${code}\n${step}\n}`;
  }
  return code;
}

/** Declares shape and per-operand stride locals for `nest` from the launch arrays. */
function unpack(rank: number, tag: string, shapeArr: string, ops: readonly { name: string; strides: string; from?: number }[]): string {
  const lines: string[] = [];
  for (let d = 0; d < rank; d++) {
    lines.push(`const ${tag}n${d} = ${shapeArr}[${d}];`);
    for (const op of ops) lines.push(`const ${op.name}${tag}s${d} = ${op.strides}[${(op.from ?? 0) + d}];`);
  }
  return lines.join('\n');
}

const cache = new Map<string, Compiled>();

function cached(key: string, make: () => Compiled): Compiled {
  let fn = cache.get(key);
  if (!fn) cache.set(key, (fn = make()));
  return fn;
}

/** The JS function body the CPU backend compiles for `k` at a launch rank (also what codegen prints for 'js'). */
export function elementwiseSource(k: ElementwiseKernel, rank: number): string {
  const ins = k.inputs.map((_, i) => `a${i}`);
  // Further outputs (compile's multi-output kernels) are stored through their own running indices, before `out`.
  const extra = (k.outputs ?? []).map((o, j) => ({ ...o, name: `q${j}` }));
  const ops = [{ name: 'o', strides: 'os' }, ...extra.map((e, j) => ({ name: e.name, strides: `qs[${j}]` })), ...ins.map((n, i) => ({ name: n, strides: `is[${i}]` }))];
  const expr = emitExprs([k.expr, ...extra.map((e) => e.expr)], { input: (i) => `x${i}`, param: (name) => `p_${name}` });
  const body = nest(rank, '', ops.map((o) => o.name), (idx) => [
    ...k.inputs.map((dt, i) => `const x${i} = ${load(`A${i}`, idx(`a${i}`), dt)};`),
    expr.code,
    ...extra.map((e, j) => store(`Q${j}`, idx(e.name), e.dtype, expr.results[j + 1]!)),
    store('O', idx('o'), k.out, expr.results[0]!),
  ].join('\n'));
  return [
    'const O = out.buffer, os = out.strides;',
    ...extra.map((_, j) => `const Q${j} = outs[${j}].buffer;`),
    extra.length ? `const qs = [${extra.map((_, j) => `outs[${j}].strides`).join(', ')}];` : '',
    ...ins.map((_, i) => `const A${i} = ins[${i}].buffer;`),
    `const is = [${ins.map((_, i) => `ins[${i}].strides`).join(', ')}];`,
    ...k.params.map((p, i) => `const p_${p} = params[${i}];`),
    unpack(rank, '', 'shape', ops),
    `let o0 = out.offset; ${extra.map((e, j) => `let ${e.name}0 = outs[${j}].offset;`).join(' ')} ${ins.map((n, i) => `let ${n}0 = ins[${i}].offset;`).join(' ')}`,
    body,
  ].join('\n');
}

/** Compiled functions per kernel object, indexed by rank: no key building on the hot path. */
const byKernel = new WeakMap<ElementwiseKernel, Compiled[]>();

export function runElementwise(k: ElementwiseKernel, l: ElementwiseLaunch): void {
  const rank = l.shape.length;
  let fns = byKernel.get(k);
  if (!fns) byKernel.set(k, (fns = []));
  const fn = (fns[rank] ??= cached(`${k.id}#${rank}`, () => compile(['shape', 'out', 'ins', 'params', 'outs'], elementwiseSource(k, rank))));
  fn(l.shape, l.out, l.inputs, l.params, l.outs);
}

/**
 * Reductions: the outer nest walks kept dims (and the output), the inner nest the reduced dims.
 * Index reductions track the row-major position of the best element; scans store every step.
 */
export function reduceSource(k: ReduceKernel, outerRank: number, innerRank: number): string {
  const names = (n: string[]) => ({ input: (i: number) => n[i]!, param: (p: string) => `p_${p}` });
  const mapE = emitExpr(k.map, names(['x']), 'm');
  const comb = emitExpr(k.combine, names(['acc', mapE.result]), 'c');
  const fin = emitExpr(k.finalize, names(['acc', 'count']), 'f');
  const better = k.better && emitExpr(k.better, names([mapE.result, 'acc']), 'b');
  const inner = nest(innerRank, 'r', k.scan ? ['x', 'o'] : ['x'], (idx) => [
    `const x = ${load('X', idx('x'), k.input)};`,
    mapE.code,
    better
      ? `${better.code}\nif (${better.result} !== 0) { acc = ${mapE.result}; best = pos; }\npos++;`
      : `${comb.code}\nacc = ${comb.result};`,
    k.scan ? store('O', idx('o'), k.out, 'acc') : '',
  ].join('\n'));
  const outer = nest(outerRank, '', ['x', 'o'], (idx) => [
    `let acc = ${literal(k.init)};`,
    better ? 'let best = 0, pos = 0;' : '',
    `let xr0 = ${idx('x')};`,
    k.scan ? `let or0 = ${idx('o')};` : '',
    inner,
    k.scan ? '' : better ? store('O', idx('o'), k.out, 'best') : `${fin.code}\n${store('O', idx('o'), k.out, fin.result)}`,
  ].join('\n'));
  return [
    'const X = input.buffer, xs = input.strides, O = out.buffer, os = out.strides;',
    ...k.params.map((p, i) => `const p_${p} = params[${i}];`),
    `const count = ${innerRank === 0 ? 1 : 'inner.reduce((a, b) => a * b, 1)'};`,
    unpack(outerRank, '', 'outer', [{ name: 'x', strides: 'xs' }, { name: 'o', strides: 'os' }]),
    unpack(innerRank, 'r', 'inner', [{ name: 'x', strides: 'xs', from: outerRank }, ...(k.scan ? [{ name: 'o', strides: 'os', from: outerRank }] : [])]),
    'let x0 = input.offset, o0 = out.offset;',
    outer,
  ].join('\n');
}

export function runReduce(k: ReduceKernel, l: ReduceLaunch): void {
  const key = `${k.id}#${l.outer.length}.${l.inner.length}`;
  const fn = cached(key, () => compile(['outer', 'inner', 'input', 'out', 'params'], reduceSource(k, l.outer.length, l.inner.length)));
  fn(l.outer, l.inner, l.input, l.out, l.params);
}
