/**
 * Sampling on devices whose reads are asynchronous (webgpu, gpujs, cuda): torch.multinomial composed
 * from tensor ops so the weights never leave the device. CPU tensors take the host loop in
 * factories.ts (same draws as before, errors at the call).
 */
import { ArgumentError } from '@tessera/ops';
import { checkFlag } from '../checks.js';
import { arange, rand } from '../factories.js';
import { untracked } from '../grad-hook.js';
import type { Generator } from '../random.js';
import { keep, tidy } from '../scope.js';
import type { Tensor } from '../tensor.js';

/**
 * `n` category indices per row of the weights `w` ([R, C], checked by the caller), on w's device.
 * With replacement each draw is the first category whose running sum of weights passes u * total
 * (u uniform in [0, 1)); without, the Gumbel-top-k form of drawing one at a time in proportion to
 * what is left: the n largest log(w) + Gumbel noise (the largest alone for n = 1). torch's checks
 * of the weights run on the device and raise at its next read (as torch's device-side asserts).
 */
export function multinomialOnDevice(w: Tensor, n: number, replacement: boolean, generator: Generator): Tensor {
  const [rows, c] = w.shape as [number, number];
  const device = w.device;
  const flag = (bad: Tensor, why: string) => checkFlag(keep(bad), () => new ArgumentError('multinomial', `${why} (found on the device; raised at its next read)`));
  return untracked(() => tidy(() => {
    flag(w.isfinite().logicalNot().logicalOr(w.lt(0)).any(), 'probability tensor contains either inf, nan or element < 0');
    flag(w.sum(1).le(0).any(), 'invalid multinomial distribution (sum of probabilities <= 0)');
    const positive = w.gt(0);
    if (!replacement) flag(positive.sum(1).lt(n).any(), `invalid multinomial distribution (with replacement=False, not enough non-negative category to sample) for ${n} samples`);
    if (!replacement) {
      const u = rand([rows, c], { generator, device });
      const keys = w.log().sub(u.log().neg().log());
      return n === 1 ? keys.argmax(1, { keepdim: true }) : keys.topk(n, 1).indices;
    }
    const cdf = w.cumsum(1);
    const u = rand([rows, n], { generator, device }).mul(cdf.narrow(1, c - 1, 1));
    const passed = cdf.unsqueeze(1).le(u.unsqueeze(2)).sum(2);
    // u * total may round up to the total: never past the last category of nonzero weight.
    const last = positive.mul(arange(c, { device })).amax(1, { keepdim: true });
    return passed.minimum(last);
  }));
}
