import Foundation
import TensorCore

/// What a loader does when an epoch's last batch would hold a single example.
///
/// BatchNorm cannot compute training statistics from one example (PyTorch raises
/// `Expected more than 1 value per channel when training`), so the default merges that example
/// into the previous batch: every example is still seen once per epoch, and one batch has
/// `batchSize + 1` examples. `.drop` skips it instead; `.keep` hands it out as PyTorch does.
public enum LastBatchOfOnePolicy: Sendable {
    case merge
    case drop
    case keep
}

/// Iterates a dataset in batches, like `torch.utils.data.DataLoader`.
///
/// Each batch is collated straight into one contiguous float32 tensor `[N] + exampleShape` with
/// int64 labels `[N]`. With `shuffle`, every epoch (every `for … in loader`) takes one stream from
/// `generator` and permutes the indices with it, so the same seed gives the same order; saving
/// `generator.state` and restoring it later continues the sequence of epochs exactly. A `sampler`
/// (such as ``DistributedSampler``) chooses the indices instead of `shuffle`.
///
/// ```swift
/// let train = try MNIST.bundled(train: true)
/// let loader = DataLoader(train, batchSize: 128, shuffle: true, generator: Generator(seed: 42),
///                         transforms: [Normalize(mean: [MNIST.mean], std: [MNIST.std])])
/// for (x, y) in loader { /* x: [128, 1, 28, 28], y: [128] */ }
/// ```
public final class DataLoader: Sequence {
    public let dataset: any Dataset
    public let batchSize: Int
    public let shuffle: Bool
    public let dropLast: Bool
    public let lastBatchOfOne: LastBatchOfOnePolicy
    /// Chooses each epoch's indices instead of `shuffle` (nil: all indices, shuffled or in order).
    public let sampler: (any Sampler)?
    /// Drives shuffling and random transforms.
    public let generator: TensorCore.Generator
    /// Applied in order to every collated batch.
    public var transforms: [any BatchTransform]
    private var warned = false

    public init(_ dataset: any Dataset, batchSize: Int = 1, shuffle: Bool = false, dropLast: Bool = false,
                generator: TensorCore.Generator? = nil, transforms: [any BatchTransform] = [],
                lastBatchOfOne: LastBatchOfOnePolicy = .merge, sampler: (any Sampler)? = nil) {
        precondition(batchSize >= 1, "DataLoader: batch_size should be a positive integer value, but got batch_size=\(batchSize)")
        usageCheck(sampler == nil || !shuffle, "DataLoader", "sampler option is mutually exclusive with shuffle")
        self.dataset = dataset
        self.batchSize = batchSize
        self.shuffle = shuffle
        self.dropLast = dropLast
        self.generator = generator ?? TensorCore.Generator(seed: 0)
        self.transforms = transforms
        self.lastBatchOfOne = lastBatchOfOne
        self.sampler = sampler
    }

    /// Examples per epoch: the sampler's count, or the dataset's.
    private var epochCount: Int { sampler?.count ?? dataset.count }

    /// Sizes of the batches of one epoch, after `dropLast` and the last-batch-of-one policy.
    public var batchSizes: [Int] {
        let n = epochCount
        var sizes = [Int](repeating: batchSize, count: n / batchSize)
        let rest = n % batchSize
        if rest > 0 && !dropLast {
            if rest == 1 && batchSize > 1 {
                switch lastBatchOfOne {
                // With no previous batch to merge into, the lone example is dropped.
                case .merge: if !sizes.isEmpty { sizes[sizes.count - 1] += 1 }
                case .drop: break
                case .keep: sizes.append(1)
                }
            } else {
                sizes.append(rest)
            }
        }
        return sizes
    }

    /// Number of batches per epoch.
    public var count: Int { batchSizes.count }

    /// Plans one epoch: the dataset indices of each batch. Takes a stream from `generator` when
    /// shuffling (each call is a new epoch).
    public func epochBatches() -> [[Int]] {
        let order: [Int]
        if let sampler {
            order = sampler.epochIndices()
            precondition(order.count == sampler.count, "DataLoader: the sampler yielded \(order.count) indices, its count is \(sampler.count)")
        } else if shuffle && dataset.count > 1 {
            order = randomPermutation(dataset.count, generator: generator)
        } else {
            order = Array(0..<dataset.count)
        }
        let n = order.count
        let sizes = batchSizes
        if !warned && !dropLast && batchSize > 1 && n % batchSize == 1 && lastBatchOfOne != .keep {
            warned = true
            let what = lastBatchOfOne == .merge && n > 1 ? "merged it into the previous batch" : "dropped it"
            FileHandle.standardError.write(Foundation.Data("note: DataLoader: \(n) examples in batches of \(batchSize) leave a last batch of one example (BatchNorm cannot train on it); \(what)\n".utf8))
        }
        var batches: [[Int]] = []
        batches.reserveCapacity(sizes.count)
        var start = 0
        for s in sizes {
            batches.append(Array(order[start..<(start + s)]))
            start += s
        }
        return batches
    }

    /// Collates one batch and applies the transforms (random ones take a stream each).
    public func collate(_ indices: [Int]) -> (inputs: Tensor, labels: Tensor) {
        var (x, y) = dataset.batch(indices)
        for t in transforms {
            let stream = t.isRandom ? generator.nextStream() : RandomStream(seed: 0, offset: 0)
            x = t.apply(x, stream: stream)
        }
        return (x, y)
    }

    public struct Iterator: IteratorProtocol {
        let loader: DataLoader
        let batches: [[Int]]
        var position = 0

        public mutating func next() -> (inputs: Tensor, labels: Tensor)? {
            guard position < batches.count else { return nil }
            defer { position += 1 }
            return loader.collate(batches[position])
        }
    }

    public func makeIterator() -> Iterator {
        Iterator(loader: self, batches: epochBatches())
    }
}
