import { describe, expect, it } from 'vitest';
import * as tsr from '../src/index.js';

describe('views share storage and never copy', () => {
  it('view, reshape, permute, transpose, expand, narrow, slice, select, squeeze, unsqueeze and flip alias the base', () => {
    const x = tsr.arange(24, { dtype: 'float32' }).view(2, 3, 4);
    const views = [x.view(6, 4), x.reshape(-1), x.permute(2, 0, 1), x.transpose(0, 2), x.narrow(1, 1, 2), x.slice(2, 1, 4, 2),
      x.select(0, 1), x.unsqueeze(1), x.unsqueeze(1).squeeze(1), x.flip([0, 2]), x.select(2, 0).unsqueeze(-1).expand(2, 3, 5)];
    for (const v of views) expect(v.storage).toBe(x.storage);
    x.select(0, 1).select(0, 1).fill_(-1);
    // Writing through a view is seen by the base and by every other view: x[1, 1, :] held 16..19.
    expect(x.permute(2, 0, 1).select(1, 1).select(1, 1).tolistSync()).toEqual([-1, -1, -1, -1]);
    expect(x.sum().itemSync()).toBe(276 - (16 + 17 + 18 + 19) - 4);
  });

  it('computes shapes, strides and values of each view', () => {
    const x = tsr.arange(12).view(3, 4);
    expect(x.t().strides).toEqual([1, 4]);
    expect(x.t().isContiguous()).toBe(false);
    expect(x.slice(1, 1, undefined, 2).tolistSync()).toEqual([[1, 3], [5, 7], [9, 11]]);
    expect(x.slice(0, -2).tolistSync()).toEqual([[4, 5, 6, 7], [8, 9, 10, 11]]);
    expect(x.flip(1).select(0, 0).tolistSync()).toEqual([3, 2, 1, 0]);
    expect(x.narrow(0, -1, 1).tolistSync()).toEqual([[8, 9, 10, 11]]);
    expect(x.unsqueeze(0).expand(2, -1, -1).strides).toEqual([0, 4, 1]);
    expect(x.flatten().shape).toEqual([12]);
    expect(tsr.zeros(1, 3, 1).squeeze().shape).toEqual([3]);
    expect(x.T.shape).toEqual([4, 3]);
  });

  it('view of a non-contiguous tensor works when strides allow it and reshape copies when they do not', () => {
    const x = tsr.arange(24).view(2, 3, 4).permute(1, 0, 2);
    expect(x.slice(2, 0, 4).view(3, 2, 2, 2).storage).toBe(x.storage);
    expect(() => x.view(6, 4)).toThrow(tsr.ShapeError);
    const r = x.reshape(6, 4);
    expect(r.storage).not.toBe(x.storage);
    expect(r.tolistSync()).toEqual(x.contiguous().view(6, 4).tolistSync());
  });

  it('handles 0-d tensors and zero-size dims', () => {
    const s = tsr.tensor(3.5);
    expect(s.shape).toEqual([]);
    expect(s.itemSync()).toBe(3.5);
    expect(s.add(tsr.ones(2)).tolistSync()).toEqual([4.5, 4.5]);
    expect(s.sum(0).shape).toEqual([]);
    expect(s.unsqueeze(0).shape).toEqual([1]);
    const e = tsr.zeros(0, 3);
    expect(e.add(1).shape).toEqual([0, 3]);
    expect(e.t().shape).toEqual([3, 0]);
    expect(e.view(3, 0).shape).toEqual([3, 0]);
    expect(() => e.view(0, -1)).toThrow(tsr.ShapeError); // -1 is ambiguous with 0 elements, as in PyTorch
    expect(tsr.cat([e, tsr.ones(2, 3)]).shape).toEqual([2, 3]);
    expect(e.matmul(tsr.ones(3, 2)).shape).toEqual([0, 2]);
    expect(tsr.ones(2, 0).matmul(tsr.ones(0, 3)).tolistSync()).toEqual([[0, 0, 0], [0, 0, 0]]);
  });

  it('cat and stack along any dim, with promotion', () => {
    const a = tsr.arange(4, { dtype: 'int32' }).view(2, 2), b = tsr.ones(2, 1);
    const c = tsr.cat([a, b], -1);
    expect(c.dtype).toBe('float32');
    expect(c.tolistSync()).toEqual([[0, 1, 1], [2, 3, 1]]);
    expect(tsr.stack([a, a], 2).shape).toEqual([2, 2, 2]);
    expect(tsr.stack([a, a], 2).select(2, 1).tolistSync()).toEqual(a.tolistSync());
  });

  it('maskedFill, tril and triu keep the input dtype', () => {
    const x = tsr.arange(9, { dtype: 'int32' }).view(3, 3);
    expect(x.maskedFill(x.gt(4), -1).tolistSync()).toEqual([[0, 1, 2], [3, 4, -1], [-1, -1, -1]]);
    expect(x.tril().tolistSync()).toEqual([[0, 0, 0], [3, 4, 0], [6, 7, 8]]);
    expect(x.triu(1).tolistSync()).toEqual([[0, 1, 2], [0, 0, 5], [0, 0, 0]]);
    expect(x.tril(-1).dtype).toBe('int32');
    expect(tsr.ones(2, 2, 3).tril().select(0, 1).tolistSync()).toEqual([[1, 0, 0], [1, 1, 0]]);
  });

  it('dispose releases storage once its last view is gone; tidy disposes intermediates', () => {
    const x = tsr.ones(4);
    const v = x.view(2, 2);
    x.dispose();
    expect(v.sum().itemSync()).toBe(4);
    v.dispose();
    expect(() => v.storage.buffer).toThrow(tsr.TesseraError);
    let inner: tsr.Tensor | undefined;
    const kept = tsr.tidy(() => { inner = tsr.ones(3).mul(2); return inner.add(1); });
    expect(inner!.isDisposed).toBe(true);
    expect(kept.tolistSync()).toEqual([3, 3, 3]);
  });
});

describe('split, chunk, unbind (torch semantics: views)', () => {
  const x = tsr.arange(10);
  const values = (ts: tsr.Tensor[]) => ts.map((t) => t.tolistSync());
  it('splits by size, by sizes, into chunks, and unbinds', () => {
    expect(values(x.split(4))).toEqual([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
    expect(values(x.split([2, 0, 8]))).toEqual([[0, 1], [], [2, 3, 4, 5, 6, 7, 8, 9]]);
    expect(values(x.chunk(3))).toEqual([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
    expect(values(x.chunk(4))).toEqual([[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]);
    expect(x.chunk(6)).toHaveLength(5); // ceil(10 / 6) = 2 per piece: five pieces, as torch
    expect(tsr.arange(5).chunk(4)).toHaveLength(3);
    const m = tsr.arange(6).reshape(2, 3);
    expect(values(m.unbind(1))).toEqual([[0, 3], [1, 4], [2, 5]]);
    expect(values(tsr.split(m, 1, -1))).toEqual([[[0], [3]], [[1], [4]], [[2], [5]]]);
    expect(tsr.chunk(m, 2, 1).map((t) => t.shape)).toEqual([[2, 2], [2, 1]]);
    for (const piece of x.split(3)) expect(piece.storage).toBe(x.storage);
    for (const piece of [...m.unbind(0), ...m.chunk(2, 1)]) expect(piece.storage).toBe(m.storage);
  });
  it('gives empty dims torch\'s pieces', () => {
    expect(tsr.zeros([0]).chunk(3).map((t) => t.shape)).toEqual([[0], [0], [0]]);
    expect(tsr.zeros([0]).split(2).map((t) => t.shape)).toEqual([[0]]);
    expect(tsr.zeros([0]).split(0).map((t) => t.shape)).toEqual([[0]]);
    expect(tsr.zeros([3, 0]).chunk(2, 1).map((t) => t.shape)).toEqual([[3, 0], [3, 0]]);
    expect(tsr.zeros([0, 3]).unbind(0)).toEqual([]);
  });
  it('refuses what torch refuses, with typed errors', () => {
    expect(() => x.chunk(0)).toThrow(tsr.ArgumentError);
    expect(() => x.chunk(-1)).toThrow(tsr.ArgumentError);
    expect(() => x.split(0)).toThrow(tsr.ArgumentError);
    expect(() => x.split(-1)).toThrow(tsr.ArgumentError);
    expect(() => x.split(2.5)).toThrow(tsr.TesseraError);
    expect(() => x.split([3, 3])).toThrow(tsr.ShapeError);
    expect(() => x.split([5, -1, 6])).toThrow(tsr.ArgumentError);
    expect(() => tsr.tensor(1).split(1)).toThrow(tsr.ShapeError);
    expect(() => tsr.tensor(1).chunk(1)).toThrow(tsr.ShapeError);
    expect(() => tsr.tensor(1).unbind()).toThrow(tsr.IndexError);
    expect(() => x.split(2, 1)).toThrow(tsr.IndexError);
  });
});
