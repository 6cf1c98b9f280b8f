import TensorCore
import Autograd

/// How ``updateBatchNorm(_:_:weighting:)`` turns the loader's batches into running statistics.
public enum BatchNormStatistics: Sendable {
    /// PyTorch's `torch.optim.swa_utils.update_bn`: every BatchNorm runs in training mode with
    /// `momentum = nil`, so its running mean is the plain average of the batch means and its
    /// running variance the average of the batches' unbiased variances. Every *batch* weighs the
    /// same: a smaller last batch counts as much as a full one, and the average of per-batch
    /// variances misses the spread between batch means.
    case perBatch
    /// Every *sample* weighs the same: the running mean and unbiased variance are the population
    /// statistics of all values each BatchNorm sees over the whole loader (per channel, over batch
    /// and spatial positions), merged batch by batch with Chan et al.'s parallel formula in Double.
    /// This is what the layer would hold after one pass with the whole data set as one batch.
    case perSample
}

/// Recomputes the running statistics of every BatchNorm in `model` from a pass over `loader`, like
/// `torch.optim.swa_utils.update_bn(loader, model)`: the statistics are reset, the model runs in
/// training mode over every batch (no gradients are recorded), and each layer's momentum and the
/// model's mode are restored afterwards. Use it after weight averaging (SWA), after pruning or
/// folding, or when fine-tuning on data whose statistics differ.
///
/// | | `.perBatch` (PyTorch's `update_bn`) | `.perSample` |
/// |---|---|---|
/// | running mean | mean of the batch means | mean of all values |
/// | running var | mean of the batches' unbiased variances | unbiased variance of all values |
/// | weight of a batch of n | 1 | n |
/// | `num_batches_tracked` | number of batches | number of batches |
///
/// BatchNorms frozen by `freezeBatchNorm` are updated too (the call asks for it), and stay frozen.
/// Like PyTorch, the whole model is in training mode during the pass, so Dropout is active.
/// BatchNorms without running statistics are left alone.
///
/// ```swift
/// updateBatchNorm(model, loader)                          // torch.optim.swa_utils.update_bn
/// updateBatchNorm(model, loader, weighting: .perSample)   // exact population statistics
/// ```
public func updateBatchNorm<S: Sequence>(_ model: Module, _ loader: S, weighting: BatchNormStatistics = .perBatch)
where S.Element == Tensor {
    let layers = model.modules().compactMap { $0 as? BatchNormBase }.filter { $0.runningMean != nil && $0.runningVar != nil && !$0.isFolded }
    guard !layers.isEmpty else { return }
    let wasTraining = model.isTraining
    let saved = layers.map { (momentum: $0.momentum, frozen: $0.isFrozen) }
    for bn in layers {
        bn.resetRunningStats()
        bn.momentum = nil
        bn.isFrozen = false
    }
    var accumulators: [ChannelMoments] = []
    var handles: [RemovableHandle] = []
    if weighting == .perSample {
        accumulators = layers.map { ChannelMoments(channels: $0.numFeatures) }
        for (i, bn) in layers.enumerated() {
            let acc = accumulators[i]
            handles.append(bn.registerForwardPreHook { _, x in acc.add(x) })
        }
    }
    model.train()
    withNoGrad {
        for batch in loader { _ = model(batch) }
    }
    for h in handles { h.remove() }
    for (i, bn) in layers.enumerated() {
        if weighting == .perSample, let mean = bn.runningMean, let variance = bn.runningVar {
            accumulators[i].write(mean: mean, unbiasedVariance: variance)
        }
        bn.momentum = saved[i].momentum
        bn.isFrozen = saved[i].frozen
    }
    model.train(wasTraining)
}

/// ``updateBatchNorm(_:_:weighting:)`` over `(inputs, labels)` batches, such as a `DataLoader`'s;
/// the labels are ignored (PyTorch's `update_bn` takes a batch's first element).
public func updateBatchNorm<S: Sequence>(_ model: Module, _ loader: S, weighting: BatchNormStatistics = .perBatch)
where S.Element == (inputs: Tensor, labels: Tensor) {
    updateBatchNorm(model, loader.lazy.map(\.inputs), weighting: weighting)
}

/// ``updateBatchNorm(_:_:weighting:)`` over `(input, target)` pairs.
public func updateBatchNorm<S: Sequence>(_ model: Module, _ loader: S, weighting: BatchNormStatistics = .perBatch)
where S.Element == (Tensor, Tensor) {
    updateBatchNorm(model, loader.lazy.map(\.0), weighting: weighting)
}

/// Per-channel count, mean and sum of squared deviations (M2) in Double, merged batch by batch.
final class ChannelMoments {
    var count: Double = 0
    var mean: [Double]
    var m2: [Double]

    init(channels: Int) {
        mean = [Double](repeating: 0, count: channels)
        m2 = [Double](repeating: 0, count: channels)
    }

    /// Adds a batch `[N, C, *]` (or `[N, C]`): its per-channel mean and M2 computed in Double by
    /// the tensor reductions, then Chan's merge per channel:
    /// δ = μ_b − μ, μ += δ·n_b/n, M2 += M2_b + δ²·n·n_b/(n + n_b).
    func add(_ x: Tensor) {
        guard x.rank >= 2, x.shape[1] == mean.count, x.count > 0, x.dtype == .float32 || x.dtype == .float64 else { return }
        let dims = [0] + Array(2..<x.rank)
        let values = x.to(.float64)
        let batchMean = values.mean(dims: dims, keepDim: true)
        let centered = values - batchMean
        let batchM2 = (centered * centered).sum(dims: dims).toArray(of: Double.self)
        let means = batchMean.toArray(of: Double.self)
        let nb = Double(x.count / x.shape[1])
        let total = count + nb
        for ch in mean.indices {
            let delta = means[ch] - mean[ch]
            mean[ch] += delta * nb / total
            m2[ch] += batchM2[ch] + delta * delta * count * nb / total
        }
        count = total
    }

    func write(mean out: Tensor, unbiasedVariance variance: Tensor) {
        guard count > 0 else { return }
        for ch in mean.indices {
            out.setValue(mean[ch], at: ch)
            variance.setValue(count > 1 ? m2[ch] / (count - 1) : .nan, at: ch)
        }
    }
}
