/// Conv2d → BatchNorm2d → ReLU with the convolution's output recomputed in every pass instead of
/// stored: for a first layer (few input channels, so a handful of multiply-adds per output
/// element) the stored output costs more memory traffic than recomputing it. The batch-norm
/// arithmetic is that of the fused `batchNormReLU*` kernels on the stored output.
///
/// A backend that does not recompute a geometry says so (``convBatchNormReLURecomputes(_:_:)``) and
/// its callers store the convolution's output instead.
public protocol ConvBatchNormOps {
    /// Whether `geo`'s convolution (no bias) can be recomputed inside batch norm + ReLU for `dtype`.
    func convBatchNormReLURecomputes(_ geo: ConvGeometry, _ dtype: DType) -> Bool
    /// Per-channel statistics of `conv(input, weight)` (never stored).
    func convBatchNormStatistics(_ input: Tensor, _ weight: Tensor, _ geo: ConvGeometry) -> ChannelStatistics
    /// `max(0, (conv(input, weight) − map.shift)·map.scale + map.offset)` per output channel.
    func convBatchNormReLUApply(_ input: Tensor, _ weight: Tensor, _ geo: ConvGeometry, map: ChannelAffineMap) -> Tensor
    /// The convolution weight's gradient (when `needWeight`) and batch norm's per-channel sums
    /// (when `needSums` or `batchStatistics`), from `gradOutput`, the gradient of the ReLU's output.
    func convBatchNormReLUBackward(_ gradOutput: Tensor, _ input: Tensor, _ weight: Tensor, _ geo: ConvGeometry,
                                   map: ChannelAffineMap, mean: [Double], invstd: [Double], batchNormWeight: Tensor?,
                                   batchStatistics: Bool, needWeight: Bool, needSums: Bool)
        -> (weight: Tensor?, sums: ChannelGradientSums?)
}

extension ChannelAffineMap {
    /// The map `max(0, (x − mean)·invstd·weight + bias)` applies as `(x − shift)·scale + offset`, in
    /// the float32 kernels' constants: shift = Float(mean), so that x − shift is exact near the
    /// mean, and the residual mean − shift folded into the offset.
    ///
    /// ```swift
    /// let map = ChannelAffineMap(batchNormMean: stats.mean, invstd: stats.invstd(eps: 1e-5), weight: w, bias: b)
    /// ```
    public init(batchNormMean mean: [Double], invstd: [Double], weight: Tensor?, bias: Tensor?) {
        precondition(mean.count == invstd.count, "ChannelAffineMap: \(mean.count) means but \(invstd.count) invstd values")
        var shift = [Double](), scale = [Double](), offset = [Double]()
        for ch in 0..<mean.count {
            let sh = Float(mean[ch])
            let sc = (weight?.doubleValue(at: ch) ?? 1) * invstd[ch]
            shift.append(Double(sh))
            scale.append(Double(Float(sc)))
            offset.append(Double(Float((bias?.doubleValue(at: ch) ?? 0) - (mean[ch] - Double(sh)) * sc)))
        }
        self.init(shift: shift, scale: scale, offset: offset)
    }
}

extension Kernels {
    /// Whether ``convBatchNormStatistics(_:_:_:)`` and the functions after it take `geo` for a
    /// `dtype` input (2-d, one group, few taps, float32 on the CPU's AVX-512 kernels).
    ///
    /// ```swift
    /// if Kernels.convBatchNormReLURecomputes(x, geo) { … } else { … store conv(x) … }
    /// ```
    public static func convBatchNormReLURecomputes(_ input: Tensor, _ geo: ConvGeometry) -> Bool {
        backend(input).convBatchNormReLURecomputes(geo, input.dtype)
    }

    /// Per-channel batch statistics of `conv(input, weight)` without storing it.
    ///
    /// ```swift
    /// let stats = Kernels.convBatchNormStatistics(x, w, geo)   // as batchNormStatistics(conv(x, w))
    /// ```
    public static func convBatchNormStatistics(_ input: Tensor, _ weight: Tensor, _ geo: ConvGeometry) -> ChannelStatistics {
        checkRecomputed(input, weight, geo)
        return backend(input, weight).convBatchNormStatistics(input, weight, geo)
    }

    /// `relu(batchNorm(conv(input, weight)))` with the batch norm given as its affine map (see
    /// ``ChannelAffineMap/init(batchNormMean:invstd:weight:bias:)``), the convolution recomputed.
    ///
    /// ```swift
    /// let map = ChannelAffineMap(batchNormMean: stats.mean, invstd: stats.invstd(eps: 1e-5), weight: g, bias: b)
    /// let y = Kernels.convBatchNormReLUApply(x, w, geo, map: map)
    /// ```
    public static func convBatchNormReLUApply(_ input: Tensor, _ weight: Tensor, _ geo: ConvGeometry, map: ChannelAffineMap) -> Tensor {
        checkRecomputed(input, weight, geo)
        precondition(map.channels == geo.outChannels, "conv_batch_norm_relu: a map of \(map.channels) channels for \(geo.outChannels)")
        return backend(input, weight).convBatchNormReLUApply(input, weight, geo, map: map)
    }

    /// Gradients of `relu(batchNorm(conv(input, weight)))` from `gradOutput`: the convolution
    /// weight's (when `needWeight`) and batch norm's per-channel sums (Σdy and Σdy·x̂, the bias and
    /// weight gradients, when `needSums`). `map`, `mean` and `invstd` are the forward's;
    /// `batchStatistics` as in ``batchNormReLUBackward(_:gradOutput:map:mean:invstd:weight:batchStatistics:needInput:needSums:)``.
    /// The input gradient is not offered: the recomputed path is for a first layer, whose input
    /// needs none.
    public static func convBatchNormReLUBackward(_ gradOutput: Tensor, _ input: Tensor, _ weight: Tensor, _ geo: ConvGeometry,
                                                 map: ChannelAffineMap, mean: [Double], invstd: [Double], batchNormWeight: Tensor?,
                                                 batchStatistics: Bool, needWeight: Bool = true, needSums: Bool = true)
        -> (weight: Tensor?, sums: ChannelGradientSums?) {
        checkRecomputed(input, weight, geo)
        precondition(gradOutput.shape == [geo.batch, geo.outChannels] + geo.outputSize && gradOutput.dtype == input.dtype,
                     "conv_batch_norm_relu: gradient \(gradOutput.dtype) \(gradOutput.shape) for output [\(geo.batch), \(geo.outChannels)] + \(geo.outputSize)")
        precondition(map.channels == geo.outChannels && mean.count == geo.outChannels && invstd.count == geo.outChannels,
                     "conv_batch_norm_relu: statistics of \(mean.count) channels for \(geo.outChannels)")
        return backend(gradOutput, input, weight, batchNormWeight).convBatchNormReLUBackward(
            gradOutput, input, weight, geo, map: map, mean: mean, invstd: invstd, batchNormWeight: batchNormWeight,
            batchStatistics: batchStatistics, needWeight: needWeight, needSums: needSums)
    }

    private static func checkRecomputed(_ input: Tensor, _ weight: Tensor, _ geo: ConvGeometry) {
        precondition(convBatchNormReLURecomputes(input, geo), "conv_batch_norm_relu: \(geo) is not recomputed for \(input.dtype)")
        precondition(input.dtype == weight.dtype
                         && input.shape == [geo.batch, geo.inChannels] + geo.inputSize
                         && weight.shape == [geo.outChannels, geo.inChannels] + geo.kernelSize,
                     "conv_batch_norm_relu: input \(input.shape) and weight \(weight.shape) do not fit \(geo)")
    }
}
