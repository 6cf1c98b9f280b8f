import TensorCore
import Autograd

/// `relu(batchNorm(conv(x)))` for a ``Conv2d`` and the ``BatchNorm2d`` after it, with batch
/// normalization and the ReLU fused into one pass (see ``batchNormReLU(_:runningMean:runningVar:weight:bias:training:momentum:eps:)``)
/// whenever that cannot be told apart from calling the two layers and `relu()`: the output, the
/// gradients (input, convolution weight and bias, batch-norm weight and bias), the running
/// statistics, `numBatchesTracked`, `momentum: nil` (cumulative average) and evaluation mode are
/// the unfused layers'. The convolution is called as a module (its hooks run as usual), the
/// BatchNorm's forward pre-hooks run on the convolution's output (they may replace it) and the
/// ReLU's output observers (``Module/registerOutputObserver(_:)``) on the fused output. Otherwise —
/// a hook that would see the BatchNorm's output (forward or backward hooks on it, any other hook
/// on the ReLU), a folded or
/// synchronized BatchNorm, one without running statistics, channel counts that do not match,
/// unbatched or non-float32 input — it simply calls the layers, so their hooks and error messages
/// are unchanged.
///
/// A first layer goes further when nothing can observe the convolution's output: with no hooks
/// on the convolution or the BatchNorm, no convolution bias, an input that needs no gradient and
/// at most 32 taps (`inChannels·kH·kW`: a one- or three-channel image under a 3×3 kernel), the
/// output is never stored (autograd node `conv_batch_norm_relu`): the statistics come from the
/// moments of the convolution's taps, the normalized output recomputes it from the input, and the
/// backward reads the ReLU's mask off the output. The results are the layers' within rounding.
///
/// `Sequential` (and so ``ConvBNBlock``-style blocks) applies this to every
/// `Conv2d → BatchNorm2d → ReLU` run of its layers by itself; call it from custom modules.
///
/// ```swift
/// final class Stem: Module {
///     var conv = Conv2d(3, 32, 3, padding: 1, bias: false)
///     var bn = BatchNorm2d(32)
///     override func forward(_ x: Tensor) -> Tensor { convBatchNormReLU(x, conv: conv, batchNorm: bn) }
/// }
/// ```
public func convBatchNormReLU(_ input: Tensor, conv: Conv2d, batchNorm: BatchNorm2d) -> Tensor {
    fusedConvBatchNormReLU(input, conv, batchNorm, nil) ?? batchNorm(conv(input)).relu()
}

/// `relu(batchNorm(conv(x)))` for a module that owns the ``ReLU`` too, as torchvision's residual
/// blocks do: fused as ``convBatchNormReLU(_:conv:batchNorm:)`` is, with the ReLU's output observers
/// run on the fused output and, when `relu` has other hooks, the three layers called instead. An
/// in-place ReLU (`ReLU(inplace: true)`, torchvision's choice) fuses too: the BatchNorm output it
/// would overwrite is private to the call and never made.
///
/// ```swift
/// override func forward(_ x: Tensor) -> Tensor {
///     let out = convBatchNormReLU(x, conv: conv1, batchNorm: bn1, relu: relu)   // relu(bn1(conv1(x)))
///     return conv2(out)
/// }
/// ```
public func convBatchNormReLU(_ input: Tensor, conv: Conv2d, batchNorm: BatchNorm2d, relu: ReLU) -> Tensor {
    fusedConvBatchNormReLU(input, conv, batchNorm, relu, inplaceIsPrivate: true) ?? relu(batchNorm(conv(input)))
}

/// The fused `relu(bn(conv(x)))`, or nil (before doing anything) when fusing could change what
/// the layers observably do; `relu` is the ReLU module of a `Sequential` run, nil for the
/// functional ``convBatchNormReLU(_:conv:batchNorm:)``.
/// `inplaceIsPrivate`: the caller alone sees the BatchNorm's output, so an in-place ReLU's
/// overwrite of it cannot be observed (a residual block's own `relu`).
func fusedConvBatchNormReLU(_ x: Tensor, _ conv: Conv2d, _ bn: BatchNorm2d, _ relu: ReLU?,
                            inplaceIsPrivate: Bool = false) -> Tensor? {
    guard canFuse(x, conv, bn, relu, inplaceIsPrivate: inplaceIsPrivate), let runningMean = bn.runningMean, let runningVar = bn.runningVar else { return nil }
    if let y = recomputedConvBatchNormReLU(x, conv, bn, relu) { return y }
    let z = bn.runForwardPreHooks(conv(x))
    // The convolution's hooks or the BatchNorm's pre-hooks may have swapped in a tensor the fused
    // kernels do not take: finish as the layers would (BatchNorm's own checks and messages; it has
    // no other hooks to run).
    guard z.rank == 4, z.dtype == .float32 else { return bn.forward(z).relu() }
    // BatchNorm2d's own checks (its rank rule holds: a batched 2-d convolution gives 4-d output).
    do {
        try validateBatchNorm(z, runningMean: runningMean, runningVar: runningVar, weight: bn.weight, bias: bn.bias,
                              training: bn.isTraining, source: bn.typeName)
    } catch { usageFailure(error) }
    let y = batchNormReLUCore(z, running: bn.runningStatistics, weight: bn.weight, bias: bn.bias, training: bn.isTraining,
                              eps: bn.eps)
    relu?.runOutputObservers(y)
    return y
}

/// Whether the fused path gives exactly what the three layers give, observers included.
private func canFuse(_ x: Tensor, _ conv: Conv2d, _ bn: BatchNorm2d, _ relu: ReLU?, inplaceIsPrivate: Bool) -> Bool {
    // Hooks that see the BatchNorm's output (its forward and backward hooks, its output observers,
    // the ReLU's hooks) need a tensor the fused path never makes. The convolution's hooks, the
    // BatchNorm's forward pre-hooks and the ReLU's output observers see tensors it does make, so
    // they run inside it.
    if bn.hasHooks && !bn.hasOnlyForwardPreHooks { return false }
    if let relu, relu.hasHooks && !relu.hasOnlyOutputObservers { return false }
    // In a Sequential, ReLU(inplace: true) keeps its own semantics (overwriting its input outside
    // autograd); a caller that owns the BatchNorm's output may waive that.
    if relu?.inplace ?? false, !inplaceIsPrivate { return false }
    // The tuned kernels are float32; other dtypes (and mixed ones, which the layers reject with
    // their own messages) go through the layers. Unbatched input makes a 3-d output BatchNorm2d
    // refuses.
    let float32: (Tensor?) -> Bool = { ($0?.dtype ?? .float32) == .float32 }
    guard x.rank == 4, x.dtype == .float32, float32(conv.weight), float32(conv.bias), float32(bn.weight), float32(bn.bias)
    else { return false }
    // Folded (identity), synchronized (its reducer combines statistics across processes) or
    // without running statistics (batch statistics in evaluation): the layer's own path.
    guard !bn.isFolded, bn.statisticsReducer == nil, bn.trackRunningStats,
          let rm = bn.runningMean, let rv = bn.runningVar, float32(rm), float32(rv) else { return false }
    // A channel mismatch is BatchNorm2d's error to report.
    return bn.numFeatures == conv.outChannels && rm.count == conv.outChannels && rv.count == conv.outChannels
}
