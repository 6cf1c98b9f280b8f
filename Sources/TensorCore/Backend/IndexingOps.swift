/// Copies that select, place or gather along one dimension, and index checks.
public protocol IndexingOps {
    /// `parts` (one dtype) concatenated along `dim` (normalised) into a tensor of `shape`.
    func concat(_ parts: [Tensor], dim: Int, shape: [Int]) -> Tensor
    /// Elements `start..<end` along `dim` (bounds clamped), as a contiguous copy.
    func slice(_ t: Tensor, dim: Int, start: Int, end: Int) -> Tensor
    /// Zeros of `shape` with `g` written at `start…` along `dim`.
    func unslice(_ g: Tensor, shape: [Int], dim: Int, start: Int) -> Tensor
    /// Rows `index[i]` along `dim` (int64 1-d index, every entry in range).
    func indexSelect(_ t: Tensor, dim: Int, index: Tensor) -> Tensor
    /// Zeros of `shape` with `source[…, i, …]` added at `index[i]` along `dim` (float dtypes);
    /// entries equal to `skipping` add nothing.
    func indexAdd(shape: [Int], dim: Int, index: Tensor, source: Tensor, skipping: Int64?) -> Tensor
    /// Zeros of `shape` with `g[o, j]` written at `indices[o, j]` along `dim`.
    func scatter(_ g: Tensor, indices: Tensor, dim: Int, shape: [Int]) -> Tensor
    /// The first entry of the int64 tensor `index` outside `0..<bound` that is not `ignoring`,
    /// or nil when there is none.
    func firstIndexOutOfRange(_ index: Tensor, bound: Int, ignoring: Int64?) -> Int64?
}

extension Kernels {
    /// Zeros of `shape` with `g[o, j]` written at position `indices[o, j]` along `dim`: the
    /// backward of `max(dim:)` and friends. `g` and `indices` hold the reduced shape (with or
    /// without the kept dim).
    public static func scatter(_ g: Tensor, indices: Tensor, dim: Int, shape: [Int], keepDim: Bool) -> Tensor {
        backend(g, indices).scatter(g, indices: indices, dim: dim, shape: shape)
    }

    /// The shape of concatenating tensors of `shapes` along `dim`, or PyTorch's error.
    public static func concatShape(_ shapes: [[Int]], dim: Int, op: String = "cat") throws(UsageError) -> (shape: [Int], dim: Int) {
        guard let first = shapes.first else { throw UsageError(op, "expected a non-empty list of Tensors") }
        let d = try normalizeDim(dim, rank: first.count, op: op)
        if first.isEmpty { throw UsageError(op, "zero-dimensional tensor (at position 0) cannot be concatenated") }
        var out = first
        out[d] = 0
        for (i, s) in shapes.enumerated() {
            guard s.count == first.count else {
                throw UsageError(op, "Tensors must have same number of dimensions: got \(first.count) and \(s.count)")
            }
            for k in 0..<s.count where k != d && s[k] != first[k] {
                throw UsageError(op, "Sizes of tensors must match except in dimension \(d). Expected size \(first[k]) but got size \(s[k]) for tensor number \(i) in the list.")
            }
            out[d] += s[d]
        }
        return (out, d)
    }

    /// Concatenation along `dim` (dtypes promoted).
    public static func concat(_ ts: [Tensor], dim: Int) -> Tensor {
        let (shape, d) = orFail { () throws(UsageError) in try concatShape(ts.map(\.shape), dim: dim) }
        let dt = ts.dropFirst().reduce(ts[0].dtype) { DType.promoted($0, $1.dtype) }
        let parts = ts.map { cast($0, to: dt) }
        for p in parts.dropFirst() { _ = backend(parts[0], p) }
        return backend(parts[0]).concat(parts, dim: d, shape: shape)
    }

    /// PyTorch's clamping of slice bounds: negatives count from the end, then clipped to `[0, size]`.
    public static func sliceBounds(start: Int, end: Int, size: Int) -> (start: Int, end: Int) {
        var s = start < 0 ? start + size : start
        var e = end < 0 ? end + size : end
        s = Swift.min(Swift.max(s, 0), size)
        e = Swift.min(Swift.max(e, s), size)
        return (s, e)
    }

    /// Elements `start..<end` along `dim` (bounds already clamped), as a contiguous copy.
    public static func slice(_ t: Tensor, dim: Int, start: Int, end: Int) -> Tensor {
        backend(t).slice(t, dim: dim, start: start, end: end)
    }

    /// Zeros of `shape` with `g` written at `start…` along `dim`: the backward of ``slice``.
    public static func unslice(_ g: Tensor, shape: [Int], dim: Int, start: Int) -> Tensor {
        backend(g).unslice(g, shape: shape, dim: dim, start: start)
    }

    /// Checks an index tensor for `indexSelect` against a dim of `size`.
    public static func validateIndex(_ index: Tensor, size: Int, op: String = "index_select") throws(UsageError) {
        guard index.dtype == .int64 else {
            throw UsageError(op, "\(op)(): Expected dtype int64 for index but got \(index.dtype)")
        }
        guard index.rank <= 1 else { throw UsageError(op, "\(op)(): Index is supposed to be a vector") }
        if let bad = firstIndexOutOfRange(index, bound: size) {
            throw UsageError(op, "index out of range in self (index \(bad) for a dimension of size \(size))")
        }
    }

    /// The first entry of the int64 tensor `index` outside `0..<bound` that is not `ignoring`, or
    /// nil when every entry is in range: class-index and embedding checks.
    ///
    /// ```swift
    /// Kernels.firstIndexOutOfRange(Tensor([0, 7, 2] as [Int64]), bound: 5)   // 7
    /// ```
    public static func firstIndexOutOfRange(_ index: Tensor, bound: Int, ignoring: Int64? = nil) -> Int64? {
        precondition(index.dtype == .int64, "firstIndexOutOfRange: expected an int64 tensor, got \(index.dtype)")
        return backend(index).firstIndexOutOfRange(index, bound: bound, ignoring: ignoring)
    }

    /// Rows `index[i]` along `dim` (index: int64, 1-d, validated).
    public static func indexSelect(_ t: Tensor, dim: Int, index: Tensor) -> Tensor {
        backend(t, index).indexSelect(t, dim: dim, index: index)
    }

    /// Zeros of `shape` with `source[…, i, …]` added at `index[i]` along `dim` (float dtypes):
    /// the backward of ``indexSelect``. Entries equal to `skipping` (an embedding's padding row)
    /// add nothing.
    public static func indexAdd(shape: [Int], dim: Int, index: Tensor, source: Tensor, skipping: Int64? = nil) -> Tensor {
        precondition(source.dtype.isFloatingPoint, "indexAdd: float dtypes only")
        return backend(source, index).indexAdd(shape: shape, dim: dim, index: index, source: source, skipping: skipping)
    }
}
