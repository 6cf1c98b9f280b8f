import Autograd
import CKernelSupport
import Foundation
import Testing
@testable import TensorCore

/// The transcendental activations' AVX-512 kernels (activation_kernels.c) and softmax's row passes
/// (row_kernels.c) must give bit for bit what their Swift definitions give (FloatMath.swift,
/// ElementFunctions.swift, Softmax.swift): e^x, the sigmoid, tanh, both GELUs and SiLU and their gradients,
/// ELU and SELU and their gradients, softmax rows, over every exponent, the clamps' and branches'
/// edges, special values and the masked tail. fastExpm1's own accuracy is checked against libm.
@Suite(.enabled(if: NormCKernelTests.runs, "this CPU lacks AVX-512F"))
struct ActivationCKernelTests {
    /// Every float exponent with random mantissas and both signs, a dense grid over [−30, 30], the
    /// constants where the definitions switch branches (±1 ulp), and the special values.
    static let inputs: [Float] = {
        var inputs = KernelInputs(seed: 12345, specials: [
            0, -0.0, .infinity, -.infinity, .nan, -.nan, Float(bitPattern: 0x7F80_0001), .leastNonzeroMagnitude,
            -.leastNonzeroMagnitude, .leastNormalMagnitude, .greatestFiniteMagnitude, -.greatestFiniteMagnitude])
        inputs.addEdges([88.72283, -87.33654, 0.0625, -0.0625, 44.36142, -43.66827, 9.4, -9.4, 1, -1])
        inputs.addExponents(0..<255, perExponent: 48)
        inputs.add((-1920...1920).map { Float($0) / 64 })
        inputs.addUniform(40_000, scale: 24, offset: -12)
        return inputs.values
    }()

    static func same(_ a: Float, _ b: Float) -> Bool { a.bitPattern == b.bitPattern || (a.isNaN && b.isNaN) }

    /// Differences between `got` and `want`, and the first few of them.
    static func differences(_ got: [Float], _ want: [Float], _ x: [Float]) -> (count: Int, first: [String]) {
        let bad = (0..<want.count).filter { !same(got[$0], want[$0]) }
        return (bad.count, bad.prefix(4).map { "x = \(x[$0]) (\(String(x[$0].bitPattern, radix: 16))): \(got[$0]) vs \(want[$0])" })
    }

    typealias Loop = @Sendable (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void

    static let forward: [(String, Int, Loop)] = [
        ("exp", SWIFTNN_ACTIVATION_EXP, expLoopF), ("sigmoid", SWIFTNN_ACTIVATION_SIGMOID, sigmoidLoopF),
        ("tanh", SWIFTNN_ACTIVATION_TANH, tanhLoopF), ("gelu", SWIFTNN_ACTIVATION_GELU, geluLoopF),
        ("gelu tanh", SWIFTNN_ACTIVATION_GELU_TANH, geluTanhLoopF), ("rsqrt", SWIFTNN_ACTIVATION_RSQRT, rsqrtLoopF),
        ("log", SWIFTNN_ACTIVATION_LOG, logLoopF),
        ("silu", SWIFTNN_ACTIVATION_SILU, { x, y, n in for i in 0..<n { y[i] = SiLUFunction<Float>()(x[i]) } }),
    ]

    @Test("forward kernels equal the Swift definitions bit for bit")
    func forwardMatchesSwift() {
        let x = Self.inputs
        for (name, code, swiftLoop) in Self.forward {
            var got = [Float](repeating: 7, count: x.count), want = got
            swiftnn_activation_f32(Int32(code), x, &got, x.count)
            swiftLoop(x, &want, x.count)
            let d = Self.differences(got, want, x)
            #expect(d.count == 0, "\(name): \(d.count) of \(x.count) differ: \(d.first)")
        }
    }

    @Test("ELU and SELU kernels and their gradients equal the Swift definitions bit for bit", arguments: [(1.0, 1.0), (0.5, 1.0), (2.5, 1.0),
                                                                                   (SELUConstants.alpha, SELUConstants.scale)])
    func eluMatchesSwift(alpha: Double, scale: Double) {
        let x = Self.inputs
        var got = [Float](repeating: 7, count: x.count)
        swiftnn_elu_f32(x, &got, x.count, Float(alpha), Float(scale))
        let f = ELUFunction(alpha: Float(alpha), scale: Float(scale))
        let d = Self.differences(got, x.map { f($0) }, x)
        #expect(d.count == 0, "alpha \(alpha), scale \(scale): \(d.count) of \(x.count) differ: \(d.first)")
        let g = x.indices.map { Float(($0 * 7919) % 4001) / 1000 - 2 }
        var dGot = [Float](repeating: 7, count: x.count)
        swiftnn_elu_backward_f32(g, x, &dGot, x.count, Float(alpha), Float(scale))
        let gradient = ELUGradient(alpha: Float(alpha), scale: Float(scale))
        let dd = Self.differences(dGot, x.indices.map { gradient(g[$0], x[$0], 0) }, x)
        #expect(dd.count == 0, "gradient, alpha \(alpha), scale \(scale): \(dd.count) of \(x.count) differ: \(dd.first)")
        for n in [0, 1, 15, 17, 33] {
            var tail = [Float](repeating: 7, count: 48)
            let xs = (0..<48).map { Float($0) / 8 - 4 }
            swiftnn_elu_f32(xs, &tail, n, Float(alpha), Float(scale))
            #expect(tail[..<n].elementsEqual(xs[..<n].map { f($0) }) && tail[n...].allSatisfy { $0 == 7 }, "n = \(n)")
        }
    }

    @Test("fastExpm1 is within 1 ulp of e^x − 1 for x ≤ 0, exact at ±0, −1 far below, NaN through")
    func expm1Accuracy() {
        var worst = 0.0, worstX: Float = 0
        for x in Self.inputs where x <= 0 && x.isFinite {
            let want = Foundation.expm1(Double(x))
            let got = Double(fastExpm1(x))
            let ulp = Double(Float(want).ulp)
            let err = Swift.abs(got - want) / ulp
            if err > worst { worst = err; worstX = x }
        }
        #expect(worst <= 1, "largest error \(worst) ulp at x = \(worstX)")
        #expect(fastExpm1(0).bitPattern == Float(0).bitPattern && fastExpm1(-0.0).bitPattern == Float(-0.0).bitPattern)
        #expect(fastExpm1(-.infinity) == -1 && fastExpm1(-100) == -1 && fastExpm1(.nan).isNaN)
        #expect(fastExpm1(-.leastNonzeroMagnitude) == -.leastNonzeroMagnitude && fastExpm1(-1e-20) == -1e-20)
    }

    @Test("fastLog is within 1 ulp of ln x for every exponent, exact at 1, with IEEE's special cases")
    func logAccuracy() {
        var worst = 0.0, worstX: Float = 0
        for x in Self.inputs where x > 0 && x.isFinite {
            let want = Foundation.log(Double(x))
            let err = Swift.abs(Double(fastLog(x)) - want) / Double(Float(want).ulp)
            if err > worst { worst = err; worstX = x }
        }
        #expect(worst <= 1, "largest error \(worst) ulp at x = \(worstX)")
        #expect(fastLog(1) == 0 && fastLog(0) == -.infinity && fastLog(-0.0) == -.infinity && fastLog(.infinity) == .infinity)
        #expect(fastLog(-1).isNaN && fastLog(-.infinity).isNaN && fastLog(.nan).isNaN)
        #expect(fastLog(.leastNonzeroMagnitude) == Float(Foundation.log(Double(Float.leastNonzeroMagnitude))))
    }

    @Test("GELU and SiLU gradient kernels equal the Swift definitions bit for bit")
    func gradientsMatchSwift() {
        let x = Self.inputs
        let g = x.indices.map { Float(($0 * 7919) % 4001) / 1000 - 2 }
        let cases: [(String, Int, (UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void)] = [
            ("gelu", SWIFTNN_ACTIVATION_GELU, geluBackwardLoopF), ("gelu tanh", SWIFTNN_ACTIVATION_GELU_TANH, geluTanhBackwardLoopF),
            ("silu", SWIFTNN_ACTIVATION_SILU, { g, x, d, n in for i in 0..<n { d[i] = SiLUGradient<Float>()(g[i], x[i], 0) } }),
        ]
        for (name, code, swiftLoop) in cases {
            var got = [Float](repeating: 7, count: x.count), want = got
            swiftnn_activation_backward_f32(Int32(code), g, x, &got, x.count)
            swiftLoop(g, x, &want, x.count)
            let d = Self.differences(got, want, x)
            #expect(d.count == 0, "\(name)′: \(d.count) of \(x.count) differ: \(d.first)")
        }
    }

    @Test("softmax's exponentials and their sum equal fastExp(x − shift) and rowSum", arguments: [Float(0), 3.25, -40, 88, .infinity])
    func shiftedExpSum(shift: Float) {
        // Several blocks of 4096 and a tail, and short rows.
        for n in [Self.inputs.count, 4096 * 2 + 37, 4096, 100, 17, 1] {
            let x = Array(Self.inputs.prefix(n))
            var got = [Float](repeating: 7, count: n)
            let sum = swiftnn_exp_shifted_sum_f32(x, shift, &got, n)
            let want = x.map { fastExp($0 - shift) }
            let d = Self.differences(got, want, x)
            #expect(d.count == 0, "shift \(shift), n \(n): \(d.count) differ: \(d.first)")
            let wantSum = CPUBackend.rowSumSwift(want, n)
            #expect(sum.bitPattern == wantSum.bitPattern || (sum.isNaN && wantSum.isNaN), "Σ, shift \(shift), n \(n): \(sum) vs \(wantSum)")
        }
        // Finite rows, so that the sum is not NaN: its order of additions is what is compared.
        let finite = Self.inputs.filter { abs($0) < 30 }
        var y = [Float](repeating: 0, count: finite.count)
        let sum = swiftnn_exp_shifted_sum_f32(finite, shift.isFinite ? shift : 0, &y, finite.count)
        #expect(sum.isFinite && sum == CPUBackend.rowSumSwift(y, y.count))
    }

    @Test("row sums equal the Swift definition's order of additions", arguments: [0, 1, 15, 16, 63, 64, 100, 4096, 4097, 3 * 4096 + 77])
    func rowSums(n: Int) {
        let x: [Float] = (0..<n).map { i in
            let v = Float((i * 7919) % 4001) / 1000
            return v - 2 + Float(i % 3) * 1e-3
        }
        let want: Double = CPUBackend.rowSumSwift(x, n)
        let got = swiftnn_row_sum_f32(x, n)
        #expect(got.bitPattern == want.bitPattern, "n \(n): \(got) vs \(want)")
        let dispatched: Double = CPUBackend.rowSum(x, n)
        #expect(dispatched.bitPattern == want.bitPattern)
    }

    @Test("softmax rows equal the Swift definition: specials, one element, several blocks, log or not")
    func softmaxRows() {
        var rows: [[Float]] = [[3], [-.infinity], [-.infinity, -.infinity, -.infinity], [1, .nan, 2], [.nan, 1, 2],
                               [.infinity, 1], [0, -0.0, 0, -0.0, 0], [-1e30, 1e30, 5], [Float](repeating: -3, count: 33)]
        rows.append(Array(Self.inputs.filter { abs($0) < 60 }.prefix(4096 * 2 + 37)))
        rows.append((0..<1000).map { Float($0 % 17) - 8 })
        for row in rows {
            for log in [false, true] {
                var got = [Float](repeating: 7, count: row.count), want = got
                CPUBackend.floatRowAVX512(row, &got, row.count, log)
                CPUBackend.softmaxRow(row, &want, row.count, log)
                let d = Self.differences(got, want, row)
                #expect(d.count == 0, "\(log ? "log-" : "")softmax of \(row.prefix(5))…: \(d.count) differ: \(d.first)")
            }
        }
    }

    @Test("log-softmax's backward row equals the Swift definition", arguments: [0, 1, 17, 1000])
    func logSoftmaxBackward(n: Int) {
        // Log-probabilities over [−20, 0], and specials.
        var y = (0..<n).map { -Float(($0 * 7919) % 2003) / 100.25 }
        for (i, v) in [Float.nan, -Float.infinity, 0, -0.0].enumerated() where 3 * i < n { y[3 * i] = v }
        let g = y.indices.map { Float(($0 * 7919) % 4001) / 1000 - 2 }
        for sum: Float in [0, 1, -2.5] {
            var got = [Float](repeating: 7, count: y.count + 3), want = got
            swiftnn_log_softmax_backward_f32(g, y, sum, &got, y.count)
            CPUBackend.logSoftmaxBackwardRow(g, y, sum, &want, y.count)
            let d = Self.differences(got, want, y + [0, 0, 0])
            #expect(d.count == 0, "n \(n), Σg \(sum): \(d.count) differ: \(d.first)")
        }
    }

    @Test("row maximum equals the largest element", arguments: [1, 15, 16, 17, 63, 64, 65, 1000])
    func rowMax(n: Int) {
        let x = (0..<n).map { Float(($0 * 37) % 101) - 50 }
        #expect(swiftnn_row_max_f32(x, n) == x.max()!)
        var shifted = x
        shifted[n - 1] = 1000   // in the tail
        #expect(swiftnn_row_max_f32(shifted, n) == 1000)
    }

    @Test("the masked tail writes n elements and no more", arguments: [0, 1, 15, 16, 17, 31, 33])
    func tail(n: Int) {
        let x = (0..<48).map { Float($0) / 8 - 3 }
        for (name, code, swiftLoop) in Self.forward {
            var got = [Float](repeating: 7, count: 48), want = got
            swiftnn_activation_f32(Int32(code), x, &got, n)
            swiftLoop(x, &want, n)
            #expect(got.map(\.bitPattern) == want.map(\.bitPattern), "\(name), n = \(n)")
            #expect(got[n...].allSatisfy { $0 == 7 }, "\(name) wrote past n = \(n)")
        }
        var g = [Float](repeating: 7, count: 48), gw = g
        swiftnn_activation_backward_f32(Int32(SWIFTNN_ACTIVATION_GELU), x, x, &g, n)
        geluBackwardLoopF(x, x, &gw, n)
        #expect(g.map(\.bitPattern) == gw.map(\.bitPattern) && g[n...].allSatisfy { $0 == 7 }, "gelu′, n = \(n)")
        var e = [Float](repeating: 7, count: 48)
        _ = swiftnn_exp_shifted_sum_f32(x, 1.5, &e, n)
        #expect(e[..<n].map(\.bitPattern) == x[..<n].map { fastExp($0 - 1.5).bitPattern } && e[n...].allSatisfy { $0 == 7 })
        var scaled = [Float](repeating: 7, count: 48), shifted = scaled
        if n > 0 { scaled.replaceSubrange(0..<n, with: x[..<n]) }
        swiftnn_scale_f32(&scaled, 0.3, n)
        swiftnn_subtract_f32(x, 0.3, &shifted, n)
        #expect(scaled[..<n].elementsEqual(x[..<n].map { $0 * 0.3 }) && scaled[n...].allSatisfy { $0 == 7 })
        #expect(shifted[..<n].elementsEqual(x[..<n].map { $0 - 0.3 }) && shifted[n...].allSatisfy { $0 == 7 })
    }

    @Test("Tensor ops take the kernels: exp, sigmoid, tanh, GELU, SiLU, softmax and GELU's and SiLU's gradients agree with the definitions")
    func tensorOpsUseThem() {
        let values = Array(Self.inputs.filter { $0.isFinite && abs($0) < 50 }.prefix(5000))
        let x = Tensor(values, shape: [values.count])
        func expectSame(_ t: Tensor, _ loop: Loop, _ name: String) {
            var want = [Float](repeating: 0, count: values.count)
            loop(values, &want, values.count)
            let d = Self.differences(t.toArray(of: Float.self), want, values)
            #expect(d.count == 0, "\(name): \(d.first)")
        }
        expectSame(x.exp(), expLoopF, "exp")
        expectSame(x.sigmoid(), sigmoidLoopF, "sigmoid")
        expectSame(x.tanh(), tanhLoopF, "tanh")
        expectSame(x.gelu(), geluLoopF, "gelu")
        expectSame(x.gelu(approximate: .tanh), geluTanhLoopF, "gelu tanh")
        expectSame(x.silu(), { x, y, n in for i in 0..<n { y[i] = SiLUFunction<Float>()(x[i]) } }, "silu")

        // Softmax over rows of 1000: exponentials from fastExp(x − max), then scaled by 1/Σ.
        let rows = Tensor(Array(values.prefix(5000)), shape: [5, 1000])
        let s = rows.softmax(dim: 1).toArray(of: Float.self)
        for r in 0..<5 {
            let row = Array(values[(r * 1000)..<(r * 1000 + 1000)])
            let m = row.max()!
            let e = row.map { fastExp($0 - m) }
            let inv = 1 / Float(CPUBackend.rowSumSwift(e, e.count))
            let bad = (0..<1000).filter { !Self.same(s[r * 1000 + $0], e[$0] * inv) }.count
            #expect(bad == 0, "softmax row \(r): \(bad) differ")
        }

        let leaf = Tensor(values, shape: [values.count], requiresGrad: true)
        leaf.gelu().sum().backward()
        var want = [Float](repeating: 0, count: values.count)
        geluBackwardLoopF([Float](repeating: 1, count: values.count), values, &want, values.count)
        let d = Self.differences(leaf.grad!.toArray(of: Float.self), want, values)
        #expect(d.count == 0, "gelu′: \(d.first)")
        let siluLeaf = Tensor(values, shape: [values.count], requiresGrad: true)
        siluLeaf.silu().sum().backward()
        let siluWant = values.map { SiLUGradient<Float>()(1, $0, 0) }
        let ds = Self.differences(siluLeaf.grad!.toArray(of: Float.self), siluWant, values)
        #expect(ds.count == 0, "silu′: \(ds.first)")
    }
}
