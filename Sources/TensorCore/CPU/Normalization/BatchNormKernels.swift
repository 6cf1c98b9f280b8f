import CKernelSupport

// Batch normalization on x viewed as (n, c, s): statistics per channel over the batch and the
// spatial positions. Every sweep walks memory contiguously, one (batch, channel) segment of `s`
// floats after another, split over threads by ranges of segments; per-segment sums are merged
// per channel in Double. When s == 1 (BatchNorm1d on (N, C)) the channel is the fastest dimension
// and the sweeps vectorize across channels instead.

extension CPUBackend {
    /// Per-channel mean and biased variance of `x` viewed as (n, c, s).
    ///
    /// Shifted one-pass statistics: each channel's values are offset by the channel's first element
    /// before summing, so a channel with mean 1e4 and unit spread keeps ~1e-7 relative precision.
    static func batchNormStatistics(_ x: UnsafePointer<Float>, n: Int, c: Int, s: Int)
        -> (mean: [Double], variance: [Double]) {
        let m = Double(n * s)
        guard n * s > 0, c > 0 else {
            return ([Double](repeating: .nan, count: c), [Double](repeating: .nan, count: c))
        }
        let shift = NormScratch<Float>(c, 0)
        defer { shift.free() }
        for ch in 0..<c { shift[ch] = x[ch * s] }
        let sum = NormScratch<Double>(c, 0), sq = NormScratch<Double>(c, 0)
        defer { sum.free(); sq.free() }
        if s == 1 {
            columnMoments(x, rows: n, c: c, shift: shift.p, sum: sum.p, sq: sq.p)
        } else {
            let segs = n * c
            let segS = NormScratch<Double>(segs, 0), segQ = NormScratch<Double>(segs, 0)
            defer { segS.free(); segQ.free() }
            Parallel.forRange(0..<segs, grain: max(1, normParallelGrain / s)) { r in
                planeMoments(x, s: s, planes: r, c: c, c0: 0, shift: shift.p, sum: segS.p + r.lowerBound,
                             squares: segQ.p + r.lowerBound)
            }
            for seg in 0..<segs {
                sum[seg % c] += segS[seg]
                sq[seg % c] += segQ[seg]
            }
        }
        var mean = [Double](repeating: 0, count: c), variance = [Double](repeating: 0, count: c)
        for ch in 0..<c {
            let mu = sum[ch] / m
            mean[ch] = Double(shift[ch]) + mu
            variance[ch] = max(0, sq[ch] / m - mu * mu)
        }
        return (mean, variance)
    }

    /// Training-mode forward in one call: per-channel batch statistics, then
    /// y = (x − mean)/sqrt(var + eps)·weight + bias.
    ///
    /// Works on blocks of channels small enough (≈ 2 MB of x) that the normalizing pass re-reads
    /// the block from cache right after the statistics pass: x comes from memory once. Blocks
    /// are spread over threads. Falls back to two whole-tensor sweeps when there are too few
    /// blocks to keep every thread busy, and to channel-vectorized sweeps when s == 1.
    ///
    /// With `relu`, y = max(0, …) in the same sweep (batch norm fused with the ReLU after it), and
    /// `constants` (3·c floats, when given) receives the per-channel shift, scale and offset the
    /// sweep applied as y = (x − shift)·scale + offset, for the fused backward's ReLU mask.
    /// - Returns: per-channel mean and biased variance.
    static func batchNormTrainingForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                                                n: Int, c: Int, s: Int,
                                                weight: UnsafePointer<Float>?, bias: UnsafePointer<Float>?,
                                                eps: Double, relu: Bool = false,
                                                constants: UnsafeMutablePointer<Float>? = nil,
                                                residual: UnsafePointer<Float>? = nil) -> (mean: [Double], variance: [Double]) {
        guard let plan = ChannelBlocks(n: n, c: c, s: s) else {
            let (mean, variance) = batchNormStatistics(x, n: n, c: c, s: s)
            batchNormApply(x, y, n: n, c: c, s: s, mean: mean, invstd: variance.map { 1 / ($0 + eps).squareRoot() },
                           weight: weight, bias: bias, relu: relu, constants: constants, residual: residual)
            return (mean, variance)
        }
        let mean = NormScratch<Double>(c, 0), variance = NormScratch<Double>(c, 0)
        defer { mean.free(); variance.free() }
        let m = Double(n * s)
        let stream = shouldStream(elements: n * c * s, run: s)
        plan.run { c0, c1 in
            var sum = [Double](repeating: 0, count: c1 - c0), sq = sum
            var shift = [Float](repeating: 0, count: c1 - c0)
            for ch in c0..<c1 { shift[ch - c0] = x[ch * s] }
            // Each sample's planes of the block in one call, added per channel in sample order.
            let segS = NormScratch<Double>(c1 - c0, 0), segQ = NormScratch<Double>(c1 - c0, 0)
            defer { segS.free(); segQ.free() }
            shift.withUnsafeBufferPointer { sh in
                for i in 0..<n {
                    planeMoments(x, s: s, planes: (i * c + c0)..<(i * c + c1), c: c, c0: c0, shift: sh.baseAddress!,
                                 sum: segS.p, squares: segQ.p)
                    for k in 0..<(c1 - c0) {
                        sum[k] += segS[k]
                        sq[k] += segQ[k]
                    }
                }
            }
            var sh2 = shift, scale = shift, offset = shift
            for ch in c0..<c1 {
                let k = ch - c0
                let mu = sum[k] / m
                let v = max(0, sq[k] / m - mu * mu)
                let mn = Double(shift[k]) + mu
                mean[ch] = mn
                variance[ch] = v
                // The same product as batchNormApply (weight · invstd), so that the output does not
                // depend on which path the thread count picks.
                let sc = Double(weight?[ch] ?? 1) * (1 / (v + eps).squareRoot())
                sh2[k] = Float(mn)
                scale[k] = Float(sc)
                offset[k] = Float(Double(bias?[ch] ?? 0) - (mn - Double(sh2[k])) * sc)
                if let constants {
                    constants[ch] = sh2[k]
                    constants[c + ch] = scale[k]
                    constants[2 * c + ch] = offset[k]
                }
            }
            // Newest data first: the end of the block is the most likely to still be cached.
            sh2.withUnsafeBufferPointer { sh in scale.withUnsafeBufferPointer { sc in offset.withUnsafeBufferPointer { of in
                for i in (0..<n).reversed() {
                    planeAffine(x, y, s: s, planes: (i * c + c0)..<(i * c + c1), c: c, c0: c0, shift: sh.baseAddress!,
                                scale: sc.baseAddress!, offset: of.baseAddress!, stream: stream, relu: relu, residual: residual)
                }
            } } }
            streamFence(stream)
        }
        return (mean.array, variance.array)
    }

    /// y = (x − mean)·invstd·weight + bias per channel, for `x` viewed as (n, c, s).
    /// Used with batch statistics (training) and with running statistics (evaluation). `relu` and
    /// `constants` as in ``batchNormTrainingForward(_:_:n:c:s:weight:bias:eps:relu:constants:)``.
    static func batchNormApply(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                                      n: Int, c: Int, s: Int, mean: [Double], invstd: [Double],
                                      weight: UnsafePointer<Float>?, bias: UnsafePointer<Float>?,
                                      relu: Bool = false, constants: UnsafeMutablePointer<Float>? = nil,
                                      residual: UnsafePointer<Float>? = nil) {
        // Per channel: y = (x − shift)·scale + offset with shift = Float(mean), so x − shift is
        // exact for data near the mean and the residual mean − shift is folded into the offset.
        let shift = NormScratch<Float>(c, 0), scale = NormScratch<Float>(c, 0), offset = NormScratch<Float>(c, 0)
        defer { shift.free(); scale.free(); offset.free() }
        for ch in 0..<c {
            let sh = Float(mean[ch])
            let sc = Double(weight?[ch] ?? 1) * invstd[ch]
            shift[ch] = sh
            scale[ch] = Float(sc)
            offset[ch] = Float(Double(bias?[ch] ?? 0) - (mean[ch] - Double(sh)) * sc)
        }
        if let constants {
            constants.update(from: shift.p, count: c)
            (constants + c).update(from: scale.p, count: c)
            (constants + 2 * c).update(from: offset.p, count: c)
        }
        if s == 1 {
            precondition(residual == nil, "batch_norm_add_relu: (N, C) input takes the unfused tail")
            columnAffine(x, y, rows: n, c: c, shift: shift.p, scale: scale.p, offset: offset.p, relu: relu)
            return
        }
        let stream = shouldStream(elements: n * c * s, run: s)
        Parallel.forRange(0..<(n * c), grain: max(1, normParallelGrain / s)) { r in
            // Reverse order: the segments read last by the statistics pass are still in cache.
            planeAffine(x, y, s: s, planes: r, c: c, c0: 0, shift: shift.p, scale: scale.p, offset: offset.p,
                        stream: stream, relu: relu, residual: residual)
            streamFence(stream)
        }
    }

    /// Per-channel Σdy and Σdy·x̂ (x̂ = (x − mean)·invstd) for `x` viewed as (n, c, s): the
    /// reduce half of the backward. Sums are taken on x shifted by Float(mean), then corrected in
    /// Double for the residual mean − shift. With `gate` (the forward's 3·c constants, see
    /// ``batchNormTrainingForward(_:_:n:c:s:weight:bias:eps:relu:constants:)``) dy is first
    /// gated by the fused ReLU.
    static func batchNormGradientSums(x: UnsafePointer<Float>, gradOutput dy: UnsafePointer<Float>,
                                      n: Int, c: Int, s: Int, mean: [Double], invstd: [Double],
                                      gate: UnsafePointer<Float>? = nil) -> (sumDy: [Double], sumDyXhat: [Double]) {
        let shift = NormScratch<Float>(c, 0)
        let sd = NormScratch<Double>(c, 0), sx = NormScratch<Double>(c, 0)
        defer { shift.free(); sd.free(); sx.free() }
        for ch in 0..<c { shift[ch] = Float(mean[ch]) }
        if s == 1 {
            columnGradMoments(x, dy, rows: n, c: c, shift: shift.p, sumDy: sd.p, sumDyX: sx.p, gate: gate.map { ($0 + c, $0 + 2 * c) })
        } else if n * c * s > 0 {
            let segs = n * c
            let segD = NormScratch<Double>(segs, 0), segX = NormScratch<Double>(segs, 0)
            defer { segD.free(); segX.free() }
            Parallel.forRange(0..<segs, grain: max(1, normParallelGrain / s)) { r in
                if let gate {
                    planeGatedGradMoments(x, dy, s: s, planes: r, c: c, c0: 0, shift: shift.p, gateScale: gate + c,
                                          gateOffset: gate + 2 * c, sum: segD.p + r.lowerBound, products: segX.p + r.lowerBound)
                    return
                }
                for seg in r {
                    let (a, b) = segmentGradMoments(x + seg * s, dy + seg * s, s, shift[seg % c])
                    segD[seg] = a
                    segX[seg] = b
                }
            }
            for seg in 0..<segs {
                sd[seg % c] += segD[seg]
                sx[seg % c] += segX[seg]
            }
        }
        let sumDy = sd.array
        let sumDyXhat = (0..<c).map { ch in invstd[ch] * (sx[ch] - (mean[ch] - Double(shift[ch])) * sumDy[ch]) }
        return (sumDy, sumDyXhat)
    }

    /// The input gradient of batch normalization for `x` viewed as (n, c, s), the apply half of
    /// the backward: with `sums` (over `count` elements per channel, possibly from several
    /// processes) dx = w·invstd·(dy − Σdy/count − x̂·Σdy·x̂/count); without, dx = w·invstd·dy.
    static func batchNormGradInput(x: UnsafePointer<Float>, gradOutput dy: UnsafePointer<Float>, gradInput dx: UnsafeMutablePointer<Float>,
                                   n: Int, c: Int, s: Int, mean: [Double], invstd: [Double], weight: UnsafePointer<Float>?,
                                   sums: (count: Int, sumDy: [Double], sumDyXhat: [Double])?,
                                   gate: UnsafePointer<Float>? = nil) {
        let shift = NormScratch<Float>(c, 0)
        let ca = NormScratch<Float>(c, 0), cb = NormScratch<Float>(c, 0), cc = NormScratch<Float>(c, 0)
        defer { shift.free(); ca.free(); cb.free(); cc.free() }
        for ch in 0..<c {
            shift[ch] = Float(mean[ch])
            let r = invstd[ch]
            let a = Double(weight?[ch] ?? 1) * r
            ca[ch] = Float(a)
            if let sums {
                let m = Double(sums.count)
                let b = a * r * sums.sumDyXhat[ch] / m
                cb[ch] = Float(b)
                cc[ch] = Float(b * (mean[ch] - Double(shift[ch])) - a * sums.sumDy[ch] / m)
            }
        }
        if s == 1 {
            columnBackwardApply(x, dy, dx, rows: n, c: c, shift: shift.p, a: ca.p, b: cb.p, cc: cc.p,
                                gate: gate.map { ($0 + c, $0 + 2 * c) })
        } else if n * c * s > 0 {
            let stream = shouldStream(elements: n * c * s, run: s)
            Parallel.forRange(0..<(n * c), grain: max(1, normParallelGrain / s)) { r in
                if let gate {
                    planeGatedBackwardApply(x, dy, dx, s: s, planes: r, c: c, c0: 0, shift: shift.p, a: ca.p, b: cb.p, cc: cc.p,
                                            gateScale: gate + c, gateOffset: gate + 2 * c, stream: stream)
                } else {
                    for seg in r.reversed() {
                        let ch = seg % c
                        segmentBackwardApply(x + seg * s, dy + seg * s, dx + seg * s, s, shift[ch], ca[ch], cb[ch], cc[ch],
                                             stream: stream)
                    }
                }
                streamFence(stream)
            }
        }
    }

    /// Gradients of batch normalization for `x` viewed as (n, c, s), reduce and apply fused per
    /// cache-sized channel block when the layout allows it.
    ///
    /// With `batchStatistics` (training, or evaluation without running stats) the mean and
    /// variance depend on x: dx = w·invstd·(dy − mean(dy) − x̂·mean(dy·x̂)). Otherwise (evaluation
    /// with running stats) dx = w·invstd·dy. `gradInput` nil skips dx; `needSums` false skips the
    /// reduction pass when dx does not need it.
    /// With `gate` (the 3·c constants the fused forward applied), this is the backward of batch
    /// normalization followed by ReLU: dy is gated by the ReLU mask recomputed from x, inside
    /// both sweeps, so neither the ReLU's input gradient nor the forward's output is needed.
    /// - Returns: per channel Σdy·x̂ (weight gradient) and Σdy (bias gradient), empty when skipped.
    static func batchNormBackward(x: UnsafePointer<Float>, gradOutput dy: UnsafePointer<Float>,
                                  gradInput dx: UnsafeMutablePointer<Float>?,
                                  n: Int, c: Int, s: Int, mean: [Double], invstd: [Double],
                                  weight: UnsafePointer<Float>?, batchStatistics: Bool,
                                  weightGradients: Bool, gate: UnsafePointer<Float>? = nil) -> (gradWeight: [Double], gradBias: [Double]) {
        if let plan = ChannelBlocks(n: n, c: c, s: s, tensors: 2) {
            return blockedBackward(plan, x, dy, dx, n: n, c: c, s: s, mean: mean, invstd: invstd, weight: weight,
                                   batchStatistics: batchStatistics, weightGradients: weightGradients, gate: gate)
        }
        var sums: (count: Int, sumDy: [Double], sumDyXhat: [Double])? = nil
        if batchStatistics || weightGradients {
            let r = batchNormGradientSums(x: x, gradOutput: dy, n: n, c: c, s: s, mean: mean, invstd: invstd, gate: gate)
            sums = (n * s, r.sumDy, r.sumDyXhat)
        }
        if let dx {
            batchNormGradInput(x: x, gradOutput: dy, gradInput: dx, n: n, c: c, s: s, mean: mean, invstd: invstd, weight: weight,
                               sums: batchStatistics ? sums : nil, gate: gate)
        }
        guard weightGradients, let sums else { return ([], []) }
        return (sums.sumDyXhat, sums.sumDy)
    }
}

// MARK: - Channel blocks

/// A split of the channels into blocks whose data (all n samples) fits in cache, so a second
/// sweep over a block right after the first one reads from cache instead of memory.
struct ChannelBlocks {
    let n: Int, c: Int, s: Int
    let block: Int
    let count: Int

    /// Nil when the layout is better served by whole-tensor sweeps: s == 1 (channel-vectorized
    /// path), or too few blocks to give every thread work on a tensor worth splitting.
    init?(n: Int, c: Int, s: Int, tensors: Int = 1) {
        guard s > 1, n * c * s > 0 else { return nil }
        let perChannel = n * s * MemoryLayout<Float>.stride * tensors
        let block = max(1, min(c, (2 << 20) / perChannel))
        let count = (c + block - 1) / block
        let threads = Parallel.chunkCount(total: n * c * s, grain: normParallelGrain)
        if count < threads { return nil }
        self.n = n; self.c = c; self.s = s
        self.block = block
        self.count = count
    }

    /// Runs `body(c0, c1)` for every block, blocks spread over threads.
    func run(_ body: (Int, Int) -> Void) {
        let perBlock = block * n * s
        Parallel.forRange(0..<count, grain: max(1, normParallelGrain / perBlock)) { r in
            for b in r { body(b * block, min(c, (b + 1) * block)) }
        }
    }
}

/// Batch-norm backward one channel block at a time: the block's sums over the batch, then its
/// input gradient while x and dy are still cached.
private func blockedBackward(_ plan: ChannelBlocks, _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                             _ dx: UnsafeMutablePointer<Float>?, n: Int, c: Int, s: Int, mean: [Double], invstd: [Double],
                             weight: UnsafePointer<Float>?, batchStatistics: Bool,
                             weightGradients: Bool, gate: UnsafePointer<Float>?) -> (gradWeight: [Double], gradBias: [Double]) {
    let m = Double(n * s)
    let gw = NormScratch<Double>(c, 0), gb = NormScratch<Double>(c, 0)
    let meanS = NormScratch<Double>(mean), invS = NormScratch<Double>(invstd)
    defer { gw.free(); gb.free(); meanS.free(); invS.free() }
    let needSums = batchStatistics || weightGradients
    let stream = shouldStream(elements: n * c * s, run: s)
    plan.run { c0, c1 in
        var shift = [Float](repeating: 0, count: c1 - c0)
        for ch in c0..<c1 { shift[ch - c0] = Float(meanS[ch]) }
        var sd = [Double](repeating: 0, count: c1 - c0), sx = sd
        if needSums {
            if let gate {
                // Each sample's planes of the block in one call, added per channel in sample order.
                let segD = NormScratch<Double>(c1 - c0, 0), segX = NormScratch<Double>(c1 - c0, 0)
                defer { segD.free(); segX.free() }
                shift.withUnsafeBufferPointer { sh in
                    for i in 0..<n {
                        planeGatedGradMoments(x, dy, s: s, planes: (i * c + c0)..<(i * c + c1), c: c, c0: c0, shift: sh.baseAddress!,
                                              gateScale: gate + c + c0, gateOffset: gate + 2 * c + c0, sum: segD.p, products: segX.p)
                        for k in 0..<(c1 - c0) {
                            sd[k] += segD[k]
                            sx[k] += segX[k]
                        }
                    }
                }
            } else {
                for i in 0..<n {
                    for ch in c0..<c1 {
                        let off = (i * c + ch) * s
                        let (a, b) = segmentGradMoments(x + off, dy + off, s, shift[ch - c0])
                        sd[ch - c0] += a
                        sx[ch - c0] += b
                    }
                }
            }
            for ch in c0..<c1 {
                let k = ch - c0
                gw[ch] = invS[ch] * (sx[k] - (meanS[ch] - Double(shift[k])) * sd[k])
                gb[ch] = sd[k]
            }
        }
        guard let dx else { return }
        var ca = shift, cb = shift, cc = shift
        for ch in c0..<c1 {
            let k = ch - c0, r = invS[ch]
            let a = Double(weight?[ch] ?? 1) * r
            ca[k] = Float(a)
            if batchStatistics {
                let b = a * r * gw[ch] / m
                cb[k] = Float(b)
                cc[k] = Float(b * (meanS[ch] - Double(shift[k])) - a * sd[k] / m)
            } else {
                cb[k] = 0
                cc[k] = 0
            }
        }
        if let gate {
            shift.withUnsafeBufferPointer { sh in ca.withUnsafeBufferPointer { pa in
            cb.withUnsafeBufferPointer { pb in cc.withUnsafeBufferPointer { pc in
                for i in (0..<n).reversed() {
                    planeGatedBackwardApply(x, dy, dx, s: s, planes: (i * c + c0)..<(i * c + c1), c: c, c0: c0,
                                            shift: sh.baseAddress!, a: pa.baseAddress!, b: pb.baseAddress!, cc: pc.baseAddress!,
                                            gateScale: gate + c + c0, gateOffset: gate + 2 * c + c0, stream: stream)
                }
            } } } }
        } else {
            for i in (0..<n).reversed() {
                for ch in (c0..<c1).reversed() {
                    let off = (i * c + ch) * s
                    segmentBackwardApply(x + off, dy + off, dx + off, s, shift[ch - c0], ca[ch - c0], cb[ch - c0], cc[ch - c0],
                                         stream: stream)
                }
            }
        }
        streamFence(stream)
    }
    return (weightGradients ? gw.array : [], weightGradients ? gb.array : [])
}

// MARK: - (rows, c) layout: vectorized across channels

/// Rows accumulated in float lanes before flushing into Double.
private let columnFlushRows = 64

/// How many row ranges the column reductions split into: fixed by the size alone, never by the
/// thread count, so that the per-range partial sums (and their rounding) are the same on 1 thread
/// and on 2 — a resumed run stays bit-exact whatever threads it gets.
private func columnChunks(rows: Int, c: Int) -> Int {
    max(1, min(16, rows, rows * c / normParallelGrain))
}

/// Per-column Σ(x − shift) and Σ(x − shift)² of a (rows, c) matrix, added into `sum` / `sq`.
func columnMoments(_ x: UnsafePointer<Float>, rows: Int, c: Int, shift: UnsafePointer<Float>,
                   sum: UnsafeMutablePointer<Double>, sq: UnsafeMutablePointer<Double>) {
    let chunks = columnChunks(rows: rows, c: c)
    let part = NormScratch<Double>(2 * c * chunks, 0)
    defer { part.free() }
    Parallel.run(tasks: chunks) { k in
        let r0 = rows * k / chunks, r1 = rows * (k + 1) / chunks
        let accS = NormScratch<Float>(c, 0), accQ = NormScratch<Float>(c, 0)
        defer { accS.free(); accQ.free() }
        let ps = part.p + 2 * c * k, pq = ps + c
        var row = r0
        while row < r1 {
            let end = min(r1, row + columnFlushRows)
            accS.p.update(repeating: 0, count: c)
            accQ.p.update(repeating: 0, count: c)
            while row < end {
                let xr = x + row * c
                var j = 0
                while j + 16 <= c {
                    let d = nload(xr + j) - nload(shift + j)
                    nstore(accS.p + j, nload(accS.p + j) + d)
                    nstore(accQ.p + j, nload(accQ.p + j) + d * d)
                    j += 16
                }
                while j < c {
                    let d = xr[j] - shift[j]
                    accS[j] += d
                    accQ[j] += d * d
                    j += 1
                }
                row += 1
            }
            for j in 0..<c {
                ps[j] += Double(accS[j])
                pq[j] += Double(accQ[j])
            }
        }
    }
    for k in 0..<chunks {
        for j in 0..<c {
            sum[j] += part[2 * c * k + j]
            sq[j] += part[2 * c * k + c + j]
        }
    }
}

/// Per-column Σdy and Σdy·(x − shift) of (rows, c) matrices, added into `sumDy` / `sumDyX`.
/// With `gate` (per-column ReLU scale and offset), dy is gated by the fused ReLU's mask first.
func columnGradMoments(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, rows: Int, c: Int,
                       shift: UnsafePointer<Float>,
                       sumDy: UnsafeMutablePointer<Double>, sumDyX: UnsafeMutablePointer<Double>,
                       gate: (scale: UnsafePointer<Float>, offset: UnsafePointer<Float>)? = nil) {
    let chunks = columnChunks(rows: rows, c: c)
    let part = NormScratch<Double>(2 * c * chunks, 0)
    defer { part.free() }
    Parallel.run(tasks: chunks) { k in
        let r0 = rows * k / chunks, r1 = rows * (k + 1) / chunks
        let accS = NormScratch<Float>(c, 0), accQ = NormScratch<Float>(c, 0)
        defer { accS.free(); accQ.free() }
        let ps = part.p + 2 * c * k, pq = ps + c
        var row = r0
        while row < r1 {
            let end = min(r1, row + columnFlushRows)
            accS.p.update(repeating: 0, count: c)
            accQ.p.update(repeating: 0, count: c)
            while row < end {
                let xr = x + row * c, gr = dy + row * c
                // The gate is tested once per row: a test per vector keeps the loop from being
                // compiled as tightly as the ungated one.
                if let gate {
                    columnGradRow(xr, gr, c, shift, accS.p, accQ.p) { g, d, j in
                        NormV16(repeating: 0).replacing(with: g, where: d * nload(gate.scale + j) + nload(gate.offset + j) .> 0)
                    } _: { g, d, j in d * gate.scale[j] + gate.offset[j] > 0 ? g : 0 }
                } else {
                    columnGradRow(xr, gr, c, shift, accS.p, accQ.p) { g, _, _ in g } _: { g, _, _ in g }
                }
                row += 1
            }
            for j in 0..<c {
                ps[j] += Double(accS[j])
                pq[j] += Double(accQ[j])
            }
        }
    }
    for k in 0..<chunks {
        for j in 0..<c {
            sumDy[j] += part[2 * c * k + j]
            sumDyX[j] += part[2 * c * k + c + j]
        }
    }
}

/// One row of ``columnGradMoments``: acc += g, accQ += g·(x − shift) with g = gate(dy).
@inline(__always)
private func columnGradRow(_ xr: UnsafePointer<Float>, _ gr: UnsafePointer<Float>, _ c: Int, _ shift: UnsafePointer<Float>,
                           _ accS: UnsafeMutablePointer<Float>, _ accQ: UnsafeMutablePointer<Float>,
                           _ gate: (NormV16, NormV16, Int) -> NormV16, _ gate1: (Float, Float, Int) -> Float) {
    var j = 0
    while j + 16 <= c {
        let d = nload(xr + j) - nload(shift + j)
        let g = gate(nload(gr + j), d, j)
        nstore(accS + j, nload(accS + j) + g)
        nstore(accQ + j, nload(accQ + j) + g * d)
        j += 16
    }
    while j < c {
        let d = xr[j] - shift[j]
        let g = gate1(gr[j], d, j)
        accS[j] += g
        accQ[j] += g * d
        j += 1
    }
}

/// y[r, j] = (x[r, j] − shift[j])·scale[j] + offset[j].
/// With `relu`, y = max(0, …) (batch norm fused with the ReLU after it).
func columnAffine(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, c: Int,
                  shift: UnsafePointer<Float>, scale: UnsafePointer<Float>, offset: UnsafePointer<Float>,
                  relu: Bool = false) {
    Parallel.forRange(0..<rows, grain: max(1, normParallelGrain / max(c, 1))) { r in
        for row in r {
            let xr = x + row * c, yr = y + row * c
            if relu {
                columnAffineRow(xr, yr, c, shift, scale, offset, nrelu, nrelu)
            } else {
                columnAffineRow(xr, yr, c, shift, scale, offset, { $0 }, { $0 })
            }
        }
    }
}

@inline(__always)
private func columnAffineRow(_ xr: UnsafePointer<Float>, _ yr: UnsafeMutablePointer<Float>, _ c: Int,
                             _ shift: UnsafePointer<Float>, _ scale: UnsafePointer<Float>, _ offset: UnsafePointer<Float>,
                             _ act: (NormV16) -> NormV16, _ act1: (Float) -> Float) {
    var j = 0
    while j + 16 <= c {
        nstore(yr + j, act((nload(xr + j) - nload(shift + j)) * nload(scale + j) + nload(offset + j)))
        j += 16
    }
    while j < c {
        yr[j] = act1((xr[j] - shift[j]) * scale[j] + offset[j])
        j += 1
    }
}

/// dx[r, j] = a[j]·dy[r, j] − b[j]·(x[r, j] − shift[j]) + cc[j], dy gated by the fused ReLU's
/// mask when `gate` is given.
func columnBackwardApply(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                         rows: Int, c: Int, shift: UnsafePointer<Float>,
                         a: UnsafePointer<Float>, b: UnsafePointer<Float>, cc: UnsafePointer<Float>,
                         gate: (scale: UnsafePointer<Float>, offset: UnsafePointer<Float>)? = nil) {
    Parallel.forRange(0..<rows, grain: max(1, normParallelGrain / max(c, 1))) { r in
        for row in r {
            let xr = x + row * c, gr = dy + row * c, dr = dx + row * c
            if let gate {
                columnBackwardRow(xr, gr, dr, c, shift, a, b, cc) { g, d, j in
                    NormV16(repeating: 0).replacing(with: g, where: d * nload(gate.scale + j) + nload(gate.offset + j) .> 0)
                } _: { g, d, j in d * gate.scale[j] + gate.offset[j] > 0 ? g : 0 }
            } else {
                columnBackwardRow(xr, gr, dr, c, shift, a, b, cc) { g, _, _ in g } _: { g, _, _ in g }
            }
        }
    }
}

@inline(__always)
private func columnBackwardRow(_ xr: UnsafePointer<Float>, _ gr: UnsafePointer<Float>, _ dr: UnsafeMutablePointer<Float>, _ c: Int,
                               _ shift: UnsafePointer<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                               _ cc: UnsafePointer<Float>,
                               _ gate: (NormV16, NormV16, Int) -> NormV16, _ gate1: (Float, Float, Int) -> Float) {
    var j = 0
    while j + 16 <= c {
        let d = nload(xr + j) - nload(shift + j)
        nstore(dr + j, nload(a + j) * gate(nload(gr + j), d, j) - nload(b + j) * d + nload(cc + j))
        j += 16
    }
    while j < c {
        let d = xr[j] - shift[j]
        dr[j] = a[j] * gate1(gr[j], d, j) - b[j] * d + cc[j]
        j += 1
    }
}
