// Preloaded (node --import) into each rank that tessera-run starts through mpirun: torchrun's RANK,
// LOCAL_RANK and WORLD_SIZE from Open MPI's own variables, where the environment does not set them.
const env = process.env;
for (const [torchrun, mpi] of [['RANK', 'OMPI_COMM_WORLD_RANK'], ['LOCAL_RANK', 'OMPI_COMM_WORLD_LOCAL_RANK'], ['WORLD_SIZE', 'OMPI_COMM_WORLD_SIZE']]) {
  if (env[torchrun] === undefined && env[mpi] !== undefined) env[torchrun] = env[mpi];
}
