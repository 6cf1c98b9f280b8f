import TensorCore

extension Tensor {
    /// Gradient of a reduction over `dims` (normalised) broadcast back to `shape`.
    static func expandReduced(_ g: Tensor, dims: [Int], shape: [Int], keepDim: Bool) -> Tensor {
        var kept = shape
        for d in dims { kept[d] = 1 }
        let gk = keepDim ? g : g.viewData(kept)
        return Kernels.expand(gk, to: shape)
    }

    /// Sum of all elements, as a 0-d tensor.
    ///
    /// ```swift
    /// Tensor([1, 2, 3] as [Float]).sum().item()   // 6
    /// ```
    public func sum() -> Tensor { sum(dims: [], keepDim: false) }

    /// Mean of all elements, as a 0-d tensor.
    public func mean() -> Tensor { mean(dims: [], keepDim: false) }

    /// Sum over one dim (negative counts from the end).
    public func sum(dim: Int, keepDim: Bool = false) -> Tensor { sum(dims: [dim], keepDim: keepDim) }

    /// Sum over several dims (empty = all).
    ///
    /// ```swift
    /// x.sum(dims: [0, 2], keepDim: true)
    /// ```
    public func sum(dims: [Int], keepDim: Bool = false) -> Tensor {
        let nd = orFail { () throws(UsageError) in try Kernels.normalizeDims(dims, rank: rank, op: "sum") }
        let out = Kernels.reduceSumNormalized(self, dims: nd, keepDim: keepDim)
        guard Autograd.isRecording(self), dtype.isFloatingPoint else { return out }
        let shape = self.shape
        return Autograd.record("sum", output: out, inputs: [self]) { g in
            [Tensor.expandReduced(g, dims: nd, shape: shape, keepDim: keepDim)]
        }
    }

    /// Mean over one dim.
    public func mean(dim: Int, keepDim: Bool = false) -> Tensor { mean(dims: [dim], keepDim: keepDim) }

    /// Mean over several dims (empty = all). Float dtypes only, like PyTorch.
    public func mean(dims: [Int], keepDim: Bool = false) -> Tensor {
        usageCheck(dtype.isFloatingPoint, "mean",
                   "mean(): could not infer output dtype. Input dtype must be either a floating point or complex dtype. Got: \(dtype)")
        let nd = orFail { () throws(UsageError) in try Kernels.normalizeDims(dims, rank: rank, op: "mean") }
        let out = Kernels.mean(self, dims: nd, keepDim: keepDim)
        guard Autograd.isRecording(self) else { return out }
        let shape = self.shape
        let n = nd.reduce(1) { $0 * shape[$1] }
        return Autograd.record("mean", output: out, inputs: [self]) { g in
            [Kernels.mul(Tensor.expandReduced(g, dims: nd, shape: shape, keepDim: keepDim), 1 / Double(n))]
        }
    }

    /// Variance over `dims` (empty = all), with Bessel's correction when `unbiased`.
    ///
    /// ```swift
    /// x.variance(dims: [0], unbiased: false)
    /// ```
    public func variance(dims: [Int] = [], unbiased: Bool = true, keepDim: Bool = false) -> Tensor {
        usageCheck(dtype.isFloatingPoint, "var", "std and var only support floating point and complex dtypes")
        let nd = orFail { () throws(UsageError) in try Kernels.normalizeDims(dims, rank: rank, op: "var") }
        let out = Kernels.variance(self, dims: nd, unbiased: unbiased, keepDim: keepDim)
        guard Autograd.isRecording(self) else { return out }
        let shape = self.shape
        let n = nd.reduce(1) { $0 * shape[$1] }
        return Autograd.record("var", output: out, inputs: [self]) { [self] g in
            // d var / dx = 2 (x - mean) / (n - correction)
            let m = Kernels.mean(self, dims: nd, keepDim: true)
            let d = Kernels.sub(self, m)
            let ge = Tensor.expandReduced(g, dims: nd, shape: shape, keepDim: keepDim)
            return [Kernels.mul(Kernels.mul(d, ge), 2 / Double(n - (unbiased ? 1 : 0)))]
        }
    }

    /// Variance over one dim.
    public func variance(dim: Int, unbiased: Bool = true, keepDim: Bool = false) -> Tensor {
        variance(dims: [dim], unbiased: unbiased, keepDim: keepDim)
    }

    /// Largest element, as a 0-d tensor. The gradient is shared evenly among tied maxima.
    public func max() -> Tensor { extremumAll(largest: true) }
    /// Smallest element, as a 0-d tensor.
    public func min() -> Tensor { extremumAll(largest: false) }

    private func extremumAll(largest: Bool) -> Tensor {
        let out = Kernels.extremumAll(self, largest: largest)
        guard Autograd.isRecording(self), dtype.isFloatingPoint else { return out }
        let v = out.detach()
        return Autograd.record(largest ? "max" : "min", output: out, inputs: [self]) { [self] g in
            let mask = Kernels.cast(Kernels.compare(.eq, self, v), to: dtype)
            let count = Kernels.sumAll(mask)
            return [Kernels.mul(mask, Kernels.div(g, count))]
        }
    }

    /// Largest values along `dim` and their int64 positions (first occurrence).
    ///
    /// ```swift
    /// let (values, indices) = logits.max(dim: 1)
    /// ```
    public func max(dim: Int, keepDim: Bool = false) -> (values: Tensor, indices: Tensor) {
        extremum(dim: dim, keepDim: keepDim, largest: true)
    }

    /// Smallest values along `dim` and their int64 positions (first occurrence).
    public func min(dim: Int, keepDim: Bool = false) -> (values: Tensor, indices: Tensor) {
        extremum(dim: dim, keepDim: keepDim, largest: false)
    }

    private func extremum(dim: Int, keepDim: Bool, largest: Bool) -> (values: Tensor, indices: Tensor) {
        let (values, indices) = Kernels.extremum(self, dim: dim, keepDim: keepDim, largest: largest)
        guard Autograd.isRecording(self), dtype.isFloatingPoint else { return (values, indices) }
        let d = orFail { () throws(UsageError) in try Kernels.normalizeDim(dim, rank: rank, op: largest ? "max" : "min") }
        let shape = self.shape, r = rank
        Autograd.record(largest ? "max" : "min", output: values, inputs: [self]) { g in
            if r == 0 { return [g] }
            return [Kernels.scatter(g, indices: indices, dim: d, shape: shape, keepDim: keepDim)]
        }
        return (values, indices)
    }

    /// Positions (int64) of the largest values along `dim`.
    public func argmax(dim: Int, keepDim: Bool = false) -> Tensor {
        Kernels.extremum(self, dim: dim, keepDim: keepDim, largest: true).indices
    }

    /// Position (int64, 0-d) of the largest element of the flattened tensor.
    public func argmax() -> Tensor {
        Kernels.extremum(viewData([count]), dim: 0, keepDim: false, largest: true).indices
    }

    /// Positions (int64) of the smallest values along `dim`.
    public func argmin(dim: Int, keepDim: Bool = false) -> Tensor {
        Kernels.extremum(self, dim: dim, keepDim: keepDim, largest: false).indices
    }
}
