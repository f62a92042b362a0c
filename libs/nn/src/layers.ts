/** Standard layers. Parameters are initialised as in PyTorch (kaiming-uniform weights, fan-in biases). */
import { ArgumentError, type Pool2dOptions, ShapeError, checkInt, checkShape, fmtShape, pair } from '@tessera/ops';
import { type Tensor, cat, conv2d, embedding, empty, layerNorm, ones, stack, zeros } from '@tessera/tensor';
import { noGrad } from '@tessera/autograd';
import { type ConvTranspose2dOptions, type InterpolateOptions, adaptiveAvgPool2d, batchNorm, conv1d, convTranspose2d, dropout, groupNorm, interpolate } from './functional.js';
import { fans, kaimingUniform_, normal_, uniform_ } from './init.js';
import { type AnyModule, Module, buffer, parameter } from './module.js';

const biasInit = (b: Tensor, w: Tensor) => { const bound = 1 / Math.sqrt(fans(w).fanIn); uniform_(b, -bound, bound); };

/**
 * torch.nn.Linear: `y = x W^T + b` over the last dim, `[..., inFeatures]` to `[..., outFeatures]`.
 * The weight is kaiming-uniform with a = sqrt(5) and the bias uniform in +-1/sqrt(inFeatures), as
 * torch initialises them. Throws ArgumentError when a size is not a non-negative integer.
 */
export class Linear extends Module {
  /** `[outFeatures, inFeatures]`. */
  weight: Tensor;
  /** `[outFeatures]`; undefined with `bias: false`. */
  bias?: Tensor;
  /**
   * @param inFeatures - size of the input's last dim.
   * @param outFeatures - size of the output's last dim.
   * @param opt - `bias: false` leaves out the additive bias (default true).
   */
  constructor(readonly inFeatures: number, readonly outFeatures: number, opt: { bias?: boolean } = {}) {
    super();
    checkInt('Linear', 'inFeatures', inFeatures, 0);
    checkInt('Linear', 'outFeatures', outFeatures, 0);
    this.weight = parameter(kaimingUniform_(empty(outFeatures, inFeatures), { a: Math.sqrt(5) }));
    if (opt.bias ?? true) { this.bias = parameter(empty(outFeatures)); biasInit(this.bias, this.weight); }
  }
  forward(x: Tensor): Tensor {
    const y = x.matmul(this.weight.t());
    return this.bias ? y.add(this.bias) : y;
  }
}

/** Conv2d's options after the kernel size (torch's keyword arguments); a pair is (height, width). */
export interface Conv2dModuleOptions {
  /** Step between kernel positions (default 1). */
  stride?: number | [number, number];
  /** Zeros added on each side of the input (default 0). */
  padding?: number | [number, number];
  /** Spacing between kernel taps (default 1). */
  dilation?: number | [number, number];
  /** Channel groups convolved separately; must divide both channel counts (default 1). */
  groups?: number;
  /** Learn a per-channel additive bias (default true). */
  bias?: boolean;
}

/**
 * A convolution's weight and bias, initialised as torch's (kaiming uniform with a = sqrt(5), bias
 * uniform in +-1/sqrt(fan in)): [out, in / groups, kh, kw], or [in, out / groups, kh, kw] transposed.
 */
function convParameters(op: string, inChannels: number, outChannels: number, kernelSize: number | [number, number], opt: { groups?: number; bias?: boolean }, transposed: boolean): [Tensor, Tensor | undefined] {
  checkInt(op, 'inChannels', inChannels, 1);
  checkInt(op, 'outChannels', outChannels, 1);
  const [kh, kw] = pair(op, 'kernelSize', kernelSize, 1);
  const groups = checkInt(op, 'groups', opt.groups ?? 1, 1);
  if (inChannels % groups || outChannels % groups) throw new ArgumentError(op, `groups=${groups} must divide inChannels=${inChannels} and outChannels=${outChannels}`);
  const weight = parameter(kaimingUniform_(transposed ? empty(inChannels, outChannels / groups, kh, kw) : empty(outChannels, inChannels / groups, kh, kw), { a: Math.sqrt(5) }));
  if (!(opt.bias ?? true)) return [weight, undefined];
  const bias = parameter(empty(outChannels));
  biasInit(bias, weight);
  return [weight, bias];
}

/**
 * torch.nn.Conv2d over `[N, C, H, W]` (or unbatched `[C, H, W]`). The weight is kaiming-uniform with
 * a = sqrt(5) and the bias uniform in +-1/sqrt(fan in), as torch initialises them.
 */
export class Conv2d extends Module {
  /** `[outChannels, inChannels / groups, kh, kw]`. */
  weight: Tensor;
  /** `[outChannels]`; undefined with `bias: false`. */
  bias?: Tensor;
  /** The options as given, a positional stride and padding folded in. */
  readonly opt: Conv2dModuleOptions;
  /**
   * torch's order: the stride (and padding) may come positionally after the kernel size, or options.
   * Throws ArgumentError when groups does not divide both channel counts.
   */
  constructor(inChannels: number, outChannels: number, kernelSize: number | [number, number], options: Conv2dModuleOptions | number | [number, number] = {}, padding?: number | [number, number]) {
    super();
    const opt = (this.opt = typeof options === 'number' || Array.isArray(options) ? { stride: options, ...(padding !== undefined ? { padding } : {}) } : options);
    [this.weight, this.bias] = convParameters('Conv2d', inChannels, outChannels, kernelSize, opt, false);
  }
  forward(x: Tensor): Tensor {
    const { stride, padding, dilation, groups } = this.opt;
    return conv2d(x, this.weight, this.bias, { stride, padding, dilation, groups });
  }
}

/** Batch normalisation over dim 1 of [N, C] or [N, C, ...], with running statistics for eval. */
export class BatchNorm extends Module {
  /** Per-channel scale `[numFeatures]`, ones at first; undefined with `affine: false`. */
  weight?: Tensor;
  /** Per-channel shift `[numFeatures]`, zeros at first; undefined with `affine: false`. */
  bias?: Tensor;
  /** Buffer: each channel's running mean, used in eval mode (zeros at first). */
  runningMean: Tensor;
  /** Buffer: each channel's running unbiased variance, used in eval mode (ones at first). */
  runningVar: Tensor;
  /** Buffer: a 0-d int64 count of the forward calls made in training mode. */
  numBatchesTracked: Tensor;
  /**
   * Throws ArgumentError when numFeatures is not a positive integer; forward throws on an input whose
   * dim 1 is not numFeatures.
   * @param numFeatures - C, the size of the input's dim 1.
   * @param opt - eps, momentum and affine, torch's keyword arguments.
   */
  constructor(readonly numFeatures: number, readonly opt: {
    /** Added to the variance before its square root (default 1e-5). */
    eps?: number;
    /** Weight of each batch's statistics in the running ones: `r = (1 - m) r + m batch` (default 0.1). */
    momentum?: number;
    /** Learn a per-channel weight and bias (default true). */
    affine?: boolean;
  } = {}) {
    super();
    checkInt('BatchNorm', 'numFeatures', numFeatures, 1);
    if (opt.affine ?? true) { this.weight = parameter(ones(numFeatures)); this.bias = parameter(zeros(numFeatures)); }
    this.runningMean = buffer(zeros(numFeatures));
    this.runningVar = buffer(ones(numFeatures));
    this.numBatchesTracked = buffer(zeros([], { dtype: 'int64' }));
  }
  forward(x: Tensor): Tensor {
    if (x.ndim < 2 || x.shape[1] !== this.numFeatures) throw new ArgumentError('BatchNorm', `expected [N, ${this.numFeatures}, ...], got ${fmtShape(x.shape)}`);
    const y = batchNorm(x, this.runningMean, this.runningVar, this.weight, this.bias, this.training, this.opt.momentum ?? 0.1, this.opt.eps ?? 1e-5);
    if (this.training) noGrad(() => this.numBatchesTracked.add_(1));
    return y;
  }
}

/** PyTorch's names: one implementation serves [N, C] / [N, C, L] and [N, C, H, W]. */
export const BatchNorm1d = BatchNorm;
/** torch.nn.BatchNorm2d: the same class as BatchNorm (and BatchNorm1d), for `[N, C, H, W]`. */
export const BatchNorm2d = BatchNorm;

/**
 * torch.nn.LayerNorm: normalises over the trailing `normalizedShape` dims (biased variance), then
 * scales and shifts elementwise. Throws ArgumentError on an empty or invalid normalizedShape.
 */
export class LayerNorm extends Module {
  /** Elementwise scale of shape normalizedShape, ones at first; undefined without elementwiseAffine. */
  weight?: Tensor;
  /** Elementwise shift of shape normalizedShape, zeros at first; undefined without elementwiseAffine. */
  bias?: Tensor;
  /** The trailing dims normalised over (a single number given becomes a one-entry list). */
  readonly normalizedShape: number[];
  /** @param opt - eps and elementwiseAffine, torch's keyword arguments. */
  constructor(normalizedShape: number | number[], readonly opt: {
    /** Added to the variance before its square root (default 1e-5). */
    eps?: number;
    /** Learn an elementwise weight and bias (default true). */
    elementwiseAffine?: boolean;
  } = {}) {
    super();
    this.normalizedShape = checkShape('LayerNorm', typeof normalizedShape === 'number' ? [normalizedShape] : normalizedShape, 'normalizedShape');
    if (this.normalizedShape.length === 0) throw new ArgumentError('LayerNorm', 'normalizedShape must name at least one dim');
    if (opt.elementwiseAffine ?? true) { this.weight = parameter(ones(this.normalizedShape)); this.bias = parameter(zeros(this.normalizedShape)); }
  }
  forward(x: Tensor): Tensor { return layerNorm(x, this.normalizedShape, this.weight, this.bias, this.opt.eps ?? 1e-5); }
}

/**
 * torch.nn.Embedding: a lookup table from integer indices `[...]` to rows `[..., embeddingDim]`, the
 * rows drawn from N(0, 1) as torch's.
 */
export class Embedding extends Module {
  /** `[numEmbeddings, embeddingDim]`; the paddingIdx row starts at zero and its gradient is always zeroed. */
  weight: Tensor;
  /**
   * Throws ArgumentError when a size is not a non-negative integer or paddingIdx is out of range.
   * @param numEmbeddings - rows in the table (the number of distinct indices).
   * @param embeddingDim - width of each row.
   * @param opt - paddingIdx, torch's keyword argument.
   */
  constructor(readonly numEmbeddings: number, readonly embeddingDim: number, readonly opt: {
    /** A row (negative counts from the end) that starts at zero and never learns, as for padding tokens. */
    paddingIdx?: number;
  } = {}) {
    super();
    checkInt('Embedding', 'numEmbeddings', numEmbeddings, 0);
    checkInt('Embedding', 'embeddingDim', embeddingDim, 0);
    if (opt.paddingIdx !== undefined) checkInt('Embedding', 'paddingIdx', opt.paddingIdx, -numEmbeddings, numEmbeddings - 1);
    const w = normal_(empty(numEmbeddings, embeddingDim));
    if (opt.paddingIdx !== undefined) noGrad(() => w.select(0, opt.paddingIdx!).fill_(0));
    this.weight = parameter(w);
    // The padding row never learns: its gradient is zeroed as it arrives.
    if (opt.paddingIdx !== undefined) this.weight.registerHook((g) => maskRow(g, opt.paddingIdx!));
  }
  forward(indices: Tensor): Tensor { return embedding(indices, this.weight); }
}

function maskRow(g: Tensor, row: number): Tensor {
  const keep = ones([g.shape[0]!, 1], { dtype: g.dtype });
  noGrad(() => keep.select(0, row).fill_(0));
  return g.mul(keep);
}

/**
 * torch.nn.Dropout: in training mode zeroes each element with probability p and scales the rest by
 * 1/(1-p); the identity in eval mode.
 */
export class Dropout extends Module {
  /** @param p - the drop probability (default 0.5); ArgumentError unless it is between 0 and 1. */
  constructor(readonly p = 0.5) {
    super();
    if (typeof p !== 'number' || !(p >= 0 && p <= 1)) throw new ArgumentError('Dropout', `dropout probability has to be between 0 and 1, got ${p}`);
  }
  forward(x: Tensor): Tensor { return dropout(x, this.p, this.training); }
}

/** torch.nn.ReLU: max(x, 0) elementwise. */
export class ReLU extends Module { forward(x: Tensor): Tensor { return x.relu(); } }
/** torch.nn.GELU: x Phi(x) elementwise, Phi the standard normal CDF. */
export class GELU extends Module {
  /** @param approximate - 'none' computes Phi with erf (default); 'tanh' uses torch's tanh approximation. */
  constructor(readonly approximate: 'none' | 'tanh' = 'none') { super(); }
  forward(x: Tensor): Tensor { return x.gelu({ approximate: this.approximate }); }
}
/** torch.nn.Tanh, elementwise. */
export class Tanh extends Module { forward(x: Tensor): Tensor { return x.tanh(); } }
/** torch.nn.Sigmoid: 1 / (1 + exp(-x)) elementwise. */
export class Sigmoid extends Module { forward(x: Tensor): Tensor { return x.sigmoid(); } }
/** torch.nn.SiLU (swish): x sigmoid(x) elementwise. */
export class SiLU extends Module { forward(x: Tensor): Tensor { return x.silu(); } }
/** torch.nn.Flatten: merges dims startDim to endDim (inclusive) into one; by default all but the batch dim. */
export class Flatten extends Module {
  /**
   * @param startDim - the first dim merged (default 1, keeping the batch dim).
   * @param endDim - the last dim merged, negative counting from the end (default -1).
   */
  constructor(readonly startDim = 1, readonly endDim = -1) { super(); }
  forward(x: Tensor): Tensor { return x.flatten(this.startDim, this.endDim); }
}
/** torch.nn.MaxPool2d over `[N, C, H, W]` or `[C, H, W]`, with the options given at construction. */
export class MaxPool2d extends Module {
  /** @param opt - kernelSize, and optionally stride (default kernelSize), padding, dilation and ceilMode. */
  constructor(readonly opt: Pool2dOptions) { super(); }
  forward(x: Tensor): Tensor { return x.maxPool2d(this.opt); }
}
/** torch.nn.ConvTranspose2d: weight [inChannels, outChannels / groups, kh, kw], initialised as torch's. */
export class ConvTranspose2d extends Module {
  /** `[inChannels, outChannels / groups, kh, kw]` (note: in before out, unlike Conv2d). */
  weight: Tensor;
  /** `[outChannels]`; undefined with `bias: false`. */
  bias?: Tensor;
  /**
   * Throws ArgumentError when groups does not divide both channel counts.
   * @param opt - F.convTranspose2d's options, and bias.
   */
  constructor(inChannels: number, outChannels: number, kernelSize: number | [number, number], readonly opt: ConvTranspose2dOptions & {
    /** Learn a per-channel additive bias (default true). */
    bias?: boolean;
  } = {}) {
    super();
    [this.weight, this.bias] = convParameters('ConvTranspose2d', inChannels, outChannels, kernelSize, opt, true);
  }
  forward(x: Tensor): Tensor {
    const { bias: _, ...conv } = this.opt;
    return convTranspose2d(x, this.weight, this.bias, conv);
  }
}

/** torch.nn.Upsample: F.interpolate with the options given at construction. */
export class Upsample extends Module {
  /** @param options - size or scaleFactor, mode and alignCorners, as F.interpolate takes them. */
  constructor(readonly options: InterpolateOptions) { super(); }
  forward(x: Tensor): Tensor { return interpolate(x, this.options); }
}

/** torch.nn.AdaptiveAvgPool2d: average pooling to a fixed output size (see F.adaptiveAvgPool2d). */
export class AdaptiveAvgPool2d extends Module {
  /** @param outputSize - `(oh, ow)`, or one number for both; a null entry keeps the input's size. */
  constructor(readonly outputSize: number | readonly (number | null)[]) { super(); }
  forward(x: Tensor): Tensor { return adaptiveAvgPool2d(x, this.outputSize); }
}
/** torch.nn.AvgPool2d over `[N, C, H, W]` or `[C, H, W]`, with the options given at construction. */
export class AvgPool2d extends Module {
  /** @param opt - kernelSize, and optionally stride (default kernelSize), padding, ceilMode and countIncludePad. */
  constructor(readonly opt: Pool2dOptions) { super(); }
  forward(x: Tensor): Tensor { return x.avgPool2d(this.opt); }
}

/**
 * A list of modules registered as children under '0', '1', ... (PyTorch's parameter names), as
 * torch.nn.ModuleList. It has no forward of its own (calling it throws): call its modules.
 */
export class ModuleList<M extends AnyModule = Module> extends Module {
  constructor(modules: M[] = []) {
    super();
    modules.forEach((m) => this.push(m));
  }
  /** How many modules it holds. */
  get length(): number { return [...this.namedChildren()].length; }
  /** The i-th module, negative i counting from the end; undefined at run time when out of range. */
  at(i: number): M { return (this as unknown as Record<number, M>)[i < 0 ? this.length + i : i]!; }
  /** Appends m as the next child (named by its index); returns this, for chaining. */
  push(m: M): this { (this as unknown as Record<number, M>)[this.length] = m; return this; }
  /** The modules in order, so `for (const m of list)` works. */
  [Symbol.iterator](): Iterator<M> { return (this.children() as M[])[Symbol.iterator](); }
  forward(..._: Tensor[]): Tensor { throw new ArgumentError('ModuleList', 'has no forward; call its modules'); }
}

/** Modules by name, registered in insertion order (torch.nn.ModuleDict). */
class ModuleDictBase extends Module {
  constructor(modules: Record<string, AnyModule> | Iterable<[string, AnyModule]> = {}) {
    super();
    for (const [k, m] of Symbol.iterator in modules ? modules as Iterable<[string, AnyModule]> : Object.entries(modules)) this.set(k, m);
  }
  /** How many modules it holds. */
  get size(): number { return [...this.namedChildren()].length; }
  /** The module named key, or undefined. */
  get(key: string): AnyModule | undefined { return this.has(key) ? (this as unknown as Record<string, AnyModule>)[key] : undefined; }
  /** Whether a module is named key. */
  has(key: string): boolean { return [...this.namedChildren()].some(([k]) => k === key); }
  /** Registers m under key (a property too); ArgumentError when m is not a Module or key names a Module method. */
  set(key: string, m: AnyModule): this {
    if (!(m instanceof Module)) throw new ArgumentError('ModuleDict', `${key} must be a Module`);
    if (key in Module.prototype || key in ModuleDictBase.prototype) throw new ArgumentError('ModuleDict', `${key} is a Module method name`);
    (this as unknown as Record<string, AnyModule>)[key] = m;
    return this;
  }
  /** Removes the module named key; false when there was none. */
  delete(key: string): boolean {
    if (!this.has(key)) return false;
    delete (this as unknown as Record<string, AnyModule>)[key];
    return true;
  }
  /** The names, in insertion order. */
  keys(): string[] { return [...this.namedChildren()].map(([k]) => k); }
  /** The modules, in insertion order. */
  values(): AnyModule[] { return this.children(); }
  /** `[name, module]` pairs, as torch's items(). */
  items(): [string, AnyModule][] { return [...this.namedChildren()]; }
  forward(..._: Tensor[]): Tensor { throw new ArgumentError('ModuleDict', 'has no forward; call its modules'); }
}

/**
 * torch.nn.ModuleDict, typed by what it is built with: `new nn.ModuleDict({ wte: ..., h: ... })`
 * has `.wte` and `.h` of their own types (modules set later are reached with get()).
 */
export interface ModuleDictConstructor {
  new <M extends Record<string, AnyModule> = Record<string, AnyModule>>(modules?: M | Iterable<[string, AnyModule]>): ModuleDict & M;
  /** Declared so that `x instanceof nn.ModuleDict` narrows x to a ModuleDict. */
  readonly prototype: ModuleDict;
}
/** A ModuleDict instance, without the per-name types its constructor adds. */
export type ModuleDict = ModuleDictBase;
/**
 * torch.nn.ModuleDict: modules by name, registered as children in insertion order, with get, set,
 * has, delete, keys, values and items. It has no forward of its own (calling it throws).
 */
export const ModuleDict = ModuleDictBase as ModuleDictConstructor;

/** Parameters in a list, registered as 0, 1, ... (torch.nn.ParameterList). */
export class ParameterList extends Module {
  constructor(params: Iterable<Tensor> = []) {
    super();
    for (const p of params) this.push(p);
  }
  /** How many parameters it holds. */
  get length(): number { return [...this.namedParameters()].filter(([k]) => !k.includes('.')).length; }
  /** The i-th parameter, negative i counting from the end; undefined at run time when out of range. */
  at(i: number): Tensor { return (this as unknown as Record<number, Tensor>)[i < 0 ? this.length + i : i]!; }
  /** Registers p (made a parameter if it is not one) under the next index; returns this, for chaining. */
  push(p: Tensor): this { this.registerParameter(String(this.length), p); return this; }
  /** The parameters in order. */
  [Symbol.iterator](): Iterator<Tensor> { return Array.from({ length: this.length }, (_, i) => this.at(i))[Symbol.iterator](); }
  forward(..._: Tensor[]): Tensor { throw new ArgumentError('ParameterList', 'has no forward'); }
}

/** Parameters by name (torch.nn.ParameterDict). */
export class ParameterDict extends Module {
  constructor(params: Record<string, Tensor> = {}) {
    super();
    for (const [k, p] of Object.entries(params)) this.set(k, p);
  }
  /** The parameter named key, or undefined. */
  get(key: string): Tensor | undefined { return this.has(key) ? (this as unknown as Record<string, Tensor>)[key] : undefined; }
  /** Whether a parameter is named key. */
  has(key: string): boolean { return this.keys().includes(key); }
  /** Registers p (made a parameter if it is not one) under key; ArgumentError when key names a Module method. */
  set(key: string, p: Tensor): this {
    if (key in Module.prototype || key in ParameterDict.prototype) throw new ArgumentError('ParameterDict', `${key} is a Module method name`);
    this.registerParameter(key, p);
    return this;
  }
  /** The names, in registration order. */
  keys(): string[] { return [...this.namedParameters()].map(([k]) => k); }
  /** The parameters, in registration order. */
  values(): Tensor[] { return this.parameters(); }
  forward(..._: Tensor[]): Tensor { throw new ArgumentError('ParameterDict', 'has no forward'); }
}

/** torch.nn.Sequential: forward feeds its input through its modules in order, each output to the next. */
export class Sequential extends ModuleList<Module> {
  /** @param layers - the modules, registered as '0', '1', ... */
  constructor(...layers: Module[]) { super(layers); }
  override forward(x: Tensor): Tensor { return [...this].reduce((h, m) => m.forward(h), x); }
}

/** The gates of one recurrent step: x W_ih^T + b_ih and h W_hh^T + b_hh. */
const projections = (x: Tensor, h: Tensor, wIh: Tensor, wHh: Tensor, bIh?: Tensor, bHh?: Tensor): [Tensor, Tensor] => {
  const gi = x.matmul(wIh.t()), gh = h.matmul(wHh.t());
  return [bIh ? gi.add(bIh) : gi, bHh ? gh.add(bHh) : gh];
};

/** One LSTM step (torch's gate order i, f, g, o): [h', c']. */
function lstmStep(gi: Tensor, gh: Tensor, c: Tensor): [Tensor, Tensor] {
  const [i, f, g, o] = gi.add(gh).chunk(4, -1) as [Tensor, Tensor, Tensor, Tensor];
  const c2 = f.sigmoid().mul(c).add(i.sigmoid().mul(g.tanh()));
  return [o.sigmoid().mul(c2.tanh()), c2];
}

/** One GRU step (torch's gate order r, z, n): h'. */
function gruStep(gi: Tensor, gh: Tensor, h: Tensor): Tensor {
  const [ir, iz, inn] = gi.chunk(3, -1) as [Tensor, Tensor, Tensor];
  const [hr, hz, hn] = gh.chunk(3, -1) as [Tensor, Tensor, Tensor];
  const r = ir.add(hr).sigmoid(), z = iz.add(hz).sigmoid();
  const n = inn.add(r.mul(hn)).tanh();
  return n.add(h.sub(n).mul(z)); // (1 - z) n + z h
}

/** LSTM / GRU / RNN options, torch's keyword arguments. */
interface RnnOptions {
  /** Stacked layers (default 1). */
  numLayers?: number;
  /** Biases b_ih and b_hh (default true). */
  bias?: boolean;
  /** Input and output `[N, T, *]` rather than `[T, N, *]`; states stay `[layers, N, H]` (default false). */
  batchFirst?: boolean;
  /** Dropout on each layer's output but the last's, in training (default 0). */
  dropout?: number;
  /** A second pass over the reversed sequence, its outputs beside the first's (default false). */
  bidirectional?: boolean;
}
type RnnKind = 'LSTM' | 'GRU' | 'RNN';
const GATES: Record<RnnKind, number> = { LSTM: 4, GRU: 3, RNN: 1 };

/** One recurrent step from the gates' projections: the new state (h first; an LSTM's c after it). */
type Step = (gi: Tensor, gh: Tensor, state: readonly Tensor[]) => Tensor[];
const LSTM_STEP: Step = (gi, gh, [, c]) => lstmStep(gi, gh, c!);
const GRU_STEP: Step = (gi, gh, [h]) => [gruStep(gi, gh, h!)];
const rnnStep = (nonlinearity: 'tanh' | 'relu'): Step => (gi, gh) => [nonlinearity === 'tanh' ? gi.add(gh).tanh() : gi.add(gh).relu()];

/** Weights uniform in +-1/sqrt(hiddenSize), as torch initialises recurrent layers and cells. */
const recurrentInit = (hiddenSize: number) => (...shape: number[]): Tensor => parameter(uniform_(empty(...shape), -1 / Math.sqrt(hiddenSize), 1 / Math.sqrt(hiddenSize)));

/**
 * torch.nn.LSTM / GRU / RNN: numLayers stacked (dropout between them in training), batchFirst,
 * unbatched input ([T, inputSize]), bidirectional (a second pass over the reversed sequence, its
 * outputs beside the first's); weights uniform in +-1/sqrt(hiddenSize) as torch's, named weightIhL0,
 * weightHhL0, biasIhL0, biasHhL0, ... (weightIhL0Reverse, ... for the reverse direction). States
 * are [numLayers * directions, N, H], layer by layer, forward before reverse, as torch's.
 *
 * torch.nn.RNNBase: the base of the three. Its state type defaults to either kind (h alone, or an
 * LSTM's [h, c]), so a field that holds whichever layer a script chose (`rnn: nn.RNNBase`) is
 * called as torch's `self.rnn(emb, hidden)` is.
 */
export abstract class RNNBase<S extends Tensor | [Tensor, Tensor] = Tensor | [Tensor, Tensor]> extends Module<[Tensor, S?], [Tensor, S]> {
  /** Stacked layers. */
  readonly numLayers: number;
  /** 2 when bidirectional, else 1. */
  readonly directions: number;
  /**
   * @param kind which layer this is ('LSTM', 'GRU' or 'RNN').
   * @param inputSize features of each input step.
   * @param hiddenSize features of the state.
   * @param opt the layer's options (numLayers, bias, batchFirst, dropout, bidirectional).
   */
  constructor(readonly kind: RnnKind, readonly inputSize: number, readonly hiddenSize: number, readonly opt: RnnOptions, private readonly step: Step) {
    super();
    checkInt(kind, 'inputSize', inputSize, 1);
    checkInt(kind, 'hiddenSize', hiddenSize, 1);
    this.numLayers = checkInt(kind, 'numLayers', opt.numLayers ?? 1, 1);
    this.directions = opt.bidirectional ? 2 : 1;
    const gates = GATES[kind] * hiddenSize, u = recurrentInit(hiddenSize);
    for (let l = 0; l < this.numLayers; l++) {
      for (const suffix of this.suffixes()) {
        this.registerParameter(`weightIhL${l}${suffix}`, u(gates, l === 0 ? inputSize : hiddenSize * this.directions));
        this.registerParameter(`weightHhL${l}${suffix}`, u(gates, hiddenSize));
        if (opt.bias ?? true) { this.registerParameter(`biasIhL${l}${suffix}`, u(gates)); this.registerParameter(`biasHhL${l}${suffix}`, u(gates)); }
      }
    }
  }
  private suffixes(): string[] { return this.directions === 2 ? ['', 'Reverse'] : ['']; }
  /** Layer l's parameter `name` (weightIh, ...) for a direction ('' or 'Reverse'). */
  protected param(name: string, l: number, suffix: string): Tensor | undefined { return (this as unknown as Record<string, Tensor | undefined>)[`${name}L${l}${suffix}`]; }
  /** The last states of each layer and direction ([N, H] each) as the module returns them ([numLayers * directions, N, H], or without N unbatched). */
  protected abstract toState(hs: Tensor[][], unbatched: boolean): S;
  /** Each state's per-layer-and-direction [N, H] tensors, from the given state or zeros. */
  protected abstract fromState(s: S | undefined, like: Tensor, unbatched: boolean): Tensor[][];

  /** Runs layer l (one direction) over the sequence [T, N, in] from state s; returns the outputs [T, N, H] and the last state. */
  private layer(x: Tensor, l: number, suffix: string, s0: Tensor[]): [Tensor, Tensor[]] {
    let s = s0;
    const outs: Tensor[] = [];
    for (let t = 0; t < x.shape[0]!; t++) {
      const [gi, gh] = projections(x.select(0, t), s[0]!, this.param('weightIh', l, suffix)!, this.param('weightHh', l, suffix)!, this.param('biasIh', l, suffix), this.param('biasHh', l, suffix));
      s = this.step(gi, gh, s);
      outs.push(s[0]!);
    }
    return [stack(outs, 0), s];
  }

  forward(input: Tensor, state?: S): [Tensor, S] {
    if (input.ndim !== 2 && input.ndim !== 3) throw new ShapeError(this.kind, `input must be [T, inputSize] or 3-D, got ${fmtShape(input.shape)}`);
    const unbatched = input.ndim === 2;
    let x = unbatched ? input.unsqueeze(1) : this.opt.batchFirst ? input.transpose(0, 1) : input;
    if (x.shape[2] !== this.inputSize) throw new ShapeError(this.kind, `input has ${x.shape[2]} features, expected ${this.inputSize}`);
    const states = this.fromState(state, x, unbatched);
    const last: Tensor[][] = [];
    for (let l = 0; l < this.numLayers; l++) {
      const outs = this.suffixes().map((suffix, dir) => {
        const [out, s] = this.layer(dir ? x.flip(0) : x, l, suffix, states.map((st) => st[l * this.directions + dir]!));
        last.push(s);
        return dir ? out.flip(0) : out;
      });
      const out = outs.length === 1 ? outs[0]! : cat(outs, 2);
      x = l < this.numLayers - 1 && this.opt.dropout ? dropout(out, this.opt.dropout, this.training) : out;
    }
    const out = unbatched ? x.squeeze(1) : this.opt.batchFirst ? x.transpose(0, 1) : x;
    return [out, this.toState(last, unbatched)];
  }
  /** A state's per-layer-and-direction [N, H] tensors: the given [numLayers * directions, N, H] one ([.., H] unbatched), or zeros. */
  protected layers(given: Tensor | undefined, like: Tensor, unbatched: boolean): Tensor[] {
    const n = like.shape[1]!, count = this.numLayers * this.directions;
    if (given) {
      const want = unbatched ? [count, this.hiddenSize] : [count, n, this.hiddenSize];
      if (given.ndim !== want.length || given.shape.some((d, k) => d !== want[k])) throw new ShapeError(this.kind, `a state must be ${fmtShape(want)}, got ${fmtShape(given.shape)}`);
    }
    const s = given ? (unbatched ? given.unsqueeze(1) : given) : zeros([count, n, this.hiddenSize], { dtype: like.dtype, device: like.device });
    return Array.from({ length: count }, (_, l) => s.select(0, l));
  }
  /** The last states, stacked over layers and directions. */
  protected stacked(hs: Tensor[], unbatched: boolean): Tensor {
    const s = stack(hs, 0);
    return unbatched ? s.squeeze(1) : s;
  }
}

/** torch's order: numLayers may come positionally after hiddenSize, before the options. */
const rnnOptions = <O extends RnnOptions>(a: number | O | undefined, b: O | undefined): O =>
  (typeof a === 'number' ? { ...(b ?? ({} as O)), numLayers: a } : (a ?? ({} as O)));

/**
 * torch.nn.LSTM (gate order i, f, g, o as torch's): forward(input, `[h0, c0]`?) returns the output
 * `[T, N, directions * H]` and the last `[h, c]`, each `[numLayers * directions, N, H]`.
 */
export class LSTM extends RNNBase<[Tensor, Tensor]> {
  /** torch's order: numLayers may come positionally after hiddenSize, or in the options. */
  constructor(inputSize: number, hiddenSize: number, numLayers?: number | RnnOptions, opt?: RnnOptions) { super('LSTM', inputSize, hiddenSize, rnnOptions(numLayers, opt), LSTM_STEP); }
  protected toState(s: Tensor[][], unbatched: boolean): [Tensor, Tensor] { return [this.stacked(s.map((x) => x[0]!), unbatched), this.stacked(s.map((x) => x[1]!), unbatched)]; }
  protected fromState(s: [Tensor, Tensor] | undefined, like: Tensor, unbatched: boolean): Tensor[][] {
    return [this.layers(s?.[0], like, unbatched), this.layers(s?.[1], like, unbatched)];
  }
}

/** A recurrent layer whose state is h alone (GRU, RNN). */
abstract class HiddenOnly extends RNNBase<Tensor> {
  protected toState(s: Tensor[][], unbatched: boolean): Tensor { return this.stacked(s.map((x) => x[0]!), unbatched); }
  protected fromState(s: Tensor | undefined, like: Tensor, unbatched: boolean): Tensor[][] { return [this.layers(s, like, unbatched)]; }
}

/**
 * torch.nn.GRU (gate order r, z, n as torch's): forward(input, h0?) returns the output
 * `[T, N, directions * H]` and the last h, `[numLayers * directions, N, H]`.
 */
export class GRU extends HiddenOnly {
  /** torch's order: numLayers may come positionally after hiddenSize, or in the options. */
  constructor(inputSize: number, hiddenSize: number, numLayers?: number | RnnOptions, opt?: RnnOptions) { super('GRU', inputSize, hiddenSize, rnnOptions(numLayers, opt), GRU_STEP); }
}

/** torch.nn.RNN: h' = tanh (or relu) of x W_ih^T + b_ih + h W_hh^T + b_hh, per layer. */
export class RNN extends HiddenOnly {
  /** numLayers may come positionally after hiddenSize; ArgumentError on a nonlinearity other than 'tanh' or 'relu'. */
  constructor(inputSize: number, hiddenSize: number, numLayers?: number | RnnOptions & { nonlinearity?: 'tanh' | 'relu' }, options?: RnnOptions & { nonlinearity?: 'tanh' | 'relu' }) {
    const opt = rnnOptions(numLayers, options);
    const act = opt.nonlinearity ?? 'tanh';
    if (act !== 'tanh' && act !== 'relu') throw new ArgumentError('RNN', `Unknown nonlinearity '${String(act)}'. Select from 'tanh' or 'relu'.`);
    super('RNN', inputSize, hiddenSize, opt, rnnStep(act));
  }
}

/**
 * One step of a recurrent layer (torch.nn.LSTMCell / GRUCell / RNNCell): input [N, inputSize] or
 * [inputSize], state from hx or zeros; parameters weightIh, weightHh, biasIh, biasHh as torch's.
 */
abstract class Cell<S> extends Module<[Tensor, S?], S> {
  /** Input-to-hidden weights `[gates * hiddenSize, inputSize]` (gates: 4 for an LSTM, 3 a GRU, 1 an RNN). */
  weightIh: Tensor;
  /** Hidden-to-hidden weights `[gates * hiddenSize, hiddenSize]`. */
  weightHh: Tensor;
  /** Input-to-hidden bias `[gates * hiddenSize]`; undefined without bias. */
  biasIh?: Tensor;
  /** Hidden-to-hidden bias `[gates * hiddenSize]`; undefined without bias. */
  biasHh?: Tensor;
  /**
   * @param kind - the class's torch name ('LSTMCell', 'GRUCell' or 'RNNCell'), which error messages name.
   * @param inputSize - features of the input.
   * @param hiddenSize - features of the state.
   */
  constructor(readonly kind: string, gates: number, readonly inputSize: number, readonly hiddenSize: number, bias: boolean, private readonly step: Step) {
    super();
    checkInt(kind, 'inputSize', inputSize, 1);
    checkInt(kind, 'hiddenSize', hiddenSize, 1);
    const u = recurrentInit(hiddenSize);
    this.weightIh = u(gates * hiddenSize, inputSize);
    this.weightHh = u(gates * hiddenSize, hiddenSize);
    if (bias) { this.biasIh = u(gates * hiddenSize); this.biasHh = u(gates * hiddenSize); }
  }
  /** Runs one step from `state` (each [N, H], zeros where not given); unbatched input is handled by the caller's squeeze. */
  protected run(input: Tensor, state: (Tensor | undefined)[]): Tensor[] {
    if (input.ndim !== 1 && input.ndim !== 2) throw new ShapeError(this.kind, `input must be [N, inputSize] or [inputSize], got ${fmtShape(input.shape)}`);
    const unbatched = input.ndim === 1;
    const x = unbatched ? input.unsqueeze(0) : input;
    if (x.shape[1] !== this.inputSize) throw new ShapeError(this.kind, `input has ${x.shape[1]} features, expected ${this.inputSize}`);
    const want = unbatched ? [this.hiddenSize] : [x.shape[0]!, this.hiddenSize];
    const s = state.map((t) => {
      if (t && (t.ndim !== want.length || t.shape.some((d, k) => d !== want[k]))) throw new ShapeError(this.kind, `a state must be ${fmtShape(want)}, got ${fmtShape(t.shape)}`);
      return t ? (unbatched ? t.unsqueeze(0) : t) : zeros([x.shape[0]!, this.hiddenSize], { dtype: x.dtype, device: x.device });
    });
    const [gi, gh] = projections(x, s[0]!, this.weightIh, this.weightHh, this.biasIh, this.biasHh);
    const next = this.step(gi, gh, s);
    return unbatched ? next.map((t) => t.squeeze(0)) : next;
  }
}

/**
 * torch.nn.LSTMCell, one LSTM step: forward(input, `[h, c]`?) returns `[h', c']`, each `[N, hiddenSize]`
 * (or `[hiddenSize]` for an unbatched input), zeros standing in for a missing state.
 */
export class LSTMCell extends Cell<[Tensor, Tensor]> {
  constructor(inputSize: number, hiddenSize: number, bias = true) { super('LSTMCell', 4, inputSize, hiddenSize, bias, LSTM_STEP); }
  forward(input: Tensor, hx?: [Tensor, Tensor]): [Tensor, Tensor] {
    const next = this.run(input, [hx?.[0], hx?.[1]]);
    return [next[0]!, next[1]!];
  }
}

/** torch.nn.GRUCell, one GRU step: forward(input, h?) returns h' `[N, hiddenSize]` (h zeros when missing). */
export class GRUCell extends Cell<Tensor> {
  constructor(inputSize: number, hiddenSize: number, bias = true) { super('GRUCell', 3, inputSize, hiddenSize, bias, GRU_STEP); }
  forward(input: Tensor, hx?: Tensor): Tensor { return this.run(input, [hx])[0]!; }
}

/**
 * torch.nn.RNNCell, one Elman step: h' = tanh (or relu) of x W_ih^T + b_ih + h W_hh^T + b_hh. Throws
 * ArgumentError on a nonlinearity other than 'tanh' or 'relu'.
 */
export class RNNCell extends Cell<Tensor> {
  constructor(inputSize: number, hiddenSize: number, bias = true, nonlinearity: 'tanh' | 'relu' = 'tanh') {
    if (nonlinearity !== 'tanh' && nonlinearity !== 'relu') throw new ArgumentError('RNNCell', `Unknown nonlinearity '${String(nonlinearity)}'. Select from 'tanh' or 'relu'.`);
    super('RNNCell', 1, inputSize, hiddenSize, bias, rnnStep(nonlinearity));
  }
  forward(input: Tensor, hx?: Tensor): Tensor { return this.run(input, [hx])[0]!; }
}

/** Returns its input (torch.nn.Identity: a placeholder layer). */
export class Identity extends Module { forward(x: Tensor): Tensor { return x; } }

/** Splits dim into `sizes` (torch.nn.Unflatten). */
export class Unflatten extends Module {
  /**
   * @param dim - the dim split, negative counting from the end.
   * @param sizes - what it becomes; their product must be its size (reshape's rules, -1 included).
   */
  constructor(readonly dim: number, readonly sizes: readonly number[]) { super(); }
  forward(x: Tensor): Tensor {
    const d = this.dim < 0 ? this.dim + x.ndim : this.dim;
    return x.reshape([...x.shape.slice(0, d), ...this.sizes, ...x.shape.slice(d + 1)]);
  }
}

/** torch.nn.GroupNorm: per-channel weight (ones) and bias (zeros) when affine. */
export class GroupNorm extends Module {
  /** Per-channel scale `[numChannels]`; undefined with `affine: false`. */
  weight?: Tensor;
  /** Per-channel shift `[numChannels]`; undefined with `affine: false`. */
  bias?: Tensor;
  /**
   * Throws ArgumentError when numGroups does not divide numChannels.
   * @param numGroups - groups the channels are split into, each normalised on its own.
   * @param numChannels - C, the size of the input's dim 1.
   * @param opt - eps and affine, torch's keyword arguments.
   */
  constructor(readonly numGroups: number, readonly numChannels: number, readonly opt: {
    /** Added to the variance before its square root (default 1e-5). */
    eps?: number;
    /** Learn a per-channel weight and bias (default true). */
    affine?: boolean;
  } = {}) {
    super();
    checkInt('GroupNorm', 'numGroups', numGroups, 1);
    checkInt('GroupNorm', 'numChannels', numChannels, 1);
    if (numChannels % numGroups) throw new ArgumentError('GroupNorm', `${numChannels} channels do not split into ${numGroups} groups`);
    if (opt.affine ?? true) { this.weight = parameter(ones(numChannels)); this.bias = parameter(zeros(numChannels)); }
  }
  forward(x: Tensor): Tensor { return groupNorm(x, this.numGroups, this.weight, this.bias, this.opt.eps ?? 1e-5); }
}

/**
 * RMSNorm (torch 2.4's nn.RMSNorm): x / sqrt(mean(x^2) over the normalised dims + eps) * weight;
 * eps by default the dtype's machine epsilon, as torch's.
 */
export class RMSNorm extends Module {
  /** Elementwise scale of shape normalizedShape, ones at first; undefined without elementwiseAffine. */
  weight?: Tensor;
  /** The trailing dims normalised over; forward throws ShapeError on an input not ending in them. */
  readonly normalizedShape: readonly number[];
  /** @param opt - eps and elementwiseAffine, torch's keyword arguments. */
  constructor(normalizedShape: number | readonly number[], readonly opt: {
    /** Added to the mean square (default: the input dtype's machine epsilon, as torch's). */
    eps?: number;
    /** Learn an elementwise weight (default true). */
    elementwiseAffine?: boolean;
  } = {}) {
    super();
    this.normalizedShape = checkShape('RMSNorm', typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape], 'normalizedShape');
    if (this.normalizedShape.length === 0) throw new ArgumentError('RMSNorm', 'normalizedShape must name at least one dim');
    if (opt.elementwiseAffine ?? true) this.weight = parameter(ones(this.normalizedShape.slice()));
  }
  forward(x: Tensor): Tensor {
    const k = this.normalizedShape.length;
    if (x.ndim < k || x.shape.slice(-k).some((s, i) => s !== this.normalizedShape[i])) throw new ShapeError('RMSNorm', `input ${fmtShape(x.shape)} does not end in ${fmtShape(this.normalizedShape)}`);
    const eps = this.opt.eps ?? (x.dtype === 'float64' ? 2 ** -52 : x.dtype === 'float16' ? 2 ** -10 : 2 ** -23);
    const dims = Array.from({ length: k }, (_, i) => x.ndim - k + i);
    const y = x.mul(x.square().mean(dims, { keepdim: true }).add(eps).rsqrt());
    return this.weight ? y.mul(this.weight) : y;
  }
}

/** torch.nn.Conv1d: weight [out, in / groups, kernel], kaiming-uniform, as torch's. */
export class Conv1d extends Module {
  /** `[outChannels, inChannels / groups, kernelSize]`. */
  weight: Tensor;
  /** `[outChannels]`; undefined with `bias: false`. */
  bias?: Tensor;
  /**
   * Input `[N, C, L]` or `[C, L]`. Throws ArgumentError when a size is not a positive integer or groups
   * does not divide both channel counts.
   * @param opt - stride, padding, dilation, groups and bias, torch's keyword arguments.
   */
  constructor(inChannels: number, outChannels: number, kernelSize: number, readonly opt: {
    /** Step between kernel positions (default 1). */
    stride?: number;
    /** Zeros added at each end of the input (default 0). */
    padding?: number;
    /** Spacing between kernel taps (default 1). */
    dilation?: number;
    /** Channel groups convolved separately (default 1). */
    groups?: number;
    /** Learn a per-channel additive bias (default true). */
    bias?: boolean;
  } = {}) {
    super();
    checkInt('Conv1d', 'inChannels', inChannels, 1);
    checkInt('Conv1d', 'outChannels', outChannels, 1);
    checkInt('Conv1d', 'kernelSize', kernelSize, 1);
    const groups = checkInt('Conv1d', 'groups', opt.groups ?? 1, 1);
    if (inChannels % groups || outChannels % groups) throw new ArgumentError('Conv1d', `groups=${groups} must divide inChannels=${inChannels} and outChannels=${outChannels}`);
    this.weight = parameter(kaimingUniform_(empty(outChannels, inChannels / groups, kernelSize), { a: Math.sqrt(5) }));
    if (opt.bias ?? true) { this.bias = parameter(empty(outChannels)); biasInit(this.bias, this.weight); }
  }
  forward(x: Tensor): Tensor {
    const { stride, padding, dilation, groups } = this.opt;
    return conv1d(x, this.weight, this.bias, { stride, padding, dilation, groups });
  }
}
