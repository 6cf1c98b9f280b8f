import Foundation
import SwiftNN

/// The model of the SyncBatchNorm + DistributedDataParallel scenario: BatchNorm between two
/// linear layers, trained on batches of 16 split unevenly between the ranks.
public enum SyncBatchNormModel {
    public static let batchSize = 16
    public static let steps = 3
    public static let learningRate = 0.1

    /// Seeded by rank in the workers, so that only DDP's broadcast makes the replicas equal.
    public static func make(seed: UInt64) -> Sequential {
        Generator.withDefault(Generator(seed: seed)) { Sequential(Linear(6, 8), BatchNorm1d(8), ReLU(), Linear(8, 3)) }
    }

    /// Batch `step`: inputs far from zero (where sum / sum-of-squares statistics lose digits) and labels.
    public static func batch(step: Int) -> (x: Tensor, y: Tensor) {
        let x = Tensor.randn([batchSize, 6], generator: Generator(seed: 2000 + UInt64(step))) * 3 + 20
        let y = Tensor((0..<batchSize).map { Int64(($0 * 7 + step) % 3) }, shape: [batchSize])
        return (x, y)
    }
}
