// Instructions Swift cannot spell, for TensorCore's kernels.
#pragma once

#include <stdint.h>

/// Sixteen floats; imported into Swift as SIMD16<Float>.
typedef float swiftnn_float16 __attribute__((ext_vector_type(16)));

/// Stores 16 floats at a 64-byte-aligned address without reading the line first and without
/// keeping it in cache (a non-temporal store). For large outputs that will not be re-read soon:
/// a normal store costs an extra read of the destination (read-for-ownership).
static inline __attribute__((always_inline)) void swiftnn_stream16(float *p, swiftnn_float16 v) {
    __builtin_nontemporal_store(v, (swiftnn_float16 *)p);
}

/// Orders earlier non-temporal stores before later stores (call before handing results to
/// another thread).
static inline __attribute__((always_inline)) void swiftnn_store_fence(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_sfence();
#else
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
#endif
}

/// Tells the core that the caller is spinning on a flag (x86 `pause`, Arm `yield`): the loop
/// draws less power and leaves the pipeline to a sibling hardware thread.
static inline __attribute__((always_inline)) void swiftnn_spin_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/// The calling thread's slot in the kernel thread pool: 0 while a thread runs a pool batch as its
/// caller, k for worker k, −1 elsewhere. Kept in C thread-local storage (Swift has none of its own).
long swiftnn_thread_slot(void);
/// Sets the calling thread's pool slot (see ``swiftnn_thread_slot``).
void swiftnn_set_thread_slot(long slot);

/// Correctly rounded square roots of 16 floats in one vector instruction (Swift's
/// `SIMD16.squareRoot()` calls `sqrtf` once per lane). Used by the Adam update.
static inline __attribute__((always_inline)) swiftnn_float16 swiftnn_sqrt16(swiftnn_float16 v) {
    return __builtin_elementwise_sqrt(v);
}

/// Which float32 GEMM micro-kernel this CPU can run: 2 = AVX-512F, 1 = AVX2 + FMA, 0 = none
/// (not x86-64, or an older CPU: the Swift micro-kernel is used). Depends only on CPU features,
/// so it is the same for every run on one machine.
int swiftnn_gemm_f32_level(void);

/// C[0..<rows, 0..<cols] += Apanel(6×kc) · Bpanel(kc×16) with fused multiply-adds, in the packing
/// layout and summation order of `gemmMicroKernel` (GEMM.swift). `level` must be a nonzero value
/// returned by `swiftnn_gemm_f32_level`; rows ≤ 6, cols ≤ 16, C row-major with row stride `ldc`.
void swiftnn_gemm_f32_microkernel(int level, long kc, const float *a, const float *b, float *c,
                                  long ldc, long rows, long cols);

/// tile[6][16] = Apanel(6×kc) · Bpanel(kc×16), the AVX-512 micro-kernel's sums written rather than
/// added (no zeroing pass for a scratch tile). AVX-512F only (level 2).
void swiftnn_gemm_f32_6x16_tile(long kc, const float *a, const float *b, float *tile);

/// Four 6×16 tiles at once (two six-row A panels × two 16-column B panels, 24 accumulators):
/// tiles[0..<96] = a0·b0, [96..<192] = a0·b1, [192..<288] = a1·b0, [288..<384] = a1·b1, each
/// bit-identical to `swiftnn_gemm_f32_6x16_tile` on the same panels. AVX-512F only (level 2).
void swiftnn_gemm_f32_12x32_tile(long kc, const float *a0, const float *a1, const float *b0, const float *b1,
                                 float *tiles);
/// One six-row block of A against two 16-column panels: tiles[0..<96] = a·b0, tiles[96..<192] = a·b1,
/// each bit-identical to `swiftnn_gemm_f32_6x16_tile` on that panel. AVX-512F only (level 2).
void swiftnn_gemm_f32_6x32_tile(long kc, const float *a, const float *b0, const float *b1, float *tiles);
/// C[0..<12, 0..<32] += (a0; a1) · (b0 b1): the same four products added to a row-major C (row
/// stride `ldc`), rows 0–5 from a0 and 6–11 from a1, columns 0–15 from b0 and 16–31 from b1;
/// bit-identical to four `swiftnn_gemm_f32_microkernel` calls. AVX-512F only (level 2).
void swiftnn_gemm_f32_12x32_accumulate(long kc, const float *a0, const float *a1, const float *b0, const float *b1,
                                       float *c, long ldc);

/// Rows of A 512 floats apart (`SWIFTNN_GEMM_ROW_STRIDE`): A[r][p] = a[512·r + p], so a block of
/// gathered rows needs no six-row interleave. C[0..<12, 0..<32] += A[0..<12] · (b0 b1), in
/// `swiftnn_gemm_f32_12x32_accumulate`'s quadrant layout and with its sums. AVX-512F only (level 2).
#define SWIFTNN_GEMM_ROW_STRIDE 512
void swiftnn_gemm_f32_12x32_rows_accumulate(long kc, const float *a, const float *b0, const float *b1, float *c, long ldc);
/// C[0..<rows, 0..<cols] += A[0..<rows] · b (rows ≤ 6 of A 512 floats apart, cols ≤ 16): the sums of
/// `swiftnn_gemm_f32_microkernel` on the same rows packed. AVX-512F only (level 2).
void swiftnn_gemm_f32_6x16_rows_accumulate(long kc, const float *a, long rows, const float *b, float *c, long ldc, long cols);

/// C[0..<6, 0..<16] = Apanel(6×kc) · Bpanel(kc×16), stored (not added) into a row-major C with row
/// stride `ldc`; the same sums as `swiftnn_gemm_f32_6x16_tile`. AVX-512F only (level 2).
void swiftnn_gemm_f32_6x16_store(long kc, const float *a, const float *b, float *c, long ldc);
/// C[0..<12, 0..<32] = (a0; a1) · (b0 b1), stored (not added), in the quadrant layout of
/// `swiftnn_gemm_f32_12x32_accumulate`; the same sums as four 6×16 tiles. AVX-512F only (level 2).
void swiftnn_gemm_f32_12x32_store(long kc, const float *a0, const float *a1, const float *b0, const float *b1,
                                  float *c, long ldc);

/// C[0..<12, 0..<16] = (a0; a1) · b, stored (not added), rows 0–5 from a0 and 6–11 from a1; the same
/// sums as two `swiftnn_gemm_f32_6x16_tile` calls. AVX-512F only (level 2).
void swiftnn_gemm_f32_12x16_store(long kc, const float *a0, const float *a1, const float *b, float *c, long ldc);

/// GEMM packing of six rows of A (row stride lda, kc columns) into the micro-kernel's layout
/// dst[6p + r] = a[r·lda + p]. AVX-512F only (level 2).
void swiftnn_gemm_pack_a6_f32(const float *a, long lda, long kc, float *dst);
/// GEMM packing of one 16-column panel of op(B) = Bᵀ: dst[16p + j] = b[j·ldb + p] for j < cols, 0 for
/// cols ≤ j < 16, p < kc. AVX-512F only (level 2).
void swiftnn_gemm_pack_b16_transposed_f32(const float *b, long ldb, long kc, long cols, float *dst);

// MARK: Implicit-GEMM convolution (conv_kernels.c; callable only when swiftnn_gemm_f32_level() == 2)

/// One sample's 2-d convolution geometry, in elements.
typedef struct {
    long sampleStride;            ///< C·H·W: distance between samples of the input
    long height, width;           ///< input plane
    long kernelH, kernelW, strideH, strideW, padH, padW, dilationH, dilationW;
} swiftnn_conv_geometry;

/// Lanes lane0..<lane0+count of a 16-position panel: output positions (n, oh, ow0 + k − lane0).
typedef struct { long n, oh, ow0, lane0, count; } swiftnn_conv_run;

/// Lanes lane0..<lane0+count of a panel that are contiguous in an [N, O, OH·OW] tensor: channel
/// row r of lane k is at r·channelStride + offset + (k − lane0).
typedef struct { long offset, lane0, count; } swiftnn_conv_span;

/// Where a panel's sixteen lanes read one kernel offset (kh, kw) of an input channel: lane k (when
/// bit k of `mask` is set; otherwise padding or past the panel) at `index[k]` elements from the
/// panel's base in that channel's plane.
typedef struct { int index[16]; unsigned int mask; } swiftnn_conv_tap_lanes;
/// swiftnn_conv_pack_transposed_f32 for `positions` (a multiple of 16) consecutive positions of one
/// sample (`y` at its channel 0's first one): 16-channel panels [position][16] at dst + q·panelStride,
/// read channel group by channel group, each row front to back.
void swiftnn_conv_pack_transposed_rows_f32(const float *y, long channelStride, long channels, long positions, float *dst,
                                           long panelStride);

/// A panel's gather plan, computed once and used for every input channel: plan[q] for each kernel
/// offset q = kh·kernelW + kw (kernelH·kernelW entries). Returns the panel's base (its first
/// sample's offset in the input). The caller guarantees that every index fits in 32 bits.
long swiftnn_conv_plan_panel(const swiftnn_conv_geometry *g, const swiftnn_conv_run *runs, long nruns,
                             swiftnn_conv_tap_lanes *plan);
/// Rows tap0..<tap0+taps of the (never materialised) im2col matrix over a planned panel's positions:
/// 16 floats per tap at dst + t·dstStride (zeros for padding and unused lanes).
void swiftnn_conv_gather_f32(const float *x, const swiftnn_conv_geometry *g, const swiftnn_conv_tap_lanes *plan,
                             long base, long tap0, long taps, float *dst, long dstStride);
/// The same taps in the micro-kernel's A layout, six taps interleaved: lane k of tap tap0 + 6b + i at
/// dst[b·blockStride + 6k + i]; a last partial block of six is padded with zero rows.
void swiftnn_conv_gather_six_f32(const float *x, const swiftnn_conv_geometry *g, const swiftnn_conv_tap_lanes *plan,
                                 long base, long tap0, long taps, float *dst, long blockStride);
/// Whether swiftnn_conv_gather_runs_f32 handles `g`: a 3×3 kernel without dilation, column stride 1 or 2.
int swiftnn_conv_runs_supported(const swiftnn_conv_geometry *g);
/// swiftnn_conv_gather_f32 (`six` = 0: tap t at dst + t·stride) or swiftnn_conv_gather_six_f32 (`six` = 1:
/// six taps interleaved per block, `stride` floats between blocks) without hardware gathers: each run of
/// the panel (`runs` as the caller's describe gives them, `n` the absolute sample) reads its input rows
/// with masked vector loads, shifted into its lanes (stride 1) or deinterleaved by a two-source permute
/// (stride 2). A 16-lane gather costs about 16 cycles; this, a few per tap. Same values as the gathers.
void swiftnn_conv_gather_runs_f32(const float *x, const swiftnn_conv_geometry *g, const swiftnn_conv_run *runs, long nruns,
                                  long tap0, long taps, float *dst, long stride, int six);
/// Whether swiftnn_conv_gather_phases_f32 handles `g`: a 3×3 kernel at stride 2, padding 1, no dilation.
int swiftnn_conv_phases_supported(const swiftnn_conv_geometry *g);
/// Channels of one sample (`x`: [channels, height, width]) split into the four phase planes of a 3×3,
/// stride-2, padding-1 convolution: dst[c][2·rowParity + columnParity][i][j] = x[c, 2i + rowParity,
/// 2j + columnParity] for row0 ≤ i < row1 (≤ outH) and j < outW (planes of the output's size, outH·outW),
/// 0 where that lies past the input. Other rows of dst are not written.
void swiftnn_conv_split_phases_f32(const float *x, long channels, long height, long width, long outH, long outW,
                                   long row0, long row1, float *dst);
/// swiftnn_conv_gather_runs_f32 for a 3×3, stride-2, padding-1 geometry, reading split phase planes:
/// `samples[n − nBase]` is sample n's split channel 0 (swiftnn_conv_split_phases_f32 layout, planes of
/// `planeLen` = outH·outW), tap0 counts from that channel. Every tap is one masked contiguous load per
/// sample of the panel (no permutes, no per-row runs). Same values as swiftnn_conv_gather_runs_f32.
void swiftnn_conv_gather_phases_f32(const float *const *samples, long nBase, long outW, long planeLen,
                                    const swiftnn_conv_run *runs, long nruns, long tap0, long taps, float *dst, long stride,
                                    int six);
/// The im2col rows of a 3×3, stride-2, padding-1 convolution for `channels` channels of one sample
/// (`x`: [channels, height, width]), straight from the input rows: row (c, kh, kw) at
/// dst + (9c + 3kh + kw)·rowStride, element oh·outW + ow = x[c, 2oh + kh − 1, 2ow + kw − 1] (0 past
/// the input). `outW` a multiple of 16, or a divisor of 16 with width = 2·outW and outH·outW a
/// multiple of 16. Same values as swiftnn_conv_gather_phases_f32.
void swiftnn_conv_tap_rows_s2_f32(const float *x, long channels, long height, long width, long outH, long outW, float *dst,
                                  long rowStride);
/// Whether the panel `runs` describes (as for swiftnn_conv_gather_phases_f32) is 16 positions of one
/// sample, which the phase tiles read straight from the planes: then `base` (the sample's split channel 0,
/// shifted so that lane l reads base + l), `top` and `left` (the lanes in output row 0 and column 0).
int swiftnn_conv_phase_panel_f32(const float *const *samples, long nBase, long outW, const swiftnn_conv_run *runs,
                                 long nruns, const float **base, uint16_t *top, uint16_t *left);
/// swiftnn_gemm_f32_12x32_tile (kc = 9·channels) with B's rows read from phase planes: panel i's row
/// (c, kh, kw) is what swiftnn_conv_gather_phases_f32 writes for it (panels from
/// swiftnn_conv_phase_panel_f32; channel c's planes at base_i + 4·planeLen·c). Same bits as gathering
/// the panels and calling swiftnn_gemm_f32_12x32_tile.
void swiftnn_conv_phase_tile_12x32_f32(long channels, const float *a0, const float *a1, const float *base0,
                                       const float *base1, long planeLen, long outW, uint16_t top0, uint16_t left0,
                                       uint16_t top1, uint16_t left1, float *tiles);
/// swiftnn_conv_phase_tile_12x32_f32 stored straight into the output: row r < rows0 of the first six-row
/// block (r < rows1 of the second, rows 6 + r) of panel i at y_i + r·channelStride (y_i: the panel's
/// first position in output channel 6·block; whole one-sample panels are contiguous in every row).
void swiftnn_conv_phase_store_12x32_f32(long channels, const float *a0, const float *a1, const float *base0,
                                        const float *base1, long planeLen, long outW, uint16_t top0, uint16_t left0,
                                        uint16_t top1, uint16_t left1, float *y0, float *y1, long rows0, long rows1,
                                        long channelStride);
/// swiftnn_conv_phase_store_12x32_f32 for one block of eight rows (A as [9·channels][8]): row r < rows
/// of panel i at y_i + r·channelStride. Each element the same chain of fused multiply-adds.
void swiftnn_conv_phase_store_8x32_f32(long channels, const float *a, const float *base0, const float *base1, long planeLen,
                                       long outW, uint16_t top0, uint16_t left0, uint16_t top1, uint16_t left1, float *y0,
                                       float *y1, long rows, long channelStride);
/// swiftnn_gemm_f32_6x32_tile likewise.
void swiftnn_conv_phase_tile_6x32_f32(long channels, const float *a, const float *base0, const float *base1, long planeLen,
                                      long outW, uint16_t top0, uint16_t left0, uint16_t top1, uint16_t left1, float *tiles);
/// Whether a panel of the stride-2 input gradient's phase grid (runs as for swiftnn_conv_phase_gather_f32)
/// is 16 positions of one sample whose rows of every tap (jh, jw) are one masked load each: then
/// offsets[jh·ncol + jw] (elements from the sample's dy channel 0) and masks[jh·ncol + jw].
int swiftnn_conv_dy_panel_f32(const swiftnn_conv_run *runs, long nruns, long height, long width, const long *rowShifts,
                              long nrow, const long *colShifts, long ncol, long *offsets, uint16_t *masks);
/// The phase GEMM's 12×32 tile (swiftnn_gemm_f32_12x32_tile over kc = taps·channels) for two panels of
/// swiftnn_conv_dy_panel_f32, B's row (tap j, channel o) of panel i loaded from dy_i + off_i[j] + o·plane
/// under mask_i[j] (dy_i: the panel's sample's channel 0): the rows swiftnn_conv_phase_gather_f32 packs,
/// the same bits.
void swiftnn_conv_dy_tile_12x32_f32(long channels, long taps, const float *dy0, const float *dy1, const long *off0,
                                    const uint16_t *mask0, const long *off1, const uint16_t *mask1, long plane,
                                    const float *a0, const float *a1, float *tiles);
/// One block of eight rows (A as [taps·channels][8]) against the two panels: tiles[16·i], i < 8 panel 0's
/// rows, 8 + i panel 1's. Each element the same chain of fused multiply-adds as in the 12×32 tile.
void swiftnn_conv_dy_tile_8x32_f32(long channels, long taps, const float *dy0, const float *dy1, const long *off0,
                                   const uint16_t *mask0, const long *off1, const uint16_t *mask1, long plane,
                                   const float *a, float *tiles);
/// swiftnn_gemm_f32_6x32_tile likewise.
void swiftnn_conv_dy_tile_6x32_f32(long channels, long taps, const float *dy0, const float *dy1, const long *off0,
                                   const uint16_t *mask0, const long *off1, const uint16_t *mask1, long plane,
                                   const float *a, float *tiles);
/// Rows of the B panel of one output phase of a stride-2 input gradient (dx = Σ_o Σ_taps w · dy[shifted]):
/// for each tap j = jh·ncol + jw and each channel o < channels of dy ([N, channels, height, width]), 16
/// floats at dst + (j·channels + o)·16, lane lane0 + i of run r = dy[n, o, oh + rowShifts[jh], ow0 +
/// colShifts[jw] + i] (runs over the phase grid's positions), 0 outside dy and on lanes of no run.
void swiftnn_conv_phase_gather_f32(const float *dy, long channels, long height, long width,
                                   const swiftnn_conv_run *runs, long nruns, const long *rowShifts, long nrow,
                                   const long *colShifts, long ncol, float *dst);
/// The tiles of the even and the odd input columns of one row phase (`rows` channel rows of 16 lanes
/// each) interleaved into dx: lane lane0 + i of run r goes to dx[n·sampleStride + c·planeStride +
/// (2·oh + rowPhase)·width + 2·(ow0 + i) + parity], inside the row only (an odd width has one odd
/// column fewer). Overwrites; with `stream`, whole aligned 32-float rows go past the caches
/// (non-temporal stores: the caller fences before the result is read).
void swiftnn_conv_phase_store_f32(const float *even, const float *odd, long rows, const swiftnn_conv_run *runs, long nruns,
                                  float *dx, long sampleStride, long planeStride, long width, long rowPhase, int stream);
/// One row phase of a stride-2 input gradient by output phase (the constants of its dy tiles).
typedef struct {
    long outChannels, inChannels;  ///< O (dy's channels) and C (dx's)
    long sixRowChannels;           ///< dx channels in six-row blocks of A; the rest in eight-row blocks
    long taps[2];                  ///< taps of column phases 0 and 1 (reductions taps·O)
    const float *a6[2];            ///< six-row A of each column phase: [six / 6][(tap, o)][6]
    const float *a8[2];            ///< eight-row A: [(C − six) / 8][(tap, o)][8]
    long plane;                    ///< OH·OW: one dy channel
    long inPlane, width;           ///< H·W and W: dx's planes
    long rowPhase;
    int stream;                    ///< as swiftnn_conv_phase_store_f32's
} swiftnn_conv_dy_phase;
/// Every dx channel of one row phase for a pair of panels of swiftnn_conv_dy_panel_f32 (offsets and
/// masks of column phase pw at off_i + pw·tapSlots, mask_i + pw·tapSlots; dy_i their sample's channel
/// 0, runs_i their runs): the dy tiles (pairs of six-row blocks, a lone one, then eight-row blocks) and
/// swiftnn_conv_phase_store_f32, as the caller made them call by call; `tiles` 768 floats of scratch.
void swiftnn_conv_dy_pair_f32(const swiftnn_conv_dy_phase *phase, const float *dy0, const float *dy1, const long *off0,
                              const uint16_t *mask0, const long *off1, const uint16_t *mask1, long tapSlots,
                              const swiftnn_conv_run *runs0, long nruns0, const swiftnn_conv_run *runs1, long nruns1, float *dx,
                              float *tiles);
/// col2im of one sample: dx[c, ih, iw] (C = `channels` planes of g's height × width, overwritten) =
/// Σ cols[(c, kh, kw) · ld + oh·outW + ow] over the (kh, kw, oh, ow) that read input (c, ih, iw),
/// added in the order kw → kh → oh for each channel (a fixed order per element; a 3×3 kernel at stride
/// 2, padding 1 sums by row and column parity instead, kernel row 2 or 1 before 0). Contiguous vector
/// row operations: masked loads for stride-1 widths, expanding loads (every strideW-th lane) for
/// strides up to 16, scalar beyond.
void swiftnn_conv_col2im_f32(const float *cols, long ld, long channels, long outH, long outW, float *dx,
                             const swiftnn_conv_geometry *g);
/// dst[r·dstStride + k] = y[r·channelStride + position of lane k] (0 for lanes in no span), r < rows.
void swiftnn_conv_load_rows_f32(const float *y, long channelStride, const swiftnn_conv_span *spans, long nspans,
                                long rows, float *dst, long dstStride);
/// Writes (or adds, when accumulate ≠ 0) tile rows to the lanes' positions; bias[r] is added when
/// given and not accumulating.
void swiftnn_conv_store_rows_f32(const float *tile, long rows, float *y, long channelStride, const swiftnn_conv_span *spans,
                                 long nspans, int accumulate, const float *bias);
/// Transposed panels: for each block of 16 channels q, dst[q·panelStride + 16·p + i] = channel 16q+i at lane p.
void swiftnn_conv_pack_transposed_f32(const float *y, long channelStride, long channels, const swiftnn_conv_span *spans,
                                      long nspans, long positions, float *dst, long panelStride);

/// The weight gradient of a layer with few taps (K = C·KH·KW, the first layer's): for the `panels`
/// panels of one batch, taps[j·K·16 + k·16 + lane] (gathered with swiftnn_conv_gather_f32) and the
/// output gradient gy at their positions, acc[(o·K + k)·16 + lane] += Σ_j tap_k · gy_o, per lane, for
/// o in [o0, o1). spans + 16·j (spanCounts[j] of them) describe panel j's lanes in gy.
void swiftnn_conv_wgrad_small_f32(const float *taps, long K, long panels, const float *gy, long channelStride,
                                  const swiftnn_conv_span *spans, const long *spanCounts, long o0, long o1, float *acc);

/// The forward pass of a layer with few taps (K = C·KH·KW ≤ 32, a first layer), one panel: for every
/// output channel o < O, y[o·channelStride + position of lane k] = Σ_t w[o·K + t] · taps[16t + k]
/// (a fused multiply-add chain from zero in tap order, as the GEMM micro-kernels compute it) + bias[o]
/// when bias is given; spans (nspans of them) describe the panel's lanes in y.
void swiftnn_conv_forward_small_f32(const float *taps, long K, const float *w, long O, const float *bias, float *y,
                                    long channelStride, const swiftnn_conv_span *spans, long nspans);
/// Conv2d → BatchNorm2d → ReLU for a layer with few taps (a first layer), the convolution's output z
/// never stored. `taps`, `spans` and `spanCounts` as in swiftnn_conv_wgrad_small_f32 (batches of
/// `panels` ≤ 64 panels), `w` [O, K]; per-channel arrays have O entries.
///
/// The statistics need no z: with t = tap − tapShift[k] (shifted and zeroed in lanes of no position
/// in place, in `taps`), per lane accD[k·16 + lane] += Σ t_k and accD[(K + r·K + c)·16 + lane] +=
/// Σ t_r·t_c for c ≤ r (the moments of the taps; z's mean and variance are w·mean(t) + w·tapShift
/// and wᵀ·Cov(t)·w).
void swiftnn_conv_tap_moments_f32(float *taps, long K, long panels, const swiftnn_conv_span *spans, const long *spanCounts,
                                  const float *tapShift, double *accD);
/// One panel of y = max(0, (z − shift)·scale + offset), z recomputed from the taps (as
/// swiftnn_conv_forward_small_f32 computes it, bit for bit) and stored to its positions (spans) in y.
/// With `stream`, a panel that fills one aligned 64-byte line of a channel row is written with a
/// non-temporal store (the caller fences, swiftnn_store_fence, before other threads read y).
void swiftnn_convbn_relu_f32(const float *taps, long K, const float *w, long O, const float *shift, const float *scale,
                             const float *offset, float *y, long channelStride, const swiftnn_conv_span *spans, long nspans,
                             int stream);
/// swiftnn_convbn_relu_f32 for two panels (taps0, spans0 and taps1, spans1) at once: the same outputs.
void swiftnn_convbn_relu_pair_f32(const float *taps0, const float *taps1, long K, const float *w, long O, const float *shift,
                                  const float *scale, const float *offset, float *y, long channelStride,
                                  const swiftnn_conv_span *spans0, long nspans0, const swiftnn_conv_span *spans1, long nspans1,
                                  int stream);
/// The backward in one pass over y and gy, z not needed: with g = gy where y > 0 (else 0), sum[o] +=
/// Σ g and, unless accD is null, per lane accD[(o·K + k)·16 + lane] += Σ tap_k·g_o (the weight
/// gradient's sums). Batch norm's Σ g·(z − shift) and Σ tap·(z − shift) follow from these and the
/// forward's tap moments, because z = w·tap.
void swiftnn_convbn_gated_backward_f32(const float *taps, long K, long panels, const float *y, const float *gy,
                                       long channelStride, const swiftnn_conv_span *spans, const long *spanCounts, long O,
                                       double *sum, double *accD);
/// The micro-kernel's A layout of a row-major matrix (row r at src + r·rowStride, columns
/// contiguous): dst[b·blockStride + 6c + i] = src[(6b + i)·rowStride + c], zero rows past `rows`.
void swiftnn_conv_pack_six_rows_f32(const float *src, long rows, long cols, long rowStride, float *dst, long blockStride);
/// The same layout of a matrix whose rows are contiguous and columns `colStride` apart (Wᵀ of a
/// row-major W): dst[b·blockStride + 6c + i] = src[c·colStride + 6b + i], zero past `rows`.
void swiftnn_conv_pack_six_contiguous_rows_f32(const float *src, long rows, long cols, long colStride, float *dst,
                                               long blockStride);
/// dst[c·dstStride + r] = src[r·srcStride + c] for r < rows, c < cols (a row-major matrix transposed).
void swiftnn_transpose_f32(const float *src, long rows, long cols, long srcStride, float *dst, long dstStride);

// MARK: Pooling (pool_kernels.c; callable only when swiftnn_gemm_f32_level() == 2)

/// 2-d max pooling of `planes` planes H×W into OH×OW, with the flat index (h·W + w) of each
/// maximum: the scalar definition's result (first maximum in scan order, the first NaN wins,
/// padding skipped), sixteen output columns at a time. Needs H·W + W < 2³¹.
void swiftnn_maxpool2d_f32(const float *x, float *out, int64_t *indices, long planes, long H, long W, long OH, long OW,
                           long kh, long kw, long sh, long sw, long ph, long pw, long dh, long dw);

// MARK: Normalization sweeps (norm_kernels.c; callable only when swiftnn_gemm_f32_level() == 2)
// Bit-identical to their Swift twins in TensorCore/CPU/Normalization/NormSIMD.swift.

/// Σ(p − shift) and Σ(p − shift)² over n floats (segmentMoments).
void swiftnn_norm_moments_f32(const float *p, long n, float shift, double *sum, double *squares);
/// y = (x − shift)·scale + bias, then max(0, ·) when relu ≠ 0; non-temporal stores when stream ≠ 0 (segmentAffine).
void swiftnn_norm_affine_f32(const float *x, float *y, long n, float shift, float scale, float bias, int stream, int relu);
/// y = max(0, ((x − shift)·scale + bias) + r): batch norm's affine, a residual add and the ReLU, each rounded as
/// when done one after another (segmentAffineAddReLUSwift).
void swiftnn_norm_affine_add_relu_f32(const float *x, const float *r, float *y, long n, float shift, float scale,
                                      float bias, int stream);
/// Σg and Σg·(x − shift), g = dy where (x − shift)·gateScale + gateOffset > 0, else 0 (segmentGatedGradMomentsSwift).
void swiftnn_norm_gated_grad_moments_f32(const float *x, const float *dy, long n, float shift, float gateScale,
                                         float gateOffset, double *sum, double *products);
/// dx = a·g − b·(x − shift) + c with g gated as above (segmentGatedBackwardApplySwift).
void swiftnn_norm_gated_backward_apply_f32(const float *x, const float *dy, float *dx, long n, float shift, float a,
                                           float b, float c, float gateScale, float gateOffset, int stream);

/// The same four sweeps over planes seg0..<seg1 of an (n, c, s) tensor: plane `seg` is the s floats
/// at seg·s and belongs to channel seg % c, whose parameters are at index seg % c − c0 of each
/// array (c0 ≤ seg % c for every plane). One call replaces a loop of per-plane calls, whose fixed
/// cost dominated small planes (4×4, 7×7); each plane is computed exactly as by the single-plane
/// function. Moments go to sum/squares[seg − seg0]; the affine and backward sweeps run from the
/// last plane to the first (the planes a preceding reduction read last are the most likely cached).
void swiftnn_norm_moments_planes_f32(const float *x, long s, long seg0, long seg1, long c, long c0, const float *shift,
                                     double *sum, double *squares);
void swiftnn_norm_affine_planes_f32(const float *x, float *y, long s, long seg0, long seg1, long c, long c0,
                                    const float *shift, const float *scale, const float *bias, int stream, int relu);
void swiftnn_norm_affine_add_relu_planes_f32(const float *x, const float *r, float *y, long s, long seg0, long seg1, long c,
                                             long c0, const float *shift, const float *scale, const float *bias, int stream);
void swiftnn_norm_gated_grad_moments_planes_f32(const float *x, const float *dy, long s, long seg0, long seg1, long c,
                                                long c0, const float *shift, const float *gateScale,
                                                const float *gateOffset, double *sum, double *products);
void swiftnn_norm_gated_backward_apply_planes_f32(const float *x, const float *dy, float *dx, long s, long seg0, long seg1,
                                                  long c, long c0, const float *shift, const float *a, const float *b,
                                                  const float *cc, const float *gateScale, const float *gateOffset,
                                                  int stream);

// MARK: Optimizer update (optimizer_kernels.c; callable only when swiftnn_gemm_f32_level() == 2)

/// Adam/AdamW on n floats, bit-identical to adamRangeSwift (TensorCore/CPU/Optimizers.swift):
/// g = grad + coupledWD·p; m ← m + w1·(g − m); v ← v·b2 + w2·g·g;
/// p ← p·decay + negStepSize·m / (√v / bc2Sqrt + eps).
void swiftnn_adam_f32(float *p, const float *grad, float *m, float *v, long n, float coupledWD, float decay, float w1,
                      float b2, float w2, float bc2Sqrt, float eps, float negStepSize);

// MARK: Transcendental activations (activation_kernels.c; callable only when swiftnn_gemm_f32_level() == 2)
// Bit-identical to their Swift definitions (TensorCore/CPU/FloatMath.swift, ElementFunctions.swift).

enum {
    SWIFTNN_ACTIVATION_EXP = 0,        ///< fastExp
    SWIFTNN_ACTIVATION_SIGMOID = 1,    ///< 1 / (1 + fastExp(−x))
    SWIFTNN_ACTIVATION_TANH = 2,       ///< fastTanh
    SWIFTNN_ACTIVATION_GELU = 3,       ///< x/2 · (1 + fastErf(x/√2))
    SWIFTNN_ACTIVATION_GELU_TANH = 4,  ///< x/2 · (1 + fastTanh(√(2/π)·(x + 0.044715x³)))
    SWIFTNN_ACTIVATION_RSQRT = 5,      ///< 1 / √x (both correctly rounded)
    SWIFTNN_ACTIVATION_LOG = 6,        ///< fastLog
    SWIFTNN_ACTIVATION_SILU = 7,       ///< x / (1 + fastExp(−x))
};

/// y[i] = op(x[i]) for i < n (`op` one of SWIFTNN_ACTIVATION_*).
void swiftnn_activation_f32(int op, const float *x, float *y, long n);

/// d[i] = g[i] · op′(x[i]) for i < n, `op` SWIFTNN_ACTIVATION_GELU, SWIFTNN_ACTIVATION_GELU_TANH or
/// SWIFTNN_ACTIVATION_SILU (geluBackwardLoopF, geluTanhBackwardLoopF, SiLUGradient).
void swiftnn_activation_backward_f32(int op, const float *g, const float *x, float *d, long n);

/// y[i] = x[i] > 0 ? scale·x[i] : (scale·alpha)·fastExpm1(x[i]): ELU (scale 1) and SELU (ELUFunction).
void swiftnn_elu_f32(const float *x, float *y, long n, float alpha, float scale);

/// d[i] = x[i] > 0 ? g[i]·scale : g[i]·scale·alpha·fastExp(x[i]): ELU's and SELU's gradient (ELUGradient).
void swiftnn_elu_backward_f32(const float *g, const float *x, float *d, long n, float alpha, float scale);

// MARK: Cross-entropy rows (loss_kernels.c; callable only when swiftnn_gemm_f32_level() == 2)

/// For rows r < rows of the (rows, c) logits x: max[r] = the largest non-NaN x[r][k] (−∞ if none),
/// sum[r] = Σ_k (double)glibcExpf(x[r][k] − max[r]), added one by one in k order (the Swift loop's bits);
/// when wxOut is not NULL, wx[r] = Σ_k (double)(w[k]·x[r][k]) (Σ_k (double)x[r][k] when w is NULL), in
/// k order: label smoothing's term.
void swiftnn_ce_rows_forward_f32(const float *x, long rows, long c, const float *w, float *maxOut, double *sumOut,
                                 double *wxOut);

/// d[k] = glibcExpf(x[k] − l)·pScale − wScale·w[k] (− wScale when w is NULL), k < c: a row of
/// cross-entropy's gradient before the target's term.
void swiftnn_ce_row_backward_f32(const float *x, long c, float l, float pScale, float wScale, const float *w, float *d);

/// y[i] = glibcExpf(x[i]), i < n (for the tests against the Swift definition).
void swiftnn_glibc_expf_f32(const float *x, float *y, long n);

// MARK: Row passes (row_kernels.c; callable only when swiftnn_gemm_f32_level() == 2)

/// max(x[0..<n]), n ≥ 1: softmax's row maximum (NaNs after x[0] are skipped, as the Swift loop does).
float swiftnn_row_max_f32(const float *x, long n);

/// y[i] = fastExp(x[i] − shift), returning Σ y in the order of CPUBackend.rowSum (four vector
/// accumulators per block of 4096, the tail in order, blocks added in double).
double swiftnn_exp_shifted_sum_f32(const float *x, float shift, float *y, long n);

/// Σ x[0..<n] in the order of CPUBackend.rowSum (its float32 twin).
double swiftnn_row_sum_f32(const float *x, long n);

/// d[i] = g[i] − fastExp(y[i])·sum: log-softmax's backward over a row (logSoftmaxBackwardRow).
void swiftnn_log_softmax_backward_f32(const float *g, const float *y, float sum, float *d, long n);

/// y[i] *= factor.
void swiftnn_scale_f32(float *y, float factor, long n);

/// y[i] = x[i] − c.
void swiftnn_subtract_f32(const float *x, float c, float *y, long n);

/// The index of the first NaN of x[0..<n] (n ≥ 1) if any, else of the first largest (`largest` ≠ 0)
/// or smallest element: a row of max(dim:) / min(dim:).
long swiftnn_row_extremum_index_f32(const float *x, long n, int largest);
