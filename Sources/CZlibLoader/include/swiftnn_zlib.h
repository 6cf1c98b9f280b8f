#ifndef SWIFTNN_ZLIB_H
#define SWIFTNN_ZLIB_H

// The few zlib entry points SwiftNN uses, resolved at run time from the system's shared zlib
// (libz.so.1 on Linux, libz.1.dylib on macOS — part of every base system), so building needs no
// zlib headers or development package. The stream layout is zlib's z_stream, unchanged since 1.2.
// SWIFTNN_LIBZ may name the library (a path or a soname); it is then the only candidate.

typedef struct swiftnn_z_stream {
    const unsigned char *next_in;
    unsigned int avail_in;
    unsigned long total_in;
    unsigned char *next_out;
    unsigned int avail_out;
    unsigned long total_out;
    const char *msg;
    void *state;
    void *zalloc;
    void *zfree;
    void *opaque;
    int data_type;
    unsigned long adler;
    unsigned long reserved;
} swiftnn_z_stream;

#define SWIFTNN_Z_OK 0
#define SWIFTNN_Z_STREAM_END 1
#define SWIFTNN_Z_NEED_DICT 2
#define SWIFTNN_Z_STREAM_ERROR (-2)
#define SWIFTNN_Z_DATA_ERROR (-3)
#define SWIFTNN_Z_MEM_ERROR (-4)
#define SWIFTNN_Z_BUF_ERROR (-5)
#define SWIFTNN_Z_NO_FLUSH 0
#define SWIFTNN_Z_FINISH 4
// Returned when the shared zlib could not be loaded.
#define SWIFTNN_Z_UNAVAILABLE (-100)

/// Whether the shared zlib was found (loaded once, on first use).
int swiftnn_zlib_available(void);
/// Why the shared zlib could not be loaded (dlopen's message), or "" when it was.
const char *swiftnn_zlib_error(void);
/// zlib's version string, or "" when unavailable.
const char *swiftnn_zlib_version(void);

int swiftnn_inflate_init2(swiftnn_z_stream *strm, int window_bits);
int swiftnn_inflate(swiftnn_z_stream *strm, int flush);
int swiftnn_inflate_reset(swiftnn_z_stream *strm);
int swiftnn_inflate_end(swiftnn_z_stream *strm);

int swiftnn_deflate_init2(swiftnn_z_stream *strm, int level, int window_bits);
int swiftnn_deflate(swiftnn_z_stream *strm, int flush);
unsigned long swiftnn_deflate_bound(swiftnn_z_stream *strm, unsigned long source_len);
int swiftnn_deflate_end(swiftnn_z_stream *strm);

/// CRC-32 (zlib's polynomial): zlib's crc32 when loaded, else a table-driven one (same result), so
/// zip checksums never depend on zlib being present.
unsigned long swiftnn_crc32(unsigned long crc, const unsigned char *buf, unsigned int len);
/// The table-driven CRC-32 alone (what swiftnn_crc32 uses without zlib; exposed for its test).
unsigned long swiftnn_software_crc32(unsigned long crc, const unsigned char *buf, unsigned int len);

#endif
