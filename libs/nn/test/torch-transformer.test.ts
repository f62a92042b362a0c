/**
 * TransformerEncoderLayer and TransformerDecoderLayer against Debian's torch: the same weights (our
 * names mapped to torch's), post- and pre-norm, batch first or not, causal and given masks; outputs
 * and the input's gradient agree.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import * as tsr from 'tessera';
import { PYTHON, skipWithoutTorch } from './torch.js';

const { nn } = tsr;
const [E, H, FF, S, T, N] = [8, 2, 16, 5, 4, 3];

/** torch's parameter name for ours (selfAttn.inProjWeight -> self_attn.in_proj_weight). */
const torchName = (k: string): string =>
  k.replace(/([a-z])([A-Z])/g, (_, a: string, b: string) => `${a}_${b.toLowerCase()}`);

type Case = { decoder: boolean; normFirst: boolean; batchFirst: boolean; causal: boolean; boolMask: boolean };
const CASES: Case[] = [
  { decoder: false, normFirst: false, batchFirst: false, causal: false, boolMask: false },
  { decoder: false, normFirst: true, batchFirst: true, causal: true, boolMask: false },
  { decoder: false, normFirst: false, batchFirst: true, causal: false, boolMask: true },
  { decoder: true, normFirst: false, batchFirst: false, causal: true, boolMask: false },
  { decoder: true, normFirst: true, batchFirst: true, causal: false, boolMask: true },
];

describe.skipIf(skipWithoutTorch())('Transformer layers match PyTorch (python3-torch)', () => {
  for (const c of CASES) {
    it(`${c.decoder ? 'decoder' : 'encoder'} layer, ${c.normFirst ? 'pre' : 'post'}-norm, ${c.batchFirst ? 'batch first' : 'sequence first'}${c.causal ? ', causal' : ''}${c.boolMask ? ', bool mask' : ''}`, () => {
      tsr.manualSeed(4);
      const opt = { dimFeedforward: FF, dropout: 0, batchFirst: c.batchFirst, normFirst: c.normFirst, activation: 'gelu' as const };
      const layer = c.decoder ? new nn.TransformerDecoderLayer(E, H, opt) : new nn.TransformerEncoderLayer(E, H, opt);
      const shape = (len: number) => (c.batchFirst ? [N, len, E] : [len, N, E]);
      const x = tsr.randn(shape(T)).requiresGrad_(), mem = tsr.randn(shape(S));
      // A bool mask hides one key from every query; a float one adds a bias.
      const mask = c.boolMask ? tsr.zeros([T, c.decoder ? S : T], { dtype: 'bool' }).indexPut_([tsr.sl(), 1], true) : undefined;
      const y = c.decoder
        ? (layer as tsr.nn.TransformerDecoderLayer).forward(x, mem, { tgtIsCausal: c.causal, ...(mask ? { memoryMask: mask } : {}) })
        : (layer as tsr.nn.TransformerEncoderLayer).forward(x, { isCausal: c.causal, ...(mask ? { srcMask: mask } : {}) });
      y.tanh().sum().backward();
      const params = Object.fromEntries([...layer.namedParameters()].map(([k, p]) => [torchName(k), p.tolistSync()]));
      const py = `
import json, torch
c = json.loads('${JSON.stringify(c)}')
L = (torch.nn.TransformerDecoderLayer if c['decoder'] else torch.nn.TransformerEncoderLayer)(${E}, ${H}, dim_feedforward=${FF}, dropout=0.0, activation='gelu', batch_first=c['batchFirst'], norm_first=c['normFirst'])
params = json.loads(${JSON.stringify(JSON.stringify(params))})
with torch.no_grad():
    missing = L.load_state_dict({k: torch.tensor(v) for k, v in params.items()}, strict=True)
x = torch.tensor(${JSON.stringify(x.tolistSync())}, requires_grad=True); mem = torch.tensor(${JSON.stringify(mem.tolistSync())})
mask = torch.zeros(${T}, ${c.decoder ? S : T}, dtype=torch.bool) if c['boolMask'] else None
if mask is not None: mask[:, 1] = True
causal = torch.nn.Transformer.generate_square_subsequent_mask(${T}) if c['causal'] else None
y = L(x, mem, tgt_mask=causal, memory_mask=mask) if c['decoder'] else L(x, src_mask=mask if mask is not None else causal)
y.tanh().sum().backward()
print(json.dumps({'y': y.tolist(), 'gx': x.grad.tolist()}))
`;
      const want = JSON.parse(execFileSync(PYTHON, ['-c', py], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })) as { y: unknown; gx: unknown };
      const flat = (v: unknown): number[] => (Array.isArray(v) ? v.flatMap(flat) : [v as number]);
      const [gy, wy, gg, wg] = [flat(y.tolistSync()), flat(want.y), flat(x.grad!.tolistSync()), flat(want.gx)];
      expect(gy.length).toBe(wy.length);
      gy.forEach((v, i) => expect(Math.abs(v - wy[i]!) <= 1e-5 * Math.max(1, Math.abs(wy[i]!)), `y[${i}]: ${v} vs torch ${wy[i]}`).toBe(true));
      gg.forEach((v, i) => expect(Math.abs(v - wg[i]!) <= 1e-5 * Math.max(1, Math.abs(wg[i]!)), `grad[${i}]: ${v} vs torch ${wg[i]}`).toBe(true));
    }, 60_000);
  }

  it('nn.Transformer (encoder and decoder stacks of deep-copied layers, final norms) gives torch\'s output and gradients', () => {
    tsr.manualSeed(6);
    const model = new nn.Transformer({ dModel: E, nhead: H, numEncoderLayers: 2, numDecoderLayers: 2, dimFeedforward: FF, dropout: 0 });
    const layers = (model.encoder as tsr.nn.TransformerEncoder).layers;
    // Copies, not one layer twice: their own tensors (xavier re-drawn per tensor afterwards, as torch's _reset_parameters).
    expect(layers[0]!.linear1.weight).not.toBe(layers[1]!.linear1.weight);
    expect(nn.isParameter(layers[1]!.selfAttn.inProjWeight)).toBe(true);
    const src = tsr.randn([S, N, E]).requiresGrad_(), tgt = tsr.randn([T, N, E]);
    const mask = nn.Transformer.generateSquareSubsequentMask(T);
    const y = model.forward(src, tgt, { tgtMask: mask });
    y.tanh().sum().backward();
    const params = Object.fromEntries([...model.namedParameters()].map(([k, p]) => [torchName(k), p.tolistSync()]));
    const py = `
import json, torch
m = torch.nn.Transformer(d_model=${E}, nhead=${H}, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=${FF}, dropout=0.0)
with torch.no_grad():
    m.load_state_dict({k: torch.tensor(v) for k, v in json.loads(${JSON.stringify(JSON.stringify(params))}).items()}, strict=True)
src = torch.tensor(${JSON.stringify(src.tolistSync())}, requires_grad=True); tgt = torch.tensor(${JSON.stringify(tgt.tolistSync())})
y = m(src, tgt, tgt_mask=torch.nn.Transformer.generate_square_subsequent_mask(${T}))
y.tanh().sum().backward()
print(json.dumps({'y': y.tolist(), 'gx': src.grad.tolist()}))
`;
    const want = JSON.parse(execFileSync(PYTHON, ['-c', py], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })) as { y: unknown; gx: unknown };
    const flat = (v: unknown): number[] => (Array.isArray(v) ? v.flatMap(flat) : [v as number]);
    for (const [name, got, ref] of [['y', y, want.y], ['grad', src.grad!, want.gx]] as const) {
      const [g, r] = [flat(got.tolistSync()), flat(ref)];
      expect(g.length, name).toBe(r.length);
      g.forEach((v, i) => expect(Math.abs(v - r[i]!) <= 1e-5 * Math.max(1, Math.abs(r[i]!)), `${name}[${i}]: ${v} vs torch ${r[i]}`).toBe(true));
    }
  }, 60_000);

  type MhaCase = { cross: boolean; batchFirst: boolean; average: boolean; padding: boolean; floatMask: boolean; causal: boolean };
  const MHA: MhaCase[] = [
    { cross: false, batchFirst: false, average: true, padding: false, floatMask: false, causal: false },
    { cross: true, batchFirst: true, average: false, padding: true, floatMask: true, causal: false },
    { cross: false, batchFirst: true, average: true, padding: true, floatMask: false, causal: true },
  ];
  for (const c of MHA) {
    it(`MultiheadAttention (${c.cross ? 'cross' : 'self'}, ${c.batchFirst ? 'batch first' : 'sequence first'}, ${c.average ? 'averaged' : 'per-head'} weights${c.padding ? ', key padding' : ''}${c.floatMask ? ', float mask per head' : ''}${c.causal ? ', causal' : ''}): output, weights and gradients as torch's`, () => {
      tsr.manualSeed(5);
      const mha = new nn.MultiheadAttention(E, H, { batchFirst: c.batchFirst });
      const shape = (len: number) => (c.batchFirst ? [N, len, E] : [len, N, E]);
      const q = tsr.randn(shape(T)).requiresGrad_(), kv = c.cross ? tsr.randn(shape(S)) : q;
      const s = c.cross ? S : T;
      const padding = c.padding ? tsr.zeros([N, s], { dtype: 'bool' }).indexPut_([tsr.sl(), s - 1], true) : undefined;
      const mask = c.floatMask ? tsr.randn([N * H, T, s]) : c.causal ? tsr.ones([T, s], { dtype: 'bool' }).triu(1) : undefined;
      const [y, w] = mha.forward(q, kv, kv, { needWeights: true, averageAttnWeights: c.average, ...(padding ? { keyPaddingMask: padding } : {}), ...(mask ? { attnMask: mask } : {}) });
      y.tanh().sum().add(w!.square().sum()).backward();
      const params = Object.fromEntries([...mha.namedParameters()].map(([k, p]) => [torchName(k), p.tolistSync()]));
      const py = `
import json, torch
c = json.loads('${JSON.stringify(c)}')
m = torch.nn.MultiheadAttention(${E}, ${H}, batch_first=c['batchFirst'])
with torch.no_grad():
    m.load_state_dict({k: torch.tensor(v) for k, v in json.loads(${JSON.stringify(JSON.stringify(params))}).items()}, strict=True)
q = torch.tensor(${JSON.stringify(q.tolistSync())}, requires_grad=True)
kv = torch.tensor(${JSON.stringify(kv.tolistSync())}) if c['cross'] else q
pad = torch.tensor(json.loads('${JSON.stringify(padding?.tolistSync() ?? null)}')) if c['padding'] else None
mask = torch.tensor(json.loads('${JSON.stringify(mask?.tolistSync() ?? null)}')) if (c['floatMask'] or c['causal']) else None
y, w = m(q, kv, kv, key_padding_mask=pad, need_weights=True, attn_mask=mask, average_attn_weights=c['average'])
(y.tanh().sum() + w.square().sum()).backward()
print(json.dumps({'y': y.tolist(), 'w': w.tolist(), 'gx': q.grad.tolist()}))
`;
      const want = JSON.parse(execFileSync(PYTHON, ['-c', py], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })) as { y: unknown; w: unknown; gx: unknown };
      const flat = (v: unknown): number[] => (Array.isArray(v) ? v.flatMap(flat) : [v as number]);
      for (const [name, got, ref] of [['y', y, want.y], ['weights', w!, want.w], ['grad', q.grad!, want.gx]] as const) {
        const [g, r] = [flat(got.tolistSync()), flat(ref)];
        expect(got.shape.reduce((a, b) => a * b, 1), name).toBe(r.length);
        g.forEach((v, i) => expect(Math.abs(v - r[i]!) <= 1e-5 * Math.max(1, Math.abs(r[i]!)), `${name}[${i}]: ${v} vs torch ${r[i]}`).toBe(true));
      }
    }, 60_000);
  }
});
