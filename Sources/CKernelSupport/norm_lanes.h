// Lane operations of batch normalization shared by the normalization sweeps (norm_kernels.c) and
// the convolutions that recompute their output inside batch norm + ReLU (conv_kernels.c), so both
// round, gate and sum exactly alike. Private to CKernelSupport: outside include/, so Swift never
// imports it.
#pragma once
#include <immintrin.h>

/// nhsum: (lo8 + hi8) → (lo4 + hi4) → (lo2 + hi2), then Double(c0) + Double(c1).
__attribute__((target("avx512f")))
static inline double hsum_tree(__m512 v) {
    __m256 a = _mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
    float c0 = _mm_cvtss_f32(c), c1 = _mm_cvtss_f32(_mm_shuffle_ps(c, c, 1));
    return (double)c0 + (double)c1;
}

/// max(0, v) as Swift's `v.replacing(with: 0, where: v .< 0)`: NaN and −0 pass unchanged.
__attribute__((target("avx512f")))
static inline __m512 relu16(__m512 v) {
    return _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ), _mm512_setzero_ps());
}

/// The ReLU gate: g where d·scale + offset > 0 (NaN stops it), else 0.
__attribute__((target("avx512f")))
static inline __m512 gate16(__m512 g, __m512 d, __m512 scale, __m512 offset) {
    __mmask16 open = _mm512_cmp_ps_mask(_mm512_add_ps(_mm512_mul_ps(d, scale), offset), _mm512_setzero_ps(), _CMP_GT_OQ);
    return _mm512_maskz_mov_ps(open, g);
}
