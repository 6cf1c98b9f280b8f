import TensorCore

extension GradMode {
    /// True inside ``inferenceMode(_:)``, like `torch.is_inference_mode_enabled()`.
    public static var isInferenceMode: Bool { InferenceFlag.enabled }
}

/// Task-local like the grad mode it accompanies.
enum InferenceFlag {
    @TaskLocal static var enabled = false
}

/// Runs `body` for inference, like `torch.inference_mode()`: nothing is recorded for
/// differentiation (as in ``withNoGrad(_:)``), and in-place layers (`ReLU(inplace: true)`) always
/// write in place. `withGrad` inside it does not switch recording back on, since inference code
/// is not meant to be differentiated.
///
/// ```swift
/// let predictions = inferenceMode { model(x).argmax(dim: 1) }
/// ```
@discardableResult
public func inferenceMode<R>(_ body: () throws -> R) rethrows -> R {
    try InferenceFlag.$enabled.withValue(true) {
        try GradMode.with(enabled: false, body)
    }
}
