import Foundation

// Dropout kernels: one pass over the data at copy speed, with the keep/drop decision of element
// `i` a pure function of (stream key, i). That makes masks independent of the thread count and
// lets backward regenerate the mask instead of storing it.
//
// Why regenerate rather than store bits: backward has to read the upstream gradient and write
// the input gradient anyway (a copy's traffic); regenerating the decisions costs only arithmetic
// that hides under that traffic, while stored bits add n/8 bytes of memory per layer and a third
// stream to read. Measured by `swiftnn bench dropout` (6.4M floats, fastest runs vs a copy):
// regenerated 1.03× (1 thread) / 1.13× (2 threads), stored bit mask 1.13× / 2.14×.

/// The per-element transform: `x * (keep ? keepMul : 0) + (keep ? keepAdd : dropAdd)`, the
/// addition only for alpha dropout (adding 0 would turn `-0.0` into `+0.0`).
@usableFromInline
struct DropoutTransform<T: BinaryFloatingPoint> {
    @usableFromInline let keepMul: T
    @usableFromInline let keepAdd: T
    @usableFromInline let dropAdd: T
    @usableFromInline let affine: Bool
}

/// Compile-time choice between the two transforms, so that each kernel loop is specialized
/// without a branch (a Bool argument was not reliably inlined into two loops).
@usableFromInline protocol DropoutLoopMode { static var affine: Bool { get } }
@usableFromInline enum AffineLoop: DropoutLoopMode { @usableFromInline static var affine: Bool { true } }
@usableFromInline enum PlainLoop: DropoutLoopMode { @usableFromInline static var affine: Bool { false } }

extension DropoutKind {
    func floatTransform(p: Double) -> DropoutTransform<Float> {
        switch self {
        case .inverted:
            return DropoutTransform(keepMul: Float(keepMultiplier(p: p)), keepAdd: 0, dropAdd: 0, affine: false)
        case .alpha:
            // PyTorch: noise = mask * a; b = (mask - 1) * (α·a) + α·a·p, each step in float.
            let a = keepMultiplier(p: p)
            let alphaA = Float(dropoutSELUAlpha * a)
            let alphaAP = Float(dropoutSELUAlpha * a * p)
            let keepAdd = Float(0) * alphaA + alphaAP
            let dropAdd = Float(-1) * alphaA + alphaAP
            return DropoutTransform(keepMul: Float(a), keepAdd: keepAdd, dropAdd: dropAdd, affine: true)
        }
    }

    func doubleTransform(p: Double) -> DropoutTransform<Double> {
        switch self {
        case .inverted:
            return DropoutTransform(keepMul: keepMultiplier(p: p), keepAdd: 0, dropAdd: 0, affine: false)
        case .alpha:
            let a = keepMultiplier(p: p)
            let alphaA = dropoutSELUAlpha * a
            let alphaAP = dropoutSELUAlpha * a * p
            return DropoutTransform(keepMul: a, keepAdd: 0 * alphaA + alphaAP, dropAdd: -1 * alphaA + alphaAP, affine: true)
        }
    }
}

/// The CPU dropout loops. `x` and `out` may be the same tensor (in-place).
enum DropoutKernels {
    /// Elements per parallel chunk at least (≈ 0.1 ms of work).
    static let grain = 1 << 17

    /// Element-wise dropout: decision `i` for element `i`.
    static func forward(_ x: Tensor, into out: Tensor, decisions: DropoutDecisions, kind: DropoutKind) {
        precondition(x.count == out.count && x.dtype == out.dtype, "DropoutKernels: output does not match input")
        switch x.dtype {
        case .float32:
            elementwise(x.pointer(as: Float.self), out.pointer(as: Float.self), x.count, decisions, kind.floatTransform(p: decisions.p))
        case .float64:
            elementwiseScalar(x.pointer(as: Double.self), out.pointer(as: Double.self), x.count, decisions, kind.doubleTransform(p: decisions.p))
        default:
            preconditionFailure("DropoutKernels: expected a floating-point tensor, got \(x.dtype)")
        }
    }

    /// The gradient of element-wise dropout: `g * (keep ? keepMultiplier : 0)`, same decisions.
    static func backward(_ gradOutput: Tensor, decisions: DropoutDecisions, kind: DropoutKind) -> Tensor {
        let out = Tensor(uninitializedShape: gradOutput.shape, dtype: gradOutput.dtype)
        let m = kind.keepMultiplier(p: decisions.p)
        switch gradOutput.dtype {
        case .float32:
            elementwise(gradOutput.pointer(as: Float.self), out.pointer(as: Float.self), out.count, decisions,
                        DropoutTransform(keepMul: Float(m), keepAdd: 0, dropAdd: 0, affine: false))
        case .float64:
            elementwiseScalar(gradOutput.pointer(as: Double.self), out.pointer(as: Double.self), out.count, decisions,
                              DropoutTransform(keepMul: m, keepAdd: 0, dropAdd: 0, affine: false))
        default:
            preconditionFailure("DropoutKernels: expected a floating-point tensor, got \(gradOutput.dtype)")
        }
        return out
    }

    /// Channel-wise dropout: the tensor is `rows` rows of `rowLength` contiguous elements (rows =
    /// N·C, rowLength = the spatial size) and decision `r` applies to all of row `r`.
    static func channelForward(_ x: Tensor, into out: Tensor, rowLength: Int, decisions: DropoutDecisions, kind: DropoutKind) {
        precondition(x.count == out.count && x.dtype == out.dtype, "DropoutKernels: output does not match input")
        switch x.dtype {
        case .float32:
            rowwise(x.pointer(as: Float.self), out.pointer(as: Float.self), x.count, rowLength, decisions, kind.floatTransform(p: decisions.p))
        case .float64:
            rowwiseScalar(x.pointer(as: Double.self), out.pointer(as: Double.self), x.count, rowLength, decisions, kind.doubleTransform(p: decisions.p))
        default:
            preconditionFailure("DropoutKernels: expected a floating-point tensor, got \(x.dtype)")
        }
    }

    /// The gradient of channel-wise dropout.
    static func channelBackward(_ gradOutput: Tensor, rowLength: Int, decisions: DropoutDecisions, kind: DropoutKind) -> Tensor {
        let out = Tensor(uninitializedShape: gradOutput.shape, dtype: gradOutput.dtype)
        let m = kind.keepMultiplier(p: decisions.p)
        switch gradOutput.dtype {
        case .float32:
            rowwise(gradOutput.pointer(as: Float.self), out.pointer(as: Float.self), out.count, rowLength, decisions,
                    DropoutTransform(keepMul: Float(m), keepAdd: 0, dropAdd: 0, affine: false))
        case .float64:
            rowwiseScalar(gradOutput.pointer(as: Double.self), out.pointer(as: Double.self), out.count, rowLength, decisions,
                          DropoutTransform(keepMul: m, keepAdd: 0, dropAdd: 0, affine: false))
        default:
            preconditionFailure("DropoutKernels: expected a floating-point tensor, got \(gradOutput.dtype)")
        }
        return out
    }

    /// `x * 0` (p = 1, and its gradient): NaN and infinities stay NaN, negatives give `-0.0`.
    static func timesZero(_ x: Tensor) -> Tensor {
        let out = Tensor(uninitializedShape: x.shape, dtype: x.dtype)
        let n = x.count
        switch x.dtype {
        case .float32:
            let s = x.pointer(as: Float.self), d = out.pointer(as: Float.self)
            Parallel.forRange(0..<n, grain: grain) { r in for i in r { d[i] = s[i] * 0 } }
        case .float64:
            let s = x.pointer(as: Double.self), d = out.pointer(as: Double.self)
            Parallel.forRange(0..<n, grain: grain) { r in for i in r { d[i] = s[i] * 0 } }
        default:
            preconditionFailure("DropoutKernels: expected a floating-point tensor, got \(x.dtype)")
        }
        return out
    }

    /// The mask (1 kept, 0 dropped) of `count` decisions as a new float32 tensor.
    static func mask(count: Int, decisions: DropoutDecisions) -> Tensor {
        let ones = Tensor.ones([count])
        let out = Tensor(uninitializedShape: [count])
        elementwise(ones.pointer(as: Float.self), out.pointer(as: Float.self), count, decisions,
                    DropoutTransform(keepMul: 1, keepAdd: 0, dropAdd: 0, affine: false))
        return out
    }

    // MARK: - Float32 element-wise

    @inline(__always)
    static func scalarOut<T: BinaryFloatingPoint>(_ x: T, _ keep: Bool, _ t: DropoutTransform<T>) -> T {
        if t.affine { return keep ? x * t.keepMul + t.keepAdd : x * 0 + t.dropAdd }
        return x * (keep ? t.keepMul : 0)
    }

    @inline(__always)
    static func apply16(_ x: SIMD16<Float>, _ keep: SIMD16<Int32>, _ mulBits: SIMD16<Int32>,
                        _ keepAddBits: SIMD16<Int32>, _ dropAddBits: SIMD16<Int32>, affine: Bool) -> SIMD16<Float> {
        let m = unsafeBitCast(mulBits & keep, to: SIMD16<Float>.self)
        if !affine { return x * m }
        let a = unsafeBitCast((keepAddBits & keep) | (dropAddBits & ~keep), to: SIMD16<Float>.self)
        return x * m + a
    }

    static func elementwise(_ src: UnsafeMutablePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int,
                            _ d: DropoutDecisions, _ t: DropoutTransform<Float>) {
        // Chunks start on multiples of 32 so every SIMD block is whole; the decisions do not
        // depend on the chunking anyway.
        Parallel.forRange(0..<n, grain: grain, alignment: 32) { r in
            if t.affine {
                elementwiseLoop(AffineLoop.self, src, dst, r.lowerBound, r.upperBound, d, t)
            } else {
                elementwiseLoop(PlainLoop.self, src, dst, r.lowerBound, r.upperBound, d, t)
            }
        }
    }

    /// One chunk `lo..<hi` (any bounds) of the element-wise kernel.
    static func elementwiseChunk(_ src: UnsafeMutablePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ lo: Int, _ hi: Int,
                                 _ d: DropoutDecisions, _ t: DropoutTransform<Float>, affine: Bool) {
        if affine {
            elementwiseLoop(AffineLoop.self, src, dst, lo, hi, d, t)
        } else {
            elementwiseLoop(PlainLoop.self, src, dst, lo, hi, d, t)
        }
    }

    static func elementwiseLoop<M: DropoutLoopMode>(_ mode: M.Type, _ src: UnsafeMutablePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
                                                    _ lo: Int, _ hi: Int, _ d: DropoutDecisions, _ t: DropoutTransform<Float>) {
        let affine = M.affine
        var i = lo
        // Scalar head up to a multiple of 32.
        let headEnd = min(hi, (lo + 31) & ~31)
        while i < headEnd { dst[i] = scalarOut(src[i], d.keeps(i), t); i += 1 }
        let mulBits = SIMD16<Int32>(repeating: Int32(bitPattern: t.keepMul.bitPattern))
        let keepAddBits = SIMD16<Int32>(repeating: Int32(bitPattern: t.keepAdd.bitPattern))
        let dropAddBits = SIMD16<Int32>(repeating: Int32(bitPattern: t.dropAdd.bitPattern))
        let s = UnsafeRawPointer(src), o = UnsafeMutableRawPointer(dst)
        let end32 = i + (hi - i) / 32 * 32
        // The hash's index vector is carried along (+16 per block) and the key's high-half term
        // hoisted: both change only at multiples of 2³² hash indices, where the loop restarts.
        let lanes = SIMD16<UInt32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
        let key0 = SIMD16<UInt32>(repeating: d.stream.key0)
        if d.t16 != 0 {
            let threshold = SIMD16<Int32>(repeating: d.t16)
            while i < end32 {
                // Block i uses hash indices i/2 ..< i/2 + 16.
                let segmentEnd = min(end32, ((i >> 33) &+ 1) << 33)
                let key1 = SIMD16<UInt32>(repeating: d.stream.key1 &+ UInt32(truncatingIfNeeded: i >> 33) &* 0x9E37_79B9)
                var idx = SIMD16<UInt32>(repeating: UInt32(truncatingIfNeeded: i >> 1)) &+ lanes
                while i < segmentEnd {
                    let h = RandomStream.mix16(RandomStream.mix16(idx ^ key0) ^ key1)
                    let lo = unsafeBitCast(h & 0xFFFF, to: SIMD16<Int32>.self)
                    let hi16 = unsafeBitCast(h &>> 16, to: SIMD16<Int32>.self)
                    let k0 = ~((lo &- threshold) &>> 31), k1 = ~((hi16 &- threshold) &>> 31)
                    let a = s.loadUnaligned(fromByteOffset: i &* 4, as: SIMD16<Float>.self)
                    let b = s.loadUnaligned(fromByteOffset: i &* 4 &+ 64, as: SIMD16<Float>.self)
                    o.storeBytes(of: apply16(a, k0, mulBits, keepAddBits, dropAddBits, affine: affine), toByteOffset: i &* 4, as: SIMD16<Float>.self)
                    o.storeBytes(of: apply16(b, k1, mulBits, keepAddBits, dropAddBits, affine: affine), toByteOffset: i &* 4 &+ 64, as: SIMD16<Float>.self)
                    idx &+= 16
                    i &+= 32
                }
            }
        } else {
            let threshold = SIMD16<Int32>(repeating: d.t31)
            while i < end32 {
                let segmentEnd = min(end32, ((i >> 32) &+ 1) << 32)
                let key1 = SIMD16<UInt32>(repeating: d.stream.key1 &+ UInt32(truncatingIfNeeded: i >> 32) &* 0x9E37_79B9)
                var idx = SIMD16<UInt32>(repeating: UInt32(truncatingIfNeeded: i)) &+ lanes
                while i < segmentEnd {
                    let h0 = RandomStream.mix16(RandomStream.mix16(idx ^ key0) ^ key1)
                    let h1 = RandomStream.mix16(RandomStream.mix16((idx &+ 16) ^ key0) ^ key1)
                    let r0 = unsafeBitCast(h0 &>> 1, to: SIMD16<Int32>.self), r1 = unsafeBitCast(h1 &>> 1, to: SIMD16<Int32>.self)
                    let k0 = ~((r0 &- threshold) &>> 31), k1 = ~((r1 &- threshold) &>> 31)
                    let a = s.loadUnaligned(fromByteOffset: i &* 4, as: SIMD16<Float>.self)
                    let b = s.loadUnaligned(fromByteOffset: i &* 4 &+ 64, as: SIMD16<Float>.self)
                    o.storeBytes(of: apply16(a, k0, mulBits, keepAddBits, dropAddBits, affine: affine), toByteOffset: i &* 4, as: SIMD16<Float>.self)
                    o.storeBytes(of: apply16(b, k1, mulBits, keepAddBits, dropAddBits, affine: affine), toByteOffset: i &* 4 &+ 64, as: SIMD16<Float>.self)
                    idx &+= 32
                    i &+= 32
                }
            }
        }
        while i < hi { dst[i] = scalarOut(src[i], d.keeps(i), t); i += 1 }
    }

    // MARK: - Float64 (gradcheck, double models): scalar, same decisions

    static func elementwiseScalar(_ src: UnsafeMutablePointer<Double>, _ dst: UnsafeMutablePointer<Double>, _ n: Int,
                                  _ d: DropoutDecisions, _ t: DropoutTransform<Double>) {
        Parallel.forRange(0..<n, grain: grain / 2) { r in
            for i in r { dst[i] = scalarOut(src[i], d.keeps(i), t) }
        }
    }

    // MARK: - Channel-wise

    static func rowwise(_ src: UnsafeMutablePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int, _ rowLength: Int,
                        _ d: DropoutDecisions, _ t: DropoutTransform<Float>) {
        if n == 0 || rowLength == 0 { return }
        // Blocks of 16 are aligned to the tensor's start (not to rows), so that loads and stores
        // never straddle cache lines when rows are not multiples of 16 (e.g. 25·40 = 1000); the
        // few blocks that span a row boundary take their multipliers lane by lane.
        Parallel.forRange(0..<n, grain: grain, alignment: 16) { r in
            if t.affine {
                rowwiseLoop(AffineLoop.self, src, dst, r.lowerBound, r.upperBound, rowLength, d, t)
            } else {
                rowwiseLoop(PlainLoop.self, src, dst, r.lowerBound, r.upperBound, rowLength, d, t)
            }
        }
    }

    /// One chunk `lo..<hi` (any bounds) of the channel-wise kernel.
    static func rowwiseChunk(_ src: UnsafeMutablePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ lo: Int, _ hi: Int,
                             _ rowLength: Int, _ d: DropoutDecisions, _ t: DropoutTransform<Float>, affine: Bool) {
        if affine {
            rowwiseLoop(AffineLoop.self, src, dst, lo, hi, rowLength, d, t)
        } else {
            rowwiseLoop(PlainLoop.self, src, dst, lo, hi, rowLength, d, t)
        }
    }

    static func rowwiseLoop<M: DropoutLoopMode>(_ mode: M.Type, _ src: UnsafeMutablePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
                                                _ lo: Int, _ hi: Int, _ rowLength: Int, _ d: DropoutDecisions, _ t: DropoutTransform<Float>) {
        let affine = M.affine
        @inline(__always) func factors(_ row: Int) -> (Float, Float) {
            d.keeps(row) ? (t.keepMul, t.keepAdd) : (0, t.dropAdd)
        }
        @inline(__always) func one(_ i: Int, _ f: (Float, Float)) {
            dst[i] = affine ? src[i] * f.0 + f.1 : src[i] * f.0
        }
        let s = UnsafeRawPointer(src), o = UnsafeMutableRawPointer(dst)
        var i = lo
        var row = i / rowLength
        var rowEnd = (row + 1) * rowLength
        var f = factors(row)
        let headEnd = min(hi, (lo + 15) & ~15)
        while i < headEnd {
            if i == rowEnd { row += 1; rowEnd += rowLength; f = factors(row) }
            one(i, f); i += 1
        }
        while i + 16 <= hi {
            if i >= rowEnd { row = i / rowLength; rowEnd = (row + 1) * rowLength; f = factors(row) }
            let x = s.loadUnaligned(fromByteOffset: i &* 4, as: SIMD16<Float>.self)
            if i + 16 <= rowEnd {
                // The whole block in one row (the common case): one multiplier.
                let mv = SIMD16<Float>(repeating: f.0)
                let y = affine ? x * mv + SIMD16<Float>(repeating: f.1) : x * mv
                o.storeBytes(of: y, toByteOffset: i &* 4, as: SIMD16<Float>.self)
            } else {
                var mv = SIMD16<Float>(), av = SIMD16<Float>()
                for l in 0..<16 {
                    if i + l == rowEnd { row += 1; rowEnd += rowLength; f = factors(row) }
                    mv[l] = f.0
                    av[l] = f.1
                }
                let y = affine ? x * mv + av : x * mv
                o.storeBytes(of: y, toByteOffset: i &* 4, as: SIMD16<Float>.self)
            }
            i &+= 16
        }
        while i < hi {
            if i >= rowEnd { row = i / rowLength; rowEnd = (row + 1) * rowLength; f = factors(row) }
            one(i, f); i += 1
        }
    }

    static func rowwiseScalar(_ src: UnsafeMutablePointer<Double>, _ dst: UnsafeMutablePointer<Double>, _ n: Int, _ rowLength: Int,
                              _ d: DropoutDecisions, _ t: DropoutTransform<Double>) {
        if n == 0 || rowLength == 0 { return }
        Parallel.forRange(0..<n, grain: grain / 2) { r in
            for i in r { dst[i] = scalarOut(src[i], d.keeps(i / rowLength), t) }
        }
    }
}

extension CPUBackend {
    public func dropout(_ x: Tensor, into out: Tensor, decisions: DropoutDecisions, kind: DropoutKind) {
        DropoutKernels.forward(x, into: out, decisions: decisions, kind: kind)
    }
    public func dropoutBackward(_ gradOutput: Tensor, decisions: DropoutDecisions, kind: DropoutKind) -> Tensor {
        DropoutKernels.backward(gradOutput, decisions: decisions, kind: kind)
    }
    public func channelDropout(_ x: Tensor, into out: Tensor, rowLength: Int, decisions: DropoutDecisions, kind: DropoutKind) {
        DropoutKernels.channelForward(x, into: out, rowLength: rowLength, decisions: decisions, kind: kind)
    }
    public func channelDropoutBackward(_ gradOutput: Tensor, rowLength: Int, decisions: DropoutDecisions,
                                       kind: DropoutKind) -> Tensor {
        DropoutKernels.channelBackward(gradOutput, rowLength: rowLength, decisions: decisions, kind: kind)
    }
    public func timesZero(_ x: Tensor) -> Tensor { DropoutKernels.timesZero(x) }
    public func dropoutMask(count: Int, decisions: DropoutDecisions) -> Tensor { DropoutKernels.mask(count: count, decisions: decisions) }
}
