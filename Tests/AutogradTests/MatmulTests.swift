import Testing
import Foundation
import TensorCore
@testable import Autograd

/// The shared float64 finite-difference check, with every input made a leaf that requires grad.
func matmulGradcheck(_ f: ([Tensor]) -> Tensor, inputs: [Tensor], eps: Double = 1e-6, atol: Double = 1e-5, rtol: Double = 1e-3) -> Bool {
    for x in inputs { x.requiresGrad = true; x.grad = nil }
    return gradcheck(f, inputs: inputs, eps: eps, atol: atol, rtol: rtol)
}

private func randomTensor(_ shape: [Int], _ dtype: DType = .float64, seed: Int = 0) -> Tensor {
    let t = Tensor(uninitializedShape: shape, dtype: dtype)
    for i in 0..<t.count { t.setValue(sin(Double(i * 31 + seed * 17 + 1)) , at: i) }
    return t
}

/// matmul by definition, on Doubles: out[batch…, i, j] = Σ_p a[…, i, p] b[…, p, j], with batch
/// broadcasting done by explicit index arithmetic.
private func naiveMatmul(_ a: Tensor, _ b: Tensor) -> [Double] {
    let a2 = a.rank == 1 ? [1] + a.shape : a.shape
    let b2 = b.rank == 1 ? b.shape + [1] : b.shape
    let m = a2[a2.count - 2], k = a2[a2.count - 1], n = b2[b2.count - 1]
    let ab = Array(a2.dropLast(2)), bb = Array(b2.dropLast(2))
    let r = max(ab.count, bb.count)
    let pa = [Int](repeating: 1, count: r - ab.count) + ab, pb = [Int](repeating: 1, count: r - bb.count) + bb
    let batch = zip(pa, pb).map { max($0, $1) }
    var out: [Double] = []
    let total = batch.reduce(1, *)
    for e in 0..<total {
        var idx = [Int](repeating: 0, count: r), rem = e
        for d in stride(from: r - 1, through: 0, by: -1) { idx[d] = rem % batch[d]; rem /= batch[d] }
        var ia = 0, ib = 0
        for d in 0..<r { ia = ia * pa[d] + (pa[d] == 1 ? 0 : idx[d]); ib = ib * pb[d] + (pb[d] == 1 ? 0 : idx[d]) }
        for i in 0..<m { for j in 0..<n {
            var s = 0.0
            for p in 0..<k { s += a.doubleValue(at: ia * m * k + i * k + p) * b.doubleValue(at: ib * k * n + p * n + j) }
            out.append(s)
        } }
    }
    return out
}

@Suite struct MatmulTests {
    static let shapePairs: [([Int], [Int], [Int])] = [
        ([3], [3], []),
        ([2, 3], [3, 4], [2, 4]),
        ([3], [3, 4], [4]),
        ([2, 3], [3], [2]),
        ([2, 2, 3], [3, 4], [2, 2, 4]),
        ([3], [2, 3, 4], [2, 4]),
        ([2, 3], [2, 3, 4], [2, 2, 4]),
        ([2, 1, 2, 3], [3, 3, 2], [2, 3, 2, 2]),
        ([1, 2, 3], [2, 3, 2], [2, 2, 2]),
        ([2, 2, 3], [3], [2, 2]),
        ([2, 2, 3], [2, 3, 1], [2, 2, 1]),
    ]

    @Test func forwardMatchesDefinition() {
        for (sa, sb, so) in Self.shapePairs {
            for dtype in [DType.float32, .float64] {
                let a = randomTensor(sa, dtype, seed: 1), b = randomTensor(sb, dtype, seed: 2)
                let c = a.matmul(b)
                #expect(c.shape == so, "\(sa) @ \(sb)")
                #expect(c.dtype == dtype)
                let want = naiveMatmul(a, b)
                let ok = want.count == c.count && (0..<c.count).allSatisfy { abs(c.doubleValue(at: $0) - want[$0]) <= 1e-5 + 1e-5 * abs(want[$0]) }
                #expect(ok, "\(sa) @ \(sb) \(dtype)")
            }
        }
    }

    @Test func gradcheckEveryShapeCombination() {
        for (sa, sb, _) in Self.shapePairs {
            let a = randomTensor(sa, seed: 3), b = randomTensor(sb, seed: 4)
            #expect(matmulGradcheck({ $0[0].matmul($0[1]) }, inputs: [a, b]), "\(sa) @ \(sb)")
        }
    }

    @Test func gradientOnlyForInputsThatNeedIt() {
        let a = randomTensor([2, 3]), b = randomTensor([3, 2])
        b.requiresGrad = true
        let c = a.matmul(b)
        #expect(c.requiresGrad && c.gradFunctionName == "matmul")
        c.backward(Tensor.ones([2, 2], dtype: .float64))
        #expect(a.grad == nil)
        #expect(b.grad?.shape == [3, 2])
    }

    @Test func largerFoldedAndBatchedProducts() {
        // Big enough for the packed kernel (and, folded, for several row blocks).
        let a = randomTensor([3, 20, 30], .float32, seed: 5), b = randomTensor([30, 25], .float32, seed: 6)
        let c = a.matmul(b), want = naiveMatmul(a, b)
        #expect((0..<c.count).allSatisfy { abs(c.doubleValue(at: $0) - want[$0]) <= 1e-4 + 1e-5 * abs(want[$0]) })
        let b3 = randomTensor([3, 30, 25], .float32, seed: 7)
        let c3 = a.matmul(b3), want3 = naiveMatmul(a, b3)
        #expect((0..<c3.count).allSatisfy { abs(c3.doubleValue(at: $0) - want3[$0]) <= 1e-4 + 1e-5 * abs(want3[$0]) })
    }

    @Test func linearMatchesMatmulAndGradchecks() {
        let x = randomTensor([4, 3], seed: 8), w = randomTensor([5, 3], seed: 9), b = randomTensor([5], seed: 10)
        let y = x.linear(weight: w, bias: b)
        let ref = naiveMatmul(x, Tensor((0..<15).map { i in w.doubleValue(at: (i % 5) * 3 + i / 5) }, shape: [3, 5]))
        #expect((0..<20).allSatisfy { abs(y.doubleValue(at: $0) - ref[$0] - b.doubleValue(at: $0 % 5)) < 1e-12 })
        #expect(matmulGradcheck({ $0[0].linear(weight: $0[1], bias: $0[2]) }, inputs: [x, w, b]))
        #expect(matmulGradcheck({ $0[0].linear(weight: $0[1]) }, inputs: [randomTensor([2, 3, 3], seed: 11), w]))
    }

    @Test func errorsNameBothShapes() {
        func message(_ a: [Int], _ b: [Int]) -> String? {
            do { _ = try Tensor.matmulShape(a, b); return nil } catch { return error.message }
        }
        #expect(message([2, 3], [4, 5]) == "mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)")
        #expect(message([3], [4]) == "inconsistent tensor size, expected tensor [3] and src [4] to have the same number of elements, but got 3 and 4 elements respectively")
        #expect(message([2, 3], [4]) == "size mismatch, got input (2), mat (2x3), vec (4)")
        #expect(message([3], [4, 5]) == "mat1 and mat2 shapes cannot be multiplied (1x3 and 4x5)")
        #expect(message([2, 2, 3], [4, 5]) == "mat1 and mat2 shapes cannot be multiplied (4x3 and 4x5)")
        #expect(message([], [3]) == "both arguments to matmul need to be at least 1D, but they are 0D and 1D")
        #expect(message([2, 2, 3], [3, 3, 4])?.hasPrefix("The size of tensor a (2) must match the size of tensor b (3) at non-singleton dimension 0") == true)
        #expect(message([2, 2, 3], [2, 4, 4])?.contains("[2, 2, 3] and [2, 4, 4]") == true)
        #expect(message([2, 1, 2, 3], [3, 3, 2]) == nil)
    }
}
