/**
 * Learning-rate schedules, each a closed form of the step count. The schedule is handed to the base
 * constructor as a closure over the subclass's arguments, so the initial rate is applied at
 * construction (as PyTorch does) without reading fields a subclass has not assigned yet.
 */

type Schedule = (epoch: number, base: number) => number;
/** What a schedule needs of an optimizer: its groups' learning rates. */
export interface HasParamGroups { readonly paramGroups: { lr: number }[] }

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
    this.optimizer.paramGroups.forEach((g, i) => { g.lr = this.schedule(this.epoch, this.baseLrs[i]!); });
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
