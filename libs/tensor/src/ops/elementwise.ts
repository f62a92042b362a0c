/** Function forms of the elementwise specs: `tsr.add(a, b)` is `a.add(b)`. */
import { ArgumentError, DTYPES, ELEMENTWISE, type ElementwiseSpec, isFloating, resultType, scalarOperand } from '@tessera/ops';
import { type TensorOrScalar, elementwise } from '../dispatch.js';
import { Tensor } from '../tensor.js';

const spec = (name: string): ElementwiseSpec => ELEMENTWISE[name]!;
const unary = (name: string) => {
  const s = spec(name);
  return (x: Tensor, out?: Tensor): Tensor => elementwise(s, [x], { out });
};
const binary = (name: string) => {
  const s = spec(name);
  return (a: TensorOrScalar, b: TensorOrScalar, out?: Tensor): Tensor => elementwise(s, [a, b], { out });
};
const withAlpha = (name: string) => {
  const s = spec(name);
  return (a: TensorOrScalar, b: TensorOrScalar, opt?: { alpha?: number }, out?: Tensor): Tensor =>
    elementwise(s, [a, b], { params: opt?.alpha === undefined ? undefined : { alpha: opt.alpha }, out });
};

/**
 * torch.neg, abs, exp and log (natural): `neg` and `abs` keep integer dtypes, `exp` and `log` compute
 * integer and bool inputs in float32. Every function form here takes `out` last, as torch's out=.
 */
export const neg = unary('neg'), abs = unary('abs'), exp = unary('exp'), log = unary('log');
/** torch.log1p (log(1 + x)), expm1 (exp(x) - 1), both accurate near 0; sqrt and rsqrt (1 / sqrt(x)). Float results. */
export const log1p = unary('log1p'), expm1 = unary('expm1'), sqrt = unary('sqrt'), rsqrt = unary('rsqrt');
/** torch.sin, cos (radians), tanh and sigmoid (1 / (1 + exp(-x))); integer inputs give float32. */
export const sin = unary('sin'), cos = unary('cos'), tanh = unary('tanh'), sigmoid = unary('sigmoid');
/**
 * torch.relu (max(x, 0), keeping the dtype; NaN and -0 pass through), silu (x * sigmoid(x)), erf (the
 * error function, float result) and floor (integer dtypes unchanged, zero gradient).
 */
export const relu = unary('relu'), silu = unary('silu'), erf = unary('erf'), floor = unary('floor');
/**
 * torch.ceil, round (halves to even, as torch.round), trunc (toward zero) and sign (-1, 0 or 1; NaN and
 * -0 give 0, bool stays bool); all keep the input's dtype and have zero gradient.
 */
export const ceil = unary('ceil'), round = unary('round'), trunc = unary('trunc'), sign = unary('sign');
/**
 * torch.reciprocal (1 / x, float result); isnan, isinf and isfinite test each element and return bool
 * (integers and bools are never NaN or infinite).
 */
export const reciprocal = unary('reciprocal'), isnan = unary('isnan'), isinf = unary('isinf'), isfinite = unary('isfinite');
/**
 * torch.nan_to_num: NaN -> `nan` (0), +inf -> `posinf`, -inf -> `neginf` (by default the dtype's
 * largest and lowest finite values); integer and bool tensors are returned unchanged in value.
 */
export const nanToNum = (x: Tensor, opt: { nan?: number; posinf?: number; neginf?: number } = {}, out?: Tensor): Tensor => {
  if (!isFloating(x.dtype)) return elementwise(spec('copy'), [x], { out });
  const { min, max } = DTYPES[x.dtype];
  return elementwise(spec('nanToNum'), [x], { params: { nan: opt.nan ?? 0, posinf: opt.posinf ?? max, neginf: opt.neginf ?? min }, out });
};
const squareOf = unary('square');
/** x * x. torch.square is pow(x, 2), whose int scalar makes a bool tensor int64 (and its square is itself). */
export const square = (x: Tensor, out?: Tensor): Tensor => (x.dtype === 'bool' && !out ? x.to('int64') : squareOf(x, out));
/** torch.logical_not: true where x is zero (bool result for any input dtype). */
export const logicalNot = unary('logicalNot');

const geluExact = unary('gelu'), geluTanh = unary('geluTanh');
/** gelu(x), exact (erf) or with PyTorch's tanh approximation. */
export const gelu = (x: Tensor, opt?: { approximate?: 'none' | 'tanh' }): Tensor => (opt?.approximate === 'tanh' ? geluTanh(x) : geluExact(x));

/**
 * torch.add and torch.sub: a + alpha * b and a - alpha * b, broadcast, with `alpha` default 1 (an integer
 * alpha is required for integer results). sub refuses bool operands, as torch does.
 */
export const add = withAlpha('add'), sub = withAlpha('sub');
/** torch.lerp(a, b, weight) with a scalar weight: a + weight * (b - a). */
export const lerp = (a: TensorOrScalar, b: TensorOrScalar, weight: number, out?: Tensor): Tensor => elementwise(spec('lerp'), [a, b], { params: { weight }, out });
/**
 * torch.mul, div (true division: integer operands give float32), pow (integer bases refuse negative
 * integer scalar exponents) and maximum (NaN-propagating), all broadcasting tensors and JS scalars.
 */
export const mul = binary('mul'), div = binary('div'), pow = binary('pow'), maximum = binary('maximum');
/**
 * torch.minimum (NaN-propagating), atan2(a, b) (the angle of (b, a), float result), remainder (sign of
 * the divisor, Python's %) and fmod (sign of the dividend, C's fmod); both refuse an integer zero divisor.
 */
export const minimum = binary('minimum'), atan2 = binary('atan2'), remainder = binary('remainder'), fmod = binary('fmod');
/** Comparisons a < b, a <= b, a > b, a >= b, a == b, a != b (torch.lt ... torch.ne), broadcast, bool result. */
export const lt = binary('lt'), le = binary('le'), gt = binary('gt'), ge = binary('ge'), eq = binary('eq'), ne = binary('ne');
/** torch.logical_and, logical_or, logical_xor: nonzero counts as true; bool result. */
export const logicalAnd = binary('logicalAnd'), logicalOr = binary('logicalOr'), logicalXor = binary('logicalXor');

const whereSpec = spec('where');
/** where(condition, a, b): a where condition is true, else b (broadcast together). */
export const where = (condition: Tensor, a: TensorOrScalar, b: TensorOrScalar, out?: Tensor): Tensor =>
  elementwise(whereSpec, [condition, a, b], { out });

/** clamp(x, min, max): NaN stays NaN; either bound may be omitted. */
export function clamp(x: Tensor, min?: TensorOrScalar, max?: TensorOrScalar, out?: Tensor): Tensor {
  if ((min === undefined || min === null) && (max === undefined || max === null)) throw new ArgumentError('clamp', "at least one of 'min' or 'max' must be given");
  if (min === null) min = undefined;
  if (max === null) max = undefined;
  // The result dtype is x's, min's and max's together (as torch.clamp), before either bound is applied:
  // clamping uint8 to [-1, 3.5] is done in float32, not with -1 first wrapped to 255.
  const bounds = [min, max].filter((v) => v !== undefined).map((v) => (v instanceof Tensor ? { kind: 'tensor' as const, dtype: v.dtype, ndim: v.ndim } : { kind: 'scalar' as const, value: scalarOperand('clamp', v) }));
  const rt = resultType([{ kind: 'tensor', dtype: x.dtype, ndim: x.ndim }, ...bounds]);
  if (rt !== x.dtype && !out) x = x.to(rt);
  if (max === undefined) return maximum(x, min!, out);
  if (min === undefined) return minimum(x, max, out);
  return minimum(maximum(x, min), max, out);
}
