import { describe, expect, it } from 'vitest';
import { IndexError, ShapeError, broadcastShapes, inferShape, matmulShape, normDim, normDims } from '../src/index.js';

describe('shape rules', () => {
  it('broadcasts right-aligned shapes, including 0-size and 0-d', () => {
    expect(broadcastShapes('add', [[2, 1, 3], [4, 1]])).toEqual([2, 4, 3]);
    expect(broadcastShapes('add', [[], [3]])).toEqual([3]);
    expect(broadcastShapes('add', [[0, 1], [1, 5]])).toEqual([0, 5]);
    expect(() => broadcastShapes('add', [[2, 3], [4]])).toThrow(ShapeError);
  });
  it('normalises negative dims and rejects out-of-range ones', () => {
    expect(normDim('x', -1, 3)).toBe(2);
    expect(normDim('x', 0, 0)).toBe(0);
    expect(() => normDim('x', 3, 3)).toThrow(IndexError);
    expect(normDims('x', [-1, 0], 3)).toEqual([0, 2]);
    expect(() => normDims('x', [1, -2], 3)).toThrow(/repeated/);
  });
  it('infers one -1 in a target shape', () => {
    expect(inferShape('view', [6], [2, -1], 6)).toEqual([2, 3]);
    expect(() => inferShape('view', [6], [-1, -1], 6)).toThrow(ShapeError);
  });
  it('follows torch.matmul for 1-D and batched operands', () => {
    expect(matmulShape([3], [3]).out).toEqual([]);
    expect(matmulShape([2, 3], [3]).out).toEqual([2]);
    expect(matmulShape([3], [3, 4]).out).toEqual([4]);
    expect(matmulShape([5, 1, 2, 3], [4, 3, 6]).out).toEqual([5, 4, 2, 6]);
    expect(() => matmulShape([], [3])).toThrow(ShapeError);
  });
});
