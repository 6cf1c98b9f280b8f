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
                                                ldc, rows, cols, true, level)
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
}
