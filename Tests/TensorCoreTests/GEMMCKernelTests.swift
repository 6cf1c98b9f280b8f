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

    @Test(arguments: [0, 1, 2])
    func matchesSwiftFusedKernel(level: Int32) {
        // Level 0 means "no C kernel": compare only the levels this CPU can run.
        let available = swiftnnLevel()
        guard level != 0 && level <= available else { return }
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

    private func swiftnnLevel() -> Int32 {
        #if arch(x86_64)
        return GEMMCKernelProbe.cpuLevel
        #else
        return 0
        #endif
    }
}
