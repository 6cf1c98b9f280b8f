import Foundation
import Testing
@testable import TensorCore

/// Raw kernels against naive index-by-index references.
@Suite struct KernelTests {
    /// The value of `t` (contiguous, `shape`) read at an output index broadcast from `out`.
    func broadcastValue(_ t: Tensor, _ index: [Int]) -> Double {
        let off = index.count - t.rank
        var flat = 0
        for d in 0..<t.rank { flat = flat * t.shape[d] + (t.shape[d] == 1 ? 0 : index[d + off]) }
        return t.doubleValue(at: flat)
    }

    func unravel(_ i: Int, _ shape: [Int]) -> [Int] {
        var idx = [Int](repeating: 0, count: shape.count)
        var r = i
        for d in stride(from: shape.count - 1, through: 0, by: -1) { idx[d] = r % shape[d]; r /= shape[d] }
        return idx
    }

    @Test(arguments: [
        ([3, 1, 4], [2, 1]), ([5, 17], [5, 17]), ([5, 17], [17]), ([5, 17], [5, 1]), ([], [4, 3]),
        ([2, 3, 1, 5], [3, 4, 1]), ([1], [33]), ([2, 1, 3], [1, 4, 1]), ([0, 3], [3]),
    ])
    func broadcastingMatchesReference(_ sa: [Int], _ sb: [Int]) {
        let g = Generator(seed: 7)
        for dt in [DType.float32, .float64] {
            let a = Tensor.uniform(sa, low: -2, high: 2, dtype: dt, generator: g)
            let b = Tensor.uniform(sb, low: 0.5, high: 2, dtype: dt, generator: g)
            for op in [BinaryOp.add, .sub, .mul, .div, .maximum] {
                let c = Kernels.binary(op, a, b)
                #expect(c.shape == (try? Kernels.broadcastShape(sa, sb, op: "t")))
                var ok = true
                for i in 0..<c.count {
                    let idx = unravel(i, c.shape)
                    let x = broadcastValue(a, idx), y = broadcastValue(b, idx)
                    let want: Double
                    switch op {
                    case .add: want = x + y
                    case .sub: want = x - y
                    case .mul: want = x * y
                    case .div: want = x / y
                    default: want = Swift.max(x, y)
                    }
                    if Swift.abs(c.doubleValue(at: i) - want) > 1e-5 * (1 + Swift.abs(want)) { ok = false }
                }
                #expect(ok, "\(op) \(dt) \(sa) \(sb)")
            }
            let m = Kernels.compare(.lt, a, b)
            var ok = true
            for i in 0..<m.count {
                let idx = unravel(i, m.shape)
                if (m.doubleValue(at: i) != 0) != (broadcastValue(a, idx) < broadcastValue(b, idx)) { ok = false }
            }
            #expect(ok)
        }
    }

    @Test func largeParallelRunsCoverEveryElement() {
        let n = 3 * 65536 + 5
        let a = Tensor.arange(0, Double(n)), b = Tensor.full([], 1)
        let c = Kernels.add(a, b)
        let p = c.pointer(as: Float.self)
        var ok = true
        for i in 0..<n where p[i] != Float(i + 1) { ok = false }
        #expect(ok)
        let rows = Kernels.add(a.viewData([n]).viewData([1, n]), Tensor.zeros([3, 1]))
        #expect(rows.shape == [3, n] && rows.pointer(as: Float.self)[2 * n + 7] == 7)
    }

    @Test func permuteMatchesReference() {
        let x = Tensor.arange(0, 120).viewData([2, 3, 4, 5])
        let y = Kernels.permute(x, [3, 1, 0, 2])
        #expect(y.shape == [5, 3, 2, 4])
        var ok = true
        for i in 0..<y.count {
            let j = unravel(i, y.shape)   // j = (d3, d1, d0, d2)
            let src = ((j[2] * 3 + j[1]) * 4 + j[3]) * 5 + j[0]
            if y.doubleValue(at: i) != Double(src) { ok = false }
        }
        #expect(ok)
    }

    @Test func reductionsOverManyDimCombinations() {
        let x = Tensor.uniform([3, 4, 5, 2], low: -1, high: 1, dtype: .float64, generator: Generator(seed: 3))
        for dims in [[0], [1], [3], [0, 2], [1, 3], [0, 1, 2, 3], [1, 2]] {
            let s = Kernels.sum(x, dims: dims, keepDim: true)
            var want = [Double](repeating: 0, count: s.count)
            for i in 0..<x.count {
                var idx = unravel(i, x.shape)
                for d in dims { idx[d] = 0 }
                var flat = 0
                for d in 0..<4 { flat = flat * s.shape[d] + idx[d] }
                want[flat] += x.doubleValue(at: i)
            }
            #expect(zip((0..<s.count).map { s.doubleValue(at: $0) }, want).allSatisfy { Swift.abs($0 - $1) < 1e-12 }, "\(dims)")
        }
    }

    @Test func castsBetweenAllDtypes() {
        let x = Tensor([0, 1.5, -2.5, 200] as [Double])
        #expect(Kernels.cast(x, to: .int64).toArray(of: Int64.self) == [0, 1, -2, 200])
        #expect(Kernels.cast(x, to: .uint8).toArray(of: UInt8.self) == [0, 1, 254, 200])
        #expect(Kernels.cast(x, to: .bool).toArray(of: Bool.self) == [false, true, true, true])
        #expect(Kernels.cast(x, to: .float32).scalars == [0, 1.5, -2.5, 200])
        #expect(Kernels.cast(Kernels.cast(x, to: .bool), to: .float64).toArray(of: Double.self) == [0, 1, 1, 1])
        #expect(Kernels.cast(x, to: .float64) === x)
    }

    @Test func sumToShapeReducesBroadcastDims() {
        let g = Tensor.ones([2, 3, 4])
        #expect(Kernels.sumToShape(g, [3, 1]).scalars == [8, 8, 8])
        #expect(Kernels.sumToShape(g, []).scalars == [24])
        #expect(throws: UsageError.self) { try Kernels.validateSumToShape([2, 3], [4]) }
    }

    @Test func tiledTransposeMatchesReference() {
        let shape = [2, 20, 33]
        let x = Tensor.arange(0, Double(shape.reduce(1, *)), dtype: .float64).viewData(shape)
        for p in [[0, 2, 1], [2, 1, 0], [1, 2, 0]] {
            let y = Kernels.permute(x, p)
            var ok = true
            for i in 0..<y.count {
                let j = unravel(i, y.shape)
                var src = [0, 0, 0]
                for (k, d) in p.enumerated() { src[d] = j[k] }
                if y.doubleValue(at: i) != Double((src[0] * 20 + src[1]) * 33 + src[2]) { ok = false }
            }
            #expect(ok, "\(p)")
        }
    }

    @Test func fastExpIsWithinAFewUlps() {
        var worst: Double = 0
        var x: Float = -87
        while x < 88.5 {
            let want = Foundation.exp(Double(x))
            let got = Double(fastExp(x))
            worst = Swift.max(worst, Swift.abs(got - want) / want)
            x += 0.0137
        }
        #expect(worst < 4e-7)
        #expect(fastExp(-200) == 0 && fastExp(200) == .infinity && fastExp(.nan).isNaN && fastExp(0) == 1)
        #expect(fastExp(-.infinity) == 0 && fastExp(.infinity) == .infinity)
    }

    @Test func fastTanhAndErfAreAccurate() {
        var worstTanh: Double = 0, worstErf: Double = 0
        var x: Float = -12
        while x < 12 {
            worstTanh = Swift.max(worstTanh, Swift.abs(Double(fastTanh(x)) - Foundation.tanh(Double(x))))
            worstErf = Swift.max(worstErf, Swift.abs(Double(fastErf(x)) - Foundation.erf(Double(x))))
            x += 0.00731
        }
        #expect(worstTanh < 3e-7)
        #expect(worstErf < 4e-7)   // the formula's 1.5e-7 plus float32 rounding
        #expect(fastTanh(1e-30) == 1e-30 && fastTanh(.infinity) == 1 && fastTanh(-.infinity) == -1 && fastTanh(.nan).isNaN)
        #expect(fastErf(.infinity) == 1 && fastErf(-.infinity) == -1 && fastErf(.nan).isNaN)
        // The float32 activations use them, and agree with the float64 (libm) path.
        let v = Tensor.uniform([1000], low: -6, high: 6, dtype: .float64, generator: Generator(seed: 9))
        for op in [UnaryOp.exp, .sigmoid, .tanh, .gelu, .geluTanh] {
            let a = Kernels.unary(op, Kernels.cast(v, to: .float32)), b = Kernels.unary(op, v)
            var ok = true
            for i in 0..<v.count {
                let want = b.doubleValue(at: i)
                if Swift.abs(a.doubleValue(at: i) - want) > 1e-6 + 1e-6 * Swift.abs(want) { ok = false }
            }
            #expect(ok, "\(op)")
            // Backward too (float32 fast loops vs float64 libm).
            let g = Tensor.uniform([1000], low: -1, high: 1, dtype: .float64, generator: Generator(seed: 10))
            let ga = Kernels.unaryBackward(op, grad: Kernels.cast(g, to: .float32), input: Kernels.cast(v, to: .float32), output: a)
            let gb = Kernels.unaryBackward(op, grad: g, input: v, output: b)
            var okBack = true
            for i in 0..<v.count {
                let want = gb.doubleValue(at: i)
                if Swift.abs(ga.doubleValue(at: i) - want) > 2e-6 + 1e-5 * Swift.abs(want) { okBack = false }
            }
            #expect(okBack, "backward \(op)")
        }
    }

    @Test func extremaFindFirstPositionsAndPropagateNaN() {
        let x = Tensor([5, 1, 5, 2, 1, 3, Float.nan, 3, Float.nan, 9, 0, 0, 0, 0, -1, 7, 7] as [Float], shape: [1, 17])
        let (v, i) = Kernels.extremum(x, dim: 1, keepDim: false, largest: true)
        #expect(v.scalars[0].isNaN && i.toArray(of: Int64.self) == [6])
        let rows = Tensor([5, 1, 5, 2, 1, 3, 0, 3, 2, 9, 0, 9, 0, 0, -1, 7, 7, -1] as [Float], shape: [2, 9])
        let (mv, mi) = Kernels.extremum(rows, dim: 1, keepDim: true, largest: true)
        #expect(mv.scalars == [5, 9] && mi.toArray(of: Int64.self) == [0, 0] && mv.shape == [2, 1])
        let (nv, ni) = Kernels.extremum(rows, dim: 1, keepDim: false, largest: false)
        #expect(nv.scalars == [0, -1] && ni.toArray(of: Int64.self) == [6, 5])
        let lead = Tensor([Float.nan, 1, 2] as [Float], shape: [3])
        #expect(Kernels.extremum(lead, dim: 0, keepDim: false, largest: false).indices.toArray(of: Int64.self) == [0])
    }

    @Test func softmaxRowsHandleExtremes() {
        let x = Tensor([-Float.infinity, 0, 1, 2, Float.nan, 0] as [Float], shape: [2, 3])
        let y = Kernels.softmax(x, dim: 1, log: false).scalars
        #expect(y[0] == 0 && Swift.abs(y[1] - 0.26894142) < 1e-6 && Swift.abs(y[2] - 0.7310586) < 1e-6)
        #expect(y[3...].allSatisfy { $0.isNaN })
        let big = Tensor([1000, 0, -1000] as [Float], shape: [1, 3])
        #expect(Kernels.softmax(big, dim: 1, log: true).scalars == [0, -1000, -2000])
    }
}
