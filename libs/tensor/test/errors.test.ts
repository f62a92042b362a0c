/** Every user mistake named in the foundation issue raises a typed error naming the op and the operands. */
import { describe, expect, it } from 'vitest';
import * as tsr from '../src/index.js';

const throwsTyped = (fn: () => unknown, type: new (...a: never[]) => Error, ...parts: string[]): void => {
  let err: unknown;
  try { fn(); } catch (e) { err = e; }
  expect(err).toBeInstanceOf(type);
  for (const p of parts) expect((err as Error).message).toContain(p);
};

describe('typed errors', () => {
  it('broadcast mismatch names both shapes', () => throwsTyped(() => tsr.add(tsr.ones(2, 3), tsr.ones(4)), tsr.ShapeError, 'add', '[2, 3]', '[4]'));
  it('matmul mismatch names both shapes', () => throwsTyped(() => tsr.matmul(tsr.ones(2, 3), tsr.ones(4, 5)), tsr.ShapeError, 'matmul', '[2, 3]', '[4, 5]'));
  it('reshape to a wrong element count', () => throwsTyped(() => tsr.ones(6).reshape(4), tsr.ShapeError, 'reshape', '[4]', '[6]'));
  it('dim out of range', () => throwsTyped(() => tsr.ones(2, 3).sum(2), tsr.IndexError, 'sum', 'dim 2', 'rank 2'));
  it('index out of range in gather', () => throwsTyped(() => tsr.ones(2, 3).gather(1, tsr.tensor([[3]], { dtype: 'int64' })), tsr.IndexError, 'gather', 'index 3', 'size 3'));
  it('index out of range in indexSelect', () => throwsTyped(() => tsr.ones(2, 3).indexSelect(0, tsr.tensor([-3], { dtype: 'int64' })), tsr.IndexError, 'indexSelect', 'index -3'));
  it('unsupported dtype', () => throwsTyped(() => tsr.tensor([1], { dtype: 'int32' }).softmax(0), tsr.DTypeError, 'softmax', 'int32'));
  it('float index tensor', () => throwsTyped(() => tsr.ones(3).gather(0, tsr.ones(1)), tsr.DTypeError, 'gather', 'float32'));
  it('unknown dtype in a factory', () => throwsTyped(() => tsr.zeros([2], { dtype: 'float128' as never }), tsr.ArgumentError, 'float128'));
  it('tensors on different devices', () => {
    const fake: tsr.Backend = { ...tsr.jsBackend, device: 'gpujs', name: 'fake' };
    tsr.registerBackend(fake);
    throwsTyped(() => tsr.add(tsr.ones(2), tsr.ones(2, { device: 'gpujs' })), tsr.DeviceError, 'add', 'cpu', 'gpujs');
  });
  it('unavailable device', () => throwsTyped(() => tsr.ones(2).to('cuda'), tsr.DeviceError, "'cuda'", 'not available'));
  it('conv2d channel mismatch', () => throwsTyped(() => tsr.conv2d(tsr.ones(1, 3, 5, 5), tsr.ones(2, 4, 3, 3)), tsr.ShapeError, 'conv2d', 'input channels'));
  it('nothing is half-written when an in-place op fails', () => {
    const x = tsr.zeros(2, 3);
    throwsTyped(() => x.add_(tsr.ones(3, 3)), tsr.ShapeError, 'add');
    throwsTyped(() => x.copy_(tsr.ones(4)), tsr.ShapeError);
    expect(x.tolistSync()).toEqual([[0, 0, 0], [0, 0, 0]]);
    const y = tsr.ones(3);
    throwsTyped(() => y.scatterAdd(0, tsr.tensor([0, 7], { dtype: 'int64' }), tsr.ones(2)), tsr.IndexError, 'scatterAdd', 'index 7');
    expect(y.tolistSync()).toEqual([1, 1, 1]);
  });
});
