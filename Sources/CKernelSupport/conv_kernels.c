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
// 3×3 kernels read their taps run by run with masked loads instead (gather_runs); at stride 2,
// padding 1 from phase planes of the input (split_phases, gather_phases).
#include "CKernelSupport.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>
#include "simd_shuffles.h"
#include "norm_lanes.h"

#define SWIFTNN_AVX512 __attribute__((target("avx512f")))

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

// MARK: 3×3 taps from runs (masked loads and permutes instead of hardware gathers)

/// Lanes lane0..<lane0 + count of a panel: one sample, one output row, consecutive columns.
typedef struct {
    long offset;             ///< sample offset + input column of the run's first lane for kernel column 0
    long ih0;                ///< input row for kernel row 0
    long lane0;
    __mmask16 lanes;
    __mmask16 lo, hi;        ///< stride 2: the elements offset..+15 and +16..+31 that lie inside the row
    __mmask16 cols[3];       ///< stride 1: the lanes whose column for kernel column kw lies inside the row
} run3;

int swiftnn_conv_runs_supported(const swiftnn_conv_geometry *g) {
    const int k3 = g->kernelH == 3 && g->kernelW == 3 && g->dilationH == 1 && g->dilationW == 1;
    // 1×1 at column stride 1 only: at stride 2 the runs (cut to 15 lanes) were no faster than the
    // gathers (ResNet-18's downsamples are bound by memory either way).
    const int k1 = g->kernelH == 1 && g->kernelW == 1 && g->strideW == 1;  // dilation moves nothing
    return k1 || (k3 && (g->strideW == 1 || g->strideW == 2));
}

/// The runs of a panel as run3, stride-2 runs cut to at most 15 lanes (two loads hold 2·14 + 2 + 1 elements).
static long plan_runs3(const swiftnn_conv_geometry *g, const swiftnn_conv_run *runs, long nruns, run3 *plan) {
    const long maxLanes = g->strideW == 2 ? 15 : 16;
    long np = 0;
    for (long i = 0; i < nruns; i++) {
        for (long k0 = 0; k0 < runs[i].count; k0 += maxLanes) {
            run3 *r = plan + np++;
            const long count = runs[i].count - k0 < maxLanes ? runs[i].count - k0 : maxLanes;
            const long col0 = (runs[i].ow0 + k0) * g->strideW - g->padW;
            r->lane0 = runs[i].lane0 + k0;
            r->offset = runs[i].n * g->sampleStride + col0;
            r->ih0 = runs[i].oh * g->strideH - g->padH;
            r->lanes = lane_range(r->lane0, r->lane0 + count);
            r->lo = lanes_between(-col0, g->width - col0);
            r->hi = lanes_between(-col0 - 16, g->width - col0 - 16);
            for (long kw = 0; kw < 3; kw++) {
                // Stride 1: lane l reads column col0 + kw + (l − lane0).
                long first = col0 + kw - r->lane0;
                r->cols[kw] = r->lanes & lanes_between(-first, g->width - first);
            }
        }
    }
    return np;
}

/// One channel's nine taps of the panel into t[3·kh + kw], summed in nine registers (an array
/// indexed in the loop would live in memory, every merge a store and a reload); the stride is a
/// constant where inlined.
SWIFTNN_AVX512
static inline __attribute__((always_inline)) void taps3x3(const float *xc, long height, long width, const run3 *plan, long np,
                                                           const long strideW, __m512 t[9]) {
    __m512 t0 = _mm512_setzero_ps(), t1 = t0, t2 = t0, t3 = t0, t4 = t0, t5 = t0, t6 = t0, t7 = t0, t8 = t0;
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i one = _mm512_set1_epi32(1);
    for (long i = 0; i < np; i++) {
        const run3 *r = plan + i;
        // Stride 2: lane l takes element 2(l − lane0) + kw of the two loads (indices use 5 bits, so
        // lanes outside the run may wrap: they are not taken).
        const __m512i i0 = _mm512_slli_epi32(_mm512_sub_epi32(lane, _mm512_set1_epi32((int)r->lane0)), 1);
        const __m512i i1 = _mm512_add_epi32(i0, one), i2 = _mm512_add_epi32(i1, one);
        const float *rows = xc + r->offset + r->ih0 * width;
#define SWIFTNN_TAP_ROW(kh, a, b, c) \
        if (r->ih0 + kh >= 0 && r->ih0 + kh < height) { \
            const float *row = rows + kh * width; \
            if (strideW == 1) { \
                a = _mm512_mask_loadu_ps(a, r->cols[0], row - r->lane0); \
                b = _mm512_mask_loadu_ps(b, r->cols[1], row + 1 - r->lane0); \
                c = _mm512_mask_loadu_ps(c, r->cols[2], row + 2 - r->lane0); \
            } else { \
                const __m512 lo = _mm512_maskz_loadu_ps(r->lo, row), hi = _mm512_maskz_loadu_ps(r->hi, row + 16); \
                a = _mm512_mask_mov_ps(a, r->lanes, _mm512_permutex2var_ps(lo, i0, hi)); \
                b = _mm512_mask_mov_ps(b, r->lanes, _mm512_permutex2var_ps(lo, i1, hi)); \
                c = _mm512_mask_mov_ps(c, r->lanes, _mm512_permutex2var_ps(lo, i2, hi)); \
            } \
        }
        SWIFTNN_TAP_ROW(0, t0, t1, t2)
        SWIFTNN_TAP_ROW(1, t3, t4, t5)
        SWIFTNN_TAP_ROW(2, t6, t7, t8)
#undef SWIFTNN_TAP_ROW
    }
    t[0] = t0; t[1] = t1; t[2] = t2; t[3] = t3; t[4] = t4; t[5] = t5; t[6] = t6; t[7] = t7; t[8] = t8;
}

/// A panel's lanes grouped by sample, for reading phase planes (swiftnn_conv_gather_phases_f32).
typedef struct {
    const float *base;       ///< the sample's split channel 0, shifted so that lane l reads base + l
    __mmask16 lanes;
} phase_segment;

typedef struct {
    phase_segment seg[16];
    long nseg, outW, planeLen;
    __mmask16 top, left;     ///< lanes in output row 0 / output column 0 (their kernel row or column 0 is padding)
} phase_panel;

/// One channel's nine taps from its four phase planes ([row parity][column parity][OH][OW], at
/// `channelOffset` from each segment's base). Stride 2, padding 1: kernel row 0 reads odd row oh − 1, row 1 even row oh, row 2 odd row oh (columns
/// alike), so every tap is one masked contiguous load per sample of the panel, whatever the output width.
SWIFTNN_AVX512
static inline __attribute__((always_inline)) void taps3x3_phases(long channelOffset, const phase_panel *pp, __m512 t[9]) {
    __m512 t0 = _mm512_setzero_ps(), t1 = t0, t2 = t0, t3 = t0, t4 = t0, t5 = t0, t6 = t0, t7 = t0, t8 = t0;
    const long L = pp->planeLen, up = pp->outW;
    for (long i = 0; i < pp->nseg; i++) {
        const float *p00 = pp->seg[i].base + channelOffset, *p01 = p00 + L, *p10 = p00 + 2 * L, *p11 = p00 + 3 * L;
        const __mmask16 m = pp->seg[i].lanes, mt = m & ~pp->top, ml = m & ~pp->left, mtl = mt & ~pp->left;
        t0 = _mm512_mask_loadu_ps(t0, mtl, p11 - up - 1);
        t1 = _mm512_mask_loadu_ps(t1, mt, p10 - up);
        t2 = _mm512_mask_loadu_ps(t2, mt, p11 - up);
        t3 = _mm512_mask_loadu_ps(t3, ml, p01 - 1);
        t4 = _mm512_mask_loadu_ps(t4, m, p00);
        t5 = _mm512_mask_loadu_ps(t5, m, p01);
        t6 = _mm512_mask_loadu_ps(t6, ml, p11 - 1);
        t7 = _mm512_mask_loadu_ps(t7, m, p10);
        t8 = _mm512_mask_loadu_ps(t8, m, p11);
    }
    t[0] = t0; t[1] = t1; t[2] = t2; t[3] = t3; t[4] = t4; t[5] = t5; t[6] = t6; t[7] = t7; t[8] = t8;
}

/// Channel c's nine taps of a panel, from the input's rows (`phases` = 0: `x` and the runs' `plan`)
/// or from phase planes (`phases` = 1: `pp`); `phases` and the stride are constants where inlined.
SWIFTNN_AVX512
static inline __attribute__((always_inline)) void channel_taps(const float *x, const swiftnn_conv_geometry *g, const run3 *plan,
                                                                long np, const phase_panel *pp, long c, const int phases,
                                                                const long strideW, __m512 t[9]) {
    if (phases) {
        // No prefetch: the planes were just written and sit in L1 or L2 (requesting the next
        // channels' lines cost 2–3 % of a SmallCNN MNIST step).
        const long planes = 4 * pp->planeLen;
        taps3x3_phases(c * planes, pp, t);
        return;
    }
    const long planeSize = g->height * g->width, width = g->width;
    const float *xc = x + c * planeSize;
    // The rows this panel reads four channels ahead (the loads wait on every miss). A row above
    // or below the image is prefetched too: a prefetch never faults, and checking each row cost
    // a sixth of the gather.
    for (long i = 0; i < np; i++) {
        const float *ahead = xc + 4 * planeSize + plan[i].offset + plan[i].ih0 * width;
        for (long kh = 0; kh < 3; kh++) {
            _mm_prefetch((const char *)(ahead + kh * width), _MM_HINT_T0);
            _mm_prefetch((const char *)(ahead + kh * width + 16), _MM_HINT_T0);
        }
    }
    taps3x3(xc, g->height, g->width, plan, np, strideW, t);
}

SWIFTNN_AVX512
static inline __attribute__((always_inline)) void gather_runs3(const float *x, const swiftnn_conv_geometry *g, const run3 *plan,
                                                                long np, const phase_panel *pp, long tap0, long taps, float *dst,
                                                                long stride, int six, const int phases, const long strideW) {
    __m512 t[9], u[9], pending[6];
    long c = tap0 / 9, done = 0;
    long q0 = tap0 % 9;
    while (done < taps) {
        channel_taps(x, g, plan, np, pp, c, phases, strideW, t);
        // Whole channels store straight from registers (the general loop below indexes t at run time,
        // which keeps it in memory): nine rows, or in the six-row layout two channels' eighteen rows
        // as three blocks.
        if (q0 == 0 && !six && taps - done >= 9) {
            float *d = dst + done * stride;
            for (long q = 0; q < 9; q++) _mm512_storeu_ps(d + q * stride, t[q]);
            done += 9;
            c++;
            continue;
        }
        if (q0 == 0 && six && done % 6 == 0 && taps - done >= 18) {
            channel_taps(x, g, plan, np, pp, c + 1, phases, strideW, u);
            float *d = dst + (done / 6) * stride;
            const __m512 b0[6] = {t[0], t[1], t[2], t[3], t[4], t[5]};
            const __m512 b1[6] = {t[6], t[7], t[8], u[0], u[1], u[2]};
            const __m512 b2[6] = {u[3], u[4], u[5], u[6], u[7], u[8]};
            interleave_six(b0, d);
            interleave_six(b1, d + stride);
            interleave_six(b2, d + 2 * stride);
            done += 18;
            c += 2;
            continue;
        }
        for (long q = q0; q < 9 && done < taps; q++, done++) {
            if (six) {
                pending[done % 6] = t[q];
                if (done % 6 == 5) interleave_six(pending, dst + (done / 6) * stride);
            } else {
                _mm512_storeu_ps(dst + done * stride, t[q]);
            }
        }
        q0 = 0;
        c++;
    }
    if (six && taps % 6 != 0) {
        for (long i = taps % 6; i < 6; i++) pending[i] = _mm512_setzero_ps();  // a last partial block: zero rows
        interleave_six(pending, dst + (taps / 6) * stride);
    }
}

/// A 1×1 kernel's taps at column stride 1 (one per channel) run by run, one masked load per run, as
/// kernel column 0 of taps3x3. ResNet-50's bottleneck 1×1 layers took a hardware gather per channel:
/// 256→64 at 56×56 (batch 8) ran its forward in 7.7 ms, 4.3 ms this way.
SWIFTNN_AVX512
static void gather_runs1(const float *x, const swiftnn_conv_geometry *g, const run3 *plan, long np, long tap0, long taps,
                         float *dst, long stride, int six) {
    const long planeSize = g->height * g->width, width = g->width, height = g->height;
    __m512 pending[6];
    for (long done = 0; done < taps; done++) {
        const float *xc = x + (tap0 + done) * planeSize;
        __m512 t = _mm512_setzero_ps();
        for (long i = 0; i < np; i++) {
            const run3 *r = plan + i;
            if (r->ih0 < 0 || r->ih0 >= height) continue;
            const float *row = xc + r->offset + r->ih0 * width;
            // Four channels ahead, as channel_taps (a prefetch never faults).
            _mm_prefetch((const char *)(row + 4 * planeSize), _MM_HINT_T0);
            _mm_prefetch((const char *)(row + 4 * planeSize + 16), _MM_HINT_T0);
            t = _mm512_mask_loadu_ps(t, r->cols[0], row - r->lane0);
        }
        if (six) {
            pending[done % 6] = t;
            if (done % 6 == 5) interleave_six(pending, dst + (done / 6) * stride);
        } else {
            _mm512_storeu_ps(dst + done * stride, t);
        }
    }
    if (six && taps % 6 != 0) {
        for (long i = taps % 6; i < 6; i++) pending[i] = _mm512_setzero_ps();  // a last partial block: zero rows
        interleave_six(pending, dst + (taps / 6) * stride);
    }
}

SWIFTNN_AVX512
void swiftnn_conv_gather_runs_f32(const float *x, const swiftnn_conv_geometry *g, const swiftnn_conv_run *runs, long nruns,
                                  long tap0, long taps, float *dst, long stride, int six) {
    run3 plan[32];
    const long np = plan_runs3(g, runs, nruns, plan);
    if (g->kernelH == 1) {
        gather_runs1(x, g, plan, np, tap0, taps, dst, stride, six);
    } else if (g->strideW == 1) {
        gather_runs3(x, g, plan, np, 0, tap0, taps, dst, stride, six, 0, 1);
    } else {
        gather_runs3(x, g, plan, np, 0, tap0, taps, dst, stride, six, 0, 2);
    }
}

// MARK: 3×3 stride-2 taps from phase planes

int swiftnn_conv_phases_supported(const swiftnn_conv_geometry *g) {
    return g->kernelH == 3 && g->kernelW == 3 && g->strideH == 2 && g->strideW == 2 && g->padH == 1 && g->padW == 1
        && g->dilationH == 1 && g->dilationW == 1;
}

/// How far ahead (floats, 4 KB) the split requests the input's lines: the input comes from L3 or
/// memory, and without requests each load waited on its miss (the split took 12 % of a SmallCNN
/// step instead of 3 %). A fixed distance, not a number of channels: an 8×8 plane is 256 bytes.
#define SPLIT_AHEAD 1024
SWIFTNN_AVX512
void swiftnn_conv_split_phases_f32(const float *x, long channels, long height, long width, long outH, long outW,
                                   long row0, long row1, float *dst) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    const long planeLen = outH * outW, planeSize = height * width;
    if (width % 2 == 0 && width <= 16 && height == 2 * outH) {
        // Narrow even planes: rows 2i and 2i + 1 are 2·width ≤ 32 contiguous floats, whose even and
        // odd elements hold row i of all four planes (one iteration per row pair instead of two).
        const long half = width / 2;
        const __mmask16 lo = lane_range(0, 2 * width), hi = lane_range(0, 2 * width - 16);
        const __mmask16 first = lane_range(0, half), second = lane_range(half, width);
        for (long c = 0; c < channels; c++) {
            const float *xc = x + c * planeSize;
            float *p00 = dst + c * 4 * planeLen, *p01 = p00 + planeLen, *p10 = p01 + planeLen, *p11 = p10 + planeLen;
            for (long i = row0; i < row1; i++) {
                const float *r = xc + 2 * i * width;
                for (long k = 0; k < 2 * width; k += 16) _mm_prefetch((const char *)(r + SPLIT_AHEAD + k), _MM_HINT_T0);
                const __m512 a = _mm512_maskz_loadu_ps(lo, r), b = _mm512_maskz_loadu_ps(hi, r + 16);
                const __m512 ve = _mm512_permutex2var_ps(a, even, b), vo = _mm512_permutex2var_ps(a, odd, b);
                _mm512_mask_storeu_ps(p00 + i * outW, first, ve);
                _mm512_mask_storeu_ps(p10 + i * outW - half, second, ve);
                _mm512_mask_storeu_ps(p01 + i * outW, first, vo);
                _mm512_mask_storeu_ps(p11 + i * outW - half, second, vo);
            }
        }
        return;
    }
    // The column blocks' masks depend only on the width: computed once, not per row (the mask
    // arithmetic had been most of the split's instructions on SmallCNN's 32-wide layer). Outputs
    // wider than 64 blocks (1024 columns) go 64 blocks at a time.
    enum { max_blocks = 64 };
    const long blocks = (outW + 15) / 16;
    __mmask16 lo[max_blocks], hi[max_blocks], out[max_blocks];
    for (long g0 = 0; g0 < blocks; g0 += max_blocks) {
        const long g1 = g0 + max_blocks < blocks ? g0 + max_blocks : blocks;
        for (long b = g0; b < g1; b++) {
            lo[b - g0] = lanes_between(0, width - 32 * b);
            hi[b - g0] = lanes_between(0, width - 32 * b - 16);
            out[b - g0] = lane_range(0, outW - 16 * b);
        }
        for (long c = 0; c < channels; c++) {
            const float *xc = x + c * planeSize;
            float *d = dst + c * 4 * planeLen;
            for (long i = row0; i < row1; i++) {
                // Rows 2i and 2i + 1 in order: the input is read front to back.
                const float *ahead = xc + 2 * i * width + 32 * g0 + SPLIT_AHEAD;
                for (long k = 0; k < 2 * width - 32 * g0 && k < 2 * 32 * max_blocks; k += 16) {
                    _mm_prefetch((const char *)(ahead + k), _MM_HINT_T0);
                }
                for (long rowParity = 0; rowParity < 2; rowParity++) {
                    const long row = 2 * i + rowParity;
                    float *e = d + 2 * rowParity * planeLen + i * outW, *o = e + planeLen;
                    if (row >= height) {
                        // Below an odd height's last row: zeros.
                        for (long b = g0; b < g1; b++) {
                            _mm512_mask_storeu_ps(e + 16 * b, out[b - g0], _mm512_setzero_ps());
                            _mm512_mask_storeu_ps(o + 16 * b, out[b - g0], _mm512_setzero_ps());
                        }
                        continue;
                    }
                    // Input columns 32b ..< 32b + 32; past the row's end, zeros (an odd width's last odd column).
                    const float *r = xc + row * width;
                    for (long b = g0; b < g1; b++) {
                        const __m512 l = _mm512_maskz_loadu_ps(lo[b - g0], r + 32 * b);
                        const __m512 h = _mm512_maskz_loadu_ps(hi[b - g0], r + 32 * b + 16);
                        _mm512_mask_storeu_ps(e + 16 * b, out[b - g0], _mm512_permutex2var_ps(l, even, h));
                        _mm512_mask_storeu_ps(o + 16 * b, out[b - g0], _mm512_permutex2var_ps(l, odd, h));
                    }
                }
            }
        }
    }
}

SWIFTNN_AVX512
void swiftnn_conv_gather_phases_f32(const float *const *samples, long nBase, long outW, long planeLen,
                                    const swiftnn_conv_run *runs, long nruns, long tap0, long taps, float *dst, long stride,
                                    int six) {
    phase_panel pp;
    pp.nseg = 0;
    pp.outW = outW;
    pp.planeLen = planeLen;
    pp.top = 0;
    pp.left = 0;
    for (long i = 0; i < nruns; i++) {
        const swiftnn_conv_run *r = runs + i;
        const __mmask16 lanes = lane_range(r->lane0, r->lane0 + r->count);
        if (r->oh == 0) pp.top |= lanes;
        if (r->ow0 == 0) pp.left |= lane_range(r->lane0, r->lane0 + 1);
        // Runs of one sample are consecutive positions, so contiguous in its planes: one segment.
        if (pp.nseg > 0 && runs[i - 1].n == r->n) {
            pp.seg[pp.nseg - 1].lanes |= lanes;
        } else {
            phase_segment *s = pp.seg + pp.nseg++;
            s->base = samples[r->n - nBase] + (r->oh * outW + r->ow0) - r->lane0;
            s->lanes = lanes;
        }
    }
    gather_runs3(0, 0, 0, 0, &pp, tap0, taps, dst, stride, six, 1, 2);
}

SWIFTNN_AVX512
void swiftnn_conv_tap_rows_s2_f32(const float *x, long channels, long height, long width, long outH, long outW, float *dst,
                                  long rowStride) {
    // Input row 2oh + kh − 1's even columns are kernel column 1's taps of output row oh, its odd
    // columns kernel column 2's, and the odd columns one lane later (column 0 padding) kernel
    // column 0's: two loads, two permutes and an align per 16 outputs, stored as three rows.
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    const long planeSize = height * width, pieces = outW / 16;
    if (outW % 16 != 0) {
        // Narrow outputs (outW divides 16, width = 2·outW): a 16-position panel is 16 / outW whole
        // output rows, whose input rows (2·outW floats each) fill two vectors back to back; lane l's
        // taps are then fixed lanes of those two (column 0's padding a zeroed lane).
        const long rows = 16 / outW, panels = outH * outW / 16;
        int32_t i1[16], i2[16], i0[16];
        __mmask16 notFirst = 0;
        for (int l = 0; l < 16; l++) {
            const int r = l / (int)outW, ow = l % (int)outW, base = r * (int)width + 2 * ow;
            i1[l] = base;
            i2[l] = base + 1;
            i0[l] = ow > 0 ? base - 1 : 0;
            if (ow > 0) notFirst |= (__mmask16)(1u << l);
        }
        const __m512i idx1 = _mm512_loadu_si512(i1), idx2 = _mm512_loadu_si512(i2), idx0 = _mm512_loadu_si512(i0);
        for (long c = 0; c < channels; c++) {
            const float *xc = x + c * planeSize;
            float *d = dst + 9 * c * rowStride;
            for (long q = 0; q < panels; q++) {
                // The panel's 2·rows input rows (64 floats), SPLIT_AHEAD floats ahead: the input comes
                // from memory inside a training step.
                const float *ahead = xc + 2 * q * rows * width + SPLIT_AHEAD;
                for (long k = 0; k < 2 * rows * width; k += 16) _mm_prefetch((const char *)(ahead + k), _MM_HINT_T0);
                for (long kh = 0; kh < 3; kh++) {
                    __m512 s0 = _mm512_setzero_ps(), s1 = s0;
                    for (long r = 0; r < rows; r++) {
                        const long ih = 2 * (q * rows + r) + kh - 1, lane = r * width;
                        if (ih < 0 || ih >= height) continue;
                        const float *row = xc + ih * width;
                        if (lane < 16) {
                            s0 = _mm512_mask_loadu_ps(s0, lane_range(lane, lane + width), row - lane);
                        } else {
                            s1 = _mm512_mask_loadu_ps(s1, lane_range(lane - 16, lane - 16 + width), row - (lane - 16));
                        }
                    }
                    float *out = d + 3 * kh * rowStride + 16 * q;
                    _mm512_storeu_ps(out, _mm512_maskz_permutex2var_ps(notFirst, s0, idx0, s1));
                    _mm512_storeu_ps(out + rowStride, _mm512_permutex2var_ps(s0, idx1, s1));
                    _mm512_storeu_ps(out + 2 * rowStride, _mm512_permutex2var_ps(s0, idx2, s1));
                }
            }
        }
        return;
    }
    for (long c = 0; c < channels; c++) {
        const float *xc = x + c * planeSize;
        float *d = dst + 9 * c * rowStride;
        for (long oh = 0; oh < outH; oh++) {
            // Input rows 2oh and 2oh + 1, SPLIT_AHEAD floats ahead (as the narrow panels above).
            const float *ahead = xc + 2 * oh * width + SPLIT_AHEAD;
            for (long k = 0; k < 2 * width; k += 16) _mm_prefetch((const char *)(ahead + k), _MM_HINT_T0);
            for (long kh = 0; kh < 3; kh++) {
                const long ih = 2 * oh + kh - 1;
                float *r = d + 3 * kh * rowStride + oh * outW;
                __m512 previous = _mm512_setzero_ps();
                for (long k = 0; k < pieces; k++) {
                    __m512 e = _mm512_setzero_ps(), o = e;
                    if (ih >= 0 && ih < height) {
                        const float *row = xc + ih * width + 32 * k;
                        const __m512 lo = _mm512_maskz_loadu_ps(lanes_between(0, width - 32 * k), row);
                        const __m512 hi = _mm512_maskz_loadu_ps(lanes_between(0, width - 32 * k - 16), row + 16);
                        e = _mm512_permutex2var_ps(lo, even, hi);
                        o = _mm512_permutex2var_ps(lo, odd, hi);
                    }
                    const __m512 shifted = _mm512_castsi512_ps(
                        _mm512_alignr_epi32(_mm512_castps_si512(o), _mm512_castps_si512(previous), 15));
                    _mm512_storeu_ps(r + 16 * k, shifted);
                    _mm512_storeu_ps(r + rowStride + 16 * k, e);
                    _mm512_storeu_ps(r + 2 * rowStride + 16 * k, o);
                    previous = o;
                }
            }
        }
    }
}

/// A panel of 16 consecutive output positions of one sample, read straight from its phase planes by
/// the micro-kernel (swiftnn_conv_phase_panel_f32): `base` as a phase_segment's, `top` / `left` the
/// lanes in output row 0 / column 0.
SWIFTNN_AVX512
int swiftnn_conv_phase_panel_f32(const float *const *samples, long nBase, long outW, const swiftnn_conv_run *runs,
                                 long nruns, const float **base, uint16_t *top, uint16_t *left) {
    __mmask16 t = 0, l = 0, lanes = 0;
    for (long i = 0; i < nruns; i++) {
        const swiftnn_conv_run *r = runs + i;
        if (r->n != runs[0].n) return 0;
        const __mmask16 m = lane_range(r->lane0, r->lane0 + r->count);
        lanes |= m;
        if (r->oh == 0) t |= m;
        if (r->ow0 == 0) l |= lane_range(r->lane0, r->lane0 + 1);
    }
    if (nruns == 0 || lanes != 0xFFFF) return 0;
    *base = samples[runs[0].n - nBase] + (runs[0].oh * outW + runs[0].ow0) - runs[0].lane0;
    *top = t;
    *left = l;
    return 1;
}

// The two-panel tiles whose B rows are loaded by the caller (phase planes, dy): accumulators p (A block
// 0 × panel 0), q (block 0 × panel 1), r and s (block 1), one k step given the rows u and v, and
// their order in acc[24] (swiftnn_gemm_f32_12x32_sums's).
#define SWIFTNN_TWO_PANEL_ACCUMULATORS \
    __m512 p0 = _mm512_setzero_ps(), p1 = p0, p2 = p0, p3 = p0, p4 = p0, p5 = p0; \
    __m512 q0 = p0, q1 = p0, q2 = p0, q3 = p0, q4 = p0, q5 = p0; \
    __m512 r0 = p0, r1 = p0, r2 = p0, r3 = p0, r4 = p0, r5 = p0; \
    __m512 s0 = p0, s1 = p0, s2 = p0, s3 = p0, s4 = p0, s5 = p0;
#define SWIFTNN_TWO_PANEL_ROW(i, src, acc0, acc1) \
    x = _mm512_set1_ps(src[i]); acc0 = _mm512_fmadd_ps(x, u, acc0); acc1 = _mm512_fmadd_ps(x, v, acc1);
#define SWIFTNN_TWO_PANEL_STEP(blocks, a0, a1) do { \
    __m512 x; \
    SWIFTNN_TWO_PANEL_ROW(0, a0, p0, q0) SWIFTNN_TWO_PANEL_ROW(1, a0, p1, q1) SWIFTNN_TWO_PANEL_ROW(2, a0, p2, q2) \
    SWIFTNN_TWO_PANEL_ROW(3, a0, p3, q3) SWIFTNN_TWO_PANEL_ROW(4, a0, p4, q4) SWIFTNN_TWO_PANEL_ROW(5, a0, p5, q5) \
    if (blocks == 2) { \
        SWIFTNN_TWO_PANEL_ROW(0, a1, r0, s0) SWIFTNN_TWO_PANEL_ROW(1, a1, r1, s1) SWIFTNN_TWO_PANEL_ROW(2, a1, r2, s2) \
        SWIFTNN_TWO_PANEL_ROW(3, a1, r3, s3) SWIFTNN_TWO_PANEL_ROW(4, a1, r4, s4) SWIFTNN_TWO_PANEL_ROW(5, a1, r5, s5) \
        a1 += 6; \
    } \
    a0 += 6; \
} while (0)
// One k step of an eight-row block (A as [k][8]) against the two panels' rows u and v: accumulators
// p0..p7 (panel 0) and q0..q7 (panel 1).
#define SWIFTNN_EIGHT_ROW_STEP(a) do { \
    __m512 x; \
    SWIFTNN_TWO_PANEL_ROW(0, a, p0, q0) SWIFTNN_TWO_PANEL_ROW(1, a, p1, q1) SWIFTNN_TWO_PANEL_ROW(2, a, p2, q2) \
    SWIFTNN_TWO_PANEL_ROW(3, a, p3, q3) SWIFTNN_TWO_PANEL_ROW(4, a, p4, q4) SWIFTNN_TWO_PANEL_ROW(5, a, p5, q5) \
    SWIFTNN_TWO_PANEL_ROW(6, a, p6, q6) SWIFTNN_TWO_PANEL_ROW(7, a, p7, q7) \
    a += 8; \
} while (0)
#define SWIFTNN_EIGHT_ROW_ACCUMULATORS \
    __m512 p0 = _mm512_setzero_ps(), p1 = p0, p2 = p0, p3 = p0, p4 = p0, p5 = p0, p6 = p0, p7 = p0; \
    __m512 q0 = p0, q1 = p0, q2 = p0, q3 = p0, q4 = p0, q5 = p0, q6 = p0, q7 = p0;
#define SWIFTNN_TWO_PANEL_EXPORT(acc) do { \
    acc[0] = p0; acc[1] = p1; acc[2] = p2; acc[3] = p3; acc[4] = p4; acc[5] = p5; \
    acc[6] = q0; acc[7] = q1; acc[8] = q2; acc[9] = q3; acc[10] = q4; acc[11] = q5; \
    acc[12] = r0; acc[13] = r1; acc[14] = r2; acc[15] = r3; acc[16] = r4; acc[17] = r5; \
    acc[18] = s0; acc[19] = s1; acc[20] = s2; acc[21] = s3; acc[22] = s4; acc[23] = s5; \
} while (0)

// The two panels' B rows of every channel's nine taps in order, loaded from phase planes as
// taps3x3_phases loads them (offset from the channel's even-even plane, mask), each followed by `step`.
// Needs channels, base0, base1, planeLen, outW, top0, left0, top1, left1.
#define SWIFTNN_PHASE_ROWS(step) do { \
    const long L = planeLen, up = outW; \
    const __mmask16 mt0 = (__mmask16)~top0, ml0 = (__mmask16)~left0, mtl0 = mt0 & ml0; \
    const __mmask16 mt1 = (__mmask16)~top1, ml1 = (__mmask16)~left1, mtl1 = mt1 & ml1; \
    const long off[9] = {3 * L - up - 1, 2 * L - up, 3 * L - up, L - 1, 0, L, 3 * L - 1, 2 * L, 3 * L}; \
    for (long c = 0; c < channels; c++) { \
        const float *c0 = base0 + c * 4 * L, *c1 = base1 + c * 4 * L; \
        _Pragma("clang loop unroll(full)") \
        for (int t = 0; t < 9; t++) { \
            const __mmask16 k0 = t == 0 ? mtl0 : (t <= 2 ? mt0 : (t == 3 || t == 6 ? ml0 : (__mmask16)0xFFFF)); \
            const __mmask16 k1 = t == 0 ? mtl1 : (t <= 2 ? mt1 : (t == 3 || t == 6 ? ml1 : (__mmask16)0xFFFF)); \
            const __m512 u = _mm512_maskz_loadu_ps(k0, c0 + off[t]), v = _mm512_maskz_loadu_ps(k1, c1 + off[t]); \
            step; \
        } \
    } \
} while (0)

/// The 6×32 or 12×32 sums of swiftnn_gemm_f32_12x32_sums / swiftnn_gemm_f32_6x32_tile with B's rows
/// read from phase planes instead of a packed panel: row (c, kh, kw) of panel i is taps3x3_phases's
/// load for a one-segment panel (lanes in output row 0 read nothing for kernel row 0, lanes in
/// column 0 nothing for kernel column 0; what they leave is the padding's 0). Same fused multiply-add
/// chains over the same values: the packed path's bits, without writing and rereading the panel.
SWIFTNN_AVX512
static inline __attribute__((always_inline)) void phase_sums(const int blocks, long channels, const float *a0, const float *a1,
                                                             const float *base0, const float *base1, long planeLen,
                                                             long outW, __mmask16 top0, __mmask16 left0, __mmask16 top1,
                                                             __mmask16 left1, __m512 acc[24]) {
    SWIFTNN_TWO_PANEL_ACCUMULATORS
    SWIFTNN_PHASE_ROWS(SWIFTNN_TWO_PANEL_STEP(blocks, a0, a1));
    SWIFTNN_TWO_PANEL_EXPORT(acc);
}

/// swiftnn_conv_phase_store_12x32_f32 for one block of eight rows (A as [K][8]): 16 accumulators, for
/// the output channels that pairs of six-row blocks leave without padding (64: the last 16).
SWIFTNN_AVX512
void swiftnn_conv_phase_store_8x32_f32(long channels, const float *a, const float *base0, const float *base1, long planeLen,
                                       long outW, uint16_t top0, uint16_t left0, uint16_t top1, uint16_t left1, float *y0,
                                       float *y1, long rows, long channelStride) {
    SWIFTNN_EIGHT_ROW_ACCUMULATORS
    SWIFTNN_PHASE_ROWS(SWIFTNN_EIGHT_ROW_STEP(a));
    const __m512 acc[16] = {p0, p1, p2, p3, p4, p5, p6, p7, q0, q1, q2, q3, q4, q5, q6, q7};
    for (long r = 0; r < rows; r++) {
        _mm512_storeu_ps(y0 + r * channelStride, acc[r]);
        _mm512_storeu_ps(y1 + r * channelStride, acc[8 + r]);
    }
}

SWIFTNN_AVX512
void swiftnn_conv_phase_tile_12x32_f32(long channels, const float *a0, const float *a1, const float *base0,
                                       const float *base1, long planeLen, long outW, uint16_t top0, uint16_t left0,
                                       uint16_t top1, uint16_t left1, float *tiles) {
    __m512 acc[24];
    phase_sums(2, channels, a0, a1, base0, base1, planeLen, outW, top0, left0, top1, left1, acc);
    for (int i = 0; i < 24; i++) _mm512_storeu_ps(tiles + 16 * i, acc[i]);
}

SWIFTNN_AVX512
void swiftnn_conv_phase_store_12x32_f32(long channels, const float *a0, const float *a1, const float *base0,
                                        const float *base1, long planeLen, long outW, uint16_t top0, uint16_t left0,
                                        uint16_t top1, uint16_t left1, float *y0, float *y1, long rows0, long rows1,
                                        long channelStride) {
    __m512 acc[24];
    phase_sums(2, channels, a0, a1, base0, base1, planeLen, outW, top0, left0, top1, left1, acc);
    // acc[6q + r]: row r of block q / 2 (a0, a1) at panel q % 2: output channel rows of y0 / y1.
    for (int q = 0; q < 4; q++) {
        float *y = (q & 1) ? y1 : y0;
        const long rows = (q >> 1) ? rows1 : rows0, first = (q >> 1) ? 6 : 0;
        for (long r = 0; r < rows; r++) _mm512_storeu_ps(y + (first + r) * channelStride, acc[6 * q + r]);
    }
}

SWIFTNN_AVX512
void swiftnn_conv_phase_tile_6x32_f32(long channels, const float *a, const float *base0, const float *base1, long planeLen,
                                      long outW, uint16_t top0, uint16_t left0, uint16_t top1, uint16_t left1, float *tiles) {
    __m512 acc[24];
    phase_sums(1, channels, a, a, base0, base1, planeLen, outW, top0, left0, top1, left1, acc);
    for (int i = 0; i < 12; i++) _mm512_storeu_ps(tiles + 16 * i, acc[i]);
}

/// Where kernel column kw lands in a 16-column window of an input row: the lanes of `mask` receive
/// consecutive outputs of the row from `src` on (for stride 1, lane l receives output src + l, a
/// masked load). For wider strides the lanes are stride-W apart: the first `count` lanes are loaded
/// and lane l of `mask` takes loaded lane `rank[l]`, the number of mask lanes below l — an expanding
/// load, as a masked load and a permute (vexpandps costs about 5 cycles on Zen 5, the two
/// instructions about 1; same values).
typedef struct { int32_t rank[16]; long src; __mmask16 mask, count; } col2im_tap;

/// The stride-W expanding load of a col2im tap: `count` floats from p into the lanes of `mask`.
SWIFTNN_AVX512
static inline __m512 expand_tap(__mmask16 mask, __mmask16 count, __m512i rank, const float *p) {
    return _mm512_maskz_permutexvar_ps(mask, rank, _mm512_maskz_loadu_ps(count, p));
}
/// Kernel widths up to this keep their taps in registers (col2im_window); wider ones read the table.
#define COL2IM_MAX_KW 7

/// One 16-column window `w` of one channel of col2im into `buf` (rows of `Wp` floats, 64-byte
/// aligned, zeroed by the caller). For each kernel row kh and output row oh, the KW kernel columns'
/// contributions to the window are summed in registers (kw in order), then added to the window with
/// an aligned full-vector load and store: no masked store meets an overlapping shifted load (which
/// cannot be forwarded from the store buffer). Inlined with KW a constant for the common kernels,
/// so the taps' masks and pointers stay in registers over the rows.
SWIFTNN_AVX512
static inline __attribute__((always_inline)) void col2im_window(const float *cc, long ld, long outH, long outW,
                                                                float *buf, long Wp, const swiftnn_conv_geometry *g,
                                                                const col2im_tap *t, long KW, int expand) {
    for (long kh = 0; kh < g->kernelH; kh++) {
        // Output rows whose input row ih = oh·strideH − padH + kh·dilationH is inside the image.
        long ih0 = kh * g->dilationH - g->padH, oh = 0;
        if (ih0 < 0) oh = (-ih0 + g->strideH - 1) / g->strideH;
        long ohEnd = ih0 >= g->height ? 0 : (g->height - 1 - ih0) / g->strideH + 1;
        if (ohEnd > outH) ohEnd = outH;
        if (oh >= ohEnd) continue;
        const float *p[COL2IM_MAX_KW];
        __mmask16 m[COL2IM_MAX_KW], n[COL2IM_MAX_KW];
        __m512i r[COL2IM_MAX_KW];
#pragma clang loop unroll(full)
        for (long kw = 0; kw < KW; kw++) {
            p[kw] = cc + (kh * KW + kw) * ld + t[kw].src + oh * outW;
            m[kw] = t[kw].mask;
            n[kw] = t[kw].count;
            r[kw] = expand ? _mm512_loadu_si512(t[kw].rank) : _mm512_setzero_si512();
        }
        float *row = buf + (ih0 + oh * g->strideH) * Wp;
        long rowStep = g->strideH * Wp;
        for (; oh < ohEnd; oh++, row += rowStep) {
            __m512 v = _mm512_setzero_ps();
#pragma clang loop unroll(full)
            for (long kw = 0; kw < KW; kw++) {
                v = _mm512_add_ps(v, expand ? expand_tap(m[kw], n[kw], r[kw], p[kw]) : _mm512_maskz_loadu_ps(m[kw], p[kw]));
                p[kw] += outW;
            }
            _mm512_store_ps(row, _mm512_add_ps(_mm512_load_ps(row), v));
        }
    }
}

/// The same sums for any kernel width (wider than COL2IM_MAX_KW): taps read from the table per row.
SWIFTNN_AVX512
static void col2im_window_wide(const float *cc, long ld, long outH, long outW, float *buf, long Wp,
                               const swiftnn_conv_geometry *g, const col2im_tap *t, int expand) {
    long KW = g->kernelW;
    for (long kh = 0; kh < g->kernelH; kh++) {
        long ih = kh * g->dilationH - g->padH;
        for (long oh = 0; oh < outH; oh++, ih += g->strideH) {
            if ((unsigned long)ih >= (unsigned long)g->height) continue;  // padding rows
            float *row = buf + ih * Wp;
            __m512 v = _mm512_setzero_ps();
            for (long kw = 0; kw < KW; kw++) {
                const float *p = cc + (kh * KW + kw) * ld + oh * outW + t[kw].src;
                v = _mm512_add_ps(v, expand ? expand_tap(t[kw].mask, t[kw].count, _mm512_loadu_si512(t[kw].rank), p)
                                            : _mm512_maskz_loadu_ps(t[kw].mask, p));
            }
            _mm512_store_ps(row, _mm512_add_ps(_mm512_load_ps(row), v));
        }
    }
}

SWIFTNN_AVX512
static void col2im_channel(const float *cc, long ld, long outH, long outW, float *buf, long Wp,
                           const swiftnn_conv_geometry *g, const col2im_tap *taps, long nwin, int expand) {
    long KW = g->kernelW;
    for (long w = 0; w < nwin; w++) {
        const col2im_tap *t = taps + w * KW;
        float *b = buf + 16 * w;
#define SWIFTNN_COL2IM_CASE(k) \
        case k: \
            if (expand) col2im_window(cc, ld, outH, outW, b, Wp, g, t, k, 1); \
            else col2im_window(cc, ld, outH, outW, b, Wp, g, t, k, 0); \
            break;
        switch (KW) {
            SWIFTNN_COL2IM_CASE(1) SWIFTNN_COL2IM_CASE(2) SWIFTNN_COL2IM_CASE(3) SWIFTNN_COL2IM_CASE(4)
            SWIFTNN_COL2IM_CASE(5) SWIFTNN_COL2IM_CASE(6) SWIFTNN_COL2IM_CASE(7)
            default: col2im_window_wide(cc, ld, outH, outW, b, Wp, g, t, expand);
        }
#undef SWIFTNN_COL2IM_CASE
    }
}

/// Permute indices that interleave two vectors from lane `first` on: element 2i of the result is
/// lane first + i of the first source, element 2i + 1 that of the second (lo: i < 8, hi: i ≥ 8).
SWIFTNN_AVX512
static inline void interleave_indices(long first, __m512i *lo, __m512i *hi) {
    const __m512i shift = _mm512_set1_epi32((int)first);
    *lo = _mm512_add_epi32(_mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23), shift);
    *hi = _mm512_add_epi32(_mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31), shift);
}

/// The first `count` elements (at most 32) of the interleaving of `even` and `odd` (interleave_indices)
/// stored at dst; nothing past them is touched.
SWIFTNN_AVX512
static inline void store_interleaved(float *dst, long count, __m512 even, __m512 odd, __m512i lo, __m512i hi) {
    _mm512_mask_storeu_ps(dst, lane_range(0, count), _mm512_permutex2var_ps(even, lo, odd));
    if (count > 16) _mm512_mask_storeu_ps(dst + 16, lane_range(0, count - 16), _mm512_permutex2var_ps(even, hi, odd));
}

/// col2im of one channel for a 3×3 kernel at stride 2, padding 1 (SmallCNN's and ResNet's
/// downsampling layers), by the parity of the input row and column: an even row 2a receives kernel
/// row 1 at output row a; an odd row 2a + 1 kernel row 2 at a and kernel row 0 at a + 1; likewise
/// the columns (kernel column 1 at b for 2b; 2 at b and 0 at b + 1 for 2b + 1). So sixteen even
/// and sixteen odd columns of a row are sums of contiguous tap rows, interleaved by two permutes
/// into 32 elements of dx, each written once: no zeroed window buffer, no expanding loads, no
/// read-modify-write per kernel row (the general windows cost 2 of conv 32→64's 6.5 ms input
/// gradient on MNIST). Sums in the order kernel row 2 (or 1), then 0; within a row column 2, then 0.
SWIFTNN_AVX512
static void col2im_3x3_stride2(const float *cc, long ld, long outH, long outW, float *plane, long H, long W) {
    __m512i low, high;
    interleave_indices(0, &low, &high);
    for (long ih = 0; ih < H; ih++) {
        long a = ih >> 1;
        // Kernel rows and output rows feeding input row ih: (1, a) if even; (2, a) and (0, a + 1) if odd.
        long kh0 = (ih & 1) ? 2 : 1;
        int second = (ih & 1) && a + 1 < outH;
        const float *r0 = cc + 3 * kh0 * ld + a * outW, *r1 = cc + a * outW + outW;  // r1: kernel row 0, output row a + 1
        float *d = plane + ih * W;
        for (long b0 = 0; 2 * b0 < W; b0 += 16) {
            __mmask16 m = lane_range(0, outW - b0), m1 = lane_range(0, outW - 1 - b0);
            __m512 e = _mm512_maskz_loadu_ps(m, r0 + ld + b0);
            __m512 o = _mm512_add_ps(_mm512_maskz_loadu_ps(m, r0 + 2 * ld + b0), _mm512_maskz_loadu_ps(m1, r0 + b0 + 1));
            if (second) {
                e = _mm512_add_ps(e, _mm512_maskz_loadu_ps(m, r1 + ld + b0));
                o = _mm512_add_ps(o, _mm512_add_ps(_mm512_maskz_loadu_ps(m, r1 + 2 * ld + b0), _mm512_maskz_loadu_ps(m1, r1 + b0 + 1)));
            }
            store_interleaved(d + 2 * b0, W - 2 * b0, e, o, low, high);
        }
    }
}

SWIFTNN_AVX512
void swiftnn_conv_col2im_f32(const float *cols, long ld, long channels, long outH, long outW, float *dx,
                             const swiftnn_conv_geometry *g) {
    long KH = g->kernelH, KW = g->kernelW, H = g->height, W = g->width, sW = g->strideW;
    long planeSize = H * W;
    if (KH == 3 && KW == 3 && g->strideH == 2 && sW == 2 && g->padH == 1 && g->padW == 1 && g->dilationH == 1
        && g->dilationW == 1) {
        for (long c = 0; c < channels; c++) col2im_3x3_stride2(cols + c * 9 * ld, ld, outH, outW, dx + c * planeSize, H, W);
        return;
    }
    if (sW > 16) {
        // Wider strides than a vector: one element at a time, in the same order.
        for (long c = 0; c < channels; c++) {
            float *plane = dx + c * planeSize;
            for (long i = 0; i < planeSize; i++) plane[i] = 0;
            const float *cc = cols + c * KH * KW * ld;
            for (long kh = 0; kh < KH; kh++) {
                for (long oh = 0; oh < outH; oh++) {
                    long ih = oh * g->strideH - g->padH + kh * g->dilationH;
                    if (ih < 0 || ih >= H) continue;
                    for (long ow = 0; ow < outW; ow++) {
                        long iw = ow * sW - g->padW;
                        for (long kw = 0; kw < KW; kw++, iw += g->dilationW) {
                            if (iw >= 0 && iw < W) plane[ih * W + iw] += cc[(kh * KW + kw) * ld + oh * outW + ow];
                        }
                    }
                }
            }
        }
        return;
    }
    // Input rows in windows of 16 columns; taps[w·KW + kw] says which outputs of a row kernel column
    // kw adds to window w (lanes outside the image or hit by no output stay empty, never read).
    long nwin = (W + 15) / 16, Wp = 16 * nwin;
    col2im_tap stackTaps[96];
    col2im_tap *taps = nwin * KW <= 96 ? stackTaps : (col2im_tap *)malloc(sizeof(col2im_tap) * nwin * KW);
    for (long w = 0; w < nwin; w++) {
        for (long kw = 0; kw < KW; kw++) {
            unsigned int mask = 0;
            long first = 0;
            for (long l = 0; l < 16 && 16 * w + l < W; l++) {
                long t = 16 * w + l + g->padW - kw * g->dilationW;  // = ow · sW for the output ow that reads it
                if (t < 0 || t % sW != 0 || t / sW >= outW) continue;
                if (!mask) first = sW > 1 ? t / sW : t / sW - l;
                mask |= 1u << l;
            }
            col2im_tap *tap = taps + w * KW + kw;
            tap->src = first;
            tap->mask = (__mmask16)mask;
            int32_t rank = 0;
            for (long l = 0; l < 16; l++) {
                tap->rank[l] = rank;
                rank += (int32_t)((mask >> l) & 1u);
            }
            tap->count = (__mmask16)((1u << rank) - 1u);  // rank ≤ 16: a 32-bit shift
        }
    }
    // One channel's rows, 64-byte aligned, each row padded to whole windows.
    float stackBuf[4096] __attribute__((aligned(64)));
    float *buf = H * Wp <= 4096 ? stackBuf : (float *)aligned_alloc(64, (size_t)(H * Wp) * sizeof(float));
    __mmask16 last = (__mmask16)(W % 16 == 0 ? 0xFFFFu : (1u << (W % 16)) - 1u);
    for (long c = 0; c < channels; c++) {
        for (long i = 0; i < H * Wp; i += 16) _mm512_store_ps(buf + i, _mm512_setzero_ps());
        const float *cc = cols + c * KH * KW * ld;
        if (sW > 1) col2im_channel(cc, ld, outH, outW, buf, Wp, g, taps, nwin, 1);
        else col2im_channel(cc, ld, outH, outW, buf, Wp, g, taps, nwin, 0);
        float *plane = dx + c * planeSize;
        for (long ih = 0; ih < H; ih++) {
            float *d = plane + ih * W;
            const float *b = buf + ih * Wp;
            long w = 0;
            for (; w + 1 < nwin; w++) _mm512_storeu_ps(d + 16 * w, _mm512_load_ps(b + 16 * w));
            _mm512_mask_storeu_ps(d + 16 * w, last, _mm512_load_ps(b + 16 * w));
        }
    }
    if (buf != stackBuf) free(buf);
    if (taps != stackTaps) free(taps);
}

// MARK: Input gradient by output phase (stride 2)

/// A pointer `elements` floats from `base`, formed as an integer: the offsets of masked lanes may point
/// before or past the buffer, which a pointer may not, and masked lanes are never touched.
static inline const float *at_offset(const float *base, long elements) {
    return (const float *)((uintptr_t)base + (uintptr_t)(elements * (long)sizeof(float)));
}

SWIFTNN_AVX512
void swiftnn_conv_phase_gather_f32(const float *dy, long channels, long height, long width,
                                   const swiftnn_conv_run *runs, long nruns, const long *rowShifts, long nrow,
                                   const long *colShifts, long ncol, float *dst) {
    const long plane = height * width, sample = channels * plane;
    for (long jh = 0; jh < nrow; jh++) {
        for (long jw = 0; jw < ncol; jw++) {
            // Each run's lanes inside dy for this shift: one masked load per run and channel.
            long off[16];
            __mmask16 mask[16];
            long k = 0;
            for (long r = 0; r < nruns && r < 16; r++) {
                long row = runs[r].oh + rowShifts[jh], col = runs[r].ow0 + colShifts[jw];
                if (row < 0 || row >= height) continue;
                long lo = col < 0 ? -col : 0;
                long hi = width - col < runs[r].count ? width - col : runs[r].count;
                if (lo >= hi) continue;
                mask[k] = lane_range(runs[r].lane0 + lo, runs[r].lane0 + hi);
                off[k] = runs[r].n * sample + row * width + col - runs[r].lane0;
                k++;
            }
            float *d = dst + (jh * ncol + jw) * channels * 16;
            if (k == 0) {
                for (long o = 0; o < channels; o++) _mm512_storeu_ps(d + 16 * o, _mm512_setzero_ps());
            } else if (k == 1) {
                for (long o = 0; o < channels; o++) {
                    _mm512_storeu_ps(d + 16 * o, _mm512_maskz_loadu_ps(mask[0], at_offset(dy, off[0] + o * plane)));
                }
            } else {
                for (long o = 0; o < channels; o++) {
                    __m512 v = _mm512_maskz_loadu_ps(mask[0], at_offset(dy, off[0] + o * plane));
                    for (long i = 1; i < k; i++) v = _mm512_mask_loadu_ps(v, mask[i], at_offset(dy, off[i] + o * plane));
                    _mm512_storeu_ps(d + 16 * o, v);
                }
            }
        }
    }
}

SWIFTNN_AVX512
int swiftnn_conv_dy_panel_f32(const swiftnn_conv_run *runs, long nruns, long height, long width, const long *rowShifts,
                              long nrow, const long *colShifts, long ncol, long *offsets, uint16_t *masks) {
    if (nruns == 0) return 0;
    long lanes = 0;
    for (long r = 0; r < nruns; r++) {
        if (runs[r].n != runs[0].n) return 0;
        lanes += runs[r].count;
    }
    if (lanes != 16) return 0;
    for (long jh = 0; jh < nrow; jh++) {
        for (long jw = 0; jw < ncol; jw++) {
            // swiftnn_conv_phase_gather_f32's runs for this shift, which must share one offset.
            long off = 0, have = 0;
            __mmask16 mask = 0;
            for (long r = 0; r < nruns; r++) {
                long row = runs[r].oh + rowShifts[jh], col = runs[r].ow0 + colShifts[jw];
                if (row < 0 || row >= height) continue;
                long lo = col < 0 ? -col : 0;
                long hi = width - col < runs[r].count ? width - col : runs[r].count;
                if (lo >= hi) continue;
                const long o = row * width + col - runs[r].lane0;
                if (have && o != off) return 0;
                off = o;
                have = 1;
                mask |= lane_range(runs[r].lane0 + lo, runs[r].lane0 + hi);
            }
            offsets[jh * ncol + jw] = off;
            masks[jh * ncol + jw] = mask;
        }
    }
    return 1;
}

/// Every B row (tap j, channel o) of a dy tile's two panels, in the packed rows' order: u and v (the
/// rows' masked loads from dy), then `step`. The next pair's lines of each channel (two panels on) are
/// requested with the first tap: dy comes from L3 or memory, one row per channel plane, streams the
/// hardware prefetchers do not follow (without them conv 32→64's backward ran 0.7 ms slower in the step).
#define SWIFTNN_DY_ROWS(step) \
    for (long j = 0; j < taps; j++) { \
        const __mmask16 k0 = mask0[j], k1 = mask1[j]; \
        const float *b0 = at_offset(dy0, off0[j]), *b1 = at_offset(dy1, off1[j]); \
        for (long o = 0; o < channels; o++) { \
            if (j == 0) { \
                _mm_prefetch((const char *)((uintptr_t)b0 + 128), _MM_HINT_T0); \
                _mm_prefetch((const char *)((uintptr_t)b0 + 192), _MM_HINT_T0); \
            } \
            const __m512 u = _mm512_maskz_loadu_ps(k0, b0), v = _mm512_maskz_loadu_ps(k1, b1); \
            step; \
            b0 = at_offset(b0, plane); \
            b1 = at_offset(b1, plane); \
        } \
    }

/// The 6×32 or 12×32 sums of the stride-2 input gradient's phase GEMM for two panels, each B row
/// (tap j, channel o) a masked load from dy (swiftnn_conv_dy_panel_f32's offset and mask for tap j,
/// plus o planes): what swiftnn_conv_phase_gather_f32 packs, in the packed rows' order.
SWIFTNN_AVX512
static inline __attribute__((always_inline)) void dy_sums(const int blocks, long channels, long taps, const float *dy0,
                                                          const float *dy1, const long *off0, const uint16_t *mask0,
                                                          const long *off1, const uint16_t *mask1, long plane,
                                                          const float *a0, const float *a1, __m512 acc[24]) {
    SWIFTNN_TWO_PANEL_ACCUMULATORS
    SWIFTNN_DY_ROWS(SWIFTNN_TWO_PANEL_STEP(blocks, a0, a1));
    SWIFTNN_TWO_PANEL_EXPORT(acc);
}

/// swiftnn_conv_dy_tile_12x32_f32 for one block of eight rows (A as [K][8]): 16 accumulators, for
/// channel counts that six-row blocks would pad (32 input channels: 36 rows computed).
SWIFTNN_AVX512
void swiftnn_conv_dy_tile_8x32_f32(long channels, long taps, const float *dy0, const float *dy1, const long *off0,
                                   const uint16_t *mask0, const long *off1, const uint16_t *mask1, long plane,
                                   const float *a, float *tiles) {
    SWIFTNN_EIGHT_ROW_ACCUMULATORS
    SWIFTNN_DY_ROWS(SWIFTNN_EIGHT_ROW_STEP(a));
    const __m512 acc[16] = {p0, p1, p2, p3, p4, p5, p6, p7, q0, q1, q2, q3, q4, q5, q6, q7};
    for (int i = 0; i < 16; i++) _mm512_storeu_ps(tiles + 16 * i, acc[i]);
}

SWIFTNN_AVX512
void swiftnn_conv_dy_tile_12x32_f32(long channels, long taps, const float *dy0, const float *dy1, const long *off0,
                                    const uint16_t *mask0, const long *off1, const uint16_t *mask1, long plane,
                                    const float *a0, const float *a1, float *tiles) {
    __m512 acc[24];
    dy_sums(2, channels, taps, dy0, dy1, off0, mask0, off1, mask1, plane, a0, a1, acc);
    for (int i = 0; i < 24; i++) _mm512_storeu_ps(tiles + 16 * i, acc[i]);
}

SWIFTNN_AVX512
void swiftnn_conv_dy_tile_6x32_f32(long channels, long taps, const float *dy0, const float *dy1, const long *off0,
                                   const uint16_t *mask0, const long *off1, const uint16_t *mask1, long plane,
                                   const float *a, float *tiles) {
    __m512 acc[24];
    dy_sums(1, channels, taps, dy0, dy1, off0, mask0, off1, mask1, plane, a, a, acc);
    for (int i = 0; i < 12; i++) _mm512_storeu_ps(tiles + 16 * i, acc[i]);
}

SWIFTNN_AVX512
void swiftnn_conv_phase_store_f32(const float *even, const float *odd, long rows, const swiftnn_conv_run *runs, long nruns,
                                  float *dx, long sampleStride, long planeStride, long width, long rowPhase, int stream) {
    // Output element 2i (2i + 1) of a run is lane lane0 + i of the even (odd) columns' tile.
    for (long r = 0; r < nruns; r++) {
        long b0 = runs[r].ow0, count = 2 * runs[r].count;
        if (count > width - 2 * b0) count = width - 2 * b0;
        __m512i lo, hi;
        interleave_indices(runs[r].lane0, &lo, &hi);
        float *row = dx + runs[r].n * sampleStride + (2 * runs[r].oh + rowPhase) * width + 2 * b0;
        if (stream && count == 32 && runs[r].lane0 == 0 && ((uintptr_t)row & 63) == 0 && ((planeStride * 4) & 63) == 0) {
            for (long c = 0; c < rows; c++) {
                const __m512 e = _mm512_loadu_ps(even + 16 * c), o = _mm512_loadu_ps(odd + 16 * c);
                _mm512_stream_ps(row + c * planeStride, _mm512_permutex2var_ps(e, lo, o));
                _mm512_stream_ps(row + c * planeStride + 16, _mm512_permutex2var_ps(e, hi, o));
            }
            continue;
        }
        for (long c = 0; c < rows; c++) {
            store_interleaved(row + c * planeStride, count, _mm512_loadu_ps(even + 16 * c), _mm512_loadu_ps(odd + 16 * c), lo, hi);
        }
    }
}

SWIFTNN_AVX512
void swiftnn_conv_dy_pair_f32(const swiftnn_conv_dy_phase *phase, const float *dy0, const float *dy1, const long *off0,
                              const uint16_t *mask0, const long *off1, const uint16_t *mask1, long tapSlots,
                              const swiftnn_conv_run *runs0, long nruns0, const swiftnn_conv_run *runs1, long nruns1, float *dx,
                              float *tiles) {
    const long C = phase->inChannels, O = phase->outChannels, six = phase->sixRowChannels, plane = phase->plane;
    const long inPlane = phase->inPlane, W = phase->width, ph = phase->rowPhase;
    const int stream = phase->stream;
    float *const tile[2] = {tiles, tiles + 384};
    const swiftnn_conv_run *const runs[2] = {runs0, runs1};
    const long nruns[2] = {nruns0, nruns1};
    // Pairs of six-row blocks (a lone one last when their count is odd), tile q = 2·block + panel.
    const long sixBlocks = (six + 5) / 6;
    for (long ob = 0; ob < sixBlocks; ob += 2) {
        const int blocks = ob + 1 < sixBlocks ? 2 : 1;
        for (int pw = 0; pw < 2; pw++) {
            const long K = phase->taps[pw] * O;
            const float *x0 = phase->a6[pw] + ob * K * 6;
            const long *o0 = off0 + pw * tapSlots, *o1 = off1 + pw * tapSlots;
            const uint16_t *m0 = mask0 + pw * tapSlots, *m1 = mask1 + pw * tapSlots;
            if (blocks == 2) {
                swiftnn_conv_dy_tile_12x32_f32(O, phase->taps[pw], dy0, dy1, o0, m0, o1, m1, plane, x0, x0 + K * 6, tile[pw]);
            } else {
                swiftnn_conv_dy_tile_6x32_f32(O, phase->taps[pw], dy0, dy1, o0, m0, o1, m1, plane, x0, tile[pw]);
            }
        }
        for (int bi = 0; bi < blocks; bi++) {
            const long c0 = 6 * (ob + bi), rows = six - c0 < 6 ? six - c0 : 6;
            for (int pj = 0; pj < 2; pj++) {
                const long q = 96 * (2 * bi + pj);
                swiftnn_conv_phase_store_f32(tile[0] + q, tile[1] + q, rows, runs[pj], nruns[pj], dx + c0 * inPlane, C * inPlane,
                                             inPlane, W, ph, stream);
            }
        }
    }
    // The channels past `six` in eight-row blocks: tile 128·panel.
    for (long c0 = six; c0 < C; c0 += 8) {
        for (int pw = 0; pw < 2; pw++) {
            const long K = phase->taps[pw] * O;
            swiftnn_conv_dy_tile_8x32_f32(O, phase->taps[pw], dy0, dy1, off0 + pw * tapSlots, mask0 + pw * tapSlots,
                                          off1 + pw * tapSlots, mask1 + pw * tapSlots, plane, phase->a8[pw] + (c0 - six) * K,
                                          tile[pw]);
        }
        for (int pj = 0; pj < 2; pj++) {
            swiftnn_conv_phase_store_f32(tile[0] + 128 * pj, tile[1] + 128 * pj, 8, runs[pj], nruns[pj], dx + c0 * inPlane,
                                         C * inPlane, inPlane, W, ph, stream);
        }
    }
}

/// Prefetches a channel row four cache lines past a panel's last span: the panels four ahead.
/// load_rows and pack_transposed read 16 floats from each of the O channel planes per panel, O
/// interleaved streams that the hardware prefetchers do not follow (the rows came from DRAM or L3:
/// with this, conv 32→64's input gradient 4–5 % and weight gradient 13–14 % faster, a SmallCNN step
/// 2.5–3 %, in-process A/B on Zen 5; 2 to 16 lines ahead measured alike). A prefetch never faults,
/// so an address past the plane's or the tensor's end is harmless (formed as an integer, not as a
/// pointer past the buffer).
static inline void prefetch_panels_ahead(const float *yr, const swiftnn_conv_span *spans, long nspans) {
    if (nspans > 0) _mm_prefetch((const char *)((uintptr_t)(yr + spans[nspans - 1].offset) + 4 * 64), _MM_HINT_T0);
}

SWIFTNN_AVX512
void swiftnn_conv_load_rows_f32(const float *y, long channelStride, const swiftnn_conv_span *spans, long nspans,
                                long rows, float *dst, long dstStride) {
    for (long r = 0; r < rows; r++) {
        __m512 out = _mm512_setzero_ps();
        const float *yr = y + r * channelStride;
        prefetch_panels_ahead(yr, spans, nspans);
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
                prefetch_panels_ahead(yr, spans, nspans);
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

SWIFTNN_AVX512
void swiftnn_conv_pack_transposed_rows_f32(const float *y, long channelStride, long channels, long positions, float *dst,
                                           long panelStride) {
    __m512 r[16];
    for (long q = 0; q * 16 < channels; q++) {
        const long rows = channels - 16 * q < 16 ? channels - 16 * q : 16;
        const float *yq = y + 16 * q * channelStride;
        float *d = dst + q * panelStride;
        for (long p = 0; p < positions; p += 16) {
            // Each channel row read front to back, 16 rows at a time: sixteen streams the hardware
            // prefetchers follow (one panel of every channel at a time was O streams, one line each).
            for (long i = 0; i < 16; i++) r[i] = i < rows ? _mm512_loadu_ps(yq + i * channelStride + p) : _mm512_setzero_ps();
            transpose16(r);
            for (long k = 0; k < 16; k++) _mm512_storeu_ps(d + 16 * (p + k), r[k]);
        }
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

/// A tile of `ob` output channels × `kn` taps (compile-time constants once inlined, so the ob·kn sums
/// live in registers): r[i][k] = Σ tap_{k0+k}·gp_i over panels j0..<j1, from zero. `gp` holds the
/// panels' gy lanes of the ob channels ([panel][ob][16]). Each panel's ob gy vectors serve kn taps
/// and each tap vector ob channels: ob + kn loads per ob·kn multiply-adds (one channel at a time
/// took one load per multiply-add and ran at a quarter of the FMA peak). Every lane still sums its
/// panels in order from zero, so the tiling does not change a bit.
SWIFTNN_AVX512
static inline __attribute__((always_inline)) void tap_tile_sums(
    const long ob, const long kn, const float *taps, long K, long k0, long j0, long j1, const float *gp, __m512 r[4][6]) {
    for (long i = 0; i < ob; i++)
        for (long k = 0; k < kn; k++) r[i][k] = _mm512_setzero_ps();
    for (long j = j0; j < j1; j++) {
        __m512 d[4];
        for (long i = 0; i < ob; i++) d[i] = _mm512_load_ps(gp + (j * ob + i) * 16);
        const float *t = taps + (j * K + k0) * 16;
        for (long k = 0; k < kn; k++) {
            const __m512 tv = _mm512_loadu_ps(t + 16 * k);
            for (long i = 0; i < ob; i++) r[i][k] = _mm512_fmadd_ps(tv, d[i], r[i][k]);
        }
    }
}

/// The tile's sums over a batch's panels, then one add per (channel, tap) onto the accumulator in memory.
SWIFTNN_AVX512
static inline __attribute__((always_inline)) void wgrad_small_tile(
    const long ob, const long kn, const float *taps, long K, long k0, long panels, const float *gp, float *acc, long K16) {
    __m512 r[4][6];
    tap_tile_sums(ob, kn, taps, K, k0, 0, panels, gp, r);
    for (long i = 0; i < ob; i++) {
        float *a = acc + i * K16 + k0 * 16;
        for (long k = 0; k < kn; k++) _mm512_storeu_ps(a + 16 * k, _mm512_add_ps(_mm512_loadu_ps(a + 16 * k), r[i][k]));
    }
}

/// Channels o0..<o0+ob: their gy lanes at the batch's panels gathered once into `gp`, then every
/// block of six taps.
SWIFTNN_AVX512
static inline __attribute__((always_inline)) void wgrad_small_channels(
    const long ob, const float *taps, long K, long panels, const float *gy, long channelStride, long o0,
    const swiftnn_conv_span *spans, const long *spanCounts, float *acc, float *gp) {
    for (long j = 0; j < panels; j++) {
        for (long i = 0; i < ob; i++) {
            const float *yr = gy + (o0 + i) * channelStride;
            // gy comes from L3 (the layer above just wrote it); its next lines are requested ahead.
            if (j + 8 < panels) _mm_prefetch((const char *)(yr + spans[16 * (j + 8)].offset), _MM_HINT_T0);
            _mm512_store_ps(gp + (j * ob + i) * 16, load_lanes(yr, spans + 16 * j, spanCounts[j]));
        }
    }
    float *a = acc + o0 * K * 16;
    for (long k0 = 0; k0 < K; k0 += 6) {
        switch (K - k0 < 6 ? K - k0 : 6) {
#define SWIFTNN_WGRAD_CASE(n) case n: wgrad_small_tile(ob, n, taps, K, k0, panels, gp, a, K * 16); break;
            SWIFTNN_WGRAD_CASE(1) SWIFTNN_WGRAD_CASE(2) SWIFTNN_WGRAD_CASE(3)
            SWIFTNN_WGRAD_CASE(4) SWIFTNN_WGRAD_CASE(5) SWIFTNN_WGRAD_CASE(6)
#undef SWIFTNN_WGRAD_CASE
            default: break;
        }
    }
}

SWIFTNN_AVX512
void swiftnn_conv_wgrad_small_f32(const float *taps, long K, long panels, const float *gy, long channelStride,
                                  const swiftnn_conv_span *spans, const long *spanCounts, long o0, long o1, float *acc) {
    // The callers' batches hold at most 64 panels; a longer run is summed 64 panels at a time.
    float gp[64 * 4 * 16] __attribute__((aligned(64)));
    for (long p0 = 0; p0 < panels; p0 += 64) {
        const long np = panels - p0 < 64 ? panels - p0 : 64;
        const float *tp = taps + p0 * K * 16;
        const swiftnn_conv_span *sp = spans + 16 * p0;
        const long *sc = spanCounts + p0;
        long o = o0;
        for (; o + 4 <= o1; o += 4) wgrad_small_channels(4, tp, K, np, gy, channelStride, o, sp, sc, acc, gp);
        switch (o1 - o) {
            case 3: wgrad_small_channels(3, tp, K, np, gy, channelStride, o, sp, sc, acc, gp); break;
            case 2: wgrad_small_channels(2, tp, K, np, gy, channelStride, o, sp, sc, acc, gp); break;
            case 1: wgrad_small_channels(1, tp, K, np, gy, channelStride, o, sp, sc, acc, gp); break;
            default: break;
        }
    }
}

/// `nb` output channels (a compile-time constant once inlined: the sums live in registers) of one
/// panel: sum_i = Σ_k w[(o0 + i)·K + k] · tap_k, a fused multiply-add chain from zero in tap order
/// (the GEMM micro-kernels' chain), plus the bias, stored to the panel's positions.
SWIFTNN_AVX512
static inline __attribute__((always_inline)) void forward_small_block(
    const long nb, const float *taps, long K, const float *w, long o0, const float *bias, float *y, long channelStride,
    const swiftnn_conv_span *spans, long nspans) {
    __m512 r[8];
    for (long i = 0; i < nb; i++) r[i] = _mm512_setzero_ps();
    for (long k = 0; k < K; k++) {
        const __m512 t = _mm512_loadu_ps(taps + 16 * k);
        for (long i = 0; i < nb; i++) r[i] = _mm512_fmadd_ps(_mm512_set1_ps(w[(o0 + i) * K + k]), t, r[i]);
    }
    for (long i = 0; i < nb; i++) {
        __m512 v = bias ? _mm512_add_ps(r[i], _mm512_set1_ps(bias[o0 + i])) : r[i];
        float *yr = y + (o0 + i) * channelStride;
        if (nspans == 1 && spans[0].lane0 == 0 && spans[0].count == 16) {
            _mm512_storeu_ps(yr + spans[0].offset, v);
            continue;
        }
        for (long s = 0; s < nspans; s++) {
            __mmask16 mask = lane_range(spans[s].lane0, spans[s].lane0 + spans[s].count);
            _mm512_mask_storeu_ps((float *)((char *)yr + (spans[s].offset - spans[s].lane0) * (long)sizeof(float)), mask, v);
        }
    }
}

SWIFTNN_AVX512
void swiftnn_conv_forward_small_f32(const float *taps, long K, const float *w, long O, const float *bias, float *y,
                                    long channelStride, const swiftnn_conv_span *spans, long nspans) {
    long o = 0;
    for (; o + 8 <= O; o += 8) forward_small_block(8, taps, K, w, o, bias, y, channelStride, spans, nspans);
    switch (O - o) {
#define SWIFTNN_FORWARD_CASE(n) case n: forward_small_block(n, taps, K, w, o, bias, y, channelStride, spans, nspans); break;
        SWIFTNN_FORWARD_CASE(1) SWIFTNN_FORWARD_CASE(2) SWIFTNN_FORWARD_CASE(3) SWIFTNN_FORWARD_CASE(4)
        SWIFTNN_FORWARD_CASE(5) SWIFTNN_FORWARD_CASE(6) SWIFTNN_FORWARD_CASE(7)
#undef SWIFTNN_FORWARD_CASE
        default: break;
    }
}

// Conv2d → BatchNorm2d → ReLU for a layer with few taps (a first layer), with the convolution's output
// z never stored. A first layer's z is the network's largest activation and costs 9 or 27 multiply-adds
// per element: reading and writing it (statistics, normalization, the backward's two sweeps, the weight
// gradient's read of dz) cost several times the arithmetic. Each pass regathers a panel's taps (K ≤ 32
// vectors): the statistics sum the taps' moments (z = w·tap, so no z is needed), the output recomputes
// z in registers — the same fused multiply-add chain as swiftnn_conv_forward_small_f32, so the very
// same bits — and the backward reads the ReLU's gate off the output. The normalization's arithmetic is
// norm_kernels.c's, through norm_lanes.h: multiply and add kept separate, the same horizontal sums.

/// z of channels o0..<o0+nb at one panel's lanes: a fused multiply-add chain from zero in tap order.
SWIFTNN_AVX512
static inline __attribute__((always_inline)) void recompute_z(const long nb, const float *taps, long K, const float *w,
                                                              long o0, __m512 *z) {
    for (long i = 0; i < nb; i++) z[i] = _mm512_setzero_ps();
    for (long k = 0; k < K; k++) {
        const __m512 t = _mm512_loadu_ps(taps + 16 * k);
        for (long i = 0; i < nb; i++) z[i] = _mm512_fmadd_ps(_mm512_set1_ps(w[(o0 + i) * K + k]), t, z[i]);
    }
}

/// accD[0..<16] += v's sixteen lanes, in Double.
SWIFTNN_AVX512
static inline void add_lanes_to_double(double *accD, __m512 v) {
    const __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
    const __m512d hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    _mm512_storeu_pd(accD, _mm512_add_pd(_mm512_loadu_pd(accD), lo));
    _mm512_storeu_pd(accD + 8, _mm512_add_pd(_mm512_loadu_pd(accD + 8), hi));
}

/// The lanes of a panel that hold positions (the union of its spans).
static inline __mmask16 span_lanes(const swiftnn_conv_span *spans, long nspans) {
    __mmask16 m = 0;
    for (long i = 0; i < nspans; i++) m |= lane_range(spans[i].lane0, spans[i].lane0 + spans[i].count);
    return m;
}

/// Adds the rb × cb tile of Σ_j t_r·t_c (rows r0.., columns c0.., compile-time sizes once inlined, so
/// the sums live in registers) over a batch's panels into the Double lanes gram[(r·K + c)·16 + lane].
SWIFTNN_AVX512
static inline __attribute__((always_inline)) void gram_tile(const long rb, const long cb, const float *taps, long K, long r0,
                                                            long c0, long panels, double *gram) {
    __m512 acc[4][6];
    for (long i = 0; i < rb; i++)
        for (long c = 0; c < cb; c++) acc[i][c] = _mm512_setzero_ps();
    for (long j = 0; j < panels; j++) {
        const float *t = taps + j * K * 16;
        __m512 r[4];
        for (long i = 0; i < rb; i++) r[i] = _mm512_loadu_ps(t + 16 * (r0 + i));
        for (long c = 0; c < cb; c++) {
            const __m512 v = _mm512_loadu_ps(t + 16 * (c0 + c));
            for (long i = 0; i < rb; i++) acc[i][c] = _mm512_fmadd_ps(r[i], v, acc[i][c]);
        }
    }
    for (long i = 0; i < rb; i++) {
        for (long c = 0; c < cb; c++) add_lanes_to_double(gram + ((r0 + i) * K + c0 + c) * 16, acc[i][c]);
    }
}

SWIFTNN_AVX512
void swiftnn_conv_tap_moments_f32(float *taps, long K, long panels, const swiftnn_conv_span *spans, const long *spanCounts,
                                  const float *tapShift, double *accD) {
    // Shift every tap (a padded tap is 0, so it becomes −shift: it is a value the convolution reads)
    // and zero the lanes of no position, in place: the sums below then need no masks.
    __m512 sum[32];
    for (long k = 0; k < K; k++) sum[k] = _mm512_setzero_ps();
    for (long j = 0; j < panels; j++) {
        const __mmask16 lanes = span_lanes(spans + 16 * j, spanCounts[j]);
        float *t = taps + j * K * 16;
        for (long k = 0; k < K; k++) {
            const __m512 v = _mm512_maskz_sub_ps(lanes, _mm512_loadu_ps(t + 16 * k), _mm512_set1_ps(tapShift[k]));
            _mm512_storeu_ps(t + 16 * k, v);
            sum[k] = _mm512_add_ps(sum[k], v);
        }
    }
    double *gram = accD + K * 16;
    for (long k = 0; k < K; k++) add_lanes_to_double(accD + 16 * k, sum[k]);
    // Tiles of four rows by six columns that hold the lower triangle (c ≤ r); their few entries above
    // it are summed too and ignored.
    for (long r0 = 0; r0 < K; r0 += 4) {
        const long rb = K - r0 < 4 ? K - r0 : 4;
        for (long c0 = 0; c0 < r0 + rb; c0 += 6) {
            const long cb = r0 + rb - c0 < 6 ? r0 + rb - c0 : 6;
            switch (rb * 8 + cb) {
#define SWIFTNN_GRAM_CASE(R, C) case R * 8 + C: gram_tile(R, C, taps, K, r0, c0, panels, gram); break;
                SWIFTNN_GRAM_CASE(1, 1) SWIFTNN_GRAM_CASE(1, 2) SWIFTNN_GRAM_CASE(1, 3) SWIFTNN_GRAM_CASE(1, 4)
                SWIFTNN_GRAM_CASE(1, 5) SWIFTNN_GRAM_CASE(1, 6) SWIFTNN_GRAM_CASE(2, 1) SWIFTNN_GRAM_CASE(2, 2)
                SWIFTNN_GRAM_CASE(2, 3) SWIFTNN_GRAM_CASE(2, 4) SWIFTNN_GRAM_CASE(2, 5) SWIFTNN_GRAM_CASE(2, 6)
                SWIFTNN_GRAM_CASE(3, 1) SWIFTNN_GRAM_CASE(3, 2) SWIFTNN_GRAM_CASE(3, 3) SWIFTNN_GRAM_CASE(3, 4)
                SWIFTNN_GRAM_CASE(3, 5) SWIFTNN_GRAM_CASE(3, 6) SWIFTNN_GRAM_CASE(4, 1) SWIFTNN_GRAM_CASE(4, 2)
                SWIFTNN_GRAM_CASE(4, 3) SWIFTNN_GRAM_CASE(4, 4) SWIFTNN_GRAM_CASE(4, 5) SWIFTNN_GRAM_CASE(4, 6)
#undef SWIFTNN_GRAM_CASE
                default: break;
            }
        }
    }
}

/// Stores v (16 lanes) to a panel's positions in the channel row yr.
SWIFTNN_AVX512
static inline void store_lanes(float *yr, __m512 v, const swiftnn_conv_span *spans, long nspans) {
    if (nspans == 1 && spans[0].lane0 == 0 && spans[0].count == 16) {
        _mm512_storeu_ps(yr + spans[0].offset, v);
        return;
    }
    for (long s = 0; s < nspans; s++) {
        __mmask16 mask = lane_range(spans[s].lane0, spans[s].lane0 + spans[s].count);
        _mm512_mask_storeu_ps((float *)((char *)yr + (spans[s].offset - spans[s].lane0) * (long)sizeof(float)), mask, v);
    }
}

SWIFTNN_AVX512
static inline __attribute__((always_inline)) void convbn_relu_store(
    const long nb, const __m512 *z, long o0, const float *shift, const float *scale, const float *offset, float *y,
    long channelStride, const swiftnn_conv_span *spans, long nspans, int stream) {
    // A whole panel in one 64-byte line (every panel when the plane holds a multiple of 16 positions).
    const int whole = stream && nspans == 1 && spans[0].lane0 == 0 && spans[0].count == 16;
    for (long i = 0; i < nb; i++) {
        // (z − shift)·scale + offset, then max(0, ·): swiftnn_norm_affine_f32's arithmetic.
        const __m512 d = _mm512_sub_ps(z[i], _mm512_set1_ps(shift[o0 + i]));
        const __m512 v = relu16(_mm512_add_ps(_mm512_mul_ps(d, _mm512_set1_ps(scale[o0 + i])), _mm512_set1_ps(offset[o0 + i])));
        float *yr = y + (o0 + i) * channelStride;
        if (whole && ((uintptr_t)(yr + spans[0].offset) & 63) == 0) {
            _mm512_stream_ps(yr + spans[0].offset, v);
        } else {
            store_lanes(yr, v, spans, nspans);
        }
    }
}

SWIFTNN_AVX512
static inline __attribute__((always_inline)) void convbn_relu_block(
    const long nb, const float *taps, long K, const float *w, long o0, const float *shift, const float *scale,
    const float *offset, float *y, long channelStride, const swiftnn_conv_span *spans, long nspans, int stream) {
    __m512 z[8];
    recompute_z(nb, taps, K, w, o0, z);
    convbn_relu_store(nb, z, o0, shift, scale, offset, y, channelStride, spans, nspans, stream);
}

/// convbn_relu_block for two panels at once: 16 chains in flight instead of 8 (one panel's eight left
/// the fused multiply-adds' latency exposed), each element the same chain.
SWIFTNN_AVX512
static inline __attribute__((always_inline)) void convbn_relu_pair_block(
    const long nb, const float *t0, const float *t1, long K, const float *w, long o0, const float *shift, const float *scale,
    const float *offset, float *y, long channelStride, const swiftnn_conv_span *spans0, long nspans0,
    const swiftnn_conv_span *spans1, long nspans1, int stream) {
    __m512 z[8], u[8];
    for (long i = 0; i < nb; i++) z[i] = u[i] = _mm512_setzero_ps();
    for (long k = 0; k < K; k++) {
        const __m512 a = _mm512_loadu_ps(t0 + 16 * k), b = _mm512_loadu_ps(t1 + 16 * k);
        for (long i = 0; i < nb; i++) {
            const __m512 x = _mm512_set1_ps(w[(o0 + i) * K + k]);
            z[i] = _mm512_fmadd_ps(x, a, z[i]);
            u[i] = _mm512_fmadd_ps(x, b, u[i]);
        }
    }
    convbn_relu_store(nb, z, o0, shift, scale, offset, y, channelStride, spans0, nspans0, stream);
    convbn_relu_store(nb, u, o0, shift, scale, offset, y, channelStride, spans1, nspans1, stream);
}

SWIFTNN_AVX512
void swiftnn_convbn_relu_pair_f32(const float *taps0, const float *taps1, long K, const float *w, long O, const float *shift,
                                  const float *scale, const float *offset, float *y, long channelStride,
                                  const swiftnn_conv_span *spans0, long nspans0, const swiftnn_conv_span *spans1, long nspans1,
                                  int stream) {
    long o = 0;
    for (; o + 8 <= O; o += 8) {
        convbn_relu_pair_block(8, taps0, taps1, K, w, o, shift, scale, offset, y, channelStride, spans0, nspans0, spans1,
                               nspans1, stream);
    }
    switch (O - o) {
#define SWIFTNN_RELU_PAIR_CASE(n) case n: convbn_relu_pair_block(n, taps0, taps1, K, w, o, shift, scale, offset, y, channelStride, \
                                                                 spans0, nspans0, spans1, nspans1, stream); break;
        SWIFTNN_RELU_PAIR_CASE(1) SWIFTNN_RELU_PAIR_CASE(2) SWIFTNN_RELU_PAIR_CASE(3) SWIFTNN_RELU_PAIR_CASE(4)
        SWIFTNN_RELU_PAIR_CASE(5) SWIFTNN_RELU_PAIR_CASE(6) SWIFTNN_RELU_PAIR_CASE(7)
#undef SWIFTNN_RELU_PAIR_CASE
        default: break;
    }
}

SWIFTNN_AVX512
void swiftnn_convbn_relu_f32(const float *taps, long K, const float *w, long O, const float *shift, const float *scale,
                             const float *offset, float *y, long channelStride, const swiftnn_conv_span *spans, long nspans,
                             int stream) {
    long o = 0;
    for (; o + 8 <= O; o += 8) convbn_relu_block(8, taps, K, w, o, shift, scale, offset, y, channelStride, spans, nspans, stream);
    switch (O - o) {
#define SWIFTNN_RELU_CASE(n) case n: convbn_relu_block(n, taps, K, w, o, shift, scale, offset, y, channelStride, spans, nspans, stream); break;
        SWIFTNN_RELU_CASE(1) SWIFTNN_RELU_CASE(2) SWIFTNN_RELU_CASE(3) SWIFTNN_RELU_CASE(4)
        SWIFTNN_RELU_CASE(5) SWIFTNN_RELU_CASE(6) SWIFTNN_RELU_CASE(7)
#undef SWIFTNN_RELU_CASE
        default: break;
    }
}

#ifndef SWIFTNN_GATE_AHEAD
#define SWIFTNN_GATE_AHEAD 16
#endif

/// A tile of ob output channels × kn taps, as wgrad_small_tile, its float sums added into Double
/// lanes after every 16 panels: the weight gradient a·Σtap·g − b·Cov·w − c·Σtap cancels, and float
/// runs of 64 panels left it farther from float64 than the stored path on CIFAR's first layer.
SWIFTNN_AVX512
static inline __attribute__((always_inline)) void gated_wgrad_tile(
    const long ob, const long kn, const float *taps, long K, long k0, long panels, const float *gp, double *accD, long K16) {
    for (long j0 = 0; j0 < panels; j0 += 16) {
        __m512 r[4][6];
        tap_tile_sums(ob, kn, taps, K, k0, j0, panels - j0 < 16 ? panels : j0 + 16, gp, r);
        for (long i = 0; i < ob; i++) {
            for (long k = 0; k < kn; k++) add_lanes_to_double(accD + i * K16 + (k0 + k) * 16, r[i][k]);
        }
    }
}

/// Channels o0..<o0+ob of one batch of panels: g = gy where y > 0 (the ReLU's gate read off its
/// output; lanes of no position load 0 and stay shut) into `gp`, Σg into sum, then every block of
/// six taps.
SWIFTNN_AVX512
static inline __attribute__((always_inline)) void gated_backward_channels(
    const long ob, const float *taps, long K, long panels, const float *y, const float *gy, long channelStride, long o0,
    long O, const swiftnn_conv_span *spans, const long *spanCounts, double *sum, double *accD, float *gp) {
    __m512 s[4];
    for (long i = 0; i < ob; i++) s[i] = _mm512_setzero_ps();
    for (long j = 0; j < panels; j++) {
        for (long i = 0; i < ob; i++) {
            const float *yr = y + (o0 + i) * channelStride, *gr = gy + (o0 + i) * channelStride;
            // y comes from memory and gy from L3 or memory, in rows of a few kilobytes: each row's lines
            // are requested ahead, and near its end the next channels' first lines (short rows leave
            // the hardware prefetchers no time to follow them).
            const long ahead = j + SWIFTNN_GATE_AHEAD;
            if (ahead < panels) {
                _mm_prefetch((const char *)(gr + spans[16 * ahead].offset), _MM_HINT_T0);
                _mm_prefetch((const char *)(yr + spans[16 * ahead].offset), _MM_HINT_T0);
            } else if (o0 + ob + i < O && ahead - panels < panels) {
                const long next = (o0 + ob + i) * channelStride + spans[16 * (ahead - panels)].offset;
                _mm_prefetch((const char *)(gy + next), _MM_HINT_T0);
                _mm_prefetch((const char *)(y + next), _MM_HINT_T0);
            } else if (o0 + ob >= O) {
                // The last channels: the next batch's first channels, whose panels follow this batch's
                // last one unless a sample ends there (a prefetch never faults).
                const swiftnn_conv_span *last = spans + 16 * (panels - 1);
                const long next = i * channelStride + last->offset - last->lane0 + 16 * (ahead - panels + 1);
                _mm_prefetch((const char *)(gy + next), _MM_HINT_T0);
                _mm_prefetch((const char *)(y + next), _MM_HINT_T0);
            }
            const __m512 yv = load_lanes(yr, spans + 16 * j, spanCounts[j]);
            const __m512 g = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(yv, _mm512_setzero_ps(), _CMP_GT_OQ),
                                                 load_lanes(gr, spans + 16 * j, spanCounts[j]));
            s[i] = _mm512_add_ps(s[i], g);
            _mm512_store_ps(gp + (j * ob + i) * 16, g);
        }
        // Σg into Double every 16 panels, as the tiles' sums: batch norm's Σg·(z − mean) is
        // w·Σtap·g − mean·Σg, which cancels when z's mean is large (raw pixel values).
        if ((j & 15) == 15 || j == panels - 1) {
            for (long i = 0; i < ob; i++) {
                sum[o0 + i] += hsum_tree(s[i]);
                s[i] = _mm512_setzero_ps();
            }
        }
    }
    if (!accD) return;
    double *a = accD + o0 * K * 16;
    for (long k0 = 0; k0 < K; k0 += 6) {
        switch (K - k0 < 6 ? K - k0 : 6) {
#define SWIFTNN_WGRAD_CASE(n) case n: gated_wgrad_tile(ob, n, taps, K, k0, panels, gp, a, K * 16); break;
            SWIFTNN_WGRAD_CASE(1) SWIFTNN_WGRAD_CASE(2) SWIFTNN_WGRAD_CASE(3)
            SWIFTNN_WGRAD_CASE(4) SWIFTNN_WGRAD_CASE(5) SWIFTNN_WGRAD_CASE(6)
#undef SWIFTNN_WGRAD_CASE
            default: break;
        }
    }
}

SWIFTNN_AVX512
void swiftnn_convbn_gated_backward_f32(const float *taps, long K, long panels, const float *y, const float *gy,
                                       long channelStride, const swiftnn_conv_span *spans, const long *spanCounts, long O,
                                       double *sum, double *accD) {
    float gp[64 * 4 * 16] __attribute__((aligned(64)));
    for (long p0 = 0; p0 < panels; p0 += 64) {
        const long np = panels - p0 < 64 ? panels - p0 : 64;
        const float *tp = taps + p0 * K * 16;
        const swiftnn_conv_span *sp = spans + 16 * p0;
        const long *sc = spanCounts + p0;
        long o = 0;
        for (; o + 4 <= O; o += 4) gated_backward_channels(4, tp, K, np, y, gy, channelStride, o, O, sp, sc, sum, accD, gp);
        switch (O - o) {
            case 3: gated_backward_channels(3, tp, K, np, y, gy, channelStride, o, O, sp, sc, sum, accD, gp); break;
            case 2: gated_backward_channels(2, tp, K, np, y, gy, channelStride, o, O, sp, sc, sum, accD, gp); break;
            case 1: gated_backward_channels(1, tp, K, np, y, gy, channelStride, o, O, sp, sc, sum, accD, gp); break;
            default: break;
        }
    }
}

// Weight layouts for the products. These ran as scalar Swift loops on the calling thread while
// the other threads waited (about 2 % of a 2-thread SmallCNN step); the callers now split them
// over the threads, which matters more than the vector code: the weights (or the weight gradient)
// were just written by all threads, so half of every matrix sits in another core's cache.

SWIFTNN_AVX512
void swiftnn_conv_pack_six_rows_f32(const float *src, long rows, long cols, long rowStride, float *dst, long blockStride) {
    for (long b = 0; 6 * b < rows; b++) {
        long n = rows - 6 * b < 6 ? rows - 6 * b : 6;
        pack_six_row_block(src + 6 * b * rowStride, rowStride, cols, n, dst + b * blockStride);
    }
}

SWIFTNN_AVX512
void swiftnn_conv_pack_six_contiguous_rows_f32(const float *src, long rows, long cols, long colStride, float *dst,
                                               long blockStride) {
    // Sixteen columns at a time, so that each block's 16 × 6 floats (six whole lines) are written
    // back to back: one column at a time wrote 24 bytes into each of rows / 6 lines a block apart,
    // and for large W (ResNet's 512 × 4608 Wᵀ) those lines left L1 before they were complete
    // (3.4 ms per pack, 5.5 GB/s).
    for (long c0 = 0; c0 < cols; c0 += 16) {
        const long nc = cols - c0 < 16 ? cols - c0 : 16;
        for (long b = 0; 6 * b < rows; b++) {
            const __mmask16 m = lane_range(0, rows - 6 * b < 6 ? rows - 6 * b : 6);
            float *out = dst + b * blockStride + 6 * c0;
            for (long c = 0; c < nc; c++) {
                __m512 v = _mm512_maskz_loadu_ps(m, src + (c0 + c) * colStride + 6 * b);
                _mm512_mask_storeu_ps(out + 6 * c, (__mmask16)0x3F, v);
            }
        }
    }
}

SWIFTNN_AVX512
void swiftnn_transpose_f32(const float *src, long rows, long cols, long srcStride, float *dst, long dstStride) {
    __m512 r[16];
    for (long r0 = 0; r0 < rows; r0 += 16) {
        long nr = rows - r0 < 16 ? rows - r0 : 16;
        for (long c0 = 0; c0 < cols; c0 += 16) {
            long nc = cols - c0 < 16 ? cols - c0 : 16;
            __mmask16 m = lane_range(0, nc);
            for (long i = 0; i < 16; i++) r[i] = i < nr ? _mm512_maskz_loadu_ps(m, src + (r0 + i) * srcStride + c0) : _mm512_setzero_ps();
            transpose16(r);
            __mmask16 out = lane_range(0, nr);
            for (long j = 0; j < nc; j++) _mm512_mask_storeu_ps(dst + (c0 + j) * dstStride + r0, out, r[j]);
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
int swiftnn_conv_runs_supported(const swiftnn_conv_geometry *g) { (void)g; return 0; }
int swiftnn_conv_phases_supported(const swiftnn_conv_geometry *g) { (void)g; return 0; }
void swiftnn_conv_split_phases_f32(const float *x, long channels, long height, long width, long outH, long outW,
                                   long row0, long row1, float *dst) {
    (void)x; (void)channels; (void)height; (void)width; (void)outH; (void)outW; (void)row0; (void)row1; (void)dst;
}
void swiftnn_conv_tap_rows_s2_f32(const float *x, long channels, long height, long width, long outH, long outW, float *dst,
                                  long rowStride) {
    (void)x; (void)channels; (void)height; (void)width; (void)outH; (void)outW; (void)dst; (void)rowStride;
}
void swiftnn_conv_gather_phases_f32(const float *const *samples, long nBase, long outW, long planeLen,
                                    const swiftnn_conv_run *runs, long nruns, long tap0, long taps, float *dst, long stride,
                                    int six) {
    (void)samples; (void)nBase; (void)outW; (void)planeLen; (void)runs; (void)nruns; (void)tap0; (void)taps; (void)dst;
    (void)stride; (void)six;
}
void swiftnn_conv_gather_runs_f32(const float *x, const swiftnn_conv_geometry *g, const swiftnn_conv_run *runs, long nruns,
                                  long tap0, long taps, float *dst, long stride, int six) {
    (void)x; (void)g; (void)runs; (void)nruns; (void)tap0; (void)taps; (void)dst; (void)stride; (void)six;
}
int swiftnn_conv_phase_panel_f32(const float *const *samples, long nBase, long outW, const swiftnn_conv_run *runs,
                                 long nruns, const float **base, uint16_t *top, uint16_t *left) {
    (void)samples; (void)nBase; (void)outW; (void)runs; (void)nruns; (void)base; (void)top; (void)left;
    return 0;
}
void swiftnn_conv_phase_tile_12x32_f32(long channels, const float *a0, const float *a1, const float *base0,
                                       const float *base1, long planeLen, long outW, uint16_t top0, uint16_t left0,
                                       uint16_t top1, uint16_t left1, float *tiles) {
    (void)channels; (void)a0; (void)a1; (void)base0; (void)base1; (void)planeLen; (void)outW; (void)top0; (void)left0;
    (void)top1; (void)left1; (void)tiles;
}
void swiftnn_conv_phase_store_12x32_f32(long channels, const float *a0, const float *a1, const float *base0,
                                        const float *base1, long planeLen, long outW, uint16_t top0, uint16_t left0,
                                        uint16_t top1, uint16_t left1, float *y0, float *y1, long rows0, long rows1,
                                        long channelStride) {
    (void)channels; (void)a0; (void)a1; (void)base0; (void)base1; (void)planeLen; (void)outW; (void)top0; (void)left0;
    (void)top1; (void)left1; (void)y0; (void)y1; (void)rows0; (void)rows1; (void)channelStride;
}
void swiftnn_conv_phase_store_8x32_f32(long channels, const float *a, const float *base0, const float *base1, long planeLen,
                                       long outW, uint16_t top0, uint16_t left0, uint16_t top1, uint16_t left1, float *y0,
                                       float *y1, long rows, long channelStride) {
    (void)channels; (void)a; (void)base0; (void)base1; (void)planeLen; (void)outW; (void)top0; (void)left0; (void)top1;
    (void)left1; (void)y0; (void)y1; (void)rows; (void)channelStride;
}
void swiftnn_conv_phase_tile_6x32_f32(long channels, const float *a, const float *base0, const float *base1, long planeLen,
                                      long outW, uint16_t top0, uint16_t left0, uint16_t top1, uint16_t left1, float *tiles) {
    (void)channels; (void)a; (void)base0; (void)base1; (void)planeLen; (void)outW; (void)top0; (void)left0; (void)top1;
    (void)left1; (void)tiles;
}
void swiftnn_conv_col2im_f32(const float *cols, long ld, long channels, long outH, long outW, float *dx,
                             const swiftnn_conv_geometry *g) {
    (void)cols; (void)ld; (void)channels; (void)outH; (void)outW; (void)dx; (void)g;
}
void swiftnn_conv_phase_gather_f32(const float *dy, long channels, long height, long width,
                                   const swiftnn_conv_run *runs, long nruns, const long *rowShifts, long nrow,
                                   const long *colShifts, long ncol, float *dst) {
    (void)dy; (void)channels; (void)height; (void)width; (void)runs; (void)nruns; (void)rowShifts; (void)nrow;
    (void)colShifts; (void)ncol; (void)dst;
}
int swiftnn_conv_dy_panel_f32(const swiftnn_conv_run *runs, long nruns, long height, long width, const long *rowShifts,
                              long nrow, const long *colShifts, long ncol, long *offsets, uint16_t *masks) {
    (void)runs; (void)nruns; (void)height; (void)width; (void)rowShifts; (void)nrow; (void)colShifts; (void)ncol;
    (void)offsets; (void)masks;
    return 0;
}
void swiftnn_conv_dy_tile_12x32_f32(long channels, long taps, const float *dy0, const float *dy1, const long *off0,
                                    const uint16_t *mask0, const long *off1, const uint16_t *mask1, long plane,
                                    const float *a0, const float *a1, float *tiles) {
    (void)channels; (void)taps; (void)dy0; (void)dy1; (void)off0; (void)mask0; (void)off1; (void)mask1; (void)plane;
    (void)a0; (void)a1; (void)tiles;
}
void swiftnn_conv_dy_tile_8x32_f32(long channels, long taps, const float *dy0, const float *dy1, const long *off0,
                                   const uint16_t *mask0, const long *off1, const uint16_t *mask1, long plane,
                                   const float *a, float *tiles) {
    (void)channels; (void)taps; (void)dy0; (void)dy1; (void)off0; (void)mask0; (void)off1; (void)mask1; (void)plane;
    (void)a; (void)tiles;
}
void swiftnn_conv_dy_tile_6x32_f32(long channels, long taps, const float *dy0, const float *dy1, const long *off0,
                                   const uint16_t *mask0, const long *off1, const uint16_t *mask1, long plane,
                                   const float *a, float *tiles) {
    (void)channels; (void)taps; (void)dy0; (void)dy1; (void)off0; (void)mask0; (void)off1; (void)mask1; (void)plane;
    (void)a; (void)tiles;
}
void swiftnn_conv_dy_pair_f32(const swiftnn_conv_dy_phase *phase, const float *dy0, const float *dy1, const long *off0,
                              const uint16_t *mask0, const long *off1, const uint16_t *mask1, long tapSlots,
                              const swiftnn_conv_run *runs0, long nruns0, const swiftnn_conv_run *runs1, long nruns1, float *dx,
                              float *tiles) {
    (void)phase; (void)dy0; (void)dy1; (void)off0; (void)mask0; (void)off1; (void)mask1; (void)tapSlots; (void)runs0;
    (void)nruns0; (void)runs1; (void)nruns1; (void)dx; (void)tiles;
}
void swiftnn_conv_phase_store_f32(const float *even, const float *odd, long rows, const swiftnn_conv_run *runs, long nruns,
                                  float *dx, long sampleStride, long planeStride, long width, long rowPhase, int stream) {
    (void)stream; (void)even; (void)odd; (void)rows; (void)runs; (void)nruns; (void)dx; (void)sampleStride; (void)planeStride;
    (void)width; (void)rowPhase;
}
void swiftnn_conv_load_rows_f32(const float *y, long channelStride, const swiftnn_conv_span *spans, long nspans,
                                long rows, float *dst, long dstStride) {
    (void)y; (void)channelStride; (void)spans; (void)nspans; (void)rows; (void)dst; (void)dstStride;
}
void swiftnn_conv_store_rows_f32(const float *tile, long rows, float *y, long channelStride, const swiftnn_conv_span *spans,
                                 long nspans, int accumulate, const float *bias) {
    (void)tile; (void)rows; (void)y; (void)channelStride; (void)spans; (void)nspans; (void)accumulate; (void)bias;
}
void swiftnn_conv_pack_transposed_rows_f32(const float *y, long channelStride, long channels, long positions, float *dst,
                                           long panelStride) {
    (void)y; (void)channelStride; (void)channels; (void)positions; (void)dst; (void)panelStride;
}
void swiftnn_conv_pack_transposed_f32(const float *y, long channelStride, long channels, const swiftnn_conv_span *spans,
                                      long nspans, long positions, float *dst, long panelStride) {
    (void)y; (void)channelStride; (void)channels; (void)spans; (void)nspans; (void)positions; (void)dst; (void)panelStride;
}

void swiftnn_conv_wgrad_small_f32(const float *taps, long K, long panels, const float *gy, long channelStride,
                                  const swiftnn_conv_span *spans, const long *spanCounts, long o0, long o1, float *acc) {
    (void)taps; (void)K; (void)panels; (void)gy; (void)channelStride; (void)spans; (void)spanCounts; (void)o0; (void)o1; (void)acc;
}


void swiftnn_conv_forward_small_f32(const float *taps, long K, const float *w, long O, const float *bias, float *y,
                                    long channelStride, const swiftnn_conv_span *spans, long nspans) {
    (void)taps; (void)K; (void)w; (void)O; (void)bias; (void)y; (void)channelStride; (void)spans; (void)nspans;
}
void swiftnn_conv_tap_moments_f32(float *taps, long K, long panels, const swiftnn_conv_span *spans, const long *spanCounts,
                                  const float *tapShift, double *accD) {
    (void)taps; (void)K; (void)panels; (void)spans; (void)spanCounts; (void)tapShift; (void)accD;
}
void swiftnn_convbn_relu_f32(const float *taps, long K, const float *w, long O, const float *shift, const float *scale,
                             const float *offset, float *y, long channelStride, const swiftnn_conv_span *spans, long nspans,
                             int stream) {
    (void)taps; (void)K; (void)w; (void)O; (void)shift; (void)scale; (void)offset; (void)y; (void)channelStride; (void)spans;
    (void)nspans; (void)stream;
}
void swiftnn_convbn_relu_pair_f32(const float *taps0, const float *taps1, long K, const float *w, long O, const float *shift,
                                  const float *scale, const float *offset, float *y, long channelStride,
                                  const swiftnn_conv_span *spans0, long nspans0, const swiftnn_conv_span *spans1, long nspans1,
                                  int stream) {
    (void)taps0; (void)taps1; (void)K; (void)w; (void)O; (void)shift; (void)scale; (void)offset; (void)y; (void)channelStride;
    (void)spans0; (void)nspans0; (void)spans1; (void)nspans1; (void)stream;
}
void swiftnn_convbn_gated_backward_f32(const float *taps, long K, long panels, const float *y, const float *gy,
                                       long channelStride, const swiftnn_conv_span *spans, const long *spanCounts, long O,
                                       double *sum, double *accD) {
    (void)taps; (void)K; (void)panels; (void)y; (void)gy; (void)channelStride; (void)spans; (void)spanCounts; (void)O;
    (void)sum; (void)accD;
}
void swiftnn_conv_pack_six_rows_f32(const float *src, long rows, long cols, long rowStride, float *dst, long blockStride) {
    (void)src; (void)rows; (void)cols; (void)rowStride; (void)dst; (void)blockStride;
}
void swiftnn_conv_pack_six_contiguous_rows_f32(const float *src, long rows, long cols, long colStride, float *dst,
                                               long blockStride) {
    (void)src; (void)rows; (void)cols; (void)colStride; (void)dst; (void)blockStride;
}
void swiftnn_transpose_f32(const float *src, long rows, long cols, long srcStride, float *dst, long dstStride) {
    (void)src; (void)rows; (void)cols; (void)srcStride; (void)dst; (void)dstStride;
}

#endif
