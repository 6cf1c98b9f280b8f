import CKernelSupport
import Foundation
import Testing
@testable import TensorCore

/// Cross-entropy's per-logit passes (loss_kernels.c) and the exponential they use, glibcExpf
/// (FloatMath.swift): the kernels must give bit for bit what the Swift loops of
/// `crossEntropyRowsFloat32` give, and glibcExpf must be libm's `expf` on glibc with FMA (the
/// project's machines), so that training runs keep their bits.
struct CrossEntropyCKernelTests {
    /// Every float exponent with random mantissas and both signs, glibc's branch edges (±1 ulp),
    /// the range softmax shifts reach, and the special values.
    static let inputs: [Float] = {
        var inputs = KernelInputs(seed: 2024, specials: [
            0, -0.0, .infinity, -.infinity, .nan, -.nan, Float(bitPattern: 0x7F80_0001), Float(bitPattern: 0xFFC0_1234),
            .leastNonzeroMagnitude, -.leastNonzeroMagnitude, .greatestFiniteMagnitude, -.greatestFiniteMagnitude,
            // The two inputs where glibc's FMA form and the plain one differ.
            -0x1.f8cbb2p+5, 0x1.04845ep+5])
        inputs.addEdges([88, -88, 0x1.62e42ep6, -0x1.9fe368p6, -87.33654, 0.5, -0.5])
        inputs.addExponents(0..<256, perExponent: 64)
        inputs.addUniform(60_000, scale: -110, offset: 0)   // (−110, 0]: the shifted logits' range
        return inputs.values
    }()

    static func same(_ a: Float, _ b: Float) -> Bool { a.bitPattern == b.bitPattern || (a.isNaN && b.isNaN) }

    /// glibc runs its FMA form of expf on x86-64 CPUs with FMA and AVX2 (where the GEMM's level is at least 1).
    static var libmIsGlibcFMA: Bool {
        #if os(Linux) && arch(x86_64)
        return GEMMCKernel.level >= 1
        #else
        return false
        #endif
    }

    @Test("glibcExpf is libm's expf bit for bit", .enabled(if: libmIsGlibcFMA, "libm here is not glibc's FMA expf"))
    func swiftDefinitionIsLibm() {
        var bad: [String] = []
        var count = 0
        // The fixed inputs, and every 4093rd float.
        var all = Self.inputs
        var bits: UInt32 = 0
        while true {
            all.append(Float(bitPattern: bits))
            let (next, overflow) = bits.addingReportingOverflow(4093)
            if overflow { break }
            bits = next
        }
        for x in all where !Self.same(glibcExpf(x), Foundation.exp(x)) {
            count += 1
            if bad.count < 4 { bad.append("x = \(x) (\(String(x.bitPattern, radix: 16))): \(glibcExpf(x)) vs \(Foundation.exp(x))") }
        }
        #expect(count == 0, "\(count) differences: \(bad)")
        #expect(all.count > 1_000_000)
    }

    @Test("glibcExpf is within 0.502 ulp of e^x, with glibc's special values")
    func accuracy() {
        var worst = 0.0
        for x in Self.inputs where x.isFinite && x > -103 && x < 88.7 {
            let want = Foundation.exp(Double(x))
            let ulp = Double(Float(want).ulp)
            worst = Swift.max(worst, abs(Double(glibcExpf(x)) - want) / ulp)
        }
        #expect(worst <= 0.502, "worst \(worst) ulp")
        #expect(glibcExpf(-.infinity) == 0 && glibcExpf(.infinity) == .infinity && glibcExpf(.nan).isNaN)
        #expect(glibcExpf(89) == .infinity && glibcExpf(-104) == 0 && glibcExpf(0) == 1 && glibcExpf(-0.0) == 1)
        #expect(glibcExpf(-0x1.9fe368p6) > 0)   // the last input on the computed side of the underflow cut
    }

    @Test("the vector expf equals glibcExpf bit for bit", .enabled(if: NormCKernelTests.runs, "this CPU lacks AVX-512F"))
    func vectorMatchesSwift() {
        let x = Self.inputs
        for n in [x.count, 1, 15, 17] {   // the masked tail
            var got = [Float](repeating: 7, count: n)
            swiftnn_glibc_expf_f32(x, &got, n)
            let bad = (0..<n).filter { !Self.same(got[$0], glibcExpf(x[$0])) }
            #expect(bad.isEmpty, "n \(n): \(bad.prefix(4).map { "x = \(x[$0]): \(got[$0]) vs \(glibcExpf(x[$0]))" })")
        }
    }

    /// The Swift loops of crossEntropyRowsFloat32 (forward) and its backward, as the fallback runs them.
    static func reference(_ x: [Float], rows: Int, c: Int) -> (max: [Float], sum: [Double]) {
        var m = [Float](repeating: -.infinity, count: rows), sum = [Double](repeating: 0, count: rows)
        for r in 0..<rows {
            for k in 0..<c { m[r] = Swift.max(m[r], x[r * c + k]) }
            for k in 0..<c { sum[r] += Double(glibcExpf(x[r * c + k] - m[r])) }
        }
        return (m, sum)
    }

    static func logits(rows: Int, c: Int, seed: UInt32) -> [Float] {
        var s = seed
        func next() -> UInt32 { s = s &* 1_664_525 &+ 1_013_904_223; return s }
        var x = (0..<(rows * c)).map { _ in Float(Int32(bitPattern: next()) >> 8) / Float(1 << 20) }   // ±8
        if rows > 3 && c > 2 {
            for k in 0..<c { x[c + k] = -.infinity }            // a row of −∞
            x[2 * c + 1] = .nan                                  // a NaN inside a row
            x[3 * c] = .infinity; x[3 * c + c - 1] = 200         // +∞, and a logit far above the rest
        }
        if rows > 4 { x[4 * c] = .nan }                          // a NaN first
        // From row 5 on, a NaN at a different lane of a different block in every row: NaNs never win.
        for r in 5..<Swift.max(5, rows) where c > 1 { x[r * c + (r * 7 + 3) % c] = .nan }
        return x
    }

    static func same(_ a: Double, _ b: Double) -> Bool { a.bitPattern == b.bitPattern || (a.isNaN && b.isNaN) }

    @Test("rows' maxima, exponential sums and label smoothing's Σw·x equal the Swift loops', bit for bit",
          .enabled(if: NormCKernelTests.runs, "this CPU lacks AVX-512F"), arguments: [1, 2, 5, 10, 16, 17, 100, 257, 1000])
    func forwardMatchesSwift(classes c: Int) {
        let weights = (0..<c).map { Float($0 % 5) * 0.3 + 0.1 }
        for rows in [1, 7, 8, 9, 21, 40] {
            let x = Self.logits(rows: rows, c: c, seed: UInt32(rows * 1000 + c))
            let want = Self.reference(x, rows: rows, c: c)
            var m = [Float](repeating: 7, count: rows), sum = [Double](repeating: 7, count: rows)
            swiftnn_ce_rows_forward_f32(x, rows, c, nil, &m, &sum, nil)
            for r in 0..<rows {
                #expect(Self.same(m[r], want.max[r]), "rows \(rows), c \(c), row \(r): max \(m[r]) vs \(want.max[r])")
                #expect(Self.same(sum[r], want.sum[r]), "rows \(rows), c \(c), row \(r): sum \(sum[r]) vs \(want.sum[r])")
            }
            // Label smoothing's per-row Σ w[k]·x[k] (Σ x[k] without weights), as the Swift loop adds it.
            for weighted in [false, true] {
                var m2 = m, sum2 = sum, wx = [Double](repeating: 7, count: rows)
                if weighted {
                    swiftnn_ce_rows_forward_f32(x, rows, c, weights, &m2, &sum2, &wx)
                } else {
                    swiftnn_ce_rows_forward_f32(x, rows, c, nil, &m2, &sum2, &wx)
                }
                for r in 0..<rows {
                    var want = 0.0
                    for k in 0..<c { want += weighted ? Double(weights[k] * x[r * c + k]) : Double(x[r * c + k]) }
                    #expect(Self.same(wx[r], want), "rows \(rows), c \(c), row \(r), weighted \(weighted): \(wx[r]) vs \(want)")
                    #expect(Self.same(sum2[r], sum[r]) && Self.same(m2[r], m[r]))
                }
            }
        }
    }

    @Test("a row's gradient equals the Swift loop's, bit for bit, with and without class weights",
          .enabled(if: NormCKernelTests.runs, "this CPU lacks AVX-512F"), arguments: [1, 10, 16, 33, 1000])
    func backwardMatchesSwift(classes c: Int) {
        let x = Self.logits(rows: 5, c: c, seed: UInt32(c))
        let w = (0..<c).map { Float($0 % 7) * 0.25 + 0.5 }
        for (row, l) in [(0, Float(2.5)), (1, -.infinity), (2, Float.nan), (3, Float.infinity), (4, Float(-90))] {
            let xr = Array(x[(row * c)..<((row + 1) * c)])
            let pScale: Float = 0.0123, wScale: Float = 0.00031
            for weighted in [false, true] {
                var got = [Float](repeating: 7, count: c)
                if weighted {
                    swiftnn_ce_row_backward_f32(xr, c, l, pScale, wScale, w, &got)
                } else {
                    swiftnn_ce_row_backward_f32(xr, c, l, pScale, wScale, nil, &got)
                }
                let want = (0..<c).map { k in glibcExpf(xr[k] - l) * pScale - (weighted ? wScale * w[k] : wScale) }
                let bad = (0..<c).filter { !Self.same(got[$0], want[$0]) }
                #expect(bad.isEmpty, "c \(c), row \(row), weighted \(weighted): \(bad.prefix(3).map { "\(got[$0]) vs \(want[$0])" })")
            }
        }
    }
}
