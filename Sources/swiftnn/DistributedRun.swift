import Foundation
import SwiftNN

/// `swiftnn train --distributed`: data-parallel training over the processes `mpirun` started.
///
/// Every rank loads the data, builds the same model and trains on its own share of each epoch
/// (a DistributedSampler); gradients are averaged over the ranks after every backward pass
/// (DistributedDataParallel) and BatchNorm layers use the statistics of the global batch
/// (SyncBatchNorm, unless `--no-sync-bn`). `--batch-size` is per process, so the global batch is
/// `batch × world size`. Rank 0 alone prints, evaluates and writes files; the epoch's training
/// loss and accuracy are totals over all ranks.
enum DistributedLaunch {
    /// Checks that mpirun started this process and gives each rank its share of the cores
    /// (unless `--threads` says otherwise).
    static func prepare(threads: Int?) throws {
        guard MPIProcessGroup.isLaunchedByMPI else {
            throw CLIError("--distributed runs under an MPI launcher, e.g. 'mpirun -np 2 swiftnn train --distributed' (Open MPI: apt-get install openmpi-bin libopenmpi-dev)")
        }
        if threads == nil {
            let cores = ProcessInfo.processInfo.activeProcessorCount
            Parallel.threadCount = max(1, cores / max(1, MPIProcessGroup.launcherLocalSize ?? 1))
        }
    }

    /// Whether this process reports errors found before MPI starts (the same on every rank):
    /// rank 0 only, so the message appears once.
    static func reportsEarlyErrors(distributed: Bool) -> Bool {
        !distributed || (MPIProcessGroup.launcherRank ?? 0) == 0
    }
}

extension Trainer {
    /// Before resuming: SyncBatchNorm (unless --no-sync-bn) and each rank's own dropout masks.
    func prepareDistributed(_ group: any ProcessGroup) throws {
        // Statistics of the global batch (before resuming: the state dict is BatchNorm's either way).
        if options.syncBatchNorm { SyncBatchNorm.convert(model, processGroup: group) }
        // Every rank built the same initial weights from the seed; rank 0 keeps the plain run's
        // generator, the others get their own streams (masks must not repeat across ranks).
        if group.rank > 0 { Tensor.manualSeed(options.seed &+ 0x9E37_79B9_7F4A_7C15 &* UInt64(group.rank)) }
    }

    /// After resuming: the DistributedDataParallel wrapper (which checks that every rank built
    /// the same model and copies rank 0's state to all).
    func wrapDistributed(_ group: any ProcessGroup) throws {
        trainModel = try DistributedDataParallel(model, processGroup: group, overlapCommunication: options.overlapCommunication)
    }

    /// The name this rank's default generator has in the training checkpoint.
    var defaultGeneratorName: String {
        guard let group, group.rank > 0 else { return "default" }
        return "default.rank\(group.rank)"
    }

    /// Added to the resume fingerprint: a run continues only with the same number of processes
    /// (the data split and the global batch depend on it).
    var distributedFingerprint: String {
        guard let group else { return "" }
        return " world=\(group.worldSize) syncbn=\(options.syncBatchNorm ? 1 : 0)"
    }

    /// The shape of one example, for the doctor's sample batch.
    var doctorInputShape: [Int] { spec.model.flattensInput ? [spec.inputSize] : spec.inputShape }

    /// The batch a BatchNorm layer normalizes over: the global batch with SyncBatchNorm.
    var batchNormBatchSize: Int {
        guard let group, options.syncBatchNorm else { return options.batchSize }
        return options.batchSize * group.worldSize
    }

    var batchDescription: String {
        guard let group else { return "\(options.batchSize)" }
        return "\(options.batchSize * group.worldSize) (\(options.batchSize) per process × \(group.worldSize) processes)"
    }

    /// The epoch's loss sum, correct count and example count over all ranks.
    func globalTotals(_ lossSum: Double, _ correct: Int, _ seen: Int) throws -> (Double, Int, Int) {
        guard let group else { return (lossSum, correct, seen) }
        let t = Tensor([lossSum, Double(correct), Double(seen)], shape: [3])
        try group.allReduce(t, op: .sum)
        let v = t.toArray(of: Double.self)
        return (v[0], Int(v[1]), Int(v[2]))
    }

    /// Rank 0 runs `evaluate`; every rank gets its loss, accuracy and count.
    func sharedValidation(_ evaluate: () -> Evaluation) throws -> Evaluation {
        guard let group else { return evaluate() }
        var result = isLeader ? evaluate() : Evaluation(loss: 0, accuracy: 0, confusion: [], count: 0)
        let t = Tensor([result.loss, result.accuracy, Double(result.count)], shape: [3])
        try group.broadcast(t, from: 0)
        let v = t.toArray(of: Double.self)
        (result.loss, result.accuracy, result.count) = (v[0], v[1], Int(v[2]))
        return result
    }

    /// Every other rank's default generator state, for rank 0's training checkpoint (collective).
    func gatherGeneratorStates() throws -> [String: Generator] {
        guard let group else { return [:] }
        let s = Generator.default.state
        let all = try group.allGatherIntoTensor(Tensor([Int64(bitPattern: s.seed), Int64(bitPattern: s.offset)], shape: [2]))
            .toArray(of: Int64.self)
        var out: [String: Generator] = [:]
        for r in 1..<group.worldSize {
            let g = Generator(seed: 0)
            g.state = Generator.State(seed: UInt64(bitPattern: all[2 * r]), offset: UInt64(bitPattern: all[2 * r + 1]))
            out["default.rank\(r)"] = g
        }
        return out
    }

    /// The last line of a distributed run: layout, and the share of the training steps' time
    /// rank 0 spent inside MPI (gradient all-reduces, SyncBatchNorm's exchanges, waiting for the
    /// other ranks).
    func distributedSummary(seconds: Double) -> String {
        guard let group else { return "" }
        let log = communicationLog
        let buckets = (trainModel as? DistributedDataParallel)?.bucketCount ?? 0
        return "Distributed: \(group.worldSize) processes × \(Parallel.threadCount) thread\(Parallel.threadCount == 1 ? "" : "s"), "
            + (options.syncBatchNorm ? "SyncBatchNorm" : "per-process BatchNorm statistics")
            + ", gradients averaged in \(buckets) bucket\(buckets == 1 ? "" : "s") | rank 0 in communication "
            + "\(String(format: "%.1f", log.communication)) s of \(String(format: "%.1f", log.training)) s training "
            + "(\(String(format: "%.1f", 100 * log.communication / max(log.training, 1e-9)))%)"
    }
}

/// Training time and the part of it spent inside MPI calls, summed over the epochs.
struct CommunicationLog {
    private(set) var training = 0.0
    private(set) var communication = 0.0

    mutating func add(training t: Double, communication c: Double) {
        training += t
        communication += c
    }
}
