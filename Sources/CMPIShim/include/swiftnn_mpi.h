// A thin C shim over Open MPI, loaded at run time.
//
// MPI's handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, MPI_IN_PLACE …) are C macros Swift cannot
// import, and linking libmpi at build time would make every build of the package need Open MPI.
// So this shim dlopen()s libmpi when distributed training is first asked for, looks up the
// functions and Open MPI's predefined handle objects by name (in Open MPI a handle is the address
// of a predefined global, e.g. MPI_COMM_WORLD == &ompi_mpi_comm_world), and offers them through
// plain C functions with integer codes for datatypes and operations. Every function returns an
// MPI error code (0 = MPI_SUCCESS), or SWIFTNN_MPI_NOT_LOADED before a successful load.
#ifndef SWIFTNN_MPI_H
#define SWIFTNN_MPI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Returned by every call made before ``swiftnn_mpi_load`` succeeded.
#define SWIFTNN_MPI_NOT_LOADED (-1000)

/// Element types (mapped to MPI_FLOAT, MPI_DOUBLE, MPI_INT64_T, MPI_BYTE, MPI_INT).
typedef enum {
    SWIFTNN_MPI_FLOAT32 = 0,
    SWIFTNN_MPI_FLOAT64 = 1,
    SWIFTNN_MPI_INT64 = 2,
    SWIFTNN_MPI_BYTE = 3,
    SWIFTNN_MPI_INT32 = 4,
} swiftnn_mpi_dtype;

/// Reduction operations (MPI_SUM, MPI_MAX, MPI_MIN).
typedef enum {
    SWIFTNN_MPI_SUM = 0,
    SWIFTNN_MPI_MAX = 1,
    SWIFTNN_MPI_MIN = 2,
} swiftnn_mpi_op;

/// Loads libmpi (`path`, or the usual names when NULL) with RTLD_GLOBAL — Open MPI's own plugins
/// resolve symbols from it — and resolves every function and handle the shim uses. On failure
/// returns non-zero and writes a message into `error` (NUL-terminated, at most `length` bytes).
/// Calling it again after a success does nothing.
int swiftnn_mpi_load(const char *path, char *error, size_t length);

/// 1 once ``swiftnn_mpi_load`` succeeded.
int swiftnn_mpi_is_loaded(void);

/// MPI_Init_thread(NULL, NULL, required, provided); `required`: 0 single … 3 multiple.
int swiftnn_mpi_init_thread(int required, int *provided);
int swiftnn_mpi_initialized(int *flag);
int swiftnn_mpi_finalized(int *flag);
int swiftnn_mpi_finalize(void);

/// MPI_COMM_WORLD (NULL before loading).
void *swiftnn_mpi_comm_world(void);
int swiftnn_mpi_comm_dup(void *comm, void **duplicate);
int swiftnn_mpi_comm_free(void **comm);
int swiftnn_mpi_comm_rank(void *comm, int *rank);
int swiftnn_mpi_comm_size(void *comm, int *size);
/// MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN): failures come back as codes, not aborts.
int swiftnn_mpi_set_errors_return(void *comm);

/// MPI_Allreduce in place on `buffer` (MPI_IN_PLACE as the send buffer).
int swiftnn_mpi_allreduce(void *comm, void *buffer, int count, int dtype, int op);
/// MPI_Iallreduce in place on `buffer`; `*request` receives the request to test or wait on.
int swiftnn_mpi_iallreduce(void *comm, void *buffer, int count, int dtype, int op, void **request);
/// MPI_Test: `*done` becomes 1 when the request finished (the request is then freed).
int swiftnn_mpi_test(void **request, int *done);
/// MPI_Wait (status ignored).
int swiftnn_mpi_wait(void **request);
/// MPI_Allgather of `count` elements from every rank into `receive` (size × count elements).
int swiftnn_mpi_allgather(void *comm, const void *send, int count, int dtype, void *receive);
/// MPI_Allgatherv: rank r's `counts[r]` elements land at `receive + offsets[r]` (in elements).
int swiftnn_mpi_allgatherv(void *comm, const void *send, int count, void *receive,
                           const int *counts, const int *offsets, int dtype);
int swiftnn_mpi_bcast(void *comm, void *buffer, int count, int dtype, int root);
int swiftnn_mpi_barrier(void *comm);
/// MPI_Abort: ends every process of the job.
int swiftnn_mpi_abort(void *comm, int code);

/// MPI_Error_string into `buffer` (NUL-terminated, at most `length` bytes; needs no MPI init).
void swiftnn_mpi_error_string(int code, char *buffer, size_t length);
/// MPI_Get_library_version into `buffer` (NUL-terminated).
int swiftnn_mpi_library_version(char *buffer, size_t length);

#ifdef __cplusplus
}
#endif

#endif
