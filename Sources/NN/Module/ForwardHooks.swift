import TensorCore

/// Removes the hook it was returned for, like `torch.utils.hooks.RemovableHandle`.
///
/// ```swift
/// let handle = model.registerForwardHook { module, input, output in print(module.typeName, output.shape) }
/// _ = model(x)
/// handle.remove()
/// ```
public final class RemovableHandle {
    private weak var module: Module?
    private let id: Int

    init(module: Module, id: Int) {
        self.module = module
        self.id = id
    }

    /// Unregisters the hook; calling it again does nothing.
    public func remove() {
        module?.forwardHooks.removeAll { $0.id == id }
    }
}

/// Hook ids, unique within the process (hooks are registered from the thread that runs the model).
nonisolated(unsafe) private var nextHookID = 0

extension Module {
    /// Called after every ``forward(_:)`` of this module (when it is called as `module(x)`), with
    /// the module, its input and its output — like PyTorch's `register_forward_hook`. Hooks run in
    /// the order they were registered; they observe, they do not replace the output.
    ///
    /// ```swift
    /// var shapes: [[Int]] = []
    /// let handle = model.registerForwardHook { _, _, output in shapes.append(output.shape) }
    /// _ = model(x)
    /// handle.remove()
    /// ```
    @discardableResult
    public func registerForwardHook(_ hook: @escaping (Module, Tensor, Tensor) -> Void) -> RemovableHandle {
        nextHookID += 1
        forwardHooks.append((nextHookID, hook))
        return RemovableHandle(module: self, id: nextHookID)
    }
}
