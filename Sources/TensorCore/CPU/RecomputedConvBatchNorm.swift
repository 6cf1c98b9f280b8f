import CKernelSupport

// Conv2d → BatchNorm2d → ReLU for a layer with few taps (a network's first layer: K = C·KH·KW ≤ 32,
// see recomputeTapLimit), with the convolution's output z never written to memory.
// - Statistics: z = w·tap at every position, so z's mean and variance are w·mean(tap) and
//   wᵀ·Cov(tap)·w. One pass sums the taps and their products (K·(K+1)/2 per position, against
//   K·O for z itself), in Double per batch of panels; batch norm's statistics then cost O·K² in Double.
// - Output: regathers a panel's taps and recomputes z in registers, with the same fused multiply-add
//   chain as `forwardSmallTaps`, then normalizes it and applies the ReLU.
// - Backward: the ReLU's gate is y > 0, read off the output; g = gated gy. Σg and Σ tap·g (the
//   weight gradient's own sums) are all it accumulates: batch norm's Σg·(z − mean) = w·Σtap·g −
//   mean·Σg, and the weight gradient of dz = a·g − b·(z − mean) − c is a·Σtap·g − b·Cov·w − c·Σtap,
//   with the forward's tap moments.
//
// Why: a first layer's z is the network's largest activation (SmallCNN on MNIST: 12.8 MB per step,
// on CIFAR 8 MB) and costs only K multiply-adds per element. Stored, it is written once and read
// five times (statistics, normalization, the backward's two sweeps, and dz read back by the weight
// gradient, which writes it first); here only y is written, and y and gy are read once.
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

    /// Every layer the few-tap kernels take. Recomputing z costs K multiply-adds per output element
    /// once (the output pass); the statistics' tap moments cost K·(K+1)/2 per position, and the
    /// backward's sums are the weight gradient's own. The stored path costs the same products plus z's
    /// memory traffic.
    static let recomputeTapLimit = smallTapLimit

    /// Panels per batch of the backward's sums: 64 whatever K (the kernel's own block), so that each
    /// channel's rows of y and gy are read in runs of 4 KB rather than of 18 panels (K = 27); a
    /// batch's taps (≤ 128 KB) stay in L2 while the 4-channel blocks reread them. CIFAR's first
    /// layer's backward: 1.68 ms against 1.74–1.86 with the default batches (1 thread).
    static let gatedBatch = 64

    /// The moments of `conv(x, ·)`'s taps: Σ tap and Σ (tap − mean)(tap − mean)ᵀ over the batch and
    /// every output position. The taps are summed shifted by their input channel's first element (so
    /// that the products cancel less), float lanes per batch of panels flushed into Double.
    static func tapMoments(_ x: UnsafePointer<Float>, _ geo: ConvGeometry) -> ConvTapMoments {
        let K = geo.inChannels * geo.kernelCount
        precondition(applies(geo, .float32) && K <= smallTapLimit)
        let plane = geo.inputSize.reduce(1, *)
        let shift = (0..<K).map { x[(($0 / geo.kernelCount) * plane)] }
        let panels = (geo.batch * geo.outputCount + 15) / 16
        let chunkPanels = max(256, (panels + 255) / 256)
        let chunks = (panels + chunkPanels - 1) / chunkPanels
        // Per chunk: Σt (K), then Σ t_r·t_c for c ≤ r (K·(K+1)/2, row by row).
        let slotSize = K + K * (K + 1) / 2
        let partialStorage = gemmScratch(bytes: chunks * slotSize * 8)
        let partial = partialStorage.pointer.assumingMemoryBound(to: Double.self)
        let tasks = tasks(work: geo.work, units: chunks, perThread: 2)
        let accDoubles = (K + K * K) * 16
        let accStorage = gemmScratch(bytes: tasks * accDoubles * 8)
        let geometry = geometry(geo)
        shift.withUnsafeBufferPointer { sh in
            forEachChunk(geo, chunkPanels: chunkPanels, tasks: tasks) { t, chunk, range, s in
                let accD = accStorage.pointer.assumingMemoryBound(to: Double.self) + t * accDoubles
                accD.update(repeating: 0, count: accDoubles)
                var g = geometry
                forEachBatch(x, geo, &g, panels: range, taps: s.taps, runs: s.runs, spans: s.spans, spanCounts: s.spanCounts,
                             plan: s.plan) { _, np in
                    swiftnn_conv_tap_moments_f32(s.taps, K, np, s.spans, s.spanCounts, sh.baseAddress!, accD)
                }
                let slot = partial + chunk * slotSize
                func lanes(_ i: Int) -> Double {
                    var sum = 0.0
                    for lane in 0..<16 { sum += accD[i * 16 + lane] }
                    return sum
                }
                var i = 0
                for k in 0..<K { slot[i] = lanes(k); i += 1 }
                for r in 0..<K {
                    for c in 0...r { slot[i] = lanes(K + r * K + c); i += 1 }
                }
            }
        }
        var total = [Double](repeating: 0, count: slotSize)
        for chunk in 0..<chunks {
            for i in 0..<slotSize { total[i] += partial[chunk * slotSize + i] }
        }
        withExtendedLifetime((partialStorage, accStorage)) {}
        // Σ (t − t̄)(t − t̄)ᵀ = Σ t·tᵀ − Σt·Σtᵀ / m, the same for the taps and the shifted taps.
        let m = Double(geo.batch * geo.outputCount)
        var centered = [Double](repeating: 0, count: K * K)
        var i = K
        for r in 0..<K {
            for c in 0...r {
                let v = total[i] - total[r] * total[c] / m
                centered[r * K + c] = v
                centered[c * K + r] = v
                i += 1
            }
        }
        let tapSum = (0..<K).map { total[$0] + m * Double(shift[$0]) }
        return ConvTapMoments(count: geo.batch * geo.outputCount, tapSum: tapSum, centered: centered)
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
                // Pairs of panels: sixteen chains in flight (one panel's eight left the multiply-adds'
                // latency exposed).
                var j = 0
                while j + 1 < np {
                    swiftnn_convbn_relu_pair_f32(s.taps + j * K * 16, s.taps + (j + 1) * K * 16, K, w, O, shift, scale, offset, y, L,
                                                 s.spans + 16 * j, s.spanCounts[j], s.spans + 16 * (j + 1), s.spanCounts[j + 1], stream)
                    j += 2
                }
                if j < np {
                    swiftnn_convbn_relu_f32(s.taps + j * K * 16, K, w, O, shift, scale, offset, y, L, s.spans + 16 * j, s.spanCounts[j],
                                            stream)
                }
            }
            streamFence(stream != 0)
        }
    }

    /// The backward's sums in one pass over y and gy: per channel Σg and Σ tap·g, g = gy where y > 0.
    /// Float lanes are flushed into Double after every batch of panels, and chunks of at least 256
    /// panels each sum into their own slot, as in ``weightGradientSmallTaps``.
    static func gatedSums(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ gy: UnsafePointer<Float>, _ geo: ConvGeometry)
        -> ConvGatedSums {
        let O = geo.outChannels, K = geo.inChannels * geo.kernelCount, L = geo.outputCount
        precondition(applies(geo, .float32) && K <= smallTapLimit)
        let panels = (geo.batch * L + 15) / 16
        let chunkPanels = max(256, (panels + 255) / 256)
        let chunks = (panels + chunkPanels - 1) / chunkPanels
        let slotSize = O + O * K
        let partialStorage = gemmScratch(bytes: chunks * slotSize * 8)
        let partial = partialStorage.pointer.assumingMemoryBound(to: Double.self)
        let tasks = tasks(work: geo.work, units: chunks, perThread: 2)
        let accDoubles = O * K * 16
        let accStorage = gemmScratch(bytes: tasks * accDoubles * 8)
        let geometry = geometry(geo)
        forEachChunk(geo, chunkPanels: chunkPanels, tasks: tasks, batch: gatedBatch) { t, chunk, range, s in
            let slot = partial + chunk * slotSize
            slot.update(repeating: 0, count: O)
            let accD = accStorage.pointer.assumingMemoryBound(to: Double.self) + t * accDoubles
            accD.update(repeating: 0, count: accDoubles)
            var g = geometry
            forEachBatch(x, geo, &g, panels: range, taps: s.taps, runs: s.runs, spans: s.spans, spanCounts: s.spanCounts,
                         plan: s.plan, batch: gatedBatch) { _, np in
                swiftnn_convbn_gated_backward_f32(s.taps, K, np, y, gy, L, s.spans, s.spanCounts, O, slot, accD)
            }
            for i in 0..<(O * K) {
                var sum = 0.0
                for lane in 0..<16 { sum += accD[i * 16 + lane] }
                slot[O + i] = sum
            }
        }
        var total = [Double](repeating: 0, count: slotSize)
        for chunk in 0..<chunks {
            for i in 0..<slotSize { total[i] += partial[chunk * slotSize + i] }
        }
        withExtendedLifetime((partialStorage, accStorage)) {}
        return ConvGatedSums(sum: Array(total[0..<O]), tapProducts: Array(total[O...]))
    }
}

extension CPUBackend: ConvBatchNormOps {
    public func convBatchNormReLURecomputes(_ geo: ConvGeometry, _ dtype: DType) -> Bool {
        ImplicitConvolution.recomputes(geo, dtype)
    }

    public func convTapMoments(_ input: Tensor, _ geo: ConvGeometry) -> ConvTapMoments {
        withExtendedLifetime(input) { ImplicitConvolution.tapMoments(input.pointer(as: Float.self), geo) }
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

    public func convBatchNormReLUGatedSums(_ gradOutput: Tensor, output: Tensor, _ input: Tensor, _ geo: ConvGeometry)
        -> ConvGatedSums {
        withExtendedLifetime((gradOutput, output, input)) {
            ImplicitConvolution.gatedSums(input.pointer(as: Float.self), output.pointer(as: Float.self),
                                          gradOutput.pointer(as: Float.self), geo)
        }
    }
}
