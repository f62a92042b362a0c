/**
 * IR -> CUDA C. A table from primitive to CUDA C expression, the sibling of the Rust, WGSL and JS
 * emitters, with the same semantics: wrapping integer arithmetic (through unsigned types, since
 * signed overflow is undefined in C++), integer division by zero giving 0, NaN-propagating max/min,
 * round-half-even rint, C fmod and pow, saturating float -> integer casts (PTX's cvt.rzi saturates
 * and maps NaN to 0, as Rust's `as`). NVRTC compiles without fast-math, so the CUDA math library's
 * IEEE results (sinf's full range reduction, exact sqrtf and division) hold.
 *
 * Types: float16 is stored as its 16 bits and computed in float (loads widen, stores round to
 * nearest even with PTX cvt), as PyTorch's "opmath"; bool and uint8 are bytes; int64 is 64-bit.
 */
import { type DType, type Expr, type Prim, isFloating, renderSsa } from '@tessera/ops';
import { HALF_TO_FLOAT, toHalf } from '@tessera/tensor';

/** CUDA C type a dtype's values have inside expressions. */
export const VALUE: Readonly<Record<DType, string>> = {
  float32: 'float', float64: 'double', float16: 'float', int32: 'int', int64: 'long long', uint8: 'unsigned char', bool: 'bool',
};
/** CUDA C element type of a buffer holding a dtype. */
export const STORAGE: Readonly<Record<DType, string>> = {
  float32: 'float', float64: 'double', float16: 'unsigned short', int32: 'int', int64: 'long long', uint8: 'unsigned char', bool: 'unsigned char',
};

/** The value stored at `access`, converted to its expression type. */
export function load(d: DType, access: string): string {
  if (d === 'bool') return `(${access} != 0)`;
  if (d === 'float16') return `t_h2f(${access})`;
  return access;
}
/** An expression-typed value converted to its storage type. */
export function storeValue(d: DType, v: string): string {
  if (d === 'bool') return `(unsigned char)(${v} ? 1 : 0)`;
  if (d === 'float16') return `t_f2h(${v})`;
  return v;
}

/** The unsigned type of the same width, through which signed arithmetic wraps. */
const UNSIGNED: Partial<Record<DType, string>> = { int32: 'unsigned', int64: 'unsigned long long' };

/** `a op b` wrapping at the dtype's width. */
function wrapping(op: '+' | '-' | '*', a: string, b: string, d: DType): string {
  const u = UNSIGNED[d];
  if (u) return `((${VALUE[d]})((${u})${a} ${op} (${u})${b}))`;
  if (d === 'uint8') return `((unsigned char)(${a} ${op} ${b}))`;
  return `(${a} ${op} ${b})`;
}

/** Float math: the `f`-suffixed function for float (and float16, computed in float), the plain one for double. */
const math = (fn: string): Render => ([a], d) => `${fn}${d === 'float64' ? '' : 'f'}(${a})`;
const math2 = (fn: string): Render => ([a, b], d) => `${fn}${d === 'float64' ? '' : 'f'}(${a}, ${b})`;
/** Integer identity, float math function. */
const rounding = (fn: string): Render => (a, d, t) => (isFloating(t) ? math(fn)(a, d, t) : a[0]!);
const one = (d: DType) => (d === 'float64' ? '1.0' : '1.0f');

type Render = (a: readonly string[], dtype: DType, arg: DType) => string;

export const CUDA_OPS: Readonly<Record<Prim, Render>> = {
  neg: ([a], d) => (isFloating(d) ? `(-${a})` : wrapping('-', '0', a!, d)),
  abs: ([a], d) => (isFloating(d) ? math('fabs')([a!], d, d) : d === 'uint8' || d === 'bool' ? a! : `(${a} < 0 ? ${wrapping('-', '0', a!, d)} : ${a})`),
  exp: math('exp'), log: math('log'), log1p: math('log1p'), expm1: math('expm1'), sqrt: math('sqrt'),
  sin: math('sin'), cos: math('cos'), tanh: math('tanh'), erf: math('erf'),
  // 1 / sqrt rather than rsqrtf (2 ulp): sqrt and division are correctly rounded without fast-math.
  rsqrt: ([a], d) => `(${one(d)} / ${math('sqrt')([a!], d, d)})`,
  recip: ([a], d) => `(${one(d)} / ${a})`,
  floor: rounding('floor'), ceil: rounding('ceil'), trunc: rounding('trunc'),
  rint: rounding('rint'),
  not: ([a]) => `(!${a})`,
  isnan: ([a], _d, t) => (isFloating(t) ? `(${a} != ${a})` : 'false'),
  add: ([a, b], d) => (d === 'bool' ? `(${a} || ${b})` : wrapping('+', a!, b!, d)),
  sub: ([a, b], d) => wrapping('-', a!, b!, d),
  mul: ([a, b], d) => (d === 'bool' ? `(${a} && ${b})` : wrapping('*', a!, b!, d)),
  div: ([a, b], d) => (isFloating(d) ? `(${a} / ${b})` : `t_idiv(${a}, ${b})`),
  // Integer powers by squaring with wrapping multiplies, as torch's (and the Rust and JS emitters').
  pow: ([a, b], d) => (isFloating(d) ? math2('pow')([a!, b!], d, d) : `t_ipow(${a}, ${b})`),
  max: ([a, b], d) => (isFloating(d) ? `t_max(${a}, ${b})` : d === 'bool' ? `(${a} || ${b})` : `(${a} > ${b} ? ${a} : ${b})`),
  min: ([a, b], d) => (isFloating(d) ? `t_min(${a}, ${b})` : d === 'bool' ? `(${a} && ${b})` : `(${a} < ${b} ? ${a} : ${b})`),
  atan2: math2('atan2'),
  fmod: ([a, b], d) => (isFloating(d) ? math2('fmod')([a!, b!], d, d) : `t_irem(${a}, ${b})`),
  lt: ([a, b]) => `(${a} < ${b})`, le: ([a, b]) => `(${a} <= ${b})`, gt: ([a, b]) => `(${a} > ${b})`,
  ge: ([a, b]) => `(${a} >= ${b})`, eq: ([a, b]) => `(${a} == ${b})`, ne: ([a, b]) => `(${a} != ${b})`,
  and: ([a, b]) => `(${a} && ${b})`,
  or: ([a, b]) => `(${a} || ${b})`,
  where: ([c, a, b]) => `(${c} ? ${a} : ${b})`,
  cast: ([a], to, from) => castCode(a!, from, to),
};

/** C-style conversions between expression types (float16 values narrow by rounding to half). */
export function castCode(a: string, from: DType, to: DType): string {
  if (from === to) return a;
  // NaN is truthy.
  if (to === 'bool') return isFloating(from) ? `(${a} != 0)` : `(${a} != 0)`;
  if (from === 'bool') return `((${VALUE[to]})(${a} ? 1 : 0))`;
  if (to === 'float16') return from === 'float64' ? `t_h2f(t_d2h(${a}))` : `t_h2f(t_f2h((float)${a}))`;
  if (isFloating(to)) return `((${VALUE[to]})${a})`;
  // float -> integer: truncate, saturating at 64 bits (NaN -> 0), then wrap to the width.
  if (isFloating(from)) return to === 'int64' ? `((long long)${a})` : `((${VALUE[to]})(long long)${a})`;
  return `((${VALUE[to]})${a})`;
}

/** A CUDA C literal of a dtype's expression type; non-finite floats are bit patterns. */
export function literal(v: number, d: DType): string {
  if (d === 'bool') return v !== 0 ? 'true' : 'false';
  if (!isFloating(d)) {
    if (d === 'uint8') return `((unsigned char)${Number.isFinite(v) ? (((Math.trunc(v) % 256) + 256) % 256) : v > 0 ? 255 : 0})`;
    if (d === 'int32') {
      const i = Number.isFinite(v) ? Math.trunc(v) | 0 : v > 0 ? 2147483647 : -2147483648;
      return i === -2147483648 ? '(-2147483647 - 1)' : `(${i})`;
    }
    const big = Number.isFinite(v) ? BigInt.asIntN(64, BigInt(Math.trunc(v))) : v > 0 ? (1n << 63n) - 1n : -(1n << 63n);
    return big === -(1n << 63n) ? '(-9223372036854775807LL - 1)' : `(${big}LL)`;
  }
  if (d === 'float64') {
    if (Number.isNaN(v)) return '__longlong_as_double(0x7ff8000000000000LL)';
    if (!Number.isFinite(v)) return v > 0 ? '__longlong_as_double(0x7ff0000000000000LL)' : '__longlong_as_double(0xfff0000000000000LL)';
    if (Object.is(v, -0)) return '(-0.0)';
    const s = String(v);
    return `(${/[.e]/.test(s) ? s : `${s}.0`})`;
  }
  const x = d === 'float16' ? HALF_TO_FLOAT[toHalf(v)]! : Math.fround(v);
  if (Number.isNaN(x)) return '__int_as_float(0x7fc00000)';
  if (!Number.isFinite(x)) return x > 0 ? '__int_as_float(0x7f800000)' : '__int_as_float(0xff800000)';
  if (Object.is(x, -0)) return '(-0.0f)';
  const s = String(x);
  return `(${/[.e]/.test(s) ? s : `${s}.0`}f)`;
}

/**
 * Helper functions, overloaded per type. The float16 conversions are PTX cvt instructions, so no
 * header (cuda_fp16.h) is needed and NVRTC compiles the kernels standalone.
 */
const HELPERS: Readonly<Record<string, string>> = {
  t_h2f: '__device__ __forceinline__ float t_h2f(unsigned short h) { float f; asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h)); return f; }',
  t_f2h: '__device__ __forceinline__ unsigned short t_f2h(float f) { unsigned short h; asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f)); return h; }',
  t_d2h: '__device__ __forceinline__ unsigned short t_d2h(double f) { unsigned short h; asm("cvt.rn.f16.f64 %0, %1;" : "=h"(h) : "d"(f)); return h; }',
  // NaN-propagating, the first NaN winning, as the CPU backends' fmaxp/fminp.
  t_max: `__device__ __forceinline__ float t_max(float a, float b) { return a != a ? a : b != b ? b : a > b ? a : b; }
__device__ __forceinline__ double t_max(double a, double b) { return a != a ? a : b != b ? b : a > b ? a : b; }`,
  t_min: `__device__ __forceinline__ float t_min(float a, float b) { return a != a ? a : b != b ? b : a < b ? a : b; }
__device__ __forceinline__ double t_min(double a, double b) { return a != a ? a : b != b ? b : a < b ? a : b; }`,
  // Division by zero gives 0; MIN / -1 wraps to MIN (Rust's wrapping_div).
  t_idiv: `__device__ __forceinline__ int t_idiv(int a, int b) { return b == 0 ? 0 : b == -1 ? (int)(0u - (unsigned)a) : a / b; }
__device__ __forceinline__ long long t_idiv(long long a, long long b) { return b == 0 ? 0 : b == -1 ? (long long)(0ull - (unsigned long long)a) : a / b; }
__device__ __forceinline__ unsigned char t_idiv(unsigned char a, unsigned char b) { return b == 0 ? 0 : a / b; }`,
  t_ipow: `__device__ __forceinline__ long long t_ipow_(long long a, long long b, int bits) {
  if (b < 0) return a == 1 ? 1 : a == -1 ? ((b & 1) ? -1 : 1) : 0;
  unsigned long long r = 1, base = (unsigned long long)a, mask = bits == 64 ? ~0ull : (1ull << bits) - 1;
  while (b > 0) { if (b & 1) r = (r * base) & mask; base = (base * base) & mask; b >>= 1; }
  return (long long)r;
}
__device__ __forceinline__ int t_ipow(int a, int b) { return (int)t_ipow_(a, b, 32); }
__device__ __forceinline__ long long t_ipow(long long a, long long b) { return t_ipow_(a, b, 64); }
__device__ __forceinline__ unsigned char t_ipow(unsigned char a, unsigned char b) { return (unsigned char)t_ipow_(a, b, 8); }`,
  t_irem: `__device__ __forceinline__ int t_irem(int a, int b) { return b == 0 || b == -1 ? 0 : a % b; }
__device__ __forceinline__ long long t_irem(long long a, long long b) { return b == 0 || b == -1 ? 0 : a % b; }
__device__ __forceinline__ unsigned char t_irem(unsigned char a, unsigned char b) { return b == 0 ? 0 : a % b; }`,
};

/** The helper definitions `code` calls. */
export function helpersFor(code: string): string {
  return Object.keys(HELPERS).filter((n) => code.includes(`${n}(`)).map((n) => HELPERS[n]).join('\n');
}

export interface Names {
  input(index: number): string;
  param(name: string): string;
}

/**
 * Renders an expression as SSA `const`s (one per distinct node, so shared subtrees run once) and
 * returns them with the name holding the result.
 */
export function emitExpr(root: Expr, names: Names, prefix = 't'): { code: string; result: string } {
  const { lines, result } = renderSsa(root, {
    literal, input: names.input, param: names.param,
    bind: (ref, e, args) => `const ${VALUE[e.dtype]} ${ref} = ${CUDA_OPS[e.op](args, e.dtype, e.args[0]!.dtype)};`,
  }, prefix);
  return { code: lines.join('\n    '), result };
}

/** A scalar launch parameter (passed as a double) converted to its IR dtype, as the Rust emitter's `p as i64 as T`. */
export function paramLoad(d: DType, word: string): string {
  if (d === 'bool') return `(${word} != 0.0)`;
  if (d === 'float64') return word;
  if (isFloating(d)) return d === 'float16' ? `t_h2f(t_d2h(${word}))` : `((float)${word})`;
  return castCode(word, 'float64', d);
}
