import Testing
@testable import TensorCore

/// The AVX-512 max pooling kernel against the scalar definition it replaces for float32: the same
/// values and the same indices, bit for bit, over geometries that reach every path (stride 1: masked
/// loads; stride 2: two loads and the even lanes; stride 3 and 4: hardware gathers), windows clipped
/// by padding on every side and by ceil mode, dilation, widths across one, two and three vectors, and
/// values with ties, −∞, −0 and NaN (the first maximum and the first NaN must win).
@Suite struct MaxPoolKernelTests {
    static let runs = GEMMCKernelProbe.cpuLevel >= 2

    @Test("max pooling's vector kernel equals the scalar definition", .enabled(if: runs, "this CPU lacks AVX-512F"))
    func vectorKernelEqualsDefinition() {
        var draws = ImplicitConvolutionTests.Draws(seed: 7)
        var checked = 0, strides = Set<Int>()
        for trial in 0..<300 {
            let kh = 1 + draws.next(4), kw = 1 + draws.next(5)
            let sh = 1 + draws.next(3), sw = 1 + draws.next(4)
            let dh = 1 + draws.next(2), dw = 1 + draws.next(2)
            let ph = draws.next(kh / 2 + 1), pw = draws.next(kw / 2 + 1)
            let H = 1 + draws.next(20), W = 1 + draws.next(70)
            let ceil = draws.next(2) == 1
            guard H + 2 * ph >= dh * (kh - 1) + 1, W + 2 * pw >= dw * (kw - 1) + 1 else { continue }
            let g = PoolGeometry(planes: 1 + draws.next(3), inputHeight: H, inputWidth: W, kernel: (kh, kw), stride: (sh, sw),
                                 padding: (ph, pw), dilation: (dh, dw), ceilMode: ceil)
            guard g.outputHeight > 0, g.outputWidth > 0 else { continue }
            // Few distinct values (ties everywhere), and in some trials −∞, −0 and NaN.
            let specials: [Float] = [-.infinity, -0.0, .nan, .infinity]
            let x: [Float] = (0..<(g.planes * H * W)).map { _ in
                trial % 3 == 0 && draws.next(12) == 0 ? specials[draws.next(4)] : Float(draws.next(7)) - 3
            }
            let n = g.planes * g.outputHeight * g.outputWidth
            var want = [Float](repeating: 99, count: n), got = want
            var wantIndex = [Int64](repeating: -9, count: n), gotIndex = wantIndex
            x.withUnsafeBufferPointer { xp in
                maxPoolForward(xp.baseAddress!, &want, &wantIndex, g)
                maxPoolForwardAVX512(xp.baseAddress!, &got, &gotIndex, g)
            }
            #expect(maxPoolVectorised(g))
            if got.map(\.bitPattern) != want.map(\.bitPattern) || gotIndex != wantIndex {
                Issue.record("planes \(g.planes) \(H)×\(W) kernel \(g.kernel) stride \(g.stride) padding \(g.padding) dilation \(g.dilation) ceil \(ceil)")
                return
            }
            checked += 1
            strides.insert(sw)
        }
        #expect(checked > 150 && strides == [1, 2, 3, 4])
    }
}
