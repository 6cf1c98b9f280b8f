import TensorCore

/// The running mean and variance a normalization layer tracks, and PyTorch's rule for folding a
/// batch into them: the one place that rule lives (BatchNorm, InstanceNorm and the functional
/// `batchNorm` all go through it).
///
/// - **Counter.** With `batchesTracked` (BatchNorm's `num_batches_tracked`), every update counts
///   one batch, an empty one included.
/// - **Factor.** The newest batch weighs `momentum`; with `momentum` nil, `1 / batchesTracked`
///   when batches are counted (the cumulative average) and 0 when they are not (InstanceNorm:
///   the statistics stay frozen, as in PyTorch).
/// - **Empty batch.** A batch without elements leaves the values as they are.
/// - **Variance.** The running variance tracks the unbiased variance (Bessel's correction).
///
/// The values are updated in place by one kernel (``Kernels/updateRunningStatistic(_:with:factor:)``).
///
/// ```swift
/// let rs = RunningStatistics(mean: Tensor.zeros([3]), variance: Tensor.ones([3]), batchesTracked: nil, momentum: 0.1)
/// rs.update(with: Kernels.batchNormStatistics(x))
/// ```
public struct RunningStatistics {
    /// Running per-channel mean.
    public let mean: Tensor
    /// Running per-channel unbiased variance.
    public let variance: Tensor
    /// The int64 0-d batch counter, or nil when batches are not counted.
    public let batchesTracked: Tensor?
    /// Weight of the newest batch; nil: cumulative average (counted) or frozen (not counted).
    public var momentum: Double?

    public init(mean: Tensor, variance: Tensor, batchesTracked: Tensor?, momentum: Double?) {
        self.mean = mean
        self.variance = variance
        self.batchesTracked = batchesTracked
        self.momentum = momentum
    }

    /// The per-channel mean and 1/√(variance + eps), in Double, that evaluation normalizes with.
    func evaluationStatistics(eps: Double) -> (mean: [Double], invstd: [Double]) {
        (mean.doubleScalars, variance.doubleScalars.map { 1 / ($0 + eps).squareRoot() })
    }

    /// What the functional forms (`batchNorm`, `batchNormReLU`, `batchNormAddReLU`, `instanceNorm`)
    /// update: both running tensors, with no batch count, or nil when either is missing.
    static func functional(mean: Tensor?, variance: Tensor?, momentum: Double) -> RunningStatistics? {
        guard let mean, let variance else { return nil }
        return RunningStatistics(mean: mean, variance: variance, batchesTracked: nil, momentum: momentum)
    }

    /// Counts a batch and returns the factor its statistics get.
    private func countBatch() -> Double {
        guard let batchesTracked else { return momentum ?? 0 }
        let n = batchesTracked.itemDouble() + 1
        batchesTracked.fill(n)
        return momentum ?? 1 / n
    }

    /// Folds in one batch's per-channel statistics (batch normalization: pooled over the batch
    /// and spatial positions, possibly merged across processes).
    public func update(with statistics: ChannelStatistics) {
        let factor = countBatch()
        guard statistics.count > 0 else { return }
        Kernels.updateRunningStatistic(mean, with: statistics.mean, factor: factor)
        Kernels.updateRunningStatistic(variance, with: statistics.unbiasedVariance, factor: factor)
    }

    /// Folds in instance normalization's per-(sample, channel) statistics of `samples` samples of
    /// `channels` channels, each over `elements` positions: PyTorch averages the per-instance mean
    /// and unbiased variance over the samples (an empty batch gives NaN, as in PyTorch).
    public func update(instances: RowStatistics, samples: Int, channels: Int, elements: Int) {
        let factor = countBatch()
        let unbias = Double(elements) / Double(max(elements - 1, 1))
        var m = [Double](repeating: 0, count: channels), v = m
        for i in 0..<samples {
            for c in 0..<channels {
                m[c] += instances.mean[i * channels + c]
                v[c] += instances.variance[i * channels + c] * unbias
            }
        }
        Kernels.updateRunningStatistic(mean, with: m.map { $0 / Double(samples) }, factor: factor)
        Kernels.updateRunningStatistic(variance, with: v.map { $0 / Double(samples) }, factor: factor)
    }
}
