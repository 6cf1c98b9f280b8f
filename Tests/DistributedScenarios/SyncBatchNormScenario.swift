import Foundation
import SwiftNN
import TestSupport

/// The SyncBatchNorm exactness cases: every `fixtures/syncbn/*.safetensors` case (PyTorch's
/// BatchNorm on a batch of 16) run with the batch split between ranks, e.g. 5 + 11 or 1 + 4 + 11.
public enum SyncBatchNormCases {
    /// The fixture names (`syncbn/<name>.safetensors`).
    public static let names = ["bn1d_2d", "bn1d_3d", "bn2d", "bn3d", "bn2d_momentum_none", "bn2d_no_affine_eps", "bn1d_no_tracking"]

    /// One case read from its fixture.
    public struct Case {
        public let state: StateDict
        public let module: String
        public let kwargs: [String: Any]
        public let modes: [String]

        public init(_ name: String) throws {
            state = try StateDict(contentsOf: Fixtures.url("syncbn/\(name).safetensors"))
            let json = try JSONSerialization.jsonObject(with: Data((state.metadata["case"] ?? "{}").utf8)) as? [String: Any] ?? [:]
            module = json["module"] as? String ?? ""
            kwargs = json["kwargs"] as? [String: Any] ?? [:]
            modes = (json["steps"] as? [[String: Any]] ?? []).map { $0["mode"] as? String ?? "" }
        }

        /// The case's BatchNorm layer, loaded with its initial state: a plain BatchNorm (`sync`
        /// false), a BatchNorm converted by `SyncBatchNorm.convert`, or a SyncBatchNorm built directly.
        public func layer(_ kind: LayerKind, group: (any ProcessGroup)?) throws -> BatchNormBase {
            let n = (kwargs["num_features"] as! NSNumber).intValue
            let eps = (kwargs["eps"] as? NSNumber)?.doubleValue ?? 1e-5
            let momentum: Double? = kwargs.keys.contains("momentum") ? (kwargs["momentum"] as? NSNumber)?.doubleValue : 0.1
            let affine = (kwargs["affine"] as? NSNumber)?.boolValue ?? true
            let track = (kwargs["track_running_stats"] as? NSNumber)?.boolValue ?? true
            let bn: BatchNormBase
            if kind == .direct {
                bn = SyncBatchNorm(n, eps: eps, momentum: momentum, affine: affine, trackRunningStats: track, processGroup: group)
            } else {
                switch module {
                case "BatchNorm1d": bn = BatchNorm1d(n, eps: eps, momentum: momentum, affine: affine, trackRunningStats: track)
                case "BatchNorm2d": bn = BatchNorm2d(n, eps: eps, momentum: momentum, affine: affine, trackRunningStats: track)
                default: bn = BatchNorm3d(n, eps: eps, momentum: momentum, affine: affine, trackRunningStats: track)
                }
                if kind == .converted { SyncBatchNorm.convert(bn, processGroup: group) }
            }
            try bn.loadStateDict(state.scoped("init"), strict: true)
            return bn
        }
    }

    public enum LayerKind: String, CaseIterable, Sendable {
        case plain, converted, direct
    }

    /// Runs `case` on rows `range` of every step's batch and records, per step, the output and
    /// input gradient (this rank's rows), the weight and bias gradients (this rank's own) and the
    /// buffers: `<name>.<kind>.step<i>.<what>`.
    public static func run(_ name: String, kind: LayerKind, rows: Range<Int>, group: (any ProcessGroup)?,
                           into report: inout WorkerReport) throws {
        let c = try Case(name)
        let bn = try c.layer(kind, group: group)
        let prefix = "\(name).\(kind.rawValue)"
        report.texts["\(prefix).type"] = bn.typeName
        for (i, mode) in c.modes.enumerated() {
            let s = c.state.scoped("step\(i)")
            bn.train(mode == "train")
            let x = s["input"]!.sliced(dim: 0, start: rows.lowerBound, end: rows.upperBound).clonedData()
            let gy = s["grad_output"]!.sliced(dim: 0, start: rows.lowerBound, end: rows.upperBound).clonedData()
            x.requiresGrad = true
            bn.zeroGrad()
            let y = bn(x)
            y.backward(gy)
            report.record("\(prefix).step\(i).output", y)
            report.record("\(prefix).step\(i).grad_input", x.grad)
            if let w = bn.weight { report.record("\(prefix).step\(i).grad_weight", w.grad) }
            if let b = bn.bias { report.record("\(prefix).step\(i).grad_bias", b.grad) }
            for (key, buffer) in bn.namedBuffers() { report.record("\(prefix).step\(i).\(key)", buffer) }
        }
    }

    /// The rows of a batch of 16 rank `rank` holds for per-rank sizes `sizes`.
    public static func rows(sizes: [Int], rank: Int) -> Range<Int> {
        let start = sizes.prefix(rank).reduce(0, +)
        return start..<(start + sizes[rank])
    }
}
