import TensorCore

/// Decides which dataset indices a ``DataLoader`` visits in an epoch and in what order, like
/// `torch.utils.data.Sampler`. Give one to `DataLoader(_:batchSize:sampler:)` instead of
/// `shuffle: true`; ``DistributedSampler`` is the one data-parallel training needs.
///
/// ```swift
/// final class EvenIndices: Sampler {
///     let n: Int
///     init(_ n: Int) { self.n = n }
///     var count: Int { (n + 1) / 2 }
///     func epochIndices() -> [Int] { Array(stride(from: 0, to: n, by: 2)) }
/// }
/// let loader = DataLoader(dataset, batchSize: 32, sampler: EvenIndices(dataset.count))
/// ```
public protocol Sampler: AnyObject {
    /// Number of indices one epoch yields (`len(sampler)`).
    var count: Int { get }
    /// The dataset indices of one epoch, in visiting order (`list(iter(sampler))`); `count` of them.
    func epochIndices() -> [Int]
}

/// `0..<n` in a random order drawn from one stream of `generator` (Fisher–Yates).
func randomPermutation(_ n: Int, generator: TensorCore.Generator) -> [Int] {
    var order = Array(0..<n)
    guard n > 1 else { return order }
    let stream = generator.nextStream()
    // j = floor(u · (i + 1)) with a 32-bit u has no measurable bias for these sizes.
    for i in stride(from: n - 1, to: 0, by: -1) {
        let j = Int((UInt64(stream.bits(i)) &* UInt64(i + 1)) >> 32)
        order.swapAt(i, j)
    }
    return order
}
