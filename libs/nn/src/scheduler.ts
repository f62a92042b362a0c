/**
 * Learning-rate schedules, each a closed form of the step count. The schedule is handed to the base
 * constructor as a closure over the subclass's arguments, so the initial rate is applied at
 * construction (as PyTorch does) without reading fields a subclass has not assigned yet.
 */

/** A group's rate at `epoch` from its initial one; it may set other hyperparameters of the group (OneCycleLR's momentum). */
import { ArgumentError, describe } from '@tessera/ops';

type Schedule = (epoch: number, base: number, group: { lr: number; [hyper: string]: unknown }) => number;
/** What a schedule needs of an optimizer: its groups' learning rates (and other hyperparameters). */
export interface HasParamGroups { readonly paramGroups: { lr: number; [hyper: string]: unknown }[] }

export class LRScheduler {
  private epoch = 0;
  private readonly baseLrs: number[];
  constructor(readonly optimizer: HasParamGroups, private readonly schedule: Schedule) {
    this.baseLrs = optimizer.paramGroups.map((g) => g.lr);
    this.apply();
  }
  step(): void { this.epoch++; this.apply(); }
  getLastLr(): number[] { return this.optimizer.paramGroups.map((g) => g.lr); }
  private apply(): void {
    this.optimizer.paramGroups.forEach((g, i) => { g.lr = this.schedule(this.epoch, this.baseLrs[i]!, g); });
  }
}

/** Multiplies the rate by gamma every stepSize steps. */
export class StepLR extends LRScheduler {
  constructor(opt: HasParamGroups, stepSize: number, gamma = 0.1) {
    super(opt, (e, base) => base * gamma ** Math.floor(e / stepSize));
  }
}

export class CosineAnnealingLR extends LRScheduler {
  constructor(opt: HasParamGroups, tMax: number, etaMin = 0) {
    super(opt, (e, base) => etaMin + ((base - etaMin) * (1 + Math.cos((Math.PI * Math.min(e, tMax)) / tMax))) / 2);
  }
}

/** Linear ramp of the factor from startFactor to endFactor over totalIters steps (linear warmup). */
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

export interface OneCycleOptions {
  totalSteps: number; pctStart?: number; annealStrategy?: 'cos' | 'linear'; divFactor?: number; finalDivFactor?: number;
  threePhase?: boolean; cycleMomentum?: boolean; baseMomentum?: number; maxMomentum?: number;
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

export interface ReduceLROnPlateauOptions {
  mode?: 'min' | 'max'; factor?: number; patience?: number; threshold?: number; thresholdMode?: 'rel' | 'abs';
  cooldown?: number; minLr?: number | readonly number[]; eps?: number;
}

/** torch's ReduceLROnPlateau: step(metric) multiplies the rates by factor once the metric has not improved for `patience` steps. */
export class ReduceLROnPlateau {
  private best: number;
  private bad = 0;
  private cooling = 0;
  private readonly o: Required<Omit<ReduceLROnPlateauOptions, 'minLr'>> & { minLr: readonly number[] };
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
  getLastLr(): number[] { return this.optimizer.paramGroups.map((g) => g.lr); }
}
