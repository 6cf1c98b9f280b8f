import Testing
import CKernelSupport
@testable import TensorCore

/// The implicit-GEMM float32 convolution (AVX-512) against the im2col path run in float64, over
/// the shapes that reach its edge cases: padding on every side, strides 1, 2 and 3, dilation, panels that straddle samples and
/// output rows, tap counts not a multiple of six, output channels not a multiple of six, and more
/// than 1152 taps (the forward pass splits taps into equal chunks of at most 1152), odd and even
/// numbers of panels, six-row weight blocks, six-tap blocks and 16-channel panels (the 12×32
/// micro-kernel and the 6×16 edges of the forward pass and the weight gradient), and both weight-
/// gradient paths: the GEMM one (more than 32 taps) and the small-tap one (C·KH·KW ≤ 32).
@Suite struct ImplicitConvolutionTests {
    static let runs = GEMMCKernelProbe.cpuLevel >= 2

    private func values(_ n: Int, seed: UInt32) -> [Double] {
        var s = seed
        return (0..<n).map { _ in
            s = s &* 1_664_525 &+ 1_013_904_223
            return Double(s >> 8) / Double(1 << 24) - 0.5
        }
    }

    /// Reproducible integers in 0..<n (the linear congruential generator of ``values(_:seed:)``).
    struct Draws {
        var seed: UInt32
        mutating func next(_ n: Int) -> Int {
            seed = seed &* 1_664_525 &+ 1_013_904_223
            return Int(seed >> 8) % n
        }
    }

    struct Case: CustomStringConvertible {
        var n: Int, c: Int, o: Int, h: Int, w: Int, k: (Int, Int), s: (Int, Int), p: (Int, Int), d: (Int, Int)
        var description: String { "N\(n) C\(c)→\(o) \(h)×\(w) k\(k) s\(s) p\(p) d\(d)" }
        var geo: ConvGeometry {
            ConvGeometry(batch: n, inChannels: c, outChannels: o, groups: 1, inputSize: [h, w], kernelSize: [k.0, k.1],
                         stride: [s.0, s.1], padding: [p.0, p.1], dilation: [d.0, d.1])
        }
    }

    static let cases: [Case] = [
        Case(n: 3, c: 2, o: 7, h: 9, w: 11, k: (3, 3), s: (1, 1), p: (1, 1), d: (1, 1)),
        Case(n: 2, c: 3, o: 13, h: 10, w: 9, k: (3, 3), s: (2, 2), p: (1, 1), d: (1, 1)),
        Case(n: 2, c: 2, o: 5, h: 8, w: 13, k: (3, 2), s: (3, 3), p: (2, 1), d: (1, 1)),
        Case(n: 4, c: 1, o: 6, h: 7, w: 7, k: (3, 3), s: (1, 2), p: (0, 2), d: (2, 1)),
        Case(n: 5, c: 4, o: 17, h: 4, w: 4, k: (3, 3), s: (2, 2), p: (1, 1), d: (1, 1)),
        Case(n: 2, c: 3, o: 4, h: 5, w: 40, k: (1, 5), s: (1, 1), p: (0, 2), d: (1, 1)),
        Case(n: 2, c: 8, o: 9, h: 6, w: 6, k: (1, 1), s: (1, 1), p: (0, 0), d: (1, 1)),
        // 1×1 taps read run by run through the GEMM paths (40 taps), panels across rows and samples.
        Case(n: 3, c: 40, o: 13, h: 5, w: 7, k: (1, 1), s: (1, 1), p: (0, 0), d: (1, 1)),
        Case(n: 3, c: 33, o: 20, h: 5, w: 5, k: (3, 3), s: (2, 2), p: (1, 1), d: (1, 1)),
        Case(n: 2, c: 45, o: 8, h: 5, w: 6, k: (3, 3), s: (1, 1), p: (1, 1), d: (1, 1)),
        Case(n: 2, c: 5, o: 40, h: 6, w: 7, k: (3, 3), s: (1, 1), p: (1, 1), d: (1, 1)),
        Case(n: 3, c: 2, o: 64, h: 5, w: 5, k: (3, 3), s: (2, 2), p: (1, 1), d: (1, 1)),
        // More than 1152 taps: the forward pass in two chunks of 585 taps.
        Case(n: 2, c: 130, o: 8, h: 4, w: 5, k: (3, 3), s: (1, 1), p: (1, 1), d: (1, 1)),
        // Taps too many for two panels in the forward's 192 KB (3600: ResNet's 512-channel layers are
        // 4608): still two panels per block, in four chunks of 900 taps, a pair and a lone six-row block.
        Case(n: 3, c: 400, o: 13, h: 4, w: 5, k: (3, 3), s: (1, 1), p: (1, 1), d: (1, 1)),
        // The weight gradient's GEMM path (36 taps) over three chunks of positions (512, 512, 116).
        Case(n: 3, c: 4, o: 9, h: 20, w: 19, k: (3, 3), s: (1, 1), p: (1, 1), d: (1, 1)),
        // Few taps over many positions (a first layer): the weight gradient's small-tap path in more
        // than one chunk of 256 panels, panels straddling samples (870 positions per sample).
        Case(n: 5, c: 1, o: 10, h: 30, w: 29, k: (3, 3), s: (1, 1), p: (1, 1), d: (1, 1)),
        Case(n: 3, c: 3, o: 19, h: 40, w: 31, k: (3, 3), s: (2, 2), p: (1, 1), d: (1, 1)),
        // The input gradient's col2im: stride-2 widths, even and odd, with and without padding, more
        // than one window of eight outputs, padding wider than a window's first lanes, dilation.
        Case(n: 2, c: 3, o: 7, h: 6, w: 12, k: (3, 3), s: (2, 2), p: (1, 1), d: (1, 1)),
        Case(n: 2, c: 2, o: 5, h: 5, w: 37, k: (3, 5), s: (2, 2), p: (1, 2), d: (1, 1)),
        Case(n: 2, c: 2, o: 6, h: 4, w: 36, k: (2, 3), s: (1, 2), p: (0, 0), d: (1, 1)),
        Case(n: 2, c: 3, o: 4, h: 5, w: 6, k: (3, 3), s: (2, 2), p: (2, 2), d: (1, 1)),
        Case(n: 2, c: 2, o: 5, h: 6, w: 20, k: (2, 3), s: (1, 2), p: (1, 2), d: (1, 2)),
        // Stride-1 widths over more than two windows of sixteen, with dilation.
        Case(n: 2, c: 3, o: 8, h: 4, w: 35, k: (3, 3), s: (1, 1), p: (1, 1), d: (1, 1)),
        Case(n: 2, c: 2, o: 5, h: 5, w: 21, k: (2, 3), s: (1, 1), p: (1, 3), d: (2, 3)),
        // Stride 3 (six outputs per window) and a stride wider than a vector (the scalar path).
        Case(n: 2, c: 2, o: 6, h: 5, w: 50, k: (3, 3), s: (1, 3), p: (1, 1), d: (1, 1)),
        Case(n: 2, c: 2, o: 5, h: 6, w: 36, k: (2, 3), s: (2, 17), p: (1, 1), d: (1, 1)),
        // col2im of a 3×3 kernel at stride 2, padding 1, by row and column parity: odd and even
        // heights and widths, rows over more than one chunk of 32 columns.
        Case(n: 2, c: 3, o: 5, h: 7, w: 37, k: (3, 3), s: (2, 2), p: (1, 1), d: (1, 1)),
        Case(n: 2, c: 2, o: 6, h: 6, w: 64, k: (3, 3), s: (2, 2), p: (1, 1), d: (1, 1)),
        Case(n: 3, c: 4, o: 3, h: 9, w: 33, k: (3, 3), s: (2, 2), p: (1, 1), d: (1, 1)),
        // The input gradient by output phase through the backend (64 channels, 4×4 output).
        Case(n: 3, c: 64, o: 20, h: 7, w: 7, k: (3, 3), s: (2, 2), p: (1, 1), d: (1, 1)),
        // The weight gradient's output gradient packed sample by sample (64 positions per sample), 20
        // channels: a partial 16-channel panel.
        Case(n: 3, c: 5, o: 20, h: 8, w: 8, k: (3, 3), s: (1, 1), p: (1, 1), d: (1, 1)),
        // A kernel wider than col2im keeps in registers (more than 7 columns).
        Case(n: 2, c: 2, o: 5, h: 4, w: 30, k: (2, 9), s: (1, 2), p: (1, 4), d: (1, 1)),
    ]

    @Test("the AVX-512 weight packers and transpose equal their scalar definitions", .enabled(if: runs, "this CPU lacks AVX-512F"),
          arguments: [(1, 1), (5, 9), (6, 16), (7, 17), (13, 31), (64, 288), (256, 1152), (40, 33)])
    func weightPackers(_ rows: Int, _ cols: Int) {
        let a = (0..<(rows * cols)).map { Float($0 % 1009) * 0.5 - 7 }
        let blocks = (rows + 5) / 6
        // Row-major (forward: W) and transposed (input gradient: Wᵀ of a cols × rows matrix) sources;
        // a block stride past the packed length shows that nothing outside a block is written.
        for transposed in [false, true] {
            let blockStride = cols * 6 + 5
            var want = [Float](repeating: -1, count: blocks * blockStride)
            var got = want
            a.withUnsafeBufferPointer { src in
                let (rowStride, colStride) = transposed ? (1, rows) : (cols, 1)
                want.withUnsafeMutableBufferPointer {
                    ImplicitConvolution.packSixRowsScalar(src.baseAddress!, rows: rows, cols: cols, rowStride: rowStride, colStride: colStride,
                                                          $0.baseAddress!, blockStride: blockStride)
                }
                got.withUnsafeMutableBufferPointer {
                    ImplicitConvolution.packSixRows(src.baseAddress!, rows: rows, cols: cols, rowStride: rowStride, colStride: colStride,
                                                    $0.baseAddress!, blockStride: blockStride)
                }
            }
            #expect(got == want, "\(rows)×\(cols), transposed: \(transposed)")
        }
        // The transpose of the whole matrix and of rows 1..<rows into a wider destination (as the
        // weight gradient's tasks do); elements outside stay untouched.
        var t = [Float](repeating: -1, count: rows * cols)
        a.withUnsafeBufferPointer { src in t.withUnsafeMutableBufferPointer { swiftnn_transpose_f32(src.baseAddress!, rows, cols, cols, $0.baseAddress!, rows) } }
        #expect((0..<rows).allSatisfy { r in (0..<cols).allSatisfy { c in t[c * rows + r] == a[r * cols + c] } }, "transpose \(rows)×\(cols)")
        let ld = rows + 3
        var part = [Float](repeating: -1, count: cols * ld)
        a.withUnsafeBufferPointer { src in
            part.withUnsafeMutableBufferPointer { swiftnn_transpose_f32(src.baseAddress! + cols, rows - 1, cols, cols, $0.baseAddress! + 1, ld) }
        }
        #expect((0..<cols).allSatisfy { c in (0..<ld).allSatisfy { j in part[c * ld + j] == (j >= 1 && j < rows ? a[j * cols + c] : -1) } },
                "rows 1..<\(rows) transposed")
    }

    @Test("geometries whose gather offsets would overflow 32 bits take the im2col path")
    func hugeGeometriesFallBack() {
        let ordinary = ConvGeometry(batch: 128, inChannels: 64, outChannels: 128, groups: 1, inputSize: [56, 56],
                                    kernelSize: [3, 3], stride: [2, 2], padding: [1, 1], dilation: [1, 1])
        #expect(ImplicitConvolution.indicesFit(ordinary))
        // 2²⁰ channels of 64×64 (2³² elements per sample) into a 2×2 output: a panel spans 10 samples.
        let huge = ConvGeometry(batch: 8, inChannels: 1 << 20, outChannels: 4, groups: 1, inputSize: [64, 64],
                                kernelSize: [3, 3], stride: [32, 32], padding: [0, 0], dilation: [1, 1])
        #expect(!ImplicitConvolution.indicesFit(huge))
        #expect(!ImplicitConvolution.applies(huge, .float32))
        let farPadding = ConvGeometry(batch: 1, inChannels: 1, outChannels: 1, groups: 1, inputSize: [4, 4],
                                      kernelSize: [1, 1], stride: [1, 1], padding: [1 << 30, 0], dilation: [1, 1])
        #expect(!ImplicitConvolution.indicesFit(farPadding))
    }

    @Test("3×3 and 1×1 taps read run by run equal the hardware gathers, bit for bit, in both layouts",
          .enabled(if: runs, "this CPU lacks AVX-512F"))
    func runGathersEqualHardwareGathers() {
        var draws = Draws(seed: 12_345)
        func next(_ n: Int) -> Int { draws.next(n) }
        var geometries = 0, panelsChecked = 0
        var pointwise = 0
        while geometries < 300 {
            // Batches, channels and sizes that make panels straddle rows and samples; strides 1 and 2,
            // padding up to 2 (wider than the kernel's reach on one side), widths past two vectors; a
            // third of them 1×1 (column stride 1; more channels: several six-tap blocks), dilated or not.
            let k = next(3) == 0 ? 1 : 3
            let n = 1 + next(4), c = 1 + next(k == 1 ? 14 : 5), h = 1 + next(20), w = 1 + next(40)
            let sh = 1 + next(2), sw = k == 1 ? 1 : 1 + next(2), ph = next(3), pw = next(3), d = k == 1 ? 1 + next(2) : 1
            let geo = ConvGeometry(batch: n, inChannels: c, outChannels: 1, groups: 1, inputSize: [h, w], kernelSize: [k, k],
                                   stride: [sh, sw], padding: [ph, pw], dilation: [d, d])
            guard geo.outputSize.allSatisfy({ $0 > 0 }) else { continue }
            geometries += 1
            var g = ImplicitConvolution.geometry(geo)
            #expect(swiftnn_conv_runs_supported(&g) != 0)
            let x = (0..<(n * c * h * w)).map { _ in Float(next(1 << 16)) / 1024 - 32 }
            if k == 1 { pointwise += 1 }
            let K = c * k * k, L = geo.outputCount, P = n * L, blocks = (K + 5) / 6
            var runs = [swiftnn_conv_run](repeating: swiftnn_conv_run(), count: 16)
            var spans = [swiftnn_conv_span](repeating: swiftnn_conv_span(), count: 16)
            var plan = [swiftnn_conv_tap_lanes](repeating: swiftnn_conv_tap_lanes(), count: 9)
            var want = [Float](), got = want, want6 = want, got6 = want
            x.withUnsafeBufferPointer { xp in
                for start in stride(from: 0, to: P, by: 16) {
                    // Fresh sentinels for every panel: a tap either call leaves unwritten, or anything
                    // written past the taps asked for, shows as a difference.
                    want = [Float](repeating: -7, count: K * 16 + 16)
                    got = want
                    want6 = [Float](repeating: -7, count: blocks * 96 + 16)
                    got6 = want6
                    let count = ImplicitConvolution.describe(panelStart: start, lo: start, hi: min(start + 16, P), outputWidth: geo.outputSize[1],
                                                             positions: L, outChannels: 1, runs: &runs, spans: &spans).runs
                    let tap0 = next(K), taps = 1 + next(K - tap0)
                    let base = swiftnn_conv_plan_panel(&g, runs, count, &plan)
                    swiftnn_conv_gather_f32(xp.baseAddress!, &g, plan, base, tap0, taps, &want, 16)
                    swiftnn_conv_gather_runs_f32(xp.baseAddress!, &g, runs, count, tap0, taps, &got, 16, 0)
                    swiftnn_conv_gather_six_f32(xp.baseAddress!, &g, plan, base, tap0, taps, &want6, 96)
                    swiftnn_conv_gather_runs_f32(xp.baseAddress!, &g, runs, count, tap0, taps, &got6, 96, 1)
                    panelsChecked += 1
                    if want.map(\.bitPattern) != got.map(\.bitPattern) || want6.map(\.bitPattern) != got6.map(\.bitPattern) {
                        Issue.record("N\(n) C\(c) \(h)×\(w) kernel \(k) stride (\(sh), \(sw)) padding (\(ph), \(pw)), panel at \(start), taps \(tap0)..<\(tap0 + taps)")
                        return
                    }
                }
            }
        }
        #expect(panelsChecked > 1000 && pointwise > 50)
        // What stays on the hardware gathers.
        for (k, s, d) in [((3, 2), (1, 1), (1, 1)), ((3, 3), (1, 3), (1, 1)), ((3, 3), (1, 1), (1, 2)), ((5, 5), (2, 2), (1, 1)), ((1, 1), (1, 2), (1, 1))] {
            var g = ImplicitConvolution.geometry(ConvGeometry(batch: 1, inChannels: 1, outChannels: 1, groups: 1, inputSize: [9, 9],
                                                              kernelSize: [k.0, k.1], stride: [s.0, s.1], padding: [1, 1],
                                                              dilation: [d.0, d.1]))
            #expect(swiftnn_conv_runs_supported(&g) == 0, "kernel \(k), stride \(s), dilation \(d)")
        }
    }

    @Test("3×3 stride-2 taps read from phase planes equal the run-by-run taps, bit for bit, in both layouts",
          .enabled(if: runs, "this CPU lacks AVX-512F"))
    func phasePlaneGathersEqualRunGathers() {
        var draws = Draws(seed: 54_321)
        func next(_ n: Int) -> Int { draws.next(n) }
        var geometries = 0, panelsChecked = 0, narrow = 0, wide = 0
        while geometries < 150 {
            // Odd and even sizes (an odd size's last odd row or column is padding), widths up to
            // 16 (two rows per vector when even), past 32 (two vectors per row), 1×1 inputs.
            let n = 1 + next(4), c = 1 + next(6), h = 1 + next(24), w = next(2) == 0 ? 1 + next(16) : 1 + next(70)
            let geo = ConvGeometry(batch: n, inChannels: c, outChannels: 1, groups: 1, inputSize: [h, w], kernelSize: [3, 3],
                                   stride: [2, 2], padding: [1, 1], dilation: [1, 1])
            geometries += 1
            if w <= 16 && w % 2 == 0 && h % 2 == 0 { narrow += 1 }
            if w > 32 { wide += 1 }
            var g = ImplicitConvolution.geometry(geo)
            #expect(PhaseSplitSamples.used(g))
            let x = (0..<(n * c * h * w)).map { _ in Float(next(1 << 16)) / 1024 - 32 }
            let K = c * 9, L = geo.outputCount, P = n * L, OW = geo.outputSize[1], blocks = (K + 5) / 6
            var runs = [swiftnn_conv_run](repeating: swiftnn_conv_run(), count: 16)
            var spans = [swiftnn_conv_span](repeating: swiftnn_conv_span(), count: 16)
            let maxSamples = 16 / L + 2
            withSplitMemory(geo, samples: maxSamples, channels: c) { memory, bytes in
            x.withUnsafeBufferPointer { xp in
                for start in stride(from: 0, to: P, by: 16) {
                    let end = min(start + 16, P)
                    let count = ImplicitConvolution.describe(panelStart: start, lo: start, hi: end, outputWidth: OW,
                                                             positions: L, outChannels: 1, runs: &runs, spans: &spans).runs
                    let tap0 = next(K), taps = 1 + next(K - tap0)
                    // Only the rows this panel reads are split: anything else read would be NaN.
                    memory.initializeMemory(as: UInt8.self, repeating: 0xFF, count: bytes)
                    let split = PhaseSplitSamples(x: xp.baseAddress!, geo, samples: maxSamples, channels: c, memory: memory)
                    let c0 = tap0 / 9, channels = (tap0 + taps - 1) / 9 - c0 + 1
                    let planes = split.prepare(positions: start..<end, channels: c0, count: channels)
                    #expect(planes.first == start / L)
                    var want = [Float](repeating: -7, count: K * 16 + 16), got = want
                    var want6 = [Float](repeating: -7, count: blocks * 96 + 16), got6 = want6
                    swiftnn_conv_gather_runs_f32(xp.baseAddress!, &g, runs, count, tap0, taps, &want, 16, 0)
                    swiftnn_conv_gather_runs_f32(xp.baseAddress!, &g, runs, count, tap0, taps, &want6, 96, 1)
                    swiftnn_conv_gather_phases_f32(planes.samples, planes.first, OW, L, runs, count, tap0 - 9 * c0, taps, &got, 16, 0)
                    swiftnn_conv_gather_phases_f32(planes.samples, planes.first, OW, L, runs, count, tap0 - 9 * c0, taps, &got6, 96, 1)
                    panelsChecked += 1
                    if want.map(\.bitPattern) != got.map(\.bitPattern) || want6.map(\.bitPattern) != got6.map(\.bitPattern) {
                        Issue.record("N\(n) C\(c) \(h)×\(w), panel at \(start), taps \(tap0)..<\(tap0 + taps)")
                        return
                    }
                }
            }
            }
        }
        #expect(panelsChecked > 1000 && narrow > 10 && wide > 20)
        // Other stride-2 geometries stay on the runs.
        for (k, p) in [((3, 3), (0, 0)), ((3, 3), (2, 1)), ((1, 1), (0, 0)), ((5, 5), (2, 2))] {
            let g = ImplicitConvolution.geometry(ConvGeometry(batch: 1, inChannels: 1, outChannels: 1, groups: 1, inputSize: [9, 9],
                                                              kernelSize: [k.0, k.1], stride: [2, 2], padding: [p.0, p.1],
                                                              dilation: [1, 1]))
            #expect(!PhaseSplitSamples.used(g), "kernel \(k), padding \(p)")
        }
    }

    @Test("phase tiles read from the planes give the gathered panels' 12×32 and 6×32 tiles, bit for bit",
          .enabled(if: runs, "this CPU lacks AVX-512F"))
    func phaseTilesEqualGatheredTiles() {
        var draws = Draws(seed: 97_531)
        func next(_ n: Int) -> Int { draws.next(n) }
        var geometries = 0, pairs = 0, refused = 0, top = 0, left = 0
        while geometries < 60 {
            // Output widths below, at and above 16 (a panel spans several rows, one, or part of one);
            // odd sizes (an odd size's last odd row or column is padding).
            let n = 1 + next(3), c = 1 + next(5), h = 1 + next(20), w = [1 + next(16), 31 + next(2), 33 + next(40)][next(3)]
            let geo = ConvGeometry(batch: n, inChannels: c, outChannels: 1, groups: 1, inputSize: [h, w], kernelSize: [3, 3],
                                   stride: [2, 2], padding: [1, 1], dilation: [1, 1])
            geometries += 1
            let x = (0..<(n * c * h * w)).map { _ in Float(next(1 << 16)) / 1024 - 32 }
            let K = c * 9, L = geo.outputCount, P = n * L, OW = geo.outputSize[1]
            let a0 = (0..<(K * 6)).map { _ in Float(next(1 << 12)) / 512 - 4 }, a1 = (0..<(K * 6)).map { _ in Float(next(1 << 12)) / 512 - 4 }
            var runs = [swiftnn_conv_run](repeating: swiftnn_conv_run(), count: 32)
            var spans = [swiftnn_conv_span](repeating: swiftnn_conv_span(), count: 16)
            let maxSamples = 32 / L + 2
            withSplitMemory(geo, samples: maxSamples, channels: c) { memory, bytes in
            x.withUnsafeBufferPointer { xp in
                for start in stride(from: 0, to: P - 16, by: 16) {
                    let end = min(start + 32, P)
                    // Only the rows the pair reads are split: anything else read would be NaN.
                    memory.initializeMemory(as: UInt8.self, repeating: 0xFF, count: bytes)
                    let split = PhaseSplitSamples(x: xp.baseAddress!, geo, samples: maxSamples, channels: c, memory: memory)
                    let planes = split.prepare(positions: start..<end, channels: 0, count: c)
                    var counts = [0, 0]
                    for i in 0..<2 {
                        let lo = start + 16 * i
                        counts[i] = runs.withUnsafeMutableBufferPointer { r in
                            ImplicitConvolution.describe(panelStart: lo, lo: lo, hi: min(lo + 16, P), outputWidth: OW, positions: L,
                                                         outChannels: 1, runs: r.baseAddress! + 16 * i, spans: &spans).runs
                        }
                    }
                    let panels = runs.withUnsafeBufferPointer { r in
                        (0..<2).map { PhasePanel(planes, OW, runs: r.baseAddress! + 16 * $0, count: counts[$0]) }
                    }
                    for i in 0..<2 {
                        // Whole panels of one sample only.
                        let lo = start + 16 * i
                        let whole = lo + 16 <= P && lo / L == (lo + 15) / L
                        #expect((panels[i].base != nil) == whole, "N\(n) C\(c) \(h)×\(w), panel at \(lo)")
                        if !whole { refused += 1 }
                    }
                    guard let base0 = panels[0].base, let base1 = panels[1].base else { continue }
                    if panels[0].top != 0 || panels[1].top != 0 { top += 1 }
                    if panels[0].left != 0 || panels[1].left != 0 { left += 1 }
                    var packed = [Float](repeating: -7, count: 2 * K * 16)
                    var want12 = [Float](repeating: 0, count: 384), got12 = want12, want6 = want12, got6 = want12
                    runs.withUnsafeBufferPointer { r in
                        packed.withUnsafeMutableBufferPointer { b in
                            let b0 = b.baseAddress!, b1 = b0 + K * 16
                            for i in 0..<2 {
                                swiftnn_conv_gather_phases_f32(planes.samples, planes.first, OW, L, r.baseAddress! + 16 * i, counts[i], 0,
                                                               K, b0 + i * K * 16, 16, 0)
                            }
                            swiftnn_gemm_f32_12x32_tile(K, a0, a1, b0, b1, &want12)
                            swiftnn_gemm_f32_6x32_tile(K, a1, b0, b1, &want6)
                        }
                    }
                    let (p0, p1) = (panels[0], panels[1])
                    swiftnn_conv_phase_tile_12x32_f32(c, a0, a1, base0, base1, L, OW, p0.top, p0.left, p1.top, p1.left, &got12)
                    swiftnn_conv_phase_tile_6x32_f32(c, a1, base0, base1, L, OW, p0.top, p0.left, p1.top, p1.left, &got6)
                    pairs += 1
                    if want12.map(\.bitPattern) != got12.map(\.bitPattern) || want6[..<192].map(\.bitPattern) != got6[..<192].map(\.bitPattern) {
                        Issue.record("N\(n) C\(c) \(h)×\(w), pair at \(start)")
                        return
                    }
                }
            }
            }
        }
        #expect(pairs > 200 && refused > 20 && top > 20 && left > 50, "\(pairs) pairs, \(refused) refused, \(top) top, \(left) left")
    }

    @Test("the forward's phase tiles give the gathered panels' output, bit for bit, with and without bias, at every thread count",
          .enabled(if: runs, "this CPU lacks AVX-512F"),
          arguments: smallCNNStride2 + [
              // Panels straddling samples (MNIST's 14×14 and 7×7 outputs) and odd sizes: pairs mixed
              // with gathered panels in one block.
              stride2(3, 8, 7, 28, 28, k: (3, 3), p: (1, 1)), stride2(4, 5, 9, 13, 27, k: (3, 3), p: (1, 1)),
              // Taps in two chunks of whole channels (130 → 585 taps each), and chunks that are not
              // whole channels (129 → 581), which gather every panel.
              stride2(2, 130, 8, 8, 8, k: (3, 3), p: (1, 1)), stride2(2, 129, 8, 8, 8, k: (3, 3), p: (1, 1)),
              // Output channels past pairs of six-row blocks in eight-row blocks (without bias): 16 (two
              // eight-row blocks alone), 40 (a pair, then two), 128 (ten pairs, then one).
              stride2(2, 8, 16, 16, 16, k: (3, 3), p: (1, 1)), stride2(2, 8, 40, 8, 8, k: (3, 3), p: (1, 1)),
              stride2(2, 16, 128, 8, 8, k: (3, 3), p: (1, 1)),
          ])
    func phaseTileForward(_ c: Case) {
        let geo = c.geo
        let x = Tensor(converting: values(c.n * c.c * c.h * c.w, seed: 21), shape: [c.n, c.c, c.h, c.w], dtype: .float32)
        let w = Tensor(converting: values(c.o * c.c * 9, seed: 22), shape: [c.o, c.c, 3, 3], dtype: .float32)
        let b = Tensor(converting: values(c.o, seed: 23), shape: [c.o], dtype: .float32)
        let outShape = [c.n, c.o] + geo.outputSize
        func run(tiles: Bool, threads: Int, bias: Bool) -> [UInt32] {
            // NaN first: every output must be written (without bias the tiles store straight into it).
            let y = Tensor(converting: [Double](repeating: .nan, count: outShape.reduce(1, *)), shape: outShape, dtype: .float32)
            var sizes = GEMMBlocking.Sizes()
            sizes.convPhaseTiles = tiles
            sizes.parallelWork = 1  // every forward splits over all threads
            withBlocking(sizes, threads: threads) {
                withExtendedLifetime((x, w, b, y)) {
                    ImplicitConvolution.forwardGEMM(x.pointer(as: Float.self), w.pointer(as: Float.self),
                                                    bias ? UnsafePointer(b.pointer(as: Float.self)) : nil, y.pointer(as: Float.self), geo)
                }
            }
            return y.scalars.map(\.bitPattern)
        }
        for bias in [true, false] {
            let gathered = run(tiles: false, threads: 1, bias: bias)
            for threads in Set([1, Parallel.maxThreadCount]) {
                let tiled = run(tiles: true, threads: threads, bias: bias)
                let differing = zip(gathered, tiled).filter { $0 != $1 }.count
                #expect(differing == 0, "\(c), bias \(bias), \(threads) thread(s): \(differing) of \(gathered.count) outputs differ")
            }
        }
    }

    /// `body` with `sizes` as the GEMM blocking and `threads` threads.
    private func withBlocking(_ sizes: GEMMBlocking.Sizes, threads: Int, _ body: () -> Void) {
        GEMMBlocking.$sizes.withValue(sizes) { Parallel.withThreadCount(threads, body) }
    }

    /// Memory for a `PhaseSplitSamples` of at most `samples` samples and `channels` channels of `geo`
    /// (and its size), for `body`.
    private func withSplitMemory(_ geo: ConvGeometry, samples: Int, channels: Int,
                                 _ body: (UnsafeMutableRawPointer, Int) -> Void) {
        let bytes = PhaseSplitSamples.bytes(samples: samples, channels: channels, geo)
        let memory = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        defer { memory.deallocate() }
        body(memory, bytes)
    }

    /// The implicit path itself (whatever `SWIFTNN_CONV` says): output, input and weight gradients.
    private func implicit(_ x: Tensor, _ w: Tensor, _ b: Tensor?, _ gy: Tensor, _ geo: ConvGeometry) -> (Tensor, Tensor, Tensor) {
        let y = Tensor(uninitializedShape: gy.shape), gx = Tensor(uninitializedShape: x.shape)
        let gw = Tensor(uninitializedShape: w.shape)
        withExtendedLifetime((x, w, b, gy, y, gx, gw)) {
            ImplicitConvolution.forward(x.pointer(as: Float.self), w.pointer(as: Float.self),
                                        b.map { UnsafePointer($0.pointer(as: Float.self)) }, y.pointer(as: Float.self), geo)
            ImplicitConvolution.inputGradient(gy.pointer(as: Float.self), w.pointer(as: Float.self), gx.pointer(as: Float.self), geo)
            ImplicitConvolution.weightGradient(gy.pointer(as: Float.self), x.pointer(as: Float.self), gw.pointer(as: Float.self), geo)
        }
        return (y, gx, gw)
    }

    private func close(_ got: [Float], _ want: [Double], _ label: String) {
        #expect(got.count == want.count)
        var bad = 0
        for (g, w) in zip(got, want) where abs(Double(g) - w) > 1e-5 + 1e-4 * abs(w) { bad += 1 }
        #expect(bad == 0, "\(label): \(bad) of \(want.count) elements off")
    }

    @Test("forward and both gradients equal the float64 im2col path", .enabled(if: runs, "this CPU lacks AVX-512F"),
          arguments: cases)
    func matchesIm2col(_ c: Case) {
        let geo = c.geo
        let xs = values(c.n * c.c * c.h * c.w, seed: 1), ws = values(c.o * c.c * c.k.0 * c.k.1, seed: 2)
        let bs = values(c.o, seed: 3)
        let outShape = [c.n, c.o] + geo.outputSize
        let gys = values(outShape.reduce(1, *), seed: 4)
        let x32 = Tensor(converting: xs, shape: [c.n, c.c, c.h, c.w], dtype: .float32)
        let w32 = Tensor(converting: ws, shape: [c.o, c.c, c.k.0, c.k.1], dtype: .float32)
        let b32 = Tensor(converting: bs, shape: [c.o], dtype: .float32)
        let gy32 = Tensor(converting: gys, shape: outShape, dtype: .float32)
        // The reference sees the float32 values exactly, in float64 and through im2col.
        let x64 = Kernels.cast(x32, to: .float64), w64 = Kernels.cast(w32, to: .float64)
        let b64 = Kernels.cast(b32, to: .float64), gy64 = Kernels.cast(gy32, to: .float64)
        let want = Kernels.convolution(x64, w64, b64, geo).doubleScalars
        let wantGrads = Kernels.convolutionBackward(gy64, x64, w64, geo, needInput: true, needWeight: true, needBias: true)
        let (y, gx, gw) = implicit(x32, w32, b32, gy32, geo)
        close(y.scalars, want, "forward \(c)")
        close(implicit(x32, w32, nil, gy32, geo).0.scalars, Kernels.convolution(x64, w64, nil, geo).doubleScalars,
              "forward without bias \(c)")
        close(gx.scalars, wantGrads.input!.doubleScalars, "input gradient \(c)")
        close(gw.scalars, wantGrads.weight!.doubleScalars, "weight gradient \(c)")
        // Through the backend (the path taken by default on this CPU), bias gradient included.
        let grads = Kernels.convolutionBackward(gy32, x32, w32, geo, needInput: true, needWeight: true, needBias: true)
        close(Kernels.convolution(x32, w32, b32, geo).scalars, want, "backend forward \(c)")
        close(grads.input!.scalars, wantGrads.input!.doubleScalars, "backend input gradient \(c)")
        close(grads.weight!.scalars, wantGrads.weight!.doubleScalars, "backend weight gradient \(c)")
        close(grads.bias!.scalars, wantGrads.bias!.doubleScalars, "bias gradient \(c)")
        let inputOnly = Kernels.convolutionBackward(gy32, x32, w32, geo, needInput: true, needWeight: false, needBias: false)
        #expect(inputOnly.input!.scalars.map(\.bitPattern) == grads.input!.scalars.map(\.bitPattern))
        #expect(inputOnly.weight == nil && inputOnly.bias == nil)
    }

    /// The input gradient in blocks of 1, 2 and 3 samples (each sample larger than the budget, blocks
    /// with a partial last one, panels straddling samples inside a block), in chunks of 4, 8 and all
    /// channels (C = 5 and 9: a partial last chunk) and on every thread count: the float64 reference
    /// within tolerance, and the same bits whatever the blocks and chunks.
    @Test("input gradient blocks of whole samples do not change the result", .enabled(if: runs, "this CPU lacks AVX-512F"),
          arguments: [
              Case(n: 5, c: 5, o: 20, h: 7, w: 7, k: (3, 3), s: (1, 1), p: (1, 1), d: (1, 1)),
              Case(n: 7, c: 9, o: 13, h: 9, w: 10, k: (3, 3), s: (2, 2), p: (1, 1), d: (1, 1)),
          ])
    func inputGradientBlocks(_ c: Case) {
        let geo = c.geo
        let w = Tensor(converting: values(c.o * c.c * c.k.0 * c.k.1, seed: 8), shape: [c.o, c.c, c.k.0, c.k.1], dtype: .float32)
        let outShape = [c.n, c.o] + geo.outputSize
        let gy = Tensor(converting: values(outShape.reduce(1, *), seed: 9), shape: outShape, dtype: .float32)
        let x64 = Tensor(converting: values(c.n * c.c * c.h * c.w, seed: 10), shape: [c.n, c.c, c.h, c.w], dtype: .float64)
        let want = Kernels.convolutionBackward(Kernels.cast(gy, to: .float64), x64, Kernels.cast(w, to: .float64), geo,
                                               needInput: true, needWeight: false, needBias: false).input!.doubleScalars
        func run(budget: Int, threads: Int, chunk: Int = GEMMBlocking.Sizes().convChunkBytes) -> [UInt32] {
            var sizes = GEMMBlocking.Sizes()
            sizes.convBlockBytes = budget
            sizes.convChunkBytes = chunk
            if threads > 1 { sizes.parallelWork = 1 }
            let gx = Tensor(uninitializedShape: [c.n, c.c, c.h, c.w])
            withBlocking(sizes, threads: threads) {
                withExtendedLifetime((gy, w, gx)) {
                    ImplicitConvolution.inputGradientByColumns(gy.pointer(as: Float.self), w.pointer(as: Float.self),
                                                               gx.pointer(as: Float.self), geo)
                }
            }
            return gx.scalars.map(\.bitPattern)
        }
        let sampleBytes = c.o * geo.outputCount * 4
        let reference = run(budget: GEMMBlocking.Sizes().convBlockBytes, threads: 1)
        close(reference.map { Float(bitPattern: $0) }, want, "input gradient \(c)")
        for budget in [1, 2 * sampleBytes, 3 * sampleBytes + 5] {
            for threads in [1, Parallel.maxThreadCount] {
                let got = run(budget: budget, threads: threads)
                #expect(got == reference, "\(c): \(budget)-byte blocks on \(threads) threads")
            }
            // Chunks of one unit of 36 taps (four channels: an even number of six-tap blocks), and of two.
            for chunk in [1, 2 * 36 * 64 * ((max(1, budget / sampleBytes) * geo.outputCount + 15) / 16)] {
                #expect(run(budget: budget, threads: 1, chunk: chunk) == reference, "\(c): \(budget)-byte blocks, \(chunk)-byte chunks")
            }
        }
    }

    @Test("a layer with few taps: the direct forward gives the GEMM forward's bits, with and without bias",
          .enabled(if: runs, "this CPU lacks AVX-512F"),
          arguments: [
              Case(n: 3, c: 1, o: 32, h: 28, w: 28, k: (3, 3), s: (1, 1), p: (1, 1), d: (1, 1)),
              Case(n: 2, c: 3, o: 19, h: 11, w: 13, k: (3, 3), s: (2, 2), p: (1, 1), d: (1, 1)),
              Case(n: 5, c: 2, o: 7, h: 5, w: 3, k: (4, 4), s: (1, 1), p: (2, 2), d: (1, 1)),
              Case(n: 2, c: 1, o: 3, h: 9, w: 9, k: (3, 3), s: (1, 1), p: (0, 0), d: (2, 2)),
          ])
    func smallTapForward(_ c: Case) {
        let geo = c.geo
        #expect(c.c * c.k.0 * c.k.1 <= ImplicitConvolution.smallTapLimit)
        let x = Tensor(converting: values(c.n * c.c * c.h * c.w, seed: 11), shape: [c.n, c.c, c.h, c.w], dtype: .float32)
        let w = Tensor(converting: values(c.o * c.c * c.k.0 * c.k.1, seed: 12), shape: [c.o, c.c, c.k.0, c.k.1], dtype: .float32)
        let b = Tensor(converting: values(c.o, seed: 13), shape: [c.o], dtype: .float32)
        let outShape = [c.n, c.o] + geo.outputSize
        for bias in [nil, b] {
            for threads in [1, Parallel.maxThreadCount] {
                let direct = Tensor(uninitializedShape: outShape), gemm = Tensor(uninitializedShape: outShape)
                Parallel.withThreadCount(threads) {
                    withExtendedLifetime((x, w, b, direct, gemm)) {
                        let bp = bias.map { UnsafePointer($0.pointer(as: Float.self)) }
                        ImplicitConvolution.forwardSmallTaps(x.pointer(as: Float.self), w.pointer(as: Float.self), bp,
                                                             direct.pointer(as: Float.self), geo)
                        ImplicitConvolution.forwardGEMM(x.pointer(as: Float.self), w.pointer(as: Float.self), bp,
                                                        gemm.pointer(as: Float.self), geo)
                    }
                }
                #expect(direct.scalars.map(\.bitPattern) == gemm.scalars.map(\.bitPattern),
                        "\(c), bias: \(bias != nil), \(threads) thread(s)")
            }
        }
    }

    @Test("forward and both gradients are bit-identical for every thread count", .enabled(if: runs, "this CPU lacks AVX-512F"),
          arguments: [
              Case(n: 7, c: 5, o: 35, h: 9, w: 7, k: (3, 3), s: (2, 1), p: (1, 1), d: (1, 1)),
              // Small-tap weight gradient over two chunks.
              Case(n: 6, c: 3, o: 20, h: 30, w: 26, k: (3, 3), s: (1, 1), p: (1, 1), d: (1, 1)),
          ])
    func threadCountIndependent(_ c: Case) {
        let geo = c.geo
        let x = Tensor(converting: values(c.n * c.c * c.h * c.w, seed: 5), shape: [c.n, c.c, c.h, c.w], dtype: .float32)
        let w = Tensor(converting: values(c.o * c.c * 9, seed: 6), shape: [c.o, c.c, 3, 3], dtype: .float32)
        let outShape = [c.n, c.o] + geo.outputSize
        let gy = Tensor(converting: values(outShape.reduce(1, *), seed: 7), shape: outShape, dtype: .float32)
        func run() -> ([UInt32], [UInt32], [UInt32]) {
            let (y, gx, gw) = implicit(x, w, nil, gy, geo)
            return (y.scalars.map(\.bitPattern), gx.scalars.map(\.bitPattern), gw.scalars.map(\.bitPattern))
        }
        let one = Parallel.withThreadCount(1) { run() }
        // Tiny work threshold: every product splits over all threads.
        var small = GEMMBlocking.Sizes()
        small.parallelWork = 1
        let many = GEMMBlocking.$sizes.withValue(small) { Parallel.withThreadCount(Parallel.maxThreadCount) { run() } }
        #expect(one.0 == many.0)
        #expect(one.1 == many.1)
        #expect(one.2 == many.2)
    }

    static func stride2(_ n: Int, _ c: Int, _ o: Int, _ h: Int, _ w: Int, k: (Int, Int), p: (Int, Int)) -> Case {
        Case(n: n, c: c, o: o, h: h, w: w, k: k, s: (2, 2), p: p, d: (1, 1))
    }

    /// SmallCNN's stride-2 layers on CIFAR (16, 8 and 4 output columns) at small batches: chunks of 512
    /// positions of 2 samples and a last one of one; 20 and 13 output channels (six-row and 16-channel
    /// panel edges).
    static let smallCNNStride2: [Case] = [
        stride2(3, 32, 64, 32, 32, k: (3, 3), p: (1, 1)), stride2(2, 64, 20, 16, 16, k: (3, 3), p: (1, 1)),
        stride2(5, 16, 13, 8, 8, k: (3, 3), p: (1, 1)),
    ]

    /// Stride-2 geometries for the input gradient by output phase, called directly whatever their size.
    static let phaseCases: [Case] = [
        stride2(3, 7, 10, 9, 11, k: (3, 3), p: (1, 1)),  // odd sizes: the odd phases one row / column short
        stride2(2, 13, 9, 12, 10, k: (3, 3), p: (1, 1)),  // even sizes; 13 channels: a partial six-row block
        stride2(3, 8, 16, 28, 28, k: (3, 3), p: (1, 1)),  // 14-wide phases: panels over two and three rows
        stride2(2, 5, 6, 8, 9, k: (1, 1), p: (0, 0)),  // pointwise: three of the four phases have no taps
        stride2(2, 4, 5, 7, 8, k: (2, 2), p: (0, 0)),
        stride2(2, 3, 7, 9, 9, k: (4, 4), p: (1, 1)),
        stride2(2, 6, 8, 11, 13, k: (5, 3), p: (2, 1)),  // taps shifted both ways
        stride2(2, 3, 4, 15, 16, k: (7, 7), p: (3, 3)),  // a ResNet stem
        stride2(2, 2, 3, 6, 7, k: (3, 3), p: (2, 0)),
        stride2(3, 1, 2, 1, 1, k: (3, 3), p: (1, 1)),  // one input element: no odd phase at all
        // Many panels per block and several blocks of samples (900 B rows per panel, 150 channels of dy).
        stride2(40, 12, 150, 8, 8, k: (3, 3), p: (1, 1)),
        stride2(33, 20, 64, 7, 7, k: (3, 3), p: (1, 1)),  // SmallCNN's last layer on MNIST, scaled down
        // Whole one-sample panels read straight from dy by the dy tiles (16·k positions per sample):
        // SmallCNN's CIFAR layers scaled down, a partial six-channel block, an odd width (the odd
        // column phase one column short), a pointwise kernel, taps shifted both ways.
        stride2(4, 10, 20, 32, 32, k: (3, 3), p: (1, 1)),
        stride2(6, 7, 13, 8, 8, k: (3, 3), p: (1, 1)),
        stride2(5, 6, 9, 16, 15, k: (3, 3), p: (1, 1)),
        stride2(4, 9, 11, 16, 16, k: (1, 1), p: (0, 0)),
        stride2(3, 4, 6, 16, 32, k: (5, 3), p: (2, 1)),
        // Eight-row blocks of A (16 and 32 channels, which six-row blocks pad by 12.5 %; 64 by 3 %: two
        // eight-row blocks after four pairs of six-row ones).
        stride2(3, 16, 12, 16, 16, k: (3, 3), p: (1, 1)),
        stride2(2, 32, 10, 32, 32, k: (3, 3), p: (1, 1)),
        stride2(2, 64, 9, 8, 8, k: (3, 3), p: (1, 1)),
        // Rows of 64: two whole 32-float stores per row (the non-temporal path's second offset).
        stride2(2, 6, 8, 8, 64, k: (3, 3), p: (1, 1)),
        // Whole panels read from dy with 13 channels: a pair of six-row blocks, then a lone block of one row.
        stride2(2, 13, 9, 16, 16, k: (3, 3), p: (1, 1)),
        // An odd height: the odd row phase's grid (7 × 8) makes panels straddle samples there only.
        stride2(3, 5, 7, 15, 16, k: (3, 3), p: (1, 1)),
    ]

    /// The input gradient by output phase (stride 2) against float64 im2col, and the same bits on every
    /// thread count (tasks own whole samples; every element one dot product in a fixed order).
    @Test("stride-2 input gradients by output phase equal the float64 im2col path, whatever the thread count",
          .enabled(if: runs, "this CPU lacks AVX-512F"), arguments: phaseCases)
    func inputGradientByPhase(_ c: Case) {
        let geo = c.geo
        let w = Tensor(converting: values(c.o * c.c * c.k.0 * c.k.1, seed: 14), shape: [c.o, c.c, c.k.0, c.k.1], dtype: .float32)
        let outShape = [c.n, c.o] + geo.outputSize
        let gy = Tensor(converting: values(outShape.reduce(1, *), seed: 15), shape: outShape, dtype: .float32)
        let x64 = Tensor.zeros([c.n, c.c, c.h, c.w], dtype: .float64)
        let want = Kernels.convolutionBackward(Kernels.cast(gy, to: .float64), x64, Kernels.cast(w, to: .float64), geo,
                                               needInput: true, needWeight: false, needBias: false).input!.doubleScalars
        func run(threads: Int, dyTiles: Bool = true, stream: Bool = false) -> [UInt32] {
            var sizes = GEMMBlocking.Sizes()
            if threads > 1 { sizes.parallelWork = 1 }
            sizes.convPhaseTiles = dyTiles
            sizes.convStreamingBytes = stream ? 0 : Int.max
            // NaN everywhere first: every element must be written.
            let gx = Tensor(converting: [Double](repeating: .nan, count: c.n * c.c * c.h * c.w), shape: [c.n, c.c, c.h, c.w],
                            dtype: .float32)
            withBlocking(sizes, threads: threads) {
                withExtendedLifetime((gy, w, gx)) {
                    ImplicitConvolution.inputGradientByPhase(gy.pointer(as: Float.self), w.pointer(as: Float.self),
                                                             gx.pointer(as: Float.self), geo)
                }
            }
            return gx.scalars.map(\.bitPattern)
        }
        let one = run(threads: 1)
        close(one.map { Float(bitPattern: $0) }, want, "input gradient by phase \(c)")
        #expect(run(threads: Parallel.maxThreadCount) == one, "\(c) on \(Parallel.maxThreadCount) threads")
        // The dy tiles load the rows the gathered panels hold: the same products, the same bits.
        let gathered = run(threads: 1, dyTiles: false)
        let differing = zip(gathered, one).filter { $0 != $1 }.count
        #expect(differing == 0, "\(c): \(differing) of \(one.count) elements differ from the gathered panels'")
        // Whole aligned rows stored past the caches: the same elements.
        for threads in Set([1, Parallel.maxThreadCount]) {
            #expect(run(threads: threads, stream: true) == one, "\(c), non-temporal stores, \(threads) thread(s)")
        }
    }

    @Test("the output gradient packed row by row equals the panel-by-panel pack, bit for bit",
          .enabled(if: runs, "this CPU lacks AVX-512F"))
    func packTransposedRows() {
        var draws = Draws(seed: 13_579)
        for _ in 0..<40 {
            let n = 1 + draws.next(3), O = 1 + draws.next(40), L = 16 * (1 + draws.next(5)), P = n * L
            let y = (0..<(n * O * L)).map { Float($0) + 0.5 }
            let panelStride = P * 16, groups = (O + 15) / 16
            var want = [Float](repeating: -1, count: groups * panelStride), got = want
            var runs = [swiftnn_conv_run](repeating: swiftnn_conv_run(), count: 16)
            var spans = [swiftnn_conv_span](repeating: swiftnn_conv_span(), count: 16)
            want.withUnsafeMutableBufferPointer { w in
                for start in stride(from: 0, to: P, by: 16) {
                    let c = ImplicitConvolution.describe(panelStart: start, lo: start, hi: start + 16, outputWidth: 16, positions: L,
                                                         outChannels: O, runs: &runs, spans: &spans)
                    swiftnn_conv_pack_transposed_f32(y, L, O, spans, c.spans, 16, w.baseAddress! + start * 16, panelStride)
                }
            }
            y.withUnsafeBufferPointer { yp in
                got.withUnsafeMutableBufferPointer { g in
                    // A sample at a time, from a position inside it for the first.
                    let first = 16 * draws.next(L / 16)
                    swiftnn_conv_pack_transposed_rows_f32(yp.baseAddress! + first, L, O, L - first, g.baseAddress! + first * 16, panelStride)
                    if first > 0 {
                        swiftnn_conv_pack_transposed_rows_f32(yp.baseAddress!, L, O, first, g.baseAddress!, panelStride)
                    }
                    for s in 1..<n {
                        swiftnn_conv_pack_transposed_rows_f32(yp.baseAddress! + s * O * L, L, O, L, g.baseAddress! + s * L * 16, panelStride)
                    }
                }
            }
            let differing = zip(want, got).filter { $0.bitPattern != $1.bitPattern }.count
            #expect(differing == 0, "N\(n) O\(O) L\(L): \(differing) floats differ")
        }
    }

    @Test("dy tiles read a panel's rows as the phase gather packs them, or refuse the panel")
    func dyPanelsMatchPhaseGather() {
        var draws = Draws(seed: 24_680)
        func next(_ n: Int) -> Int { draws.next(n) }
        var accepted = 0, refused = 0
        for _ in 0..<300 {
            let OH = 1 + next(9), OW = 1 + next(20), n = 1 + next(3), O = 1 + next(3)
            // Shifts of 3×3 padding 1 (0 and 1) and of wider kernels (−1 … 1).
            let rowShifts = [next(3) - 1, next(3) - 1], colShifts = [next(3) - 1, next(3) - 1]
            let L = OH * OW, P = n * L
            let dy = (0..<(n * O * L)).map { Float($0 + 1) }
            var runs = [swiftnn_conv_run](repeating: swiftnn_conv_run(), count: 16)
            var spans = [swiftnn_conv_span](repeating: swiftnn_conv_span(), count: 16)
            for start in stride(from: 0, to: P, by: 16) {
                let count = ImplicitConvolution.describe(panelStart: start, lo: start, hi: min(start + 16, P), outputWidth: OW,
                                                         positions: L, outChannels: O, runs: &runs, spans: &spans).runs
                var offsets = [Int](repeating: 0, count: 4), masks = [UInt16](repeating: 0, count: 4)
                let ok = swiftnn_conv_dy_panel_f32(runs, count, OH, OW, rowShifts, 2, colShifts, 2, &offsets, &masks) != 0
                #expect(ok == (start + 16 <= P && start / L == (start + 15) / L), "\(OH)×\(OW), panel at \(start)")
                guard ok else { refused += 1; continue }
                accepted += 1
                var packed = [Float](repeating: -1, count: 4 * O * 16)
                swiftnn_conv_phase_gather_f32(dy, O, OH, OW, runs, count, rowShifts, 2, colShifts, 2, &packed)
                let sample = start / L
                for j in 0..<4 {
                    for o in 0..<O {
                        for lane in 0..<16 {
                            let want = packed[(j * O + o) * 16 + lane]
                            let got = masks[j] >> lane & 1 == 1 ? dy[(sample * O + o) * L + offsets[j] + lane] : 0
                            if want != got {
                                Issue.record("\(OH)×\(OW), panel at \(start), tap \(j), channel \(o), lane \(lane): \(got), want \(want)")
                                return
                            }
                        }
                    }
                }
            }
        }
        #expect(accepted > 300 && refused > 100, "\(accepted) accepted, \(refused) refused")
    }

    @Test("tap rows straight from the input rows hold x[c, 2oh + kh − 1, 2ow + kw − 1] (0 past the input), and nothing past a row's positions is written",
          .enabled(if: runs, "this CPU lacks AVX-512F"))
    func tapRowsKernel() {
        // (H, W): whole 16-lane pieces per output row (16, 32, 48 columns; odd sizes), and narrow
        // outputs of 8, 4, 2 and 1 columns on inputs twice as wide (an odd height: the last kernel
        // row past the input).
        let shapes = [(32, 32), (31, 31), (16, 64), (10, 96), (16, 16), (4, 16), (8, 8), (15, 8), (16, 4), (32, 2)]
        for (index, (h, w)) in shapes.enumerated() {
            let oh = (h + 1) / 2, ow = (w + 1) / 2, L = oh * ow, channels = 3, rowStride = L + 7
            let x = values(channels * h * w, seed: UInt32(40 + index)).map(Float.init)
            var rows = [Float](repeating: .nan, count: 9 * channels * rowStride)
            x.withUnsafeBufferPointer { xp in
                rows.withUnsafeMutableBufferPointer { rp in
                    swiftnn_conv_tap_rows_s2_f32(xp.baseAddress!, channels, h, w, oh, ow, rp.baseAddress!, rowStride)
                }
            }
            var bad = 0, untouched = 0
            for c in 0..<channels {
                for kh in 0..<3 {
                    for kw in 0..<3 {
                        let row = (9 * c + 3 * kh + kw) * rowStride
                        for p in 0..<L {
                            let ih = 2 * (p / ow) + kh - 1, iw = 2 * (p % ow) + kw - 1
                            let want: Float = ih >= 0 && ih < h && iw >= 0 && iw < w ? x[(c * h + ih) * w + iw] : 0
                            if rows[row + p].bitPattern != want.bitPattern { bad += 1 }
                        }
                        untouched += rows[(row + L)..<(row + rowStride)].filter(\.isNaN).count
                    }
                }
            }
            #expect(bad == 0, "\(h)×\(w): \(bad) of \(9 * channels * L) taps differ")
            #expect(untouched == 9 * channels * 7, "\(h)×\(w): a row written past its positions")
        }
    }

    @Test("the weight gradient from tap rows equals the one through phase planes and gathers, bit for bit, at every thread count",
          .enabled(if: runs, "this CPU lacks AVX-512F"),
          arguments: smallCNNStride2 + [
              // 32 output columns; 5 and 7 channels (a last unit of one channel, six-tap blocks not whole);
              // odd input sizes; 130 channels (sixteen blocks of 72 taps and a last of 18).
              stride2(2, 5, 32, 16, 64, k: (3, 3), p: (1, 1)), stride2(3, 7, 16, 31, 31, k: (3, 3), p: (1, 1)),
              stride2(2, 130, 8, 8, 8, k: (3, 3), p: (1, 1)),
          ])
    func tapRowsWeightGradient(_ c: Case) {
        let geo = c.geo
        #expect(ImplicitConvolution.readsTapRows(geo) == ImplicitConvolution.tapRowsEnabled)
        let x = Tensor(converting: values(c.n * c.c * c.h * c.w, seed: 31), shape: [c.n, c.c, c.h, c.w], dtype: .float32)
        let gy = Tensor(converting: values(c.n * c.o * geo.outputCount, seed: 32), shape: [c.n, c.o] + geo.outputSize, dtype: .float32)
        func run(tapRows: Bool, threads: Int) -> [UInt32] {
            let gw = Tensor(converting: [Double](repeating: .nan, count: c.o * c.c * 9), shape: [c.o, c.c, 3, 3], dtype: .float32)
            var sizes = GEMMBlocking.Sizes()
            sizes.convTapRows = tapRows
            sizes.parallelWork = 1  // every product splits over all threads
            withBlocking(sizes, threads: threads) {
                withExtendedLifetime((x, gy, gw)) {
                    ImplicitConvolution.weightGradient(gy.pointer(as: Float.self), x.pointer(as: Float.self),
                                                       gw.pointer(as: Float.self), geo)
                }
            }
            return gw.scalars.map(\.bitPattern)
        }
        let gathered = run(tapRows: false, threads: 1)
        for threads in Set([1, Parallel.maxThreadCount]) {
            let rows = run(tapRows: true, threads: threads)
            let differing = zip(gathered, rows).filter { $0 != $1 }.count
            #expect(differing == 0, "\(c), \(threads) thread(s): \(differing) of \(gathered.count) weights differ")
        }
    }

    @Test("stride-2 3×3 weight gradients take tap rows where output rows are whole 16-lane pieces, or divide 16 on an input twice as wide, and chunks hold whole samples")
    func tapRowsSelection() {
        let on = ImplicitConvolution.tapRowsEnabled && ImplicitConvolutionTests.runs
        // SmallCNN's and ResNet-18's stride-2 layers on CIFAR; 32 output columns.
        for (h, w) in [(32, 32), (16, 16), (8, 8), (31, 31), (16, 64), (2, 64)] {
            #expect(ImplicitConvolution.readsTapRows(Self.stride2(1, 32, 64, h, w, k: (3, 3), p: (1, 1)).geo) == on, "\(h)×\(w)")
        }
        // MNIST's 14 and 7 output columns, ResNet's 28×28 outputs and 5×48 (784 and 240 positions:
        // chunks straddle samples), 4 columns on a 7-wide input, panels straddling samples (2×4
        // outputs), a 1×1 kernel, stride 1.
        for (h, w) in [(28, 28), (14, 14), (56, 56), (10, 96), (8, 7), (4, 8)] {
            #expect(!ImplicitConvolution.readsTapRows(Self.stride2(1, 32, 64, h, w, k: (3, 3), p: (1, 1)).geo), "\(h)×\(w)")
        }
        #expect(!ImplicitConvolution.readsTapRows(Self.stride2(1, 64, 128, 32, 32, k: (1, 1), p: (0, 0)).geo))
        #expect(!ImplicitConvolution.readsTapRows(Case(n: 1, c: 8, o: 8, h: 32, w: 32, k: (3, 3), s: (1, 1), p: (1, 1), d: (1, 1)).geo))
    }

    @Test("the backend takes the phases for stride-2 layers whose panels are all read straight from dy, or with at most 16 output positions and 64 input channels; dcols and col2im otherwise")
    func phaseSelection() {
        #expect(ImplicitConvolution.takesPhases(Self.stride2(1, 64, 128, 8, 8, k: (3, 3), p: (1, 1)).geo) == ImplicitConvolution.phasesEnabled)
        #expect(ImplicitConvolution.takesPhases(Self.stride2(1, 128, 256, 7, 7, k: (3, 3), p: (1, 1)).geo) == ImplicitConvolution.phasesEnabled)
        #expect(ImplicitConvolution.takesPhases(Self.stride2(1, 128, 256, 8, 8, k: (3, 3), p: (1, 1)).geo) == ImplicitConvolution.phasesEnabled)
        // Every panel read straight from dy (16·k output positions per sample): phases whatever the
        // channels and the size (SmallCNN's and ResNet's stride-2 layers on CIFAR and ImageNet sizes).
        let direct = ImplicitConvolution.phasesEnabled && PhasePanel.enabled
        for (c, h, k, p) in [(32, 8, 3, 1), (32, 32, 3, 1), (64, 16, 3, 1), (64, 56, 3, 1), (128, 32, 1, 0), (3, 64, 3, 1)] {
            #expect(ImplicitConvolution.takesPhases(Self.stride2(1, c, 64, h, h, k: (k, k), p: (p, p)).geo) == direct, "\(c) × \(h)²")
        }
        // Outputs of 49 and 196 positions (MNIST's 7×7 and 14×14) with gathered panels: the columns
        // path measured faster there.
        #expect(!ImplicitConvolution.takesPhases(Self.stride2(1, 64, 128, 14, 14, k: (3, 3), p: (1, 1)).geo))
        #expect(!ImplicitConvolution.takesPhases(Self.stride2(1, 32, 64, 28, 28, k: (3, 3), p: (1, 1)).geo))
        #expect(!ImplicitConvolution.takesPhases(Self.stride2(1, 256, 512, 14, 14, k: (3, 3), p: (1, 1)).geo))
        // A phase grid wider than dy (4×4 kernel, padding 1: 16 → 8 outputs, 9-wide even phase).
        #expect(!ImplicitConvolution.takesPhases(Self.stride2(1, 32, 64, 16, 17, k: (4, 4), p: (1, 1)).geo))
        #expect(!ImplicitConvolution.takesPhases(Case(n: 1, c: 8, o: 8, h: 4, w: 4, k: (3, 3), s: (1, 1), p: (1, 1), d: (1, 1)).geo))
        #expect(!ImplicitConvolution.takesPhases(Case(n: 1, c: 8, o: 8, h: 8, w: 8, k: (3, 3), s: (2, 2), p: (1, 1), d: (2, 2)).geo))
        #expect(!ImplicitConvolution.takesPhases(Case(n: 1, c: 8, o: 8, h: 8, w: 8, k: (3, 3), s: (2, 1), p: (1, 1), d: (1, 1)).geo))
    }
}
