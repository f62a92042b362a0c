/**
 * The GPT of the example (gpt.ts): token + position embeddings, pre-norm transformer blocks with
 * causal multi-head attention and a GELU MLP. A module of its own so the model can be imported
 * (tools/cuda-pack's benchmark) without the example's entry point.
 */
import * as tsr from 'tessera';

const { nn } = tsr;

export interface GptConfig { vocab: number; context: number; dim: number; heads: number; layers: number }

class Block extends nn.Module {
  ln1: tsr.nn.LayerNorm; attn: tsr.nn.MultiheadAttention; ln2: tsr.nn.LayerNorm; fc: tsr.nn.Linear; proj: tsr.nn.Linear;
  constructor(c: GptConfig) {
    super();
    this.ln1 = new nn.LayerNorm(c.dim);
    this.attn = new nn.MultiheadAttention(c.dim, c.heads, { batchFirst: true });
    this.ln2 = new nn.LayerNorm(c.dim);
    this.fc = new nn.Linear(c.dim, 4 * c.dim);
    this.proj = new nn.Linear(4 * c.dim, c.dim);
  }
  forward(x: tsr.Tensor): tsr.Tensor {
    const y = this.ln1.forward(x);
    const h = x.add(this.attn.forward(y, y, y, { isCausal: true, needWeights: false })[0]);
    return h.add(this.proj.forward(this.fc.forward(this.ln2.forward(h)).gelu()));
  }
}

export class Gpt extends nn.Module {
  tok: tsr.nn.Embedding; pos: tsr.nn.Embedding; blocks: tsr.nn.ModuleList; lnF: tsr.nn.LayerNorm; head: tsr.nn.Linear;
  constructor(readonly config: GptConfig) {
    super();
    this.tok = new nn.Embedding(config.vocab, config.dim);
    this.pos = new nn.Embedding(config.context, config.dim);
    this.blocks = new nn.ModuleList(Array.from({ length: config.layers }, () => new Block(config)));
    this.lnF = new nn.LayerNorm(config.dim);
    this.head = new nn.Linear(config.dim, config.vocab);
  }
  /** ids [N, T] -> logits [N, T, vocab] */
  forward(ids: tsr.Tensor): tsr.Tensor {
    const t = ids.shape[1]!;
    let h = this.tok.forward(ids).add(this.pos.forward(tsr.arange(t, { device: ids.device })));
    for (const b of this.blocks) h = b.forward(h);
    return this.head.forward(this.lnF.forward(h));
  }
}
