/**
 * Functions a PyTorch port reaches for (torch.mm, bmm, addmm, outer, addcmul, addcdiv, roll, view_as,
 * isinf, isfinite, nan_to_num; F.linear, smooth_l1_loss, kl_div, one_hot, normalize,
 * cosine_similarity, and torch.nn.functional's activations, conv2d, pooling (adaptive too),
 * layer_norm, embedding, batch_norm, binary_cross_entropy by their names; sort, argsort, topk,
 * max and min along a dim (their gradients at ties too); any, all, repeat, repeat_interleave, unflatten; einsum; interpolate and
 * Upsample; conv_transpose2d; cumprod and its gradient through zeros; pad's reflect, replicate
 * and circular modes) against Debian's torch (/usr/bin/python3, python3-torch) on the same inputs, and
 * their typed errors where torch raises.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import * as tsr from 'tessera';
import { PYTHON, skipWithoutTorch } from './torch.js';

const { nn } = tsr;
const F = nn.functional;

const X = [[0.5, -1.5, 2.0], [3.0, 0.1, -0.2]];
const T = [[0.4, -1.0, 4.0], [3.5, 0.0, 0.0]];
const P = [[0.2, 0.3, 0.5], [0.0, 0.5, 0.5]];

/** The torch side: each case's result as a nested list (ints stay ints). */
const TORCH = `
import json, torch, torch.nn.functional as F
x = torch.tensor(${JSON.stringify(X)}); t = torch.tensor(${JSON.stringify(T)}); p = torch.tensor(${JSON.stringify(P)})
lq = torch.log_softmax(x, 1)
b1 = torch.arange(24.).view(2, 3, 4) / 7; b2 = torch.arange(16.).view(2, 4, 2) / 5
w = torch.tensor([[0.1, 0.2, 0.3], [-0.4, 0.5, -0.6]]); bias = torch.tensor([0.01, -0.02])
s = torch.tensor([float('nan'), float('inf'), float('-inf'), 1.5])
img = torch.arange(50.).view(2, 1, 5, 5) / 10; k = torch.arange(18.).view(2, 1, 3, 3) / 9 - 0.5; kb = torch.tensor([0.1, -0.1])
rm = torch.tensor([0.5, -1., 0.]); rv = torch.tensor([1., 4., 0.25])
bn_train = F.batch_norm(x, rm, rv, torch.tensor([1., 2., 3.]), torch.tensor([0., 0.5, 0.]), training=True, momentum=0.3)
pb = torch.tensor([[0.0, 0.3, 1.0], [0.9, 0.5, 0.01]]); tb = torch.tensor([[0., 1., 1.], [1., 0.5, 0.]])
st = torch.tensor([[2., 1., 2., float('nan'), -1.], [0., 0., 3., 1., 0.]])
q4 = torch.arange(48.).view(2, 2, 3, 4) / 10; k4 = torch.arange(40.).view(2, 2, 5, 2).repeat(1, 1, 1, 2) / 7
tie = torch.tensor([[1., 3., 3.], [2., 2., 0.]]); tmx = tie.clone().requires_grad_(); tmx.max(1).values.sum().backward()
tmn = tie.neg().requires_grad_(); (tmn.min(1, keepdim=True).values * torch.tensor([[1.], [2.]])).sum().backward()
t0 = torch.tensor(5.).requires_grad_(); (t0.max(0).values * 2 + t0.sort(0).values).backward()
cp = torch.tensor([[0.5, -2.0, 0.0, 3.0, 1.5, -0.25], [1.1, 0.9, -1.2, 2.0, 0.0, 0.0]]); cpr = cp.clone().requires_grad_(); torch.cumprod(cpr, 1).sum().backward(); cpg = cpr.grad
kt = torch.arange(18.).view(1, 2, 3, 3) / 9 - 0.4; ktb = torch.tensor([0.2, -0.3]); img2 = torch.arange(64.).view(1, 4, 4, 4) / 20; kt2 = torch.arange(48.).view(4, 2, 2, 3) / 30 - 0.7
out = {
  'mm': torch.mm(x, t.t()), 'bmm': torch.bmm(b1, b2), 'addmm': torch.addmm(torch.tensor([1., 2.]), x, t.t(), beta=0.5, alpha=2),
  'outer': torch.outer(x[0], t[1]), 'addcmul': x.addcmul(t, p, value=0.5), 'addcdiv': x.addcdiv(t, p + 1, value=-2),
  'roll2': torch.roll(torch.arange(10).view(2, 5), (1, -2), (0, 1)), 'rollflat': torch.roll(torch.arange(6).view(2, 3), 2),
  'isinf': s.isinf(), 'isfinite': s.isfinite(), 'nanToNum': torch.nan_to_num(s), 'nanToNum2': torch.nan_to_num(s, nan=1.0, posinf=2.0),
  'linear': F.linear(x, w, bias), 'smoothL1': F.smooth_l1_loss(x, t), 'smoothL1sum': F.smooth_l1_loss(x, t, beta=0.5, reduction='sum'),
  'smoothL1none0': F.smooth_l1_loss(x, t, beta=0.0, reduction='none'),
  'klBatchmean': F.kl_div(lq, p, reduction='batchmean'), 'klMean': F.kl_div(lq, p, reduction='mean'),
  'klLog': F.kl_div(lq, torch.log(p + 1e-3), reduction='sum', log_target=True), 'klNone': F.kl_div(lq, p, reduction='none'),
  'oneHot': F.one_hot(torch.tensor([2, 0, 1])), 'oneHot5': F.one_hot(torch.tensor([[2], [4]]), 6),
  'normalize': F.normalize(x), 'normalize1': F.normalize(x, p=1.0, dim=0), 'cosine': F.cosine_similarity(x, t), 'cosine0': F.cosine_similarity(x, t, dim=0),
  'reluF': F.relu(x), 'geluF': F.gelu(x), 'geluTanhF': F.gelu(x, approximate='tanh'), 'siluF': F.silu(x), 'softmaxF': F.softmax(x, 1), 'logSoftmaxF': F.log_softmax(x, 0),
  'leakyRelu': F.leaky_relu(x, 0.2), 'leakyReluDefault': F.leaky_relu(x), 'elu': F.elu(x, 0.5),
  'conv2dF': F.conv2d(img, k, kb, stride=2, padding=1), 'maxPoolF': F.max_pool2d(img, 2, stride=1), 'avgPoolF': F.avg_pool2d(img, 3, stride=2, padding=1, count_include_pad=False),
  'adaptive': F.adaptive_avg_pool2d(img, (2, 3)), 'adaptiveEven': F.adaptive_avg_pool2d(img[:, :, :4, :4], 2), 'adaptiveNone': F.adaptive_avg_pool2d(img[0], (None, 2)),
  'layerNormF': F.layer_norm(x, (3,), torch.tensor([1., 2., 3.]), torch.tensor([0., 1., 0.]), 1e-3),
  'embeddingF': F.embedding(torch.tensor([[0, 1], [2, 1]]), w.t(), padding_idx=1),
  'batchNormTrain': bn_train, 'bnRM': rm, 'bnRV': rv, 'batchNormEval': F.batch_norm(x, torch.tensor([0.5, -1., 0.]), torch.tensor([1., 4., 0.25]), torch.tensor([1., 2., 3.]), None, eps=1e-3),
  'sortV': torch.sort(st, dim=1, stable=True)[0], 'sortI': torch.sort(st, dim=1, stable=True)[1], 'sortDescI': torch.sort(st, dim=0, descending=True, stable=True)[1],
  'argsort': torch.sort(st, dim=1, descending=True, stable=True)[1], 'topkV': torch.topk(x, 2, 1)[0], 'topkI': torch.topk(x, 2, 1)[1], 'topkSmall': torch.topk(x, 1, 0, largest=False)[1],
  'maxTieGrad': tmx.grad, 'minTieGrad': tmn.grad, 'scalarGrad': t0.grad, 'maxV': x.max(1)[0], 'maxI': x.max(1)[1], 'minI': x.min(0, keepdim=True)[1], 'maxAll': x.max(), 'minOther': x.min(t),
  'any': (x > 1).any(), 'anyDim': x.gt(1).any(1), 'allDim': x.all(0), 'allKeep': torch.all(x > -1, 1, keepdim=True),
  'repeat': x.repeat(2, 1, 2), 'repeatInterleave': x.repeat_interleave(2, dim=1), 'repeatInterleaveFlat': x.repeat_interleave(2),
  'repeatInterleaveList': x.repeat_interleave(torch.tensor([1, 3]), dim=0), 'unflatten': torch.arange(12).unflatten(0, (3, -1)),
  'einsumMm': torch.einsum('ij,jk->ik', x, t.t()), 'einsumBmm': torch.einsum('bij,bjk->bik', b1, b2), 'einsumDot': torch.einsum('i,i->', x[0], t[1]),
  'einsumT': torch.einsum('ij->ji', x), 'einsumSum': torch.einsum('ij->', x), 'einsumOuter': torch.einsum('i,j', x[0], t[1]),
  'einsumAttn': torch.einsum('bhqd,bhkd->bhqk', q4, k4), 'einsumThree': torch.einsum('ij,jk,kl->il', x, t.t(), x),
  'einsumEll': torch.einsum('...ij,...jk->...ik', b1, b2), 'einsumEllBcast': torch.einsum('...qd,...kd->...qk', q4, b1),
  'einsumEllImplicit': torch.einsum('...ij,jk', b1, b2[0]), 'einsumEllSum': torch.einsum('...i->i', q4),
  'einsumTrace': torch.einsum('ii', torch.arange(9.).view(3, 3)), 'einsumDiag': torch.einsum('ii->i', torch.arange(9.).view(3, 3)),
  'einsumBatchDiag': torch.einsum('bii->bi', torch.arange(18.).view(2, 3, 3)), 'einsumDiagMul': torch.einsum('ii,i->i', torch.arange(9.).view(3, 3), x[0]),
  'nearest2': F.interpolate(img, scale_factor=2, mode='nearest'), 'nearestDown': F.interpolate(img, size=3), 'bilinear': F.interpolate(img, size=(7, 3), mode='bilinear', align_corners=False),
  'bilinearAC': F.interpolate(img, size=(7, 3), mode='bilinear', align_corners=True), 'linear1d': F.interpolate(img[:, 0], scale_factor=1.5, mode='linear'),
  'upsample': torch.nn.Upsample(scale_factor=2, mode='bilinear')(img),
  'convT': F.conv_transpose2d(img, kt, ktb, stride=2, padding=1, output_padding=1), 'convTg': F.conv_transpose2d(img2, kt2, None, stride=(2, 1), padding=(0, 2), groups=2, dilation=(1, 2)),
  'convTop': F.conv_transpose2d(img, kt, None, stride=3, padding=0, output_padding=2),
  'cumprod': torch.cumprod(cp, 1), 'cumprod0': torch.cumprod(cp, 0), 'cumprodInt': torch.cumprod(torch.tensor([[1, -2, 3], [0, 4, 5]]), 1), 'cumprodGrad': cpg,
  'padReflect': F.pad(img, (2, 1, 1, 3), mode='reflect'), 'padReplicate': F.pad(img, (1, 2, 3, 0), mode='replicate'), 'padCircular': F.pad(img, (2, 5, 1, 1), mode='circular'),
  'padReflect1d': F.pad(img[:, 0], (3, 4), mode='reflect'),
  'bce': F.binary_cross_entropy(pb, tb), 'bceSumW': F.binary_cross_entropy(pb, tb, weight=torch.tensor([2., 0.5, 1.]), reduction='sum'), 'bceNone': F.binary_cross_entropy(pb, tb, reduction='none'),
}
print(json.dumps({k: v.tolist() for k, v in out.items()}).replace('NaN', '"NaN"').replace('-Infinity', '"-Infinity"').replace('Infinity', '"Infinity"'))
`;

describe.skipIf(skipWithoutTorch())('torch functions match PyTorch (python3-torch)', () => {
  const want = JSON.parse(execFileSync(PYTHON, ['-c', TORCH], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }), (_, v) => (v === 'NaN' ? NaN : v === 'Infinity' ? Infinity : v === '-Infinity' ? -Infinity : v)) as Record<string, unknown>;
  const x = tsr.tensor(X), t = tsr.tensor(T), p = tsr.tensor(P);
  const lq = x.logSoftmax(1);
  const b1 = tsr.arange(24).view(2, 3, 4).div(7), b2 = tsr.arange(16).view(2, 4, 2).div(5);
  const w = tsr.tensor([[0.1, 0.2, 0.3], [-0.4, 0.5, -0.6]]), bias = tsr.tensor([0.01, -0.02]);
  const s = tsr.tensor([NaN, Infinity, -Infinity, 1.5]);
  const img = tsr.arange(50).view(2, 1, 5, 5).div(10), k = tsr.arange(18).view(2, 1, 3, 3).div(9).sub(0.5), kb = tsr.tensor([0.1, -0.1]);
  const rm = tsr.tensor([0.5, -1, 0]), rv = tsr.tensor([1, 4, 0.25]);
  const bnTrain = F.batchNorm(x, rm, rv, tsr.tensor([1, 2, 3]), tsr.tensor([0, 0.5, 0]), true, 0.3);
  const pb = tsr.tensor([[0, 0.3, 1], [0.9, 0.5, 0.01]]), tb = tsr.tensor([[0, 1, 1], [1, 0.5, 0]]);
  const st = tsr.tensor([[2, 1, 2, NaN, -1], [0, 0, 3, 1, 0]]);
  const q4 = tsr.arange(48).view(2, 2, 3, 4).div(10), k4 = tsr.arange(40).view(2, 2, 5, 2).repeat(1, 1, 1, 2).div(7);
  const cp = tsr.tensor([[0.5, -2, 0, 3, 1.5, -0.25], [1.1, 0.9, -1.2, 2, 0, 0]]);
  // max/min along a dim send the gradient to the returned index only, ties or not (amax shares it).
  const tie = tsr.tensor([[1, 3, 3], [2, 2, 0]]), tmx = tie.clone().requiresGrad_(), tmn = tie.neg().requiresGrad_();
  tmx.max(1).values.sum().backward(); tmn.min(1, { keepdim: true }).values.mul(tsr.tensor([[1], [2]])).sum().backward();
  const t0 = tsr.tensor(5).requiresGrad_(); t0.max(0).values.mul(2).add(t0.sort(0).values).backward();
  const cpr = cp.clone().requiresGrad_(); tsr.cumprod(cpr, 1).sum().backward(); const cpg = cpr.grad!;
  const kt = tsr.arange(18).view(1, 2, 3, 3).div(9).sub(0.4), ktb = tsr.tensor([0.2, -0.3]), img2 = tsr.arange(64).view(1, 4, 4, 4).div(20), kt2 = tsr.arange(48).view(4, 2, 2, 3).div(30).sub(0.7);
  const ours: Record<string, tsr.Tensor> = {
    mm: tsr.mm(x, t.t()), bmm: b1.bmm(b2), addmm: tsr.addmm(tsr.tensor([1, 2]), x, t.t(), { beta: 0.5, alpha: 2 }),
    outer: x.select(0, 0).outer(t.select(0, 1)), addcmul: x.addcmul(t, p, { value: 0.5 }), addcdiv: x.addcdiv(t, p.add(1), { value: -2 }),
    roll2: tsr.arange(10).view(2, 5).roll([1, -2], [0, 1]), rollflat: tsr.arange(6).view(2, 3).roll(2),
    isinf: s.isinf(), isfinite: s.isfinite(), nanToNum: s.nanToNum(), nanToNum2: s.nanToNum({ nan: 1, posinf: 2 }),
    linear: F.linear(x, w, bias), smoothL1: F.smoothL1Loss(x, t), smoothL1sum: F.smoothL1Loss(x, t, { beta: 0.5, reduction: 'sum' }),
    smoothL1none0: F.smoothL1Loss(x, t, { beta: 0, reduction: 'none' }),
    klBatchmean: F.klDiv(lq, p, { reduction: 'batchmean' }), klMean: F.klDiv(lq, p, { reduction: 'mean' }),
    klLog: F.klDiv(lq, p.add(1e-3).log(), { reduction: 'sum', logTarget: true }), klNone: F.klDiv(lq, p, { reduction: 'none' }),
    oneHot: F.oneHot(tsr.tensor([2, 0, 1], { dtype: 'int64' })), oneHot5: F.oneHot(tsr.tensor([[2], [4]], { dtype: 'int64' }), 6),
    normalize: F.normalize(x), normalize1: F.normalize(x, { p: 1, dim: 0 }), cosine: F.cosineSimilarity(x, t), cosine0: F.cosineSimilarity(x, t, { dim: 0 }),
    reluF: F.relu(x), geluF: F.gelu(x), geluTanhF: F.gelu(x, { approximate: 'tanh' }), siluF: F.silu(x), softmaxF: F.softmax(x, 1), logSoftmaxF: F.logSoftmax(x, 0),
    leakyRelu: F.leakyRelu(x, 0.2), leakyReluDefault: F.leakyRelu(x), elu: F.elu(x, 0.5),
    conv2dF: F.conv2d(img, k, kb, { stride: 2, padding: 1 }), maxPoolF: F.maxPool2d(img, 2, { stride: 1 }), avgPoolF: F.avgPool2d(img, 3, { stride: 2, padding: 1, countIncludePad: false }),
    adaptive: F.adaptiveAvgPool2d(img, [2, 3]), adaptiveEven: F.adaptiveAvgPool2d(img.narrow(2, 0, 4).narrow(3, 0, 4), 2), adaptiveNone: F.adaptiveAvgPool2d(img.select(0, 0), [null, 2]),
    layerNormF: F.layerNorm(x, [3], tsr.tensor([1, 2, 3]), tsr.tensor([0, 1, 0]), 1e-3),
    embeddingF: F.embedding(tsr.tensor([[0, 1], [2, 1]], { dtype: 'int64' }), w.t(), { paddingIdx: 1 }),
    batchNormTrain: bnTrain, bnRM: rm, bnRV: rv, batchNormEval: F.batchNorm(x, tsr.tensor([0.5, -1, 0]), tsr.tensor([1, 4, 0.25]), tsr.tensor([1, 2, 3]), undefined, false, 0.1, 1e-3),
    sortV: st.sort(1).values, sortI: st.sort(1).indices, sortDescI: st.sort(0, { descending: true }).indices,
    argsort: st.argsort(1, { descending: true }), topkV: x.topk(2, 1).values, topkI: x.topk(2, 1).indices, topkSmall: x.topk(1, 0, { largest: false }).indices,
    maxTieGrad: tmx.grad!, minTieGrad: tmn.grad!, scalarGrad: t0.grad!, maxV: x.max(1).values, maxI: x.max(1).indices, minI: x.min(0, { keepdim: true }).indices, maxAll: x.max(), minOther: x.min(t),
    any: x.gt(1).any(), anyDim: x.gt(1).any(1), allDim: x.all(0), allKeep: tsr.all(x.gt(-1), 1, { keepdim: true }),
    repeat: x.repeat(2, 1, 2), repeatInterleave: x.repeatInterleave(2, 1), repeatInterleaveFlat: x.repeatInterleave(2),
    repeatInterleaveList: x.repeatInterleave(tsr.tensor([1, 3], { dtype: 'int64' }), 0), unflatten: tsr.arange(12).unflatten(0, [3, -1]),
    einsumMm: tsr.einsum('ij,jk->ik', x, t.t()), einsumBmm: tsr.einsum('bij,bjk->bik', b1, b2), einsumDot: tsr.einsum('i,i->', x.select(0, 0), t.select(0, 1)),
    einsumT: tsr.einsum('ij->ji', x), einsumSum: tsr.einsum('ij->', x), einsumOuter: tsr.einsum('i,j', x.select(0, 0), t.select(0, 1)),
    einsumAttn: tsr.einsum('bhqd,bhkd->bhqk', q4, k4), einsumThree: tsr.einsum('ij,jk,kl->il', x, t.t(), x),
    einsumEll: tsr.einsum('...ij,...jk->...ik', b1, b2), einsumEllBcast: tsr.einsum('...qd,...kd->...qk', q4, b1),
    einsumEllImplicit: tsr.einsum('...ij,jk', b1, b2.select(0, 0)), einsumEllSum: tsr.einsum('...i->i', q4),
    einsumTrace: tsr.einsum('ii', tsr.arange(9).view(3, 3).float()), einsumDiag: tsr.einsum('ii->i', tsr.arange(9).view(3, 3).float()),
    einsumBatchDiag: tsr.einsum('bii->bi', tsr.arange(18).view(2, 3, 3).float()), einsumDiagMul: tsr.einsum('ii,i->i', tsr.arange(9).view(3, 3).float(), x.select(0, 0)),
    nearest2: F.interpolate(img, { scaleFactor: 2, mode: 'nearest' }), nearestDown: F.interpolate(img, { size: 3 }), bilinear: F.interpolate(img, { size: [7, 3], mode: 'bilinear', alignCorners: false }),
    bilinearAC: F.interpolate(img, { size: [7, 3], mode: 'bilinear', alignCorners: true }), linear1d: F.interpolate(img.select(1, 0), { scaleFactor: 1.5, mode: 'linear' }),
    upsample: new nn.Upsample({ scaleFactor: 2, mode: 'bilinear' }).forward(img),
    convT: F.convTranspose2d(img, kt, ktb, { stride: 2, padding: 1, outputPadding: 1 }), convTg: F.convTranspose2d(img2, kt2, undefined, { stride: [2, 1], padding: [0, 2], groups: 2, dilation: [1, 2] }),
    convTop: F.convTranspose2d(img, kt, undefined, { stride: 3, padding: 0, outputPadding: 2 }),
    cumprod: tsr.cumprod(cp, 1), cumprod0: cp.cumprod(0), cumprodInt: tsr.tensor([[1, -2, 3], [0, 4, 5]]).cumprod(1), cumprodGrad: cpg,
    padReflect: F.pad(img, [2, 1, 1, 3], 'reflect'), padReplicate: F.pad(img, [1, 2, 3, 0], 'replicate'), padCircular: F.pad(img, [2, 5, 1, 1], 'circular'),
    padReflect1d: F.pad(img.select(1, 0), [3, 4], 'reflect'),
    bce: F.binaryCrossEntropy(pb, tb), bceSumW: F.binaryCrossEntropy(pb, tb, { weight: tsr.tensor([2, 0.5, 1]), reduction: 'sum' }), bceNone: F.binaryCrossEntropy(pb, tb, { reduction: 'none' }),
  };
  for (const [name, got] of Object.entries(ours)) {
    it(`${name} gives torch's values`, () => {
      const flat = (v: unknown): number[] => (Array.isArray(v) ? v.flatMap(flat) : [Number(v)]);
      const g = flat(got.tolistSync()), e = flat(want[name]);
      expect(g.length).toBe(e.length);
      g.forEach((a, i) => {
        const b = e[i]!;
        // float32 on both sides, computed in different orders: a few float32 ulps apart at most.
        expect(Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b)) || Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(b)), `${name}[${i}]: ${a} vs torch ${b}`).toBe(true);
      });
    });
  }

  it("F.embedding's padding row gets no gradient; F.batchNorm needs running statistics when not training", () => {
    const weight = tsr.randn([4, 3]).requiresGrad_();
    F.embedding(tsr.tensor([[0, 1], [1, 3]], { dtype: 'int64' }), weight, { paddingIdx: 1 }).sum().backward();
    expect(weight.grad!.tolistSync()).toEqual([[1, 1, 1], [0, 0, 0], [0, 0, 0], [1, 1, 1]]);
    expect(() => F.batchNorm(x, undefined, undefined)).toThrow(tsr.ArgumentError);
    expect(() => F.batchNorm(x, tsr.zeros([2]), tsr.ones([2]))).toThrow(tsr.ShapeError);
    expect(() => F.adaptiveAvgPool2d(x, 2)).toThrow(tsr.ShapeError);
    expect(() => F.binaryCrossEntropy(pb, tb.narrow(1, 0, 2))).toThrow(tsr.ShapeError);
  });

  it('multinomial draws in proportion to the weights, without replacement draws each category once, and refuses what torch refuses', () => {
    const g = new tsr.Generator(); g.manualSeed(3);
    const w = tsr.tensor([1, 0, 3, 6]);
    const draws = tsr.multinomial(w, 20000, { replacement: true, generator: g }).tolistSync() as number[];
    const counts = [0, 1, 2, 3].map((c) => draws.filter((d) => d === c).length);
    expect(counts[1]).toBe(0);
    // Each count within 4 standard deviations of its expectation (a failure here is a real bias, not chance).
    [0.1, 0, 0.3, 0.6].forEach((p, c) => expect(Math.abs(counts[c]! - 20000 * p) <= 4 * Math.sqrt(20000 * p * (1 - p)) + 1e-9, `category ${c}: ${counts[c]}`).toBe(true));
    const rows = tsr.multinomial(tsr.tensor([[1, 1, 1, 1], [0, 2, 1, 0]]), 2, { generator: g }).tolistSync() as number[][];
    expect(new Set(rows[0]).size).toBe(2);
    expect([...rows[1]!].sort()).toEqual([1, 2]);
    // Same seed, same draws.
    const a = new tsr.Generator(); a.manualSeed(9); const b = new tsr.Generator(); b.manualSeed(9);
    expect(w.multinomial(5, { replacement: true, generator: a }).tolistSync()).toEqual(w.multinomial(5, { replacement: true, generator: b }).tolistSync());
    expect(() => tsr.multinomial(tsr.tensor([1, -1]), 1)).toThrow(tsr.ArgumentError);
    expect(() => tsr.multinomial(tsr.tensor([0, 0]), 1)).toThrow(tsr.ArgumentError);
    expect(() => tsr.multinomial(tsr.tensor([1, 0]), 2)).toThrow(tsr.ArgumentError);
    expect(() => tsr.multinomial(tsr.tensor([1, 1]), 3)).toThrow(tsr.ArgumentError);
    expect(() => tsr.multinomial(tsr.ones([2, 2, 2]), 1)).toThrow(tsr.ShapeError);
    expect(() => x.topk(4, 1)).toThrow(tsr.ArgumentError);
    expect(() => tsr.einsum('ij->i', tsr.ones([2, 3, 1]))).toThrow(tsr.ShapeError);
    expect(() => tsr.einsum('......i', tsr.ones([2]))).toThrow(tsr.ArgumentError);
    expect(() => tsr.einsum('...i,...i', tsr.ones([2, 3]), tsr.ones([4, 3]))).toThrow(tsr.ShapeError);
    expect(() => tsr.einsum('ii', tsr.ones([2, 3]))).toThrow(tsr.ShapeError);
    expect(() => tsr.einsum('ij,jk->ik', x, x)).toThrow(tsr.ShapeError);
    expect(() => tsr.einsum('ij,jk', x)).toThrow(tsr.ArgumentError);
    expect(() => F.interpolate(x.unsqueeze(0), { size: 4, mode: 'bilinear' })).toThrow(tsr.ArgumentError);
  });

  it('refuses what torch refuses, with typed errors', () => {
    expect(() => tsr.mm(x, tsr.tensor([1, 2, 3]))).toThrow(tsr.ShapeError);
    expect(() => tsr.bmm(b1, tsr.ones([3, 4, 2]))).toThrow(tsr.ShapeError);
    expect(() => x.outer(t)).toThrow(tsr.ShapeError);
    expect(() => tsr.addmm(tsr.ones([3]), x, t.t())).toThrow(tsr.ShapeError);
    expect(() => tsr.ones([2], { dtype: 'int64' }).addcdiv(tsr.ones([2], { dtype: 'int64' }), tsr.ones([2], { dtype: 'int64' }))).toThrow(tsr.DTypeError);
    expect(() => x.roll([1, 2], [0])).toThrow(tsr.ShapeError);
    expect(() => F.oneHot(tsr.tensor([-1, 0], { dtype: 'int64' }))).toThrow(tsr.ArgumentError);
    expect(() => F.oneHot(tsr.tensor([3], { dtype: 'int64' }), 2)).toThrow(tsr.ArgumentError);
    expect(() => F.oneHot(tsr.tensor([1.5]))).toThrow(tsr.DTypeError);
    expect(() => F.smoothL1Loss(x, t, { beta: -1 })).toThrow(tsr.ArgumentError);
    expect(() => F.klDiv(lq, p, { reduction: 'avg' as 'mean' })).toThrow(tsr.ArgumentError);
  });
});
