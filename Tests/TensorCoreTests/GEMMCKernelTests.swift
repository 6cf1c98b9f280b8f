import CKernelSupport
import Testing
@testable import TensorCore

/// The C float32 micro-kernel (AVX-512F / AVX2 + FMA) must give bit for bit what the Swift
/// micro-kernel gives on its fused path: same packing layout, same summation order, same rounding.
@Suite struct GEMMCKernelTests {
    /// Deterministic values with varied exponents, so that fused and separate rounding differ.
    private func values(_ n: Int, seed: UInt32) -> [Float] {
        var s = seed
        return (0..<n).map { _ in
            s = s &* 1_664_525 &+ 1_013_904_223
            return (Float(s >> 8) / Float(1 << 24) - 0.5) * Float(1 + (s & 7))
        }
    }

    /// The CPU's C-kernel level (0 off x86-64): levels above it cannot run here, and their tests
    /// are reported as skipped with the reason rather than passing without running.
    static let cpuLevel: Int32 = {
        #if arch(x86_64)
        return GEMMCKernelProbe.cpuLevel
        #else
        return 0
        #endif
    }()

    @Test("AVX2 + FMA kernel equals the Swift fused kernel",
          .enabled(if: cpuLevel >= 1, "this CPU lacks AVX2 + FMA (or is not x86-64)"))
    func avx2MatchesSwiftFusedKernel() {
        check(level: 1)
    }

    @Test("AVX-512F kernel equals the Swift fused kernel",
          .enabled(if: cpuLevel >= 2, "this CPU lacks AVX-512F (or is not x86-64)"))
    func avx512MatchesSwiftFusedKernel() {
        check(level: 2)
    }

    private func check(level: Int32) {
        let kc = 37, ldc = 21
        let a = values(kc * 6, seed: 1), b = values(kc * 16, seed: 2), c0 = values(6 * ldc, seed: 3)
        for (rows, cols) in [(6, 16), (6, 5), (3, 16), (1, 1), (5, 13)] {
            var want = c0, got = c0
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    want.withUnsafeMutableBufferPointer { pc in
                        gemmMicroKernel(kc, pa.baseAddress!, pb.baseAddress!, pc.baseAddress!, ldc, rows, cols, true)
                    }
                    got.withUnsafeMutableBufferPointer { pc in
                        gemmMicroKernelDispatch(kc, pa.baseAddress!, pb.baseAddress!, pc.baseAddress!,
                                                ldc, rows, cols, true, level, overwrite: false)
                    }
                }
            }
            #expect(got.map(\.bitPattern) == want.map(\.bitPattern), "level \(level), \(rows)×\(cols)")
            // Outside the tile, C is untouched.
            for r in 0..<6 {
                for j in 0..<ldc where r >= rows || j >= cols {
                    #expect(got[r * ldc + j].bitPattern == c0[r * ldc + j].bitPattern)
                }
            }
        }
    }

    /// The tile kernels the convolution uses (6×16, 6×32, 12×32) write the same sums: each element a
    /// fused multiply-add chain from zero, whichever kernel computes it.
    @Test("6×32 and 12×32 tiles equal 6×16 tiles bit for bit", .enabled(if: cpuLevel >= 2, "this CPU lacks AVX-512F (or is not x86-64)"),
          arguments: [1, 7, 288])
    func tileKernelsAgree(_ kc: Int) {
        let a0 = values(kc * 6, seed: 4), a1 = values(kc * 6, seed: 5), b0 = values(kc * 16, seed: 6), b1 = values(kc * 16, seed: 7)
        func single(_ a: [Float], _ b: [Float]) -> [UInt32] {
            var tile = [Float](repeating: .nan, count: 96)
            swiftnn_gemm_f32_6x16_tile(kc, a, b, &tile)
            return tile.map(\.bitPattern)
        }
        var pair = [Float](repeating: .nan, count: 192), quad = [Float](repeating: .nan, count: 384)
        swiftnn_gemm_f32_6x32_tile(kc, a0, b0, b1, &pair)
        swiftnn_gemm_f32_12x32_tile(kc, a0, a1, b0, b1, &quad)
        #expect(pair.map(\.bitPattern) == single(a0, b0) + single(a0, b1))
        #expect(quad.map(\.bitPattern) == single(a0, b0) + single(a0, b1) + single(a1, b0) + single(a1, b1))
    }

    /// The packed GEMM pairs full 16-column panels and 6-row blocks on the 12×32 kernel; every
    /// element must still be the 6×16 kernel's sum: per 256-deep block of k a fused multiply-add
    /// chain from zero, added to C block after block. Shapes leave unpaired panels and row blocks,
    /// partial panels and a second k block; both thread counts and all transpositions.
    @Test("12×32-paired GEMM equals the blocked fused-multiply-add sums bit for bit",
          .enabled(if: cpuLevel >= 2, "this CPU lacks AVX-512F (or is not x86-64)"))
    func pairedPanelsMatchBlockedSums() {
        for (m, n, k) in [(12, 32, 12), (30, 48, 300), (150, 70, 257), (13, 96, 40)] {
            for transA in [false, true] {
                for transB in [false, true] {
                    let a = values(m * k, seed: UInt32(m + k)), b = values(k * n, seed: UInt32(n * 3 + k))
                    // op(A)(i, p) and op(B)(p, j) in the stored layouts.
                    func opA(_ i: Int, _ p: Int) -> Float { transA ? a[p * m + i] : a[i * k + p] }
                    func opB(_ p: Int, _ j: Int) -> Float { transB ? b[j * k + p] : b[p * n + j] }
                    var want = [Float](repeating: 0, count: m * n)
                    for i in 0..<m {
                        for j in 0..<n {
                            var c: Float = 0
                            var p0 = 0
                            while p0 < k {
                                var acc: Float = 0
                                for p in p0..<min(k, p0 + 256) { acc = acc.addingProduct(opA(i, p), opB(p, j)) }
                                c += acc
                                p0 += 256
                            }
                            want[i * n + j] = c
                        }
                    }
                    for threads in [1, 2] {
                        var got = [Float](repeating: .nan, count: m * n)
                        Parallel.withThreadCount(threads) {
                            a.withUnsafeBufferPointer { pa in
                                b.withUnsafeBufferPointer { pb in
                                    got.withUnsafeMutableBufferPointer { pc in
                                        CPUBackend.sgemm(transA: transA, transB: transB, m: m, n: n, k: k,
                                                         a: pa.baseAddress!, lda: transA ? m : k,
                                                         b: pb.baseAddress!, ldb: transB ? k : n,
                                                         c: pc.baseAddress!, ldc: n)
                                    }
                                }
                            }
                        }
                        let first = (0..<(m * n)).first { got[$0].bitPattern != want[$0].bitPattern }
                        let at = first ?? 0
                        #expect(first == nil, "\(m)×\(n)×\(k) transA \(transA) transB \(transB), \(threads) thread(s): element \(at) is \(got[at]), want \(want[at])")
                    }
                }
            }
        }
    }
}
