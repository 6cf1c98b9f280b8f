import Synchronization
import TensorCore
import Autograd

/// Removes the hook it was returned for, like PyTorch's `RemovableHandle`.
///
/// ```swift
/// let handle = model.registerForwardHook { module, input, output in print(output.shape) }
/// _ = model(x)          // prints
/// handle.remove()
/// _ = model(x)          // does not
/// ```
public final class RemovableHandle: Hashable {
    private weak var module: Module?
    /// Unique across all hooks of the process.
    public let id: Int

    init(module: Module, id: Int) {
        self.module = module
        self.id = id
    }

    /// Removes the hook; calling it again, or after the module is gone, does nothing.
    public func remove() { module?.removeHook(id) }

    public static func == (a: RemovableHandle, b: RemovableHandle) -> Bool { a.id == b.id }
    public func hash(into hasher: inout Hasher) { hasher.combine(id) }
}

/// The hooks registered on one module. Only allocated once a hook is registered, so a module
/// without hooks pays one nil check per call.
final class ModuleHooks {
    typealias ForwardPre = (Module, Tensor) -> Tensor?
    typealias Forward = (Module, Tensor, Tensor) -> Tensor?
    typealias BackwardPre = (Module, Tensor) -> Tensor?
    typealias Backward = (Module, Tensor?, Tensor) -> Tensor?
    typealias OutputObserver = (Module, Tensor) -> Void

    var forwardPre: [(id: Int, fn: ForwardPre)] = []
    var forward: [(id: Int, fn: Forward)] = []
    var backwardPre: [(id: Int, fn: BackwardPre)] = []
    var backward: [(id: Int, fn: Backward)] = []
    var outputObservers: [(id: Int, fn: OutputObserver)] = []

    var isEmpty: Bool { forwardPre.isEmpty && forward.isEmpty && backwardPre.isEmpty && backward.isEmpty && outputObservers.isEmpty }

    /// Whether the output observers are all there is: nothing that sees the input, replaces a
    /// tensor or needs the output's graph node.
    var observesOutputOnly: Bool {
        forwardPre.isEmpty && forward.isEmpty && backwardPre.isEmpty && backward.isEmpty && !outputObservers.isEmpty
    }

    func remove(_ id: Int) {
        forwardPre.removeAll { $0.id == id }
        forward.removeAll { $0.id == id }
        backwardPre.removeAll { $0.id == id }
        backward.removeAll { $0.id == id }
        outputObservers.removeAll { $0.id == id }
    }

    private static let counter = Atomic<Int>(0)

    static func nextID() -> Int { counter.wrappingAdd(1, ordering: .relaxed).newValue }

    /// One call of `module` with its hooks: pre-hooks (each may replace the input), the backward
    /// hooks' graph nodes around `body`, forward hooks (each may replace the output), then the
    /// output observers on the final output. The lists are copied first, so a hook may register
    /// or remove hooks while it runs.
    func call(_ module: Module, _ input: Tensor, _ body: (Tensor) -> Tensor) -> Tensor {
        var x = input
        for h in forwardPre { if let replaced = h.fn(module, x) { x = replaced } }
        let wantsBackward = !(backward.isEmpty && backwardPre.isEmpty) && GradMode.isEnabled
        var y: Tensor
        if wantsBackward {
            y = withBackwardHooks(module, x, body)
        } else {
            y = body(x)
        }
        for h in forward { if let replaced = h.fn(module, x, y) { y = replaced } }
        for o in outputObservers { o.fn(module, y) }
        return y
    }

    /// PyTorch's full backward hooks: an identity node on the input receives the gradient with
    /// respect to the module's input, one on the output the gradient with respect to its output
    /// (which the backward pre-hooks see first). When the input needs no gradient the hooks run
    /// from the output node with a nil input gradient, as in PyTorch.
    private func withBackwardHooks(_ module: Module, _ x: Tensor, _ body: (Tensor) -> Tensor) -> Tensor {
        let pre = backwardPre, post = backward
        let inputNeedsGrad = x.requiresGrad
        // The gradient w.r.t. the output, kept for the hooks that run at the input node.
        final class Pending { var gradOutput: Tensor? }
        let pending = Pending()
        var xi = x
        if inputNeedsGrad {
            xi = Autograd.record("BackwardHookFunctionBackward", output: x.detach(), inputs: [x]) { [weak module] g in
                guard let module else { return [g] }
                var gradInput = g
                let gradOutput = pending.gradOutput ?? g
                for h in post { if let r = h.fn(module, gradInput, gradOutput) { gradInput = r } }
                pending.gradOutput = nil
                return [gradInput]
            }
        }
        let y = body(xi)
        guard y.requiresGrad else { return y }
        return Autograd.record("BackwardHookFunctionBackward", output: y.detach(), inputs: [y]) { [weak module] g in
            guard let module else { return [g] }
            var gradOutput = g
            for h in pre { if let r = h.fn(module, gradOutput) { gradOutput = r } }
            if inputNeedsGrad {
                pending.gradOutput = gradOutput
            } else {
                for h in post { _ = h.fn(module, nil, gradOutput) }
            }
            return [gradOutput]
        }
    }
}

// MARK: - Registering

extension Module {
    private func addHook(_ add: (ModuleHooks, Int) -> Void) -> RemovableHandle {
        let store = hooks ?? ModuleHooks()
        hooks = store
        let id = ModuleHooks.nextID()
        add(store, id)
        return RemovableHandle(module: self, id: id)
    }

    func removeHook(_ id: Int) {
        guard let store = hooks else { return }
        store.remove(id)
        // Back to the hook-free fast path.
        if store.isEmpty { hooks = nil }
    }

    /// Whether any hook is registered on this module (not its children).
    public var hasHooks: Bool { hooks != nil }

    /// Whether the only hooks on this module are forward pre-hooks: hooks that see (and may replace)
    /// the input alone, so a fused path that still makes the input can run them itself.
    var hasOnlyForwardPreHooks: Bool {
        guard let hooks else { return false }
        return !hooks.forwardPre.isEmpty && hooks.forward.isEmpty && hooks.backwardPre.isEmpty && hooks.backward.isEmpty
            && hooks.outputObservers.isEmpty
    }

    /// Whether the only hooks on this module are output observers, which a fused path that makes
    /// the module's output runs itself (``registerOutputObserver(_:)``).
    var hasOnlyOutputObservers: Bool { hooks?.observesOutputOnly ?? false }

    /// Runs the output observers on `output`, as a call of this module that returned it would.
    func runOutputObservers(_ output: Tensor) {
        guard let hooks else { return }
        for o in hooks.outputObservers { o.fn(self, output) }
    }

    /// Runs the forward pre-hooks on `input` as a call of this module would, returning the input
    /// the module's forward would see.
    func runForwardPreHooks(_ input: Tensor) -> Tensor {
        guard let hooks else { return input }
        var x = input
        for h in hooks.forwardPre { if let replaced = h.fn(self, x) { x = replaced } }
        return x
    }

    /// Calls `hook(module, input)` before every ``forward(_:)`` call, like
    /// `register_forward_pre_hook`.
    ///
    /// ```swift
    /// let h = model.net[1].registerForwardPreHook { module, input in print("BN input", input.shape) }
    /// ```
    @discardableResult
    public func registerForwardPreHook(_ hook: @escaping (_ module: Module, _ input: Tensor) -> Void) -> RemovableHandle {
        addHook { store, id in store.forwardPre.append((id, { m, x in hook(m, x); return nil })) }
    }

    /// A forward pre-hook that may replace the input: return the new input, or nil to keep it.
    /// Pass it with its label (`registerForwardPreHook(replacingInput: { … })`): a trailing
    /// closure registers the observing form above.
    @discardableResult
    @_disfavoredOverload
    public func registerForwardPreHook(replacingInput hook: @escaping (_ module: Module, _ input: Tensor) -> Tensor?) -> RemovableHandle {
        addHook { store, id in store.forwardPre.append((id, hook)) }
    }

    /// Calls `hook(module, input, output)` after every ``forward(_:)`` call, like
    /// `register_forward_hook`.
    ///
    /// ```swift
    /// let handle = model.registerForwardHook { module, input, output in print(output.shape) }
    /// handle.remove()
    /// ```
    @discardableResult
    public func registerForwardHook(_ hook: @escaping (_ module: Module, _ input: Tensor, _ output: Tensor) -> Void) -> RemovableHandle {
        addHook { store, id in store.forward.append((id, { m, x, y in hook(m, x, y); return nil })) }
    }

    /// A forward hook that may replace the output: return the new output, or nil to keep it.
    /// Pass it with its label, as PyTorch users return a value from a hook:
    ///
    /// ```swift
    /// relu.registerForwardHook(replacingOutput: { _, _, output in output.clamp(max: 6) })
    /// ```
    @discardableResult
    @_disfavoredOverload
    public func registerForwardHook(replacingOutput hook: @escaping (_ module: Module, _ input: Tensor, _ output: Tensor) -> Tensor?) -> RemovableHandle {
        addHook { store, id in store.forward.append((id, hook)) }
    }

    /// Calls `observer(module, output)` with the output of every call, after the forward hooks.
    /// Unlike a forward hook it sees neither the input nor the graph, and cannot replace the
    /// output, so fused paths that never make the input still honour it: the ReLU of a
    /// `Conv2d → BatchNorm2d → ReLU` run keeps the fused batch norm + ReLU and the observer sees
    /// its output. (A forward hook on that ReLU would need the batch norm's output, so it turns
    /// the fusion off.) PyTorch has no such hook; a forward hook that ignores its input is the
    /// nearest twin. Removing it goes through the returned handle.
    ///
    /// ```swift
    /// let block = ConvBNBlock(3, 32)
    /// let h = block.block[2].registerOutputObserver { _, y in print("zeros:", y.eq(0).sum().item()) }
    /// _ = block(Tensor.randn([8, 3, 32, 32]))   // still fused; prints the ReLU output's zeros
    /// h.remove()
    /// ```
    @discardableResult
    public func registerOutputObserver(_ observer: @escaping (_ module: Module, _ output: Tensor) -> Void) -> RemovableHandle {
        addHook { store, id in store.outputObservers.append((id, observer)) }
    }

    /// Calls `hook(module, gradOutput)` when the gradient with respect to the module's output has
    /// been computed, like `register_full_backward_pre_hook`.
    @discardableResult
    public func registerFullBackwardPreHook(_ hook: @escaping (_ module: Module, _ gradOutput: Tensor) -> Void) -> RemovableHandle {
        addHook { store, id in store.backwardPre.append((id, { m, g in hook(m, g); return nil })) }
    }

    /// A backward pre-hook that may replace the output gradient passed on into the module.
    @discardableResult
    @_disfavoredOverload
    public func registerFullBackwardPreHook(replacingGradOutput hook: @escaping (_ module: Module, _ gradOutput: Tensor) -> Tensor?) -> RemovableHandle {
        addHook { store, id in store.backwardPre.append((id, hook)) }
    }

    /// Calls `hook(module, gradInput, gradOutput)` when the gradient with respect to the module's
    /// input has been computed, like `register_full_backward_hook`. `gradInput` is nil when the
    /// input does not require grad (the hook then runs as soon as `gradOutput` is known).
    ///
    /// ```swift
    /// fc.registerFullBackwardHook { module, gradInput, gradOutput in print(gradOutput.abs().max().item()) }
    /// ```
    @discardableResult
    public func registerFullBackwardHook(_ hook: @escaping (_ module: Module, _ gradInput: Tensor?, _ gradOutput: Tensor) -> Void) -> RemovableHandle {
        addHook { store, id in store.backward.append((id, { m, gi, go in hook(m, gi, go); return nil })) }
    }

    /// A backward hook that may replace the input gradient passed on to the layers before.
    @discardableResult
    @_disfavoredOverload
    public func registerFullBackwardHook(replacingGradInput hook: @escaping (_ module: Module, _ gradInput: Tensor?, _ gradOutput: Tensor) -> Tensor?) -> RemovableHandle {
        addHook { store, id in store.backward.append((id, hook)) }
    }

    /// Runs `body` as this module's forward with its hooks around it. ``callAsFunction(_:)`` does
    /// this; modules whose call takes more than one argument (attention) use it so that hooks see
    /// them too, with `input` as the hooks' input.
    public func withHooks(_ input: Tensor, _ body: (Tensor) -> Tensor) -> Tensor {
        guard let store = hooks else { return body(input) }
        return store.call(self, input, body)
    }
}
