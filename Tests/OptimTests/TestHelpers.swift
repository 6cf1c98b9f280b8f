import Testing
import SwiftNN

/// The fixture tolerance: |got − want| ≤ atol + rtol·|want| elementwise.
func allClose(_ got: [Float], _ want: [Double], atol: Double = 1e-5, rtol: Double = 1e-4) -> Bool {
    guard got.count == want.count else { return false }
    return zip(got, want).allSatisfy { abs(Double($0) - $1) <= atol + rtol * abs($1) }
}

func allClose(_ got: Tensor, _ want: Tensor, atol: Double = 1e-5, rtol: Double = 1e-4) -> Bool {
    guard got.count == want.count else { return false }
    return (0..<got.count).allSatisfy {
        let g = got.doubleValue(at: $0), w = want.doubleValue(at: $0)
        return abs(g - w) <= atol + rtol * abs(w)
    }
}

func maxAbsDiff(_ got: Tensor, _ want: Tensor) -> Double {
    (0..<min(got.count, want.count)).map { abs(got.doubleValue(at: $0) - want.doubleValue(at: $0)) }.max() ?? 0
}

/// Central finite-difference check in float64 of every input that requires grad: the analytic
/// gradient of Σ g·f(inputs) (g a fixed pseudo-random upstream for non-scalar outputs) against
/// (f(x + ε) − f(x − ε)) / 2ε.
func finiteDifferenceCheck(_ f: ([Tensor]) -> Tensor, inputs: [Tensor], eps: Double = 1e-6,
                           atol: Double = 1e-5, rtol: Double = 1e-3) -> Bool {
    for t in inputs where t.requiresGrad { t.grad = nil }
    let out = f(inputs)
    let upstream = Tensor(uninitializedShape: out.shape, dtype: out.dtype)
    for i in 0..<out.count { upstream.setValue(out.count == 1 ? 1 : 0.3 + 0.7 * Double((i * 7919) % 13) / 13, at: i) }
    out.backward(upstream)
    func objective() -> Double {
        let o = f(inputs)   // no withNoGrad: GradMode is process-wide and tests run in parallel
        return (0..<o.count).reduce(0) { $0 + o.doubleValue(at: $1) * upstream.doubleValue(at: $1) }
    }
    for t in inputs where t.requiresGrad {
        guard let grad = t.grad else { return false }
        for i in 0..<t.count {
            let v = t.doubleValue(at: i)
            t.setValue(v + eps, at: i); let plus = objective()
            t.setValue(v - eps, at: i); let minus = objective()
            t.setValue(v, at: i)
            let numeric = (plus - minus) / (2 * eps)
            let analytic = grad.doubleValue(at: i)
            if abs(numeric - analytic) > atol + rtol * abs(numeric) {
                print("gradcheck mismatch at \(i): numeric \(numeric) analytic \(analytic)")
                return false
            }
        }
    }
    return true
}

func f64(_ values: [Double], _ shape: [Int], grad: Bool = true) -> Tensor {
    Tensor(values, shape: shape, requiresGrad: grad)
}
