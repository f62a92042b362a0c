/** Function forms of the elementwise specs: `tsr.add(a, b)` is `a.add(b)`. Any `out` comes last, as torch's out=. */
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

/** torch.neg: -x in the input's dtype (integer dtypes stay integer); a bool tensor is refused, as torch does. */
export const neg = unary('neg');
/** torch.abs: |x| in the input's dtype (integer dtypes stay integer); a bool tensor is refused. */
export const abs = unary('abs');
/** torch.exp: e^x; integer and bool inputs are computed in float32. */
export const exp = unary('exp');
/** torch.log: the natural log, -inf at 0 and NaN below; integer and bool inputs are computed in float32. */
export const log = unary('log');
/** torch.log1p: log(1 + x), accurate for x near 0; integer and bool inputs give float32. */
export const log1p = unary('log1p');
/** torch.expm1: exp(x) - 1, accurate for x near 0; integer and bool inputs give float32. */
export const expm1 = unary('expm1');
/** torch.sqrt: the square root, NaN below 0; integer and bool inputs give float32. */
export const sqrt = unary('sqrt');
/** torch.rsqrt: 1 / sqrt(x), NaN below 0; integer and bool inputs give float32. */
export const rsqrt = unary('rsqrt');
/** torch.sin of x in radians; integer and bool inputs give float32. */
export const sin = unary('sin');
/** torch.cos of x in radians; integer and bool inputs give float32. */
export const cos = unary('cos');
/** torch.tanh: the hyperbolic tangent; integer and bool inputs give float32. */
export const tanh = unary('tanh');
/** torch.sigmoid: 1 / (1 + exp(-x)); integer and bool inputs give float32. */
export const sigmoid = unary('sigmoid');
/** torch.relu: max(x, 0) in the input's dtype (bool refused); NaN and -0 pass through, and the gradient at 0 is 0. */
export const relu = unary('relu');
/** torch.nn.functional.silu: x * sigmoid(x); integer and bool inputs give float32. */
export const silu = unary('silu');
/** torch.erf: the Gauss error function; integer and bool inputs give float32. */
export const erf = unary('erf');
/** torch.floor: rounds toward -inf, keeping the dtype (integers unchanged, bool refused); zero gradient. */
export const floor = unary('floor');
/** torch.ceil: rounds toward +inf, keeping the dtype (integers unchanged, bool refused); zero gradient. */
export const ceil = unary('ceil');
/** torch.round: to the nearest integer, halves to even (2.5 -> 2), keeping the dtype (bool refused); zero gradient. */
export const round = unary('round');
/** torch.trunc: rounds toward zero, keeping the dtype (integers unchanged, bool refused); zero gradient. */
export const trunc = unary('trunc');
/** torch.sign: -1, 0 or 1 in the input's dtype; NaN and -0 give 0, bool stays bool; zero gradient. */
export const sign = unary('sign');
/** torch.reciprocal: 1 / x (infinite at 0); integer and bool inputs give float32. */
export const reciprocal = unary('reciprocal');
/** torch.isnan: true where x is NaN (bool result; integers and bools never are). */
export const isnan = unary('isnan');
/** torch.isinf: true where x is +inf or -inf (bool result; integers and bools never are). */
export const isinf = unary('isinf');
/** torch.isfinite: true where x is neither NaN nor infinite (bool result; integers and bools always are). */
export const isfinite = unary('isfinite');
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

/** torch.add: a + alpha * b, broadcast, `alpha` default 1 (it must be whole when the result is integer or bool). */
export const add = withAlpha('add');
/** torch.sub: a - alpha * b, broadcast, `alpha` default 1 (whole for integer results); bool operands are refused. */
export const sub = withAlpha('sub');
/** torch.lerp(a, b, weight) with a scalar weight: a + weight * (b - a). */
export const lerp = (a: TensorOrScalar, b: TensorOrScalar, weight: number, out?: Tensor): Tensor => elementwise(spec('lerp'), [a, b], { params: { weight }, out });
/** torch.mul: a * b, broadcasting tensors and JS scalars (integers wrap; on bool it is logical and). */
export const mul = binary('mul');
/** torch.div without rounding_mode: true division a / b, broadcast; integer and bool operands give float32. */
export const div = binary('div');
/** torch.pow: a ** b, broadcast; integer bases refuse a negative integer scalar exponent, as torch does. */
export const pow = binary('pow');
/** torch.maximum: the larger of a and b, broadcast; NaN-propagating (unlike fmax); ties split the gradient evenly. */
export const maximum = binary('maximum');
/** torch.minimum: the smaller of a and b, broadcast; NaN-propagating (unlike fmin); ties split the gradient evenly. */
export const minimum = binary('minimum');
/** torch.atan2(a, b): the angle of the point (b, a) in radians, broadcast; integer and bool inputs give float32. */
export const atan2 = binary('atan2');
/** torch.remainder: Python's a % b, with the divisor's sign, broadcast; an integer zero divisor is refused. */
export const remainder = binary('remainder');
/** torch.fmod: C's fmod(a, b), with the dividend's sign, broadcast; an integer zero divisor is refused. */
export const fmod = binary('fmod');
/** torch.lt: a < b in the promoted dtype, broadcast; bool result (false where either is NaN). */
export const lt = binary('lt');
/** torch.le: a <= b in the promoted dtype, broadcast; bool result (false where either is NaN). */
export const le = binary('le');
/** torch.gt: a > b in the promoted dtype, broadcast; bool result (false where either is NaN). */
export const gt = binary('gt');
/** torch.ge: a >= b in the promoted dtype, broadcast; bool result (false where either is NaN). */
export const ge = binary('ge');
/** torch.eq: a == b in the promoted dtype, broadcast; bool result (false where either is NaN). */
export const eq = binary('eq');
/** torch.ne: a != b in the promoted dtype, broadcast; bool result (true where either is NaN). */
export const ne = binary('ne');
/** torch.logical_and: true where a and b are both nonzero, broadcast; bool result for any dtypes. */
export const logicalAnd = binary('logicalAnd');
/** torch.logical_or: true where a or b is nonzero, broadcast; bool result for any dtypes. */
export const logicalOr = binary('logicalOr');
/** torch.logical_xor: true where exactly one of a and b is nonzero, broadcast; bool result for any dtypes. */
export const logicalXor = binary('logicalXor');

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
