import Foundation
import TensorCore
import NN

/// Rescales the gradients of `parameters` in place so that their combined norm is at most
/// `maxNorm`, like `torch.nn.utils.clip_grad_norm_`; returns the norm before clipping (0-d
/// float32). `normType` is p (2: Euclidean; `.infinity`: largest magnitude). Parameters without a
/// gradient are skipped.
///
/// ```swift
/// loss.backward()
/// clipGradNorm(model.parameters(), maxNorm: 1.0)
/// optimizer.step()
/// ```
@discardableResult
public func clipGradNorm(_ parameters: [Tensor], maxNorm: Double, normType: Double = 2) -> Tensor {
    usageCheck(normType > 0, "clip_grad_norm_", "norm_type must be positive, got \(normType)")
    let grads = parameters.compactMap(\.grad)
    // Each gradient's norm rounded to float32, then the norm of those norms (PyTorch's order).
    let perTensor = grads.map { Double(Float(Kernels.norm($0, p: normType))) }
    let total = Float(Kernels.norm(Tensor(perTensor), p: normType))
    let coef = min(Float(maxNorm) / (total + 1e-6), 1)
    for g in grads { Kernels.unary(.scale(Double(coef)), g, into: g) }
    return Tensor(scalar: total)
}

/// Clamps every gradient element of `parameters` to [−clipValue, clipValue] in place, like
/// `torch.nn.utils.clip_grad_value_`.
///
/// ```swift
/// clipGradValue(model.parameters(), clipValue: 0.5)
/// ```
public func clipGradValue(_ parameters: [Tensor], clipValue: Double) {
    for g in parameters.compactMap(\.grad) { Kernels.unary(.clamp(min: -clipValue, max: clipValue), g, into: g) }
}
