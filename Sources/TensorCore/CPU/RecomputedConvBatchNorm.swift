import CKernelSupport

// Conv2d → BatchNorm2d → ReLU for a layer with few taps (a network's first layer on one channel:
// K = C·KH·KW ≤ 12, see recomputeTapLimit), with the convolution's output z never written to
// memory. Its statistics, the normalized output and the backward (batch norm's sums and the weight
// gradient, in one pass) each regather a panel's taps and recompute z in registers (kernels in
// conv_kernels.c), with the same fused multiply-add chain as `forwardSmallTaps`, so every pass sees
// the very bits the stored z would hold.
//
// Why: a first layer's z is the network's largest activation (SmallCNN on MNIST: 12.8 MB per
// step) and costs only 9 multiply-adds per element. Stored, it is written once and read five
// times (statistics, normalization, the backward's two sweeps, and dz read back by the weight
// gradient, which writes it first); recomputed, only y is written and gy read once.
//
// Rounding does not depend on the thread count: sums are taken over a fixed grid of panel chunks
// (its size depends on the geometry alone), each chunk into its own Double slot, and the slots are
// added in chunk order.

extension ImplicitConvolution {
    /// Whether `geo`'s convolution is recomputed inside batch norm + ReLU: the implicit path's
    /// geometries with at most ``recomputeTapLimit`` taps.
    static func recomputes(_ geo: ConvGeometry, _ dtype: DType) -> Bool {
        applies(geo, dtype) && geo.inChannels * geo.kernelCount <= recomputeTapLimit
    }

    /// Recomputing costs about 3·K multiply-adds per output element (statistics, output, backward
    /// gate) and saves a fixed amount of memory traffic. `bench train --verbose`, 1 thread, first
    /// layer forward + backward: K = 9 (1×28×28, 128 samples) 11.4 ms stored → 7.3 ms recomputed;
    /// K = 27 (3×32×32, 64 samples) 5.6–6.0 ms → 10.8–12.0 ms. Per element the gain falls about
    /// linearly in K and crosses zero near K = 17; 12 stays clear of it. The kernels themselves
    /// take any K ≤ ``smallTapLimit``.
    static let recomputeTapLimit = 12

    /// Per output channel, the mean and biased variance of `conv(x, w)` over the batch and every
    /// position, with the output never stored. Shifted sums (each channel offset by its first
    /// output element, as `batchNormStatistics` does), float lanes per batch of panels flushed into
    /// Double.
    static func recomputedConvStatistics(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ geo: ConvGeometry)
        -> (mean: [Double], variance: [Double]) {
        precondition(applies(geo, .float32) && geo.inChannels * geo.kernelCount <= smallTapLimit)
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
                ImplicitConvolution.gather(x, &g, byRuns: ImplicitConvolution.gathersRuns(g), runs: runs.baseAddress!, count: c.runs,
                                           plan: plan.baseAddress!, tap0: 0, taps: K, tp, stride: 16)
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
        precondition(applies(geo, .float32) && geo.inChannels * geo.kernelCount <= smallTapLimit)
        let O = geo.outChannels, K = geo.inChannels * geo.kernelCount, L = geo.outputCount
        let geometry = geometry(geo)
        let panels = (geo.batch * L + 15) / 16
        // y, the network's largest activation, is streamed past the caches when it is as large as batch
        // norm's streamed outputs: no read for ownership of every line (1–1.6 % of a SmallCNN MNIST step,
        // 12.8 MB; CIFAR's 8 MB alike with and without, in-process A/B on Zen 5).
        let stream = shouldStream(elements: geo.batch * O * L, run: L) ? Int32(1) : 0
        forEachChunk(geo, chunkPanels: 64, tasks: tasks(work: geo.work, units: (panels + 63) / 64, perThread: 4)) { _, _, range, s in
            var g = geometry
            forEachBatch(x, geo, &g, panels: range, taps: s.taps, runs: s.runs, spans: s.spans, spanCounts: s.spanCounts,
                         plan: s.plan) { _, np in
                for j in 0..<np {
                    swiftnn_convbn_relu_f32(s.taps + j * K * 16, K, w, O, shift, scale, offset, y, L, s.spans + 16 * j, s.spanCounts[j],
                                            stream)
                }
            }
            streamFence(stream != 0)
        }
    }

    /// The backward's sums in one pass over gy, with g = gy gated by the ReLU (`gateScale`,
    /// `gateOffset` on d = z − shift): per channel Σg and Σg·d (batch norm's sums) and, with
    /// `weightSums`, per (channel, tap) Σ tap·g and Σ tap·d, and per tap Σ tap. Batch norm's input
    /// gradient is dz = a·g − b·d + c per channel, with a, b, c from Σg and Σg·d; the convolution's
    /// weight gradient a·Σtap·g − b·Σtap·d + c·Σtap follows from sums that do not need them, so gy
    /// is read once. Float lanes are flushed into Double after every batch of panels (the weight
    /// sums cancel: see conv_kernels.c), and chunks of at least 256 panels each sum into their own
    /// slot, as in ``weightGradientSmallTaps``.
    static func recomputedConvBackward(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ gy: UnsafePointer<Float>,
                                       _ geo: ConvGeometry, shift: UnsafePointer<Float>, gateScale: UnsafePointer<Float>,
                                       gateOffset: UnsafePointer<Float>, weightSums: Bool)
        -> (sum: [Double], products: [Double], tapGradient: [Double], tapDeviation: [Double], tapSum: [Double]) {
        precondition(applies(geo, .float32) && geo.inChannels * geo.kernelCount <= smallTapLimit)
        let O = geo.outChannels, K = geo.inChannels * geo.kernelCount, L = geo.outputCount
        let panels = (geo.batch * L + 15) / 16
        let chunkPanels = max(256, (panels + 255) / 256)
        let chunks = (panels + chunkPanels - 1) / chunkPanels
        // Per chunk: Σg, Σg·d (O each), Σtap·g and Σtap·d interleaved per channel (2·O·K), Σtap (K).
        let slotSize = 2 * O + (weightSums ? 2 * O * K + K : 0)
        let partialStorage = gemmScratch(bytes: chunks * slotSize * 8)
        let partial = partialStorage.pointer.assumingMemoryBound(to: Double.self)
        let tasks = tasks(work: geo.work, units: chunks, perThread: 2)
        // Per task: a float scratch for one batch's lanes and their Double accumulators.
        let accFloats = weightSums ? (2 * O * K + K) * 16 : 0
        let accStorage = gemmScratch(bytes: max(1, tasks * accFloats * 12))
        let geometry = geometry(geo)
        forEachChunk(geo, chunkPanels: chunkPanels, tasks: tasks) { t, chunk, range, s in
            let slot = partial + chunk * slotSize
            slot.update(repeating: 0, count: 2 * O)
            let accD: UnsafeMutablePointer<Double>? =
                weightSums ? (accStorage.pointer + t * accFloats * 12).assumingMemoryBound(to: Double.self) : nil
            let acc = accD.map { UnsafeMutableRawPointer($0 + accFloats).assumingMemoryBound(to: Float.self) }
            accD?.update(repeating: 0, count: accFloats)
            var g = geometry
            forEachBatch(x, geo, &g, panels: range, taps: s.taps, runs: s.runs, spans: s.spans, spanCounts: s.spanCounts,
                         plan: s.plan) { _, np in
                swiftnn_convbn_backward_f32(s.taps, K, np, w, O, shift, gateScale, gateOffset, gy, L, s.spans, s.spanCounts,
                                            slot, slot + O, acc, accD)
            }
            guard let accD else { return }
            for i in 0..<(2 * O * K + K) {
                var sum = 0.0
                for lane in 0..<16 { sum += accD[i * 16 + lane] }
                slot[2 * O + i] = sum
            }
        }
        var total = [Double](repeating: 0, count: slotSize)
        for chunk in 0..<chunks {
            for i in 0..<slotSize { total[i] += partial[chunk * slotSize + i] }
        }
        withExtendedLifetime((partialStorage, accStorage)) {}
        let sum = Array(total[0..<O]), products = Array(total[O..<(2 * O)])
        guard weightSums else { return (sum, products, [], [], []) }
        var tapGradient = [Double](repeating: 0, count: O * K), tapDeviation = tapGradient
        for o in 0..<O {
            for k in 0..<K {
                tapGradient[o * K + k] = total[2 * O + (2 * o) * K + k]
                tapDeviation[o * K + k] = total[2 * O + (2 * o + 1) * K + k]
            }
        }
        return (sum, products, tapGradient, tapDeviation, Array(total[(2 * O + 2 * O * K)...]))
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
        let k = (map.shift + map.scale + map.offset).map(Float.init)
        let r = withExtendedLifetime((gradOutput, input, weight)) {
            k.withUnsafeBufferPointer { k in
                let p = k.baseAddress!
                return ImplicitConvolution.recomputedConvBackward(input.pointer(as: Float.self), weight.pointer(as: Float.self),
                                                                  gradOutput.pointer(as: Float.self), geo, shift: p,
                                                                  gateScale: p + O, gateOffset: p + 2 * O, weightSums: needWeight)
            }
        }
        let sumDyXhat = (0..<O).map { o in invstd[o] * (r.products[o] - (mean[o] - Double(k[o])) * r.sum[o]) }
        let sums = ChannelGradientSums(count: m, sumDy: r.sum, sumDyXhat: sumDyXhat)
        guard needWeight else { return (nil, needSums ? sums : nil) }
        // dz = a·g − b·d + c per channel (batchNormGradInput's constants, in Double), so the weight
        // gradient is a·Σtap·g − b·Σtap·d + c·Σtap.
        let K = weight.count / max(O, 1)
        let gw = Tensor(uninitializedShape: weight.shape, dtype: weight.dtype)
        let out = gw.pointer(as: Float.self)
        withExtendedLifetime(batchNormWeight) {
            for o in 0..<O {
                let a = (batchNormWeight?.doubleValue(at: o) ?? 1) * invstd[o]
                var b = 0.0, c = 0.0
                if batchStatistics {
                    b = a * invstd[o] * sumDyXhat[o] / Double(m)
                    c = b * (mean[o] - Double(k[o])) - a * r.sum[o] / Double(m)
                }
                for t in 0..<K {
                    out[o * K + t] = Float(a * r.tapGradient[o * K + t] - b * r.tapDeviation[o * K + t] + c * r.tapSum[t])
                }
            }
        }
        return (gw, needSums ? sums : nil)
    }
}
