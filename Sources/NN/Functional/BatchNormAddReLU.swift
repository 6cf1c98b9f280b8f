import TensorCore
import Autograd

// A residual block's tail, relu(batchNorm(x) + residual), as one autograd node. The forward adds the
// residual and applies the ReLU in the sweep that normalizes, so neither batch norm's output nor the
// sum is written (two passes over the activation fewer); the values are those of the three
// operations, each rounded as there. The backward gates the gradient with the ReLU's mask (read off
// the output), hands that gradient to the residual and runs batch norm's own backward on it.

/// A residual block's tail, `relu(batchNorm(x, …) + residual)`, in one pass:
///
///     y = max(0, (x − E[x]) / sqrt(Var[x] + eps) · weight + bias + residual)
///
/// The arguments, the checks (with PyTorch's messages), the running-statistics update and the
/// gradients (to `x`, `residual`, `weight` and `bias`) are those of
/// ``batchNorm(_:runningMean:runningVar:weight:bias:training:momentum:eps:reducer:)``, `+ residual`
/// and `relu()`. A residual of another shape or dtype (broadcast or promoted by `+`) takes those
/// three operations.
///
/// ```swift
/// let out = batchNormAddReLU(bn2Input, residual: identity, runningMean: mean, runningVar: variance,
///                            weight: gamma, bias: beta, training: true)   // relu(bn(z) + identity)
/// ```
public func batchNormAddReLU(_ x: Tensor, residual: Tensor, runningMean: Tensor?, runningVar: Tensor?, weight: Tensor? = nil,
                             bias: Tensor? = nil, training: Bool = false, momentum: Double = 0.1, eps: Double = 1e-5) -> Tensor {
    guard residual.shape == x.shape, residual.dtype == x.dtype else {
        return (batchNorm(x, runningMean: runningMean, runningVar: runningVar, weight: weight, bias: bias, training: training,
                          momentum: momentum, eps: eps) + residual).relu()
    }
    do {
        try validateBatchNorm(x, runningMean: runningMean, runningVar: runningVar, weight: weight, bias: bias,
                              training: training)
    } catch { usageFailure(error) }
    let running = RunningStatistics.functional(mean: runningMean, variance: runningVar, momentum: momentum)
    return batchNormAddReLUCore(x, residual: residual, running: running, weight: weight, bias: bias, training: training, eps: eps)
}

/// `relu(batchNorm(x) + residual)` for a ``BatchNorm2d`` and the ``ReLU`` module after the add, as
/// torchvision's residual blocks end: fused when nothing could tell (no hooks on the BatchNorm, only
/// output observers on the ReLU, which see the fused output; an in-place ReLU too, since the sum it
/// would overwrite is private to the call; the conditions of ``convBatchNormReLU(_:conv:batchNorm:)``
/// on the BatchNorm), else the three operations. The running statistics, `numBatchesTracked`,
/// momentum and evaluation mode are the BatchNorm's. `residual` is evaluated after the BatchNorm
/// when the layers run (the order of `relu(bn(x) + downsample(input))`), before it when fused.
///
/// ```swift
/// override func forward(_ x: Tensor) -> Tensor {
///     let out = convBatchNormReLU(x, conv: conv1, batchNorm: bn1, relu: relu)
///     return batchNormAddReLU(conv2(out), residual: x, batchNorm: bn2, relu: relu)   // relu(bn2(…) + x)
/// }
/// ```
public func batchNormAddReLU(_ x: Tensor, residual: @autoclosure () -> Tensor, batchNorm bn: BatchNorm2d, relu: ReLU) -> Tensor {
    let float32: (Tensor?) -> Bool = { ($0?.dtype ?? .float32) == .float32 }
    guard !bn.hasHooks, !relu.hasHooks || relu.hasOnlyOutputObservers, !bn.isFolded, bn.statisticsReducer == nil,
          bn.trackRunningStats, let runningMean = bn.runningMean, let runningVar = bn.runningVar,
          x.rank == 4, x.dtype == .float32, float32(bn.weight), float32(bn.bias), float32(runningMean), float32(runningVar),
          bn.numFeatures == x.shape[1]
    else {
        let y = bn(x)
        return relu(y + residual())
    }
    let residual = residual()
    // A residual `+` would broadcast or promote: the layers' path.
    guard residual.shape == x.shape, residual.dtype == .float32 else { return relu(bn(x) + residual) }
    do {
        try validateBatchNorm(x, runningMean: runningMean, runningVar: runningVar, weight: bn.weight, bias: bn.bias,
                              training: bn.isTraining, source: bn.typeName)
    } catch { usageFailure(error) }
    let y = batchNormAddReLUCore(x, residual: residual, running: bn.runningStatistics, weight: bn.weight, bias: bn.bias,
                                 training: bn.isTraining, eps: bn.eps)
    relu.runOutputObservers(y)
    return y
}

/// The fused tail with arguments already checked; `running` as in `batchNormCore`.
func batchNormAddReLUCore(_ x: Tensor, residual: Tensor, running: RunningStatistics?, weight: Tensor?, bias: Tensor?,
                          training: Bool, eps: Double) -> Tensor {
    let batchStatistics = training || running == nil
    let y: Tensor, mean: [Double], invstd: [Double]
    if batchStatistics {
        let stats: ChannelStatistics
        (y, stats, _) = Kernels.batchNormAddReLUTrainingForward(x, residual: residual, weight: weight, bias: bias, eps: eps)
        mean = stats.mean
        invstd = stats.invstd(eps: eps)
        if training { running?.update(with: stats) }
    } else {
        (mean, invstd) = running!.evaluationStatistics(eps: eps)
        (y, _) = Kernels.batchNormAddReLUApply(x, residual: residual, mean: mean, invstd: invstd, weight: weight, bias: bias)
    }
    let inputs = [x, residual] + [weight, bias].compactMap { $0 }
    guard Autograd.isRecording(inputs) else { return y }
    // The ReLU's mask is y > 0 (the sum's sign): a detached view of y, as sigmoid's backward keeps
    // its output (the tensor itself would hold its own node).
    let output = y.detach()
    return Autograd.record("batch_norm_add_relu", output: y, inputs: inputs) { gy in
        let g = Kernels.unaryBackward(.relu, grad: gy, input: output, output: output)
        let needW = (weight?.requiresGrad ?? false) || (bias?.requiresGrad ?? false)
        let b = Kernels.batchNormBackward(x, gradOutput: g, mean: mean, invstd: invstd, weight: weight,
                                          batchStatistics: batchStatistics, needInput: x.requiresGrad, needSums: needW)
        var grads = parameterGradients(b.input, weight, bias, needW ? b.sums : nil)
        grads.insert(residual.requiresGrad ? g : nil, at: 1)
        return grads
    }
}
