// Cross-entropy's per-logit passes over rows of float32 logits on AVX-512, with glibc's expf
// (glibcExpf in TensorCore/CPU/FloatMath.swift, glibc_expf16 in vector_math.h): libm's expf per
// logit, forward and backward, had made cross-entropy 5–7× slower than PyTorch on wide logits.
// The same operations in the same order as the Swift loops in TensorCore/CPU/Losses.swift, so both
// give the same bits; the row sums stay sequential in double, sixteen rows' chains side by side.
#pragma clang fp contract(off)
#include "CKernelSupport.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include "simd_shuffles.h"
#include "vector_math.h"

/// Logits per chunk whose exponentials are buffered before their sum (a lone row's: 1 KB).
#define CE_CHUNK 256

SWIFTNN_AVX512
static inline float ce_row_max(const float *x, long c) {
    // max(m, x[k]) as Swift's `Swift.max(m, x[k])` from m = −∞: NaNs never win (the NaN operand is
    // the first, and vmaxps returns the second when either is NaN); −∞ in the unused lanes.
    __m512 m = K(-__builtin_inff());
    long k = 0;
    for (; k + 16 <= c; k += 16) m = _mm512_max_ps(_mm512_loadu_ps(x + k), m);
    if (k < c) m = _mm512_max_ps(_mm512_mask_loadu_ps(K(-__builtin_inff()), lane_range(0, c - k), x + k), m);
    return _mm512_reduce_max_ps(m);
}

SWIFTNN_AVX512
static inline void ce_exps(const float *x, long n, float m, float *e, glibc_exp_table t) {
    const __m512 mv = K(m);
    long k = 0;
    for (; k + 16 <= n; k += 16) _mm512_storeu_ps(e + k, glibc_expf16(SUB(_mm512_loadu_ps(x + k), mv), t));
    if (k < n) {
        const __mmask16 lanes = lane_range(0, n - k);
        _mm512_mask_storeu_ps(e + k, lanes, glibc_expf16(SUB(_mm512_maskz_loadu_ps(lanes, x + k), mv), t));
    }
}

/// Sixteen rows at once: each row's chain of double additions stays in class order, in a lane of
/// two accumulators (rows 0–7, 8–15); the rows' exponentials are transposed sixteen classes at a
/// time so that one class of all sixteen rows is one vector (reading a column of a row-major
/// buffer had taken half of the forward pass). With `wx`, label smoothing's Σ w[k]·x[k] (Σ x[k]
/// without weights) rides along the same way.
SWIFTNN_AVX512
static void ce_sixteen_rows(const float *x, long c, const float *w, float *maxOut, double *sumOut, double *wx,
                            glibc_exp_table t) {
    __m512 m[16];
    for (long i = 0; i < 16; i++) m[i] = K(ce_row_max(x + i * c, c));
    __m512d lo = _mm512_setzero_pd(), hi = _mm512_setzero_pd(), xlo = lo, xhi = lo;
    for (long k = 0; k < c; k += 16) {
        const __mmask16 lanes = lane_range(0, c - k);
        const long n = c - k < 16 ? c - k : 16;
        __m512 e[16];
        if (wx) {
            const __m512 wv = w ? _mm512_maskz_loadu_ps(lanes, w + k) : K(1.0f);
            for (long i = 0; i < 16; i++) {
                const __m512 xv = _mm512_maskz_loadu_ps(lanes, x + i * c + k);
                e[i] = w ? MUL(wv, xv) : xv;
            }
            transpose16(e);   // e[j] = w[k + j]·x[k + j] of rows 0–15
            for (long j = 0; j < n; j++) {
                xlo = _mm512_add_pd(xlo, _mm512_cvtps_pd(_mm512_castps512_ps256(e[j])));
                xhi = _mm512_add_pd(xhi, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e[j]), 1))));
            }
        }
        for (long i = 0; i < 16; i++) e[i] = glibc_expf16(SUB(_mm512_maskz_loadu_ps(lanes, x + i * c + k), m[i]), t);
        transpose16(e);   // e[j] = class k + j of rows 0–15
        for (long j = 0; j < n; j++) {
            lo = _mm512_add_pd(lo, _mm512_cvtps_pd(_mm512_castps512_ps256(e[j])));
            hi = _mm512_add_pd(hi, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e[j]), 1))));
        }
    }
    for (long i = 0; i < 16; i++) maxOut[i] = _mm512_cvtss_f32(m[i]);
    _mm512_storeu_pd(sumOut, lo);
    _mm512_storeu_pd(sumOut + 8, hi);
    if (wx) {
        _mm512_storeu_pd(wx, xlo);
        _mm512_storeu_pd(wx + 8, xhi);
    }
}

SWIFTNN_AVX512
void swiftnn_ce_rows_forward_f32(const float *x, long rows, long c, const float *w, float *maxOut, double *sumOut,
                                 double *wxOut) {
    const glibc_exp_table t = glibc_exp_table_load();
    long r = 0;
    for (; r + 16 <= rows; r += 16) ce_sixteen_rows(x + r * c, c, w, maxOut + r, sumOut + r, wxOut ? wxOut + r : 0, t);
    // The last rows one at a time.
    float e[CE_CHUNK] __attribute__((aligned(64)));
    for (; r < rows; r++) {
        const float *xr = x + r * c;
        const float m = ce_row_max(xr, c);
        double s = 0;
        for (long k0 = 0; k0 < c; k0 += CE_CHUNK) {
            const long kn = c - k0 < CE_CHUNK ? c - k0 : CE_CHUNK;
            ce_exps(xr + k0, kn, m, e, t);
            for (long k = 0; k < kn; k++) s += (double)e[k];
        }
        maxOut[r] = m;
        sumOut[r] = s;
        if (wxOut) {
            double sx = 0;
            if (w) {
                for (long k = 0; k < c; k++) sx += (double)(w[k] * xr[k]);
            } else {
                for (long k = 0; k < c; k++) sx += (double)xr[k];
            }
            wxOut[r] = sx;
        }
    }
}

SWIFTNN_AVX512
void swiftnn_ce_row_backward_f32(const float *x, long c, float l, float pScale, float wScale, const float *w, float *d) {
    const glibc_exp_table t = glibc_exp_table_load();
    const __m512 lv = K(l), ps = K(pScale), ws = K(wScale);
    for (long k = 0; k < c; k += 16) {
        const __mmask16 lanes = lane_range(0, c - k);
        const __m512 p = MUL(glibc_expf16(SUB(_mm512_maskz_loadu_ps(lanes, x + k), lv), t), ps);
        const __m512 q = w ? MUL(ws, _mm512_maskz_loadu_ps(lanes, w + k)) : ws;
        _mm512_mask_storeu_ps(d + k, lanes, SUB(p, q));
    }
}

SWIFTNN_AVX512
void swiftnn_glibc_expf_f32(const float *x, float *y, long n) {
    const glibc_exp_table t = glibc_exp_table_load();
    for (long i = 0; i < n; i += 16) {
        const __mmask16 lanes = lane_range(0, n - i);
        _mm512_mask_storeu_ps(y + i, lanes, glibc_expf16(_mm512_maskz_loadu_ps(lanes, x + i), t));
    }
}

#else

void swiftnn_ce_rows_forward_f32(const float *x, long rows, long c, const float *w, float *maxOut, double *sumOut,
                                 double *wxOut) {
    (void)x; (void)rows; (void)c; (void)w; (void)maxOut; (void)sumOut; (void)wxOut;
}
void swiftnn_ce_row_backward_f32(const float *x, long c, float l, float pScale, float wScale, const float *w, float *d) {
    (void)x; (void)c; (void)l; (void)pScale; (void)wScale; (void)w; (void)d;
}
void swiftnn_glibc_expf_f32(const float *x, float *y, long n) { (void)x; (void)y; (void)n; }

#endif
