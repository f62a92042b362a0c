/** Losses and stateless layers (torch.nn.functional), composed from differentiable tensor ops. */
import { ArgumentError, DTypeError, ELEMENTWISE, NotImplementedError, type Pool2dOptions, ShapeError, checkInt, checkNumber, checkOptions, describe, fmtShape, isFloating } from '@tessera/ops';
import { noGrad } from '@tessera/autograd';
import { Tensor, arange, cat, checkFlag, conv2d as tsrConv2d, fold, tensor, elementwise, embedding as tsrEmbedding, full, keep, layerNorm as tsrLayerNorm, rand, where as tsrWhere } from '@tessera/tensor';

/** How a loss reduces its per-element values: 'mean' (the default), 'sum', or 'none' (one per element). */
export type Reduction = 'mean' | 'sum' | 'none';

const REDUCTIONS: readonly string[] = ['mean', 'sum', 'none'];

/** A loss's options object, checked: a reduction name torch does not know is refused, not read as 'mean'. */
function lossOptions<O extends { reduction?: Reduction; weight?: Tensor; ignoreIndex?: number }>(op: string, opt: unknown): O {
  const o = checkOptions<O>(op, opt) as O;
  if (o.reduction !== undefined && !REDUCTIONS.includes(o.reduction)) throw new ArgumentError(op, `${describe(o.reduction)} is not a valid reduction (mean, sum or none)`);
  if (o.weight !== undefined && !(o.weight instanceof Tensor)) throw new ArgumentError(op, `weight must be a tensor, got ${describe(o.weight)}`);
  if (o.ignoreIndex !== undefined) checkInt(op, 'ignoreIndex', o.ignoreIndex);
  return o;
}

const tensors = (op: string, ...ts: unknown[]): void => {
  for (const t of ts) if (!(t instanceof Tensor)) throw new ArgumentError(op, `expected tensors, got ${describe(t)}`);
};

function reduce(loss: Tensor, reduction: Reduction = 'mean'): Tensor {
  return reduction === 'none' ? loss : reduction === 'sum' ? loss.sum() : loss.mean();
}

/** A bool target is read as 0/1 in the input's dtype (torch's mse_loss kernel takes it; its l1_loss, as sub(), refuses bools). */
const numeric = (target: Tensor, like: Tensor): Tensor => (target.dtype === 'bool' ? target.to(like.dtype) : target);

/**
 * torch's mse_loss: `(input - target)^2`, reduced; a bool target is read as 0/1. The operands
 * broadcast as sub's do. Throws ArgumentError on an unknown reduction.
 */
export function mseLoss(input: Tensor, target: Tensor, options: {
  /** 'mean' (default), 'sum', or 'none' for one loss per element. */
  reduction?: Reduction;
} = {}): Tensor {
  tensors('mseLoss', input, target);
  return reduce(input.sub(numeric(target, input)).square(), lossOptions('mseLoss', options).reduction);
}

/** torch's l1_loss: `|input - target|`, reduced; the operands broadcast as sub's do. */
export function l1Loss(input: Tensor, target: Tensor, options: {
  /** 'mean' (default), 'sum', or 'none' for one loss per element. */
  reduction?: Reduction;
} = {}): Tensor {
  tensors('l1Loss', input, target);
  return reduce(input.sub(target).abs(), lossOptions('l1Loss', options).reduction);
}

/** torch's smooth_l1_loss: 0.5 d^2 / beta where |d| < beta, |d| - 0.5 beta elsewhere (beta 0: the L1 loss). */
export function smoothL1Loss(input: Tensor, target: Tensor, options: {
  /** 'mean' (default), 'sum', or 'none' for one loss per element. */
  reduction?: Reduction;
  /** Where the loss turns from quadratic to linear (default 1); ArgumentError when negative. */
  beta?: number;
} = {}): Tensor {
  tensors('smoothL1Loss', input, target);
  const o = lossOptions<{ reduction?: Reduction; beta?: number }>('smoothL1Loss', options);
  const beta = o.beta ?? 1;
  checkNumber('smoothL1Loss', 'beta', beta);
  if (beta < 0) throw new ArgumentError('smoothL1Loss', `beta must be non-negative, got ${beta}`);
  const d = input.sub(target).abs();
  return reduce(beta === 0 ? d : tsrWhere(d.lt(beta), d.square().mul(0.5 / beta), d.sub(0.5 * beta)), o.reduction);
}

/**
 * torch's kl_div: pointwise target (log target - input), with 0 where target is 0 (xlogy), or
 * exp(target) (target - input) with `logTarget`; 'batchmean' divides the sum by the batch size
 * (torch's 'mean' averages over every element).
 */
export function klDiv(input: Tensor, target: Tensor, options: {
  /** 'mean' (default: over every element), 'batchmean' (the sum over the batch size: the true KL), 'sum' or 'none'. */
  reduction?: Reduction | 'batchmean';
  /** The target holds log-probabilities rather than probabilities (default false). */
  logTarget?: boolean;
} = {}): Tensor {
  tensors('klDiv', input, target);
  const o = checkOptions<{ reduction?: Reduction | 'batchmean'; logTarget?: boolean }>('klDiv', options);
  const reduction = o.reduction ?? 'mean';
  if (![...REDUCTIONS, 'batchmean'].includes(reduction)) throw new ArgumentError('klDiv', `${describe(reduction)} is not a valid reduction (mean, batchmean, sum or none)`);
  const pointwise = o.logTarget
    ? target.exp().mul(target.sub(input))
    : tsrWhere(target.eq(0), 0, target.mul(target.log())).sub(target.mul(input));
  if (reduction === 'batchmean') return input.ndim === 0 ? pointwise.sum() : pointwise.sum().div(input.shape[0]!);
  return reduce(pointwise, reduction);
}

/** torch's linear: x @ weight^T + bias. */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor): Tensor {
  tensors('linear', x, weight, ...(bias ? [bias] : []));
  const y = x.matmul(weight.t());
  return bias ? y.add(bias) : y;
}

/**
 * torch's one_hot: int64 classes [...] -> int64 [..., numClasses] (numClasses -1: the largest class +
 * 1); negative or too large classes are refused. With numClasses given, a device with asynchronous
 * reads checks the classes there (raised at its next read); -1 needs their values on the host (the
 * result's shape depends on them), so there it must be given.
 */
export function oneHot(x: Tensor, numClasses = -1): Tensor {
  tensors('oneHot', x);
  if (x.dtype !== 'int64') throw new DTypeError('oneHot', `classes must be int64, got ${x.dtype}`);
  checkInt('oneHot', 'numClasses', numClasses);
  if (!x.storage.backend.readSync) {
    if (numClasses === -1) throw new ArgumentError('oneHot', `numClasses = -1 reads the classes on the host, and '${x.device}' reads asynchronously: pass numClasses (or move the classes to the CPU with await x.toAsync('cpu'))`);
    if (numClasses < 0) throw new ArgumentError('oneHot', `numClasses must be -1 or non-negative, got ${numClasses}`);
    if (x.numel) checkFlag(keep(noGrad(() => x.lt(0).logicalOr(x.ge(numClasses)).any())), () => new ArgumentError('oneHot', `a class is negative or out of range for ${numClasses} classes (found on the device; raised at its next read)`));
    return x.unsqueeze(-1).eq(arange(numClasses, { dtype: 'int64', device: x.device })).to('int64');
  }
  const values = x.numel ? (x.flatten().tolistSync() as number[]) : [];
  const lo = values.reduce((m, v) => Math.min(m, v), Infinity), hi = values.reduce((m, v) => Math.max(m, v), -Infinity);
  if (lo < 0) throw new ArgumentError('oneHot', `classes must be non-negative, got ${lo}`);
  const n = numClasses === -1 ? (values.length ? hi + 1 : 0) : numClasses;
  if (numClasses === -1 && !values.length) throw new ArgumentError('oneHot', 'cannot infer numClasses from an empty tensor');
  if (hi >= n) throw new ArgumentError('oneHot', `class ${hi} is out of range for ${n} classes`);
  return x.unsqueeze(-1).eq(arange(n, { dtype: 'int64', device: x.device })).to('int64');
}

/** torch's normalize: x / max(||x||_p along dim, eps). */
export function normalize(x: Tensor, options: { p?: number; dim?: number; eps?: number } = {}): Tensor {
  tensors('normalize', x);
  const { p = 2, dim = 1, eps = 1e-12 } = checkOptions<{ p?: number; dim?: number; eps?: number }>('normalize', options);
  return x.div(x.norm(p, dim, { keepdim: true }).clamp(eps).expand(x.shape));
}

/** torch's cosine_similarity (1.13): sum(x1 x2) / sqrt(max(sum(x1^2) sum(x2^2), eps^2)) along dim, inputs broadcast. */
export function cosineSimilarity(x1: Tensor, x2: Tensor, options: { dim?: number; eps?: number } = {}): Tensor {
  tensors('cosineSimilarity', x1, x2);
  const { dim = 1, eps = 1e-8 } = checkOptions<{ dim?: number; eps?: number }>('cosineSimilarity', options);
  const w12 = x1.mul(x2).sum(dim), w1 = x1.square().sum(dim), w2 = x2.square().sum(dim);
  return w12.div(w1.mul(w2).clamp(eps * eps).sqrt());
}

/** nllLoss's options, torch's keyword arguments. */
export interface NllOptions {
  /** 'mean' (default) divides the sum by the summed weights of the targets not ignored, as torch; or 'sum', 'none'. */
  reduction?: Reduction;
  /** A target class that contributes nothing, to the sum or to the mean's divisor (default -100). */
  ignoreIndex?: number;
  /** A rescaling weight per class, `[C]`; ShapeError for any other shape. */
  weight?: Tensor;
}

/** Runs a loss defined on batches [N, C, ...] on an unbatched input [C] with target []: as a batch of one. */
function unbatched(input: Tensor, target: Tensor, reduction: Reduction | undefined, batched: (x: Tensor, t: Tensor) => Tensor): Tensor {
  const out = batched(input.unsqueeze(0), target.unsqueeze(0));
  return reduction === 'none' ? out.squeeze(0) : out;
}

function checkClassWeight(op: string, weight: Tensor | undefined, classes: number): void {
  if (weight && (weight.ndim !== 1 || weight.shape[0] !== classes)) {
    throw new ShapeError(op, `weight should hold one value per class (${classes}), got shape ${fmtShape(weight.shape)}`);
  }
}

/** Negative log-likelihood of class indices (int64) given log-probabilities [N, C, ...] (or [C] with a 0-d target). */
export function nllLoss(logProbs: Tensor, target: Tensor, options: NllOptions = {}): Tensor {
  tensors('nllLoss', logProbs, target);
  const opt = lossOptions<NllOptions>('nllLoss', options);
  // int64 class indices (torch 1.13 also takes uint8 ones, but only without a weight: one rule here).
  if (target.dtype !== 'int64') throw new DTypeError('nllLoss', `target must hold class indices as int64, got ${target.dtype}`);
  if (logProbs.ndim === 1 && target.ndim === 0) return unbatched(logProbs, target, opt.reduction, (x, t) => nllLoss(x, t, opt));
  const expected = [logProbs.shape[0], ...logProbs.shape.slice(2)];
  if (logProbs.ndim < 2 || target.ndim !== expected.length || target.shape.some((d, i) => d !== expected[i])) {
    throw new ShapeError('nllLoss', `input ${fmtShape(logProbs.shape)} ([N, C, ...] or [C]) needs target of shape ${fmtShape(expected as number[])}, got ${fmtShape(target.shape)}`);
  }
  checkClassWeight('nllLoss', opt.weight, logProbs.shape[1]!);
  const keep = target.ne(opt.ignoreIndex ?? -100);
  const safe = target.where(keep, 0).to('int64');
  let picked = logProbs.gather(1, safe.unsqueeze(1)).squeeze(1).neg();
  let w = keep.to(logProbs.dtype);
  if (opt.weight) w = w.mul(opt.weight.indexSelect(0, safe.reshape(-1)).reshape(safe.shape));
  picked = picked.mul(w);
  if (opt.reduction === 'none') return picked;
  return opt.reduction === 'sum' ? picked.sum() : picked.sum().div(w.sum());
}

/** crossEntropy's options, torch's keyword arguments. */
export interface CrossEntropyOptions extends NllOptions {
  /** e in `(1 - e) * nll + e * (mean over classes of -log p)`, between 0 and 1 (default 0). */
  labelSmoothing?: number;
}

/**
 * Cross entropy of logits [N, C, ...] (or [C]) against class indices (int64), with PyTorch's
 * ignoreIndex and label smoothing: (1 - e) * nll + e * mean over classes of -log p; or against
 * class probabilities (a floating target of the input's shape), as torch.nn.functional.cross_entropy.
 */
export function crossEntropy(logits: Tensor, target: Tensor, options: CrossEntropyOptions = {}): Tensor {
  tensors('crossEntropy', logits, target);
  const opt = lossOptions<CrossEntropyOptions>('crossEntropy', options);
  const eps = checkNumber('crossEntropy', 'labelSmoothing', opt.labelSmoothing ?? 0);
  // PyTorch 2 refuses a smoothing outside [0, 1] (1.13 did not check); a negative one is no smoothing at all.
  if (!(eps >= 0 && eps <= 1)) throw new ArgumentError('crossEntropy', `labelSmoothing must be in [0, 1], got ${eps}`);
  if (logits.ndim === 0) throw new ShapeError('crossEntropy', 'input must have a class dim ([C] or [N, C, ...]), got a 0-d tensor');
  const classDim = logits.ndim === 1 ? 0 : 1, classes = logits.shape[classDim]!;
  checkClassWeight('crossEntropy', opt.weight, classes);
  if (isFloating(target.dtype)) return probabilityCrossEntropy(logits, target, classDim, eps, opt);
  if (logits.ndim === 1 && target.ndim === 0) return unbatched(logits, target, opt.reduction, (x, t) => crossEntropy(x, t, opt));
  const logp = logits.logSoftmax(1);
  if (eps === 0) return nllLoss(logp, target, opt);
  const nll = nllLoss(logp, target, { ...opt, reduction: 'none' });
  const keep = target.ne(opt.ignoreIndex ?? -100).to(logits.dtype);
  const cw = opt.weight ? logp.mul(opt.weight.reshape([1, classes, ...logits.shape.slice(2).map(() => 1)])) : logp;
  const smooth = cw.sum(1).neg().div(classes).mul(keep);
  const loss = nll.mul(1 - eps).add(smooth.mul(eps));
  if (opt.reduction === 'none') return loss;
  if (opt.reduction === 'sum') return loss.sum();
  const denom = opt.weight ? opt.weight.indexSelect(0, target.where(target.ne(opt.ignoreIndex ?? -100), 0).reshape(-1)).reshape(target.shape).mul(keep).sum() : keep.sum();
  return loss.sum().div(denom);
}

/** Soft targets: -sum over classes of w_c t_c log p_c, averaged over the batch (and spatial) positions for 'mean'. */
function probabilityCrossEntropy(logits: Tensor, target: Tensor, classDim: number, eps: number, opt: CrossEntropyOptions): Tensor {
  if (target.ndim !== logits.ndim || target.shape.some((d, i) => d !== logits.shape[i])) {
    throw new ShapeError('crossEntropy', `class-probability targets must have the input's shape ${fmtShape(logits.shape)}, got ${fmtShape(target.shape)}`);
  }
  const classes = logits.shape[classDim]!;
  const t = eps > 0 ? target.mul(1 - eps).add(eps / classes) : target;
  let logp = logits.logSoftmax(classDim);
  if (opt.weight) logp = logp.mul(opt.weight.reshape(logits.shape.map((d, i) => (i === classDim ? d : 1))));
  const loss = logp.mul(t).sum(classDim).neg();
  return reduce(loss, opt.reduction);
}

/**
 * Binary cross entropy on logits, as torch computes it: (1 - y) x + w (log(exp(-m) + exp(-x - m)) + m)
 * with m = max(-x, 0) and w = 1 + (posWeight - 1) y (so infinities and NaNs come out as torch's).
 * The target must have the input's shape.
 */
export function bceWithLogits(logits: Tensor, target: Tensor, options: {
  /** 'mean' (default), 'sum', or 'none' for one loss per element. */
  reduction?: Reduction;
  /** Weight of the positive term, broadcast against the target (one per class, `[C]`, typically). */
  posWeight?: Tensor;
} = {}): Tensor {
  tensors('bceWithLogits', logits, target);
  const opt = lossOptions<{ reduction?: Reduction; posWeight?: Tensor }>('bceWithLogits', options);
  if (target.ndim !== logits.ndim || target.shape.some((d, i) => d !== logits.shape[i])) {
    throw new ShapeError('bceWithLogits', `target size ${fmtShape(target.shape)} must be the same as input size ${fmtShape(logits.shape)}`);
  }
  if (!isFloating(target.dtype)) throw new DTypeError('bceWithLogits', `target must be floating (probabilities), got ${target.dtype}`);
  // Summed in torch's order, so mixed float32/float64 operands round as torch's do.
  const m = logits.neg().clamp(0);
  const logTerm = m.neg().exp().add(logits.neg().sub(m).exp()).log(); // log(1 + exp(-x)) - m, overflow-free
  const linear = target.neg().add(1).mul(logits);
  const loss = opt.posWeight ? linear.add(logTerm.add(m).mul(opt.posWeight.sub(1).mul(target).add(1))) : linear.add(m).add(logTerm);
  return reduce(loss, opt.reduction);
}

/** Zeroes elements with probability p during training and rescales the rest by 1/(1-p). */
export function dropout(x: Tensor, p = 0.5, training = true): Tensor {
  tensors('dropout', x);
  if (typeof p !== 'number' || !(p >= 0 && p <= 1)) throw new ArgumentError('dropout', `p must be a number in [0, 1], got ${describe(p)}`);
  if (typeof training !== 'boolean') throw new ArgumentError('dropout', `training must be a boolean, got ${describe(training)}`);
  if (!training || p === 0) return x;
  if (p === 1) return x.mul(0);
  return elementwise(ELEMENTWISE['dropout']!, [x, rand(x.shape.slice(), { dtype: x.dtype, device: x.device })], { params: { p } });
}

/** scaledDotProductAttention's options, torch's keyword arguments (and `training`). */
export interface AttentionOptions {
  /** Boolean (true = attend) or additive float mask, broadcast to `[..., L, S]`. */
  attnMask?: Tensor;
  /** Query i attends only to keys up to i (the lower triangle of `[L, S]`, top-left aligned). */
  isCausal?: boolean;
  /** Dropout on the attention weights (default 0). */
  dropoutP?: number;
  /** Multiplies the scores (default 1/sqrt(E), E the query's last dim). */
  scale?: number;
  /** Whether dropoutP applies (default true, as torch's function always applies it). */
  training?: boolean;
}

/** softmax(q k^T * scale + mask) v over the last two dims. */
export function scaledDotProductAttention(q: Tensor, k: Tensor, v: Tensor, opt: AttentionOptions = {}): Tensor {
  const d = q.shape[q.ndim - 1]!;
  let scores = q.matmul(k.transpose(-1, -2)).mul(opt.scale ?? 1 / Math.sqrt(d));
  const [l, s] = scores.shape.slice(-2) as [number, number];
  if (opt.isCausal) scores = scores.maskedFill(causalMask(l, s, q).logicalNot(), -Infinity);
  if (opt.attnMask) scores = opt.attnMask.dtype === 'bool' ? scores.maskedFill(opt.attnMask.logicalNot(), -Infinity) : scores.add(opt.attnMask);
  const attn = dropout(scores.softmax(-1), opt.dropoutP ?? 0, opt.training ?? true);
  return attn.matmul(v);
}

const causalCache = new Map<string, Tensor>();
function causalMask(l: number, s: number, like: Tensor): Tensor {
  const key = `${l}x${s}@${like.device}`;
  let m = causalCache.get(key);
  // Kept: a mask first made inside tidy() or a compiled call must outlive it, as the cache does.
  if (!m) causalCache.set(key, (m = keep(rand([l, s], { device: like.device }).ge(0).tril())));
  return m;
}

/** torch's group_norm: x [N, C, ...] normalised over each group of C / numGroups channels (and the rest), then weight and bias per channel. */
export function groupNorm(x: Tensor, numGroups: number, weight?: Tensor, bias?: Tensor, eps = 1e-5): Tensor {
  tensors('groupNorm', x, ...(weight ? [weight] : []), ...(bias ? [bias] : []));
  checkInt('groupNorm', 'numGroups', numGroups, 1);
  if (x.ndim < 2) throw new ShapeError('groupNorm', `input must be [N, C, ...], got ${fmtShape(x.shape)}`);
  const [n, c] = [x.shape[0]!, x.shape[1]!];
  if (c % numGroups) throw new ArgumentError('groupNorm', `${c} channels do not split into ${numGroups} groups`);
  const g = x.reshape(n, numGroups, -1);
  const mean = g.mean(-1, { keepdim: true }), variance = g.var(-1, { keepdim: true, correction: 0 });
  let y = g.sub(mean).div(variance.add(eps).sqrt()).reshape(x.shape);
  const perChannel = (t: Tensor) => t.reshape([c, ...x.shape.slice(2).map(() => 1)]);
  if (weight) y = y.mul(perChannel(weight));
  if (bias) y = y.add(perChannel(bias));
  return y;
}

/** torch's conv1d: x [N, C, L] (or [C, L]) with weight [O, C / groups, k], as a 2-D convolution of height 1. */
export function conv1d(x: Tensor, weight: Tensor, bias?: Tensor, options: { stride?: number; padding?: number; dilation?: number; groups?: number } = {}): Tensor {
  tensors('conv1d', x, weight, ...(bias ? [bias] : []));
  if (weight.ndim !== 3) throw new ShapeError('conv1d', `weight must be [outChannels, inChannels / groups, kernel], got ${fmtShape(weight.shape)}`);
  if (x.ndim !== 2 && x.ndim !== 3) throw new ShapeError('conv1d', `input must be [N, C, L] or [C, L], got ${fmtShape(x.shape)}`);
  const { stride = 1, padding = 0, dilation = 1, groups = 1 } = checkOptions<{ stride?: number; padding?: number; dilation?: number; groups?: number }>('conv1d', options);
  const batched = x.ndim === 3 ? x : x.unsqueeze(0);
  const y = batched.unsqueeze(2).conv2d(weight.unsqueeze(2), bias, { stride: [1, stride], padding: [0, padding], dilation: [1, dilation], groups }).squeeze(2);
  return x.ndim === 3 ? y : y.squeeze(0);
}

/**
 * torch's pad: `amounts` lists (before, after) pairs from the last dim backwards. 'constant' fills
 * with `value` (negative amounts crop); 'reflect' mirrors without repeating the edge, 'replicate'
 * repeats the edge, 'circular' wraps around: each an index select per dim, so differentiable and on
 * every backend. As torch, the non-constant modes pad the last 1 to 3 dims of [N, C, ...] input (or
 * unbatched [C, ...]), reflect needs amounts below the dim's size and circular at most its size.
 */
export function pad(x: Tensor, amounts: readonly number[], mode: 'constant' | 'reflect' | 'replicate' | 'circular' = 'constant', value = 0): Tensor {
  tensors('pad', x);
  if (!['constant', 'reflect', 'replicate', 'circular'].includes(mode)) throw new ArgumentError('pad', `mode must be constant, reflect, replicate or circular, got ${describe(mode)}`);
  if (amounts.length % 2 || amounts.length / 2 > x.ndim) throw new ArgumentError('pad', `needs pairs of amounts for at most ${x.ndim} dims, got ${amounts.length} values`);
  if (mode !== 'constant' && (amounts.length / 2 > 3 || x.ndim < amounts.length / 2 + 1 || x.ndim > amounts.length / 2 + 2)) {
    throw new NotImplementedError('pad', `mode '${mode}' pads the last 1-3 dims of a [N, C, ...] or [C, ...] input: ${amounts.length / 2} dims of a ${x.ndim}-D input are not supported`);
  }
  let y = x;
  for (let k = 0; k < amounts.length / 2; k++) {
    const d = x.ndim - 1 - k;
    const before = checkInt('pad', 'amount', amounts[2 * k]!), after = checkInt('pad', 'amount', amounts[2 * k + 1]!);
    const size = y.shape[d]!;
    if (size + before + after < 0) throw new ArgumentError('pad', `padding (${before}, ${after}) leaves dim ${d} of size ${size} negative`);
    if (mode === 'constant') {
      if (before < 0) y = y.narrow(d, -before, size + before);
      if (after < 0) y = y.narrow(d, 0, y.shape[d]! + after);
      const block = (n: number) => full(y.shape.map((s, j) => (j === d ? n : s)), value, { dtype: y.dtype, device: y.device });
      const parts = [...(before > 0 ? [block(before)] : []), y, ...(after > 0 ? [block(after)] : [])];
      y = parts.length > 1 ? cat(parts, d) : y;
      continue;
    }
    if (mode === 'reflect' && (before >= size || after >= size)) throw new ArgumentError('pad', `reflect padding (${before}, ${after}) must be smaller than dim ${d}'s size ${size}`);
    if (mode === 'circular' && (before > size || after > size)) throw new ArgumentError('pad', `circular padding (${before}, ${after}) must be at most dim ${d}'s size ${size}`);
    // Where each output position reads from along d.
    const source = (i: number): number => {
      if (mode === 'replicate') return Math.min(Math.max(i, 0), size - 1);
      if (mode === 'circular') return ((i % size) + size) % size;
      const period = 2 * (size - 1);
      const r = period === 0 ? 0 : ((i % period) + period) % period;
      return r < size ? r : period - r;
    };
    const index = Array.from({ length: size + before + after }, (_, j) => source(j - before));
    y = y.indexSelect(d, tensor(index, { dtype: 'int64', device: x.device }));
  }
  return y;
}

// ---------------------------------------------------------------- torch.nn.functional's names and argument order

/** Activations, as torch.nn.functional names them. */
export const relu = (x: Tensor): Tensor => x.relu();
/** torch's gelu: x Phi(x), exact (erf) by default or `approximate: 'tanh'`. */
export const gelu = (x: Tensor, options: { approximate?: 'none' | 'tanh' } = {}): Tensor => x.gelu(checkOptions('gelu', options));
/** torch's silu (swish): x sigmoid(x). */
export const silu = (x: Tensor): Tensor => x.silu();
/** torch's tanh, elementwise. */
export const tanh = (x: Tensor): Tensor => x.tanh();
/** torch's sigmoid: 1 / (1 + exp(-x)). */
export const sigmoid = (x: Tensor): Tensor => x.sigmoid();
/** torch's softmax along dim (which is required: torch's implicit dim is deprecated). */
export const softmax = (x: Tensor, dim: number): Tensor => x.softmax(dim);
/** torch's log_softmax along dim: x - logsumexp(x), accurate where softmax underflows to 0. */
export const logSoftmax = (x: Tensor, dim: number): Tensor => x.logSoftmax(dim);

/** x where x > 0, negativeSlope x elsewhere (NaN stays NaN). */
export function leakyRelu(x: Tensor, negativeSlope = 0.01): Tensor {
  tensors('leakyRelu', x);
  checkNumber('leakyRelu', 'negativeSlope', negativeSlope);
  return tsrWhere(x.le(0), x.mul(negativeSlope), x);
}

/** x where x > 0, alpha (exp(x) - 1) elsewhere. */
export function elu(x: Tensor, alpha = 1): Tensor {
  tensors('elu', x);
  checkNumber('elu', 'alpha', alpha);
  return tsrWhere(x.le(0), x.expm1().mul(alpha), x);
}

/** torch.nn.functional.conv2d(input, weight, bias, stride, padding, dilation, groups), the options as an object. */
export const conv2d = (x: Tensor, weight: Tensor, bias?: Tensor, options: { stride?: number | [number, number]; padding?: number | [number, number]; dilation?: number | [number, number]; groups?: number } = {}): Tensor =>
  tsrConv2d(x, weight, bias, checkOptions('conv2d', options));

/** torch.nn.functional.max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode). */
export const maxPool2d = (x: Tensor, kernelSize: number | [number, number], options: Omit<Pool2dOptions, 'kernelSize' | 'countIncludePad'> = {}): Tensor =>
  x.maxPool2d({ ...checkOptions<object>('maxPool2d', options), kernelSize });

/** torch.nn.functional.avg_pool2d(input, kernel_size, stride, padding, ceil_mode, count_include_pad). */
export const avgPool2d = (x: Tensor, kernelSize: number | [number, number], options: Omit<Pool2dOptions, 'kernelSize' | 'dilation'> = {}): Tensor =>
  x.avgPool2d({ ...checkOptions<object>('avgPool2d', options), kernelSize });

/**
 * torch.nn.functional.adaptive_avg_pool2d: output cell (i, j) averages rows floor(i H / oh) to
 * ceil((i + 1) H / oh) and likewise columns, as torch's windows; one pooling launch where the sizes
 * divide evenly, else composed per output row and column. `outputSize` entries may be null (keep that size).
 */
export function adaptiveAvgPool2d(x: Tensor, outputSize: number | readonly (number | null)[]): Tensor {
  tensors('adaptiveAvgPool2d', x);
  if (x.ndim !== 3 && x.ndim !== 4) throw new ShapeError('adaptiveAvgPool2d', `input must be [N, C, H, W] or [C, H, W], got ${fmtShape(x.shape)}`);
  const [h, w] = x.shape.slice(-2) as [number, number];
  const sizes = typeof outputSize === 'number' ? [outputSize, outputSize] : outputSize;
  if (sizes.length !== 2) throw new ArgumentError('adaptiveAvgPool2d', `outputSize must be a number or two entries, got ${describe(outputSize)}`);
  const [oh, ow] = [sizes[0] ?? h, sizes[1] ?? w].map((v, i) => checkInt('adaptiveAvgPool2d', i ? 'outputSize[1]' : 'outputSize[0]', v, 1)) as [number, number];
  if (h % oh === 0 && w % ow === 0) return x.avgPool2d({ kernelSize: [h / oh, w / ow], stride: [h / oh, w / ow] });
  const windows = (n: number, o: number) => Array.from({ length: o }, (_, i) => [Math.floor((i * n) / o), Math.ceil(((i + 1) * n) / o)] as const);
  const rows = windows(h, oh).map(([a, b]) => x.narrow(-2, a, b - a).mean(-2, { keepdim: true }));
  const y = cat(rows, -2);
  return cat(windows(w, ow).map(([a, b]) => y.narrow(-1, a, b - a).mean(-1, { keepdim: true })), -1);
}

/** torch.nn.functional.layer_norm(input, normalized_shape, weight, bias, eps). */
export const layerNorm = (x: Tensor, normalizedShape: readonly number[], weight?: Tensor, bias?: Tensor, eps = 1e-5): Tensor =>
  tsrLayerNorm(x, normalizedShape, weight, bias, eps);

/**
 * torch.nn.functional.embedding(input, weight, padding_idx): rows of weight; the padding row gets
 * no gradient (it may still be read).
 */
export function embedding(indices: Tensor, weight: Tensor, options: { paddingIdx?: number } = {}): Tensor {
  tensors('embedding', indices, weight);
  const { paddingIdx } = checkOptions<{ paddingIdx?: number }>('embedding', options);
  if (paddingIdx === undefined) return tsrEmbedding(indices, weight);
  checkInt('embedding', 'paddingIdx', paddingIdx, -weight.shape[0]!, weight.shape[0]! - 1);
  // Rows looked up at the padding index are taken from a detached copy of the output, so their
  // gradient never reaches weight (work the size of the output, not of the whole table).
  const row = (paddingIdx + weight.shape[0]!) % weight.shape[0]!;
  const out = tsrEmbedding(indices, weight);
  return tsrWhere(indices.eq(row).unsqueeze(-1), out.detach(), out);
}

/**
 * torch.nn.functional.batch_norm(input, running_mean, running_var, weight, bias, training, momentum,
 * eps): normalises over every dim but 1 with the batch's statistics when training (updating the
 * running ones in place, the variance unbiased, as torch), with the running ones otherwise.
 */
export function batchNorm(x: Tensor, runningMean: Tensor | undefined, runningVar: Tensor | undefined, weight?: Tensor, bias?: Tensor, training = false, momentum = 0.1, eps = 1e-5): Tensor {
  tensors('batchNorm', x);
  if (x.ndim < 2) throw new ShapeError('batchNorm', `input must be [N, C, ...], got ${fmtShape(x.shape)}`);
  const c = x.shape[1]!;
  for (const [name, t] of [['runningMean', runningMean], ['runningVar', runningVar], ['weight', weight], ['bias', bias]] as const) {
    if (t !== undefined && (!(t instanceof Tensor) || t.ndim !== 1 || t.shape[0] !== c)) throw new ShapeError('batchNorm', `${name} must be a tensor of ${c} elements (the input's channels), got ${describe(t)}`);
  }
  if (!training && (!runningMean || !runningVar)) throw new ArgumentError('batchNorm', 'running statistics are required when not training');
  const dims = x.shape.map((_, i) => i).filter((i) => i !== 1);
  const view = x.shape.map((d, i) => (i === 1 ? d : 1));
  let mean: Tensor, v: Tensor;
  if (training) {
    const n = x.numel / c;
    if (n <= 1) throw new ArgumentError('batchNorm', `expected more than 1 value per channel when training, got input of shape ${fmtShape(x.shape)}`);
    mean = x.mean(dims);
    v = x.var(dims, { correction: 0 });
    noGrad(() => {
      runningMean?.mul_(1 - momentum).add_(mean.detach().mul(momentum));
      runningVar?.mul_(1 - momentum).add_(v.detach().mul((momentum * n) / (n - 1)));
    });
  } else {
    mean = runningMean!;
    v = runningVar!;
  }
  let y = x.sub(mean.reshape(view)).mul(v.add(eps).rsqrt().reshape(view));
  if (weight) y = y.mul(weight.reshape(view));
  if (bias) y = y.add(bias.reshape(view));
  return y;
}

/**
 * torch.nn.functional.binary_cross_entropy on probabilities: -w (t log x + (1 - t) log(1 - x)),
 * each log clamped at -100 as torch clamps it (so x = 0 or 1 gives a finite loss).
 */
export function binaryCrossEntropy(input: Tensor, target: Tensor, options: {
  /** Rescales each element's loss, broadcast against the input. */
  weight?: Tensor;
  /** 'mean' (default), 'sum', or 'none' for one loss per element. */
  reduction?: Reduction;
} = {}): Tensor {
  tensors('binaryCrossEntropy', input, target);
  const opt = lossOptions<{ weight?: Tensor; reduction?: Reduction }>('binaryCrossEntropy', options);
  if (target.ndim !== input.ndim || target.shape.some((d, i) => d !== input.shape[i])) {
    throw new ShapeError('binaryCrossEntropy', `target size ${fmtShape(target.shape)} must be the same as input size ${fmtShape(input.shape)}`);
  }
  if (!isFloating(input.dtype) || !isFloating(target.dtype)) throw new DTypeError('binaryCrossEntropy', `input and target must be floating (probabilities), got ${input.dtype} and ${target.dtype}`);
  const logX = input.log().clamp(-100), log1mX = input.neg().log1p().clamp(-100);
  let loss = target.mul(logX).add(target.neg().add(1).mul(log1mX)).neg();
  if (opt.weight) loss = loss.mul(opt.weight);
  return reduce(loss, opt.reduction);
}

/** interpolate's options (torch's keyword arguments): size or scaleFactor, exactly one of them. */
export interface InterpolateOptions {
  /** The output's spatial size (one number for every spatial dim, or one each). */
  size?: number | readonly number[];
  /** Or the factor each spatial dim grows by (the output size is floor(size * factor)). */
  scaleFactor?: number | readonly number[];
  /**
   * 'nearest' (default; torch's, source index floor(j * scale)), 'linear' for `[N, C, L]`, 'bilinear'
   * for `[N, C, H, W]`.
   */
  mode?: 'nearest' | 'linear' | 'bilinear';
  /** linear/bilinear: sample at corner pixels' centres (true) or by half-pixel offsets (false, torch's default). */
  alignCorners?: boolean;
}

/**
 * torch.nn.functional.interpolate for [N, C, L] (nearest, linear) and [N, C, H, W] (nearest,
 * bilinear): each spatial dim resampled in turn, by torch's source-index rules, as index selects and
 * a linear blend, so it is differentiable and runs on every backend.
 */
export function interpolate(x: Tensor, options: InterpolateOptions): Tensor {
  tensors('interpolate', x);
  const opt = checkOptions<InterpolateOptions>('interpolate', options);
  const mode = opt.mode ?? 'nearest';
  const spatial = x.ndim - 2;
  if (spatial < 1 || spatial > 2) throw new ShapeError('interpolate', `input must be [N, C, L] or [N, C, H, W], got ${fmtShape(x.shape)}`);
  if (mode !== 'nearest' && (mode === 'linear') !== (spatial === 1)) throw new ArgumentError('interpolate', `mode '${mode}' takes ${mode === 'linear' ? '3' : '4'}-D input, got ${x.ndim}-D`);
  if (!['nearest', 'linear', 'bilinear'].includes(mode)) throw new NotImplementedError('interpolate', `mode '${mode}' is not implemented (nearest, linear and bilinear are)`);
  if ((opt.size === undefined) === (opt.scaleFactor === undefined)) throw new ArgumentError('interpolate', 'exactly one of size and scaleFactor must be given');
  if (mode === 'nearest' && opt.alignCorners !== undefined) throw new ArgumentError('interpolate', 'alignCorners only has an effect for linear and bilinear modes');
  const each = <T>(v: T | readonly T[]): T[] => (Array.isArray(v) ? [...v] : Array<T>(spatial).fill(v as T));
  const factors = opt.scaleFactor === undefined ? undefined : each(opt.scaleFactor);
  const sizes = opt.size !== undefined ? each(opt.size) : x.shape.slice(2).map((n, i) => Math.floor(n * factors![i]!));
  if (sizes.length !== spatial || (factors && factors.length !== spatial)) throw new ArgumentError('interpolate', `needs ${spatial} sizes or factors, got ${describe(opt.size ?? opt.scaleFactor)}`);
  let y = x;
  sizes.forEach((out, i) => {
    const d = 2 + i, n = x.shape[d]!;
    checkInt('interpolate', 'size', out, 1);
    // torch's scale: 1 / the given factor, else in / out.
    const scale = factors ? 1 / factors[i]! : n / out;
    const at = (idx: number[]) => tensor(idx, { dtype: 'int64', device: x.device });
    if (mode === 'nearest') {
      y = y.indexSelect(d, at(Array.from({ length: out }, (_, j) => Math.min(Math.floor(j * scale), n - 1))));
      return;
    }
    const src = Array.from({ length: out }, (_, j) => (opt.alignCorners ? (out > 1 ? (j * (n - 1)) / (out - 1) : 0) : Math.max((j + 0.5) * scale - 0.5, 0)));
    const i0 = src.map((v) => Math.min(Math.floor(v), n - 1)), i1 = i0.map((v) => Math.min(v + 1, n - 1));
    const w = tensor(src.map((v, j) => v - i0[j]!), { dtype: y.dtype, device: x.device }).reshape(y.shape.map((_, k) => (k === d ? out : 1)));
    const lo = y.indexSelect(d, at(i0)), hi = y.indexSelect(d, at(i1));
    y = lo.add(hi.sub(lo).mul(w));
  });
  return y;
}

/** convTranspose2d's options, torch's keyword arguments; a pair is (height, width). */
export interface ConvTranspose2dOptions {
  /** Step between the positions each input pixel scatters to (default 1). */
  stride?: number | [number, number];
  /** Rows and columns cut from each side of the output, undoing a conv2d's padding (default 0). */
  padding?: number | [number, number];
  /** Rows and columns added at the bottom and right; smaller than the stride or the dilation (default 0). */
  outputPadding?: number | [number, number];
  /** Channel groups convolved separately (default 1). */
  groups?: number;
  /** Spacing between kernel taps (default 1). */
  dilation?: number | [number, number];
}

/**
 * torch.nn.functional.conv_transpose2d: the adjoint of conv2d (its gradient with respect to the
 * input), weight [inChannels, outChannels / groups, kh, kw]. Each input pixel scatters its kernel
 * into the output: weight^T x as columns, then fold, with outputPadding rows and columns added at the
 * end as torch adds them.
 */
export function convTranspose2d(x: Tensor, weight: Tensor, bias?: Tensor, options: ConvTranspose2dOptions = {}): Tensor {
  tensors('convTranspose2d', x, weight, ...(bias ? [bias] : []));
  const opt = checkOptions<ConvTranspose2dOptions>('convTranspose2d', options);
  if (x.ndim !== 4 && x.ndim !== 3) throw new ShapeError('convTranspose2d', `input must be [N, C, H, W] or [C, H, W], got ${fmtShape(x.shape)}`);
  if (x.ndim === 3) return convTranspose2d(x.unsqueeze(0), weight, bias, opt).squeeze(0);
  if (weight.ndim !== 4) throw new ShapeError('convTranspose2d', `weight must be [inChannels, outChannels / groups, kh, kw], got ${fmtShape(weight.shape)}`);
  const [n, cin, h, w] = x.shape as [number, number, number, number];
  const [wIn, coutG, kh, kw] = weight.shape as [number, number, number, number];
  const groups = checkInt('convTranspose2d', 'groups', opt.groups ?? 1, 1);
  if (wIn !== cin || cin % groups) throw new ShapeError('convTranspose2d', `weight's ${wIn} input channels must be the input's ${cin}, divisible by groups=${groups}`);
  const two = (v: number | [number, number] | undefined, d: number, what: string): [number, number] => {
    const [a, b] = Array.isArray(v) ? v : [v ?? d, v ?? d];
    return [checkInt('convTranspose2d', what, a, 0), checkInt('convTranspose2d', what, b, 0)];
  };
  const stride = two(opt.stride, 1, 'stride'), padding = two(opt.padding, 0, 'padding'), dilation = two(opt.dilation, 1, 'dilation'), outPad = two(opt.outputPadding, 0, 'outputPadding');
  if (stride.some((s) => s < 1) || dilation.some((d) => d < 1)) throw new ArgumentError('convTranspose2d', 'stride and dilation must be at least 1');
  if (outPad.some((o, i) => o >= stride[i]! && o >= dilation[i]!)) throw new ArgumentError('convTranspose2d', `outputPadding ${fmtShape(outPad)} must be smaller than either stride or dilation`);
  const cout = coutG * groups;
  const size = [h, w].map((v, i) => (v - 1) * stride[i]! - 2 * padding[i]! + dilation[i]! * ([kh, kw][i]! - 1) + outPad[i]! + 1);
  if (size.some((v) => v < 1)) throw new ShapeError('convTranspose2d', `the output size ${fmtShape(size)} is not positive`);
  // Columns per group: weight_g^T [coutG*kh*kw, cin/g] times x_g [cin/g, H*W].
  const wT = weight.reshape([groups, cin / groups, coutG * kh * kw]).transpose(1, 2);
  const cols = wT.matmul(x.reshape([n, groups, cin / groups, h * w])).reshape([n, cout * kh * kw, h * w]);
  // The whole canvas every column reaches, then torch's window of it: `padding` cut at the start, and
  // at the end `padding - outputPadding` cut (or, where negative, zero rows and columns added).
  const canvas = [h, w].map((v, i) => (v - 1) * stride[i]! + dilation[i]! * ([kh, kw][i]! - 1) + 1) as [number, number];
  const full = fold(cols, { kernelSize: [kh, kw], stride, dilation, outputSize: canvas });
  const y = pad(full, [-padding[1], outPad[1] - padding[1], -padding[0], outPad[0] - padding[0]]);
  return bias ? y.add(bias.reshape([1, cout, 1, 1])) : y;
}
