/// Reductions along dimensions, and softmax (a reduction followed by a map).
public protocol ReductionOps {
    /// Sum over `dims` (normalised: non-negative, sorted, unique). Float sums stay in their dtype,
    /// integer and bool inputs give int64; a fresh tensor even when nothing is reduced.
    func sum(_ t: Tensor, dims: [Int], keepDim: Bool) -> Tensor
    /// Largest (or smallest) values along `dim` (normalised, non-empty) and their int64 indices:
    /// the first occurrence, a NaN wins.
    func extremum(_ t: Tensor, dim: Int, keepDim: Bool, largest: Bool) -> (values: Tensor, indices: Tensor)
    /// Softmax (or log-softmax) of a float tensor along `dim` (normalised).
    func softmax(_ t: Tensor, dim: Int, log: Bool) -> Tensor
    /// Backward of ``softmax(_:dim:log:)`` from its output `y`: softmax `y·(g − Σ g·y)`,
    /// log-softmax `g − e^y·Σ g`.
    func softmaxBackward(grad: Tensor, output: Tensor, dim: Int, log: Bool) -> Tensor
}

extension Kernels {
    /// Sum over `dims` (negative dims allowed; empty = all). Float sums accumulate in blocks of
    /// SIMD lanes merged in Double, so large tensors stay accurate; integer and bool inputs give int64.
    ///
    /// ```swift
    /// Kernels.sum(x, dims: [0, 2], keepDim: true)
    /// ```
    public static func sum(_ t: Tensor, dims: [Int], keepDim: Bool = false) -> Tensor {
        let nd = orFail { () throws(UsageError) in try normalizeDims(dims, rank: t.rank, op: "sum") }
        return backend(t).sum(t, dims: nd, keepDim: keepDim)
    }

    /// Sum over normalised, sorted dims (see ``sum(_:dims:keepDim:)``), for callers that have
    /// already validated them.
    public static func reduceSumNormalized(_ t: Tensor, dims: [Int], keepDim: Bool) -> Tensor {
        backend(t).sum(t, dims: dims, keepDim: keepDim)
    }

    /// Sum of every element, as a 0-d tensor.
    public static func sumAll(_ t: Tensor) -> Tensor { backend(t).sum(t, dims: Array(0..<t.rank), keepDim: false) }

    /// Mean over `dims` (float dtypes).
    public static func mean(_ t: Tensor, dims: [Int], keepDim: Bool = false) -> Tensor {
        let nd = orFail { () throws(UsageError) in try normalizeDims(dims, rank: t.rank, op: "mean") }
        let n = nd.reduce(1) { $0 * t.shape[$1] }
        return scaledInPlace(backend(t).sum(t, dims: nd, keepDim: keepDim), by: 1 / Double(n))
    }

    /// `t · c`, reusing `t`'s memory when it is a float tensor (callers pass fresh results only).
    static func scaledInPlace(_ t: Tensor, by c: Double) -> Tensor {
        guard t.dtype.isFloatingPoint else { return unary(.scale(c), t) }
        backend(t).unary(.scale(c), t, into: t)
        return t
    }

    /// Reduces a broadcast result back to `shape` by summing the broadcast dims (`sum_to_size`).
    public static func sumToShape(_ t: Tensor, _ shape: [Int]) -> Tensor {
        if t.shape == shape { return t }
        orFail { () throws(UsageError) in try validateSumToShape(t.shape, shape) }
        let off = t.rank - shape.count
        var dims = Array(0..<off)
        for i in 0..<shape.count where shape[i] == 1 && t.shape[i + off] != 1 { dims.append(i + off) }
        return backend(t).sum(t, dims: dims, keepDim: true).viewData(shape)
    }

    /// Largest (or smallest) values along `dim` and their int64 indices (first occurrence; NaN wins).
    public static func extremum(_ t: Tensor, dim: Int, keepDim: Bool, largest: Bool) -> (values: Tensor, indices: Tensor) {
        let name = largest ? "max" : "min"
        let d = orFail { () throws(UsageError) in try normalizeDim(dim, rank: t.rank, op: name) }
        usageCheck((t.rank == 0 ? 1 : t.shape[d]) > 0, name, "Expected reduction dim \(d) to have non-zero size.")
        return backend(t).extremum(t, dim: d, keepDim: keepDim, largest: largest)
    }

    /// Largest (or smallest) element as a 0-d tensor.
    public static func extremumAll(_ t: Tensor, largest: Bool) -> Tensor {
        usageCheck(t.count > 0, largest ? "max" : "min",
                   "max(): Expected reduction dim to be specified for input.numel() == 0. Specify the reduction dim with the 'dim' argument.")
        return extremum(t.viewData([t.count]), dim: 0, keepDim: false, largest: largest).values
    }

    /// Variance over `dims` with Bessel's correction when `unbiased` (two passes: mean, then
    /// squared deviations).
    public static func variance(_ t: Tensor, dims: [Int], unbiased: Bool, keepDim: Bool) -> Tensor {
        let nd = orFail { () throws(UsageError) in try normalizeDims(dims, rank: t.rank, op: "var") }
        let n = nd.reduce(1) { $0 * t.shape[$1] }
        let m = mean(t, dims: nd, keepDim: true)
        let d = sub(t, m)
        let s = backend(t).sum(binary(.mul, d, d), dims: nd, keepDim: keepDim)
        return scaledInPlace(s, by: 1 / Double(n - (unbiased ? 1 : 0)))
    }

    /// Softmax (or log-softmax) along `dim` (normalised), computed stably by subtracting the
    /// maximum first.
    public static func softmax(_ t: Tensor, dim: Int, log: Bool) -> Tensor {
        precondition(t.dtype.isFloatingPoint, "softmax: float dtypes only")
        return backend(t).softmax(t, dim: dim, log: log)
    }

    /// Backward of ``softmax(_:dim:log:)`` from its output `y`:
    /// softmax `y·(g − Σ g·y)`, log-softmax `g − e^y·Σ g`.
    public static func softmaxBackward(grad: Tensor, output: Tensor, dim: Int, log: Bool) -> Tensor {
        backend(output, grad).softmaxBackward(grad: grad, output: output, dim: dim, log: log)
    }
}
