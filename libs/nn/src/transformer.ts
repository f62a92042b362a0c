/**
 * torch.nn.TransformerEncoderLayer and TransformerDecoderLayer: attention and a feed-forward block,
 * each with dropout and a residual connection, layer-normalised after (torch's default) or before
 * (normFirst). Masks follow torch: a bool mask is true where attention is NOT allowed, a float one
 * is added to the scores; isCausal masks the future.
 */
import { ArgumentError } from '@tessera/ops';
import type { Tensor } from '@tessera/tensor';
import { MultiheadAttention } from './attention.js';
import { Dropout, LayerNorm, Linear } from './layers.js';
import { Module } from './module.js';

export interface TransformerLayerOptions {
  dimFeedforward?: number;
  dropout?: number;
  activation?: 'relu' | 'gelu' | ((x: Tensor) => Tensor);
  layerNormEps?: number;
  /** Inputs [N, S, E] (true) or [S, N, E] (torch's default, false). */
  batchFirst?: boolean;
  normFirst?: boolean;
  bias?: boolean;
}

const activationOf = (a: TransformerLayerOptions['activation']): ((x: Tensor) => Tensor) => {
  if (a === undefined || a === 'relu') return (x) => x.relu();
  if (a === 'gelu') return (x) => x.gelu();
  if (typeof a === 'function') return a;
  throw new ArgumentError('Transformer layer', `activation should be relu/gelu or a function, not ${String(a)}`);
};

/** What both layers share: the feed-forward block, the options, the batch-first handling. */
abstract class TransformerLayer<In extends unknown[]> extends Module<In, Tensor> {
  linear1: Linear; dropout: Dropout; linear2: Linear;
  protected readonly act: (x: Tensor) => Tensor;
  protected readonly opt: Required<Omit<TransformerLayerOptions, 'activation'>>;
  constructor(readonly dModel: number, readonly nhead: number, options: TransformerLayerOptions) {
    super();
    this.opt = { dimFeedforward: 2048, dropout: 0.1, layerNormEps: 1e-5, batchFirst: false, normFirst: false, bias: true, ...options };
    this.act = activationOf(options.activation);
    this.linear1 = new Linear(dModel, this.opt.dimFeedforward, { bias: this.opt.bias });
    this.dropout = new Dropout(this.opt.dropout);
    this.linear2 = new Linear(this.opt.dimFeedforward, dModel, { bias: this.opt.bias });
  }
  protected attention(): MultiheadAttention { return new MultiheadAttention(this.dModel, this.nhead, { bias: this.opt.bias, dropout: this.opt.dropout, batchFirst: true }); }
  protected norm(): LayerNorm { return new LayerNorm(this.dModel, { eps: this.opt.layerNormEps }); }
  protected feedForward(x: Tensor, drop: Dropout): Tensor { return drop.forward(this.linear2.forward(this.dropout.forward(this.act(this.linear1.forward(x))))); }
  /** x as [N, S, E] (attention takes batch first), and back. */
  protected batchFirst(x: Tensor): Tensor { return this.opt.batchFirst ? x : x.transpose(0, 1); }
  /** x + f(norm(x)) with normFirst, else norm(x + f(x)). */
  protected residual(x: Tensor, norm: LayerNorm, f: (y: Tensor) => Tensor): Tensor {
    return this.opt.normFirst ? x.add(f(norm.forward(x))) : norm.forward(x.add(f(x)));
  }
}

export interface EncoderMasks { srcMask?: Tensor; srcKeyPaddingMask?: Tensor; isCausal?: boolean }

export class TransformerEncoderLayer extends TransformerLayer<[Tensor, EncoderMasks?]> {
  selfAttn: MultiheadAttention; norm1: LayerNorm; norm2: LayerNorm; dropout1: Dropout; dropout2: Dropout;
  constructor(dModel: number, nhead: number, options: TransformerLayerOptions = {}) {
    super(dModel, nhead, options);
    this.selfAttn = this.attention();
    this.norm1 = this.norm(); this.norm2 = this.norm();
    this.dropout1 = new Dropout(this.opt.dropout); this.dropout2 = new Dropout(this.opt.dropout);
  }
  forward(src: Tensor, masks: EncoderMasks = {}): Tensor {
    let x = this.batchFirst(src);
    const call = { attnMask: masks.srcMask, keyPaddingMask: masks.srcKeyPaddingMask, isCausal: masks.isCausal, needWeights: false };
    x = this.residual(x, this.norm1, (y) => this.dropout1.forward(this.selfAttn.forward(y, y, y, call)[0]));
    x = this.residual(x, this.norm2, (y) => this.feedForward(y, this.dropout2));
    return this.batchFirst(x);
  }
}

export interface DecoderMasks { tgtMask?: Tensor; memoryMask?: Tensor; tgtKeyPaddingMask?: Tensor; memoryKeyPaddingMask?: Tensor; tgtIsCausal?: boolean; memoryIsCausal?: boolean }

export class TransformerDecoderLayer extends TransformerLayer<[Tensor, Tensor, DecoderMasks?]> {
  selfAttn: MultiheadAttention; multiheadAttn: MultiheadAttention; norm1: LayerNorm; norm2: LayerNorm; norm3: LayerNorm;
  dropout1: Dropout; dropout2: Dropout; dropout3: Dropout;
  constructor(dModel: number, nhead: number, options: TransformerLayerOptions = {}) {
    super(dModel, nhead, options);
    this.selfAttn = this.attention();
    this.multiheadAttn = this.attention();
    this.norm1 = this.norm(); this.norm2 = this.norm(); this.norm3 = this.norm();
    this.dropout1 = new Dropout(this.opt.dropout); this.dropout2 = new Dropout(this.opt.dropout); this.dropout3 = new Dropout(this.opt.dropout);
  }
  forward(tgt: Tensor, memory: Tensor, masks: DecoderMasks = {}): Tensor {
    let x = this.batchFirst(tgt);
    const mem = this.batchFirst(memory);
    const selfCall = { attnMask: masks.tgtMask, keyPaddingMask: masks.tgtKeyPaddingMask, isCausal: masks.tgtIsCausal, needWeights: false };
    const cross = { attnMask: masks.memoryMask, keyPaddingMask: masks.memoryKeyPaddingMask, isCausal: masks.memoryIsCausal, needWeights: false };
    x = this.residual(x, this.norm1, (y) => this.dropout1.forward(this.selfAttn.forward(y, y, y, selfCall)[0]));
    x = this.residual(x, this.norm2, (y) => this.dropout2.forward(this.multiheadAttn.forward(y, mem, mem, cross)[0]));
    x = this.residual(x, this.norm3, (y) => this.feedForward(y, this.dropout3));
    return this.batchFirst(x);
  }
}
