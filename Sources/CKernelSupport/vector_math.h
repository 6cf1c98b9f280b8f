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

/// glibcExpf: glibc's expf (the form it runs with FMA) on sixteen lanes, in two halves of eight
/// doubles; the 32-entry table read by two-source permutes. The Swift definition's fused
/// operations are explicit FMAs here (contraction stays off for everything else).
SWIFTNN_AVX512
static inline __attribute__((always_inline)) __m512d glibc_expf8(__m512d xd, __m512d t0, __m512d t1, __m512d t2,
                                                                  __m512d t3) {
    const __m512d invLn2N = _mm512_set1_pd(0x1.71547652b82fep0 * 32.0), shift = _mm512_set1_pd(0x1.8p52);
    const __m512d z = _mm512_mul_pd(invLn2N, xd);
    __m512d kd = _mm512_add_pd(z, shift);
    const __m512i ki = _mm512_castpd_si512(kd);
    kd = _mm512_sub_pd(kd, shift);
    const __m512d r = _mm512_fmsub_pd(invLn2N, xd, kd);
    // Entries ki & 31: bits 0–3 pick within a pair of eight-entry registers, bit 4 the pair.
    const __m512i idx = _mm512_and_si512(ki, _mm512_set1_epi64(31));
    const __m512d lo = _mm512_permutex2var_pd(t0, idx, t1), hi = _mm512_permutex2var_pd(t2, idx, t3);
    const __mmask8 upper = _mm512_test_epi64_mask(idx, _mm512_set1_epi64(16));
    const __m512i t = _mm512_add_epi64(_mm512_castpd_si512(_mm512_mask_mov_pd(lo, upper, hi)), _mm512_slli_epi64(ki, 47));
    const __m512d p = _mm512_fmadd_pd(_mm512_set1_pd(0x1.c6af84b912394p-5 / 32 / 32 / 32), r,
                                      _mm512_set1_pd(0x1.ebfce50fac4f3p-3 / 32 / 32));
    __m512d y = _mm512_fmadd_pd(_mm512_set1_pd(0x1.62e42ff0c52d6p-1 / 32), r, _mm512_set1_pd(1.0));
    y = _mm512_fmadd_pd(p, _mm512_mul_pd(r, r), y);
    return _mm512_mul_pd(y, _mm512_castsi512_pd(t));
}

/// The table of glibcExp2fTable, as four registers of eight doubles.
typedef struct { __m512d t0, t1, t2, t3; } glibc_exp_table;

SWIFTNN_AVX512
static inline __attribute__((always_inline)) glibc_exp_table glibc_exp_table_load(void) {
    static const unsigned long long tab[32] __attribute__((aligned(64))) = {
        0x3ff0000000000000ULL, 0x3fefd9b0d3158574ULL, 0x3fefb5586cf9890fULL, 0x3fef9301d0125b51ULL,
        0x3fef72b83c7d517bULL, 0x3fef54873168b9aaULL, 0x3fef387a6e756238ULL, 0x3fef1e9df51fdee1ULL,
        0x3fef06fe0a31b715ULL, 0x3feef1a7373aa9cbULL, 0x3feedea64c123422ULL, 0x3feece086061892dULL,
        0x3feebfdad5362a27ULL, 0x3feeb42b569d4f82ULL, 0x3feeab07dd485429ULL, 0x3feea47eb03a5585ULL,
        0x3feea09e667f3bcdULL, 0x3fee9f75e8ec5f74ULL, 0x3feea11473eb0187ULL, 0x3feea589994cce13ULL,
        0x3feeace5422aa0dbULL, 0x3feeb737b0cdc5e5ULL, 0x3feec49182a3f090ULL, 0x3feed503b23e255dULL,
        0x3feee89f995ad3adULL, 0x3feeff76f2fb5e47ULL, 0x3fef199bdd85529cULL, 0x3fef3720dcef9069ULL,
        0x3fef5818dcfba487ULL, 0x3fef7c97337b9b5fULL, 0x3fefa4afa2a490daULL, 0x3fefd0765b6e4540ULL,
    };
    glibc_exp_table t;
    t.t0 = _mm512_load_pd((const double *)tab);
    t.t1 = _mm512_load_pd((const double *)tab + 8);
    t.t2 = _mm512_load_pd((const double *)tab + 16);
    t.t3 = _mm512_load_pd((const double *)tab + 24);
    return t;
}

SWIFTNN_AVX512
static inline __attribute__((always_inline)) __m512 glibc_expf16(__m512 x, glibc_exp_table t) {
    const __m512d a = glibc_expf8(_mm512_cvtps_pd(_mm512_castps512_ps256(x)), t.t0, t.t1, t.t2, t.t3);
    const __m256 upperHalf = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1));
    const __m512d b = glibc_expf8(_mm512_cvtps_pd(upperHalf), t.t0, t.t1, t.t2, t.t3);
    __m512 y = _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(_mm512_castps256_ps512(_mm512_cvtpd_ps(a))),
                                                   _mm256_castps_pd(_mm512_cvtpd_ps(b)), 1));
    // glibc's special cases, for the lanes with |x| ≥ 88 (the others never reach them).
    y = _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask(x, K(-0x1.9fe368p6f), _CMP_LT_OQ), _mm512_setzero_ps());
    y = _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask(x, K(0x1.62e42ep6f), _CMP_GT_OQ), K(__builtin_inff()));
    return _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), ADD(x, x));
}
