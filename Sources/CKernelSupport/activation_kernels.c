// Transcendental activations on AVX-512F (TensorCore/CPU/Unary.swift): e^x, the sigmoid, tanh,
// GELU (erf and tanh forms), SiLU, ELU and SELU and their gradients, ln x and 1/√x, sixteen floats
// per vector. Swift compiles the same loops for baseline x86-64 (four lanes, no
// FMA): exp ran at 6.5× the memory floor on one thread, GELU at 11×; ELU, SELU and log called libm
// per element (42×, 42×, 7.9×).
//
// Bit for bit the Swift definitions (FloatMath.swift, ElementFunctions.swift): see vector_math.h.
#pragma clang fp contract(off)
#include "CKernelSupport.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include "simd_shuffles.h"
#include "vector_math.h"

SWIFTNN_AVX512
static inline __attribute__((always_inline)) __m512 activation16(int op, __m512 v) {
    switch (op) {
    case SWIFTNN_ACTIVATION_EXP: return exp16(v);
    case SWIFTNN_ACTIVATION_SIGMOID: return DIV(K(1.0f), ADD(K(1.0f), exp16(negate(v))));
    case SWIFTNN_ACTIVATION_TANH: return tanh16(v);
    case SWIFTNN_ACTIVATION_GELU: return MUL(MUL(K(0.5f), v), ADD(K(1.0f), erf16(MUL(v, K(0.70710678118654752f)))));
    case SWIFTNN_ACTIVATION_RSQRT: return DIV(K(1.0f), _mm512_sqrt_ps(v));
    case SWIFTNN_ACTIVATION_LOG: return log16(v);
    case SWIFTNN_ACTIVATION_SILU: return DIV(v, ADD(K(1.0f), exp16(negate(v))));
    case SWIFTNN_ACTIVATION_GELU_TANH: {
        const __m512 c = K(0.044715f);
        const __m512 inner = MUL(K(0.79788456080286536f), ADD(v, MUL(MUL(MUL(c, v), v), v)));
        return MUL(MUL(K(0.5f), v), ADD(K(1.0f), tanh16(inner)));
    }
    default: return v;   // not reached: swiftnn_activation_f32 dispatches known codes only
    }
}

/// g·op′(v) for GELU, SiLU, or (any other op) the tanh form of GELU.
SWIFTNN_AVX512
static inline __attribute__((always_inline)) __m512 gradient16(int op, __m512 g, __m512 v) {
    if (op == SWIFTNN_ACTIVATION_SILU) {
        const __m512 one = K(1.0f);
        const __m512 s = DIV(one, ADD(one, exp16(negate(v))));
        return MUL(MUL(g, s), ADD(one, MUL(v, SUB(one, s))));
    }
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
SWIFTNN_ACTIVATION_LOOP(rsqrt_loop, SWIFTNN_ACTIVATION_RSQRT)
SWIFTNN_ACTIVATION_LOOP(log_loop, SWIFTNN_ACTIVATION_LOG)
SWIFTNN_ACTIVATION_LOOP(silu_loop, SWIFTNN_ACTIVATION_SILU)

void swiftnn_activation_f32(int op, const float *x, float *y, long n) {
    switch (op) {
    case SWIFTNN_ACTIVATION_EXP: exp_loop(x, y, n); break;
    case SWIFTNN_ACTIVATION_SIGMOID: sigmoid_loop(x, y, n); break;
    case SWIFTNN_ACTIVATION_TANH: tanh_loop(x, y, n); break;
    case SWIFTNN_ACTIVATION_GELU: gelu_loop(x, y, n); break;
    case SWIFTNN_ACTIVATION_GELU_TANH: gelu_tanh_loop(x, y, n); break;
    case SWIFTNN_ACTIVATION_RSQRT: rsqrt_loop(x, y, n); break;
    case SWIFTNN_ACTIVATION_LOG: log_loop(x, y, n); break;
    case SWIFTNN_ACTIVATION_SILU: silu_loop(x, y, n); break;
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
SWIFTNN_GRADIENT_LOOP(silu_gradient_loop, SWIFTNN_ACTIVATION_SILU)

void swiftnn_activation_backward_f32(int op, const float *g, const float *x, float *d, long n) {
    if (op == SWIFTNN_ACTIVATION_GELU) gelu_gradient_loop(g, x, d, n);
    else if (op == SWIFTNN_ACTIVATION_GELU_TANH) gelu_tanh_gradient_loop(g, x, d, n);
    else if (op == SWIFTNN_ACTIVATION_SILU) silu_gradient_loop(g, x, d, n);
}

#else

void swiftnn_activation_f32(int op, const float *x, float *y, long n) { (void)op; (void)x; (void)y; (void)n; }
void swiftnn_activation_backward_f32(int op, const float *g, const float *x, float *d, long n) {
    (void)op; (void)g; (void)x; (void)d; (void)n;
}
void swiftnn_elu_f32(const float *x, float *y, long n, float alpha, float scale) {
    (void)x; (void)y; (void)n; (void)alpha; (void)scale;
}
void swiftnn_elu_backward_f32(const float *g, const float *x, float *d, long n, float alpha, float scale) {
    (void)g; (void)x; (void)d; (void)n; (void)alpha; (void)scale;
}

#endif
