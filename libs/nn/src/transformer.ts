/**
 * torch.nn.TransformerEncoderLayer and TransformerDecoderLayer: attention and a feed-forward block,
 * each with dropout and a residual connection, layer-normalised after (torch's default) or before
 * (normFirst). Masks follow torch: a bool mask is true where attention is NOT allowed, a float one
 * is added to the scores; isCausal masks the future.
 */
import { ArgumentError, type DType } from '@tessera/ops';
import { type DeviceKind, type Tensor, full } from '@tessera/tensor';
import { xavierUniform_ } from './init.js';
import { MultiheadAttention } from './attention.js';
import { Dropout, LayerNorm, Linear } from './layers.js';
import { type AnyModule, Module, deepcopy } from './module.js';

/** TransformerEncoderLayer's and TransformerDecoderLayer's options, torch's keyword arguments. */
export interface TransformerLayerOptions {
  /** Width of the feed-forward block (torch's dim_feedforward; default 2048). */
  dimFeedforward?: number;
  /** Dropout after attention, inside and after the feed-forward block (default 0.1). */
  dropout?: number;
  /** The feed-forward block's activation: 'relu' (default), 'gelu' or a function. */
  activation?: 'relu' | 'gelu' | ((x: Tensor) => Tensor);
  /** LayerNorm's eps (default 1e-5). */
  layerNormEps?: number;
  /** Inputs [N, S, E] (true) or [S, N, E] (torch's default, false). */
  batchFirst?: boolean;
  /** LayerNorm before attention and the feed-forward block (pre-norm) rather than after (default false). */
  normFirst?: boolean;
  /** Biases in the linear layers and attention projections (default true). */
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
  /** The feed-forward block's first layer, dModel to dimFeedforward. */
  linear1: Linear;
  /** Dropout inside the feed-forward block, after the activation. */
  dropout: Dropout;
  /** The feed-forward block's second layer, dimFeedforward back to dModel. */
  linear2: Linear;
  /** The feed-forward block's activation. */
  protected readonly act: (x: Tensor) => Tensor;
  /** The options, defaults filled in (the activation aside). */
  protected readonly opt: Required<Omit<TransformerLayerOptions, 'activation'>>;
  /**
   * Throws ArgumentError on an activation that is not 'relu', 'gelu' or a function.
   * @param dModel - E, the width of the inputs and outputs.
   * @param nhead - attention heads; must divide dModel.
   */
  constructor(readonly dModel: number, readonly nhead: number, options: TransformerLayerOptions) {
    super();
    this.opt = { dimFeedforward: 2048, dropout: 0.1, layerNormEps: 1e-5, batchFirst: false, normFirst: false, bias: true, ...options };
    this.act = activationOf(options.activation);
    this.linear1 = new Linear(dModel, this.opt.dimFeedforward, { bias: this.opt.bias });
    this.dropout = new Dropout(this.opt.dropout);
    this.linear2 = new Linear(this.opt.dimFeedforward, dModel, { bias: this.opt.bias });
  }
  /** A new attention block with the layer's bias and dropout, batch first (the layer transposes once for it). */
  protected attention(): MultiheadAttention { return new MultiheadAttention(this.dModel, this.nhead, { bias: this.opt.bias, dropout: this.opt.dropout, batchFirst: true }); }
  /** A new LayerNorm over dModel with the layer's eps. */
  protected norm(): LayerNorm { return new LayerNorm(this.dModel, { eps: this.opt.layerNormEps }); }
  /** The feed-forward block: `drop(linear2(dropout(act(linear1(x)))))`. */
  protected feedForward(x: Tensor, drop: Dropout): Tensor { return drop.forward(this.linear2.forward(this.dropout.forward(this.act(this.linear1.forward(x))))); }
  /** x as [N, S, E] (attention takes batch first), and back. */
  protected batchFirst(x: Tensor): Tensor { return this.opt.batchFirst ? x : x.transpose(0, 1); }
  /** x + f(norm(x)) with normFirst, else norm(x + f(x)). */
  protected residual(x: Tensor, norm: LayerNorm, f: (y: Tensor) => Tensor): Tensor {
    return this.opt.normFirst ? x.add(f(norm.forward(x))) : norm.forward(x.add(f(x)));
  }
}

/** TransformerEncoderLayer.forward's masks, torch's keyword arguments. */
export interface EncoderMasks {
  /** `[S, S]` or [N * nhead, S, S]: true (bool) where attention is not allowed, or added (float). */
  srcMask?: Tensor;
  /** `[N, S]`: true where a position is padding. */
  srcKeyPaddingMask?: Tensor;
  /** Mask the future. */
  isCausal?: boolean;
}

/**
 * torch.nn.TransformerEncoderLayer: self-attention, then a feed-forward block, each with dropout and
 * a residual connection, layer-normalised after (or before, with normFirst). forward(src, masks?)
 * takes and returns `[S, N, E]` (`[N, S, E]` with batchFirst).
 */
export class TransformerEncoderLayer extends TransformerLayer<[Tensor, EncoderMasks?]> {
  /** The self-attention block. */
  selfAttn: MultiheadAttention;
  /** The LayerNorm of the self-attention block. */
  norm1: LayerNorm;
  /** The LayerNorm of the feed-forward block. */
  norm2: LayerNorm;
  /** Dropout on the self-attention block's output. */
  dropout1: Dropout;
  /** Dropout on the feed-forward block's output. */
  dropout2: Dropout;
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

/** TransformerDecoderLayer.forward's masks, torch's keyword arguments. */
export interface DecoderMasks {
  /** Self-attention's mask over the target, [T, T] (bool: true = not allowed; float: added). */
  tgtMask?: Tensor;
  /** Cross-attention's mask, [T, S]. */
  memoryMask?: Tensor;
  /** `[N, T]`: true where a target position is padding. */
  tgtKeyPaddingMask?: Tensor;
  /** `[N, S]`: true where a memory position is padding. */
  memoryKeyPaddingMask?: Tensor;
  /** Mask the target's future in self-attention. */
  tgtIsCausal?: boolean;
  /** Mask the future in cross-attention. */
  memoryIsCausal?: boolean;
}

/**
 * torch.nn.TransformerDecoderLayer: self-attention over the target, cross-attention to the encoder's
 * output (memory), then a feed-forward block, each with dropout and a residual connection,
 * layer-normalised after (or before, with normFirst). forward(tgt, memory, masks?) takes `[T, N, E]`
 * and `[S, N, E]` (batch first with batchFirst) and returns `[T, N, E]`.
 */
export class TransformerDecoderLayer extends TransformerLayer<[Tensor, Tensor, DecoderMasks?]> {
  /** The self-attention block over the target. */
  selfAttn: MultiheadAttention;
  /** The cross-attention block: queries from the target, keys and values from memory. */
  multiheadAttn: MultiheadAttention;
  /** The LayerNorm of the self-attention block. */
  norm1: LayerNorm;
  /** The LayerNorm of the cross-attention block. */
  norm2: LayerNorm;
  /** The LayerNorm of the feed-forward block. */
  norm3: LayerNorm;
  /** Dropout on the self-attention block's output. */
  dropout1: Dropout;
  /** Dropout on the cross-attention block's output. */
  dropout2: Dropout;
  /** Dropout on the feed-forward block's output. */
  dropout3: Dropout;
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

/** numLayers deep copies of `layer`, each with its own weights (torch's _get_clones). */
function clones<L extends AnyModule>(what: string, layer: L, kind: abstract new (...a: never[]) => L, numLayers: number): L[] {
  if (!(layer instanceof kind)) throw new ArgumentError(what, `expects a ${kind.name} to copy, got ${layer?.constructor?.name ?? String(layer)}`);
  if (!Number.isInteger(numLayers) || numLayers < 1) throw new ArgumentError(what, `numLayers must be a positive integer, got ${numLayers}`);
  return Array.from({ length: numLayers }, () => deepcopy(layer));
}

/** TransformerEncoder's and TransformerDecoder's options. */
export interface TransformerStackOptions {
  /** Applied to the last layer's output (torch's `norm`). */
  norm?: Module;
}

/** TransformerEncoder.forward's masks, torch's keyword arguments. */
export interface EncoderStackMasks {
  /** Every layer's src_mask: `[S, S]` or `[N * nhead, S, S]`, true (bool) where not allowed or added (float). */
  mask?: Tensor;
  /** `[N, S]`: true where a position is padding. */
  srcKeyPaddingMask?: Tensor;
  /** Mask the future. */
  isCausal?: boolean;
}

/**
 * torch.nn.TransformerEncoder: numLayers copies of encoderLayer (deep copies, as torch's, so each
 * has its own weights), applied in turn, then `norm` if given. forward's masks are torch's keyword
 * arguments: `mask` (src_mask), `srcKeyPaddingMask`, `isCausal`.
 */
export class TransformerEncoder extends Module<[Tensor, EncoderStackMasks?], Tensor> {
  /** The copies, applied in order. */
  layers: TransformerEncoderLayer[];
  /** The final norm, if any. */
  norm: Module | undefined;
  /** @param numLayers how many copies of encoderLayer. */
  constructor(encoderLayer: TransformerEncoderLayer, readonly numLayers: number, options: TransformerStackOptions = {}) {
    super();
    this.layers = clones('TransformerEncoder', encoderLayer, TransformerEncoderLayer, numLayers);
    this.norm = options.norm;
  }
  forward(src: Tensor, masks: EncoderStackMasks = {}): Tensor {
    let x = src;
    for (const layer of this.layers) x = layer.forward(x, { srcMask: masks.mask, srcKeyPaddingMask: masks.srcKeyPaddingMask, isCausal: masks.isCausal });
    return this.norm ? this.norm.forward(x) : x;
  }
}

/** torch.nn.TransformerDecoder: numLayers deep copies of decoderLayer over (tgt, memory), then `norm` if given. */
export class TransformerDecoder extends Module<[Tensor, Tensor, DecoderMasks?], Tensor> {
  /** The copies, applied in order. */
  layers: TransformerDecoderLayer[];
  /** The final norm, if any. */
  norm: Module | undefined;
  /** @param numLayers how many copies of decoderLayer. */
  constructor(decoderLayer: TransformerDecoderLayer, readonly numLayers: number, options: TransformerStackOptions = {}) {
    super();
    this.layers = clones('TransformerDecoder', decoderLayer, TransformerDecoderLayer, numLayers);
    this.norm = options.norm;
  }
  forward(tgt: Tensor, memory: Tensor, masks: DecoderMasks = {}): Tensor {
    let x = tgt;
    for (const layer of this.layers) x = layer.forward(x, memory, masks);
    return this.norm ? this.norm.forward(x) : x;
  }
}

/** torch.nn.Transformer's options (its keyword arguments). */
export interface TransformerOptions extends TransformerLayerOptions {
  /** Width of the model (default 512). */
  dModel?: number;
  /** Attention heads (default 8). */
  nhead?: number;
  /** Encoder layers (default 6). */
  numEncoderLayers?: number;
  /** Decoder layers (default 6). */
  numDecoderLayers?: number;
  /** An encoder to use instead of the stack of TransformerEncoderLayers. */
  customEncoder?: Module<[Tensor, EncoderStackMasks?], Tensor>;
  /** A decoder to use instead of the stack of TransformerDecoderLayers. */
  customDecoder?: Module<[Tensor, Tensor, DecoderMasks?], Tensor>;
}

/** Transformer.forward's masks, torch's keyword arguments. */
export interface TransformerMasks extends DecoderMasks {
  /** The encoder's mask, [S, S]. */
  srcMask?: Tensor;
  /** `[N, S]`: true where a source position is padding. */
  srcKeyPaddingMask?: Tensor;
  /** Mask the source's future in the encoder. */
  srcIsCausal?: boolean;
}

/**
 * torch.nn.Transformer: an encoder of numEncoderLayers and a decoder of numDecoderLayers layers,
 * each stack with a final LayerNorm, parameters of more than one dim xavier-uniform (torch's
 * _reset_parameters); defaults as torch's (dModel 512, 8 heads, 6 + 6 layers, feed-forward 2048,
 * dropout 0.1). Generic in its forward, as a Python subclass may replace forward with its own
 * signature (pytorch/examples' TransformerModel extends it and encodes only).
 */
export class Transformer<In extends unknown[] = [Tensor, Tensor, TransformerMasks?], Out = Tensor> extends Module<In, Out> {
  /** The encoder stack (a TransformerEncoder unless customEncoder); any module, as a subclass may replace it. */
  encoder: AnyModule;
  /** The decoder stack (a TransformerDecoder unless customDecoder); any module, as a subclass may replace it (TransformerModel's Linear). */
  decoder: AnyModule;
  /** Width of the model. */
  readonly dModel: number;
  /** Attention heads. */
  readonly nhead: number;
  /** Whether inputs are [N, S, E] rather than [S, N, E]. */
  readonly batchFirst: boolean;
  constructor(options: TransformerOptions = {}) {
    super();
    const { dModel = 512, nhead = 8, numEncoderLayers = 6, numDecoderLayers = 6, customEncoder, customDecoder, ...layer } = options;
    this.dModel = dModel;
    this.nhead = nhead;
    this.batchFirst = layer.batchFirst ?? false;
    const layerOptions = { dimFeedforward: 2048, dropout: 0.1, ...layer };
    const norm = () => new LayerNorm(dModel, { eps: layer.layerNormEps ?? 1e-5 });
    this.encoder = customEncoder ?? new TransformerEncoder(new TransformerEncoderLayer(dModel, nhead, layerOptions), numEncoderLayers, { norm: norm() });
    this.decoder = customDecoder ?? new TransformerDecoder(new TransformerDecoderLayer(dModel, nhead, layerOptions), numDecoderLayers, { norm: norm() });
    for (const p of this.parameters()) if (p.ndim > 1) xavierUniform_(p);
  }

  /** src and tgt ([S, N, E] and [T, N, E], or batch first) -> [T, N, E], as torch's forward(src, tgt, ...masks). */
  forward(...args: In): Out {
    const [src, tgt, masks = {}] = args as unknown as [Tensor, Tensor, TransformerMasks?];
    const memory = this.encoder.forward(src, { mask: masks.srcMask, srcKeyPaddingMask: masks.srcKeyPaddingMask, isCausal: masks.srcIsCausal }) as Tensor;
    return this.decoder.forward(tgt, memory, masks) as Out;
  }

  /** torch's generate_square_subsequent_mask: 0 on and below the diagonal, -inf above. */
  static generateSquareSubsequentMask(sz: number, options: { device?: DeviceKind; dtype?: DType } = {}): Tensor {
    return full([sz, sz], -Infinity, options).triu(1);
  }
}
