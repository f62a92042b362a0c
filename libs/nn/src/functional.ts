/** Losses and stateless layers (torch.nn.functional), composed from differentiable tensor ops. */
import { ArgumentError, DTypeError, ELEMENTWISE, ShapeError, fmtShape } from '@tessera/ops';
import { type Tensor, elementwise, rand } from '@tessera/tensor';

export type Reduction = 'mean' | 'sum' | 'none';

function reduce(loss: Tensor, reduction: Reduction = 'mean'): Tensor {
  return reduction === 'none' ? loss : reduction === 'sum' ? loss.sum() : loss.mean();
}

export function mseLoss(input: Tensor, target: Tensor, opt: { reduction?: Reduction } = {}): Tensor {
  return reduce(input.sub(target).square(), opt.reduction);
}

export function l1Loss(input: Tensor, target: Tensor, opt: { reduction?: Reduction } = {}): Tensor {
  return reduce(input.sub(target).abs(), opt.reduction);
}

export interface NllOptions { reduction?: Reduction; ignoreIndex?: number; weight?: Tensor }

/** Negative log-likelihood of class indices given log-probabilities [N, C, ...]. */
export function nllLoss(logProbs: Tensor, target: Tensor, opt: NllOptions = {}): Tensor {
  if (target.dtype !== 'int64' && target.dtype !== 'int32') throw new DTypeError('nllLoss', `target must hold class indices (int64/int32), got ${target.dtype}`);
  const expected = [logProbs.shape[0], ...logProbs.shape.slice(2)];
  if (logProbs.ndim < 2 || target.ndim !== expected.length || target.shape.some((d, i) => d !== expected[i])) {
    throw new ShapeError('nllLoss', `input ${fmtShape(logProbs.shape)} ([N, C, ...]) needs target of shape ${fmtShape(expected as number[])}, got ${fmtShape(target.shape)}`);
  }
  const keep = target.ne(opt.ignoreIndex ?? -100);
  const safe = target.where(keep, 0);
  let picked = logProbs.gather(1, safe.unsqueeze(1)).squeeze(1).neg();
  let w = keep.to(logProbs.dtype);
  if (opt.weight) w = w.mul(opt.weight.indexSelect(0, safe.reshape(-1)).reshape(safe.shape));
  picked = picked.mul(w);
  if (opt.reduction === 'none') return picked;
  return opt.reduction === 'sum' ? picked.sum() : picked.sum().div(w.sum());
}

export interface CrossEntropyOptions extends NllOptions { labelSmoothing?: number }

/**
 * Cross entropy of logits [N, C, ...] against class indices, with PyTorch's ignoreIndex and label
 * smoothing: (1 - e) * nll + e * mean over classes of -log p.
 */
export function crossEntropy(logits: Tensor, target: Tensor, opt: CrossEntropyOptions = {}): Tensor {
  const eps = opt.labelSmoothing ?? 0;
  if (eps < 0 || eps > 1) throw new ArgumentError('crossEntropy', `labelSmoothing must be in [0, 1], got ${eps}`);
  const logp = logits.logSoftmax(1);
  if (eps === 0) return nllLoss(logp, target, opt);
  const nll = nllLoss(logp, target, { ...opt, reduction: 'none' });
  const keep = target.ne(opt.ignoreIndex ?? -100).to(logits.dtype);
  const classes = logits.shape[1]!;
  const cw = opt.weight ? logp.mul(opt.weight.reshape([1, classes, ...logits.shape.slice(2).map(() => 1)])) : logp;
  const smooth = cw.sum(1).neg().div(classes).mul(keep);
  const loss = nll.mul(1 - eps).add(smooth.mul(eps));
  if (opt.reduction === 'none') return loss;
  if (opt.reduction === 'sum') return loss.sum();
  const denom = opt.weight ? opt.weight.indexSelect(0, target.where(target.ne(opt.ignoreIndex ?? -100), 0).reshape(-1)).reshape(target.shape).mul(keep).sum() : keep.sum();
  return loss.sum().div(denom);
}

/** Binary cross entropy on logits, in the overflow-free form max(x, 0) - x y + log(1 + exp(-|x|)). */
export function bceWithLogits(logits: Tensor, target: Tensor, opt: { reduction?: Reduction; posWeight?: Tensor } = {}): Tensor {
  const logSigNeg = logits.abs().neg().exp().log1p().add(logits.neg().clamp(0)); // -log sigmoid(x)
  const loss = opt.posWeight
    ? logSigNeg.mul(opt.posWeight.sub(1).mul(target).add(1)).add(logits.mul(target.neg().add(1)))
    : logits.clamp(0).sub(logits.mul(target)).add(logits.abs().neg().exp().log1p());
  return reduce(loss, opt.reduction);
}

/** Zeroes elements with probability p during training and rescales the rest by 1/(1-p). */
export function dropout(x: Tensor, p = 0.5, training = true): Tensor {
  if (p < 0 || p > 1) throw new ArgumentError('dropout', `p must be in [0, 1], got ${p}`);
  if (!training || p === 0) return x;
  if (p === 1) return x.mul(0);
  return elementwise(ELEMENTWISE['dropout']!, [x, rand(x.shape.slice(), { dtype: x.dtype, device: x.device })], { params: { p } });
}

export interface AttentionOptions {
  /** Boolean (true = attend) or additive float mask, broadcast to [..., L, S]. */
  attnMask?: Tensor;
  isCausal?: boolean;
  dropoutP?: number;
  scale?: number;
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
  if (!m) causalCache.set(key, (m = rand([l, s], { device: like.device }).ge(0).tril()));
  return m;
}
