/** Multi-head attention over [N, L, E] (batch first), with an optional causal mask. */
import { ArgumentError } from '@tessera/ops';
import type { Tensor } from '@tessera/tensor';
import { scaledDotProductAttention } from './functional.js';
import { Linear } from './layers.js';
import { Module } from './module.js';

export interface MultiheadAttentionOptions { bias?: boolean; dropout?: number; causal?: boolean }

export class MultiheadAttention extends Module {
  inProj: Linear;
  outProj: Linear;
  readonly headDim: number;
  constructor(readonly embedDim: number, readonly numHeads: number, readonly opt: MultiheadAttentionOptions = {}) {
    super();
    if (embedDim % numHeads) throw new ArgumentError('MultiheadAttention', `embedDim ${embedDim} must be divisible by numHeads ${numHeads}`);
    this.headDim = embedDim / numHeads;
    this.inProj = new Linear(embedDim, 3 * embedDim, { bias: opt.bias ?? true });
    this.outProj = new Linear(embedDim, embedDim, { bias: opt.bias ?? true });
  }

  /** Self-attention when key/value are omitted; attnMask is boolean (true = attend) or additive. */
  forward(query: Tensor, key: Tensor = query, value: Tensor = key, attnMask?: Tensor): Tensor {
    const [n, l, e] = query.shape as [number, number, number];
    const s = key.shape[1]!;
    const w = this.inProj.weight, b = this.inProj.bias;
    const heads = (x: Tensor, len: number) => x.reshape(n, len, this.numHeads, this.headDim).transpose(1, 2);
    let q: Tensor, k: Tensor, v: Tensor;
    if (key === query && value === query) {
      // Self-attention: one product with the packed weight (as PyTorch's in_proj), then its thirds.
      [q, k, v] = this.inProj.forward(query).chunk(3, -1).map((t) => heads(t, l)) as [Tensor, Tensor, Tensor];
    } else {
      const proj = (x: Tensor, i: number) => {
        const y = x.matmul(w.narrow(0, i * e, e).t());
        return b ? y.add(b.narrow(0, i * e, e)) : y;
      };
      [q, k, v] = [heads(proj(query, 0), l), heads(proj(key, 1), s), heads(proj(value, 2), s)];
    }
    const o = scaledDotProductAttention(q, k, v, { attnMask, isCausal: this.opt.causal, dropoutP: this.opt.dropout ?? 0, training: this.training });
    return this.outProj.forward(o.transpose(1, 2).reshape(n, l, e));
  }
}
