/**
 * Regression tests for the silent wrong results of the Trust issue that live in nn and its scopes:
 * tied weights, Module.to identity, buffer registration, optimizer state under tidy(), async grad
 * mode, and live-memory counts over long training loops.
 */
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { describe, expect, it } from 'vitest';
import * as tsr from 'tessera';

const { nn } = tsr;

class Tied extends nn.Module {
  wte = new nn.Embedding(11, 4);
  head = new nn.Linear(4, 11, { bias: false });
  constructor() {
    super();
    this.head.weight = this.wte.weight; // GPT's weight tying
  }
  forward(ids: tsr.Tensor): tsr.Tensor { return this.head.forward(this.wte.forward(ids)); }
}

describe('weight tying', () => {
  it('parameters() and namedParameters() list a shared tensor once, under its first name', () => {
    const m = new Tied();
    expect([...m.namedParameters()].map(([k]) => k)).toEqual(['wte.weight']);
    expect(m.parameters()).toHaveLength(1);
    // The state dict keeps every name (a load must fill both), as torch's state_dict.
    expect(Object.keys(m.stateDict())).toEqual(['wte.weight', 'head.weight']);
  });

  it('AdamW steps a tied weight once per step (compared with the same weight untied)', () => {
    tsr.manualSeed(3);
    const m = new Tied();
    const ids = tsr.tensor([[1, 2, 3]], { dtype: 'int64' });
    const w0 = m.wte.weight.clone();
    const opt = new nn.AdamW(m.parameters(), { lr: 0.1, weightDecay: 0 });
    m.forward(ids).sum().backward();
    const g = m.wte.weight.grad!.clone();
    opt.step();
    // One Adam step from zero moments moves every element with a nonzero gradient by lr * sign(g) (to 1e-6).
    const moved = m.wte.weight.sub(w0).tolistSync() as number[][];
    const sign = g.sign().tolistSync() as number[][];
    moved.forEach((row, i) => row.forEach((d, j) => expect(d).toBeCloseTo(-0.1 * sign[i]![j]!, 5)));
  });

  it('an optimizer given a tied tensor twice steps it once; the same tensor in two groups is refused', () => {
    const p = nn.parameter(tsr.zeros([3]));
    const opt = new nn.SGD([p, p], { lr: 1 });
    p.grad = tsr.ones([3]);
    opt.step();
    expect(p.tolistSync()).toEqual([-1, -1, -1]);
    expect(() => new nn.SGD([{ params: [p] }, { params: [p] }], { lr: 1 })).toThrow(tsr.ArgumentError);
  });

  it('clipGradNorm_ counts a tensor listed twice once', () => {
    const p = nn.parameter(tsr.zeros([2]));
    p.grad = tsr.tensor([3, 4]);
    const total = nn.clipGradNorm_([p, p], 100);
    expect(total.itemSync()).toBeCloseTo(5, 5);
    expect(p.grad.tolistSync()).toEqual([3, 4]);
  });

  it('gives two leaves that receive one gradient (a + b) memory of their own, so clipping scales each once', () => {
    const a = nn.parameter(tsr.ones([3])), b = nn.parameter(tsr.ones([3]));
    a.add(b).mul(2).sum().backward();
    expect(a.grad!.storage).not.toBe(b.grad!.storage);
    nn.clipGradNorm_([a, b], 1);
    const each = 2 / Math.sqrt(24);
    for (const v of [...a.grad!.tolistSync() as number[], ...b.grad!.tolistSync() as number[]]) expect(v).toBeCloseTo(each, 6);
    const before = a.grad!.tolistSync();
    b.grad!.zero_();
    expect(a.grad!.tolistSync()).toEqual(before);
  });
});

describe('Module.to', () => {
  it('keeps every parameter and buffer the same object, so tied weights stay tied and optimizers keep working', () => {
    const m = new Tied();
    const before = m.parameters();
    const opt = new nn.SGD(m.parameters(), { lr: 0.5 });
    m.to('cpu');
    expect(m.parameters()[0]).toBe(before[0]);
    m.to('float64');
    expect(m.wte.weight).toBe(before[0]);
    expect(m.head.weight).toBe(m.wte.weight);
    expect(m.wte.weight.dtype).toBe('float64');
    expect(m.wte.weight.requiresGrad).toBe(true);
    const w0 = m.wte.weight.clone();
    m.forward(tsr.tensor([[0, 1]], { dtype: 'int64' })).sum().backward();
    opt.step();
    expect(m.wte.weight.sub(w0).abs().sum().itemSync()).toBeGreaterThan(0);
  });

  it('casts floating buffers only and refuses a non-floating dtype', () => {
    const bn = new nn.BatchNorm(3).to('float64');
    expect(bn.runningMean.dtype).toBe('float64');
    expect(bn.numBatchesTracked.dtype).toBe('int64');
    expect(() => bn.to('int32')).toThrow(tsr.ArgumentError);
  });
});

describe('buffers', () => {
  class Masked extends nn.Module {
    bias: tsr.Tensor;
    constructor() {
      super();
      this.bias = nn.buffer(tsr.ones([4, 4]).tril());
    }
    shrink(n: number): void { this.bias = this.bias.slice(0, 0, n).slice(1, 0, n).contiguous(); }
    forward(x: tsr.Tensor): tsr.Tensor { return x.mul(this.bias); }
  }

  it('a registered buffer stays a buffer when a plain tensor is assigned to it', () => {
    const m = new Masked();
    m.shrink(2);
    expect(Object.keys(m.stateDict())).toEqual(['bias']);
    expect(m.stateDict()['bias']!.shape).toEqual([2, 2]);
  });

  it('a parameter name refuses a plain tensor (torch: TypeError) and registerBuffer/registerParameter work by name', () => {
    const lin = new nn.Linear(2, 2);
    expect(() => { lin.weight = tsr.ones([2, 2]); }).toThrow(tsr.ArgumentError);
    lin.registerBuffer('scale', tsr.ones([2]));
    lin.registerParameter('extra', tsr.zeros([1]));
    expect(Object.keys(lin.stateDict())).toEqual(['weight', 'bias', 'scale', 'extra']);
  });
});

describe('tidy() around a training step', () => {
  for (const [name, make] of [
    ['AdamW', (ps: tsr.Tensor[]) => new nn.AdamW(ps, { lr: 1e-2 })],
    ['SGD with momentum', (ps: tsr.Tensor[]) => new nn.SGD(ps, { lr: 1e-2, momentum: 0.9 })],
  ] as const) {
    it(`${name}: the optimizer state and gradients made inside survive the scope`, () => {
      const model = new nn.Sequential(new nn.Linear(3, 4), new nn.ReLU(), new nn.Linear(4, 1));
      const opt = make(model.parameters());
      const x = tsr.randn([8, 3]), y = tsr.randn([8, 1]);
      for (let i = 0; i < 3; i++) {
        tsr.tidy(() => {
          const loss = nn.mseLoss(model.forward(x), y);
          loss.backward(); // gradients accumulate across the scopes (no zeroGrad): .grad must survive too
          opt.step();
        });
      }
      for (const st of opt.state.values()) for (const v of Object.values(st)) if (v instanceof tsr.Tensor) expect(v.isDisposed).toBe(false);
      expect(model.parameters().every((p) => p.grad && !p.grad.isDisposed)).toBe(true);
    });
  }

  it('a module built inside tidy() keeps its parameters', () => {
    const m = tsr.tidy(() => new nn.Linear(2, 2));
    expect(m.parameters().every((p) => !p.isDisposed)).toBe(true);
  });

  it('refuses an async function instead of disposing what its awaits still need', async () => {
    expect(() => tsr.tidy((async () => tsr.ones(2)) as never)).toThrow(tsr.ArgumentError);
    const kept = tsr.ones(2);
    expect(() => tsr.tidy((() => Promise.resolve(kept.add(1))) as never)).toThrow(/promise/);
  });
});

describe('layers refuse impossible sizes with typed errors', () => {
  it('Linear with 1e12 outputs, LayerNorm of {}, Conv2d with kernel 0, Dropout(1.5)', () => {
    expect(() => new nn.Linear(2, 1e12)).toThrow(tsr.OutOfMemoryError);
    expect(() => new nn.LayerNorm({} as never)).toThrow(tsr.ArgumentError);
    expect(() => new nn.Conv2d(1, 2, 0)).toThrow(tsr.ArgumentError);
    expect(() => new nn.Dropout(1.5)).toThrow(tsr.ArgumentError);
    expect(() => new nn.Linear(2.5, 3)).toThrow(tsr.ArgumentError);
  });
});

describe('backward', () => {
  it("takes PyTorch's keyword style too: backward({ retainGraph: true })", () => {
    const w = tsr.ones(3).requiresGrad_();
    const y = w.mul(w).sum();
    y.backward({ retainGraph: true });
    y.backward({ retainGraph: false });
    expect(w.grad!.tolistSync()).toEqual([4, 4, 4]);
    expect(() => y.backward({ retainGraph: 'yes' } as never)).toThrow(tsr.TesseraError);
  });
});

describe('noGrad with async functions', () => {
  it('keeps recording off across awaits, and off only inside the scope', async () => {
    const w = tsr.ones([2]).requiresGrad_();
    const inside = tsr.noGrad(async () => {
      await new Promise((r) => setTimeout(r, 1));
      return w.mul(2);
    });
    const outside = w.mul(3); // runs while the async scope is suspended
    const y = await inside;
    expect(y.requiresGrad).toBe(false);
    expect(outside.requiresGrad).toBe(true);
    expect(tsr.isGradEnabled()).toBe(true);
    const z = await tsr.noGrad(async () => tsr.enableGrad(() => w.mul(4)));
    expect(z.requiresGrad).toBe(true);
  });

  it('refuses a non-async function that returns a promise', () => {
    expect(() => tsr.noGrad(() => Promise.resolve(1))).toThrow(tsr.ArgumentError);
  });
});

describe('live-memory counts over 10,000 training steps', () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  /** Collects garbage until the finalizers have reported every collected tensor. */
  const settle = async (): Promise<tsr.MemoryStats> => {
    let last = tsr.memoryStats('cpu');
    for (let i = 0; i < 20; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 0));
      const now = tsr.memoryStats('cpu');
      if (i > 2 && now.liveTensors === last.liveTensors && now.liveBytes === last.liveBytes) return now;
      last = now;
    }
    return last;
  };
  const setup = () => {
    tsr.manualSeed(1);
    const model = new nn.Sequential(new nn.Linear(8, 16), new nn.ReLU(), new nn.Linear(16, 4));
    const opt = new nn.AdamW(model.parameters(), { lr: 1e-3 });
    const x = tsr.randn([16, 8]), y = tsr.randint(0, 4, [16]);
    return () => {
      const loss = nn.crossEntropy(model.forward(x), y);
      opt.zeroGrad();
      loss.backward();
      opt.step();
    };
  };

  it('with tidy: counts and bytes are exactly constant (no finalizers involved)', () => {
    const step = setup();
    for (let i = 0; i < 5; i++) tsr.tidy(step);
    const s0 = tsr.memoryStats('cpu');
    for (let i = 0; i < 10_000; i++) tsr.tidy(step);
    expect(tsr.memoryStats('cpu')).toEqual(s0);
  }, 120_000);

  it('without tidy: what the step drops is collected, so counts and bytes come back to where they were', async () => {
    tsr.trackCollection(true);
    try {
      const step = setup();
      for (let i = 0; i < 5; i++) step();
      const s0 = await settle();
      for (let i = 0; i < 10_000; i++) step();
      const s1 = await settle();
      expect(s1.liveTensors).toBe(s0.liveTensors);
      expect(s1.liveBytes).toBe(s0.liveBytes);
    } finally {
      tsr.trackCollection(false);
    }
  }, 120_000);
});
