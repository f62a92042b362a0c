/**
 * x.index(...) and x.indexPut_([...], v) against Debian's torch's x[...] and x[...] = v on the same
 * tensor: basic indices (views), integer and bool tensor indices (placed as torch places them), the
 * gradient through them, and the errors torch raises.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import * as tsr from 'tessera';
import { PYTHON, skipWithoutTorch } from './torch.js';

const TORCH = `
import json, torch
x = torch.arange(120.).view(2, 3, 4, 5)
m3 = torch.tensor([True, False, True])
g = {
  'last': x[:, -1, :], 'keep': x[:, [-1], :], 'tail': x[:, -2:], 'step': x[..., ::2], 'newaxis': x[None, 1, ..., None],
  'mixedEnd': x[0, 1:3, :, [4, 0]], 'apart': x[[0, 1], :, [1, 2]], 'together': x[:, [0, 2], [1, 3]],
  'broadcast': x[:, [[0], [2]], [1, 3]], 'maskAll': x[x > 100], 'maskDim': x[:, m3], 'maskRow': x[1][x[1] % 7 == 0],
  'negStep': x[1, ::-1] if False else x[1, 1:, 2:4:1, -3:-1],
}
y = x.clone(); y[:, -1] = 0; s1 = y
y = x.clone(); y[y > 50] = -1; s2 = y
y = x.clone(); y[0, :, 1:3, 0] = torch.arange(6.).view(3, 2); s3 = y
y = x.clone(); y[..., 0] = y[..., 1]; s4 = y
xr = x.clone().requires_grad_()
w = torch.arange(1., 1 + 2 * 2 * 5).view(2, 2, 5)
(xr[:, [0, 2], [1, 3]] * w).sum().backward()
out = {k: v.tolist() for k, v in g.items()}
out.update({'set1': s1.tolist(), 'set2': s2.tolist(), 'set3': s3.tolist(), 'set4': s4.tolist(), 'grad': xr.grad.tolist()})
out.update({k + ':shape': list(v.shape) for k, v in g.items()})
print(json.dumps(out))
`;

describe.skipIf(skipWithoutTorch())('indexing matches PyTorch (python3-torch)', () => {
  const want = JSON.parse(execFileSync(PYTHON, ['-c', TORCH], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })) as Record<string, unknown>;
  const x = tsr.arange(120).view(2, 3, 4, 5);
  const long = (v: number[] | number[][]) => tsr.tensor(v, { dtype: 'int64' });
  const m3 = tsr.tensor([true, false, true]);
  const got: Record<string, tsr.Tensor> = {
    last: x.index(':', -1, ':'), keep: x.index(':', long([-1]), ':'), tail: x.index(':', '-2:'), step: x.index('...', '::2'),
    newaxis: x.index(null, 1, '...', null), mixedEnd: x.index(0, '1:3', ':', long([4, 0])), apart: x.index(long([0, 1]), ':', long([1, 2])),
    together: x.index(':', long([0, 2]), long([1, 3])), broadcast: x.index(':', long([[0], [2]]), long([1, 3])), maskAll: x.index(x.gt(100)),
    maskDim: x.index(':', m3), maskRow: x.index(1).index(x.index(1).remainder(7).eq(0)), negStep: x.index(1, tsr.sl(1), tsr.sl(2, 4, 1), '-3:-1'),
  };
  for (const [name, t] of Object.entries(got)) {
    it(`${name}: torch's values and shape`, () => {
      expect(t.shape).toEqual(want[`${name}:shape`]);
      expect(t.tolistSync()).toEqual(want[name]);
    });
  }

  it('basic indices give views (writes reach the tensor); tensor indices give copies', () => {
    const y = tsr.arange(12).view(3, 4);
    y.index(1, '::2').fill_(-1);
    expect((y.tolistSync() as number[][])[1]).toEqual([-1, 5, -1, 7]);
    y.index(long([0])).fill_(100);
    expect((y.tolistSync() as number[][])[0]).toEqual([0, 1, 2, 3]);
  });

  it('assignments: through views, through a bool mask, broadcast values', () => {
    const fresh = () => tsr.arange(120).view(2, 3, 4, 5);
    expect(fresh().indexPut_([':', -1], 0).tolistSync()).toEqual(want['set1']);
    const y2 = fresh();
    expect(y2.indexPut_([y2.gt(50)], -1).tolistSync()).toEqual(want['set2']);
    expect(fresh().indexPut_([0, ':', '1:3', 0], tsr.arange(6).view(3, 2)).tolistSync()).toEqual(want['set3']);
    const y4 = fresh();
    expect(y4.indexPut_(['...', 0], y4.index('...', 1).clone()).tolistSync()).toEqual(want['set4']);
  });

  it("the gradient flows through tensor indices as torch's", () => {
    const xr = tsr.arange(120, { dtype: 'float32' }).view(2, 3, 4, 5).requiresGrad_();
    const w = tsr.arange(1, 21).view(2, 2, 5);
    xr.index(':', long([0, 2]), long([1, 3])).mul(w).sum().backward();
    expect(xr.grad!.tolistSync()).toEqual(want['grad']);
  });

  it('refuses what torch refuses, with typed errors', () => {
    expect(() => x.index(0, 0, 0, 0, 0)).toThrow(tsr.IndexError);
    expect(() => x.index(2)).toThrow(tsr.IndexError);
    expect(() => x.index(long([2]))).toThrow(tsr.IndexError);
    expect(() => x.index(long([-3]))).toThrow(tsr.IndexError);
    expect(() => x.index('::0')).toThrow(tsr.ArgumentError);
    expect(() => x.index('...', '...')).toThrow(tsr.IndexError);
    expect(() => x.index('1:2:3:4')).toThrow(tsr.ArgumentError);
    expect(() => x.index(tsr.tensor([true, false, true]))).toThrow(tsr.IndexError);
    expect(() => x.index(tsr.tensor([0.5]))).toThrow(tsr.IndexError);
    expect(() => x.clone().indexPut_([':', 0], tsr.ones([7]))).toThrow(tsr.ShapeError);
  });
});
