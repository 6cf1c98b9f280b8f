#include "swiftnn_zlib.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

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
static char load_error[512];

static void load(void) {
    // libz.so.1 is Debian/Ubuntu's zlib1g (Priority: required) and every other Linux's soname;
    // macOS ships /usr/lib/libz.1.dylib in the dyld shared cache (dlopen finds it there).
    static const char *const names[] = {
#if defined(__APPLE__)
        "/usr/lib/libz.1.dylib", "libz.1.dylib", "libz.dylib",
#else
        "libz.so.1", "libz.so",
#endif
    };
    const char *chosen = getenv("SWIFTNN_LIBZ");
    void *lib = NULL;
    if (chosen && chosen[0]) {
        lib = dlopen(chosen, RTLD_NOW | RTLD_LOCAL);  // an explicit library is the only candidate
        if (!lib) {
            const char *e = dlerror();
            snprintf(load_error, sizeof load_error, "SWIFTNN_LIBZ=%s: %s", chosen, e ? e : "cannot be loaded");
            return;
        }
    }
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !lib; i++) {
        lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
        if (!lib && i == 0) {
            const char *e = dlerror();
            snprintf(load_error, sizeof load_error, "%s", e ? e : names[0]);
        }
    }
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
    if (z.loaded) load_error[0] = 0;
    else snprintf(load_error, sizeof load_error, "the loaded zlib lacks an entry point SwiftNN uses");
}

int swiftnn_zlib_available(void) {
    pthread_once(&once, load);
    return z.loaded;
}

const char *swiftnn_zlib_error(void) { return swiftnn_zlib_available() ? "" : load_error; }

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
// Slicing-by-8 tables for the reflected polynomial 0xEDB88320, built once.
static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void make_crc_table(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++)
        for (int t = 1; t < 8; t++) crc_table[t][n] = crc_table[0][crc_table[t - 1][n] & 0xff] ^ (crc_table[t - 1][n] >> 8);
}

static uint32_t software_crc32(uint32_t crc, const unsigned char *p, size_t len) {
    pthread_once(&crc_once, make_crc_table);
    uint32_t c = ~crc;
    for (; len >= 8; len -= 8, p += 8) {
        // Byte-wise loads: no alignment or endianness assumptions.
        uint32_t lo = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
        uint32_t hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
        c = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^ crc_table[5][(lo >> 16) & 0xff] ^
            crc_table[4][lo >> 24] ^ crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
            crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
    }
    while (len--) c = crc_table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
    return ~c;
}

unsigned long swiftnn_software_crc32(unsigned long crc, const unsigned char *buf, unsigned int len) {
    return software_crc32((uint32_t)crc, buf, len);
}

unsigned long swiftnn_crc32(unsigned long crc, const unsigned char *buf, unsigned int len) {
    return swiftnn_zlib_available() ? z.crc32(crc, buf, len) : software_crc32((uint32_t)crc, buf, len);
}
