import Foundation

extension Kernels {
    /// Sum over normalised, sorted dims (see ``sum(_:dims:keepDim:)``), for callers that have
    /// already validated them.
    public static func reduceSumNormalized(_ t: Tensor, dims: [Int], keepDim: Bool) -> Tensor {
        reduceSum(t, dims: dims, keepDim: keepDim)
    }

    /// Zeros of `shape` with `g[o, j]` written at position `indices[o, j]` along `dim`: the
    /// backward of `max(dim:)` and friends. `g` and `indices` hold the reduced shape (with or
    /// without the kept dim).
    public static func scatter(_ g: Tensor, indices: Tensor, dim: Int, shape: [Int], keepDim: Bool) -> Tensor {
        let (outer, r, inner) = split(shape, at: dim)
        let out = Tensor.zeros(shape, dtype: g.dtype)
        let pi = indices.pointer(as: Int64.self)
        let bytes = g.dtype.byteSize
        let src = g.rawPointer, dst = out.rawPointer
        withExtendedLifetime((g, indices)) {
            for o in 0..<outer {
                for j in 0..<inner {
                    let k = Int(pi[o * inner + j])
                    precondition(k >= 0 && k < r, "scatter: index \(k) out of range for size \(r)")
                    (dst + ((o * r + k) * inner + j) * bytes).copyMemory(from: src + (o * inner + j) * bytes, byteCount: bytes)
                }
            }
        }
        return out
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
        let out = Tensor(uninitializedShape: shape, dtype: dt)
        let (outer, total, inner) = split(shape, at: d)
        let bytes = dt.byteSize
        let dst = out.rawPointer
        withExtendedLifetime(parts) {
            var offset = 0
            for p in parts {
                let block = p.shape[d] * inner * bytes
                let src = p.rawPointer
                if block > 0 {
                    Parallel.forRange(0..<outer, grain: Swift.max(1, (1 << 18) / Swift.max(block, 1))) { r in
                        for o in r {
                            (dst + (o * total * inner + offset) * bytes).copyMemory(from: src + o * block, byteCount: block)
                        }
                    }
                }
                offset += p.shape[d] * inner
            }
        }
        return out
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
        var shape = t.shape
        shape[dim] = end - start
        let out = Tensor(uninitializedShape: shape, dtype: t.dtype)
        let (outer, size, inner) = split(t.shape, at: dim)
        let bytes = t.dtype.byteSize
        let block = (end - start) * inner * bytes
        let src = t.rawPointer, dst = out.rawPointer
        if block == 0 { return out }
        withExtendedLifetime(t) {
            Parallel.forRange(0..<outer, grain: Swift.max(1, (1 << 18) / block)) { r in
                for o in r {
                    (dst + o * block).copyMemory(from: src + ((o * size + start) * inner) * bytes, byteCount: block)
                }
            }
        }
        return out
    }

    /// Zeros of `shape` with `g` written at `start…` along `dim`: the backward of ``slice``.
    public static func unslice(_ g: Tensor, shape: [Int], dim: Int, start: Int) -> Tensor {
        let out = Tensor.zeros(shape, dtype: g.dtype)
        let (outer, size, inner) = split(shape, at: dim)
        let bytes = g.dtype.byteSize
        let block = g.shape[dim] * inner * bytes
        let src = g.rawPointer, dst = out.rawPointer
        if block == 0 { return out }
        withExtendedLifetime(g) {
            for o in 0..<outer {
                (dst + ((o * size + start) * inner) * bytes).copyMemory(from: src + o * block, byteCount: block)
            }
        }
        return out
    }

    /// Checks an index tensor for `indexSelect` against a dim of `size`.
    public static func validateIndex(_ index: Tensor, size: Int, op: String = "index_select") throws(UsageError) {
        guard index.dtype == .int64 else {
            throw UsageError(op, "\(op)(): Expected dtype int64 for index but got \(index.dtype)")
        }
        guard index.rank <= 1 else { throw UsageError(op, "\(op)(): Index is supposed to be a vector") }
        let p = index.pointer(as: Int64.self)
        for i in 0..<index.count where p[i] < 0 || p[i] >= size {
            throw UsageError(op, "index out of range in self (index \(p[i]) for a dimension of size \(size))")
        }
    }

    /// Rows `index[i]` along `dim` (index: int64, 1-d, validated).
    public static func indexSelect(_ t: Tensor, dim: Int, index: Tensor) -> Tensor {
        var shape = t.shape
        let m = index.count
        if t.rank > 0 { shape[dim] = m }
        let out = Tensor(uninitializedShape: shape, dtype: t.dtype)
        let (outer, size, inner) = split(t.rank == 0 ? [1] : t.shape, at: dim)
        let bytes = t.dtype.byteSize, block = inner * bytes
        let src = t.rawPointer, dst = out.rawPointer
        let pi = index.pointer(as: Int64.self)
        withExtendedLifetime((t, index)) {
            Parallel.forRange(0..<outer, grain: Swift.max(1, (1 << 18) / Swift.max(m * block, 1))) { r in
                for o in r {
                    for i in 0..<m {
                        (dst + (o * m + i) * block).copyMemory(from: src + (o * size + Int(pi[i])) * block, byteCount: block)
                    }
                }
            }
        }
        return out
    }

    /// Zeros of `shape` with `source[…, i, …]` added at `index[i]` along `dim` (float dtypes):
    /// the backward of ``indexSelect``.
    public static func indexAdd(shape: [Int], dim: Int, index: Tensor, source: Tensor) -> Tensor {
        let out = Tensor.zeros(shape, dtype: source.dtype)
        let (outer, size, inner) = split(shape.isEmpty ? [1] : shape, at: dim)
        let m = index.count
        let pi = index.pointer(as: Int64.self)
        func run<T: KFloat>(_ ps: UnsafeMutablePointer<T>, _ po: UnsafeMutablePointer<T>) {
            for o in 0..<outer {
                for i in 0..<m {
                    let s = ps + (o * m + i) * inner, d = po + (o * size + Int(pi[i])) * inner
                    for j in 0..<inner { d[j] += s[j] }
                }
            }
        }
        withExtendedLifetime((source, index)) {
            switch source.dtype {
            case .float32: run(source.pointer(as: Float.self), out.pointer(as: Float.self))
            case .float64: run(source.pointer(as: Double.self), out.pointer(as: Double.self))
            default: preconditionFailure("indexAdd: float dtypes only")
            }
        }
        return out
    }
}
