// Building blocks of the implicit-GEMM convolution (TensorCore/CPU/ImplicitConvolution.swift),
// float32, AVX-512F through function target attributes (the Swift side calls them only when
// swiftnn_gemm_f32_level() == 2).
//
// A convolution is three products over "columns" — the im2col matrix cols[tap, position], tap = (c, kh, kw),
// position = (n, oh, ow) — that is never materialised:
//   forward  Y[o, pos]    = W[o, tap] · cols[tap, pos]      B panels gathered from x (swiftnn_conv_gather_f32)
//   dX       dcols        = Wᵀ[tap, o] · dY[o, pos]         each 6×16 result tile added back onto dx (scatter_add)
//   dW       dWᵀ[tap, o]  = cols[tap, pos] · dY[o, pos]ᵀ    A rows gathered from x, B = dYᵀ (pack_transposed)
// The products themselves run on the GEMM's 6×16 micro-kernel (gemm_microkernel.c) with A packed
// six rows interleaved.
// Positions are handled sixteen at a time (one 512-bit vector, a "panel"); a panel's sixteen positions are
// described by runs: lanes that share a sample and an output row (swiftnn_conv_run) — contiguous in x for
// stride 1, every other element for stride 2 — or lanes that share a sample (swiftnn_conv_span), which are
// contiguous in the [N, O, OH·OW] output layout. Masked loads and stores keep every access inside its row
// (lanes outside the image are zeros on the way in and are not written on the way out).
#include "CKernelSupport.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define SWIFTNN_AVX512 __attribute__((target("avx512f")))

/// Lanes [lo, hi) of a 16-lane mask.
static inline __mmask16 lane_range(long lo, long hi) {
    if (hi <= lo) return 0;
    unsigned int up = hi >= 16 ? 0xFFFFu : ((1u << hi) - 1u);
    unsigned int down = lo <= 0 ? 0u : ((1u << lo) - 1u);
    return (__mmask16)(up & ~down);
}

/// Spreads the low 8 bits of m to the even bits of a 16-bit mask (bit k → bit 2k).
static inline __mmask16 spread_even(unsigned int m) {
    m &= 0xFFu;
    m = (m | (m << 4)) & 0x0F0Fu;
    m = (m | (m << 2)) & 0x3333u;
    m = (m | (m << 1)) & 0x5555u;
    return (__mmask16)m;
}

/// The lanes of `run` whose input column iw0 + (k − lane0)·sw lies inside 0..<w.
static inline __mmask16 run_valid_lanes(const swiftnn_conv_run *run, long iw0, long sw, long w) {
    long lo = run->lane0, hi = run->lane0 + run->count;
    if (iw0 < 0) lo = run->lane0 + (-iw0 + sw - 1) / sw;
    long last = w - 1 - iw0;
    if (last < 0) return 0;
    long kmax = run->lane0 + last / sw + 1;
    if (kmax < hi) hi = kmax;
    return lane_range(lo, hi);
}

/// Sixteen lanes of one row of cols (one tap) over the positions of `runs`.
SWIFTNN_AVX512
static inline __m512 gather_tap(const float *x, const swiftnn_conv_geometry *g, const swiftnn_conv_run *runs, long nruns,
                                long c, long kh, long kw) {
    __m512 out = _mm512_setzero_ps();
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    for (long i = 0; i < nruns; i++) {
        const swiftnn_conv_run *run = runs + i;
        long ih = run->oh * g->strideH - g->padH + kh * g->dilationH;
        if (ih < 0 || ih >= g->height) continue;
        const float *row = x + run->n * g->sampleStride + (c * g->height + ih) * g->width;
        long iw0 = run->ow0 * g->strideW - g->padW + kw * g->dilationW;
        __mmask16 mask = run_valid_lanes(run, iw0, g->strideW, g->width);
        if (!mask) continue;
        if (g->strideW == 1) {
            // Lane k reads row[iw0 + k − lane0]; masked-off lanes are never touched.
            const float *base = (const float *)((const char *)row + (iw0 - run->lane0) * (long)sizeof(float));
            out = _mm512_mask_loadu_ps(out, mask, base);
        } else if (g->strideW == 2) {
            const float *base = (const float *)((const char *)row + (iw0 - 2 * run->lane0) * (long)sizeof(float));
            __m512 lo = _mm512_maskz_loadu_ps(spread_even(mask), base);
            __m512 hi = _mm512_maskz_loadu_ps(spread_even((unsigned int)mask >> 8), base + 16);
            out = _mm512_mask_mov_ps(out, mask, _mm512_permutex2var_ps(lo, even, hi));
        } else {
            float lanes[16];
            _mm512_storeu_ps(lanes, out);
            for (long k = 0; k < 16; k++) {
                if (mask & (1u << k)) lanes[k] = row[iw0 + (k - run->lane0) * g->strideW];
            }
            out = _mm512_loadu_ps(lanes);
        }
    }
    return out;
}

SWIFTNN_AVX512
void swiftnn_conv_gather_f32(const float *x, const swiftnn_conv_geometry *g, const swiftnn_conv_run *runs, long nruns,
                             long tap0, long taps, float *dst, long dstStride) {
    long kk = g->kernelH * g->kernelW;
    long c = tap0 / kk, rem = tap0 % kk, kh = rem / g->kernelW, kw = rem % g->kernelW;
    for (long t = 0; t < taps; t++) {
        _mm512_storeu_ps(dst + t * dstStride, gather_tap(x, g, runs, nruns, c, kh, kw));
        if (++kw == g->kernelW) {
            kw = 0;
            if (++kh == g->kernelH) { kh = 0; c++; }
        }
    }
}

SWIFTNN_AVX512
void swiftnn_conv_scatter_add_f32(const float *tile, long rows, long tap0, float *dx, const swiftnn_conv_geometry *g,
                                  const swiftnn_conv_run *runs, long nruns) {
    long kk = g->kernelH * g->kernelW;
    long c = tap0 / kk, rem = tap0 % kk, kh = rem / g->kernelW, kw = rem % g->kernelW;
    const __m512i lowPairs = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
    const __m512i highPairs = _mm512_setr_epi32(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15);
    for (long r = 0; r < rows; r++) {
        __m512 t = _mm512_loadu_ps(tile + 16 * r);
        for (long i = 0; i < nruns; i++) {
            const swiftnn_conv_run *run = runs + i;
            long ih = run->oh * g->strideH - g->padH + kh * g->dilationH;
            if (ih < 0 || ih >= g->height) continue;
            float *row = dx + run->n * g->sampleStride + (c * g->height + ih) * g->width;
            long iw0 = run->ow0 * g->strideW - g->padW + kw * g->dilationW;
            __mmask16 mask = run_valid_lanes(run, iw0, g->strideW, g->width);
            if (!mask) continue;
            if (g->strideW == 1) {
                float *base = (float *)((char *)row + (iw0 - run->lane0) * (long)sizeof(float));
                __m512 cur = _mm512_maskz_loadu_ps(mask, base);
                _mm512_mask_storeu_ps(base, mask, _mm512_add_ps(cur, t));
            } else if (g->strideW == 2) {
                float *base = (float *)((char *)row + (iw0 - 2 * run->lane0) * (long)sizeof(float));
                __mmask16 mlo = spread_even(mask), mhi = spread_even((unsigned int)mask >> 8);
                __m512 lo = _mm512_maskz_loadu_ps(mlo, base);
                __m512 hi = _mm512_maskz_loadu_ps(mhi, base + 16);
                lo = _mm512_add_ps(lo, _mm512_maskz_permutexvar_ps(0x5555, lowPairs, t));
                hi = _mm512_add_ps(hi, _mm512_maskz_permutexvar_ps(0x5555, highPairs, t));
                _mm512_mask_storeu_ps(base, mlo, lo);
                _mm512_mask_storeu_ps(base + 16, mhi, hi);
            } else {
                for (long k = 0; k < 16; k++) {
                    if (mask & (1u << k)) row[iw0 + (k - run->lane0) * g->strideW] += tile[16 * r + k];
                }
            }
        }
        if (++kw == g->kernelW) {
            kw = 0;
            if (++kh == g->kernelH) { kh = 0; c++; }
        }
    }
}

SWIFTNN_AVX512
void swiftnn_conv_load_rows_f32(const float *y, long channelStride, const swiftnn_conv_span *spans, long nspans,
                                long rows, float *dst, long dstStride) {
    for (long r = 0; r < rows; r++) {
        __m512 out = _mm512_setzero_ps();
        const float *yr = y + r * channelStride;
        for (long i = 0; i < nspans; i++) {
            __mmask16 mask = lane_range(spans[i].lane0, spans[i].lane0 + spans[i].count);
            const float *base = (const float *)((const char *)yr + (spans[i].offset - spans[i].lane0) * (long)sizeof(float));
            out = _mm512_mask_loadu_ps(out, mask, base);
        }
        _mm512_storeu_ps(dst + r * dstStride, out);
    }
}

SWIFTNN_AVX512
void swiftnn_conv_store_rows_f32(const float *tile, long rows, float *y, long channelStride, const swiftnn_conv_span *spans,
                                 long nspans, int accumulate, const float *bias) {
    for (long r = 0; r < rows; r++) {
        __m512 t = _mm512_loadu_ps(tile + 16 * r);
        if (bias && !accumulate) t = _mm512_add_ps(t, _mm512_set1_ps(bias[r]));
        float *yr = y + r * channelStride;
        for (long i = 0; i < nspans; i++) {
            __mmask16 mask = lane_range(spans[i].lane0, spans[i].lane0 + spans[i].count);
            float *base = (float *)((char *)yr + (spans[i].offset - spans[i].lane0) * (long)sizeof(float));
            __m512 v = accumulate ? _mm512_add_ps(_mm512_maskz_loadu_ps(mask, base), t) : t;
            _mm512_mask_storeu_ps(base, mask, v);
        }
    }
}

/// In-register transpose of a 16×16 block held as 16 row vectors.
SWIFTNN_AVX512
static inline void transpose16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
        r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
        r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
        r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
    }
    // Now r[4q + s] holds, in each 128-bit lane L, the elements (row 4L' + …) — finish with 128-bit shuffles.
    for (int i = 0; i < 4; i++) {
        t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
        t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xDD);
        t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
        t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xDD);
    }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xDD);
        r[i + 4] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0x88);
        r[i + 12] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0xDD);
    }
}

SWIFTNN_AVX512
void swiftnn_conv_pack_transposed_f32(const float *y, long channelStride, long channels, const swiftnn_conv_span *spans,
                                      long nspans, long positions, float *dst, long panelStride) {
    __m512 r[16];
    for (long q = 0; q * 16 < channels; q++) {
        long rows = channels - 16 * q < 16 ? channels - 16 * q : 16;
        for (long i = 0; i < 16; i++) {
            if (i < rows) {
                __m512 out = _mm512_setzero_ps();
                const float *yr = y + (16 * q + i) * channelStride;
                for (long s = 0; s < nspans; s++) {
                    __mmask16 mask = lane_range(spans[s].lane0, spans[s].lane0 + spans[s].count);
                    const float *base = (const float *)((const char *)yr + (spans[s].offset - spans[s].lane0) * (long)sizeof(float));
                    out = _mm512_mask_loadu_ps(out, mask, base);
                }
                r[i] = out;
            } else {
                r[i] = _mm512_setzero_ps();
            }
        }
        transpose16(r);
        float *d = dst + q * panelStride;
        for (long p = 0; p < positions; p++) _mm512_storeu_ps(d + 16 * p, r[p]);
    }
}

#else

void swiftnn_conv_gather_f32(const float *x, const swiftnn_conv_geometry *g, const swiftnn_conv_run *runs, long nruns,
                             long tap0, long taps, float *dst, long dstStride) {
    (void)x; (void)g; (void)runs; (void)nruns; (void)tap0; (void)taps; (void)dst; (void)dstStride;
}
void swiftnn_conv_scatter_add_f32(const float *tile, long rows, long tap0, float *dx, const swiftnn_conv_geometry *g,
                                  const swiftnn_conv_run *runs, long nruns) {
    (void)tile; (void)rows; (void)tap0; (void)dx; (void)g; (void)runs; (void)nruns;
}
void swiftnn_conv_load_rows_f32(const float *y, long channelStride, const swiftnn_conv_span *spans, long nspans,
                                long rows, float *dst, long dstStride) {
    (void)y; (void)channelStride; (void)spans; (void)nspans; (void)rows; (void)dst; (void)dstStride;
}
void swiftnn_conv_store_rows_f32(const float *tile, long rows, float *y, long channelStride, const swiftnn_conv_span *spans,
                                 long nspans, int accumulate, const float *bias) {
    (void)tile; (void)rows; (void)y; (void)channelStride; (void)spans; (void)nspans; (void)accumulate; (void)bias;
}
void swiftnn_conv_pack_transposed_f32(const float *y, long channelStride, long channels, const swiftnn_conv_span *spans,
                                      long nspans, long positions, float *dst, long panelStride) {
    (void)y; (void)channelStride; (void)channels; (void)spans; (void)nspans; (void)positions; (void)dst; (void)panelStride;
}

#endif
