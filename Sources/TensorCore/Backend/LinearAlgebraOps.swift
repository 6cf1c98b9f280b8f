/// Matrix products: one GEMM, a batch of them, and the fused linear layer.
public protocol LinearAlgebraOps {
    /// `c = alpha·op(a)·op(b) + beta·c` in place for float32 or float64 matrices (shapes checked).
    func gemm(_ a: Tensor, _ b: Tensor, transA: Bool, transB: Bool, alpha: Double, beta: Double, into c: Tensor)
    /// A batch of GEMMs on stacked matrices; see ``Kernels/batchedGEMM(_:_:into:m:n:k:transA:transB:aIndex:bIndex:cIndex:outputsDistinct:)``.
    func batchedGEMM(_ a: Tensor, _ b: Tensor, into c: Tensor, m: Int, n: Int, k: Int, transA: Bool, transB: Bool,
                     aIndex: [Int], bIndex: [Int], cIndex: [Int], outputsDistinct: Bool)
    /// `x · weightᵀ + bias` for validated operands.
    func linear(_ x: Tensor, _ weight: Tensor, _ bias: Tensor?) -> Tensor
    /// Column sums of a 2-d float tensor (`[rows, cols]` → `[cols]`).
    func sumRows(_ t: Tensor) -> Tensor
}

extension Kernels {
    /// `op(a) · op(b)` for two matrices (float32 or float64, same dtype), with `op` transposing
    /// when the flag is set: `gemm(a, b, transB: true)` is `a · bᵀ` without forming `bᵀ`.
    /// Higher-rank operands are read as matrices of their last dimension (`[*, k]`).
    ///
    /// ```swift
    /// let c = Kernels.gemm(a, b)                 // [m, k] · [k, n] → [m, n]
    /// let gw = Kernels.gemm(x, g, transA: true)  // xᵀ · g
    /// ```
    public static func gemm(_ a: Tensor, _ b: Tensor, transA: Bool = false, transB: Bool = false, alpha: Double = 1) -> Tensor {
        let (m, ka) = matrixDims(a, transposed: transA)
        let (kb, n) = matrixDims(b, transposed: transB)
        usageCheck(ka == kb, "gemm", "mat1 and mat2 shapes cannot be multiplied (\(m)x\(ka) and \(kb)x\(n))")
        let c = Tensor(uninitializedShape: [m, n], dtype: a.dtype, device: a.device)
        gemm(a, b, transA: transA, transB: transB, alpha: alpha, beta: 0, into: c)
        return c
    }

    /// `c = alpha·op(a)·op(b) + beta·c` in place; `c` must hold m×n elements of the same dtype.
    /// `beta == 0` ignores c's previous contents (NaN included), like BLAS.
    public static func gemm(_ a: Tensor, _ b: Tensor, transA: Bool = false, transB: Bool = false,
                            alpha: Double = 1, beta: Double, into c: Tensor) {
        usageCheck(a.dtype == b.dtype && a.dtype == c.dtype, "gemm",
                   "expected all operands to have the same dtype, but got \(a.dtype), \(b.dtype) and \(c.dtype)")
        usageCheck(a.dtype.isFloatingPoint, "gemm", "\"addmm\" not implemented for '\(a.dtype)'")
        let (m, k) = matrixDims(a, transposed: transA)
        let (kb, n) = matrixDims(b, transposed: transB)
        usageCheck(k == kb, "gemm", "mat1 and mat2 shapes cannot be multiplied (\(m)x\(k) and \(kb)x\(n))")
        usageCheck(c.count == m * n, "gemm", "output of shape \(shapeString(c.shape)) cannot hold a \(m)x\(n) product")
        backend(a, b, c).gemm(a, b, transA: transA, transB: transB, alpha: alpha, beta: beta, into: c)
    }

    /// A tensor read as a matrix: rows = product of all but the last dimension (a 1-d tensor is
    /// one row), swapped when `transposed`.
    static func matrixDims(_ t: Tensor, transposed: Bool) -> (Int, Int) {
        let cols = t.rank == 0 ? 1 : t.shape[t.rank - 1]
        let rows = cols == 0 ? t.shape.dropLast().reduce(1, *) : t.count / cols
        return transposed ? (cols, rows) : (rows, cols)
    }

    /// One GEMM per batch entry `e`: `C[cIndex[e]] (+)= op(A[aIndex[e]]) · op(B[bIndex[e]])`, where
    /// `A[i]` is the i-th stacked matrix of `a` (m×k, or k×m when `transA`), `B[j]` the j-th of `b`
    /// (k×n, or n×k when `transB`) and `C[l]` the l-th m×n matrix of `c` (same float dtype). When
    /// several entries write one output matrix (`outputsDistinct` false: the gradient of a
    /// broadcast operand) `c` is zeroed and they accumulate; otherwise each output is overwritten.
    ///
    /// ```swift
    /// // [2, 3, 4] · [2, 4, 5] → [2, 3, 5]
    /// Kernels.batchedGEMM(a, b, into: c, m: 3, n: 5, k: 4, transA: false, transB: false,
    ///                     aIndex: [0, 1], bIndex: [0, 1], cIndex: [0, 1], outputsDistinct: true)
    /// ```
    public static func batchedGEMM(_ a: Tensor, _ b: Tensor, into c: Tensor, m: Int, n: Int, k: Int,
                                   transA: Bool, transB: Bool, aIndex: [Int], bIndex: [Int], cIndex: [Int],
                                   outputsDistinct: Bool) {
        usageCheck(a.dtype == b.dtype && a.dtype == c.dtype, "matmul",
                   "expected m1 and m2 to have the same dtype, but got: \(a.dtype) != \(b.dtype)")
        usageCheck(a.dtype.isFloatingPoint, "matmul", "\"addmm\" not implemented for '\(a.dtype)'")
        precondition(aIndex.count == bIndex.count && aIndex.count == cIndex.count, "batchedGEMM: index counts differ")
        backend(a, b, c).batchedGEMM(a, b, into: c, m: m, n: n, k: k, transA: transA, transB: transB,
                                     aIndex: aIndex, bIndex: bIndex, cIndex: cIndex, outputsDistinct: outputsDistinct)
    }

    /// `x · weightᵀ + bias` for `x` of shape `[*, in]`, `weight` `[out, in]`, `bias` `[out]`
    /// (PyTorch's `F.linear`), as one GEMM whose output starts as the broadcast bias.
    ///
    /// ```swift
    /// let y = Kernels.linear(x, w, b)   // [batch, in] → [batch, out]
    /// ```
    public static func linear(_ x: Tensor, _ weight: Tensor, _ bias: Tensor?) -> Tensor {
        if let error = validateLinear(x, weight, bias) { usageFailure(error) }
        return backend(x, weight, bias).linear(x, weight, bias)
    }

    /// The gradients of ``linear(_:_:_:)`` given the output gradient `gradOut` (`[*, out]`):
    /// `(gradInput = g · W, gradWeight = gᵀ · x, gradBias = Σ_rows g)`, each only when asked for.
    public static func linearBackward(
        _ gradOut: Tensor, _ x: Tensor, _ weight: Tensor,
        needInput: Bool = true, needWeight: Bool = true, needBias: Bool = true
    ) -> (input: Tensor?, weight: Tensor?, bias: Tensor?) {
        let inF = weight.shape[1], outF = weight.shape[0]
        let rows = outF == 0 ? gradOut.shape.dropLast().reduce(1, *) : gradOut.count / outF
        let g2 = gradOut.viewData([rows, outF])
        var gx: Tensor? = nil, gw: Tensor? = nil, gb: Tensor? = nil
        if needInput { gx = gemm(g2, weight).viewData(x.shape) }
        if needWeight { gw = gemm(g2, x.viewData([rows, inF]), transA: true) }
        if needBias { gb = sumRows(g2) }
        return (gx, gw, gb)
    }

    /// Column sums of a 2-d float tensor (`[rows, cols]` → `[cols]`), accumulated row by row.
    public static func sumRows(_ t: Tensor) -> Tensor {
        usageCheck(t.dtype.isFloatingPoint, "sum", "expected a floating-point tensor, got \(t.dtype)")
        return backend(t).sumRows(t)
    }

    /// PyTorch's checks for `F.linear`, as an error (nil when the operands fit).
    public static func validateLinear(_ x: Tensor, _ weight: Tensor, _ bias: Tensor?) -> UsageError? {
        guard weight.rank == 2 else {
            return UsageError("linear", "weight should be 2-D, got \(weight.rank)-D weight of shape \(shapeString(weight.shape))")
        }
        guard x.dtype.isFloatingPoint, x.dtype == weight.dtype, bias.map({ $0.dtype == x.dtype }) ?? true else {
            return UsageError("linear", "expected m1 and m2 to have the same dtype, but got: \(x.dtype) != \(weight.dtype)")
        }
        let inF = x.shape.last ?? 1
        guard x.rank >= 1, inF == weight.shape[1] else {
            let rows = x.rank <= 1 ? 1 : x.shape.dropLast().reduce(1, *)
            return UsageError("linear", "mat1 and mat2 shapes cannot be multiplied (\(rows)x\(inF) and \(weight.shape[1])x\(weight.shape[0]))")
        }
        if let bias, bias.count != weight.shape[0] || bias.rank > 1 {
            return UsageError("linear", "The size of tensor a (\(weight.shape[0])) must match the size of tensor b (\(bias.shape.last ?? 1)) at non-singleton dimension \(max(x.rank - 1, 0))")
        }
        return nil
    }
}
