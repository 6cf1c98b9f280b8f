/// Conv2d → BatchNorm2d → ReLU with the convolution's output never stored: for a first layer (few
/// input channels, so a handful of multiply-adds per output element) the stored output costs more
/// memory traffic than the arithmetic. Its batch statistics come from the moments of the
/// convolution's taps (``ConvTapMoments``), the normalized output recomputes the convolution, and the
/// backward reads the ReLU's gate off the output. The batch-norm arithmetic is that of the fused
/// `batchNormReLU*` kernels on the stored output.
///
/// A backend that does not recompute a geometry says so (``convBatchNormReLURecomputes(_:_:)``) and
/// its callers store the convolution's output instead.
public protocol ConvBatchNormOps {
    /// Whether `geo`'s convolution (no bias) can be recomputed inside batch norm + ReLU for `dtype`.
    func convBatchNormReLURecomputes(_ geo: ConvGeometry, _ dtype: DType) -> Bool
    /// The moments of the convolution's taps of `input` over the batch and every output position.
    func convTapMoments(_ input: Tensor, _ geo: ConvGeometry) -> ConvTapMoments
    /// `max(0, (conv(input, weight) − map.shift)·map.scale + map.offset)` per output channel.
    func convBatchNormReLUApply(_ input: Tensor, _ weight: Tensor, _ geo: ConvGeometry, map: ChannelAffineMap) -> Tensor
    /// Σg and Σ tap·g per output channel, g = `gradOutput` where `output` > 0 (the ReLU's gate).
    func convBatchNormReLUGatedSums(_ gradOutput: Tensor, output: Tensor, _ input: Tensor, _ geo: ConvGeometry) -> ConvGatedSums
}

/// The moments of a convolution's taps (its im2col columns, `tap = (c, kh, kw)`, zero where the
/// kernel reads padding) over the batch and every output position: all that the batch statistics of
/// `z = conv(x, w)` and batch norm's backward through it need, for any `w` with K = C·KH·KW columns,
/// because z = w·tap at every position.
///
/// ```swift
/// let moments = Kernels.convTapMoments(x, geo)
/// let stats = moments.statistics(weight: w.doubleScalars)   // batchNormStatistics(conv(x, w))
/// ```
public struct ConvTapMoments: Sendable, Equatable {
    /// Positions summed over (batch × output positions).
    public let count: Int
    /// Σ tap, K values.
    public let tapSum: [Double]
    /// Σ (tap − mean)(tap − mean)ᵀ, K × K row-major (symmetric).
    public let centered: [Double]

    public init(count: Int, tapSum: [Double], centered: [Double]) {
        precondition(centered.count == tapSum.count * tapSum.count,
                     "ConvTapMoments: a \(centered.count)-value matrix for \(tapSum.count) taps")
        self.count = count
        self.tapSum = tapSum
        self.centered = centered
    }

    /// Taps per output channel (K).
    public var taps: Int { tapSum.count }

    /// `centered · v` for one output channel's weights `v` (K values from `offset`): Σ tap·(z − mean z).
    public func centeredProduct(_ weight: [Double], offset: Int = 0) -> [Double] {
        let K = taps
        return (0..<K).map { r in
            var s = 0.0
            for c in 0..<K { s += centered[r * K + c] * weight[offset + c] }
            return s
        }
    }

    /// The batch statistics of `z = w·tap` for every row of `weight` ([O, K] row-major): mean w·Σtap / count,
    /// M2 = wᵀ·centered·w (clamped at 0).
    public func statistics(weight: [Double]) -> ChannelStatistics {
        let K = taps
        precondition(K > 0 && weight.count % K == 0, "ConvTapMoments: \(weight.count) weights for \(K) taps")
        let O = weight.count / K
        var mean = [Double](), m2 = [Double]()
        for o in 0..<O {
            let q = centeredProduct(weight, offset: o * K)
            var s = 0.0, v = 0.0
            for k in 0..<K {
                s += weight[o * K + k] * tapSum[k]
                v += weight[o * K + k] * q[k]
            }
            mean.append(count > 0 ? s / Double(count) : 0)
            m2.append(max(0, v))
        }
        return ChannelStatistics(count: count, mean: mean, m2: m2)
    }
}

/// The backward's sums over g, the output gradient gated by the ReLU: per output channel Σg and
/// Σ tap·g ([O, K] row-major), the gradient of z's weights.
public struct ConvGatedSums: Sendable, Equatable {
    public let sum: [Double]
    public let tapProducts: [Double]

    public init(sum: [Double], tapProducts: [Double]) {
        self.sum = sum
        self.tapProducts = tapProducts
    }
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
    /// Whether ``convTapMoments(_:_:)`` and the functions after it take `geo` for a
    /// `dtype` input (2-d, one group, few taps, float32 on the CPU's AVX-512 kernels).
    ///
    /// ```swift
    /// if Kernels.convBatchNormReLURecomputes(x, geo) { … } else { … store conv(x) … }
    /// ```
    public static func convBatchNormReLURecomputes(_ input: Tensor, _ geo: ConvGeometry) -> Bool {
        backend(input).convBatchNormReLURecomputes(geo, input.dtype)
    }

    /// The moments of `conv(input, ·)`'s taps, from which ``ConvTapMoments/statistics(weight:)`` gives
    /// the batch statistics of the convolution by any weight without computing it.
    ///
    /// ```swift
    /// let stats = Kernels.convTapMoments(x, geo).statistics(weight: w.doubleScalars)
    /// ```
    public static func convTapMoments(_ input: Tensor, _ geo: ConvGeometry) -> ConvTapMoments {
        checkRecomputed(input, nil, geo)
        return backend(input).convTapMoments(input, geo)
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

    /// Gradients of `y = relu(batchNorm(conv(input, weight)))` from `gradOutput`: the convolution
    /// weight's (when `needWeight`) and batch norm's per-channel sums (Σdy and Σdy·x̂, the bias and
    /// weight gradients, when `needSums`). `output` is y (its positive elements are the ReLU's open
    /// gate), `mean` and `invstd` the forward's; `tapMoments` the forward's batch statistics' moments,
    /// or nil when it normalized with running statistics (eval mode: the statistics are constants).
    /// The input gradient is not offered: the recomputed path is for a first layer, whose input
    /// needs none.
    ///
    /// ```swift
    /// let g = Kernels.convBatchNormReLUBackward(gy, output: y, x, w, geo, mean: mean, invstd: invstd,
    ///                                           batchNormWeight: gamma, tapMoments: moments)
    /// ```
    public static func convBatchNormReLUBackward(_ gradOutput: Tensor, output: Tensor, _ input: Tensor, _ weight: Tensor,
                                                 _ geo: ConvGeometry, mean: [Double], invstd: [Double], batchNormWeight: Tensor?,
                                                 tapMoments: ConvTapMoments?, needWeight: Bool = true, needSums: Bool = true)
        -> (weight: Tensor?, sums: ChannelGradientSums?) {
        checkRecomputed(input, weight, geo)
        let outputShape = [geo.batch, geo.outChannels] + geo.outputSize
        precondition(gradOutput.shape == outputShape && gradOutput.dtype == input.dtype
                         && output.shape == outputShape && output.dtype == input.dtype,
                     "conv_batch_norm_relu: gradient \(gradOutput.dtype) \(gradOutput.shape) and output \(output.dtype) \(output.shape) for [\(geo.batch), \(geo.outChannels)] + \(geo.outputSize)")
        let O = geo.outChannels, K = geo.inChannels * geo.kernelCount, m = geo.batch * geo.outputCount
        precondition(mean.count == O && invstd.count == O, "conv_batch_norm_relu: statistics of \(mean.count) channels for \(O)")
        precondition(tapMoments.map { $0.taps == K && $0.count == m } ?? true,
                     "conv_batch_norm_relu: tap moments of \(tapMoments?.taps ?? 0) taps over \(tapMoments?.count ?? 0) positions for \(K) over \(m)")
        guard needWeight || needSums else { return (nil, nil) }
        let g = backend(gradOutput, output, input).convBatchNormReLUGatedSums(gradOutput, output: output, input, geo)
        // z = w·tap, so Σg·(z − mean) = w·Σ tap·g − mean·Σg: batch norm's sums need no z.
        let w = weight.doubleScalars
        let sumDyXhat = (0..<O).map { o in
            var s = 0.0
            for k in 0..<K { s += w[o * K + k] * g.tapProducts[o * K + k] }
            return invstd[o] * (s - mean[o] * g.sum[o])
        }
        let sums = needSums ? ChannelGradientSums(count: m, sumDy: g.sum, sumDyXhat: sumDyXhat) : nil
        guard needWeight else { return (nil, sums) }
        // Batch norm's input gradient, dz = a·g − b·(z − mean) − c per channel (batchNormGradInput's
        // constants, in Double), gives the weight gradient a·Σtap·g − b·centered·w − c·Σtap.
        var values = [Double](repeating: 0, count: O * K)
        for o in 0..<O {
            let a = (batchNormWeight?.doubleValue(at: o) ?? 1) * invstd[o]
            for k in 0..<K { values[o * K + k] = a * g.tapProducts[o * K + k] }
            guard let tm = tapMoments else { continue }
            let b = a * invstd[o] * sumDyXhat[o] / Double(m), c = a * g.sum[o] / Double(m)
            let q = tm.centeredProduct(w, offset: o * K)
            for k in 0..<K { values[o * K + k] -= b * q[k] + c * tm.tapSum[k] }
        }
        return (Tensor(converting: values, shape: weight.shape, dtype: weight.dtype), sums)
    }

    private static func checkRecomputed(_ input: Tensor, _ weight: Tensor?, _ geo: ConvGeometry) {
        precondition(convBatchNormReLURecomputes(input, geo), "conv_batch_norm_relu: \(geo) is not recomputed for \(input.dtype)")
        precondition(input.shape == [geo.batch, geo.inChannels] + geo.inputSize
                         && (weight.map { $0.dtype == input.dtype && $0.shape == [geo.outChannels, geo.inChannels] + geo.kernelSize } ?? true),
                     "conv_batch_norm_relu: input \(input.shape) and weight \(weight?.shape ?? []) do not fit \(geo)")
    }
}
