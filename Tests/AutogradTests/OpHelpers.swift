import Testing
import TensorCore
import Autograd

/// A float64 leaf with values from `lo..<hi`, requiring grad, from a per-call generator so that
/// concurrently running tests stay deterministic.
func leaf(_ shape: [Int], seed: UInt64, lo: Double = -2, hi: Double = 2, requiresGrad: Bool = true) -> Tensor {
    let t = Tensor.uniform(shape, low: lo, high: hi, dtype: .float64, generator: Generator(seed: seed))
    t.requiresGrad = requiresGrad
    return t
}

/// Values away from 0 (kinks of abs/relu/clamp) by at least `gap`.
func leafAwayFromZero(_ shape: [Int], seed: UInt64, gap: Double = 0.1) -> Tensor {
    let t = leaf(shape, seed: seed, requiresGrad: false)
    for i in 0..<t.count {
        let v = t.doubleValue(at: i)
        t.setValue(v >= 0 ? v + gap : v - gap, at: i)
    }
    t.requiresGrad = true
    return t
}

func close(_ got: [Double], _ want: [Double], tol: Double = 1e-6) -> Bool {
    guard got.count == want.count else { return false }
    return zip(got, want).allSatisfy { Swift.abs($0 - $1) <= tol + tol * Swift.abs($1) }
}
