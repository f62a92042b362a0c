/**
 * Checkpoints under data parallelism: every replica holds the same weights, so rank 0 alone writes
 * the file and the others wait for it (a barrier), as torch users do by hand.
 */
import { type Module, saveFileAsync } from '@tessera/nn';
import { DistributedDataParallel } from './ddp.js';
import { defaultGroup } from './group.js';
import type { ProcessGroup } from './process-group.js';

/**
 * Writes `model`'s stateDict (a DDP wrapper's inner module's) to `path` from rank 0 only, then waits at a
 * barrier so no rank reads the file before it exists. A collective: every rank must call it.
 */
export async function saveCheckpoint(path: string, model: Module, opt: { group?: ProcessGroup; metadata?: Record<string, string> } = {}): Promise<void> {
  const group = opt.group ?? defaultGroup('saveCheckpoint');
  const inner = model instanceof DistributedDataParallel ? model.module : model;
  try {
    if (group.rank === 0) await saveFileAsync(path, inner.stateDict(), opt.metadata);
  } finally {
    // Also when rank 0's write fails: the others then go on at once instead of waiting out the timeout.
    await group.barrier();
  }
}
