/**
 * The scalar expression IR every backend renders. Each node carries its dtype, fixed when the node is
 * built, so an emitter never infers types: it maps `op` to target code through a table (see PRIMS).
 * Nodes are immutable and shared by identity, so emitters get common-subexpression elimination by
 * memoising on the node object.
 */
import { type DType, isFloating } from './dtype.js';

/** One-argument primitives; `not` and `isnan` yield bool, the rest keep their argument's dtype. */
export type UnaryPrim =
  | 'neg' | 'abs' | 'exp' | 'log' | 'log1p' | 'expm1' | 'sqrt' | 'rsqrt' | 'sin' | 'cos' | 'tanh'
  | 'erf' | 'floor' | 'ceil' | 'rint' | 'trunc' | 'recip' | 'not' | 'isnan';
/** Two-argument primitives over one shared dtype; the comparisons, `and` and `or` yield bool. */
export type BinaryPrim =
  | 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'max' | 'min' | 'atan2' | 'fmod'
  | 'lt' | 'le' | 'gt' | 'ge' | 'eq' | 'ne' | 'and' | 'or';
/** Every primitive an op node can apply; each backend maps all of them to target code. */
export type Prim = UnaryPrim | BinaryPrim | 'where' | 'cast';

/** A node of the scalar IR: a leaf (literal, operand load, launch parameter) or a primitive applied to nodes. */
export type Expr =
  /** A literal; its dtype is that of the node it meets (a "weak" constant). */
  | {
    /** Tag of a literal leaf. */
    readonly kind: 'const';
    /** The dtype the literal is rendered in (taken from its sibling when built from a bare number). */
    readonly dtype: DType;
    /** The value, held as a JS double whatever the dtype. */
    readonly value: number;
  }
  /** The i-th tensor operand, loaded and already cast to `dtype`. */
  | {
    /** Tag of an operand load. */
    readonly kind: 'input';
    /** The dtype the element is cast to on load, which may differ from the tensor's storage dtype. */
    readonly dtype: DType;
    /** Position of the operand in the kernel's input list. */
    readonly index: number;
  }
  /** A named scalar parameter of the op (e.g. add's alpha), passed at launch, not baked in. */
  | {
    /** Tag of a launch parameter. */
    readonly kind: 'param';
    /** The dtype the parameter is passed in. */
    readonly dtype: DType;
    /** The parameter's name, as the op spec's `params` list spells it. */
    readonly name: string;
  }
  /** A primitive applied to argument nodes. */
  | {
    /** Tag of a primitive application. */
    readonly kind: 'op';
    /** The result dtype: bool for predicates, the target for `cast`, else the arguments' shared dtype. */
    readonly dtype: DType;
    /** The primitive applied; PRIMS gives its arity and type rule. */
    readonly op: Prim;
    /** The arguments in order (`where`: condition, then the two branches); `cast` reads its source dtype here. */
    readonly args: readonly Expr[];
  };

/** A builder argument: a node, or a bare number that becomes a constant of the other arguments' dtype. */
export type Arg = Expr | number;

/** How a primitive's result dtype follows from its (already unified) argument dtype. */
type TypeRule = 'same' | 'bool';

/** Static facts about one primitive, which builders check and emitters consult. */
export interface PrimInfo {
  /** Number of arguments (3 only for `where`). */
  readonly arity: 1 | 2 | 3;
  /** `'bool'` when the result is bool whatever the arguments; `'same'` when it keeps the arguments' dtype. */
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

/** The primitive table: arity, type rule, float-only flag and fallback decomposition of every Prim. */
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

/** A literal node of an explicit dtype (a bare number in a builder takes its sibling's dtype instead). */
export const constant = (value: number, dtype: DType): Expr => ({ kind: 'const', dtype, value });
/** A load of tensor operand `index`, read as `dtype` (emitters convert from the operand's storage dtype). */
export const input = (index: number, dtype: DType): Expr => ({ kind: 'input', dtype, index });
/** A scalar read from the launch's named parameters, so kernels differing only in it share one compile. */
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

/** Builds -x in x's dtype (integers wrap, as C: -INT_MIN is INT_MIN). */
export const neg = un('neg');
/** Builds |x| in x's dtype (integers wrap, as C: abs(INT_MIN) is INT_MIN). */
export const abs = un('abs');
/** Builds e^x; float-only (throws when built on an integer or bool node). */
export const exp = un('exp');
/** Builds the natural log of x (-inf at 0, NaN below); float-only. */
export const log = un('log');
/** Builds log(1 + x), accurate near 0; float-only (decomposed to log(1 + x) where the target lacks it). */
export const log1p = un('log1p');
/** Builds e^x - 1, accurate near 0; float-only (decomposed to exp(x) - 1 where the target lacks it). */
export const expm1 = un('expm1');
/** Builds the square root of x (NaN below 0); float-only. */
export const sqrt = un('sqrt');
/** Builds 1 / sqrt(x), as torch.rsqrt; float-only. */
export const rsqrt = un('rsqrt');
/** Builds sin(x), x in radians; float-only. */
export const sin = un('sin');
/** Builds cos(x), x in radians; float-only. */
export const cos = un('cos');
/** Builds tanh(x); float-only. */
export const tanh = un('tanh');
/** Builds erf(x), the Gauss error function; float-only (decomposed to erfApprox where the target has none). */
export const erf = un('erf');
/** Builds x rounded toward -inf; the identity on integer dtypes. */
export const floor = un('floor');
/** Builds x rounded toward +inf; the identity on integer dtypes. */
export const ceil = un('ceil');
/** Builds x rounded to the nearest integer, halves to even (as torch.round); the identity on integer dtypes. */
export const rint = un('rint');
/** Builds x rounded toward zero; the identity on integer dtypes. */
export const trunc = un('trunc');
/** Builds 1 / x, as torch.reciprocal; float-only. */
export const recip = un('recip');
/** Builds the bool `x == 0` (logical not). */
export const not = un('not');
/** Builds the bool `x != x`, true where x is NaN (always false on integer dtypes). */
export const isnan = un('isnan');
/** Builds a + b over one dtype (integers wrap, as C; on bool it is or). */
export const add = bin('add');
/** Builds a - b over one dtype (integers wrap, as C). */
export const sub = bin('sub');
/** Builds a * b over one dtype (integers wrap, as C; on bool it is and). */
export const mul = bin('mul');
/** Builds a / b: true division on floats, truncating on integers, where dividing by 0 gives 0. */
export const div = bin('div');
/** Builds a^b: C pow on floats (pow(1, y) = 1); on integers by squaring, a negative b giving 0 unless a is 1 or -1. */
export const pow = bin('pow');
/** Builds max(a, b), NaN-propagating (torch.maximum, not C's fmax). */
export const max = bin('max');
/** Builds min(a, b), NaN-propagating (torch.minimum, not C's fmin). */
export const min = bin('min');
/** Builds atan2(a, b), the angle of the point (b, a) in radians; float-only. */
export const atan2 = bin('atan2');
/** Builds C's fmod(a, b), whose result has the dividend's sign; 0 for an integer divisor of 0. */
export const fmod = bin('fmod');
/** Builds the bool a < b; false where either is NaN. */
export const lt = bin('lt');
/** Builds the bool a <= b; false where either is NaN. */
export const le = bin('le');
/** Builds the bool a > b; false where either is NaN. */
export const gt = bin('gt');
/** Builds the bool a >= b; false where either is NaN. */
export const ge = bin('ge');
/** Builds the bool a == b; false where either is NaN. */
export const eq = bin('eq');
/** Builds the bool a != b; true where either is NaN. */
export const ne = bin('ne');
/** Builds the bool that is true where a and b are both nonzero. */
export const and = bin('and');
/** Builds the bool that is true where a or b is nonzero. */
export const or = bin('or');

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

/** The primitive-application variant of Expr, which SsaTarget.bind renders. */
export type OpExpr = Extract<Expr, {
  /** Selects the primitive-application variant. */
  kind: 'op';
}>;

/** What a target emitter supplies to renderSsa: how it spells leaves, and the statement binding an op. */
export interface SsaTarget {
  /** Target code for a literal of `dtype` (NaN, infinities and -0 included). */
  literal(value: number, dtype: DType): string;
  /** Target code naming the already loaded and converted operand `index`. */
  input(index: number): string;
  /** Target code reading the launch parameter `name`. */
  param(name: string, dtype: DType): string;
  /** The statement binding `name` to op node `e`, given the names of its arguments. */
  bind(name: string, e: OpExpr, args: readonly string[]): string;
}

/**
 * Renders an expression as SSA statements, one per distinct op node (so shared subtrees are computed
 * once), after lowering the primitives the target lacks: the statements and the name of the result.
 * Every emitter (JS, Rust, WGSL, gpu.js) is this walk plus its table.
 */
export function renderSsa(root: Expr, target: SsaTarget, prefix = 't', missing?: ReadonlySet<Prim>): {
  /** The binding statements, in dependency order. */
  lines: string[];
  /** The code naming the root's value: a statement's name, or a leaf's code when the root has no op. */
  result: string;
} {
  const { lines, results } = renderSsaAll([root], target, prefix, missing);
  return { lines, result: results[0]! };
}

/** renderSsa of several roots at once (a kernel with several outputs): what they share is computed once. */
export function renderSsaAll(roots: readonly Expr[], target: SsaTarget, prefix = 't', missing?: ReadonlySet<Prim>): {
  /** The binding statements of all roots, in dependency order. */
  lines: string[];
  /** The code naming each root's value, in the order of `roots`. */
  results: string[];
} {
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
