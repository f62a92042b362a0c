/**
 * A port of karpathy/nanoGPT's model.py (MIT licence) to Tessera, line for line: names renamed
 * (torch -> tsr, snake_case -> camelCase, keyword arguments -> an options object) and what
 * JavaScript forces (m.forward(x) for m(x), method calls for operators). Every other difference
 * is listed in NOTES.md.
 *
 * Full definition of a GPT Language Model, all of it in this single file.
 */
import assert from 'node:assert';
import * as tsr from 'tessera';

const { nn } = tsr;
const F = nn.functional;
type Tensor = tsr.Tensor;

/** LayerNorm but with an optional bias. PyTorch doesn't support simply bias=False */
class LayerNorm extends nn.Module {
  weight: Tensor;
  bias: Tensor | undefined;
  constructor(ndim: number, bias: boolean) {
    super();
    this.weight = nn.parameter(tsr.ones(ndim));
    this.bias = bias ? nn.parameter(tsr.zeros(ndim)) : undefined;
  }

  forward(input: Tensor): Tensor {
    return F.layerNorm(input, this.weight.shape, this.weight, this.bias, 1e-5);
  }
}

class CausalSelfAttention extends nn.Module {
  cAttn: tsr.nn.Linear; cProj: tsr.nn.Linear; attnDropout: tsr.nn.Dropout; residDropout: tsr.nn.Dropout;
  nHead: number; nEmbd: number; dropout: number; flash: boolean;
  declare bias: Tensor; // the causal mask buffer, when registered
  constructor(config: GPTConfig) {
    super();
    assert(config.nEmbd % config.nHead === 0);
    // key, query, value projections for all heads, but in a batch
    this.cAttn = new nn.Linear(config.nEmbd, 3 * config.nEmbd, { bias: config.bias });
    // output projection
    this.cProj = new nn.Linear(config.nEmbd, config.nEmbd, { bias: config.bias });
    // regularization
    this.attnDropout = new nn.Dropout(config.dropout);
    this.residDropout = new nn.Dropout(config.dropout);
    this.nHead = config.nHead;
    this.nEmbd = config.nEmbd;
    this.dropout = config.dropout;
    // flash attention make GPU go brrrrr but support is only in PyTorch >= 2.0
    this.flash = 'scaledDotProductAttention' in F;
    if (!this.flash) {
      console.log('WARNING: using slow attention. Flash Attention requires PyTorch >= 2.0');
      // causal mask to ensure that attention is only applied to the left in the input sequence
      this.registerBuffer('bias', tsr.tril(tsr.ones(config.blockSize, config.blockSize)).view(1, 1, config.blockSize, config.blockSize));
    }
  }

  forward(x: Tensor): Tensor {
    const [B, T, C] = x.size(); // batch size, sequence length, embedding dimensionality (nEmbd)

    // calculate query, key, values for all heads in batch and move head forward to be the batch dim
    let [q, k, v] = this.cAttn.forward(x).split(this.nEmbd, 2) as [Tensor, Tensor, Tensor];
    k = k.view(B!, T!, this.nHead, C! / this.nHead).transpose(1, 2); // (B, nh, T, hs)
    q = q.view(B!, T!, this.nHead, C! / this.nHead).transpose(1, 2); // (B, nh, T, hs)
    v = v.view(B!, T!, this.nHead, C! / this.nHead).transpose(1, 2); // (B, nh, T, hs)

    // causal self-attention; Self-attend: (B, nh, T, hs) x (B, nh, hs, T) -> (B, nh, T, T)
    let y: Tensor;
    if (this.flash) {
      // efficient attention using Flash Attention CUDA kernels
      y = F.scaledDotProductAttention(q, k, v, { attnMask: undefined, dropoutP: this.training ? this.dropout : 0, isCausal: true });
    } else {
      // manual implementation of attention
      let att = q.matmul(k.transpose(-2, -1)).mul(1.0 / Math.sqrt(k.size(-1)));
      att = att.maskedFill(this.bias.index(':', ':', tsr.sl(null, T), tsr.sl(null, T)).eq(0), -Infinity);
      att = F.softmax(att, -1);
      att = this.attnDropout.forward(att);
      y = att.matmul(v); // (B, nh, T, T) x (B, nh, T, hs) -> (B, nh, T, hs)
    }
    y = y.transpose(1, 2).contiguous().view(B!, T!, C!); // re-assemble all head outputs side by side

    // output projection
    y = this.residDropout.forward(this.cProj.forward(y));
    return y;
  }
}

class MLP extends nn.Module {
  cFc: tsr.nn.Linear; gelu: tsr.nn.GELU; cProj: tsr.nn.Linear; dropout: tsr.nn.Dropout;
  constructor(config: GPTConfig) {
    super();
    this.cFc = new nn.Linear(config.nEmbd, 4 * config.nEmbd, { bias: config.bias });
    this.gelu = new nn.GELU();
    this.cProj = new nn.Linear(4 * config.nEmbd, config.nEmbd, { bias: config.bias });
    this.dropout = new nn.Dropout(config.dropout);
  }

  forward(x: Tensor): Tensor {
    x = this.cFc.forward(x);
    x = this.gelu.forward(x);
    x = this.cProj.forward(x);
    x = this.dropout.forward(x);
    return x;
  }
}

class Block extends nn.Module {
  ln1: LayerNorm; attn: CausalSelfAttention; ln2: LayerNorm; mlp: MLP;
  constructor(config: GPTConfig) {
    super();
    this.ln1 = new LayerNorm(config.nEmbd, config.bias);
    this.attn = new CausalSelfAttention(config);
    this.ln2 = new LayerNorm(config.nEmbd, config.bias);
    this.mlp = new MLP(config);
  }

  forward(x: Tensor): Tensor {
    x = x.add(this.attn.forward(this.ln1.forward(x)));
    x = x.add(this.mlp.forward(this.ln2.forward(x)));
    return x;
  }
}

export class GPTConfig {
  blockSize = 1024;
  vocabSize = 50304; // GPT-2 vocabSize of 50257, padded up to nearest multiple of 64 for efficiency
  nLayer = 12;
  nHead = 12;
  nEmbd = 768;
  dropout = 0.0;
  bias = true; // True: bias in Linears and LayerNorms, like GPT-2. False: a bit better and faster
  constructor(args: Partial<GPTConfig> = {}) { Object.assign(this, args); }
}

export class GPT extends nn.Module<[idx: Tensor, targets?: Tensor], [Tensor, Tensor | undefined]> {
  config: GPTConfig;
  transformer: tsr.nn.ModuleDict & { wte: tsr.nn.Embedding; wpe: tsr.nn.Embedding; drop: tsr.nn.Dropout; h: tsr.nn.ModuleList<Block>; lnF: LayerNorm };
  lmHead: tsr.nn.Linear;
  constructor(config: GPTConfig) {
    super();
    assert(config.vocabSize !== undefined);
    assert(config.blockSize !== undefined);
    this.config = config;

    this.transformer = new nn.ModuleDict({
      wte: new nn.Embedding(config.vocabSize, config.nEmbd),
      wpe: new nn.Embedding(config.blockSize, config.nEmbd),
      drop: new nn.Dropout(config.dropout),
      h: new nn.ModuleList(Array.from({ length: config.nLayer }, () => new Block(config))),
      lnF: new LayerNorm(config.nEmbd, config.bias),
    });
    this.lmHead = new nn.Linear(config.nEmbd, config.vocabSize, { bias: false });
    // with weight tying when using torch.compile() some warnings get generated:
    // "UserWarning: functional_call was passed multiple values for tied weights.
    // This behavior is deprecated and will be an error in future versions"
    // not 100% sure what this is, so far seems to be harmless. TODO investigate
    this.transformer.wte.weight = this.lmHead.weight; // https://paperswithcode.com/method/weight-tying

    // init all weights
    this.apply(this.initWeights);
    // apply special scaled init to the residual projections, per GPT-2 paper
    for (const [pn, p] of this.namedParameters()) {
      if (pn.endsWith('cProj.weight')) nn.init.normal_(p, 0.0, 0.02 / Math.sqrt(2 * config.nLayer));
    }

    // report number of parameters
    console.log(`number of parameters: ${(this.getNumParams() / 1e6).toFixed(2)}M`);
  }

  /**
   * Return the number of parameters in the model.
   * For non-embedding count (default), the position embeddings get subtracted.
   * The token embeddings would too, except due to the parameter sharing these
   * params are actually used as weights in the final layer, so we include them.
   */
  getNumParams(nonEmbedding = true): number {
    let nParams = this.parameters().reduce((n, p) => n + p.numel, 0);
    if (nonEmbedding) nParams -= this.transformer.wpe.weight.numel;
    return nParams;
  }

  cropBlockSize(blockSize: number): void {
    // model surgery to decrease the block size if necessary
    // e.g. we may load the GPT2 pretrained model checkpoint (block size 1024)
    // but want to use a smaller block size for some smaller, simpler model
    assert(blockSize <= this.config.blockSize);
    this.config.blockSize = blockSize;
    this.transformer.wpe.weight = nn.parameter(this.transformer.wpe.weight.index(tsr.sl(null, blockSize)));
    for (const block of this.transformer.h) {
      if (block.attn.bias !== undefined) block.attn.bias = block.attn.bias.index(':', ':', tsr.sl(null, blockSize), tsr.sl(null, blockSize));
    }
  }

  initWeights(module: tsr.nn.AnyModule): void {
    if (module instanceof nn.Linear) {
      nn.init.normal_(module.weight, 0.0, 0.02);
      if (module.bias !== undefined) nn.init.zeros_(module.bias);
    } else if (module instanceof nn.Embedding) {
      nn.init.normal_(module.weight, 0.0, 0.02);
    }
  }

  forward(idx: Tensor, targets?: Tensor): [Tensor, Tensor | undefined] {
    const device = idx.device;
    const [, t] = idx.size();
    assert(t! <= this.config.blockSize, `Cannot forward sequence of length ${t}, block size is only ${this.config.blockSize}`);
    const pos = tsr.arange(0, t!, { dtype: 'int64', device }); // shape (t)

    // forward the GPT model itself
    const tokEmb = this.transformer.wte.forward(idx); // token embeddings of shape (b, t, nEmbd)
    const posEmb = this.transformer.wpe.forward(pos); // position embeddings of shape (t, nEmbd)
    let x = this.transformer.drop.forward(tokEmb.add(posEmb));
    for (const block of this.transformer.h) x = block.forward(x);
    x = this.transformer.lnF.forward(x);

    let logits: Tensor, loss: Tensor | undefined;
    if (targets !== undefined) {
      // if we are given some desired targets also calculate the loss
      logits = this.lmHead.forward(x);
      loss = F.crossEntropy(logits.view(-1, logits.size(-1)), targets.view(-1), { ignoreIndex: -1 });
    } else {
      // inference-time mini-optimization: only forward the lmHead on the very last position
      logits = this.lmHead.forward(x.index(':', [-1], ':')); // note: using list [-1] to preserve the time dim
      loss = undefined;
    }
    return [logits, loss];
  }

  configureOptimizers(weightDecay: number, learningRate: number, betas: [number, number], _deviceType: string): tsr.nn.AdamW {
    // start with all of the candidate parameters
    let paramDict = Object.fromEntries(this.namedParameters());
    // filter out those that do not require grad
    paramDict = Object.fromEntries(Object.entries(paramDict).filter(([, p]) => p.requiresGrad));
    // create optim groups. Any parameters that is 2D will be weight decayed, otherwise no.
    // i.e. all weight tensors in matmuls + embeddings decay, all biases and layernorms don't.
    const decayParams = Object.values(paramDict).filter((p) => p.dim() >= 2);
    const nodecayParams = Object.values(paramDict).filter((p) => p.dim() < 2);
    const optimGroups = [
      { params: decayParams, weightDecay },
      { params: nodecayParams, weightDecay: 0.0 },
    ];
    const numDecayParams = decayParams.reduce((n, p) => n + p.numel, 0);
    const numNodecayParams = nodecayParams.reduce((n, p) => n + p.numel, 0);
    console.log(`num decayed parameter tensors: ${decayParams.length}, with ${numDecayParams} parameters`);
    console.log(`num non-decayed parameter tensors: ${nodecayParams.length}, with ${numNodecayParams} parameters`);
    // Create AdamW optimizer (there is no fused variant to ask for: compile fuses the update)
    const optimizer = new nn.AdamW(optimGroups, { lr: learningRate, betas });
    return optimizer;
  }

  /** estimate model flops utilization (MFU) in units of A100 bfloat16 peak FLOPS */
  estimateMfu(fwdbwdPerIter: number, dt: number): number {
    // first estimate the number of flops we do per iteration.
    // see PaLM paper Appendix B as ref: https://arxiv.org/abs/2204.02311
    const N = this.getNumParams();
    const cfg = this.config;
    const [L, H, Q, T] = [cfg.nLayer, cfg.nHead, cfg.nEmbd / cfg.nHead, cfg.blockSize];
    const flopsPerToken = 6 * N + 12 * L * H * Q * T;
    const flopsPerFwdbwd = flopsPerToken * T;
    const flopsPerIter = flopsPerFwdbwd * fwdbwdPerIter;
    // express our flops throughput as ratio of A100 bfloat16 peak flops
    const flopsAchieved = flopsPerIter * (1.0 / dt); // per second
    const flopsPromised = 312e12; // A100 GPU bfloat16 peak flops is 312 TFLOPS
    const mfu = flopsAchieved / flopsPromised;
    return mfu;
  }

  /**
   * Take a conditioning sequence of indices idx (LongTensor of shape (b,t)) and complete
   * the sequence maxNewTokens times, feeding the predictions back into the model each time.
   * Most likely you'll want to make sure to be in model.eval() mode of operation for this.
   */
  generate(idx: Tensor, maxNewTokens: number, temperature = 1.0, topK?: number): Tensor {
    return tsr.noGrad(() => {
      for (let i = 0; i < maxNewTokens; i++) {
        // if the sequence context is growing too long we must crop it at blockSize
        const idxCond = idx.size(1) <= this.config.blockSize ? idx : idx.index(':', tsr.sl(-this.config.blockSize));
        // forward the model to get the logits for the index in the sequence
        let [logits] = this.forward(idxCond);
        // pluck the logits at the final step and scale by desired temperature
        logits = logits.index(':', -1, ':').div(temperature);
        // optionally crop the logits to only the top k options
        if (topK !== undefined) {
          const [v] = tsr.topk(logits, Math.min(topK, logits.size(-1)));
          logits.indexPut_([logits.lt(v.index(':', [-1]))], -Infinity);
        }
        // apply softmax to convert logits to (normalized) probabilities
        const probs = F.softmax(logits, -1);
        // sample from the distribution
        const idxNext = tsr.multinomial(probs, 1);
        // append sampled index to the running sequence and continue
        idx = tsr.cat([idx, idxNext], 1);
      }
      return idx;
    });
  }
}
