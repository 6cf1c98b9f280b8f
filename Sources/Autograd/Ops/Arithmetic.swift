import TensorCore

/// The gradient for input `t` from a gradient `g` of the (possibly broadcast) output: summed back
/// to `t`'s shape and converted to its dtype; nil when `t` takes no gradient.
@inline(__always)
func gradient(for t: Tensor, _ g: @autoclosure () -> Tensor) -> Tensor? {
    guard t.requiresGrad, t.dtype.isFloatingPoint else { return nil }
    return Kernels.cast(Kernels.sumToShape(g(), t.shape), to: t.dtype)
}

extension Tensor {
    /// Records `op(a, b)` computed by the broadcasting kernel.
    static func binaryOp(_ op: BinaryOp, _ a: Tensor, _ b: Tensor) -> Tensor {
        let out = Kernels.binary(op, a, b)
        guard Autograd.isRecording(a, b), out.dtype.isFloatingPoint else { return out }
        // The closure keeps a detached alias of the output, never the output itself (that would be
        // a reference cycle through its node when backward never runs).
        let y = out.detach()
        return Autograd.record(op.rawValue, output: out, inputs: [a, b]) { g in
            switch op {
            case .add:
                return [gradient(for: a, g), gradient(for: b, g)]
            case .sub:
                return [gradient(for: a, g), gradient(for: b, Kernels.unary(.neg, g))]
            case .mul:
                return [gradient(for: a, Kernels.mul(g, b)), gradient(for: b, Kernels.mul(g, a))]
            case .div:
                return [gradient(for: a, Kernels.div(g, b)),
                        gradient(for: b, Kernels.unary(.neg, Kernels.div(Kernels.mul(g, y), b)))]
            case .pow:
                // d(a^b)/da = b·a^(b-1); d(a^b)/db = a^b·log(a).
                return [gradient(for: a, Kernels.mul(g, Kernels.mul(b, Kernels.binary(.pow, a, Kernels.binary(.sub, b, 1))))),
                        gradient(for: b, Kernels.mul(g, Kernels.mul(y, Kernels.unary(.log, a))))]
            case .maximum, .minimum:
                // The gradient goes to the selected input; ties split it evenly, like PyTorch.
                let pickA = Kernels.compare(op == .maximum ? .gt : .lt, a, b)
                let tie = Kernels.compare(.eq, a, b)
                let half = Kernels.mul(g, 0.5)
                let zero = Tensor.zeros([], dtype: g.dtype)
                let ga = Kernels.where(pickA, g, Kernels.where(tie, half, zero))
                let gb = Kernels.where(pickA, zero, Kernels.where(tie, half, g))
                return [gradient(for: a, ga), gradient(for: b, gb)]
            }
        }
    }

    /// Records a unary kernel op; `needsOutput` ops get the output's values in backward.
    func unaryOp(_ op: UnaryOp, needsOutput: Bool = false) -> Tensor {
        let out = Kernels.unary(op, self)
        guard Autograd.isRecording(self), dtype.isFloatingPoint else { return out }
        let y = needsOutput ? out.detach() : nil
        return Autograd.record(op.name, output: out, inputs: [self]) { [self] g in
            [Kernels.unaryBackward(op, grad: g, input: self, output: y)]
        }
    }

    /// Elementwise sum with broadcasting.
    ///
    /// ```swift
    /// let c = Tensor.ones([3, 1, 4]) + Tensor.ones([2, 1])   // shape [3, 2, 4]
    /// ```
    public static func + (a: Tensor, b: Tensor) -> Tensor { binaryOp(.add, a, b) }
    /// Elementwise difference with broadcasting.
    public static func - (a: Tensor, b: Tensor) -> Tensor { binaryOp(.sub, a, b) }
    /// Elementwise product with broadcasting.
    public static func * (a: Tensor, b: Tensor) -> Tensor { binaryOp(.mul, a, b) }
    /// Elementwise true division with broadcasting (integer tensors give float32).
    public static func / (a: Tensor, b: Tensor) -> Tensor { binaryOp(.div, a, b) }

    /// `a + s` for every element.
    public static func + (a: Tensor, s: Double) -> Tensor {
        let out = Kernels.binary(.add, a, s)
        guard Autograd.isRecording(a), a.dtype.isFloatingPoint else { return out }
        return Autograd.record("add", output: out, inputs: [a]) { g in [gradient(for: a, g)] }
    }
    /// `s + a` for every element.
    public static func + (s: Double, a: Tensor) -> Tensor { a + s }
    /// `a - s` for every element.
    public static func - (a: Tensor, s: Double) -> Tensor {
        let out = Kernels.binary(.sub, a, s)
        guard Autograd.isRecording(a), a.dtype.isFloatingPoint else { return out }
        return Autograd.record("sub", output: out, inputs: [a]) { g in [gradient(for: a, g)] }
    }
    /// `s - a` for every element.
    public static func - (s: Double, a: Tensor) -> Tensor {
        let out = Kernels.binary(.sub, s, a)
        guard Autograd.isRecording(a), a.dtype.isFloatingPoint else { return out }
        return Autograd.record("sub", output: out, inputs: [a]) { g in [gradient(for: a, Kernels.unary(.neg, g))] }
    }
    /// `a · s` for every element.
    public static func * (a: Tensor, s: Double) -> Tensor {
        let out = Kernels.binary(.mul, a, s)
        guard Autograd.isRecording(a), a.dtype.isFloatingPoint else { return out }
        return Autograd.record("mul", output: out, inputs: [a]) { g in [gradient(for: a, Kernels.mul(g, s))] }
    }
    /// `s · a` for every element.
    public static func * (s: Double, a: Tensor) -> Tensor { a * s }
    /// `a / s` for every element.
    public static func / (a: Tensor, s: Double) -> Tensor {
        let out = Kernels.binary(.div, a, s)
        guard Autograd.isRecording(a), a.dtype.isFloatingPoint else { return out }
        return Autograd.record("div", output: out, inputs: [a]) { g in [gradient(for: a, Kernels.binary(.div, g, s))] }
    }
    /// `s / a` for every element.
    public static func / (s: Double, a: Tensor) -> Tensor {
        let out = Kernels.binary(.div, s, a)
        guard Autograd.isRecording(a), a.dtype.isFloatingPoint else { return out }
        let y = out.detach()
        return Autograd.record("div", output: out, inputs: [a]) { g in
            // d(s/a)/da = -s/a² = -(s/a)/a
            [gradient(for: a, Kernels.unary(.neg, Kernels.div(Kernels.mul(g, y), a)))]
        }
    }

    /// Elementwise negation.
    public static prefix func - (a: Tensor) -> Tensor { a.unaryOp(.neg) }

    /// Elementwise negation, like `torch.neg`.
    public func neg() -> Tensor { unaryOp(.neg) }

    /// `self ^ e` elementwise for a constant exponent.
    ///
    /// ```swift
    /// x.pow(2)    // squares
    /// ```
    public func pow(_ e: Double) -> Tensor { unaryOp(.pow(e)) }

    /// `self ^ e` elementwise with broadcasting.
    public func pow(_ e: Tensor) -> Tensor { Tensor.binaryOp(.pow, self, e) }

    /// Elementwise larger of two tensors (NaN propagates), like `torch.maximum`.
    public func maximum(_ other: Tensor) -> Tensor { Tensor.binaryOp(.maximum, self, other) }
    /// Elementwise smaller of two tensors (NaN propagates), like `torch.minimum`.
    public func minimum(_ other: Tensor) -> Tensor { Tensor.binaryOp(.minimum, self, other) }

    /// The throwing check behind the broadcasting operators: the result shape, or PyTorch's
    /// message naming `op` and both shapes.
    public static func validateBroadcast(_ a: Tensor, _ b: Tensor, op: String = "add") throws(UsageError) -> [Int] {
        try Kernels.broadcastShape(a.shape, b.shape, op: op)
    }
}
