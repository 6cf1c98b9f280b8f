import CKernelSupport
import Foundation

// The input gradient of a stride-2 convolution, one output phase at a time. Input element
// (ih, iw) = (2a + ph, 2b + pw) receives w[o, c, kh, kw] · dy[o, oh, ow] exactly from the kernel rows
// kh ≡ ph + padH (mod 2), at oh = a + (ph + padH − kh) / 2, and likewise for the columns: each of the
// four parities (ph, pw) is a stride-1 correlation of dy with a sub-kernel (for 3×3, padding 1: 1×1,
// 1×2, 2×1 and 2×2 taps). As a GEMM per phase, dx_phase[c, pos] = A[c, (tap, o)] · B[(tap, o), pos],
// the taps' products are summed in the reduction: no dcols written (4.5 floats per dy float for a
// 3×3 stride-2 layer), no col2im reading them back, and a reduction of O·taps instead of O.
// The two column phases of a row phase share their positions (b over the even columns' width), so
// each output tile pair is interleaved into whole dx rows by permutes and stored once: dx is
// written exactly once, without zeroing.
//
// Every dx element is one dot product over (tap, o) in a fixed order, whatever the blocks and the
// thread count (tasks own whole samples).
//
// The B rows (tap, o) of a panel are dy rows shifted by the tap: for pairs of whole panels of one
// sample on a phase grid as wide as dy (3×3 and 1×1 kernels at stride 2 whose output has 16·k
// positions per sample) the dy tiles load them straight from dy, a masked load per row
// (`swiftnn_conv_dy_tile_12x32_f32`, the rows the gather would pack: same bits); other panels are
// gathered into packed B panels (`swiftnn_conv_phase_gather_f32`). Where six-row blocks of input
// channels would pad rows (32 channels: 36; 64: 66), the channels that pairs of six-row blocks leave
// (32: the last 8; 64: the last 16) take eight-row blocks, and each pair of panels goes through every
// channel block in one C call (`swiftnn_conv_dy_pair_f32`).
//
// Taken where it measured faster than dcols and col2im (`bench conv`, 1 thread, Zen 5):
// - every panel read straight from dy (`readsDyDirectly`): SmallCNN's stride-2 layers on CIFAR
//   (32→64 at 32×32: 2.62 against 2.87 ms; 64→128 at 16×16: 2.34 against 2.61; 128→256 at 8×8:
//   2.35 against 2.50 gathered) and ResNet-18's (64→128 at 56×56, 3.68 against 3.84–3.90 ms; 1×1
//   downsamples 5–20 % faster);
// - outputs of at most 16 positions per sample (`phaseOutputLimit`) with at least 64 input channels
//   (`phaseChannelMinimum`), panels gathered: SmallCNN's last layer on MNIST's 7×7 input (whose col2im
//   path also computes 31 % of its products for padding) ran 8–10 % faster.
// With gathered panels on larger outputs the tap reads cost more than col2im saves: each B row feeds
// only C output rows (the columns path's dY rows feed 9·C), and a phase panel reads O·taps of them
// from O channel planes, as many streams missing L1 (MNIST's 14×14 and 7×7 outputs, ResNet's 7×7:
// 2–7 % slower than the columns path, so they stay there).

extension ImplicitConvolution {
    /// `SWIFTNN_CONV_DX=col2im` keeps stride-2 input gradients on dcols and col2im (to compare the two).
    static let phasesEnabled: Bool = ProcessInfo.processInfo.environment["SWIFTNN_CONV_DX"] != "col2im"

    /// Output positions per sample up to which the phases are taken (see ``takesPhases(_:)``).
    static let phaseOutputLimit = 16
    /// Input channels from which the phases are taken: every B row of a phase feeds C output rows.
    static let phaseChannelMinimum = 64

    /// Whether `geo`'s input gradient goes by output phase: stride 2 in both dimensions, no dilation,
    /// and either every panel read straight from dy (``readsDyDirectly(_:)``) or a small output and
    /// enough input channels (where it measured faster than col2im).
    static func takesPhases(_ geo: ConvGeometry) -> Bool {
        guard phasesEnabled && geo.stride == [2, 2] && geo.dilation == [1, 1] else { return false }
        return geo.outputCount <= phaseOutputLimit && geo.inChannels >= phaseChannelMinimum || readsDyDirectly(geo)
    }

    /// Whether every panel of `geo`'s phase grids is read straight from dy by the dy tiles: whole
    /// panels of one sample (a multiple of 16 output positions per sample) on phase grids as wide as dy.
    static func readsDyDirectly(_ geo: ConvGeometry) -> Bool {
        PhasePanel.enabled && geo.outputCount % 16 == 0 && (geo.inputSize[1] + 1) / 2 == geo.outputSize[1]
    }

    /// The kernel offsets k < `size` that reach input indices of parity `phase`, in order, each with
    /// its output shift (phase + padding − k) / 2: input 2a + phase reads output a + shift.
    static func phaseTaps(phase: Int, size: Int, padding: Int) -> (offsets: [Int], shifts: [Int]) {
        let offsets = (0..<size).filter { (phase + padding - $0) & 1 == 0 }
        return (offsets, offsets.map { (phase + padding - $0) / 2 })
    }

    /// ``inputGradient(_:_:_:_:)`` by output phase (``takesPhases(_:)``); gx is overwritten.
    static func inputGradientByPhase(_ gy: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ gx: UnsafeMutablePointer<Float>,
                                     _ geo: ConvGeometry) {
        let O = geo.outChannels, C = geo.inChannels, N = geo.batch
        let KH = geo.kernelSize[0], KW = geo.kernelSize[1], KK = KH * KW
        let H = geo.inputSize[0], W = geo.inputSize[1], OH = geo.outputSize[0], OW = geo.outputSize[1]
        let rowTaps = (0..<2).map { phaseTaps(phase: $0, size: KH, padding: geo.padding[0]) }
        let colTaps = (0..<2).map { phaseTaps(phase: $0, size: KW, padding: geo.padding[1]) }
        // Reduction length of phase (ph, pw): its taps times the output channels.
        let reduction = (0..<2).map { ph in (0..<2).map { pw in rowTaps[ph].offsets.count * colTaps[pw].offsets.count * O } }
        // A for every phase, six-row blocks of input channels: [C/6][(tap, o)][6].
        let cBlocks = (C + 5) / 6
        var aOffset = [[0, 0], [0, 0]]
        var aFloats = 0
        for ph in 0..<2 {
            for pw in 0..<2 {
                aOffset[ph][pw] = aFloats
                aFloats += cBlocks * reduction[ph][pw] * 6
            }
        }
        let wtStorage = gemmScratch(bytes: C * KK * O * 4), aStorage = gemmScratch(bytes: max(1, aFloats) * 4)
        let wt = wtStorage.pointer.assumingMemoryBound(to: Float.self), a = aStorage.pointer.assumingMemoryBound(to: Float.self)
        // wt[(c, kh, kw)][o] = w[o][(c, kh, kw)]: one kernel offset's [C][O] slice has unit column stride.
        // In bands of 16 output channels over the threads: the optimizer just wrote w from all of them,
        // and one thread alone waited on the other core's lines (SmallCNN's last layer: 1.2 MB).
        let bands = (O + 15) / 16
        let transposeTasks = Parallel.threadCount > 1 && O * C * KK >= 1 << 15 ? min(Parallel.threadCount, bands) : 1
        Parallel.run(tasks: transposeTasks) { t in
            let o0 = 16 * (bands * t / transposeTasks), o1 = min(O, 16 * (bands * (t + 1) / transposeTasks))
            swiftnn_transpose_f32(w + o0 * C * KK, o1 - o0, C * KK, C * KK, wt + o0, O)
        }
        for ph in 0..<2 {
            for pw in 0..<2 {
                let K = reduction[ph][pw]
                for (jh, kh) in rowTaps[ph].offsets.enumerated() {
                    for (jw, kw) in colTaps[pw].offsets.enumerated() {
                        let tap = jh * colTaps[pw].offsets.count + jw
                        packSixRows(wt + (kh * KW + kw) * O, rows: C, cols: O, rowStride: KK * O, colStride: 1,
                                    a + aOffset[ph][pw] + tap * O * 6, blockStride: K * 6)
                    }
                }
            }
        }
        // Both column phases run over the even columns' width; the odd phase's last column is
        // outside an odd-width input and never stored.
        let PW = (W + 1) / 2
        // Panels whose B rows the dy tiles load straight from dy (pairs of whole one-sample panels of a
        // phase grid as wide as dy): per panel and column phase, each tap's offset and lane mask.
        let dyTiles = OW == PW && GEMMBlocking.sizes.convPhaseTiles && PhasePanel.enabled
        // Where six-row blocks would compute rows for nothing and eight-row ones none (32 input
        // channels: six blocks for 32 rows, 12.5 % more products; 64 and 128: 3 %), the dy tiles take
        // the first `sixRowChannels` channels in pairs of six-row blocks (the 12×32 tile's 24
        // accumulators) and the rest in eight-row blocks [(C − sixRowChannels)/8][(tap, o)][8] (16
        // accumulators). `bench conv` dx, 1 thread: 32→64 2.50 ms on eight-row blocks alone, 2.47 on
        // this mix, 2.64 on six-row blocks; 64→128 2.37–2.52 → 2.34–2.37 and 128→256 2.38–2.39 →
        // 2.32–2.40 with the mix (2 threads 1.27–1.28 → 1.26, 1.27–1.29 → 1.25–1.26).
        let eightRows = dyTiles && C % 8 == 0 && 6 * cBlocks > C
        let sixRowChannels = eightRows ? stride(from: C / 12 * 12, through: 0, by: -12).first { (C - $0) % 8 == 0 }! : C
        var a8Offset = [[0, 0], [0, 0]]
        var a8Floats = 0
        if eightRows {
            for ph in 0..<2 {
                for pw in 0..<2 {
                    a8Offset[ph][pw] = a8Floats
                    a8Floats += (C - sixRowChannels) * reduction[ph][pw]
                }
            }
        }
        let a8Storage = gemmScratch(bytes: max(1, a8Floats) * 4)
        let a8 = a8Storage.pointer.assumingMemoryBound(to: Float.self)
        if eightRows {
            for ph in 0..<2 {
                for pw in 0..<2 {
                    let K = reduction[ph][pw], ncol = colTaps[pw].offsets.count
                    for (jh, kh) in rowTaps[ph].offsets.enumerated() {
                        for (jw, kw) in colTaps[pw].offsets.enumerated() {
                            let k0 = (jh * ncol + jw) * O
                            for c in sixRowChannels..<C {
                                let src = wt + c * KK * O + (kh * KW + kw) * O
                                let dst = a8 + a8Offset[ph][pw] + ((c - sixRowChannels) / 8) * K * 8 + k0 * 8 + (c - sixRowChannels) % 8
                                for o in 0..<O { dst[o * 8] = src[o] }
                            }
                        }
                    }
                }
            }
        }
        // Panels per block: B panels (the row phase's two reductions × 16 floats each) within ≈ 192 KB,
        // an even count (panels go through the micro-kernel in pairs).
        let maxRows = max(1, (0..<2).map { reduction[$0][0] + reduction[$0][1] }.max()!)
        let fit = max(2, (192 << 10) / (maxRows * 64))
        let perBlock = fit & ~1
        let tasks = tasks(work: geo.work, units: N, perThread: 4)
        // The shifts as C arrays, `maxTaps` entries each: row phase ph's at ph·maxTaps, column phase
        // pw's at (2 + pw)·maxTaps.
        let phases = rowTaps + colTaps
        let maxTaps = max(1, phases.map { $0.shifts.count }.max()!)
        let shiftTable = UnsafeMutablePointer<Int>.allocate(capacity: 4 * maxTaps)
        defer { shiftTable.deallocate() }
        for (i, phase) in phases.enumerated() {
            for (j, shift) in phase.shifts.enumerated() { shiftTable[i * maxTaps + j] = shift }
        }
        let shifts = (0..<4).map { (UnsafePointer(shiftTable + $0 * maxTaps), phases[$0].shifts.count) }
        // Samples per block: their dy within ≈ 256 KB (stays in L2 for the second row phase).
        let samplesPerBlock = max(1, (256 << 10) / max(1, O * OH * OW * 4))
        let tapSlots = maxTaps * maxTaps
        // A dx as large as batch norm's streamed outputs goes past the caches (whole 32-float rows):
        // no read for ownership of lines the next layer's backward reads from memory anyway. CIFAR
        // SmallCNN step, 3 alternating rounds: 1 thread 27.7–28.4 → 27.2–27.3 ms, 2 threads
        // 14.7–14.9 → 14.3–14.4 ms (conv 32→64's backward 6.0 → 5.4 ms, the first layer's 0.05 slower).
        let streamingBytes = GEMMBlocking.sizes.convStreamingBytes ?? Kernels.normalizationStreamingBytes
        let stream: Int32 = N * C * H * W * MemoryLayout<Float>.stride >= streamingBytes ? 1 : 0
        // Each row phase's constants for the dy tiles' pairs (`swiftnn_conv_dy_pair_f32`).
        let phasePlans = UnsafeMutablePointer<swiftnn_conv_dy_phase>.allocate(capacity: 2)
        defer { phasePlans.deallocate() }
        for ph in 0..<2 {
            var plan = swiftnn_conv_dy_phase()
            plan.outChannels = O
            plan.inChannels = C
            plan.sixRowChannels = sixRowChannels
            plan.taps = (reduction[ph][0] / max(1, O), reduction[ph][1] / max(1, O))
            plan.a6 = (UnsafePointer(a + aOffset[ph][0]), UnsafePointer(a + aOffset[ph][1]))
            plan.a8 = (UnsafePointer(a8 + a8Offset[ph][0]), UnsafePointer(a8 + a8Offset[ph][1]))
            plan.plane = OH * OW
            plan.inPlane = H * W
            plan.width = W
            plan.rowPhase = ph
            plan.stream = stream
            phasePlans[ph] = plan
        }
        Parallel.run(tasks: tasks) { t in
            ThreadScratch.withMemory(bytes: perBlock * maxRows * 16 * 4) { memory in
            withUnsafeTemporaryAllocation(of: Int.self, capacity: perBlock * 2 * tapSlots) { directOffsets in
            withUnsafeTemporaryAllocation(of: UInt16.self, capacity: perBlock * 2 * tapSlots) { directMasks in
            withUnsafeTemporaryAllocation(of: Bool.self, capacity: perBlock) { directPanels in
            let dOff = directOffsets.baseAddress!, dMask = directMasks.baseAddress!, direct = directPanels.baseAddress!
            // Whole samples per task, so no two tasks write the same input element.
            let n0 = N * t / tasks, n1 = N * (t + 1) / tasks
            let bpack = memory.assumingMemoryBound(to: Float.self)
            withUnsafeTemporaryAllocation(of: swiftnn_conv_run.self, capacity: 16 * perBlock) { runs in
            withUnsafeTemporaryAllocation(of: swiftnn_conv_span.self, capacity: 16) { spans in
            withUnsafeTemporaryAllocation(of: Int.self, capacity: perBlock) { counts in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * 384) { tiles in
                let rp = runs.baseAddress!, sp = spans.baseAddress!, cp = counts.baseAddress!
                let even = tiles.baseAddress!, odd = even + 384
                // Both row phases of a block of samples in turn, so that the block's dy is read from
                // memory once and from L2 for the other phase.
                var s = n0
                while s < n1 {
                    let s1 = min(n1, s + samplesPerBlock)
                    for ph in 0..<2 {
                        let PH = (H - ph + 1) / 2
                        guard PH > 0 else { continue }
                        let L = PH * PW, lo = s * L, hi = s1 * L
                        let panels = (hi - lo + 15) / 16
                        let K0 = reduction[ph][0], K1 = reduction[ph][1], rows = K0 + K1
                        let a0 = a + aOffset[ph][0], a1 = a + aOffset[ph][1]
                        var block = 0
                        while block < panels {
                            let nb = min(perBlock, panels - block)
                            for j in 0..<nb {
                                let start = lo + (block + j) * 16
                                cp[j] = describe(panelStart: start, lo: start, hi: min(start + 16, hi), outputWidth: PW,
                                                 positions: L, outChannels: O, runs: rp + 16 * j, spans: sp).runs
                                direct[j] = dyTiles && (0..<2).allSatisfy { pw in
                                    swiftnn_conv_dy_panel_f32(rp + 16 * j, cp[j], OH, OW, shifts[ph].0, shifts[ph].1, shifts[2 + pw].0,
                                                              shifts[2 + pw].1, dOff + (2 * j + pw) * tapSlots,
                                                              dMask + (2 * j + pw) * tapSlots) != 0
                                }
                            }
                            // Pairs (j, j + 1), j even, as the products below take them.
                            for j in stride(from: 0, to: nb, by: 2) {
                                let both = j + 1 < nb && direct[j] && direct[j + 1]
                                direct[j] = both
                                if j + 1 < nb { direct[j + 1] = both }
                            }
                            for j in 0..<nb where !direct[j] {
                                let b = bpack + j * rows * 16
                                for pw in 0..<2 {
                                    swiftnn_conv_phase_gather_f32(gy, O, OH, OW, rp + 16 * j, cp[j], shifts[ph].0, shifts[ph].1,
                                                                  shifts[2 + pw].0, shifts[2 + pw].1, b + (pw == 0 ? 0 : K0 * 16))
                                }
                            }
                            // Two panels × two six-channel blocks per micro-kernel call where there are two.
                            @inline(__always) func tiles(_ K: Int, _ base: UnsafePointer<Float>, _ ob: Int, _ blocks: Int,
                                                         _ b0: UnsafePointer<Float>, _ b1: UnsafePointer<Float>, _ pairs: Int,
                                                         _ tile: UnsafeMutablePointer<Float>) {
                                let x0 = base + ob * K * 6, x1 = x0 + K * 6
                                switch (blocks, pairs) {
                                case (2, 2): swiftnn_gemm_f32_12x32_tile(K, x0, x1, b0, b1, tile)
                                case (1, 2): swiftnn_gemm_f32_6x32_tile(K, x0, b0, b1, tile)
                                case (2, _):
                                    swiftnn_gemm_f32_6x16_tile(K, x0, b0, tile)
                                    swiftnn_gemm_f32_6x16_tile(K, x1, b0, tile + 192)
                                default: swiftnn_gemm_f32_6x16_tile(K, x0, b0, tile)
                                }
                            }
                            var j = 0
                            while j < nb {
                                let pairs = j + 1 < nb ? 2 : 1
                                if pairs == 2 && direct[j] {
                                    // Every channel of the pair in one call (the tiles and their stores).
                                    let y0 = gy + rp[16 * j].n * O * OH * OW, y1 = gy + rp[16 * (j + 1)].n * O * OH * OW
                                    swiftnn_conv_dy_pair_f32(phasePlans + ph, y0, y1, dOff + 2 * j * tapSlots, dMask + 2 * j * tapSlots,
                                                             dOff + 2 * (j + 1) * tapSlots, dMask + 2 * (j + 1) * tapSlots, tapSlots,
                                                             rp + 16 * j, cp[j], rp + 16 * (j + 1), cp[j + 1], gx, even)
                                    j += 2
                                    continue
                                }
                                let b0 = bpack + j * rows * 16, b1 = b0 + rows * 16
                                var ob = 0
                                while ob < cBlocks {
                                    let blocks = ob + 1 < cBlocks ? 2 : 1
                                    tiles(K0, a0, ob, blocks, b0, b1, pairs, even)
                                    tiles(K1, a1, ob, blocks, b0 + K0 * 16, b1 + K0 * 16, pairs, odd)
                                    // Tile q = 2·block + panel (the 12×32 kernel's order).
                                    for bi in 0..<blocks {
                                        let c0 = 6 * (ob + bi)
                                        for pj in 0..<pairs {
                                            let q = 96 * (2 * bi + pj)
                                            swiftnn_conv_phase_store_f32(even + q, odd + q, min(6, C - c0), rp + 16 * (j + pj),
                                                                         cp[j + pj], gx + c0 * H * W, C * H * W, H * W, W, ph, stream)
                                        }
                                    }
                                    ob += blocks
                                }
                                j += pairs
                            }
                            block += nb
                        }
                    }
                    s = s1
                }
                streamFence(stream != 0)
            } } } }
            } } }
            }
        }
        withExtendedLifetime((wtStorage, aStorage, a8Storage)) {}
    }
}
