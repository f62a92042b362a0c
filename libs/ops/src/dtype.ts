/** The dtype table: everything else about dtypes (promotion, accepted sets, storage) derives from it. */
export type DType = 'bool' | 'uint8' | 'int32' | 'int64' | 'float16' | 'float32' | 'float64';
/** The kind of values a dtype holds; most dtype rules depend on this rather than on the dtype itself. */
export type Category = 'bool' | 'integral' | 'floating';

/** One row of the dtype table. */
export interface DTypeInfo {
  /** Whether the dtype is bool, an integer type or a float type. */
  readonly category: Category;
  /** Position in the promotion order within and across categories (bool < ints < floats). */
  readonly rank: number;
  /** Storage size of one element. */
  readonly bytes: number;
  /** Smallest representable value (the most negative finite one for floats). */
  readonly min: number;
  /** Largest representable value (the largest finite one for floats; int64's, 2^63 - 1, rounds up to 2^63 here). */
  readonly max: number;
}

/** The dtype table itself, keyed by dtype name. */
export const DTYPES: Readonly<Record<DType, DTypeInfo>> = {
  bool: { category: 'bool', rank: 0, bytes: 1, min: 0, max: 1 },
  uint8: { category: 'integral', rank: 1, bytes: 1, min: 0, max: 255 },
  int32: { category: 'integral', rank: 2, bytes: 4, min: -(2 ** 31), max: 2 ** 31 - 1 },
  int64: { category: 'integral', rank: 3, bytes: 8, min: -(2 ** 63), max: 2 ** 63 - 1 },
  float16: { category: 'floating', rank: 4, bytes: 2, min: -65504, max: 65504 },
  float32: { category: 'floating', rank: 5, bytes: 4, min: -3.4028234663852886e38, max: 3.4028234663852886e38 },
  float64: { category: 'floating', rank: 6, bytes: 8, min: -Number.MAX_VALUE, max: Number.MAX_VALUE },
};

/** Every dtype, in promotion order (bool first, float64 last). */
export const ALL_DTYPES = Object.keys(DTYPES) as DType[];
/** The dtype of float results from integer inputs and of non-integer JS scalars (torch.get_default_dtype). */
export const DEFAULT_FLOAT: DType = 'float32';
/** What a JS integer-valued scalar means when it meets a tensor (PyTorch's Python int). */
export const DEFAULT_INT: DType = 'int64';

/** True for float16, float32 and float64. */
export const isFloating = (d: DType): boolean => DTYPES[d].category === 'floating';
/** True for the integer dtypes; false for bool, which is its own category. */
export const isIntegral = (d: DType): boolean => DTYPES[d].category === 'integral';
/** Type guard for dtype names arriving untyped (options objects, serialized checkpoints). */
export const isDType = (s: unknown): s is DType => typeof s === 'string' && s in DTYPES;

/**
 * torch.promote_types for this dtype set. With no int8/int16/bfloat16 here the lattice is a chain,
 * so promotion is the higher rank; the exceptions PyTorch has (uint8 + int8 -> int16, float16 +
 * bfloat16 -> float32) need an explicit table if those dtypes are added.
 */
export function promoteTypes(a: DType, b: DType): DType {
  return DTYPES[a].rank >= DTYPES[b].rank ? a : b;
}

/** Named dtype sets a spec accepts. */
export const DTYPE_SETS = {
  /** Every dtype, bool included. */
  all: ALL_DTYPES,
  /** Every dtype but bool. */
  numeric: ALL_DTYPES.filter((d) => d !== 'bool'),
  /** Numeric dtypes that can hold negative values (all but bool and uint8). */
  signed: ALL_DTYPES.filter((d) => d !== 'bool' && d !== 'uint8'),
  /** float16, float32, float64. */
  floating: ALL_DTYPES.filter(isFloating),
  /** uint8, int32, int64. */
  integral: ALL_DTYPES.filter((d) => d !== 'bool' && !isFloating(d)),
} as const satisfies Record<string, readonly DType[]>;
/** The name of one of the DTYPE_SETS, as specs give their `accepts`. */
export type DTypeSet = keyof typeof DTYPE_SETS;
