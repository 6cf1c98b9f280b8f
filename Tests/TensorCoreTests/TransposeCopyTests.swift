import Autograd
import Testing
@testable import TensorCore

/// Transposing copies (a permutation that moves the stride-1 dim inward) go through tiles: 16×16
/// register transposes for 4-byte elements on AVX-512, element copies otherwise. Every element
/// must land where the permutation puts it, bits unchanged (NaN payloads included).
@Suite struct TransposeCopyTests {
    /// `permuted(perm)` of a tensor of `shape` holding 0, 1, 2, … element by element.
    func check(shape: [Int], perm: [Int], dtype: DType) {
        let n = shape.reduce(1, *)
        let x = Tensor.arange(0, Double(n)).reshaped(shape).to(dtype)
        let y = x.permuted(perm)
        let outShape = perm.map { shape[$0] }
        #expect(y.shape == outShape)
        let got = y.to(.float64).toArray(of: Double.self)
        let inStrides = Kernels.contiguousStrides(shape), outStrides = Kernels.contiguousStrides(outShape)
        var bad = 0
        for o in 0..<n {
            var src = 0
            for d in 0..<outShape.count { src += (o / outStrides[d]) % outShape[d] * inStrides[perm[d]] }
            if got[o] != Double(src) { bad += 1 }
        }
        #expect(bad == 0, "\(shape) permuted \(perm), \(dtype): \(bad) of \(n) misplaced")
    }

    @Test("matrices and batches, edges not multiples of 16", arguments: [DType.float32, .float64])
    func placement(dtype: DType) {
        check(shape: [16, 16], perm: [1, 0], dtype: dtype)
        check(shape: [17, 33], perm: [1, 0], dtype: dtype)
        check(shape: [100, 70], perm: [1, 0], dtype: dtype)
        check(shape: [3, 40, 19], perm: [0, 2, 1], dtype: dtype)
        check(shape: [2, 3, 65, 18], perm: [1, 0, 3, 2], dtype: dtype)
        check(shape: [130, 2, 20], perm: [2, 1, 0], dtype: dtype)
    }

    @Test("float32 bits move unchanged: NaN payloads, −0, subnormals")
    func bitsUnchanged() {
        let specials: [UInt32] = [0x7FC0_1234, 0xFFC0_0001, 0x7F80_0001, 0x8000_0000, 0x0000_0001, 0x7F80_0000]
        let bits = (0..<(40 * 24)).map { i in i % 7 == 0 ? specials[(i / 7) % specials.count] : UInt32(truncatingIfNeeded: i &* 2_654_435_761) }
        let x = Tensor(bits.map { Float(bitPattern: $0) }, shape: [40, 24])
        let y = x.transposed().toArray(of: Float.self).map(\.bitPattern)
        var bad = 0
        for r in 0..<24 { for c in 0..<40 where y[r * 40 + c] != bits[c * 24 + r] { bad += 1 } }
        #expect(bad == 0, "\(bad) of \(bits.count) elements changed or misplaced")
    }
}
