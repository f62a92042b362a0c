/** In-place initialisers (torch.nn.init): values drawn from the default generator, outside the graph. */
import { ArgumentError, fmtShape } from '@tessera/ops';
import { type Tensor, rand, randn } from '@tessera/tensor';
import { noGrad } from '@tessera/autograd';

/** fan_in and fan_out as PyTorch computes them ([out, in, ...kernel]). */
export function fans(t: Tensor): { fanIn: number; fanOut: number } {
  if (t.ndim < 2) throw new ArgumentError('init', `fan in/out need at least 2 dims, got ${fmtShape(t.shape)}`);
  const receptive = t.shape.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: t.shape[1]! * receptive, fanOut: t.shape[0]! * receptive };
}

export const uniform_ = (t: Tensor, a = 0, b = 1): Tensor =>
  noGrad(() => t.copy_(rand(t.shape.slice(), { dtype: t.dtype }).mul(b - a).add(a)));
export const normal_ = (t: Tensor, mean = 0, std = 1): Tensor =>
  noGrad(() => t.copy_(randn(t.shape.slice(), { dtype: t.dtype }).mul(std).add(mean)));
export const zeros_ = (t: Tensor): Tensor => noGrad(() => t.fill_(0));
export const ones_ = (t: Tensor): Tensor => noGrad(() => t.fill_(1));

/** Gain for a nonlinearity, as torch.nn.init.calculate_gain. */
export function gain(nonlinearity: 'linear' | 'relu' | 'tanh' | 'sigmoid' | 'leakyRelu', param = 0.01): number {
  return { linear: 1, sigmoid: 1, tanh: 5 / 3, relu: Math.SQRT2, leakyRelu: Math.sqrt(2 / (1 + param * param)) }[nonlinearity];
}

export interface KaimingOptions { a?: number; mode?: 'fanIn' | 'fanOut'; nonlinearity?: 'relu' | 'leakyRelu' | 'linear' }
const kaimingStd = (t: Tensor, o: KaimingOptions) => {
  const f = fans(t);
  return gain(o.nonlinearity ?? 'leakyRelu', o.a ?? 0) / Math.sqrt(o.mode === 'fanOut' ? f.fanOut : f.fanIn);
};
export const kaimingUniform_ = (t: Tensor, o: KaimingOptions = {}): Tensor => { const b = Math.sqrt(3) * kaimingStd(t, o); return uniform_(t, -b, b); };
export const kaimingNormal_ = (t: Tensor, o: KaimingOptions = {}): Tensor => normal_(t, 0, kaimingStd(t, o));
export const xavierUniform_ = (t: Tensor, g = 1): Tensor => { const f = fans(t); const b = g * Math.sqrt(6 / (f.fanIn + f.fanOut)); return uniform_(t, -b, b); };
export const xavierNormal_ = (t: Tensor, g = 1): Tensor => { const f = fans(t); return normal_(t, 0, g * Math.sqrt(2 / (f.fanIn + f.fanOut))); };
