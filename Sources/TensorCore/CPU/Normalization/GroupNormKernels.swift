// Group normalization (and instance normalization, its one-channel-per-group case) on x viewed as
// (n, c, s): statistics per (sample, group) over a contiguous row of (c / groups)·s floats. A row
// is summed and normalized back to back, so the second read comes from L1/L2; rows are split
// over threads.

extension CPUBackend {
    /// Group normalization forward: per (sample, group) mean and biased variance, then
    /// y = (x − mean)·invstd·weight[ch] + bias[ch]. Instance normalization is `groups == c`.
    /// - Returns: per row (n·groups of them) mean, biased variance and 1/sqrt(var + eps).
    static func groupNormForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                                        n: Int, c: Int, s: Int, groups: Int,
                                        weight: UnsafePointer<Float>?, bias: UnsafePointer<Float>?,
                                        eps: Double) -> (mean: [Double], variance: [Double], invstd: [Double]) {
        let rows = n * groups, cg = c / groups, len = cg * s
        let mean = NormScratch<Double>(rows, 0), variance = NormScratch<Double>(rows, 0), invstd = NormScratch<Double>(rows, 0)
        defer { mean.free(); variance.free(); invstd.free() }
        let stream = shouldStream(elements: n * c * s, run: s)
        if len > 0 {
            Parallel.forRange(0..<rows, grain: max(1, normParallelGrain / len)) { r in
                defer { streamFence(stream) }
                for row in r {
                    let xp = x + row * len, yp = y + row * len
                    let shift = xp[0]
                    let (ss, qq) = segmentMoments(xp, len, shift)
                    let mu = ss / Double(len)
                    let v = max(0, qq / Double(len) - mu * mu)
                    let rs = 1 / (v + eps).squareRoot()
                    mean[row] = Double(shift) + mu
                    variance[row] = v
                    invstd[row] = rs
                    let g = row % groups
                    for k in 0..<cg {
                        let ch = g * cg + k
                        let sc = Double(weight?[ch] ?? 1) * rs
                        let off = Double(bias?[ch] ?? 0) - mu * sc
                        segmentAffine(xp + k * s, yp + k * s, s, shift, Float(sc), Float(off), stream: stream)
                    }
                }
            }
        }
        return (mean.array, variance.array, invstd.array)
    }

    /// Group normalization backward (always with the batch's own statistics):
    /// dx = invstd·(g − mean(g) − x̂·mean(g·x̂)) with g = weight·dy over each (sample, group) row.
    /// - Returns: per channel Σdy·x̂ and Σdy when `weightGradients`, else empty arrays.
    @discardableResult
    static func groupNormBackward(x: UnsafePointer<Float>, gradOutput dy: UnsafePointer<Float>,
                                         gradInput dx: UnsafeMutablePointer<Float>?,
                                         n: Int, c: Int, s: Int, groups: Int, mean: [Double], invstd: [Double],
                                         weight: UnsafePointer<Float>?, weightGradients: Bool)
        -> (gradWeight: [Double], gradBias: [Double]) {
        let rows = n * groups, cg = c / groups, len = cg * s
        let sd = NormScratch<Double>(n * c, 0), sx = NormScratch<Double>(n * c, 0)
        let meanS = NormScratch<Double>(mean), invS = NormScratch<Double>(invstd)
        defer { sd.free(); sx.free(); meanS.free(); invS.free() }
        let stream = shouldStream(elements: n * c * s, run: s)
        if len > 0 {
            Parallel.forRange(0..<rows, grain: max(1, normParallelGrain / len)) { r in
                defer { streamFence(stream) }
                for row in r {
                    let off = row * len
                    let shift = Float(meanS[row])
                    let mres = meanS[row] - Double(shift)
                    let rs = invS[row]
                    let g = row % groups, nIdx = row / groups
                    var sumG = 0.0, sumGX = 0.0
                    for k in 0..<cg {
                        let ch = g * cg + k
                        let (a, b) = segmentGradMoments(x + off + k * s, dy + off + k * s, s, shift)
                        sd[nIdx * c + ch] = a
                        sx[nIdx * c + ch] = b
                        let w = Double(weight?[ch] ?? 1)
                        sumG += w * a
                        sumGX += w * b
                    }
                    guard let dx else { continue }
                    let l = Double(len)
                    let sumGXhat = rs * (sumGX - mres * sumG)
                    let bco = rs * rs * sumGXhat / l
                    let cco = bco * mres - rs * sumG / l
                    for k in 0..<cg {
                        let ch = g * cg + k
                        let a = Double(weight?[ch] ?? 1) * rs
                        segmentBackwardApply(x + off + k * s, dy + off + k * s, dx + off + k * s, s, shift,
                                             Float(a), Float(bco), Float(cco), stream: stream)
                    }
                }
            }
        }
        guard weightGradients else { return ([], []) }
        var gw = [Double](repeating: 0, count: c), gb = [Double](repeating: 0, count: c)
        for nIdx in 0..<n {
            for ch in 0..<c {
                let row = nIdx * groups + ch / max(cg, 1)
                let mres = mean[row] - Double(Float(mean[row]))
                gw[ch] += invstd[row] * (sx[nIdx * c + ch] - mres * sd[nIdx * c + ch])
                gb[ch] += sd[nIdx * c + ch]
            }
        }
        return (gw, gb)
    }
}
