import Foundation
import TensorCore
import NN

/// The base of the learning-rate schedulers, like `torch.optim.lr_scheduler.LRScheduler`.
///
/// Schedulers use PyTorch's recursive ("chainable") formulas: each ``step()`` derives the new
/// learning rate of every group from its current one, so values match PyTorch step by step and
/// several schedulers can act on one optimizer. Creating a scheduler performs PyTorch's initial
/// step (epoch 0), records each group's `initial_lr` and sets the epoch-0 learning rate.
///
/// ```swift
/// let scheduler = CosineAnnealingLR(optimizer, tMax: 15)
/// for epoch in 0..<15 {
///     trainOneEpoch()                 // optimizer.step() inside
///     scheduler.step()
/// }
/// scheduler.getLastLR()               // [lr of each group]
/// ```
///
/// ``stateDict()`` has no tensors; its metadata holds `scheduler` (the type name) and `state`, a
/// JSON object with PyTorch's fields `last_epoch`, `_step_count`, `base_lrs`, `_last_lr` and the
/// scheduler's settings. ``loadStateDict(_:)`` restores the counters and learning-rate lists into a
/// scheduler built with the same arguments. Resume as in PyTorch: build the optimizer and the
/// scheduler as for a fresh run, then load the optimizer's state (which restores the groups'
/// current `lr`) and the scheduler's.
open class LRScheduler {
    /// The optimizer whose groups' `lr` this scheduler sets.
    public let optimizer: Optimizer
    /// The epoch (number of ``step()`` calls since epoch 0).
    public internal(set) var lastEpoch: Int
    /// Each group's `initial_lr`.
    public internal(set) var baseLRs: [Double]
    var stepCount = 0
    var lastLR: [Double] = []

    /// Attaches to `optimizer`. With `lastEpoch` other than −1 (resuming), every group must
    /// already hold `initial_lr`.
    public init(_ optimizer: Optimizer, lastEpoch: Int = -1) {
        self.optimizer = optimizer
        if lastEpoch == -1 {
            for i in optimizer.paramGroups.indices where optimizer.paramGroups[i]["initial_lr"] == nil {
                optimizer.paramGroups[i]["initial_lr"] = optimizer.paramGroups[i].lr
            }
        } else {
            for (i, g) in optimizer.paramGroups.enumerated() {
                usageCheck(g["initial_lr"] != nil, "LRScheduler",
                           "param 'initial_lr' is not specified in param_groups[\(i)] when resuming an optimizer")
            }
        }
        baseLRs = optimizer.paramGroups.map { $0["initial_lr"]! }
        self.lastEpoch = lastEpoch
        step()
    }

    /// The scheduler's name in state dicts.
    open var typeName: String { String(describing: type(of: self)) }

    /// The learning rates for the current ``lastEpoch``, from the groups' current ones
    /// (PyTorch's `get_lr`). Subclasses implement it.
    open func computeLR() -> [Double] {
        usageFailure(UsageError(typeName, "computeLR() is not implemented"))
    }

    /// The scheduler's settings, saved in the state dict (`T_max`, `gamma` …).
    open var settings: [String: Double] { [:] }

    /// The current learning rate of each group.
    public var currentLRs: [Double] { optimizer.paramGroups.map(\.lr) }

    /// Advances one epoch and sets every group's learning rate.
    public func step() {
        stepCount += 1
        lastEpoch += 1
        let values = computeLR()
        for i in optimizer.paramGroups.indices { optimizer.paramGroups[i].lr = values[i] }
        lastLR = optimizer.paramGroups.map(\.lr)
    }

    /// The learning rates set by the last ``step()``, like `get_last_lr()`.
    public func getLastLR() -> [Double] { lastLR }

    /// Counters and learning-rate lists as metadata (see the type's documentation).
    public func stateDict() -> StateDict {
        func list(_ xs: [Double]) -> String { "[" + xs.map(jsonNumber).joined(separator: ", ") + "]" }
        var fields = [
            "\"last_epoch\": \(lastEpoch)", "\"_step_count\": \(stepCount)",
            "\"base_lrs\": \(list(baseLRs))", "\"_last_lr\": \(list(lastLR))",
        ]
        for (k, v) in settings.sorted(by: { $0.key < $1.key }) { fields.append("\"\(k)\": \(jsonNumber(v))") }
        var sd = StateDict()
        sd.metadata["scheduler"] = typeName
        sd.metadata["state"] = "{" + fields.joined(separator: ", ") + "}"
        return sd
    }

    /// Restores counters and learning-rate lists saved by ``stateDict()``.
    public func loadStateDict(_ stateDict: StateDict) throws(OptimizerStateError) {
        if let saved = stateDict.metadata["scheduler"], saved != typeName {
            throw OptimizerStateError("loaded state dict is for a \(saved) scheduler, not \(typeName)")
        }
        guard let text = stateDict.metadata["state"],
              let json = try? JSONDecoder().decode([String: JSONField].self, from: Data(text.utf8)),
              case .number(let last)? = json["last_epoch"], case .number(let count)? = json["_step_count"],
              case .list(let base)? = json["base_lrs"], case .list(let lastLRs)? = json["_last_lr"] else {
            throw OptimizerStateError("scheduler state dict has no readable state metadata")
        }
        guard base.count == optimizer.paramGroups.count, lastLRs.count == base.count else {
            throw OptimizerStateError("scheduler state has \(base.count) base_lrs and \(lastLRs.count) _last_lr but the optimizer has \(optimizer.paramGroups.count) parameter groups")
        }
        // Counters come from a file: whole numbers in a range Int arithmetic on them cannot overflow.
        let limit = Double(Int32.max)
        guard last.isFinite, last == last.rounded(), last >= -1, last <= limit else {
            throw OptimizerStateError("scheduler last_epoch must be a whole number in -1...\(Int32.max), got \(last)")
        }
        guard count.isFinite, count == count.rounded(), count >= 0, count <= limit else {
            throw OptimizerStateError("scheduler _step_count must be a whole number in 0...\(Int32.max), got \(count)")
        }
        for (name, values) in [("base_lrs", base), ("_last_lr", lastLRs)] {
            if let bad = values.first(where: { !$0.isFinite || $0 < 0 }) {
                throw OptimizerStateError("scheduler \(name) holds \(bad); learning rates are finite and non-negative")
            }
        }
        // The settings (T_max, gamma …) are the constructor's arguments: they must be the same.
        for (k, v) in settings.sorted(by: { $0.key < $1.key }) {
            guard case .number(let saved)? = json[k] else {
                throw OptimizerStateError("scheduler state has no setting \(k)")
            }
            guard saved == v else {
                throw OptimizerStateError("scheduler setting \(k) is \(jsonNumber(saved)) in the saved state but \(jsonNumber(v)) in this \(typeName)")
            }
        }
        lastEpoch = Int(last)
        stepCount = Int(count)
        baseLRs = base
        lastLR = lastLRs
    }
}
