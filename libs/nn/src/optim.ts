/** Optimizers with PyTorch's update rules (so training curves match torch.optim step for step). */
import { ArgumentError, ELEMENTWISE } from '@tessera/ops';
import { type Tensor, elementwise, stack, zeros, zerosLike } from '@tessera/tensor';
import { noGrad } from '@tessera/autograd';

export interface ParamGroup { params: Tensor[]; lr: number; [hyper: string]: unknown }
type State = Record<string, Tensor | number>;

export abstract class Optimizer<H extends object> {
  readonly paramGroups: (ParamGroup & H)[];
  readonly state = new Map<Tensor, State>();

  constructor(params: Tensor[] | (Partial<H> & { params: Tensor[]; lr?: number })[], readonly defaults: H & { lr: number }) {
    const groups = params.length && !(params[0] as { params?: unknown }).params ? [{ params: params as Tensor[] }] : (params as { params: Tensor[] }[]);
    this.paramGroups = groups.map((g) => ({ ...defaults, ...g }) as ParamGroup & H);
    for (const g of this.paramGroups) {
      if (!(g.lr >= 0)) throw new ArgumentError(this.constructor.name, `invalid learning rate ${g.lr}`);
      for (const p of g.params) if (!p.requiresGrad) throw new ArgumentError(this.constructor.name, 'can only optimize tensors that require grad');
    }
  }

  /** Clears gradients (sets them to undefined, PyTorch's set_to_none default). */
  zeroGrad(): void {
    for (const g of this.paramGroups) for (const p of g.params) p.grad = undefined;
  }

  step(): void {
    noGrad(() => {
      for (const group of this.paramGroups) {
        for (const p of group.params) {
          if (!p.grad) continue;
          let st = this.state.get(p);
          if (!st) this.state.set(p, (st = {}));
          this.update(p, p.grad, st, group);
        }
      }
    });
  }

  protected abstract update(p: Tensor, grad: Tensor, state: State, group: ParamGroup & H): void;

  /** State by parameter index and the groups' hyperparameters (params as indices), as PyTorch. */
  stateDict(): { state: Record<number, State>; paramGroups: Record<string, unknown>[] } {
    const all = this.paramGroups.flatMap((g) => g.params);
    const state: Record<number, State> = {};
    all.forEach((p, i) => { const s = this.state.get(p); if (s) state[i] = { ...s }; });
    let at = 0;
    const paramGroups = this.paramGroups.map(({ params, ...h }) => ({ ...h, params: params.map(() => at++) }));
    return { state, paramGroups };
  }

  loadStateDict(sd: { state: Record<number, State>; paramGroups: Record<string, unknown>[] }): void {
    if (sd.paramGroups.length !== this.paramGroups.length) throw new ArgumentError('loadStateDict', `state has ${sd.paramGroups.length} parameter groups, the optimizer ${this.paramGroups.length}`);
    const all = this.paramGroups.flatMap((g) => g.params);
    sd.paramGroups.forEach((g, i) => {
      const { params, ...h } = g as { params: number[] };
      if (params.length !== this.paramGroups[i]!.params.length) throw new ArgumentError('loadStateDict', `group ${i} has ${params.length} parameters in the state, ${this.paramGroups[i]!.params.length} here`);
      Object.assign(this.paramGroups[i]!, h);
    });
    this.state.clear();
    for (const [i, s] of Object.entries(sd.state)) {
      const p = all[Number(i)];
      if (!p) throw new ArgumentError('loadStateDict', `state for parameter ${i}, but the optimizer has ${all.length}`);
      this.state.set(p, Object.fromEntries(Object.entries(s).map(([k, v]) => [k, typeof v === 'number' ? v : v.clone()])));
    }
  }
}

export interface SGDOptions { lr: number; momentum?: number; dampening?: number; weightDecay?: number; nesterov?: boolean }

export class SGD extends Optimizer<Required<SGDOptions>> {
  constructor(params: Tensor[], opt: SGDOptions) {
    const o = { momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, ...opt };
    if (o.nesterov && (o.momentum <= 0 || o.dampening !== 0)) throw new ArgumentError('SGD', 'nesterov needs momentum > 0 and dampening = 0');
    super(params, o);
  }
  protected update(p: Tensor, grad: Tensor, st: State, g: Required<SGDOptions>): void {
    // As torch's SGD: d = grad + wd * p; buf = momentum * buf + (1 - dampening) * d; p -= lr * (nesterov ? d + momentum * buf : buf).
    const temps: Tensor[] = [];
    const temp = (t: Tensor) => { temps.push(t); return t; };
    let d = g.weightDecay ? temp(grad.add(p, { alpha: g.weightDecay })) : grad;
    if (g.momentum) {
      const buf = st['momentumBuffer'] as Tensor | undefined;
      const nb = buf ? buf.mul_(g.momentum).add_(d, { alpha: 1 - g.dampening }) : d.clone();
      st['momentumBuffer'] = nb;
      d = g.nesterov ? temp(d.add(nb, { alpha: g.momentum })) : nb;
    }
    p.add_(d, { alpha: -g.lr });
    // The step's temporaries go straight back to the allocator (a training loop makes them every step).
    for (const t of temps) t.dispose();
  }
}

export interface AdamOptions { lr?: number; betas?: [number, number]; eps?: number; weightDecay?: number; amsgrad?: boolean }

class AdamBase extends Optimizer<Required<AdamOptions>> {
  constructor(params: Tensor[], opt: AdamOptions, private readonly decoupled: boolean, defaultDecay: number) {
    super(params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: defaultDecay, amsgrad: false, ...opt });
  }
  /**
   * torch.optim.Adam(W)'s update in four passes over the parameter: the moments as lerps (as torch
   * computes them), then one fused pass for decay, bias corrections and the step (adamUpdate).
   */
  protected update(p: Tensor, grad: Tensor, st: State, g: Required<AdamOptions>): void {
    const [b1, b2] = g.betas;
    if (!this.decoupled && g.weightDecay) grad = grad.add(p, { alpha: g.weightDecay });
    const step = ((st['step'] as number | undefined) ?? 0) + 1;
    const m = ((st['expAvg'] as Tensor | undefined) ?? zerosLike(p)).lerp_(grad, 1 - b1);
    const sq = grad.square();
    const v = ((st['expAvgSq'] as Tensor | undefined) ?? zerosLike(p)).lerp_(sq, 1 - b2);
    // The step's temporaries go straight back to the allocator (a training loop makes them every step).
    sq.dispose();
    if (grad !== p.grad) grad.dispose();
    Object.assign(st, { step, expAvg: m, expAvgSq: v });
    let second = v;
    if (g.amsgrad) { second = st['maxExpAvgSq'] ? (st['maxExpAvgSq'] as Tensor).maximum(v) : v.clone(); st['maxExpAvgSq'] = second; }
    const decay = this.decoupled && g.weightDecay ? 1 - g.lr * g.weightDecay : 1;
    const params = { decay, stepSize: g.lr / (1 - b1 ** step), bc2: Math.sqrt(1 - b2 ** step), eps: g.eps };
    elementwise(ELEMENTWISE['adamUpdate']!, [p, m, second], params, p);
  }
}

/** Adam (L2 weight decay added to the gradient). */
export class Adam extends AdamBase { constructor(params: Tensor[], opt: AdamOptions = {}) { super(params, opt, false, 0); } }
/** AdamW (decoupled weight decay, default 0.01). */
export class AdamW extends AdamBase { constructor(params: Tensor[], opt: AdamOptions = {}) { super(params, opt, true, 0.01); } }

/**
 * Scales gradients so their total norm is at most maxNorm; returns the total norm before clipping as
 * a 0-d tensor, as torch does. Everything stays on the gradients' device: no value is read back, so
 * an asynchronous device (WebGPU) is never made to wait.
 */
export function clipGradNorm_(params: Tensor[], maxNorm: number, normType = 2): Tensor {
  return noGrad(() => {
    const grads = params.map((p) => p.grad).filter((g): g is Tensor => g !== undefined);
    if (!grads.length) return zeros([]);
    const total = stack(grads.map((g) => g.norm(normType))).norm(normType);
    const coef = total.add(1e-6).reciprocal().mul(maxNorm).clamp(undefined, 1);
    for (const g of grads) g.mul_(coef);
    return total;
  });
}

export function clipGradValue_(params: Tensor[], clip: number): void {
  noGrad(() => { for (const p of params) p.grad?.clamp_(-clip, clip); });
}
