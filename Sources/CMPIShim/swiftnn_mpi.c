#include "swiftnn_mpi.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

// Signatures from Open MPI 4.1's mpi.h, with every handle type (MPI_Comm, MPI_Datatype, MPI_Op,
// MPI_Request, MPI_Errhandler — all pointers in Open MPI) spelled void *.
typedef int (*init_thread_fn)(int *, char ***, int, int *);
typedef int (*flag_fn)(int *);
typedef int (*void_fn)(void);
typedef int (*comm_dup_fn)(void *, void **);
typedef int (*comm_free_fn)(void **);
typedef int (*comm_int_fn)(void *, int *);
typedef int (*set_errhandler_fn)(void *, void *);
typedef int (*allreduce_fn)(const void *, void *, int, void *, void *, void *);
typedef int (*iallreduce_fn)(const void *, void *, int, void *, void *, void *, void **);
typedef int (*test_fn)(void **, int *, void *);
typedef int (*wait_fn)(void **, void *);
typedef int (*allgather_fn)(const void *, int, void *, void *, int, void *, void *);
typedef int (*allgatherv_fn)(const void *, int, void *, void *, const int *, const int *, void *, void *);
typedef int (*bcast_fn)(void *, int, void *, int, void *);
typedef int (*barrier_fn)(void *);
typedef int (*abort_fn)(void *, int);
typedef int (*error_string_fn)(int, char *, int *);
typedef int (*version_fn)(char *, int *);

// MPI_IN_PLACE in Open MPI's mpi.h: ((void *) 1).
#define OMPI_IN_PLACE ((void *)1)
// MPI_MAX_ERROR_STRING and MPI_MAX_LIBRARY_VERSION_STRING in Open MPI 4.1.
#define OMPI_MAX_ERROR_STRING 256
#define OMPI_MAX_LIBRARY_VERSION_STRING 256

static struct {
    int loaded;
    init_thread_fn init_thread;
    flag_fn initialized, finalized;
    void_fn finalize;
    comm_dup_fn comm_dup;
    comm_free_fn comm_free;
    comm_int_fn comm_rank, comm_size;
    set_errhandler_fn comm_set_errhandler;
    allreduce_fn allreduce;
    iallreduce_fn iallreduce;
    test_fn test;
    wait_fn wait;
    allgather_fn allgather;
    allgatherv_fn allgatherv;
    bcast_fn bcast;
    barrier_fn barrier;
    abort_fn abort_;
    error_string_fn error_string;
    version_fn library_version;
    // Predefined handles: the addresses of Open MPI's global objects.
    void *comm_world, *errors_return;
    void *types[5];
    void *ops[3];
} mpi;

static int resolve(void *lib, const char *name, void **out, char *error, size_t length) {
    *out = dlsym(lib, name);
    if (*out == NULL) {
        snprintf(error, length, "%s has no symbol '%s'", "libmpi", name);
        return 1;
    }
    return 0;
}

int swiftnn_mpi_load(const char *path, char *error, size_t length) {
    if (mpi.loaded) return 0;
    const char *candidates[] = {path, "libmpi.so.40", "libmpi.so", "libmpi.40.dylib", "libmpi.dylib"};
    void *lib = NULL;
    char first_error[512] = "";
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0] && lib == NULL; i++) {
        if (candidates[i] == NULL) continue;
        lib = dlopen(candidates[i], RTLD_NOW | RTLD_GLOBAL);
        if (lib == NULL && first_error[0] == 0) {
            const char *e = dlerror();
            snprintf(first_error, sizeof first_error, "%s", e ? e : candidates[i]);
        }
        if (path != NULL && lib == NULL) break;  // an explicit path is the only candidate
    }
    if (lib == NULL) {
        snprintf(error, length, "cannot load Open MPI (%s)", first_error);
        return 1;
    }
    // Open MPI names its predefined objects ompi_mpi_*; another MPI (MPICH's integer handles)
    // lacks them and is refused here rather than misused.
    struct { const char *name; void **slot; } table[] = {
        {"MPI_Init_thread", (void **)&mpi.init_thread},
        {"MPI_Initialized", (void **)&mpi.initialized},
        {"MPI_Finalized", (void **)&mpi.finalized},
        {"MPI_Finalize", (void **)&mpi.finalize},
        {"MPI_Comm_dup", (void **)&mpi.comm_dup},
        {"MPI_Comm_free", (void **)&mpi.comm_free},
        {"MPI_Comm_rank", (void **)&mpi.comm_rank},
        {"MPI_Comm_size", (void **)&mpi.comm_size},
        {"MPI_Comm_set_errhandler", (void **)&mpi.comm_set_errhandler},
        {"MPI_Allreduce", (void **)&mpi.allreduce},
        {"MPI_Iallreduce", (void **)&mpi.iallreduce},
        {"MPI_Test", (void **)&mpi.test},
        {"MPI_Wait", (void **)&mpi.wait},
        {"MPI_Allgather", (void **)&mpi.allgather},
        {"MPI_Allgatherv", (void **)&mpi.allgatherv},
        {"MPI_Bcast", (void **)&mpi.bcast},
        {"MPI_Barrier", (void **)&mpi.barrier},
        {"MPI_Abort", (void **)&mpi.abort_},
        {"MPI_Error_string", (void **)&mpi.error_string},
        {"MPI_Get_library_version", (void **)&mpi.library_version},
        {"ompi_mpi_comm_world", &mpi.comm_world},
        {"ompi_mpi_errors_return", &mpi.errors_return},
        {"ompi_mpi_float", &mpi.types[SWIFTNN_MPI_FLOAT32]},
        {"ompi_mpi_double", &mpi.types[SWIFTNN_MPI_FLOAT64]},
        {"ompi_mpi_int64_t", &mpi.types[SWIFTNN_MPI_INT64]},
        {"ompi_mpi_byte", &mpi.types[SWIFTNN_MPI_BYTE]},
        {"ompi_mpi_int", &mpi.types[SWIFTNN_MPI_INT32]},
        {"ompi_mpi_op_sum", &mpi.ops[SWIFTNN_MPI_SUM]},
        {"ompi_mpi_op_max", &mpi.ops[SWIFTNN_MPI_MAX]},
        {"ompi_mpi_op_min", &mpi.ops[SWIFTNN_MPI_MIN]},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (resolve(lib, table[i].name, table[i].slot, error, length)) {
            size_t used = strlen(error);
            snprintf(error + used, length > used ? length - used : 0,
                     " (only Open MPI is supported; is this another MPI implementation?)");
            dlclose(lib);
            memset(&mpi, 0, sizeof mpi);
            return 1;
        }
    }
    mpi.loaded = 1;
    return 0;
}

int swiftnn_mpi_is_loaded(void) { return mpi.loaded; }

#define NEED_LOADED() do { if (!mpi.loaded) return SWIFTNN_MPI_NOT_LOADED; } while (0)
#define VALID_TYPE(t) ((t) >= 0 && (t) < 5)
#define VALID_OP(o) ((o) >= 0 && (o) < 3)
// MPI_ERR_TYPE and MPI_ERR_OP: a bad code from Swift is reported as MPI would.
#define ERR_TYPE 3
#define ERR_OP 10

int swiftnn_mpi_init_thread(int required, int *provided) {
    NEED_LOADED();
    return mpi.init_thread(NULL, NULL, required, provided);
}

int swiftnn_mpi_initialized(int *flag) { NEED_LOADED(); return mpi.initialized(flag); }
int swiftnn_mpi_finalized(int *flag) { NEED_LOADED(); return mpi.finalized(flag); }
int swiftnn_mpi_finalize(void) { NEED_LOADED(); return mpi.finalize(); }

void *swiftnn_mpi_comm_world(void) { return mpi.loaded ? mpi.comm_world : NULL; }

int swiftnn_mpi_comm_dup(void *comm, void **duplicate) { NEED_LOADED(); return mpi.comm_dup(comm, duplicate); }
int swiftnn_mpi_comm_free(void **comm) { NEED_LOADED(); return mpi.comm_free(comm); }
int swiftnn_mpi_comm_rank(void *comm, int *rank) { NEED_LOADED(); return mpi.comm_rank(comm, rank); }
int swiftnn_mpi_comm_size(void *comm, int *size) { NEED_LOADED(); return mpi.comm_size(comm, size); }

int swiftnn_mpi_set_errors_return(void *comm) {
    NEED_LOADED();
    return mpi.comm_set_errhandler(comm, mpi.errors_return);
}

int swiftnn_mpi_allreduce(void *comm, void *buffer, int count, int dtype, int op) {
    NEED_LOADED();
    if (!VALID_TYPE(dtype)) return ERR_TYPE;
    if (!VALID_OP(op)) return ERR_OP;
    return mpi.allreduce(OMPI_IN_PLACE, buffer, count, mpi.types[dtype], mpi.ops[op], comm);
}

int swiftnn_mpi_iallreduce(void *comm, void *buffer, int count, int dtype, int op, void **request) {
    NEED_LOADED();
    if (!VALID_TYPE(dtype)) return ERR_TYPE;
    if (!VALID_OP(op)) return ERR_OP;
    return mpi.iallreduce(OMPI_IN_PLACE, buffer, count, mpi.types[dtype], mpi.ops[op], comm, request);
}

// MPI_STATUS_IGNORE is ((MPI_Status *) 0).
int swiftnn_mpi_test(void **request, int *done) { NEED_LOADED(); return mpi.test(request, done, NULL); }
int swiftnn_mpi_wait(void **request) { NEED_LOADED(); return mpi.wait(request, NULL); }

int swiftnn_mpi_allgather(void *comm, const void *send, int count, int dtype, void *receive) {
    NEED_LOADED();
    if (!VALID_TYPE(dtype)) return ERR_TYPE;
    return mpi.allgather(send, count, mpi.types[dtype], receive, count, mpi.types[dtype], comm);
}

int swiftnn_mpi_allgatherv(void *comm, const void *send, int count, void *receive,
                           const int *counts, const int *offsets, int dtype) {
    NEED_LOADED();
    if (!VALID_TYPE(dtype)) return ERR_TYPE;
    return mpi.allgatherv(send, count, mpi.types[dtype], receive, counts, offsets, mpi.types[dtype], comm);
}

int swiftnn_mpi_bcast(void *comm, void *buffer, int count, int dtype, int root) {
    NEED_LOADED();
    if (!VALID_TYPE(dtype)) return ERR_TYPE;
    return mpi.bcast(buffer, count, mpi.types[dtype], root, comm);
}

int swiftnn_mpi_barrier(void *comm) { NEED_LOADED(); return mpi.barrier(comm); }
int swiftnn_mpi_abort(void *comm, int code) { NEED_LOADED(); return mpi.abort_(comm, code); }

void swiftnn_mpi_error_string(int code, char *buffer, size_t length) {
    if (length == 0) return;
    if (code == SWIFTNN_MPI_NOT_LOADED || !mpi.loaded) {
        snprintf(buffer, length, "%s", code == SWIFTNN_MPI_NOT_LOADED ? "Open MPI is not loaded" : "unknown error");
        return;
    }
    char text[OMPI_MAX_ERROR_STRING + 1] = "";
    int used = 0;
    if (mpi.error_string(code, text, &used) != 0) snprintf(text, sizeof text, "MPI error %d", code);
    snprintf(buffer, length, "%s", text);
}

int swiftnn_mpi_library_version(char *buffer, size_t length) {
    NEED_LOADED();
    char text[OMPI_MAX_LIBRARY_VERSION_STRING + 1] = "";
    int used = 0;
    int rc = mpi.library_version(text, &used);
    if (length > 0) snprintf(buffer, length, "%s", text);
    return rc;
}
