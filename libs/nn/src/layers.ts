/** Standard layers. Parameters are initialised as in PyTorch (kaiming-uniform weights, fan-in biases). */
import { ArgumentError, type Pool2dOptions, checkInt, checkShape, fmtShape, pair } from '@tessera/ops';
import { type Tensor, conv2d, embedding, empty, layerNorm, ones, zeros } from '@tessera/tensor';
import { noGrad } from '@tessera/autograd';
import { dropout } from './functional.js';
import { fans, kaimingUniform_, normal_, uniform_ } from './init.js';
import { Module, buffer, parameter } from './module.js';

const biasInit = (b: Tensor, w: Tensor) => { const bound = 1 / Math.sqrt(fans(w).fanIn); uniform_(b, -bound, bound); };

export class Linear extends Module {
  weight: Tensor;
  bias?: Tensor;
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

export interface Conv2dModuleOptions { stride?: number | [number, number]; padding?: number | [number, number]; dilation?: number | [number, number]; groups?: number; bias?: boolean }

export class Conv2d extends Module {
  weight: Tensor;
  bias?: Tensor;
  constructor(inChannels: number, outChannels: number, kernelSize: number | [number, number], readonly opt: Conv2dModuleOptions = {}) {
    super();
    checkInt('Conv2d', 'inChannels', inChannels, 1);
    checkInt('Conv2d', 'outChannels', outChannels, 1);
    const [kh, kw] = pair('Conv2d', 'kernelSize', kernelSize, 1);
    const groups = checkInt('Conv2d', 'groups', opt.groups ?? 1, 1);
    if (inChannels % groups || outChannels % groups) throw new ArgumentError('Conv2d', `groups=${groups} must divide inChannels=${inChannels} and outChannels=${outChannels}`);
    this.weight = parameter(kaimingUniform_(empty(outChannels, inChannels / groups, kh, kw), { a: Math.sqrt(5) }));
    if (opt.bias ?? true) { this.bias = parameter(empty(outChannels)); biasInit(this.bias, this.weight); }
  }
  forward(x: Tensor): Tensor {
    const { stride, padding, dilation, groups } = this.opt;
    return conv2d(x, this.weight, this.bias, { stride, padding, dilation, groups });
  }
}

/** Batch normalisation over dim 1 of [N, C] or [N, C, ...], with running statistics for eval. */
export class BatchNorm extends Module {
  weight?: Tensor;
  bias?: Tensor;
  runningMean: Tensor;
  runningVar: Tensor;
  numBatchesTracked: Tensor;
  constructor(readonly numFeatures: number, readonly opt: { eps?: number; momentum?: number; affine?: boolean } = {}) {
    super();
    checkInt('BatchNorm', 'numFeatures', numFeatures, 1);
    if (opt.affine ?? true) { this.weight = parameter(ones(numFeatures)); this.bias = parameter(zeros(numFeatures)); }
    this.runningMean = buffer(zeros(numFeatures));
    this.runningVar = buffer(ones(numFeatures));
    this.numBatchesTracked = buffer(zeros([], { dtype: 'int64' }));
  }
  forward(x: Tensor): Tensor {
    if (x.ndim < 2 || x.shape[1] !== this.numFeatures) throw new ArgumentError('BatchNorm', `expected [N, ${this.numFeatures}, ...], got ${fmtShape(x.shape)}`);
    const dims = x.shape.map((_, i) => i).filter((i) => i !== 1);
    const view = x.shape.map((d, i) => (i === 1 ? d : 1));
    const eps = this.opt.eps ?? 1e-5;
    let mean: Tensor, v: Tensor;
    if (this.training) {
      if (x.numel / this.numFeatures <= 1) throw new ArgumentError('BatchNorm', `expected more than 1 value per channel when training, got input of shape ${fmtShape(x.shape)}`);
      mean = x.mean(dims);
      v = x.var(dims, { correction: 0 });
      const n = x.numel / this.numFeatures, m = this.opt.momentum ?? 0.1;
      noGrad(() => {
        this.runningMean.mul_(1 - m).add_(mean.detach().mul(m));
        this.runningVar.mul_(1 - m).add_(v.detach().mul(m * n / Math.max(n - 1, 1)));
        this.numBatchesTracked.add_(1);
      });
    } else {
      mean = this.runningMean;
      v = this.runningVar;
    }
    let y = x.sub(mean.reshape(view)).mul(v.add(eps).rsqrt().reshape(view));
    if (this.weight) y = y.mul(this.weight.reshape(view)).add(this.bias!.reshape(view));
    return y;
  }
}

/** PyTorch's names: one implementation serves [N, C] / [N, C, L] and [N, C, H, W]. */
export const BatchNorm1d = BatchNorm;
export const BatchNorm2d = BatchNorm;

export class LayerNorm extends Module {
  weight?: Tensor;
  bias?: Tensor;
  readonly normalizedShape: number[];
  constructor(normalizedShape: number | number[], readonly opt: { eps?: number; elementwiseAffine?: boolean } = {}) {
    super();
    this.normalizedShape = checkShape('LayerNorm', typeof normalizedShape === 'number' ? [normalizedShape] : normalizedShape, 'normalizedShape');
    if (this.normalizedShape.length === 0) throw new ArgumentError('LayerNorm', 'normalizedShape must name at least one dim');
    if (opt.elementwiseAffine ?? true) { this.weight = parameter(ones(this.normalizedShape)); this.bias = parameter(zeros(this.normalizedShape)); }
  }
  forward(x: Tensor): Tensor { return layerNorm(x, this.normalizedShape, this.weight, this.bias, this.opt.eps ?? 1e-5); }
}

export class Embedding extends Module {
  weight: Tensor;
  constructor(readonly numEmbeddings: number, readonly embeddingDim: number, readonly opt: { paddingIdx?: number } = {}) {
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

export class Dropout extends Module {
  constructor(readonly p = 0.5) {
    super();
    if (typeof p !== 'number' || !(p >= 0 && p <= 1)) throw new ArgumentError('Dropout', `dropout probability has to be between 0 and 1, got ${p}`);
  }
  forward(x: Tensor): Tensor { return dropout(x, this.p, this.training); }
}

/** Elementwise activations as modules. */
export class ReLU extends Module { forward(x: Tensor): Tensor { return x.relu(); } }
export class GELU extends Module {
  constructor(readonly approximate: 'none' | 'tanh' = 'none') { super(); }
  forward(x: Tensor): Tensor { return x.gelu({ approximate: this.approximate }); }
}
export class Tanh extends Module { forward(x: Tensor): Tensor { return x.tanh(); } }
export class Sigmoid extends Module { forward(x: Tensor): Tensor { return x.sigmoid(); } }
export class SiLU extends Module { forward(x: Tensor): Tensor { return x.silu(); } }
export class Flatten extends Module {
  constructor(readonly startDim = 1, readonly endDim = -1) { super(); }
  forward(x: Tensor): Tensor { return x.flatten(this.startDim, this.endDim); }
}
export class MaxPool2d extends Module {
  constructor(readonly opt: Pool2dOptions) { super(); }
  forward(x: Tensor): Tensor { return x.maxPool2d(this.opt); }
}
export class AvgPool2d extends Module {
  constructor(readonly opt: Pool2dOptions) { super(); }
  forward(x: Tensor): Tensor { return x.avgPool2d(this.opt); }
}

/** A list of modules registered as children under '0', '1', ... (PyTorch's parameter names). */
export class ModuleList extends Module {
  constructor(modules: Module[] = []) {
    super();
    modules.forEach((m) => this.push(m));
  }
  get length(): number { return [...this.namedChildren()].length; }
  at(i: number): Module { return (this as unknown as Record<number, Module>)[i < 0 ? this.length + i : i]!; }
  push(m: Module): this { (this as unknown as Record<number, Module>)[this.length] = m; return this; }
  [Symbol.iterator](): Iterator<Module> { return this.children()[Symbol.iterator](); }
  forward(..._: Tensor[]): Tensor { throw new ArgumentError('ModuleList', 'has no forward; call its modules'); }
}

/** Modules by name, registered in insertion order (torch.nn.ModuleDict). */
export class ModuleDict extends Module {
  constructor(modules: Record<string, Module> | Iterable<[string, Module]> = {}) {
    super();
    for (const [k, m] of Symbol.iterator in modules ? modules as Iterable<[string, Module]> : Object.entries(modules)) this.set(k, m);
  }
  get size(): number { return [...this.namedChildren()].length; }
  get(key: string): Module | undefined { return this.has(key) ? (this as unknown as Record<string, Module>)[key] : undefined; }
  has(key: string): boolean { return [...this.namedChildren()].some(([k]) => k === key); }
  set(key: string, m: Module): this {
    if (!(m instanceof Module)) throw new ArgumentError('ModuleDict', `${key} must be a Module`);
    if (key in Module.prototype || key in ModuleDict.prototype) throw new ArgumentError('ModuleDict', `${key} is a Module method name`);
    (this as unknown as Record<string, Module>)[key] = m;
    return this;
  }
  delete(key: string): boolean {
    if (!this.has(key)) return false;
    delete (this as unknown as Record<string, Module>)[key];
    return true;
  }
  keys(): string[] { return [...this.namedChildren()].map(([k]) => k); }
  values(): Module[] { return this.children(); }
  /** [name, module] pairs, as torch's items(). */
  items(): [string, Module][] { return [...this.namedChildren()]; }
  forward(..._: Tensor[]): Tensor { throw new ArgumentError('ModuleDict', 'has no forward; call its modules'); }
}

/** Parameters in a list, registered as 0, 1, ... (torch.nn.ParameterList). */
export class ParameterList extends Module {
  constructor(params: Iterable<Tensor> = []) {
    super();
    for (const p of params) this.push(p);
  }
  get length(): number { return [...this.namedParameters()].filter(([k]) => !k.includes('.')).length; }
  at(i: number): Tensor { return (this as unknown as Record<number, Tensor>)[i < 0 ? this.length + i : i]!; }
  push(p: Tensor): this { this.registerParameter(String(this.length), p); return this; }
  [Symbol.iterator](): Iterator<Tensor> { return Array.from({ length: this.length }, (_, i) => this.at(i))[Symbol.iterator](); }
  forward(..._: Tensor[]): Tensor { throw new ArgumentError('ParameterList', 'has no forward'); }
}

/** Parameters by name (torch.nn.ParameterDict). */
export class ParameterDict extends Module {
  constructor(params: Record<string, Tensor> = {}) {
    super();
    for (const [k, p] of Object.entries(params)) this.set(k, p);
  }
  get(key: string): Tensor | undefined { return this.has(key) ? (this as unknown as Record<string, Tensor>)[key] : undefined; }
  has(key: string): boolean { return this.keys().includes(key); }
  set(key: string, p: Tensor): this {
    if (key in Module.prototype || key in ParameterDict.prototype) throw new ArgumentError('ParameterDict', `${key} is a Module method name`);
    this.registerParameter(key, p);
    return this;
  }
  keys(): string[] { return [...this.namedParameters()].map(([k]) => k); }
  values(): Tensor[] { return this.parameters(); }
  forward(..._: Tensor[]): Tensor { throw new ArgumentError('ParameterDict', 'has no forward'); }
}

/** Applies its modules in order. */
export class Sequential extends ModuleList {
  constructor(...layers: Module[]) { super(layers); }
  override forward(x: Tensor): Tensor { return this.children().reduce((h, m) => m.forward(h), x); }
}
