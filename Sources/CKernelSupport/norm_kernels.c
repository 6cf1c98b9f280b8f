// The normalization layers' contiguous sweeps (TensorCore/CPU/Normalization/NormSIMD.swift) on
// AVX-512F through function target attributes. Swift's SIMD16<Float> compiles to four SSE2
// operations per vector in a plain release build (no `-target-cpu`, which a library cannot impose),
// and these sweeps were compute-bound there: a third of a BatchNorm2d+ReLU step went to them.
//
// Every function computes exactly what its Swift twin computes: the same lane-wise operations in
// the same order (16 lanes, two accumulators, float lanes flushed into Double every 2048 elements,
// the same tree for the horizontal sum, the same scalar tails), with multiply and add kept
// separate. So results are bit-identical whichever path runs, and a run resumed on another machine
// still rounds the same way.
#include "CKernelSupport.h"

// Never contract a·b + c into a fused multiply-add: the Swift twins round the product first.
#pragma STDC FP_CONTRACT OFF
#if defined(__clang__)
#pragma clang fp contract(off)
#endif

#if defined(__x86_64__)
#include <immintrin.h>
#include "norm_lanes.h"

#define SWIFTNN_AVX512 __attribute__((target("avx512f")))
/// The single-plane sweeps keep one compiled body, which the plane loops call and the tests hold
/// against the Swift twins. Inlined copies could be compiled with an addition's operands swapped
/// (LLVM leaves NaN payloads unspecified), and then an addition of two NaNs could return a
/// different NaN (sign, payload) in the plane loops than in the tested function.
#define SWIFTNN_ONE_BODY __attribute__((noinline))

enum { SWIFTNN_FLUSH_BLOCK = 2048 };

static inline float relu1(float v) { return v < 0 ? 0 : v; }

static inline float gate1(float g, float d, float scale, float offset) { return d * scale + offset > 0 ? g : 0; }

/// Elements before `y` reaches a 64-byte boundary (non-temporal stores need it).
static inline long head_to_align(const float *y, long n) {
    long mis = (long)(((unsigned long)y & 63u) / sizeof(float));
    long head = mis == 0 ? 0 : 16 - mis;
    return head < n ? head : n;
}

SWIFTNN_AVX512 SWIFTNN_ONE_BODY
void swiftnn_norm_moments_f32(const float *p, long n, float shift, double *sum, double *squares) {
    const __m512 sh = _mm512_set1_ps(shift);
    double s = 0, q = 0;
    long i = 0;
    while (i + 16 <= n) {
        long end = i + SWIFTNN_FLUSH_BLOCK < n ? i + SWIFTNN_FLUSH_BLOCK : n;
        __m512 s0 = _mm512_setzero_ps(), s1 = s0, q0 = s0, q1 = s0;
        while (i + 32 <= end) {
            __m512 a = _mm512_sub_ps(_mm512_loadu_ps(p + i), sh), b = _mm512_sub_ps(_mm512_loadu_ps(p + i + 16), sh);
            s0 = _mm512_add_ps(s0, a); q0 = _mm512_add_ps(q0, _mm512_mul_ps(a, a));
            s1 = _mm512_add_ps(s1, b); q1 = _mm512_add_ps(q1, _mm512_mul_ps(b, b));
            i += 32;
        }
        if (i + 16 <= end) {
            __m512 a = _mm512_sub_ps(_mm512_loadu_ps(p + i), sh);
            s0 = _mm512_add_ps(s0, a); q0 = _mm512_add_ps(q0, _mm512_mul_ps(a, a));
            i += 16;
        }
        s += hsum_tree(_mm512_add_ps(s0, s1));
        q += hsum_tree(_mm512_add_ps(q0, q1));
    }
    for (; i < n; i++) {
        double d = (double)(p[i] - shift);
        s += d; q += d * d;
    }
    *sum = s;
    *squares = q;
}

SWIFTNN_AVX512 SWIFTNN_ONE_BODY
void swiftnn_norm_affine_f32(const float *x, float *y, long n, float shift, float scale, float bias, int stream, int relu) {
    const __m512 sh = _mm512_set1_ps(shift), sc = _mm512_set1_ps(scale), bi = _mm512_set1_ps(bias);
#define SWIFTNN_AFFINE(v) (relu ? relu16(_mm512_add_ps(_mm512_mul_ps(_mm512_sub_ps((v), sh), sc), bi)) \
                                : _mm512_add_ps(_mm512_mul_ps(_mm512_sub_ps((v), sh), sc), bi))
    long i = 0;
    if (stream) {
        long head = head_to_align(y, n);
        for (; i < head; i++) { float v = (x[i] - shift) * scale + bias; y[i] = relu ? relu1(v) : v; }
        for (; i + 16 <= n; i += 16) _mm512_stream_ps(y + i, SWIFTNN_AFFINE(_mm512_loadu_ps(x + i)));
    }
    for (; i + 32 <= n; i += 32) {
        __m512 a = _mm512_loadu_ps(x + i), b = _mm512_loadu_ps(x + i + 16);
        _mm512_storeu_ps(y + i, SWIFTNN_AFFINE(a));
        _mm512_storeu_ps(y + i + 16, SWIFTNN_AFFINE(b));
    }
    if (i + 16 <= n) {
        _mm512_storeu_ps(y + i, SWIFTNN_AFFINE(_mm512_loadu_ps(x + i)));
        i += 16;
    }
    for (; i < n; i++) { float v = (x[i] - shift) * scale + bias; y[i] = relu ? relu1(v) : v; }
#undef SWIFTNN_AFFINE
}

/// A residual block's tail: y = max(0, ((x − shift)·scale + bias) + r), the three operations in
/// the order (and roundings) of batch norm's affine, the add and the ReLU done one after another.
SWIFTNN_AVX512 SWIFTNN_ONE_BODY
void swiftnn_norm_affine_add_relu_f32(const float *x, const float *r, float *y, long n, float shift, float scale,
                                      float bias, int stream) {
    const __m512 sh = _mm512_set1_ps(shift), sc = _mm512_set1_ps(scale), bi = _mm512_set1_ps(bias);
#define SWIFTNN_TAIL(v, w) relu16(_mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(_mm512_sub_ps((v), sh), sc), bi), (w)))
    long i = 0;
    if (stream) {
        long head = head_to_align(y, n);
        for (; i < head; i++) y[i] = relu1(((x[i] - shift) * scale + bias) + r[i]);
        for (; i + 16 <= n; i += 16) _mm512_stream_ps(y + i, SWIFTNN_TAIL(_mm512_loadu_ps(x + i), _mm512_loadu_ps(r + i)));
    }
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, SWIFTNN_TAIL(_mm512_loadu_ps(x + i), _mm512_loadu_ps(r + i)));
    for (; i < n; i++) y[i] = relu1(((x[i] - shift) * scale + bias) + r[i]);
#undef SWIFTNN_TAIL
}

SWIFTNN_AVX512 SWIFTNN_ONE_BODY
void swiftnn_norm_gated_grad_moments_f32(const float *x, const float *dy, long n, float shift, float gateScale,
                                         float gateOffset, double *sum, double *products) {
    const __m512 sh = _mm512_set1_ps(shift), gs = _mm512_set1_ps(gateScale), go = _mm512_set1_ps(gateOffset);
    double s = 0, q = 0;
    long i = 0;
    while (i + 16 <= n) {
        long end = i + SWIFTNN_FLUSH_BLOCK < n ? i + SWIFTNN_FLUSH_BLOCK : n;
        __m512 s0 = _mm512_setzero_ps(), s1 = s0, q0 = s0, q1 = s0;
        while (i + 32 <= end) {
            __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(x + i), sh), d1 = _mm512_sub_ps(_mm512_loadu_ps(x + i + 16), sh);
            __m512 g0 = gate16(_mm512_loadu_ps(dy + i), d0, gs, go), g1 = gate16(_mm512_loadu_ps(dy + i + 16), d1, gs, go);
            s0 = _mm512_add_ps(s0, g0); q0 = _mm512_add_ps(q0, _mm512_mul_ps(g0, d0));
            s1 = _mm512_add_ps(s1, g1); q1 = _mm512_add_ps(q1, _mm512_mul_ps(g1, d1));
            i += 32;
        }
        if (i + 16 <= end) {
            __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(x + i), sh);
            __m512 g0 = gate16(_mm512_loadu_ps(dy + i), d0, gs, go);
            s0 = _mm512_add_ps(s0, g0); q0 = _mm512_add_ps(q0, _mm512_mul_ps(g0, d0));
            i += 16;
        }
        s += hsum_tree(_mm512_add_ps(s0, s1));
        q += hsum_tree(_mm512_add_ps(q0, q1));
    }
    for (; i < n; i++) {
        float d = x[i] - shift;
        double g = (double)gate1(dy[i], d, gateScale, gateOffset);
        s += g; q += g * (double)d;
    }
    *sum = s;
    *products = q;
}

SWIFTNN_AVX512 SWIFTNN_ONE_BODY
void swiftnn_norm_gated_backward_apply_f32(const float *x, const float *dy, float *dx, long n, float shift, float a,
                                           float b, float c, float gateScale, float gateOffset, int stream) {
    const __m512 sh = _mm512_set1_ps(shift), va = _mm512_set1_ps(a), vb = _mm512_set1_ps(b), vc = _mm512_set1_ps(c);
    const __m512 gs = _mm512_set1_ps(gateScale), go = _mm512_set1_ps(gateOffset);
    // a·g − b·d + c, evaluated as Swift does: ((a·g) − (b·d)) + c.
#define SWIFTNN_APPLY(g, d) _mm512_add_ps(_mm512_sub_ps(_mm512_mul_ps(va, (g)), _mm512_mul_ps(vb, (d))), vc)
    long i = 0;
    if (stream) {
        long head = head_to_align(dx, n);
        for (; i < head; i++) { float d = x[i] - shift; dx[i] = a * gate1(dy[i], d, gateScale, gateOffset) - b * d + c; }
        for (; i + 16 <= n; i += 16) {
            __m512 d = _mm512_sub_ps(_mm512_loadu_ps(x + i), sh);
            _mm512_stream_ps(dx + i, SWIFTNN_APPLY(gate16(_mm512_loadu_ps(dy + i), d, gs, go), d));
        }
    }
    for (; i + 32 <= n; i += 32) {
        __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(x + i), sh), d1 = _mm512_sub_ps(_mm512_loadu_ps(x + i + 16), sh);
        __m512 g0 = gate16(_mm512_loadu_ps(dy + i), d0, gs, go), g1 = gate16(_mm512_loadu_ps(dy + i + 16), d1, gs, go);
        _mm512_storeu_ps(dx + i, SWIFTNN_APPLY(g0, d0));
        _mm512_storeu_ps(dx + i + 16, SWIFTNN_APPLY(g1, d1));
    }
    if (i + 16 <= n) {
        __m512 d = _mm512_sub_ps(_mm512_loadu_ps(x + i), sh);
        _mm512_storeu_ps(dx + i, SWIFTNN_APPLY(gate16(_mm512_loadu_ps(dy + i), d, gs, go), d));
        i += 16;
    }
    for (; i < n; i++) { float d = x[i] - shift; dx[i] = a * gate1(dy[i], d, gateScale, gateOffset) - b * d + c; }
#undef SWIFTNN_APPLY
}

// Plane loops: the channel index advances with the plane instead of a division per plane.

SWIFTNN_AVX512
void swiftnn_norm_moments_planes_f32(const float *x, long s, long seg0, long seg1, long c, long c0, const float *shift,
                                     double *sum, double *squares) {
    long ch = seg0 % c;
    for (long seg = seg0; seg < seg1; seg++) {
        swiftnn_norm_moments_f32(x + seg * s, s, shift[ch - c0], sum + (seg - seg0), squares + (seg - seg0));
        if (++ch == c) ch = 0;
    }
}

SWIFTNN_AVX512
void swiftnn_norm_affine_planes_f32(const float *x, float *y, long s, long seg0, long seg1, long c, long c0,
                                    const float *shift, const float *scale, const float *bias, int stream, int relu) {
    if (seg1 <= seg0) return;
    long ch = (seg1 - 1) % c;
    for (long seg = seg1 - 1; seg >= seg0; seg--) {
        long k = ch - c0;
        swiftnn_norm_affine_f32(x + seg * s, y + seg * s, s, shift[k], scale[k], bias[k], stream, relu);
        if (ch-- == 0) ch = c - 1;
    }
}

SWIFTNN_AVX512
void swiftnn_norm_affine_add_relu_planes_f32(const float *x, const float *r, float *y, long s, long seg0, long seg1, long c,
                                             long c0, const float *shift, const float *scale, const float *bias, int stream) {
    if (seg1 <= seg0) return;
    long ch = (seg1 - 1) % c;
    for (long seg = seg1 - 1; seg >= seg0; seg--) {
        long k = ch - c0;
        swiftnn_norm_affine_add_relu_f32(x + seg * s, r + seg * s, y + seg * s, s, shift[k], scale[k], bias[k], stream);
        if (ch-- == 0) ch = c - 1;
    }
}

SWIFTNN_AVX512
void swiftnn_norm_gated_grad_moments_planes_f32(const float *x, const float *dy, long s, long seg0, long seg1, long c,
                                                long c0, const float *shift, const float *gateScale,
                                                const float *gateOffset, double *sum, double *products) {
    long ch = seg0 % c;
    for (long seg = seg0; seg < seg1; seg++) {
        long k = ch - c0;
        swiftnn_norm_gated_grad_moments_f32(x + seg * s, dy + seg * s, s, shift[k], gateScale[k], gateOffset[k],
                                            sum + (seg - seg0), products + (seg - seg0));
        if (++ch == c) ch = 0;
    }
}

SWIFTNN_AVX512
void swiftnn_norm_gated_backward_apply_planes_f32(const float *x, const float *dy, float *dx, long s, long seg0, long seg1,
                                                  long c, long c0, const float *shift, const float *a, const float *b,
                                                  const float *cc, const float *gateScale, const float *gateOffset,
                                                  int stream) {
    if (seg1 <= seg0) return;
    long ch = (seg1 - 1) % c;
    for (long seg = seg1 - 1; seg >= seg0; seg--) {
        long k = ch - c0;
        swiftnn_norm_gated_backward_apply_f32(x + seg * s, dy + seg * s, dx + seg * s, s, shift[k], a[k], b[k], cc[k],
                                              gateScale[k], gateOffset[k], stream);
        if (ch-- == 0) ch = c - 1;
    }
}

#else

// Never called off x86-64 (the Swift side checks swiftnn_gemm_f32_level() == 2 first).
void swiftnn_norm_moments_f32(const float *p, long n, float shift, double *sum, double *squares) {
    (void)p; (void)n; (void)shift; *sum = 0; *squares = 0;
}
void swiftnn_norm_affine_f32(const float *x, float *y, long n, float shift, float scale, float bias, int stream, int relu) {
    (void)x; (void)y; (void)n; (void)shift; (void)scale; (void)bias; (void)stream; (void)relu;
}
void swiftnn_norm_affine_add_relu_f32(const float *x, const float *r, float *y, long n, float shift, float scale,
                                      float bias, int stream) {
    (void)x; (void)r; (void)y; (void)n; (void)shift; (void)scale; (void)bias; (void)stream;
}
void swiftnn_norm_affine_add_relu_planes_f32(const float *x, const float *r, float *y, long s, long seg0, long seg1, long c,
                                             long c0, const float *shift, const float *scale, const float *bias, int stream) {
    (void)x; (void)r; (void)y; (void)s; (void)seg0; (void)seg1; (void)c; (void)c0; (void)shift; (void)scale; (void)bias;
    (void)stream;
}
void swiftnn_norm_gated_grad_moments_f32(const float *x, const float *dy, long n, float shift, float gateScale,
                                         float gateOffset, double *sum, double *products) {
    (void)x; (void)dy; (void)n; (void)shift; (void)gateScale; (void)gateOffset; *sum = 0; *products = 0;
}
void swiftnn_norm_gated_backward_apply_f32(const float *x, const float *dy, float *dx, long n, float shift, float a,
                                           float b, float c, float gateScale, float gateOffset, int stream) {
    (void)x; (void)dy; (void)dx; (void)n; (void)shift; (void)a; (void)b; (void)c; (void)gateScale; (void)gateOffset;
    (void)stream;
}

void swiftnn_norm_moments_planes_f32(const float *x, long s, long seg0, long seg1, long c, long c0, const float *shift,
                                     double *sum, double *squares) {
    (void)x; (void)s; (void)seg0; (void)seg1; (void)c; (void)c0; (void)shift; (void)sum; (void)squares;
}
void swiftnn_norm_affine_planes_f32(const float *x, float *y, long s, long seg0, long seg1, long c, long c0,
                                    const float *shift, const float *scale, const float *bias, int stream, int relu) {
    (void)x; (void)y; (void)s; (void)seg0; (void)seg1; (void)c; (void)c0; (void)shift; (void)scale; (void)bias;
    (void)stream; (void)relu;
}
void swiftnn_norm_gated_grad_moments_planes_f32(const float *x, const float *dy, long s, long seg0, long seg1, long c,
                                                long c0, const float *shift, const float *gateScale,
                                                const float *gateOffset, double *sum, double *products) {
    (void)x; (void)dy; (void)s; (void)seg0; (void)seg1; (void)c; (void)c0; (void)shift; (void)gateScale;
    (void)gateOffset; (void)sum; (void)products;
}
void swiftnn_norm_gated_backward_apply_planes_f32(const float *x, const float *dy, float *dx, long s, long seg0, long seg1,
                                                  long c, long c0, const float *shift, const float *a, const float *b,
                                                  const float *cc, const float *gateScale, const float *gateOffset,
                                                  int stream) {
    (void)x; (void)dy; (void)dx; (void)s; (void)seg0; (void)seg1; (void)c; (void)c0; (void)shift; (void)a; (void)b;
    (void)cc; (void)gateScale; (void)gateOffset; (void)stream;
}

#endif
