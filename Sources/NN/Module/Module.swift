import TensorCore
import Autograd

/// The base class of every layer and model, like `torch.nn.Module`.
///
/// Parameters, buffers and children are discovered by reflection over stored properties
/// (superclass first, in declaration order):
/// - ``Parameter`` / `Parameter?` / `[Parameter]` → parameters,
/// - ``Buffer`` / `Buffer?` / `[Buffer]` → buffers (running statistics, counters),
/// - `Module` / `Module?` / `[Module]` (or `[any Layer]`) → children (an array `blocks` gives
///   `blocks.0`, `blocks.1` …).
///
/// A plain `Tensor` property is not state (as a tensor attribute in PyTorch is not): wrap it in
/// ``Buffer`` to have it listed and saved.
///
/// The state-dict key is the property name in snake_case (`runningMean` → `running_mean`,
/// leading `_` dropped); ``stateKeyOverrides`` renames or hides properties. `nil` optionals are
/// left out, as PyTorch leaves out `None` parameters.
///
/// Children and parameters are ordinary stored properties, so a `var` child can be replaced as in
/// PyTorch (`model.fc = nn.Linear(512, 10)`); every traversal sees the new value. Reflection runs
/// once per module and is repeated only after such a reassignment.
///
/// ```swift
/// final class TwoLayer: Module {
///     var fc1 = Linear(4, 8), fc2 = Linear(8, 2)
///     override func forward(_ x: Tensor) -> Tensor { fc2(fc1(x).relu()) }
/// }
/// let m = TwoLayer()
/// m.stateDict().keys     // ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
/// m.fc2 = Linear(8, 10)  // a new head
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

    /// The members found by the last reflection, with what they were found in.
    private var memberCache: MemberCache?
    /// How many times this module ran reflection (tests check that it is not repeated).
    internal private(set) var reflectionPasses = 0

    public init() {}

    /// The computation; subclasses override it. Call the module (`model(x)`) instead of calling
    /// this directly.
    open func forward(_ x: Tensor) -> Tensor {
        usageFailure(UsageError(typeName, "Module [\(typeName)] is missing the required \"forward\" function"))
    }

    /// Runs ``forward(_:)``, with the hooks registered on this module (``registerForwardHook(_:)``
    /// and the others) around it. Subclasses override `forward`, never this, so every module's
    /// hooks run; without hooks the cost is one nil check.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        guard let hooks else { return forward(x) }
        return hooks.call(self, x) { forward($0) }
    }

    /// Forward and backward hooks; nil while none is registered (the fast path).
    var hooks: ModuleHooks?

    /// Whether the layer maps each input element to one output element on its own (activations,
    /// dropout, identity), like a pointwise function: it keeps the positions of zeros and does not
    /// mix values. Tools reasoning about layer order (the Doctor) ask this instead of keeping a
    /// list of classes. Default false; pointwise layers override it.
    open var isElementwise: Bool { false }

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

    /// This module's direct parameters, buffers and children, found by reflecting over stored
    /// properties. Override to add members reflection cannot see (call `super` first).
    ///
    /// The result is cached per module and recomputed only after a stored property that can hold
    /// a member is reassigned: an override that derives members from anything else must call
    /// ``invalidateReflectedMembers()`` when that source changes.
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
                members.add(child.value, key: key)
            }
        }
        return members
    }

    /// This module's direct members: ``reflectedMembers()``, computed once and again only after
    /// a stored property holding a member was reassigned.
    final var members: ModuleMembers {
        let layout = ModuleLayout.of(type(of: self))
        if let cache = memberCache, layout.matches(cache.snapshot, of: self) { return cache.members }
        let fresh = reflectedMembers()
        reflectionPasses += 1
        memberCache = layout.isCacheable ? MemberCache(members: fresh, snapshot: layout.snapshot(of: self)) : nil
        return fresh
    }

    /// Forgets the cached members, for ``reflectedMembers()`` overrides whose source is not a
    /// stored property (stored properties are checked automatically).
    public final func invalidateReflectedMembers() {
        memberCache = nil
    }

    // MARK: - Traversal

    /// The one walk behind every traversal: this module and its descendants depth first (each
    /// module before its children), with the dotted key prefix (`""` for this module) and the
    /// module's members. With `visitSharedOnce`, a module reachable under two keys is visited
    /// under the first only (`namedModules`, `namedParameters`); without it, under every key
    /// (the state dict, as PyTorch's `state_dict` does). A module that contains itself is never
    /// entered twice on one path.
    final func walk(visitSharedOnce: Bool, _ visit: (_ prefix: String, _ module: Module, _ members: ModuleMembers) -> Void) {
        var seen = Set<ObjectIdentifier>()
        var path = Set<ObjectIdentifier>()
        func visitModule(_ m: Module, _ prefix: String) {
            let id = ObjectIdentifier(m)
            if visitSharedOnce { guard seen.insert(id).inserted else { return } }
            guard path.insert(id).inserted else { return }
            defer { path.remove(id) }
            let members = m.members
            visit(prefix, m, members)
            for (k, c) in members.children { visitModule(c, prefix.isEmpty ? k : prefix + "." + k) }
        }
        visitModule(self, "")
    }

    /// The direct children with their keys.
    public func namedChildren() -> [(String, Module)] { members.children }

    /// The direct children, in order.
    public func children() -> [Module] { members.children.map(\.1) }

    /// This module (key `""`) and every descendant, depth first, under dotted keys
    /// (`"net"`, `"net.0"` …). A module reachable twice is listed once.
    public func namedModules() -> [(String, Module)] {
        var out: [(String, Module)] = []
        walk(visitSharedOnce: true) { prefix, m, _ in out.append((prefix, m)) }
        return out
    }

    /// This module and every descendant.
    public func modules() -> [Module] { namedModules().map(\.1) }

    /// The descendant at a dotted path (`"net.1"`, `"layer4.1.bn2"`, `""` for this module), like
    /// PyTorch's `get_submodule`, or nil when there is none.
    ///
    /// ```swift
    /// model.submodule("net.1")?.eval()
    /// ```
    public func submodule(_ path: String) -> Module? {
        var m: Module = self
        var rest = Substring(path)
        // Keys can contain dots themselves (an array property `blocks` gives `blocks.0`), so
        // match whole keys against the front of the path rather than splitting it.
        while !rest.isEmpty {
            guard let (key, child) = m.members.children.first(where: { rest == $0.0 || rest.hasPrefix($0.0 + ".") })
            else { return nil }
            m = child
            rest = rest.dropFirst(key.count)
            if rest.first == "." { rest = rest.dropFirst() }
        }
        return m
    }

    /// The descendant at a dotted path as a `T`, or nil when there is none or it is another type.
    ///
    /// ```swift
    /// let bn = model.submodule("net.1", as: BatchNorm1d.self)
    /// bn?.runningMean
    /// ```
    public func submodule<T: Module>(_ path: String, as type: T.Type) -> T? {
        submodule(path) as? T
    }

    /// Every parameter under its dotted key (`"net.0.weight"`), in PyTorch's order. A parameter
    /// shared by two modules is listed once.
    public func namedParameters() -> [(String, Parameter)] {
        var seen = Set<ObjectIdentifier>()
        var out: [(String, Parameter)] = []
        walk(visitSharedOnce: true) { prefix, _, members in
            for (k, p) in members.parameters where seen.insert(ObjectIdentifier(p)).inserted {
                out.append((prefix.isEmpty ? k : prefix + "." + k, p))
            }
        }
        return out
    }

    /// Every parameter, in PyTorch's order (what an optimizer takes).
    public func parameters() -> [Parameter] { namedParameters().map(\.1) }

    /// Every buffer (running statistics, counters; persistent or not) under its dotted key. A
    /// buffer shared by two modules is listed once.
    public func namedBuffers() -> [(String, Buffer)] {
        var seen = Set<ObjectIdentifier>()
        var out: [(String, Buffer)] = []
        walk(visitSharedOnce: true) { prefix, _, members in
            for (k, b) in members.buffers where seen.insert(ObjectIdentifier(b)).inserted {
                out.append((prefix.isEmpty ? k : prefix + "." + k, b))
            }
        }
        return out
    }

    /// Every buffer, in order.
    public func buffers() -> [Buffer] { namedBuffers().map(\.1) }

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

    // MARK: - State dict hooks (the state dict itself: StateDict/Module+StateDict.swift)

    /// Local keys this module tolerates being absent from a loaded state dict; for each one
    /// that is absent, ``fillMissingStateKey(_:)`` is called. BatchNorm: `["num_batches_tracked"]`.
    open class var optionalStateKeys: Set<String> { [] }

    /// Called by ``loadStateDict(_:strict:)`` for an ``optionalStateKeys`` key absent from the
    /// loaded dict: BatchNorm sets `num_batches_tracked` to 0 there, as PyTorch does.
    open func fillMissingStateKey(_ key: String) {}

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
