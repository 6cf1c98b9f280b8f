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
        for (g, saved) in zip(paramGroups, groups) {
            guard case .list(let indices)? = saved["params"], indices.count == g.params.count else {
                throw OptimizerStateError("loaded state dict contains a parameter group that doesn't match the size of optimizer's group")
            }
            var options: [String: Double] = [:]
            for (k, v) in saved where k != "params" {
                guard case .number(let n) = v else { throw OptimizerStateError("param_groups option \(k) is not a number") }
                options[k] = n
            }
            newOptions.append(options)
            for p in g.params {
                let prefix = "state.\(index)."
                var s: [String: Tensor] = [:]
                for (key, t) in stateDict.entries where key.hasPrefix(prefix) {
                    let name = String(key.dropFirst(prefix.count))
                    if name != "step" {
                        guard t.shape == p.shape else {
                            throw OptimizerStateError("state \(key) has shape \(shapeString(t.shape)) but parameter \(index) has shape \(shapeString(p.shape))")
                        }
                        guard t.dtype == p.dtype else {
                            throw OptimizerStateError("state \(key) is \(t.dtype) but parameter \(index) is \(p.dtype)")
                        }
                    } else if t.count != 1 {
                        throw OptimizerStateError("state \(key) must hold one value, got shape \(shapeString(t.shape))")
                    }
                    s[name] = t.clonedData()
                }
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
}
