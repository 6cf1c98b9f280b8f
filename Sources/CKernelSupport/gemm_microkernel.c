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

void swiftnn_gemm_f32_microkernel(int level, long kc, const float *a, const float *b, float *c,
                                  long ldc, long rows, long cols) {
    (void)level; (void)kc; (void)a; (void)b; (void)c; (void)ldc; (void)rows; (void)cols;
}

#endif
