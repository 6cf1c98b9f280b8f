// Float32 GEMM micro-kernel compiled for AVX-512F or AVX2+FMA through function target attributes,
// chosen at run time from the CPU's features. SwiftPM forbids `unsafeFlags` in a library meant to
// be used as a versioned dependency, so without `-target-cpu native` Swift code targets SSE2 and
// the Swift micro-kernel runs at a third of the machine's speed; these functions carry their own
// target instead of relying on the build's.
//
// Computes exactly what `gemmMicroKernel` (GEMM.swift) computes on its fused path:
// six accumulator rows start at zero, for p in 0..<kc in order acc[r] = fma(a[6p + r], b[16p ..< 16p + 16], acc[r]),
// then C[r][j] += acc[r][j] for r < rows, j < cols.
#include "CKernelSupport.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include "simd_shuffles.h"

__attribute__((target("avx512f")))
static inline void swiftnn_gemm_f32_6x16_avx512_body(long kc, const float *a, const float *b, float *c,
                                                     long ldc, long rows, long cols, int accumulate) {
    __m512 c0 = _mm512_setzero_ps(), c1 = _mm512_setzero_ps(), c2 = _mm512_setzero_ps();
    __m512 c3 = _mm512_setzero_ps(), c4 = _mm512_setzero_ps(), c5 = _mm512_setzero_ps();
    for (long p = 0; p < kc; p++) {
        __m512 bv = _mm512_loadu_ps(b);
        c0 = _mm512_fmadd_ps(_mm512_set1_ps(a[0]), bv, c0);
        c1 = _mm512_fmadd_ps(_mm512_set1_ps(a[1]), bv, c1);
        c2 = _mm512_fmadd_ps(_mm512_set1_ps(a[2]), bv, c2);
        c3 = _mm512_fmadd_ps(_mm512_set1_ps(a[3]), bv, c3);
        c4 = _mm512_fmadd_ps(_mm512_set1_ps(a[4]), bv, c4);
        c5 = _mm512_fmadd_ps(_mm512_set1_ps(a[5]), bv, c5);
        a += 6;
        b += 16;
    }
    __m512 acc[6] = {c0, c1, c2, c3, c4, c5};
    if (!accumulate) {
        for (int r = 0; r < 6; r++) _mm512_storeu_ps(c + r * ldc, acc[r]);
    } else if (rows == 6 && cols == 16) {
        for (int r = 0; r < 6; r++) {
            float *row = c + r * ldc;
            _mm512_storeu_ps(row, _mm512_add_ps(_mm512_loadu_ps(row), acc[r]));
        }
    } else {
        // Masked lanes are neither read nor written (no fault past the end of C).
        __mmask16 mask = (__mmask16)((1u << cols) - 1u);
        for (long r = 0; r < rows; r++) {
            float *row = c + r * ldc;
            _mm512_mask_storeu_ps(row, mask, _mm512_add_ps(_mm512_maskz_loadu_ps(mask, row), acc[r]));
        }
    }
}

__attribute__((target("avx512f")))
static void swiftnn_gemm_f32_6x16_avx512(long kc, const float *a, const float *b, float *c,
                                         long ldc, long rows, long cols) {
    swiftnn_gemm_f32_6x16_avx512_body(kc, a, b, c, ldc, rows, cols, 1);
}

__attribute__((target("avx512f")))
void swiftnn_gemm_f32_6x16_tile(long kc, const float *a, const float *b, float *tile) {
    swiftnn_gemm_f32_6x16_avx512_body(kc, a, b, tile, 16, 6, 16, 0);
}

/// The 12×32 product's 24 accumulators: acc[0..<6] = a0·b0 rows, [6..<12] = a0·b1, [12..<18] = a1·b0,
/// [18..<24] = a1·b1. Each element is the same chain of fused multiply-adds from zero as in the 6×16
/// kernel, so the sums are bit-identical to it. Row i of a block at a[i·element], the blocks advancing
/// by `step` floats per k (the six-row layout: 1 and 6; rows of A: SWIFTNN_GEMM_ROW_STRIDE and 1),
/// constants once inlined.
__attribute__((target("avx512f")))
static inline __attribute__((always_inline)) void swiftnn_gemm_f32_12x32_sums_strided(
    long kc, const float *a0, const float *a1, const long element, const long step, const float *b0, const float *b1,
    __m512 acc[24]) {
    __m512 p0 = _mm512_setzero_ps(), p1 = p0, p2 = p0, p3 = p0, p4 = p0, p5 = p0;
    __m512 q0 = p0, q1 = p0, q2 = p0, q3 = p0, q4 = p0, q5 = p0;
    __m512 r0 = p0, r1 = p0, r2 = p0, r3 = p0, r4 = p0, r5 = p0;
    __m512 s0 = p0, s1 = p0, s2 = p0, s3 = p0, s4 = p0, s5 = p0;
    for (long p = 0; p < kc; p++) {
        __m512 u = _mm512_loadu_ps(b0), v = _mm512_loadu_ps(b1), x;
#define SWIFTNN_ROW(i, src, acc0, acc1) \
        x = _mm512_set1_ps(src[(i) * element]); acc0 = _mm512_fmadd_ps(x, u, acc0); acc1 = _mm512_fmadd_ps(x, v, acc1);
        SWIFTNN_ROW(0, a0, p0, q0) SWIFTNN_ROW(1, a0, p1, q1) SWIFTNN_ROW(2, a0, p2, q2)
        SWIFTNN_ROW(3, a0, p3, q3) SWIFTNN_ROW(4, a0, p4, q4) SWIFTNN_ROW(5, a0, p5, q5)
        SWIFTNN_ROW(0, a1, r0, s0) SWIFTNN_ROW(1, a1, r1, s1) SWIFTNN_ROW(2, a1, r2, s2)
        SWIFTNN_ROW(3, a1, r3, s3) SWIFTNN_ROW(4, a1, r4, s4) SWIFTNN_ROW(5, a1, r5, s5)
#undef SWIFTNN_ROW
        a0 += step; a1 += step; b0 += 16; b1 += 16;
    }
    acc[0] = p0; acc[1] = p1; acc[2] = p2; acc[3] = p3; acc[4] = p4; acc[5] = p5;
    acc[6] = q0; acc[7] = q1; acc[8] = q2; acc[9] = q3; acc[10] = q4; acc[11] = q5;
    acc[12] = r0; acc[13] = r1; acc[14] = r2; acc[15] = r3; acc[16] = r4; acc[17] = r5;
    acc[18] = s0; acc[19] = s1; acc[20] = s2; acc[21] = s3; acc[22] = s4; acc[23] = s5;
}

/// The sums for two six-row blocks in the micro-kernel's layout (a[6p + i]).
__attribute__((target("avx512f")))
static inline void swiftnn_gemm_f32_12x32_sums(long kc, const float *a0, const float *a1, const float *b0,
                                               const float *b1, __m512 acc[24]) {
    swiftnn_gemm_f32_12x32_sums_strided(kc, a0, a1, 1, 6, b0, b1, acc);
}

__attribute__((target("avx512f")))
void swiftnn_gemm_f32_12x32_tile(long kc, const float *a0, const float *a1, const float *b0, const float *b1,
                                 float *tiles) {
    __m512 acc[24];
    swiftnn_gemm_f32_12x32_sums(kc, a0, a1, b0, b1, acc);
    for (int i = 0; i < 24; i++) _mm512_storeu_ps(tiles + 16 * i, acc[i]);
}

/// One six-row block of A against two panels of B: 12 accumulators, twice the 6×16 kernel's, so
/// the fused multiply-adds' latency is hidden where a lone six-row block is left over (64 output
/// channels are ten blocks and a partial one). Each element is the 6×16 kernel's chain: same bits.
__attribute__((target("avx512f")))
void swiftnn_gemm_f32_6x32_tile(long kc, const float *a, const float *b0, const float *b1, float *tiles) {
    __m512 p0 = _mm512_setzero_ps(), p1 = p0, p2 = p0, p3 = p0, p4 = p0, p5 = p0;
    __m512 q0 = p0, q1 = p0, q2 = p0, q3 = p0, q4 = p0, q5 = p0;
    for (long p = 0; p < kc; p++) {
        __m512 u = _mm512_loadu_ps(b0), v = _mm512_loadu_ps(b1), x;
#define SWIFTNN_ROW(i, acc0, acc1) \
        x = _mm512_set1_ps(a[i]); acc0 = _mm512_fmadd_ps(x, u, acc0); acc1 = _mm512_fmadd_ps(x, v, acc1);
        SWIFTNN_ROW(0, p0, q0) SWIFTNN_ROW(1, p1, q1) SWIFTNN_ROW(2, p2, q2)
        SWIFTNN_ROW(3, p3, q3) SWIFTNN_ROW(4, p4, q4) SWIFTNN_ROW(5, p5, q5)
#undef SWIFTNN_ROW
        a += 6; b0 += 16; b1 += 16;
    }
    __m512 acc[12] = {p0, p1, p2, p3, p4, p5, q0, q1, q2, q3, q4, q5};
    for (int i = 0; i < 12; i++) _mm512_storeu_ps(tiles + 16 * i, acc[i]);
}

/// The 12×32 sums written to (or, with `add`, added onto) a row-major C with row stride `ldc`.
__attribute__((target("avx512f")))
static inline void swiftnn_gemm_f32_12x32_to_c(const __m512 acc[24], float *c, long ldc, int add) {
    for (int i = 0; i < 24; i++) {
        // Quadrant i / 6: rows 0–5 or 6–11 (a0, a1), columns 0–15 or 16–31 (b0, b1).
        int quadrant = i / 6, r = i % 6;
        float *row = c + ((quadrant >> 1) * 6 + r) * ldc + (quadrant & 1) * 16;
        _mm512_storeu_ps(row, add ? _mm512_add_ps(_mm512_loadu_ps(row), acc[i]) : acc[i]);
    }
}

__attribute__((target("avx512f")))
void swiftnn_gemm_f32_12x32_accumulate(long kc, const float *a0, const float *a1, const float *b0, const float *b1,
                                       float *c, long ldc) {
    __m512 acc[24];
    swiftnn_gemm_f32_12x32_sums(kc, a0, a1, b0, b1, acc);
    swiftnn_gemm_f32_12x32_to_c(acc, c, ldc, 1);
}

/// The 12×32 sums with A's rows SWIFTNN_GEMM_ROW_STRIDE floats apart: each broadcast's offset is a
/// constant, so a step costs what the packed layout's does.
__attribute__((target("avx512f")))
void swiftnn_gemm_f32_12x32_rows_accumulate(long kc, const float *a, const float *b0, const float *b1, float *c, long ldc) {
    __m512 acc[24];
    swiftnn_gemm_f32_12x32_sums_strided(kc, a, a + 6 * SWIFTNN_GEMM_ROW_STRIDE, SWIFTNN_GEMM_ROW_STRIDE, 1, b0, b1, acc);
    swiftnn_gemm_f32_12x32_to_c(acc, c, ldc, 1);
}

__attribute__((target("avx512f")))
void swiftnn_gemm_f32_6x16_rows_accumulate(long kc, const float *a, long rows, const float *b, float *c, long ldc, long cols) {
    __m512 acc[6];
    for (int r = 0; r < 6; r++) acc[r] = _mm512_setzero_ps();
    // Rows past `rows` are never read (they may lie past the gathered block).
    const float *row[6];
    for (int r = 0; r < 6; r++) row[r] = a + (r < rows ? r : 0) * SWIFTNN_GEMM_ROW_STRIDE;
    for (long p = 0; p < kc; p++) {
        const __m512 bv = _mm512_loadu_ps(b + 16 * p);
        for (int r = 0; r < 6; r++) acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(row[r][p]), bv, acc[r]);
    }
    const __mmask16 mask = (__mmask16)((1u << cols) - 1u);
    for (long r = 0; r < rows; r++) {
        float *out = c + r * ldc;
        _mm512_mask_storeu_ps(out, mask, _mm512_add_ps(_mm512_maskz_loadu_ps(mask, out), acc[r]));
    }
}

__attribute__((target("avx512f")))
void swiftnn_gemm_f32_6x16_store(long kc, const float *a, const float *b, float *c, long ldc) {
    swiftnn_gemm_f32_6x16_avx512_body(kc, a, b, c, ldc, 6, 16, 0);
}

__attribute__((target("avx512f")))
void swiftnn_gemm_f32_12x32_store(long kc, const float *a0, const float *a1, const float *b0, const float *b1,
                                  float *c, long ldc) {
    __m512 acc[24];
    swiftnn_gemm_f32_12x32_sums(kc, a0, a1, b0, b1, acc);
    swiftnn_gemm_f32_12x32_to_c(acc, c, ldc, 0);
}

/// Two six-row A panels × one 16-column B panel (12 accumulators, enough to hide the FMA latency
/// that the 6×16 kernel's six leave exposed), each element the same chain of fused multiply-adds.
__attribute__((target("avx512f")))
void swiftnn_gemm_f32_12x16_store(long kc, const float *a0, const float *a1, const float *b, float *c, long ldc) {
    __m512 p0 = _mm512_setzero_ps(), p1 = p0, p2 = p0, p3 = p0, p4 = p0, p5 = p0;
    __m512 r0 = p0, r1 = p0, r2 = p0, r3 = p0, r4 = p0, r5 = p0;
    for (long p = 0; p < kc; p++) {
        __m512 u = _mm512_loadu_ps(b);
        p0 = _mm512_fmadd_ps(_mm512_set1_ps(a0[0]), u, p0); p1 = _mm512_fmadd_ps(_mm512_set1_ps(a0[1]), u, p1);
        p2 = _mm512_fmadd_ps(_mm512_set1_ps(a0[2]), u, p2); p3 = _mm512_fmadd_ps(_mm512_set1_ps(a0[3]), u, p3);
        p4 = _mm512_fmadd_ps(_mm512_set1_ps(a0[4]), u, p4); p5 = _mm512_fmadd_ps(_mm512_set1_ps(a0[5]), u, p5);
        r0 = _mm512_fmadd_ps(_mm512_set1_ps(a1[0]), u, r0); r1 = _mm512_fmadd_ps(_mm512_set1_ps(a1[1]), u, r1);
        r2 = _mm512_fmadd_ps(_mm512_set1_ps(a1[2]), u, r2); r3 = _mm512_fmadd_ps(_mm512_set1_ps(a1[3]), u, r3);
        r4 = _mm512_fmadd_ps(_mm512_set1_ps(a1[4]), u, r4); r5 = _mm512_fmadd_ps(_mm512_set1_ps(a1[5]), u, r5);
        a0 += 6; a1 += 6; b += 16;
    }
    __m512 acc[12] = {p0, p1, p2, p3, p4, p5, r0, r1, r2, r3, r4, r5};
    for (int i = 0; i < 12; i++) _mm512_storeu_ps(c + i * ldc, acc[i]);
}

// Packing for the GEMM (GEMM.swift's gemmPackA / gemmPackB on their hottest layouts): Swift's
// scalar and SSE2 loops cost the MLP's step as much as a fifth of its micro-kernel time.

__attribute__((target("avx512f")))
void swiftnn_gemm_pack_a6_f32(const float *a, long lda, long kc, float *dst) {
    pack_six_row_block(a, lda, kc, 6, dst);
}

__attribute__((target("avx512f")))
void swiftnn_gemm_pack_b16_transposed_f32(const float *b, long ldb, long kc, long cols, float *dst) {
    __m512 r[16];
    for (long p = 0; p < kc; p += 16) {
        long n = kc - p < 16 ? kc - p : 16;
        __mmask16 m = (__mmask16)(n == 16 ? 0xFFFFu : (1u << n) - 1u);
        for (long j = 0; j < 16; j++) r[j] = j < cols ? _mm512_maskz_loadu_ps(m, b + j * ldb + p) : _mm512_setzero_ps();
        transpose16(r);
        for (long i = 0; i < n; i++) _mm512_storeu_ps(dst + (p + i) * 16, r[i]);
    }
}

__attribute__((target("avx2,fma")))
static void swiftnn_gemm_f32_6x16_avx2(long kc, const float *a, const float *b, float *c,
                                       long ldc, long rows, long cols) {
    __m256 c0l = _mm256_setzero_ps(), c0h = _mm256_setzero_ps();
    __m256 c1l = _mm256_setzero_ps(), c1h = _mm256_setzero_ps();
    __m256 c2l = _mm256_setzero_ps(), c2h = _mm256_setzero_ps();
    __m256 c3l = _mm256_setzero_ps(), c3h = _mm256_setzero_ps();
    __m256 c4l = _mm256_setzero_ps(), c4h = _mm256_setzero_ps();
    __m256 c5l = _mm256_setzero_ps(), c5h = _mm256_setzero_ps();
    for (long p = 0; p < kc; p++) {
        __m256 bl = _mm256_loadu_ps(b), bh = _mm256_loadu_ps(b + 8);
        __m256 x;
        x = _mm256_broadcast_ss(a + 0); c0l = _mm256_fmadd_ps(x, bl, c0l); c0h = _mm256_fmadd_ps(x, bh, c0h);
        x = _mm256_broadcast_ss(a + 1); c1l = _mm256_fmadd_ps(x, bl, c1l); c1h = _mm256_fmadd_ps(x, bh, c1h);
        x = _mm256_broadcast_ss(a + 2); c2l = _mm256_fmadd_ps(x, bl, c2l); c2h = _mm256_fmadd_ps(x, bh, c2h);
        x = _mm256_broadcast_ss(a + 3); c3l = _mm256_fmadd_ps(x, bl, c3l); c3h = _mm256_fmadd_ps(x, bh, c3h);
        x = _mm256_broadcast_ss(a + 4); c4l = _mm256_fmadd_ps(x, bl, c4l); c4h = _mm256_fmadd_ps(x, bh, c4h);
        x = _mm256_broadcast_ss(a + 5); c5l = _mm256_fmadd_ps(x, bl, c5l); c5h = _mm256_fmadd_ps(x, bh, c5h);
        a += 6;
        b += 16;
    }
    if (rows == 6 && cols == 16) {
#define SWIFTNN_ADD_ROW(r, lo, hi)                                                   \
        do {                                                                          \
            float *row = c + (r) * ldc;                                               \
            _mm256_storeu_ps(row, _mm256_add_ps(_mm256_loadu_ps(row), lo));           \
            _mm256_storeu_ps(row + 8, _mm256_add_ps(_mm256_loadu_ps(row + 8), hi));   \
        } while (0)
        SWIFTNN_ADD_ROW(0, c0l, c0h); SWIFTNN_ADD_ROW(1, c1l, c1h); SWIFTNN_ADD_ROW(2, c2l, c2h);
        SWIFTNN_ADD_ROW(3, c3l, c3h); SWIFTNN_ADD_ROW(4, c4l, c4h); SWIFTNN_ADD_ROW(5, c5l, c5h);
#undef SWIFTNN_ADD_ROW
    } else {
        float tile[6][16];
        _mm256_storeu_ps(tile[0], c0l); _mm256_storeu_ps(tile[0] + 8, c0h);
        _mm256_storeu_ps(tile[1], c1l); _mm256_storeu_ps(tile[1] + 8, c1h);
        _mm256_storeu_ps(tile[2], c2l); _mm256_storeu_ps(tile[2] + 8, c2h);
        _mm256_storeu_ps(tile[3], c3l); _mm256_storeu_ps(tile[3] + 8, c3h);
        _mm256_storeu_ps(tile[4], c4l); _mm256_storeu_ps(tile[4] + 8, c4h);
        _mm256_storeu_ps(tile[5], c5l); _mm256_storeu_ps(tile[5] + 8, c5h);
        for (long r = 0; r < rows; r++) {
            float *row = c + r * ldc;
            for (long j = 0; j < cols; j++) row[j] += tile[r][j];
        }
    }
}

int swiftnn_gemm_f32_level(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 1;
    return 0;
}

void swiftnn_gemm_f32_microkernel(int level, long kc, const float *a, const float *b, float *c,
                                  long ldc, long rows, long cols) {
    if (level >= 2) {
        swiftnn_gemm_f32_6x16_avx512(kc, a, b, c, ldc, rows, cols);
    } else {
        swiftnn_gemm_f32_6x16_avx2(kc, a, b, c, ldc, rows, cols);
    }
}

#else

int swiftnn_gemm_f32_level(void) { return 0; }

void swiftnn_gemm_f32_6x16_tile(long kc, const float *a, const float *b, float *tile) {
    (void)kc; (void)a; (void)b; (void)tile;
}

void swiftnn_gemm_f32_12x32_tile(long kc, const float *a0, const float *a1, const float *b0, const float *b1,
                                 float *tiles) {
    (void)kc; (void)a0; (void)a1; (void)b0; (void)b1; (void)tiles;
}

void swiftnn_gemm_f32_6x32_tile(long kc, const float *a, const float *b0, const float *b1, float *tiles) {
    (void)kc; (void)a; (void)b0; (void)b1; (void)tiles;
}

void swiftnn_gemm_f32_12x32_accumulate(long kc, const float *a0, const float *a1, const float *b0, const float *b1,
                                       float *c, long ldc) {
    (void)kc; (void)a0; (void)a1; (void)b0; (void)b1; (void)c; (void)ldc;
}

void swiftnn_gemm_f32_12x32_rows_accumulate(long kc, const float *a, const float *b0, const float *b1, float *c, long ldc) {
    (void)kc; (void)a; (void)b0; (void)b1; (void)c; (void)ldc;
}

void swiftnn_gemm_f32_6x16_rows_accumulate(long kc, const float *a, long rows, const float *b, float *c, long ldc, long cols) {
    (void)kc; (void)a; (void)rows; (void)b; (void)c; (void)ldc; (void)cols;
}

void swiftnn_gemm_f32_6x16_store(long kc, const float *a, const float *b, float *c, long ldc) {
    (void)kc; (void)a; (void)b; (void)c; (void)ldc;
}

void swiftnn_gemm_f32_12x32_store(long kc, const float *a0, const float *a1, const float *b0, const float *b1,
                                  float *c, long ldc) {
    (void)kc; (void)a0; (void)a1; (void)b0; (void)b1; (void)c; (void)ldc;
}

void swiftnn_gemm_f32_12x16_store(long kc, const float *a0, const float *a1, const float *b, float *c, long ldc) {
    (void)kc; (void)a0; (void)a1; (void)b; (void)c; (void)ldc;
}

void swiftnn_gemm_pack_a6_f32(const float *a, long lda, long kc, float *dst) {
    (void)a; (void)lda; (void)kc; (void)dst;
}

void swiftnn_gemm_pack_b16_transposed_f32(const float *b, long ldb, long kc, long cols, float *dst) {
    (void)b; (void)ldb; (void)kc; (void)cols; (void)dst;
}

void swiftnn_gemm_f32_microkernel(int level, long kc, const float *a, const float *b, float *c,
                                  long ldc, long rows, long cols) {
    (void)level; (void)kc; (void)a; (void)b; (void)c; (void)ldc; (void)rows; (void)cols;
}

#endif
