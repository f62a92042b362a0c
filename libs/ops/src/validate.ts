/**
 * Argument checks shared by every public entry point. JavaScript lets any value reach any parameter;
 * these turn the values no op can mean (a string dim, a null scalar, a fractional size) into typed
 * errors before anything is allocated or written, so each op validates once, here, not per kernel.
 */
import { type DType, DTYPES, isFloating } from './dtype.js';
import { ArgumentError, ShapeError, fmtShape } from './errors.js';

/** Element counts stay below 2^53 so every index computed in doubles is exact. */
export const MAX_NUMEL = Number.MAX_SAFE_INTEGER;

/** A short description of a value for messages: `string "a"`, `null`, `an array`, `2n`. */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (Array.isArray(v)) return `an array ${JSON.stringify(v)?.slice(0, 40) ?? ''}`.trimEnd();
  switch (typeof v) {
    case 'string': return `string ${JSON.stringify(v)}`;
    case 'bigint': return `bigint ${v}n`;
    case 'number': case 'boolean': return `${typeof v} ${String(v)}`;
    case 'function': return 'a function';
    case 'symbol': return 'a symbol';
    default: return `an object (${(v as object).constructor?.name ?? 'Object'})`;
  }
}

/** An integer argument (a number with an integer value, or a bigint in the safe range). */
export function checkInt(op: string, name: string, v: unknown, min = -Infinity, max = Infinity): number {
  const n = typeof v === 'bigint' && v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) throw new ArgumentError(op, `${name} must be an integer, got ${describe(v)}`);
  if (n < min || n > max) {
    throw new ArgumentError(op, `${name} must be ${max === Infinity ? `>= ${min}` : min === -Infinity ? `<= ${max}` : `in [${min}, ${max}]`}, got ${n}`);
  }
  return n;
}

/** A real-number argument (NaN and infinities allowed: the op decides what they mean). */
export function checkNumber(op: string, name: string, v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint' && v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(v);
  throw new ArgumentError(op, `${name} must be a number, got ${describe(v)}`);
}

/** A boolean argument: anything else, truthy values included, is an ArgumentError. */
export function checkBool(op: string, name: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw new ArgumentError(op, `${name} must be a boolean, got ${describe(v)}`);
  return v;
}

/**
 * A JS scalar operand of a tensor op: a number, a boolean, or a bigint (an integer scalar, as a
 * Python int). Strings, null and arrays are refused rather than coerced (`'a'` would be NaN, `null` 0).
 */
export function scalarOperand(op: string, v: unknown): number | boolean {
  if (typeof v === 'number' || typeof v === 'boolean') return v;
  if (typeof v === 'bigint') {
    if (v < BigInt(Number.MIN_SAFE_INTEGER) || v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ArgumentError(op, `integer scalar ${v}n overflows the range exact in a double (|v| <= 2^53 - 1)`);
    return Number(v);
  }
  throw new ArgumentError(op, `expected a tensor, a number or a boolean, got ${describe(v)}`);
}

/** A tensor shape: a list of non-negative integer sizes whose product stays exact. */
export function checkShape(op: string, shape: unknown, what = 'shape'): number[] {
  if (!Array.isArray(shape) && !(ArrayBuffer.isView(shape) && !(shape instanceof DataView))) {
    throw new ArgumentError(op, `${what} must be a list of sizes, got ${describe(shape)}`);
  }
  const sizes = Array.from(shape as ArrayLike<unknown>, (d) => (typeof d === 'bigint' ? checkInt(op, what, d) : d));
  let total = 1;
  for (const d of sizes) {
    if (typeof d !== 'number' || !Number.isInteger(d)) throw new ArgumentError(op, `${what} must hold integer sizes, got ${describe(d)} in ${JSON.stringify(sizes.map(String))}`);
    if (d < 0) throw new ShapeError(op, `${what} ${fmtShape(sizes as number[])} has a negative size ${d}`);
    total *= d;
  }
  if (total > MAX_NUMEL) throw new ShapeError(op, `${what} ${fmtShape(sizes as number[])} has ${total} elements, more than 2^53 - 1`);
  return sizes as number[];
}

/**
 * A fill value for a tensor of `dtype` (fill_, full), refused where PyTorch's checked conversion
 * refuses it: NaN, infinities and values past the range of an integer dtype (an unsigned one also
 * takes values down to -max, which wrap, as torch's does). Any value fills a bool.
 */
export function checkFillValue(op: string, v: number | boolean, dtype: DType): void {
  if (typeof v === 'boolean' || dtype === 'bool' || isFloating(dtype)) return;
  const { min, max } = DTYPES[dtype];
  // Integers wrap into an unsigned dtype from -max up (torch's rule for Python ints); fractions must fit as they are.
  const lo = min === 0 && Number.isInteger(v) ? -max : min;
  // int64's max, 2^63 - 1, is 2^63 as a double: the bound is exclusive there, or 2^63 would wrap to -2^63.
  const over = dtype === 'int64' ? v >= 2 ** 63 : v > max;
  if (!Number.isFinite(v) || v < lo || over) throw new ArgumentError(op, `value ${v} cannot be converted to ${dtype} without overflow`);
}

/** An options object (or undefined): a misplaced positional value fails here, not deep inside. */
export function checkOptions<T extends object>(op: string, opt: unknown): Partial<T> {
  if (opt === undefined || opt === null) return {};
  if (typeof opt !== 'object' || Array.isArray(opt)) throw new ArgumentError(op, `expected an options object, got ${describe(opt)}`);
  return opt as Partial<T>;
}
