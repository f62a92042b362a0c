import { describe, expect, it } from 'vitest';
import * as tsr from '../src/index.js';

describe('dtypes, promotion and casts', () => {
  it('isinf, isfinite and nanToNum as torch: the dtype\'s extremes by default, integers copied', () => {
    const x = tsr.tensor([NaN, Infinity, -Infinity, 1.5, -0]);
    expect(x.isinf().tolistSync()).toEqual([false, true, true, false, false]);
    expect(x.isfinite().tolistSync()).toEqual([false, false, false, true, true]);
    expect(x.nanToNum().tolistSync()).toEqual([0, 3.4028234663852886e38, -3.4028234663852886e38, 1.5, -0]);
    expect(x.to('float16').nanToNum().tolistSync()).toEqual([0, 65504, -65504, 1.5, -0]);
    expect(tsr.nanToNum(x, { nan: 1, posinf: 2, neginf: -2 }).tolistSync()).toEqual([1, 2, -2, 1.5, -0]);
    const i = tsr.tensor([1, -2], { dtype: 'int32' });
    expect([i.isinf().tolistSync(), i.isfinite().tolistSync(), i.nanToNum().tolistSync(), i.nanToNum().dtype]).toEqual([[false, false], [true, true], [1, -2], 'int32']);
    const y = x.clone();
    expect(y.nanToNum_({ posinf: 7 })).toBe(y);
    expect(y.tolistSync()).toEqual([0, 7, -3.4028234663852886e38, 1.5, -0]);
  });

  it('promotes tensors with PyTorch rules, including weak JS scalars and 0-d tensors', () => {
    const i32 = tsr.tensor([1, 2], { dtype: 'int32' }), u8 = tsr.tensor([1, 2], { dtype: 'uint8' });
    expect(i32.add(2.5).dtype).toBe('float32');
    expect(i32.add(2).dtype).toBe('int32');
    expect(u8.add(300).dtype).toBe('uint8');
    expect(tsr.tensor([1], { dtype: 'float16' }).add(tsr.tensor(1, { dtype: 'float64' })).dtype).toBe('float16');
    expect(i32.add(tsr.tensor(1, { dtype: 'float64' })).dtype).toBe('float64');
    expect(tsr.tensor([true]).add(1).dtype).toBe('int64');
    expect(i32.add(tsr.tensor([1], { dtype: 'int64' })).dtype).toBe('int64');
    expect(i32.div(i32).dtype).toBe('float32');
    expect(i32.div(tsr.tensor([2, 2], { dtype: 'int32' })).tolistSync()).toEqual([0.5, 1]);
    expect(i32.lt(1.5).dtype).toBe('bool');
    expect(tsr.tensor([1, 2], { dtype: 'float64' }).exp().dtype).toBe('float64');
    expect(i32.sqrt().dtype).toBe('float32');
  });

  it('casts with C semantics: truncation, wrap-around, NaN to 0, nonzero to true', () => {
    const f = tsr.tensor([2.7, -2.7, NaN, 300, -1]);
    expect(f.int().tolistSync()).toEqual([2, -2, 0, 300, -1]);
    expect(f.long().tolistSync()).toEqual([2, -2, 0, 300, -1]);
    expect(f.to('uint8').tolistSync()).toEqual([2, 254, 0, 44, 255]);
    expect(f.bool().tolistSync()).toEqual([true, true, true, true, true]);
    expect(tsr.tensor([0, 0.5]).bool().tolistSync()).toEqual([false, true]);
    expect(tsr.tensor([2 ** 31 - 1], { dtype: 'int32' }).add(1).tolistSync()).toEqual([-(2 ** 31)]);
    expect(tsr.tensor([70000, 1 / 3, 6e-8]).half().tolistSync()).toEqual([Infinity, 0.333251953125, 5.960464477539063e-8]);
  });

  it('stores int64 exactly (BigInt64Array) and reads as numbers', () => {
    const x = tsr.tensor([2n ** 40n, -3n]);
    expect(x.dtype).toBe('int64');
    expect((x.dataSync() as BigInt64Array)[0]).toBe(2n ** 40n);
    expect(x.add(1).tolistSync()).toEqual([2 ** 40 + 1, -2]);
  });

  it('rejects ops on dtypes they do not support', () => {
    expect(() => tsr.tensor([true]).neg()).toThrow(tsr.DTypeError);
    expect(() => tsr.tensor([1], { dtype: 'int32' }).mean()).toThrow(/mean.*int32/);
    expect(() => tsr.tensor([1], { dtype: 'int32' }).softmax(0)).toThrow(tsr.DTypeError);
    expect(() => tsr.tensor([1], { dtype: 'int32' }).add_(0.5)).toThrow(/can't be cast/);
  });
});

describe('factories', () => {
  it('infers shape and dtype from nested data and typed arrays', () => {
    expect(tsr.tensor([[1, 2], [3, 4]]).shape).toEqual([2, 2]);
    expect(tsr.tensor([[1, 2]]).dtype).toBe('float32');
    expect(tsr.tensor([true, false]).dtype).toBe('bool');
    expect(tsr.tensor(new Int32Array([1, 2])).dtype).toBe('int32');
    expect(tsr.tensor(new Float64Array(6), { shape: [2, 3] }).shape).toEqual([2, 3]);
    expect(tsr.tensor([]).shape).toEqual([0]);
    expect(() => tsr.tensor([[1, 2], [3]])).toThrow(tsr.ShapeError);
  });

  it('arange, linspace, eye, full, zeros/ones with varargs or arrays', () => {
    expect(tsr.arange(5).dtype).toBe('int64');
    expect(tsr.arange(0, 1, 0.25).tolistSync()).toEqual([0, 0.25, 0.5, 0.75]);
    expect(tsr.arange(5, 0, -2).tolistSync()).toEqual([5, 3, 1]);
    expect(tsr.linspace(0, 1, 5).tolistSync()).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expect(tsr.eye(2, 3).tolistSync()).toEqual([[1, 0, 0], [0, 1, 0]]);
    expect(tsr.full([2], 7, { dtype: 'int32' }).tolistSync()).toEqual([7, 7]);
    expect(tsr.zeros(2, 3).shape).toEqual(tsr.zeros([2, 3]).shape);
    expect(tsr.ones([2], { dtype: 'float64' }).dtype).toBe('float64');
    expect(() => tsr.arange(0, 5, 0)).toThrow(tsr.ArgumentError);
  });

  it('manualSeed makes rand/randn/randint reproducible and in range', () => {
    tsr.manualSeed(42);
    const a = tsr.rand(100).tolistSync();
    tsr.manualSeed(42);
    expect(tsr.rand(100).tolistSync()).toEqual(a);
    const r = tsr.randint(-3, 4, [1000]);
    expect(r.amin().itemSync()).toBe(-3);
    expect(r.amax().itemSync()).toBe(3);
    const n = tsr.randn([20000], { dtype: 'float64' });
    expect(Math.abs(n.mean().itemSync() as number)).toBeLessThan(0.05);
    expect(Math.abs((n.std().itemSync() as number) - 1)).toBeLessThan(0.05);
  });

  it('rand draws the stream of repeated uniform() calls (its bulk fill changes no value), for float32 and float64', () => {
    const g = new tsr.Generator(7), bulk = new tsr.Generator(7);
    const one = Array.from({ length: 1001 }, () => g.uniform());
    const filled = new Float64Array(1000);
    bulk.fillUniform(filled);
    expect(Array.from(filled)).toEqual(one.slice(0, 1000));
    expect(bulk.uniform()).toBe(one[1000]);
    expect(Array.from(tsr.rand([1000], { generator: new tsr.Generator(7), dtype: 'float64' }).dataSync() as Float64Array)).toEqual(one.slice(0, 1000));
    expect(Array.from(tsr.rand([1000], { generator: new tsr.Generator(7) }).dataSync() as Float32Array)).toEqual(one.slice(0, 1000).map(Math.fround));
  });

  it('reads values asynchronously and synchronously', async () => {
    const x = tsr.tensor([[1, 2], [3, 4]]);
    expect(await x.tolist()).toEqual([[1, 2], [3, 4]]);
    expect(await x.sum().item()).toBe(10);
    expect(Array.from((await x.t().data()) as Float32Array)).toEqual([1, 3, 2, 4]);
    expect(() => x.itemSync()).toThrow(/one element/);
    expect(String(x)).toBe('tensor([[1.0000, 2.0000],\n        [3.0000, 4.0000]])');
  });
});
