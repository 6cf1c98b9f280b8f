// Instructions Swift cannot spell, for TensorCore's kernels.
#pragma once

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
