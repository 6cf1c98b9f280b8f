// Building blocks of the implicit-GEMM convolution (TensorCore/CPU/ImplicitConvolution.swift),
// float32, AVX-512F through function target attributes (the Swift side calls them only when
// swiftnn_gemm_f32_level() == 2).
//
// A convolution is three products over "columns" — the im2col matrix cols[tap, position], tap = (c, kh, kw),
// position = (n, oh, ow) — that is never materialised:
//   forward  Y[o, pos]    = W[o, tap] · cols[tap, pos]      B panels gathered from x (swiftnn_conv_gather_f32)
//   dX       dcols        = Wᵀ[tap, o] · dY[o, pos]         stored for a block of samples, then col2im (contiguous rows)
//   dW       dWᵀ[tap, o]  = cols[tap, pos] · dY[o, pos]ᵀ    A rows gathered from x, B = dYᵀ (pack_transposed)
// The products themselves run on the GEMM's 6×16 micro-kernel (gemm_microkernel.c) with A packed
// six rows interleaved.
// Positions are handled sixteen at a time (one 512-bit vector, a "panel"); a panel's sixteen positions are
// described by runs: lanes that share a sample and an output row (swiftnn_conv_run), or lanes that share a
// sample (swiftnn_conv_span), which are contiguous in the [N, O, OH·OW] output layout. Before a panel is
// gathered, its runs are turned into a plan: for each kernel offset (kh, kw), the sixteen lanes' element
// offsets and a mask of the lanes inside the image. Every input channel reuses that plan, so a tap costs
// one masked hardware gather whatever the stride, padding or dilation (per-tap bounds checks and
// divisions on the runs were a quarter of a SmallCNN training step). Masked lanes are never touched:
// zeros on the way in, not written on the way out.
#include "CKernelSupport.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <stdlib.h>
#include "simd_shuffles.h"

#define SWIFTNN_AVX512 __attribute__((target("avx512f")))

/// Lanes [lo, hi) of a 16-lane mask.
static inline __mmask16 lane_range(long lo, long hi) {
    if (hi <= lo) return 0;
    unsigned int up = hi >= 16 ? 0xFFFFu : ((1u << hi) - 1u);
    unsigned int down = lo <= 0 ? 0u : ((1u << lo) - 1u);
    return (__mmask16)(up & ~down);
}

/// One tap of a planned panel: lane k = plane[index of lane k], 0 where masked (never read).
SWIFTNN_AVX512
static inline __m512 load_tap(const float *plane, const swiftnn_conv_tap_lanes *e) {
    __m512i index = _mm512_loadu_si512((const void *)e->index);
    return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), (__mmask16)e->mask, index, plane, 4);
}

/// Requests the lines a planned panel reads in the channel plane `ahead` (first, middle and last
/// lane of each kernel row's centre tap): a panel's taps come from a few rows of every channel,
/// which sit in L2, and a gather waits on each miss, so the caller asks two channels ahead.
static inline void prefetch_channel(const float *ahead, const swiftnn_conv_geometry *g, const swiftnn_conv_tap_lanes *plan) {
    long kk = g->kernelH * g->kernelW;
    for (long r = 0; r < kk; r += g->kernelW) {
        const int *index = plan[r + g->kernelW / 2].index;
        _mm_prefetch((const char *)(ahead + index[0]), _MM_HINT_T0);
        _mm_prefetch((const char *)(ahead + index[8]), _MM_HINT_T0);
        _mm_prefetch((const char *)(ahead + index[15]), _MM_HINT_T0);
    }
}

SWIFTNN_AVX512
long swiftnn_conv_plan_panel(const swiftnn_conv_geometry *g, const swiftnn_conv_run *runs, long nruns,
                             swiftnn_conv_tap_lanes *plan) {
    long n0 = nruns > 0 ? runs[0].n : 0;
    // Per lane: the top-left input row and column of its receptive field and its sample's offset
    // (all within 32 bits: the caller checks the geometry).
    int ih0[16] = {0}, iw0[16] = {0}, sample[16] = {0};
    unsigned int lanes = 0;
    for (long i = 0; i < nruns; i++) {
        const swiftnn_conv_run *run = runs + i;
        for (long k = 0; k < run->count; k++) {
            long l = run->lane0 + k;
            ih0[l] = (int)(run->oh * g->strideH - g->padH);
            iw0[l] = (int)((run->ow0 + k) * g->strideW - g->padW);
            sample[l] = (int)((run->n - n0) * g->sampleStride);
            lanes |= 1u << l;
        }
    }
    const __m512i vih0 = _mm512_loadu_si512(ih0), viw0 = _mm512_loadu_si512(iw0), vsample = _mm512_loadu_si512(sample);
    const __m512i height = _mm512_set1_epi32((int)g->height), width = _mm512_set1_epi32((int)g->width);
    const __m512i zero = _mm512_setzero_si512();
    long q = 0;
    for (long kh = 0; kh < g->kernelH; kh++) {
        __m512i ih = _mm512_add_epi32(vih0, _mm512_set1_epi32((int)(kh * g->dilationH)));
        __mmask16 rows = _mm512_mask_cmpge_epi32_mask((__mmask16)lanes, ih, zero) & _mm512_cmplt_epi32_mask(ih, height);
        __m512i rowStart = _mm512_add_epi32(vsample, _mm512_mullo_epi32(ih, width));
        for (long kw = 0; kw < g->kernelW; kw++, q++) {
            __m512i iw = _mm512_add_epi32(viw0, _mm512_set1_epi32((int)(kw * g->dilationW)));
            __mmask16 mask = _mm512_mask_cmpge_epi32_mask(rows, iw, zero) & _mm512_cmplt_epi32_mask(iw, width);
            _mm512_storeu_si512(plan[q].index, _mm512_maskz_add_epi32(mask, rowStart, iw));
            plan[q].mask = mask;
        }
    }
    return n0 * g->sampleStride;
}

SWIFTNN_AVX512
void swiftnn_conv_gather_f32(const float *x, const swiftnn_conv_geometry *g, const swiftnn_conv_tap_lanes *plan,
                             long base, long tap0, long taps, float *dst, long dstStride) {
    long kk = g->kernelH * g->kernelW, planeSize = g->height * g->width;
    long c = tap0 / kk, q = tap0 % kk;
    const float *plane = x + base + c * planeSize;
    for (long t = 0; t < taps; t++) {
        if (q == 0) prefetch_channel(plane + 4 * planeSize, g, plan);
        // Lanes outside the image (padding) and past the panel's positions are zeros, never read.
        _mm512_storeu_ps(dst + t * dstStride, load_tap(plane, plan + q));
        if (++q == kk) { q = 0; c++; plane += planeSize; }
    }
}

SWIFTNN_AVX512
void swiftnn_conv_gather_six_f32(const float *x, const swiftnn_conv_geometry *g, const swiftnn_conv_tap_lanes *plan,
                                 long base, long tap0, long taps, float *dst, long blockStride) {
    long kk = g->kernelH * g->kernelW, planeSize = g->height * g->width;
    long c = tap0 / kk, q = tap0 % kk;
    const float *plane = x + base + c * planeSize;
    // Six taps become one block of the six-row layout in registers (a scatter per tap cost more
    // than the gather).
    for (long t = 0; t < taps; t += 6) {
        __m512 v[6];
        for (int i = 0; i < 6; i++) {
            if (t + i < taps) {
                if (q == 0) prefetch_channel(plane + 4 * planeSize, g, plan);
                v[i] = load_tap(plane, plan + q);
                if (++q == kk) { q = 0; c++; plane += planeSize; }
            } else {
                v[i] = _mm512_setzero_ps();  // a last partial block: zero rows
            }
        }
        interleave_six(v, dst + (t / 6) * blockStride);
    }
}

/// One window of an output row in col2im: up to 16 / strideW consecutive outputs starting at column
/// `src` of the row, added onto the 16 input columns starting at `col` (relative to the row's start).
typedef struct { long src, col; __mmask16 load, store; } col2im_window;

/// The row operations of col2im for one channel, in the order kw → kh → oh: consecutive operations
/// touch different input rows (kw and kw + 1 on one row overlap shifted, and a masked store does not
/// forward to an overlapping shifted load).
SWIFTNN_AVX512
static inline __attribute__((always_inline)) void col2im_channel(const float *cols, long ld, long outH, long outW, float *plane,
                                  const swiftnn_conv_geometry *g, const col2im_window *win, long nwin, int expand) {
    long KH = g->kernelH, KW = g->kernelW;
    for (long kw = 0; kw < KW; kw++) {
        const col2im_window *w = win + kw * nwin;
        for (long kh = 0; kh < KH; kh++) {
            const float *src = cols + (kh * KW + kw) * ld;
            long ih = kh * g->dilationH - g->padH;
            for (long oh = 0; oh < outH; oh++, src += outW, ih += g->strideH) {
                if ((unsigned long)ih >= (unsigned long)g->height) continue;  // padding rows
                float *row = plane + ih * g->width;
                for (long i = 0; i < nwin; i++) {
                    __m512 v = expand ? _mm512_maskz_expandloadu_ps(w[i].load, src + w[i].src)
                                      : _mm512_maskz_loadu_ps(w[i].load, src + w[i].src);
                    float *d = row + w[i].col;
                    _mm512_mask_storeu_ps(d, w[i].store, _mm512_add_ps(_mm512_maskz_loadu_ps(w[i].store, d), v));
                }
            }
        }
    }
}

SWIFTNN_AVX512
void swiftnn_conv_col2im_f32(const float *cols, long ld, long channels, long outH, long outW, float *dx,
                             const swiftnn_conv_geometry *g) {
    long KH = g->kernelH, KW = g->kernelW, H = g->height, W = g->width, sW = g->strideW;
    long planeSize = H * W;
    if (sW > 16) {
        // Wider strides than a vector: one element at a time, in the same order.
        for (long c = 0; c < channels; c++) {
            float *plane = dx + c * planeSize;
            for (long i = 0; i < planeSize; i++) plane[i] = 0;
            const float *cc = cols + c * KH * KW * ld;
            for (long kw = 0; kw < KW; kw++) {
                for (long kh = 0; kh < KH; kh++) {
                    const float *src = cc + (kh * KW + kw) * ld;
                    for (long oh = 0; oh < outH; oh++) {
                        long ih = oh * g->strideH - g->padH + kh * g->dilationH;
                        if (ih < 0 || ih >= H) continue;
                        for (long ow = 0; ow < outW; ow++) {
                            long iw = ow * sW - g->padW + kw * g->dilationW;
                            if (iw >= 0 && iw < W) plane[ih * W + iw] += src[oh * outW + ow];
                        }
                    }
                }
            }
        }
        return;
    }
    // A window holds `per` outputs, at lanes 0, sW, 2·sW, … (an expanding load places consecutive
    // values there); lanes outside the image (padding) are never read or written.
    long per = (16 + sW - 1) / sW, nwin = (outW + per - 1) / per;
    unsigned int pattern = 0;
    for (long l = 0; l < 16; l += sW) pattern |= 1u << l;
    col2im_window stackWindows[128];
    col2im_window *win = KW * nwin <= 128 ? stackWindows : (col2im_window *)malloc(sizeof(col2im_window) * KW * nwin);
    for (long kw = 0; kw < KW; kw++) {
        for (long i = 0; i < nwin; i++) {
            long ow0 = i * per, n = outW - ow0 < per ? outW - ow0 : per;
            long col = ow0 * sW - g->padW + kw * g->dilationW;
            unsigned int load = pattern & (unsigned int)((1ul << ((n - 1) * sW + 1)) - 1ul);
            col2im_window *w = win + kw * nwin + i;
            w->src = ow0;
            w->col = col;
            w->load = (__mmask16)load;
            long lo = col < 0 ? -col : 0, hi = W - col > 16 ? 16 : W - col;  // lanes inside the image
            w->store = (__mmask16)(hi <= lo ? 0u : load & ((1u << hi) - 1u) & ~((1u << lo) - 1u));
        }
    }
    for (long c = 0; c < channels; c++) {
        float *plane = dx + c * planeSize;
        long i = 0;
        for (; i + 16 <= planeSize; i += 16) _mm512_storeu_ps(plane + i, _mm512_setzero_ps());
        if (i < planeSize) _mm512_mask_storeu_ps(plane + i, lane_range(0, planeSize - i), _mm512_setzero_ps());
        const float *cc = cols + c * KH * KW * ld;
        if (sW > 1) col2im_channel(cc, ld, outH, outW, plane, g, win, nwin, 1);
        else col2im_channel(cc, ld, outH, outW, plane, g, win, nwin, 0);
    }
    if (win != stackWindows) free(win);
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

/// Sixteen lanes of channel row `yr` at a panel's positions (zeros in lanes of no span).
SWIFTNN_AVX512
static inline __m512 load_lanes(const float *yr, const swiftnn_conv_span *spans, long nspans) {
    if (nspans == 1 && spans[0].lane0 == 0 && spans[0].count == 16) return _mm512_loadu_ps(yr + spans[0].offset);
    __m512 out = _mm512_setzero_ps();
    for (long i = 0; i < nspans; i++) {
        __mmask16 mask = lane_range(spans[i].lane0, spans[i].lane0 + spans[i].count);
        const float *base = (const float *)((const char *)yr + (spans[i].offset - spans[i].lane0) * (long)sizeof(float));
        out = _mm512_mask_loadu_ps(out, mask, base);
    }
    return out;
}

/// One block of `kn` taps (a compile-time constant once inlined, so the sums live in registers):
/// sums over the batch's panels, then one add per tap onto the accumulator in memory.
SWIFTNN_AVX512
static inline __attribute__((always_inline)) void wgrad_small_block(
    const long kn, const float *taps, long K, long kb, long panels, const float *yr,
    const swiftnn_conv_span *spans, const long *spanCounts, float *acc) {
    __m512 r[16];
    for (long k = 0; k < kn; k++) r[k] = _mm512_setzero_ps();
    for (long j = 0; j < panels; j++) {
        // gy comes from L3 (the layer above just wrote it); its next lines are requested ahead.
        if (j + 8 < panels) _mm_prefetch((const char *)(yr + spans[16 * (j + 8)].offset), _MM_HINT_T0);
        const __m512 d = load_lanes(yr, spans + 16 * j, spanCounts[j]);
        const float *t = taps + (j * K + kb) * 16;
        for (long k = 0; k < kn; k++) r[k] = _mm512_fmadd_ps(_mm512_loadu_ps(t + 16 * k), d, r[k]);
    }
    for (long k = 0; k < kn; k++) _mm512_storeu_ps(acc + 16 * k, _mm512_add_ps(_mm512_loadu_ps(acc + 16 * k), r[k]));
}

SWIFTNN_AVX512
void swiftnn_conv_wgrad_small_f32(const float *taps, long K, long panels, const float *gy, long channelStride,
                                  const swiftnn_conv_span *spans, const long *spanCounts, long o0, long o1, float *acc) {
    for (long o = o0; o < o1; o++) {
        const float *yr = gy + o * channelStride;
        for (long kb = 0; kb < K; kb += 16) {
            long kn = K - kb < 16 ? K - kb : 16;
            float *a = acc + (o * K + kb) * 16;
            switch (kn) {
#define SWIFTNN_WGRAD_CASE(n) case n: wgrad_small_block(n, taps, K, kb, panels, yr, spans, spanCounts, a); break;
                SWIFTNN_WGRAD_CASE(1) SWIFTNN_WGRAD_CASE(2) SWIFTNN_WGRAD_CASE(3) SWIFTNN_WGRAD_CASE(4)
                SWIFTNN_WGRAD_CASE(5) SWIFTNN_WGRAD_CASE(6) SWIFTNN_WGRAD_CASE(7) SWIFTNN_WGRAD_CASE(8)
                SWIFTNN_WGRAD_CASE(9) SWIFTNN_WGRAD_CASE(10) SWIFTNN_WGRAD_CASE(11) SWIFTNN_WGRAD_CASE(12)
                SWIFTNN_WGRAD_CASE(13) SWIFTNN_WGRAD_CASE(14) SWIFTNN_WGRAD_CASE(15) SWIFTNN_WGRAD_CASE(16)
#undef SWIFTNN_WGRAD_CASE
                default: break;
            }
        }
    }
}

#else

long swiftnn_conv_plan_panel(const swiftnn_conv_geometry *g, const swiftnn_conv_run *runs, long nruns,
                             swiftnn_conv_tap_lanes *plan) {
    (void)g; (void)runs; (void)nruns; (void)plan;
    return 0;
}
void swiftnn_conv_gather_f32(const float *x, const swiftnn_conv_geometry *g, const swiftnn_conv_tap_lanes *plan,
                             long base, long tap0, long taps, float *dst, long dstStride) {
    (void)x; (void)g; (void)plan; (void)base; (void)tap0; (void)taps; (void)dst; (void)dstStride;
}
void swiftnn_conv_gather_six_f32(const float *x, const swiftnn_conv_geometry *g, const swiftnn_conv_tap_lanes *plan,
                                 long base, long tap0, long taps, float *dst, long blockStride) {
    (void)x; (void)g; (void)plan; (void)base; (void)tap0; (void)taps; (void)dst; (void)blockStride;
}
void swiftnn_conv_col2im_f32(const float *cols, long ld, long channels, long outH, long outW, float *dx,
                             const swiftnn_conv_geometry *g) {
    (void)cols; (void)ld; (void)channels; (void)outH; (void)outW; (void)dx; (void)g;
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

void swiftnn_conv_wgrad_small_f32(const float *taps, long K, long panels, const float *gy, long channelStride,
                                  const swiftnn_conv_span *spans, const long *spanCounts, long o0, long o1, float *acc) {
    (void)taps; (void)K; (void)panels; (void)gy; (void)channelStride; (void)spans; (void)spanCounts; (void)o0; (void)o1; (void)acc;
}

#endif
