import TensorCore

extension Tensor {
    /// The same elements with another shape (one `-1` is inferred). Shares storage.
    ///
    /// ```swift
    /// Tensor.arange(0, 6).reshaped([2, -1]).shape   // [2, 3]
    /// ```
    public func reshaped(_ shape: [Int]) -> Tensor {
        let s = orFail { () throws(UsageError) in try Kernels.inferShape(shape, count: count, op: "reshape") }
        return reshapedUnchecked(s, name: "reshape")
    }

    /// Alias of ``reshaped(_:)`` (`Tensor.view` in PyTorch).
    public func view(_ shape: [Int]) -> Tensor {
        let s = orFail { () throws(UsageError) in try Kernels.inferShape(shape, count: count, op: "view") }
        return reshapedUnchecked(s, name: "view")
    }

    /// The throwing check behind `reshaped`/`view`: the resolved shape, or PyTorch's message.
    public func validateReshape(_ shape: [Int]) throws(UsageError) -> [Int] {
        try Kernels.inferShape(shape, count: count, op: "reshape")
    }

    func reshapedUnchecked(_ s: [Int], name: String) -> Tensor {
        let out = viewData(s)
        guard Autograd.isRecording(self) else { return out }
        let inShape = shape
        return Autograd.record(name, output: out, inputs: [self]) { g in [g.viewData(inShape)] }
    }

    /// Dims `startDim…endDim` merged into one. Shares storage.
    ///
    /// ```swift
    /// Tensor.zeros([2, 3, 4]).flattened(startDim: 1).shape   // [2, 12]
    /// ```
    public func flattened(startDim: Int = 0, endDim: Int = -1) -> Tensor {
        if rank == 0 { return reshapedUnchecked([1], name: "flatten") }
        let (s, e) = orFail { () throws(UsageError) in
            (try Kernels.normalizeDim(startDim, rank: rank, op: "flatten"), try Kernels.normalizeDim(endDim, rank: rank, op: "flatten"))
        }
        usageCheck(s <= e, "flatten", "flatten() has invalid args: start_dim cannot come after end_dim")
        var newShape = Array(shape[..<s])
        newShape.append(shape[s...e].reduce(1, *))
        newShape += shape[(e + 1)...]
        return reshapedUnchecked(newShape, name: "flatten")
    }

    /// Removes `dim` when its size is 1 (otherwise returns the same shape, like PyTorch).
    public func squeezed(dim: Int) -> Tensor {
        let d = orFail { () throws(UsageError) in try Kernels.normalizeDim(dim, rank: rank, op: "squeeze") }
        var s = shape
        if rank > 0 && s[d] == 1 { s.remove(at: d) }
        return reshapedUnchecked(s, name: "squeeze")
    }

    /// Removes every dim of size 1.
    public func squeezed() -> Tensor { reshapedUnchecked(shape.filter { $0 != 1 }, name: "squeeze") }

    /// Inserts a dim of size 1 at `dim` (`-1` appends).
    ///
    /// ```swift
    /// Tensor.zeros([3]).unsqueezed(dim: 0).shape   // [1, 3]
    /// ```
    public func unsqueezed(dim: Int) -> Tensor {
        let d = orFail { () throws(UsageError) in try Kernels.normalizeDim(dim, rank: rank + 1, op: "unsqueeze") }
        var s = shape
        s.insert(1, at: d)
        return reshapedUnchecked(s, name: "unsqueeze")
    }

    /// Dims reordered: output dim `i` is input dim `dims[i]`. A contiguous copy.
    ///
    /// ```swift
    /// Tensor.zeros([2, 3, 4]).permuted([2, 0, 1]).shape   // [4, 2, 3]
    /// ```
    public func permuted(_ dims: [Int]) -> Tensor {
        let nd = orFail { () throws(UsageError) in try validatePermutation(dims) }
        let out = Kernels.permute(self, nd)
        guard Autograd.isRecording(self) else { return out === self ? viewData(shape) : out }
        var inverse = [Int](repeating: 0, count: nd.count)
        for (i, d) in nd.enumerated() { inverse[d] = i }
        return Autograd.record("permute", output: out === self ? viewData(shape) : out, inputs: [self]) { g in
            [Kernels.permute(g, inverse)]
        }
    }

    /// The throwing check behind ``permuted(_:)``: normalised dims, or PyTorch's message.
    public func validatePermutation(_ dims: [Int]) throws(UsageError) -> [Int] {
        guard dims.count == rank else {
            throw UsageError("permute", "permute(sparse_coo): number of dimensions in the tensor input does not match the length of the desired ordering of dimensions i.e. input.dim() = \(rank) is not equal to len(dims) = \(dims.count)")
        }
        var seen = Set<Int>()
        var out: [Int] = []
        for d in dims {
            let n = try Kernels.normalizeDim(d, rank: rank, op: "permute")
            guard seen.insert(n).inserted else { throw UsageError("permute", "permute(): duplicate dims are not allowed.") }
            out.append(n)
        }
        return out
    }

    /// The last two dims swapped (a 0-d or 1-d tensor is returned unchanged).
    public func transposed() -> Tensor {
        if rank < 2 { return reshapedUnchecked(shape, name: "transpose") }
        return transposed(rank - 2, rank - 1)
    }

    /// Dims `d0` and `d1` swapped. A contiguous copy.
    public func transposed(_ d0: Int, _ d1: Int) -> Tensor {
        let (a, b) = orFail { () throws(UsageError) in
            (try Kernels.normalizeDim(d0, rank: rank, op: "transpose"), try Kernels.normalizeDim(d1, rank: rank, op: "transpose"))
        }
        if rank == 0 { return reshapedUnchecked(shape, name: "transpose") }
        var p = Array(0..<rank)
        p.swapAt(a, b)
        return permuted(p)
    }

    /// A copy broadcast to `shape` (`-1` keeps a dim's size); the gradient sums back.
    ///
    /// ```swift
    /// Tensor.ones([3, 1]).expanded(to: [2, 3, 4]).shape   // [2, 3, 4]
    /// ```
    public func expanded(to shape: [Int]) -> Tensor {
        var target = shape
        let off = shape.count - rank
        for i in 0..<target.count where target[i] == -1 && i >= off { target[i] = self.shape[i - off] }
        orFail { () throws(UsageError) in try Kernels.validateExpand(self.shape, to: target) }
        let out = target == self.shape ? viewData(target) : Kernels.expand(self, to: target)
        guard Autograd.isRecording(self) else { return out }
        let inShape = self.shape
        return Autograd.record("expand", output: out, inputs: [self]) { g in [Kernels.sumToShape(g, inShape)] }
    }

    /// Sums a broadcast result back to `shape` (PyTorch's `sum_to_size`); differentiable.
    ///
    /// ```swift
    /// Tensor.ones([2, 3, 4]).sumToShape([3, 1]).scalars   // [8, 8, 8]
    /// ```
    public func sumToShape(_ shape: [Int]) -> Tensor {
        orFail { () throws(UsageError) in try Kernels.validateSumToShape(self.shape, shape) }
        let out = shape == self.shape ? viewData(shape) : Kernels.sumToShape(self, shape)
        guard Autograd.isRecording(self) else { return out }
        let inShape = self.shape
        return Autograd.record("sum_to_size", output: out, inputs: [self]) { g in [Kernels.expand(g, to: inShape)] }
    }

    /// This tensor converted to `dtype` (float ↔ float conversions pass gradients through).
    ///
    /// ```swift
    /// x.to(.float64)
    /// ```
    public func to(_ dtype: DType) -> Tensor {
        if dtype == self.dtype { return self }
        let out = Kernels.cast(self, to: dtype)
        guard Autograd.isRecording(self), dtype.isFloatingPoint, self.dtype.isFloatingPoint else { return out }
        let src = self.dtype
        return Autograd.record("to", output: out, inputs: [self]) { g in [Kernels.cast(g, to: src)] }
    }
}
