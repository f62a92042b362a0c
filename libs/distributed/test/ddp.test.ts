/**
 * DDP and DistributedSampler mechanics in one process (a world of one): bucketing, all-reduce launched
 * during backward (not after it), unused parameters, noSync. Multi-rank equivalence is in
 * examples/test/ddp.test.ts; the collectives themselves in distributed.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tsr from 'tessera';
import { DistributedDataParallel, DistributedSampler, type ProcessGroup, destroyProcessGroup, initProcessGroup } from '@tessera/distributed';

const { nn } = tsr;
let group: ProcessGroup;
beforeAll(async () => { group = await initProcessGroup({ backend: 'shm', rank: 0, worldSize: 1, name: `tessera-ddp-${process.pid}` }); });
afterAll(() => destroyProcessGroup());

describe('DistributedDataParallel', () => {
  it('starts each bucket\'s all-reduce while backward is still running, in bucket order', () => {
    tsr.manualSeed(0);
    const model = new nn.Sequential(new nn.Linear(8, 256), new nn.ReLU(), new nn.Linear(256, 256), new nn.ReLU(), new nn.Linear(256, 4));
    const ddp = new DistributedDataParallel(model, { bucketCapMB: 0.1 });
    const events: string[] = [];
    const launch = group.allReduce.bind(group);
    group.allReduce = (t, opt) => { events.push(`allReduce ${t.numel}`); return launch(t, opt); };
    model.parameters().forEach((p, i) => p.registerPostAccumulateGradHook(() => events.push(`grad ${i}`)));
    try {
      ddp.forward(tsr.randn([16, 8])).square().mean().backward();
    } finally {
      group.allReduce = launch;
    }
    const launches = events.filter((e) => e.startsWith('allReduce'));
    expect(launches.length).toBeGreaterThan(1);
    // The first bucket (the last layer's parameters) is reduced before the first layer's gradient exists.
    expect(events.indexOf(launches[0]!)).toBeLessThan(events.indexOf('grad 0'));
    // All parameters are covered exactly once.
    expect(launches.reduce((n, e) => n + Number(e.split(' ')[1]), 0)).toBe(model.parameters().reduce((n, p) => n + p.numel, 0));
  });

  it('averages into .grad, gives unused parameters a gradient, and noSync leaves local gradients', async () => {
    tsr.manualSeed(1);
    const used = new nn.Linear(3, 2);
    const unused = new nn.Linear(3, 2);
    class Two extends nn.Module {
      a = used; b = unused;
      forward(x: tsr.Tensor): tsr.Tensor { return this.a.forward(x); }
    }
    const ddp = new DistributedDataParallel(new Two());
    const x = tsr.randn([5, 3]);
    const local = tsr.grad(used.forward(x).sum(), [used.weight])[0]!;
    ddp.forward(x).sum().backward();
    // One rank: the average is the local gradient.
    expect(await used.weight.grad!.tolist()).toEqual(await local.tolist());
    expect(await unused.weight.grad!.tolist()).toEqual([[0, 0, 0], [0, 0, 0]]);
    ddp.zeroGrad();
    ddp.noSync(() => ddp.forward(x).sum().backward());
    expect(unused.weight.grad).toBeUndefined();
    expect(await used.weight.grad!.tolist()).toEqual(await local.tolist());
  });

  it('requireBackwardGradSync = false accumulates locally as noSync does; forward keeps its module\'s signature', async () => {
    tsr.manualSeed(3);
    const used = new nn.Linear(3, 2), unused = new nn.Linear(3, 2);
    /** A forward as nanoGPT's: (inputs, targets?) to (outputs, loss?). */
    class Pair extends nn.Module<[tsr.Tensor, tsr.Tensor?], [tsr.Tensor, tsr.Tensor | undefined]> {
      a = used; b = unused;
      forward(x: tsr.Tensor, y?: tsr.Tensor): [tsr.Tensor, tsr.Tensor | undefined] {
        const out = this.a.forward(x);
        return [out, y && out.sub(y).square().mean()];
      }
    }
    const ddp = new DistributedDataParallel(new Pair());
    const x = tsr.randn([4, 3]), y = tsr.randn([4, 2]);
    expect(ddp.requireBackwardGradSync).toBe(true);
    ddp.requireBackwardGradSync = false;
    const [, loss] = ddp.forward(x, y);
    loss!.backward();
    // Not synced: the unused parameter got no (zero) gradient from the end-of-backward all-reduce.
    expect(unused.weight.grad).toBeUndefined();
    ddp.requireBackwardGradSync = true;
    ddp.forward(x, y)[1]!.backward();
    expect(await unused.weight.grad!.tolist()).toEqual([[0, 0, 0], [0, 0, 0]]);
    const twice = tsr.grad(used.forward(x).sub(y).square().mean().mul(2), [used.weight])[0]!;
    expect(used.weight.grad!.sub(twice).abs().max().itemSync()).toBeLessThan(1e-6);
    expect(() => { (ddp as { requireBackwardGradSync: unknown }).requireBackwardGradSync = 1; }).toThrow(tsr.ArgumentError);
  });

  it('broadcasts buffers before a forward that a synced backward follows, not under noGrad (one rank may evaluate alone)', () => {
    const model = new nn.Sequential(new nn.Linear(3, 3), new nn.BatchNorm1d(3));
    const ddp = new DistributedDataParallel(model);
    let broadcasts = 0;
    const broadcast = group.broadcast.bind(group);
    group.broadcast = (t, src) => { broadcasts++; return broadcast(t, src); };
    try {
      const x = tsr.randn([4, 3]);
      tsr.noGrad(() => ddp.forward(x));
      expect(broadcasts).toBe(0);
      ddp.noSync(() => ddp.forward(x));
      expect(broadcasts).toBe(0);
      ddp.forward(x).sum().backward();
      expect(broadcasts).toBe([...model.namedBuffers()].length);
    } finally {
      group.broadcast = broadcast;
    }
  });

  it('keeps gradients accumulated under noSync for parameters the synced step does not use', async () => {
    tsr.manualSeed(2);
    const a = new nn.Linear(3, 2), b = new nn.Linear(3, 2);
    class Either extends nn.Module {
      a = a; b = b; useB = false;
      forward(x: tsr.Tensor): tsr.Tensor { return (this.useB ? this.b : this.a).forward(x); }
    }
    const model = new Either();
    const ddp = new DistributedDataParallel(model);
    const x = tsr.randn([4, 3]);
    model.useB = true;
    ddp.noSync(() => ddp.forward(x).sum().backward());
    const local = await b.weight.grad!.tolist();
    model.useB = false;
    ddp.forward(x).sum().backward();
    expect(await b.weight.grad!.tolist()).toEqual(local);
  });

  it('recovers when a backward throws: the next step is averaged again', () => {
    tsr.manualSeed(3);
    // The hook throws after the second layer's gradients have reached DDP, half-way through backward.
    class Two extends nn.Module {
      l1 = new nn.Linear(4, 8); l2 = new nn.Linear(8, 2); fail = false;
      forward(x: tsr.Tensor): tsr.Tensor {
        const z = this.l1.forward(x);
        if (this.fail) z.registerHook(() => { throw new Error('boom'); });
        return this.l2.forward(z.relu());
      }
    }
    const model = new Two();
    const ddp = new DistributedDataParallel(model, { bucketCapMB: 1e-5 });
    const x = tsr.randn([5, 4]);
    let launches = 0;
    const launch = group.allReduce.bind(group);
    group.allReduce = (t, opt) => { launches++; return launch(t, opt); };
    const step = () => { ddp.zeroGrad(); ddp.forward(x).sum().backward(); };
    try {
      step();
      const perStep = launches;
      model.fail = true;
      expect(step).toThrow('boom');
      model.fail = false;
      launches = 0;
      step();
      expect(perStep).toBeGreaterThan(1);
      expect(launches).toBe(perStep);
    } finally {
      group.allReduce = launch;
    }
  });

  it('rejects a bad bucket size', () => {
    expect(() => new DistributedDataParallel(new nn.Linear(2, 2), { bucketCapMB: 0 })).toThrow(/bucketCapMB must be positive/);
  });
});

describe('DistributedSampler', () => {
  it('splits each epoch into disjoint equal shares, padded, shuffled by epoch', () => {
    const ds = { length: 10 };
    const shares = [0, 1, 2].map((rank) => new DistributedSampler(ds, { numReplicas: 3, rank, seed: 7 }));
    const epoch0 = shares.map((s) => s.indices());
    expect(epoch0.map((s) => s.length)).toEqual([4, 4, 4]);
    expect(new Set(epoch0.flat()).size).toBe(10); // all covered; two repeated to pad 10 to 12
    for (const s of shares) s.setEpoch(1);
    expect(shares.map((s) => s.indices())).not.toEqual(epoch0);
    const dropped = new DistributedSampler(ds, { numReplicas: 3, rank: 0, shuffle: false, dropLast: true });
    expect(dropped.indices()).toEqual([0, 3, 6]);
    expect(() => new DistributedSampler(ds, { numReplicas: 2, rank: 2 })).toThrow(/rank 2 is outside \[0, 2\)/);
  });

  it('feeds a DataLoader', () => {
    const ds = new nn.TensorDataset(tsr.arange(8));
    const loader = new nn.DataLoader(ds, { batchSize: 2, sampler: new DistributedSampler(ds, { numReplicas: 2, rank: 1, shuffle: false }) });
    expect([...loader].map(([b]) => b!.tolistSync())).toEqual([[1, 3], [5, 7]]);
    expect(() => new nn.DataLoader(ds, { sampler: new DistributedSampler(ds, { numReplicas: 2, rank: 0 }), shuffle: true })).toThrow(/exclusive/);
  });
});
