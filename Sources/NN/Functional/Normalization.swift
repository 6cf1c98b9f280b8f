import TensorCore
import Autograd

// Functional normalization: the layers call these, and users who keep their own running
// statistics can call them directly. Each builds its output with a fused kernel and records one
// autograd node whose backward is the matching fused backward kernel. float32 runs the fast
// kernels; float64 runs plain Double loops (for gradient checks).

// MARK: - Helpers

/// Checks that every given tensor is floating point with `x`'s dtype.
private func checkDTypes(_ op: String, _ x: Tensor, _ others: [Tensor?]) throws(UsageError) {
    try checkDTypes(op, x.dtype, others)
}

private func checkDTypes(_ op: String, _ dtype: DType, _ others: [Tensor?]) throws(UsageError) {
    guard dtype.isFloatingPoint else {
        throw UsageError(op, "expected a floating point input, got \(dtype)")
    }
    for case let t? in others where t.dtype != dtype {
        throw UsageError(op, "expected all tensors to have dtype \(dtype), but got \(t.dtype)")
    }
}

/// [dx, dweight?, dbias?] in the order the inputs were recorded, parameter gradients shaped like
/// the parameters.
func affineGradients(_ dx: Tensor?, _ weight: Tensor?, _ bias: Tensor?, _ gw: Tensor?, _ gb: Tensor?) -> [Tensor?] {
    var out: [Tensor?] = [dx]
    if let weight { out.append(gw?.viewData(weight.shape)) }
    if let bias { out.append(gb?.viewData(bias.shape)) }
    return out
}

/// Whether the parameters need gradients.
private func needsGradient(_ ts: Tensor?...) -> Bool { ts.contains { $0?.requiresGrad ?? false } }

// MARK: - Batch normalization

/// Checks the arguments of ``batchNorm(_:runningMean:runningVar:weight:bias:training:momentum:eps:)``
/// with PyTorch's messages.
///
/// `checkBatchSize` false skips the "more than 1 value per channel" rule, for a part of a batch
/// whose statistics are combined with others (the combined count is checked instead).
public func validateBatchNorm(_ x: Tensor, runningMean: Tensor?, runningVar: Tensor?, weight: Tensor?,
                              bias: Tensor?, training: Bool, checkBatchSize: Bool = true,
                              source: String = "batch_norm") throws(UsageError) {
    try validateBatchNorm(shape: x.shape, dtype: x.dtype, runningMean: runningMean, runningVar: runningVar, weight: weight,
                          bias: bias, training: training, checkBatchSize: checkBatchSize, source: source)
}

/// ``validateBatchNorm(_:runningMean:runningVar:weight:bias:training:checkBatchSize:source:)`` for an
/// input known by its shape and dtype alone (one a fused path never materializes).
func validateBatchNorm(shape: [Int], dtype: DType, runningMean: Tensor?, runningVar: Tensor?, weight: Tensor?,
                       bias: Tensor?, training: Bool, checkBatchSize: Bool = true,
                       source: String = "batch_norm") throws(UsageError) {
    guard shape.count >= 2 else {
        throw UsageError(source, "expected at least 2D input (got \(shape.count)D input)")
    }
    let c = shape[1]
    if !training && (runningMean == nil || runningVar == nil) {
        throw UsageError(source, "running_mean must be defined in evaluation mode")
    }
    // PyTorch checks the batch size first (in Python), then the shapes (in the native op).
    if checkBatchSize && (training || runningMean == nil || runningVar == nil) {
        if shape[0] * shape.dropFirst(2).reduce(1, *) == 1 {
            throw UsageError(source, "Expected more than 1 value per channel when training, got input size \(shapeString(shape))")
        }
    }
    try checkChannelCounts(source, c, runningMean: runningMean, runningVar: runningVar, weight: weight, bias: bias)
    try checkDTypes(source, dtype, [weight, bias])
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

/// Combines batch normalization's per-channel reductions with those of other processes or
/// micro-batches: the seam SyncBatchNorm is built on.
///
/// With a reducer, training-mode batch normalization runs in split form: the forward reduces
/// this part's statistics, asks ``combine(_:)-(ChannelStatistics)`` for the statistics of the
/// whole batch (e.g. an all-gather and Chan merge across processes), and normalizes with those;
/// the backward reduces Σdy and Σdy·x̂, asks ``combine(_:)-(ChannelGradientSums)`` for the whole
/// batch's sums (an all-reduce) and computes the input gradient from them. Weight and bias
/// gradients stay this part's own, as in PyTorch's SyncBatchNorm (data-parallel training
/// averages parameter gradients afterwards). Every part must call both, in the same order.
///
/// ```swift
/// final class TwoMicroBatches: BatchNormReducer {
///     let other: ChannelStatistics
///     init(other: ChannelStatistics) { self.other = other }
///     func combine(_ local: ChannelStatistics) -> ChannelStatistics { local.merged(with: other) }
///     func combine(_ local: ChannelGradientSums) -> ChannelGradientSums { local }
/// }
/// ```
public protocol BatchNormReducer: AnyObject {
    /// The statistics of the whole batch, given this part's.
    func combine(_ local: ChannelStatistics) -> ChannelStatistics
    /// The gradient sums of the whole batch, given this part's.
    func combine(_ local: ChannelGradientSums) -> ChannelGradientSums
    /// The name a BatchNorm layer using this reducer goes by (`"SyncBatchNorm"`), or nil to keep
    /// its own.
    var layerName: String? { get }
}

extension BatchNormReducer {
    public var layerName: String? { nil }
}

/// Batch normalization over (N, C, *) input, like `torch.nn.functional.batch_norm`:
///
///     y = (x − E[x]) / sqrt(Var[x] + eps) · weight + bias
///
/// per channel, with E and Var over the batch and all spatial positions. In training (or when no
/// running statistics are given) the batch's statistics are used (biased variance) and, when
/// running statistics are given, they are updated in place: `running = (1 − momentum)·running +
/// momentum·batch`, with the unbiased variance for `runningVar`. Otherwise the running statistics
/// normalize. Gradients flow to `x`, `weight` and `bias`. A `reducer` combines the statistics
/// with other processes' or micro-batches' (see ``BatchNormReducer``).
///
/// ```swift
/// let mean = Tensor.zeros([3]), variance = Tensor.ones([3])
/// let y = batchNorm(x, runningMean: mean, runningVar: variance, weight: nil, bias: nil,
///                   training: true, momentum: 0.1, eps: 1e-5)
/// ```
public func batchNorm(_ x: Tensor, runningMean: Tensor?, runningVar: Tensor?, weight: Tensor? = nil,
                      bias: Tensor? = nil, training: Bool = false, momentum: Double = 0.1,
                      eps: Double = 1e-5, reducer: (any BatchNormReducer)? = nil) -> Tensor {
    let batchStatistics = training || runningMean == nil || runningVar == nil
    do {
        try validateBatchNorm(x, runningMean: runningMean, runningVar: runningVar, weight: weight, bias: bias,
                              training: training, checkBatchSize: reducer == nil || !batchStatistics)
    } catch { usageFailure(error) }
    let running = RunningStatistics.functional(mean: runningMean, variance: runningVar, momentum: momentum)
    return batchNormCore(x, running: running, weight: weight, bias: bias, training: training, eps: eps, reducer: reducer)
}

/// Batch normalization with arguments already checked. In training with `running`, the running
/// statistics take the batch's (``RunningStatistics/update(with:)``); in evaluation they
/// normalize. Without running statistics the batch's always normalize.
func batchNormCore(_ x: Tensor, running: RunningStatistics?, weight: Tensor?, bias: Tensor?, training: Bool,
                   eps: Double, reducer: (any BatchNormReducer)?, source: String = "batch_norm") -> Tensor {
    let batchStatistics = training || running == nil
    let y: Tensor, mean: [Double], invstd: [Double]
    if batchStatistics {
        let stats: ChannelStatistics
        if let reducer {
            // Split form: reduce here, combine with the other parts, normalize with the whole.
            stats = reducer.combine(Kernels.batchNormStatistics(x))
            if stats.count <= 1 {
                usageFailure(UsageError(source, "Expected more than 1 value per channel when training, got input size \(shapeString(x.shape)) and \(stats.count) values per channel in all parts"))
            }
            mean = stats.mean
            invstd = stats.invstd(eps: eps)
            y = Kernels.batchNormApply(x, mean: mean, invstd: invstd, weight: weight, bias: bias)
        } else {
            // Statistics and normalization fused per cached channel block.
            (y, stats) = Kernels.batchNormTrainingForward(x, weight: weight, bias: bias, eps: eps)
            mean = stats.mean
            invstd = stats.invstd(eps: eps)
        }
        if training { running?.update(with: stats) }
    } else {
        (mean, invstd) = running!.evaluationStatistics(eps: eps)
        y = Kernels.batchNormApply(x, mean: mean, invstd: invstd, weight: weight, bias: bias)
    }
    let inputs = [x] + [weight, bias].compactMap { $0 }
    guard Autograd.isRecording(inputs) else { return y }
    return Autograd.record(source, output: y, inputs: inputs) { gy in
        let needW = needsGradient(weight, bias)
        if batchStatistics, let reducer {
            let local = Kernels.batchNormBackwardReduce(x, gradOutput: gy, mean: mean, invstd: invstd)
            let whole = reducer.combine(local)
            let dx = x.requiresGrad
                ? Kernels.batchNormBackwardApply(x, gradOutput: gy, mean: mean, invstd: invstd, weight: weight, sums: whole) : nil
            return parameterGradients(dx, weight, bias, needW ? local : nil)
        }
        let g = Kernels.batchNormBackward(x, gradOutput: gy, mean: mean, invstd: invstd, weight: weight,
                                          batchStatistics: batchStatistics, needInput: x.requiresGrad, needSums: needW)
        return parameterGradients(g.input, weight, bias, needW ? g.sums : nil)
    }
}

/// [dx, dweight?, dbias?] from batch normalization's per-channel sums (Σdy·x̂ is the weight
/// gradient, Σdy the bias gradient).
func parameterGradients(_ dx: Tensor?, _ weight: Tensor?, _ bias: Tensor?, _ sums: ChannelGradientSums?) -> [Tensor?] {
    let gw = weight.flatMap { w in sums.map { Tensor(converting: $0.sumDyXhat, shape: w.shape, dtype: w.dtype) } }
    let gb = bias.flatMap { b in sums.map { Tensor(converting: $0.sumDy, shape: b.shape, dtype: b.dtype) } }
    return affineGradients(dx, weight, bias, gw, gb)
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
    let running = RunningStatistics.functional(mean: runningMean, variance: runningVar, momentum: momentum)
    return instanceNormCore(x, running: running, weight: weight, bias: bias, useInputStats: useInputStats, eps: eps)
}

/// Instance normalization of (N, C, *) input with arguments already checked.
func instanceNormCore(_ x: Tensor, running: RunningStatistics?, weight: Tensor?, bias: Tensor?, useInputStats: Bool,
                      eps: Double) -> Tensor {
    guard useInputStats || running == nil else {
        // Running statistics: the same per-channel affine map as batch norm in evaluation.
        return batchNormCore(x, running: running, weight: weight, bias: bias, training: false, eps: eps, reducer: nil,
                             source: "instance_norm")
    }
    let (n, c) = (x.shape[0], x.shape[1])
    let stats = groupNormCore(x, groups: c, weight: weight, bias: bias, eps: eps, name: "instance_norm")
    running?.update(instances: stats.statistics, samples: n, channels: c, elements: x.shape.dropFirst(2).reduce(1, *))
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
    return groupNormCore(x, groups: numGroups, weight: weight, bias: bias, eps: eps, name: "group_norm").output
}

private func groupNormCore(_ x: Tensor, groups: Int, weight: Tensor?, bias: Tensor?, eps: Double,
                           name: String) -> (output: Tensor, statistics: RowStatistics) {
    let (y, stats) = Kernels.groupNorm(x, groups: groups, weight: weight, bias: bias, eps: eps)
    let inputs = [x] + [weight, bias].compactMap { $0 }
    guard Autograd.isRecording(inputs) else { return (y, stats) }
    let out = Autograd.record(name, output: y, inputs: inputs) { gy in
        let g = Kernels.groupNormBackward(x, gradOutput: gy, groups: groups, statistics: stats, weight: weight,
                                          needInput: x.requiresGrad, needAffine: needsGradient(weight, bias))
        return affineGradients(g.input, weight, bias, g.weight, g.bias)
    }
    return (out, stats)
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
    let (y, stats) = Kernels.layerNorm(x, d: d, weight: weight, bias: bias, eps: eps)
    let inputs = [x] + [weight, bias].compactMap { $0 }
    guard Autograd.isRecording(inputs) else { return y }
    return Autograd.record("layer_norm", output: y, inputs: inputs) { gy in
        let g = Kernels.layerNormBackward(x, gradOutput: gy, d: d, statistics: stats, weight: weight,
                                          needInput: x.requiresGrad, needAffine: needsGradient(weight, bias))
        return affineGradients(g.input, weight, bias, g.weight, g.bias)
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
    let (y, stats) = Kernels.rmsNorm(x, d: d, weight: weight, eps: eps)
    let inputs = [x] + [weight].compactMap { $0 }
    guard Autograd.isRecording(inputs) else { return y }
    return Autograd.record("rms_norm", output: y, inputs: inputs) { gy in
        let g = Kernels.rmsNormBackward(x, gradOutput: gy, d: d, statistics: stats, weight: weight,
                                        needInput: x.requiresGrad, needWeight: needsGradient(weight))
        return affineGradients(g.input, weight, nil, g.weight, nil)
    }
}
