/**
 * The scalar expression IR every backend renders. Each node carries its dtype, fixed when the node is
 * built, so an emitter never infers types: it maps `op` to target code through a table (see PRIMS).
 * Nodes are immutable and shared by identity, so emitters get common-subexpression elimination by
 * memoising on the node object.
 */
import { type DType, isFloating } from './dtype.js';

export type UnaryPrim =
  | 'neg' | 'abs' | 'exp' | 'log' | 'log1p' | 'expm1' | 'sqrt' | 'rsqrt' | 'sin' | 'cos' | 'tanh'
  | 'erf' | 'floor' | 'ceil' | 'rint' | 'trunc' | 'recip' | 'not' | 'isnan';
export type BinaryPrim =
  | 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'max' | 'min' | 'atan2' | 'fmod'
  | 'lt' | 'le' | 'gt' | 'ge' | 'eq' | 'ne' | 'and' | 'or';
export type Prim = UnaryPrim | BinaryPrim | 'where' | 'cast';

export type Expr =
  /** A literal; its dtype is that of the node it meets (a "weak" constant). */
  | { readonly kind: 'const'; readonly dtype: DType; readonly value: number }
  /** The i-th tensor operand, loaded and already cast to `dtype`. */
  | { readonly kind: 'input'; readonly dtype: DType; readonly index: number }
  /** A named scalar parameter of the op (e.g. add's alpha), passed at launch, not baked in. */
  | { readonly kind: 'param'; readonly dtype: DType; readonly name: string }
  | { readonly kind: 'op'; readonly dtype: DType; readonly op: Prim; readonly args: readonly Expr[] };

export type Arg = Expr | number;

/** How a primitive's result dtype follows from its (already unified) argument dtype. */
type TypeRule = 'same' | 'bool';

export interface PrimInfo {
  readonly arity: 1 | 2 | 3;
  readonly type: TypeRule;
  /** Float-only math: integer arguments are a spec bug, caught when the node is built. */
  readonly floatOnly?: boolean;
  /**
   * A definition in terms of other primitives, for emitters whose target lacks the op (WGSL has no
   * erf, log1p or expm1). Emitters that have it natively ignore this.
   */
  readonly decompose?: (...args: Expr[]) => Expr;
}

const f = (p: Omit<PrimInfo, 'floatOnly'>): PrimInfo => ({ ...p, floatOnly: true });

export const PRIMS: Readonly<Record<Prim, PrimInfo>> = {
  neg: { arity: 1, type: 'same' },
  abs: { arity: 1, type: 'same' },
  exp: f({ arity: 1, type: 'same' }),
  log: f({ arity: 1, type: 'same' }),
  // log1p/expm1 decompositions lose precision near 0; emitters use them only when the target lacks the op.
  log1p: f({ arity: 1, type: 'same', decompose: (x) => log(add(1, x)) }),
  expm1: f({ arity: 1, type: 'same', decompose: (x) => sub(exp(x), 1) }),
  sqrt: f({ arity: 1, type: 'same' }),
  rsqrt: f({ arity: 1, type: 'same', decompose: (x) => div(1, sqrt(x)) }),
  sin: f({ arity: 1, type: 'same' }),
  cos: f({ arity: 1, type: 'same' }),
  tanh: f({ arity: 1, type: 'same' }),
  erf: f({ arity: 1, type: 'same', decompose: erfApprox }),
  floor: { arity: 1, type: 'same' },
  ceil: { arity: 1, type: 'same' },
  /** Round half to even. */
  rint: { arity: 1, type: 'same' },
  trunc: { arity: 1, type: 'same' },
  recip: f({ arity: 1, type: 'same', decompose: (x) => div(1, x) }),
  not: { arity: 1, type: 'bool' },
  isnan: { arity: 1, type: 'bool' },
  add: { arity: 2, type: 'same' },
  sub: { arity: 2, type: 'same' },
  mul: { arity: 2, type: 'same' },
  /** True division for floats; truncating division for integers (C semantics). */
  div: { arity: 2, type: 'same' },
  pow: { arity: 2, type: 'same' },
  /** NaN-propagating (torch.maximum), unlike C's fmax. */
  max: { arity: 2, type: 'same' },
  min: { arity: 2, type: 'same' },
  atan2: f({ arity: 2, type: 'same' }),
  /** C fmod: the result has the sign of the dividend. */
  fmod: { arity: 2, type: 'same' },
  lt: { arity: 2, type: 'bool' },
  le: { arity: 2, type: 'bool' },
  gt: { arity: 2, type: 'bool' },
  ge: { arity: 2, type: 'bool' },
  eq: { arity: 2, type: 'bool' },
  ne: { arity: 2, type: 'bool' },
  and: { arity: 2, type: 'bool' },
  or: { arity: 2, type: 'bool' },
  where: { arity: 3, type: 'same' },
  cast: { arity: 1, type: 'same' },
};

export const constant = (value: number, dtype: DType): Expr => ({ kind: 'const', dtype, value });
export const input = (index: number, dtype: DType): Expr => ({ kind: 'input', dtype, index });
export const param = (name: string, dtype: DType): Expr => ({ kind: 'param', dtype, name });

function node(op: Prim, dtype: DType, args: readonly Expr[]): Expr {
  return { kind: 'op', op, dtype, args };
}

/** Gives literals the dtype of the first Expr among the arguments (weak typing of constants). */
function unify(op: Prim, args: readonly Arg[]): Expr[] {
  const typed = args.find((a): a is Expr => typeof a !== 'number');
  if (!typed) throw new Error(`IR ${op}: needs at least one typed operand`);
  const exprs = args.map((a) => (typeof a === 'number' ? constant(a, typed.dtype) : a));
  for (const e of exprs) {
    if (e.dtype !== typed.dtype) throw new Error(`IR ${op}: mixed dtypes ${e.dtype} and ${typed.dtype}; insert a cast`);
  }
  if (PRIMS[op].floatOnly && !isFloating(typed.dtype)) throw new Error(`IR ${op}: needs a floating dtype, got ${typed.dtype}`);
  return exprs;
}

function build(op: Prim, args: readonly Arg[]): Expr {
  const exprs = unify(op, args);
  return node(op, PRIMS[op].type === 'bool' ? 'bool' : exprs[0]!.dtype, exprs);
}

const un = (op: UnaryPrim) => (x: Expr): Expr => build(op, [x]);
const bin = (op: BinaryPrim) => (a: Arg, b: Arg): Expr => build(op, [a, b]);

export const neg = un('neg'), abs = un('abs'), exp = un('exp'), log = un('log'), log1p = un('log1p');
export const expm1 = un('expm1'), sqrt = un('sqrt'), rsqrt = un('rsqrt'), sin = un('sin'), cos = un('cos');
export const tanh = un('tanh'), erf = un('erf'), floor = un('floor'), ceil = un('ceil'), rint = un('rint');
export const trunc = un('trunc'), recip = un('recip'), not = un('not'), isnan = un('isnan');
export const add = bin('add'), sub = bin('sub'), mul = bin('mul'), div = bin('div'), pow = bin('pow');
export const max = bin('max'), min = bin('min'), atan2 = bin('atan2'), fmod = bin('fmod');
export const lt = bin('lt'), le = bin('le'), gt = bin('gt'), ge = bin('ge'), eq = bin('eq'), ne = bin('ne');
export const and = bin('and'), or = bin('or');

/** `cond ? a : b`; the condition must be bool, the branches share a dtype. */
export function where(cond: Expr, a: Arg, b: Arg): Expr {
  if (cond.dtype !== 'bool') throw new Error(`IR where: condition must be bool, got ${cond.dtype}`);
  const [x, y] = unify('where', [a, b]);
  return node('where', x!.dtype, [cond, x!, y!]);
}

/** Value conversion with C semantics (float -> int truncates; nonzero -> true). */
export function cast(x: Expr, dtype: DType): Expr {
  return x.dtype === dtype ? x : node('cast', dtype, [x]);
}

/**
 * erf for targets without one: Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), enough for float32
 * and float16 but not float64 — backends with float64 must provide erf natively.
 */
function erfApprox(x: Expr): Expr {
  const a = abs(x);
  const t = div(1, add(1, mul(0.3275911, a)));
  const poly = mul(t, add(0.254829592, mul(t, add(-0.284496736, mul(t, add(1.421413741, mul(t, add(-1.453152027, mul(t, 1.061405429)))))))));
  const y = sub(1, mul(poly, exp(neg(mul(a, a)))));
  return where(lt(x, 0), neg(y), y);
}

/** Post-order walk visiting each distinct node once (by identity), of one root or several (a kernel with several outputs). */
export function topoSort(roots: Expr | readonly Expr[]): Expr[] {
  const seen = new Set<Expr>();
  const order: Expr[] = [];
  const visit = (e: Expr): void => {
    if (seen.has(e)) return;
    seen.add(e);
    if (e.kind === 'op') e.args.forEach(visit);
    order.push(e);
  };
  for (const r of Array.isArray(roots) ? (roots as readonly Expr[]) : [roots as Expr]) visit(r);
  return order;
}

/**
 * Replaces the primitives a target lacks by their IR decompositions (e.g. erf for WGSL and gpu.js),
 * memoised by node identity so shared subtrees stay shared.
 */
export function lowerPrims(root: Expr, missing: ReadonlySet<Prim>, memo = new Map<Expr, Expr>()): Expr {
  const hit = memo.get(root);
  if (hit) return hit;
  let out = root;
  if (root.kind === 'op') {
    const args = root.args.map((a) => lowerPrims(a, missing, memo));
    const decompose = missing.has(root.op) ? (PRIMS[root.op] as { decompose?: (...a: Expr[]) => Expr }).decompose : undefined;
    if (decompose) out = lowerPrims(decompose(...args), missing, memo);
    else out = args.every((a, i) => a === root.args[i]) ? root : { ...root, args };
  }
  memo.set(root, out);
  return out;
}

export type OpExpr = Extract<Expr, { kind: 'op' }>;

/** What a target emitter supplies to renderSsa: how it spells leaves, and the statement binding an op. */
export interface SsaTarget {
  literal(value: number, dtype: DType): string;
  input(index: number): string;
  param(name: string, dtype: DType): string;
  /** The statement binding `name` to op node `e`, given the names of its arguments. */
  bind(name: string, e: OpExpr, args: readonly string[]): string;
}

/**
 * Renders an expression as SSA statements, one per distinct op node (so shared subtrees are computed
 * once), after lowering the primitives the target lacks: the statements and the name of the result.
 * Every emitter (JS, Rust, WGSL, gpu.js) is this walk plus its table.
 */
export function renderSsa(root: Expr, target: SsaTarget, prefix = 't', missing?: ReadonlySet<Prim>): { lines: string[]; result: string } {
  const { lines, results } = renderSsaAll([root], target, prefix, missing);
  return { lines, result: results[0]! };
}

/** renderSsa of several roots at once (a kernel with several outputs): what they share is computed once. */
export function renderSsaAll(roots: readonly Expr[], target: SsaTarget, prefix = 't', missing?: ReadonlySet<Prim>): { lines: string[]; results: string[] } {
  const memo = new Map<Expr, Expr>();
  const lowered = missing?.size ? roots.map((r) => lowerPrims(r, missing, memo)) : roots;
  const ids = new Map<Expr, string>();
  const lines: string[] = [];
  for (const e of topoSort(lowered)) {
    let ref: string;
    if (e.kind === 'const') ref = target.literal(e.value, e.dtype);
    else if (e.kind === 'input') ref = target.input(e.index);
    else if (e.kind === 'param') ref = target.param(e.name, e.dtype);
    else {
      ref = `${prefix}${ids.size}`;
      lines.push(target.bind(ref, e, e.args.map((a) => ids.get(a)!)));
    }
    ids.set(e, ref);
  }
  return { lines, results: lowered.map((r) => ids.get(r)!) };
}
