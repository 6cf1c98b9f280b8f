import Foundation
import Testing
import TensorCore
import Autograd
import TestSupport

/// Forward values against hand-computed references, and the messages of the throwing checks.
@Suite struct OpForwardTests {
    @Test func arithmeticBroadcasts() {
        let a = Tensor([1, 2, 3] as [Float], shape: [3, 1])
        let b = Tensor([10, 20] as [Float], shape: [2])
        #expect((a + b).shape == [3, 2])
        #expect((a + b).scalars == [11, 21, 12, 22, 13, 23])
        #expect((a - b).scalars == [-9, -19, -8, -18, -7, -17])
        #expect((a * b).scalars == [10, 20, 20, 40, 30, 60])
        #expect((b / a).scalars == [10, 20, 5, 10, Float(10.0 / 3), Float(20.0 / 3)])
        #expect((a * 2).scalars == [2, 4, 6])
        #expect((1 - a).scalars == [0, -1, -2])
        #expect((6 / a).scalars == [6, 3, 2])
        #expect((-a).scalars == [-1, -2, -3])
        // Every scalar-operand form, on both sides (each has its own code).
        #expect((a + 2).scalars == [3, 4, 5] && (2 + a).scalars == [3, 4, 5])
        #expect((a - 2).scalars == [-1, 0, 1] && (2 - a).scalars == [1, 0, -1])
        #expect((a * 3).scalars == [3, 6, 9] && (3 * a).scalars == [3, 6, 9])
        #expect((a / 4).scalars == [0.25, 0.5, 0.75] && (3 / a).scalars == [3, 1.5, 1])
    }

    @Test func integerArithmeticAndPromotion() {
        let i = Tensor([1, 2, 3] as [Int64])
        #expect((i + i).dtype == .int64 && (i + i).toArray(of: Int64.self) == [2, 4, 6])
        #expect((i * 2).dtype == .int64)
        #expect((i / 2).dtype == .float32 && (i / 2).scalars == [0.5, 1, 1.5])
        #expect((i * 0.5).dtype == .float32)
        let f = Tensor([1, 1, 1] as [Float])
        #expect((i + f).dtype == .float32)
        #expect((f + Tensor([1, 1, 1] as [Double])).dtype == .float64)
        #expect(i.eq(2).toArray(of: Bool.self) == [false, true, false])
    }

    @Test func unaryValues() {
        let x = Tensor([-1, 0, 2] as [Double])
        #expect(close(doubles(x.relu()), [0, 0, 2]))
        #expect(close(doubles(x.abs()), [1, 0, 2]))
        #expect(close(doubles(x.exp()), [exp(-1), 1, exp(2)]))
        let sig: [Double] = [1 / (1 + exp(1.0)), 0.5, 1 / (1 + exp(-2.0))]
        #expect(close(doubles(x.sigmoid()), sig))
        #expect(close(doubles(x.tanh()), [tanh(-1), 0, tanh(2)]))
        #expect(close(doubles(x.gelu()), [-0.15865525393145707, 0, 1.9544997361036416]))
        #expect(close(doubles(x.gelu(approximate: .tanh)), [-0.15880800939172324, 0, 1.954597694087775]))
        #expect(close(doubles(x.elu()), [exp(-1) - 1, 0, 2]))
        let scale = 1.0507009873554805, alpha = 1.6732632423543772
        let selu: [Double] = [scale * alpha * (exp(-1.0) - 1), 0, 2 * scale]
        #expect(close(doubles(x.selu()), selu))
        #expect(close(doubles(x.clamp(min: -0.5, max: 1)), [-0.5, 0, 1]))
        #expect(close(doubles(x.pow(2)), [1, 0, 4]))
        let p = Tensor([4, 0.25] as [Float])
        #expect(p.sqrt().scalars == [2, 0.5])
        #expect(p.rsqrt().scalars == [0.5, 2])
        #expect(p.log().scalars == [Float(log(4.0)), Float(log(0.25))])
        // Stable at the extremes.
        let big = Tensor([-1000, 1000] as [Float])
        #expect(big.sigmoid().scalars == [0, 1])
    }

    /// float32 sqrt and rsqrt are correctly rounded, as `Float.squareRoot()` and `1 / squareRoot()`
    /// per element, over vector bodies and scalar tails and the special values (−0, NaN for
    /// negatives, ∞, subnormals).
    @Test func squareRootsAreCorrectlyRounded() {
        var state: UInt32 = 12345
        let specials: [Float] = [0, -0.0, -1, .infinity, -.infinity, .nan, .leastNonzeroMagnitude, .leastNormalMagnitude, 2, 4]
        for n in [1, 15, 16, 17, 33, 1000, 70_001] {
            let values: [Float] = (0..<n).map { i in
                state = state &* 1_664_525 &+ 1_013_904_223
                if i % 29 == 3 { return specials[Int(state >> 28) % specials.count] }
                return Float(bitPattern: state & 0x7F7F_FFFF)   // positive and finite, subnormals included
            }
            let x = Tensor(values)
            let root = x.sqrt().scalars, inverse = x.rsqrt().scalars
            let badRoot = values.indices.filter { root[$0].bitPattern != values[$0].squareRoot().bitPattern }
            let badInverse = values.indices.filter { inverse[$0].bitPattern != (1 / values[$0].squareRoot()).bitPattern }
            #expect(badRoot.count == 0, "sqrt n=\(n): \(badRoot.count) differ, first at \(badRoot.first.map { "\($0): \(values[$0])" } ?? "")")
            #expect(badInverse.count == 0, "rsqrt n=\(n): \(badInverse.count) differ")
        }
    }

    @Test func reductionValues() {
        let x = Tensor([1, 2, 3, 4, 5, 6] as [Float], shape: [2, 3])
        #expect(x.sum().item() == 21 && x.sum().shape == [])
        #expect(x.mean().item() == 3.5)
        #expect(x.sum(dim: 0).scalars == [5, 7, 9])
        #expect(x.sum(dim: -1, keepDim: true).shape == [2, 1])
        #expect(x.sum(dim: 1).scalars == [6, 15])
        #expect(x.mean(dims: [0, 1], keepDim: true).shape == [1, 1])
        #expect(x.variance(dims: [1]).scalars == [1, 1])
        #expect(x.variance(dims: [1], unbiased: false).scalars == [Float(2.0 / 3), Float(2.0 / 3)])
        #expect(x.max().item() == 6 && x.min().item() == 1)
        let (v, i) = Tensor([3, 9, 1, 7, 2, 8] as [Float], shape: [2, 3]).max(dim: 1)
        #expect(v.scalars == [9, 8] && i.toArray(of: Int64.self) == [1, 2])
        #expect(Tensor([3, 9, 1, 7, 2, 8] as [Float], shape: [2, 3]).argmax(dim: 0).toArray(of: Int64.self) == [1, 0, 1])
        #expect(Tensor([1, 2] as [Int64]).sum().dtype == .int64)
    }

    @Test func largeSumStaysAccurate() {
        // 1M values of 0.1 (+1000 offset): naive float accumulation drifts by whole units.
        let n = 1 << 20
        let x = Tensor.full([n], 1000.1)
        let s = Double(x.sum().item())
        #expect(Swift.abs(s - 1000.1 * Double(n)) / (1000.1 * Double(n)) < 1e-6)
        let cols = Tensor.full([n / 4, 4], 0.1).sum(dim: 0).scalars
        #expect(cols.allSatisfy { Swift.abs(Double($0) - 0.1 * Double(n / 4)) < 1e-6 * Double(n) })
    }

    @Test func softmaxValuesAndStability() {
        let x = Tensor([1, 2, 3, 1000, 1000, 1000] as [Float], shape: [2, 3])
        let s = x.softmax(dim: 1).scalars
        let e = [exp(-2.0), exp(-1.0), 1.0]
        let z = e.reduce(0, +)
        let third: Double = 1.0 / 3
        let want: [Double] = e.map { $0 / z } + [third, third, third]
        #expect(close(s.map { Double($0) }, want, tol: 1e-6))
        let ls = x.logSoftmax(dim: -1).scalars
        let wantLog: [Double] = want.map { log($0) }
        #expect(close(ls.map { Double($0) }, wantLog, tol: 1e-5))
    }

    @Test func shapeOpsValues() {
        let x = Tensor.arange(0, 6).reshaped([2, 3])
        #expect(x.transposed().scalars == [0, 3, 1, 4, 2, 5] && x.transposed().shape == [3, 2])
        #expect(x.reshaped([3, -1]).shape == [3, 2] && x.reshaped([3, 2]).sharesStorage(with: x))
        #expect(x.flattened().shape == [6])
        #expect(x.unsqueezed(dim: -1).shape == [2, 3, 1] && x.unsqueezed(dim: 0).squeezed(dim: 0).shape == [2, 3])
        #expect(x.reshaped([1, 2, 1, 3, 1]).squeezed().shape == [2, 3] && x.reshaped([1, 2, 1, 3, 1]).squeezed().scalars == x.scalars)
        #expect(Tensor.ones([1, 1]).squeezed().shape == [] && x.squeezed(dim: 1).shape == [2, 3])
        let y = Tensor.arange(0, 24).reshaped([2, 3, 4]).permuted([2, 0, 1])
        #expect(y.shape == [4, 2, 3] && Array(y.scalars.prefix(4)) == [0, 4, 8, 12])
        #expect(Tensor([1, 2, 3] as [Float], shape: [3, 1]).expanded(to: [2, 3, 2]).scalars == [1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3])
        #expect(Tensor.ones([2, 3, 4]).sumToShape([3, 1]).scalars == [8, 8, 8])
        // -1 keeps the size of the matching (right-aligned) dim.
        let col = Tensor([1, 2, 3] as [Float], shape: [3, 1])
        #expect(col.expanded(to: [2, -1, 2]).shape == [2, 3, 2] && col.expanded(to: [2, -1, 2]).scalars == [1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3])
        #expect(x.to(.int64).dtype == .int64 && Tensor([1.7, -1.7] as [Float]).to(.int64).toArray(of: Int64.self) == [1, -1])
        #expect(Tensor([0, 2] as [Float]).to(.bool).toArray(of: Bool.self) == [false, true])
        #expect(Tensor([255, 3] as [UInt8]).to(.float32).scalars == [255, 3])
    }

    @Test func indexingValues() {
        let x = Tensor.arange(0, 6).reshaped([2, 3])
        #expect(Tensor.concat([x, x], dim: 1).scalars == [0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5])
        #expect(Tensor.stack([x, x], dim: 0).shape == [2, 2, 3])
        #expect(Tensor.stack([x], dim: -1).shape == [2, 3, 1] && Tensor.stack([x], dim: -1).scalars == x.scalars)
        #expect(x.sliced(dim: 1, start: 1, end: 3).scalars == [1, 2, 4, 5])
        #expect(x.sliced(dim: 1, start: -1, end: 10).scalars == [2, 5])
        #expect(x[1].scalars == [3, 4, 5] && x[-2].scalars == [0, 1, 2])
        #expect(x.indexSelect(dim: 1, index: Tensor([2, 0] as [Int64])).scalars == [2, 0, 5, 3])
        #expect(x.chunked(2, dim: 1).map(\.shape) == [[2, 2], [2, 1]])
        #expect(x.chunked(1, dim: 0).map(\.shape) == [[2, 3]] && x.chunked(1).first?.scalars == x.scalars)
        #expect(x.chunked(5, dim: 1).map(\.shape) == [[2, 1], [2, 1], [2, 1]])
        #expect(x.masked(fill: -1, where: x.gt(3)).scalars == [0, 1, 2, 3, -1, -1])
        #expect(Tensor.where(x.lt(2), x, Tensor.full([], 9)).scalars == [0, 1, 9, 9, 9, 9])
        #expect(x.eq(x).toArray(of: Bool.self).allSatisfy { $0 })
        #expect(x.le(1).toArray(of: Bool.self) == [true, true, false, false, false, false])
        #expect(x.ne(1).toArray(of: Bool.self) == [true, false, true, true, true, true])
        #expect(x.ge(Tensor([4] as [Float])).toArray(of: Bool.self) == [false, false, false, false, true, true])
    }

    @Test func errorsNameTheOpAndBothShapes() {
        let a = Tensor.zeros([2, 3]), b = Tensor.zeros([4])
        #expect(throws: UsageError("add", "The size of tensor a (3) must match the size of tensor b (4) at non-singleton dimension 1 (shapes [2, 3] and [4])")) {
            try Tensor.validateBroadcast(a, b, op: "add")
        }
        #expect(throws: UsageError("reshape", "shape '[4, 2]' is invalid for input of size 6")) { try a.validateReshape([4, 2]) }
        #expect(throws: UsageError("reshape", "only one dimension can be inferred")) { try a.validateReshape([-1, -1]) }
        #expect(throws: UsageError("cat", "Sizes of tensors must match except in dimension 0. Expected size 3 but got size 4 for tensor number 1 in the list.")) {
            try Tensor.validateConcat([a, Tensor.zeros([2, 4])], dim: 0)
        }
        #expect(throws: UsageError("stack", "stack expects each tensor to be equal size, but got [2, 3] at entry 0 and [4] at entry 1")) {
            try Tensor.validateStack([a, b])
        }
        #expect(throws: UsageError("sum", "Dimension out of range (expected to be in range of [-2, 1], but got 2)")) {
            try Kernels.normalizeDim(2, rank: 2, op: "sum")
        }
        #expect(throws: UsageError("expand", "The expanded size of the tensor (4) must match the existing size (3) at non-singleton dimension 1.  Target sizes: [2, 4].  Tensor sizes: [3]")) {
            try Kernels.validateExpand([3], to: [2, 4])
        }
        #expect(throws: UsageError("stack", "Dimension out of range (expected to be in range of [-3, 2], but got 3)")) {
            try Tensor.validateStack([a], dim: 3)
        }
        #expect(throws: UsageError.self) { try a.validatePermutation([0, 0]) }
        #expect(throws: UsageError.self) { try a.validateIndexSelect(dim: 0, index: Tensor([2] as [Int64])) }
        #expect(throws: UsageError.self) { try a.validateMasked(Tensor.zeros([3, 2, 3], dtype: .bool)) }
    }
}
