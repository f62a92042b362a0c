/** Datasets and a DataLoader with seeded shuffling, batching and drop_last. */
import { ArgumentError, ShapeError, fmtShape } from '@tessera/ops';
import { Generator, type Tensor, stack, tensor } from '@tessera/tensor';

/** A map-style dataset (torch.utils.data.Dataset): items by index, with a length. */
export interface Dataset<T> {
  /** How many items it holds. */
  readonly length: number;
  /** The item at index, from 0 to length - 1. */
  get(index: number): T;
  /** Optional fast path: a whole batch at once (TensorDataset gathers rows in one op per tensor). */
  getBatch?(indices: readonly number[]): T;
}

/** Rows of equally long tensors (features, labels, ...). */
export class TensorDataset implements Dataset<Tensor[]> {
  /** The tensors, each with one row per item along dim 0. */
  readonly tensors: Tensor[];
  /** Throws ShapeError when no tensor is given or their first dims differ. */
  constructor(...tensors: Tensor[]) {
    const n = tensors[0]?.shape[0];
    if (n === undefined || tensors.some((t) => t.shape[0] !== n)) {
      throw new ShapeError('TensorDataset', `tensors must share their first dim, got ${tensors.map((t) => fmtShape(t.shape)).join(', ')}`);
    }
    this.tensors = tensors;
  }
  /** The rows, the size of dim 0. */
  get length(): number { return this.tensors[0]!.shape[0]!; }
  /** Row i of each tensor. */
  get(i: number): Tensor[] { return this.tensors.map((t) => t.select(0, i)); }
  getBatch(indices: readonly number[]): Tensor[] {
    const idx = tensor(Int32Array.from(indices), { device: this.tensors[0]?.device });
    return this.tensors.map((t) => t.indexSelect(0, idx));
  }
}

/** The dataset indices of one epoch, in order (e.g. distributed.DistributedSampler: this rank's share). */
export interface Sampler {
  /** How many indices indices() returns. */
  readonly length: number;
  /** This epoch's indices; the DataLoader calls it once at the start of every epoch. */
  indices(): number[];
}

/** DataLoader's options, torch's keyword arguments (and seed). */
export interface DataLoaderOptions<T> {
  /** Items per batch, a positive integer (default 1). */
  batchSize?: number;
  /** Where the indices come from (replaces shuffle). */
  sampler?: Sampler;
  /** A fresh permutation of the dataset every epoch (default false: in order). */
  shuffle?: boolean;
  /** Leave out the last batch when it is smaller than batchSize (default false). */
  dropLast?: boolean;
  /** Seed for the shuffling order (a fresh permutation each epoch, reproducible). */
  seed?: number;
  /** Makes a batch from its items (default defaultCollate); given, it replaces the dataset's getBatch. */
  collate?: (items: T[]) => T;
}

/** Stacks a list of tensor tuples along a new dim 0. */
export const defaultCollate = (items: Tensor[][]): Tensor[] => items[0]!.map((_, k) => stack(items.map((it) => it[k]!)));

/**
 * torch.utils.data.DataLoader: batches of a dataset, one epoch per `for (const batch of loader)`. A
 * shuffled loader draws each epoch's order from its own generator seeded by `seed`, so the orders
 * differ from epoch to epoch and repeat from run to run. Batches come from the dataset's getBatch
 * when it has one (and no collate is given), else from collating its items.
 */
export class DataLoader<T = Tensor[]> implements Iterable<T> {
  /** Items per batch; the last batch may be smaller unless dropLast. */
  readonly batchSize: number;
  private readonly generator: Generator;
  /**
   * Throws ArgumentError when batchSize is not a positive integer, or sampler and shuffle are both given.
   * @param dataset - where the items come from.
   * @param opt - batching, order and collation options.
   */
  constructor(readonly dataset: Dataset<T>, readonly opt: DataLoaderOptions<T> = {}) {
    this.batchSize = opt.batchSize ?? 1;
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1) throw new ArgumentError('DataLoader', `batchSize must be a positive integer, got ${this.batchSize}`);
    this.generator = new Generator(opt.seed ?? 0);
    if (opt.sampler && opt.shuffle) throw new ArgumentError('DataLoader', 'sampler and shuffle are exclusive: the sampler decides the order');
  }
  /** Batches per epoch. */
  get length(): number {
    const n = (this.opt.sampler?.length ?? this.dataset.length) / this.batchSize;
    return this.opt.dropLast ? Math.floor(n) : Math.ceil(n);
  }
  private order(): number[] {
    if (this.opt.sampler) return this.opt.sampler.indices();
    const idx = Array.from({ length: this.dataset.length }, (_, i) => i);
    if (this.opt.shuffle) {
      for (let i = idx.length - 1; i > 0; i--) {
        const j = Math.floor(this.generator.uniform() * (i + 1));
        [idx[i], idx[j]] = [idx[j]!, idx[i]!];
      }
    }
    return idx;
  }
  /** One epoch's batches, in order. */
  *[Symbol.iterator](): Iterator<T> {
    const order = this.order();
    for (let b = 0; b < this.length; b++) {
      const ids = order.slice(b * this.batchSize, (b + 1) * this.batchSize);
      if (this.dataset.getBatch && !this.opt.collate) yield this.dataset.getBatch(ids);
      else {
        const collate = this.opt.collate ?? (defaultCollate as unknown as (items: T[]) => T);
        yield collate(ids.map((i) => this.dataset.get(i)));
      }
    }
  }
}
