/** tsr.save / tsr.load: nested state round-trips, training resumes exactly, and what cannot be saved is refused. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as tsr from 'tessera';

const { nn } = tsr;
const dir = mkdtempSync(join(tmpdir(), 'tessera-save-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('save and load', () => {
  it('nested objects, arrays, numbers (NaN and infinities too), strings, booleans and tensors round-trip; a tensor met twice loads as one', () => {
    const w = tsr.randn([3, 2]);
    const obj = { model: { 'emb.weight': w, 'head.weight': w }, step: 7, lr: 3e-4, best: Infinity, gap: NaN, name: 'gpt', flags: [true, false, null], nested: [{ t: tsr.arange(4, { dtype: 'int64' }) }] };
    const file = join(dir, 'state.safetensors');
    tsr.save(obj, file);
    const back = tsr.load<typeof obj>(file);
    expect(back.model['emb.weight'].tolistSync()).toEqual(w.tolistSync());
    expect(back.model['emb.weight']).toBe(back.model['head.weight']);
    expect([back.step, back.lr, back.best, back.gap, back.name, back.flags]).toEqual([7, 3e-4, Infinity, NaN, 'gpt', [true, false, null]]);
    expect(back.nested[0]!.t.dtype).toBe('int64');
    expect(back.nested[0]!.t.tolistSync()).toEqual([0, 1, 2, 3]);
    // Any safetensors reader sees the tensors; loadFile gives the metadata too.
    const { tensors, metadata } = nn.loadFile(file, { metadata: true });
    expect(Object.keys(tensors).length).toBe(2);
    expect(Object.keys(metadata)).toEqual(['tessera.state']);
  });

  it('a checkpoint of model, optimizer, epoch and config resumes training exactly', () => {
    const x = tsr.randn([16, 4]), y = tsr.randint(0, 3, [16]);
    const make = () => { tsr.manualSeed(11); const model = new nn.Sequential(new nn.Linear(4, 8), new nn.Tanh(), new nn.Linear(8, 3)); return { model, opt: new nn.AdamW(model.parameters(), { lr: 0.01 }) }; };
    const step = (m: ReturnType<typeof make>) => { m.opt.zeroGrad(); const loss = nn.crossEntropy(m.model.forward(x), y); loss.backward(); m.opt.step(); return loss.itemSync() as number; };
    const straight = make();
    const want = Array.from({ length: 6 }, () => step(straight));
    const first = make();
    for (let i = 0; i < 3; i++) step(first);
    const file = join(dir, 'ckpt.safetensors');
    tsr.save({ model: first.model.stateDict(), optimizer: first.opt.stateDict(), epoch: 3, config: { width: 8 } }, file);
    const ck = tsr.load<{ model: Record<string, tsr.Tensor>; optimizer: ReturnType<typeof first.opt.stateDict>; epoch: number; config: { width: number } }>(file);
    const resumed = make();
    resumed.model.loadStateDict(ck.model);
    resumed.opt.loadStateDict(ck.optimizer);
    expect([ck.epoch, ck.config.width]).toEqual([3, 8]);
    const got = Array.from({ length: 3 }, () => step(resumed));
    expect(got).toEqual(want.slice(3));
  });

  it('refuses what it cannot save, naming where', () => {
    const file = join(dir, 'bad.safetensors');
    expect(() => tsr.save({ model: new nn.Linear(2, 2) }, file)).toThrow(/obj\.model: cannot save a Linear instance; save its stateDict/);
    expect(() => tsr.save({ f: () => 1 }, file)).toThrow(tsr.ArgumentError);
    const loop: Record<string, unknown> = {};
    loop['self'] = loop;
    expect(() => tsr.save(loop, file)).toThrow(/refers to itself/);
    // A plain safetensors file loads as its tensors.
    nn.saveFile(file, { a: tsr.ones([2]) });
    expect(Object.keys(tsr.load<Record<string, tsr.Tensor>>(file))).toEqual(['a']);
  });
});
