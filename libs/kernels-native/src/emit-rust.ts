/**
 * IR -> Rust. A table from primitive to Rust expression (the Rust sibling of the JS emitter), with
 * C-like integer semantics (wrapping arithmetic, truncating float->int casts) so every backend agrees.
 * Each kernel becomes a closure over element values that the engine's map1/map2/map3 loops apply.
 */
import type { ElementwiseKernel, ReduceKernel } from '@tessera/tensor';
import { type DType, type Expr, type Prim, isFloating, renderSsa } from '@tessera/ops';

/** Rust value type of a dtype inside expressions (bool as bool). */
const VALUE: Record<DType, string> = { float32: 'f32', float64: 'f64', float16: 'f32', int32: 'i32', int64: 'i64', uint8: 'u8', bool: 'bool' };
/** Rust storage type of a dtype (what the buffers hold). */
export const STORAGE: Record<DType, string> = { float32: 'f32', float64: 'f64', float16: 'u16', int32: 'i32', int64: 'i64', uint8: 'u8', bool: 'u8' };

export const supportedDtype = (d: DType): boolean => d !== 'float16';

type Render = (a: readonly string[], dtype: DType, arg: DType) => string;
const f = (isF: string, isI: string): Render => (a, _d, t) => (isFloating(t) ? isF : isI).replace(/\$(\d)/g, (_, i: string) => a[Number(i)]!);
const method = (m: string): Render => ([a]) => `${a}.${m}()`;
const cmp = (op: string): Render => ([a, b]) => `(${a} ${op} ${b})`;

export const RUST_OPS: Readonly<Record<Prim, Render>> = {
  neg: f('(-$0)', '$0.wrapping_neg()'),
  abs: (a, _d, t) => (t === 'uint8' ? a[0]! : isFloating(t) ? `${a[0]}.abs()` : `${a[0]}.wrapping_abs()`),
  // float32 exp, tanh and erf in straight-line arithmetic (rust/math.rs), so their loops vectorise; float64 keeps libm's.
  exp: ([a], d) => (d === 'float32' ? `crate::math::exp_f32(${a})` : `${a}.exp()`), log: method('ln'), log1p: method('ln_1p'), expm1: method('exp_m1'), sqrt: method('sqrt'),
  sin: method('sin'), cos: method('cos'),
  tanh: ([a], d) => (d === 'float32' ? `crate::math::tanh_f32(${a})` : `${a}.tanh()`),
  rsqrt: ([a], d) => `(1.0 as ${VALUE[d]} / ${a}.sqrt())`,
  recip: ([a], d) => `(1.0 as ${VALUE[d]} / ${a})`,
  erf: ([a], d) => (d === 'float64' ? `libm::erf(${a})` : `crate::math::erf_f32(${a})`),
  floor: f('$0.floor()', '$0'), ceil: f('$0.ceil()', '$0'), trunc: f('$0.trunc()', '$0'), rint: f('$0.round_ties_even()', '$0'),
  not: ([a]) => `(!${a})`,
  isnan: f('$0.is_nan()', 'false'),
  add: (a, d) => (d === 'bool' ? `(${a[0]} | ${a[1]})` : isFloating(d) ? `(${a[0]} + ${a[1]})` : `${a[0]}.wrapping_add(${a[1]})`),
  sub: f('($0 - $1)', '$0.wrapping_sub($1)'),
  mul: (a, d) => (d === 'bool' ? `(${a[0]} & ${a[1]})` : isFloating(d) ? `(${a[0]} * ${a[1]})` : `${a[0]}.wrapping_mul(${a[1]})`),
  // Integer division by zero gives 0 (as the JS backend's truncation of +-Inf does), never a panic.
  div: f('($0 / $1)', '(if $1 == 0 { 0 } else { $0.wrapping_div($1) })'),
  // Integer powers by squaring with wrapping multiplies (rust/math.rs), as torch's.
  pow: (a, d) => (isFloating(d) ? `${a[0]}.powf(${a[1]})` : `crate::math::ipow_${VALUE[d]}(${a[0]}, ${a[1]})`),
  max: f('crate::engine::fmaxp($0, $1)', '$0.max($1)'),
  min: f('crate::engine::fminp($0, $1)', '$0.min($1)'),
  atan2: ([a, b]) => `${a}.atan2(${b})`,
  fmod: f('($0 % $1)', '(if $1 == 0 { 0 } else { $0.wrapping_rem($1) })'),
  lt: cmp('<'), le: cmp('<='), gt: cmp('>'), ge: cmp('>='), eq: cmp('=='), ne: cmp('!='),
  and: ([a, b]) => `(${a} && ${b})`,
  or: ([a, b]) => `(${a} || ${b})`,
  where: ([c, a, b]) => `(if ${c} { ${a} } else { ${b} })`,
  cast: ([a], to, from) => castCode(a!, from, to),
};

function castCode(a: string, from: DType, to: DType): string {
  if (from === to) return a;
  if (to === 'bool') return isFloating(from) ? `(${a} != 0.0)` : `(${a} != 0)`;
  if (from === 'bool') return `(${a} as u8 as ${VALUE[to]})`;
  // float -> int truncates, then wraps to the width (NaN -> 0), as C on x86 and the JS backend.
  if (isFloating(from) && !isFloating(to)) return to === 'int64' ? `(${a} as i64)` : `(${a} as i64 as ${VALUE[to]})`;
  return `(${a} as ${VALUE[to]})`;
}

export function literal(v: number, d: DType): string {
  const t = VALUE[d];
  if (d === 'bool') return v !== 0 ? 'true' : 'false';
  if (!isFloating(d)) {
    if (!Number.isFinite(v)) return v > 0 ? `${t}::MAX` : `${t}::MIN`;
    // Wrap to the type's width, as the JS backend's stores do (-1 as uint8 is 255).
    const wrapped = d === 'uint8' ? ((v % 256) + 256) % 256 : d === 'int32' ? v | 0 : v;
    return `(${wrapped}${t})`;
  }
  if (Number.isNaN(v)) return `${t}::NAN`;
  if (!Number.isFinite(v)) return v > 0 ? `${t}::INFINITY` : `${t}::NEG_INFINITY`;
  if (Object.is(v, -0)) return `(-0.0${t})`;
  const s = String(v);
  return `(${s.includes('.') || s.includes('e') ? s : `${s}.0`}${t})`;
}

/** Renders an expression as SSA lets over named inputs; params become `p_<name>` bindings (in `params`). */
export function rustExpr(root: Expr, input: (i: number) => string, prefix: string, params: Map<string, DType>): { lines: string[]; result: string } {
  return renderSsa(root, {
    literal, input,
    param: (name, dtype) => { params.set(name, dtype); return `p_${name}`; },
    bind: (ref, e, args) => `let ${ref}: ${VALUE[e.dtype]} = ${RUST_OPS[e.op](args, e.dtype, e.args[0]!.dtype)};`,
  }, prefix);
}

/** `let p_x = ...;` for each param, read from the launch's f64 params in `order`. */
function paramPrelude(params: Map<string, DType>, order: readonly string[]): string {
  return [...params].map(([name, dt]) => {
    const idx = order.indexOf(name);
    // Integer params wrap like casts do (Rust's `as` alone would saturate -1.0 to 0u8).
    const conv = dt === 'bool' ? `p[${idx}] != 0.0` : isFloating(dt) ? `p[${idx}] as ${VALUE[dt]}` : `p[${idx}] as i64 as ${VALUE[dt]}`;
    return `let p_${name}: ${VALUE[dt]} = ${conv};`;
  }).join(' ');
}

const load = (d: DType, x: string): string => (d === 'bool' ? `${x} != 0` : x);

/** The Rust closure body for an elementwise kernel. */
export function rustKernel(k: ElementwiseKernel): { arity: number; types: string[]; out: string; prelude: string; body: string } {
  const params = new Map<string, DType>();
  const e = rustExpr(k.expr, (i) => `v${i}`, 't', params);
  const loads = k.inputs.map((d, i) => `let v${i}: ${VALUE[d]} = ${load(d, `x${i}`)};`);
  const store = k.out === 'bool' ? `${e.result} as u8` : e.result;
  return { arity: k.inputs.length, types: k.inputs.map((d) => STORAGE[d]), out: STORAGE[k.out], prelude: paramPrelude(params, k.params), body: [...loads, ...e.lines, store].join(' ') };
}

/** A reduction as engine call arguments: map, combine and finalize closures (or `better` for arg-reductions). */
export function rustReduce(k: ReduceKernel): string {
  const params = new Map<string, DType>();
  const acc = VALUE[k.map.dtype];
  const m = rustExpr(k.map, () => 'v', 'm', params);
  const st = STORAGE[k.input], out = STORAGE[k.out];
  const mapFn = `move |x: ${st}| -> ${acc} { let v: ${VALUE[k.input]} = ${load(k.input, 'x')}; ${m.lines.join(' ')} ${m.result} }`;
  if (k.better) {
    const b = rustExpr(k.better, (i) => (i === 0 ? 'cand' : 'best'), 'b', params);
    return `${paramPrelude(params, k.params)} engine::argreduce::<${st}, ${acc}>(l, ${literal(k.init, k.map.dtype)}, ${mapFn}, move |cand: ${acc}, best: ${acc}| -> bool { ${b.lines.join(' ')} ${b.result} })`;
  }
  const c = rustExpr(k.combine, (i) => (i === 0 ? 'acc' : 'x'), 'c', params);
  const f = rustExpr(k.finalize, (i) => (i === 0 ? 'acc' : 'count'), 'f', params);
  const store = k.out === 'bool' ? `${f.result} as u8` : f.result;
  const fn = k.scan ? 'scan' : 'reduce';
  return `${paramPrelude(params, k.params)} engine::${fn}::<${st}, ${acc}, ${out}>(l, ${literal(k.init, k.map.dtype)}, ${mapFn}, `
    + `move |acc: ${acc}, x: ${acc}| -> ${acc} { ${c.lines.join(' ')} ${c.result} }, `
    + `move |acc: ${acc}, count: ${acc}| -> ${out} { ${f.lines.join(' ')} ${store} })`;
}
