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

    /// The first element where a C sweep and its Swift twin differ (nil: none), both given x and dy
    /// and writing from 3 floats into a buffer of sevens: streaming stores a scalar head up to the
    /// next 64-byte boundary, then aligned vectors, so the head is not empty.
    private func sweepDifference(_ x: [Float], _ dy: [Float],
                                 _ c: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void,
                                 _ swift: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void) -> Int? {
        var got = [Float](repeating: 7, count: x.count + 3), want = got
        x.withUnsafeBufferPointer { px in
            dy.withUnsafeBufferPointer { pd in
                let p = px.baseAddress ?? UnsafePointer(bitPattern: 64)!
                let d = pd.baseAddress ?? UnsafePointer(bitPattern: 64)!
                got.withUnsafeMutableBufferPointer { c(p, d, $0.baseAddress! + 3) }
                want.withUnsafeMutableBufferPointer { swift(p, d, $0.baseAddress! + 3) }
            }
        }
        swiftnn_store_fence()
        return firstDifference(got, want)
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

    @Test("affine (with and without ReLU, with a residual) and the gated backward apply equal the Swift sweeps",
          .enabled(if: runs, "this CPU lacks AVX-512F"))
    func sweeps() {
        for n in Self.lengths {
            let x = values(n, seed: UInt32(3 * n + 1), specials: true)
            let dy = values(n, seed: UInt32(5 * n + 2), specials: true)
            let gate = ReLUGate(scale: -1.5, offset: 4.0)
            for stream in [false, true] {
                // (0, 1, −0) keeps the inputs' −0, NaN and −∞ as they are, so the ReLU sees them.
                for relu in [false, true] { for (shift, scale, bias) in [(Float(2.75), Float(0.5), Float(-0.25)), (0, 1, -0.0)] {
                    let d = sweepDifference(x, dy, { p, _, y in
                        swiftnn_norm_affine_f32(p, y, n, shift, scale, bias, stream ? 1 : 0, relu ? 1 : 0)
                    }, { p, _, y in segmentAffineSwift(p, y, n, shift, scale, bias, stream: stream, relu: relu) })
                    #expect(d == nil, "affine n=\(n) stream \(stream) relu \(relu) shift \(shift)")
                } }
                // A residual block's tail, max(0, affine + r), with dy as the residual.
                for (shift, scale, bias) in [(Float(2.75), Float(0.5), Float(-0.25)), (0, 1, -0.0)] {
                    let d = sweepDifference(x, dy, { p, r, y in
                        swiftnn_norm_affine_add_relu_f32(p, r, y, n, shift, scale, bias, stream ? 1 : 0)
                    }, { p, r, y in segmentAffineAddReLUSwift(p, r, y, n, shift, scale, bias) })
                    #expect(d == nil, "affine + residual + ReLU n=\(n) stream \(stream) shift \(shift)")
                }
                let d = sweepDifference(x, dy, { p, g, y in
                    swiftnn_norm_gated_backward_apply_f32(p, g, y, n, 2.75, 1.25, -0.5, 0.125, gate.scale, gate.offset, stream ? 1 : 0)
                }, { p, g, y in segmentGatedBackwardApplySwift(p, g, y, n, 2.75, 1.25, -0.5, 0.125, gate, stream: stream) })
                #expect(d == nil, "gated backward n=\(n) stream \(stream)")
            }
        }
    }

    /// The plane sweeps (one C call over a range of planes of an (n, c, s) tensor) against the
    /// single-plane kernels called plane by plane (which the tests above hold against the Swift
    /// twins): ranges that start and end inside a sample, channel blocks with c0 > 0, planes of one
    /// vector, of vectors plus a scalar tail, shorter than a vector and past a flush block.
    @Test("plane sweeps equal the single-plane kernels plane by plane", .enabled(if: runs, "this CPU lacks AVX-512F"),
          arguments: [(3, 5, 16), (2, 7, 49), (4, 3, 5), (2, 4, 2080)])
    func planes(_ shape: (Int, Int, Int)) {
        let (n, c, s) = shape
        let total = n * c * s
        let x = values(total, seed: UInt32(total + 11), specials: true)
        let dy = values(total, seed: UInt32(total + 13), specials: true)
        // Per-channel parameters, distinct per channel so that a wrong channel index shows.
        let shift = (0..<c).map { Float($0) * 0.25 + 2.5 }, scale = (0..<c).map { Float($0) * -0.5 + 0.75 }
        let offset = (0..<c).map { Float($0) * 0.125 - 1.0 }, gs = (0..<c).map { Float($0 % 3) - 1.0 }
        let go = (0..<c).map { Float($0) * 0.5 - 0.25 }, cb = (0..<c).map { Float($0) * 0.0625 - 0.5 }
        let ranges: [(Range<Int>, Int)] = [(0..<(n * c), 0), (1..<(n * c - 2), 0), ((c + 1)..<(2 * c), 1), (2..<3, 2)]
        for (planes, c0) in ranges {
            let m = planes.count
            var s1 = [Double](repeating: 9, count: m), q1 = s1, s2 = s1, q2 = s1
            var y1 = [Float](repeating: 7, count: total), y2 = y1, d1 = y1, d2 = y1, t1 = y1, t2 = y1
            for relu in [false, true] { for stream in [false, true] {
                x.withUnsafeBufferPointer { px in dy.withUnsafeBufferPointer { pd in
                let p = px.baseAddress!, d = pd.baseAddress!
                // Parameters for channel ch sit at index ch − c0.
                let sh = Array(shift[c0...]), sc = Array(scale[c0...]), of = Array(offset[c0...])
                let g1 = Array(gs[c0...]), g2 = Array(go[c0...]), b2 = Array(cb[c0...])
                sh.withUnsafeBufferPointer { sh in sc.withUnsafeBufferPointer { sc in of.withUnsafeBufferPointer { of in
                g1.withUnsafeBufferPointer { g1 in g2.withUnsafeBufferPointer { g2 in b2.withUnsafeBufferPointer { b2 in
                    let shp = sh.baseAddress!, scp = sc.baseAddress!, ofp = of.baseAddress!
                    let g1p = g1.baseAddress!, g2p = g2.baseAddress!, b2p = b2.baseAddress!
                    planeMoments(p, s: s, planes: planes, c: c, c0: c0, shift: shp, sum: &s1, squares: &q1)
                    planeGatedGradMoments(p, d, s: s, planes: planes, c: c, c0: c0, shift: shp, gateScale: g1p, gateOffset: g2p,
                                          sum: &s2, products: &q2)
                    y1.withUnsafeMutableBufferPointer { y in
                        planeAffine(p, y.baseAddress!, s: s, planes: planes, c: c, c0: c0, shift: shp, scale: scp, offset: ofp,
                                    stream: stream, relu: relu)
                    }
                    // The residual tail (dy as the residual) comes with the ReLU only.
                    if relu {
                        t1.withUnsafeMutableBufferPointer { y in
                            planeAffine(p, y.baseAddress!, s: s, planes: planes, c: c, c0: c0, shift: shp, scale: scp, offset: ofp,
                                        stream: stream, relu: true, residual: d)
                        }
                    }
                    d1.withUnsafeMutableBufferPointer { dx in
                        planeGatedBackwardApply(p, d, dx.baseAddress!, s: s, planes: planes, c: c, c0: c0, shift: shp, a: scp,
                                                b: ofp, cc: b2p, gateScale: g1p, gateOffset: g2p, stream: stream)
                    }
                    for seg in planes {
                        let k = seg % c - c0, j = seg - planes.lowerBound
                        var want = (0.0, 0.0), gated = (0.0, 0.0)
                        swiftnn_norm_moments_f32(p + seg * s, s, shp[k], &want.0, &want.1)
                        #expect(s1[j].bitPattern == want.0.bitPattern && q1[j].bitPattern == want.1.bitPattern,
                                "moments \(shape) plane \(seg)")
                        swiftnn_norm_gated_grad_moments_f32(p + seg * s, d + seg * s, s, shp[k], g1p[k], g2p[k], &gated.0, &gated.1)
                        #expect(s2[j].bitPattern == gated.0.bitPattern && q2[j].bitPattern == gated.1.bitPattern,
                                "gated moments \(shape) plane \(seg)")
                        y2.withUnsafeMutableBufferPointer { y in
                            swiftnn_norm_affine_f32(p + seg * s, y.baseAddress! + seg * s, s, shp[k], scp[k], ofp[k],
                                                    stream ? 1 : 0, relu ? 1 : 0)
                        }
                        if relu {
                            t2.withUnsafeMutableBufferPointer { y in
                                swiftnn_norm_affine_add_relu_f32(p + seg * s, d + seg * s, y.baseAddress! + seg * s, s, shp[k], scp[k],
                                                                 ofp[k], stream ? 1 : 0)
                            }
                        }
                        d2.withUnsafeMutableBufferPointer { dx in
                            swiftnn_norm_gated_backward_apply_f32(p + seg * s, d + seg * s, dx.baseAddress! + seg * s, s, shp[k],
                                                                  scp[k], ofp[k], b2p[k], g1p[k], g2p[k], stream ? 1 : 0)
                        }
                    }
                    swiftnn_store_fence()
                } } } } } }
                } }
                // Planes outside the range stay untouched (7), inside they match bit for bit.
                #expect(firstDifference(y1, y2) == nil, "affine \(shape) \(planes) relu \(relu) stream \(stream)")
                #expect(firstDifference(d1, d2) == nil, "gated backward \(shape) \(planes) stream \(stream)")
                #expect(firstDifference(t1, t2) == nil, "affine + residual + ReLU \(shape) \(planes) stream \(stream)")
            } }
        }
    }
}
