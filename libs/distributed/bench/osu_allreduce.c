/*
 * Open MPI's own allreduce figure, OSU-style: MPI_Allreduce (float sum, in place, as Tessera's) of
 * 1 MiB .. 256 MiB after a barrier, timed with MPI_Wtime; rank 0 prints one JSON line per size.
 * Built and run by bench/run.mjs: mpicc -O2 osu_allreduce.c && mpirun -np 2 ./a.out SIZES_MB MIN_MS
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, n;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &n);
    const char *sizes = argc > 1 ? argv[1] : "1,4,16,64,256";
    double min_s = (argc > 2 ? atof(argv[2]) : 400) / 1e3;
    char *list = strdup(sizes);
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
        long bytes = atol(tok) << 20;
        long count = bytes / 4;
        float *buf = calloc(count, sizeof(float));
        for (int i = 0; i < 2; i++) MPI_Allreduce(MPI_IN_PLACE, buf, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        MPI_Allreduce(MPI_IN_PLACE, buf, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        double probe = MPI_Wtime() - t0;
        int iters = (int)(min_s / (probe > 1e-6 ? probe : 1e-6)) + 1;
        if (iters < 3) iters = 3;
        MPI_Bcast(&iters, 1, MPI_INT, 0, MPI_COMM_WORLD);
        MPI_Barrier(MPI_COMM_WORLD);
        t0 = MPI_Wtime();
        for (int i = 0; i < iters; i++) MPI_Allreduce(MPI_IN_PLACE, buf, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        double s = (MPI_Wtime() - t0) / iters;
        double algbw = bytes / s / 1e9;
        if (rank == 0)
            printf("{\"transport\":\"openmpi-c\",\"ranks\":%d,\"bytes\":%ld,\"iters\":%d,\"usPerOp\":%.1f,\"algbwGBs\":%.4f,\"busbwGBs\":%.4f}\n",
                   n, bytes, iters, s * 1e6, algbw, algbw * 2.0 * (n - 1) / n);
        free(buf);
    }
    free(list);
    MPI_Finalize();
    return 0;
}
