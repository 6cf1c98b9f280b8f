// In-register shuffles and lane masks shared by the AVX-512 kernels (conv_kernels.c, gemm_microkernel.c,
// pool_kernels.c, activation_kernels.c, row_kernels.c). Private to CKernelSupport: outside include/,
// so Swift never imports it.
#pragma once
#include <immintrin.h>

/// Lanes [lo, hi) of a 16-lane mask.
static inline __mmask16 lane_range(long lo, long hi) {
    if (hi <= lo) return 0;
    unsigned int up = hi >= 16 ? 0xFFFFu : ((1u << hi) - 1u);
    unsigned int down = lo <= 0 ? 0u : ((1u << lo) - 1u);
    return (__mmask16)(up & ~down);
}

/// Lanes [lo, hi) ∩ [0, 16), for bounds of any sign (lane_range wants 0 ≤ hi).
static inline __mmask16 lanes_between(long lo, long hi) {
    return lane_range(lo < 0 ? 0 : lo, hi > 16 ? 16 : hi < 0 ? 0 : hi);
}

/// In-register transpose of a 16×16 block held as 16 row vectors.
__attribute__((target("avx512f")))
static inline void transpose16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
        r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
        r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
        r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
    }
    // Now r[4q + s] holds, in each 128-bit lane L, the elements (row 4L' + …) — finish with 128-bit shuffles.
    for (int i = 0; i < 4; i++) {
        t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
        t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xDD);
        t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
        t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xDD);
    }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xDD);
        r[i + 4] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0x88);
        r[i + 12] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0xDD);
    }
}

/// Six 16-lane vectors v[0..5] stored as the micro-kernel's six-row layout: dst[6k + i] = v[i][k]
/// (96 floats). First pairs u_a = (v[2a][k], v[2a+1][k]) as 64-bit units (k < 8 in lo[a], k ≥ 8 in
/// hi[a]); then output unit 3k + a = u_a[k]: each output vector is two pairs' permute plus the third
/// pair's masked permute (units 8j..8j+7; the same indices serve both halves).
__attribute__((target("avx512f")))
static inline void interleave_six(const __m512 v[6], float *dst) {
    const __m512i pairLo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i pairHi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    const __m512i two[3] = {_mm512_setr_epi64(0, 8, 0, 1, 9, 0, 2, 10), _mm512_setr_epi64(0, 3, 11, 0, 4, 12, 0, 5),
                            _mm512_setr_epi64(13, 0, 6, 14, 0, 7, 15, 0)};
    const __m512i third[3] = {_mm512_setr_epi64(0, 0, 0, 0, 0, 1, 0, 0), _mm512_setr_epi64(2, 0, 0, 3, 0, 0, 4, 0),
                              _mm512_setr_epi64(0, 5, 0, 0, 6, 0, 0, 7)};
    const __mmask8 thirdMask[3] = {0x24, 0x49, 0x92};
    __m512d lo[3], hi[3];
    for (int a = 0; a < 3; a++) {
        lo[a] = _mm512_castps_pd(_mm512_permutex2var_ps(v[2 * a], pairLo, v[2 * a + 1]));
        hi[a] = _mm512_castps_pd(_mm512_permutex2var_ps(v[2 * a], pairHi, v[2 * a + 1]));
    }
    for (int j = 0; j < 6; j++) {
        const __m512d *src = j < 3 ? lo : hi;
        __m512d o = _mm512_permutex2var_pd(src[0], two[j % 3], src[1]);
        o = _mm512_mask_permutexvar_pd(o, thirdMask[j % 3], third[j % 3], src[2]);
        _mm512_storeu_ps(dst + 16 * j, _mm512_castpd_ps(o));
    }
}

/// One block of the six-row layout from `rows` (≤ 6) rows of a row-major matrix (row r at
/// a + r·lda, kc columns): dst[6c + i] = a[i·lda + c] for i < rows, 0 for the missing rows (the
/// GEMM's A panels always have six; the convolution's last weight block may have fewer).
__attribute__((target("avx512f")))
static inline void pack_six_row_block(const float *a, long lda, long kc, long rows, float *dst) {
    __m512 v[6];
    long p = 0;
    for (; p + 16 <= kc; p += 16) {
        for (long r = 0; r < 6; r++) v[r] = r < rows ? _mm512_loadu_ps(a + r * lda + p) : _mm512_setzero_ps();
        interleave_six(v, dst + 6 * p);
    }
    if (p < kc) {
        // Tail: interleave a zero-padded block on the stack, copy what belongs to the panel.
        __mmask16 m = (__mmask16)((1u << (kc - p)) - 1u);
        for (long r = 0; r < 6; r++) v[r] = r < rows ? _mm512_maskz_loadu_ps(m, a + r * lda + p) : _mm512_setzero_ps();
        float block[96];
        interleave_six(v, block);
        for (long i = 0; i < 6 * (kc - p); i++) dst[6 * p + i] = block[i];
    }
}
