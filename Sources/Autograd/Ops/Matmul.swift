import TensorCore

/// How `matmul` reads its operands: batch dimensions broadcast like NumPy's, a 1-d left operand
/// is one row, a 1-d right operand one column (the added dimension is dropped from the result).
struct MatmulPlan {
    let m: Int, k: Int, n: Int
    let batchShape: [Int]
    /// Element offsets (in matrices) of each batch entry in the left and right operands, nil when
    /// the operand has no batch dimensions (the same matrix for every entry).
    let aBatchCount: Int, bBatchCount: Int
    let aIndex: [Int], bIndex: [Int]
    let outShape: [Int]
    var batchCount: Int { aIndex.count }

    init(_ aShape: [Int], _ bShape: [Int]) throws(UsageError) {
        let ra = aShape.count, rb = bShape.count
        guard ra >= 1 && rb >= 1 else {
            throw UsageError("matmul", "both arguments to matmul need to be at least 1D, but they are \(ra)D and \(rb)D")
        }
        if ra == 1 && rb == 1 {
            guard aShape[0] == bShape[0] else {
                throw UsageError("matmul", "inconsistent tensor size, expected tensor [\(aShape[0])] and src [\(bShape[0])] to have the same number of elements, but got \(aShape[0]) and \(bShape[0]) elements respectively")
            }
        }
        let m = ra == 1 ? 1 : aShape[ra - 2]
        let k = aShape[ra - 1]
        let kb = rb == 1 ? bShape[0] : bShape[rb - 2]
        let n = rb == 1 ? 1 : bShape[rb - 1]
        let aBatch = ra > 2 ? Array(aShape[..<(ra - 2)]) : []
        let bBatch = rb > 2 ? Array(bShape[..<(rb - 2)]) : []
        if k != kb {
            if ra == 2 && rb == 1 {
                throw UsageError("matmul", "size mismatch, got input (\(m)), mat (\(m)x\(k)), vec (\(kb))")
            }
            if rb <= 2 {
                // PyTorch folds the batch of the left operand into its rows and calls mm.
                let rows = aBatch.reduce(1, *) * m
                throw UsageError("matmul", "mat1 and mat2 shapes cannot be multiplied (\(rows)x\(k) and \(kb)x\(n))")
            }
            throw UsageError("matmul", "Expected size for first two dimensions of batch2 tensor to be: [\(max(aBatch.reduce(1, *), bBatch.reduce(1, *))), \(k)] but got: [\(bBatch.reduce(1, *)), \(kb)] (shapes \(shapeString(aShape)) and \(shapeString(bShape)))")
        }
        // Broadcast the batch dimensions.
        let rank = max(aBatch.count, bBatch.count)
        var batch = [Int](repeating: 1, count: rank)
        for i in 0..<rank {
            let da = i - (rank - aBatch.count), db = i - (rank - bBatch.count)
            let sa = da >= 0 ? aBatch[da] : 1, sb = db >= 0 ? bBatch[db] : 1
            if sa != sb && sa != 1 && sb != 1 {
                throw UsageError("matmul", "The size of tensor a (\(sa)) must match the size of tensor b (\(sb)) at non-singleton dimension \(i) (shapes \(shapeString(aShape)) and \(shapeString(bShape)))")
            }
            batch[i] = sa == 1 ? sb : sa
        }
        self.m = m; self.k = k; self.n = n
        self.batchShape = batch
        self.aBatchCount = aBatch.reduce(1, *)
        self.bBatchCount = bBatch.reduce(1, *)
        // Matrix index in each operand for every entry of the broadcast batch (row-major).
        let total = batch.reduce(1, *)
        func indices(_ own: [Int]) -> [Int] {
            var strides = [Int](repeating: 0, count: rank)
            var s = 1
            for i in stride(from: own.count - 1, through: 0, by: -1) {
                strides[i + rank - own.count] = own[i] == 1 ? 0 : s
                s *= own[i]
            }
            var out = [Int](repeating: 0, count: total)
            var idx = [Int](repeating: 0, count: rank)
            for e in 0..<total {
                var off = 0
                for d in 0..<rank { off += idx[d] * strides[d] }
                out[e] = off
                var d = rank - 1
                while d >= 0 { idx[d] += 1; if idx[d] < batch[d] { break }; idx[d] = 0; d -= 1 }
            }
            return out
        }
        aIndex = indices(aBatch)
        bIndex = indices(bBatch)
        var out = batch
        if ra > 1 { out.append(m) }
        if rb > 1 { out.append(n) }
        outShape = out
    }
}

/// One GEMM per batch entry, `c[cIndex] (+)= op(a[aIndex]) · op(b[bIndex])`, where each operand
/// is a stack of matrices of `aRows × aCols` (`bRows × bCols`) elements.
private func batchedGEMM(
    _ a: Tensor, aIndex: [Int], aRows: Int, aCols: Int, transA: Bool,
    _ b: Tensor, bIndex: [Int], bRows: Int, bCols: Int, transB: Bool,
    into c: Tensor, cIndex: [Int], cDistinct: Bool
) {
    Kernels.batchedGEMM(a, b, into: c, m: transA ? aCols : aRows, n: transB ? bRows : bCols, k: transA ? aRows : aCols,
                        transA: transA, transB: transB, aIndex: aIndex, bIndex: bIndex, cIndex: cIndex,
                        outputsDistinct: cDistinct)
}

extension Tensor {
    /// Checks that `matmul` can multiply tensors of these shapes and returns the result's shape;
    /// the error carries PyTorch's message.
    ///
    /// ```swift
    /// try Tensor.matmulShape([2, 3], [4, 5])
    /// // throws "mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)"
    /// ```
    public static func matmulShape(_ a: [Int], _ b: [Int]) throws(UsageError) -> [Int] {
        try MatmulPlan(a, b).outShape
    }

    /// Matrix product with PyTorch's `torch.matmul` rules: 1-d · 1-d is a dot product (0-d
    /// result), 2-d · 2-d a matrix product, a 1-d operand is a row (left) or column (right)
    /// vector, and higher ranks are batches of matrices whose batch dimensions broadcast.
    /// float32 and float64; differentiable in both operands.
    ///
    /// ```swift
    /// let x = Tensor.randn([32, 10, 64])
    /// let w = Tensor.randn([64, 16], requiresGrad: true)
    /// let y = x.matmul(w)            // [32, 10, 16]
    /// ```
    public func matmul(_ other: Tensor) -> Tensor {
        let a = self, b = other
        let plan: MatmulPlan
        do { plan = try MatmulPlan(a.shape, b.shape) } catch { usageFailure(error) }
        usageCheck(a.dtype == b.dtype, "matmul", "expected m1 and m2 to have the same dtype, but got: \(a.dtype) != \(b.dtype)")
        usageCheck(a.dtype.isFloatingPoint, "matmul", "\"addmm\" not implemented for '\(a.dtype)'")
        let m = plan.m, k = plan.k, n = plan.n
        let out = Tensor(uninitializedShape: plan.outShape, dtype: a.dtype)
        let outIndex = Array(0..<plan.batchCount)
        if plan.bBatchCount == 1 && plan.aBatchCount == plan.batchCount {
            // The right operand is one matrix: fold the left batch into rows, one big GEMM.
            let rows = plan.batchCount * m
            Kernels.gemm(a.viewData([rows, k]), b.viewData([k, n]), beta: 0, into: out)
        } else {
            batchedGEMM(a, aIndex: plan.aIndex, aRows: m, aCols: k, transA: false,
                        b, bIndex: plan.bIndex, bRows: k, bCols: n, transB: false,
                        into: out, cIndex: outIndex, cDistinct: true)
        }
        guard Autograd.isRecording(a, b) else { return out }
        return Autograd.record("matmul", output: out, inputs: [a, b]) { g in
            var ga: Tensor? = nil, gb: Tensor? = nil
            if plan.bBatchCount == 1 && plan.aBatchCount == plan.batchCount {
                let rows = plan.batchCount * m
                let g2 = g.viewData([rows, n])
                if a.requiresGrad {
                    ga = Tensor(uninitializedShape: a.shape, dtype: a.dtype)
                    Kernels.gemm(g2, b.viewData([k, n]), transB: true, beta: 0, into: ga!)
                }
                if b.requiresGrad {
                    gb = Tensor(uninitializedShape: b.shape, dtype: b.dtype)
                    Kernels.gemm(a.viewData([rows, k]), g2, transA: true, beta: 0, into: gb!)
                }
            } else {
                if a.requiresGrad {
                    // dA[i] (+)= dC[i] · B[j]ᵀ
                    let t = Tensor(uninitializedShape: a.shape, dtype: a.dtype)
                    batchedGEMM(g, aIndex: outIndex, aRows: m, aCols: n, transA: false,
                                b, bIndex: plan.bIndex, bRows: k, bCols: n, transB: true,
                                into: t, cIndex: plan.aIndex, cDistinct: plan.aBatchCount == plan.batchCount)
                    ga = t
                }
                if b.requiresGrad {
                    // dB[j] (+)= A[i]ᵀ · dC[i]
                    let t = Tensor(uninitializedShape: b.shape, dtype: b.dtype)
                    batchedGEMM(a, aIndex: plan.aIndex, aRows: m, aCols: k, transA: true,
                                g, bIndex: outIndex, bRows: m, bCols: n, transB: false,
                                into: t, cIndex: plan.bIndex, cDistinct: plan.bBatchCount == plan.batchCount)
                    gb = t
                }
            }
            return [ga, gb]
        }
    }

    /// `self · weightᵀ + bias` (PyTorch's `F.linear`) as one fused GEMM; `self` is `[*, in]`,
    /// `weight` `[out, in]`, `bias` `[out]`. Differentiable in all three.
    ///
    /// ```swift
    /// let y = x.linear(weight: w, bias: b)   // [batch, 784] → [batch, 512]
    /// ```
    public func linear(weight: Tensor, bias: Tensor? = nil) -> Tensor {
        let x = self
        let out = Kernels.linear(x, weight, bias)
        let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
        guard GradMode.isEnabled, inputs.contains(where: { $0.requiresGrad }) else { return out }
        return Autograd.record("linear", output: out, inputs: inputs) { g in
            let r = Kernels.linearBackward(g, x, weight, needInput: x.requiresGrad, needWeight: weight.requiresGrad,
                                           needBias: bias?.requiresGrad ?? false)
            return bias == nil ? [r.input, r.weight] : [r.input, r.weight, r.bias.map { $0.viewData(bias!.shape) }]
        }
    }
}
