import { describe, expect, it } from 'vitest';
import * as tsr from 'tessera';

const { nn } = tsr;
const F = nn.functional;

class Net extends nn.Module {
  fc1 = new nn.Linear(4, 3);
  blocks = new nn.ModuleList([new nn.LayerNorm(3), new nn.Linear(3, 2, { bias: false })]);
  bn = new nn.BatchNorm(2);
  forward(x: tsr.Tensor): tsr.Tensor {
    let h = this.fc1.forward(x).relu();
    for (const m of this.blocks) h = m.forward(h);
    return this.bn.forward(h);
  }
}

describe('Module', () => {
  it('discovers parameters, buffers and children from properties, with PyTorch names', () => {
    const net = new Net();
    expect([...net.namedParameters()].map(([k]) => k)).toEqual(['fc1.weight', 'fc1.bias', 'blocks.0.weight', 'blocks.0.bias', 'blocks.1.weight', 'bn.weight', 'bn.bias']);
    expect([...net.namedBuffers()].map(([k]) => k)).toEqual(['bn.runningMean', 'bn.runningVar', 'bn.numBatchesTracked']);
    expect(Object.keys(new nn.Sequential(new nn.Linear(2, 2), new nn.ReLU(), new nn.Linear(2, 1)).stateDict())).toEqual(['0.weight', '0.bias', '2.weight', '2.bias']);
  });

  it('ModuleDict, ParameterList and ParameterDict register what they hold under torch\'s names; apply visits children before parents', () => {
    const d = new nn.ModuleDict({ enc: new nn.Linear(3, 4), dec: new nn.Linear(4, 3) });
    expect([d.keys(), d.size, d.has('enc'), d.get('nope')]).toEqual([['enc', 'dec'], 2, true, undefined]);
    d.set('act', new nn.ReLU());
    expect(d.delete('dec')).toBe(true);
    expect(Object.keys(d.stateDict())).toEqual(['enc.weight', 'enc.bias']);
    expect(d.items().map(([k]) => k)).toEqual(['enc', 'act']);
    expect(() => d.set('forward', new nn.ReLU())).toThrow(tsr.ArgumentError);
    const pl = new nn.ParameterList([tsr.randn([2]), tsr.randn([3])]);
    expect([...pl.namedParameters()].map(([k, p]) => [k, p.shape, p.requiresGrad])).toEqual([['0', [2], true], ['1', [3], true]]);
    expect([pl.length, [...pl].length, pl.at(-1).shape]).toEqual([2, 2, [3]]);
    const pd = new nn.ParameterDict({ a: tsr.randn([2]) });
    pd.set('b', tsr.zeros([1]));
    expect([pd.keys(), pd.get('b')!.requiresGrad]).toEqual([['a', 'b'], true]);
    const holder = new (class extends nn.Module { params = pl; table = d; forward(x: tsr.Tensor) { return x; } })();
    expect(holder.parameters().length).toBe(4);
    const seen: string[] = [];
    new nn.Sequential(new nn.Linear(2, 2), new nn.ReLU()).apply((m) => seen.push(m.constructor.name));
    expect(seen).toEqual(['Linear', 'ReLU', 'Sequential']);
  });

  it('train/eval reach every submodule; zeroGrad clears gradients', () => {
    const net = new Net();
    net.eval();
    expect([...net.namedModules()].every(([, m]) => !m.training)).toBe(true);
    net.train();
    net.forward(tsr.randn([5, 4])).sum().backward();
    expect(net.fc1.weight.grad).toBeDefined();
    net.zeroGrad();
    expect(net.parameters().every((p) => p.grad === undefined)).toBe(true);
  });

  it('stateDict round-trips; loadStateDict rejects missing, unexpected and mis-shaped entries', () => {
    const a = new Net(), b = new Net();
    b.loadStateDict(a.stateDict());
    const x = tsr.randn([3, 4]);
    a.eval(); b.eval();
    expect(b.forward(x).tolistSync()).toEqual(a.forward(x).tolistSync());
    const sd = a.stateDict();
    const { ['fc1.bias']: _drop, ...missing } = sd;
    expect(() => b.loadStateDict(missing)).toThrow(/missing keys: fc1.bias/);
    expect(() => b.loadStateDict({ ...sd, extra: tsr.ones(1) })).toThrow(/unexpected keys: extra/);
    expect(() => b.loadStateDict({ ...sd, 'fc1.weight': tsr.ones(2, 2) })).toThrow(tsr.ShapeError);
    expect(() => b.loadStateDict(missing, { strict: false })).not.toThrow();
  });

  it('to(dtype) converts parameters and buffers', () => {
    const net = new Net().to('float64');
    expect(net.parameters().every((p) => p.dtype === 'float64' && p.requiresGrad)).toBe(true);
    expect(net.forward(tsr.randn([2, 4], { dtype: 'float64' })).dtype).toBe('float64');
  });
});

describe('layers', () => {
  it('Linear and Conv2d match their functional definitions and PyTorch default init bounds', () => {
    const lin = new nn.Linear(50, 7);
    const bound = 1 / Math.sqrt(50);
    expect(lin.weight.abs().amax().itemSync() as number).toBeLessThanOrEqual(bound);
    const x = tsr.randn([3, 50]);
    expect(lin.forward(x).tolistSync()).toEqual(x.matmul(lin.weight.t()).add(lin.bias!).tolistSync());
    const conv = new nn.Conv2d(2, 4, 3, { padding: 1, stride: 2 });
    const img = tsr.randn([1, 2, 5, 5]);
    expect(conv.forward(img).tolistSync()).toEqual(img.conv2d(conv.weight, conv.bias, { padding: 1, stride: 2 }).tolistSync());
  });

  it('Linear\'s weight gradient is contiguous, as PyTorch\'s, and is gᵀx; a transposed left operand\'s gradient keeps its layout too', () => {
    const lin = new nn.Linear(6, 4);
    const x = tsr.randn([5, 6]), g = tsr.randn([5, 4]);
    lin.forward(x).backward(g);
    const gw = lin.weight.grad!;
    expect(gw.isContiguous()).toBe(true);
    expect(gw.tolistSync()).toEqual(g.t().matmul(x).tolistSync());
    // a = p.t() with p [3, 5] contiguous: a's gradient comes in a's (column-major) layout, p's contiguous.
    const p = tsr.randn([3, 5], { requiresGrad: true }), b = tsr.randn([3, 2]), h = tsr.randn([5, 2]);
    p.t().matmul(b).backward(h);
    expect(p.grad!.isContiguous()).toBe(true);
    expect(p.grad!.tolistSync()).toEqual(b.matmul(h.t()).tolistSync());
  });

  it('BatchNorm normalises with batch statistics in training and running ones in eval', () => {
    const bn = new nn.BatchNorm(3, { momentum: 0.5 });
    const x = tsr.randn([16, 3, 2, 2]).mul(3).add(5);
    const y = bn.forward(x);
    expect(Math.abs(y.mean([0, 2, 3]).amax().itemSync() as number)).toBeLessThan(1e-5);
    expect(Math.abs((y.var([0, 2, 3], { correction: 0 }).mean().itemSync() as number) - 1)).toBeLessThan(1e-3);
    const rm = x.mean([0, 2, 3]).mul(0.5);
    expect(bn.runningMean.sub(rm).abs().amax().itemSync() as number).toBeLessThan(1e-5);
    bn.eval();
    const z = bn.forward(x);
    expect(z.sub(x.sub(bn.runningMean.reshape(1, 3, 1, 1)).div(bn.runningVar.add(1e-5).sqrt().reshape(1, 3, 1, 1))).abs().amax().itemSync() as number).toBeLessThan(1e-5);
  });

  it('Embedding with paddingIdx keeps the padding row at zero and out of training', () => {
    const emb = new nn.Embedding(5, 3, { paddingIdx: 0 });
    expect(emb.weight.select(0, 0).tolistSync()).toEqual([0, 0, 0]);
    emb.forward(tsr.tensor([[0, 2, 0]], { dtype: 'int64' })).sum().backward();
    expect(emb.weight.grad!.select(0, 0).tolistSync()).toEqual([0, 0, 0]);
    expect(emb.weight.grad!.select(0, 2).tolistSync()).toEqual([1, 1, 1]);
  });

  it('Dropout is identity in eval and keeps the expectation in training', () => {
    const d = new nn.Dropout(0.3);
    const x = tsr.ones(20000);
    expect(Math.abs((d.forward(x).mean().itemSync() as number) - 1)).toBeLessThan(0.03);
    d.eval();
    expect(d.forward(x).tolistSync()).toEqual(x.tolistSync());
  });

  it('causal multi-head attention does not look ahead', () => {
    tsr.manualSeed(5);
    const mha = new nn.MultiheadAttention(8, 2, { causal: true, batchFirst: true });
    const x = tsr.randn([2, 5, 8]);
    const [y] = mha.forward(x);
    const x2 = x.clone();
    tsr.noGrad(() => x2.narrow(1, 3, 2).fill_(9));
    const [y2] = mha.forward(x2);
    expect(y2.narrow(1, 0, 3).sub(y.narrow(1, 0, 3)).abs().amax().itemSync() as number).toBeLessThan(1e-6);
    expect(y2.narrow(1, 3, 2).sub(y.narrow(1, 3, 2)).abs().amax().itemSync() as number).toBeGreaterThan(1e-3);
  });

  it('multi-head attention in training returns the weights it applied, after dropout (as torch)', () => {
    tsr.manualSeed(6);
    const mha = new nn.MultiheadAttention(8, 2, { dropout: 0.5, batchFirst: true, bias: false });
    const x = tsr.randn([1, 6, 8]);
    const [y, w] = mha.forward(x, x, x, { averageAttnWeights: false });
    const weights = w!.tolistSync() as number[][][][];
    expect(weights.flat(3).some((v) => v === 0), 'dropped weights are zeros').toBe(true);
    // The output is exactly these weights applied to the projected values, then projected out.
    const vProj = x.matmul(mha.inProjWeight.narrow(0, 16, 8).t()).view(1, 6, 2, 4).transpose(1, 2);
    const mixed = w!.matmul(vProj).transpose(1, 2).reshape(1, 6, 8);
    const want = mixed.matmul(mha.outProj.weight.t());
    expect(want.sub(y).abs().amax().itemSync() as number).toBeLessThan(1e-5);
  });
});

describe('optimizers, schedulers, clipping', () => {
  it('optimizer state dicts round-trip and continue identically', () => {
    const mk = () => { tsr.manualSeed(3); const m = new nn.Linear(3, 2); return { m, o: new nn.Adam(m.parameters(), { lr: 0.1 }) }; };
    const x = tsr.randn([4, 3]);
    const stepOnce = (m: tsr.nn.Linear, o: tsr.nn.Adam) => { o.zeroGrad(); m.forward(x).square().sum().backward(); o.step(); };
    const a = mk(), b = mk();
    stepOnce(a.m, a.o); stepOnce(b.m, b.o);
    const c = mk();
    c.m.loadStateDict(a.m.stateDict());
    c.o.loadStateDict(a.o.stateDict());
    stepOnce(a.m, a.o); stepOnce(c.m, c.o);
    expect(c.m.weight.tolistSync()).toEqual(a.m.weight.tolistSync());
    // State the optimizer drops (an empty state loaded) is made fresh, as torch's: tensors an earlier
    // stateDict() returned keep their values.
    const held = a.o.stateDict();
    const kept = (held.state[0]!['expAvg'] as tsr.Tensor).tolistSync();
    a.o.loadStateDict({ state: {}, paramGroups: held.paramGroups });
    stepOnce(a.m, a.o); stepOnce(a.m, a.o);
    expect((held.state[0]!['expAvg'] as tsr.Tensor).tolistSync()).toEqual(kept);
    expect((a.o.stateDict().state[0]!['step'])).toBe(2);
  });

  it('RMSprop, Adagrad and Adadelta state dicts round-trip and continue identically; bad hyperparameters are typed errors', () => {
    const x = tsr.randn([4, 3]);
    const makers = [
      (ps: tsr.Tensor[]) => new nn.RMSprop(ps, { lr: 0.01, momentum: 0.5, centered: true }),
      (ps: tsr.Tensor[]) => new nn.Adagrad(ps, { lr: 0.1, initialAccumulatorValue: 0.1 }),
      (ps: tsr.Tensor[]) => new nn.Adadelta(ps, { lr: 1 }),
    ];
    for (const make of makers) {
      const mk = () => { tsr.manualSeed(3); const m = new nn.Linear(3, 2); return { m, o: make(m.parameters()) }; };
      const stepOnce = (m: tsr.nn.Linear, o: { zeroGrad(): void; step(): void }) => { o.zeroGrad(); m.forward(x).square().sum().backward(); o.step(); };
      const a = mk(), c = mk();
      stepOnce(a.m, a.o);
      c.m.loadStateDict(a.m.stateDict());
      c.o.loadStateDict(a.o.stateDict());
      stepOnce(a.m, a.o); stepOnce(c.m, c.o);
      expect(c.m.weight.tolistSync()).toEqual(a.m.weight.tolistSync());
    }
    const ps = new nn.Linear(3, 2).parameters();
    expect(() => new nn.RMSprop(ps, { alpha: -1 })).toThrow(tsr.ArgumentError);
    expect(() => new nn.Adagrad(ps, { eps: Number.NaN })).toThrow(tsr.ArgumentError);
    expect(() => new nn.Adadelta(ps, { rho: 1.5 })).toThrow(tsr.ArgumentError);
    expect(() => new nn.Adadelta(ps, { lr: -1 })).toThrow(tsr.ArgumentError);
    // The Adam family checks what torch checks: each beta in [0, 1), eps and weightDecay >= 0.
    expect(() => new nn.Adam(ps, { betas: [1, 0.999] })).toThrow(/invalid beta parameter at index 0/);
    expect(() => new nn.AdamW(ps, { betas: [0.9, -0.1] })).toThrow(/invalid beta parameter at index 1/);
    expect(() => new nn.AdamW(ps, { eps: -1e-8 })).toThrow(tsr.ArgumentError);
    expect(() => new nn.Adam(ps, { weightDecay: Number.NaN })).toThrow(tsr.ArgumentError);
    expect(() => new nn.NAdam(ps, { betas: [0.9] as unknown as [number, number] })).toThrow(/betas must be a pair/);
    expect(() => new nn.AdamW(ps, { betas: [0, 0.5] })).not.toThrow();
  });

  it('schedulers follow their closed forms', () => {
    const p = [tsr.ones(1).requiresGrad_()];
    const o = new nn.SGD(p, { lr: 1 });
    const s = new nn.StepLR(o, 2, 0.5);
    const lrs = [o.paramGroups[0]!.lr];
    for (let i = 0; i < 4; i++) { s.step(); lrs.push(o.paramGroups[0]!.lr); }
    expect(lrs).toEqual([1, 1, 0.5, 0.5, 0.25]);
    const o2 = new nn.SGD(p, { lr: 1 });
    const c = new nn.CosineAnnealingLR(o2, 4);
    c.step(); c.step();
    expect(o2.paramGroups[0]!.lr).toBeCloseTo(0.5, 12);
    const o3 = new nn.SGD(p, { lr: 1 });
    new nn.LinearLR(o3, 0.25, 1, 3);
    expect(o3.paramGroups[0]!.lr).toBe(0.25);
  });

  it('clipGradNorm_ scales gradients to the max norm and returns the norm before clipping', () => {
    const a = tsr.tensor([3, 4]).requiresGrad_();
    a.mul(a).mul(0.5).sum().backward();
    expect(nn.clipGradNorm_([a], 1).itemSync()).toBeCloseTo(5, 6);
    expect(a.grad!.norm().itemSync() as number).toBeCloseTo(1, 5);
  });
});

describe('losses', () => {
  it('crossEntropy with ignoreIndex and labelSmoothing, nll, mse, bceWithLogits (values from torch 1.13)', () => {
    const logits = tsr.tensor([[2, 0.5, -1], [0.1, 0.2, 0.3], [1, 1, 1]]);
    const y = tsr.tensor([0, 2, -100], { dtype: 'int64' });
    // Printed by torch 1.13: F.cross_entropy(logits, y) and with label_smoothing=0.1.
    expect(nn.crossEntropy(logits, y).itemSync() as number).toBeCloseTo(0.6216270923614502, 6);
    expect(nn.crossEntropy(logits, y, { labelSmoothing: 0.1 }).itemSync() as number).toBeCloseTo(0.7016271352767944, 6);
    expect(nn.mseLoss(tsr.tensor([1, 2]), tsr.tensor([2, 4])).itemSync()).toBe(2.5);
    // Printed by torch 1.13: F.binary_cross_entropy_with_logits([100, -100, 0.5], [1, 0, 1]).
    expect(nn.bceWithLogits(tsr.tensor([100, -100, 0.5]), tsr.tensor([1, 0, 1])).itemSync() as number).toBeCloseTo(0.15802566707134247, 6);
    // A float target is class probabilities (as torch), so it must have the logits' shape; int32 indices are refused.
    expect(() => nn.crossEntropy(logits, tsr.tensor([0, 1]))).toThrow(tsr.ShapeError);
    expect(() => nn.crossEntropy(logits, tsr.tensor([0, 1, 2], { dtype: 'int32' }))).toThrow(tsr.DTypeError);
    // Printed by torch 1.13: F.cross_entropy(logits, probs) and with label_smoothing=0.1.
    const probs = tsr.tensor([[0.2, 0.3, 0.5], [1, 0, 0], [0, 0.5, 0.5]]);
    expect(nn.crossEntropy(logits, probs).itemSync() as number).toBeCloseTo(1.497288703918457, 6);
    expect(nn.crossEntropy(logits, probs, { labelSmoothing: 0.1 }).itemSync() as number).toBeCloseTo(1.4789553880691528, 6);
  });
});

describe('hooks, loss modules, param groups', () => {
  it('forward pre-hooks and hooks run around forward (replacing inputs or output when they return one) until removed', () => {
    const m = new nn.Linear(3, 2);
    const x = tsr.ones([1, 3]);
    const seen: string[] = [];
    const pre = m.registerForwardPreHook((_mod, [input]) => { seen.push('pre'); return input!.mul(2); });
    const post = m.registerForwardHook((_mod, _inputs, out) => { seen.push('post'); return out.add(100); });
    const hooked = m.forward(x).tolistSync() as number[][];
    expect(seen).toEqual(['pre', 'post']);
    pre.remove(); post.remove();
    const plain = m.forward(x.mul(2)).tolistSync() as number[][];
    expect(hooked[0]!.map((v, i) => v - 100 - plain[0]![i]!).every((d) => Math.abs(d) < 1e-5)).toBe(true);
    expect(seen).toEqual(['pre', 'post']);
    // In a container: the child's hook sees what Sequential passes it.
    const seq = new nn.Sequential(new nn.Linear(3, 4), new nn.ReLU());
    let shape: number[] = [];
    seq.at(1).registerForwardHook((_mod, [input]) => { shape = input!.shape.slice(); });
    seq.forward(x);
    expect(shape).toEqual([1, 4]);
  });

  it('loss modules call their functions with the options given at construction; addParamGroup adds a group with the defaults filled in', () => {
    tsr.manualSeed(1);
    const logits = tsr.randn([4, 5]), target = tsr.tensor([0, 3, 1, 4], { dtype: 'int64' });
    const a = new nn.CrossEntropyLoss({ labelSmoothing: 0.1 }).forward(logits, target).itemSync() as number;
    expect(a).toBeCloseTo(nn.crossEntropy(logits, target, { labelSmoothing: 0.1 }).itemSync() as number, 6);
    expect(new nn.MSELoss({ reduction: 'sum' }).forward(logits, logits.add(1)).itemSync()).toBeCloseTo(20, 5);
    const [l1, l2] = [new nn.Linear(2, 2), new nn.Linear(2, 2)];
    const opt = new nn.SGD(l1.parameters(), { lr: 0.1, momentum: 0.9 });
    opt.addParamGroup({ params: l2.parameters(), lr: 0.01 });
    expect(opt.paramGroups.map((g) => [g.lr, g.momentum])).toEqual([[0.1, 0.9], [0.01, 0.9]]);
    expect(() => opt.addParamGroup({ params: l1.parameters() })).toThrow(tsr.ArgumentError);
    expect(tsr.zeros([2], { dtype: 'float64' }).newZeros([3]).dtype).toBe('float64');
  });
});

describe('ConvTranspose2d, Upsample, AdaptiveAvgPool2d modules', () => {
  it('give the sizes torch gives and pass gradients back to their parameters', () => {
    const up = new nn.ConvTranspose2d(4, 6, 3, { stride: 2, padding: 1, outputPadding: 1, groups: 2 });
    expect(up.weight.shape).toEqual([4, 3, 3, 3]);
    const x = tsr.randn([2, 4, 5, 5]).requiresGrad_();
    const y = up.forward(x);
    expect(y.shape).toEqual([2, 6, 10, 10]);
    y.square().sum().backward();
    expect([up.weight.grad!.shape, up.bias!.grad!.shape, x.grad!.shape]).toEqual([[4, 3, 3, 3], [6], [2, 4, 5, 5]]);
    expect(new nn.Upsample({ scaleFactor: 2 }).forward(x).shape).toEqual([2, 4, 10, 10]);
    expect(new nn.AdaptiveAvgPool2d([1, 1]).forward(x).shape).toEqual([2, 4, 1, 1]);
  });
});

describe('deepcopy', () => {
  it('copies a module as torch\'s copy.deepcopy: its own tensors, same class and registry, sharing kept inside the tree', () => {
    tsr.manualSeed(8);
    class Tied extends nn.Module {
      emb = new nn.Embedding(5, 4); head = new nn.Linear(4, 5, { bias: false }); bn = new nn.BatchNorm1d(4); blocks = [new nn.Linear(4, 4), new nn.Linear(4, 4)];
      constructor() { super(); this.head.weight = this.emb.weight; this.blocks[1]!.weight.requiresGrad_(false); }
      forward(ids: tsr.Tensor): tsr.Tensor { return this.head.forward(this.blocks[1]!.forward(this.blocks[0]!.forward(this.bn.forward(this.emb.forward(ids).reshape(-1, 4))))); }
    }
    const a = new Tied(), b = nn.deepcopy(a);
    expect(b).toBeInstanceOf(Tied);
    expect(b.head.weight).toBe(b.emb.weight); // tied in the copy too
    expect(b.emb.weight).not.toBe(a.emb.weight);
    expect(b.parameters().length).toBe(a.parameters().length);
    expect(Object.keys(b.stateDict())).toEqual(Object.keys(a.stateDict()));
    expect(b.blocks[1]!.weight.requiresGrad).toBe(false);
    expect(nn.isParameter(b.blocks[0]!.weight)).toBe(true);
    const ids = tsr.tensor([[0, 3], [4, 1]], { dtype: 'int64' });
    a.eval(); b.eval();
    expect(b.forward(ids).tolistSync()).toEqual(a.forward(ids).tolistSync());
    // Independent: training the copy leaves the original alone.
    b.train();
    b.forward(ids).sum().backward();
    tsr.noGrad(() => { for (const p of b.parameters()) if (p.grad) p.sub_(p.grad); });
    expect(a.emb.weight.grad).toBeUndefined();
    expect(b.emb.weight.sub(a.emb.weight).abs().sum().itemSync()).toBeGreaterThan(0);
    // The copy's registry refuses what the original's does.
    expect(() => { (b.head as { weight: unknown }).weight = tsr.ones([5, 4]); }).toThrow(tsr.ArgumentError);
    expect(() => nn.deepcopy({} as never)).toThrow(tsr.ArgumentError);
  });
});

describe('compile(module)', () => {
  it('compiles the forward of the module it returns, which is the same module otherwise (parameters, train/eval, methods), and gradients flow', () => {
    tsr.manualSeed(6);
    class Net extends nn.Module {
      fc1 = new nn.Linear(4, 8); fc2 = new nn.Linear(8, 3); drop = new nn.Dropout(0.5);
      forward(x: tsr.Tensor): tsr.Tensor { return this.fc2.forward(this.drop.forward(this.fc1.forward(x).gelu())); }
      twice(x: tsr.Tensor): tsr.Tensor { return this.forward(this.forward(x).narrow(1, 0, 3).repeat(1, 2).narrow(1, 0, 4)); }
    }
    const net = new Net();
    const fast = tsr.compile(net);
    expect(fast).toBeInstanceOf(Net);
    expect(fast.parameters()).toEqual(net.parameters());
    fast.eval();
    expect(net.training).toBe(false);
    const x = tsr.randn([5, 4]);
    const [a, b] = [fast.forward(x), net.forward(x)];
    expect(Math.max(...(a.sub(b).abs().dataSync() as Float32Array))).toBeLessThan(1e-5);
    // The forward runs as one program of fused kernels; a method of the module calls the compiled forward too.
    const [program] = tsr.explain(() => fast.forward(x)).programs;
    expect(program!.kernels).toBeLessThan(program!.steps);
    expect(tsr.profile(() => fast.twice(x)).launches).toBeLessThan(tsr.profile(() => net.twice(x)).launches);
    fast.forward(x).square().sum().backward();
    expect(net.fc1.weight.grad!.shape).toEqual([8, 4]);
    expect(() => tsr.compile({} as never)).toThrow(tsr.ArgumentError);
  });

  it('a compiled forward returning a loss backpropagates as the eager one does (what its graph saved outlives the call)', () => {
    tsr.manualSeed(7);
    /** Embedding, max pooling and cross-entropy: gradient rules that read indices made inside the forward. */
    class Classifier extends nn.Module<[tsr.Tensor, tsr.Tensor], [tsr.Tensor, tsr.Tensor]> {
      emb = new nn.Embedding(10, 8); head = new nn.Linear(4, 5);
      forward(ids: tsr.Tensor, targets: tsr.Tensor): [tsr.Tensor, tsr.Tensor] {
        const h = F.maxPool2d(this.emb.forward(ids).unsqueeze(1), [1, 2]).squeeze(1).mean(1);
        const logits = this.head.forward(h);
        return [logits, F.crossEntropy(logits, targets.view(-1))];
      }
    }
    const model = new Classifier(), fast = tsr.compile(model);
    const ids = tsr.randint(0, 10, [6, 3]), targets = tsr.randint(0, 5, [6, 1]);
    const grads = () => model.parameters().map((p) => { const g = p.grad!.dataSync() as Float32Array; p.grad = undefined; return Array.from(g); });
    model.forward(ids, targets)[1].backward();
    const want = grads();
    fast.forward(ids, targets)[1].backward();
    grads().forEach((g, i) => g.forEach((v, j) => expect(Math.abs(v - want[i]![j]!)).toBeLessThan(1e-6)));
  });
});
