// Cross-entropy's per-logit passes over rows of float32 logits on AVX-512, with glibc's expf
// (glibcExpf in TensorCore/CPU/FloatMath.swift, glibc_expf16 in vector_math.h): libm's expf per
// logit, forward and backward, had made cross-entropy 5–7× slower than PyTorch on wide logits.
// The same operations in the same order as the Swift loops in TensorCore/CPU/Losses.swift, so both
// give the same bits; the row sums stay sequential in double, eight rows interleaved.
#pragma clang fp contract(off)
#include "CKernelSupport.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include "simd_shuffles.h"
#include "vector_math.h"

/// Logits per chunk whose exponentials are buffered before their sums (8 rows × 256 floats: 8 KB).
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

SWIFTNN_AVX512
void swiftnn_ce_rows_forward_f32(const float *x, long rows, long c, float *maxOut, double *sumOut) {
    const glibc_exp_table t = glibc_exp_table_load();
    float e[8][CE_CHUNK] __attribute__((aligned(64)));
    for (long r0 = 0; r0 < rows; r0 += 8) {
        const long nr = rows - r0 < 8 ? rows - r0 : 8;
        float m[8];
        double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (long i = 0; i < nr; i++) m[i] = ce_row_max(x + (r0 + i) * c, c);
        for (long k0 = 0; k0 < c; k0 += CE_CHUNK) {
            const long kn = c - k0 < CE_CHUNK ? c - k0 : CE_CHUNK;
            for (long i = 0; i < nr; i++) ce_exps(x + (r0 + i) * c + k0, kn, m[i], e[i], t);
            if (nr == 8) {
                // Eight independent chains: each row's sum still adds its terms one by one in order.
                double s0 = s[0], s1 = s[1], s2 = s[2], s3 = s[3], s4 = s[4], s5 = s[5], s6 = s[6], s7 = s[7];
                for (long k = 0; k < kn; k++) {
                    s0 += (double)e[0][k]; s1 += (double)e[1][k]; s2 += (double)e[2][k]; s3 += (double)e[3][k];
                    s4 += (double)e[4][k]; s5 += (double)e[5][k]; s6 += (double)e[6][k]; s7 += (double)e[7][k];
                }
                s[0] = s0; s[1] = s1; s[2] = s2; s[3] = s3; s[4] = s4; s[5] = s5; s[6] = s6; s[7] = s7;
            } else {
                for (long i = 0; i < nr; i++) {
                    double si = s[i];
                    for (long k = 0; k < kn; k++) si += (double)e[i][k];
                    s[i] = si;
                }
            }
        }
        for (long i = 0; i < nr; i++) {
            maxOut[r0 + i] = m[i];
            sumOut[r0 + i] = s[i];
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

void swiftnn_ce_rows_forward_f32(const float *x, long rows, long c, float *maxOut, double *sumOut) {
    (void)x; (void)rows; (void)c; (void)maxOut; (void)sumOut;
}
void swiftnn_ce_row_backward_f32(const float *x, long c, float l, float pScale, float wScale, const float *w, float *d) {
    (void)x; (void)c; (void)l; (void)pScale; (void)wScale; (void)w; (void)d;
}
void swiftnn_glibc_expf_f32(const float *x, float *y, long n) { (void)x; (void)y; (void)n; }

#endif
