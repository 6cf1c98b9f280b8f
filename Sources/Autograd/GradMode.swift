import TensorCore

/// Whether operations record the graph for differentiation. Training code is driven from one
/// thread, like PyTorch's Python loop; kernels' worker threads never consult it.
public enum GradMode {
    // Task-local (thread-local outside tasks), like PyTorch's thread-local grad mode: a
    // `withNoGrad` on one thread (e.g. a concurrently running test) must not switch off
    // recording on another.
    @TaskLocal private static var enabledFlag = true

    /// True unless inside ``withNoGrad(_:)`` or ``inferenceMode(_:)``.
    public static var isEnabled: Bool { enabledFlag && !InferenceFlag.enabled }

    /// Runs `body` with recording switched on or off, restoring the previous mode afterwards.
    public static func with<R>(enabled: Bool, _ body: () throws -> R) rethrows -> R {
        try $enabledFlag.withValue(enabled, operation: body)
    }
}

/// Runs `body` without recording any operation for differentiation, like `torch.no_grad()`.
///
/// ```swift
/// let logits = withNoGrad { model(x) }    // no graph, no saved activations
/// ```
@discardableResult
public func withNoGrad<R>(_ body: () throws -> R) rethrows -> R {
    try GradMode.with(enabled: false, body)
}

/// Runs `body` with recording switched on again (inside a `withNoGrad` block).
@discardableResult
public func withGrad<R>(_ body: () throws -> R) rethrows -> R {
    try GradMode.with(enabled: true, body)
}
