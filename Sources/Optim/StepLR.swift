import TensorCore

/// Multiplies the learning rate by `gamma` every `stepSize` epochs, like `StepLR`.
///
/// ```swift
/// let scheduler = StepLR(optimizer, stepSize: 30, gamma: 0.1)   // 0.1 → 0.01 at epoch 30 …
/// ```
public final class StepLR: LRScheduler {
    public let stepSize: Int
    public let gamma: Double

    public init(_ optimizer: Optimizer, stepSize: Int, gamma: Double = 0.1, lastEpoch: Int = -1) {
        usageCheck(stepSize > 0, "StepLR", "step_size must be positive, got \(stepSize)")
        self.stepSize = stepSize
        self.gamma = gamma
        super.init(optimizer, lastEpoch: lastEpoch)
    }

    override public func computeLR() -> [Double] {
        let lrs = currentLRs
        if lastEpoch == 0 || lastEpoch % stepSize != 0 { return lrs }
        return lrs.map { $0 * gamma }
    }

    override public var settings: [String: Double] { ["step_size": Double(stepSize), "gamma": gamma] }
}
