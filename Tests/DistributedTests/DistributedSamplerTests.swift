import Foundation
import SwiftNN
import Testing
import TestSupport

/// DistributedSampler against PyTorch's own (fixtures/distributed/sampler.json, made by
/// scripts/reference/make_sampler_fixtures.py).
@Suite struct DistributedSamplerTests {
    struct Case: Decodable {
        struct Rank: Decodable { var len: Int; var indices: [Int] }
        var n: Int
        var num_replicas: Int
        var drop_last: Bool
        var shuffle: Bool
        var seed: UInt64
        var epoch: Int
        var ranks: [Rank]
        var permutation: [Int]?
    }
    struct File: Decodable { var cases: [Case] }

    static let cases: [Case] = {
        let url = Fixtures.url("distributed/sampler.json")
        return (try? JSONDecoder().decode(File.self, from: Data(contentsOf: url)).cases) ?? []
    }()

    @Test func fixturesPresent() { #expect(Self.cases.count == 168) }

    @Test("PyTorch's index sets, lengths, padding and dropLast")
    func matchesPyTorch() {
        for c in Self.cases {
            for (rank, want) in c.ranks.enumerated() {
                let s = DistributedSampler(count: c.n, numReplicas: c.num_replicas, rank: rank, shuffle: c.shuffle,
                                           seed: c.seed, dropLast: c.drop_last)
                s.setEpoch(c.epoch)
                let label = "n \(c.n) replicas \(c.num_replicas) rank \(rank) dropLast \(c.drop_last) shuffle \(c.shuffle)"
                #expect(s.count == want.len, "\(label): count")
                if let perm = c.permutation {
                    // PyTorch's permutation through our partitioning gives PyTorch's indices.
                    #expect(s.share(of: perm) == want.indices, "\(label)")
                    // Ours is another permutation split by the same rules.
                    let ours = s.epochIndices()
                    #expect(ours.count == want.len)
                } else {
                    #expect(s.epochIndices() == want.indices, "\(label)")
                }
            }
        }
    }

    @Test("shuffled: the ranks' shares cover every index, seeded by seed + epoch")
    func shuffledPartition() {
        let n = 103, r = 4
        func shares(seed: UInt64, epoch: Int, dropLast: Bool = false) -> [[Int]] {
            (0..<r).map { rank in
                let s = DistributedSampler(count: n, numReplicas: r, rank: rank, seed: seed, dropLast: dropLast)
                s.setEpoch(epoch)
                return s.epochIndices()
            }
        }
        let a = shares(seed: 5, epoch: 0)
        #expect(a.allSatisfy { $0.count == 26 })
        // 104 slots for 103 examples: every index once, and the first of the order once more.
        let all = a.flatMap { $0 }
        #expect(Set(all) == Set(0..<n) && all.count == 104)
        #expect(a[0] != Array(Swift.stride(from: 0, to: n, by: r)), "shuffled")
        // The same on every call (until setEpoch), a new order for a new epoch, seed + epoch.
        #expect(shares(seed: 5, epoch: 0) == a)
        #expect(shares(seed: 5, epoch: 1) != a)
        #expect(shares(seed: 6, epoch: 0) == shares(seed: 5, epoch: 1))
        // dropLast: 25 each, 3 examples left out, none repeated.
        let d = shares(seed: 5, epoch: 0, dropLast: true).flatMap { $0 }
        #expect(d.count == 100 && Set(d).count == 100)
    }

    @Test func dataLoaderTakesTheSampler() {
        let ds = TensorDataset(inputs: Tensor((0..<20).map { Float($0) }, shape: [10, 2]),
                               labels: Tensor((0..<10).map { Int64($0 % 2) }, shape: [10]), classCount: 2)
        let sampler = DistributedSampler(ds, numReplicas: 3, rank: 1, shuffle: false)
        let loader = DataLoader(ds, batchSize: 2, sampler: sampler)
        // Rank 1 of 3 over 10 (padded to 12): positions 1, 4, 7, 10 → indices 1, 4, 7, 0.
        #expect(loader.count == 2 && loader.batchSizes == [2, 2])
        let firsts = loader.map { x, _ in x.scalars.enumerated().filter { $0.offset % 2 == 0 }.map { Int($0.element) / 2 } }
        #expect(firsts == [[1, 4], [7, 0]])
    }
}
