import TensorCore
import Autograd

// The fused Conv2d → BatchNorm2d → ReLU of a first layer, with the convolution's output never
// stored: its statistics come from the moments of its taps, the normalized output recomputes it
// from the input, and the backward reads the ReLU's gate off the output (see ConvBatchNormOps).
// Used by the fused path whenever the output it would skip is invisible: no hooks on the
// convolution or the batch norm, no convolution bias, an input that needs no gradient, and a
// geometry the backend recomputes (few taps: C·KH·KW ≤ 32 on the CPU, one or three channels under
// a 3×3 kernel).

/// `relu(bn(conv(x)))` with the convolution recomputed, or nil (before doing anything) when the
/// recomputed path does not apply; the caller has checked `canFuse`.
func recomputedConvBatchNormReLU(_ x: Tensor, _ conv: Conv2d, _ bn: BatchNorm2d, _ relu: ReLU?) -> Tensor? {
    guard !conv.hasHooks, !bn.hasHooks, conv.bias == nil, !(GradMode.isEnabled && x.requiresGrad),
          let runningMean = bn.runningMean, let runningVar = bn.runningVar else { return nil }
    // An input the convolution rejects takes the layers' path, which reports it.
    guard let geo = try? validateConvolution(x, weight: conv.weight, bias: nil, spatialDims: 2, stride: conv.stride,
                                             padding: conv.padding, dilation: conv.dilation, groups: conv.groups),
          Kernels.convBatchNormReLURecomputes(x, geo) else { return nil }
    let shape = [geo.batch, geo.outChannels] + geo.outputSize
    do {
        try validateBatchNorm(shape: shape, dtype: x.dtype, runningMean: runningMean, runningVar: runningVar, weight: bn.weight,
                              bias: bn.bias, training: bn.isTraining, source: bn.typeName)
    } catch { usageFailure(error) }
    let weight = conv.weight, gamma = bn.weight, beta = bn.bias, eps = bn.eps
    let mean: [Double], invstd: [Double]
    var moments: ConvTapMoments?
    if bn.isTraining {
        let tm = Kernels.convTapMoments(x, geo)
        let stats = tm.statistics(weight: weight.doubleScalars)
        moments = tm
        mean = stats.mean
        invstd = stats.invstd(eps: eps)
        bn.runningStatistics?.update(with: stats)
    } else {
        (mean, invstd) = bn.runningStatistics!.evaluationStatistics(eps: eps)   // the guard above: both tensors exist
    }
    let map = ChannelAffineMap(batchNormMean: mean, invstd: invstd, weight: gamma, bias: beta)
    var y = Kernels.convBatchNormReLUApply(x, weight, geo, map: map)
    let inputs = [weight] + [gamma, beta].compactMap { $0 }
    if Autograd.isRecording(inputs) {
        // The backward reads the ReLU's gate off y's values: a detached view of its storage, as
        // sigmoid's backward keeps its output (the tensor itself would hold its own node).
        let output = y.detach()
        y = Autograd.record("conv_batch_norm_relu", output: y, inputs: inputs) { [moments] gy in
            let needAffine = (gamma?.requiresGrad ?? false) || (beta?.requiresGrad ?? false)
            let g = Kernels.convBatchNormReLUBackward(gy, output: output, x, weight, geo, mean: mean, invstd: invstd,
                                                      batchNormWeight: gamma, tapMoments: moments,
                                                      needWeight: weight.requiresGrad, needSums: needAffine)
            return parameterGradients(g.weight, gamma, beta, needAffine ? g.sums : nil)
        }
    }
    relu?.runOutputObservers(y)
    return y
}
