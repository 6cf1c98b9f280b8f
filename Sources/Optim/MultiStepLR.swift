import Foundation
import TensorCore

/// Multiplies the learning rate by `gamma` at each milestone epoch (a milestone listed twice
/// multiplies by `gamma²`), like `MultiStepLR`.
///
/// ```swift
/// let scheduler = MultiStepLR(optimizer, milestones: [30, 80], gamma: 0.1)
/// ```
public final class MultiStepLR: LRScheduler {
    /// Milestone epoch → how often it was listed.
    public let milestones: [Int: Int]
    public let gamma: Double

    public init(_ optimizer: Optimizer, milestones: [Int], gamma: Double = 0.1, lastEpoch: Int = -1) {
        var counts: [Int: Int] = [:]
        for m in milestones { counts[m, default: 0] += 1 }
        self.milestones = counts
        self.gamma = gamma
        super.init(optimizer, lastEpoch: lastEpoch)
    }

    override public func computeLR() -> [Double] {
        let lrs = currentLRs
        guard let n = milestones[lastEpoch] else { return lrs }
        let factor = Foundation.pow(gamma, Double(n))
        return lrs.map { $0 * factor }
    }

    override public var settings: [String: Double] { ["gamma": gamma] }
}
