import Foundation
import TensorCore

/// Compares the analytic gradient of `f` with central finite differences, like
/// `torch.autograd.gradcheck`.
///
/// The inputs that `requiresGrad` must be float64. A fixed pseudo-random vector `v` of the
/// output's shape is back-propagated (`f(x).backward(v)`), and every input element's analytic
/// `vᵀJ` entry is compared with `(v·f(x + eps) − v·f(x − eps)) / 2eps`; an entry passes when
/// `|analytic − numeric| ≤ atol + rtol·|numeric|`. Failures are printed (input, element,
/// both values). Inputs' `.grad` are reset and left holding the analytic gradient.
///
/// ```swift
/// let a = Tensor.randn([3, 1, 4], dtype: .float64, requiresGrad: true)
/// let b = Tensor.randn([2, 1], dtype: .float64, requiresGrad: true)
/// #expect(gradcheck({ $0[0] * $0[1] }, inputs: [a, b]))
/// ```
@discardableResult
public func gradcheck(_ f: ([Tensor]) -> Tensor, inputs: [Tensor], eps: Double = 1e-6,
                      atol: Double = 1e-5, rtol: Double = 1e-3, name: String? = nil) -> Bool {
    let label = name.map { "gradcheck(\($0))" } ?? "gradcheck"
    for (i, x) in inputs.enumerated() where x.requiresGrad {
        guard x.dtype == .float64 else {
            print("\(label): input \(i) is \(x.dtype); gradcheck needs float64 inputs")
            return false
        }
        guard x.isLeaf else {
            print("\(label): input \(i) is not a leaf tensor")
            return false
        }
    }
    // Analytic: vᵀJ through backward.
    for x in inputs { x.grad = nil }
    let y = GradMode.with(enabled: true) { f(inputs) }
    guard y.dtype == .float64 else {
        print("\(label): output is \(y.dtype), expected float64")
        return false
    }
    let v = Tensor(uninitializedShape: y.shape, dtype: .float64)
    for k in 0..<v.count {
        // Deterministic weights in [0.5, 1.5) with varying signs: no input-independent symmetry.
        let h = Double((UInt64(k) &* 0x9E37_79B9_7F4A_7C15) >> 40) / Double(1 << 24)
        v.setValue((k % 3 == 1 ? -1 : 1) * (0.5 + h), at: k)
    }
    if y.requiresGrad { y.backward(v) }

    func weighted(_ out: Tensor) -> Double {
        var s = 0.0
        for k in 0..<out.count { s += out.doubleValue(at: k) * v.doubleValue(at: k) }
        return s
    }
    var ok = true
    var failures = 0
    for (i, x) in inputs.enumerated() where x.requiresGrad {
        let analytic = x.grad
        if let a = analytic, a.shape != x.shape {
            print("\(label): input \(i) got a gradient of shape \(shapeString(a.shape)), expected \(shapeString(x.shape))")
            return false
        }
        for k in 0..<x.count {
            let orig = x.doubleValue(at: k)
            x.setValue(orig + eps, at: k)
            let plus = withNoGrad { weighted(f(inputs)) }
            x.setValue(orig - eps, at: k)
            let minus = withNoGrad { weighted(f(inputs)) }
            x.setValue(orig, at: k)
            let numeric = (plus - minus) / (2 * eps)
            let a = analytic?.doubleValue(at: k) ?? 0
            let diff = Swift.abs(a - numeric)
            if !(diff <= atol + rtol * Swift.abs(numeric)) {
                ok = false
                failures += 1
                if failures <= 10 {
                    print("\(label): input \(i) \(shapeString(x.shape)) element \(k): analytic \(a), numeric \(numeric), difference \(diff) > \(atol + rtol * Swift.abs(numeric))")
                }
            }
        }
    }
    if failures > 10 { print("\(label): … \(failures) mismatching elements in all") }
    return ok
}
