// Vector twins of the float32 math in TensorCore/CPU/FloatMath.swift (fastExp, fastTanh, fastErf,
// fastExpm1, fastLog), sixteen lanes per AVX-512 vector, shared by activation_kernels.c and row_kernels.c.
// Private to CKernelSupport: outside include/, so Swift never imports it.
//
// Bit for bit the Swift definitions: the same constants (their float bits were checked equal to
// Swift's literals), the same operations in the same order, each rounded on its own. Every file
// that includes this one turns off floating-point contraction, so a multiply and an add are never
// fused into an FMA.
#pragma once
#pragma clang fp contract(off)
#include <immintrin.h>

#define SWIFTNN_AVX512 __attribute__((target("avx512f")))
#define K(c) _mm512_set1_ps(c)
#define ADD _mm512_add_ps
#define SUB _mm512_sub_ps
#define MUL _mm512_mul_ps
#define DIV _mm512_div_ps

SWIFTNN_AVX512
static inline __attribute__((always_inline)) __m512 negate(__m512 x) {
    return _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(x), _mm512_set1_epi32((int)0x80000000u)));
}

SWIFTNN_AVX512
static inline __attribute__((always_inline)) __m512 nan_passes(__m512 x, __m512 y) {
    return _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), x);
}

/// ln2Reduction: x = n·ln2 + r (ln2 in two parts); returns r, and n as an integer in `ni`.
SWIFTNN_AVX512
static inline __attribute__((always_inline)) __m512 ln2_reduction(__m512 xc, __m512i *ni) {
    const __m512 magic = K(12582912.0f);
    const __m512 t = ADD(MUL(xc, K(1.44269504088896341f)), magic);
    const __m512 n = SUB(t, magic);
    *ni = _mm512_sub_epi32(_mm512_castps_si512(t), _mm512_castps_si512(magic));
    return SUB(SUB(xc, MUL(n, K(0.693359375f))), MUL(n, K(-2.12194440e-4f)));
}

/// fastExp: Cody–Waite reduction, Cephes' degree-6 polynomial, 2^n in two halves.
SWIFTNN_AVX512
static inline __attribute__((always_inline)) __m512 exp16(__m512 x) {
    const __m512 hi = K(88.72283f), lo = K(-87.33654f);
    // Swift.min(Swift.max(x, lo), hi): the same for every non-NaN x (a NaN's lane is replaced below).
    __m512i ni;
    const __m512 r = ln2_reduction(_mm512_min_ps(_mm512_max_ps(x, lo), hi), &ni);
    __m512 p = K(1.9875691500e-4f);
    p = ADD(MUL(p, r), K(1.3981999507e-3f));
    p = ADD(MUL(p, r), K(8.3334519073e-3f));
    p = ADD(MUL(p, r), K(4.1665795894e-2f));
    p = ADD(MUL(p, r), K(1.6666665459e-1f));
    p = ADD(MUL(p, r), K(5.0000001201e-1f));
    const __m512 er = ADD(ADD(MUL(MUL(p, r), r), r), K(1.0f));
    const __m512i half = _mm512_srai_epi32(ni, 1), bias = _mm512_set1_epi32(127);
    const __m512 s1 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(half, bias), 23));
    const __m512 s2 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(_mm512_sub_epi32(ni, half), bias), 23));
    __m512 y = MUL(MUL(er, s1), s2);
    y = _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask(x, hi, _CMP_GT_OQ), K(__builtin_inff()));
    y = _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ), _mm512_setzero_ps());
    return nan_passes(x, y);
}

/// fastTanh: 1 − 2/(e^{2|x|} + 1) with the sign restored, an odd polynomial below 1/16.
SWIFTNN_AVX512
static inline __attribute__((always_inline)) __m512 tanh16(__m512 x) {
    const __m512 one = K(1.0f);
    const __m512 ax = _mm512_abs_ps(x);
    const __m512 big = SUB(one, DIV(K(2.0f), ADD(exp16(MUL(K(2.0f), ax)), one)));
    const __m512 x2 = MUL(x, x);
    const __m512 small = MUL(x, ADD(one, MUL(x2, ADD(K(-1.0f / 3.0f), MUL(x2, ADD(K(2.0f / 15.0f), MUL(x2, K(-17.0f / 315.0f))))))));
    const __m512 r = _mm512_mask_mov_ps(big, _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ), negate(big));
    const __m512 y = _mm512_mask_mov_ps(r, _mm512_cmp_ps_mask(ax, K(0.0625f), _CMP_LT_OQ), small);
    return nan_passes(x, y);
}

/// fastErf: Abramowitz–Stegun 7.1.26 on |x|, the sign restored.
SWIFTNN_AVX512
static inline __attribute__((always_inline)) __m512 erf16(__m512 x) {
    const __m512 one = K(1.0f);
    const __m512 ax = _mm512_abs_ps(x);
    const __m512 t = DIV(one, ADD(one, MUL(K(0.3275911f), ax)));
    const __m512 poly = MUL(t, ADD(K(0.254829592f), MUL(t, ADD(K(-0.284496736f), MUL(t, ADD(K(1.421413741f),
                                   MUL(t, ADD(K(-1.453152027f), MUL(t, K(1.061405429f))))))))));
    const __m512 y = SUB(one, MUL(poly, exp16(MUL(negate(ax), ax))));
    const __m512 r = _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ), negate(y));
    return nan_passes(x, r);
}

/// fastExpm1 (x ≤ 0; positive x give 0). The clamps in Swift.max/Swift.min's operand order
/// (`lo >= x ? lo : x`, `0 < a ? 0 : a`), so that −0 and NaN go the same way.
SWIFTNN_AVX512
static inline __attribute__((always_inline)) __m512 expm1_16(__m512 x) {
    const __m512 lo = K(-87.33654f), zero = _mm512_setzero_ps();
    __m512i ni;
    const __m512 r = ln2_reduction(_mm512_min_ps(zero, _mm512_max_ps(lo, x)), &ni);
    __m512 p = K(1.0f / 40320.0f);
    p = ADD(MUL(p, r), K(1.0f / 5040.0f));
    p = ADD(MUL(p, r), K(1.0f / 720.0f));
    p = ADD(MUL(p, r), K(1.0f / 120.0f));
    p = ADD(MUL(p, r), K(1.0f / 24.0f));
    p = ADD(MUL(p, r), K(1.0f / 6.0f));
    p = ADD(MUL(p, r), K(0.5f));
    const __m512 em = ADD(MUL(MUL(p, r), r), r);
    const __m512 s = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(ni, _mm512_set1_epi32(127)), 23));
    __m512 y = ADD(MUL(s, em), SUB(s, K(1.0f)));
    y = _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ), K(-1.0f));
    y = _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask(x, zero, _CMP_EQ_OQ), x);
    return nan_passes(x, y);
}

/// fastLog: Cephes' logf (m in [√½, √2), f − f²/2 + f³·P(f), e·ln2 in two parts), subnormals
/// scaled by 2^23 first; the special cases selected as the Swift definition does.
SWIFTNN_AVX512
static inline __attribute__((always_inline)) __m512 log16(__m512 x) {
    const __mmask16 tiny = _mm512_cmp_ps_mask(x, K(1.17549435e-38f), _CMP_LT_OQ);
    const __m512i bits = _mm512_castps_si512(_mm512_mask_mul_ps(x, tiny, x, K(8388608.0f)));
    __m512i e = _mm512_sub_epi32(_mm512_and_si512(_mm512_srli_epi32(bits, 23), _mm512_set1_epi32(0xFF)), _mm512_set1_epi32(126));
    const __m512 m = _mm512_castsi512_ps(_mm512_or_si512(_mm512_and_si512(bits, _mm512_set1_epi32(0x007FFFFF)),
                                                         _mm512_set1_epi32(0x3F000000)));
    e = _mm512_mask_sub_epi32(e, tiny, e, _mm512_set1_epi32(23));
    const __mmask16 small = _mm512_cmp_ps_mask(m, K(0.707106781186547524f), _CMP_LT_OQ);
    e = _mm512_mask_sub_epi32(e, small, e, _mm512_set1_epi32(1));
    const __m512 f = _mm512_mask_mov_ps(SUB(m, K(1.0f)), small, SUB(ADD(m, m), K(1.0f)));
    const __m512 z = MUL(f, f);
    __m512 y = K(7.0376836292e-2f);
    y = SUB(MUL(y, f), K(1.1514610310e-1f));
    y = ADD(MUL(y, f), K(1.1676998740e-1f));
    y = SUB(MUL(y, f), K(1.2420140846e-1f));
    y = ADD(MUL(y, f), K(1.4249322787e-1f));
    y = SUB(MUL(y, f), K(1.6668057665e-1f));
    y = ADD(MUL(y, f), K(2.0000714765e-1f));
    y = SUB(MUL(y, f), K(2.4999993993e-1f));
    y = ADD(MUL(y, f), K(3.3333331174e-1f));
    y = MUL(MUL(y, f), z);
    const __m512 fe = _mm512_cvtepi32_ps(e);
    y = ADD(y, MUL(fe, K(-2.12194440e-4f)));
    y = ADD(y, MUL(K(-0.5f), z));
    __m512 r = ADD(f, y);
    r = ADD(r, MUL(fe, K(0.693359375f)));
    r = _mm512_mask_mov_ps(r, _mm512_cmp_ps_mask(x, K(__builtin_inff()), _CMP_EQ_OQ), x);
    r = _mm512_mask_mov_ps(r, _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_EQ_OQ), K(-__builtin_inff()));
    r = _mm512_mask_mov_ps(r, _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ), K(__builtin_nanf("")));
    return nan_passes(x, r);
}
