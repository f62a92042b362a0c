/**
 * GroupNorm, Conv1d, F.pad, Unflatten and Identity against Debian's torch (same weights and inputs,
 * values and the input gradient); RMSNorm (torch 2.4's, newer than Debian's torch) against its
 * formula in float64.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import * as tsr from 'tessera';
import { PYTHON, skipWithoutTorch } from './torch.js';

const { nn } = tsr;
const F = nn.functional;

const flat = (v: unknown): number[] => (Array.isArray(v) ? v.flatMap(flat) : [v as number]);
const near = (got: unknown, want: unknown, what: string, tol = 1e-5) => {
  const g = flat(got), w = flat(want);
  expect(g.length, what).toBe(w.length);
  g.forEach((a, i) => expect(Math.abs(a - w[i]!) <= tol * Math.max(1, Math.abs(w[i]!)), `${what}[${i}]: ${a} vs ${w[i]}`).toBe(true));
};

describe.skipIf(skipWithoutTorch())('layers match PyTorch (python3-torch)', () => {
  tsr.manualSeed(5);
  const x4 = tsr.randn([2, 6, 3, 2]), x3 = tsr.randn([2, 4, 9]);
  const gn = new nn.GroupNorm(3, 6);
  tsr.noGrad(() => { gn.weight!.copy_(tsr.randn([6])); gn.bias!.copy_(tsr.randn([6])); });
  const c1 = new nn.Conv1d(4, 6, 3, { stride: 2, padding: 1, dilation: 2, groups: 2 });
  const inputs = { x4: x4.tolistSync(), x3: x3.tolistSync(), gw: gn.weight!.tolistSync(), gb: gn.bias!.tolistSync(), cw: c1.weight.tolistSync(), cb: c1.bias!.tolistSync() };
  const TORCH = `
import json, torch, torch.nn.functional as F
o = json.loads(${JSON.stringify(JSON.stringify(inputs))})
x4 = torch.tensor(o['x4'], requires_grad=True); x3 = torch.tensor(o['x3'], requires_grad=True)
gn = F.group_norm(x4, 3, torch.tensor(o['gw']), torch.tensor(o['gb']))
(gn.tanh().sum()).backward()
c1 = F.conv1d(x3, torch.tensor(o['cw']), torch.tensor(o['cb']), stride=2, padding=1, dilation=2, groups=2)
(c1.square().sum()).backward()
x = torch.arange(24.).view(2, 3, 4)
print(json.dumps({
  'gn': gn.tolist(), 'gnGrad': x4.grad.tolist(), 'gnPlain': F.group_norm(x4.detach(), 2).tolist(),
  'c1': c1.tolist(), 'c1Grad': x3.grad.tolist(), 'c1Plain': F.conv1d(x3.detach()[0, :2], torch.tensor(o['cw'])[:, :2].contiguous(), padding=2).tolist(),
  'pad1': F.pad(x, (1, 2)).tolist(), 'pad2': F.pad(x, (0, 1, 2, 0), value=-1.5).tolist(), 'padNeg': F.pad(x, (-1, 1, 0, -2)).tolist(),
  'unflatten': torch.nn.Unflatten(1, (2, 6))(torch.arange(24.).view(2, 12)).tolist(),
}))
`;
  const want = JSON.parse(execFileSync(PYTHON, ['-c', TORCH], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })) as Record<string, unknown>;

  it('GroupNorm (module and F.groupNorm) with its input gradient', () => {
    const x = x4.clone().requiresGrad_();
    const y = gn.forward(x);
    y.tanh().sum().backward();
    near(y.tolistSync(), want['gn'], 'groupNorm');
    near(x.grad!.tolistSync(), want['gnGrad'], 'groupNorm grad');
    near(F.groupNorm(x4, 2).tolistSync(), want['gnPlain'], 'groupNorm without affine');
  });

  it('Conv1d (stride, padding, dilation, groups) and F.conv1d on unbatched input, with the input gradient', () => {
    const x = x3.clone().requiresGrad_();
    const y = c1.forward(x);
    y.square().sum().backward();
    near(y.tolistSync(), want['c1'], 'conv1d');
    near(x.grad!.tolistSync(), want['c1Grad'], 'conv1d grad', 1e-4);
    near(F.conv1d(x3.select(0, 0).narrow(0, 0, 2), c1.weight.narrow(1, 0, 2).contiguous(), undefined, { padding: 2 }).tolistSync(), want['c1Plain'], 'conv1d unbatched');
  });

  it('F.pad (constant, negative amounts crop; refusals of the other modes), Unflatten, Identity', () => {
    const x = tsr.arange(24, { dtype: 'float32' }).view(2, 3, 4);
    expect(F.pad(x, [1, 2]).tolistSync()).toEqual(want['pad1']);
    expect(F.pad(x, [0, 1, 2, 0], 'constant', -1.5).tolistSync()).toEqual(want['pad2']);
    expect(F.pad(x, [-1, 1, 0, -2]).tolistSync()).toEqual(want['padNeg']);
    // Reflect needs amounts below the dim's size; the non-constant modes pad at most 3 dims of [N, C, ...] (the other modes against torch: torch-functions).
    expect(() => F.pad(x, [4, 0], 'reflect')).toThrow(tsr.ArgumentError);
    expect(() => F.pad(x, [1, 1, 1, 1, 1, 1], 'replicate')).toThrow(tsr.NotImplementedError);
    expect(() => F.pad(x, [1])).toThrow(tsr.ArgumentError);
    expect(new nn.Unflatten(1, [2, 6]).forward(tsr.arange(24, { dtype: 'float32' }).view(2, 12)).tolistSync()).toEqual(want['unflatten']);
    const id = new nn.Identity();
    expect(id.forward(x)).toBe(x);
  });
});

describe('RMSNorm', () => {
  it('is x / sqrt(mean(x^2) + eps) * weight over the normalised dims (float64 formula), eps the dtype\'s epsilon by default', () => {
    tsr.manualSeed(2);
    const x = tsr.randn([3, 4, 5]);
    const m = new nn.RMSNorm([4, 5]);
    tsr.noGrad(() => m.weight!.copy_(tsr.randn([4, 5])));
    const y = m.forward(x).tolistSync() as number[][][];
    const xs = x.tolistSync() as number[][][], w = m.weight!.tolistSync() as number[][];
    xs.forEach((plane, i) => {
      const ms = plane.flat().reduce((s, v) => s + v * v, 0) / 20;
      const r = 1 / Math.sqrt(ms + 2 ** -23);
      plane.forEach((row, j) => row.forEach((v, k) => expect(Math.abs(y[i]![j]![k]! - v * r * w[j]![k]!)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(v * r * w[j]![k]!)))));
    });
    expect(() => m.forward(tsr.randn([3, 5, 4]))).toThrow(tsr.ShapeError);
    // An input with fewer dims than normalizedShape, even one matching its tail, is refused too.
    expect(() => new nn.RMSNorm([3, 4]).forward(tsr.randn([3]))).toThrow(tsr.ShapeError);
    expect(() => new nn.RMSNorm([2, -1])).toThrow(tsr.ShapeError);
    expect(() => new nn.RMSNorm([])).toThrow(tsr.ArgumentError);
  });
});
