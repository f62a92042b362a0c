/**
 * Op spec records. A spec is data plus typed IR builders; backends render the IR, the conformance
 * suite draws inputs from `sample` and compares with `ref` under `tol`.
 */
import { DTypeError } from './errors.js';
import { type DType, DEFAULT_FLOAT, DTYPE_SETS, type DTypeSet, isFloating } from './dtype.js';
import { type Expr } from './ir.js';
import type { GradRule } from './grad.js';
import { type Operand, resultType } from './promote.js';

/** Closeness bound: a result passes when `|got - want| <= atol + rtol * |want|`, as torch.allclose. */
export interface Tolerance {
  /** Relative tolerance. */
  readonly rtol: number;
  /** Absolute tolerance, which is what matters near zero. */
  readonly atol: number;
}
/** Per-output-dtype overrides of DEFAULT_TOL for one op. */
export type Tolerances = Partial<Record<DType, Tolerance>>;

/** Default comparison tolerances against the float64 reference, by output dtype. */
export const DEFAULT_TOL: Readonly<Record<DType, Tolerance>> = {
  float64: { rtol: 1e-12, atol: 1e-12 },
  float32: { rtol: 1e-5, atol: 1e-6 },
  float16: { rtol: 2e-3, atol: 1e-3 },
  int64: { rtol: 0, atol: 0 },
  int32: { rtol: 0, atol: 0 },
  uint8: { rtol: 0, atol: 0 },
  bool: { rtol: 0, atol: 0 },
};

/** How conformance draws inputs. */
export interface Sample {
  /** Closed range for finite values (per operand for binary ops when given as a list). */
  readonly domain?: readonly [number, number] | readonly (readonly [number, number])[];
  /** Mix in NaN, +-Inf, +-0 and subnormals (default true). */
  readonly specials?: boolean;
}

/**
 * How result and compute dtypes follow from the promoted operand dtype:
 * - promote: compute and return the promoted dtype (add, mul, maximum, ...)
 * - float:   integers/bool are computed in the default float dtype (exp, sigmoid, div, ...)
 * - compare: compute in the promoted dtype, return bool (lt, eq, ...)
 * - logical: operands are read as bool, return bool (logicalAnd, ...)
 */
export type ResultRule = 'promote' | 'float' | 'compare' | 'logical';

/** A named scalar parameter of an op (add's alpha, norm's p), passed at launch rather than compiled in. */
export interface ParamSpec {
  /** The value used when the caller does not give one. */
  readonly default: number;
  /** Closed range conformance draws the parameter from for float dtypes (default `[-2, 2]`). */
  readonly sample?: readonly [number, number];
}

/**
 * An elementwise op as data: its dtype rule, its scalar IR, a float64 reference and per-operand gradient
 * rules. Backends render `expr`; the dispatcher handles broadcasting, scalars and dtype conversion.
 */
export interface ElementwiseSpec {
  /** Discriminant of OpSpec. */
  readonly kind: 'elementwise';
  /** The op's public name, as errors and the registry use it. */
  readonly name: string;
  /** Number of operands (tensors or scalars). */
  readonly arity: 1 | 2 | 3;
  /** The promoted operand dtype must be in this set. */
  readonly accepts: DTypeSet;
  /** How result and compute dtypes follow from the promoted operand dtype. */
  readonly result: ResultRule;
  /** `where`: operand 0 is a bool condition and takes no part in promotion. */
  readonly condition?: boolean;
  /** Named scalar parameters, in the order they are passed at launch. */
  readonly params?: Readonly<Record<string, ParamSpec>>;
  /** Builds the op's IR from its operands (already in the compute dtype) and params; the result is cast to `out`. */
  readonly expr: (args: readonly Expr[], params: Readonly<Record<string, Expr>>) => Expr;
  /** float64 oracle, written independently of `expr`. */
  readonly ref: (args: readonly number[], params: Readonly<Record<string, number>>) => number;
  /** Per-operand gradient formulas; absent for ops with bool/integer results or zero derivative a.e. */
  readonly grad?: GradRule;
  /**
   * Operand values an integral computation has no result for, refused as PyTorch refuses them:
   * 'zero' anywhere in the operand (integer division by zero), or 'negativeScalar' (a negative
   * integer power given as a scalar; a tensor exponent follows C and gives 0, as torch's).
   */
  readonly integralDomain?: {
    /** Index of the operand that is checked (the divisor, the exponent). */
    readonly operand: number;
    /** Which values are refused. */
    readonly refuse: 'zero' | 'negativeScalar';
  };
  /** No operand may be bool, whatever the promoted dtype (torch's sub: "with a bool tensor is not supported"). */
  readonly refuseBool?: boolean;
  /** Tensor operands must share one dtype, no promotion (torch's lerp). */
  readonly sameDtype?: boolean;
  /** How conformance draws this op's inputs. */
  readonly sample: Sample;
  /** Tolerance overrides against `ref`; DEFAULT_TOL applies to dtypes not listed. */
  readonly tol: Tolerances;
}

/** The dtypes one elementwise call works in, from elementwiseTypes. */
export interface ElementwiseTypes {
  /** dtype each operand is cast to when loaded. */
  readonly inputs: readonly DType[];
  /** dtype the IR computes in. */
  readonly compute: DType;
  /** dtype of the result tensor (bool for comparisons and logical ops). */
  readonly out: DType;
}

/** Resolves an elementwise op's dtypes once per call; throws DTypeError naming the op. */
export function elementwiseTypes(spec: ElementwiseSpec, operands: readonly Operand[]): ElementwiseTypes {
  if (spec.refuseBool && operands.some((o) => (o.kind === 'tensor' ? o.dtype === 'bool' : typeof o.value === 'boolean'))) {
    throw new DTypeError(spec.name, 'is not supported with a bool operand; for masks use logicalNot() or logicalXor()');
  }
  if (spec.sameDtype) {
    const ds = [...new Set(operands.filter((o) => o.kind === 'tensor').map((o) => (o as { dtype: DType }).dtype))];
    if (ds.length > 1) throw new DTypeError(spec.name, `expects tensors of one dtype, got ${ds.join(' and ')}`);
  }
  const promoted = resultType(spec.condition ? operands.slice(1) : operands);
  if (spec.condition) {
    const c = operands[0]!;
    const cd = c.kind === 'tensor' ? c.dtype : 'bool';
    if (cd !== 'bool') throw new DTypeError(spec.name, `condition must be bool, got ${cd}`);
  }
  if (!(DTYPE_SETS[spec.accepts] as readonly DType[]).includes(promoted)) {
    const got = operands.map((o) => (o.kind === 'tensor' ? o.dtype : typeof o.value)).join(', ');
    throw new DTypeError(spec.name, `does not support dtype ${promoted} (operands: ${got}); expected one of ${DTYPE_SETS[spec.accepts].join(', ')}`);
  }
  const compute = spec.result === 'logical' ? 'bool' : spec.result === 'float' && !isFloating(promoted) ? DEFAULT_FLOAT : promoted;
  const out = spec.result === 'compare' || spec.result === 'logical' ? 'bool' : compute;
  const inputs = operands.map((_, i) => (spec.condition && i === 0 ? 'bool' : compute));
  return { inputs, compute, out };
}

/**
 * Reductions. Primitive ones carry init/map/combine/finalize in IR; composite ones (var, std,
 * logsumexp) are defined in terms of primitive tensor ops by the tensor library and carry only the
 * shared dtype rule and reference.
 */
export type ReduceResult = 'same' | 'float' | 'widen' | 'index';

/** A reduction or scan as data: dtype rule, accumulator IR (for primitive ones) and a float64 reference. */
export interface ReduceSpec {
  /** Discriminant of OpSpec. */
  readonly kind: 'reduce';
  /** The op's public name, as errors and the registry use it. */
  readonly name: string;
  /** The input dtype must be in this set. */
  readonly accepts: DTypeSet;
  /** same: input dtype; float: ints/bool become the default float; widen: bool/ints -> int64 (sum, prod); index: int64 positions. */
  readonly result: ReduceResult;
  /** argmax/argmin/cumsum reduce over one dim (or the flattened tensor), not a set of dims. */
  readonly singleDim?: boolean;
  /** Reducing zero elements is an error (amax of an empty tensor has no value). */
  readonly needsElements?: boolean;
  /** Named scalar parameters (norm's p, var's correction). */
  readonly params?: Readonly<Record<string, ParamSpec>>;
  /** The accumulator's starting value, the identity of `combine` (0 for sum, -Infinity for amax); default 0. */
  readonly init?: number;
  /** Applied to each element before combining (norm's |x|^p); the identity when absent. */
  readonly map?: (x: Expr, params: Readonly<Record<string, Expr>>) => Expr;
  /** Folds one mapped element into the accumulator; must be associative, as backends combine in any order. */
  readonly combine?: (acc: Expr, x: Expr) => Expr;
  /** Turns the accumulator into the result, given the number of elements reduced (mean divides by it). */
  readonly finalize?: (acc: Expr, count: Expr, params: Readonly<Record<string, Expr>>) => Expr;
  /** Index reductions: is candidate `x` better than the current `best`? Ties keep the first. */
  readonly better?: (x: Expr, best: Expr) => Expr;
  /** float64 oracle: the result for one reduced slice, given its elements in order. */
  readonly ref: (xs: readonly number[], params: Readonly<Record<string, number>>) => number;
  /** How conformance draws this op's inputs. */
  readonly sample: Sample;
  /** Tolerance overrides against `ref`; DEFAULT_TOL applies to dtypes not listed. */
  readonly tol: Tolerances;
}

/** The accumulate and result dtypes of a reduction over `input`; throws DTypeError if the spec does not accept it. */
export function reduceTypes(spec: ReduceSpec, input: DType): {
  /** dtype the accumulator works in. */
  compute: DType;
  /** dtype of the result tensor. */
  out: DType;
} {
  if (!(DTYPE_SETS[spec.accepts] as readonly DType[]).includes(input)) {
    throw new DTypeError(spec.name, `does not support dtype ${input}; expected one of ${DTYPE_SETS[spec.accepts].join(', ')}`);
  }
  switch (spec.result) {
    case 'same': return { compute: input, out: input };
    case 'float': return isFloating(input) ? { compute: input, out: input } : { compute: DEFAULT_FLOAT, out: DEFAULT_FLOAT };
    case 'widen': return isFloating(input) ? { compute: input, out: input } : { compute: 'int64', out: 'int64' };
    case 'index': return { compute: input, out: 'int64' };
  }
}

/** Routines: hand-written kernels per backend, but one shared shape/dtype rule and reference. */
export interface RoutineSpec {
  /** Discriminant of OpSpec. */
  readonly kind: 'routine';
  /** The op's public name, as errors and the registry use it. */
  readonly name: string;
  /** The input dtypes the routine supports. */
  readonly accepts: DTypeSet;
  /** How conformance draws this routine's inputs. */
  readonly sample: Sample;
  /** Tolerance overrides against the routine's reference; DEFAULT_TOL applies to dtypes not listed. */
  readonly tol: Tolerances;
}

/** Any op spec; `kind` tells which. */
export type OpSpec = ElementwiseSpec | ReduceSpec | RoutineSpec;

/** The comparison tolerance for `spec`'s output in `dtype`: its own override, else DEFAULT_TOL. */
export const tolFor = (spec: OpSpec, dtype: DType): Tolerance => spec.tol[dtype] ?? DEFAULT_TOL[dtype];

