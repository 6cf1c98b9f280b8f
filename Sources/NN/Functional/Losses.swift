import Foundation
import TensorCore
import Autograd

/// How a loss combines its per-element values, like PyTorch's `reduction=` argument.
public enum Reduction: String, Sendable, CaseIterable {
    /// One loss value per sample (per position), in the target's shape.
    case none
    /// The (weighted) average: a 0-d tensor.
    case mean
    /// The sum: a 0-d tensor.
    case sum
}

// MARK: - Layout shared by the class-index losses

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

/// Checks input/target/weight of `cross_entropy` / `nll_loss` with class-index targets.
func validateClassTargets(_ source: String, input: Tensor, targets: Tensor, weight: Tensor?,
                          ignoreIndex: Int) throws(UsageError) {
    guard input.dtype.isFloatingPoint else {
        throw UsageError(source, "expected a floating point input, got \(input.dtype)")
    }
    guard input.rank >= 1 else { throw UsageError(source, "Expected 1 or more dimensions (got 0)") }
    guard targets.dtype == .int64 else {
        throw UsageError(source, "expected scalar type Long but found \(targets.dtype)")
    }
    if input.rank == 1 {
        guard targets.rank == 0 else {
            throw UsageError(source, "Expected target to be 0D when input is 1D, but got target.dim =\(targets.rank)")
        }
    } else {
        guard targets.rank >= 1, targets.shape[0] == input.shape[0] else {
            throw UsageError(source, "Expected input batch_size (\(input.shape[0])) to match target batch_size (\(targets.rank == 0 ? 1 : targets.shape[0])).")
        }
        let want = [input.shape[0]] + input.shape.dropFirst(2)
        guard targets.shape == want else {
            if input.rank == 2 {
                throw UsageError(source, "0D or 1D target tensor expected, multi-target not supported")
            }
            throw UsageError(source, "Expected target size \(shapeString(want)), got \(shapeString(targets.shape))")
        }
    }
    let c = ClassLayout(input.shape).classes
    if let weight {
        guard weight.rank == 1, weight.count == c else {
            throw UsageError(source, "weight tensor should be defined either for all \(c) classes or no classes but got weight tensor of shape: \(shapeString(weight.shape))")
        }
        guard weight.dtype == input.dtype else {
            throw UsageError(source, "expected scalar type \(input.dtype) but found \(weight.dtype) for weight")
        }
    }
    let tp = targets.pointer(as: Int64.self)
    let ignore = Int64(ignoreIndex)
    for i in 0..<targets.count {
        let t = tp[i]
        if t != ignore && (t < 0 || t >= Int64(c)) { throw UsageError(source, "Target \(t) is out of bounds.") }
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

// MARK: - Cross entropy

/// Cross entropy between logits and class indices (or class probabilities), like
/// `torch.nn.functional.cross_entropy`: a fused, numerically stable log-sum-exp forward and one
/// autograd node for the backward.
///
/// `input` is `(N, C)`, `(C)` or `(N, C, d1, …)`; `targets` holds int64 class indices of shape
/// `(N)`, `()` or `(N, d1, …)` — or, with the input's shape and a float dtype, class probabilities.
/// With `labelSmoothing` ε the loss is PyTorch's `(1 − ε)·nll + ε/C·Σ_c w_c·(−log p_c)`, where
/// the mean divides both parts by the summed weights of the non-ignored targets.
///
/// ```swift
/// let logits = Tensor([2, 0.5, -1, 0.1, 0.2, 3] as [Float], shape: [2, 3])
/// let loss = crossEntropy(logits, targets: Tensor([0, 2] as [Int64], shape: [2]), labelSmoothing: 0.1)
/// ```
public func crossEntropy(_ input: Tensor, targets: Tensor, weight: Tensor? = nil, ignoreIndex: Int = -100,
                         reduction: Reduction = .mean, labelSmoothing: Double = 0) -> Tensor {
    do {
        try validateCrossEntropy(input, targets: targets, weight: weight, ignoreIndex: ignoreIndex,
                                 labelSmoothing: labelSmoothing)
    } catch { usageFailure(error) }
    if targets.dtype.isFloatingPoint && targets.shape == input.shape {
        return crossEntropyProbabilities(input, targets: targets, weight: weight, reduction: reduction,
                                         labelSmoothing: labelSmoothing)
    }
    if input.dtype == .float32 && ClassLayout(input.shape).inner == 1 {
        return crossEntropyRowsFloat32(input, targets: targets, weight: weight, ignoreIndex: ignoreIndex,
                                       reduction: reduction, labelSmoothing: labelSmoothing)
    }
    return crossEntropyIndices(input, targets: targets, weight: weight, ignoreIndex: ignoreIndex,
                               reduction: reduction, labelSmoothing: labelSmoothing)
}

/// The checks ``crossEntropy(_:targets:weight:ignoreIndex:reduction:labelSmoothing:)`` makes, with
/// PyTorch's messages.
public func validateCrossEntropy(_ input: Tensor, targets: Tensor, weight: Tensor? = nil, ignoreIndex: Int = -100,
                                 labelSmoothing: Double = 0) throws(UsageError) {
    let source = "cross_entropy"
    guard labelSmoothing >= 0 && labelSmoothing <= 1 else {
        throw UsageError(source, "label_smoothing must be between 0.0 and 1.0. Got: \(labelSmoothing)")
    }
    if targets.shape == input.shape && input.rank >= 1 && targets.dtype != .int64 {
        guard targets.dtype.isFloatingPoint else {
            throw UsageError(source, "Expected floating point type for target with class probabilities, got \(targets.dtype)")
        }
        guard ignoreIndex < 0 else { throw UsageError(source, "ignore_index is not supported for floating point target") }
        guard input.dtype == targets.dtype else {
            throw UsageError(source, "expected scalar type \(input.dtype) but found \(targets.dtype)")
        }
        let c = ClassLayout(input.shape).classes
        if let weight, weight.rank != 1 || weight.count != c {
            throw UsageError(source, "weight tensor should be defined either for all \(c) classes or no classes but got weight tensor of shape: \(shapeString(weight.shape))")
        }
        if let weight, weight.dtype != input.dtype {
            throw UsageError(source, "expected scalar type \(input.dtype) but found \(weight.dtype) for weight")
        }
        return
    }
    try validateClassTargets(source, input: input, targets: targets, weight: weight, ignoreIndex: ignoreIndex)
}

private func crossEntropyIndices(_ input: Tensor, targets: Tensor, weight: Tensor?, ignoreIndex: Int,
                                 reduction: Reduction, labelSmoothing eps: Double) -> Tensor {
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
    var lse = [Double](repeating: 0, count: positions)
    let perPosition = Tensor(uninitializedShape: targets.shape, dtype: input.dtype)
    let out = FloatPointers(perPosition)
    var total = 0.0, denominator = 0.0
    for pos in 0..<positions {
        let t = tp[pos]
        if t == ignore { out[pos] = 0; continue }
        let b = layout.base(pos)
        var m = -Double.infinity
        for k in 0..<c { m = max(m, x[b + k * inner]) }
        var s = 0.0
        for k in 0..<c { s += Foundation.exp(x[b + k * inner] - m) }
        let l = m.isFinite ? m + Foundation.log(s) : m
        lse[pos] = l
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
    let result: Tensor
    switch reduction {
    case .none: result = perPosition
    case .sum: result = scalarTensor(total, dtype: input.dtype)
    case .mean: result = scalarTensor(total / denominator, dtype: input.dtype)
    }
    guard Autograd.isRecording(input) else { return result }
    return Autograd.record("cross_entropy", output: result, inputs: [input]) { g in
        let grad = Tensor.zeros(input.shape, dtype: input.dtype)
        let gx = FloatPointers(grad)
        let x = FloatPointers(input)
        let w = weight.map(FloatPointers.init)
        let tp = targets.pointer(as: Int64.self)
        let scale = UpstreamScale(g, reduction: reduction, denominator: denominator)
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
        withExtendedLifetime((input, targets, weight, g)) {}
        return [grad]
    }
}

/// The common case — float32 `(N, C)` or `(C)` logits, class indices — on hoisted pointers, rows
/// split over threads: one `exp` per element forward (per-row log-sum-exp kept) and one backward.
private func crossEntropyRowsFloat32(_ input: Tensor, targets: Tensor, weight: Tensor?, ignoreIndex: Int,
                                     reduction: Reduction, labelSmoothing eps: Double) -> Tensor {
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
        Parallel.forRange(0..<rows, grain: grain) { r in
            for row in r {
                let t = tp[row]
                if t == ignore { out[row] = 0; lp[row] = 0; continue }
                let xr = x + row * c
                var m = -Float.infinity
                for k in 0..<c { m = max(m, xr[k]) }
                var sum = 0.0
                for k in 0..<c { sum += Double(Foundation.exp(xr[k] - m)) }
                let l = m.isFinite ? Double(m) + Foundation.log(sum) : Double(m)
                lp[row] = Float(l)
                let wt = w.map { Double($0[Int(t)]) } ?? 1
                var loss = (1 - eps) * wt * (l - Double(xr[Int(t)]))
                if eps > 0 {
                    var wx = 0.0
                    if let w { for k in 0..<c { wx += Double(w[k] * xr[k]) } } else { for k in 0..<c { wx += Double(xr[k]) } }
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
    guard Autograd.isRecording(input) else { return result }
    return Autograd.record("cross_entropy", output: result, inputs: [input]) { g in
        let grad = Tensor(uninitializedShape: input.shape, dtype: .float32)
        let x = input.pointer(as: Float.self), gx = grad.pointer(as: Float.self)
        let tp = targets.pointer(as: Int64.self), lp = lse.pointer(as: Float.self)
        let w: UnsafeMutablePointer<Float>? = weight?.pointer(as: Float.self)
        let perRow: UnsafeMutablePointer<Float>? = reduction == .none ? g.pointer(as: Float.self) : nil
        let scalar = reduction == .none ? 0 : (reduction == .mean ? g.doubleValue(at: 0) / denominator : g.doubleValue(at: 0))
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
                if let w {
                    for k in 0..<c { gr[k] = Foundation.exp(xr[k] - l) * pScale - wScale * w[k] }
                } else {
                    for k in 0..<c { gr[k] = Foundation.exp(xr[k] - l) * pScale - wScale }
                }
                gr[Int(t)] -= Float(s * (1 - eps) * wt)
            }
        }
        withExtendedLifetime((input, targets, weight, g, lse)) {}
        return [grad]
    }
}

private func crossEntropyProbabilities(_ input: Tensor, targets: Tensor, weight: Tensor?, reduction: Reduction,
                                       labelSmoothing eps: Double) -> Tensor {
    let layout = ClassLayout(input.shape)
    let (c, inner, positions) = (layout.classes, layout.inner, layout.positions)
    let x = FloatPointers(input), q = FloatPointers(targets)
    let w = weight.map(FloatPointers.init)
    let smooth = eps / Double(c)
    var lse = [Double](repeating: 0, count: positions)
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
        lse[pos] = l
        var loss = 0.0
        for k in 0..<c {
            let i = b + k * inner
            loss += (w?[k] ?? 1) * (q[i] * (1 - eps) + smooth) * (l - x[i])
        }
        out[pos] = loss
        total += loss
    }
    // PyTorch's mean divides by the number of positions (not by weights) for probability targets.
    let denominator = Double(positions)
    let result: Tensor
    switch reduction {
    case .none: result = perPosition
    case .sum: result = scalarTensor(total, dtype: input.dtype)
    case .mean: result = scalarTensor(positions == 0 ? .nan : total / denominator, dtype: input.dtype)
    }
    guard Autograd.isRecording(input, targets) else { return result }
    return Autograd.record("cross_entropy", output: result, inputs: [input, targets]) { g in
        let gradX = Tensor.zeros(input.shape, dtype: input.dtype)
        let gradQ = Tensor.zeros(targets.shape, dtype: targets.dtype)
        let gx = FloatPointers(gradX), gq = FloatPointers(gradQ)
        let x = FloatPointers(input), q = FloatPointers(targets)
        let w = weight.map(FloatPointers.init)
        let scale = UpstreamScale(g, reduction: reduction, denominator: denominator)
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
        withExtendedLifetime((input, targets, weight, g)) {}
        return [gradX, gradQ]
    }
}

// MARK: - NLL

/// Negative log-likelihood of class indices given log-probabilities, like
/// `torch.nn.functional.nll_loss`: `−w[t]·input[t]` per position; the mean divides by the summed
/// weights of the non-ignored targets.
///
/// ```swift
/// let loss = nllLoss(logits.logSoftmax(dim: 1), targets: labels)
/// ```
public func nllLoss(_ input: Tensor, targets: Tensor, weight: Tensor? = nil, ignoreIndex: Int = -100,
                    reduction: Reduction = .mean) -> Tensor {
    do {
        try validateNLLLoss(input, targets: targets, weight: weight, ignoreIndex: ignoreIndex)
    } catch { usageFailure(error) }
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
    let result: Tensor
    switch reduction {
    case .none: result = perPosition
    case .sum: result = scalarTensor(total, dtype: input.dtype)
    case .mean: result = scalarTensor(total / denominator, dtype: input.dtype)
    }
    guard Autograd.isRecording(input) else { return result }
    return Autograd.record("nll_loss", output: result, inputs: [input]) { g in
        let grad = Tensor.zeros(input.shape, dtype: input.dtype)
        let gx = FloatPointers(grad)
        let w = weight.map(FloatPointers.init)
        let tp = targets.pointer(as: Int64.self)
        let scale = UpstreamScale(g, reduction: reduction, denominator: denominator)
        for pos in 0..<positions {
            let t = tp[pos]
            if t == ignore { continue }
            gx[layout.base(pos) + Int(t) * inner] = -scale[pos] * (w?[Int(t)] ?? 1)
        }
        withExtendedLifetime((input, targets, weight, g)) {}
        return [grad]
    }
}

/// The checks ``nllLoss(_:targets:weight:ignoreIndex:reduction:)`` makes, with PyTorch's messages.
public func validateNLLLoss(_ input: Tensor, targets: Tensor, weight: Tensor? = nil, ignoreIndex: Int = -100) throws(UsageError) {
    try validateClassTargets("nll_loss", input: input, targets: targets, weight: weight, ignoreIndex: ignoreIndex)
}

// MARK: - MSE

/// Mean squared error, like `torch.nn.functional.mse_loss`: `(input − target)²` per element.
/// Differentiable with respect to both arguments.
///
/// ```swift
/// let loss = mseLoss(prediction, target)       // 0-d tensor
/// ```
public func mseLoss(_ input: Tensor, _ target: Tensor, reduction: Reduction = .mean) -> Tensor {
    do { try validateMSELoss(input, target) } catch { usageFailure(error) }
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
    let result: Tensor
    switch reduction {
    case .none: result = perElement
    case .sum: result = scalarTensor(total, dtype: input.dtype)
    case .mean: result = scalarTensor(n == 0 ? .nan : total / Double(n), dtype: input.dtype)
    }
    guard Autograd.isRecording(input, target) else { return result }
    return Autograd.record("mse_loss", output: result, inputs: [input, target]) { g in
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
        return [gradX, gradY]
    }
}

/// The checks ``mseLoss(_:_:reduction:)`` makes.
public func validateMSELoss(_ input: Tensor, _ target: Tensor) throws(UsageError) {
    guard input.dtype.isFloatingPoint, input.dtype == target.dtype else {
        throw UsageError("mse_loss", "Found dtype \(target.dtype) but expected \(input.dtype)")
    }
    guard input.shape == target.shape else {
        throw UsageError("mse_loss", "input shape \(shapeString(input.shape)) and target shape \(shapeString(target.shape)) must match (broadcasting a target of another size is not supported)")
    }
}

// MARK: - BCE with logits

/// Binary cross entropy on logits, like `torch.nn.functional.binary_cross_entropy_with_logits`:
/// `(1 − y)·x − (1 + (posWeight − 1)·y)·logσ(x)`, times `weight`, with a stable `logσ`.
///
/// `weight` and `posWeight` have the input's shape or a trailing part of it (e.g. `[C]` for a
/// `[N, C]` input, broadcast over the leading dimensions). Differentiable with respect to `input`
/// and `target`.
///
/// ```swift
/// let loss = binaryCrossEntropyWithLogits(logits, labels, posWeight: Tensor([3] as [Float], shape: [1]))
/// ```
public func binaryCrossEntropyWithLogits(_ input: Tensor, _ target: Tensor, weight: Tensor? = nil,
                                         posWeight: Tensor? = nil, reduction: Reduction = .mean) -> Tensor {
    do { try validateBinaryCrossEntropyWithLogits(input, target, weight: weight, posWeight: posWeight) }
    catch { usageFailure(error) }
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
    let result: Tensor
    switch reduction {
    case .none: result = perElement
    case .sum: result = scalarTensor(total, dtype: input.dtype)
    case .mean: result = scalarTensor(n == 0 ? .nan : total / Double(n), dtype: input.dtype)
    }
    guard Autograd.isRecording(input, target) else { return result }
    return Autograd.record("binary_cross_entropy_with_logits", output: result, inputs: [input, target]) { g in
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
        return [gradX, gradY]
    }
}

/// The checks ``binaryCrossEntropyWithLogits(_:_:weight:posWeight:reduction:)`` makes.
public func validateBinaryCrossEntropyWithLogits(_ input: Tensor, _ target: Tensor, weight: Tensor? = nil,
                                                 posWeight: Tensor? = nil) throws(UsageError) {
    let source = "binary_cross_entropy_with_logits"
    guard input.dtype.isFloatingPoint, target.dtype == input.dtype else {
        throw UsageError(source, "Found dtype \(target.dtype) but expected \(input.dtype)")
    }
    guard target.shape == input.shape else {
        throw UsageError(source, "Target size (\(shapeString(target.shape))) must be the same as input size (\(shapeString(input.shape)))")
    }
    for (name, t) in [("weight", weight), ("pos_weight", posWeight)] {
        guard let t else { continue }
        guard t.dtype == input.dtype else {
            throw UsageError(source, "expected scalar type \(input.dtype) but found \(t.dtype) for \(name)")
        }
        // Broadcastable as a trailing block: shape (after leading 1s) is a suffix of the input's.
        let trimmed = Array(t.shape.drop { $0 == 1 })
        let ok = trimmed.count <= input.rank && Array(input.shape.suffix(trimmed.count)) == trimmed
        guard ok || t.count == 1 else {
            throw UsageError(source, "\(name) of shape \(shapeString(t.shape)) cannot be broadcast to the input's shape \(shapeString(input.shape)) (only trailing-dimension broadcasting is supported)")
        }
    }
}
