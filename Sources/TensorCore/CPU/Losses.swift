import CKernelSupport
import Foundation

// CPU loss kernels. One loop per loss serves float32 and float64 through FloatPointers (values
// read as Double); the common case, float32 (N, C) logits with class indices, has its own
// loop on hoisted pointers with rows split over threads.

/// Input `(N, C, d1, …)`, `(N, C)` or `(C)` seen as `outer × classes × inner`; one loss per
/// (outer, inner) position, classes `inner` elements apart.
struct ClassLayout {
    let outer: Int, classes: Int, inner: Int
    var positions: Int { outer * inner }

    init(_ shape: [Int]) {
        if shape.count == 1 {
            outer = 1; classes = shape[0]; inner = 1
        } else {
            outer = shape[0]; classes = shape[1]; inner = shape.dropFirst(2).reduce(1, *)
        }
    }

    /// Element index of class 0 at position `pos`.
    @inline(__always) func base(_ pos: Int) -> Int {
        let n = pos / inner
        return n * classes * inner + (pos - n * inner)
    }
}

/// Reads element `i` of a float32/float64 tensor as Double (callers hoist the pointers).
@inline(__always) private func readD(_ p32: UnsafeMutablePointer<Float>?, _ p64: UnsafeMutablePointer<Double>?, _ i: Int) -> Double {
    if let p32 { return Double(p32[i]) }
    return p64.unsafelyUnwrapped[i]
}

/// Pointers of a float tensor, one of them nil, so one loop serves both dtypes.
private struct FloatPointers {
    let p32: UnsafeMutablePointer<Float>?
    let p64: UnsafeMutablePointer<Double>?
    init(_ t: Tensor) {
        if t.dtype == .float32 { p32 = t.pointer(as: Float.self); p64 = nil }
        else { p32 = nil; p64 = t.pointer(as: Double.self) }
    }
    @inline(__always) subscript(i: Int) -> Double {
        get { readD(p32, p64, i) }
        nonmutating set {
            if let p32 { p32[i] = Float(newValue) } else { p64.unsafelyUnwrapped[i] = newValue }
        }
    }
}

/// A 0-d tensor of `dtype` holding `value`.
private func scalarTensor(_ value: Double, dtype: DType) -> Tensor {
    let t = Tensor(uninitializedShape: [], dtype: dtype)
    t.setValue(value, at: 0)
    return t
}

/// The reduced result: the per-position tensor, or its sum / mean as a 0-d tensor.
private func reduced(_ perPosition: Tensor, total: Double, denominator: Double, _ reduction: Reduction) -> Tensor {
    switch reduction {
    case .none: perPosition
    case .sum: scalarTensor(total, dtype: perPosition.dtype)
    case .mean: scalarTensor(total / denominator, dtype: perPosition.dtype)
    }
}

/// The upstream gradient's scale at each position: `g` (sum), `g / denominator` (mean), `g[i]` (none).
private struct UpstreamScale {
    let scalar: Double
    let perPosition: FloatPointers?
    init(_ g: Tensor, reduction: Reduction, denominator: Double) {
        switch reduction {
        case .none: scalar = 0; perPosition = FloatPointers(g)
        case .sum: scalar = g.doubleValue(at: 0); perPosition = nil
        case .mean: scalar = g.doubleValue(at: 0) / denominator; perPosition = nil
        }
    }
    @inline(__always) subscript(i: Int) -> Double { perPosition.map { $0[i] } ?? scalar }
}

extension CPUBackend: LossOps {
    // MARK: - Cross entropy, class indices

    public func crossEntropy(_ input: Tensor, targets: Tensor, weight: Tensor?, ignoreIndex: Int, reduction: Reduction,
                             labelSmoothing: Double) -> (loss: Tensor, saved: LossSaved) {
        if input.dtype == .float32 && ClassLayout(input.shape).inner == 1 {
            return crossEntropyRowsFloat32(input, targets: targets, weight: weight, ignoreIndex: ignoreIndex,
                                           reduction: reduction, labelSmoothing: labelSmoothing)
        }
        let eps = labelSmoothing
        let layout = ClassLayout(input.shape)
        let (c, inner, positions) = (layout.classes, layout.inner, layout.positions)
        let x = FloatPointers(input)
        let w = weight.map(FloatPointers.init)
        let tp = targets.pointer(as: Int64.self)
        let ignore = Int64(ignoreIndex)
        var weightSum = Double(c)
        if let w { weightSum = 0; for k in 0..<c { weightSum += w[k] } }
        let smooth = eps / Double(c)
        // Per position: log-sum-exp (kept for the backward) and the loss.
        let lse = Tensor(uninitializedShape: [positions], dtype: .float64)
        let lp = lse.pointer(as: Double.self)
        let perPosition = Tensor(uninitializedShape: targets.shape, dtype: input.dtype)
        let out = FloatPointers(perPosition)
        var total = 0.0, denominator = 0.0
        for pos in 0..<positions {
            let t = tp[pos]
            if t == ignore { out[pos] = 0; lp[pos] = 0; continue }
            let b = layout.base(pos)
            var m = -Double.infinity
            for k in 0..<c { m = max(m, x[b + k * inner]) }
            var s = 0.0
            for k in 0..<c { s += Foundation.exp(x[b + k * inner] - m) }
            let l = m.isFinite ? m + Foundation.log(s) : m
            lp[pos] = l
            let wt = w?[Int(t)] ?? 1
            var loss = (1 - eps) * wt * (l - x[b + Int(t) * inner])
            if eps > 0 {
                var acc = 0.0
                for k in 0..<c { acc += (w?[k] ?? 1) * (l - x[b + k * inner]) }
                loss += smooth * acc
            }
            out[pos] = loss
            total += loss
            denominator += wt
        }
        withExtendedLifetime((input, targets, weight)) {}
        return (reduced(perPosition, total: total, denominator: denominator, reduction),
                LossSaved(logSumExp: lse, denominator: denominator))
    }

    public func crossEntropyBackward(_ g: Tensor, input: Tensor, targets: Tensor, weight: Tensor?, ignoreIndex: Int,
                                     reduction: Reduction, labelSmoothing: Double, saved: LossSaved) -> Tensor {
        if input.dtype == .float32 && ClassLayout(input.shape).inner == 1 {
            return crossEntropyRowsFloat32Backward(g, input: input, targets: targets, weight: weight, ignoreIndex: ignoreIndex,
                                                   reduction: reduction, labelSmoothing: labelSmoothing, saved: saved)
        }
        let eps = labelSmoothing
        let layout = ClassLayout(input.shape)
        let (c, inner, positions) = (layout.classes, layout.inner, layout.positions)
        let ignore = Int64(ignoreIndex)
        let smooth = eps / Double(c)
        let grad = Tensor.zeros(input.shape, dtype: input.dtype)
        let gx = FloatPointers(grad)
        let x = FloatPointers(input)
        let w = weight.map(FloatPointers.init)
        var weightSum = Double(c)
        if let w { weightSum = 0; for k in 0..<c { weightSum += w[k] } }
        let tp = targets.pointer(as: Int64.self)
        let lse = saved.logSumExp!.pointer(as: Double.self)
        let scale = UpstreamScale(g, reduction: reduction, denominator: saved.denominator)
        for pos in 0..<positions {
            let t = tp[pos]
            if t == ignore { continue }
            let b = layout.base(pos), s = scale[pos], l = lse[pos]
            let wt = w?[Int(t)] ?? 1
            // d/dx_k = s·(p_k·((1−ε)w_t + ε/C·Σw) − (1−ε)w_t·[k = t] − ε/C·w_k)
            let a = (1 - eps) * wt + smooth * weightSum
            for k in 0..<c {
                let p = Foundation.exp(x[b + k * inner] - l)
                gx[b + k * inner] = s * (p * a - smooth * (w?[k] ?? 1))
            }
            let ti = b + Int(t) * inner
            gx[ti] = gx[ti] - s * (1 - eps) * wt
        }
        withExtendedLifetime((input, targets, weight, g, saved.logSumExp)) {}
        return grad
    }

    /// The common case — float32 `(N, C)` or `(C)` logits, class indices — on hoisted pointers, rows
    /// split over threads: one `exp` per element forward (per-row log-sum-exp kept) and one backward.
    private func crossEntropyRowsFloat32(_ input: Tensor, targets: Tensor, weight: Tensor?, ignoreIndex: Int,
                                         reduction: Reduction, labelSmoothing eps: Double) -> (loss: Tensor, saved: LossSaved) {
        let layout = ClassLayout(input.shape)
        let (c, rows) = (layout.classes, layout.positions)
        let ignore = Int64(ignoreIndex)
        var weightSum = Double(c)
        if let weight { weightSum = weight.toArray(of: Float.self).reduce(0) { $0 + Double($1) } }
        let smooth = eps / Double(c)
        let lse = Tensor(uninitializedShape: [rows], dtype: .float32)
        let rowLoss = Tensor(uninitializedShape: [rows], dtype: .float64)
        let grain = max(1, 8192 / max(c, 1))
        do {
            let x = input.pointer(as: Float.self), tp = targets.pointer(as: Int64.self)
            let w: UnsafeMutablePointer<Float>? = weight?.pointer(as: Float.self)
            let lp = lse.pointer(as: Float.self), out = rowLoss.pointer(as: Double.self)
            let vectorised = GEMMCKernel.level >= 2
            Parallel.forRange(0..<rows, grain: grain) { r in
                // Each row's maximum and Σ e^(x − max) (glibcExpf, libm's expf on this project's
                // machines), summed in double in class order: on AVX-512 for the whole range at once.
                // With label smoothing, Σ w·x (or Σ x) per row too, in the same pass.
                let maxima = UnsafeMutablePointer<Float>.allocate(capacity: r.count)
                let sums = UnsafeMutablePointer<Double>.allocate(capacity: 2 * r.count), wxs = sums + r.count
                defer { maxima.deallocate(); sums.deallocate() }
                if vectorised {
                    swiftnn_ce_rows_forward_f32(x + r.lowerBound * c, r.count, c, w.map { UnsafePointer($0) }, maxima, sums,
                                                eps > 0 ? wxs : nil)
                }
                for row in r {
                    let t = tp[row]
                    if t == ignore { out[row] = 0; lp[row] = 0; continue }
                    let xr = x + row * c
                    var m = -Float.infinity, sum = 0.0
                    if vectorised {
                        m = maxima[row - r.lowerBound]
                        sum = sums[row - r.lowerBound]
                    } else {
                        for k in 0..<c { m = max(m, xr[k]) }
                        for k in 0..<c { sum += Double(glibcExpf(xr[k] - m)) }
                    }
                    let l = m.isFinite ? Double(m) + Foundation.log(sum) : Double(m)
                    lp[row] = Float(l)
                    let wt = w.map { Double($0[Int(t)]) } ?? 1
                    var loss = (1 - eps) * wt * (l - Double(xr[Int(t)]))
                    if eps > 0 {
                        var wx = 0.0
                        if vectorised {
                            wx = wxs[row - r.lowerBound]
                        } else if let w {
                            for k in 0..<c { wx += Double(w[k] * xr[k]) }
                        } else {
                            for k in 0..<c { wx += Double(xr[k]) }
                        }
                        loss += smooth * (weightSum * l - wx)
                    }
                    out[row] = loss
                }
            }
            withExtendedLifetime((input, targets, weight)) {}
        }
        var total = 0.0, denominator = 0.0
        do {
            let tp = targets.pointer(as: Int64.self), out = rowLoss.pointer(as: Double.self)
            for row in 0..<rows where tp[row] != ignore {
                total += out[row]
                denominator += weight.map { $0.doubleValue(at: Int(tp[row])) } ?? 1
            }
        }
        let result: Tensor
        switch reduction {
        case .none:
            result = Tensor(uninitializedShape: targets.shape, dtype: .float32)
            let src = rowLoss.pointer(as: Double.self), dst = result.pointer(as: Float.self)
            for i in 0..<rows { dst[i] = Float(src[i]) }
        case .sum: result = scalarTensor(total, dtype: .float32)
        case .mean: result = scalarTensor(total / denominator, dtype: .float32)
        }
        return (result, LossSaved(logSumExp: lse, denominator: denominator))
    }

    private func crossEntropyRowsFloat32Backward(_ g: Tensor, input: Tensor, targets: Tensor, weight: Tensor?, ignoreIndex: Int,
                                                 reduction: Reduction, labelSmoothing eps: Double, saved: LossSaved) -> Tensor {
        let layout = ClassLayout(input.shape)
        let (c, rows) = (layout.classes, layout.positions)
        let ignore = Int64(ignoreIndex)
        var weightSum = Double(c)
        if let weight { weightSum = weight.toArray(of: Float.self).reduce(0) { $0 + Double($1) } }
        let smooth = eps / Double(c)
        let grain = max(1, 8192 / max(c, 1))
        let lse = saved.logSumExp!, denominator = saved.denominator
        let grad = Tensor(uninitializedShape: input.shape, dtype: .float32)
        let x = input.pointer(as: Float.self), gx = grad.pointer(as: Float.self)
        let tp = targets.pointer(as: Int64.self), lp = lse.pointer(as: Float.self)
        let w: UnsafeMutablePointer<Float>? = weight?.pointer(as: Float.self)
        let perRow: UnsafeMutablePointer<Float>? = reduction == .none ? g.pointer(as: Float.self) : nil
        let scalar = reduction == .none ? 0 : (reduction == .mean ? g.doubleValue(at: 0) / denominator : g.doubleValue(at: 0))
        let vectorised = GEMMCKernel.level >= 2
        Parallel.forRange(0..<rows, grain: grain) { r in
            for row in r {
                let t = tp[row]
                let gr = gx + row * c
                if t == ignore { gr.update(repeating: 0, count: c); continue }
                let xr = x + row * c
                let s = perRow.map { Double($0[row]) } ?? scalar
                let wt = w.map { Double($0[Int(t)]) } ?? 1
                // d/dx_k = s·(p_k·((1−ε)w_t + ε/C·Σw) − ε/C·w_k) − s·(1−ε)·w_t·[k = t]
                let pScale = Float(s * ((1 - eps) * wt + smooth * weightSum))
                let wScale = Float(s * smooth)
                let l = lp[row]
                if vectorised {
                    swiftnn_ce_row_backward_f32(xr, c, l, pScale, wScale, w.map { UnsafePointer($0) }, gr)
                } else if let w {
                    for k in 0..<c { gr[k] = glibcExpf(xr[k] - l) * pScale - wScale * w[k] }
                } else {
                    for k in 0..<c { gr[k] = glibcExpf(xr[k] - l) * pScale - wScale }
                }
                gr[Int(t)] -= Float(s * (1 - eps) * wt)
            }
        }
        withExtendedLifetime((input, targets, weight, g, lse)) {}
        return grad
    }

    // MARK: - Cross entropy, class probabilities

    public func crossEntropyProbabilities(_ input: Tensor, targets: Tensor, weight: Tensor?, reduction: Reduction,
                                          labelSmoothing eps: Double) -> (loss: Tensor, saved: LossSaved) {
        let layout = ClassLayout(input.shape)
        let (c, inner, positions) = (layout.classes, layout.inner, layout.positions)
        let x = FloatPointers(input), q = FloatPointers(targets)
        let w = weight.map(FloatPointers.init)
        let smooth = eps / Double(c)
        let lse = Tensor(uninitializedShape: [positions], dtype: .float64)
        let lp = lse.pointer(as: Double.self)
        let outShape = input.rank == 1 ? [] : [input.shape[0]] + input.shape.dropFirst(2)
        let perPosition = Tensor(uninitializedShape: outShape, dtype: input.dtype)
        let out = FloatPointers(perPosition)
        var total = 0.0
        for pos in 0..<positions {
            let b = layout.base(pos)
            var m = -Double.infinity
            for k in 0..<c { m = max(m, x[b + k * inner]) }
            var s = 0.0
            for k in 0..<c { s += Foundation.exp(x[b + k * inner] - m) }
            let l = m.isFinite ? m + Foundation.log(s) : m
            lp[pos] = l
            var loss = 0.0
            for k in 0..<c {
                let i = b + k * inner
                loss += (w?[k] ?? 1) * (q[i] * (1 - eps) + smooth) * (l - x[i])
            }
            out[pos] = loss
            total += loss
        }
        withExtendedLifetime((input, targets, weight)) {}
        // PyTorch's mean divides by the number of positions (not by weights) for probability targets.
        let denominator = Double(positions)
        let result = reduction == .mean && positions == 0
            ? scalarTensor(.nan, dtype: input.dtype) : reduced(perPosition, total: total, denominator: denominator, reduction)
        return (result, LossSaved(logSumExp: lse, denominator: denominator))
    }

    public func crossEntropyProbabilitiesBackward(_ g: Tensor, input: Tensor, targets: Tensor, weight: Tensor?, reduction: Reduction,
                                                  labelSmoothing eps: Double, saved: LossSaved) -> (input: Tensor, targets: Tensor) {
        let layout = ClassLayout(input.shape)
        let (c, inner, positions) = (layout.classes, layout.inner, layout.positions)
        let smooth = eps / Double(c)
        let gradX = Tensor.zeros(input.shape, dtype: input.dtype)
        let gradQ = Tensor.zeros(targets.shape, dtype: targets.dtype)
        let gx = FloatPointers(gradX), gq = FloatPointers(gradQ)
        let x = FloatPointers(input), q = FloatPointers(targets)
        let w = weight.map(FloatPointers.init)
        let lse = saved.logSumExp!.pointer(as: Double.self)
        let scale = UpstreamScale(g, reduction: reduction, denominator: saved.denominator)
        for pos in 0..<positions {
            let b = layout.base(pos), s = scale[pos], l = lse[pos]
            var wq = 0.0
            for k in 0..<c { wq += (w?[k] ?? 1) * (q[b + k * inner] * (1 - eps) + smooth) }
            for k in 0..<c {
                let i = b + k * inner
                let wk = w?[k] ?? 1
                let p = Foundation.exp(x[i] - l)
                gx[i] = s * (p * wq - wk * (q[i] * (1 - eps) + smooth))
                gq[i] = s * wk * (1 - eps) * (l - x[i])
            }
        }
        withExtendedLifetime((input, targets, weight, g, saved.logSumExp)) {}
        return (gradX, gradQ)
    }

    // MARK: - NLL

    public func nllLoss(_ input: Tensor, targets: Tensor, weight: Tensor?, ignoreIndex: Int,
                        reduction: Reduction) -> (loss: Tensor, saved: LossSaved) {
        let layout = ClassLayout(input.shape)
        let (inner, positions) = (layout.inner, layout.positions)
        let x = FloatPointers(input)
        let w = weight.map(FloatPointers.init)
        let tp = targets.pointer(as: Int64.self)
        let ignore = Int64(ignoreIndex)
        let perPosition = Tensor(uninitializedShape: targets.shape, dtype: input.dtype)
        let out = FloatPointers(perPosition)
        var total = 0.0, denominator = 0.0
        for pos in 0..<positions {
            let t = tp[pos]
            if t == ignore { out[pos] = 0; continue }
            let wt = w?[Int(t)] ?? 1
            let loss = -wt * x[layout.base(pos) + Int(t) * inner]
            out[pos] = loss
            total += loss
            denominator += wt
        }
        withExtendedLifetime((input, targets, weight)) {}
        return (reduced(perPosition, total: total, denominator: denominator, reduction),
                LossSaved(logSumExp: nil, denominator: denominator))
    }

    public func nllLossBackward(_ g: Tensor, input: Tensor, targets: Tensor, weight: Tensor?, ignoreIndex: Int,
                                reduction: Reduction, saved: LossSaved) -> Tensor {
        let layout = ClassLayout(input.shape)
        let (inner, positions) = (layout.inner, layout.positions)
        let ignore = Int64(ignoreIndex)
        let grad = Tensor.zeros(input.shape, dtype: input.dtype)
        let gx = FloatPointers(grad)
        let w = weight.map(FloatPointers.init)
        let tp = targets.pointer(as: Int64.self)
        let scale = UpstreamScale(g, reduction: reduction, denominator: saved.denominator)
        for pos in 0..<positions {
            let t = tp[pos]
            if t == ignore { continue }
            gx[layout.base(pos) + Int(t) * inner] = -scale[pos] * (w?[Int(t)] ?? 1)
        }
        withExtendedLifetime((input, targets, weight, g)) {}
        return grad
    }

    // MARK: - MSE

    public func mseLoss(_ input: Tensor, _ target: Tensor, reduction: Reduction) -> Tensor {
        let n = input.count
        let x = FloatPointers(input), y = FloatPointers(target)
        let perElement = Tensor(uninitializedShape: input.shape, dtype: input.dtype)
        let out = FloatPointers(perElement)
        var total = 0.0
        for i in 0..<n {
            let d = x[i] - y[i]
            out[i] = d * d
            total += d * d
        }
        withExtendedLifetime((input, target)) {}
        return reduced(perElement, total: total, denominator: n == 0 ? .nan : Double(n), reduction)
    }

    public func mseLossBackward(_ g: Tensor, _ input: Tensor, _ target: Tensor, reduction: Reduction) -> (input: Tensor, target: Tensor) {
        let n = input.count
        let gradX = Tensor(uninitializedShape: input.shape, dtype: input.dtype)
        let gradY = Tensor(uninitializedShape: input.shape, dtype: input.dtype)
        let gx = FloatPointers(gradX), gy = FloatPointers(gradY)
        let x = FloatPointers(input), y = FloatPointers(target)
        let scale = UpstreamScale(g, reduction: reduction, denominator: Double(n))
        for i in 0..<n {
            let v = 2 * (x[i] - y[i]) * scale[i]
            gx[i] = v
            gy[i] = -v
        }
        withExtendedLifetime((input, target, g)) {}
        return (gradX, gradY)
    }

    // MARK: - BCE with logits

    public func binaryCrossEntropyWithLogits(_ input: Tensor, _ target: Tensor, weight: Tensor?, posWeight: Tensor?,
                                             reduction: Reduction) -> Tensor {
        let n = input.count
        let x = FloatPointers(input), y = FloatPointers(target)
        let w = weight.map(FloatPointers.init), pw = posWeight.map(FloatPointers.init)
        let wCount = max(weight?.count ?? 1, 1), pwCount = max(posWeight?.count ?? 1, 1)
        let perElement = Tensor(uninitializedShape: input.shape, dtype: input.dtype)
        let out = FloatPointers(perElement)
        var total = 0.0
        for i in 0..<n {
            let xi = x[i], yi = y[i]
            let logSigmoid = min(xi, 0) - Foundation.log1p(Foundation.exp(-abs(xi)))
            let lw = pw.map { 1 + ($0[i % pwCount] - 1) * yi } ?? 1
            var loss = (1 - yi) * xi - lw * logSigmoid
            if let w { loss *= w[i % wCount] }
            out[i] = loss
            total += loss
        }
        withExtendedLifetime((input, target, weight, posWeight)) {}
        return reduced(perElement, total: total, denominator: n == 0 ? .nan : Double(n), reduction)
    }

    public func binaryCrossEntropyWithLogitsBackward(_ g: Tensor, _ input: Tensor, _ target: Tensor, weight: Tensor?,
                                                     posWeight: Tensor?, reduction: Reduction) -> (input: Tensor, target: Tensor) {
        let n = input.count
        let wCount = max(weight?.count ?? 1, 1), pwCount = max(posWeight?.count ?? 1, 1)
        let gradX = Tensor(uninitializedShape: input.shape, dtype: input.dtype)
        let gradY = Tensor(uninitializedShape: input.shape, dtype: input.dtype)
        let gx = FloatPointers(gradX), gy = FloatPointers(gradY)
        let x = FloatPointers(input), y = FloatPointers(target)
        let w = weight.map(FloatPointers.init), pw = posWeight.map(FloatPointers.init)
        let scale = UpstreamScale(g, reduction: reduction, denominator: Double(n))
        for i in 0..<n {
            let xi = x[i], yi = y[i]
            let e = Foundation.exp(-abs(xi))
            // σ(−x) computed without overflow; logσ(x) as in the forward.
            let sigmoidNeg = xi >= 0 ? e / (1 + e) : 1 / (1 + e)
            let logSigmoid = min(xi, 0) - Foundation.log1p(e)
            let p = pw?[i % pwCount] ?? 1
            let lw = 1 + (p - 1) * yi
            let s = scale[i] * (w?[i % wCount] ?? 1)
            gx[i] = s * ((1 - yi) - lw * sigmoidNeg)
            gy[i] = s * (-xi - (p - 1) * logSigmoid)
        }
        withExtendedLifetime((input, target, weight, posWeight, g)) {}
        return (gradX, gradY)
    }
}
