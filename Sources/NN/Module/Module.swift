import TensorCore
import Autograd

/// The direct members of one module: its own parameters and buffers and its child modules, each
/// under its local key, in PyTorch's order (declaration order, superclass first).
public struct ModuleMembers {
    public var parameters: [(String, Parameter)] = []
    public var buffers: [(String, Tensor)] = []
    public var children: [(String, Module)] = []
    public init() {}
}

/// The base class of every layer and model, like `torch.nn.Module`.
///
/// Parameters, buffers and children are discovered by reflection over stored properties
/// (superclass first, in declaration order):
/// - `Parameter` / `Parameter?` → parameters,
/// - `Module` / `Module?` / `[Module]` (or `[any Layer]`) → children (an array `blocks` gives
///   `blocks.0`, `blocks.1` …),
/// - any other `Tensor` / `Tensor?` → buffers (running statistics, counters).
///
/// The state-dict key is the property name in snake_case (`runningMean` → `running_mean`,
/// leading `_` dropped); ``stateKeyOverrides`` renames or hides properties. `nil` optionals are
/// left out, as PyTorch leaves out `None` parameters.
///
/// ```swift
/// final class TwoLayer: Module {
///     let fc1 = Linear(4, 8), fc2 = Linear(8, 2)
///     override func forward(_ x: Tensor) -> Tensor { fc2(fc1(x).relu()) }
/// }
/// let m = TwoLayer()
/// m.stateDict().keys     // ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
/// m.eval(); m.isTraining // false
/// ```
open class Module: CustomStringConvertible {
    /// Whether the module is in training mode (the default). Set by ``train(_:)`` / ``eval()``.
    public internal(set) var isTraining: Bool = true

    /// A frozen module (and everything below it) stays in eval mode even when ``train(_:)`` is
    /// called on it or on an ancestor. Used by `freezeBatchNorm(_:)`.
    public var isFrozen: Bool = false {
        didSet { if isFrozen { setMode(false) } }
    }

    public init() {}

    /// The computation; subclasses override it. Call the module (`model(x)`) instead of calling
    /// this directly.
    open func forward(_ x: Tensor) -> Tensor {
        usageFailure(UsageError(typeName, "Module [\(typeName)] is missing the required \"forward\" function"))
    }

    /// Runs ``forward(_:)``.
    public func callAsFunction(_ x: Tensor) -> Tensor { forward(x) }

    // MARK: - Modes

    /// Switches this module and all its descendants to training (`true`) or evaluation mode.
    /// Frozen modules (``isFrozen``) and their descendants stay in evaluation mode.
    ///
    /// ```swift
    /// model.train()        // dropout active, batch norm uses batch statistics
    /// ```
    open func train(_ on: Bool = true) {
        setMode(on)
    }

    /// Switches to evaluation mode, like `model.eval()`.
    public func eval() { train(false) }

    private func setMode(_ on: Bool) {
        let effective = on && !isFrozen
        isTraining = effective
        for child in children() { child.train(effective) }
    }

    // MARK: - Reflection

    /// Renames (`"property": "key"`) or hides (`"property": ""`) stored properties in the state
    /// dict and in discovery. Keys are property names as written in Swift.
    ///
    /// ```swift
    /// override class var stateKeyOverrides: [String: String] { ["cachedMask": ""] }
    /// ```
    open class var stateKeyOverrides: [String: String] { [:] }

    /// This module's direct parameters, buffers and children. The default reflects over stored
    /// properties; override to add members reflection cannot see (call `super` first).
    open func reflectedMembers() -> ModuleMembers {
        var mirrors: [Mirror] = []
        var current: Mirror? = Mirror(reflecting: self)
        while let m = current, m.subjectType != Module.self {
            mirrors.append(m)
            current = m.superclassMirror
        }
        let overrides = type(of: self).stateKeyOverrides
        var members = ModuleMembers()
        for mirror in mirrors.reversed() {
            for child in mirror.children {
                guard let label = child.label, !label.contains("$") else { continue }
                let key: String
                if let o = overrides[label] {
                    if o.isEmpty { continue }
                    key = o
                } else {
                    key = snakeCaseKey(label)
                }
                Module.classify(child.value, key: key, into: &members)
            }
        }
        return members
    }

    private static func classify(_ value: Any, key: String, into members: inout ModuleMembers) {
        if let p = value as? Parameter {
            members.parameters.append((key, p))
        } else if let t = value as? Tensor {
            members.buffers.append((key, t))
        } else if let m = value as? Module {
            members.children.append((key, m))
        } else if let ms = value as? [Module], !ms.isEmpty {
            for (i, m) in ms.enumerated() { members.children.append(("\(key).\(i)", m)) }
        } else if let ls = value as? [any Layer], !ls.isEmpty {
            for (i, l) in ls.enumerated() { members.children.append(("\(key).\(i)", l.asModule)) }
        } else if let ps = value as? [Parameter], !ps.isEmpty {
            for (i, p) in ps.enumerated() { members.parameters.append(("\(key).\(i)", p)) }
        }
    }

    // MARK: - Traversal

    /// The direct children with their keys.
    public func namedChildren() -> [(String, Module)] { reflectedMembers().children }

    /// The direct children, in order.
    public func children() -> [Module] { namedChildren().map(\.1) }

    /// This module (key `""`) and every descendant, depth first, under dotted keys
    /// (`"net"`, `"net.0"` …). A module reachable twice is listed once.
    public func namedModules() -> [(String, Module)] {
        var seen = Set<ObjectIdentifier>()
        var out: [(String, Module)] = []
        func visit(_ m: Module, _ prefix: String) {
            guard seen.insert(ObjectIdentifier(m)).inserted else { return }
            out.append((prefix, m))
            for (k, c) in m.namedChildren() { visit(c, prefix.isEmpty ? k : prefix + "." + k) }
        }
        visit(self, "")
        return out
    }

    /// This module and every descendant.
    public func modules() -> [Module] { namedModules().map(\.1) }

    /// Every parameter under its dotted key (`"net.0.weight"`), in PyTorch's order. A parameter
    /// shared by two modules is listed once.
    public func namedParameters() -> [(String, Parameter)] {
        var seen = Set<ObjectIdentifier>()
        var out: [(String, Parameter)] = []
        for (prefix, m) in namedModules() {
            for (k, p) in m.reflectedMembers().parameters where seen.insert(ObjectIdentifier(p)).inserted {
                out.append((prefix.isEmpty ? k : prefix + "." + k, p))
            }
        }
        return out
    }

    /// Every parameter, in PyTorch's order (what an optimizer takes).
    public func parameters() -> [Parameter] { namedParameters().map(\.1) }

    /// Every buffer (running statistics, counters) under its dotted key.
    public func namedBuffers() -> [(String, Tensor)] {
        var seen = Set<ObjectIdentifier>()
        var out: [(String, Tensor)] = []
        for (prefix, m) in namedModules() {
            for (k, b) in m.reflectedMembers().buffers where seen.insert(ObjectIdentifier(b)).inserted {
                out.append((prefix.isEmpty ? k : prefix + "." + k, b))
            }
        }
        return out
    }

    /// Every buffer, in order.
    public func buffers() -> [Tensor] { namedBuffers().map(\.1) }

    /// Calls `fn` on every descendant and then on this module (PyTorch's order), e.g. to
    /// re-initialise weights.
    ///
    /// ```swift
    /// model.apply { m in if let l = m as? Linear { Init.zeros(l.weight) } }
    /// ```
    @discardableResult
    public func apply(_ fn: (Module) -> Void) -> Self {
        for c in children() { c.apply(fn) }
        fn(self)
        return self
    }

    /// Clears every parameter's gradient (sets `grad` to nil, PyTorch's default `set_to_none`).
    public func zeroGrad() {
        for p in parameters() { p.grad = nil }
    }

    /// Number of trainable elements (parameters that require grad), like
    /// `sum(p.numel() for p in model.parameters() if p.requires_grad)`.
    public var parameterCount: Int {
        parameters().reduce(0) { $0 + ($1.requiresGrad ? $1.count : 0) }
    }

    // MARK: - State dict

    /// Parameters and buffers under PyTorch's keys and in PyTorch's order: each module's own
    /// parameters, then its own buffers, then its children's entries recursively.
    ///
    /// The tensors are detached references to the module's data (like PyTorch's `state_dict()`):
    /// they see later training updates. Use ``StateDict/cloned()`` for a snapshot.
    ///
    /// ```swift
    /// let best = model.stateDict().cloned()
    /// try model.stateDict().save(to: url)
    /// ```
    public func stateDict() -> StateDict {
        var sd = StateDict()
        collectState(prefix: "", into: &sd)
        return sd
    }

    private func collectState(prefix: String, into sd: inout StateDict) {
        let m = reflectedMembers()
        for (k, p) in m.parameters { sd[prefix + k] = p.detach() }
        for (k, b) in m.buffers { sd[prefix + k] = b.detach() }
        for (k, c) in m.children { c.collectState(prefix: prefix + k + ".", into: &sd) }
    }

    /// Every state-dict entry with the module that owns it and its local key.
    private func stateSlots(prefix: String = "") -> [(key: String, tensor: Tensor, owner: Module, local: String)] {
        let m = reflectedMembers()
        var out: [(key: String, tensor: Tensor, owner: Module, local: String)] = []
        for (k, p) in m.parameters { out.append((prefix + k, p, self, k)) }
        for (k, b) in m.buffers { out.append((prefix + k, b, self, k)) }
        for (k, c) in m.children { out += c.stateSlots(prefix: prefix + k + ".") }
        return out
    }

    /// Local keys this module tolerates being absent from a loaded state dict; for each one
    /// that is absent, ``fillMissingStateKey(_:)`` is called. BatchNorm: `["num_batches_tracked"]`.
    open class var optionalStateKeys: Set<String> { [] }

    /// Called by ``loadStateDict(_:strict:)`` for an ``optionalStateKeys`` key absent from the
    /// loaded dict: BatchNorm sets `num_batches_tracked` to 0 there, as PyTorch does.
    open func fillMissingStateKey(_ key: String) {}

    /// Copies `stateDict`'s tensors into this model's parameters and buffers, in place (so
    /// optimizers holding the parameters keep working). Values of another floating dtype are
    /// converted (float64 → float32).
    ///
    /// Shape mismatches are always an error (as in PyTorch, even with `strict: false`). With
    /// `strict: true`, missing and unexpected keys are errors too. Nothing is modified when an
    /// error is thrown, and the error lists every problem at once. With `strict: false`, every
    /// matching entry is loaded and the missing and unexpected keys are returned.
    ///
    /// ```swift
    /// let sd = try StateDict(contentsOf: url)
    /// try model.loadStateDict(sd)                       // strict
    /// let r = try model.loadStateDict(sd, strict: false)
    /// r.missingKeys, r.unexpectedKeys
    /// ```
    @discardableResult
    public func loadStateDict(_ stateDict: StateDict, strict: Bool = true) throws(StateDictError) -> LoadResult {
        let slots = stateSlots()
        var expected = Set<String>()
        var missing: [String] = []
        var toFill: [(Module, String)] = []
        var mismatched: [StateDictError.Mismatch] = []
        var toCopy: [(Tensor, Tensor)] = []
        for slot in slots {
            expected.insert(slot.key)
            guard let src = stateDict[slot.key] else {
                if type(of: slot.owner).optionalStateKeys.contains(slot.local) {
                    toFill.append((slot.owner, slot.local))
                } else {
                    missing.append(slot.key)
                }
                continue
            }
            if src.shape != slot.tensor.shape {
                mismatched.append(.init(key: slot.key, checkpointShape: src.shape, modelShape: slot.tensor.shape))
            } else if !Module.canConvert(src.dtype, to: slot.tensor.dtype) {
                mismatched.append(.init(key: slot.key, checkpointShape: src.shape, modelShape: slot.tensor.shape,
                                        checkpointDType: src.dtype, modelDType: slot.tensor.dtype))
            } else {
                toCopy.append((slot.tensor, src))
            }
        }
        let unexpected = stateDict.keys.filter { !expected.contains($0) }
        if !mismatched.isEmpty || (strict && !(missing.isEmpty && unexpected.isEmpty)) {
            throw StateDictError(modelName: typeName, missingKeys: strict ? missing : [],
                                 unexpectedKeys: strict ? unexpected : [], mismatched: mismatched)
        }
        for (dst, src) in toCopy { Module.copyConverting(src, into: dst) }
        for (owner, local) in toFill { owner.fillMissingStateKey(local) }
        return LoadResult(missingKeys: missing, unexpectedKeys: unexpected)
    }

    private static func canConvert(_ from: DType, to: DType) -> Bool {
        from == to || (from.isFloatingPoint && to.isFloatingPoint) || (!from.isFloatingPoint && !to.isFloatingPoint)
    }

    private static func copyConverting(_ src: Tensor, into dst: Tensor) {
        dst.copyData(from: Kernels.cast(src, to: dst.dtype))
    }

    // MARK: - Description

    /// The class name shown in ``description``.
    open var typeName: String { String(describing: type(of: self)) }

    /// Overrides the class name in ``description`` only, for PyTorch's reprs of internal
    /// classes (MultiheadAttention's `out_proj` prints as `NonDynamicallyQuantizableLinear`).
    public var descriptionName: String? = nil

    /// The settings shown inside the parentheses of ``description``, like PyTorch's `extra_repr`
    /// (`"in_features=784, out_features=512, bias=True"`).
    open var extraDescription: String { "" }

    /// PyTorch's module repr: the class name, the settings, and the children indented by two
    /// spaces, each as `(key): …`.
    ///
    /// ```
    /// Sequential(
    ///   (0): Linear(in_features=4, out_features=8, bias=True)
    ///   (1): ReLU()
    /// )
    /// ```
    public var description: String {
        let extraLines = extraDescription.isEmpty ? [] : extraDescription.components(separatedBy: "\n")
        let childLines = namedChildren().map { key, child in
            "(\(key)): " + child.description.replacingOccurrences(of: "\n", with: "\n  ")
        }
        let lines = extraLines + childLines
        var s = (descriptionName ?? typeName) + "("
        if !lines.isEmpty {
            if extraLines.count == 1 && childLines.isEmpty {
                s += extraLines[0]
            } else {
                s += "\n  " + lines.joined(separator: "\n  ") + "\n"
            }
        }
        return s + ")"
    }
}

/// Converts a Swift property name to a PyTorch-style key: `runningMean` → `running_mean`,
/// `_weight` → `weight`, `fc1` → `fc1`.
public func snakeCaseKey(_ name: String) -> String {
    var s = Substring(name)
    while s.first == "_" { s = s.dropFirst() }
    var out = ""
    var previousWasLowerOrDigit = false
    for ch in s {
        if ch.isUppercase {
            if previousWasLowerOrDigit { out.append("_") }
            out += ch.lowercased()
            previousWasLowerOrDigit = false
        } else {
            out.append(ch)
            previousWasLowerOrDigit = ch.isLowercase || ch.isNumber
        }
    }
    return out
}

/// What ``Module/loadStateDict(_:strict:)`` did not load.
public struct LoadResult: Equatable, Sendable {
    /// Model keys absent from the loaded dict (not filled in).
    public var missingKeys: [String]
    /// Keys of the loaded dict the model has no slot for (ignored).
    public var unexpectedKeys: [String]
    public init(missingKeys: [String] = [], unexpectedKeys: [String] = []) {
        self.missingKeys = missingKeys
        self.unexpectedKeys = unexpectedKeys
    }
    /// True when every key matched.
    public var isComplete: Bool { missingKeys.isEmpty && unexpectedKeys.isEmpty }
}

/// A state dict that does not fit a model: every missing, unexpected and mis-shaped key, in
/// PyTorch's words.
///
/// ```
/// Error(s) in loading state_dict for MLPClassifier:
///     Missing key(s) in state_dict: "net.0.bias".
///     Unexpected key(s) in state_dict: "net.0.extra".
///     size mismatch for net.0.weight: copying a param with shape [3, 4] from checkpoint, the shape in current model is [4, 4].
/// ```
public struct StateDictError: Error, CustomStringConvertible, Equatable, Sendable {
    public struct Mismatch: Equatable, Sendable {
        public var key: String
        public var checkpointShape: [Int]
        public var modelShape: [Int]
        /// Set when the dtypes cannot be converted (e.g. int64 into float32).
        public var checkpointDType: DType?
        public var modelDType: DType?
        public init(key: String, checkpointShape: [Int], modelShape: [Int], checkpointDType: DType? = nil, modelDType: DType? = nil) {
            self.key = key
            self.checkpointShape = checkpointShape
            self.modelShape = modelShape
            self.checkpointDType = checkpointDType
            self.modelDType = modelDType
        }
    }

    /// The model's class name.
    public var modelName: String
    public var missingKeys: [String]
    public var unexpectedKeys: [String]
    /// Keys whose shape (or dtype) differs.
    public var mismatched: [Mismatch]
    /// The mis-shaped keys.
    public var mismatchedKeys: [String] { mismatched.map(\.key) }

    public init(modelName: String, missingKeys: [String], unexpectedKeys: [String], mismatched: [Mismatch]) {
        self.modelName = modelName
        self.missingKeys = missingKeys
        self.unexpectedKeys = unexpectedKeys
        self.mismatched = mismatched
    }

    public var description: String {
        var lines = ["Error(s) in loading state_dict for \(modelName):"]
        func quoted(_ ks: [String]) -> String { ks.map { "\"\($0)\"" }.joined(separator: ", ") }
        if !missingKeys.isEmpty { lines.append("\tMissing key(s) in state_dict: \(quoted(missingKeys)).") }
        if !unexpectedKeys.isEmpty { lines.append("\tUnexpected key(s) in state_dict: \(quoted(unexpectedKeys)).") }
        for m in mismatched {
            if let cd = m.checkpointDType, let md = m.modelDType {
                lines.append("\tdtype mismatch for \(m.key): copying a param of dtype \(cd) from checkpoint, the dtype in current model is \(md).")
            } else {
                lines.append("\tsize mismatch for \(m.key): copying a param with shape \(shapeString(m.checkpointShape)) from checkpoint, the shape in current model is \(shapeString(m.modelShape)).")
            }
        }
        return lines.joined(separator: "\n")
    }
}

extension StateDict {
    /// A deep copy: every tensor's data copied, so later training does not change it.
    ///
    /// ```swift
    /// let best = model.stateDict().cloned()    // keep the best weights in memory
    /// ```
    public func cloned() -> StateDict {
        StateDict(entries.map { ($0.key, $0.value.clonedData()) }, metadata: metadata)
    }
}

/// Python-style renderings for ``Module/extraDescription``: `1e-05`, `True`, `(3, 3)`.
public enum PyRepr {
    /// A float as Python's `repr` prints it (`0.1`, `1e-05`, `1.0`).
    public static func float(_ x: Double) -> String {
        if x.isNaN { return "nan" }
        if x.isInfinite { return x > 0 ? "inf" : "-inf" }
        return x.description
    }
    /// `True` / `False`.
    public static func bool(_ b: Bool) -> String { b ? "True" : "False" }
    /// A tuple such as `(3, 3)` (one element: `(3,)`).
    public static func tuple(_ xs: [Int]) -> String {
        xs.count == 1 ? "(\(xs[0]),)" : "(" + xs.map(String.init).joined(separator: ", ") + ")"
    }
}
