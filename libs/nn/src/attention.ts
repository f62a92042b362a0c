/**
 * torch.nn.MultiheadAttention: the same constructor options, parameters (inProjWeight [3E, E],
 * inProjBias [3E], outProj), layout ([L, N, E], or [N, L, E] with batchFirst; unbatched [L, E]),
 * masks (a bool attnMask or keyPaddingMask is true where attention is NOT allowed, a float one is
 * added to the scores) and result: `[output, weights]`, the weights averaged over heads (or per head
 * with averageAttnWeights false) when needWeights, as torch's default, else undefined and the
 * product fused as scaledDotProductAttention's.
 */
import { ArgumentError, ShapeError, fmtShape } from '@tessera/ops';
import { type Tensor, ones, tril, zeros } from '@tessera/tensor';
import { dropout, linear, scaledDotProductAttention } from './functional.js';
import { xavierUniform_, zeros_ } from './init.js';
import { Linear } from './layers.js';
import { Module, parameter } from './module.js';

/** MultiheadAttention's constructor options, torch's keyword arguments (and causal). */
export interface MultiheadAttentionOptions {
  /** Dropout on the attention weights in training (default 0). */
  dropout?: number;
  /** Biases in the projections (default true). */
  bias?: boolean;
  /** Inputs [N, L, E] (true) or [L, N, E] (torch's default, false). */
  batchFirst?: boolean;
  /** Tessera's own: every call masks the future, as isCausal does (kept for models written before isCausal). */
  causal?: boolean;
}

/** forward's keyword arguments, as torch's. */
export interface MultiheadAttentionCall {
  /** [N, S] (or [S] unbatched): true (or -inf) where a key is padding. */
  keyPaddingMask?: Tensor;
  /** Return the attention weights (torch's default: true); false takes the fused path. */
  needWeights?: boolean;
  /** `[L, S]` or [N * numHeads, L, S]: true (bool) where attention is not allowed, or added (float). */
  attnMask?: Tensor;
  /** With needWeights: the weights averaged over heads [N, L, S] (default) or per head [N, H, L, S]. */
  averageAttnWeights?: boolean;
  /** Mask the future (with or without attnMask). */
  isCausal?: boolean;
}

/**
 * torch.nn.MultiheadAttention: forward(query, key?, value?, call?) returns `[output, weights]`, the
 * output shaped as the query. Queries, keys and values are all embedDim wide (torch's kdim and vdim
 * are not supported). Throws ArgumentError when numHeads does not divide embedDim.
 */
export class MultiheadAttention extends Module<[Tensor, Tensor?, Tensor?, MultiheadAttentionCall?], [Tensor, Tensor | undefined]> {
  /** The query, key and value projections stacked, [3E, E] (torch's in_proj_weight). */
  inProjWeight: Tensor;
  /** Their biases, [3E] (undefined with bias false). */
  inProjBias: Tensor | undefined;
  /** The output projection. */
  outProj: Linear;
  /** Each head's width, embedDim / numHeads. */
  readonly headDim: number;
  /** Whether inputs are [N, L, E] rather than [L, N, E]. */
  readonly batchFirst: boolean;
  /** Dropout on the attention weights in training. */
  readonly dropout: number;
  /**
   * @param embedDim - E, the width of queries, keys, values and the output.
   * @param numHeads - heads, each embedDim / numHeads wide.
   * @param opt - dropout, bias, batchFirst and causal.
   */
  constructor(readonly embedDim: number, readonly numHeads: number, readonly opt: MultiheadAttentionOptions = {}) {
    super();
    if (!Number.isInteger(numHeads) || numHeads < 1 || embedDim % numHeads) throw new ArgumentError('MultiheadAttention', `embedDim ${embedDim} must be divisible by numHeads ${numHeads}`);
    this.headDim = embedDim / numHeads;
    this.batchFirst = opt.batchFirst ?? false;
    this.dropout = opt.dropout ?? 0;
    // torch's _reset_parameters: xavier-uniform projections, zero biases.
    this.inProjWeight = parameter(xavierUniform_(zeros([3 * embedDim, embedDim])));
    this.inProjBias = opt.bias ?? true ? parameter(zeros([3 * embedDim])) : undefined;
    this.outProj = new Linear(embedDim, embedDim, { bias: opt.bias ?? true });
    if (this.outProj.bias) zeros_(this.outProj.bias);
  }

  /** Self-attention when key and value are omitted (torch takes them positionally: pass the query thrice). */
  forward(query: Tensor, key: Tensor = query, value: Tensor = key, call: MultiheadAttentionCall = {}): [Tensor, Tensor | undefined] {
    const unbatched = query.ndim === 2;
    if (!unbatched && query.ndim !== 3) throw new ShapeError('MultiheadAttention', `query must be [L, N, E], [N, L, E] with batchFirst, or [L, E], got ${fmtShape(query.shape)}`);
    const first = (x: Tensor) => (unbatched ? x.unsqueeze(0) : this.batchFirst ? x : x.transpose(0, 1));
    const [q0, k0, v0] = [first(query), key === query ? undefined : first(key), value === key ? undefined : first(value)];
    const [n, l, e] = q0.shape as [number, number, number];
    if (e !== this.embedDim) throw new ShapeError('MultiheadAttention', `query has ${e} features, expected embedDim ${this.embedDim}`);
    const kx = k0 ?? q0, vx = v0 ?? kx;
    const s = kx.shape[1]!;
    const heads = (x: Tensor, len: number) => x.reshape(n, len, this.numHeads, this.headDim).transpose(1, 2);
    const w = this.inProjWeight, b = this.inProjBias;
    let q: Tensor, k: Tensor, v: Tensor;
    if (k0 === undefined && v0 === undefined) {
      // Self-attention: one product with the packed weight, then its thirds.
      [q, k, v] = linear(q0, w, b).chunk(3, -1).map((t) => heads(t, l)) as [Tensor, Tensor, Tensor];
    } else {
      const proj = (x: Tensor, i: number) => linear(x, w.narrow(0, i * e, e), b?.narrow(0, i * e, e));
      [q, k, v] = [heads(proj(q0, 0), l), heads(proj(kx, 1), s), heads(proj(vx, 2), s)];
    }
    const mask = this.additiveMask(call, n, l, s, q0);
    const causal = (call.isCausal ?? false) || (this.opt.causal ?? false);
    let o: Tensor, weights: Tensor | undefined;
    if (call.needWeights ?? true) {
      let scores = q.matmul(k.transpose(-1, -2)).mul(1 / Math.sqrt(this.headDim));
      if (causal) scores = scores.maskedFill(tril(ones([l, s], { dtype: 'bool', device: q.device })).logicalNot(), -Infinity);
      if (mask) scores = scores.add(mask);
      const attn = scores.softmax(-1);
      // The weights returned are those applied to v: after dropout in training, as torch's.
      const applied = dropout(attn, this.dropout, this.training);
      o = applied.matmul(v);
      weights = call.averageAttnWeights ?? true ? applied.mean(1) : applied;
      if (unbatched) weights = weights.squeeze(0);
    } else {
      o = scaledDotProductAttention(q, k, v, { attnMask: mask, isCausal: causal, dropoutP: this.dropout, training: this.training });
    }
    const out = this.outProj.forward(o.transpose(1, 2).reshape(n, l, e));
    return [unbatched ? out.squeeze(0) : this.batchFirst ? out : out.transpose(0, 1), weights];
  }

  /** attnMask and keyPaddingMask as one additive [N | 1, H | 1, L, S] tensor (0 where allowed, -inf where not), or undefined. */
  private additiveMask(call: MultiheadAttentionCall, n: number, l: number, s: number, like: Tensor): Tensor | undefined {
    const additive = (m: Tensor) => (m.dtype === 'bool' ? zeros(m.shape, { dtype: like.dtype, device: like.device }).maskedFill(m, -Infinity) : m);
    let mask: Tensor | undefined;
    if (call.attnMask) {
      const m = call.attnMask;
      if (m.ndim === 2 && m.shape[0] === l && m.shape[1] === s) mask = additive(m);
      else if (m.ndim === 3 && m.shape[0] === n * this.numHeads && m.shape[1] === l && m.shape[2] === s) mask = additive(m).reshape(n, this.numHeads, l, s);
      else throw new ShapeError('MultiheadAttention', `attnMask must be [${l}, ${s}] or [${n * this.numHeads}, ${l}, ${s}], got ${fmtShape(m.shape)}`);
    }
    if (call.keyPaddingMask) {
      const m = call.keyPaddingMask;
      const want = like.shape[0] === 1 && m.ndim === 1 ? [s] : [n, s];
      if (m.ndim !== want.length || m.shape.some((d, i) => d !== want[i])) throw new ShapeError('MultiheadAttention', `keyPaddingMask must be ${fmtShape(want)}, got ${fmtShape(m.shape)}`);
      const pad = additive(m).reshape(m.ndim === 1 ? [1, 1, 1, s] : [n, 1, 1, s]);
      mask = mask ? mask.add(pad) : pad;
    }
    return mask;
  }
}
