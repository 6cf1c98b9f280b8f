import Foundation
import Testing
import SwiftNN
import TestSupport

/// Helpers shared by the normalization tests.
enum NormTest {
    /// The layer a fixture or error row describes, built from PyTorch's constructor arguments.
    static func makeModule(_ name: String, _ kw: [String: Any]) -> Module {
        func int(_ k: String) -> Int { (kw[k] as! NSNumber).intValue }
        func double(_ k: String, _ d: Double) -> Double { (kw[k] as? NSNumber)?.doubleValue ?? d }
        func bool(_ k: String, _ d: Bool) -> Bool { (kw[k] as? NSNumber)?.boolValue ?? d }
        // A JSON null momentum is PyTorch's None; an absent key is the default 0.1.
        let momentum: Double? = kw.keys.contains("momentum") ? (kw["momentum"] as? NSNumber)?.doubleValue : 0.1
        func shape(_ k: String) -> [Int] {
            if let a = kw[k] as? [NSNumber] { return a.map(\.intValue) }
            return [int(k)]
        }
        switch name {
        case "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d":
            let n = int("num_features"), eps = double("eps", 1e-5)
            let isBN = name.hasPrefix("Batch")
            let affine = bool("affine", isBN), track = bool("track_running_stats", isBN), bias = bool("bias", true)
            switch name {
            case "BatchNorm1d": return BatchNorm1d(n, eps: eps, momentum: momentum, affine: affine, trackRunningStats: track, bias: bias)
            case "BatchNorm2d": return BatchNorm2d(n, eps: eps, momentum: momentum, affine: affine, trackRunningStats: track, bias: bias)
            case "BatchNorm3d": return BatchNorm3d(n, eps: eps, momentum: momentum, affine: affine, trackRunningStats: track, bias: bias)
            case "InstanceNorm1d":
                return InstanceNorm1d(n, eps: eps, momentum: momentum, affine: affine, trackRunningStats: track, bias: bias)
            case "InstanceNorm2d":
                return InstanceNorm2d(n, eps: eps, momentum: momentum, affine: affine, trackRunningStats: track, bias: bias)
            default: return InstanceNorm3d(n, eps: eps, momentum: momentum, affine: affine, trackRunningStats: track, bias: bias)
            }
        case "LayerNorm":
            return LayerNorm(shape("normalized_shape"), eps: double("eps", 1e-5),
                             elementwiseAffine: bool("elementwise_affine", true), bias: bool("bias", true))
        case "GroupNorm":
            return GroupNorm(numGroups: int("num_groups"), numChannels: int("num_channels"),
                             eps: double("eps", 1e-5), affine: bool("affine", true), bias: bool("bias", true))
        case "RMSNorm":
            return RMSNorm(shape("normalized_shape"), eps: (kw["eps"] as? NSNumber)?.doubleValue,
                           elementwiseAffine: bool("elementwise_affine", true))
        default:
            fatalError("unknown module \(name)")
        }
    }

    /// The layer's throwing input check.
    static func validate(_ m: Module, _ x: Tensor) throws(UsageError) {
        switch m {
        case let b as BatchNormBase: try b.validate(x)
        case let i as InstanceNormBase: try i.validate(x)
        case let g as GroupNorm: try g.validate(x)
        case let l as LayerNorm: try l.validate(x)
        case let r as RMSNorm: try r.validate(x)
        default: fatalError("not a normalization layer")
        }
    }

    /// Elementwise |got − want| ≤ atol + rtol·|want|; returns the first few failures.
    static func mismatches(_ got: Tensor?, _ want: Tensor, atol: Double = 1e-5, rtol: Double = 1e-4) -> [String] {
        guard let got else { return ["missing tensor"] }
        guard got.shape == want.shape else { return ["shape \(got.shape) != \(want.shape)"] }
        var out: [String] = []
        for i in 0..<want.count {
            let g = got.doubleValue(at: i), w = want.doubleValue(at: i)
            if !(abs(g - w) <= atol + rtol * abs(w)) {
                out.append("[\(i)] got \(g) want \(w)")
                if out.count >= 4 { break }
            }
        }
        return out
    }

    /// float32 → float64 copy (no autograd).
    static func double(_ t: Tensor) -> Tensor {
        Tensor(t.scalars.map { Double($0) }, shape: t.shape)
    }

    /// A deterministic float array in [-1, 1) from a simple LCG (tests must not depend on the
    /// generator's exact stream).
    static func values(_ n: Int, seed: UInt64) -> [Double] {
        var s = seed &* 6364136223846793005 &+ 1442695040888963407
        return (0..<n).map { _ in
            s = s &* 6364136223846793005 &+ 1442695040888963407
            return Double(s >> 11) / Double(1 << 53) * 2 - 1
        }
    }
}
