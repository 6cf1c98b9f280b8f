import TensorCore

/// Multiplies the learning rate by `gamma` every epoch, like `ExponentialLR`.
///
/// ```swift
/// let scheduler = ExponentialLR(optimizer, gamma: 0.95)
/// ```
public final class ExponentialLR: LRScheduler {
    public let gamma: Double

    public init(_ optimizer: Optimizer, gamma: Double, lastEpoch: Int = -1) {
        self.gamma = gamma
        super.init(optimizer, lastEpoch: lastEpoch)
    }

    override public func computeLR() -> [Double] {
        let lrs = currentLRs
        if lastEpoch == 0 { return lrs }
        return lrs.map { $0 * gamma }
    }

    override public var settings: [String: Double] { ["gamma": gamma] }
}
