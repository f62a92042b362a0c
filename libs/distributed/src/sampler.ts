/**
 * torch.utils.data.DistributedSampler: each rank gets a disjoint 1/worldSize share of the dataset
 * per epoch (the same shuffled order on every rank, by seed + epoch). Without dropLast the order is
 * padded with its own first indices so every rank has the same number of batches.
 */
import { ArgumentError } from '@tessera/ops';
import { Generator } from '@tessera/tensor';
import type { Sampler } from '@tessera/nn';
import { defaultGroup } from './group.js';

/** Options of DistributedSampler. */
export interface DistributedSamplerOptions {
  /** Default: the default group's world size and rank. */
  numReplicas?: number;
  /** This replica's share, `0 <= rank < numReplicas` (default: the default group's rank). */
  rank?: number;
  /** Shuffle each epoch (default true), by `seed + epoch` so all ranks agree. */
  shuffle?: boolean;
  /** Base seed of the shuffle; must be the same on every rank (default 0). */
  seed?: number;
  /** Drop the tail that does not divide evenly instead of padding with repeated indices (default false). */
  dropLast?: boolean;
}

/** torch.utils.data.DistributedSampler: this rank's share of a dataset's indices, one list per epoch. */
export class DistributedSampler implements Sampler {
  /** Number of ranks sharing the dataset. */
  readonly numReplicas: number;
  /** Which share this sampler yields. */
  readonly rank: number;
  /** Indices per epoch on each rank: `ceil(n / numReplicas)`, or `floor` with dropLast. */
  readonly length: number;
  private epoch = 0;

  /**
   * Throws ArgumentError for a bad numReplicas or rank; without them, needs an initialised default group.
   * @param dataset - Anything with a length; only its size is read.
   */
  constructor(readonly dataset: {
    /** Number of samples. */
    readonly length: number;
  }, private readonly opt: DistributedSamplerOptions = {}) {
    this.numReplicas = opt.numReplicas ?? defaultGroup('DistributedSampler').worldSize;
    this.rank = opt.rank ?? defaultGroup('DistributedSampler').rank;
    if (!Number.isInteger(this.numReplicas) || this.numReplicas < 1) throw new ArgumentError('DistributedSampler', `numReplicas must be a positive integer, got ${this.numReplicas}`);
    if (!Number.isInteger(this.rank) || this.rank < 0 || this.rank >= this.numReplicas) throw new ArgumentError('DistributedSampler', `rank ${this.rank} is outside [0, ${this.numReplicas})`);
    const n = dataset.length / this.numReplicas;
    this.length = opt.dropLast ? Math.floor(n) : Math.ceil(n);
  }

  /** Call at the start of each epoch so shuffling differs between epochs (and agrees across ranks). */
  setEpoch(epoch: number): void { this.epoch = epoch; }

  /** This rank's indices for the current epoch: every numReplicas-th of the (shuffled, padded) order, from `rank`. */
  indices(): number[] {
    const order = Array.from({ length: this.dataset.length }, (_, i) => i);
    if (this.opt.shuffle ?? true) {
      const g = new Generator((this.opt.seed ?? 0) + this.epoch);
      for (let i = order.length - 1; i > 0; i--) {
        const j = Math.floor(g.uniform() * (i + 1));
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
    }
    const total = this.length * this.numReplicas;
    while (order.length < total) order.push(...order.slice(0, total - order.length));
    order.length = total;
    return order.filter((_, i) => i % this.numReplicas === this.rank);
  }
}
