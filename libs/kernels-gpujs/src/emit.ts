/**
 * IR -> gpu.js kernel code (its JavaScript subset, which gpu.js compiles to GLSL, WGSL, WebAssembly or
 * plain JS). A table from primitive to code, the sibling of the JS, WGSL and Rust emitters.
 *
 * Every value is a float32 (gpu.js has no other storage): bools are 0/1, and integer dtypes hold
 * integers exactly up to 2^24. Integer results past that are not representable, so they become NaN
 * ("poisoned") and reading an integer tensor that holds NaN raises a DTypeError instead of returning
 * a wrong number. uint8 wraps mod 256 exactly (its products stay far below 2^24).
 *
 * gpu.js has no NaN literal and compiles `Infinity` to FLT_MAX, so non-finite constants come from the
 * kernel arguments `nanv` and `infv`. Where GLSL leaves results loose (max/min with NaN, tanh of large
 * arguments, pow of negative bases, atan2 at zeros and infinities) the table calls HELPERS.
 */
import { type DType, DTypeError, type Expr, type Prim, isFloating, renderSsaAll } from '@tessera/ops';

/** Integers a float32 holds exactly: |v| <= 2^24. */
export const EXACT_INT = 16777216;

/** Dtypes a gpujs buffer can hold (as float32 values). */
export function checkDtype(op: string, d: DType): void {
  if (d === 'float64' || d === 'float16') {
    throw new DTypeError(op, `${d} is not supported on gpujs: gpu.js computes and stores float32 only; cast with .float() or keep the tensor on 'cpu'`);
  }
}

type Render = (a: readonly string[], dtype: DType, arg: DType) => string;

/** Integer results wrap (uint8) or are poisoned past 2^24 (int32, int64); bools are 0/1. */
function wrap(d: DType, code: string): string {
  switch (d) {
    case 'uint8': return `t_u8(${code})`;
    case 'int32': case 'int64': return `t_int(${code}, nanv)`;
    case 'bool': return `((${code}) != 0.0 ? 1.0 : 0.0)`;
    default: return `(${code})`;
  }
}
const math = (fn: string): Render => ([a]) => `Math.${fn}(${a})`;
const helper = (fn: string): Render => (a) => `${fn}(${a.join(', ')})`;
/** Integer identity, float function. */
const rounding = (fn: string): Render => ([a], _d, t) => (isFloating(t) ? fn.replace('$', a!) : a!);
/** Ordered comparisons spell out that NaN compares false (ANGLE's GLSL turns `a < b` into `!(a >= b)`). */
const cmp = (op: string): Render => ([a, b], _d, t) => (isFloating(t) ? `(${a} == ${a} && ${b} == ${b} && ${a} ${op} ${b} ? 1.0 : 0.0)` : `(${a} ${op} ${b} ? 1.0 : 0.0)`);

export const GPUJS_OPS: Readonly<Record<Prim, Render>> = {
  neg: ([a], d) => wrap(d, `-${a}`),
  abs: ([a], d) => wrap(d, `Math.abs(${a})`),
  exp: math('exp'), log: math('log'), sqrt: math('sqrt'), sin: math('sin'), cos: math('cos'),
  log1p: helper('t_log1p'), expm1: helper('t_expm1'), tanh: helper('t_tanh'),
  rsqrt: ([a]) => `(1.0 / Math.sqrt(${a}))`,
  recip: ([a]) => `(1.0 / ${a})`,
  // erf has no Math function in gpu.js: the IR's own decomposition is used (LOWERED).
  erf: () => { throw new Error('erf is decomposed before rendering'); },
  floor: rounding('Math.floor($)'), ceil: rounding('Math.ceil($)'), trunc: rounding('Math.trunc($)'),
  rint: rounding('t_rint($, infv)'),
  not: ([a]) => `(${a} == 0.0 ? 1.0 : 0.0)`,
  isnan: ([a]) => `(${a} != ${a} ? 1.0 : 0.0)`,
  add: ([a, b], d) => wrap(d, `${a} + ${b}`),
  sub: ([a, b], d) => wrap(d, `${a} - ${b}`),
  mul: ([a, b], d) => wrap(d, `${a} * ${b}`),
  // Integer division truncates, and by zero gives 0, as on the CPU backends.
  div: ([a, b], d) => (isFloating(d) ? `t_div(${a}, ${b})` : wrap(d, `t_idiv(${a}, ${b})`)),
  // Integer powers multiply exactly (GLSL's pow is exp2(y * log2(x)): 5^2 comes back as 24.99).
  pow: ([a, b], d, t) => wrap(d, isFloating(t) ? `t_pow(${a}, ${b}, nanv)` : `t_ipow(${a}, ${b})`),
  max: ([a, b]) => `t_max(${a}, ${b})`,
  min: ([a, b]) => `t_min(${a}, ${b})`,
  atan2: ([a, b]) => `t_atan2(${a}, ${b}, infv)`,
  fmod: ([a, b], d) => (isFloating(d) ? `t_fmod(${a}, ${b}, nanv)` : `(${b} == 0.0 ? 0.0 : ${a} - t_idiv(${a}, ${b}) * ${b})`),
  lt: cmp('<'), le: cmp('<='), gt: cmp('>'), ge: cmp('>='), eq: cmp('=='),
  // NaN is unequal to everything (spelled out: GLSL compilers may fold `a != b` as !(a == b)).
  ne: ([a, b]) => `(${a} != ${a} || ${b} != ${b} || ${a} != ${b} ? 1.0 : 0.0)`,
  and: ([a, b]) => `(${a} != 0.0 && ${b} != 0.0 ? 1.0 : 0.0)`,
  or: ([a, b]) => `(${a} != 0.0 || ${b} != 0.0 ? 1.0 : 0.0)`,
  where: ([c, a, b]) => `(${c} != 0.0 ? ${a} : ${b})`,
  cast: ([a], to, from) => castCode(a!, from, to),
};

/** C-style conversions: float -> integer truncates (NaN -> 0); NaN is truthy. */
export function castCode(a: string, from: DType, to: DType): string {
  if (from === to || isFloating(to)) return a;
  if (to === 'bool') return `(${a} != 0.0 || ${a} != ${a} ? 1.0 : 0.0)`;
  const int = isFloating(from) ? `(${a} != ${a} ? 0.0 : Math.trunc(${a}))` : a;
  return to === 'uint8' ? `t_u8(${int})` : from === 'uint8' || from === 'bool' ? int : wrap(to, int);
}

/** A literal of a dtype's value (float32, rounded as storage would); non-finite ones are kernel arguments. */
export function literal(v: number, d: DType): string {
  if (Number.isNaN(v)) return 'nanv';
  if (!Number.isFinite(v)) return v > 0 ? 'infv' : '(-infv)';
  const x = isFloating(d) ? Math.fround(v) : d === 'bool' ? (v !== 0 ? 1 : 0) : Math.trunc(v);
  if (Object.is(x, -0)) return '(-0.0)';
  const s = String(Math.abs(x));
  // gpu.js reads integer-valued literals as floats either way; a point keeps it obvious.
  return `${x < 0 ? '(-' : ''}${s}${/[.e]/.test(s) ? '' : '.0'}${x < 0 ? ')' : ''}`;
}

/** Helper functions in gpu.js's subset: each takes and returns numbers. */
export const HELPERS: Readonly<Record<string, string>> = {
  t_u8: 'function t_u8(x) { return x - Math.floor(x / 256.0) * 256.0; }',
  t_int: 'function t_int(x, nanv) { if (Math.abs(x) <= 16777216.0) { return x; } return nanv; }',
  // Truncated quotient of integers exactly (GLSL's float division may return 2.9999 for 9 / 3).
  t_idiv: `function t_idiv(a, b) {
  if (b == 0.0) { return 0.0; }
  const aa = Math.abs(a);
  const ab = Math.abs(b);
  let q = Math.floor(aa / ab + 0.5);
  if (q * ab > aa) { q = q - 1.0; }
  if ((a < 0.0) != (b < 0.0)) { return -q; }
  return q;
}`,
  t_max: 'function t_max(a, b) { if (a != a || b != b) { return a + b; } return Math.max(a, b); }',
  t_min: 'function t_min(a, b) { if (a != a || b != b) { return a + b; } return Math.min(a, b); }',
  // tanh saturates to +-1 in float32 beyond |x| = 9.1; clamping keeps the builtin's exp() finite.
  // Exactly ±1 past 9.1 (where float32 tanh rounds to ±1), also in the modes that compute in float64 JS.
  t_tanh: 'function t_tanh(x) { if (x != x) { return x; } if (x > 9.1) { return 1.0; } if (x < -9.1) { return -1.0; } return Math.tanh(x); }',
  // Accurate near 0 (Goldberg): log(u) * (x / (u - 1)) with u = 1 + x; the ratio first, so large x
  // cannot overflow the product (log1p(1e38) = 87.5).
  t_log1p: `function t_log1p(x) {
  const u = 1.0 + x;
  if (u == 1.0 || x != x) { return x; }
  if (u <= 0.0 || u > 3.0e38) { return Math.log(u); }
  return Math.log(u) * (x / (u - 1.0));
}`,
  t_expm1: `function t_expm1(x) {
  if (x != x) { return x; }
  if (Math.abs(x) < 0.00001) { return x + 0.5 * x * x; }
  if (x > 88.0) { return Math.exp(x); }
  const u = Math.exp(x);
  if (u - 1.0 == -1.0) { return -1.0; }
  return (u - 1.0) * (x / Math.log(u));
}`,
  // Round half to even (the spec's rint); Math.round rounds halves up.
  // A zero result keeps x's sign (round(-0.4) is -0): -1 / inf, since the compiler folds x * 0.0 to +0.
  t_rint: `function t_rint(x, infv) {
  const f = Math.floor(x);
  const d = x - f;
  let r = f + 1.0;
  if (d < 0.5) { r = f; }
  if (d == 0.5 && Math.floor(f * 0.5) * 2.0 == f) { r = f; }
  if (r == 0.0 && (x < 0.0 || 1.0 / x < 0.0)) { return -1.0 / infv; }
  return r;
}`,
  // a / b keeping the sign of a zero quotient (the GPU's refined reciprocal adds +0 to -0: -0 / 1 came back +0).
  t_div: `function t_div(a, b) {
  if (a == 0.0 && b == b && b != 0.0) { return a * Math.sign(b); }
  return a / b;
}`,
  // C pow: integral exponents of negative bases, zeros, infinities and NaN as IEEE 754 pow. (Flags are
  // 0/1 numbers: gpu.js's GLSL cannot assign a comparison to a variable it types as a float.) An
  // infinity is |v| > 3.4e38, not v - v != 0, which the GLSL compiler may fold to false; FLT_MAX
  // counts as infinite too, which gives the same pow results.
  t_pow: `function t_pow(a, b, nanv) {
  if (b == 0.0 || a == 1.0) { return 1.0; }
  if (a != a || b != b) { return a + b; }
  let ib = 0.0;
  if (Math.floor(b) == b) { ib = 1.0; }
  let odd = 0.0;
  const hb = Math.abs(b) * 0.5;
  if (ib == 1.0 && Math.abs(b) < 16777216.0 && Math.floor(hb) != hb) { odd = 1.0; }
  const m = Math.abs(a);
  let r = 0.0;
  if (m == 0.0) {
    if (b < 0.0) { r = 1.0 / m; }
    if (odd == 1.0 && 1.0 / a < 0.0) { return -r; }
    return r;
  }
  if (m == 1.0 && Math.abs(b) > 3.4e38) { return 1.0; }
  if (Math.abs(b) > 3.4e38) {
    if ((m < 1.0 && b > 0.0) || (m > 1.0 && b < 0.0)) { return 0.0; }
    return Math.abs(b);
  }
  // An infinite base: ±inf for b > 0, ±0 for b < 0, negative only for odd integer b (C's pow).
  if (m > 3.4e38) {
    if (b > 0.0) { r = m; }
    if (a < 0.0 && odd == 1.0) { return -r; }
    return r;
  }
  r = Math.pow(m, b);
  if (a < 0.0) {
    if (ib == 0.0) { return nanv; }
    if (odd == 1.0) { return -r; }
  }
  return r;
}`,
  // Integer power by squaring; negative exponents as C integers (only +-1 survive).
  t_ipow: `function t_ipow(a, b) {
  if (b < 0.0) {
    if (a == 1.0) { return 1.0; }
    if (a == -1.0) { if (Math.floor(b * 0.5) * 2.0 == b) { return 1.0; } return -1.0; }
    return 0.0;
  }
  let r = 1.0;
  let base = a;
  let e = b;
  for (let i = 0; i < 32; i++) {
    if (e <= 0.0) { break; }
    const h = Math.floor(e * 0.5);
    if (e - h * 2.0 == 1.0) { r = r * base; }
    base = base * base;
    e = h;
  }
  return r;
}`,
  // C fmod: a - b * trunc(a / b), with the quotient corrected so the remainder keeps a's sign and stays below |b|.
  t_fmod: `function t_fmod(a, b, nanv) {
  if (a != a || b != b || b == 0.0 || a - a != 0.0) { return nanv; }
  if (b - b != 0.0 || Math.abs(a) < Math.abs(b)) { return a; }
  const ab = Math.abs(b);
  let r = Math.abs(a);
  for (let i = 0; i < 64; i++) {
    if (r < ab) { break; }
    let q = Math.floor(r / ab);
    let s = r - q * ab;
    if (s < 0.0) { s = s + ab; }
    if (s >= ab) { s = s - ab; }
    r = s;
  }
  if (a < 0.0) { return -r; }
  return r;
}`,
  // IEEE atan2 at zeros and infinities (GLSL leaves them undefined).
  t_atan2: `function t_atan2(y, x, infv) {
  if (x != x || y != y) { return x + y; }
  const pi = 3.141592653589793;
  let sy = 1.0;
  if (y < 0.0 || (y == 0.0 && 1.0 / y < 0.0)) { sy = -1.0; }
  const xneg = x < 0.0 || (x == 0.0 && 1.0 / x < 0.0);
  if (y == 0.0) {
    if (xneg) { return sy * pi; }
    return y;
  }
  if (Math.abs(x) == infv) {
    if (Math.abs(y) == infv) {
      if (xneg) { return sy * 2.356194490192345; }
      return sy * 0.7853981633974483;
    }
    if (xneg) { return sy * pi; }
    return sy * 0.0;
  }
  if (Math.abs(y) == infv || x == 0.0) { return sy * 1.5707963267948966; }
  return Math.atan2(y, x);
}`,
};

/** The helper functions `code` calls (helpers call none of each other). */
export function helpersFor(code: string): string[] {
  return Object.keys(HELPERS).filter((n) => code.includes(`${n}(`)).map((n) => HELPERS[n]!);
}

export interface Names {
  input(index: number): string;
  param(name: string): string;
}

/** Primitives the target has no function for, rendered through their IR decompositions. */
const LOWERED: ReadonlySet<Prim> = new Set<Prim>(['erf']);

/**
 * Renders an expression as SSA statements (one `const` per distinct node, so shared subtrees run once)
 * and returns them with the name holding the result.
 */
export function emitExpr(root: Expr, names: Names, prefix = 't'): { code: string; result: string } {
  const { code, results } = emitExprs([root], names, prefix);
  return { code, result: results[0]! };
}

/** emitExpr of several roots (a kernel storing several results): what they share is computed once. */
export function emitExprs(roots: readonly Expr[], names: Names, prefix = 't'): { code: string; results: string[] } {
  const { lines, results } = renderSsaAll(roots, {
    literal, input: names.input, param: names.param,
    bind: (ref, e, args) => { checkDtype(e.op, e.dtype); return `const ${ref} = ${GPUJS_OPS[e.op](args, e.dtype, e.args[0]!.dtype)};`; },
  }, prefix, LOWERED);
  return { code: lines.join('\n  '), results };
}
