/** The dtype table: everything else about dtypes (promotion, accepted sets, storage) derives from it. */
export type DType = 'bool' | 'uint8' | 'int32' | 'int64' | 'float16' | 'float32' | 'float64';
export type Category = 'bool' | 'integral' | 'floating';

export interface DTypeInfo {
  readonly category: Category;
  /** Position in the promotion order within and across categories (bool < ints < floats). */
  readonly rank: number;
  readonly bytes: number;
  readonly min: number;
  readonly max: number;
}

export const DTYPES: Readonly<Record<DType, DTypeInfo>> = {
  bool: { category: 'bool', rank: 0, bytes: 1, min: 0, max: 1 },
  uint8: { category: 'integral', rank: 1, bytes: 1, min: 0, max: 255 },
  int32: { category: 'integral', rank: 2, bytes: 4, min: -(2 ** 31), max: 2 ** 31 - 1 },
  int64: { category: 'integral', rank: 3, bytes: 8, min: -(2 ** 63), max: 2 ** 63 - 1 },
  float16: { category: 'floating', rank: 4, bytes: 2, min: -65504, max: 65504 },
  float32: { category: 'floating', rank: 5, bytes: 4, min: -3.4028234663852886e38, max: 3.4028234663852886e38 },
  float64: { category: 'floating', rank: 6, bytes: 8, min: -Number.MAX_VALUE, max: Number.MAX_VALUE },
};

export const ALL_DTYPES = Object.keys(DTYPES) as DType[];
export const DEFAULT_FLOAT: DType = 'float32';
/** What a JS integer-valued scalar means when it meets a tensor (PyTorch's Python int). */
export const DEFAULT_INT: DType = 'int64';

export const isFloating = (d: DType): boolean => DTYPES[d].category === 'floating';
export const isIntegral = (d: DType): boolean => DTYPES[d].category === 'integral';
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
  all: ALL_DTYPES,
  numeric: ALL_DTYPES.filter((d) => d !== 'bool'),
  signed: ALL_DTYPES.filter((d) => d !== 'bool' && d !== 'uint8'),
  floating: ALL_DTYPES.filter(isFloating),
  integral: ALL_DTYPES.filter((d) => d !== 'bool' && !isFloating(d)),
} as const satisfies Record<string, readonly DType[]>;
export type DTypeSet = keyof typeof DTYPE_SETS;
