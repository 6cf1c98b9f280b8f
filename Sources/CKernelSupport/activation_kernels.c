// Transcendental activations on AVX-512F (TensorCore/CPU/FloatMath.swift): e^x, the sigmoid, tanh,
// GELU (erf and tanh forms), GELU's gradients, ELU and SELU, and softmax's row passes (Softmax.swift), sixteen
// floats per vector. Swift compiles the same loops for baseline x86-64 (four lanes, no FMA): exp
// ran at 6.5× the memory floor on one thread, GELU at 11×.
//
// Bit for bit the Swift definitions (fastExp, fastTanh, fastErf, the loops over them, softmaxRow and
// rowSum's order of additions): the same constants (their float bits were checked equal to Swift's
// literals), the same operations in the same order, each rounded on its own: a multiply and an add
// are never fused into an FMA.
#pragma clang fp contract(off)
#include "CKernelSupport.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include "simd_shuffles.h"

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

/// fastExp: Cody–Waite reduction, Cephes' degree-6 polynomial, 2^n in two halves.
SWIFTNN_AVX512
static inline __attribute__((always_inline)) __m512 exp16(__m512 x) {
    const __m512 hi = K(88.72283f), lo = K(-87.33654f), magic = K(12582912.0f);
    // Swift.min(Swift.max(x, lo), hi): the same for every non-NaN x (a NaN's lane is replaced below).
    const __m512 xc = _mm512_min_ps(_mm512_max_ps(x, lo), hi);
    const __m512 t = ADD(MUL(xc, K(1.44269504088896341f)), magic);
    const __m512 n = SUB(t, magic);
    const __m512 r = SUB(SUB(xc, MUL(n, K(0.693359375f))), MUL(n, K(-2.12194440e-4f)));
    __m512 p = K(1.9875691500e-4f);
    p = ADD(MUL(p, r), K(1.3981999507e-3f));
    p = ADD(MUL(p, r), K(8.3334519073e-3f));
    p = ADD(MUL(p, r), K(4.1665795894e-2f));
    p = ADD(MUL(p, r), K(1.6666665459e-1f));
    p = ADD(MUL(p, r), K(5.0000001201e-1f));
    const __m512 er = ADD(ADD(MUL(MUL(p, r), r), r), K(1.0f));
    const __m512i ni = _mm512_sub_epi32(_mm512_castps_si512(t), _mm512_castps_si512(magic));
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
    const __m512 lo = K(-87.33654f), magic = K(12582912.0f), zero = _mm512_setzero_ps();
    const __m512 xc = _mm512_min_ps(zero, _mm512_max_ps(lo, x));
    const __m512 t = ADD(MUL(xc, K(1.44269504088896341f)), magic);
    const __m512 n = SUB(t, magic);
    const __m512 r = SUB(SUB(xc, MUL(n, K(0.693359375f))), MUL(n, K(-2.12194440e-4f)));
    __m512 p = K(1.0f / 40320.0f);
    p = ADD(MUL(p, r), K(1.0f / 5040.0f));
    p = ADD(MUL(p, r), K(1.0f / 720.0f));
    p = ADD(MUL(p, r), K(1.0f / 120.0f));
    p = ADD(MUL(p, r), K(1.0f / 24.0f));
    p = ADD(MUL(p, r), K(1.0f / 6.0f));
    p = ADD(MUL(p, r), K(0.5f));
    const __m512 em = ADD(MUL(MUL(p, r), r), r);
    const __m512i ni = _mm512_sub_epi32(_mm512_castps_si512(t), _mm512_castps_si512(magic));
    const __m512 s = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(ni, _mm512_set1_epi32(127)), 23));
    __m512 y = ADD(MUL(s, em), SUB(s, K(1.0f)));
    y = _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ), K(-1.0f));
    y = _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask(x, zero, _CMP_EQ_OQ), x);
    return nan_passes(x, y);
}

SWIFTNN_AVX512
static inline __attribute__((always_inline)) __m512 activation16(int op, __m512 v) {
    switch (op) {
    case SWIFTNN_ACTIVATION_EXP: return exp16(v);
    case SWIFTNN_ACTIVATION_SIGMOID: return DIV(K(1.0f), ADD(K(1.0f), exp16(negate(v))));
    case SWIFTNN_ACTIVATION_TANH: return tanh16(v);
    case SWIFTNN_ACTIVATION_GELU: return MUL(MUL(K(0.5f), v), ADD(K(1.0f), erf16(MUL(v, K(0.70710678118654752f)))));
    default: {
        const __m512 c = K(0.044715f);
        const __m512 inner = MUL(K(0.79788456080286536f), ADD(v, MUL(MUL(MUL(c, v), v), v)));
        return MUL(MUL(K(0.5f), v), ADD(K(1.0f), tanh16(inner)));
    }
    }
}

SWIFTNN_AVX512
static inline __attribute__((always_inline)) __m512 gradient16(int op, __m512 g, __m512 v) {
    if (op == SWIFTNN_ACTIVATION_GELU) {
        const __m512 cdf = MUL(K(0.5f), ADD(K(1.0f), erf16(MUL(v, K(0.70710678118654752f)))));
        const __m512 pdf = MUL(MUL(v, K(0.39894228040143268f)), exp16(MUL(MUL(K(-0.5f), v), v)));
        return MUL(g, ADD(cdf, pdf));
    }
    const __m512 k = K(0.79788456080286536f), c = K(0.044715f), one = K(1.0f), half = K(0.5f);
    const __m512 t = tanh16(MUL(k, ADD(v, MUL(MUL(MUL(c, v), v), v))));
    const __m512 slope = MUL(MUL(MUL(MUL(half, v), SUB(one, MUL(t, t))), k), ADD(one, MUL(MUL(MUL(K(3.0f), c), v), v)));
    return MUL(g, ADD(MUL(half, ADD(one, t)), slope));
}

// One function per op, so that the switch is resolved outside the loop.
#define SWIFTNN_ACTIVATION_LOOP(name, op)                                                      \
    SWIFTNN_AVX512 static void name(const float *x, float *y, long n) {                       \
        long i = 0;                                                                            \
        for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, activation16(op, _mm512_loadu_ps(x + i))); \
        if (i < n) {                                                                           \
            const __mmask16 m = lane_range(0, n - i);                                          \
            _mm512_mask_storeu_ps(y + i, m, activation16(op, _mm512_maskz_loadu_ps(m, x + i)));  \
        }                                                                                      \
    }
SWIFTNN_ACTIVATION_LOOP(exp_loop, SWIFTNN_ACTIVATION_EXP)
SWIFTNN_ACTIVATION_LOOP(sigmoid_loop, SWIFTNN_ACTIVATION_SIGMOID)
SWIFTNN_ACTIVATION_LOOP(tanh_loop, SWIFTNN_ACTIVATION_TANH)
SWIFTNN_ACTIVATION_LOOP(gelu_loop, SWIFTNN_ACTIVATION_GELU)
SWIFTNN_ACTIVATION_LOOP(gelu_tanh_loop, SWIFTNN_ACTIVATION_GELU_TANH)

void swiftnn_activation_f32(int op, const float *x, float *y, long n) {
    switch (op) {
    case SWIFTNN_ACTIVATION_EXP: exp_loop(x, y, n); break;
    case SWIFTNN_ACTIVATION_SIGMOID: sigmoid_loop(x, y, n); break;
    case SWIFTNN_ACTIVATION_TANH: tanh_loop(x, y, n); break;
    case SWIFTNN_ACTIVATION_GELU: gelu_loop(x, y, n); break;
    case SWIFTNN_ACTIVATION_GELU_TANH: gelu_tanh_loop(x, y, n); break;
    default: break;
    }
}

SWIFTNN_AVX512
static inline __attribute__((always_inline)) __m512 elu16(__m512 x, __m512 alpha, __m512 scale) {
    const __m512 negative = MUL(MUL(scale, alpha), expm1_16(x));
    return _mm512_mask_mov_ps(negative, _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GT_OQ), MUL(scale, x));
}

SWIFTNN_AVX512
void swiftnn_elu_f32(const float *x, float *y, long n, float alpha, float scale) {
    const __m512 a = K(alpha), s = K(scale);
    long i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, elu16(_mm512_loadu_ps(x + i), a, s));
    if (i < n) {
        const __mmask16 m = lane_range(0, n - i);
        _mm512_mask_storeu_ps(y + i, m, elu16(_mm512_maskz_loadu_ps(m, x + i), a, s));
    }
}

SWIFTNN_AVX512
static inline __attribute__((always_inline)) __m512 elu_gradient16(__m512 g, __m512 x, __m512 alpha, __m512 scale) {
    const __m512 gs = MUL(g, scale);
    return _mm512_mask_mov_ps(MUL(MUL(gs, alpha), exp16(x)), _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GT_OQ), gs);
}

SWIFTNN_AVX512
void swiftnn_elu_backward_f32(const float *g, const float *x, float *d, long n, float alpha, float scale) {
    const __m512 a = K(alpha), s = K(scale);
    long i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(d + i, elu_gradient16(_mm512_loadu_ps(g + i), _mm512_loadu_ps(x + i), a, s));
    if (i < n) {
        const __mmask16 m = lane_range(0, n - i);
        _mm512_mask_storeu_ps(d + i, m, elu_gradient16(_mm512_maskz_loadu_ps(m, g + i), _mm512_maskz_loadu_ps(m, x + i), a, s));
    }
}

#define SWIFTNN_GRADIENT_LOOP(name, op)                                                        \
    SWIFTNN_AVX512 static void name(const float *g, const float *x, float *d, long n) {       \
        long i = 0;                                                                            \
        for (; i + 16 <= n; i += 16)                                                           \
            _mm512_storeu_ps(d + i, gradient16(op, _mm512_loadu_ps(g + i), _mm512_loadu_ps(x + i))); \
        if (i < n) {                                                                           \
            const __mmask16 m = lane_range(0, n - i);                                          \
            _mm512_mask_storeu_ps(d + i, m, gradient16(op, _mm512_maskz_loadu_ps(m, g + i), _mm512_maskz_loadu_ps(m, x + i))); \
        }                                                                                      \
    }
SWIFTNN_GRADIENT_LOOP(gelu_gradient_loop, SWIFTNN_ACTIVATION_GELU)
SWIFTNN_GRADIENT_LOOP(gelu_tanh_gradient_loop, SWIFTNN_ACTIVATION_GELU_TANH)

void swiftnn_activation_backward_f32(int op, const float *g, const float *x, float *d, long n) {
    if (op == SWIFTNN_ACTIVATION_GELU) gelu_gradient_loop(g, x, d, n);
    else if (op == SWIFTNN_ACTIVATION_GELU_TANH) gelu_tanh_gradient_loop(g, x, d, n);
}

/// The largest of n ≥ 1 floats, ignoring NaNs after the first element (as the Swift loop's
/// `x[k] > m ? x[k] : m`; a row with a NaN ends all NaN whatever its maximum).
SWIFTNN_AVX512
float swiftnn_row_max_f32(const float *x, long n) {
    __m512 m0 = K(x[0]), m1 = m0, m2 = m0, m3 = m0;
    long i = 0;
    for (; i + 64 <= n; i += 64) {
        // max(v, m) returns m when v is NaN: NaNs are skipped, as in `v > m ? v : m`.
        m0 = _mm512_max_ps(_mm512_loadu_ps(x + i), m0);
        m1 = _mm512_max_ps(_mm512_loadu_ps(x + i + 16), m1);
        m2 = _mm512_max_ps(_mm512_loadu_ps(x + i + 32), m2);
        m3 = _mm512_max_ps(_mm512_loadu_ps(x + i + 48), m3);
    }
    for (; i + 16 <= n; i += 16) m0 = _mm512_max_ps(_mm512_loadu_ps(x + i), m0);
    if (i < n) m1 = _mm512_mask_max_ps(m1, lane_range(0, n - i), _mm512_maskz_loadu_ps(lane_range(0, n - i), x + i), m1);
    return _mm512_reduce_max_ps(_mm512_max_ps(_mm512_max_ps(m0, m1), _mm512_max_ps(m2, m3)));
}

/// The position of the first NaN of x[0..<n] (n ≥ 1) if there is one, else of the first largest
/// (`largest`) or smallest element: max(dim:) and min(dim:) over a row.
SWIFTNN_AVX512
long swiftnn_row_extremum_index_f32(const float *x, long n, int largest) {
    __m512 b0 = K(x[0]), b1 = b0;
    __mmask16 nan = 0;
    long i = 0;
    for (; i + 32 <= n; i += 32) {
        const __m512 v0 = _mm512_loadu_ps(x + i), v1 = _mm512_loadu_ps(x + i + 16);
        nan |= _mm512_cmp_ps_mask(v0, v1, _CMP_UNORD_Q);
        b0 = largest ? _mm512_max_ps(v0, b0) : _mm512_min_ps(v0, b0);
        b1 = largest ? _mm512_max_ps(v1, b1) : _mm512_min_ps(v1, b1);
    }
    for (; i < n; i += 16) {
        const __mmask16 m = lane_range(0, n - i);
        const __m512 v = _mm512_mask_loadu_ps(b0, m, x + i);   // lanes past n repeat b0: no effect
        nan |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
        b0 = largest ? _mm512_max_ps(v, b0) : _mm512_min_ps(v, b0);
    }
    nan |= _mm512_cmp_ps_mask(b0, b0, _CMP_UNORD_Q);   // x[0] NaN: b0 and b1 stayed NaN
    if (nan) {
        for (long j = 0; j < n; j += 16) {
            const __mmask16 m = lane_range(0, n - j);
            const __mmask16 hit = _mm512_mask_cmp_ps_mask(m, _mm512_maskz_loadu_ps(m, x + j), _mm512_setzero_ps(), _CMP_UNORD_Q);
            if (hit) return j + __builtin_ctz(hit);
        }
    }
    const float best = largest ? _mm512_reduce_max_ps(_mm512_max_ps(b0, b1)) : _mm512_reduce_min_ps(_mm512_min_ps(b0, b1));
    const __m512 target = K(best);
    for (long j = 0; j < n; j += 16) {
        const __mmask16 m = lane_range(0, n - j);
        const __mmask16 hit = _mm512_mask_cmp_ps_mask(m, _mm512_maskz_loadu_ps(m, x + j), target, _CMP_EQ_OQ);
        if (hit) return j + __builtin_ctz(hit);
    }
    return 0;   // not reached: the extremum is one of the elements
}

/// Σ of a vector in the order of Swift's `treeSum`: halves added, down to two lanes.
SWIFTNN_AVX512
static inline __attribute__((always_inline)) float tree_sum(__m512 v) {
    const __m256 a = _mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    const __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    const __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
    return _mm_cvtss_f32(c) + _mm_cvtss_f32(_mm_shuffle_ps(c, c, 1));
}

SWIFTNN_AVX512
double swiftnn_exp_shifted_sum_f32(const float *x, float shift, float *y, long n) {
    const __m512 s = K(shift);
    double total = 0;
    for (long start = 0; start < n; start += 4096) {
        const long end = n < start + 4096 ? n : start + 4096;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        long i = start;
        for (; i + 64 <= end; i += 64) {
            const __m512 e0 = exp16(SUB(_mm512_loadu_ps(x + i), s)), e1 = exp16(SUB(_mm512_loadu_ps(x + i + 16), s));
            const __m512 e2 = exp16(SUB(_mm512_loadu_ps(x + i + 32), s)), e3 = exp16(SUB(_mm512_loadu_ps(x + i + 48), s));
            _mm512_storeu_ps(y + i, e0); _mm512_storeu_ps(y + i + 16, e1);
            _mm512_storeu_ps(y + i + 32, e2); _mm512_storeu_ps(y + i + 48, e3);
            a0 = ADD(a0, e0); a1 = ADD(a1, e1); a2 = ADD(a2, e2); a3 = ADD(a3, e3);
        }
        for (; i + 16 <= end; i += 16) {
            const __m512 e = exp16(SUB(_mm512_loadu_ps(x + i), s));
            _mm512_storeu_ps(y + i, e);
            a0 = ADD(a0, e);
        }
        // The tail one element at a time, in order, as rowSum's scalar loop.
        float tail = 0;
        if (i < end) {
            const __mmask16 m = lane_range(0, end - i);
            float e[16];
            _mm512_storeu_ps(e, exp16(SUB(_mm512_maskz_loadu_ps(m, x + i), s)));
            for (long j = 0; j < end - i; j++) { y[i + j] = e[j]; tail += e[j]; }
        }
        total += (double)tree_sum(ADD(ADD(a0, a1), ADD(a2, a3))) + (double)tail;
    }
    return total;
}

SWIFTNN_AVX512
void swiftnn_scale_f32(float *y, float factor, long n) {
    const __m512 f = K(factor);
    long i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, MUL(_mm512_loadu_ps(y + i), f));
    if (i < n) {
        const __mmask16 m = lane_range(0, n - i);
        _mm512_mask_storeu_ps(y + i, m, MUL(_mm512_maskz_loadu_ps(m, y + i), f));
    }
}

SWIFTNN_AVX512
void swiftnn_subtract_f32(const float *x, float c, float *y, long n) {
    const __m512 v = K(c);
    long i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, SUB(_mm512_loadu_ps(x + i), v));
    if (i < n) {
        const __mmask16 m = lane_range(0, n - i);
        _mm512_mask_storeu_ps(y + i, m, SUB(_mm512_maskz_loadu_ps(m, x + i), v));
    }
}

#else

float swiftnn_row_max_f32(const float *x, long n) { (void)n; return x[0]; }
long swiftnn_row_extremum_index_f32(const float *x, long n, int largest) { (void)x; (void)n; (void)largest; return 0; }
void swiftnn_elu_f32(const float *x, float *y, long n, float alpha, float scale) {
    (void)x; (void)y; (void)n; (void)alpha; (void)scale;
}
void swiftnn_elu_backward_f32(const float *g, const float *x, float *d, long n, float alpha, float scale) {
    (void)g; (void)x; (void)d; (void)n; (void)alpha; (void)scale;
}
double swiftnn_exp_shifted_sum_f32(const float *x, float shift, float *y, long n) { (void)x; (void)shift; (void)y; (void)n; return 0; }
void swiftnn_scale_f32(float *y, float factor, long n) { (void)y; (void)factor; (void)n; }
void swiftnn_subtract_f32(const float *x, float c, float *y, long n) { (void)x; (void)c; (void)y; (void)n; }

void swiftnn_activation_f32(int op, const float *x, float *y, long n) { (void)op; (void)x; (void)y; (void)n; }
void swiftnn_activation_backward_f32(int op, const float *g, const float *x, float *d, long n) {
    (void)op; (void)g; (void)x; (void)d; (void)n;
}

#endif
