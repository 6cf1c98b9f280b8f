import TensorCore
import NN

/// Running-statistics, parameter and batch-size mistakes.
enum StatisticsChecks {
    /// Where the batch size the checks reason about comes from.
    enum BatchSize {
        /// Told by the caller (the training batch size).
        case stated(Int)
        /// The batch dimension of the sample the caller gave: batches like it are what the model
        /// will see, but whether in training is known only from the purpose.
        case sample(Int)

        var value: Int {
            switch self {
            case .stated(let n), .sample(let n): n
            }
        }
    }

    static func run(_ modules: [(String, Module)], purpose: Doctor.Purpose, batchSize: BatchSize?, valuesPerChannel: [ObjectIdentifier: Int]) -> [Diagnosis] {
        var out: [Diagnosis] = []
        for (path, m) in modules {
            guard let bn = m as? BatchNormBase else { continue }
            if let momentum = bn.momentum, momentum > 0.5 {
                out.append(Diagnosis(.kerasStyleMomentum, .warning, path: path,
                                     "momentum=\(momentum) gives the newest batch \(Int((momentum * 100).rounded()))% of the weight; this looks like Keras's convention, where momentum is the weight of the old statistics.",
                                     fix: "use momentum: \(PyRepr.float(1 - momentum)) (PyTorch's and SwiftNN's momentum is the weight of the new batch; the default is 0.1)."))
            }
            if let batchSize, purpose != .evaluation {
                // Values each channel's statistics come from: the batch times the positions per
                // example (known once the data was followed; 1 for [N, C] inputs).
                let perExample = valuesPerChannel[ObjectIdentifier(bn)] ?? 1
                let n = batchSize.value
                if case .sample = batchSize, n * perExample == 1 {
                    // Only a sample: it may be an inference batch, so in training it is an error,
                    // otherwise what would go wrong if the model trained on batches like it.
                    out.append(Diagnosis(.batchOfOne, purpose == .training ? .error : .advice, path: path,
                                         (purpose == .training ? "" : "if the model is trained on batches like the sample (one example): ")
                                            + "\(bn.typeName) `\(path)` would see one value per channel: the variance of one value is 0 and the unbiased running variance divides by zero (PyTorch raises 'Expected more than 1 value per channel when training'; the classic source of NaN).",
                                         fix: "train with batches of at least 2 (better 16 or more), drop the last partial batch (dropLast), or use GroupNorm/LayerNorm; a batch of one is fine in eval mode."))
                } else if case .stated = batchSize, n * perExample == 1 {
                    out.append(Diagnosis(.batchOfOne, .error, path: path,
                                         "\(bn.typeName) cannot train on batches of one: the variance of one value is 0 (PyTorch raises 'Expected more than 1 value per channel when training').",
                                         fix: "use a larger batch, drop the last partial batch (dropLast), or use GroupNorm/LayerNorm."))
                } else if case .stated = batchSize, n < 8 {
                    out.append(Diagnosis(.smallBatchForBatchNorm, .advice, path: path,
                                         "a batch of \(n) gives \(bn.typeName) noisy statistics; accuracy usually suffers below 8–16 examples per batch.",
                                         fix: "use GroupNorm or LayerNorm, or freeze the BatchNorm layers with freezeBatchNorm(model) when fine-tuning."))
                }
            }
            guard let mean = bn.runningMean, let variance = bn.runningVar else { continue }
            let meanValues = mean.scalars, varValues = variance.scalars
            if meanValues.contains(where: { !$0.isFinite }) || varValues.contains(where: { !$0.isFinite || $0 < 0 }) {
                out.append(Diagnosis(.badRunningStatistics, .error, path: path,
                                     "running statistics hold NaN, infinite or negative variance values; evaluation output will be garbage.",
                                     fix: "look for a diverging loss (lower the learning rate) or a corrupted checkpoint, then call resetRunningStats() and re-estimate them."))
            } else if !bn.isTraining || purpose == .evaluation,
                      (bn.numBatchesTracked ?? 0) == 0,
                      meanValues.allSatisfy({ $0 == 0 }), varValues.allSatisfy({ $0 == 1 }) {
                out.append(Diagnosis(.initialRunningStatistics, .warning, path: path,
                                     "\(bn.typeName) evaluates with its initial running statistics (mean 0, variance 1): it has never seen a training batch, or its buffers were not loaded.",
                                     fix: "train the model first, or load a checkpoint that includes running_mean, running_var and num_batches_tracked."))
            }
        }
        return out
    }
}
