// Row passes on AVX-512F: softmax's (TensorCore/CPU/Softmax.swift: the maximum, the exponentials
// and their sum, the scale or shift; log-softmax's backward), a row's sum and max(dim:)/min(dim:)'s position (Reduce.swift). The Swift
// loops ran the maximum one element at a time and the rest four lanes wide.
//
// Softmax's values are bit for bit softmaxRow's: fastExp as vector_math.h, the sum in rowSum's
// order of additions.
#pragma clang fp contract(off)
#include "CKernelSupport.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include "simd_shuffles.h"
#include "vector_math.h"

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

/// Σ of n floats in rowSum's order: blocks of 4096, four vector accumulators over 64-float steps,
/// then 16-float steps into the first, the tail one element at a time, blocks added in double.
/// With `exponentials` the floats summed are fastExp(x − shift), each stored to y as it is made.
SWIFTNN_AVX512
static inline __attribute__((always_inline)) double blocked_sum(const float *x, long n, int exponentials, float shift,
                                                               float *y) {
    const __m512 s = K(shift);
    double total = 0;
#define SWIFTNN_TERM(i) (exponentials ? exp16(SUB(_mm512_loadu_ps(x + (i)), s)) : _mm512_loadu_ps(x + (i)))
#define SWIFTNN_KEEP(i, v) do { if (exponentials) _mm512_storeu_ps(y + (i), v); } while (0)
    for (long start = 0; start < n; start += 4096) {
        const long end = n < start + 4096 ? n : start + 4096;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        long i = start;
        for (; i + 64 <= end; i += 64) {
            const __m512 e0 = SWIFTNN_TERM(i), e1 = SWIFTNN_TERM(i + 16), e2 = SWIFTNN_TERM(i + 32), e3 = SWIFTNN_TERM(i + 48);
            SWIFTNN_KEEP(i, e0); SWIFTNN_KEEP(i + 16, e1); SWIFTNN_KEEP(i + 32, e2); SWIFTNN_KEEP(i + 48, e3);
            a0 = ADD(a0, e0); a1 = ADD(a1, e1); a2 = ADD(a2, e2); a3 = ADD(a3, e3);
        }
        for (; i + 16 <= end; i += 16) {
            const __m512 e = SWIFTNN_TERM(i);
            SWIFTNN_KEEP(i, e);
            a0 = ADD(a0, e);
        }
        float tail = 0;
        if (i < end) {
            const __mmask16 m = lane_range(0, end - i);
            const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
            float e[16];
            _mm512_storeu_ps(e, exponentials ? exp16(SUB(v, s)) : v);
            for (long j = 0; j < end - i; j++) {
                if (exponentials) y[i + j] = e[j];
                tail += e[j];
            }
        }
        total += (double)tree_sum(ADD(ADD(a0, a1), ADD(a2, a3))) + (double)tail;
    }
#undef SWIFTNN_TERM
#undef SWIFTNN_KEEP
    return total;
}

SWIFTNN_AVX512
double swiftnn_exp_shifted_sum_f32(const float *x, float shift, float *y, long n) { return blocked_sum(x, n, 1, shift, y); }

SWIFTNN_AVX512
double swiftnn_row_sum_f32(const float *x, long n) { return blocked_sum(x, n, 0, 0, 0); }

SWIFTNN_AVX512
void swiftnn_log_softmax_backward_f32(const float *g, const float *y, float sum, float *d, long n) {
    const __m512 s = K(sum);
    long i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(d + i, SUB(_mm512_loadu_ps(g + i), MUL(exp16(_mm512_loadu_ps(y + i)), s)));
    if (i < n) {
        const __mmask16 m = lane_range(0, n - i);
        _mm512_mask_storeu_ps(d + i, m, SUB(_mm512_maskz_loadu_ps(m, g + i), MUL(exp16(_mm512_maskz_loadu_ps(m, y + i)), s)));
    }
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
double swiftnn_exp_shifted_sum_f32(const float *x, float shift, float *y, long n) { (void)x; (void)shift; (void)y; (void)n; return 0; }
double swiftnn_row_sum_f32(const float *x, long n) { (void)x; (void)n; return 0; }
void swiftnn_log_softmax_backward_f32(const float *g, const float *y, float sum, float *d, long n) {
    (void)g; (void)y; (void)sum; (void)d; (void)n;
}
void swiftnn_scale_f32(float *y, float factor, long n) { (void)y; (void)factor; (void)n; }
void swiftnn_subtract_f32(const float *x, float c, float *y, long n) { (void)x; (void)c; (void)y; (void)n; }

#endif
