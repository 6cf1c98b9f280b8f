import Foundation
import Testing
import SwiftNN

/// A tiny dataset whose example i is the vector [i, i + 0.5] with label i % 3.
func indexDataset(_ n: Int) -> TensorDataset {
    var xs: [Float] = []
    for i in 0..<n { xs += [Float(i), Float(i) + 0.5] }
    return TensorDataset(inputs: Tensor(xs, shape: [n, 2]), labels: Tensor((0..<n).map { Int64($0 % 3) }, shape: [n]), classCount: 3)
}

/// The example indices of each batch of one epoch, read back from the collated tensors.
func epochIndices(_ loader: DataLoader) -> [[Int]] {
    loader.map { (x, y) in
        let v = x.scalars
        let idx = (0..<x.shape[0]).map { Int(v[2 * $0]) }
        for (k, i) in idx.enumerated() {
            precondition(v[2 * k + 1] == Float(i) + 0.5 && y.toArray(of: Int64.self)[k] == Int64(i % 3))
        }
        return idx
    }
}

@Suite struct DataLoaderTests {
    @Test func everyIndexOncePerEpoch() {
        let loader = DataLoader(indexDataset(103), batchSize: 10, shuffle: true, generator: Generator(seed: 7))
        for _ in 0..<3 {
            let batches = epochIndices(loader)
            #expect(batches.count == 11 && loader.count == 11)
            #expect(batches.flatMap { $0 }.sorted() == Array(0..<103))
            #expect(batches.dropLast().allSatisfy { $0.count == 10 } && batches.last!.count == 3)
        }
    }

    @Test func sameSeedSameOrderNewEpochNewOrder() {
        let a = DataLoader(indexDataset(50), batchSize: 8, shuffle: true, generator: Generator(seed: 1))
        let b = DataLoader(indexDataset(50), batchSize: 8, shuffle: true, generator: Generator(seed: 1))
        let c = DataLoader(indexDataset(50), batchSize: 8, shuffle: true, generator: Generator(seed: 2))
        let a1 = epochIndices(a), a2 = epochIndices(a)
        #expect(a1 == epochIndices(b))
        #expect(a2 == epochIndices(b))
        #expect(a1 != a2)
        #expect(a1 != epochIndices(c))
        #expect(a1.flatMap { $0 } != Array(0..<50))
        // Restoring the generator state replays the epoch.
        let state = a.generator.state
        let a3 = epochIndices(a)
        a.generator.state = state
        #expect(epochIndices(a) == a3)
    }

    @Test func noShuffleKeepsOrder() {
        let batches = epochIndices(DataLoader(indexDataset(10), batchSize: 4))
        #expect(batches == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]])
    }

    @Test func dropLast() {
        let loader = DataLoader(indexDataset(23), batchSize: 5, shuffle: true, dropLast: true, generator: Generator(seed: 3))
        let batches = epochIndices(loader)
        #expect(batches.count == 4 && batches.allSatisfy { $0.count == 5 })
        #expect(Set(batches.flatMap { $0 }).count == 20)
    }

    @Test func neverABatchOfOne() {
        // 21 = 2·10 + 1: the lone example is merged into the previous batch by default.
        let merged = epochIndices(DataLoader(indexDataset(21), batchSize: 10, shuffle: true, generator: Generator(seed: 4)))
        #expect(merged.map(\.count) == [10, 11])
        #expect(merged.flatMap { $0 }.sorted() == Array(0..<21))
        let dropped = epochIndices(DataLoader(indexDataset(21), batchSize: 10, lastBatchOfOne: .drop))
        #expect(dropped.map(\.count) == [10, 10])
        let kept = epochIndices(DataLoader(indexDataset(21), batchSize: 10, lastBatchOfOne: .keep))
        #expect(kept.map(\.count) == [10, 10, 1])
        #expect(DataLoader(indexDataset(1), batchSize: 4).count == 0)
        #expect(DataLoader(indexDataset(22), batchSize: 10).batchSizes == [10, 10, 2])
    }

    @Test func mnistBatchesAreContiguousAndNormalized() throws {
        let train = try MNIST.bundled(train: true)
        let loader = DataLoader(train, batchSize: 128, shuffle: false,
                                transforms: [Normalize(mean: [MNIST.mean], std: [MNIST.std])])
        #expect(loader.count == 79)   // 10000 = 78·128 + 16
        var it = loader.makeIterator()
        let (x, y) = it.next()!
        #expect(x.shape == [128, 1, 28, 28] && y.shape == [128])
        #expect(Array(y.toArray(of: Int64.self).prefix(10)) == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4])
        let raw = train.example(at: 0).input.scalars
        let v = x.scalars
        for j in stride(from: 0, to: 784, by: 13) { #expect(v[j] == (raw[j] - 0.1307) / 0.3081) }
    }
}
