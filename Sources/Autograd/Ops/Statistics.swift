import TensorCore

extension Tensor {
    /// Variance over `dims` (empty = all) with PyTorch's `correction` (1: Bessel's unbiased
    /// estimate, the default; 0: the population variance): Σ(x − mean)² / max(0, N − correction).
    /// Differentiable.
    ///
    /// ```swift
    /// x.variance(dims: [0], correction: 0)
    /// ```
    public func variance(dims: [Int], correction: Double, keepDim: Bool = false) -> Tensor {
        let biased = variance(dims: dims, unbiased: false, keepDim: keepDim)
        let nd = orFail { () throws(UsageError) in try Kernels.normalizeDims(dims, rank: rank, op: "var") }
        let n = Double(nd.reduce(1) { $0 * shape[$1] })
        // N / max(0, N − correction): infinite (and NaN for a zero sum) when no degree of freedom
        // is left, as in PyTorch.
        return biased * (n / Swift.max(0, n - correction))
    }

    /// Standard deviation over `dims` (empty = all), like `torch.std`: unbiased by default
    /// (`correction: 1`), `correction: 0` for the population value. Differentiable.
    ///
    /// ```swift
    /// x.std()                              // one value, unbiased
    /// x.std(dim: 1, keepDim: true)         // per row
    /// x.std(dims: [0, 2], correction: 0)
    /// ```
    public func std(dims: [Int] = [], correction: Double = 1, keepDim: Bool = false) -> Tensor {
        usageCheck(dtype.isFloatingPoint, "std", "std and var only support floating point and complex dtypes")
        return variance(dims: dims, correction: correction, keepDim: keepDim).sqrt()
    }

    /// Standard deviation over one dim.
    public func std(dim: Int, correction: Double = 1, keepDim: Bool = false) -> Tensor {
        std(dims: [dim], correction: correction, keepDim: keepDim)
    }
}
