// The Adam/AdamW update's common float32 case (TensorCore/CPU/Optimizers.swift, adamKernelSIMD) on
// AVX-512F through a function target attribute: Swift's SIMD16 is SSE2 in a plain release build,
// where this update (a square root and a division per element) was compute-bound. The operations
// and their order are those of the Swift twin, with contraction off, so every result is the same bits.
#include "CKernelSupport.h"

#pragma STDC FP_CONTRACT OFF
#if defined(__clang__)
#pragma clang fp contract(off)
#endif

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx512f")))
void swiftnn_adam_f32(float *p, const float *grad, float *m, float *v, long n, float coupledWD, float decay, float w1,
                      float b2, float w2, float bc2Sqrt, float eps, float negStepSize) {
    const __m512 cwd = _mm512_set1_ps(coupledWD), dec = _mm512_set1_ps(decay), vw1 = _mm512_set1_ps(w1);
    const __m512 vb2 = _mm512_set1_ps(b2), vw2 = _mm512_set1_ps(w2), vbc = _mm512_set1_ps(bc2Sqrt);
    const __m512 veps = _mm512_set1_ps(eps), step = _mm512_set1_ps(negStepSize);
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 p0 = _mm512_loadu_ps(p + i), mi = _mm512_loadu_ps(m + i);
        __m512 g = _mm512_add_ps(_mm512_loadu_ps(grad + i), _mm512_mul_ps(cwd, p0));
        __m512 mNew = _mm512_add_ps(mi, _mm512_mul_ps(vw1, _mm512_sub_ps(g, mi)));
        __m512 vNew = _mm512_add_ps(_mm512_mul_ps(_mm512_loadu_ps(v + i), vb2), _mm512_mul_ps(_mm512_mul_ps(vw2, g), g));
        __m512 denom = _mm512_add_ps(_mm512_div_ps(_mm512_sqrt_ps(vNew), vbc), veps);
        _mm512_storeu_ps(m + i, mNew);
        _mm512_storeu_ps(v + i, vNew);
        _mm512_storeu_ps(p + i, _mm512_add_ps(_mm512_mul_ps(p0, dec), _mm512_div_ps(_mm512_mul_ps(step, mNew), denom)));
    }
    for (; i < n; i++) {
        float p0 = p[i], mi = m[i];
        float g = grad[i] + coupledWD * p0;
        float mNew = mi + w1 * (g - mi);
        float vNew = v[i] * b2 + w2 * g * g;
        float denom = __builtin_sqrtf(vNew) / bc2Sqrt + eps;
        m[i] = mNew;
        v[i] = vNew;
        p[i] = p0 * decay + negStepSize * mNew / denom;
    }
}

#else

// Never called off x86-64 (the Swift side checks swiftnn_gemm_f32_level() == 2 first).
void swiftnn_adam_f32(float *p, const float *grad, float *m, float *v, long n, float coupledWD, float decay, float w1,
                      float b2, float w2, float bc2Sqrt, float eps, float negStepSize) {
    (void)p; (void)grad; (void)m; (void)v; (void)n; (void)coupledWD; (void)decay; (void)w1; (void)b2; (void)w2;
    (void)bc2Sqrt; (void)eps; (void)negStepSize;
}

#endif
