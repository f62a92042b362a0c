/**
 * IR -> WGSL. A table from primitive to WGSL expression (the sibling of the JS and Rust emitters),
 * with the same C-like semantics: wrapping integer arithmetic, integer division by zero giving 0,
 * NaN-propagating max/min, round-half-even, Python-free C fmod. Where WGSL builtins leave results
 * undefined (pow of a negative base, tanh of large arguments, NaN tests that fast-math may fold), the
 * table calls helpers from HELPERS, written with bit-level NaN checks so no compiler can fold them.
 *
 * Types: float16 values are computed in f32 (loads widen, stores round), as PyTorch's CUDA "opmath"
 * does; int64 is held in 32 bits (WGSL has no 64-bit integers); uint8 and bool are stored one per u32
 * word so that neighbouring threads never share a word.
 */
import { type DType, DTypeError, type Expr, type Prim, isFloating, renderSsa, renderSsaAll } from '@tessera/ops';
import { HALF_TO_FLOAT, toHalf } from '@tessera/tensor';

/** WGSL type a dtype's values have inside expressions. */
const VALUE: Readonly<Record<DType, string | undefined>> = {
  float32: 'f32', float16: 'f32', int32: 'i32', int64: 'i32', uint8: 'u32', bool: 'bool', float64: undefined,
};
/** WGSL element type of a buffer holding a dtype. */
const STORAGE: Readonly<Record<DType, string | undefined>> = {
  float32: 'f32', float16: 'f16', int32: 'i32', int64: 'i32', uint8: 'u32', bool: 'u32', float64: undefined,
};

/** Bytes per element of a dtype in a WebGPU buffer (see STORAGE). */
export const STORAGE_BYTES: Readonly<Record<DType, number>> = { float32: 4, float16: 2, int32: 4, int64: 4, uint8: 4, bool: 4, float64: 8 };

export function valueType(d: DType): string {
  const t = VALUE[d];
  if (!t) throw new DTypeError('webgpu', `${d} is not supported: WGSL has no 64-bit floats; keep float64 tensors on 'cpu' or cast them with .float()`);
  return t;
}
export function storageType(d: DType): string {
  valueType(d);
  return STORAGE[d]!;
}

/** The value stored at `arr[idx]`, converted to its expression type. */
export function load(d: DType, access: string): string {
  if (d === 'bool') return `(${access} != 0u)`;
  if (d === 'float16') return `f32(${access})`;
  return access;
}
/** An expression-typed value converted to its storage type. */
export function storeValue(d: DType, v: string): string {
  if (d === 'bool') return `select(0u, 1u, ${v})`;
  if (d === 'float16') return `f16(${v})`;
  return v;
}

type Render = (a: readonly string[], dtype: DType, arg: DType) => string;
const sub = (template: string, a: readonly string[]) => template.replace(/\$(\d)/g, (_, i: string) => a[Number(i)]!);
/** Float / integer / uint8 variants of one primitive. */
const by = (float: string, int: string, u8 = int): Render => (a, _d, t) => sub(isFloating(t) ? float : t === 'uint8' ? u8 : int, a);
const builtin = (fn: string): Render => ([a]) => `${fn}(${a})`;
/** Integer identity, float builtin. */
const rounding = (fn: string): Render => ([a], _d, t) => (isFloating(t) ? `${fn}(${a})` : a!);
/**
 * Comparisons: WGSL orders no bools, so those compare as 0/1. Float comparisons spell out IEEE NaN
 * rules (only != holds for NaN), since WGSL lets compilers assume NaN away.
 */
const cmp = (op: string): Render => ([a, b], _d, t) => {
  if (t === 'bool' && op !== '==' && op !== '!=') return `(u32(${a}) ${op} u32(${b}))`;
  if (!isFloating(t)) return `(${a} ${op} ${b})`;
  return op === '!=' ? `(t_isnan(${a}) || t_isnan(${b}) || ${a} != ${b})` : `(!t_isnan(${a}) && !t_isnan(${b}) && ${a} ${op} ${b})`;
};
const zero = (t: DType) => (t === 'uint8' ? '0u' : '0i');

export const WGSL_OPS: Readonly<Record<Prim, Render>> = {
  neg: by('(-$0)', '(-$0)', '((0u - $0) & 255u)'),
  abs: by('abs($0)', 'abs($0)', '$0'),
  exp: builtin('exp'), log: builtin('log'), sqrt: builtin('sqrt'), sin: builtin('t_sin'), cos: builtin('t_cos'),
  tanh: builtin('t_tanh'), log1p: builtin('t_log1p'), expm1: builtin('t_expm1'),
  rsqrt: builtin('inverseSqrt'),
  recip: ([a]) => `(1.0 / ${a})`,
  // erf has no WGSL builtin: the IR's own decomposition is used (see render()).
  erf: () => { throw new Error('erf is decomposed before rendering'); },
  floor: rounding('floor'), ceil: rounding('ceil'), trunc: rounding('trunc'),
  // WGSL's round() is round-half-to-even, as the spec's rint.
  rint: rounding('round'),
  not: ([a]) => `(!${a})`,
  isnan: ([a], _d, t) => (isFloating(t) ? `t_isnan(${a})` : 'false'),
  add: (a, d) => (d === 'bool' ? `(${a[0]} || ${a[1]})` : d === 'uint8' ? `((${a[0]} + ${a[1]}) & 255u)` : `(${a[0]} + ${a[1]})`),
  sub: by('($0 - $1)', '($0 - $1)', '(($0 - $1) & 255u)'),
  mul: (a, d) => (d === 'bool' ? `(${a[0]} && ${a[1]})` : d === 'uint8' ? `((${a[0]} * ${a[1]}) & 255u)` : `(${a[0]} * ${a[1]})`),
  // Integer division by zero gives 0, as on the CPU backends.
  div: (a, _d, t) => (isFloating(t) ? `(${a[0]} / ${a[1]})` : `select(${a[0]} / ${a[1]}, ${zero(t)}, ${a[1]} == ${zero(t)})`),
  pow: (a, _d, t) => (isFloating(t) ? `t_pow(${a[0]}, ${a[1]})` : t === 'uint8' ? `(u32(t_ipow(i32(${a[0]}), i32(${a[1]}))) & 255u)` : `t_ipow(${a[0]}, ${a[1]})`),
  max: (a, _d, t) => (isFloating(t) ? `t_max(${a[0]}, ${a[1]})` : t === 'bool' ? `(${a[0]} || ${a[1]})` : `max(${a[0]}, ${a[1]})`),
  min: (a, _d, t) => (isFloating(t) ? `t_min(${a[0]}, ${a[1]})` : t === 'bool' ? `(${a[0]} && ${a[1]})` : `min(${a[0]}, ${a[1]})`),
  atan2: ([a, b]) => `t_atan2(${a}, ${b})`,
  fmod: (a, _d, t) => (isFloating(t) ? `t_fmod(${a[0]}, ${a[1]})` : `select(${a[0]} % ${a[1]}, ${zero(t)}, ${a[1]} == ${zero(t)})`),
  lt: cmp('<'), le: cmp('<='), gt: cmp('>'), ge: cmp('>='), eq: cmp('=='), ne: cmp('!='),
  and: ([a, b]) => `(${a} && ${b})`,
  or: ([a, b]) => `(${a} || ${b})`,
  where: ([c, a, b]) => `select(${b}, ${a}, ${c})`,
  cast: ([a], to, from) => castCode(a!, from, to),
};

/** C-style conversions; float -> int saturates (WGSL's rule) and NaN becomes 0. */
export function castCode(a: string, from: DType, to: DType): string {
  if (from === to) return a;
  // NaN is truthy.
  if (to === 'bool') return from === 'bool' ? a : isFloating(from) ? `(t_isnan(${a}) || ${a} != 0.0)` : `(${a} != ${from === 'uint8' ? '0u' : '0i'})`;
  if (from === 'bool') return isFloating(to) ? `select(0.0, 1.0, ${a})` : to === 'uint8' ? `select(0u, 1u, ${a})` : `select(0i, 1i, ${a})`;
  if (isFloating(to)) {
    // float16 values live in f32: narrowing rounds to the nearest half.
    const f = isFloating(from) ? a : `f32(${a})`;
    return to === 'float16' ? `f32(f16(${f}))` : f;
  }
  if (to === 'uint8') return isFloating(from) ? `(u32(t_toint(${a})) & 255u)` : `(u32(${a}) & 255u)`;
  return isFloating(from) ? `t_toint(${a})` : `i32(${a})`;
}

/** A WGSL literal of a dtype's expression type. Non-finite floats come from helpers (const NaN is an error in WGSL). */
export function literal(v: number, d: DType): string {
  valueType(d);
  if (d === 'bool') return v !== 0 ? 'true' : 'false';
  if (!isFloating(d)) {
    if (d === 'uint8') return `${Number.isFinite(v) ? (((Math.trunc(v) % 256) + 256) % 256) : v > 0 ? 255 : 0}u`;
    const i = Number.isFinite(v) ? Math.trunc(v) | 0 : v > 0 ? 2147483647 : -2147483648;
    return i === -2147483648 ? '(-2147483647i - 1i)' : i < 0 ? `(${i}i)` : `${i}i`;
  }
  const x = d === 'float16' ? HALF_TO_FLOAT[toHalf(v)]! : Math.fround(v);
  if (Number.isNaN(x)) return `t_nan()`;
  if (!Number.isFinite(x)) return x > 0 ? 't_inf()' : '(-t_inf())';
  if (Object.is(x, -0)) return '(-0.0f)';
  const s = String(Math.abs(x));
  return `${x < 0 ? '(-' : ''}${s}${/[.e]/.test(s) ? '' : '.0'}f${x < 0 ? ')' : ''}`;
}

/** Fractional bits of 2/pi in 32-bit words (computed here, from Machin's formula, not copied). */
const TWO_OVER_PI: readonly number[] = (() => {
  const bits = 32n * 12n + 64n;
  const one = 1n << bits;
  const atanInv = (n: bigint): bigint => {
    let sum = 0n, term = one / n, k = 1n, sign = 1n;
    const n2 = n * n;
    while (term !== 0n) { sum += sign * (term / k); term /= n2; k += 2n; sign = -sign; }
    return sum;
  };
  const pi = 16n * atanInv(5n) - 4n * atanInv(239n);
  const twoOverPi = (2n * one * one) / pi; // 2/pi scaled by 2^bits
  return Array.from({ length: 12 }, (_, i) => Number((twoOverPi >> (bits - 32n * BigInt(i + 1))) & 0xffffffffn));
})();
/**
 * pi/2 as a sum of three float32 values for Cody-Waite reduction: the first two keep 12 significant
 * bits, so k * P1 and k * P2 are exact for k < 2^12 without relying on a fused fma (WGSL's fma may
 * round twice).
 */
const PIO2: readonly string[] = (() => {
  const lowPart = 6.123233995736766e-17; // pi/2 - (the double nearest pi/2)
  const split = (v: number) => { const sc = 2 ** (11 - Math.floor(Math.log2(Math.abs(v)))); return Math.round(v * sc) / sc; };
  const p1 = split(Math.PI / 2), p2 = split(Math.PI / 2 - p1 + lowPart), p3 = Math.fround(Math.PI / 2 - p1 - p2 + lowPart);
  return [p1, p2, p3].map((v) => (v < 0 ? `(${v})` : `${v}`));
})();

/**
 * Helper functions (over f32; float16 is computed in f32). Non-finite constants come from private
 * variables so constant evaluation never sees them; NaN tests look at the bits.
 */
const HELPERS: Readonly<Record<string, string>> = {
  t_nan: 'var<private> T_NAN_BITS: u32 = 0x7fc00000u;\nfn t_nan() -> f32 { return bitcast<f32>(T_NAN_BITS); }',
  t_inf: 'var<private> T_INF_BITS: u32 = 0x7f800000u;\nfn t_inf() -> f32 { return bitcast<f32>(T_INF_BITS); }',
  t_isnan: 'fn t_isnan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }',
  t_isinf: 'fn t_isinf(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) == 0x7f800000u; }',
  t_max: 'fn t_max(a: f32, b: f32) -> f32 { if (t_isnan(a) || t_isnan(b)) { return a + b; } return max(a, b); }',
  t_min: 'fn t_min(a: f32, b: f32) -> f32 { if (t_isnan(a) || t_isnan(b)) { return a + b; } return min(a, b); }',
  // tanh(x) saturates to +-1 in f32 beyond |x| = 9.1; clamping keeps exp() inside the builtin finite.
  t_tanh: 'fn t_tanh(x: f32) -> f32 { if (t_isnan(x)) { return x; } return tanh(clamp(x, -15.0, 15.0)); }',
  // Accurate near 0 (Goldberg's trick): log(u) * (x / (u - 1)) with u = 1 + x; the ratio first, so
  // large x cannot overflow the product (log1p(1e38) = 87.5).
  t_log1p: `fn t_log1p(x: f32) -> f32 {
  let u = 1.0 + x;
  if (u == 1.0 || t_isnan(x)) { return x; }
  if (u < 0.0) { return t_nan(); }
  if (t_isinf(u) || u == 0.0) { return log(u); }
  return log(u) * (x / (u - 1.0));
}`,
  t_expm1: `fn t_expm1(x: f32) -> f32 {
  if (t_isnan(x) || abs(x) < 1e-5) { return x + 0.5 * x * x; }
  if (x > 88.0) { return exp(x); }
  let u = exp(x);
  if (u - 1.0 == -1.0) { return -1.0; }
  return (u - 1.0) * (x / log(u));
}`,
  // C pow: negative bases with integral exponents, zeros, infinities and NaN as IEEE 754 pow.
  t_pow: `fn t_pow(a: f32, b: f32) -> f32 {
  if (b == 0.0 || a == 1.0) { return 1.0; }
  if (t_isnan(a) || t_isnan(b)) { return a + b; }
  let ib = trunc(b) == b;
  let odd = ib && abs(b) < 16777216.0 && (i32(abs(b)) & 1) == 1;
  let m = abs(a);
  if (m == 0.0) {
    // pow(+-0, y): +-0 or +-inf, signed only for odd integer y.
    let r = select(0.0, t_inf(), b < 0.0);
    return select(r, t_copysign(r, a), odd);
  }
  if (a == -1.0 && t_isinf(b)) { return 1.0; }
  var r: f32;
  if (t_isinf(b)) { return select(select(0.0, t_inf(), b > 0.0), select(t_inf(), 0.0, b > 0.0), m < 1.0); }
  else if (t_isinf(m)) { r = select(0.0, t_inf(), b > 0.0); }
  else { r = exp2(b * log2(m)); }
  if (a < 0.0) {
    if (!ib) { return t_nan(); }
    if (odd) { return -r; }
  }
  return r;
}`,
  t_ipow: `fn t_ipow(a: i32, b: i32) -> i32 {
  if (b < 0) { return select(select(0i, select(1i, -1i, (b & 1) == 1), a == -1i), 1i, a == 1i); }
  var r = 1i; var base = a; var e = b;
  loop { if (e == 0) { break; } if ((e & 1) == 1) { r = r * base; } base = base * base; e = e >> 1u; }
  return r;
}`,
  // Exact C fmod by long division on the significands (a - b * trunc(a / b) is wrong once the quotient
  // passes 2^24). Subnormal operands are flushed, as WGSL permits.
  t_fmod: `fn t_fmod(a: f32, b: f32) -> f32 {
  if (t_isnan(a) || t_isnan(b) || t_isinf(a) || b == 0.0) { return t_nan(); }
  let ua = bitcast<u32>(a) & 0x7fffffffu; let ub = bitcast<u32>(b) & 0x7fffffffu;
  if (t_isinf(b) || ua < ub || ua < 0x00800000u) { return a; }
  if (ub < 0x00800000u) { return t_nan(); }
  var ea = i32(ua >> 23u); let eb = i32(ub >> 23u);
  var ma = (ua & 0x7fffffu) | 0x800000u; let mb = (ub & 0x7fffffu) | 0x800000u;
  loop {
    if (ea <= eb) { break; }
    if (ma >= mb) { ma -= mb; }
    ma = ma << 1u; ea -= 1;
  }
  if (ma >= mb) { ma -= mb; }
  let sign = bitcast<u32>(a) & 0x80000000u;
  if (ma == 0u) { return bitcast<f32>(sign); }
  loop { if (ma >= 0x800000u) { break; } ma = ma << 1u; ea -= 1; }
  if (ea <= 0) { return bitcast<f32>(sign); }
  return bitcast<f32>(sign | (u32(ea) << 23u) | (ma & 0x7fffffu));
}`,
  t_copysign: 'fn t_copysign(x: f32, s: f32) -> f32 { return bitcast<f32>((bitcast<u32>(x) & 0x7fffffffu) | (bitcast<u32>(s) & 0x80000000u)); }',
  // IEEE atan2 at zeros and infinities (the builtin leaves them undefined).
  t_atan2: `fn t_atan2(y: f32, x: f32) -> f32 {
  if (t_isnan(x) || t_isnan(y)) { return x + y; }
  let xneg = (bitcast<u32>(x) & 0x80000000u) != 0u;
  let pi = 3.14159265358979;
  if (y == 0.0) { return select(y, t_copysign(pi, y), xneg); }
  if (t_isinf(x)) {
    if (t_isinf(y)) { return t_copysign(select(0.785398163397448, 2.35619449019234, xneg), y); }
    return select(t_copysign(0.0, y), t_copysign(pi, y), xneg);
  }
  if (t_isinf(y) || x == 0.0) { return t_copysign(1.5707963267949, y); }
  return atan2(y, x);
}`,
  t_mulwide: `fn t_mulwide(a: u32, b: u32) -> vec2<u32> {
  let a0 = a & 0xffffu; let a1 = a >> 16u; let b0 = b & 0xffffu; let b1 = b >> 16u;
  let p00 = a0 * b0; let p01 = a0 * b1; let p10 = a1 * b0;
  let mid = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
  return vec2<u32>(a1 * b1 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u), (p00 & 0xffffu) | (mid << 16u));
}`,
  t_twooverpi: `var<private> T_2PI: array<u32, ${TWO_OVER_PI.length}> = array<u32, ${TWO_OVER_PI.length}>(${TWO_OVER_PI.map((w) => `0x${w.toString(16)}u`).join(', ')});
fn t_twooverpi(i: u32) -> u32 { return T_2PI[i]; }`,
  // sin and cos with argument reduction: Cody-Waite (pi/2 in three f32 parts) below 64,
  // Payne-Hanek (x's significand times a 96-bit window of 2/pi's bits) above. The builtins
  // are only accurate on [-pi, pi].
  t_sincos: `fn t_sincos(x: f32) -> vec2<f32> {
  if (t_isnan(x) || t_isinf(x)) { return vec2<f32>(t_nan(), t_nan()); }
  let ax = abs(x);
  var q = 0u; var r = ax;
  if (ax > 0.78539816) {
    if (ax < 64.0) {
      let k = round(ax * 0.63661977);
      r = ((ax - k * ${PIO2[0]}) - k * ${PIO2[1]}) - k * ${PIO2[2]};
      q = u32(k) & 3u;
    } else {
      let bits = bitcast<u32>(ax);
      let m = (bits & 0x7fffffu) | 0x800000u;
      let e = i32(bits >> 23u) - 150;
      let s = u32(max(e - 2, 0));
      let wj = s / 32u; let wr = s % 32u;
      var w: array<u32, 3>;
      for (var i = 0u; i < 3u; i++) {
        let hi = t_twooverpi(wj + i); let lo = t_twooverpi(wj + i + 1u);
        w[i] = select((hi << wr) | (lo >> (32u - wr)), hi, wr == 0u);
      }
      let p2 = t_mulwide(m, w[2]); let p1 = t_mulwide(m, w[1]); let p0 = t_mulwide(m, w[0]);
      var pw: array<u32, 5>;
      pw[0] = p2.y;
      pw[1] = p2.x + p1.y; let c1 = select(0u, 1u, pw[1] < p2.x);
      let t2 = p1.x + p0.y; let c2a = select(0u, 1u, t2 < p1.x);
      pw[2] = t2 + c1; let c2 = c2a + select(0u, 1u, pw[2] < t2);
      pw[3] = p0.x + c2; pw[4] = 0u;
      let t = u32(96 + i32(s) - e);
      let fpos = t - 32u;
      let fw = fpos / 32u; let fr = fpos % 32u;
      let frac = select((pw[fw] >> fr) | (pw[fw + 1u] << (32u - fr)), pw[fw], fr == 0u);
      let qw = t / 32u; let qr = t % 32u;
      q = (pw[qw] >> qr) & 3u;
      if (qr == 31u) { q = ((pw[qw] >> 31u) | (pw[qw + 1u] << 1u)) & 3u; }
      r = f32(frac) * 2.3283064e-10 * 1.5707963;
    }
  }
  let sn = sin(r); let cs = cos(r);
  var out: vec2<f32>;
  switch (q) {
    case 0u: { out = vec2<f32>(sn, cs); }
    case 1u: { out = vec2<f32>(cs, -sn); }
    case 2u: { out = vec2<f32>(-sn, -cs); }
    default: { out = vec2<f32>(-cs, sn); }
  }
  if (x < 0.0) { out.x = -out.x; }
  return out;
}`,
  t_sin: 'fn t_sin(x: f32) -> f32 { return t_sincos(x).x; }',
  t_cos: 'fn t_cos(x: f32) -> f32 { return t_sincos(x).y; }',
  // Saturating conversion with NaN -> 0 (WGSL leaves NaN unspecified).
  t_toint: 'fn t_toint(x: f32) -> i32 { if (t_isnan(x)) { return 0i; } return i32(clamp(x, -2147483648.0, 2147483520.0)); }',
};
/** Helpers that others call. */
const HELPER_DEPS: Readonly<Record<string, readonly string[]>> = {
  t_max: ['t_isnan'], t_min: ['t_isnan'], t_tanh: ['t_isnan'], t_log1p: ['t_isnan', 't_isinf', 't_nan'], t_expm1: ['t_isnan'],
  t_pow: ['t_isnan', 't_isinf', 't_inf', 't_nan', 't_copysign'], t_fmod: ['t_isnan', 't_isinf', 't_nan'], t_toint: ['t_isnan'],
  t_atan2: ['t_isnan', 't_isinf', 't_copysign'], t_sin: ['t_sincos'], t_cos: ['t_sincos'], t_sincos: ['t_isnan', 't_isinf', 't_nan', 't_twooverpi', 't_mulwide'],
};

/** The helper definitions `code` calls, dependencies first. */
export function helpersFor(code: string): string {
  const want = new Set<string>();
  const add = (name: string): void => {
    if (want.has(name)) return;
    for (const d of HELPER_DEPS[name] ?? []) add(d);
    want.add(name);
  };
  for (const name of Object.keys(HELPERS)) if (code.includes(`${name}(`)) add(name);
  return [...want].map((n) => HELPERS[n]).join('\n');
}

export interface Names {
  input(index: number): string;
  param(name: string): string;
}

/** Primitives the target has no function for, rendered through their IR decompositions. */
const LOWERED: ReadonlySet<Prim> = new Set<Prim>(['erf']);

/**
 * Renders an expression as SSA `let`s (one per distinct node, so shared subtrees run once) and
 * returns them with the name holding the result.
 */
export function emitExpr(root: Expr, names: Names, prefix = 't'): { code: string; result: string } {
  const { lines, result } = renderSsa(root, {
    literal, input: names.input, param: names.param,
    bind: (ref, e, args) => `let ${ref}: ${valueType(e.dtype)} = ${WGSL_OPS[e.op](args, e.dtype, e.args[0]!.dtype)};`,
  }, prefix, LOWERED);
  return { code: lines.join('\n  '), result };
}

/** Several expressions over the same names, computing what they share once. */
export function emitExprs(roots: readonly Expr[], names: Names, prefix = 't'): { code: string; results: string[] } {
  const { lines, results } = renderSsaAll(roots, {
    literal, input: names.input, param: names.param,
    bind: (ref, e, args) => `let ${ref}: ${valueType(e.dtype)} = ${WGSL_OPS[e.op](args, e.dtype, e.args[0]!.dtype)};`,
  }, prefix, LOWERED);
  return { code: lines.join('\n  '), results };
}

/** A launch parameter (stored as a 32-bit word in the meta buffer) converted to its expression type. */
export function paramLoad(d: DType, word: string): string {
  switch (valueType(d)) {
    case 'f32': return `bitcast<f32>(${word})`;
    case 'i32': return `bitcast<i32>(${word})`;
    case 'u32': return `(${word} & 255u)`;
    default: return `(${word} != 0u)`;
  }
}
