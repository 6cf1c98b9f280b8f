import TensorCore

// Hooks into the backward pass, as PyTorch offers them to data-parallel training: a hook that runs
// once a leaf's gradient is complete (`register_post_accumulate_grad_hook`), and callbacks that
// run when the whole pass has finished (the engine's `queue_callback`).

/// The hooks registered on one leaf tensor (stored in `Tensor.postAccumulateGradHooks`).
final class PostAccumulateGradHooks {
    var entries: [(id: Int, hook: (Tensor) -> Void)] = []
    var nextID = 0
}

/// Removes the hook it was returned for, like PyTorch's `RemovableHandle`.
public final class GradHookHandle {
    private weak var tensor: Tensor?
    private let id: Int

    init(tensor: Tensor, id: Int) {
        self.tensor = tensor
        self.id = id
    }

    /// Unregisters the hook; later backward passes no longer call it. Removing twice is harmless.
    public func remove() {
        guard let tensor, let hooks = tensor.postAccumulateGradHooks as? PostAccumulateGradHooks else { return }
        hooks.entries.removeAll { $0.id == id }
        if hooks.entries.isEmpty { tensor.postAccumulateGradHooks = nil }
    }
}

extension Tensor {
    /// Registers `hook` to run after this leaf's gradient has been accumulated into ``grad`` in a
    /// backward pass, like `torch.Tensor.register_post_accumulate_grad_hook`. It runs once per
    /// pass, after the leaf's last contribution (a parameter used twice is reported once), with
    /// the leaf as argument; leaves no gradient reached are not reported. Data-parallel training
    /// uses it to start averaging gradients while the rest of the backward pass still runs.
    ///
    /// ```swift
    /// let w = Tensor.randn([3], requiresGrad: true)
    /// let handle = w.registerPostAccumulateGradHook { t in print(t.grad!) }
    /// (w * w).sum().backward()    // prints 2·w
    /// handle.remove()
    /// ```
    @discardableResult
    public func registerPostAccumulateGradHook(_ hook: @escaping (Tensor) -> Void) -> GradHookHandle {
        usageCheck(requiresGrad, "register_post_accumulate_grad_hook",
                   "cannot register a hook on a tensor that doesn't require gradient")
        usageCheck(gradNode == nil, "register_post_accumulate_grad_hook",
                   "post accumulate grad hooks cannot be registered on non-leaf tensors")
        let hooks = (postAccumulateGradHooks as? PostAccumulateGradHooks) ?? PostAccumulateGradHooks()
        postAccumulateGradHooks = hooks
        let id = hooks.nextID
        hooks.nextID += 1
        hooks.entries.append((id, hook))
        return GradHookHandle(tensor: self, id: id)
    }
}

/// Per-pass state of a running backward: the callbacks queued for its end. Only the task running
/// the pass touches it.
final class BackwardContext: @unchecked Sendable {
    private var callbacks: [() -> Void] = []

    func queue(_ callback: @escaping () -> Void) { callbacks.append(callback) }

    /// Runs the queued callbacks in order, including any queued by a callback.
    func runCallbacks() {
        var i = 0
        while i < callbacks.count {
            callbacks[i]()
            i += 1
        }
        callbacks = []
    }
}

extension Autograd {
    /// The backward pass running on this task, if any.
    @TaskLocal static var currentBackward: BackwardContext?

    /// Whether a backward pass is running on the calling task (e.g. inside a gradient hook).
    public static var isInBackward: Bool { currentBackward != nil }

    /// Queues `callback` to run once the backward pass that is running now has finished, like
    /// PyTorch's `Variable._execution_engine.queue_callback`. Only callable during backward (from
    /// a hook or a node's backward function). Data-parallel training waits for its last gradient
    /// all-reduce here, so gradients are averaged before `backward()` returns.
    ///
    /// ```swift
    /// w.registerPostAccumulateGradHook { _ in Autograd.queueCallback { print("backward done") } }
    /// ```
    public static func queueCallback(_ callback: @escaping () -> Void) {
        guard let context = currentBackward else {
            usageFailure(UsageError("queue_callback", "Final callbacks can only be installed during backward pass."))
        }
        context.queue(callback)
    }

    static func runPostAccumulateGradHooks(_ leaf: Tensor) {
        guard let hooks = leaf.postAccumulateGradHooks as? PostAccumulateGradHooks else { return }
        // A hook may remove itself (or others): iterate over a snapshot.
        for entry in hooks.entries { entry.hook(leaf) }
    }
}
