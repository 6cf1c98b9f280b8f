// Shared building blocks of the normalization kernels: contiguous float sweeps with SIMD16 lanes
// and several accumulators. Every statistic is accumulated on values shifted by a constant close
// to the data (the first element of the channel or row), so data with a large offset keeps its
// precision, and float lanes are flushed into Double every `flushBlock` elements.

import CKernelSupport

@usableFromInline typealias NormV16 = SIMD16<Float>

/// Whether a kernel writing `elements` floats in contiguous runs of `run` should stream its output
/// (``Kernels/normalizationStreamingBytes``): outputs that large do not fit in cache anyway, and a
/// normal store would first read each destination line (read-for-ownership), one extra memory pass.
///
/// Whether a kernel writing `elements` floats in contiguous runs of `run` should stream its output.
@inline(__always) func shouldStream(elements: Int, run: Int) -> Bool {
    elements * MemoryLayout<Float>.stride >= Kernels.normalizationStreamingBytes && run >= 64
}

/// Makes a chunk's non-temporal stores visible before the pool reports the chunk done.
@inline(__always) func streamFence(_ stream: Bool) {
    if stream { swiftnn_store_fence() }
}

/// Elements to store normally before `y` reaches a 64-byte boundary (non-temporal stores of
/// 16 floats need it).
@inline(__always) func headToAlign(_ y: UnsafeMutablePointer<Float>, _ n: Int) -> Int {
    let mis = Int(UInt(bitPattern: y) & 63) / MemoryLayout<Float>.stride
    return min(n, mis == 0 ? 0 : 16 - mis)
}

/// Elements accumulated in float lanes before they are added to Double sums (each lane then holds
/// at most 64 values: float rounding stays near 1e-7 relative).
@usableFromInline let flushBlock = 2048

/// Whether the sweeps below run their AVX-512 twins in norm_kernels.c (same results bit for bit):
/// without `-target-cpu native`, Swift's SIMD16 here compiles to SSE2 and the sweeps are compute-bound.
/// `SWIFTNN_GEMM_FMA=0` turns the C kernels off together with the GEMM's.
let normUsesCKernels = GEMMCKernel.level >= 2

@inline(__always) func nload(_ p: UnsafePointer<Float>) -> NormV16 {
    UnsafeRawPointer(p).loadUnaligned(as: NormV16.self)
}

@inline(__always) func nstore(_ p: UnsafeMutablePointer<Float>, _ v: NormV16) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: NormV16.self)
}

/// Tree horizontal sum: shorter dependency chain than `SIMD16.sum()`'s 15 sequential adds.
@inline(__always) func nhsum(_ v: NormV16) -> Double {
    let a = v.lowHalf + v.highHalf
    let b = a.lowHalf + a.highHalf
    let c = b.lowHalf + b.highHalf
    return Double(c[0]) + Double(c[1])
}

/// Σ(x − shift) and Σ(x − shift)² over `n` contiguous floats.
@inline(__always)
func segmentMoments(_ p: UnsafePointer<Float>, _ n: Int, _ shift: Float) -> (Double, Double) {
    guard normUsesCKernels else { return segmentMomentsSwift(p, n, shift) }
    var s = 0.0, q = 0.0
    swiftnn_norm_moments_f32(p, n, shift, &s, &q)
    return (s, q)
}

/// ``segmentMoments(_:_:_:)`` in Swift SIMD (the C kernel's reference; the path without AVX-512).
@inline(__always)
func segmentMomentsSwift(_ p: UnsafePointer<Float>, _ n: Int, _ shift: Float) -> (Double, Double) {
    let sh = NormV16(repeating: shift)
    var s = 0.0, q = 0.0
    var i = 0
    while i + 16 <= n {
        let end = min(n, i + flushBlock)
        var s0 = NormV16(), s1 = NormV16(), q0 = NormV16(), q1 = NormV16()
        while i + 32 <= end {
            let a = nload(p + i) - sh, b = nload(p + i + 16) - sh
            s0 += a; q0 += a * a
            s1 += b; q1 += b * b
            i += 32
        }
        if i + 16 <= end {
            let a = nload(p + i) - sh
            s0 += a; q0 += a * a
            i += 16
        }
        s += nhsum(s0 + s1)
        q += nhsum(q0 + q1)
    }
    while i < n {
        let d = Double(p[i] - shift)
        s += d; q += d * d
        i += 1
    }
    return (s, q)
}

/// Σdy and Σdy·(x − shift) over `n` contiguous floats.
@inline(__always)
func segmentGradMoments(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ n: Int, _ shift: Float) -> (Double, Double) {
    let sh = NormV16(repeating: shift)
    var s = 0.0, q = 0.0
    var i = 0
    while i + 16 <= n {
        let end = min(n, i + flushBlock)
        var s0 = NormV16(), s1 = NormV16(), q0 = NormV16(), q1 = NormV16()
        while i + 32 <= end {
            let g0 = nload(dy + i), g1 = nload(dy + i + 16)
            s0 += g0; q0 += g0 * (nload(x + i) - sh)
            s1 += g1; q1 += g1 * (nload(x + i + 16) - sh)
            i += 32
        }
        if i + 16 <= end {
            let g0 = nload(dy + i)
            s0 += g0; q0 += g0 * (nload(x + i) - sh)
            i += 16
        }
        s += nhsum(s0 + s1)
        q += nhsum(q0 + q1)
    }
    while i < n {
        let g = Double(dy[i])
        s += g; q += g * Double(x[i] - shift)
        i += 1
    }
    return (s, q)
}

/// max(0, v) as the ReLU kernel computes it (`v < 0 ? 0 : v`): −0 and NaN pass through.
@inline(__always) func nrelu(_ v: NormV16) -> NormV16 { v.replacing(with: 0, where: v .< 0) }
@inline(__always) func nrelu(_ v: Float) -> Float { v < 0 ? 0 : v }

/// y = (x − shift)·scale + bias over `n` contiguous floats (x − shift is exact for data near shift);
/// with `relu`, y = max(0, …) in the same sweep (batch norm fused with the ReLU after it).
@inline(__always)
func segmentAffine(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int,
                   _ shift: Float, _ scale: Float, _ bias: Float, stream: Bool = false, relu: Bool = false) {
    if normUsesCKernels {
        swiftnn_norm_affine_f32(x, y, n, shift, scale, bias, stream ? 1 : 0, relu ? 1 : 0)
    } else {
        segmentAffineSwift(x, y, n, shift, scale, bias, stream: stream, relu: relu)
    }
}

/// ``segmentAffine(_:_:_:_:_:_:stream:relu:)`` in Swift SIMD.
@inline(__always)
func segmentAffineSwift(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int,
                        _ shift: Float, _ scale: Float, _ bias: Float, stream: Bool = false, relu: Bool = false) {
    if relu {
        segmentAffineBody(x, y, n, shift, scale, bias, stream: stream, nrelu, nrelu)
    } else {
        segmentAffineBody(x, y, n, shift, scale, bias, stream: stream, { $0 }, { $0 })
    }
}

@inline(__always)
private func segmentAffineBody(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int,
                               _ shift: Float, _ scale: Float, _ bias: Float, stream: Bool,
                               _ act: (NormV16) -> NormV16, _ act1: (Float) -> Float) {
    let sh = NormV16(repeating: shift), sc = NormV16(repeating: scale), bi = NormV16(repeating: bias)
    var i = 0
    if stream {
        let head = headToAlign(y, n)
        while i < head { y[i] = act1((x[i] - shift) * scale + bias); i += 1 }
        while i + 16 <= n {
            swiftnn_stream16(y + i, act((nload(x + i) - sh) * sc + bi))
            i += 16
        }
    }
    while i + 32 <= n {
        let a = nload(x + i), b = nload(x + i + 16)
        nstore(y + i, act((a - sh) * sc + bi))
        nstore(y + i + 16, act((b - sh) * sc + bi))
        i += 32
    }
    if i + 16 <= n {
        nstore(y + i, act((nload(x + i) - sh) * sc + bi))
        i += 16
    }
    while i < n {
        y[i] = act1((x[i] - shift) * scale + bias)
        i += 1
    }
}

/// y = max(0, ((x − shift)·scale + bias) + r) over `n` contiguous floats: a residual block's tail
/// (batch norm's affine, the add, the ReLU), each operation rounded as when done one after another.
/// The reference of swiftnn_norm_affine_add_relu_f32 and the path without AVX-512.
func segmentAffineAddReLUSwift(_ x: UnsafePointer<Float>, _ r: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int,
                               _ shift: Float, _ scale: Float, _ bias: Float) {
    let sh = NormV16(repeating: shift), sc = NormV16(repeating: scale), bi = NormV16(repeating: bias)
    var i = 0
    while i + 16 <= n {
        nstore(y + i, nrelu(((nload(x + i) - sh) * sc + bi) + nload(r + i)))
        i += 16
    }
    while i < n {
        y[i] = nrelu(((x[i] - shift) * scale + bias) + r[i])
        i += 1
    }
}

/// The ReLU after a batch normalization, seen from its backward: the gradient passes where the
/// forward's pre-activation (x − shift)·scale + offset was > 0 (NaN and ≤ 0 stop it, as the ReLU
/// backward's `input > 0` test). The constants are the very Floats the forward used, so the mask
/// is the forward's bit for bit without keeping its output.
struct ReLUGate {
    let scale: Float, offset: Float

    @inline(__always) func pass(_ g: NormV16, _ d: NormV16) -> NormV16 {
        NormV16(repeating: 0).replacing(with: g, where: d * NormV16(repeating: scale) + NormV16(repeating: offset) .> 0)
    }

    @inline(__always) func pass(_ g: Float, _ d: Float) -> Float { d * scale + offset > 0 ? g : 0 }
}

/// Σg and Σg·(x − shift) over `n` contiguous floats, g = dy gated by `gate`: the reduce half of
/// the fused batch-norm + ReLU backward, without materialising the ReLU's input gradient. The
/// reference of swiftnn_norm_gated_grad_moments_f32 and the path without AVX-512 (callers go
/// through ``planeGatedGradMoments(_:_:s:planes:c:c0:shift:gateScale:gateOffset:sum:products:)``).
@inline(__always)
func segmentGatedGradMomentsSwift(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ n: Int, _ shift: Float,
                                  _ gate: ReLUGate) -> (Double, Double) {
    let sh = NormV16(repeating: shift)
    var s = 0.0, q = 0.0
    var i = 0
    while i + 16 <= n {
        let end = min(n, i + flushBlock)
        var s0 = NormV16(), s1 = NormV16(), q0 = NormV16(), q1 = NormV16()
        while i + 32 <= end {
            let d0 = nload(x + i) - sh, d1 = nload(x + i + 16) - sh
            let g0 = gate.pass(nload(dy + i), d0), g1 = gate.pass(nload(dy + i + 16), d1)
            s0 += g0; q0 += g0 * d0
            s1 += g1; q1 += g1 * d1
            i += 32
        }
        if i + 16 <= end {
            let d0 = nload(x + i) - sh
            let g0 = gate.pass(nload(dy + i), d0)
            s0 += g0; q0 += g0 * d0
            i += 16
        }
        s += nhsum(s0 + s1)
        q += nhsum(q0 + q1)
    }
    while i < n {
        let d = x[i] - shift
        let g = Double(gate.pass(dy[i], d))
        s += g; q += g * Double(d)
        i += 1
    }
    return (s, q)
}

/// dx = a·g − b·(x − shift) + c over `n` contiguous floats, g = dy gated by `gate`. The reference
/// of swiftnn_norm_gated_backward_apply_f32 and the path without AVX-512 (callers go through
/// ``planeGatedBackwardApply(_:_:_:s:planes:c:c0:shift:a:b:cc:gateScale:gateOffset:stream:)``).
@inline(__always)
func segmentGatedBackwardApplySwift(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                                    _ n: Int, _ shift: Float, _ a: Float, _ b: Float, _ c: Float, _ gate: ReLUGate,
                                    stream: Bool = false) {
    let sh = NormV16(repeating: shift), va = NormV16(repeating: a)
    let vb = NormV16(repeating: b), vc = NormV16(repeating: c)
    var i = 0
    if stream {
        let head = headToAlign(dx, n)
        while i < head { let d = x[i] - shift; dx[i] = a * gate.pass(dy[i], d) - b * d + c; i += 1 }
        while i + 16 <= n {
            let d = nload(x + i) - sh
            swiftnn_stream16(dx + i, va * gate.pass(nload(dy + i), d) - vb * d + vc)
            i += 16
        }
    }
    while i + 32 <= n {
        let d0 = nload(x + i) - sh, d1 = nload(x + i + 16) - sh
        let g0 = gate.pass(nload(dy + i), d0), g1 = gate.pass(nload(dy + i + 16), d1)
        nstore(dx + i, va * g0 - vb * d0 + vc)
        nstore(dx + i + 16, va * g1 - vb * d1 + vc)
        i += 32
    }
    if i + 16 <= n {
        let d = nload(x + i) - sh
        nstore(dx + i, va * gate.pass(nload(dy + i), d) - vb * d + vc)
        i += 16
    }
    while i < n {
        let d = x[i] - shift
        dx[i] = a * gate.pass(dy[i], d) - b * d + c
        i += 1
    }
}

/// dx = a·dy − b·(x − shift) + c over `n` contiguous floats: every normalization's input gradient
/// has this form once its per-channel or per-row sums are known.
@inline(__always)
func segmentBackwardApply(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                          _ n: Int, _ shift: Float, _ a: Float, _ b: Float, _ c: Float, stream: Bool = false) {
    let sh = NormV16(repeating: shift), va = NormV16(repeating: a)
    let vb = NormV16(repeating: b), vc = NormV16(repeating: c)
    var i = 0
    if stream {
        let head = headToAlign(dx, n)
        while i < head { dx[i] = a * dy[i] - b * (x[i] - shift) + c; i += 1 }
        while i + 16 <= n {
            swiftnn_stream16(dx + i, va * nload(dy + i) - vb * (nload(x + i) - sh) + vc)
            i += 16
        }
    }
    while i + 32 <= n {
        let x0 = nload(x + i) - sh, x1 = nload(x + i + 16) - sh
        let g0 = nload(dy + i), g1 = nload(dy + i + 16)
        nstore(dx + i, va * g0 - vb * x0 + vc)
        nstore(dx + i + 16, va * g1 - vb * x1 + vc)
        i += 32
    }
    if i + 16 <= n {
        nstore(dx + i, va * nload(dy + i) - vb * (nload(x + i) - sh) + vc)
        i += 16
    }
    while i < n {
        dx[i] = a * dy[i] - b * (x[i] - shift) + c
        i += 1
    }
}

/// Elements per parallel chunk below which a sweep stays on the calling thread (≈ 50 µs of work).
@usableFromInline let normParallelGrain = 1 << 17

// MARK: - Plane sweeps

// The sweeps above over planes seg0..<seg1 of an (n, c, s) tensor: plane `seg` is the s floats at
// x + seg·s and belongs to channel seg % c, whose parameters are at index seg % c − c0. One C call
// covers the whole range: a call per plane cost more than the work on SmallCNN's 7×7 and 4×4
// planes (its last BatchNorm + ReLU, forward and backward, ran at 4.5× its memory floor). Each
// plane is computed exactly as the single-plane function computes it, so the results do not change.

/// ``segmentMoments(_:_:_:)`` of every plane in `planes` into `sum`/`squares[seg − planes.lowerBound]`.
@inline(__always)
func planeMoments(_ x: UnsafePointer<Float>, s: Int, planes: Range<Int>, c: Int, c0: Int, shift: UnsafePointer<Float>,
                  sum: UnsafeMutablePointer<Double>, squares: UnsafeMutablePointer<Double>) {
    if normUsesCKernels {
        swiftnn_norm_moments_planes_f32(x, s, planes.lowerBound, planes.upperBound, c, c0, shift, sum, squares)
        return
    }
    for seg in planes {
        (sum[seg - planes.lowerBound], squares[seg - planes.lowerBound]) = segmentMomentsSwift(x + seg * s, s, shift[seg % c - c0])
    }
}

/// ``segmentAffine(_:_:_:_:_:_:stream:relu:)`` of every plane in `planes`, the last plane first.
@inline(__always)
func planeAffine(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, s: Int, planes: Range<Int>, c: Int, c0: Int,
                 shift: UnsafePointer<Float>, scale: UnsafePointer<Float>, offset: UnsafePointer<Float>,
                 stream: Bool, relu: Bool, residual: UnsafePointer<Float>? = nil) {
    if let residual {
        // A residual block's tail: max(0, affine + residual).
        precondition(relu, "a residual is added before a ReLU only")
        if normUsesCKernels {
            swiftnn_norm_affine_add_relu_planes_f32(x, residual, y, s, planes.lowerBound, planes.upperBound, c, c0, shift, scale, offset,
                                                    stream ? 1 : 0)
            return
        }
        for seg in planes.reversed() {
            let k = seg % c - c0
            segmentAffineAddReLUSwift(x + seg * s, residual + seg * s, y + seg * s, s, shift[k], scale[k], offset[k])
        }
        return
    }
    if normUsesCKernels {
        swiftnn_norm_affine_planes_f32(x, y, s, planes.lowerBound, planes.upperBound, c, c0, shift, scale, offset,
                                       stream ? 1 : 0, relu ? 1 : 0)
        return
    }
    for seg in planes.reversed() {
        let k = seg % c - c0
        segmentAffineSwift(x + seg * s, y + seg * s, s, shift[k], scale[k], offset[k], stream: stream, relu: relu)
    }
}

/// ``segmentGatedGradMomentsSwift(_:_:_:_:_:)`` (or its C twin) of every plane in `planes` (gate
/// scale and offset per channel) into `sum`/`products[seg − planes.lowerBound]`.
@inline(__always)
func planeGatedGradMoments(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, s: Int, planes: Range<Int>, c: Int, c0: Int,
                           shift: UnsafePointer<Float>, gateScale: UnsafePointer<Float>, gateOffset: UnsafePointer<Float>,
                           sum: UnsafeMutablePointer<Double>, products: UnsafeMutablePointer<Double>) {
    if normUsesCKernels {
        swiftnn_norm_gated_grad_moments_planes_f32(x, dy, s, planes.lowerBound, planes.upperBound, c, c0, shift,
                                                   gateScale, gateOffset, sum, products)
        return
    }
    for seg in planes {
        let k = seg % c - c0
        (sum[seg - planes.lowerBound], products[seg - planes.lowerBound]) =
            segmentGatedGradMomentsSwift(x + seg * s, dy + seg * s, s, shift[k], ReLUGate(scale: gateScale[k], offset: gateOffset[k]))
    }
}

/// ``segmentGatedBackwardApplySwift(_:_:_:_:_:_:_:_:_:stream:)`` (or its C twin) of every plane in
/// `planes`, the last plane first.
@inline(__always)
func planeGatedBackwardApply(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                             s: Int, planes: Range<Int>, c: Int, c0: Int, shift: UnsafePointer<Float>,
                             a: UnsafePointer<Float>, b: UnsafePointer<Float>, cc: UnsafePointer<Float>,
                             gateScale: UnsafePointer<Float>, gateOffset: UnsafePointer<Float>, stream: Bool) {
    if normUsesCKernels {
        swiftnn_norm_gated_backward_apply_planes_f32(x, dy, dx, s, planes.lowerBound, planes.upperBound, c, c0, shift,
                                                     a, b, cc, gateScale, gateOffset, stream ? 1 : 0)
        return
    }
    for seg in planes.reversed() {
        let k = seg % c - c0
        segmentGatedBackwardApplySwift(x + seg * s, dy + seg * s, dx + seg * s, s, shift[k], a[k], b[k], cc[k],
                                       ReLUGate(scale: gateScale[k], offset: gateOffset[k]), stream: stream)
    }
}
