import Autograd
import NN
import TensorCore

/// Batch normalization over the global batch of data-parallel training, like
/// `torch.nn.SyncBatchNorm`: in training, every rank normalizes its part of the batch with the
/// statistics of all ranks' parts together, so N processes with batches of b give exactly what one
/// BatchNorm gives on the concatenated batch of N·b.
///
/// - **Forward.** Each rank reduces its part to per-channel count, mean and M2 (in Double); the
///   ranks exchange these (one all-gather of `2·C + 1` numbers) and merge them in rank order with
///   Chan et al.'s parallel formula, which keeps its digits where sum / sum-of-squares loses them.
///   Every rank thus holds the same statistics, bit for bit. Parts may differ in size, including a
///   rank with a batch of one or of none, as long as the global count per channel exceeds one.
/// - **Running statistics** take the global mean and the global unbiased variance
///   (M2 / (count − 1)) and are the same on every rank.
/// - **Backward.** The two per-channel sums the input gradient needs (Σdy and Σdy·x̂) are
///   summed over the ranks (one more exchange), so each rank's input gradient is its slice of the
///   whole batch's. Weight and bias gradients stay each rank's own, as in PyTorch;
///   ``DistributedDataParallel`` averages them with the other gradients.
/// - **Evaluation** is plain BatchNorm with the running statistics (no communication). With one
///   process, or without a process group, training is plain BatchNorm too.
///
/// The state dict is BatchNorm's (`weight`, `bias`, `running_mean`, `running_var`,
/// `num_batches_tracked`), so checkpoints move freely between SyncBatchNorm, BatchNorm and
/// PyTorch. Every rank must run the layer the same number of times in the same order (it is a
/// collective); a communication failure inside forward or backward, which cannot throw, takes
/// the whole job down with ``ProcessGroup/abort(_:exitCode:)``.
///
/// ```swift
/// let group = try initProcessGroup(backend: .mpi)           // under mpirun -np 2
/// let model = SmallCNN(numClasses: 10)
/// SyncBatchNorm.convert(model)                              // every BatchNorm, state kept
/// let ddp = try DistributedDataParallel(model, processGroup: group)
/// let bn = SyncBatchNorm(64)                                // or built directly: (N, C, *) input
/// ```
public final class SyncBatchNorm: BatchNormBase {
    /// The group whose ranks share statistics; nil: the default group at the time of each
    /// forward pass (``defaultProcessGroup``), like PyTorch's `process_group=None`.
    public var processGroup: (any ProcessGroup)? { (statisticsReducer as? ProcessGroupReducer)?.group }

    /// A SyncBatchNorm layer over (N, C, *) input, with BatchNorm's arguments and the group to
    /// synchronize over (default: the default process group).
    public init(_ numFeatures: Int, eps: Double = 1e-5, momentum: Double? = 0.1, affine: Bool = true,
                trackRunningStats: Bool = true, bias: Bool = true, processGroup: (any ProcessGroup)? = nil) {
        super.init(numFeatures: numFeatures, eps: eps, momentum: momentum, affine: affine, trackRunningStats: trackRunningStats,
                   bias: bias)
        statisticsReducer = ProcessGroupReducer(group: processGroup)
    }

    override public func checkInputDim(_ input: Tensor) throws(UsageError) {
        if input.rank < 2 {
            throw UsageError(typeName, "expected at least 2D input (got \(input.rank)D input)")
        }
    }

    /// Makes every BatchNorm layer in `module`'s tree (``BatchNorm1d``, ``BatchNorm2d``,
    /// ``BatchNorm3d``, `module` itself included) a SyncBatchNorm over `processGroup`, like
    /// `torch.nn.SyncBatchNorm.convert_sync_batchnorm`, and returns `module`.
    ///
    /// The layers are converted in place: each keeps its parameters, running statistics, batch
    /// counter, mode and input-rank check, and from now on combines its training statistics
    /// across the group (it prints as `SyncBatchNorm`). So the state dict keeps its keys and
    /// values, and model code holding the layers in typed properties keeps working. PyTorch
    /// replaces the modules with new objects sharing the same tensors; the effect is the same.
    ///
    /// ```swift
    /// let model = MLPClassifier(inDim: 784, hiddenDims: [512], numClasses: 10)
    /// SyncBatchNorm.convert(model, processGroup: group)
    /// print(model)      // … (1): SyncBatchNorm(512, eps=1e-05, momentum=0.1, …)
    /// ```
    @discardableResult
    public static func convert<M: Module>(_ module: M, processGroup: (any ProcessGroup)? = nil) -> M {
        let reducer = ProcessGroupReducer(group: processGroup)
        for case let bn as BatchNormBase in module.modules() {
            if let sync = bn as? SyncBatchNorm {
                // Already synchronizing; an explicit group replaces its own (as PyTorch's new module would).
                if processGroup != nil { sync.statisticsReducer = reducer }
            } else {
                bn.statisticsReducer = reducer
            }
        }
        return module
    }

    /// ``convert(_:processGroup:)`` under PyTorch's name (`convert_sync_batchnorm`).
    @discardableResult
    public static func convertSyncBatchnorm<M: Module>(_ module: M, processGroup: (any ProcessGroup)? = nil) -> M {
        convert(module, processGroup: processGroup)
    }
}

extension BatchNormBase {
    /// Whether the layer combines its training statistics across processes (a ``SyncBatchNorm``,
    /// or a BatchNorm converted by ``SyncBatchNorm/convert(_:processGroup:)``).
    public var isSynchronized: Bool { statisticsReducer is ProcessGroupReducer }
}

/// SyncBatchNorm's exchanges: per-channel statistics merged with Chan's formula, gradient sums
/// added, both in rank order so that every rank computes the same numbers.
final class ProcessGroupReducer: BatchNormReducer {
    /// nil: the default group when the layer runs.
    let group: (any ProcessGroup)?

    init(group: (any ProcessGroup)?) { self.group = group }

    var layerName: String? { "SyncBatchNorm" }

    /// The group to talk to, nil when there is nobody to talk to (one process, no group).
    private var activeGroup: (any ProcessGroup)? {
        guard let g = group ?? defaultProcessGroup, g.worldSize > 1 else { return nil }
        return g
    }

    func combine(_ local: ChannelStatistics) -> ChannelStatistics {
        guard let g = activeGroup else { return local }
        var whole = ChannelStatistics.empty(channels: local.channels)
        for (rank, values) in gather(local.packed, g).enumerated() {
            guard let part = ChannelStatistics(packed: values), part.channels == local.channels else {
                g.abort("SyncBatchNorm: rank \(rank) sent \(values.count) numbers where \(local.packed.count) were expected "
                        + "(statistics of \(local.channels) channels); every rank must run the same model", exitCode: 1)
            }
            whole = whole.merged(with: part)
        }
        return whole
    }

    func combine(_ local: ChannelGradientSums) -> ChannelGradientSums {
        guard let g = activeGroup else { return local }
        let zeros = [Double](repeating: 0, count: local.channels)
        var whole = ChannelGradientSums(count: 0, sumDy: zeros, sumDyXhat: zeros)
        for (rank, values) in gather(local.packed, g).enumerated() {
            guard let part = ChannelGradientSums(packed: values), part.channels == local.channels else {
                g.abort("SyncBatchNorm: rank \(rank) sent \(values.count) gradient sums where \(local.packed.count) were expected; "
                        + "every rank must run the same model", exitCode: 1)
            }
            whole = whole.merged(with: part)
        }
        return whole
    }

    /// Every rank's numbers, in rank order (one all-gather of float64). The reduction is done here
    /// rather than by MPI so that its order, and so its rounding, is the same on every rank.
    private func gather(_ values: [Double], _ g: any ProcessGroup) -> [[Double]] {
        let all: Tensor
        do { all = try g.allGatherIntoTensor(Tensor(values, shape: [values.count])) } catch {
            g.abort("SyncBatchNorm: \(error)", exitCode: 1)
        }
        let flat = all.toArray(of: Double.self)
        return (0..<g.worldSize).map { r in Array(flat[(r * values.count)..<((r + 1) * values.count)]) }
    }
}
