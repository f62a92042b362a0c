/** Optimizers with PyTorch's update rules (so training curves match torch.optim step for step). */
import { ArgumentError, ELEMENTWISE, checkNumber, describe, fmtShape } from '@tessera/ops';
import { Tensor, elementwise, keep, stack, zeros, zerosLike } from '@tessera/tensor';
import { noGrad } from '@tessera/autograd';

/** One parameter group: its parameters and hyperparameters (torch's param_groups entry). */
export interface ParamGroup {
  /** The group's parameters, each once. */
  params: Tensor[];
  /** The group's learning rate, which a scheduler rewrites every step. */
  lr: number;
  [hyper: string]: unknown;
}
/** One optimizer's per-parameter state (moments, step count, momentum buffer). */
export type OptimizerState = Record<string, Tensor | number>;
type State = OptimizerState;
/** What an optimizer is built from: parameters, or groups of them with their own hyperparameters (torch's param groups). */
export type ParamsInput<H> = Iterable<Tensor> | (Partial<H> & { params: Iterable<Tensor>; lr?: number })[];

// `Optimizer` alone is any optimizer (as AnyModule is any module): its hyperparameters vary per subclass.
/** The base of the optimizers (torch.optim.Optimizer): parameter groups, per-parameter state, step, state dicts. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export abstract class Optimizer<H extends object = any> {
  /** The parameter groups, each with its hyperparameters (torch's param_groups); a scheduler changes their lr. */
  readonly paramGroups: (ParamGroup & H)[];
  /** Per-parameter state (momentum buffers, step counts), created by the first step that updates it. */
  readonly state = new Map<Tensor, State>();
  /** Which group each parameter is in. */
  private readonly groupOf = new Map<Tensor, number>();
  /** zerosState's slices: per state key, each parameter's view into its buffer. */
  private readonly slices = new Map<string, Map<Tensor, Tensor>>();
  /** The slices some state has held. */
  private readonly handedOut = new Set<Tensor>();

  /**
   * Throws ArgumentError when params is not a list of tensors or of groups, a parameter does not
   * require grad or is in two groups, or a learning rate is negative.
   * @param defaults - the hyperparameters of a group that does not set its own.
   */
  constructor(params: ParamsInput<H>, readonly defaults: H & {
    /** The learning rate of a group that does not set its own. */
    lr: number;
  }) {
    const name = this.constructor.name;
    if (params === null || typeof params !== 'object' || !(Symbol.iterator in params)) throw new ArgumentError(name, `params must be a list of tensors or of parameter groups, got ${describe(params)}`);
    const list = [...(params as Iterable<unknown>)];
    const grouped = list.length > 0 && !(list[0] instanceof Tensor);
    const groups = (grouped ? list : [{ params: list }]) as { params: Iterable<Tensor> }[];
    this.paramGroups = [];
    for (const g of groups) this.addParamGroup(g as Partial<H> & { params: Iterable<Tensor> });
  }

  /**
   * torch's add_param_group: a group of parameters with its own hyperparameters (the defaults for
   * those it leaves out), as a model unfreezes layers during fine-tuning. A parameter may be in one
   * group only; one listed twice in a group (tied weights through a hand-made list) is stepped once.
   */
  addParamGroup(g: Partial<H> & { params: Iterable<Tensor>; lr?: number }): void {
    const name = this.constructor.name, gi = this.paramGroups.length;
    if (g === null || typeof g !== 'object' || !g.params || !(Symbol.iterator in g.params)) throw new ArgumentError(name, `parameter group ${gi} must be { params: Tensor[], ...hyperparameters }, got ${describe(g)}`);
    const unique: Tensor[] = [];
    for (const p of g.params) {
      if (!(p instanceof Tensor)) throw new ArgumentError(name, `can only optimize tensors, got ${describe(p)} in group ${gi}`);
      if (!p.requiresGrad) throw new ArgumentError(name, 'can only optimize tensors that require grad');
      const other = this.groupOf.get(p);
      if (other !== undefined && other !== gi) throw new ArgumentError(name, `a parameter of shape ${fmtShape(p.shape)} appears in parameter groups ${other} and ${gi}`);
      if (other === undefined) { this.groupOf.set(p, gi); unique.push(p); }
    }
    const group = { ...this.defaults, ...g, params: unique } as ParamGroup & H;
    if (!(typeof group.lr === 'number' && group.lr >= 0)) throw new ArgumentError(name, `invalid learning rate ${describe(group.lr)}`);
    this.paramGroups.push(group);
  }

  /** Clears gradients (sets them to undefined, PyTorch's set_to_none default). */
  zeroGrad(): void {
    for (const g of this.paramGroups) for (const p of g.params) p.grad = undefined;
  }

  /** Updates every parameter that has a gradient, once, without recording the update for autograd. */
  step(): void {
    noGrad(() => {
      for (const group of this.paramGroups) {
        for (const p of group.params) {
          if (!p.grad) continue;
          let st = this.state.get(p);
          if (!st) this.state.set(p, (st = {}));
          this.update(p, p.grad, st, group);
          // The optimizer owns its state: a tidy() around the step must not dispose it.
          for (const k in st) { const v = st[k]; if (typeof v === 'object' && !v.kept) keep(v); }
        }
      }
    });
  }

  /**
   * Zeros for parameter p's state `key` (a moment, a momentum buffer): on a backend that runs
   * groups of launches, a view into one buffer that holds `key` for every parameter of p's group
   * with p's dtype and device, made when the first of them needs it. Each parameter's state is
   * still its own tensor; sharing a buffer lets a compiled step run the per-parameter updates as a
   * few launches on WebGPU, whose kernels bind at most 16 buffers (compile's group.ts), as flat
   * buffers serve foreach kernels and FSDP. Elsewhere its own zeros, and on backends whose partial
   * writes pass over the whole buffer (Backend.wholeBufferWrites: gpu.js), where each eager update
   * of a slice would cost a pass over the shared buffer.
   */
  protected zerosState(p: Tensor, key: string): Tensor {
    const backend = p.storage.backend;
    if (!backend.groupable || backend.wholeBufferWrites) return zerosLike(p);
    const slot = this.stateSlot(p, key);
    // A slice handed out before belongs to state that was dropped, which a tensor the caller kept
    // from stateDict() may still be: the new state is fresh zeros then (as torch's).
    if (this.handedOut.has(slot)) return zerosLike(p);
    this.handedOut.add(slot);
    return slot;
  }

  /** p's slice of the buffer for state `key` (zerosState), made (as zeros) with its group's when missing. */
  private stateSlot(p: Tensor, key: string): Tensor {
    let byParam = this.slices.get(key);
    if (!byParam) this.slices.set(key, (byParam = new Map()));
    const have = byParam.get(p);
    if (have) return have;
    const group = this.paramGroups[this.groupOf.get(p)!]!;
    const members = group.params.filter((q) => q.dtype === p.dtype && q.device === p.device && !byParam.has(q));
    const flat = keep(zeros([members.reduce((n, q) => n + q.numel, 0)], { dtype: p.dtype, device: p.device }));
    let at = 0;
    for (const q of members) { byParam.set(q, keep(flat.narrow(0, at, q.numel).view(q.shape))); at += q.numel; }
    return byParam.get(p)!;
  }

  /** One parameter's update from its gradient, its state and its group's hyperparameters (what each optimizer defines). */
  protected abstract update(p: Tensor, grad: Tensor, state: State, group: ParamGroup & H): void;

  /** State by parameter index and the groups' hyperparameters (params as indices), as PyTorch. */
  stateDict(): {
    /** Each parameter's state by its index across the groups; the tensors are the live ones, not copies. */
    state: Record<number, State>;
    /** Each group's hyperparameters, its params as those indices. */
    paramGroups: Record<string, unknown>[];
  } {
    const all = this.paramGroups.flatMap((g) => g.params);
    const state: Record<number, State> = {};
    all.forEach((p, i) => { const s = this.state.get(p); if (s) state[i] = { ...s }; });
    let at = 0;
    const paramGroups = this.paramGroups.map(({ params, ...h }) => ({ ...h, params: params.map(() => at++) }));
    return { state, paramGroups };
  }

  /** Restores what stateDict() returned, onto the same parameters in the same order (state tensors are copied). */
  loadStateDict(sd: { state: Record<number, State>; paramGroups: Record<string, unknown>[] }): void {
    if (sd.paramGroups.length !== this.paramGroups.length) throw new ArgumentError('loadStateDict', `state has ${sd.paramGroups.length} parameter groups, the optimizer ${this.paramGroups.length}`);
    const all = this.paramGroups.flatMap((g) => g.params);
    sd.paramGroups.forEach((g, i) => {
      const { params, ...h } = g as { params: number[] };
      if (params.length !== this.paramGroups[i]!.params.length) throw new ArgumentError('loadStateDict', `group ${i} has ${params.length} parameters in the state, ${this.paramGroups[i]!.params.length} here`);
      Object.assign(this.paramGroups[i]!, h);
    });
    this.state.clear();
    // Fresh buffers: tensors an earlier stateDict() returned keep their values (torch copies too).
    this.slices.clear();
    this.handedOut.clear();
    for (const [i, s] of Object.entries(sd.state)) {
      const p = all[Number(i)];
      if (!p) throw new ArgumentError('loadStateDict', `state for parameter ${i}, but the optimizer has ${all.length}`);
      // Tensors are copied into the state's shared buffers (zerosState) where they fit, else cloned.
      const own = (k: string, v: Tensor): Tensor =>
        (v.dtype === p.dtype && v.shape.length === p.shape.length && v.shape.every((n, d) => n === p.shape[d])
          && p.storage.backend.groupable && !p.storage.backend.wholeBufferWrites
          ? noGrad(() => { const slot = this.stateSlot(p, k).copy_(v); this.handedOut.add(slot); return slot; })
          : v.clone());
      this.state.set(p, Object.fromEntries(Object.entries(s).map(([k, v]) => [k, typeof v === 'number' ? v : own(k, v)])));
    }
  }
}

/** SGD's hyperparameters, torch's keyword arguments. */
export interface SGDOptions {
  /** The learning rate (required, as in torch). */
  lr: number;
  /** Momentum factor; 0 (the default) keeps no momentum buffer. */
  momentum?: number;
  /** Dampening of the gradient's share in the momentum buffer (default 0). */
  dampening?: number;
  /** L2 penalty: `weightDecay * p` added to the gradient (default 0). */
  weightDecay?: number;
  /** Nesterov momentum; needs momentum > 0 and dampening 0 (default false). */
  nesterov?: boolean;
}

/**
 * torch.optim.SGD: `p -= lr * d`, d the gradient plus `weightDecay * p`; with momentum, d goes through
 * a buffer `buf = momentum * buf + (1 - dampening) * d` (the first step's buffer is d itself) and the
 * step is buf, or `d + momentum * buf` with nesterov. Throws ArgumentError for nesterov without
 * momentum > 0 and dampening 0.
 */
export class SGD extends Optimizer<Required<SGDOptions>> {
  constructor(params: ParamsInput<Required<SGDOptions>>, opt: SGDOptions) {
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

/** Adam's and AdamW's hyperparameters, torch's keyword arguments. */
export interface AdamOptions {
  /** The learning rate (default 1e-3). */
  lr?: number;
  /** Decay rates of the running means of the gradient and its square (default `(0.9, 0.999)`). */
  betas?: [number, number];
  /** Added to the bias-corrected root of the second moment (default 1e-8). */
  eps?: number;
  /**
   * Adam: an L2 term `weightDecay * p` added to the gradient (default 0). AdamW: decoupled,
   * `p *= 1 - lr * weightDecay` (default 0.01).
   */
  weightDecay?: number;
  /** Divide by the running maximum of the second moment instead (AMSGrad; default false). */
  amsgrad?: boolean;
}

class AdamBase extends Optimizer<Required<AdamOptions>> {
  constructor(params: ParamsInput<Required<AdamOptions>>, opt: AdamOptions, private readonly decoupled: boolean, defaultDecay: number) {
    super(params, checkAdamFamily(decoupled ? 'AdamW' : 'Adam', { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: defaultDecay, amsgrad: false, ...opt }));
  }
  /**
   * torch.optim.Adam(W)'s update in four passes over the parameter: the moments as lerps (as torch
   * computes them), then one fused pass for decay, bias corrections and the step (adamUpdate).
   */
  protected update(p: Tensor, grad: Tensor, st: State, g: Required<AdamOptions>): void {
    const [b1, b2] = g.betas;
    if (!this.decoupled && g.weightDecay) grad = grad.add(p, { alpha: g.weightDecay });
    const step = ((st['step'] as number | undefined) ?? 0) + 1;
    const m = ((st['expAvg'] as Tensor | undefined) ?? this.zerosState(p, 'expAvg')).lerp_(grad, 1 - b1);
    const sq = grad.square();
    const v = ((st['expAvgSq'] as Tensor | undefined) ?? this.zerosState(p, 'expAvgSq')).lerp_(sq, 1 - b2);
    // The step's temporaries go straight back to the allocator (a training loop makes them every step).
    sq.dispose();
    if (grad !== p.grad) grad.dispose();
    Object.assign(st, { step, expAvg: m, expAvgSq: v });
    let second = v;
    if (g.amsgrad) { second = st['maxExpAvgSq'] ? (st['maxExpAvgSq'] as Tensor).maximum(v) : v.clone(); st['maxExpAvgSq'] = second; }
    const decay = this.decoupled && g.weightDecay ? 1 - g.lr * g.weightDecay : 1;
    const params = { decay, stepSize: g.lr / (1 - b1 ** step), bc2: Math.sqrt(1 - b2 ** step), eps: g.eps };
    elementwise(ELEMENTWISE['adamUpdate']!, [p, m, second], { params, out: p });
  }
}

/**
 * torch.optim.Adam: weightDecay (default 0) adds an L2 term `weightDecay * p` to the gradient, which
 * the moments then adapt, unlike AdamW's. Defaults as torch's: lr 1e-3, betas `(0.9, 0.999)`, eps 1e-8.
 */
export class Adam extends AdamBase { constructor(params: ParamsInput<Required<AdamOptions>>, opt: AdamOptions = {}) { super(params, opt, false, 0); } }
/**
 * torch.optim.AdamW: Adam with decoupled weight decay, each parameter shrunk by `p *= 1 - lr * weightDecay`
 * before the Adam step instead of an L2 term in the gradient (Loshchilov and Hutter). Defaults as
 * torch's: lr 1e-3, betas `(0.9, 0.999)`, eps 1e-8, weightDecay 0.01. The moments are updated as torch
 * computes them and the step is one fused pass: `p -= lr / (1 - b1^t) * m / (sqrt(v / (1 - b2^t)) + eps)`.
 */
export class AdamW extends AdamBase { constructor(params: ParamsInput<Required<AdamOptions>>, opt: AdamOptions = {}) { super(params, opt, true, 0.01); } }

/** The gradient with L2 weight decay added (a new tensor), or the gradient itself. */
const decayed = (grad: Tensor, p: Tensor, weightDecay: number): Tensor => (weightDecay ? grad.add(p, { alpha: weightDecay }) : grad);
/** A state tensor, made as zeros (or `fill`) like the parameter on first use. */
const stateTensor = (st: State, key: string, p: Tensor, fill = 0): Tensor => {
  let t = st[key] as Tensor | undefined;
  if (!t) st[key] = t = fill ? zerosLike(p).add_(fill) : zerosLike(p);
  return t;
};
const checkHyper = (name: string, what: string, v: number, lo = 0): void => {
  checkNumber(name, what, v);
  if (!(v >= lo)) throw new ArgumentError(name, `invalid ${what} ${v}`);
};

/** RMSprop's hyperparameters, torch's keyword arguments. */
export interface RMSpropOptions {
  /** The learning rate (default 1e-2). */
  lr?: number;
  /** Decay rate of the running mean of squared gradients (default 0.99). */
  alpha?: number;
  /** Added to the root of that mean (default 1e-8). */
  eps?: number;
  /** L2 penalty: `weightDecay * p` added to the gradient (default 0). */
  weightDecay?: number;
  /** Momentum factor of the scaled step (default 0). */
  momentum?: number;
  /** Subtract the square of the running mean gradient, estimating the variance (default false). */
  centered?: boolean;
}

/** torch.optim.RMSprop: a running mean of squared gradients scales each step (centered: less the squared mean gradient). */
export class RMSprop extends Optimizer<Required<RMSpropOptions>> {
  constructor(params: ParamsInput<Required<RMSpropOptions>>, opt: RMSpropOptions = {}) {
    const o = { lr: 1e-2, alpha: 0.99, eps: 1e-8, weightDecay: 0, momentum: 0, centered: false, ...opt };
    for (const k of ['alpha', 'eps', 'weightDecay', 'momentum'] as const) checkHyper('RMSprop', k, o[k]);
    super(params, o);
  }
  protected update(p: Tensor, grad: Tensor, st: State, g: Required<RMSpropOptions>): void {
    const d = decayed(grad, p, g.weightDecay);
    const sq = stateTensor(st, 'squareAvg', p).mul_(g.alpha).addcmul_(d, d, { value: 1 - g.alpha });
    let avg: Tensor;
    if (g.centered) {
      const ga = stateTensor(st, 'gradAvg', p).mul_(g.alpha).add_(d, { alpha: 1 - g.alpha });
      avg = sq.addcmul(ga, ga, { value: -1 }).sqrt().add_(g.eps);
    } else avg = sq.sqrt().add_(g.eps);
    if (g.momentum > 0) {
      const buf = stateTensor(st, 'momentumBuffer', p).mul_(g.momentum).addcdiv_(d, avg);
      p.add_(buf, { alpha: -g.lr });
    } else p.addcdiv_(d, avg, { value: -g.lr });
    st['step'] = ((st['step'] as number | undefined) ?? 0) + 1;
    avg.dispose();
    if (d !== grad) d.dispose();
  }
}

/** Adagrad's hyperparameters, torch's keyword arguments. */
export interface AdagradOptions {
  /** The learning rate (default 1e-2). */
  lr?: number;
  /** Step t uses `lr / (1 + (t - 1) * lrDecay)` (default 0). */
  lrDecay?: number;
  /** L2 penalty: `weightDecay * p` added to the gradient (default 0). */
  weightDecay?: number;
  /** Starting value of each element's sum of squared gradients (default 0). */
  initialAccumulatorValue?: number;
  /** Added to the root of that sum (default 1e-10). */
  eps?: number;
}

/** torch.optim.Adagrad: steps scaled by the root of each parameter's summed squared gradients. */
export class Adagrad extends Optimizer<Required<AdagradOptions>> {
  constructor(params: ParamsInput<Required<AdagradOptions>>, opt: AdagradOptions = {}) {
    const o = { lr: 1e-2, lrDecay: 0, weightDecay: 0, initialAccumulatorValue: 0, eps: 1e-10, ...opt };
    for (const k of ['lrDecay', 'weightDecay', 'initialAccumulatorValue', 'eps'] as const) checkHyper('Adagrad', k, o[k]);
    super(params, o);
  }
  protected update(p: Tensor, grad: Tensor, st: State, g: Required<AdagradOptions>): void {
    const step = ((st['step'] as number | undefined) ?? 0) + 1;
    st['step'] = step;
    const d = decayed(grad, p, g.weightDecay);
    const clr = g.lr / (1 + (step - 1) * g.lrDecay);
    const sum = stateTensor(st, 'sum', p, g.initialAccumulatorValue).addcmul_(d, d, { value: 1 });
    const std = sum.sqrt().add_(g.eps);
    p.addcdiv_(d, std, { value: -clr });
    std.dispose();
    if (d !== grad) d.dispose();
  }
}

/** Adadelta's hyperparameters, torch's keyword arguments. */
export interface AdadeltaOptions {
  /** Scales each computed delta (default 1). */
  lr?: number;
  /** Decay rate of the running means of squared gradients and squared deltas, at most 1 (default 0.9). */
  rho?: number;
  /** Added inside both roots (default 1e-6). */
  eps?: number;
  /** L2 penalty: `weightDecay * p` added to the gradient (default 0). */
  weightDecay?: number;
}

/** torch.optim.Adadelta: steps of the running RMS of past updates over that of the gradients, times lr. */
export class Adadelta extends Optimizer<Required<AdadeltaOptions>> {
  constructor(params: ParamsInput<Required<AdadeltaOptions>>, opt: AdadeltaOptions = {}) {
    const o = { lr: 1, rho: 0.9, eps: 1e-6, weightDecay: 0, ...opt };
    for (const k of ['rho', 'eps', 'weightDecay'] as const) checkHyper('Adadelta', k, o[k]);
    if (o.rho > 1) throw new ArgumentError('Adadelta', `invalid rho ${o.rho}`);
    super(params, o);
  }
  protected update(p: Tensor, grad: Tensor, st: State, g: Required<AdadeltaOptions>): void {
    const d = decayed(grad, p, g.weightDecay);
    const sq = stateTensor(st, 'squareAvg', p).mul_(g.rho).addcmul_(d, d, { value: 1 - g.rho });
    const acc = stateTensor(st, 'accDelta', p);
    const sqe = sq.add(g.eps), acce = acc.add(g.eps);
    const std = sqe.sqrt();
    const delta = acce.sqrt().div_(std).mul_(d);
    acc.mul_(g.rho).addcmul_(delta, delta, { value: 1 - g.rho });
    p.add_(delta, { alpha: -g.lr });
    st['step'] = ((st['step'] as number | undefined) ?? 0) + 1;
    for (const t of [sqe, acce, std, delta]) t.dispose();
    if (d !== grad) d.dispose();
  }
}

/** Options of the Adam family without Adam's own extras (Adamax, RAdam). */
interface BetaOptions {
  /** The learning rate (default 2e-3 for Adamax and NAdam, 1e-3 for RAdam, as torch's). */
  lr?: number;
  /** Decay rates of the first moment and of the second moment or running max (default `(0.9, 0.999)`). */
  betas?: [number, number];
  /** Added to the denominator (default 1e-8). */
  eps?: number;
  /** L2 penalty: `weightDecay * p` added to the gradient (default 0). */
  weightDecay?: number;
}
/** Adamax's hyperparameters (torch's keyword arguments): lr (default 2e-3), betas, eps, weightDecay. */
export type AdamaxOptions = BetaOptions;
/** RAdam's hyperparameters (torch's keyword arguments): lr (default 1e-3), betas, eps, weightDecay. */
export type RAdamOptions = BetaOptions;

/** The Adam family's defaults under `opt`, checked. */
function betaDefaults(name: string, lr: number, opt: BetaOptions): Required<BetaOptions> {
  return checkAdamFamily(name, { lr, betas: [0.9, 0.999] as [number, number], eps: 1e-8, weightDecay: 0, ...opt });
}
/** torch's checks of the Adam family's hyperparameters: eps and weightDecay >= 0, each beta in [0, 1). */
function checkAdamFamily<O extends Required<BetaOptions>>(name: string, o: O): O {
  checkHyper(name, 'eps', o.eps);
  checkHyper(name, 'weightDecay', o.weightDecay);
  const betas: unknown = o.betas;
  if (!Array.isArray(betas) || betas.length !== 2) throw new ArgumentError(name, `betas must be a pair of numbers, got ${describe(betas)}`);
  betas.forEach((v: unknown, i) => {
    const b = checkNumber(name, `betas[${i}]`, v);
    if (!(b >= 0 && b < 1)) throw new ArgumentError(name, `invalid beta parameter at index ${i}: ${b} (must be in [0, 1))`);
  });
  return o;
}
/** Counts this step in the state and returns the count. */
const nextStep = (st: State): number => (st['step'] = ((st['step'] as number | undefined) ?? 0) + 1);
/** The first moment after this step, in place as torch computes it: m * b1 + (1 - b1) * d. */
const firstMoment = (st: State, p: Tensor, d: Tensor, b1: number): Tensor => stateTensor(st, 'expAvg', p).mul_(b1).add_(d, { alpha: 1 - b1 });

/** torch.optim.Adamax: Adam with the infinity norm (a running max of |grad|) in place of the second moment. */
export class Adamax extends Optimizer<Required<AdamaxOptions>> {
  constructor(params: ParamsInput<Required<AdamaxOptions>>, opt: AdamaxOptions = {}) { super(params, betaDefaults('Adamax', 2e-3, opt)); }
  protected update(p: Tensor, grad: Tensor, st: State, g: Required<AdamaxOptions>): void {
    const [b1, b2] = g.betas;
    const step = nextStep(st);
    const d = decayed(grad, p, g.weightDecay);
    const m = firstMoment(st, p, d, b1);
    const bound = d.abs().add_(g.eps);
    const u = stateTensor(st, 'expInf', p).mul_(b2);
    u.copy_(u.maximum(bound));
    p.addcdiv_(m, u, { value: -g.lr / (1 - b1 ** step) });
    bound.dispose();
    if (d !== grad) d.dispose();
  }
}

/** torch.optim.RAdam: Adam whose adaptive step is rectified (and skipped while the variance estimate is unreliable, rho_t <= 5). */
export class RAdam extends Optimizer<Required<RAdamOptions>> {
  constructor(params: ParamsInput<Required<RAdamOptions>>, opt: RAdamOptions = {}) { super(params, betaDefaults('RAdam', 1e-3, opt)); }
  protected update(p: Tensor, grad: Tensor, st: State, g: Required<RAdamOptions>): void {
    const [b1, b2] = g.betas;
    const step = nextStep(st);
    const bc1 = 1 - b1 ** step, bc2 = 1 - b2 ** step;
    const d = decayed(grad, p, g.weightDecay);
    const m = firstMoment(st, p, d, b1);
    const v = stateTensor(st, 'expAvgSq', p).mul_(b2).addcmul_(d, d, { value: 1 - b2 });
    const corrected = m.div(bc1);
    const rhoInf = 2 / (1 - b2) - 1;
    const rhoT = rhoInf - (2 * step * b2 ** step) / bc2;
    const temps = [corrected];
    if (rhoT > 5) {
      const rect = Math.sqrt(((rhoT - 4) * (rhoT - 2) * rhoInf) / ((rhoInf - 4) * (rhoInf - 2) * rhoT));
      const root = v.sqrt().add_(g.eps);
      const adaptive = root.reciprocal().mul_(Math.sqrt(bc2));
      const delta = corrected.mul(g.lr).mul_(adaptive).mul_(rect);
      p.add_(delta, { alpha: -1 });
      temps.push(root, adaptive, delta);
    } else {
      const delta = corrected.mul(g.lr);
      p.add_(delta, { alpha: -1 });
      temps.push(delta);
    }
    for (const t of temps) t.dispose();
    if (d !== grad) d.dispose();
  }
}

/** NAdam's hyperparameters, torch's keyword arguments. */
export interface NAdamOptions extends BetaOptions {
  /** psi in the momentum schedule `mu_t = b1 (1 - 0.5 * 0.96^(t psi))` (default 4e-3). */
  momentumDecay?: number;
}

/**
 * torch.optim.NAdam: Adam with Nesterov momentum (Dozat), the momentum warmed up by the schedule
 * mu_t = b1 (1 - 0.5 * 0.96^(t momentumDecay)). The product of the mu's is kept in float32, as torch
 * keeps it in a tensor. As torch 2's update: torch 1.13 multiplies mu_t into the next product twice
 * (`mu_product * mu * mu_next`), a bug fixed in torch 2.0; the comparison test applies that fix.
 */
export class NAdam extends Optimizer<Required<NAdamOptions>> {
  constructor(params: ParamsInput<Required<NAdamOptions>>, opt: NAdamOptions = {}) {
    const o = { momentumDecay: 4e-3, ...betaDefaults('NAdam', 2e-3, opt) };
    checkHyper('NAdam', 'momentumDecay', o.momentumDecay);
    super(params, o);
  }
  protected update(p: Tensor, grad: Tensor, st: State, g: Required<NAdamOptions>): void {
    const [b1, b2] = g.betas;
    const step = nextStep(st);
    const bc2 = 1 - b2 ** step;
    const d = decayed(grad, p, g.weightDecay);
    const mu = b1 * (1 - 0.5 * 0.96 ** (step * g.momentumDecay));
    const muNext = b1 * (1 - 0.5 * 0.96 ** ((step + 1) * g.momentumDecay));
    // float32 products of float32 factors, as a float32 tensor times a Python float computes them.
    const muProduct = (st['muProduct'] = Math.fround(((st['muProduct'] as number | undefined) ?? 1) * Math.fround(mu)));
    const muProductNext = Math.fround(muProduct * Math.fround(muNext));
    const m = firstMoment(st, p, d, b1);
    const v = stateTensor(st, 'expAvgSq', p).mul_(b2).addcmul_(d, d, { value: 1 - b2 });
    const denom = v.div(bc2).sqrt().add_(g.eps);
    p.addcdiv_(d, denom, { value: (-g.lr * (1 - mu)) / (1 - muProduct) });
    p.addcdiv_(m, denom, { value: (-g.lr * muNext) / (1 - muProductNext) });
    denom.dispose();
    if (d !== grad) d.dispose();
  }
}

/**
 * Scales gradients so their total norm is at most maxNorm; returns the total norm before clipping as
 * a 0-d tensor, as torch does. Everything stays on the gradients' device: no value is read back, so
 * an asynchronous device (WebGPU) is never made to wait.
 */
export function clipGradNorm_(params: Iterable<Tensor>, maxNorm: number, normType = 2): Tensor {
  checkNumber('clipGradNorm_', 'maxNorm', maxNorm);
  checkNumber('clipGradNorm_', 'normType', normType);
  return noGrad(() => {
    // Each tensor once: a tied weight listed twice must not count twice in the norm nor be scaled twice.
    const grads = [...new Set(params)].map((p) => p.grad).filter((g): g is Tensor => g !== undefined);
    if (!grads.length) return zeros([]);
    const total = stack(grads.map((g) => g.norm(normType))).norm(normType);
    const coef = total.add(1e-6).reciprocal().mul(maxNorm).clamp(undefined, 1);
    for (const g of grads) g.mul_(coef);
    return total;
  });
}

/**
 * Clamps every gradient in place to lie between -clip and clip (torch's clip_grad_value_); parameters
 * without a gradient are skipped, a tensor listed twice is clamped once.
 */
export function clipGradValue_(params: Iterable<Tensor>, clip: number): void {
  checkNumber('clipGradValue_', 'clip', clip);
  noGrad(() => { for (const p of new Set(params)) p.grad?.clamp_(-clip, clip); });
}
