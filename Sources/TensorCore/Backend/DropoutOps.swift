/// Dropout from counter-based decisions: element `i` is kept or dropped as a pure function of
/// (stream key, i), so masks do not depend on the thread count and backward regenerates them.
public protocol DropoutOps {
    /// Element-wise dropout of `x` into `out` (same shape and float dtype; may be `x` itself).
    func dropout(_ x: Tensor, into out: Tensor, decisions: DropoutDecisions, kind: DropoutKind)
    /// `g · (keep ? keepMultiplier : 0)` with the same decisions.
    func dropoutBackward(_ gradOutput: Tensor, decisions: DropoutDecisions, kind: DropoutKind) -> Tensor
    /// Channel-wise dropout: rows of `rowLength` contiguous elements share decision `i / rowLength`.
    func channelDropout(_ x: Tensor, into out: Tensor, rowLength: Int, decisions: DropoutDecisions, kind: DropoutKind)
    /// The gradient of ``channelDropout(_:into:rowLength:decisions:kind:)``.
    func channelDropoutBackward(_ gradOutput: Tensor, rowLength: Int, decisions: DropoutDecisions, kind: DropoutKind) -> Tensor
    /// `x * 0` elementwise (p = 1): NaN and infinities give NaN, negatives `-0.0`.
    func timesZero(_ x: Tensor) -> Tensor
    /// The float32 mask (1 kept, 0 dropped) of `count` element-wise decisions.
    func dropoutMask(count: Int, decisions: DropoutDecisions) -> Tensor
}

/// Which dropout a kernel applies.
public enum DropoutKind: Sendable, Equatable {
    /// Inverted dropout: kept elements become `x * (1 / (1 - p))`, dropped ones `x * 0`.
    case inverted
    /// Alpha dropout (SELU networks): kept elements `a·x + a·α·p`, dropped ones `a·α·(p − 1)`,
    /// computed in PyTorch's order of float operations.
    case alpha
}

/// The keep/drop decisions of one dropout call: element `i` is kept or dropped as a pure function
/// of the stream's key and `i`, with probability `p` of being dropped.
///
/// Two precisions, chosen from `p` alone (so forward and backward always agree):
/// - *fast*: when rounding `p` to a multiple of 2⁻¹⁶ changes it by at most 0.1 % (relative to
///   min(p, 1 − p)), which holds for every p in [0.0077, 0.9923], one 32-bit hash gives the 16-bit
///   draws of two elements (the low half for element `i`, the high half for `i + 16` in each block
///   of 32). The drop probability is `round(p·2¹⁶)/2¹⁶`, within 2⁻¹⁷ of `p` (0.1000061 for
///   p = 0.1), and the kernel runs at copy speed.
/// - *exact*: otherwise (tiny or near-1 p), one hash per element and a 31-bit threshold (drop
///   probability within 2⁻³² of `p`), about 1.4× a copy on a quiet single core.
///
/// ```swift
/// let d = DropoutDecisions(stream: Generator.default.nextStream(), p: 0.5)
/// d.keeps(0)   // the same answer on every run, thread count and dtype
/// ```
public struct DropoutDecisions: Sendable, Equatable {
    /// The random stream the decisions come from.
    public let stream: RandomStream
    /// The drop probability asked for, in (0, 1).
    public let p: Double
    /// 16-bit threshold for the fast path (drop iff draw < t16), or 0 when the exact path is used.
    @usableFromInline let t16: Int32
    /// 31-bit threshold for the exact path (drop iff bits >> 1 < t31).
    @usableFromInline let t31: Int32

    public init(stream: RandomStream, p: Double) {
        precondition(p > 0 && p < 1, "DropoutDecisions: p must be in (0, 1), got \(p)")
        self.stream = stream
        self.p = p
        let q16 = (p * 65_536).rounded()
        let err = abs(q16 / 65_536 - p)
        if q16 >= 1 && q16 <= 65_535 && err <= 1e-3 * min(p, 1 - p) {
            t16 = Int32(q16)
        } else {
            t16 = 0
        }
        t31 = Int32(min(max((p * 2_147_483_648).rounded(), 0), 2_147_483_647))
    }

    /// Whether the fast 16-bit path is used for this `p`.
    public var usesFastPath: Bool { t16 != 0 }

    /// The probability with which an element is actually dropped.
    public var effectiveDropProbability: Double {
        t16 != 0 ? Double(t16) / 65_536 : Double(t31) / 2_147_483_648
    }

    /// Whether element `i` is kept.
    @inlinable @inline(__always)
    public func keeps(_ i: Int) -> Bool {
        if t16 != 0 {
            let h = stream.bits(((i >> 5) << 4) | (i & 15))
            let r = (i >> 4) & 1 == 0 ? h & 0xFFFF : h >> 16
            return Int32(r) >= t16
        }
        return Int32(stream.bits(i) >> 1) >= t31
    }

    /// All-ones lanes for kept elements `base..<base+16` of the exact path (`base` % 16 == 0).
    @inlinable @inline(__always)
    func keepLanes31(_ base: Int) -> SIMD16<Int32> {
        let r = unsafeBitCast(stream.bits16(block: base) &>> 1, to: SIMD16<Int32>.self)
        return ~((r &- SIMD16(repeating: t31)) &>> 31)
    }

    /// All-ones lanes for kept elements of the fast path, for the 32 elements `base..<base+32`
    /// (`base` % 32 == 0): first the 16 low halves, then the 16 high halves.
    @inlinable @inline(__always)
    func keepLanes16(_ base: Int) -> (SIMD16<Int32>, SIMD16<Int32>) {
        let h = stream.bits16(block: base >> 1)
        let t = SIMD16<Int32>(repeating: t16)
        let lo = unsafeBitCast(h & 0xFFFF, to: SIMD16<Int32>.self)
        let hi = unsafeBitCast(h &>> 16, to: SIMD16<Int32>.self)
        return (~((lo &- t) &>> 31), ~((hi &- t) &>> 31))
    }
}

/// SELU's α, as in PyTorch's `alpha_dropout`.
public let dropoutSELUAlpha = 1.7580993408473766

extension DropoutKind {
    /// The multiplier of kept elements in backward (and, for inverted dropout, forward).
    /// Float32: `Float(1 / (1 - p))` or `Float(a)`.
    public func keepMultiplier(p: Double) -> Double {
        switch self {
        case .inverted: return 1 / (1 - p)
        case .alpha:
            let alpha = dropoutSELUAlpha
            return 1 / ((alpha * alpha * p + 1) * (1 - p)).squareRoot()
        }
    }

}

extension Kernels {
    /// Element-wise dropout of `x` into a new tensor; nothing recorded.
    ///
    /// ```swift
    /// let d = DropoutDecisions(stream: Generator(seed: 1).nextStream(), p: 0.5)
    /// let y = Kernels.dropout(x, decisions: d)
    /// let gx = Kernels.dropoutBackward(gy, decisions: d)     // the same mask, regenerated
    /// ```
    public static func dropout(_ x: Tensor, decisions: DropoutDecisions, kind: DropoutKind = .inverted) -> Tensor {
        let out = Tensor(uninitializedShape: x.shape, dtype: x.dtype, device: x.device)
        dropout(x, into: out, decisions: decisions, kind: kind)
        return out
    }

    /// Element-wise dropout of `x` written into `out` (same shape and dtype; `out` may view `x`'s
    /// storage for in-place dropout).
    public static func dropout(_ x: Tensor, into out: Tensor, decisions: DropoutDecisions, kind: DropoutKind = .inverted) {
        checkDropoutOperands(x, out)
        backend(x, out).dropout(x, into: out, decisions: decisions, kind: kind)
    }

    /// The gradient of ``dropout(_:decisions:kind:)``.
    public static func dropoutBackward(_ gradOutput: Tensor, decisions: DropoutDecisions, kind: DropoutKind = .inverted) -> Tensor {
        checkDropoutOperands(gradOutput, gradOutput)
        return backend(gradOutput).dropoutBackward(gradOutput, decisions: decisions, kind: kind)
    }

    /// Channel-wise dropout: rows of `rowLength` contiguous elements share decision `i / rowLength`.
    public static func channelDropout(_ x: Tensor, rowLength: Int, decisions: DropoutDecisions, kind: DropoutKind = .inverted) -> Tensor {
        let out = Tensor(uninitializedShape: x.shape, dtype: x.dtype, device: x.device)
        channelDropout(x, into: out, rowLength: rowLength, decisions: decisions, kind: kind)
        return out
    }

    /// Channel-wise dropout written into `out` (which may view `x`'s storage).
    public static func channelDropout(_ x: Tensor, into out: Tensor, rowLength: Int, decisions: DropoutDecisions,
                                      kind: DropoutKind = .inverted) {
        checkDropoutOperands(x, out)
        backend(x, out).channelDropout(x, into: out, rowLength: rowLength, decisions: decisions, kind: kind)
    }

    /// The gradient of ``channelDropout(_:rowLength:decisions:kind:)``.
    public static func channelDropoutBackward(_ gradOutput: Tensor, rowLength: Int, decisions: DropoutDecisions,
                                              kind: DropoutKind = .inverted) -> Tensor {
        checkDropoutOperands(gradOutput, gradOutput)
        return backend(gradOutput).channelDropoutBackward(gradOutput, rowLength: rowLength, decisions: decisions, kind: kind)
    }

    /// `x * 0` (dropout with p = 1, and its gradient): NaN and infinities give NaN, negatives `-0.0`.
    public static func timesZero(_ x: Tensor) -> Tensor {
        checkDropoutOperands(x, x)
        return backend(x).timesZero(x)
    }

    /// The mask (1 kept, 0 dropped) of `count` element-wise decisions, as a float32 tensor: for
    /// tests and tools, not used by the layers.
    public static func dropoutMask(count: Int, decisions: DropoutDecisions) -> Tensor {
        Device.cpu.backend.dropoutMask(count: count, decisions: decisions)
    }

    private static func checkDropoutOperands(_ x: Tensor, _ out: Tensor) {
        precondition(x.dtype.isFloatingPoint, "dropout: expected a floating-point tensor, got \(x.dtype)")
        precondition(x.count == out.count && x.dtype == out.dtype, "dropout: output does not match input")
    }
}
