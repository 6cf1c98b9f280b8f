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

func f64(_ values: [Double], _ shape: [Int], grad: Bool = true) -> Tensor {
    Tensor(values, shape: shape, requiresGrad: grad)
}
