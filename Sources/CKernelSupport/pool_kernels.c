// Max pooling's forward on AVX-512F (TensorCore/CPU/Pooling.swift), sixteen output columns per
// vector. The scalar loop branched on every comparison (`v > best`), which random activations
// mispredict half the time: ResNet-18's 3×3 stride-2 max pool over 8×64×112×112 took 40 ms, 8 % of
// a training step at 224×224.
//
// Same result as the scalar definition, element for element: windows are scanned in the same
// order (kernel rows, then columns), a value replaces the best when it is greater, or NaN, or the
// window's first element inside the input; once the best is NaN nothing replaces it (the first
// NaN wins, as in PyTorch). Padding is skipped, not read as −∞.
#include "CKernelSupport.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <stdint.h>
#include "simd_shuffles.h"

#define SWIFTNN_AVX512 __attribute__((target("avx512f")))

SWIFTNN_AVX512
void swiftnn_maxpool2d_f32(const float *x, float *out, int64_t *indices, long planes, long H, long W, long OH, long OW,
                           long kh, long kw, long sh, long sw, long ph, long pw, long dh, long dw) {
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i zero = _mm512_setzero_si512(), width = _mm512_set1_epi32((int)W);
    const __m512 negInf = _mm512_set1_ps(-__builtin_inff());
    const __m512i even = _mm512_slli_epi32(lane, 1);
    for (long p = 0; p < planes; p++) {
        const float *xp = x + p * H * W;
        float *op = out + p * OH * OW;
        int64_t *ip = indices + p * OH * OW;
        for (long oh = 0; oh < OH; oh++) {
            const long h0 = oh * sh - ph;
            for (long ow0 = 0; ow0 < OW; ow0 += 16) {
                const long n = OW - ow0 < 16 ? OW - ow0 : 16;
                const __mmask16 live = lane_range(0, n);
                // Column of kernel column 0 for each lane: (ow0 + lane)·sw − pw.
                const __m512i col0 = _mm512_sub_epi32(_mm512_mullo_epi32(_mm512_add_epi32(lane, _mm512_set1_epi32((int)ow0)),
                                                                         _mm512_set1_epi32((int)sw)),
                                                      _mm512_set1_epi32((int)pw));
                __m512 best = negInf;
                __m512i where = zero;
                __mmask16 taken = 0;
                for (long i = 0; i < kh; i++) {
                    const long h = h0 + i * dh;
                    if (h < 0 || h >= H) continue;
                    const float *row = xp + h * W;
                    const __m512i rowStart = _mm512_set1_epi32((int)(h * W));
                    for (long j = 0; j < kw; j++) {
                        const __m512i col = _mm512_add_epi32(col0, _mm512_set1_epi32((int)(j * dw)));
                        const __mmask16 valid = live & _mm512_cmpge_epi32_mask(col, zero) & _mm512_cmplt_epi32_mask(col, width);
                        if (!valid) continue;
                        __m512 v;
                        if (sw == 1) {
                            v = _mm512_mask_loadu_ps(negInf, valid, row + ow0 - pw + j * dw);
                        } else if (sw == 2) {
                            // Two contiguous loads and the even elements: hardware gathers ran at a
                            // fifth of this speed.
                            const long b = 2 * ow0 - pw + j * dw;
                            const __m512 lo = _mm512_maskz_loadu_ps(lanes_between(-b, W - b), row + b);
                            const __m512 hi = _mm512_maskz_loadu_ps(lanes_between(-b - 16, W - b - 16), row + b + 16);
                            v = _mm512_permutex2var_ps(lo, even, hi);
                        } else {
                            v = _mm512_mask_i32gather_ps(negInf, valid, col, row, 4);
                        }
                        const __mmask16 greater = _mm512_mask_cmp_ps_mask(valid, v, best, _CMP_GT_OQ);
                        const __mmask16 isNaN = _mm512_mask_cmp_ps_mask(valid, v, v, _CMP_UNORD_Q);
                        const __mmask16 bestNaN = _mm512_cmp_ps_mask(best, best, _CMP_UNORD_Q);
                        const __mmask16 take = (greater | isNaN | (valid & ~taken)) & ~bestNaN;
                        best = _mm512_mask_mov_ps(best, take, v);
                        where = _mm512_mask_mov_epi32(where, take, _mm512_add_epi32(rowStart, col));
                        taken |= valid;
                    }
                }
                _mm512_mask_storeu_ps(op + oh * OW + ow0, live, best);
                int64_t *dst = ip + oh * OW + ow0;
                _mm512_mask_storeu_epi64(dst, (__mmask8)(live & 0xFF), _mm512_cvtepi32_epi64(_mm512_castsi512_si256(where)));
                _mm512_mask_storeu_epi64(dst + 8, (__mmask8)(live >> 8), _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(where, 1)));
            }
        }
    }
}

#else

void swiftnn_maxpool2d_f32(const float *x, float *out, int64_t *indices, long planes, long H, long W, long OH, long OW,
                           long kh, long kw, long sh, long sw, long ph, long pw, long dh, long dw) {
    (void)x; (void)out; (void)indices; (void)planes; (void)H; (void)W; (void)OH; (void)OW;
    (void)kh; (void)kw; (void)sh; (void)sw; (void)ph; (void)pw; (void)dh; (void)dw;
}

#endif
