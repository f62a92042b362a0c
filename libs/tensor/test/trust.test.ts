/**
 * The Trust issue's bad inputs on the CPU: each is a TesseraError naming the op (never a plain
 * TypeError/RangeError, never a coercion), and impossible tensors are never built. The per-backend
 * items (overlap, indices, special values) are in conformance/test/trust.test.ts.
 */
import { describe, expect, it } from 'vitest';
import * as tsr from '../src/index.js';

const refuses = (fn: () => unknown, type: new (...a: never[]) => Error = tsr.TesseraError, ...parts: string[]): void => {
  let err: unknown;
  try { fn(); } catch (e) { err = e; }
  expect(err, 'expected a typed error').toBeInstanceOf(type);
  for (const p of parts) expect((err as Error).message).toContain(p);
};

describe('impossible tensors are refused', () => {
  it('a shape that does not hold the data', () => refuses(() => tsr.tensor([1, 2, 3, 4], { shape: [2000] }), tsr.ShapeError, 'tensor', '[2000]'));
  it('negative, fractional and missing sizes', () => {
    refuses(() => tsr.full([-3, 0, 4], 2), tsr.ShapeError, 'full', '-3');
    refuses(() => tsr.full([1.5], 2), tsr.ArgumentError, 'full', '1.5');
    refuses(() => tsr.randint(0, 5, [3, null as never]), tsr.ArgumentError, 'randint', 'null');
    refuses(() => tsr.zeros([-1]), tsr.ShapeError, 'zeros');
    refuses(() => tsr.ones([2, NaN]), tsr.ArgumentError, 'ones');
  });
  it('a fill value past int64 is refused, 2^63 included (it is int64 max + 1 as a double, and wrapped to -2^63)', () => {
    refuses(() => tsr.full([1], 2 ** 63, { dtype: 'int64' }), tsr.ArgumentError, 'full', 'int64');
    refuses(() => tsr.zeros([1], { dtype: 'int64' }).fill_(2 ** 63), tsr.ArgumentError, 'fill_', 'int64');
    expect(tsr.full([1], -(2 ** 63), { dtype: 'int64' }).tolistSync()).toEqual([-(2 ** 63)]);
  });
  it('narrow and slice of a 0-d tensor', () => {
    refuses(() => tsr.tensor(5).narrow(0, 0, 3), tsr.IndexError, 'narrow', '0-d');
    refuses(() => tsr.tensor(5).slice(0, 0, 1), tsr.IndexError, 'slice', '0-d');
  });
  it('allocations beyond memory are an OutOfMemoryError, not a RangeError', () => {
    refuses(() => tsr.zeros([2 ** 40]), tsr.OutOfMemoryError, 'bytes');
    refuses(() => tsr.arange(1e12), tsr.OutOfMemoryError, 'arange');
  });
});

describe('plain errors from inside the library are typed', () => {
  const x = () => tsr.ones(2, 3);
  it.each([
    ['to({ dtype: float99 })', () => x().to({ dtype: 'float99' as never }), 'float99'],
    ['to(undefined)', () => x().to(undefined as never), 'undefined'],
    ["to('')", () => x().to('' as never), '""'],
    ["sum('1')", () => x().sum('1' as never), 'string'],
    ['fill_(null)', () => x().fill_(null as never), 'null'],
    ["mul('a')", () => x().mul('a' as never), 'string'],
    ['add(null)', () => x().add(null as never), 'null'],
    ['fill_([2])', () => x().fill_([2] as never), 'array'],
    ['transpose(5, 7) of a 0-d tensor', () => tsr.tensor(1).transpose(5, 7), 'dim 5'],
    ['flatten(0, 1.5)', () => x().flatten(0, 1.5), '1.5'],
    ['full([-1])', () => tsr.full([-1], 0), '-1'],
    ['maxPool2d without kernelSize', () => tsr.ones(1, 1, 4, 4).maxPool2d({ stride: 2 } as never), 'kernelSize'],
    ['maxPool2d with a window past the padded input', () => tsr.ones(1, 1, 2, 2, { dtype: 'float16' }).maxPool2d({ kernelSize: 2 ** 31 }), 'kernelSize'],
    ['backward({ retainGraph: true }) on a non-scalar', () => tsr.ones(2).backward({ retainGraph: true } as never), 'backward'],
    ['view with a string', () => x().view('a' as never), 'view'],
    ['permute with a number', () => x().permute(1 as never), 'permute'],
    // torch: "For integral input tensors, argument alpha must not be a floating point number" (bool included)
    ['add of bool tensors with a fractional alpha', () => tsr.ones(3, { dtype: 'bool' }).add(tsr.ones(3, { dtype: 'bool' }), { alpha: -2.375 }), 'alpha'],
    ['sub of int32 tensors with a fractional alpha', () => tsr.ones(3, { dtype: 'int32' }).sub(tsr.ones(3, { dtype: 'int32' }), { alpha: 0.5 }), 'alpha'],
  ])('%s', (_label, fn, part) => refuses(fn as () => unknown, tsr.TesseraError, part as string));

  it('bigint scalars are integer scalars (as Python ints), and out-of-range ones are refused', () => {
    expect(tsr.ones(2).mul(2n as never).tolistSync()).toEqual([2, 2]);
    expect(tsr.tensor([3], { dtype: 'int64' }).add(2n as never).dtype).toBe('int64');
    refuses(() => tsr.ones(2).mul((2n ** 70n) as never), tsr.ArgumentError, 'overflows');
  });

  it('null dims mean every dim, as Python None', () => {
    expect(tsr.ones(2, 3).sum(null as never).itemSync()).toBe(6);
  });
});
