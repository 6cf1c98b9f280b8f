import CKernelSupport
import Testing
@testable import TensorCore

/// The normalization sweeps' AVX-512 kernels (norm_kernels.c) must give bit for bit what their Swift
/// SIMD twins give: outputs, the Double sums, signed zeros and NaN, on every length class (the
/// 32-wide body, the 16-wide step, the scalar tail, the 2048-element flush blocks) and on the
/// streaming path with an unaligned destination.
@Suite struct NormCKernelTests {
    static let runs = GEMMCKernelTests.cpuLevel >= 2

    private func values(_ n: Int, seed: UInt32, specials: Bool) -> [Float] {
        var s = seed
        return (0..<n).map { i in
            s = s &* 1_664_525 &+ 1_013_904_223
            if specials && i % 97 == 5 { return [Float.nan, -0.0, 0.0, -Float.infinity][Int(s >> 30)] }
            return 3 + (Float(s >> 8) / Float(1 << 24) - 0.5) * Float(1 + (s & 7))
        }
    }

    private static let lengths = [0, 1, 15, 16, 17, 31, 32, 33, 48, 63, 2047, 2048, 2049, 2080, 5001]

    /// The first element whose bits differ, or nil.
    private func firstDifference(_ a: [Float], _ b: [Float]) -> Int? {
        a.indices.first { a[$0].bitPattern != b[$0].bitPattern }
    }

    @Test("moments and gated gradient moments equal the Swift sweeps", .enabled(if: runs, "this CPU lacks AVX-512F"))
    func moments() {
        for n in Self.lengths {
            for specials in [false, true] {
                let x = values(n, seed: UInt32(n + 1), specials: specials)
                let dy = values(n, seed: UInt32(n + 7), specials: specials)
                let gate = ReLUGate(scale: 0.75, offset: -2.25)
                x.withUnsafeBufferPointer { px in
                    dy.withUnsafeBufferPointer { pd in
                        let p = px.baseAddress ?? UnsafePointer(bitPattern: 64)!
                        let d = pd.baseAddress ?? UnsafePointer(bitPattern: 64)!
                        var s = 0.0, q = 0.0
                        swiftnn_norm_moments_f32(p, n, 2.5, &s, &q)
                        let want = segmentMomentsSwift(p, n, 2.5)
                        #expect(s.bitPattern == want.0.bitPattern && q.bitPattern == want.1.bitPattern, "moments n=\(n)")
                        swiftnn_norm_gated_grad_moments_f32(p, d, n, 2.5, gate.scale, gate.offset, &s, &q)
                        let gated = segmentGatedGradMomentsSwift(p, d, n, 2.5, gate)
                        #expect(s.bitPattern == gated.0.bitPattern && q.bitPattern == gated.1.bitPattern, "gated n=\(n)")
                    }
                }
            }
        }
    }

    @Test("affine (with and without ReLU) and the gated backward apply equal the Swift sweeps",
          .enabled(if: runs, "this CPU lacks AVX-512F"))
    func sweeps() {
        for n in Self.lengths {
            let x = values(n, seed: UInt32(3 * n + 1), specials: true)
            let dy = values(n, seed: UInt32(5 * n + 2), specials: true)
            let gate = ReLUGate(scale: -1.5, offset: 4.0)
            // Streaming stores a scalar head up to the next 64-byte boundary, then aligned vectors:
            // the output starts 3 floats into its buffer so that the head is not empty.
            for stream in [false, true] {
                // (0, 1, −0) keeps the inputs' −0, NaN and −∞ as they are, so the ReLU sees them.
                for relu in [false, true] { for (shift, scale, bias) in [(Float(2.75), Float(0.5), Float(-0.25)), (0, 1, -0.0)] {
                    var got = [Float](repeating: 7, count: n + 3), want = got
                    x.withUnsafeBufferPointer { px in
                        let p = px.baseAddress ?? UnsafePointer(bitPattern: 64)!
                        got.withUnsafeMutableBufferPointer { g in
                            swiftnn_norm_affine_f32(p, g.baseAddress! + 3, n, shift, scale, bias, stream ? 1 : 0, relu ? 1 : 0)
                        }
                        want.withUnsafeMutableBufferPointer { w in
                            segmentAffineSwift(p, w.baseAddress! + 3, n, shift, scale, bias, stream: stream, relu: relu)
                        }
                    }
                    swiftnn_store_fence()
                    #expect(firstDifference(got, want) == nil, "affine n=\(n) stream \(stream) relu \(relu) shift \(shift)")
                } }
                var got = [Float](repeating: 7, count: n + 3), want = got
                x.withUnsafeBufferPointer { px in
                    dy.withUnsafeBufferPointer { pd in
                        let p = px.baseAddress ?? UnsafePointer(bitPattern: 64)!
                        let d = pd.baseAddress ?? UnsafePointer(bitPattern: 64)!
                        got.withUnsafeMutableBufferPointer { g in
                            swiftnn_norm_gated_backward_apply_f32(p, d, g.baseAddress! + 3, n, 2.75, 1.25, -0.5, 0.125,
                                                                  gate.scale, gate.offset, stream ? 1 : 0)
                        }
                        want.withUnsafeMutableBufferPointer { w in
                            segmentGatedBackwardApplySwift(p, d, w.baseAddress! + 3, n, 2.75, 1.25, -0.5, 0.125, gate,
                                                           stream: stream)
                        }
                    }
                }
                swiftnn_store_fence()
                #expect(firstDifference(got, want) == nil, "gated backward n=\(n) stream \(stream)")
            }
        }
    }
}
