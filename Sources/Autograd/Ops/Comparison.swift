import TensorCore

extension Tensor {
    /// `self == other` elementwise (broadcasting), as a bool tensor.
    public func eq(_ other: Tensor) -> Tensor { Kernels.compare(.eq, self, other) }
    /// `self != other` elementwise.
    public func ne(_ other: Tensor) -> Tensor { Kernels.compare(.ne, self, other) }
    /// `self < other` elementwise.
    public func lt(_ other: Tensor) -> Tensor { Kernels.compare(.lt, self, other) }
    /// `self <= other` elementwise.
    public func le(_ other: Tensor) -> Tensor { Kernels.compare(.le, self, other) }
    /// `self > other` elementwise.
    ///
    /// ```swift
    /// let positive = x.gt(0)     // bool tensor
    /// ```
    public func gt(_ other: Tensor) -> Tensor { Kernels.compare(.gt, self, other) }
    /// `self >= other` elementwise.
    public func ge(_ other: Tensor) -> Tensor { Kernels.compare(.ge, self, other) }

    /// `self == value` elementwise.
    public func eq(_ value: Double) -> Tensor { Kernels.compare(.eq, self, value) }
    /// `self != value` elementwise.
    public func ne(_ value: Double) -> Tensor { Kernels.compare(.ne, self, value) }
    /// `self < value` elementwise.
    public func lt(_ value: Double) -> Tensor { Kernels.compare(.lt, self, value) }
    /// `self <= value` elementwise.
    public func le(_ value: Double) -> Tensor { Kernels.compare(.le, self, value) }
    /// `self > value` elementwise.
    public func gt(_ value: Double) -> Tensor { Kernels.compare(.gt, self, value) }
    /// `self >= value` elementwise.
    public func ge(_ value: Double) -> Tensor { Kernels.compare(.ge, self, value) }

    /// `cond ? a : b` elementwise with broadcasting over all three, like `torch.where`.
    ///
    /// ```swift
    /// let y = Tensor.where(x.gt(0), x, x * 0.01)     // leaky ReLU
    /// ```
    public static func `where`(_ cond: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
        let out = Kernels.where(cond, a, b)
        guard Autograd.isRecording(a, b), out.dtype.isFloatingPoint else { return out }
        let c = cond.dtype == .bool ? cond : Kernels.cast(cond, to: .bool)
        return Autograd.record("where", output: out, inputs: [a, b]) { g in
            let zero = Tensor.zeros([], dtype: g.dtype)
            return [gradient(for: a, Kernels.where(c, g, zero)), gradient(for: b, Kernels.where(c, zero, g))]
        }
    }

    /// The throwing check behind `where`: the result shape, or PyTorch's message.
    public static func validateWhere(_ cond: Tensor, _ a: Tensor, _ b: Tensor) throws(UsageError) -> [Int] {
        try Kernels.broadcastShape(try Kernels.broadcastShape(cond.shape, a.shape, op: "where"), b.shape, op: "where")
    }

    /// A copy with `value` wherever `mask` (bool, broadcastable to this shape) is true, like
    /// `masked_fill`.
    ///
    /// ```swift
    /// scores.masked(fill: -.infinity, where: padding)
    /// ```
    public func masked(fill value: Double, where mask: Tensor) -> Tensor {
        orFail { () throws(UsageError) in try validateMasked(mask) }
        let m = mask.dtype == .bool ? mask : Kernels.cast(mask, to: .bool)
        let out = Kernels.where(m, Tensor.full([], value, dtype: dtype), self)
        guard Autograd.isRecording(self), dtype.isFloatingPoint else { return out }
        return Autograd.record("masked_fill", output: out, inputs: [self]) { g in
            [Kernels.where(m, Tensor.zeros([], dtype: g.dtype), g)]
        }
    }

    /// The throwing check behind ``masked(fill:where:)``.
    public func validateMasked(_ mask: Tensor) throws(UsageError) {
        let s = try Kernels.broadcastShape(shape, mask.shape, op: "masked_fill")
        guard s == shape else {
            throw UsageError("masked_fill", "The expanded size of the mask \(shapeString(mask.shape)) must match the tensor's shape \(shapeString(shape))")
        }
    }
}
