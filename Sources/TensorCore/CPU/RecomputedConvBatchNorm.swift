import CKernelSupport

// Conv2d → BatchNorm2d → ReLU for a layer with few taps (a network's first layer: K = C·KH·KW ≤ 32),
// with the convolution's output z never written to memory. Its statistics, the normalized output,
// the backward's sums and the weight gradient each regather a panel's taps and recompute z in
// registers (kernels in conv_kernels.c), with the same fused multiply-add chain as
// `forwardSmallTaps`, so every pass sees the very bits the stored z would hold.
//
// Why: a first layer's z is the network's largest activation (SmallCNN on MNIST: 12.8 MB per
// step) and costs only 9 or 27 multiply-adds per element. Stored, it is written once and read five
// times (statistics, normalization, the backward's two sweeps, and dz read back by the weight
// gradient, which writes it first); recomputed, only y is written and gy read twice.
//
// Rounding does not depend on the thread count: sums are taken over a fixed grid of panel chunks
// (its size depends on the geometry alone), each chunk into its own Double slot, and the slots are
// added in chunk order.

extension ImplicitConvolution {
    /// Whether `geo`'s convolution can be recomputed inside batch norm + ReLU: the implicit path's
    /// geometries with at most ``smallTapLimit`` taps.
    static func recomputes(_ geo: ConvGeometry, _ dtype: DType) -> Bool {
        applies(geo, dtype) && geo.inChannels * geo.kernelCount <= smallTapLimit
    }

    /// Panels per batch of gathered taps: batch × K × 16 floats (≤ 32 KB) stay in L1 while the
    /// channels go past them (as in ``weightGradientSmallTaps``).
    private static func tapBatch(_ K: Int) -> Int { max(16, min(64, 512 / K)) }

    /// Calls `body(panel0, panels, taps, spans, spanCounts)` for consecutive batches of the panels
    /// `range`, each batch's taps gathered into `taps` (`[panel][K][16]`) and its lanes described
    /// in `spans` (16 per panel).
    private static func forEachBatch(_ x: UnsafePointer<Float>, _ geo: ConvGeometry, _ g: inout swiftnn_conv_geometry,
                                     panels range: Range<Int>, taps tp: UnsafeMutablePointer<Float>,
                                     runs rp: UnsafeMutablePointer<swiftnn_conv_run>,
                                     spans sp: UnsafeMutablePointer<swiftnn_conv_span>, spanCounts sc: UnsafeMutablePointer<Int>,
                                     plan pl: UnsafeMutablePointer<swiftnn_conv_tap_lanes>,
                                     _ body: (Int, Int) -> Void) {
        let O = geo.outChannels, K = geo.inChannels * geo.kernelCount
        let L = geo.outputCount, OW = geo.outputSize[1], P = geo.batch * L
        let batch = tapBatch(K)
        var p = range.lowerBound
        while p < range.upperBound {
            let np = min(batch, range.upperBound - p)
            for j in 0..<np {
                let start = (p + j) * 16
                let c = describe(panelStart: start, lo: start, hi: min(start + 16, P), outputWidth: OW, positions: L,
                                 outChannels: O, runs: rp + 16 * j, spans: sp + 16 * j)
                sc[j] = c.spans
                let base = swiftnn_conv_plan_panel(&g, rp + 16 * j, c.runs, pl)
                swiftnn_conv_gather_f32(x, &g, pl, base, 0, K, tp + j * K * 16, 16)
            }
            body(p, np)
            p += np
        }
    }

    /// Runs `body(task, chunk, panels, scratch)` for every chunk of `chunkPanels` panels, chunks
    /// spread over `tasks` tasks; `scratch` holds one batch's taps, runs, spans, span counts and the
    /// tap plan.
    private static func forEachChunk(_ geo: ConvGeometry, chunkPanels: Int, tasks: Int,
                                     _ body: (Int, Int, Range<Int>, BatchScratch) -> Void) {
        let K = geo.inChannels * geo.kernelCount
        let panels = (geo.batch * geo.outputCount + 15) / 16
        let chunks = (panels + chunkPanels - 1) / chunkPanels
        let batch = tapBatch(K)
        let tapStorage = gemmScratch(bytes: tasks * batch * K * 64)
        Parallel.run(tasks: tasks) { t in
            withUnsafeTemporaryAllocation(of: swiftnn_conv_run.self, capacity: 16 * batch) { runs in
            withUnsafeTemporaryAllocation(of: swiftnn_conv_span.self, capacity: 16 * batch) { spans in
            withUnsafeTemporaryAllocation(of: Int.self, capacity: batch) { spanCounts in
            withUnsafeTemporaryAllocation(of: swiftnn_conv_tap_lanes.self, capacity: geo.kernelCount) { plan in
                let scratch = BatchScratch(
                    taps: tapStorage.pointer.assumingMemoryBound(to: Float.self) + t * batch * K * 16, runs: runs.baseAddress!,
                    spans: spans.baseAddress!, spanCounts: spanCounts.baseAddress!, plan: plan.baseAddress!)
                for chunk in (chunks * t / tasks)..<(chunks * (t + 1) / tasks) {
                    body(t, chunk, (chunk * chunkPanels)..<min(panels, (chunk + 1) * chunkPanels), scratch)
                }
            } } } }
        }
        withExtendedLifetime(tapStorage) {}
    }

    private struct BatchScratch {
        let taps: UnsafeMutablePointer<Float>
        let runs: UnsafeMutablePointer<swiftnn_conv_run>
        let spans: UnsafeMutablePointer<swiftnn_conv_span>
        let spanCounts: UnsafeMutablePointer<Int>
        let plan: UnsafeMutablePointer<swiftnn_conv_tap_lanes>
    }

    /// Per output channel, the mean and biased variance of `conv(x, w)` over the batch and every
    /// position, with the output never stored. Shifted sums (each channel offset by its first
    /// output element, as `batchNormStatistics` does), float lanes per batch of panels flushed into
    /// Double.
    static func recomputedConvStatistics(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ geo: ConvGeometry)
        -> (mean: [Double], variance: [Double]) {
        precondition(recomputes(geo, .float32))
        let O = geo.outChannels, K = geo.inChannels * geo.kernelCount
        let shift = firstOutputs(x, w, geo)
        let chunkPanels = 64
        let panels = (geo.batch * geo.outputCount + 15) / 16
        let chunks = (panels + chunkPanels - 1) / chunkPanels
        let partial = gemmScratch(bytes: chunks * O * 16)
        let slots = partial.pointer.assumingMemoryBound(to: Double.self)
        let geometry = geometry(geo)
        shift.withUnsafeBufferPointer { sh in
            forEachChunk(geo, chunkPanels: chunkPanels, tasks: tasks(work: geo.work, units: chunks, perThread: 4)) { _, chunk, range, s in
                let sum = slots + chunk * 2 * O, squares = sum + O
                sum.update(repeating: 0, count: 2 * O)
                var g = geometry
                forEachBatch(x, geo, &g, panels: range, taps: s.taps, runs: s.runs, spans: s.spans, spanCounts: s.spanCounts,
                             plan: s.plan) { _, np in
                    swiftnn_convbn_moments_f32(s.taps, K, np, w, O, s.spans, s.spanCounts, sh.baseAddress!, sum, squares)
                }
            }
        }
        let m = Double(geo.batch * geo.outputCount)
        var mean = [Double](repeating: 0, count: O), variance = mean
        for o in 0..<O {
            var sum = 0.0, squares = 0.0
            for chunk in 0..<chunks {
                sum += slots[chunk * 2 * O + o]
                squares += slots[chunk * 2 * O + O + o]
            }
            let mu = sum / m
            mean[o] = Double(shift[o]) + mu
            variance[o] = max(0, squares / m - mu * mu)
        }
        withExtendedLifetime(partial) {}
        return (mean, variance)
    }

    /// Each output channel's first element, `conv(x, w)[0, o, 0, 0]`, as the forward computes it.
    private static func firstOutputs(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ geo: ConvGeometry) -> [Float] {
        let O = geo.outChannels, K = geo.inChannels * geo.kernelCount
        var g = geometry(geo)
        return withUnsafeTemporaryAllocation(of: swiftnn_conv_run.self, capacity: 16) { runs in
            withUnsafeTemporaryAllocation(of: swiftnn_conv_span.self, capacity: 16) { spans in
            withUnsafeTemporaryAllocation(of: swiftnn_conv_tap_lanes.self, capacity: geo.kernelCount) { plan in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: K * 16 + O * 16) { buffer in
                let P = geo.batch * geo.outputCount
                let c = describe(panelStart: 0, lo: 0, hi: min(16, P), outputWidth: geo.outputSize[1], positions: geo.outputCount,
                                 outChannels: O, runs: runs.baseAddress!, spans: spans.baseAddress!)
                let tp = buffer.baseAddress!, out = tp + K * 16
                let base = swiftnn_conv_plan_panel(&g, runs.baseAddress!, c.runs, plan.baseAddress!)
                swiftnn_conv_gather_f32(x, &g, plan.baseAddress!, base, 0, K, tp, 16)
                // Lane 0 of every channel into a 16-float row per channel.
                var lane0 = swiftnn_conv_span(offset: 0, lane0: 0, count: 16)
                swiftnn_conv_forward_small_f32(tp, K, w, O, nil, out, 16, &lane0, 1)
                return (0..<O).map { out[16 * $0] }
            } } }
        }
    }

    /// `y = max(0, (conv(x, w) − shift)·scale + offset)` per output channel, `y` `[N, O, OH, OW]`.
    static func recomputedConvBatchNormReLU(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                                            _ geo: ConvGeometry, shift: UnsafePointer<Float>, scale: UnsafePointer<Float>,
                                            offset: UnsafePointer<Float>) {
        precondition(recomputes(geo, .float32))
        let O = geo.outChannels, K = geo.inChannels * geo.kernelCount, L = geo.outputCount
        let geometry = geometry(geo)
        let panels = (geo.batch * L + 15) / 16
        forEachChunk(geo, chunkPanels: 64, tasks: tasks(work: geo.work, units: (panels + 63) / 64, perThread: 4)) { _, _, range, s in
            var g = geometry
            forEachBatch(x, geo, &g, panels: range, taps: s.taps, runs: s.runs, spans: s.spans, spanCounts: s.spanCounts,
                         plan: s.plan) { _, np in
                for j in 0..<np {
                    swiftnn_convbn_relu_f32(s.taps + j * K * 16, K, w, O, shift, scale, offset, y, L, s.spans + 16 * j, s.spanCounts[j])
                }
            }
        }
    }

    /// The backward's per-channel sums of batch norm + ReLU over the recomputed output: Σg and
    /// Σg·(z − shift), g = gy gated by the ReLU (`gateScale`, `gateOffset` on z − shift).
    static func recomputedConvGradientSums(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ gy: UnsafePointer<Float>,
                                           _ geo: ConvGeometry, shift: UnsafePointer<Float>, gateScale: UnsafePointer<Float>,
                                           gateOffset: UnsafePointer<Float>) -> (sum: [Double], products: [Double]) {
        precondition(recomputes(geo, .float32))
        let O = geo.outChannels, K = geo.inChannels * geo.kernelCount, L = geo.outputCount
        let chunkPanels = 64
        let panels = (geo.batch * L + 15) / 16
        let chunks = (panels + chunkPanels - 1) / chunkPanels
        let partial = gemmScratch(bytes: chunks * O * 16)
        let slots = partial.pointer.assumingMemoryBound(to: Double.self)
        let geometry = geometry(geo)
        forEachChunk(geo, chunkPanels: chunkPanels, tasks: tasks(work: geo.work, units: chunks, perThread: 4)) { _, chunk, range, s in
            let sum = slots + chunk * 2 * O, products = sum + O
            sum.update(repeating: 0, count: 2 * O)
            var g = geometry
            forEachBatch(x, geo, &g, panels: range, taps: s.taps, runs: s.runs, spans: s.spans, spanCounts: s.spanCounts,
                         plan: s.plan) { _, np in
                swiftnn_convbn_grad_moments_f32(s.taps, K, np, w, O, shift, gateScale, gateOffset, gy, L, s.spans, s.spanCounts,
                                                sum, products)
            }
        }
        var sum = [Double](repeating: 0, count: O), products = sum
        for o in 0..<O {
            for chunk in 0..<chunks {
                sum[o] += slots[chunk * 2 * O + o]
                products[o] += slots[chunk * 2 * O + O + o]
            }
        }
        withExtendedLifetime(partial) {}
        return (sum, products)
    }

    /// `gw` `[O, K]` (overwritten) from dz = a·g − b·(z − shift) + cc, g the gated gy: the
    /// convolution's weight gradient with batch norm + ReLU's input gradient computed on the fly.
    /// Chunks of at least 256 panels (their float lanes flushed into Double once per chunk) as in
    /// ``weightGradientSmallTaps``.
    static func recomputedConvWeightGradient(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ gy: UnsafePointer<Float>,
                                             _ gw: UnsafeMutablePointer<Float>, _ geo: ConvGeometry,
                                             shift: UnsafePointer<Float>, gateScale: UnsafePointer<Float>,
                                             gateOffset: UnsafePointer<Float>, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                                             cc: UnsafePointer<Float>) {
        precondition(recomputes(geo, .float32))
        let O = geo.outChannels, K = geo.inChannels * geo.kernelCount, L = geo.outputCount
        let panels = (geo.batch * L + 15) / 16
        let chunkPanels = max(256, (panels + 255) / 256)
        let chunks = (panels + chunkPanels - 1) / chunkPanels
        let partialStorage = gemmScratch(bytes: chunks * O * K * 8)
        let partial = partialStorage.pointer.assumingMemoryBound(to: Double.self)
        let tasks = tasks(work: geo.work, units: chunks, perThread: 2)
        let accStorage = gemmScratch(bytes: tasks * O * K * 64)
        let geometry = geometry(geo)
        do {
            forEachChunk(geo, chunkPanels: chunkPanels, tasks: tasks) { t, chunk, range, s in
                let acc = accStorage.pointer.assumingMemoryBound(to: Float.self) + t * O * K * 16
                acc.update(repeating: 0, count: O * K * 16)
                var g = geometry
                forEachBatch(x, geo, &g, panels: range, taps: s.taps, runs: s.runs, spans: s.spans, spanCounts: s.spanCounts,
                             plan: s.plan) { _, np in
                    swiftnn_convbn_wgrad_f32(s.taps, K, np, w, O, shift, gateScale, gateOffset, a, b, cc, gy, L, s.spans,
                                             s.spanCounts, acc)
                }
                let slot = partial + chunk * O * K
                for i in 0..<(O * K) {
                    var sum = 0.0
                    for lane in 0..<16 { sum += Double(acc[i * 16 + lane]) }
                    slot[i] = sum
                }
            }
        }
        for i in 0..<(O * K) {
            var sum = 0.0
            for chunk in 0..<chunks { sum += partial[chunk * O * K + i] }
            gw[i] = Float(sum)
        }
        withExtendedLifetime((partialStorage, accStorage)) {}
    }
}

extension CPUBackend: ConvBatchNormOps {
    public func convBatchNormReLURecomputes(_ geo: ConvGeometry, _ dtype: DType) -> Bool {
        ImplicitConvolution.recomputes(geo, dtype)
    }

    public func convBatchNormStatistics(_ input: Tensor, _ weight: Tensor, _ geo: ConvGeometry) -> ChannelStatistics {
        let r = withExtendedLifetime((input, weight)) {
            ImplicitConvolution.recomputedConvStatistics(input.pointer(as: Float.self), weight.pointer(as: Float.self), geo)
        }
        let count = geo.batch * geo.outputCount
        return ChannelStatistics(count: count, mean: r.mean, m2: r.variance.map { $0 * Double(count) })
    }

    public func convBatchNormReLUApply(_ input: Tensor, _ weight: Tensor, _ geo: ConvGeometry, map: ChannelAffineMap) -> Tensor {
        let y = Tensor(uninitializedShape: [geo.batch, geo.outChannels] + geo.outputSize, dtype: input.dtype)
        let k = (map.shift + map.scale + map.offset).map(Float.init)
        withExtendedLifetime((input, weight)) {
            k.withUnsafeBufferPointer { k in
                let O = geo.outChannels
                ImplicitConvolution.recomputedConvBatchNormReLU(input.pointer(as: Float.self), weight.pointer(as: Float.self),
                                                                y.pointer(as: Float.self), geo, shift: k.baseAddress!,
                                                                scale: k.baseAddress! + O, offset: k.baseAddress! + 2 * O)
            }
        }
        return y
    }

    public func convBatchNormReLUBackward(_ gradOutput: Tensor, _ input: Tensor, _ weight: Tensor, _ geo: ConvGeometry,
                                          map: ChannelAffineMap, mean: [Double], invstd: [Double], batchNormWeight: Tensor?,
                                          batchStatistics: Bool, needWeight: Bool, needSums: Bool)
        -> (weight: Tensor?, sums: ChannelGradientSums?) {
        let O = geo.outChannels, m = geo.batch * geo.outputCount
        // The gate subtracts Float(mean), the shift the forward subtracted: they must agree.
        for o in 0..<O where !mean[o].isNaN {
            precondition(Float(mean[o]) == Float(map.shift[o]), "conv_batch_norm_relu: the map was not made with these statistics")
        }
        // shift, gate scale, gate offset, then a, b, c of dz = a·g − b·(z − shift) + c (as batchNormGradInput).
        var k = (map.shift + map.scale + map.offset).map(Float.init) + [Float](repeating: 0, count: 3 * O)
        let x = input.pointer(as: Float.self), w = weight.pointer(as: Float.self), gy = gradOutput.pointer(as: Float.self)
        var sums: ChannelGradientSums? = nil
        withExtendedLifetime((gradOutput, input, weight, batchNormWeight)) {
            if needSums || batchStatistics {
                let r = k.withUnsafeBufferPointer { k in
                    ImplicitConvolution.recomputedConvGradientSums(x, w, gy, geo, shift: k.baseAddress!, gateScale: k.baseAddress! + O,
                                                                   gateOffset: k.baseAddress! + 2 * O)
                }
                let sumDyXhat = (0..<O).map { o in invstd[o] * (r.products[o] - (mean[o] - Double(k[o])) * r.sum[o]) }
                sums = ChannelGradientSums(count: m, sumDy: r.sum, sumDyXhat: sumDyXhat)
            }
            guard needWeight else { return }
            for o in 0..<O {
                let a = (batchNormWeight?.doubleValue(at: o) ?? 1) * invstd[o]
                k[3 * O + o] = Float(a)
                if batchStatistics, let sums {
                    let b = a * invstd[o] * sums.sumDyXhat[o] / Double(m)
                    k[4 * O + o] = Float(b)
                    k[5 * O + o] = Float(b * (mean[o] - Double(k[o])) - a * sums.sumDy[o] / Double(m))
                }
            }
        }
        guard needWeight else { return (nil, needSums ? sums : nil) }
        let gw = Tensor(uninitializedShape: weight.shape, dtype: weight.dtype)
        withExtendedLifetime((gradOutput, input, weight)) {
            k.withUnsafeBufferPointer { k in
                let p = k.baseAddress!
                ImplicitConvolution.recomputedConvWeightGradient(x, w, gy, gw.pointer(as: Float.self), geo, shift: p, gateScale: p + O,
                                                                 gateOffset: p + 2 * O, a: p + 3 * O, b: p + 4 * O, cc: p + 5 * O)
            }
        }
        return (gw, needSums ? sums : nil)
    }
}
