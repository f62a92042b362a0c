/**
 * IR -> JavaScript. A table from primitive to code (as tinygrad's renderers), plus per-dtype load,
 * store and wrap rules. All values are JS doubles: integer results are wrapped to their width after
 * each op, bools are 0/1.
 */
import { type DType, type Expr, type Prim, isFloating, renderSsaAll } from '@tessera/ops';

type Render = (a: readonly string[], dtype: DType, argType: DType) => string;

/** Integer wrap-around after arithmetic, so int32/uint8 behave like C on every backend. */
const wrap = (dtype: DType, code: string): string => {
  switch (dtype) {
    case 'int32': return `((${code}) | 0)`;
    case 'uint8': return `((${code}) & 255)`;
    case 'bool': return `((${code}) !== 0 ? 1 : 0)`;
    default: return code;
  }
};
const math = (fn: string): Render => ([a]) => `Math.${fn}(${a})`;
const intIdentity = (fn: string): Render => ([a], d) => (isFloating(d) ? `Math.${fn}(${a})` : a!);
const cmp = (op: string): Render => ([a, b]) => `(${a} ${op} ${b} ? 1 : 0)`;

export const JS_OPS: Readonly<Record<Prim, Render>> = {
  neg: ([a], d) => wrap(d, `-${a}`),
  abs: ([a], d) => wrap(d, `Math.abs(${a})`),
  exp: math('exp'), log: math('log'), log1p: math('log1p'), expm1: math('expm1'), sqrt: math('sqrt'),
  sin: math('sin'), cos: math('cos'), tanh: math('tanh'),
  rsqrt: ([a]) => `(1 / Math.sqrt(${a}))`,
  recip: ([a]) => `(1 / ${a})`,
  erf: ([a]) => `H.erf(${a})`,
  floor: intIdentity('floor'), ceil: intIdentity('ceil'), trunc: intIdentity('trunc'),
  rint: ([a], d) => (isFloating(d) ? `H.rint(${a})` : a!),
  not: ([a]) => `(${a} === 0 ? 1 : 0)`,
  isnan: ([a]) => `(${a} !== ${a} ? 1 : 0)`,
  add: ([a, b], d) => wrap(d, `${a} + ${b}`),
  sub: ([a, b], d) => wrap(d, `${a} - ${b}`),
  mul: ([a, b], d) => (d === 'int32' ? `Math.imul(${a}, ${b})` : wrap(d, `${a} * ${b}`)),
  div: ([a, b], d) => (isFloating(d) ? `(${a} / ${b})` : wrap(d, `Math.trunc(${a} / ${b})`)),
  // Integer powers by squaring with the dtype's wrapping multiply, as torch's (a double pow loses bits past 2^53).
  pow: ([a, b], d) => (isFloating(d) ? `H.pow(${a}, ${b})` : `H.ipow(${a}, ${b}, ${JSON.stringify(d)})`),
  max: ([a, b]) => `Math.max(${a}, ${b})`,
  min: ([a, b]) => `Math.min(${a}, ${b})`,
  atan2: ([a, b]) => `Math.atan2(${a}, ${b})`,
  fmod: ([a, b], d) => (isFloating(d) ? `(${a} % ${b})` : `((${a} % ${b}) || 0)`),
  lt: cmp('<'), le: cmp('<='), gt: cmp('>'), ge: cmp('>='), eq: cmp('==='), ne: cmp('!=='),
  and: ([a, b]) => `(${a} !== 0 && ${b} !== 0 ? 1 : 0)`,
  or: ([a, b]) => `(${a} !== 0 || ${b} !== 0 ? 1 : 0)`,
  where: ([c, a, b]) => `(${c} !== 0 ? ${a} : ${b})`,
  cast: ([a], to, from) => castCode(a!, from, to),
};

/** C-style conversion; JS numbers are doubles, so only narrowing to an integer type needs code. */
function castCode(a: string, from: DType, to: DType): string {
  if (to === 'bool') return `(${a} !== 0 ? 1 : 0)`;
  if (isFloating(to)) return a;
  if (to === 'int32') return `(${a} | 0)`;
  if (to === 'uint8') return `(${a} & 255)`;
  // int64 from float truncates; NaN has no integer value and becomes 0.
  return isFloating(from) ? `(Math.trunc(${a}) || 0)` : a;
}

export function literal(v: number): string {
  if (Object.is(v, -0)) return '-0';
  if (Number.isNaN(v)) return 'NaN';
  return v < 0 ? `(${v})` : String(v);
}

/** Expression to load element `idx` of array `arr` holding `dtype`, as a JS number. */
export function load(arr: string, idx: string, dtype: DType): string {
  if (dtype === 'int64') return `Number(${arr}[${idx}])`;
  if (dtype === 'float16') return `H.h2f[${arr}[${idx}]]`;
  return `${arr}[${idx}]`;
}

/** Statement storing number `v` into `arr[idx]` of `dtype`. */
export function store(arr: string, idx: string, dtype: DType, v: string): string {
  if (dtype === 'int64') return `${arr}[${idx}] = H.i64(${v});`;
  if (dtype === 'float16') return `${arr}[${idx}] = H.f2h(${v});`;
  if (dtype === 'bool') return `${arr}[${idx}] = ${v} !== 0 ? 1 : 0;`;
  return `${arr}[${idx}] = ${v};`;
}

export interface Names {
  input(index: number): string;
  param(name: string): string;
}

/**
 * Renders an expression as SSA statements (one `const` per distinct node, so shared subtrees are
 * computed once) and returns them with the name holding the result.
 */
export function emitExpr(root: Expr, names: Names, prefix = 't'): { code: string; result: string } {
  const { code, results } = emitExprs([root], names, prefix);
  return { code, result: results[0]! };
}

/** emitExpr of several roots (a kernel with several outputs), sharing what they have in common. */
export function emitExprs(roots: readonly Expr[], names: Names, prefix = 't'): { code: string; results: string[] } {
  const { lines, results } = renderSsaAll(roots, {
    literal: (v) => literal(v), input: names.input, param: names.param,
    bind: (ref, e, args) => `const ${ref} = ${JS_OPS[e.op](args, e.dtype, e.args[0]!.dtype)};`,
  }, prefix);
  return { code: lines.join('\n'), results };
}
