// float64 versions of the normalization kernels, for gradient checks and references. They are
// written once over an index map (element → statistics group, element → affine index) with plain
// two-pass Double loops: clarity over speed.

/// Which statistics group and which affine parameter each element of a normalized tensor uses.
struct NormLayout {
    var count: Int
    var groups: Int
    var affine: Int
    var group: (Int) -> Int
    var affineIndex: (Int) -> Int

    static func batch(n: Int, c: Int, s: Int) -> NormLayout {
        NormLayout(count: n * c * s, groups: c, affine: c, group: { ($0 / s) % c }, affineIndex: { ($0 / s) % c })
    }

    static func grouped(n: Int, c: Int, s: Int, groups: Int) -> NormLayout {
        let len = (c / groups) * s
        return NormLayout(count: n * c * s, groups: n * groups, affine: c,
                          group: { $0 / len }, affineIndex: { ($0 / s) % c })
    }

    static func rows(_ rows: Int, d: Int) -> NormLayout {
        NormLayout(count: rows * d, groups: rows, affine: d, group: { $0 / d }, affineIndex: { $0 % d })
    }
}

enum NormReference {
    /// Mean and biased variance per group (uncentered: mean 0 and the raw second moment).
    static func statistics(_ x: UnsafePointer<Double>, _ l: NormLayout, centered: Bool) -> (mean: [Double], variance: [Double]) {
        var sum = [Double](repeating: 0, count: l.groups), cnt = [Double](repeating: 0, count: l.groups)
        for i in 0..<l.count { sum[l.group(i)] += x[i]; cnt[l.group(i)] += 1 }
        let mean = (0..<l.groups).map { centered ? sum[$0] / cnt[$0] : 0 }
        var sq = [Double](repeating: 0, count: l.groups)
        for i in 0..<l.count { let d = x[i] - mean[l.group(i)]; sq[l.group(i)] += d * d }
        return (mean, (0..<l.groups).map { sq[$0] / cnt[$0] })
    }

    static func apply(_ x: UnsafePointer<Double>, _ y: UnsafeMutablePointer<Double>, _ l: NormLayout,
                      mean: [Double], invstd: [Double], weight: UnsafePointer<Double>?, bias: UnsafePointer<Double>?) {
        for i in 0..<l.count {
            let g = l.group(i), a = l.affineIndex(i)
            y[i] = (x[i] - mean[g]) * invstd[g] * (weight?[a] ?? 1) + (bias?[a] ?? 0)
        }
    }

    static func backward(_ x: UnsafePointer<Double>, _ dy: UnsafePointer<Double>, _ dx: UnsafeMutablePointer<Double>?,
                         _ l: NormLayout, mean: [Double], invstd: [Double], weight: UnsafePointer<Double>?,
                         batchStatistics: Bool, centered: Bool) -> (gradWeight: [Double], gradBias: [Double]) {
        var gw = [Double](repeating: 0, count: l.affine), gb = [Double](repeating: 0, count: l.affine)
        var sumG = [Double](repeating: 0, count: l.groups), sumGX = [Double](repeating: 0, count: l.groups)
        var cnt = [Double](repeating: 0, count: l.groups)
        for i in 0..<l.count {
            let g = l.group(i), a = l.affineIndex(i)
            let xhat = (x[i] - mean[g]) * invstd[g]
            gw[a] += dy[i] * xhat
            gb[a] += dy[i]
            let gi = dy[i] * (weight?[a] ?? 1)
            sumG[g] += gi; sumGX[g] += gi * xhat; cnt[g] += 1
        }
        if let dx {
            for i in 0..<l.count {
                let g = l.group(i), a = l.affineIndex(i)
                let gi = dy[i] * (weight?[a] ?? 1)
                if batchStatistics {
                    let xhat = (x[i] - mean[g]) * invstd[g]
                    dx[i] = invstd[g] * (gi - (centered ? sumG[g] / cnt[g] : 0) - xhat * sumGX[g] / cnt[g])
                } else {
                    dx[i] = invstd[g] * gi
                }
            }
        }
        return (gw, gb)
    }
}

extension NormReference {
    /// float64 batch norm + ReLU: the map y = max(0, (x − mean)·(invstd·weight) + bias).
    static func reluMap(c: Int, mean: [Double], invstd: [Double], weight: UnsafePointer<Double>?,
                        bias: UnsafePointer<Double>?) -> ChannelAffineMap {
        ChannelAffineMap(shift: mean, scale: (0..<c).map { invstd[$0] * (weight?[$0] ?? 1) },
                         offset: (0..<c).map { bias?[$0] ?? 0 })
    }

    static func reluApply(_ x: UnsafePointer<Double>, _ y: UnsafeMutablePointer<Double>, n: Int, c: Int, s: Int,
                          map: ChannelAffineMap) {
        for i in 0..<(n * c * s) {
            let ch = (i / s) % c
            let v = (x[i] - map.shift[ch]) * map.scale[ch] + map.offset[ch]
            y[i] = v < 0 ? 0 : v
        }
    }

    /// float64 batch norm + ReLU backward: dy gated by the mask recomputed with `map`, then the
    /// plain batch-norm backward.
    static func reluBackward(x: UnsafePointer<Double>, gradOutput dy: UnsafePointer<Double>, gradInput dx: UnsafeMutablePointer<Double>?,
                             n: Int, c: Int, s: Int, map: ChannelAffineMap, mean: [Double], invstd: [Double],
                             weight: UnsafePointer<Double>?, batchStatistics: Bool) -> (gradWeight: [Double], gradBias: [Double]) {
        let count = n * c * s
        let gated = UnsafeMutablePointer<Double>.allocate(capacity: max(count, 1))
        defer { gated.deallocate() }
        for i in 0..<count {
            let ch = (i / s) % c
            gated[i] = (x[i] - map.shift[ch]) * map.scale[ch] + map.offset[ch] > 0 ? dy[i] : 0
        }
        return backward(x, gated, dx, .batch(n: n, c: c, s: s), mean: mean, invstd: invstd, weight: weight,
                        batchStatistics: batchStatistics, centered: true)
    }
}

extension CPUBackend {
    /// float64 version of ``batchNormStatistics(_:n:c:s:)-(UnsafePointer<Float>,_,_,_)``.
    static func batchNormStatistics(_ x: UnsafePointer<Double>, n: Int, c: Int, s: Int)
        -> (mean: [Double], variance: [Double]) {
        NormReference.statistics(x, .batch(n: n, c: c, s: s), centered: true)
    }

    /// float64 version of the batch-normalization apply kernel.
    static func batchNormApply(_ x: UnsafePointer<Double>, _ y: UnsafeMutablePointer<Double>,
                                      n: Int, c: Int, s: Int, mean: [Double], invstd: [Double],
                                      weight: UnsafePointer<Double>?, bias: UnsafePointer<Double>?) {
        NormReference.apply(x, y, .batch(n: n, c: c, s: s), mean: mean, invstd: invstd, weight: weight, bias: bias)
    }

    /// float64 version of the batch-normalization backward kernel.
    @discardableResult
    static func batchNormBackward(x: UnsafePointer<Double>, gradOutput dy: UnsafePointer<Double>,
                                         gradInput dx: UnsafeMutablePointer<Double>?,
                                         n: Int, c: Int, s: Int, mean: [Double], invstd: [Double],
                                         weight: UnsafePointer<Double>?, batchStatistics: Bool,
                                         weightGradients: Bool) -> (gradWeight: [Double], gradBias: [Double]) {
        let r = NormReference.backward(x, dy, dx, .batch(n: n, c: c, s: s), mean: mean, invstd: invstd, weight: weight,
                                       batchStatistics: batchStatistics, centered: true)
        return weightGradients ? r : ([], [])
    }

    /// float64 version of the group-normalization forward kernel.
    static func groupNormForward(_ x: UnsafePointer<Double>, _ y: UnsafeMutablePointer<Double>,
                                        n: Int, c: Int, s: Int, groups: Int,
                                        weight: UnsafePointer<Double>?, bias: UnsafePointer<Double>?,
                                        eps: Double) -> (mean: [Double], variance: [Double], invstd: [Double]) {
        let l = NormLayout.grouped(n: n, c: c, s: s, groups: groups)
        let (mean, variance) = NormReference.statistics(x, l, centered: true)
        let invstd = variance.map { 1 / ($0 + eps).squareRoot() }
        NormReference.apply(x, y, l, mean: mean, invstd: invstd, weight: weight, bias: bias)
        return (mean, variance, invstd)
    }

    /// float64 version of the group-normalization backward kernel.
    @discardableResult
    static func groupNormBackward(x: UnsafePointer<Double>, gradOutput dy: UnsafePointer<Double>,
                                         gradInput dx: UnsafeMutablePointer<Double>?,
                                         n: Int, c: Int, s: Int, groups: Int, mean: [Double], invstd: [Double],
                                         weight: UnsafePointer<Double>?, weightGradients: Bool)
        -> (gradWeight: [Double], gradBias: [Double]) {
        let r = NormReference.backward(x, dy, dx, .grouped(n: n, c: c, s: s, groups: groups), mean: mean, invstd: invstd,
                                       weight: weight, batchStatistics: true, centered: true)
        return weightGradients ? r : ([], [])
    }

    /// float64 version of the layer-normalization forward kernel.
    static func layerNormForward(_ x: UnsafePointer<Double>, _ y: UnsafeMutablePointer<Double>,
                                        rows: Int, d: Int,
                                        weight: UnsafePointer<Double>?, bias: UnsafePointer<Double>?,
                                        eps: Double) -> (mean: [Double], variance: [Double], invstd: [Double]) {
        let l = NormLayout.rows(rows, d: d)
        let (mean, variance) = NormReference.statistics(x, l, centered: true)
        let invstd = variance.map { 1 / ($0 + eps).squareRoot() }
        NormReference.apply(x, y, l, mean: mean, invstd: invstd, weight: weight, bias: bias)
        return (mean, variance, invstd)
    }

    /// float64 version of the layer-normalization backward kernel.
    @discardableResult
    static func layerNormBackward(x: UnsafePointer<Double>, gradOutput dy: UnsafePointer<Double>,
                                         gradInput dx: UnsafeMutablePointer<Double>?,
                                         rows: Int, d: Int, mean: [Double], invstd: [Double],
                                         weight: UnsafePointer<Double>?, weightGradients: Bool)
        -> (gradWeight: [Double], gradBias: [Double]) {
        let r = NormReference.backward(x, dy, dx, .rows(rows, d: d), mean: mean, invstd: invstd, weight: weight,
                                       batchStatistics: true, centered: true)
        return weightGradients ? r : ([], [])
    }

    /// float64 version of the RMS-normalization forward kernel.
    static func rmsNormForward(_ x: UnsafePointer<Double>, _ y: UnsafeMutablePointer<Double>,
                                      rows: Int, d: Int, weight: UnsafePointer<Double>?, eps: Double)
        -> (mean: [Double], variance: [Double], invstd: [Double]) {
        let l = NormLayout.rows(rows, d: d)
        let (mean, variance) = NormReference.statistics(x, l, centered: false)
        let invstd = variance.map { 1 / ($0 + eps).squareRoot() }
        NormReference.apply(x, y, l, mean: mean, invstd: invstd, weight: weight, bias: nil)
        return (mean, variance, invstd)
    }

    /// float64 version of the RMS-normalization backward kernel.
    @discardableResult
    static func rmsNormBackward(x: UnsafePointer<Double>, gradOutput dy: UnsafePointer<Double>,
                                       gradInput dx: UnsafeMutablePointer<Double>?,
                                       rows: Int, d: Int, invstd: [Double],
                                       weight: UnsafePointer<Double>?, weightGradients: Bool) -> [Double] {
        let r = NormReference.backward(x, dy, dx, .rows(rows, d: d), mean: [Double](repeating: 0, count: rows),
                                       invstd: invstd, weight: weight, batchStatistics: true, centered: false)
        return weightGradients ? r.gradWeight : []
    }

    /// float64 version of the batch-normalization input gradient from per-channel sums (nil:
    /// running statistics, dx = w·invstd·dy).
    static func batchNormGradInput(x: UnsafePointer<Double>, gradOutput dy: UnsafePointer<Double>,
                                   gradInput dx: UnsafeMutablePointer<Double>, n: Int, c: Int, s: Int,
                                   mean: [Double], invstd: [Double], weight: UnsafePointer<Double>?,
                                   sums: (count: Int, sumDy: [Double], sumDyXhat: [Double])?) {
        for i in 0..<(n * c * s) {
            let ch = (i / s) % c, r = invstd[ch], w = weight?[ch] ?? 1
            if let sums {
                let m = Double(sums.count)
                let xhat = (x[i] - mean[ch]) * r
                dx[i] = w * r * (dy[i] - sums.sumDy[ch] / m - xhat * sums.sumDyXhat[ch] / m)
            } else {
                dx[i] = w * r * dy[i]
            }
        }
    }
}
