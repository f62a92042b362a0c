/**
 * Data-parallel training across processes: collectives over shared memory (one machine, no MPI
 * needed) or Open MPI (across machines), DistributedDataParallel, DistributedSampler, and rank-0
 * checkpoints. Launch with `tessera-run --nproc N script` (or mpirun for 'mpi').
 */
export { DistributedError } from './errors.js';
export { ProcessGroup, Work, type DistBackend, type InitOptions, type ReduceOp } from './process-group.js';
export { initProcessGroup, destroyProcessGroup, isInitialized, defaultGroup, getRank, getWorldSize, allReduce, broadcast, allGather, reduceScatter, barrier } from './group.js';
export { DistributedDataParallel, type DDPOptions } from './ddp.js';
export { DistributedSampler, type DistributedSamplerOptions } from './sampler.js';
export { saveCheckpoint } from './checkpoint.js';
export { hasMpi } from './native.js';
