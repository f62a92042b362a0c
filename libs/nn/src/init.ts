/** In-place initialisers (torch.nn.init): values drawn from the default generator, outside the graph. */
import { ArgumentError, fmtShape } from '@tessera/ops';
import { type Tensor, rand, randn } from '@tessera/tensor';
import { noGrad } from '@tessera/autograd';

/** fan_in and fan_out as PyTorch computes them ([out, in, ...kernel]). */
export function fans(t: Tensor): {
  /** `shape[1]` times the receptive field (the product of the dims after 1). */
  fanIn: number;
  /** `shape[0]` times the receptive field. */
  fanOut: number;
} {
  if (t.ndim < 2) throw new ArgumentError('init', `fan in/out need at least 2 dims, got ${fmtShape(t.shape)}`);
  const receptive = t.shape.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: t.shape[1]! * receptive, fanOut: t.shape[0]! * receptive };
}

/** torch.nn.init.uniform_: fills t in place from U(a, b), default U(0, 1); returns t. */
export const uniform_ = (t: Tensor, a = 0, b = 1): Tensor =>
  noGrad(() => t.copy_(rand(t.shape.slice(), { dtype: t.dtype }).mul(b - a).add(a)));
/** torch.nn.init.normal_: fills t in place from a normal of mean `mean` and standard deviation `std`; returns t. */
export const normal_ = (t: Tensor, mean = 0, std = 1): Tensor =>
  noGrad(() => t.copy_(randn(t.shape.slice(), { dtype: t.dtype }).mul(std).add(mean)));
/** torch.nn.init.zeros_: fills t with 0 in place; returns t. */
export const zeros_ = (t: Tensor): Tensor => noGrad(() => t.fill_(0));
/** torch.nn.init.ones_: fills t with 1 in place; returns t. */
export const ones_ = (t: Tensor): Tensor => noGrad(() => t.fill_(1));

/** Gain for a nonlinearity, as torch.nn.init.calculate_gain. */
export function gain(nonlinearity: 'linear' | 'relu' | 'tanh' | 'sigmoid' | 'leakyRelu', param = 0.01): number {
  return { linear: 1, sigmoid: 1, tanh: 5 / 3, relu: Math.SQRT2, leakyRelu: Math.sqrt(2 / (1 + param * param)) }[nonlinearity];
}

/** kaimingUniform_'s and kaimingNormal_'s options, torch's keyword arguments. */
export interface KaimingOptions {
  /** The negative slope of the leaky ReLU that follows (used with 'leakyRelu'; default 0). */
  a?: number;
  /** 'fanIn' (default) keeps the forward pass's variance, 'fanOut' the backward pass's. */
  mode?: 'fanIn' | 'fanOut';
  /** The nonlinearity whose gain scales the spread (default 'leakyRelu', as torch's). */
  nonlinearity?: 'relu' | 'leakyRelu' | 'linear';
}
const kaimingStd = (t: Tensor, o: KaimingOptions) => {
  const f = fans(t);
  return gain(o.nonlinearity ?? 'leakyRelu', o.a ?? 0) / Math.sqrt(o.mode === 'fanOut' ? f.fanOut : f.fanIn);
};
/**
 * torch.nn.init.kaiming_uniform_ (He): fills t in place from U(-b, b), `b = gain * sqrt(3 / fan)`;
 * returns t. Throws ArgumentError when t has fewer than 2 dims.
 */
export const kaimingUniform_ = (t: Tensor, o: KaimingOptions = {}): Tensor => { const b = Math.sqrt(3) * kaimingStd(t, o); return uniform_(t, -b, b); };
/** torch.nn.init.kaiming_normal_ (He): fills t in place from N(0, std), `std = gain / sqrt(fan)`; returns t. */
export const kaimingNormal_ = (t: Tensor, o: KaimingOptions = {}): Tensor => normal_(t, 0, kaimingStd(t, o));
/** torch.nn.init.xavier_uniform_ (Glorot): U(-b, b) in place, `b = g * sqrt(6 / (fanIn + fanOut))`; returns t. */
export const xavierUniform_ = (t: Tensor, g = 1): Tensor => { const f = fans(t); const b = g * Math.sqrt(6 / (f.fanIn + f.fanOut)); return uniform_(t, -b, b); };
/** torch.nn.init.xavier_normal_ (Glorot): N(0, std) in place, `std = g * sqrt(2 / (fanIn + fanOut))`; returns t. */
export const xavierNormal_ = (t: Tensor, g = 1): Tensor => { const f = fans(t); return normal_(t, 0, g * Math.sqrt(2 / (f.fanIn + f.fanOut))); };
