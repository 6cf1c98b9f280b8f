#include "swiftnn_zlib.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>

typedef const char *(*version_fn)(void);
typedef int (*inflate_init2_fn)(swiftnn_z_stream *, int, const char *, int);
typedef int (*deflate_init2_fn)(swiftnn_z_stream *, int, int, int, int, int, const char *, int);
typedef int (*stream_flush_fn)(swiftnn_z_stream *, int);
typedef int (*stream_fn)(swiftnn_z_stream *);
typedef unsigned long (*bound_fn)(swiftnn_z_stream *, unsigned long);
typedef unsigned long (*crc32_fn)(unsigned long, const unsigned char *, unsigned int);

static struct {
    version_fn version;
    inflate_init2_fn inflate_init2;
    stream_flush_fn inflate;
    stream_fn inflate_reset;
    stream_fn inflate_end;
    deflate_init2_fn deflate_init2;
    stream_flush_fn deflate;
    bound_fn deflate_bound;
    stream_fn deflate_end;
    crc32_fn crc32;
    int loaded;
} z;

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void) {
    static const char *const names[] = {
#if defined(__APPLE__)
        "/usr/lib/libz.1.dylib", "libz.1.dylib", "libz.dylib",
#else
        "libz.so.1", "libz.so",
#endif
    };
    void *lib = NULL;
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !lib; i++) lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!lib) return;
    z.version = (version_fn)dlsym(lib, "zlibVersion");
    z.inflate_init2 = (inflate_init2_fn)dlsym(lib, "inflateInit2_");
    z.inflate = (stream_flush_fn)dlsym(lib, "inflate");
    z.inflate_reset = (stream_fn)dlsym(lib, "inflateReset");
    z.inflate_end = (stream_fn)dlsym(lib, "inflateEnd");
    z.deflate_init2 = (deflate_init2_fn)dlsym(lib, "deflateInit2_");
    z.deflate = (stream_flush_fn)dlsym(lib, "deflate");
    z.deflate_bound = (bound_fn)dlsym(lib, "deflateBound");
    z.deflate_end = (stream_fn)dlsym(lib, "deflateEnd");
    z.crc32 = (crc32_fn)dlsym(lib, "crc32");
    z.loaded = z.crc32 && z.version && z.inflate_init2 && z.inflate && z.inflate_reset && z.inflate_end && z.deflate_init2 &&
               z.deflate && z.deflate_bound && z.deflate_end;
}

int swiftnn_zlib_available(void) {
    pthread_once(&once, load);
    return z.loaded;
}

const char *swiftnn_zlib_version(void) { return swiftnn_zlib_available() ? z.version() : ""; }

int swiftnn_inflate_init2(swiftnn_z_stream *strm, int window_bits) {
    if (!swiftnn_zlib_available()) return SWIFTNN_Z_UNAVAILABLE;
    return z.inflate_init2(strm, window_bits, z.version(), (int)sizeof(swiftnn_z_stream));
}
int swiftnn_inflate(swiftnn_z_stream *strm, int flush) { return z.loaded ? z.inflate(strm, flush) : SWIFTNN_Z_UNAVAILABLE; }
int swiftnn_inflate_reset(swiftnn_z_stream *strm) { return z.loaded ? z.inflate_reset(strm) : SWIFTNN_Z_UNAVAILABLE; }
int swiftnn_inflate_end(swiftnn_z_stream *strm) { return z.loaded ? z.inflate_end(strm) : SWIFTNN_Z_UNAVAILABLE; }

int swiftnn_deflate_init2(swiftnn_z_stream *strm, int level, int window_bits) {
    if (!swiftnn_zlib_available()) return SWIFTNN_Z_UNAVAILABLE;
    // method 8 (deflate), memLevel 8, strategy 0 (default).
    return z.deflate_init2(strm, level, 8, window_bits, 8, 0, z.version(), (int)sizeof(swiftnn_z_stream));
}
int swiftnn_deflate(swiftnn_z_stream *strm, int flush) { return z.loaded ? z.deflate(strm, flush) : SWIFTNN_Z_UNAVAILABLE; }
unsigned long swiftnn_deflate_bound(swiftnn_z_stream *strm, unsigned long n) { return z.loaded ? z.deflate_bound(strm, n) : 0; }
int swiftnn_deflate_end(swiftnn_z_stream *strm) { return z.loaded ? z.deflate_end(strm) : SWIFTNN_Z_UNAVAILABLE; }
unsigned long swiftnn_crc32(unsigned long crc, const unsigned char *buf, unsigned int len) {
    return swiftnn_zlib_available() ? z.crc32(crc, buf, len) : 0;
}
