/**
 * The ports in examples/ports train as their PyTorch originals do: the same initial weights (the
 * port's, written to safetensors and read by the torch side), the same batches, 50 optimizer steps
 * side by side with Debian's torch (dropout off); every step's loss agrees to 1e-4 relative.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as tsr from 'tessera';
import { GPT, GPTConfig } from '../ports/nanogpt/model.js';
import { Net } from '../ports/mnist/main.js';
import { Corpus } from '../ports/word_language_model/data.js';
import { type Hidden, RNNModel, TransformerModel } from '../ports/word_language_model/model.js';
import { VAE, lossFunction } from '../ports/vae/main.js';
import { loadDigits } from '../src/digits.js';
import { PYTHON, skipWithoutTorch } from '../../libs/nn/test/torch.js';
import { coverageTable } from '../ports/coverage.js';

/** nanoGPT's parameter names from the port's: camelCase segments to snake_case (ln1 -> ln_1, lmHead -> lm_head). */
const snake = (name: string): string => name.split('.').map((s) => s.replace(/([a-z])([A-Z0-9])/g, (_, a: string, b: string) => `${a}_${b.toLowerCase()}`)).join('.');

const STEPS = 50;

describe.skipIf(skipWithoutTorch())('ports train as their PyTorch originals (python3-torch)', () => {
  // The sonnets, character-level, as train.py's dataset.
  const text = readFileSync(new URL('../text/sonnets.txt', import.meta.url), 'utf8');
  const chars = [...new Set(text)].sort();
  const data = Array.from(text, (c) => chars.indexOf(c));
  const model = { n_layer: 2, n_head: 2, n_embd: 32, block_size: 16, vocab_size: chars.length, bias: true };
  const train = { learning_rate: 3e-3, weight_decay: 0.1, betas: [0.9, 0.95] as [number, number], warmup_iters: 5, lr_decay_iters: STEPS, min_lr: 3e-4, grad_clip: 1.0, gradient_accumulation_steps: 2 };
  const g = new tsr.Generator(); g.manualSeed(11);
  const offsets = Array.from({ length: STEPS }, () => Array.from({ length: train.gradient_accumulation_steps }, () => tsr.randint(0, data.length - model.block_size - 1, [4], { generator: g }).tolistSync() as number[]));

  // generate() with top-1 sampling from the initial weights, beside torch's: 20 new tokens from a
  // 5-token prompt (past the 16-token block, so the context is cropped as it grows). An untrained
  // model settles into a cycle of two tokens; the first steps and the masking of all but the top
  // logit (a wrong mask would draw from the whole softmax) are what the comparison checks.
  const prompt = data.slice(0, 5), newTokens = 20;

  /** The port trained with train.py's inner loop (its initial weights go to `weights`): each step's loss, and what it generated first. */
  function ours(weights: string, compiled: boolean): { losses: number[]; greedy: number[] } {
    tsr.manualSeed(0);
    const m = new GPT(new GPTConfig({ nLayer: model.n_layer, nHead: model.n_head, nEmbd: model.n_embd, blockSize: model.block_size, vocabSize: model.vocab_size, bias: model.bias, dropout: 0 }));
    tsr.nn.saveFile(weights, Object.fromEntries(Object.entries(m.stateDict()).map(([k, v]) => [snake(k), v])));
    const greedy = m.generate(tsr.tensor([prompt], { dtype: 'int64' }), newTokens, 0.8, 1).index(0).tolistSync() as number[];
    const optimizer = m.configureOptimizers(train.weight_decay, train.learning_rate, train.betas, 'cpu');
    const getLr = (it: number): number => {
      if (it < train.warmup_iters) return train.learning_rate * (it + 1) / (train.warmup_iters + 1);
      if (it > train.lr_decay_iters) return train.min_lr;
      const ratio = (it - train.warmup_iters) / (train.lr_decay_iters - train.warmup_iters);
      return train.min_lr + 0.5 * (1.0 + Math.cos(Math.PI * ratio)) * (train.learning_rate - train.min_lr);
    };
    const source = tsr.tensor(data, { dtype: 'int64' });
    const batch = (ix: readonly number[], shift: number) => tsr.stack(ix.map((i) => source.narrow(0, i + shift, model.block_size)));
    const micro = (X: tsr.Tensor, Y: tsr.Tensor) => { const loss = m.forward(X, Y)[1]!.div(train.gradient_accumulation_steps); loss.backward(); return loss; };
    const step = compiled ? tsr.compile(micro) : micro;
    const losses = offsets.map((micros, it) => {
      for (const group of optimizer.paramGroups) group.lr = getLr(it);
      const total = micros.reduce((sum, ix) => sum + (step(batch(ix, 0), batch(ix, 1)).itemSync() as number), 0);
      tsr.nn.clipGradNorm_(m.parameters(), train.grad_clip);
      optimizer.step();
      optimizer.zeroGrad();
      return total;
    });
    return { losses, greedy };
  }

  for (const compiled of [false, true]) {
    it(`nanoGPT (model.py + train.py's loop${compiled ? ', compiled' : ''}): ${STEPS} steps of AdamW with decay groups, warmup + cosine, accumulation and clipping give torch's losses`, () => {
      const dir = mkdtempSync(join(tmpdir(), 'tessera-nanogpt-'));
      const weights = join(dir, 'init.safetensors');
      const { losses: got, greedy } = ours(weights, compiled);
      writeFileSync(join(dir, 'cfg.json'), JSON.stringify({ model, ...train, weights, data, offsets, prompt, new_tokens: newTokens }));
      const ref = JSON.parse(execFileSync(PYTHON, [new URL('../ports/nanogpt/reference.py', import.meta.url).pathname, join(dir, 'cfg.json')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })) as { losses: number[]; greedy: number[] };
      const want = ref.losses;
      expect(want.length).toBe(STEPS);
      expect(greedy).toHaveLength(prompt.length + newTokens);
      expect(greedy).toEqual(ref.greedy);
      // The loss falls (the comparison is of a run that learns), and every step agrees with torch's.
      expect(got[STEPS - 1]!).toBeLessThan(got[0]! - 0.5);
      got.forEach((l, i) => expect(Math.abs(l - want[i]!) <= 1e-4 * Math.abs(want[i]!), `step ${i}: ${l} vs torch ${want[i]}`).toBe(true));
    }, 120_000);
  }

  it(`mnist (main.py's Net, Adadelta, StepLR): ${STEPS} steps on the digits give torch's losses`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-mnist-'));
    const weights = join(dir, 'init.safetensors');
    const cfg = { lr: 1.0, gamma: 0.7, batch_size: 16, steps: STEPS, epoch: 10, weights };
    const { train: split } = loadDigits();
    const x = split.x.narrow(0, 0, STEPS * cfg.batch_size), y = split.y.narrow(0, 0, STEPS * cfg.batch_size);
    const [mean, std] = [x.mean().itemSync() as number, x.std().itemSync() as number];
    const xs = x.sub(mean).div(std);
    tsr.manualSeed(1);
    const model = new Net();
    tsr.nn.saveFile(weights, model.stateDict());
    model.eval(); // dropout off
    const optimizer = new tsr.nn.Adadelta(model.parameters(), { lr: cfg.lr });
    const scheduler = new tsr.nn.StepLR(optimizer, 1, cfg.gamma);
    const got: number[] = [];
    for (let step = 0; step < STEPS; step++) {
      const data = xs.narrow(0, step * cfg.batch_size, cfg.batch_size), target = y.narrow(0, step * cfg.batch_size, cfg.batch_size);
      optimizer.zeroGrad();
      const loss = tsr.nn.functional.nllLoss(model.forward(data), target);
      loss.backward();
      optimizer.step();
      got.push(loss.itemSync() as number);
      if ((step + 1) % cfg.epoch === 0) scheduler.step();
    }
    writeFileSync(join(dir, 'cfg.json'), JSON.stringify({ ...cfg, x: Array.from(xs.dataSync() as Float32Array), y: y.tolistSync() }));
    const here = new URL('../ports/', import.meta.url).pathname;
    const want = JSON.parse(execFileSync(PYTHON, [join(here, 'mnist/reference.py'), join(dir, 'cfg.json')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })) as number[];
    expect(want.length).toBe(STEPS);
    expect(got[STEPS - 1]!).toBeLessThan(got[0]! - 1);
    got.forEach((l, i) => expect(Math.abs(l - want[i]!) <= 1e-4 * Math.abs(want[i]!), `step ${i}: ${l} vs torch ${want[i]}`).toBe(true));
  }, 120_000);

  it(`VAE (vae/main.py's model and loss, Adam): ${STEPS} steps on the digits give torch's losses, the reparameterisation noise given`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-vae-'));
    const weights = join(dir, 'init.safetensors');
    const bs = 16;
    const x = loadDigits().train.x.narrow(0, 0, STEPS * bs);
    const g = new tsr.Generator(); g.manualSeed(21);
    const eps = tsr.randn([STEPS, bs, 20], { generator: g });
    /** The port's VAE with each step's noise given rather than drawn (the only change). */
    class GivenNoise extends VAE {
      noise!: tsr.Tensor;
      override reparameterize(mu: tsr.Tensor, logvar: tsr.Tensor): tsr.Tensor { return mu.add(this.noise.mul(tsr.exp(logvar.mul(0.5)))); }
    }
    tsr.manualSeed(2);
    const model = new GivenNoise();
    tsr.nn.saveFile(weights, model.stateDict());
    const optimizer = new tsr.nn.Adam(model.parameters(), { lr: 1e-3 });
    model.train();
    const got: number[] = [];
    for (let step = 0; step < STEPS; step++) {
      const data = x.narrow(0, step * bs, bs);
      model.noise = eps.select(0, step);
      optimizer.zeroGrad();
      const [recon, mu, logvar] = model.forward(data);
      const loss = lossFunction(recon, data, mu, logvar);
      loss.backward();
      optimizer.step();
      got.push(loss.itemSync() as number);
    }
    writeFileSync(join(dir, 'cfg.json'), JSON.stringify({ weights, steps: STEPS, batch_size: bs, x: Array.from(x.contiguous().dataSync() as Float32Array), eps: Array.from(eps.dataSync() as Float32Array) }));
    const want = JSON.parse(execFileSync(PYTHON, [new URL('../ports/vae/reference.py', import.meta.url).pathname, join(dir, 'cfg.json')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })) as number[];
    expect(want.length).toBe(STEPS);
    expect(got[STEPS - 1]!).toBeLessThan(got[0]! * 0.75);
    got.forEach((l, i) => expect(Math.abs(l - want[i]!) <= 1e-4 * Math.abs(want[i]!), `step ${i}: ${l} vs torch ${want[i]}`).toBe(true));
  }, 120_000);

  for (const type of ['LSTM', 'GRU', 'RNN_TANH', 'Transformer']) {
    const transformer = type === 'Transformer';
    it(`word language model (${transformer ? 'Transformer, causal mask' : `${type}, tied weights`}): ${STEPS} batches of truncated BPTT with clipping and plain SGD give torch's losses`, () => {
      const dir = mkdtempSync(join(tmpdir(), 'tessera-wlm-'));
      // The sonnets as words (all of them to train on: about 900), batchified into 4 columns, as main.py does.
      const lines = text.split('\n').filter((l) => l.trim());
      for (const [name, part] of [['train', lines], ['valid', lines.slice(0, 10)], ['test', lines.slice(10, 20)]] as const) writeFileSync(join(dir, `${name}.txt`), `${part.join('\n')}\n`);
      const corpus = new Corpus(dir);
      const bsz = 4, bptt = 4, lr = 5, clip = 0.25;
      const nbatch = Math.floor(corpus.train.size(0) / bsz);
      const trainData = corpus.train.narrow(0, 0, nbatch * bsz).view(bsz, -1).t().contiguous();
      const cfgModel = { type, ntokens: corpus.dictionary.length, emsize: 24, nhid: 24, nlayers: 2, nhead: 2, tied: true };
      tsr.manualSeed(3);
      const model = transformer
        ? new TransformerModel(cfgModel.ntokens, cfgModel.emsize, cfgModel.nhead, cfgModel.nhid, cfgModel.nlayers, 0.0)
        : new RNNModel(type, cfgModel.ntokens, cfgModel.emsize, cfgModel.nhid, cfgModel.nlayers, 0.0, true);
      const weights = join(dir, 'init.safetensors');
      // torch's names: nanoGPT-style snake case for the RNN model (weight_ih_l0), plain snake case for the Transformer's (linear1, norm1).
      const torchName = (k: string) => (transformer ? k.replace(/([a-z])([A-Z])/g, (_, a: string, b: string) => `${a}_${b.toLowerCase()}`) : snake(k));
      tsr.nn.saveFile(weights, Object.fromEntries(Object.entries(model.stateDict()).map(([k, v]) => [torchName(k), v])));
      const criterion = new tsr.nn.NLLLoss();
      let hidden: Hidden | undefined = transformer ? undefined : (model as RNNModel).initHidden(bsz);
      const detach = (h: Hidden): Hidden => (h instanceof tsr.Tensor ? h.detach() : [h[0].detach(), h[1].detach()]);
      // nn.Transformer's layers have dropout 0.1 (upstream passes its dropout only to the positional
      // encoding): evaluation mode turns it off, as on the torch side; gradients flow as in training.
      if (transformer) model.eval(); else model.train();
      const got: number[] = [];
      // Two epochs over the first 25 batches (each from a fresh hidden state, as train() starts), so the second sees data again.
      const epochBatches = STEPS / 2;
      for (let step = 0; step < STEPS; step++) {
        if (step % epochBatches === 0 && !transformer) hidden = (model as RNNModel).initHidden(bsz);
        const i = (step % epochBatches) * bptt;
        const data = trainData.narrow(0, i, bptt), targets = trainData.narrow(0, i + 1, bptt).reshape(-1);
        model.zeroGrad();
        let output: tsr.Tensor;
        if (transformer) {
          output = (model as TransformerModel).forward(data).view(-1, cfgModel.ntokens);
        } else {
          hidden = detach(hidden!);
          [output, hidden] = (model as RNNModel).forward(data, hidden);
        }
        const loss = criterion.forward(output, targets);
        loss.backward();
        tsr.nn.clipGradNorm_(model.parameters(), clip);
        tsr.noGrad(() => { for (const p of model.parameters()) p.add_(p.grad!, { alpha: -lr }); });
        got.push(loss.itemSync() as number);
      }
      writeFileSync(join(dir, 'cfg.json'), JSON.stringify({ model: cfgModel, weights, data: trainData.narrow(0, 0, epochBatches * bptt + 1).tolistSync(), bptt, lr, clip, steps: STEPS, epoch_batches: epochBatches }));
      const want = JSON.parse(execFileSync(PYTHON, [new URL('../ports/word_language_model/reference.py', import.meta.url).pathname, join(dir, 'cfg.json')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })) as number[];
      expect(want.length).toBe(STEPS);
      // The second epoch's losses are lower than the first's (a run that learns).
      expect(got.slice(epochBatches).reduce((x, y) => x + y)).toBeLessThan(got.slice(0, epochBatches).reduce((x, y) => x + y) - 5);
      got.forEach((l, i) => expect(Math.abs(l - want[i]!) <= 1e-4 * Math.abs(want[i]!), `step ${i}: ${l} vs torch ${want[i]}`).toBe(true));
    }, 120_000);
  }
});

describe('nanoGPT train.ts, run as a script', () => {
  const script = new URL('../ports/nanogpt/train.ts', import.meta.url).pathname;
  const root = new URL('../..', import.meta.url).pathname;
  const run = (argv: string[]): string => execFileSync(process.execPath, argv, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
  /** "step N: train loss a, val loss b" lines as { step: val loss }. */
  const evals = (out: string): Map<number, number> => new Map([...out.matchAll(/^step (\d+): train loss [\d.]+, val loss ([\d.]+)$/gm)].map((m) => [Number(m[1]), Number(m[2])]));
  const settings = ['--evalInterval=10', '--evalIters=4', '--logInterval=10'];

  it('trains from scratch, writes a checkpoint, and resumes from it where it stopped', () => {
    const outDir = mkdtempSync(join(tmpdir(), 'tessera-nanogpt-script-'));
    const first = evals(run(['--import', 'tsx', script, ...settings, `--outDir=${outDir}`, '--maxIters=20']));
    expect([...first.keys()]).toEqual([0, 10, 20]);
    expect(first.get(20)!).toBeLessThan(first.get(0)! - 0.4);
    const resumed = run(['--import', 'tsx', script, ...settings, `--outDir=${outDir}`, '--maxIters=30', '--initFrom=resume']);
    expect(resumed).toMatch(/Resuming training from/);
    // It starts at the saved iteration with the trained weights (a fresh model would evaluate near step 0's loss) and goes on.
    const second = evals(resumed);
    expect([...second.keys()]).toEqual([20, 30]);
    expect(second.get(20)!).toBeLessThan(first.get(0)! - 0.4);
    expect(second.get(30)!).toBeLessThan(second.get(20)!);
  }, 180_000);

  it('trains with DistributedDataParallel on 2 ranks under tessera-run (torchrun\'s variables), rank 0 alone logging', () => {
    const outDir = mkdtempSync(join(tmpdir(), 'tessera-nanogpt-ddp-'));
    const launcher = new URL('../../libs/distributed/bin/tessera-run.mjs', import.meta.url).pathname;
    const out = run([launcher, '--nproc', '2', script, ...settings, `--outDir=${outDir}`, '--maxIters=20']);
    // gradientAccumulationSteps 2 over 2 ranks: one micro-step each, the tokens per iteration unchanged.
    expect(out.match(/tokens per iteration will be: 1536/g)).toHaveLength(2);
    const e = evals(out);
    expect([...e.keys()]).toEqual([0, 10, 20]); // once each: rank 0 evaluates and logs
    expect(e.get(20)!).toBeLessThan(e.get(0)! - 0.4);
  }, 180_000);
});

describe('the coverage table', () => {
  it('examples/ports/COVERAGE.md is what examples/ports/coverage.ts generates (run it after adding a name)', () => {
    expect(readFileSync(new URL('../ports/COVERAGE.md', import.meta.url), 'utf8')).toBe(coverageTable());
  });
});
