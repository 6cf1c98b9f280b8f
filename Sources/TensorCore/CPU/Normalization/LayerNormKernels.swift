import CKernelSupport

// Layer normalization (and the row kernels RMS normalization shares) on x viewed as (rows, d):
// statistics per row, elementwise weight and bias of length d. A row is summed and then
// normalized from L1; rows are split over threads. Weight-gradient partial sums live in float
// lanes for a few rows at a time and are merged per thread in Double.

extension CPUBackend {
    /// Layer normalization forward over rows of `d` floats.
    /// - Returns: per row mean, biased variance and 1/sqrt(biased var + eps).
    static func layerNormForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                                        rows: Int, d: Int,
                                        weight: UnsafePointer<Float>?, bias: UnsafePointer<Float>?,
                                        eps: Double) -> (mean: [Double], variance: [Double], invstd: [Double]) {
        rowNormForward(x, y, rows: rows, d: d, weight: weight, bias: bias, eps: eps, centered: true)
    }

    /// Layer normalization backward: dx = invstd·(g − mean(g) − x̂·mean(g·x̂)), g = weight·dy.
    /// - Returns: Σ over rows of dy·x̂ and dy (weight and bias gradients), empty when not asked.
    @discardableResult
    static func layerNormBackward(x: UnsafePointer<Float>, gradOutput dy: UnsafePointer<Float>,
                                         gradInput dx: UnsafeMutablePointer<Float>?,
                                         rows: Int, d: Int, mean: [Double], invstd: [Double],
                                         weight: UnsafePointer<Float>?, weightGradients: Bool)
        -> (gradWeight: [Double], gradBias: [Double]) {
        rowNormBackward(x, dy, dx, rows: rows, d: d, mean: mean, invstd: invstd, weight: weight,
                        weightGradients: weightGradients, centered: true)
    }
}

/// y = ((x − shift)·r + cst)·w + b over one row.
@inline(__always)
private func rowAffine(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ d: Int,
                       _ shift: Float, _ r: Float, _ cst: Float, _ w: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                       stream: Bool) {
    let sh = NormV16(repeating: shift), vr = NormV16(repeating: r), vc = NormV16(repeating: cst)
    var j = 0
    if stream {
        let head = headToAlign(y, d)
        while j < head { y[j] = ((x[j] - shift) * r + cst) * w[j] + b[j]; j += 1 }
        while j + 16 <= d {
            swiftnn_stream16(y + j, ((nload(x + j) - sh) * vr + vc) * nload(w + j) + nload(b + j))
            j += 16
        }
    }
    while j + 32 <= d {
        let t0 = (nload(x + j) - sh) * vr + vc, t1 = (nload(x + j + 16) - sh) * vr + vc
        nstore(y + j, t0 * nload(w + j) + nload(b + j))
        nstore(y + j + 16, t1 * nload(w + j + 16) + nload(b + j + 16))
        j += 32
    }
    if j + 16 <= d {
        nstore(y + j, ((nload(x + j) - sh) * vr + vc) * nload(w + j) + nload(b + j))
        j += 16
    }
    while j < d {
        y[j] = ((x[j] - shift) * r + cst) * w[j] + b[j]
        j += 1
    }
}

func rowNormForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, d: Int,
                    weight: UnsafePointer<Float>?, bias: UnsafePointer<Float>?, eps: Double,
                    centered: Bool) -> (mean: [Double], variance: [Double], invstd: [Double]) {
    let mean = NormScratch<Double>(rows, 0), variance = NormScratch<Double>(rows, 0), invstd = NormScratch<Double>(rows, 0)
    defer { mean.free(); variance.free(); invstd.free() }
    guard d > 0 else { return (mean.array, variance.array, invstd.array) }
    withFloatsOrConstant(weight, d, 1) { w in
        withFloatsOrConstant(bias, d, 0) { b in
            let stream = shouldStream(elements: rows * d, run: d)
            Parallel.forRange(0..<rows, grain: max(1, normParallelGrain / d)) { r in
                defer { streamFence(stream) }
                for row in r {
                    let xp = x + row * d
                    // Centered: shift by the row's first element (exact differences for offset data).
                    // RMS: the raw second moment is wanted, so no shift.
                    let shift: Float = centered ? xp[0] : 0
                    let (ss, qq) = segmentMoments(xp, d, shift)
                    let mu = centered ? ss / Double(d) : 0
                    let v = max(0, qq / Double(d) - mu * mu)
                    let rs = 1 / (v + eps).squareRoot()
                    mean[row] = Double(shift) + mu
                    variance[row] = v
                    invstd[row] = rs
                    rowAffine(xp, y + row * d, d, shift, Float(rs), Float(-mu * rs), w, b, stream: stream)
                }
            }
        }
    }
    return (mean.array, variance.array, invstd.array)
}

/// Rows whose weight-gradient terms are summed in float lanes before a Double flush.
private let rowFlush = 32

func rowNormBackward(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>?,
                     rows: Int, d: Int, mean: [Double], invstd: [Double], weight: UnsafePointer<Float>?,
                     weightGradients: Bool, centered: Bool) -> (gradWeight: [Double], gradBias: [Double]) {
    guard d > 0, rows > 0 else {
        return (weightGradients ? [Double](repeating: 0, count: d) : [], weightGradients ? [Double](repeating: 0, count: d) : [])
    }
    let chunks = Parallel.chunkCount(total: rows * d, grain: normParallelGrain)
    let part = NormScratch<Double>(weightGradients ? 2 * d * chunks : 1, 0)
    let meanS = NormScratch<Double>(mean), invS = NormScratch<Double>(invstd)
    defer { part.free(); meanS.free(); invS.free() }
    withFloatsOrConstant(weight, d, 1) { w in
        Parallel.run(tasks: chunks) { k in
            let r0 = rows * k / chunks, r1 = rows * (k + 1) / chunks
            let accW = NormScratch<Float>(weightGradients ? d : 1, 0), accB = NormScratch<Float>(weightGradients ? d : 1, 0)
            defer { accW.free(); accB.free() }
            var pending = 0
            func flush() {
                let pw = part.p + 2 * d * k, pb = pw + d
                for j in 0..<d {
                    pw[j] += Double(accW[j]); pb[j] += Double(accB[j])
                }
                accW.p.update(repeating: 0, count: d)
                accB.p.update(repeating: 0, count: d)
                pending = 0
            }
            for row in r0..<r1 {
                let xp = x + row * d, gp = dy + row * d
                let shift = Float(meanS[row])
                let mres = meanS[row] - Double(shift)
                let rs = invS[row]
                let sh = NormV16(repeating: shift)
                let vr = NormV16(repeating: Float(rs)), vcst = NormV16(repeating: Float(-mres * rs))
                if let dx {
                    // Row sums Σg and Σg·(x − shift) with g = w·dy.
                    var s0 = NormV16(), s1 = NormV16(), q0 = NormV16(), q1 = NormV16()
                    var j = 0
                    while j + 32 <= d {
                        let g0 = nload(gp + j) * nload(w + j), g1 = nload(gp + j + 16) * nload(w + j + 16)
                        s0 += g0; q0 += g0 * (nload(xp + j) - sh)
                        s1 += g1; q1 += g1 * (nload(xp + j + 16) - sh)
                        j += 32
                    }
                    if j + 16 <= d {
                        let g0 = nload(gp + j) * nload(w + j)
                        s0 += g0; q0 += g0 * (nload(xp + j) - sh)
                        j += 16
                    }
                    var sumG = nhsum(s0 + s1), sumGX = nhsum(q0 + q1)
                    while j < d {
                        let g = Double(gp[j] * w[j])
                        sumG += g; sumGX += g * Double(xp[j] - shift)
                        j += 1
                    }
                    let l = Double(d)
                    let sumGXhat = rs * (sumGX - mres * sumG)
                    let bco = rs * rs * sumGXhat / l
                    let cco = centered ? bco * mres - rs * sumG / l : 0
                    let vb = NormV16(repeating: Float(bco)), vc = NormV16(repeating: Float(cco))
                    let dp = dx + row * d
                    j = 0
                    while j + 16 <= d {
                        let xs = nload(xp + j) - sh
                        nstore(dp + j, vr * nload(w + j) * nload(gp + j) - vb * xs + vc)
                        j += 16
                    }
                    while j < d {
                        dp[j] = Float(rs) * w[j] * gp[j] - Float(bco) * (xp[j] - shift) + Float(cco)
                        j += 1
                    }
                }
                if weightGradients {
                    var j = 0
                    while j + 16 <= d {
                        let g = nload(gp + j)
                        let xhat = (nload(xp + j) - sh) * vr + vcst
                        nstore(accW.p + j, nload(accW.p + j) + g * xhat)
                        nstore(accB.p + j, nload(accB.p + j) + g)
                        j += 16
                    }
                    while j < d {
                        let g = gp[j]
                        accW[j] += g * ((xp[j] - shift) * Float(rs) + Float(-mres * rs))
                        accB[j] += g
                        j += 1
                    }
                    pending += 1
                    if pending == rowFlush { flush() }
                }
            }
            if weightGradients && pending > 0 { flush() }
        }
    }
    guard weightGradients else { return ([], []) }
    var gw = [Double](repeating: 0, count: d), gb = [Double](repeating: 0, count: d)
    for k in 0..<chunks {
        for j in 0..<d {
            gw[j] += part[2 * d * k + j]
            gb[j] += part[2 * d * k + d + j]
        }
    }
    return (gw, gb)
}
