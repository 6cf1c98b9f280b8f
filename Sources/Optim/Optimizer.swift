import Foundation
import TensorCore
import Autograd
import NN

/// A saved optimizer state that does not fit the optimizer it is loaded into.
public struct OptimizerStateError: Error, CustomStringConvertible, Equatable, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The base of every optimizer, like `torch.optim.Optimizer`: parameter groups, per-parameter
/// state, `zeroGrad`, `step` and a resumable state dict.
///
/// Updates run on raw pointers in place, outside the autograd graph (as under `torch.no_grad()`),
/// with PyTorch's single-tensor (CPU for-loop) formulas and float32 arithmetic, so a training run
/// follows PyTorch's step by step.
///
/// ## State dict layout
/// ``stateDict()`` returns a ``StateDict`` a checkpoint can store as tensors plus string metadata,
/// mirroring PyTorch's `optimizer.state_dict()`:
/// - tensors `state.<i>.<name>`, where `<i>` numbers the parameters across all groups in order
///   (PyTorch's packed indices) and `<name>` is the per-parameter state: `momentum_buffer` (SGD),
///   `step` (a 0-d float32 tensor, as in PyTorch), `exp_avg`, `exp_avg_sq`, `max_exp_avg_sq` (Adam,
///   AdamW). Parameters that have not been stepped have no entries.
/// - metadata `optimizer`: the type name (`"AdamW"`), and `param_groups`: a JSON array with one
///   object per group, `{"params": [0, 1, …], "lr": 0.001, "weight_decay": 0.0001, …}` (every
///   hyperparameter is a number; flags are 0/1; `betas` is stored as `beta1`/`beta2`).
///
/// ```swift
/// let saved = optimizer.stateDict()                 // tensors + metadata
/// // … write and read back through a checkpoint …
/// try optimizer.loadStateDict(saved)               // same model, same groups: resumes exactly
/// ```
open class Optimizer {
    /// The parameter groups; ``ParamGroup/lr`` and other options can be changed between steps.
    public var paramGroups: [ParamGroup]
    /// The hyperparameters given to the constructor; groups that leave an option out use these.
    public let defaults: [String: Double]
    /// Per-parameter state (`exp_avg`, `momentum_buffer`, `step` …), keyed by the parameter.
    var perParameterState: [ObjectIdentifier: [String: Tensor]] = [:]

    /// Creates an optimizer over `groups`, filling each group's missing options from `defaults`.
    public init(_ groups: [ParamGroup], defaults: [String: Double]) {
        self.defaults = defaults
        self.paramGroups = []
        usageCheck(!groups.isEmpty && !groups.allSatisfy({ $0.params.isEmpty }), typeName,
                   "optimizer got an empty parameter list")
        for g in groups { addParamGroup(g) }
    }

    /// The optimizer's name in state dicts and messages.
    open var typeName: String { String(describing: type(of: self)) }

    /// Adds a group (e.g. layers unfrozen for fine-tuning), filling its missing options from the
    /// defaults, like `add_param_group`.
    public func addParamGroup(_ group: ParamGroup) {
        var g = group
        for (k, v) in defaults where g.options[k] == nil { g.options[k] = v }
        let seen = Set(paramGroups.flatMap { $0.params.map(ObjectIdentifier.init) })
        var mine = Set<ObjectIdentifier>()
        for p in g.params {
            let id = ObjectIdentifier(p)
            usageCheck(!seen.contains(id) && mine.insert(id).inserted, typeName,
                       "some parameters appear in more than one parameter group")
            usageCheck(p.dtype.isFloatingPoint, typeName, "optimizer can only optimize floating point Tensors, but one of the params is \(p.dtype)")
        }
        paramGroups.append(g)
    }

    /// Every parameter of every group, in order.
    public var parameters: [Tensor] { paramGroups.flatMap(\.params) }

    /// Clears the gradients of every parameter: `setToNone` (PyTorch's default) drops them,
    /// otherwise they are filled with zeros.
    ///
    /// ```swift
    /// optimizer.zeroGrad()
    /// let loss = criterion(model(x), targets: y)
    /// loss.backward()
    /// optimizer.step()
    /// ```
    public func zeroGrad(setToNone: Bool = true) {
        for g in paramGroups {
            for p in g.params {
                if setToNone { p.grad = nil } else { p.grad?.fill(0) }
            }
        }
    }

    /// Performs one update of every parameter that has a gradient. Subclasses implement it.
    open func step() {
        usageFailure(UsageError(typeName, "step() is not implemented"))
    }

    /// Evaluates `closure` (which computes the loss and calls `backward`), then steps; returns the loss.
    @discardableResult
    public func step(_ closure: () -> Tensor) -> Tensor {
        let loss = closure()
        step()
        return loss
    }

    /// The state kept for `parameter` (empty before its first step).
    public func state(for parameter: Tensor) -> [String: Tensor] {
        perParameterState[ObjectIdentifier(parameter)] ?? [:]
    }

    /// Replaces the state kept for `parameter` (for optimizers written outside the library).
    public func setState(_ s: [String: Tensor], for parameter: Tensor) {
        perParameterState[ObjectIdentifier(parameter)] = s
    }

    // MARK: - Saving and resuming

    /// The optimizer's state as tensors plus metadata (layout in the type's documentation).
    public func stateDict() -> StateDict {
        var sd = StateDict()
        var index = 0
        var groupsJSON: [String] = []
        for g in paramGroups {
            var indices: [Int] = []
            for p in g.params {
                indices.append(index)
                for (name, t) in state(for: p).sorted(by: { $0.key < $1.key }) {
                    sd["state.\(index).\(name)"] = t.clonedData()
                }
                index += 1
            }
            var fields = ["\"params\": [" + indices.map(String.init).joined(separator: ", ") + "]"]
            for (k, v) in g.options.sorted(by: { $0.key < $1.key }) {
                fields.append("\"\(k)\": \(jsonNumber(v))")
            }
            groupsJSON.append("{" + fields.joined(separator: ", ") + "}")
        }
        sd.metadata["optimizer"] = typeName
        sd.metadata["param_groups"] = "[" + groupsJSON.joined(separator: ", ") + "]"
        return sd
    }

    /// Restores a state saved by ``stateDict()`` from an optimizer of the same type over the same
    /// parameter groups: hyperparameters (including a scheduled `lr`) and per-parameter state are
    /// replaced, the parameters themselves are kept. Throws when the saved state does not fit.
    ///
    /// The saved state comes from a file, so all of it is checked before anything changes: the
    /// groups' parameter indices and option names, every hyperparameter against the ranges the
    /// optimizer's constructor enforces (and finite), and every state tensor's name, dtype, shape
    /// and values (finite moments, a whole non-negative `step`). The error names the entry.
    public func loadStateDict(_ stateDict: StateDict) throws(OptimizerStateError) {
        if let saved = stateDict.metadata["optimizer"], saved != typeName {
            throw OptimizerStateError("loaded state dict is for a \(saved) optimizer, not \(typeName)")
        }
        guard let text = stateDict.metadata["param_groups"],
              let groups = try? JSONDecoder().decode([[String: JSONField]].self, from: Data(text.utf8)) else {
            throw OptimizerStateError("loaded state dict has no readable param_groups metadata")
        }
        guard groups.count == paramGroups.count else {
            throw OptimizerStateError("loaded state dict has a different number of parameter groups")
        }
        var newOptions: [[String: Double]] = []
        var newState: [ObjectIdentifier: [String: Tensor]] = [:]
        var index = 0
        for (gi, (g, saved)) in zip(paramGroups, groups).enumerated() {
            guard case .list(let indices)? = saved["params"], indices.count == g.params.count else {
                throw OptimizerStateError("loaded state dict contains a parameter group that doesn't match the size of optimizer's group")
            }
            // PyTorch packs the indices in order across the groups.
            guard indices == (index..<(index + g.params.count)).map(Double.init) else {
                throw OptimizerStateError("param_groups[\(gi)] params [\(indices.map(jsonNumber).joined(separator: ", "))] are not the indices \(index)..<\(index + g.params.count) of its parameters")
            }
            var options: [String: Double] = [:]
            for (k, v) in saved where k != "params" {
                guard case .number(let n) = v else { throw OptimizerStateError("param_groups option \(k) is not a number") }
                guard n.isFinite else { throw OptimizerStateError("param_groups[\(gi)] option '\(k)' is not finite (\(n))") }
                options[k] = n
            }
            // Same options as the group being restored (a scheduler may add initial_lr on either side).
            let want = Set(g.options.keys).subtracting(["initial_lr"]), have = Set(options.keys).subtracting(["initial_lr"])
            if let missing = want.subtracting(have).sorted().first {
                throw OptimizerStateError("param_groups[\(gi)] has no option '\(missing)'")
            }
            if let unknown = have.subtracting(want).sorted().first {
                throw OptimizerStateError("param_groups[\(gi)] has an unknown option '\(unknown)'")
            }
            if let initial = options["initial_lr"], initial < 0 {
                throw OptimizerStateError("param_groups[\(gi)] option 'initial_lr' must not be negative, got \(initial)")
            }
            do throws(UsageError) { try validateRestoredOptions(options) } catch {
                throw OptimizerStateError("param_groups[\(gi)]: \(error.message)")
            }
            newOptions.append(options)
            for p in g.params {
                let prefix = "state.\(index)."
                var s: [String: Tensor] = [:]
                for (key, t) in stateDict.entries where key.hasPrefix(prefix) {
                    let name = String(key.dropFirst(prefix.count))
                    s[name] = try restoredStateEntry(name, t, key: key, parameter: p, index: index, options: options)
                }
                try checkRestoredState(s, prefix: prefix, options: options)
                if !s.isEmpty { newState[ObjectIdentifier(p)] = s }
                index += 1
            }
        }
        let known = Set((0..<index).map { "state.\($0)." })
        for key in stateDict.keys {
            let parts = key.split(separator: ".")
            guard parts.count >= 3, parts[0] == "state", known.contains("state.\(parts[1]).") else {
                throw OptimizerStateError("unexpected key \(key) in optimizer state dict")
            }
        }
        for i in paramGroups.indices { paramGroups[i].options = newOptions[i] }
        perParameterState = newState
    }

    /// The per-parameter state names this optimizer keeps (nil: any name, shaped like the parameter).
    open var stateNames: Set<String>? { nil }

    /// Checks one group's restored hyperparameters against the constructor's ranges (PyTorch's
    /// messages). Subclasses override it; the base class checks `lr` and `weight_decay`.
    open func validateRestoredOptions(_ options: [String: Double]) throws(UsageError) {
        if let lr = options["lr"] { try OptimizerChecks.learningRate(lr) }
        if let wd = options["weight_decay"] { try OptimizerChecks.weightDecay(wd) }
    }

    /// Checks that a parameter's restored state is complete (e.g. Adam's moments come together).
    open func checkRestoredState(_ state: [String: Tensor], prefix: String, options: [String: Double]) throws(OptimizerStateError) {}

    /// One restored state tensor, checked and copied: `step` is one whole non-negative number
    /// (stored as PyTorch's 0-d float32 whatever numeric type the file used); every other entry has
    /// the parameter's shape and dtype and finite values.
    private func restoredStateEntry(_ name: String, _ t: Tensor, key: String, parameter p: Tensor, index: Int,
                                    options: [String: Double]) throws(OptimizerStateError) -> Tensor {
        if let names = stateNames, !names.contains(name) {
            throw OptimizerStateError("state \(key) is not a state of \(typeName) (expected \(names.sorted().joined(separator: ", ")))")
        }
        if name == "step" {
            guard t.count == 1 else {
                throw OptimizerStateError("state \(key) must hold one value, got shape \(shapeString(t.shape))")
            }
            guard t.dtype != .bool else { throw OptimizerStateError("state \(key) must be a number, got \(t.dtype)") }
            let v = t.doubleValue(at: 0)
            // float32 counts whole steps exactly up to 2^24 (PyTorch's step tensor is float32).
            guard v.isFinite, v >= 0, v == v.rounded(), v <= 16_777_216 else {
                throw OptimizerStateError("state \(key) must be a whole number of steps in 0...16777216, got \(v)")
            }
            return Tensor([Float(v)], shape: [])
        }
        guard t.shape == p.shape else {
            throw OptimizerStateError("state \(key) has shape \(shapeString(t.shape)) but parameter \(index) has shape \(shapeString(p.shape))")
        }
        guard t.dtype == p.dtype else {
            throw OptimizerStateError("state \(key) is \(t.dtype) but parameter \(index) is \(p.dtype)")
        }
        let copy = t.clonedData()
        if let bad = firstNonFinite(copy) {
            throw OptimizerStateError("state \(key) holds a non-finite value (\(bad))")
        }
        return copy
    }
}

/// The first NaN or infinite element of a float tensor, if any.
func firstNonFinite(_ t: Tensor) -> Double? {
    guard t.dtype.isFloatingPoint else { return nil }
    for i in 0..<t.count {
        let v = t.doubleValue(at: i)
        if !v.isFinite { return v }
    }
    return nil
}

/// A Double as JSON text that reads back to the same value (shortest round-trip form).
func jsonNumber(_ v: Double) -> String {
    if v.isNaN || v.isInfinite { return v.isNaN ? "NaN" : (v > 0 ? "Infinity" : "-Infinity") }
    if v == v.rounded() && abs(v) < 1e15 { return String(format: "%.1f", v) }
    return "\(v)"
}

/// A JSON value of the saved metadata: a number or a list of numbers. (`JSONDecoder` reads
/// numbers back exactly; `JSONSerialization` may be one ulp off, which would break exact resume.)
enum JSONField: Decodable, Equatable {
    case number(Double)
    case list([Double])

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let n = try? c.decode(Double.self) { self = .number(n) } else { self = .list(try c.decode([Double].self)) }
    }
}

/// Hyperparameter checks shared by the optimizers, with PyTorch's messages.
enum OptimizerChecks {
    static func learningRate(_ lr: Double) throws(UsageError) {
        guard lr >= 0 else { throw UsageError("optimizer", "Invalid learning rate: \(lr)") }
    }
    static func weightDecay(_ wd: Double) throws(UsageError) {
        guard wd >= 0 else { throw UsageError("optimizer", "Invalid weight_decay value: \(wd)") }
    }
    /// Flags are stored as 0/1 numbers.
    static func flags(_ options: [String: Double], _ names: [String]) throws(UsageError) {
        for n in names {
            if let v = options[n], v != 0 && v != 1 { throw UsageError("optimizer", "\(n) must be 0 or 1, got \(v)") }
        }
    }
}
