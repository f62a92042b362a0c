import { describe, expect, it } from 'vitest';
import { type DType, ALL_DTYPES, promoteTypes, resultType } from '../src/index.js';

const t = (dtype: DType, ndim = 1) => ({ kind: 'tensor', dtype, ndim }) as const;
const s = (value: number | boolean) => ({ kind: 'scalar', value }) as const;

describe('type promotion', () => {
  it('promote_types follows the chain bool < uint8 < int32 < int64 < float16 < float32 < float64', () => {
    expect(promoteTypes('uint8', 'int32')).toBe('int32');
    expect(promoteTypes('int64', 'float16')).toBe('float16');
    expect(promoteTypes('bool', 'uint8')).toBe('uint8');
    for (const a of ALL_DTYPES) for (const b of ALL_DTYPES) expect(promoteTypes(a, b)).toBe(promoteTypes(b, a));
  });

  it('scalars and 0-d tensors only raise the category (values from torch 1.13)', () => {
    expect(resultType([t('int32'), s(2.5)])).toBe('float32');
    expect(resultType([t('uint8'), s(300)])).toBe('uint8');
    expect(resultType([t('float16'), t('float64', 0)])).toBe('float16');
    expect(resultType([t('int32'), t('float64', 0)])).toBe('float64');
    expect(resultType([t('bool'), s(1)])).toBe('int64');
    expect(resultType([t('bool'), s(true)])).toBe('bool');
    expect(resultType([t('int32', 0), s(1)])).toBe('int32');
    expect(resultType([s(1), s(2.5)])).toBe('float32');
    expect(resultType([t('int32', 0), t('int64', 0)])).toBe('int64');
  });
});
