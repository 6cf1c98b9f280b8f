import TensorCore

/// Scales the learning rate linearly from `startFactor`·lr to `endFactor`·lr over `totalIters`
/// epochs (a warm-up), then keeps it, like `LinearLR`.
///
/// ```swift
/// let warmup = LinearLR(optimizer, startFactor: 0.1, totalIters: 5)
/// ```
public final class LinearLR: LRScheduler {
    public let startFactor: Double
    public let endFactor: Double
    public let totalIters: Int

    public init(_ optimizer: Optimizer, startFactor: Double = 1.0 / 3, endFactor: Double = 1.0,
                totalIters: Int = 5, lastEpoch: Int = -1) {
        do { try LinearLR.validate(startFactor: startFactor, endFactor: endFactor) } catch { usageFailure(error) }
        self.startFactor = startFactor
        self.endFactor = endFactor
        self.totalIters = totalIters
        super.init(optimizer, lastEpoch: lastEpoch)
    }

    /// The constructor's checks, with PyTorch's messages.
    public static func validate(startFactor: Double, endFactor: Double) throws(UsageError) {
        guard startFactor > 0 && startFactor <= 1 else {
            throw UsageError("LinearLR", "Starting multiplicative factor expected to be greater than 0 and less or equal to 1.")
        }
        guard endFactor >= 0 && endFactor <= 1 else {
            throw UsageError("LinearLR", "Ending multiplicative factor expected to be between 0 and 1.")
        }
    }

    override public func computeLR() -> [Double] {
        let lrs = currentLRs
        if lastEpoch == 0 { return lrs.map { $0 * startFactor } }
        if lastEpoch > totalIters { return lrs }
        let factor = 1.0 + (endFactor - startFactor)
            / (Double(totalIters) * startFactor + Double(lastEpoch - 1) * (endFactor - startFactor))
        return lrs.map { $0 * factor }
    }

    override public var settings: [String: Double] {
        ["start_factor": startFactor, "end_factor": endFactor, "total_iters": Double(totalIters)]
    }
}
