/*
 * The slice of the MPI C API the collectives use, behind plain C types: MPI's handles are macros
 * (pointers into libmpi in Open MPI, integers in MPICH), so they are resolved here, by mpi.h, rather
 * than guessed in Rust. Every call returns MPI's error code; errors return instead of aborting.
 */
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
#include <mpi.h>
#include <string.h>

enum { T_F32, T_F64, T_I32, T_I64, T_U8 };
enum { R_SUM, R_MAX, R_MIN, R_PROD };

static MPI_Datatype dtype_of(int t) {
    switch (t) {
        case T_F32: return MPI_FLOAT;
        case T_F64: return MPI_DOUBLE;
        case T_I32: return MPI_INT32_T;
        case T_I64: return MPI_INT64_T;
        default: return MPI_UINT8_T;
    }
}

static MPI_Op op_of(int r) {
    switch (r) {
        case R_SUM: return MPI_SUM;
        case R_MAX: return MPI_MAX;
        case R_MIN: return MPI_MIN;
        default: return MPI_PROD;
    }
}

/* Writes MPI's text for `code` into err (always NUL-terminated). */
void tmpi_error_string(int code, char *err, int cap) {
    int len = 0;
    char buf[MPI_MAX_ERROR_STRING];
    if (MPI_Error_string(code, buf, &len) != MPI_SUCCESS) len = 0;
    buf[len < MPI_MAX_ERROR_STRING ? len : MPI_MAX_ERROR_STRING - 1] = 0;
    strncpy(err, len ? buf : "unknown MPI error", cap - 1);
    err[cap - 1] = 0;
}

/*
 * Node loads addons with RTLD_LOCAL, which hides libmpi's symbols from the plugins Open MPI dlopens
 * during MPI_Init; reopening it RTLD_GLOBAL makes them visible (what mpi4py does too).
 */
int tmpi_init(int *rank, int *size, int *provided) {
    Dl_info info;
    if (dladdr((void *)&MPI_Init_thread, &info) && info.dli_fname) dlopen(info.dli_fname, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);
    int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, provided);
    if (rc != MPI_SUCCESS) return rc;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    rc = MPI_Comm_rank(MPI_COMM_WORLD, rank);
    if (rc != MPI_SUCCESS) return rc;
    return MPI_Comm_size(MPI_COMM_WORLD, size);
}

int tmpi_finalize(void) { return MPI_Finalize(); }

void tmpi_abort(int code) { MPI_Abort(MPI_COMM_WORLD, code); }

int tmpi_allreduce(void *buf, int count, int dtype, int op) {
    return MPI_Allreduce(MPI_IN_PLACE, buf, count, dtype_of(dtype), op_of(op), MPI_COMM_WORLD);
}

int tmpi_bcast(void *buf, int count, int root) {
    return MPI_Bcast(buf, count, MPI_BYTE, root, MPI_COMM_WORLD);
}

int tmpi_allgather(const void *send, void *recv, int bytes) {
    return MPI_Allgather(send, bytes, MPI_BYTE, recv, bytes, MPI_BYTE, MPI_COMM_WORLD);
}

int tmpi_reduce_scatter(const void *send, void *recv, int count, int dtype, int op) {
    return MPI_Reduce_scatter_block(send, recv, count, dtype_of(dtype), op_of(op), MPI_COMM_WORLD);
}

int tmpi_barrier(void) { return MPI_Barrier(MPI_COMM_WORLD); }

/* Every rank's `n` descriptor words, gathered into `all` (n * size words). */
int tmpi_gather_descriptors(const long long *mine, long long *all, int n) {
    return MPI_Allgather(mine, n, MPI_LONG_LONG, all, n, MPI_LONG_LONG, MPI_COMM_WORLD);
}
