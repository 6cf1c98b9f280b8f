import CKernelSupport
import Foundation

// 2-d float32 convolution as an implicit GEMM on AVX-512 (kernels in conv_kernels.c): the im2col
// matrix cols[tap, position] (tap = (c, kh, kw), position = (n, oh, ow) over the whole batch) is
// never written out. Sixteen positions at a time ("a panel") are gathered from the input straight
// into the layout the micro-kernel reads, so the forward pass reads the input once per panel
// instead of writing cols, reading it back and packing it again. The input gradient does write
// its columns (dcols = Wᵀ·dY), a few samples at a time into a buffer that stays in L2, and adds
// them onto dx with a contiguous col2im: adding each 6×16 tile back through gathers and scatters
// cost as much as the product itself when the reduction (the output channels) is short. Stride-2
// layers with small outputs and at least 64 input channels take it by output phase instead
// (PhaseInputGradient.swift).
// A 3×3 kernel at column stride 1 or 2 (SmallCNN's and ResNet's layers) reads a panel's taps run by
// run (lanes of one output row) with masked vector loads, deinterleaved by a permute at stride 2;
// other kernels use AVX-512 gathers, about 16 cycles each, which had been 12 % of a training step.
// At stride 2, padding 1 the rows a block reads are first split into phase planes (PhaseSplitSamples),
// where each tap is one contiguous masked load per sample of the panel.
//
// Rounding does not depend on the thread count: every output (forward) is one dot product over all
// taps in order, and every input-gradient element receives its contributions in an order fixed by
// the geometry (tasks own whole samples; col2im adds in a fixed loop order).

enum ImplicitConvolution {
    /// `SWIFTNN_CONV=im2col` keeps every convolution on the im2col path (to compare the two).
    static let enabled: Bool = ProcessInfo.processInfo.environment["SWIFTNN_CONV"] != "im2col"

    /// `SWIFTNN_CONV_GATHER=hardware` reads every panel's taps with AVX-512 gathers, to compare with
    /// the masked loads of `swiftnn_conv_gather_runs_f32` (see ``gathersRuns(_:)``).
    static let runGathersEnabled: Bool = ProcessInfo.processInfo.environment["SWIFTNN_CONV_GATHER"] != "hardware"

    /// Whether panels of `g` read their taps run by run with masked loads (3×3 kernels at column
    /// stride 1 or 2) instead of hardware gathers: a 16-lane gather costs about 16 cycles, and the
    /// gathers were 12 % of a SmallCNN training step. Both read the same values.
    static func gathersRuns(_ g: swiftnn_conv_geometry) -> Bool {
        var g = g
        return runGathersEnabled && swiftnn_conv_runs_supported(&g) != 0
    }

    /// Rows tap0..<tap0+taps of the panel described by `runs` (``describe``), 16 floats per tap at
    /// `dst + t·stride`, or six taps interleaved per block (`six`): run by run, or by a gather plan.
    @inline(__always)
    static func gather(_ x: UnsafePointer<Float>, _ g: inout swiftnn_conv_geometry, byRuns: Bool,
                       runs: UnsafePointer<swiftnn_conv_run>, count: Int, plan: UnsafeMutablePointer<swiftnn_conv_tap_lanes>,
                       tap0: Int, taps: Int, _ dst: UnsafeMutablePointer<Float>, stride: Int) {
        if byRuns {
            swiftnn_conv_gather_runs_f32(x, &g, runs, count, tap0, taps, dst, stride, 0)
        } else {
            let base = swiftnn_conv_plan_panel(&g, runs, count, plan)
            swiftnn_conv_gather_f32(x, &g, plan, base, tap0, taps, dst, stride)
        }
    }

    /// Whether `geo` takes this path: float32 2-d, one group, on a CPU with the AVX-512 kernels.
    static func applies(_ geo: ConvGeometry, _ dtype: DType) -> Bool {
        enabled && dtype == .float32 && GEMMCKernel.level >= 2 && geo.inputSize.count == 2 && geo.groups == 1
            && geo.batch > 0 && geo.outputCount > 0 && geo.inChannels > 0 && geo.outChannels > 0
            && indicesFit(geo)
    }

    /// Gather plans address a panel's lanes with 32-bit element offsets from the panel's first
    /// sample: a panel spans at most 16 / OH·OW + 2 samples. (Only absurd geometries, a sample of
    /// hundreds of MB with a handful of output positions, fail this and take the im2col path.)
    static func indicesFit(_ geo: ConvGeometry) -> Bool {
        let samples = 16 / max(1, geo.outputCount) + 2
        let (span, overflow) = (geo.inChannels * geo.inputCount).multipliedReportingOverflow(by: samples)
        // Receptive-field corners (output · stride − padding + (kernel − 1) · dilation) in 32 bits too.
        let limit = 1 << 29
        let corners = (0..<2).allSatisfy { d in
            geo.padding[d] < limit && geo.outputSize[d] < limit / max(1, geo.stride[d])
                && geo.kernelSize[d] < limit / max(1, geo.dilation[d])
        }
        return !overflow && span < Int(Int32.max) && corners
    }

    static func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }

    static func geometry(_ geo: ConvGeometry) -> swiftnn_conv_geometry {
        swiftnn_conv_geometry(
            sampleStride: geo.inChannels * geo.inputCount, height: geo.inputSize[0], width: geo.inputSize[1],
            kernelH: geo.kernelSize[0], kernelW: geo.kernelSize[1], strideH: geo.stride[0], strideW: geo.stride[1],
            padH: geo.padding[0], padW: geo.padding[1], dilationH: geo.dilation[0], dilationW: geo.dilation[1])
    }

    /// Runs and spans of the positions `lo..<hi` (global, over N·OH·OW) of the panel starting at
    /// `panelStart`; returns their counts. `outChannels·L` is one sample of the output.
    @inline(__always)
    static func describe(panelStart: Int, lo: Int, hi: Int, outputWidth OW: Int, positions L: Int, outChannels O: Int,
                         runs: UnsafeMutablePointer<swiftnn_conv_run>, spans: UnsafeMutablePointer<swiftnn_conv_span>)
        -> (runs: Int, spans: Int)
    {
        var nr = 0, ns = 0
        var pos = lo
        while pos < hi {
            let n = pos / L, r = pos - n * L
            let spanCount = min(hi - pos, L - r)
            spans[ns] = swiftnn_conv_span(offset: n * O * L + r, lane0: pos - panelStart, count: spanCount)
            ns += 1
            var q = pos
            while q < pos + spanCount {
                let rq = q - n * L
                let oh = rq / OW, ow = rq - oh * OW
                let c = min(pos + spanCount - q, OW - ow)
                runs[nr] = swiftnn_conv_run(n: n, oh: oh, ow0: ow, lane0: q - panelStart, count: c)
                nr += 1
                q += c
            }
            pos += spanCount
        }
        return (nr, ns)
    }

    /// Tasks for `work` multiply-adds over `units` independent pieces, `perThread` per thread. The pool
    /// hands tasks out as threads free up, so several per thread even out a core that is slowed or
    /// late to wake (with one task per thread the main thread spun, waiting, for 5.5 % of a 2-thread epoch).
    static func tasks(work: Int, units: Int, perThread: Int = 1) -> Int {
        let threads = Parallel.threadCount
        guard work >= GEMMBlocking.parallelWork, threads > 1 else { return 1 }
        return max(1, min(threads * perThread, units))
    }

    /// The micro-kernel's A layout: rows of `src` (element (r, c) at r·rowStride + c·colStride) in
    /// blocks of six, interleaved: `dst[(b·blockStride) + c·6 + i]` = row 6b+i, column c (zero past
    /// the last row). Six rows read from one cache line per step instead of six lines that share a
    /// cache bank (planar rows ran ≈ 35 % slower).
    /// W (columns contiguous) and Wᵀ (rows contiguous) take the AVX-512 packers, split over the
    /// threads when large: the optimizer just wrote W from all threads, so part of it sits in another
    /// core's cache and one thread alone waits on every line (1 % of a 2-thread SmallCNN step).
    /// `packSixRowsScalar` is the definition they are tested against.
    static func packSixRows(_ src: UnsafePointer<Float>, rows: Int, cols: Int, rowStride: Int, colStride: Int,
                            _ dst: UnsafeMutablePointer<Float>, blockStride: Int) {
        let blocks = (rows + 5) / 6
        let tasks = Parallel.threadCount > 1 && rows * cols >= 1 << 15 ? min(Parallel.threadCount, blocks) : 1
        if colStride == 1 {
            Parallel.run(tasks: tasks) { t in
                let b0 = blocks * t / tasks, b1 = blocks * (t + 1) / tasks
                swiftnn_conv_pack_six_rows_f32(src + 6 * b0 * rowStride, min(rows, 6 * b1) - 6 * b0, cols, rowStride,
                                               dst + b0 * blockStride, blockStride)
            }
        } else if rowStride == 1 {
            let tasks = min(tasks, cols)
            Parallel.run(tasks: tasks) { t in
                let c0 = cols * t / tasks, c1 = cols * (t + 1) / tasks
                swiftnn_conv_pack_six_contiguous_rows_f32(src + c0 * colStride, rows, c1 - c0, colStride, dst + 6 * c0, blockStride)
            }
        } else {
            packSixRowsScalar(src, rows: rows, cols: cols, rowStride: rowStride, colStride: colStride, dst, blockStride: blockStride)
        }
    }

    static func packSixRowsScalar(_ src: UnsafePointer<Float>, rows: Int, cols: Int, rowStride: Int, colStride: Int,
                                  _ dst: UnsafeMutablePointer<Float>, blockStride: Int) {
        for b in 0..<((rows + 5) / 6) {
            let d = dst + b * blockStride
            for i in 0..<6 {
                let r = 6 * b + i
                if r < rows {
                    let s = src + r * rowStride
                    for c in 0..<cols { d[c &* 6 &+ i] = s[c &* colStride] }
                } else {
                    for c in 0..<cols { d[c &* 6 &+ i] = 0 }
                }
            }
        }
    }

    /// C[0..<rows, 0..<cols] += A (six packed rows, kc) · B (kc × 16): the GEMM's micro-kernel.
    @inline(__always)
    static func kernel(_ kc: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
                       _ ldc: Int, _ rows: Int, _ cols: Int) {
        swiftnn_gemm_f32_microkernel(2, kc, a, b, c, ldc, rows, cols)
    }

    /// `out[N, O, OH, OW] = conv(x, w) + bias`.
    static func forward(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                        _ out: UnsafeMutablePointer<Float>, _ geo: ConvGeometry) {
        if geo.inChannels * geo.kernelCount <= smallTapLimit {
            forwardSmallTaps(x, w, bias, out, geo)
        } else {
            forwardGEMM(x, w, bias, out, geo)
        }
    }

    /// `forward` as products of packed W blocks and gathered panels on the micro-kernels.
    static func forwardGEMM(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                            _ out: UnsafeMutablePointer<Float>, _ geo: ConvGeometry) {
        let geometry = geometry(geo), byRuns = gathersRuns(geometry)
        let O = geo.outChannels, K = geo.inChannels * geo.kernelCount, KK = geo.kernelCount
        let L = geo.outputCount, OW = geo.outputSize[1], P = geo.batch * L
        let panels = (P + 15) / 16
        // Taps in equal chunks of at most 1152 (SmallCNN's layers in one): every further chunk costs a
        // pass that adds its tile onto the stored outputs, and that pass cost more than keeping two
        // panels' taps in L1 saved. (Chunks of at most 320, which did keep them in L1, ran 3–6 %
        // slower on conv 64→128 and 128→256 in call-by-call A/B runs, 1 and 2 threads; 160, 5 %
        // slower still.) Equal chunks, not 1152 + remainder: one pass fewer per output tile.
        let chunks = (K + 1151) / 1152
        let kcMax = (K + chunks - 1) / chunks
        // Stride-2 3×3 layers: the input rows a block of panels reads, split into phase planes (a
        // block's positions span at most `splitSamples` samples). Pairs of whole one-sample panels go
        // through the phase tiles, which read their taps from the planes (a chunk of taps must be
        // whole channels); the other panels are gathered into packed panels as elsewhere.
        let phased = byRuns && PhaseSplitSamples.used(geometry)
        let phaseTiles = phased && kcMax % 9 == 0 && PhasePanel.enabled && GEMMBlocking.sizes.convPhaseTiles
        // A block of panels stays in L2 while every 6-row block of W sweeps it: K × 16 floats per
        // packed panel, or its share of the phase planes (4 × 16 floats per input channel, 4/9 as
        // much; blocks of twice as many panels ran conv 32→64 about 4 % faster than the packed size).
        // An even count: panels go through the micro-kernel in pairs, and an odd block leaves one
        // on the narrower 6×16 tile every time (conv 64→128: five panels per block ran ≈ 7 % slower
        // than four). At least two even when K is too large for two in 192 KB: the lone 6×16 tile
        // leaves the FMA latency exposed (ResNet-18's 256- and 512-channel 3×3 layers ran at 183
        // GFLOP/s on it, 250–260 in pairs; each chunk of a pair's taps still fits L2).
        let panelBytes = phaseTiles ? geo.inChannels * 4 * 16 * 4 : K * 64
        let fit = min(panels, max(2, (192 << 10) / panelBytes))
        let perBlock = fit > 1 ? fit & ~1 : 1
        let tasks = tasks(work: geo.work, units: (panels + 1) / 2, perThread: 4)
        let oBlocks = (O + 5) / 6
        let wpStorage = gemmScratch(bytes: oBlocks * K * 6 * 4)
        let wp = wpStorage.pointer.assumingMemoryBound(to: Float.self)
        packSixRows(w, rows: O, cols: K, rowStride: K, colStride: 1, wp, blockStride: K * 6)
        // Where the phase tiles store the outputs (one chunk of taps, no bias) and a lone six-row block
        // would compute rows for nothing (64, 128 and 256 output channels: 4, 2 and 4 rows), the
        // channels past `sixRowChannels` take eight-row blocks [(O − sixRowChannels)/8][K][8]
        // (`swiftnn_conv_phase_store_8x32_f32`), as the phase input gradient's do.
        let eightRows = phaseTiles && chunks == 1 && bias == nil && O % 8 == 0 && 6 * oBlocks > O
        let sixRowChannels = eightRows ? stride(from: O / 12 * 12, through: 0, by: -12).first { (O - $0) % 8 == 0 }! : O
        let a8Storage = gemmScratch(bytes: max(1, (O - sixRowChannels) * K) * 4)
        let a8 = a8Storage.pointer.assumingMemoryBound(to: Float.self)
        for o in sixRowChannels..<O {
            let dst = a8 + (o - sixRowChannels) / 8 * K * 8 + (o - sixRowChannels) % 8
            for k in 0..<K { dst[k * 8] = w[o * K + k] }
        }
        let packBytes = perBlock * K * 16 * 4
        let splitSamples = (16 * perBlock - 1) / L + 2
        let splitBytes = phased ? PhaseSplitSamples.bytes(samples: splitSamples, channels: geo.inChannels, geo) : 0
        Parallel.run(tasks: tasks) { t in
            ThreadScratch.withMemory(bytes: packBytes + splitBytes) { memory in
            var g = geometry  // per task: `&g` is an access the exclusivity checker tracks
            // Whole pairs of panels per task, so that only the last panel of all can be a lone one.
            let pairs = (panels + 1) / 2
            let p0 = min(panels, 2 * (pairs * t / tasks)), p1 = min(panels, 2 * (pairs * (t + 1) / tasks))
            let bpack = memory.assumingMemoryBound(to: Float.self)
            let split = phased
                ? PhaseSplitSamples(x: x, geo, samples: splitSamples, channels: geo.inChannels, memory: memory + packBytes) : nil
            withUnsafeTemporaryAllocation(of: swiftnn_conv_run.self, capacity: 16 * perBlock) { runs in
            withUnsafeTemporaryAllocation(of: swiftnn_conv_span.self, capacity: 16 * perBlock) { spans in
            withUnsafeTemporaryAllocation(of: (Int, Int).self, capacity: perBlock) { counts in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 384) { tile in
            withUnsafeTemporaryAllocation(of: swiftnn_conv_tap_lanes.self, capacity: KK) { plan in
            withUnsafeTemporaryAllocation(of: PhasePanel.self, capacity: perBlock) { direct in
                let rp = runs.baseAddress!, sp = spans.baseAddress!, cp = counts.baseAddress!, tp = tile.baseAddress!
                let pl = plan.baseAddress!, dp = direct.baseAddress!
                var block = p0
                while block < p1 {
                    let nb = min(perBlock, p1 - block)
                    let planes = split?.prepare(positions: block * 16..<min((block + nb) * 16, P), channels: 0,
                                                count: geo.inChannels)
                    for j in 0..<nb {
                        let start = (block + j) * 16
                        cp[j] = describe(panelStart: start, lo: start, hi: min(start + 16, P), outputWidth: OW, positions: L,
                                         outChannels: O, runs: rp + 16 * j, spans: sp + 16 * j)
                    }
                    // Pairs of whole one-sample panels go through the phase tiles, which read the planes
                    // themselves; only the other panels are gathered.
                    for j in 0..<nb { dp[j] = PhasePanel() }
                    if let planes, phaseTiles {
                        var j = 0
                        while j + 1 < nb {
                            let a = PhasePanel(planes, OW, runs: rp + 16 * j, count: cp[j].0)
                            let b = PhasePanel(planes, OW, runs: rp + 16 * (j + 1), count: cp[j + 1].0)
                            if a.base != nil && b.base != nil { dp[j] = a; dp[j + 1] = b }
                            j += 2
                        }
                    }
                    for j in 0..<nb where dp[j].base == nil {
                        if let planes {
                            swiftnn_conv_gather_phases_f32(planes.samples, planes.first, OW, L, rp + 16 * j, cp[j].0, 0, K,
                                                           bpack + j * K * 16, 16, 0)
                        } else {
                            gather(x, &g, byRuns: byRuns, runs: rp + 16 * j, count: cp[j].0, plan: pl, tap0: 0, taps: K,
                                   bpack + j * K * 16, stride: 16)
                        }
                    }
                    var k0 = 0
                    while k0 < K {
                        let kc = min(kcMax, K - k0)
                        @inline(__always) func store(_ tile: UnsafePointer<Float>, _ ob: Int, _ j: Int) {
                            swiftnn_conv_store_rows_f32(tile, min(6, O - 6 * ob), out + 6 * ob * L, L, sp + 16 * j, cp[j].1,
                                                        k0 > 0 ? 1 : 0, k0 == 0 ? bias.map { $0 + 6 * ob } : nil)
                        }
                        // Two panels × two six-row blocks of W per micro-kernel call (24 accumulators
                        // hide the FMA latency that six leave exposed); the edges one tile at a time.
                        var j = 0
                        while j < nb {
                            let bj = bpack + (j * K + k0) * 16
                            var ob = 0
                            if j + 1 < nb, let base0 = dp[j].base, let base1 = dp[j + 1].base {
                                let c0 = k0 / 9, cc = kc / 9, d0 = dp[j], d1 = dp[j + 1]
                                let b0 = base0 + c0 * 4 * L, b1 = base1 + c0 * 4 * L
                                // One chunk of taps and no bias: the sums are the outputs, stored from registers
                                // into the panels' contiguous rows.
                                let storesOutput = kc == K && bias == nil
                                let sixBlocks = eightRows ? sixRowChannels / 6 : oBlocks
                                while ob + 1 < sixBlocks {
                                    let a0 = wp + (ob * K + k0) * 6, a1 = wp + ((ob + 1) * K + k0) * 6
                                    if storesOutput {
                                        swiftnn_conv_phase_store_12x32_f32(cc, a0, a1, b0, b1, L, OW, d0.top, d0.left, d1.top, d1.left,
                                                                           out + sp[16 * j].offset + 6 * ob * L,
                                                                           out + sp[16 * (j + 1)].offset + 6 * ob * L,
                                                                           6, min(6, O - 6 * (ob + 1)), L)
                                    } else {
                                        swiftnn_conv_phase_tile_12x32_f32(cc, a0, a1, b0, b1, L, OW, d0.top, d0.left, d1.top, d1.left, tp)
                                        store(tp, ob, j); store(tp + 96, ob, j + 1)
                                        store(tp + 192, ob + 1, j); store(tp + 288, ob + 1, j + 1)
                                    }
                                    ob += 2
                                }
                                if eightRows {
                                    for o0 in stride(from: sixRowChannels, to: O, by: 8) {
                                        swiftnn_conv_phase_store_8x32_f32(cc, a8 + (o0 - sixRowChannels) * K, b0, b1, L, OW, d0.top,
                                                                          d0.left, d1.top, d1.left, out + sp[16 * j].offset + o0 * L,
                                                                          out + sp[16 * (j + 1)].offset + o0 * L, 8, L)
                                    }
                                    ob = oBlocks
                                }
                                if ob < oBlocks {
                                    swiftnn_conv_phase_tile_6x32_f32(cc, wp + (ob * K + k0) * 6, b0, b1, L, OW, d0.top, d0.left,
                                                                     d1.top, d1.left, tp)
                                    store(tp, ob, j); store(tp + 96, ob, j + 1)
                                    ob += 1
                                }
                                j += 2
                                continue
                            }
                            if j + 1 < nb {
                                let bj1 = bpack + ((j + 1) * K + k0) * 16
                                while ob + 1 < oBlocks {
                                    swiftnn_gemm_f32_12x32_tile(kc, wp + (ob * K + k0) * 6, wp + ((ob + 1) * K + k0) * 6, bj, bj1, tp)
                                    store(tp, ob, j); store(tp + 96, ob, j + 1)
                                    store(tp + 192, ob + 1, j); store(tp + 288, ob + 1, j + 1)
                                    ob += 2
                                }
                                if ob < oBlocks {
                                    // A lone six-row block left over: both panels at once (12
                                    // accumulators instead of 6 hide the FMA latency).
                                    swiftnn_gemm_f32_6x32_tile(kc, wp + (ob * K + k0) * 6, bj, bj1, tp)
                                    store(tp, ob, j); store(tp + 96, ob, j + 1)
                                    ob += 1
                                }
                            }
                            // A lone panel: two six-row blocks of W at a time on the 12×16 kernel
                            // (12 accumulators; the 6×16 tile's six leave the FMA latency exposed).
                            while ob + 1 < oBlocks {
                                swiftnn_gemm_f32_12x16_store(kc, wp + (ob * K + k0) * 6, wp + ((ob + 1) * K + k0) * 6, bj, tp, 16)
                                store(tp, ob, j); store(tp + 96, ob + 1, j)
                                ob += 2
                            }
                            if ob < oBlocks {
                                swiftnn_gemm_f32_6x16_tile(kc, wp + (ob * K + k0) * 6, bj, tp)
                                store(tp, ob, j)
                            }
                            j += 2
                        }
                        k0 += kc
                    }
                    block += nb
                }
            } } } } } }
            }
        }
        withExtendedLifetime((wpStorage, a8Storage)) {}
    }

    /// `gx = ∂L/∂x` from `gy = ∂L/∂out` (gx is overwritten): by output phase for the stride-2
    /// geometries of ``takesPhases(_:)``, through dcols and col2im otherwise.
    static func inputGradient(_ gy: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ gx: UnsafeMutablePointer<Float>,
                              _ geo: ConvGeometry) {
        if takesPhases(geo) {
            inputGradientByPhase(gy, w, gx, geo)
        } else {
            inputGradientByColumns(gy, w, gx, geo)
        }
    }

    /// ``inputGradient(_:_:_:_:)`` for every geometry: dcols = Wᵀ · dY over a block of whole
    /// samples, a chunk of whole channels' taps at a time (the micro-kernel's tiles stored into a
    /// cache-sized column buffer), each chunk followed by col2im of its channels with contiguous vector
    /// row operations (swiftnn_conv_col2im_f32).
    /// Every dcols element is one dot product over the output channels in order and col2im adds in
    /// an order fixed by the geometry, so neither the blocks nor the thread count change the result.
    static func inputGradientByColumns(_ gy: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ gx: UnsafeMutablePointer<Float>,
                                       _ geo: ConvGeometry) {
        let geometry = geometry(geo)
        let O = geo.outChannels, C = geo.inChannels, KK = geo.kernelCount, K = C * KK
        let L = geo.outputCount, OH = geo.outputSize[0], OW = geo.outputSize[1], N = geo.batch
        // Wᵀ [K, O] as six-tap blocks [K/6][O][6].
        let tapBlocks = (K + 5) / 6
        let wtStorage = gemmScratch(bytes: tapBlocks * O * 6 * 4)
        let wt = wtStorage.pointer.assumingMemoryBound(to: Float.self)
        packSixRows(w, rows: K, cols: O, rowStride: 1, colStride: K, wt, blockStride: O * 6)
        // Samples per block: dY panels [O][positions rounded up to 16] within the budget. Panels do not
        // straddle blocks, so a block's last panel is partly empty: large blocks keep that waste small
        // (a block of one sample computed 13 panels for conv 32→64's 12.25, 6 % more products).
        let perBlock = max(1, min(N, GEMMBlocking.sizes.convBlockBytes / max(1, O * L * 4)))
        let maxPanels = (perBlock * L + 15) / 16
        // Taps per chunk: whole channels and whole pairs of six-tap blocks, ≈ 128 KB of dcols (at least
        // one such unit), so that the chunk is still in L2 (if not L1) when col2im reads it, and its buffer
        // is reused. (Bench conv, 1 thread: 128 KB ≈ 1 % faster than 32 KB on all three SmallCNN
        // layers, 8 KB ≈ 3 % slower.)
        // (An even number of six-tap blocks per unit: an odd one leaves a 6×16 edge in every chunk.)
        var unit = 6 / gcd(6, KK) * KK  // lcm(6, KH·KW)
        if unit / 6 % 2 == 1 { unit *= 2 }
        let chunkTaps = min(unit * max(1, GEMMBlocking.sizes.convChunkBytes / (maxPanels * 64 * unit)), (K + unit - 1) / unit * unit)
        let perTask = chunkTaps * maxPanels * 16 + maxPanels * O * 16
        let tasks = tasks(work: geo.work, units: N, perThread: 4)
        Parallel.run(tasks: tasks) { t in
            ThreadScratch.withMemory(bytes: perTask * 4) { memory in
            // Whole samples per task, so no two tasks write the same input element.
            let n0 = N * t / tasks, n1 = N * (t + 1) / tasks
            var g = geometry
            let dcols = memory.assumingMemoryBound(to: Float.self)
            let bpack = dcols + chunkTaps * maxPanels * 16
            withUnsafeTemporaryAllocation(of: swiftnn_conv_run.self, capacity: 16) { runs in
            withUnsafeTemporaryAllocation(of: swiftnn_conv_span.self, capacity: 16) { spans in
                let rp = runs.baseAddress!, sp = spans.baseAddress!
                var s = n0
                while s < n1 {
                    let nb = min(perBlock, n1 - s)
                    let lo = s * L, hi = (s + nb) * L
                    let panels = (hi - lo + 15) / 16, ld = panels * 16
                    // dY of the block as panels [O][16] (zeros past the block's last position).
                    for j in 0..<panels {
                        let start = lo + 16 * j
                        let c = describe(panelStart: start, lo: start, hi: min(start + 16, hi), outputWidth: OW,
                                         positions: L, outChannels: O, runs: rp, spans: sp)
                        swiftnn_conv_load_rows_f32(gy, L, sp, c.spans, O, bpack + j * O * 16, 16)
                    }
                    // dcols[tap][position] = Σ_o Wᵀ[tap, o] · dY[o, position] a chunk of taps (whole
                    // channels) at a time into one cache-sized buffer, each chunk followed by col2im of its
                    // channels. Two tap blocks × two panels per micro-kernel call; an odd last panel
                    // two tap blocks at a time on the 12×16 one.
                    var k0 = 0
                    while k0 < K {
                        let tb0 = k0 / 6, tb1 = min(tapBlocks, (k0 + chunkTaps) / 6)
                        var j = 0
                        while j < panels {
                            let b = bpack + j * O * 16
                            let pair = j + 1 < panels
                            var tb = tb0
                            while tb + 1 < tb1 {
                                let a0 = wt + tb * O * 6, a1 = wt + (tb + 1) * O * 6, c = dcols + 6 * (tb - tb0) * ld + 16 * j
                                if pair {
                                    swiftnn_gemm_f32_12x32_store(O, a0, a1, b, b + O * 16, c, ld)
                                } else {
                                    swiftnn_gemm_f32_12x16_store(O, a0, a1, b, c, ld)
                                }
                                tb += 2
                            }
                            if tb < tb1 {
                                let a = wt + tb * O * 6, c = dcols + 6 * (tb - tb0) * ld + 16 * j
                                swiftnn_gemm_f32_6x16_store(O, a, b, c, ld)
                                if pair { swiftnn_gemm_f32_6x16_store(O, a, b + O * 16, c + 16, ld) }
                            }
                            j += pair ? 2 : 1
                        }
                        let c0 = k0 / KK, c1 = min(C, (k0 + chunkTaps) / KK)
                        for i in 0..<nb {
                            swiftnn_conv_col2im_f32(dcols + i * L, ld, c1 - c0, OH, OW,
                                                    gx + (s + i) * C * geo.inputCount + c0 * geo.inputCount, &g)
                        }
                        k0 += chunkTaps
                    }
                    s += nb
                }
            } }
            }
        }
        withExtendedLifetime(wtStorage) {}
    }

    /// `SWIFTNN_CONV_TAP_ROWS=0` keeps stride-2 weight gradients on phase planes and gathers (to compare).
    static let tapRowsEnabled: Bool = ProcessInfo.processInfo.environment["SWIFTNN_CONV_TAP_ROWS"] != "0"

    /// Whether the weight gradient of `geo` (a stride-2 3×3 layer whose taps the phase planes serve)
    /// writes its rows of cols straight from the input rows (`swiftnn_conv_tap_rows_s2_f32`): output
    /// rows of whole 16-lane pieces, or of a divisor of 16 lanes on an input twice as wide with
    /// whole panels per sample; and whole samples per chunk of 512 positions. The phase split wrote
    /// the rows a chunk reads into planes and the gathers copied each tap out of them again, 9 masked
    /// loads per channel and panel: `bench conv` dw, 1 thread, CIFAR shapes, 32→64 3.12 → 2.65 ms,
    /// 64→128 2.66 → 2.44, 128→256 2.51 → 2.45 (2 threads 1.60 → 1.37, 1.36 → 1.25, 1.28 → 1.26).
    /// Inside a training step the input comes from memory: the kernel requests its rows 4 KB ahead
    /// (without, the step's 32→64 backward was 0.4 ms slower than on the gathers, with, 0.2 faster).
    static func readsTapRows(_ geo: ConvGeometry) -> Bool {
        let g = geometry(geo)
        guard gathersRuns(g) && PhaseSplitSamples.used(g) else { return false }
        let L = geo.outputCount, OW = geo.outputSize[1]
        let wholeRows = OW % 16 == 0 || 16 % OW == 0 && geo.inputSize[1] == 2 * OW && L % 16 == 0
        return tapRowsEnabled && GEMMBlocking.sizes.convTapRows && wholeRows && Int(SWIFTNN_GEMM_ROW_STRIDE) % L == 0
    }

    /// `gw = ∂L/∂w` `[O, C·KH·KW]` from `gy` and the input (gw is overwritten), computed as
    /// `gwᵀ[tap, o] = Σ_pos cols[tap, pos] · gy[o, pos]`: rows of cols are gathered from the input
    /// 512 positions at a time, gy is packed once as 16-channel panels `[pos][16]`. Tasks own
    /// disjoint blocks of taps and every element sums the same fixed chunks of positions in order,
    /// so the result does not depend on the thread count.
    static func weightGradient(_ gy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ gw: UnsafeMutablePointer<Float>,
                               _ geo: ConvGeometry) {
        if geo.inChannels * geo.kernelCount <= smallTapLimit { return weightGradientSmallTaps(gy, x, gw, geo) }
        let geometry = geometry(geo), byRuns = gathersRuns(geometry)
        let O = geo.outChannels, K = geo.inChannels * geo.kernelCount, KK = geo.kernelCount
        let L = geo.outputCount, OW = geo.outputSize[1], P = geo.batch * L
        let panels = (P + 15) / 16, P16 = panels * 16
        let channelPanels = (O + 15) / 16
        // gyᵀ as [channel panel][position][16 channels].
        let gytStorage = gemmScratch(bytes: channelPanels * P16 * 16 * 4)
        let gyt = gytStorage.pointer.assumingMemoryBound(to: Float.self)
        let packTasks = tasks(work: P * O * 64, units: panels)
        Parallel.run(tasks: packTasks) { t in
            withUnsafeTemporaryAllocation(of: swiftnn_conv_run.self, capacity: 16) { runs in
            withUnsafeTemporaryAllocation(of: swiftnn_conv_span.self, capacity: 16) { spans in
                var j = panels * t / packTasks
                let j1 = panels * (t + 1) / packTasks
                // Whole panels of one sample (16·k positions per sample): the task's positions sample by
                // sample, each channel group's rows front to back.
                while L % 16 == 0 && j < j1 {
                    let start = j * 16, n = start / L, end = min(j1 * 16, (n + 1) * L)
                    swiftnn_conv_pack_transposed_rows_f32(gy + n * O * L + (start - n * L), L, O, end - start, gyt + start * 16, P16 * 16)
                    j = end / 16
                }
                for j in j..<j1 {
                    let start = j * 16, end = min(start + 16, P)
                    let c = describe(panelStart: start, lo: start, hi: end, outputWidth: OW, positions: L, outChannels: O,
                                     runs: runs.baseAddress!, spans: spans.baseAddress!)
                    swiftnn_conv_pack_transposed_f32(gy, L, O, spans.baseAddress!, c.spans, end - start, gyt + start * 16, P16 * 16)
                }
            } }
        }
        // gwᵀ [K, O], transposed into gw at the end.
        let gwtStorage = gemmScratch(bytes: K * O * 4)
        let gwt = gwtStorage.pointer.assumingMemoryBound(to: Float.self)
        gwt.update(repeating: 0, count: K * O)
        // Stride-2 3×3 layers of ``readsTapRows(_:)``: rows of cols (`chunk` positions per tap) written
        // straight from the input rows for blocks of eight whole channels (72 taps), tasks owning whole
        // pairs of channels; the rows micro-kernels read them (same sums as the six-row layout). The
        // gathers keep blocks of 48 taps (72 ran the CIFAR step's 32→64 backward 0.4 ms slower there).
        let tapRows = readsTapRows(geo)
        // 512 positions per chunk (the rows' stride): 0.5–5 % faster than 256 on SmallCNN's layers
        // (call-by-call A/B, 1 and 2 threads), 1024 no better.
        let chunk = Int(SWIFTNN_GEMM_ROW_STRIDE), tapBlock = tapRows ? 72 : 48
        let phased = byRuns && PhaseSplitSamples.used(geometry)
        let unit = tapRows ? 18 : 6
        let rowBlocks = (K + unit - 1) / unit
        let tasks = tasks(work: geo.work, units: rowBlocks)
        let packBytes = tapBlock * chunk * 4
        // Other stride-2 3×3 layers: for each chunk of positions and block of taps, the input rows the
        // chunk reads of the block's channels (at most `splitChannels`), split into phase planes.
        let splitSamples = (chunk - 1) / L + 2, splitChannels = (tapBlock + 7) / 9 + 1
        let splitBytes = phased && !tapRows ? PhaseSplitSamples.bytes(samples: splitSamples, channels: splitChannels, geo) : 0
        Parallel.run(tasks: tasks) { t in
            let k0 = min(K, rowBlocks * t / tasks * unit), k1 = min(K, rowBlocks * (t + 1) / tasks * unit)
            if k0 >= k1 { return }
            ThreadScratch.withMemory(bytes: packBytes + splitBytes) { memory in
            var g = geometry
            let split = phased && !tapRows
                ? PhaseSplitSamples(x: x, geo, samples: splitSamples, channels: splitChannels, memory: memory + packBytes) : nil
            // Rows of cols: `chunk` positions per tap (tap rows), or the micro-kernel's six-row layout.
            let ap = memory.assumingMemoryBound(to: Float.self)
            withUnsafeTemporaryAllocation(of: swiftnn_conv_run.self, capacity: chunk) { runs in
            withUnsafeTemporaryAllocation(of: swiftnn_conv_span.self, capacity: chunk) { spans in
            withUnsafeTemporaryAllocation(of: Int.self, capacity: chunk / 16) { counts in
            withUnsafeTemporaryAllocation(of: swiftnn_conv_tap_lanes.self, capacity: chunk / 16 * KK) { plans in
            withUnsafeTemporaryAllocation(of: Int.self, capacity: chunk / 16) { bases in
                let rp = runs.baseAddress!, sp = spans.baseAddress!, cp = counts.baseAddress!
                let pl = plans.baseAddress!, bp = bases.baseAddress!
                var pc = 0
                while pc < P {
                    let kc = min(chunk, P - pc), chunkPanels = (kc + 15) / 16
                    for j in 0..<chunkPanels where !tapRows {
                        let start = pc + 16 * j
                        cp[j] = describe(panelStart: start, lo: start, hi: min(start + 16, P), outputWidth: OW, positions: L,
                                         outChannels: O, runs: rp + 16 * j, spans: sp + 16 * j).runs
                        if !byRuns { bp[j] = swiftnn_conv_plan_panel(&g, rp + 16 * j, cp[j], pl + KK * j) }
                    }
                    var tb = k0
                    while tb < k1 {
                        let taps = min(tapBlock, k1 - tb)
                        if tapRows {
                            let c0 = tb / KK, n0 = pc / L
                            for s in 0..<(kc / L) {
                                swiftnn_conv_tap_rows_s2_f32(x + ((n0 + s) * geo.inChannels + c0) * geo.inputCount, taps / KK,
                                                             geo.inputSize[0], geo.inputSize[1], geo.outputSize[0], OW,
                                                             ap + s * L, chunk)
                            }
                        } else if let split {
                            let c0 = tb / KK
                            let planes = split.prepare(positions: pc..<pc + kc, channels: c0,
                                                       count: (tb + taps - 1) / KK - c0 + 1)
                            for j in 0..<chunkPanels {
                                swiftnn_conv_gather_phases_f32(planes.samples, planes.first, OW, L, rp + 16 * j, cp[j],
                                                               tb - c0 * KK, taps, ap + 96 * j, chunk * 6, 1)
                            }
                        }
                        for j in 0..<chunkPanels where split == nil && !tapRows {
                            if byRuns {
                                swiftnn_conv_gather_runs_f32(x, &g, rp + 16 * j, cp[j], tb, taps, ap + 96 * j, chunk * 6, 1)
                            } else {
                                swiftnn_conv_gather_six_f32(x, &g, pl + KK * j, bp[j], tb, taps, ap + 96 * j, chunk * 6)
                            }
                        }
                        // Pairs of full 16-channel panels × pairs of full six-tap blocks on the 12×32
                        // micro-kernel (same sums as four 6×16 calls), the edges on the 6×16 one.
                        let fullPanels = O / 16, fullRows = taps / 6 * 6
                        var q = 0
                        while q < channelPanels {
                            let paired = q + 1 < fullPanels
                            var r = 0
                            if paired {
                                while r + 12 <= fullRows {
                                    if tapRows {
                                        swiftnn_gemm_f32_12x32_rows_accumulate(kc, ap + r * chunk, gyt + (q * P16 + pc) * 16,
                                                                               gyt + ((q + 1) * P16 + pc) * 16,
                                                                               gwt + (tb + r) * O + 16 * q, O)
                                    } else {
                                        swiftnn_gemm_f32_12x32_accumulate(kc, ap + r * chunk, ap + (r + 6) * chunk,
                                                                          gyt + (q * P16 + pc) * 16, gyt + ((q + 1) * P16 + pc) * 16,
                                                                          gwt + (tb + r) * O + 16 * q, O)
                                    }
                                    r += 12
                                }
                            }
                            for qq in q..<(paired ? q + 2 : q + 1) {
                                let cols = min(16, O - 16 * qq)
                                var rr = r
                                while rr < taps {
                                    if tapRows {
                                        swiftnn_gemm_f32_6x16_rows_accumulate(kc, ap + rr * chunk, min(6, taps - rr),
                                                                              gyt + (qq * P16 + pc) * 16,
                                                                              gwt + (tb + rr) * O + 16 * qq, O, cols)
                                    } else {
                                        kernel(kc, ap + rr * chunk, gyt + (qq * P16 + pc) * 16, gwt + (tb + rr) * O + 16 * qq, O,
                                               min(6, taps - rr), cols)
                                    }
                                    rr += 6
                                }
                            }
                            q += paired ? 2 : 1
                        }
                        tb += taps
                    }
                    pc += kc
                }
            } } } } }
            }
            // This task's taps of gwᵀ into gw while they are still in its cache.
            swiftnn_transpose_f32(gwt + k0 * O, k1 - k0, O, O, gw + k0, K)
        }
        withExtendedLifetime((gytStorage, gwtStorage)) {}
    }

    /// `forward` for a layer with few taps: each panel's taps (at most 32 vectors, in L1) go straight
    /// through every output channel's dot product, eight channels at a time in registers, and the
    /// sums are stored to the output. The GEMM path's packing, tile buffer and row stores cost more
    /// than the arithmetic when K = 9 or 27 (conv 1→32 on MNIST ran at 16 GFLOP/s). Every output is
    /// the same fused multiply-add chain as on the GEMM path, so the bits are the same.
    static func forwardSmallTaps(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                                 _ out: UnsafeMutablePointer<Float>, _ geo: ConvGeometry) {
        let geometry = geometry(geo)
        let O = geo.outChannels, K = geo.inChannels * geo.kernelCount, KK = geo.kernelCount
        let L = geo.outputCount, OW = geo.outputSize[1], P = geo.batch * L
        precondition(K <= smallTapLimit)
        let byRuns = gathersRuns(geometry)
        let panels = (P + 15) / 16
        let tasks = tasks(work: geo.work, units: panels, perThread: 4)
        Parallel.run(tasks: tasks) { t in
            var g = geometry
            withUnsafeTemporaryAllocation(of: swiftnn_conv_run.self, capacity: 16) { runs in
            withUnsafeTemporaryAllocation(of: swiftnn_conv_span.self, capacity: 16) { spans in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: smallTapLimit * 16) { taps in
            withUnsafeTemporaryAllocation(of: swiftnn_conv_tap_lanes.self, capacity: KK) { plan in
                let rp = runs.baseAddress!, sp = spans.baseAddress!, tp = taps.baseAddress!, pl = plan.baseAddress!
                for j in (panels * t / tasks)..<(panels * (t + 1) / tasks) {
                    let start = j * 16
                    let c = describe(panelStart: start, lo: start, hi: min(start + 16, P), outputWidth: OW, positions: L,
                                     outChannels: O, runs: rp, spans: sp)
                    gather(x, &g, byRuns: byRuns, runs: rp, count: c.runs, plan: pl, tap0: 0, taps: K, tp, stride: 16)
                    swiftnn_conv_forward_small_f32(tp, K, w, O, bias, out, L, sp, c.spans)
                }
            } } } }
        }
    }

    /// Layers with at most this many taps (C·KH·KW: a first layer on 1 or 3 channels) take
    /// ``forwardSmallTaps`` and ``weightGradientSmallTaps``.
    static let smallTapLimit = 32

    /// `gw` for a layer with few taps: per lane of each panel, Σ tap · gy over the positions, with
    /// gy read in place. The GEMM path above transposes the whole of gy into 16-channel panels
    /// first, which for a first layer (gy the largest activation of the network, K = 9 or 27) costs
    /// several times the arithmetic (5 of a SmallCNN MNIST step's 6.5 ms went to that pass).
    /// Positions are cut into a fixed grid of at most 256 chunks whatever the thread count; each
    /// chunk's float lanes are summed in Double into its own slot, and the slots are added in chunk
    /// order, so the result does not depend on the thread count.
    static func weightGradientSmallTaps(_ gy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ gw: UnsafeMutablePointer<Float>,
                                        _ geo: ConvGeometry) {
        let O = geo.outChannels, K = geo.inChannels * geo.kernelCount, L = geo.outputCount
        precondition(K <= smallTapLimit)
        let panels = (geo.batch * L + 15) / 16
        let chunkPanels = max(256, (panels + 255) / 256)
        let chunks = (panels + chunkPanels - 1) / chunkPanels
        let partialStorage = gemmScratch(bytes: chunks * O * K * 8)
        let partial = partialStorage.pointer.assumingMemoryBound(to: Double.self)
        let tasks = tasks(work: geo.work, units: chunks, perThread: 2)
        let accStorage = gemmScratch(bytes: tasks * O * K * 64)
        let geometry = geometry(geo)
        forEachChunk(geo, chunkPanels: chunkPanels, tasks: tasks) { t, chunk, range, s in
            let acc = accStorage.pointer.assumingMemoryBound(to: Float.self) + t * O * K * 16
            acc.update(repeating: 0, count: O * K * 16)
            var g = geometry
            forEachBatch(x, geo, &g, panels: range, taps: s.taps, runs: s.runs, spans: s.spans, spanCounts: s.spanCounts,
                         plan: s.plan) { _, np in
                swiftnn_conv_wgrad_small_f32(s.taps, K, np, gy, L, s.spans, s.spanCounts, 0, O, acc)
            }
            let slot = partial + chunk * O * K
            for i in 0..<(O * K) {
                var sum = 0.0
                for lane in 0..<16 { sum += Double(acc[i * 16 + lane]) }
                slot[i] = sum
            }
        }
        for i in 0..<(O * K) {
            var sum = 0.0
            for chunk in 0..<chunks { sum += partial[chunk * O * K + i] }
            gw[i] = Float(sum)
        }
        withExtendedLifetime((partialStorage, accStorage)) {}
    }

    /// Panels per batch of a few-tap layer's gathered taps: their taps (batch × K × 16 floats,
    /// ≤ 32 KB) stay in L1 while each channel of gy streams past them in runs of batch × 64 bytes
    /// (16 panels per batch ran ≈ 2× slower in ``weightGradientSmallTaps``: gy comes from L3 and
    /// short runs leave its loads waiting).
    static func tapBatch(_ K: Int) -> Int { max(16, min(64, 512 / K)) }

    /// Calls `body(firstPanel, panels)` for consecutive batches of the panels `range`, each batch's
    /// taps gathered into `tp` (`[panel][K][16]`), its lanes described in `sp` (16 per panel) and
    /// their counts in `sc`.
    static func forEachBatch(_ x: UnsafePointer<Float>, _ geo: ConvGeometry, _ g: inout swiftnn_conv_geometry,
                             panels range: Range<Int>, taps tp: UnsafeMutablePointer<Float>,
                             runs rp: UnsafeMutablePointer<swiftnn_conv_run>,
                             spans sp: UnsafeMutablePointer<swiftnn_conv_span>, spanCounts sc: UnsafeMutablePointer<Int>,
                             plan pl: UnsafeMutablePointer<swiftnn_conv_tap_lanes>, batch: Int? = nil,
                             _ body: (Int, Int) -> Void) {
        let O = geo.outChannels, K = geo.inChannels * geo.kernelCount
        let L = geo.outputCount, OW = geo.outputSize[1], P = geo.batch * L
        let batch = batch ?? tapBatch(K), byRuns = gathersRuns(g)
        var p = range.lowerBound
        while p < range.upperBound {
            let np = min(batch, range.upperBound - p)
            for j in 0..<np {
                let start = (p + j) * 16
                let c = describe(panelStart: start, lo: start, hi: min(start + 16, P), outputWidth: OW, positions: L,
                                 outChannels: O, runs: rp + 16 * j, spans: sp + 16 * j)
                sc[j] = c.spans
                gather(x, &g, byRuns: byRuns, runs: rp + 16 * j, count: c.runs, plan: pl, tap0: 0, taps: K, tp + j * K * 16,
                       stride: 16)
            }
            body(p, np)
            p += np
        }
    }

    /// Runs `body(task, chunk, panels, scratch)` for every chunk of `chunkPanels` panels, chunks
    /// spread over `tasks` tasks; `scratch` holds one batch's taps, runs, spans, span counts and the
    /// tap plan.
    static func forEachChunk(_ geo: ConvGeometry, chunkPanels: Int, tasks: Int, batch: Int? = nil,
                             _ body: (Int, Int, Range<Int>, BatchScratch) -> Void) {
        let K = geo.inChannels * geo.kernelCount
        let panels = (geo.batch * geo.outputCount + 15) / 16
        let chunks = (panels + chunkPanels - 1) / chunkPanels
        let batch = batch ?? tapBatch(K)
        Parallel.run(tasks: tasks) { t in
            ThreadScratch.withMemory(bytes: batch * K * 64) { memory in
            withUnsafeTemporaryAllocation(of: swiftnn_conv_run.self, capacity: 16 * batch) { runs in
            withUnsafeTemporaryAllocation(of: swiftnn_conv_span.self, capacity: 16 * batch) { spans in
            withUnsafeTemporaryAllocation(of: Int.self, capacity: batch) { spanCounts in
            withUnsafeTemporaryAllocation(of: swiftnn_conv_tap_lanes.self, capacity: geo.kernelCount) { plan in
                let scratch = BatchScratch(
                    taps: memory.assumingMemoryBound(to: Float.self), runs: runs.baseAddress!,
                    spans: spans.baseAddress!, spanCounts: spanCounts.baseAddress!, plan: plan.baseAddress!)
                for chunk in (chunks * t / tasks)..<(chunks * (t + 1) / tasks) {
                    body(t, chunk, (chunk * chunkPanels)..<min(panels, (chunk + 1) * chunkPanels), scratch)
                }
            } } } }
            }
        }
    }

    struct BatchScratch {
        let taps: UnsafeMutablePointer<Float>
        let runs: UnsafeMutablePointer<swiftnn_conv_run>
        let spans: UnsafeMutablePointer<swiftnn_conv_span>
        let spanCounts: UnsafeMutablePointer<Int>
        let plan: UnsafeMutablePointer<swiftnn_conv_tap_lanes>
    }
}
