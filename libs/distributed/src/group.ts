/**
 * The default process group, as torch.distributed keeps one: initProcessGroup() joins it, and the
 * module-level collectives and DDP use it unless given another.
 */
import type { Tensor } from '@tessera/tensor';
import { DistributedError } from './errors.js';
import { type InitOptions, ProcessGroup, type ReduceOp, type Work } from './process-group.js';

let current: ProcessGroup | undefined;

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

export function isInitialized(): boolean { return current !== undefined; }

export function defaultGroup(what = 'distributed'): ProcessGroup {
  if (!current) throw new DistributedError(what, 'no process group: call await initProcessGroup() first');
  return current;
}

export function destroyProcessGroup(): void {
  const group = current;
  current = undefined;
  group?.destroy();
}

export const getRank = (): number => defaultGroup('getRank').rank;
export const getWorldSize = (): number => defaultGroup('getWorldSize').worldSize;

export const allReduce = (t: Tensor, opt?: { op?: ReduceOp }): Work => defaultGroup('allReduce').allReduce(t, opt);
export const broadcast = (t: Tensor, src = 0): Work => defaultGroup('broadcast').broadcast(t, src);
export const allGather = (outputs: Tensor | readonly Tensor[], input: Tensor): Work => defaultGroup('allGather').allGather(outputs, input);
export const reduceScatter = (output: Tensor, input: Tensor, opt?: { op?: ReduceOp }): Work => defaultGroup('reduceScatter').reduceScatter(output, input, opt);
export const barrier = (): Work => defaultGroup('barrier').barrier();
