// Shape arithmetic shared by the raw kernels (the `Kernels` namespace is declared in Kernels.swift).
// Kernels return a new tensor (or the input itself when nothing has to change) and never touch
// autograd, so other layers can call them inside backward closures:
//   let c = Kernels.add(a, b)                  // broadcasting, like a + b without a graph
//   let s = Kernels.sum(c, dims: [0], keepDim: false)

extension Kernels {
    /// The broadcast shape of `a` and `b` (NumPy rules), or PyTorch's error naming `op`.
    ///
    /// ```swift
    /// try Kernels.broadcastShape([3, 1, 4], [2, 1], op: "add")   // [3, 2, 4]
    /// ```
    public static func broadcastShape(_ a: [Int], _ b: [Int], op: String) throws(UsageError) -> [Int] {
        if a == b { return a }
        let rank = max(a.count, b.count)
        var out = [Int](repeating: 1, count: rank)
        for i in 0..<rank {
            let da = i < rank - a.count ? 1 : a[i - (rank - a.count)]
            let db = i < rank - b.count ? 1 : b[i - (rank - b.count)]
            if da == db || db == 1 { out[i] = da }
            else if da == 1 { out[i] = db }
            else {
                throw UsageError(op, "The size of tensor a (\(da)) must match the size of tensor b (\(db)) at non-singleton dimension \(i) (shapes \(shapeString(a)) and \(shapeString(b)))")
            }
        }
        return out
    }

    /// A dimension index with negatives counted from the end, or PyTorch's range error.
    public static func normalizeDim(_ dim: Int, rank: Int, op: String) throws(UsageError) -> Int {
        let r = max(rank, 1)  // a 0-d tensor accepts dims 0 and -1, like PyTorch
        guard dim >= -r && dim < r else {
            throw UsageError(op, "Dimension out of range (expected to be in range of [\(-r), \(r - 1)], but got \(dim))")
        }
        return dim < 0 ? dim + r : dim
    }

    /// Normalised, sorted, duplicate-checked reduction dims. An empty list means every dim.
    public static func normalizeDims(_ dims: [Int], rank: Int, op: String) throws(UsageError) -> [Int] {
        if dims.isEmpty { return Array(0..<rank) }
        var seen = Set<Int>()
        for d in dims {
            let n = try normalizeDim(d, rank: rank, op: op)
            if !seen.insert(n).inserted {
                throw UsageError(op, "dim \(n) appears multiple times in the list of dims")
            }
        }
        return seen.sorted().filter { $0 < rank }
    }

    /// Resolves one `-1` in a requested shape against an element count, like `reshape`.
    public static func inferShape(_ shape: [Int], count: Int, op: String = "reshape") throws(UsageError) -> [Int] {
        var out = shape
        var inferred: Int? = nil
        var known = 1
        for (i, s) in shape.enumerated() {
            if s == -1 {
                if inferred != nil { throw UsageError(op, "only one dimension can be inferred") }
                inferred = i
            } else if s < 0 {
                throw UsageError(op, "invalid shape dimension \(s)")
            } else {
                known *= s
            }
        }
        if let i = inferred {
            guard known > 0, count % known == 0 else {
                throw UsageError(op, "shape '\(shapeString(shape))' is invalid for input of size \(count)")
            }
            out[i] = count / known
        } else if known != count {
            throw UsageError(op, "shape '\(shapeString(shape))' is invalid for input of size \(count)")
        }
        return out
    }

    /// Checks that `shape` can be expanded to `target` (PyTorch's `expand` rules).
    public static func validateExpand(_ shape: [Int], to target: [Int], op: String = "expand") throws(UsageError) {
        guard target.count >= shape.count else {
            throw UsageError(op, "the number of sizes provided (\(target.count)) must be greater or equal to the number of dimensions in the tensor (\(shape.count))")
        }
        let off = target.count - shape.count
        for i in 0..<shape.count where shape[i] != 1 && shape[i] != target[i + off] {
            throw UsageError(op, "The expanded size of the tensor (\(target[i + off])) must match the existing size (\(shape[i])) at non-singleton dimension \(i + off).  Target sizes: \(shapeString(target)).  Tensor sizes: \(shapeString(shape))")
        }
    }

    /// Checks that a tensor of `shape` can be summed down to `target` (`sum_to_size`).
    public static func validateSumToShape(_ shape: [Int], _ target: [Int], op: String = "sumToShape") throws(UsageError) {
        do throws(UsageError) { try validateExpand(target, to: shape, op: op) } catch {
            throw UsageError(op, "size \(shapeString(target)) is not expandable to size \(shapeString(shape)).")
        }
    }

    /// Row-major (contiguous) element strides of `shape`.
    @inlinable
    public static func contiguousStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var s = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[i] = s
            s *= shape[i]
        }
        return strides
    }

    /// Strides that read a contiguous tensor of `shape` as if broadcast to `target` (0 on
    /// broadcast dims).
    static func broadcastStrides(_ shape: [Int], to target: [Int]) -> [Int] {
        let cs = contiguousStrides(shape)
        let off = target.count - shape.count
        var out = [Int](repeating: 0, count: target.count)
        for i in 0..<shape.count where shape[i] != 1 { out[i + off] = cs[i] }
        return out
    }

    /// Splits `shape` around `dim` into (elements before, size of dim, elements after).
    @inlinable
    public static func split(_ shape: [Int], at dim: Int) -> (outer: Int, size: Int, inner: Int) {
        var outer = 1, inner = 1
        for i in 0..<dim { outer *= shape[i] }
        for i in (dim + 1)..<shape.count { inner *= shape[i] }
        return (outer, shape[dim], inner)
    }
}

/// Stops with `error` when `body` throws: the non-throwing op entry points use this.
@inlinable
public func orFail<T>(_ body: () throws(UsageError) -> T) -> T {
    do { return try body() } catch { usageFailure(error) }
}

extension DType {
    /// The result type of combining two dtypes, like `torch.promote_types`.
    public static func promoted(_ a: DType, _ b: DType) -> DType {
        func rank(_ d: DType) -> Int {
            switch d { case .bool: 0; case .uint8: 1; case .int64: 2; case .float32: 3; case .float64: 4 }
        }
        return rank(a) >= rank(b) ? a : b
    }
}
