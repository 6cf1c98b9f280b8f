import TensorCore

extension Tensor {
    /// Tensors joined along an existing `dim` (dtypes promoted), like `torch.cat`.
    ///
    /// ```swift
    /// Tensor.concat([a, b], dim: 0)     // [2, 3] + [4, 3] → [6, 3]
    /// ```
    public static func concat(_ ts: [Tensor], dim: Int = 0) -> Tensor {
        let (_, d) = orFail { () throws(UsageError) in try Kernels.concatShape(ts.map(\.shape), dim: dim) }
        let out = Kernels.concat(ts, dim: d)
        guard Autograd.isRecording(ts), out.dtype.isFloatingPoint else { return out }
        let sizes = ts.map { $0.shape[d] }
        return Autograd.record("cat", output: out, inputs: ts) { g in
            var start = 0
            var grads: [Tensor?] = []
            for (t, n) in zip(ts, sizes) {
                grads.append(t.requiresGrad && t.dtype.isFloatingPoint
                             ? Kernels.cast(Kernels.slice(g, dim: d, start: start, end: start + n), to: t.dtype) : nil)
                start += n
            }
            return grads
        }
    }

    /// The throwing check behind ``concat(_:dim:)``: the result shape, or PyTorch's message.
    public static func validateConcat(_ ts: [Tensor], dim: Int = 0) throws(UsageError) -> [Int] {
        try Kernels.concatShape(ts.map(\.shape), dim: dim).shape
    }

    /// Tensors of equal shape joined along a new `dim`, like `torch.stack`.
    ///
    /// ```swift
    /// Tensor.stack([a, b], dim: 0)      // two [3] → [2, 3]
    /// ```
    public static func stack(_ ts: [Tensor], dim: Int = 0) -> Tensor {
        orFail { () throws(UsageError) in try validateStack(ts, dim: dim) }
        let d = orFail { () throws(UsageError) in try Kernels.normalizeDim(dim, rank: ts[0].rank + 1, op: "stack") }
        return concat(ts.map { $0.unsqueezed(dim: d) }, dim: d)
    }

    /// The throwing check behind ``stack(_:dim:)``.
    public static func validateStack(_ ts: [Tensor], dim: Int = 0) throws(UsageError) {
        guard let first = ts.first else { throw UsageError("stack", "stack expects a non-empty TensorList") }
        _ = try Kernels.normalizeDim(dim, rank: first.rank + 1, op: "stack")
        for (i, t) in ts.enumerated() where t.shape != first.shape {
            throw UsageError("stack", "stack expects each tensor to be equal size, but got \(shapeString(first.shape)) at entry 0 and \(shapeString(t.shape)) at entry \(i)")
        }
    }

    /// Elements `start..<end` along `dim` (negative bounds count from the end; bounds are clipped
    /// like Python slices). A copy, except along dim 0 where it shares storage.
    ///
    /// ```swift
    /// x.sliced(dim: 1, start: 0, end: 2)     // x[:, 0:2]
    /// ```
    public func sliced(dim: Int, start: Int, end: Int) -> Tensor {
        let d = orFail { () throws(UsageError) in try Kernels.normalizeDim(dim, rank: rank, op: "slice") }
        usageCheck(rank > 0, "slice", "slice() cannot be applied to a 0-dim tensor.")
        let (s, e) = Kernels.sliceBounds(start: start, end: end, size: shape[d])
        var outShape = shape
        outShape[d] = e - s
        let out: Tensor
        if d == 0 || shape[..<d].allSatisfy({ $0 == 1 }) {
            // Rows of a contiguous tensor are contiguous: view them.
            let inner = shape[(d + 1)...].reduce(1, *)
            out = Tensor(storage: storage, shape: outShape, dtype: dtype, offset: storageOffset + s * inner)
        } else {
            out = Kernels.slice(self, dim: d, start: s, end: e)
        }
        guard Autograd.isRecording(self) else { return out }
        let inShape = shape
        return Autograd.record("slice", output: out, inputs: [self]) { g in
            [Kernels.unslice(g, shape: inShape, dim: d, start: s)]
        }
    }

    /// Element `i` along dim 0 (negative counts from the end), with that dim removed. Shares storage.
    ///
    /// ```swift
    /// let firstImage = batch[0]
    /// ```
    public subscript(i: Int) -> Tensor {
        usageCheck(rank > 0, "select", "select() cannot be applied to a 0-dim tensor.")
        let n = shape[0]
        usageCheck(i >= -n && i < n, "select", "index \(i) is out of bounds for dimension 0 with size \(n)")
        let k = i < 0 ? i + n : i
        return sliced(dim: 0, start: k, end: k + 1).squeezed(dim: 0)
    }

    /// Rows `index[i]` along `dim` (`index`: int64, 1-d), like `torch.index_select`.
    ///
    /// ```swift
    /// embeddings.indexSelect(dim: 0, index: tokenIds)
    /// ```
    public func indexSelect(dim: Int, index: Tensor) -> Tensor {
        let d = orFail { () throws(UsageError) in try validateIndexSelect(dim: dim, index: index) }
        let out = Kernels.indexSelect(self, dim: d, index: index)
        guard Autograd.isRecording(self), dtype.isFloatingPoint else { return out }
        let inShape = shape
        return Autograd.record("index_select", output: out, inputs: [self]) { g in
            [Kernels.indexAdd(shape: inShape, dim: d, index: index, source: g)]
        }
    }

    /// The throwing check behind ``indexSelect(dim:index:)``: the normalised dim.
    public func validateIndexSelect(dim: Int, index: Tensor) throws(UsageError) -> Int {
        let d = try Kernels.normalizeDim(dim, rank: rank, op: "index_select")
        try Kernels.validateIndex(index, size: rank == 0 ? 1 : shape[d])
        return d
    }

    /// `n` pieces along `dim` of size ⌈size/n⌉ each (the last may be smaller), like `torch.chunk`.
    public func chunked(_ n: Int, dim: Int = 0) -> [Tensor] {
        usageCheck(n > 0, "chunk", "chunk expects `chunks` to be greater than 0, got: \(n)")
        let d = orFail { () throws(UsageError) in try Kernels.normalizeDim(dim, rank: rank, op: "chunk") }
        let size = shape[d]
        let step = Swift.max(1, (size + n - 1) / n)
        var parts: [Tensor] = []
        var s = 0
        while s < size {
            parts.append(sliced(dim: d, start: s, end: Swift.min(size, s + step)))
            s += step
        }
        if parts.isEmpty { parts.append(sliced(dim: d, start: 0, end: 0)) }
        return parts
    }
}

extension Autograd {
    /// Whether `record` would attach a node for these inputs.
    public static func isRecording(_ inputs: [Tensor]) -> Bool {
        GradMode.isEnabled && inputs.contains { $0.requiresGrad }
    }
}
