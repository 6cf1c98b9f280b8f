import TensorCore
import Autograd

// Batch normalization fused with the ReLU after it: one autograd node, one output tensor. The
// forward writes max(0, normalized·weight + bias) in the sweep that normalizes; the backward gates
// the gradient with the ReLU mask inside batch norm's own two sweeps (reduce, then input gradient),
// recomputing the mask from the input with the forward's per-channel constants, so neither the
// normalized tensor nor the ReLU's input gradient ever exists. Values, gradients and running
// statistics are those of `batchNorm(...).relu()`.

/// Batch normalization followed by ReLU, `relu(batchNorm(x, …))`, in one fused pass:
///
///     y = max(0, (x − E[x]) / sqrt(Var[x] + eps) · weight + bias)
///
/// The arguments, the checks (with PyTorch's messages), the running-statistics update and the
/// gradients (to `x`, `weight` and `bias`) are those of
/// ``batchNorm(_:runningMean:runningVar:weight:bias:training:momentum:eps:reducer:)`` followed by
/// `relu()`; the fused form reads and writes the activations fewer times and keeps one tensor
/// for backward instead of two. Use it in custom modules; `Sequential` and `ConvBNBlock` fuse
/// `Conv2d → BatchNorm2d → ReLU` on their own (see ``convBatchNormReLU(_:conv:batchNorm:)``).
///
/// ```swift
/// let mean = Tensor.zeros([16]), variance = Tensor.ones([16])
/// let y = batchNormReLU(x, runningMean: mean, runningVar: variance, weight: gamma, bias: beta,
///                       training: true)          // == batchNorm(x, …).relu(), in one pass
/// ```
public func batchNormReLU(_ x: Tensor, runningMean: Tensor?, runningVar: Tensor?, weight: Tensor? = nil,
                          bias: Tensor? = nil, training: Bool = false, momentum: Double = 0.1,
                          eps: Double = 1e-5) -> Tensor {
    do {
        try validateBatchNorm(x, runningMean: runningMean, runningVar: runningVar, weight: weight, bias: bias,
                              training: training)
    } catch { usageFailure(error) }
    let running = RunningStatistics.functional(mean: runningMean, variance: runningVar, momentum: momentum)
    return batchNormReLUCore(x, running: running, weight: weight, bias: bias, training: training, eps: eps)
}

/// Fused batch normalization + ReLU with arguments already checked; `running` as in
/// `batchNormCore` (updated in training, normalizing in evaluation, batch statistics without).
func batchNormReLUCore(_ x: Tensor, running: RunningStatistics?, weight: Tensor?, bias: Tensor?, training: Bool,
                       eps: Double) -> Tensor {
    let batchStatistics = training || running == nil
    let y: Tensor, mean: [Double], invstd: [Double], map: ChannelAffineMap
    if batchStatistics {
        let stats: ChannelStatistics
        (y, stats, map) = Kernels.batchNormReLUTrainingForward(x, weight: weight, bias: bias, eps: eps)
        mean = stats.mean
        invstd = stats.invstd(eps: eps)
        if training { running?.update(with: stats) }
    } else {
        (mean, invstd) = running!.evaluationStatistics(eps: eps)
        (y, map) = Kernels.batchNormReLUApply(x, mean: mean, invstd: invstd, weight: weight, bias: bias)
    }
    let inputs = [x] + [weight, bias].compactMap { $0 }
    guard Autograd.isRecording(inputs) else { return y }
    return Autograd.record("batch_norm_relu", output: y, inputs: inputs) { gy in
        let needW = (weight?.requiresGrad ?? false) || (bias?.requiresGrad ?? false)
        let g = Kernels.batchNormReLUBackward(x, gradOutput: gy, map: map, mean: mean, invstd: invstd, weight: weight,
                                              batchStatistics: batchStatistics, needInput: x.requiresGrad, needSums: needW)
        return parameterGradients(g.input, weight, bias, needW ? g.sums : nil)
    }
}
