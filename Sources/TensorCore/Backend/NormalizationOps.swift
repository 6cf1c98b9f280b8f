// Normalization kernels. Batch normalization is offered in two forms:
//
// - split, for statistics combined across processes or micro-batches (SyncBatchNorm):
//     forward   batchNormStatistics (reduce per channel) → [combine] → batchNormApply
//     backward  batchNormBackwardReduce (Σdy, Σdy·x̂ per channel) → [combine] → batchNormBackwardApply
// - fused, for one process: batchNormTrainingForward and batchNormBackward walk the tensor in
//   cache-sized channel blocks, reducing and applying while a block is still in cache.
//
// Both give the same results (the fused path is the split path with the passes interleaved).

/// Per-channel statistics of a batch: how many elements each channel holds, their mean, and M2 =
/// Σ(x − mean)², all in Double. Statistics of disjoint parts of a batch merge exactly (Chan et
/// al.'s parallel formula), which is what SyncBatchNorm and micro-batching need.
///
/// ```swift
/// let a = Kernels.batchNormStatistics(x1), b = Kernels.batchNormStatistics(x2)
/// let all = a.merged(with: b)          // the statistics of the two batches concatenated
/// all.biasedVariance                   // what normalizes
/// all.unbiasedVariance                 // what the running variance tracks
/// ```
public struct ChannelStatistics: Sendable, Equatable {
    /// Elements per channel (batch × spatial positions); 0 for an empty batch.
    public var count: Int
    /// Per-channel mean (0 when `count` is 0).
    public var mean: [Double]
    /// Per-channel sum of squared deviations from the mean.
    public var m2: [Double]

    public init(count: Int, mean: [Double], m2: [Double]) {
        precondition(mean.count == m2.count, "ChannelStatistics: \(mean.count) means but \(m2.count) M2 values")
        precondition(count >= 0, "ChannelStatistics: negative count \(count)")
        self.count = count
        self.mean = mean
        self.m2 = m2
    }

    /// The statistics of no elements: the identity of ``merged(with:)``.
    public static func empty(channels: Int) -> ChannelStatistics {
        ChannelStatistics(count: 0, mean: [Double](repeating: 0, count: channels), m2: [Double](repeating: 0, count: channels))
    }

    /// Number of channels.
    public var channels: Int { mean.count }

    /// M2 / count: the variance batch normalization divides by (NaN for an empty batch).
    public var biasedVariance: [Double] { m2.map { $0 / Double(count) } }

    /// M2 / (count − 1): the variance the running statistics track (Bessel's correction; a single
    /// element divides by 1, as PyTorch's update does).
    public var unbiasedVariance: [Double] { m2.map { $0 / Double(max(count - 1, 1)) } }

    /// 1 / sqrt(biased variance + eps) per channel.
    public func invstd(eps: Double) -> [Double] { biasedVariance.map { 1 / ($0 + eps).squareRoot() } }

    /// The statistics of both parts together (Chan et al.): counts add, means combine weighted by
    /// count, and M2 gains the spread between the two means, `δ²·n_a·n_b / n`.
    public func merged(with other: ChannelStatistics) -> ChannelStatistics {
        precondition(channels == other.channels, "ChannelStatistics: cannot merge \(channels) channels with \(other.channels)")
        if other.count == 0 { return self }
        if count == 0 { return other }
        let na = Double(count), nb = Double(other.count), n = na + nb
        var mean = self.mean, m2 = self.m2
        for c in 0..<channels {
            let delta = other.mean[c] - mean[c]
            mean[c] += delta * nb / n
            m2[c] += other.m2[c] + delta * delta * na * nb / n
        }
        return ChannelStatistics(count: count + other.count, mean: mean, m2: m2)
    }

    /// All parts merged in order (the empty statistics of `channels` channels when there are none).
    public static func merging(_ parts: [ChannelStatistics], channels: Int) -> ChannelStatistics {
        parts.reduce(.empty(channels: channels)) { $0.merged(with: $1) }
    }

    /// `[count, mean…, m2…]`: one flat buffer to send to other processes (all-gather).
    public var packed: [Double] { [Double(count)] + mean + m2 }

    /// Reads a buffer written by ``packed``; nil when its length does not fit (`1 + 2·channels`).
    public init?(packed: [Double]) {
        guard packed.count >= 1, (packed.count - 1) % 2 == 0, let n = Int(exactly: packed[0]), n >= 0 else { return nil }
        let c = (packed.count - 1) / 2
        self.init(count: n, mean: Array(packed[1..<(1 + c)]), m2: Array(packed[(1 + c)...]))
    }
}

/// The per-channel sums batch-normalization backward needs: Σdy and Σdy·x̂, where x̂ is the input
/// normalized by the statistics the forward used, with the element count they cover. Sums of
/// disjoint parts of a batch add up (all-reduce with a sum).
///
/// For one channel, `sumDyXhat` is the weight gradient and `sumDy` the bias gradient.
///
/// ```swift
/// let s = Kernels.batchNormBackwardReduce(x, gradOutput: gy, mean: mean, invstd: invstd)
/// let dx = Kernels.batchNormBackwardApply(x, gradOutput: gy, mean: mean, invstd: invstd, weight: w, sums: s)
/// ```
/// The per-channel map a fused batch-norm + ReLU forward applied, `y = max(0, (x − shift)·scale +
/// offset)`: its backward recomputes the ReLU mask from x with it, bit for bit the forward's,
/// instead of keeping the output. For float32 the values are the very Floats the kernel used.
///
/// ```swift
/// let (y, stats, map) = Kernels.batchNormReLUTrainingForward(x, weight: w, bias: b, eps: 1e-5)
/// let g = Kernels.batchNormReLUBackward(x, gradOutput: gy, map: map, mean: stats.mean,
///                                       invstd: stats.invstd(eps: 1e-5), weight: w, batchStatistics: true)
/// ```
public struct ChannelAffineMap: Sendable, Equatable {
    public var shift: [Double]
    public var scale: [Double]
    public var offset: [Double]

    public init(shift: [Double], scale: [Double], offset: [Double]) {
        precondition(shift.count == scale.count && scale.count == offset.count,
                     "ChannelAffineMap: \(shift.count), \(scale.count) and \(offset.count) channels")
        self.shift = shift
        self.scale = scale
        self.offset = offset
    }

    /// Number of channels.
    public var channels: Int { shift.count }
}

public struct ChannelGradientSums: Sendable, Equatable {
    /// Elements per channel the sums cover.
    public var count: Int
    /// Per-channel Σdy.
    public var sumDy: [Double]
    /// Per-channel Σdy·x̂.
    public var sumDyXhat: [Double]

    public init(count: Int, sumDy: [Double], sumDyXhat: [Double]) {
        precondition(sumDy.count == sumDyXhat.count, "ChannelGradientSums: \(sumDy.count) and \(sumDyXhat.count) channels")
        self.count = count
        self.sumDy = sumDy
        self.sumDyXhat = sumDyXhat
    }

    /// Number of channels.
    public var channels: Int { sumDy.count }

    /// The sums of both parts together.
    public func merged(with other: ChannelGradientSums) -> ChannelGradientSums {
        precondition(channels == other.channels, "ChannelGradientSums: cannot merge \(channels) channels with \(other.channels)")
        return ChannelGradientSums(count: count + other.count, sumDy: zip(sumDy, other.sumDy).map { $0 + $1 },
                                   sumDyXhat: zip(sumDyXhat, other.sumDyXhat).map { $0 + $1 })
    }

    /// `[count, sumDy…, sumDyXhat…]`: one flat buffer to all-reduce with a sum.
    public var packed: [Double] { [Double(count)] + sumDy + sumDyXhat }

    /// Reads a buffer written by ``packed``; nil when its length does not fit (`1 + 2·channels`).
    public init?(packed: [Double]) {
        guard packed.count >= 1, (packed.count - 1) % 2 == 0, let n = Int(exactly: packed[0]), n >= 0 else { return nil }
        let c = (packed.count - 1) / 2
        self.init(count: n, sumDy: Array(packed[1..<(1 + c)]), sumDyXhat: Array(packed[(1 + c)...]))
    }
}

/// Per-row statistics of group, layer or RMS normalization (one row per sample and group, or per
/// normalized vector): mean, biased variance and 1/sqrt(variance + eps). The forward returns
/// them; the backward takes them back.
///
/// ```swift
/// let (y, stats) = Kernels.layerNorm(x, d: 512, weight: w, bias: b, eps: 1e-5)
/// let g = Kernels.layerNormBackward(x, gradOutput: gy, d: 512, statistics: stats, weight: w)
/// ```
public struct RowStatistics: Sendable, Equatable {
    public var mean: [Double]
    public var variance: [Double]
    public var invstd: [Double]

    public init(mean: [Double], variance: [Double], invstd: [Double]) {
        self.mean = mean
        self.variance = variance
        self.invstd = invstd
    }
}

/// Normalization kernels on float32 (the tuned path) and float64 tensors. Batch and group kernels
/// read x as (n, c, s): `x.shape[0]`, `x.shape[1]` and the product of the rest; row kernels read
/// it as rows of the last `d` elements. Weight and bias are per channel (batch, group) or of
/// length d (layer, RMS), in x's dtype; their gradients come back as 1-d tensors of C or d elements
/// in that dtype.
public protocol NormalizationOps {
    /// Per-channel count, mean and M2 of `x` over the batch and spatial positions.
    func batchNormStatistics(_ x: Tensor) -> ChannelStatistics
    /// `(x − mean)·invstd·weight + bias` per channel.
    func batchNormApply(_ x: Tensor, mean: [Double], invstd: [Double], weight: Tensor?, bias: Tensor?) -> Tensor
    /// Statistics and normalization in one pass over cache-sized blocks.
    func batchNormTrainingForward(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Double) -> (output: Tensor, statistics: ChannelStatistics)
    /// Per-channel Σdy and Σdy·x̂ with x̂ = (x − mean)·invstd.
    func batchNormBackwardReduce(_ x: Tensor, gradOutput: Tensor, mean: [Double], invstd: [Double]) -> ChannelGradientSums
    /// The input gradient: `w·invstd·(dy − Σdy/n − x̂·Σdy·x̂/n)` from (possibly combined) `sums`,
    /// or `w·invstd·dy` when `sums` is nil (statistics that do not depend on x: running ones).
    func batchNormBackwardApply(_ x: Tensor, gradOutput: Tensor, mean: [Double], invstd: [Double], weight: Tensor?,
                                sums: ChannelGradientSums?) -> Tensor
    /// Reduce and apply in one pass over cache-sized blocks: the input gradient (when
    /// `needInput`) and the sums (when `needSums`, or always when `batchStatistics`).
    func batchNormBackward(_ x: Tensor, gradOutput: Tensor, mean: [Double], invstd: [Double], weight: Tensor?,
                           batchStatistics: Bool, needInput: Bool, needSums: Bool) -> (input: Tensor?, sums: ChannelGradientSums?)
    /// Batch normalization followed by ReLU in training: statistics, then
    /// `max(0, normalized·weight + bias)` written in the same sweep (no separate normalized tensor).
    func batchNormReLUTrainingForward(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Double)
        -> (output: Tensor, statistics: ChannelStatistics, map: ChannelAffineMap)
    /// `max(0, (x − mean)·invstd·weight + bias)` per channel in one sweep (evaluation).
    func batchNormReLUApply(_ x: Tensor, mean: [Double], invstd: [Double], weight: Tensor?, bias: Tensor?)
        -> (output: Tensor, map: ChannelAffineMap)
    /// The backward of batch normalization followed by ReLU: dy gated by the ReLU mask (recomputed
    /// from x and `map`) inside the reduce and apply sweeps, as ``batchNormBackward(_:gradOutput:mean:invstd:weight:batchStatistics:needInput:needSums:)``.
    func batchNormReLUBackward(_ x: Tensor, gradOutput: Tensor, map: ChannelAffineMap, mean: [Double], invstd: [Double],
                               weight: Tensor?, batchStatistics: Bool, needInput: Bool, needSums: Bool)
        -> (input: Tensor?, sums: ChannelGradientSums?)
    /// A residual block's tail in training: batch normalization of `x` (its statistics, as
    /// ``batchNormTrainingForward(_:weight:bias:eps:)``), then `max(0, normalized·weight + bias + residual)`
    /// in the normalizing sweep.
    func batchNormAddReLUTrainingForward(_ x: Tensor, residual: Tensor, weight: Tensor?, bias: Tensor?, eps: Double)
        -> (output: Tensor, statistics: ChannelStatistics, map: ChannelAffineMap)
    /// `max(0, (x − mean)·invstd·weight + bias + residual)` per channel in one sweep (evaluation).
    func batchNormAddReLUApply(_ x: Tensor, residual: Tensor, mean: [Double], invstd: [Double], weight: Tensor?, bias: Tensor?)
        -> (output: Tensor, map: ChannelAffineMap)
    /// `running ← (1 − factor)·running + factor·batch` elementwise, computed in Double.
    func updateRunningStatistic(_ running: Tensor, with batch: [Double], factor: Double)
    /// Group normalization (instance normalization is `groups == c`): statistics per (sample, group).
    func groupNorm(_ x: Tensor, groups: Int, weight: Tensor?, bias: Tensor?, eps: Double) -> (output: Tensor, statistics: RowStatistics)
    /// Gradients of group normalization; weight and bias gradients when `needAffine`.
    func groupNormBackward(_ x: Tensor, gradOutput: Tensor, groups: Int, statistics: RowStatistics, weight: Tensor?,
                           needInput: Bool, needAffine: Bool) -> (input: Tensor?, weight: Tensor?, bias: Tensor?)
    /// Layer normalization over rows of `d` elements (weight and bias of d elements).
    func layerNorm(_ x: Tensor, d: Int, weight: Tensor?, bias: Tensor?, eps: Double) -> (output: Tensor, statistics: RowStatistics)
    /// Gradients of layer normalization; weight and bias gradients when `needAffine`.
    func layerNormBackward(_ x: Tensor, gradOutput: Tensor, d: Int, statistics: RowStatistics, weight: Tensor?,
                           needInput: Bool, needAffine: Bool) -> (input: Tensor?, weight: Tensor?, bias: Tensor?)
    /// RMS normalization `x / sqrt(mean(x²) + eps) · weight` over rows of `d` elements
    /// (statistics: mean 0, variance = mean(x²)).
    func rmsNorm(_ x: Tensor, d: Int, weight: Tensor?, eps: Double) -> (output: Tensor, statistics: RowStatistics)
    /// Gradients of RMS normalization; the weight gradient when `needWeight`.
    func rmsNormBackward(_ x: Tensor, gradOutput: Tensor, d: Int, statistics: RowStatistics, weight: Tensor?,
                         needInput: Bool, needWeight: Bool) -> (input: Tensor?, weight: Tensor?)
}

extension Kernels {
    /// Outputs at least this large (bytes) are written with non-temporal stores by the CPU
    /// normalization kernels. The results are identical either way; tests lower it to cover the
    /// streaming path.
    nonisolated(unsafe) public static var normalizationStreamingBytes = 4 << 20

    /// Per-channel statistics of `x` (N, C, *) over the batch and every spatial position: the
    /// "reduce" half of batch normalization's forward. Float32 sums shifted one-pass in SIMD lanes
    /// merged in Double; float64 two-pass.
    ///
    /// ```swift
    /// let stats = Kernels.batchNormStatistics(x)      // count N·H·W, mean, M2 per channel
    /// let y = Kernels.batchNormApply(x, mean: stats.mean, invstd: stats.invstd(eps: 1e-5), weight: w, bias: b)
    /// ```
    public static func batchNormStatistics(_ x: Tensor) -> ChannelStatistics {
        checkNormInput(x, "batch_norm", rank: 2)
        return backend(x).batchNormStatistics(x)
    }

    /// `y = (x − mean)·invstd·weight + bias` per channel of `x` (N, C, *): the "apply" half of
    /// batch normalization (batch statistics in training, running ones in evaluation).
    public static func batchNormApply(_ x: Tensor, mean: [Double], invstd: [Double], weight: Tensor?, bias: Tensor?) -> Tensor {
        checkNormInput(x, "batch_norm", rank: 2)
        checkChannels(x.shape[1], mean, invstd)
        checkAffine(x, weight, bias, count: x.shape[1])
        return backend(x, weight, bias).batchNormApply(x, mean: mean, invstd: invstd, weight: weight, bias: bias)
    }

    /// Training-mode batch normalization in one call: per-channel statistics of `x` (N, C, *), then
    /// `y = (x − mean)/sqrt(var + eps)·weight + bias`. The same result as
    /// ``batchNormStatistics(_:)`` followed by ``batchNormApply(_:mean:invstd:weight:bias:)``,
    /// with x read from memory once.
    public static func batchNormTrainingForward(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Double)
        -> (output: Tensor, statistics: ChannelStatistics) {
        checkNormInput(x, "batch_norm", rank: 2)
        checkAffine(x, weight, bias, count: x.shape[1])
        return backend(x, weight, bias).batchNormTrainingForward(x, weight: weight, bias: bias, eps: eps)
    }

    /// Per-channel Σdy and Σdy·x̂ of batch normalization's backward (the "reduce" half), with
    /// x̂ = (x − mean)·invstd for the statistics the forward normalized with.
    public static func batchNormBackwardReduce(_ x: Tensor, gradOutput: Tensor, mean: [Double], invstd: [Double]) -> ChannelGradientSums {
        checkNormInput(x, "batch_norm", rank: 2)
        checkGradient(x, gradOutput)
        checkChannels(x.shape[1], mean, invstd)
        return backend(x, gradOutput).batchNormBackwardReduce(x, gradOutput: gradOutput, mean: mean, invstd: invstd)
    }

    /// The input gradient of batch normalization (the "apply" half of backward):
    /// `dx = w·invstd·(dy − Σdy/n − x̂·Σdy·x̂/n)` with the (possibly combined) `sums`, or
    /// `dx = w·invstd·dy` when `sums` is nil (normalized by running statistics).
    public static func batchNormBackwardApply(_ x: Tensor, gradOutput: Tensor, mean: [Double], invstd: [Double],
                                              weight: Tensor?, sums: ChannelGradientSums?) -> Tensor {
        checkNormInput(x, "batch_norm", rank: 2)
        checkGradient(x, gradOutput)
        checkChannels(x.shape[1], mean, invstd)
        checkAffine(x, weight, nil, count: x.shape[1])
        if let sums { precondition(sums.channels == x.shape[1], "batch_norm: gradient sums for \(sums.channels) channels, input has \(x.shape[1])") }
        return backend(x, gradOutput, weight).batchNormBackwardApply(x, gradOutput: gradOutput, mean: mean, invstd: invstd,
                                                                      weight: weight, sums: sums)
    }

    /// Batch-normalization backward in one call (reduce and apply per cache-sized block): the
    /// input gradient when `needInput`, and the per-channel sums (the weight and bias gradients)
    /// when `needSums`. `batchStatistics` false means the forward normalized with running
    /// statistics, so `dx = w·invstd·dy`.
    public static func batchNormBackward(_ x: Tensor, gradOutput: Tensor, mean: [Double], invstd: [Double], weight: Tensor?,
                                         batchStatistics: Bool, needInput: Bool = true, needSums: Bool = true)
        -> (input: Tensor?, sums: ChannelGradientSums?) {
        checkNormInput(x, "batch_norm", rank: 2)
        checkGradient(x, gradOutput)
        checkChannels(x.shape[1], mean, invstd)
        checkAffine(x, weight, nil, count: x.shape[1])
        return backend(x, gradOutput, weight).batchNormBackward(x, gradOutput: gradOutput, mean: mean, invstd: invstd, weight: weight,
                                                                 batchStatistics: batchStatistics, needInput: needInput,
                                                                 needSums: needSums)
    }

    /// Training-mode batch normalization fused with the ReLU after it, on `x` (N, C, *): the same
    /// statistics as ``batchNormTrainingForward(_:weight:bias:eps:)`` and, in the sweep that
    /// normalizes, `y = max(0, …)` — the values `relu(batchNorm(x))` gives, without the
    /// intermediate tensor. `map` is what ``batchNormReLUBackward(_:gradOutput:map:mean:invstd:weight:batchStatistics:needInput:needSums:)``
    /// needs to recompute the ReLU mask.
    ///
    /// ```swift
    /// let (y, stats, map) = Kernels.batchNormReLUTrainingForward(x, weight: w, bias: b, eps: 1e-5)
    /// ```
    public static func batchNormReLUTrainingForward(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Double)
        -> (output: Tensor, statistics: ChannelStatistics, map: ChannelAffineMap) {
        checkNormInput(x, "batch_norm_relu", rank: 2)
        checkAffine(x, weight, bias, count: x.shape[1])
        return backend(x, weight, bias).batchNormReLUTrainingForward(x, weight: weight, bias: bias, eps: eps)
    }

    /// `max(0, (x − mean)·invstd·weight + bias)` per channel of `x` (N, C, *) in one sweep: batch
    /// normalization with given (running) statistics fused with the ReLU after it.
    ///
    /// ```swift
    /// let (y, map) = Kernels.batchNormReLUApply(x, mean: runningMean, invstd: invstd, weight: w, bias: b)
    /// ```
    public static func batchNormReLUApply(_ x: Tensor, mean: [Double], invstd: [Double], weight: Tensor?, bias: Tensor?)
        -> (output: Tensor, map: ChannelAffineMap) {
        checkNormInput(x, "batch_norm_relu", rank: 2)
        checkChannels(x.shape[1], mean, invstd)
        checkAffine(x, weight, bias, count: x.shape[1])
        return backend(x, weight, bias).batchNormReLUApply(x, mean: mean, invstd: invstd, weight: weight, bias: bias)
    }

    /// Gradients of batch normalization followed by ReLU, in two sweeps (per cache-sized channel
    /// block when the layout allows): the per-channel sums of the gated gradient, then the input
    /// gradient. The ReLU mask is recomputed from x with `map` (the forward's), so neither the
    /// forward's output nor the ReLU's input gradient is kept. `mean` must be the statistics the
    /// forward normalized with; `batchStatistics`, `needInput` and `needSums` as in
    /// ``batchNormBackward(_:gradOutput:mean:invstd:weight:batchStatistics:needInput:needSums:)``.
    public static func batchNormReLUBackward(_ x: Tensor, gradOutput: Tensor, map: ChannelAffineMap, mean: [Double],
                                             invstd: [Double], weight: Tensor?, batchStatistics: Bool,
                                             needInput: Bool = true, needSums: Bool = true)
        -> (input: Tensor?, sums: ChannelGradientSums?) {
        checkNormInput(x, "batch_norm_relu", rank: 2)
        checkGradient(x, gradOutput)
        checkChannels(x.shape[1], mean, invstd)
        checkAffine(x, weight, nil, count: x.shape[1])
        precondition(map.channels == x.shape[1], "batch_norm_relu: a map of \(map.channels) channels for \(x.shape[1])")
        return backend(x, gradOutput, weight).batchNormReLUBackward(x, gradOutput: gradOutput, map: map, mean: mean, invstd: invstd,
                                                                     weight: weight, batchStatistics: batchStatistics,
                                                                     needInput: needInput, needSums: needSums)
    }

    /// A residual block's tail, `relu(batchNorm(x) + residual)`, in training: the statistics of
    /// ``batchNormTrainingForward(_:weight:bias:eps:)`` and, in the sweep that normalizes,
    /// `max(0, normalized·weight + bias + residual)`: the values of the three operations done one after
    /// another (each rounded as there), without their two intermediate tensors. `residual` has x's shape.
    ///
    /// ```swift
    /// let (y, stats, map) = Kernels.batchNormAddReLUTrainingForward(z, residual: identity, weight: w, bias: b, eps: 1e-5)
    /// ```
    public static func batchNormAddReLUTrainingForward(_ x: Tensor, residual: Tensor, weight: Tensor?, bias: Tensor?, eps: Double)
        -> (output: Tensor, statistics: ChannelStatistics, map: ChannelAffineMap) {
        checkNormInput(x, "batch_norm_add_relu", rank: 2)
        checkResidual(x, residual)
        checkAffine(x, weight, bias, count: x.shape[1])
        return backend(x, residual, weight, bias).batchNormAddReLUTrainingForward(x, residual: residual, weight: weight, bias: bias,
                                                                                  eps: eps)
    }

    /// `max(0, (x − mean)·invstd·weight + bias + residual)` per channel of `x` (N, C, *) in one sweep:
    /// a residual block's tail with given (running) statistics.
    ///
    /// ```swift
    /// let (y, map) = Kernels.batchNormAddReLUApply(z, residual: identity, mean: runningMean, invstd: invstd, weight: w, bias: b)
    /// ```
    public static func batchNormAddReLUApply(_ x: Tensor, residual: Tensor, mean: [Double], invstd: [Double], weight: Tensor?,
                                             bias: Tensor?) -> (output: Tensor, map: ChannelAffineMap) {
        checkNormInput(x, "batch_norm_add_relu", rank: 2)
        checkResidual(x, residual)
        checkChannels(x.shape[1], mean, invstd)
        checkAffine(x, weight, bias, count: x.shape[1])
        return backend(x, residual, weight, bias).batchNormAddReLUApply(x, residual: residual, mean: mean, invstd: invstd,
                                                                        weight: weight, bias: bias)
    }

    private static func checkResidual(_ x: Tensor, _ residual: Tensor) {
        precondition(residual.shape == x.shape && residual.dtype == x.dtype,
                     "batch_norm_add_relu: the residual must be a \(x.dtype) tensor of shape \(x.shape), got \(residual.dtype) \(residual.shape)")
    }

    /// `running ← (1 − factor)·running + factor·batch` elementwise in Double, in place: the one
    /// update every running statistic (batch and instance normalization) goes through.
    public static func updateRunningStatistic(_ running: Tensor, with batch: [Double], factor: Double) {
        precondition(running.dtype.isFloatingPoint && running.count == batch.count,
                     "running statistics: \(running.count) \(running.dtype) values cannot take \(batch.count) batch values")
        backend(running).updateRunningStatistic(running, with: batch, factor: factor)
    }

    /// Group normalization of `x` (N, C, *): channels split into `groups` contiguous groups, each
    /// (sample, group) normalized by its own mean and biased variance, then scaled and shifted per
    /// channel. Instance normalization is `groups == C`.
    public static func groupNorm(_ x: Tensor, groups: Int, weight: Tensor?, bias: Tensor?, eps: Double)
        -> (output: Tensor, statistics: RowStatistics) {
        checkNormInput(x, "group_norm", rank: 2)
        precondition(groups > 0 && x.shape[1] % groups == 0, "group_norm: \(x.shape[1]) channels in \(groups) groups")
        checkAffine(x, weight, bias, count: x.shape[1])
        return backend(x, weight, bias).groupNorm(x, groups: groups, weight: weight, bias: bias, eps: eps)
    }

    /// Gradients of ``groupNorm(_:groups:weight:bias:eps:)`` (always with the batch's own
    /// statistics): input when `needInput`, weight and bias when `needAffine`.
    public static func groupNormBackward(_ x: Tensor, gradOutput: Tensor, groups: Int, statistics: RowStatistics,
                                         weight: Tensor?, needInput: Bool = true, needAffine: Bool = true)
        -> (input: Tensor?, weight: Tensor?, bias: Tensor?) {
        checkNormInput(x, "group_norm", rank: 2)
        checkGradient(x, gradOutput)
        checkAffine(x, weight, nil, count: x.shape[1])
        return backend(x, gradOutput, weight).groupNormBackward(x, gradOutput: gradOutput, groups: groups, statistics: statistics,
                                                                 weight: weight, needInput: needInput, needAffine: needAffine)
    }

    /// Layer normalization over the last `d` elements of `x` (rows of d), with elementwise
    /// weight and bias of d elements.
    public static func layerNorm(_ x: Tensor, d: Int, weight: Tensor?, bias: Tensor?, eps: Double)
        -> (output: Tensor, statistics: RowStatistics) {
        checkNormInput(x, "layer_norm", rank: 0)
        checkAffine(x, weight, bias, count: d)
        return backend(x, weight, bias).layerNorm(x, d: d, weight: weight, bias: bias, eps: eps)
    }

    /// Gradients of ``layerNorm(_:d:weight:bias:eps:)``: input when `needInput`, weight and bias
    /// when `needAffine`.
    public static func layerNormBackward(_ x: Tensor, gradOutput: Tensor, d: Int, statistics: RowStatistics, weight: Tensor?,
                                         needInput: Bool = true, needAffine: Bool = true) -> (input: Tensor?, weight: Tensor?, bias: Tensor?) {
        checkNormInput(x, "layer_norm", rank: 0)
        checkGradient(x, gradOutput)
        checkAffine(x, weight, nil, count: d)
        return backend(x, gradOutput, weight).layerNormBackward(x, gradOutput: gradOutput, d: d, statistics: statistics,
                                                                 weight: weight, needInput: needInput, needAffine: needAffine)
    }

    /// RMS normalization over the last `d` elements: `y = x / sqrt(mean(x²) + eps) · weight`.
    public static func rmsNorm(_ x: Tensor, d: Int, weight: Tensor?, eps: Double) -> (output: Tensor, statistics: RowStatistics) {
        checkNormInput(x, "rms_norm", rank: 0)
        checkAffine(x, weight, nil, count: d)
        return backend(x, weight).rmsNorm(x, d: d, weight: weight, eps: eps)
    }

    /// Gradients of ``rmsNorm(_:d:weight:eps:)``: input when `needInput`, weight when `needWeight`.
    public static func rmsNormBackward(_ x: Tensor, gradOutput: Tensor, d: Int, statistics: RowStatistics, weight: Tensor?,
                                       needInput: Bool = true, needWeight: Bool = true) -> (input: Tensor?, weight: Tensor?) {
        checkNormInput(x, "rms_norm", rank: 0)
        checkGradient(x, gradOutput)
        checkAffine(x, weight, nil, count: d)
        return backend(x, gradOutput, weight).rmsNormBackward(x, gradOutput: gradOutput, d: d, statistics: statistics,
                                                               weight: weight, needInput: needInput, needWeight: needWeight)
    }

    // Kernel preconditions (the layers check arguments with PyTorch's messages before calling).

    private static func checkNormInput(_ x: Tensor, _ op: String, rank: Int) {
        precondition(x.dtype.isFloatingPoint, "\(op): expected a floating-point input, got \(x.dtype)")
        precondition(x.rank >= rank, "\(op): expected at least \(rank)-D input, got \(shapeString(x.shape))")
    }

    private static func checkGradient(_ x: Tensor, _ g: Tensor) {
        precondition(g.count == x.count && g.dtype == x.dtype, "normalization: gradient \(g.dtype) \(shapeString(g.shape)) does not match input \(x.dtype) \(shapeString(x.shape))")
    }

    private static func checkChannels(_ c: Int, _ mean: [Double], _ invstd: [Double]) {
        precondition(mean.count == c && invstd.count == c, "batch_norm: \(mean.count) means and \(invstd.count) scales for \(c) channels")
    }

    private static func checkAffine(_ x: Tensor, _ weight: Tensor?, _ bias: Tensor?, count: Int) {
        for case let t? in [weight, bias] {
            precondition(t.count == count && t.dtype == x.dtype, "normalization: affine parameter \(t.dtype) \(shapeString(t.shape)) does not fit \(count) \(x.dtype) values")
        }
    }
}
