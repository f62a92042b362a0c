/**
 * torch.utils.data.DistributedSampler: each rank gets a disjoint 1/worldSize share of the dataset
 * per epoch (the same shuffled order on every rank, by seed + epoch). Without dropLast the order is
 * padded with its own first indices so every rank has the same number of batches.
 */
import { ArgumentError } from '@tessera/ops';
import { Generator } from '@tessera/tensor';
import type { Sampler } from '@tessera/nn';
import { defaultGroup } from './group.js';

export interface DistributedSamplerOptions {
  /** Default: the default group's world size and rank. */
  numReplicas?: number;
  rank?: number;
  shuffle?: boolean;
  seed?: number;
  dropLast?: boolean;
}

export class DistributedSampler implements Sampler {
  readonly numReplicas: number;
  readonly rank: number;
  readonly length: number;
  private epoch = 0;

  constructor(readonly dataset: { readonly length: number }, private readonly opt: DistributedSamplerOptions = {}) {
    this.numReplicas = opt.numReplicas ?? defaultGroup('DistributedSampler').worldSize;
    this.rank = opt.rank ?? defaultGroup('DistributedSampler').rank;
    if (!Number.isInteger(this.numReplicas) || this.numReplicas < 1) throw new ArgumentError('DistributedSampler', `numReplicas must be a positive integer, got ${this.numReplicas}`);
    if (!Number.isInteger(this.rank) || this.rank < 0 || this.rank >= this.numReplicas) throw new ArgumentError('DistributedSampler', `rank ${this.rank} is outside [0, ${this.numReplicas})`);
    const n = dataset.length / this.numReplicas;
    this.length = opt.dropLast ? Math.floor(n) : Math.ceil(n);
  }

  /** Call at the start of each epoch so shuffling differs between epochs (and agrees across ranks). */
  setEpoch(epoch: number): void { this.epoch = epoch; }

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
