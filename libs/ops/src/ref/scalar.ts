/** float64 scalar math that JS's Math lacks, shared by references and the JS backend's runtime. */

const TWO_OVER_SQRT_PI = 1.1283791670955126;

/**
 * erf(x) = 2/sqrt(pi) * exp(-x^2) * sum_n 2^n x^(2n+1) / (1*3*...*(2n+1)). Every term is positive,
 * so the sum has no cancellation and reaches full float64 precision; beyond |x| = 6, erf is 1 in float64.
 */
export function erf(x: number): number {
  if (Number.isNaN(x)) return x;
  const ax = Math.abs(x);
  if (ax >= 6) return Math.sign(x);
  if (ax === 0) return x;
  const x2 = ax * ax;
  let term = ax;
  let sum = ax;
  for (let n = 1; term > sum * 1e-17; n++) {
    term *= (2 * x2) / (2 * n + 1);
    sum += term;
  }
  const r = Math.min(1, TWO_OVER_SQRT_PI * Math.exp(-x2) * sum);
  return x < 0 ? -r : r;
}

/** Round half to even (torch.round), keeping the sign of zero. */
export function rint(x: number): number {
  const r = Math.round(x);
  return Math.abs(x - Math.trunc(x)) === 0.5 ? 2 * Math.round(x / 2) : r;
}

/** Python's `%` / torch.remainder: the result takes the sign of the divisor. */
export function remainder(a: number, b: number): number {
  const m = a % b;
  return m !== 0 && (m < 0) !== (b < 0) ? m + b : m;
}

/** The logistic function 1 / (1 + e^-x), written so neither branch overflows for large |x|. */
export const sigmoid = (x: number): number => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));

/**
 * An integer power as torch computes it: by squaring, each product wrapped to the dtype (int64 is
 * exact to 2^53 here, as all int64 arithmetic on doubles); a negative exponent gives 0 except for
 * bases 1 and -1.
 */
export function ipow(a: number, b: number, dtype: 'int32' | 'int64' | 'uint8' | 'bool'): number {
  if (b < 0) return a === 1 ? 1 : a === -1 ? (b % 2 === 0 ? 1 : -1) : 0;
  const mul = dtype === 'int32' ? Math.imul : dtype === 'uint8' ? (x: number, y: number) => (x * y) & 255 : (x: number, y: number) => x * y;
  let r = 1, base = a, e = b;
  while (e > 0) {
    if (e % 2 === 1) r = mul(r, base);
    e = Math.floor(e / 2);
    if (e > 0) base = mul(base, base);
  }
  return dtype === 'bool' ? (r !== 0 ? 1 : 0) : r;
}

/** C99's pow: Math.pow except pow(1, y) = 1 and pow(-1, +-inf) = 1 (JS gives NaN), as torch.pow. */
export const cPow = (a: number, b: number): number => (a === 1 || (a === -1 && (b === Infinity || b === -Infinity)) ? 1 : Math.pow(a, b));
