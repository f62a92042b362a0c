/**
 * LSTM, GRU and RNN (and their cells) against Debian's torch: the same weights (passed as JSON), the same input; outputs,
 * final states and the weights' gradients of a loss over all of them agree. Two layers, batchFirst,
 * given initial states and unbatched input included.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import * as tsr from 'tessera';
import { PYTHON, skipWithoutTorch } from './torch.js';

const { nn } = tsr;
type Case = { kind: 'LSTM' | 'GRU' | 'RNN' | 'RNN_RELU'; layers: number; batchFirst: boolean; withState: boolean; unbatched: boolean; bidirectional?: boolean };
const CASES: Case[] = [
  { kind: 'LSTM', layers: 1, batchFirst: false, withState: false, unbatched: false },
  { kind: 'LSTM', layers: 2, batchFirst: true, withState: true, unbatched: false },
  { kind: 'LSTM', layers: 2, batchFirst: false, withState: true, unbatched: true },
  { kind: 'GRU', layers: 1, batchFirst: false, withState: false, unbatched: false },
  { kind: 'GRU', layers: 2, batchFirst: true, withState: true, unbatched: false },
  { kind: 'GRU', layers: 1, batchFirst: false, withState: true, unbatched: true },
  { kind: 'RNN', layers: 2, batchFirst: true, withState: true, unbatched: false },
  { kind: 'RNN_RELU', layers: 1, batchFirst: false, withState: false, unbatched: true },
  { kind: 'LSTM', layers: 2, batchFirst: true, withState: true, unbatched: false, bidirectional: true },
  { kind: 'GRU', layers: 2, batchFirst: false, withState: false, unbatched: true, bidirectional: true },
  { kind: 'RNN', layers: 1, batchFirst: false, withState: true, unbatched: false, bidirectional: true },
];
const [T, N, I, H] = [5, 3, 4, 6];

function ours(c: Case) {
  tsr.manualSeed(7);
  const o = { numLayers: c.layers, batchFirst: c.batchFirst, bidirectional: c.bidirectional ?? false };
  const m = c.kind === 'LSTM' ? new nn.LSTM(I, H, o) : c.kind === 'GRU' ? new nn.GRU(I, H, o) : new nn.RNN(I, H, { ...o, nonlinearity: c.kind === 'RNN' ? 'tanh' : 'relu' });
  const x = tsr.randn(c.unbatched ? [T, I] : c.batchFirst ? [N, T, I] : [T, N, I]);
  const d = c.bidirectional ? 2 : 1;
  const sShape = c.unbatched ? [c.layers * d, H] : [c.layers * d, N, H];
  const h0 = tsr.randn(sShape), c0 = tsr.randn(sShape);
  const state = c.withState ? (c.kind === 'LSTM' ? [h0, c0] : h0) : undefined;
  const [out, last] = (m.forward as (x: tsr.Tensor, s?: unknown) => [tsr.Tensor, tsr.Tensor | tsr.Tensor[]])(x, state);
  const finals = Array.isArray(last) ? last : [last];
  finals.reduce((acc, t) => acc.add(t.square().sum()), out.tanh().sum()).backward();
  const params = Object.fromEntries([...m.namedParameters()].map(([k, p]) => [k, { data: p.tolistSync(), grad: p.grad!.tolistSync() }]));
  return { x: x.tolistSync(), h0: h0.tolistSync(), c0: c0.tolistSync(), out: out.tolistSync(), finals: finals.map((t) => t.tolistSync()), params };
}

const TORCH = (c: Case, o: ReturnType<typeof ours>) => `
import json, torch
c = ${JSON.stringify(c).replace(/true/g, 'True').replace(/false/g, 'False')}
o = json.loads(${JSON.stringify(JSON.stringify({ x: o.x, h0: o.h0, c0: o.c0, params: Object.fromEntries(Object.entries(o.params).map(([k, v]) => [k, v.data])) }))})
kw = {'nonlinearity': 'tanh' if c['kind'] == 'RNN' else 'relu'} if c['kind'].startswith('RNN') else {}
M = {'LSTM': torch.nn.LSTM, 'GRU': torch.nn.GRU}.get(c['kind'], torch.nn.RNN)
m = M(${I}, ${H}, num_layers=c['layers'], batch_first=c['batchFirst'], bidirectional=c.get('bidirectional', False), **kw)
names = {'weightIh': 'weight_ih', 'weightHh': 'weight_hh', 'biasIh': 'bias_ih', 'biasHh': 'bias_hh'}
with torch.no_grad():
    for k, v in o['params'].items():
        base, layer = k.split('L')
        getattr(m, names[base] + '_l' + layer.replace('Reverse', '_reverse')).copy_(torch.tensor(v))
x = torch.tensor(o['x'])
h0, c0 = torch.tensor(o['h0']), torch.tensor(o['c0'])
state = ((h0, c0) if c['kind'] == 'LSTM' else h0) if c['withState'] else None
out, last = m(x, state)
finals = list(last) if c['kind'] == 'LSTM' else [last]
loss = out.tanh().sum()
for t in finals: loss = loss + t.square().sum()
loss.backward()
print(json.dumps({'out': out.tolist(), 'finals': [t.tolist() for t in finals], 'grads': {k: getattr(m, names[k.split('L')[0]] + '_l' + k.split('L')[1].replace('Reverse', '_reverse')).grad.tolist() for k in o['params']}}))
`;

const flat = (v: unknown): number[] => (Array.isArray(v) ? v.flatMap(flat) : [v as number]);
const near = (got: unknown, want: unknown, what: string) => {
  const g = flat(got), w = flat(want);
  expect(g.length, what).toBe(w.length);
  g.forEach((a, i) => expect(Math.abs(a - w[i]!) <= 1e-5 * Math.max(1, Math.abs(w[i]!)), `${what}[${i}]: ${a} vs torch ${w[i]}`).toBe(true));
};

describe.skipIf(skipWithoutTorch())('LSTM, GRU, RNN and their cells match PyTorch (python3-torch)', () => {
  for (const c of CASES) {
    it(`${c.kind}, ${c.layers} layer(s)${c.bidirectional ? ', bidirectional' : ''}${c.batchFirst ? ', batchFirst' : ''}${c.withState ? ', initial state' : ''}${c.unbatched ? ', unbatched' : ''}: outputs, states and gradients`, () => {
      const o = ours(c);
      const t = JSON.parse(execFileSync(PYTHON, ['-c', TORCH(c, o)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })) as { out: unknown; finals: unknown[]; grads: Record<string, unknown> };
      near(o.out, t.out, 'output');
      o.finals.forEach((f, k) => near(f, t.finals[k], `state ${k}`));
      for (const [k, v] of Object.entries(o.params)) near(v.grad, t.grads[k], `grad ${k}`);
    }, 60_000);
  }

  it('LSTMCell, GRUCell and RNNCell (relu): a step from a given state and from zeros, and the weights\' gradients', () => {
    tsr.manualSeed(5);
    const cells = { LSTMCell: new nn.LSTMCell(I, H), GRUCell: new nn.GRUCell(I, H), RNNCell: new nn.RNNCell(I, H, true, 'relu') };
    const x = tsr.randn([N, I]), h = tsr.randn([N, H]), c = tsr.randn([N, H]);
    const run = (name: string, m: tsr.nn.AnyModule) => {
      const outs: tsr.Tensor[] = name === 'LSTMCell' ? [...(m.forward(x, [h, c]) as tsr.Tensor[]), ...(m.forward(x.select(0, 0)) as tsr.Tensor[])] : [m.forward(x, h) as tsr.Tensor, m.forward(x.select(0, 0)) as tsr.Tensor];
      outs.reduce((acc, t) => acc.add(t.tanh().sum()), tsr.zeros([])).backward();
      return { outs: outs.map((t) => t.tolistSync()), params: Object.fromEntries([...m.namedParameters()].map(([k, p]) => [k, { data: p.tolistSync(), grad: p.grad!.tolistSync() }])) };
    };
    const mine = Object.fromEntries(Object.entries(cells).map(([k, m]) => [k, run(k, m)]));
    const py = `
import json, torch
x, h, c = torch.tensor(${JSON.stringify(x.tolistSync())}), torch.tensor(${JSON.stringify(h.tolistSync())}), torch.tensor(${JSON.stringify(c.tolistSync())})
mine = json.loads(${JSON.stringify(JSON.stringify(Object.fromEntries(Object.entries(mine).map(([k, v]) => [k, Object.fromEntries(Object.entries(v.params).map(([n, p]) => [n, p.data]))]))))})
names = {'weightIh': 'weight_ih', 'weightHh': 'weight_hh', 'biasIh': 'bias_ih', 'biasHh': 'bias_hh'}
out = {}
for kind, params in mine.items():
    m = {'LSTMCell': torch.nn.LSTMCell(${I}, ${H}), 'GRUCell': torch.nn.GRUCell(${I}, ${H}), 'RNNCell': torch.nn.RNNCell(${I}, ${H}, nonlinearity='relu')}[kind]
    with torch.no_grad():
        for k, v in params.items(): getattr(m, names[k]).copy_(torch.tensor(v))
    outs = [*m(x, (h, c)), *m(x[0])] if kind == 'LSTMCell' else [m(x, h), m(x[0])]
    sum(t.tanh().sum() for t in outs).backward()
    out[kind] = {'outs': [t.tolist() for t in outs], 'grads': {k: getattr(m, names[k]).grad.tolist() for k in params}}
print(json.dumps(out))
`;
    const t = JSON.parse(execFileSync(PYTHON, ['-c', py], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })) as Record<string, { outs: unknown[]; grads: Record<string, unknown> }>;
    for (const [kind, o] of Object.entries(mine)) {
      o.outs.forEach((v, k) => near(v, t[kind]!.outs[k], `${kind} output ${k}`));
      for (const [k, v] of Object.entries(o.params)) near(v.grad, t[kind]!.grads[k], `${kind} grad ${k}`);
    }
  }, 60_000);

  it('refuses bad input shapes and options with typed errors', () => {
    expect(() => new nn.RNN(I, H, { nonlinearity: 'sigmoid' as 'tanh' })).toThrow(tsr.ArgumentError);
    expect(() => new nn.LSTMCell(I, H).forward(tsr.randn([N, I + 1]))).toThrow(tsr.ShapeError);
    const m = new nn.LSTM(I, H);
    expect(() => m.forward(tsr.randn([T, N, I + 1]))).toThrow(tsr.ShapeError);
    expect(() => m.forward(tsr.randn([T, N, I]), [tsr.zeros([2, N, H]), tsr.zeros([1, N, H])])).toThrow(tsr.ShapeError);
  });
});
