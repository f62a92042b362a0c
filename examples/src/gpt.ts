/**
 * A small character-level GPT trained on Shakespeare's sonnets (examples/text/sonnets.txt, public
 * domain): token + position embeddings, pre-norm transformer blocks with causal multi-head attention
 * and a GELU MLP, AdamW with warmup + cosine decay. Prints the loss and samples.
 */
import { readFileSync } from 'node:fs';
import * as tsr from 'tessera';
import { Gpt, type GptConfig } from './gpt-model.js';

const { nn } = tsr;

export { Gpt, type GptConfig } from './gpt-model.js';

export function loadText(): { text: string; chars: string[]; encode: (s: string) => number[]; decode: (ids: number[]) => string } {
  const text = readFileSync(new URL('../text/sonnets.txt', import.meta.url), 'utf8');
  const chars = [...new Set(text)].sort();
  const index = new Map(chars.map((c, i) => [c, i]));
  return { text, chars, encode: (s) => [...s].map((c) => index.get(c)!), decode: (ids) => ids.map((i) => chars[i]).join('') };
}

/** Random windows of the text: inputs [N, T] and next-character targets [N, T]. */
function batch(data: Int32Array, n: number, t: number, g: tsr.Generator): [tsr.Tensor, tsr.Tensor] {
  const x = new Int32Array(n * t), y = new Int32Array(n * t);
  for (let b = 0; b < n; b++) {
    const s = Math.floor(g.uniform() * (data.length - t - 1));
    x.set(data.subarray(s, s + t), b * t);
    y.set(data.subarray(s + 1, s + t + 1), b * t);
  }
  return [tsr.tensor(x, { shape: [n, t] }), tsr.tensor(y, { shape: [n, t] })];
}

export function sample(model: Gpt, prompt: number[], length: number, g: tsr.Generator, temperature = 0.8): number[] {
  const ids = prompt.slice();
  model.eval();
  tsr.noGrad(() => {
    for (let i = 0; i < length; i++) {
      const ctx = ids.slice(-model.config.context);
      const logits = model.forward(tsr.tensor(Int32Array.from(ctx), { shape: [1, ctx.length] })).select(1, ctx.length - 1).select(0, 0);
      const p = logits.div(temperature).softmax(0).dataSync() as Float32Array;
      let r = g.uniform(), next = p.length - 1;
      for (let k = 0; k < p.length; k++) { r -= p[k]!; if (r <= 0) { next = k; break; } }
      ids.push(next);
    }
  });
  model.train();
  return ids;
}

export function trainGpt(steps: number, log = true): { model: Gpt; losses: number[] } {
  tsr.manualSeed(0);
  const { text, chars, encode } = loadText();
  const data = Int32Array.from(encode(text));
  const config: GptConfig = { vocab: chars.length, context: 32, dim: 64, heads: 4, layers: 2 };
  const model = new Gpt(config);
  const opt = new nn.AdamW(model.parameters(), { lr: 3e-3, weightDecay: 0.01 });
  const sched = new nn.WarmupCosineLR(opt, Math.min(20, steps), steps, 0.1);
  const g = new tsr.Generator(1);
  const losses: number[] = [];
  const bar = log ? new tsr.Progress({ label: 'gpt', total: steps }) : undefined;
  for (let s = 1; s <= steps; s++) {
    const [x, y] = batch(data, 16, config.context, g);
    const logits = model.forward(x);
    const loss = nn.crossEntropy(logits.reshape(-1, config.vocab), y.reshape(-1).long());
    opt.zeroGrad();
    loss.backward();
    nn.clipGradNorm_(model.parameters(), 1);
    opt.step();
    sched.step();
    losses.push(loss.itemSync() as number);
    bar?.update(s, `loss ${losses[losses.length - 1]!.toFixed(3)}`);
  }
  bar?.done(`final loss ${losses[steps - 1]!.toFixed(3)}`);
  return { model, losses };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const t0 = Date.now();
  const steps = Number(process.env['STEPS'] ?? 400);
  const { model } = trainGpt(steps);
  const { encode, decode } = loadText();
  const params = model.parameters().reduce((n, p) => n + p.numel, 0);
  console.log(`${params} parameters, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  for (const prompt of ['Shall I ', 'Love is ']) console.log(`--- sample: ${JSON.stringify(prompt)}\n${decode(sample(model, encode(prompt), 160, new tsr.Generator(7)))}`);
}
