import TensorCore

// PyTorch parity checks shared by the test targets: |got − want| ≤ atol + rtol·|want| elementwise
// (the project's tolerance, 1e-5 + 1e-4·|want|, by default). Written independently of the
// library's own `allclose`, which they must not rely on.

/// `got` and `want` have the same length and agree within the tolerance.
public func allClose(_ got: [Float], _ want: [Double], atol: Double = 1e-5, rtol: Double = 1e-4) -> Bool {
    guard got.count == want.count else { return false }
    return zip(got, want).allSatisfy { abs(Double($0) - $1) <= atol + rtol * abs($1) }
}

/// `got` and `want` have the same number of elements and agree within the tolerance.
public func allClose(_ got: Tensor, _ want: Tensor, atol: Double = 1e-5, rtol: Double = 1e-4) -> Bool {
    guard got.count == want.count else { return false }
    return (0..<got.count).allSatisfy {
        let g = got.doubleValue(at: $0), w = want.doubleValue(at: $0)
        return abs(g - w) <= atol + rtol * abs(w)
    }
}

/// The largest elementwise |got − want| (over the common prefix), for failure messages.
public func maxAbsDiff(_ got: Tensor, _ want: Tensor) -> Double {
    (0..<min(got.count, want.count)).map { abs(got.doubleValue(at: $0) - want.doubleValue(at: $0)) }.max() ?? 0
}

/// Every element as a Double, in row-major order (any dtype).
public func doubles(_ t: Tensor) -> [Double] { (0..<t.count).map { t.doubleValue(at: $0) } }

/// A float64 tensor from `values`, requiring grad by default (gradient checks and references).
public func f64(_ values: [Double], _ shape: [Int], grad: Bool = true) -> Tensor {
    Tensor(values, shape: shape, requiresGrad: grad)
}
