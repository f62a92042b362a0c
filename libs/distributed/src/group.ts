/**
 * The default process group, as torch.distributed keeps one: initProcessGroup() joins it, and the
 * module-level collectives and DDP use it unless given another.
 */
import type { Tensor } from '@tessera/tensor';
import { DistributedError } from './errors.js';
import { type InitOptions, ProcessGroup, type ReduceOp, type Work } from './process-group.js';

let current: ProcessGroup | undefined;

/**
 * Joins the default process group (torch.distributed.init_process_group) and resolves once every rank has.
 * Throws DistributedError when one already exists or the group does not start within the timeout.
 */
export async function initProcessGroup(opt: InitOptions = {}): Promise<ProcessGroup> {
  if (current) throw new DistributedError('initProcessGroup', 'the default process group is already initialised; call destroyProcessGroup() first');
  const group = await ProcessGroup.create(opt);
  current = group;
  // MPI wants MPI_Finalize before exit; a forgotten destroy must not turn a good run into a failed job.
  process.once('exit', () => { if (current === group) destroyQuietly(group); });
  if (group.backend === 'mpi') {
    // mpirun sends SIGTERM to the survivors when a rank fails: say why this one stops.
    process.once('SIGTERM', () => {
      console.error(`tessera: rank ${group.rank} of ${group.worldSize} terminated by mpirun (another rank failed or the job was cancelled)`);
      process.exit(143);
    });
  }
  return group;
}

function destroyQuietly(group: ProcessGroup): void {
  try { group.destroy(); } catch (e) { console.error(`tessera: ${(e as Error).message}`); }
}

/** Whether a default process group exists. */
export function isInitialized(): boolean { return current !== undefined; }

/** The default process group; throws DistributedError naming `what` when initProcessGroup has not run. */
export function defaultGroup(what = 'distributed'): ProcessGroup {
  if (!current) throw new DistributedError(what, 'no process group: call await initProcessGroup() first');
  return current;
}

/** Leaves and destroys the default group (a no-op without one), so initProcessGroup may be called again. */
export function destroyProcessGroup(): void {
  const group = current;
  current = undefined;
  group?.destroy();
}

/** This process's rank in the default group. */
export const getRank = (): number => defaultGroup('getRank').rank;
/** Number of ranks in the default group. */
export const getWorldSize = (): number => defaultGroup('getWorldSize').worldSize;

/** ProcessGroup.allReduce on the default group: reduces `t` across ranks in place (sum by default). */
export const allReduce = (t: Tensor, opt?: { op?: ReduceOp }): Work => defaultGroup('allReduce').allReduce(t, opt);
/** ProcessGroup.broadcast on the default group: copies rank `src`'s `t` into every rank's `t`. */
export const broadcast = (t: Tensor, src = 0): Work => defaultGroup('broadcast').broadcast(t, src);
/** ProcessGroup.allGather on the default group: every rank's `input`, in rank order, into `outputs`. */
export const allGather = (outputs: Tensor | readonly Tensor[], input: Tensor): Work => defaultGroup('allGather').allGather(outputs, input);
/** ProcessGroup.reduceScatter on the default group: rank r receives block r of the reduced `input`. */
export const reduceScatter = (output: Tensor, input: Tensor, opt?: { op?: ReduceOp }): Work => defaultGroup('reduceScatter').reduceScatter(output, input, opt);
/** ProcessGroup.barrier on the default group. */
export const barrier = (): Work => defaultGroup('barrier').barrier();
