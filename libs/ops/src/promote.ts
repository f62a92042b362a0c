import { type Category, type DType, DEFAULT_FLOAT, DEFAULT_INT, DTYPES, promoteTypes } from './dtype.js';

/**
 * An operand as type promotion sees it. PyTorch ranks three kinds: tensors with dims, 0-d tensors,
 * and "wrapped numbers" (Python scalars, here JS numbers/booleans): a lower kind only changes the
 * result when it is of a higher category (a float scalar makes an int tensor float, an int scalar
 * never widens an int32 tensor).
 */
export type Operand =
  | {
    /** A tensor operand. */
    readonly kind: 'tensor';
    /** The tensor's dtype. */
    readonly dtype: DType;
    /** The tensor's rank; 0-d tensors rank below tensors with dims in promotion. */
    readonly ndim: number;
  }
  | {
    /** A JS scalar operand (a "wrapped number"). */
    readonly kind: 'scalar';
    /** The scalar; integer-valued numbers act as int64, others as the default float, booleans as bool. */
    readonly value: number | boolean;
  };

/**
 * The dtype a JS scalar stands for. JS cannot tell `2` from `2.0`; an integer-valued number acts as a
 * Python int (keeps an int tensor int) and any other number as a Python float.
 */
export function scalarDType(value: number | boolean): DType {
  if (typeof value === 'boolean') return 'bool';
  // -0 is a float: a Python int has no negative zero.
  return Number.isInteger(value) && !Object.is(value, -0) ? DEFAULT_INT : DEFAULT_FLOAT;
}

const CATEGORY_ORDER: Record<Category, number> = { bool: 0, integral: 1, floating: 2 };

function combine(higher: DType | undefined, lower: DType | undefined): DType | undefined {
  if (higher === undefined) return lower;
  if (lower === undefined) return higher;
  const hc = DTYPES[higher].category;
  if (hc === 'floating') return higher;
  if (CATEGORY_ORDER[DTYPES[lower].category] > CATEGORY_ORDER[hc]) return promoteTypes(higher, lower);
  return higher;
}

/** torch.result_type over any mix of tensors and scalars. */
export function resultType(operands: readonly Operand[]): DType {
  let dim: DType | undefined;
  let zero: DType | undefined;
  let wrapped: DType | undefined;
  for (const o of operands) {
    if (o.kind === 'scalar') {
      const d = scalarDType(o.value);
      wrapped = wrapped === undefined ? d : promoteTypes(wrapped, d);
    } else if (o.ndim > 0) {
      dim = dim === undefined ? o.dtype : promoteTypes(dim, o.dtype);
    } else {
      zero = zero === undefined ? o.dtype : promoteTypes(zero, o.dtype);
    }
  }
  return combine(dim, combine(zero, wrapped)) ?? DEFAULT_FLOAT;
}
