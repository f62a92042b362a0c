/**
 * GET /api/specs: every op spec as data (kind, arity, dtype rule, params, whether it has a gradient,
 * sampling domain, tolerances), with the scalar IR of elementwise and reduction specs as a tree.
 */
import { ops } from 'tessera';

type DType = ops.DType;
type Expr = ops.Expr;
type OpSpec = ops.OpSpec;
type ReduceSpec = ops.ReduceSpec;
const { ALL_SPECS, DEFAULT_FLOAT, DTYPE_SETS, ir, reduceTypes } = ops;

/** An IR node as JSON: leaves are inputs, params and constants; `op` nodes carry their arguments. */
export type IrNode =
  | { readonly kind: 'input'; readonly dtype: DType; readonly index: number }
  | { readonly kind: 'param'; readonly dtype: DType; readonly name: string }
  | { readonly kind: 'const'; readonly dtype: DType; readonly value: number | string }
  | { readonly kind: 'op'; readonly dtype: DType; readonly op: string; readonly args: readonly IrNode[] };

/** NaN and the infinities have no JSON number, so constants carry them as strings. */
const jsonNumber = (v: number): number | string => (Number.isFinite(v) ? v : String(v));

export function irTree(e: Expr): IrNode {
  switch (e.kind) {
    case 'const': return { kind: 'const', dtype: e.dtype, value: jsonNumber(e.value) };
    case 'input': return { kind: 'input', dtype: e.dtype, index: e.index };
    case 'param': return { kind: 'param', dtype: e.dtype, name: e.name };
    case 'op': return { kind: 'op', dtype: e.dtype, op: e.op, args: e.args.map(irTree) };
  }
}

export interface SpecInfo {
  readonly name: string;
  readonly kind: OpSpec['kind'];
  readonly arity: number;
  readonly dtypes: readonly DType[];
  /** How the result dtype follows from the operands' ('promote', 'float', 'compare', ...). */
  readonly dtypeRule: string;
  readonly params: Readonly<Record<string, { default: number; sample?: readonly [number, number] }>>;
  /** Elementwise specs carry their gradient rule; for reductions and routines it lives in the tensor library (null). */
  readonly gradient: boolean | null;
  readonly sample: OpSpec['sample'];
  readonly tolerances: OpSpec['tol'];
  /** Whether `/api/kernel` can generate its source (elementwise specs and primitive reductions). */
  readonly generated: boolean;
  /** The IR at the spec's first accepted floating dtype (or its first dtype). */
  readonly ir?: { readonly dtype: DType; readonly expr?: IrNode; readonly map?: IrNode; readonly combine?: IrNode; readonly finalize?: IrNode; readonly better?: IrNode };
}

const irDtype = (dtypes: readonly DType[]): DType => (dtypes.includes(DEFAULT_FLOAT) ? DEFAULT_FLOAT : dtypes[0]!);

function paramExprs(params: ReduceSpec['params'], dtype: DType): Record<string, Expr> {
  return Object.fromEntries(Object.keys(params ?? {}).map((n) => [n, ir.param(n, dtype)]));
}

function reduceIr(spec: ReduceSpec, dtype: DType): SpecInfo['ir'] {
  const { compute } = reduceTypes(spec, dtype);
  const p = paramExprs(spec.params, compute);
  const x = ir.input(0, compute), acc = ir.input(0, compute), other = ir.input(1, compute);
  return {
    dtype,
    ...(spec.map ? { map: irTree(spec.map(x, p)) } : {}),
    ...(spec.combine ? { combine: irTree(spec.combine(acc, other)) } : {}),
    ...(spec.finalize ? { finalize: irTree(spec.finalize(acc, other, p)) } : {}),
    ...(spec.better ? { better: irTree(spec.better(acc, other)) } : {}),
  };
}

export function specInfo(spec: OpSpec): SpecInfo {
  const dtypes = DTYPE_SETS[spec.accepts];
  const dtype = irDtype(dtypes);
  const base = { name: spec.name, kind: spec.kind, dtypes, sample: spec.sample, tolerances: spec.tol };
  if (spec.kind === 'elementwise') {
    const inputs = Array.from({ length: spec.arity }, (_, i) => ir.input(i, spec.condition && i === 0 ? 'bool' : dtype));
    return {
      ...base, arity: spec.arity, dtypeRule: spec.result, params: spec.params ?? {}, gradient: spec.grad !== undefined, generated: true,
      ir: { dtype, expr: irTree(spec.expr(inputs, paramExprs(spec.params, dtype))) },
    };
  }
  if (spec.kind === 'reduce') {
    const generated = spec.combine !== undefined || spec.better !== undefined;
    // Composite reductions (var, std, logsumexp) are built from tensor ops and carry no IR of their own.
    return { ...base, arity: 1, dtypeRule: spec.result, params: spec.params ?? {}, gradient: null, generated, ...(generated ? { ir: reduceIr(spec, dtype) } : {}) };
  }
  return { ...base, arity: 0, dtypeRule: 'routine', params: {}, gradient: null, generated: false };
}

let cached: readonly SpecInfo[] | undefined;
/** The specs never change while the process runs, so they are rendered once. */
export const allSpecs = (): readonly SpecInfo[] => (cached ??= ALL_SPECS.map(specInfo));
