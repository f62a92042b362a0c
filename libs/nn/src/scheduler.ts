/**
 * Learning-rate schedules, each a closed form of the step count. The schedule is handed to the base
 * constructor as a closure over the subclass's arguments, so the initial rate is applied at
 * construction (as PyTorch does) without reading fields a subclass has not assigned yet.
 */

import { ArgumentError, describe } from '@tessera/ops';

/**
 * A group's rate at `epoch` from its initial one; it may set other hyperparameters of the group
 * (OneCycleLR's momentum).
 */
type Schedule = (epoch: number, base: number, group: { lr: number; [hyper: string]: unknown }) => number;
/** What a schedule needs of an optimizer: its groups' learning rates (and other hyperparameters). */
export interface HasParamGroups {
  /** The groups whose rates the schedule sets. */
  readonly paramGroups: {
    /** The group's learning rate, rewritten by every step of the schedule. */
    lr: number;
    [hyper: string]: unknown;
  }[];
}

/**
 * The base of the schedules (torch.optim.lr_scheduler.LRScheduler): each group's rate is a function
 * of the step count and of the rate the group had at construction. The rate for step 0 is applied
 * at construction, as torch's; call step() once per epoch (or batch), after optimizer.step().
 */
export class LRScheduler {
  private epoch = 0;
  private readonly baseLrs: number[];
  /**
   * @param optimizer - the optimizer (or anything with param groups) whose rates are set.
   * @param schedule - a group's rate from the step count and its initial rate.
   */
  constructor(readonly optimizer: HasParamGroups, private readonly schedule: Schedule) {
    this.baseLrs = optimizer.paramGroups.map((g) => g.lr);
    this.apply();
  }
  /** Counts one step and sets every group's rate for it. */
  step(): void { this.epoch++; this.apply(); }
  /** The groups' current rates, in group order (torch's get_last_lr). */
  getLastLr(): number[] { return this.optimizer.paramGroups.map((g) => g.lr); }
  private apply(): void {
    this.optimizer.paramGroups.forEach((g, i) => { g.lr = this.schedule(this.epoch, this.baseLrs[i]!, g); });
  }
}

/** torch's StepLR: multiplies the rate by gamma (default 0.1) every stepSize steps. */
export class StepLR extends LRScheduler {
  constructor(opt: HasParamGroups, stepSize: number, gamma = 0.1) {
    super(opt, (e, base) => base * gamma ** Math.floor(e / stepSize));
  }
}

/**
 * torch's CosineAnnealingLR in closed form: the rate follows a cosine from the initial one down to
 * etaMin (default 0) over tMax steps and, past tMax, back up over the next tMax, as torch's does.
 */
export class CosineAnnealingLR extends LRScheduler {
  constructor(opt: HasParamGroups, tMax: number, etaMin = 0) {
    super(opt, (e, base) => etaMin + ((base - etaMin) * (1 + Math.cos((Math.PI * e) / tMax))) / 2);
  }
}

/**
 * torch's LinearLR: the rate is the initial one times a factor ramped linearly from startFactor
 * (default 1/3) to endFactor (default 1) over totalIters steps (default 5), then held (linear warmup).
 */
export class LinearLR extends LRScheduler {
  constructor(opt: HasParamGroups, startFactor = 1 / 3, endFactor = 1, totalIters = 5) {
    super(opt, (e, base) => base * (startFactor + ((endFactor - startFactor) * Math.min(e, totalIters)) / totalIters));
  }
}

/** Linear warmup over `warmup` steps, then cosine decay to minFactor * base at `total` steps. */
export class WarmupCosineLR extends LRScheduler {
  constructor(opt: HasParamGroups, warmup: number, total: number, minFactor = 0) {
    super(opt, (e, base) => {
      if (e < warmup) return (base * (e + 1)) / warmup;
      const t = Math.min(1, (e - warmup) / Math.max(1, total - warmup));
      return base * (minFactor + ((1 - minFactor) * (1 + Math.cos(Math.PI * t))) / 2);
    });
  }
}

/** The initial rate times fn(epoch) (torch's LambdaLR; one fn for every group). */
export class LambdaLR extends LRScheduler {
  constructor(opt: HasParamGroups, fn: (epoch: number) => number) {
    super(opt, (e, base) => base * fn(e));
  }
}

/** Multiplies the rate by gamma at each milestone passed (torch's MultiStepLR). */
export class MultiStepLR extends LRScheduler {
  constructor(opt: HasParamGroups, milestones: readonly number[], gamma = 0.1) {
    super(opt, (e, base) => base * gamma ** milestones.filter((m) => m <= e).length);
  }
}

/** Multiplies the rate by gamma every step (torch's ExponentialLR). */
export class ExponentialLR extends LRScheduler {
  constructor(opt: HasParamGroups, gamma: number) {
    super(opt, (e, base) => base * gamma ** e);
  }
}

/** OneCycleLR's options, torch's keyword arguments. */
export interface OneCycleOptions {
  /** Steps in the cycle; stepping past it throws (a positive integer, required). */
  totalSteps: number;
  /** Fraction of the steps spent raising the rate (default 0.3). */
  pctStart?: number;
  /** How the rate moves between its ends: 'cos' (default) or 'linear'. */
  annealStrategy?: 'cos' | 'linear';
  /** The starting rate is maxLr / divFactor (default 25). */
  divFactor?: number;
  /** The final rate is the starting one / finalDivFactor (default 1e4). */
  finalDivFactor?: number;
  /** Three phases: up, back down to the starting rate, then down to the final one (default false). */
  threePhase?: boolean;
  /** Cycle the momentum (SGD's momentum or the first beta) inversely to the rate (default true). */
  cycleMomentum?: boolean;
  /** The momentum at the peak rate (default 0.85). */
  baseMomentum?: number;
  /** The momentum at the start and end (default 0.95). */
  maxMomentum?: number;
}

/**
 * torch's OneCycleLR (1.13): the rate rises from maxLr / divFactor to maxLr over pctStart of the
 * steps and anneals to that / finalDivFactor (three phases: back down first); momentum (SGD's, or
 * Adam's beta1) cycles the other way between maxMomentum and baseMomentum. Stepping past totalSteps
 * is an error, as in torch.
 */
export class OneCycleLR extends LRScheduler {
  constructor(opt: HasParamGroups, maxLr: number | readonly number[], o: OneCycleOptions) {
    const { totalSteps, pctStart = 0.3, annealStrategy = 'cos', divFactor = 25, finalDivFactor = 1e4, threePhase = false, cycleMomentum = true, baseMomentum = 0.85, maxMomentum = 0.95 } = o;
    if (!(Number.isInteger(totalSteps) && totalSteps > 0)) throw new ArgumentError('OneCycleLR', `totalSteps must be a positive integer, got ${describe(totalSteps)}`);
    if (!(pctStart >= 0 && pctStart <= 1)) throw new ArgumentError('OneCycleLR', `pctStart must be in [0, 1], got ${describe(pctStart)}`);
    const groups = opt.paramGroups;
    if (cycleMomentum && groups.some((g) => !('momentum' in g) && !('betas' in g))) throw new ArgumentError('OneCycleLR', 'the optimizer has no momentum or betas to cycle (cycleMomentum: false)');
    const maxes = typeof maxLr === 'number' ? groups.map(() => maxLr) : [...maxLr];
    if (maxes.length !== groups.length) throw new ArgumentError('OneCycleLR', `${maxes.length} maxLr values for ${groups.length} parameter groups`);
    const at = new Map(groups.map((g, i) => [g, i]));
    const anneal = annealStrategy === 'cos'
      ? (a: number, b: number, pct: number) => b + ((a - b) / 2) * (Math.cos(Math.PI * pct) + 1)
      : (a: number, b: number, pct: number) => (b - a) * pct + a;
    const ends = threePhase
      ? [pctStart * totalSteps - 1, 2 * pctStart * totalSteps - 2, totalSteps - 1]
      : [pctStart * totalSteps - 1, totalSteps - 1];
    super(opt, (e, _, g) => {
      if (e >= totalSteps + 1) throw new ArgumentError('OneCycleLR', `stepped ${e} times, past totalSteps ${totalSteps}`);
      const max = maxes[at.get(g)!]!, initial = max / divFactor, min = initial / finalDivFactor;
      const lrs = threePhase ? [[initial, max], [max, initial], [initial, min]] : [[initial, max], [max, min]];
      const moms = threePhase ? [[maxMomentum, baseMomentum], [baseMomentum, maxMomentum], [maxMomentum, maxMomentum]] : [[maxMomentum, baseMomentum], [baseMomentum, maxMomentum]];
      let start = 0;
      for (let i = 0; i < ends.length; i++) {
        const end = ends[i]!;
        if (e <= end || i === ends.length - 1) {
          const pct = (e - start) / (end - start);
          if (cycleMomentum) {
            const m = anneal(moms[i]![0]!, moms[i]![1]!, pct);
            if ('betas' in g) g['betas'] = [m, (g['betas'] as number[])[1]!]; else g['momentum'] = m;
          }
          return anneal(lrs[i]![0]!, lrs[i]![1]!, pct);
        }
        start = end;
      }
      throw new Error('OneCycleLR: no phase (an internal error)');
    });
  }
}

/** ReduceLROnPlateau's options, torch's keyword arguments. */
export interface ReduceLROnPlateauOptions {
  /** Whether the metric should fall ('min', the default: a loss) or rise ('max': an accuracy). */
  mode?: 'min' | 'max';
  /** Multiplies the rates on a plateau; must be below 1 (default 0.1). */
  factor?: number;
  /** Steps without improvement tolerated before the rates drop (default 10). */
  patience?: number;
  /** The least change that counts as an improvement (default 1e-4). */
  threshold?: number;
  /** threshold relative to the best value so far ('rel', the default) or absolute ('abs'). */
  thresholdMode?: 'rel' | 'abs';
  /** Steps after a drop during which no bad steps are counted (default 0). */
  cooldown?: number;
  /** The lowest rate, one for all groups or one per group (default 0). */
  minLr?: number | readonly number[];
  /** A drop smaller than eps is not applied (default 1e-8). */
  eps?: number;
}

/** torch's ReduceLROnPlateau: step(metric) multiplies the rates by factor once the metric has not improved for `patience` steps. */
export class ReduceLROnPlateau {
  private best: number;
  private bad = 0;
  private cooling = 0;
  private readonly o: Required<Omit<ReduceLROnPlateauOptions, 'minLr'>> & { minLr: readonly number[] };
  /**
   * Throws ArgumentError when factor is not below 1, a mode is unknown or minLr has not one entry per group.
   * @param optimizer - the optimizer (or anything with param groups) whose rates are lowered.
   */
  constructor(readonly optimizer: HasParamGroups, opt: ReduceLROnPlateauOptions = {}) {
    const { mode = 'min', factor = 0.1, patience = 10, threshold = 1e-4, thresholdMode = 'rel', cooldown = 0, minLr = 0, eps = 1e-8 } = opt;
    if (!(factor < 1)) throw new ArgumentError('ReduceLROnPlateau', `factor must be below 1, got ${describe(factor)}`);
    if (mode !== 'min' && mode !== 'max') throw new ArgumentError('ReduceLROnPlateau', `mode must be min or max, got ${describe(mode)}`);
    if (thresholdMode !== 'rel' && thresholdMode !== 'abs') throw new ArgumentError('ReduceLROnPlateau', `thresholdMode must be rel or abs, got ${describe(thresholdMode)}`);
    const mins = typeof minLr === 'number' ? optimizer.paramGroups.map(() => minLr) : [...minLr];
    if (mins.length !== optimizer.paramGroups.length) throw new ArgumentError('ReduceLROnPlateau', `${mins.length} minLr values for ${optimizer.paramGroups.length} parameter groups`);
    this.o = { mode, factor, patience, threshold, thresholdMode, cooldown, minLr: mins, eps };
    this.best = mode === 'min' ? Infinity : -Infinity;
  }
  private better(a: number): boolean {
    const { mode, threshold, thresholdMode } = this.o;
    if (mode === 'min') return thresholdMode === 'rel' ? a < this.best * (1 - threshold) : a < this.best - threshold;
    return thresholdMode === 'rel' ? a > this.best * (threshold + 1) : a > this.best + threshold;
  }
  /** Records this epoch's metric (a validation loss, say) and lowers the rates if it has plateaued. */
  step(metric: number): void {
    if (this.better(metric)) { this.best = metric; this.bad = 0; } else this.bad++;
    if (this.cooling > 0) { this.cooling--; this.bad = 0; }
    if (this.bad > this.o.patience) {
      this.optimizer.paramGroups.forEach((g, i) => {
        const next = Math.max(g.lr * this.o.factor, this.o.minLr[i]!);
        if (g.lr - next > this.o.eps) g.lr = next;
      });
      this.cooling = this.o.cooldown;
      this.bad = 0;
    }
  }
  /** The groups' current rates, in group order (torch's get_last_lr). */
  getLastLr(): number[] { return this.optimizer.paramGroups.map((g) => g.lr); }
}
