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
    // Each gradient's norm, then the norm of those norms (PyTorch's order), rounded to float32.
    func norm(_ values: [Double]) -> Double {
        if normType.isInfinite { return values.reduce(0) { max($0, $1) } }
        return Foundation.pow(values.reduce(0) { $0 + Foundation.pow($1, normType) }, 1 / normType)
    }
    let perTensor: [Double] = grads.map { g in
        var values = [Double](repeating: 0, count: g.count)
        for i in 0..<g.count { values[i] = abs(g.doubleValue(at: i)) }
        return Double(Float(norm(values)))
    }
    let total = Float(norm(perTensor))
    let coef = min(Float(maxNorm) / (total + 1e-6), 1)
    for g in grads {
        switch g.dtype {
        case .float32:
            let p = g.pointer(as: Float.self)
            for i in 0..<g.count { p[i] *= coef }
        default:
            for i in 0..<g.count { g.setValue(g.doubleValue(at: i) * Double(coef), at: i) }
        }
    }
    return Tensor(scalar: total)
}

/// Clamps every gradient element of `parameters` to [−clipValue, clipValue] in place, like
/// `torch.nn.utils.clip_grad_value_`.
///
/// ```swift
/// clipGradValue(model.parameters(), clipValue: 0.5)
/// ```
public func clipGradValue(_ parameters: [Tensor], clipValue: Double) {
    for g in parameters.compactMap(\.grad) {
        for i in 0..<g.count { g.setValue(min(max(g.doubleValue(at: i), -clipValue), clipValue), at: i) }
    }
}
