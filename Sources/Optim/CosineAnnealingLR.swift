import Foundation
import TensorCore

/// Anneals the learning rate along a cosine from its initial value to `etaMin` over `tMax`
/// epochs, like `CosineAnnealingLR` — PyTorch's recursive form, so a learning rate changed by hand
/// or by another scheduler is followed from where it is:
///
///     lr_e = (1 + cos(π·e/T)) / (1 + cos(π·(e−1)/T)) · (lr_{e−1} − ηmin) + ηmin
///
/// ```swift
/// let scheduler = CosineAnnealingLR(optimizer, tMax: 50)
/// ```
public final class CosineAnnealingLR: LRScheduler {
    public let tMax: Int
    public let etaMin: Double

    public init(_ optimizer: Optimizer, tMax: Int, etaMin: Double = 0, lastEpoch: Int = -1) {
        usageCheck(tMax > 0, "CosineAnnealingLR", "T_max must be positive, got \(tMax)")
        self.tMax = tMax
        self.etaMin = etaMin
        super.init(optimizer, lastEpoch: lastEpoch)
    }

    override public func computeLR() -> [Double] {
        let lrs = currentLRs
        let t = Double(tMax), e = Double(lastEpoch)
        if lastEpoch == 0 { return lrs }
        if stepCount == 1 && lastEpoch > 0 {
            return baseLRs.map { etaMin + ($0 - etaMin) * (1 + Foundation.cos(e * Double.pi / t)) / 2 }
        }
        if Self.atRestartPeak(lastEpoch: lastEpoch, tMax: tMax) {
            return zip(lrs, baseLRs).map { lr, base in
                lr + (base - etaMin) * (1 - Foundation.cos(Double.pi / t)) / 2
            }
        }
        return lrs.map { lr in
            (1 + Foundation.cos(Double.pi * e / t)) / (1 + Foundation.cos(Double.pi * (e - 1) / t))
                * (lr - etaMin) + etaMin
        }
    }

    /// PyTorch's `(last_epoch - 1 - T_max) % (2 * T_max) == 0`, without overflowing for huge `T_max`
    /// (when `2·T_max` does not fit, the remainder is zero only at `last_epoch - 1 == T_max`).
    static func atRestartPeak(lastEpoch: Int, tMax: Int) -> Bool {
        let (d, o1) = (lastEpoch - 1).subtractingReportingOverflow(tMax)
        let (period, o2) = tMax.multipliedReportingOverflow(by: 2)
        if o1 { return false }
        if o2 { return d == 0 }
        return d % period == 0
    }

    override public var settings: [String: Double] { ["T_max": Double(tMax), "eta_min": etaMin] }
}
