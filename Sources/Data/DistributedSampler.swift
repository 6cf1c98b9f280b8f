import TensorCore

/// Gives each of `numReplicas` processes its own share of a dataset, like
/// `torch.utils.data.distributed.DistributedSampler`, with PyTorch's partitioning rules:
///
/// - every replica gets `count` = ⌈n / numReplicas⌉ indices; the epoch's index list is padded by
///   repeating its beginning until it divides evenly (so every replica runs the same number of
///   steps, which collective communication needs);
/// - with `dropLast`, the list is instead cut to ⌊n / numReplicas⌋ · numReplicas indices;
/// - replica `rank` takes positions `rank, rank + numReplicas, rank + 2·numReplicas, …`;
/// - with `shuffle` (the default) the list is a random permutation drawn from a generator seeded
///   with `seed + epoch`, so all replicas agree on it without communicating, and ``setEpoch(_:)``
///   must be called at the start of every epoch to get a new order (as in PyTorch).
///
/// The permutation itself comes from SwiftNN's counter-based generator, not from `torch.randperm`:
/// the same seed gives the same order in every SwiftNN process, but not PyTorch's order. Without
/// shuffling the index sets equal PyTorch's exactly.
///
/// ```swift
/// let sampler = DistributedSampler(train, numReplicas: group.worldSize, rank: group.rank, seed: 42)
/// let loader = DataLoader(train, batchSize: 64, sampler: sampler)
/// for epoch in 0..<epochs {
///     sampler.setEpoch(epoch)
///     for (x, y) in loader { … }
/// }
/// ```
public final class DistributedSampler: Sampler {
    /// Number of dataset examples.
    public let datasetCount: Int
    /// Number of processes sharing the data (the world size).
    public let numReplicas: Int
    /// This process's share, `0..<numReplicas`.
    public let rank: Int
    public let shuffle: Bool
    public let seed: UInt64
    public let dropLast: Bool
    /// The epoch the next ``epochIndices()`` is for; mixed into the shuffling seed.
    public private(set) var epoch: Int = 0

    /// Indices per replica per epoch (`num_samples`).
    public let count: Int
    /// Indices over all replicas per epoch (`total_size` = `count · numReplicas`).
    public let totalSize: Int

    public convenience init(_ dataset: any Dataset, numReplicas: Int, rank: Int, shuffle: Bool = true,
                            seed: UInt64 = 0, dropLast: Bool = false) {
        self.init(count: dataset.count, numReplicas: numReplicas, rank: rank, shuffle: shuffle, seed: seed, dropLast: dropLast)
    }

    /// A sampler for a dataset of `count` examples.
    public init(count n: Int, numReplicas: Int, rank: Int, shuffle: Bool = true, seed: UInt64 = 0, dropLast: Bool = false) {
        usageCheck(numReplicas >= 1, "DistributedSampler", "num_replicas should be a positive integer, got \(numReplicas)")
        usageCheck(rank >= 0 && rank < numReplicas, "DistributedSampler",
                   "Invalid rank \(rank), rank should be in the interval [0, \(numReplicas - 1)]")
        usageCheck(n >= 0, "DistributedSampler", "dataset size must not be negative, got \(n)")
        datasetCount = n
        self.numReplicas = numReplicas
        self.rank = rank
        self.shuffle = shuffle
        self.seed = seed
        self.dropLast = dropLast
        // PyTorch: with drop_last and an uneven split, ceil((n − R) / R) == floor(n / R).
        if dropLast && n % numReplicas != 0 {
            count = n / numReplicas
        } else {
            count = (n + numReplicas - 1) / numReplicas
        }
        totalSize = count * numReplicas
    }

    /// Sets the epoch used to seed the next shuffle, like `sampler.set_epoch(epoch)`. Call it
    /// before each epoch; without it every epoch repeats the same order.
    public func setEpoch(_ epoch: Int) { self.epoch = epoch }

    /// This replica's indices for the current epoch.
    public func epochIndices() -> [Int] {
        if shuffle {
            return share(of: randomPermutation(datasetCount, generator: Generator(seed: seed &+ UInt64(bitPattern: Int64(epoch)))))
        }
        return share(of: Array(0..<datasetCount))
    }

    /// This replica's share of a whole-dataset order, padded or cut by PyTorch's rules. Given the
    /// permutation `torch.randperm` drew, it returns exactly PyTorch's indices.
    ///
    /// ```swift
    /// DistributedSampler(count: 5, numReplicas: 2, rank: 1).share(of: [4, 0, 3, 1, 2])   // [0, 1, 4]
    /// ```
    public func share(of order: [Int]) -> [Int] {
        usageCheck(order.count == datasetCount, "DistributedSampler", "expected an order of \(datasetCount) indices, got \(order.count)")
        var indices = order
        if !dropLast {
            // Pad with the list's own beginning, repeated as often as needed (n may be < replicas).
            let padding = totalSize - indices.count
            if padding > 0 && !indices.isEmpty {
                for k in 0..<padding { indices.append(order[k % order.count]) }
            }
        } else {
            indices.removeLast(indices.count - totalSize)
        }
        return Swift.stride(from: rank, to: totalSize, by: numReplicas).map { indices[$0] }
    }
}
