import TensorCore
import Autograd

// Functional normalization: the layers call these, and users who keep their own running
// statistics can call them directly. Each builds its output with a fused kernel and records one
// autograd node whose backward is the matching fused backward kernel. float32 runs the fast
// kernels; float64 runs plain Double loops (for gradient checks).

// MARK: - Helpers

@inline(__always)
private func ptr<T: TensorScalar>(_ t: Tensor?, _: T.Type) -> UnsafePointer<T>? {
    t.map { UnsafePointer($0.pointer(as: T.self)) }
}

/// A tensor of `shape` and `dtype` holding `values`.
private func tensor(_ values: [Double], shape: [Int], dtype: DType) -> Tensor {
    let t = Tensor(uninitializedShape: shape, dtype: dtype)
    switch dtype {
    case .float64: t.pointer(as: Double.self).update(from: values, count: values.count)
    default: for (i, v) in values.enumerated() { t.setValue(v, at: i) }
    }
    return t
}

private func values(_ t: Tensor) -> [Double] {
    (0..<t.count).map { t.doubleValue(at: $0) }
}

/// Checks that every given tensor is floating point with `x`'s dtype.
private func checkDTypes(_ op: String, _ x: Tensor, _ others: [Tensor?]) throws(UsageError) {
    guard x.dtype.isFloatingPoint else {
        throw UsageError(op, "expected a floating point input, got \(x.dtype)")
    }
    for case let t? in others where t.dtype != x.dtype {
        throw UsageError(op, "expected all tensors to have dtype \(x.dtype), but got \(t.dtype)")
    }
}

/// `running ← (1 − m)·running + m·value`, elementwise, in Double.
private func updateRunning(_ running: Tensor, _ batch: [Double], momentum: Double) {
    for i in 0..<running.count {
        running.setValue((1 - momentum) * running.doubleValue(at: i) + momentum * batch[i], at: i)
    }
}

/// (n, c, s) view of a (N, C, *) tensor.
@inline(__always)
private func ncs(_ x: Tensor) -> (Int, Int, Int) {
    (x.shape[0], x.shape[1], x.shape.dropFirst(2).reduce(1, *))
}

// MARK: - Batch normalization

/// Checks the arguments of ``batchNorm(_:runningMean:runningVar:weight:bias:training:momentum:eps:)``
/// with PyTorch's messages.
public func validateBatchNorm(_ x: Tensor, runningMean: Tensor?, runningVar: Tensor?, weight: Tensor?,
                              bias: Tensor?, training: Bool, source: String = "batch_norm") throws(UsageError) {
    guard x.rank >= 2 else {
        throw UsageError(source, "expected at least 2D input (got \(x.rank)D input)")
    }
    let c = x.shape[1]
    if !training && (runningMean == nil || runningVar == nil) {
        throw UsageError(source, "running_mean must be defined in evaluation mode")
    }
    // PyTorch checks the batch size first (in Python), then the shapes (in the native op).
    if training || runningMean == nil || runningVar == nil {
        if x.shape[0] * x.shape.dropFirst(2).reduce(1, *) == 1 {
            throw UsageError(source, "Expected more than 1 value per channel when training, got input size \(shapeString(x.shape))")
        }
    }
    try checkChannelCounts(source, c, runningMean: runningMean, runningVar: runningVar, weight: weight, bias: bias)
    try checkDTypes(source, x, [weight, bias])
}

private func checkChannelCounts(_ source: String, _ c: Int, runningMean: Tensor?, runningVar: Tensor?,
                                weight: Tensor?, bias: Tensor?) throws(UsageError) {
    if let runningMean, runningMean.count != c {
        throw UsageError(source, "running_mean should contain \(c) elements not \(runningMean.count)")
    }
    if let runningVar, runningVar.count != c {
        throw UsageError(source, "running_var should contain \(c) elements not \(runningVar.count)")
    }
    if let weight, weight.count != c {
        throw UsageError(source, "weight should contain \(c) elements not \(weight.count)")
    }
    if let bias, bias.count != c {
        throw UsageError(source, "bias should contain \(c) elements not \(bias.count)")
    }
}

/// Batch normalization over (N, C, *) input, like `torch.nn.functional.batch_norm`:
///
///     y = (x − E[x]) / sqrt(Var[x] + eps) · weight + bias
///
/// per channel, with E and Var over the batch and all spatial positions. In training (or when no
/// running statistics are given) the batch's statistics are used (biased variance) and, when
/// running statistics are given, they are updated in place: `running = (1 − momentum)·running +
/// momentum·batch`, with the unbiased variance for `runningVar`. Otherwise the running statistics
/// normalize. Gradients flow to `x`, `weight` and `bias`.
///
/// ```swift
/// let mean = Tensor.zeros([3]), variance = Tensor.ones([3])
/// let y = batchNorm(x, runningMean: mean, runningVar: variance, weight: nil, bias: nil,
///                   training: true, momentum: 0.1, eps: 1e-5)
/// ```
public func batchNorm(_ x: Tensor, runningMean: Tensor?, runningVar: Tensor?, weight: Tensor? = nil,
                      bias: Tensor? = nil, training: Bool = false, momentum: Double = 0.1,
                      eps: Double = 1e-5) -> Tensor {
    do {
        try validateBatchNorm(x, runningMean: runningMean, runningVar: runningVar, weight: weight, bias: bias, training: training)
    } catch { usageFailure(error) }
    return batchNormCore(x, dims: ncs(x), runningMean: runningMean, runningVar: runningVar, weight: weight, bias: bias,
                         training: training, momentum: momentum, eps: eps)
}

/// Batch normalization of `x` viewed as (n, c, s), arguments already checked.
func batchNormCore(_ x: Tensor, dims: (Int, Int, Int), runningMean: Tensor?, runningVar: Tensor?, weight: Tensor?,
                   bias: Tensor?, training: Bool, momentum: Double, eps: Double) -> Tensor {
    let (n, c, s) = dims
    let batchStats = training || runningMean == nil || runningVar == nil
    let y = Tensor(uninitializedShape: x.shape, dtype: x.dtype)
    var mean: [Double], invstd: [Double]
    var applied = false
    if batchStats {
        let variance: [Double]
        switch x.dtype {
        case .float64: (mean, variance) = Kernels.batchNormStatistics(ptr(x, Double.self)!, n: n, c: c, s: s)
        default:
            // Statistics and normalization fused per cached channel block.
            (mean, variance) = Kernels.batchNormTrainingForward(ptr(x, Float.self)!, y.pointer(as: Float.self), n: n, c: c, s: s,
                                                                weight: ptr(weight, Float.self), bias: ptr(bias, Float.self), eps: eps)
            applied = true
        }
        invstd = variance.map { 1 / ($0 + eps).squareRoot() }
        // An empty batch has no statistics: the running ones stay as they are (PyTorch still
        // counts the batch, which the module does).
        if training, n * s > 0, let runningMean, let runningVar {
            let m = Double(n * s)
            updateRunning(runningMean, mean, momentum: momentum)
            updateRunning(runningVar, variance.map { $0 * m / max(m - 1, 1) }, momentum: momentum)
        }
    } else {
        mean = values(runningMean!)
        invstd = values(runningVar!).map { 1 / ($0 + eps).squareRoot() }
    }
    switch x.dtype {
    case _ where applied: break
    case .float64:
        Kernels.batchNormApply(ptr(x, Double.self)!, y.pointer(as: Double.self), n: n, c: c, s: s, mean: mean,
                               invstd: invstd, weight: ptr(weight, Double.self), bias: ptr(bias, Double.self))
    default:
        Kernels.batchNormApply(ptr(x, Float.self)!, y.pointer(as: Float.self), n: n, c: c, s: s, mean: mean,
                               invstd: invstd, weight: ptr(weight, Float.self), bias: ptr(bias, Float.self))
    }
    let inputs = [x] + [weight, bias].compactMap { $0 }
    guard Autograd.isRecording(inputs) else { return y }
    return Autograd.record("batch_norm", output: y, inputs: inputs) { gy in
        let needX = x.requiresGrad
        let needW = (weight?.requiresGrad ?? false) || (bias?.requiresGrad ?? false)
        let dx = needX ? Tensor(uninitializedShape: x.shape, dtype: x.dtype) : nil
        let g: (gradWeight: [Double], gradBias: [Double])
        switch x.dtype {
        case .float64:
            g = Kernels.batchNormBackward(x: ptr(x, Double.self)!, gradOutput: ptr(gy, Double.self)!,
                                          gradInput: dx?.pointer(as: Double.self), n: n, c: c, s: s, mean: mean,
                                          invstd: invstd, weight: ptr(weight, Double.self),
                                          batchStatistics: batchStats, weightGradients: needW)
        default:
            g = Kernels.batchNormBackward(x: ptr(x, Float.self)!, gradOutput: ptr(gy, Float.self)!,
                                          gradInput: dx?.pointer(as: Float.self), n: n, c: c, s: s, mean: mean,
                                          invstd: invstd, weight: ptr(weight, Float.self),
                                          batchStatistics: batchStats, weightGradients: needW)
        }
        return affineGradients(dx, weight, bias, g)
    }
}

/// [dx, dweight?, dbias?] in the order the inputs were recorded.
private func affineGradients(_ dx: Tensor?, _ weight: Tensor?, _ bias: Tensor?,
                             _ g: (gradWeight: [Double], gradBias: [Double])) -> [Tensor?] {
    var out: [Tensor?] = [dx]
    if let weight { out.append(g.gradWeight.isEmpty ? nil : tensor(g.gradWeight, shape: weight.shape, dtype: weight.dtype)) }
    if let bias { out.append(g.gradBias.isEmpty ? nil : tensor(g.gradBias, shape: bias.shape, dtype: bias.dtype)) }
    return out
}

extension Autograd {
    fileprivate static func isRecording(_ inputs: [Tensor]) -> Bool {
        GradMode.isEnabled && inputs.contains { $0.requiresGrad }
    }
}

// MARK: - Instance normalization

/// Checks the arguments of ``instanceNorm(_:runningMean:runningVar:weight:bias:useInputStats:momentum:eps:)``.
public func validateInstanceNorm(_ x: Tensor, runningMean: Tensor?, runningVar: Tensor?, weight: Tensor?,
                                 bias: Tensor?, useInputStats: Bool, source: String = "instance_norm") throws(UsageError) {
    try validateInstanceNorm(batchedShape: x.shape, x, runningMean: runningMean, runningVar: runningVar,
                             weight: weight, bias: bias, useInputStats: useInputStats, source: source)
}

/// Instance-norm checks on the (N, C, *) shape the input is treated as (unbatched input gets N = 1).
func validateInstanceNorm(batchedShape shape: [Int], _ x: Tensor, runningMean: Tensor?, runningVar: Tensor?,
                          weight: Tensor?, bias: Tensor?, useInputStats: Bool, source: String) throws(UsageError) {
    guard shape.count >= 2 else {
        throw UsageError(source, "expected at least 2D input (got \(shape.count)D input)")
    }
    if useInputStats && shape.dropFirst(2).reduce(1, *) == 1 {
        throw UsageError(source, "Expected more than 1 spatial element when training, got input size \(shapeString(shape))")
    }
    try checkChannelCounts(source, shape[1], runningMean: runningMean, runningVar: runningVar, weight: weight, bias: bias)
    try checkDTypes(source, x, [weight, bias])
}

/// Instance normalization over (N, C, *) input, like `torch.nn.functional.instance_norm`: every
/// (sample, channel) plane is normalized by its own mean and biased variance,
///
///     y = (x − E[x]) / sqrt(Var[x] + eps) · weight + bias
///
/// When `useInputStats` is false the running statistics normalize instead. With running
/// statistics and `useInputStats`, they are updated with the batch average of the per-instance
/// mean and unbiased variance.
///
/// ```swift
/// let y = instanceNorm(Tensor.randn([2, 3, 8, 8]), runningMean: nil, runningVar: nil)
/// ```
public func instanceNorm(_ x: Tensor, runningMean: Tensor? = nil, runningVar: Tensor? = nil, weight: Tensor? = nil,
                         bias: Tensor? = nil, useInputStats: Bool = true, momentum: Double = 0.1,
                         eps: Double = 1e-5) -> Tensor {
    do {
        try validateInstanceNorm(x, runningMean: runningMean, runningVar: runningVar, weight: weight, bias: bias,
                                 useInputStats: useInputStats)
    } catch { usageFailure(error) }
    return instanceNormCore(x, dims: ncs(x), runningMean: runningMean, runningVar: runningVar, weight: weight,
                            bias: bias, useInputStats: useInputStats, momentum: momentum, eps: eps)
}

/// Instance normalization of `x` viewed as (n, c, s), arguments already checked.
func instanceNormCore(_ x: Tensor, dims: (Int, Int, Int), runningMean: Tensor?, runningVar: Tensor?, weight: Tensor?,
                      bias: Tensor?, useInputStats: Bool, momentum: Double, eps: Double) -> Tensor {
    guard useInputStats || runningMean == nil || runningVar == nil else {
        // Running statistics: the same per-channel affine map as batch norm in evaluation.
        return batchNormCore(x, dims: dims, runningMean: runningMean, runningVar: runningVar, weight: weight, bias: bias,
                             training: false, momentum: momentum, eps: eps)
    }
    let (n, c, s) = dims
    let stats = groupNormCore(x, dims: dims, groups: c, weight: weight, bias: bias, eps: eps, name: "instance_norm")
    if let runningMean, let runningVar {
        var m = [Double](repeating: 0, count: c), v = [Double](repeating: 0, count: c)
        let unbias = Double(s) / Double(max(s - 1, 1))
        for i in 0..<n {
            for ch in 0..<c {
                m[ch] += stats.mean[i * c + ch] / Double(n)
                v[ch] += stats.variance[i * c + ch] * unbias / Double(n)
            }
        }
        updateRunning(runningMean, m, momentum: momentum)
        updateRunning(runningVar, v, momentum: momentum)
    }
    return stats.output
}

// MARK: - Group normalization

/// Checks the arguments of ``groupNorm(_:numGroups:weight:bias:eps:)`` with PyTorch's messages.
public func validateGroupNorm(_ x: Tensor, numGroups: Int, weight: Tensor?, bias: Tensor?,
                              source: String = "group_norm") throws(UsageError) {
    guard x.rank >= 2 else {
        throw UsageError(source, "Expected at least 2 dimensions for input tensor but received \(x.rank)")
    }
    let c = x.shape[1]
    guard numGroups > 0, c % numGroups == 0 else {
        throw UsageError(source, "Expected number of channels in input to be divisible by num_groups, but got input of shape \(shapeString(x.shape)) and num_groups=\(numGroups)")
    }
    if let weight, weight.rank != 1 || weight.count != c {
        throw UsageError(source, "Expected weight to be a vector of size equal to the number of channels in input, but got weight of shape \(shapeString(weight.shape)) and input of shape \(shapeString(x.shape))")
    }
    if let bias, bias.rank != 1 || bias.count != c {
        throw UsageError(source, "Expected bias to be a vector of size equal to the number of channels in input, but got bias of shape \(shapeString(bias.shape)) and input of shape \(shapeString(x.shape))")
    }
    try checkDTypes(source, x, [weight, bias])
}

/// Group normalization over (N, C, *) input, like `torch.nn.functional.group_norm`: the channels
/// are split into `numGroups` contiguous groups and each (sample, group) is normalized by its own
/// mean and biased variance, then scaled per channel:
///
///     y = (x − E[x]) / sqrt(Var[x] + eps) · weight + bias
///
/// ```swift
/// let y = groupNorm(Tensor.randn([2, 8, 4, 4]), numGroups: 4)
/// ```
public func groupNorm(_ x: Tensor, numGroups: Int, weight: Tensor? = nil, bias: Tensor? = nil,
                      eps: Double = 1e-5) -> Tensor {
    do { try validateGroupNorm(x, numGroups: numGroups, weight: weight, bias: bias) } catch { usageFailure(error) }
    return groupNormCore(x, dims: ncs(x), groups: numGroups, weight: weight, bias: bias, eps: eps, name: "group_norm").output
}

private func groupNormCore(_ x: Tensor, dims: (Int, Int, Int), groups: Int, weight: Tensor?, bias: Tensor?,
                           eps: Double, name: String) -> (output: Tensor, mean: [Double], variance: [Double]) {
    let (n, c, s) = dims
    let y = Tensor(uninitializedShape: x.shape, dtype: x.dtype)
    let r: (mean: [Double], variance: [Double], invstd: [Double])
    switch x.dtype {
    case .float64:
        r = Kernels.groupNormForward(ptr(x, Double.self)!, y.pointer(as: Double.self), n: n, c: c, s: s, groups: groups,
                                     weight: ptr(weight, Double.self), bias: ptr(bias, Double.self), eps: eps)
    default:
        r = Kernels.groupNormForward(ptr(x, Float.self)!, y.pointer(as: Float.self), n: n, c: c, s: s, groups: groups,
                                     weight: ptr(weight, Float.self), bias: ptr(bias, Float.self), eps: eps)
    }
    let inputs = [x] + [weight, bias].compactMap { $0 }
    guard Autograd.isRecording(inputs) else { return (y, r.mean, r.variance) }
    let (mean, invstd) = (r.mean, r.invstd)
    Autograd.record(name, output: y, inputs: inputs) { gy in
        let needW = (weight?.requiresGrad ?? false) || (bias?.requiresGrad ?? false)
        let dx = x.requiresGrad ? Tensor(uninitializedShape: x.shape, dtype: x.dtype) : nil
        let g: (gradWeight: [Double], gradBias: [Double])
        switch x.dtype {
        case .float64:
            g = Kernels.groupNormBackward(x: ptr(x, Double.self)!, gradOutput: ptr(gy, Double.self)!,
                                          gradInput: dx?.pointer(as: Double.self), n: n, c: c, s: s, groups: groups,
                                          mean: mean, invstd: invstd, weight: ptr(weight, Double.self), weightGradients: needW)
        default:
            g = Kernels.groupNormBackward(x: ptr(x, Float.self)!, gradOutput: ptr(gy, Float.self)!,
                                          gradInput: dx?.pointer(as: Float.self), n: n, c: c, s: s, groups: groups,
                                          mean: mean, invstd: invstd, weight: ptr(weight, Float.self), weightGradients: needW)
        }
        return affineGradients(dx, weight, bias, g)
    }
    return (y, r.mean, r.variance)
}

// MARK: - Layer and RMS normalization

/// Checks that `x` ends with `normalizedShape` and that weight and bias have that shape.
public func validateLayerNorm(_ x: Tensor, normalizedShape: [Int], weight: Tensor?, bias: Tensor?,
                              source: String = "layer_norm") throws(UsageError) {
    let k = normalizedShape.count
    guard k >= 1, x.rank >= k, Array(x.shape.suffix(k)) == normalizedShape else {
        throw UsageError(source, "Given normalized_shape=\(shapeString(normalizedShape)), expected input with shape [*, \(normalizedShape.map(String.init).joined(separator: ", "))], but got input of size\(shapeString(x.shape))")
    }
    if let weight, weight.shape != normalizedShape {
        throw UsageError(source, "Expected weight to be of same shape as normalized_shape, but got weight of shape \(shapeString(weight.shape)) and normalized_shape = \(shapeString(normalizedShape))")
    }
    if let bias, bias.shape != normalizedShape {
        throw UsageError(source, "Expected bias to be of same shape as normalized_shape, but got bias of shape \(shapeString(bias.shape)) and normalized_shape = \(shapeString(normalizedShape))")
    }
    try checkDTypes(source, x, [weight, bias])
}

/// Layer normalization over the trailing `normalizedShape` dimensions, like
/// `torch.nn.functional.layer_norm`:
///
///     y = (x − E[x]) / sqrt(Var[x] + eps) · weight + bias
///
/// with E and the biased Var over the last `normalizedShape.count` dimensions of each sample,
/// and elementwise `weight` and `bias` of shape `normalizedShape`.
///
/// ```swift
/// let y = layerNorm(Tensor.randn([32, 128, 512]), normalizedShape: [512])
/// ```
public func layerNorm(_ x: Tensor, normalizedShape: [Int], weight: Tensor? = nil, bias: Tensor? = nil,
                      eps: Double = 1e-5) -> Tensor {
    do { try validateLayerNorm(x, normalizedShape: normalizedShape, weight: weight, bias: bias) } catch { usageFailure(error) }
    let d = normalizedShape.reduce(1, *)
    let rows = d == 0 ? 0 : x.count / d
    let y = Tensor(uninitializedShape: x.shape, dtype: x.dtype)
    let r: (mean: [Double], invstd: [Double])
    switch x.dtype {
    case .float64:
        r = Kernels.layerNormForward(ptr(x, Double.self)!, y.pointer(as: Double.self), rows: rows, d: d,
                                     weight: ptr(weight, Double.self), bias: ptr(bias, Double.self), eps: eps)
    default:
        r = Kernels.layerNormForward(ptr(x, Float.self)!, y.pointer(as: Float.self), rows: rows, d: d,
                                     weight: ptr(weight, Float.self), bias: ptr(bias, Float.self), eps: eps)
    }
    let inputs = [x] + [weight, bias].compactMap { $0 }
    guard Autograd.isRecording(inputs) else { return y }
    return Autograd.record("layer_norm", output: y, inputs: inputs) { gy in
        let needW = (weight?.requiresGrad ?? false) || (bias?.requiresGrad ?? false)
        let dx = x.requiresGrad ? Tensor(uninitializedShape: x.shape, dtype: x.dtype) : nil
        let g: (gradWeight: [Double], gradBias: [Double])
        switch x.dtype {
        case .float64:
            g = Kernels.layerNormBackward(x: ptr(x, Double.self)!, gradOutput: ptr(gy, Double.self)!,
                                          gradInput: dx?.pointer(as: Double.self), rows: rows, d: d, mean: r.mean,
                                          invstd: r.invstd, weight: ptr(weight, Double.self), weightGradients: needW)
        default:
            g = Kernels.layerNormBackward(x: ptr(x, Float.self)!, gradOutput: ptr(gy, Float.self)!,
                                          gradInput: dx?.pointer(as: Float.self), rows: rows, d: d, mean: r.mean,
                                          invstd: r.invstd, weight: ptr(weight, Float.self), weightGradients: needW)
        }
        return affineGradients(dx, weight, bias, g)
    }
}

/// RMS normalization over the trailing `normalizedShape` dimensions, like
/// `torch.nn.functional.rms_norm`:
///
///     y = x / sqrt(mean(x²) + eps) · weight
///
/// `eps` nil means the dtype's machine epsilon (`Float.ulpOfOne` for float32).
///
/// ```swift
/// let y = rmsNorm(Tensor.randn([4, 512]), normalizedShape: [512])
/// ```
public func rmsNorm(_ x: Tensor, normalizedShape: [Int], weight: Tensor? = nil, eps: Double? = nil) -> Tensor {
    do { try validateLayerNorm(x, normalizedShape: normalizedShape, weight: weight, bias: nil, source: "rms_norm") } catch { usageFailure(error) }
    let eps = eps ?? (x.dtype == .float64 ? Double.ulpOfOne : Double(Float.ulpOfOne))
    let d = normalizedShape.reduce(1, *)
    let rows = d == 0 ? 0 : x.count / d
    let y = Tensor(uninitializedShape: x.shape, dtype: x.dtype)
    let invstd: [Double]
    switch x.dtype {
    case .float64:
        invstd = Kernels.rmsNormForward(ptr(x, Double.self)!, y.pointer(as: Double.self), rows: rows, d: d,
                                        weight: ptr(weight, Double.self), eps: eps)
    default:
        invstd = Kernels.rmsNormForward(ptr(x, Float.self)!, y.pointer(as: Float.self), rows: rows, d: d,
                                        weight: ptr(weight, Float.self), eps: eps)
    }
    let inputs = [x] + [weight].compactMap { $0 }
    guard Autograd.isRecording(inputs) else { return y }
    return Autograd.record("rms_norm", output: y, inputs: inputs) { gy in
        let needW = weight?.requiresGrad ?? false
        let dx = x.requiresGrad ? Tensor(uninitializedShape: x.shape, dtype: x.dtype) : nil
        let gw: [Double]
        switch x.dtype {
        case .float64:
            gw = Kernels.rmsNormBackward(x: ptr(x, Double.self)!, gradOutput: ptr(gy, Double.self)!,
                                         gradInput: dx?.pointer(as: Double.self), rows: rows, d: d, invstd: invstd,
                                         weight: ptr(weight, Double.self), weightGradients: needW)
        default:
            gw = Kernels.rmsNormBackward(x: ptr(x, Float.self)!, gradOutput: ptr(gy, Float.self)!,
                                         gradInput: dx?.pointer(as: Float.self), rows: rows, d: d, invstd: invstd,
                                         weight: ptr(weight, Float.self), weightGradients: needW)
        }
        return affineGradients(dx, weight, nil, (gw, []))
    }
}
