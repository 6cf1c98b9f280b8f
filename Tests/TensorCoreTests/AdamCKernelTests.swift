import CKernelSupport
import Testing
@testable import TensorCore

/// The Adam/AdamW update's AVX-512 kernel (optimizer_kernels.c) must give bit for bit what its Swift
/// SIMD twin gives: parameters, first and second moments, over the vector body and the scalar tail,
/// with coupled (Adam) and decoupled (AdamW) weight decay.
@Suite struct AdamCKernelTests {
    private func values(_ n: Int, seed: UInt32, scale: Float) -> [Float] {
        var s = seed
        return (0..<n).map { _ in
            s = s &* 1_664_525 &+ 1_013_904_223
            return (Float(s >> 8) / Float(1 << 24) - 0.5) * scale * Float(1 + (s & 7))
        }
    }

    @Test("AVX-512 Adam update equals the Swift one", .enabled(if: NormCKernelTests.runs, "this CPU lacks AVX-512F"),
          arguments: [0, 1, 15, 16, 17, 33, 1000])
    func matchesSwift(n: Int) {
        // (coupled weight decay, decoupled decay factor): Adam(weight_decay=0.01) and AdamW(lr=1e-3, wd=0.01).
        for (coupledWD, decay) in [(Float(0.01), Float(1)), (0, Float(1 - 1e-3 * 0.01))] {
            let p = values(n, seed: 1, scale: 1), g = values(n, seed: 2, scale: 0.1)
            let m = values(n, seed: 3, scale: 0.01), v = values(n, seed: 4, scale: 1e-4).map { $0 * $0 }
            var (pc, mc, vc) = (p, m, v)
            var (ps, ms, vs) = (p, m, v)
            let w1: Float = 0.1, b2: Float = 0.999, w2 = Float(1 - 0.999), bc2: Float = 0.0447, eps: Float = 1e-8
            let step: Float = -1e-3 / 0.271
            g.withUnsafeBufferPointer { pg in
                let gp = UnsafeMutablePointer(mutating: pg.baseAddress ?? UnsafePointer(bitPattern: 64)!)
                pc.withUnsafeMutableBufferPointer { pp in mc.withUnsafeMutableBufferPointer { pm in
                    vc.withUnsafeMutableBufferPointer { pv in
                        swiftnn_adam_f32(pp.baseAddress ?? UnsafeMutablePointer(bitPattern: 64)!, gp,
                                         pm.baseAddress ?? UnsafeMutablePointer(bitPattern: 64)!,
                                         pv.baseAddress ?? UnsafeMutablePointer(bitPattern: 64)!, n,
                                         coupledWD, decay, w1, b2, w2, bc2, eps, step)
                    } } }
                ps.withUnsafeMutableBufferPointer { pp in ms.withUnsafeMutableBufferPointer { pm in
                    vs.withUnsafeMutableBufferPointer { pv in
                        adamRangeSwift(pp.baseAddress ?? UnsafeMutablePointer(bitPattern: 64)!, gp,
                                       pm.baseAddress ?? UnsafeMutablePointer(bitPattern: 64)!,
                                       pv.baseAddress ?? UnsafeMutablePointer(bitPattern: 64)!, 0..<n,
                                       coupledWD: coupledWD, decay: decay, w1: w1, b2: b2, w2: w2, bc2Sqrt: bc2, eps: eps,
                                       negStepSize: step)
                    } } }
            }
            #expect(pc.map(\.bitPattern) == ps.map(\.bitPattern), "parameters, n=\(n), coupled \(coupledWD)")
            #expect(mc.map(\.bitPattern) == ms.map(\.bitPattern), "first moments, n=\(n)")
            #expect(vc.map(\.bitPattern) == vs.map(\.bitPattern), "second moments, n=\(n)")
            #expect(n == 0 || pc != p, "the update moved the parameters")
        }
    }
}
