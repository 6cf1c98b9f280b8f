import Foundation

// N-d convolution (1-d, 2-d, 3-d) as im2col + the packed GEMM: for each sample and group,
// `out[Og, L] = W[Og, Cg·K] · cols[Cg·K, L]`, where `cols` holds, for every kernel tap, the input
// values that tap sees at each of the L output positions (zero where it falls in the padding).
// 1-d and 2-d problems are run as 3-d ones with unit leading dimensions, so one im2col/col2im
// pair serves all three. A 1×1 kernel with unit stride and no padding reads the input directly.

struct ConvGeom3 {
    let D: Int, H: Int, W: Int, KD: Int, KH: Int, KW: Int, SD: Int, SH: Int, SW: Int
    let PD: Int, PH: Int, PW: Int, DD: Int, DH: Int, DW: Int, OD: Int, OH: Int, OW: Int
}

/// The output columns `ow` whose input column `ow·SW + off` lies in `0..<W`.
@inline(__always)
private func validColumns(_ off: Int, _ SW: Int, _ W: Int, _ OW: Int) -> (Int, Int) {
    let lo = off >= 0 ? 0 : min(OW, (-off + SW - 1) / SW)
    let hi = W - 1 - off < 0 ? 0 : min(OW, (W - 1 - off) / SW + 1)
    return (lo, max(lo, hi))
}

/// Writes the column matrix `[channels·K, L]` of one sample's `channels` input planes, rows
/// `ld` elements apart (several samples share one matrix side by side).
/// Index arithmetic wraps (`&*`, `&+`): sizes are validated and small, and overflow checks in
/// these short per-row loops cost more than the copies themselves (rows are 4–28 wide).
@inline(__always)
func im2col<T: GEMMElement>(_ x: UnsafePointer<T>, channels: Int, _ g: ConvGeom3, _ cols: UnsafeMutablePointer<T>, ld: Int) {
    let planeIn = g.D &* g.H &* g.W
    let OW = g.OW, SW = g.SW, OHW = g.OH &* g.OW
    var row = cols
    for c in 0..<channels {
        let xc = x + c &* planeIn
        for kd in 0..<g.KD { for kh in 0..<g.KH { for kw in 0..<g.KW {
            var dst = row
            row += ld
            let off = kw &* g.DW &- g.PW
            let (lo, hi) = validColumns(off, SW, g.W, OW)
            for od in 0..<g.OD {
                let id = od &* g.SD &- g.PD &+ kd &* g.DD
                if id < 0 || id >= g.D {
                    dst.update(repeating: 0, count: OHW)
                    dst += OHW
                    continue
                }
                let plane = xc + id &* g.H &* g.W
                for oh in 0..<g.OH {
                    let ih = oh &* g.SH &- g.PH &+ kh &* g.DH
                    var ow = 0
                    if ih >= 0 && ih < g.H {
                        let src = plane + (ih &* g.W &+ off)
                        while ow < lo { dst[ow] = 0; ow &+= 1 }
                        if SW == 1 {
                            while ow < hi { dst[ow] = src[ow]; ow &+= 1 }
                        } else {
                            var sp = src + ow &* SW
                            while ow < hi { dst[ow] = sp.pointee; sp += SW; ow &+= 1 }
                        }
                    }
                    while ow < OW { dst[ow] = 0; ow &+= 1 }
                    dst += OW
                }
            }
        } } }
    }
}

/// Adds the column matrix `[channels·K, L]` (rows `ld` apart) back onto the input planes it was
/// read from.
@inline(__always)
func col2im<T: GEMMElement>(_ cols: UnsafePointer<T>, channels: Int, _ g: ConvGeom3, _ x: UnsafeMutablePointer<T>, ld: Int) {
    let planeIn = g.D &* g.H &* g.W
    let OW = g.OW, SW = g.SW, OHW = g.OH &* g.OW
    var row = cols
    for c in 0..<channels {
        let xc = x + c &* planeIn
        for kd in 0..<g.KD { for kh in 0..<g.KH { for kw in 0..<g.KW {
            var src = row
            row += ld
            let off = kw &* g.DW &- g.PW
            let (lo, hi) = validColumns(off, SW, g.W, OW)
            for od in 0..<g.OD {
                let id = od &* g.SD &- g.PD &+ kd &* g.DD
                if id < 0 || id >= g.D { src += OHW; continue }
                let plane = xc + id &* g.H &* g.W
                for oh in 0..<g.OH {
                    let ih = oh &* g.SH &- g.PH &+ kh &* g.DH
                    if ih >= 0 && ih < g.H {
                        let d = plane + (ih &* g.W &+ off)
                        var ow = lo
                        if SW == 1 {
                            while ow < hi { d[ow] += src[ow]; ow &+= 1 }
                        } else {
                            var dp = d + ow &* SW
                            while ow < hi { dp.pointee += src[ow]; dp += SW; ow &+= 1 }
                        }
                    }
                    src += OW
                }
            }
        } } }
    }
}

/// How many samples share one GEMM: small outputs (deep layers: 7×7, 3×3) are batched side by
/// side so that the GEMM is wide enough for the micro-kernel and the weights are packed once
/// per chunk instead of once per sample.
@inline(__always)
private func samplesPerGEMM(_ geo: ConvGeometry) -> Int {
    let L = max(geo.outputCount, 1)
    return L >= 256 ? 1 : max(1, min(geo.batch, (512 + L - 1) / L))
}

/// Runs `body(task, chunkStarts)` over chunks of `nb` samples, spread over threads when the
/// work pays for it (otherwise the GEMMs themselves may split).
private func forEachChunk(_ geo: ConvGeometry, _ nb: Int, tasks: Int, _ body: (Int, StrideTo<Int>) -> Void) {
    let chunks = (geo.batch + nb - 1) / nb
    if tasks == 1 {
        body(0, stride(from: 0, to: geo.batch, by: nb))
    } else {
        Parallel.run(tasks: tasks) { t in
            let c0 = chunks * t / tasks, c1 = chunks * (t + 1) / tasks
            body(t, stride(from: c0 * nb, to: min(c1 * nb, geo.batch), by: nb))
        }
    }
}

private func convTasks(_ geo: ConvGeometry, _ nb: Int) -> Int {
    let chunks = (geo.batch + nb - 1) / nb
    return chunks >= 2 && geo.work >= GEMMBlocking.parallelWork ? max(1, min(Parallel.threadCount, chunks)) : 1
}

private func convForward<T: GEMMElement>(_ x: UnsafePointer<T>, _ w: UnsafePointer<T>, _ b: UnsafePointer<T>?,
                                         _ out: UnsafeMutablePointer<T>, _ geo: ConvGeometry) {
    let g3 = geo.padded
    let G = geo.groups, Cg = geo.inChannels / G, Og = geo.outChannels / G
    let K = geo.kernelCount, L = geo.outputCount, S = geo.inputCount
    let ck = Cg * K
    let nb = samplesPerGEMM(geo)
    let direct = geo.isPointwise && nb == 1
    let tasks = convTasks(geo, nb)
    let elem = MemoryLayout<T>.stride
    let colsStorage = direct ? nil : gemmScratch(bytes: tasks * ck * nb * L * elem)
    let tmpStorage = nb > 1 ? gemmScratch(bytes: tasks * Og * nb * L * elem) : nil
    forEachChunk(geo, nb, tasks: tasks) { t, starts in
        let cols = colsStorage.map { $0.pointer.assumingMemoryBound(to: T.self) + t * ck * nb * L }
        let tmp = tmpStorage.map { $0.pointer.assumingMemoryBound(to: T.self) + t * Og * nb * L }
        for n0 in starts {
            let cnt = min(nb, geo.batch - n0)
            let ld = cnt * L
            for g in 0..<G {
                var bmat = x + (n0 * geo.inChannels + g * Cg) * S
                if let cols {
                    for j in 0..<cnt {
                        im2col(x + ((n0 + j) * geo.inChannels + g * Cg) * S, channels: Cg, g3, cols + j * L, ld: ld)
                    }
                    bmat = UnsafePointer(cols)
                }
                let wg = w + g * Og * ck
                if cnt == 1 {
                    let og = out + (n0 * geo.outChannels + g * Og) * L
                    if let b {
                        for o in 0..<Og { (og + o * L).update(repeating: b[g * Og + o], count: L) }
                    }
                    gemmDriver(transA: false, transB: false, m: Og, n: L, k: ck, alpha: 1, a: wg, lda: ck,
                               b: bmat, ldb: L, beta: b == nil ? 0 : 1, c: og, ldc: L)
                } else {
                    let tmp = tmp!
                    gemmDriver(transA: false, transB: false, m: Og, n: ld, k: ck, alpha: 1, a: wg, lda: ck,
                               b: bmat, ldb: ld, beta: 0, c: tmp, ldc: ld)
                    // [Og, cnt·L] → the samples' [Og, L] planes, adding the bias on the way.
                    for j in 0..<cnt {
                        let og = out + ((n0 + j) * geo.outChannels + g * Og) * L
                        for o in 0..<Og {
                            let src = tmp + (o &* ld &+ j &* L), dst = og + o &* L
                            if let b {
                                let bo = b[g &* Og &+ o]
                                var l = 0
                                while l < L { dst[l] = src[l] + bo; l &+= 1 }
                            } else {
                                dst.update(from: src, count: L)
                            }
                        }
                    }
                }
            }
        }
    }
    withExtendedLifetime((colsStorage, tmpStorage)) {}
}

private func convBackward<T: GEMMElement>(
    _ gout: UnsafePointer<T>, _ x: UnsafePointer<T>, _ w: UnsafePointer<T>,
    _ gx: UnsafeMutablePointer<T>?, _ gw: UnsafeMutablePointer<T>?, _ gb: UnsafeMutablePointer<T>?, _ geo: ConvGeometry
) {
    let g3 = geo.padded
    let G = geo.groups, Cg = geo.inChannels / G, Og = geo.outChannels / G
    let K = geo.kernelCount, L = geo.outputCount, S = geo.inputCount
    let ck = Cg * K
    let wCount = geo.outChannels * ck
    let nb = samplesPerGEMM(geo)
    let direct = geo.isPointwise && nb == 1
    let tasks = convTasks(geo, nb)
    let elem = MemoryLayout<T>.stride
    let colsStorage = direct ? nil : gemmScratch(bytes: tasks * ck * nb * L * elem)
    let doutStorage = nb > 1 ? gemmScratch(bytes: tasks * Og * nb * L * elem) : nil
    // Weight gradients of the other tasks, summed into `gw` at the end.
    let partialStorage = gw != nil && tasks > 1 ? TensorStorage(byteCount: (tasks - 1) * wCount * elem, zeroed: true) : nil
    if let gw { gw.update(repeating: 0, count: wCount) }
    if let gx { gx.update(repeating: 0, count: geo.batch * geo.inChannels * S) }
    forEachChunk(geo, nb, tasks: tasks) { t, starts in
        let cols = colsStorage.map { $0.pointer.assumingMemoryBound(to: T.self) + t * ck * nb * L }
        let doutBuf = doutStorage.map { $0.pointer.assumingMemoryBound(to: T.self) + t * Og * nb * L }
        let gwTask: UnsafeMutablePointer<T>? = t == 0 ? gw : partialStorage.map { $0.pointer.assumingMemoryBound(to: T.self) + (t - 1) * wCount }
        for n0 in starts {
            let cnt = min(nb, geo.batch - n0)
            let ld = cnt * L
            for g in 0..<G {
                let wg = w + g * Og * ck
                // The output gradient of this chunk and group as one [Og, cnt·L] matrix.
                var dog = gout + (n0 * geo.outChannels + g * Og) * L
                if cnt > 1 {
                    let buf = doutBuf!
                    for j in 0..<cnt {
                        let src = gout + ((n0 + j) * geo.outChannels + g * Og) * L
                        for o in 0..<Og { (buf + o * ld + j * L).update(from: src + o * L, count: L) }
                    }
                    dog = UnsafePointer(buf)
                }
                if let gwTask {
                    // dW_g += dOut [Og, cnt·L] · colsᵀ [cnt·L, Cg·K]
                    var bmat = x + (n0 * geo.inChannels + g * Cg) * S
                    if let cols {
                        for j in 0..<cnt {
                            im2col(x + ((n0 + j) * geo.inChannels + g * Cg) * S, channels: Cg, g3, cols + j * L, ld: ld)
                        }
                        bmat = UnsafePointer(cols)
                    }
                    gemmDriver(transA: false, transB: true, m: Og, n: ck, k: ld, alpha: 1, a: dog, lda: ld,
                               b: bmat, ldb: ld, beta: 1, c: gwTask + g * Og * ck, ldc: ck)
                }
                if let gx {
                    // dCols = W_gᵀ [Cg·K, Og] · dOut [Og, cnt·L], scattered back onto the inputs.
                    if let cols {
                        gemmDriver(transA: true, transB: false, m: ck, n: ld, k: Og, alpha: 1, a: wg, lda: ck,
                                   b: dog, ldb: ld, beta: 0, c: cols, ldc: ld)
                        for j in 0..<cnt {
                            col2im(UnsafePointer(cols + j * L), channels: Cg, g3,
                                   gx + ((n0 + j) * geo.inChannels + g * Cg) * S, ld: ld)
                        }
                    } else {
                        gemmDriver(transA: true, transB: false, m: ck, n: L, k: Og, alpha: 1, a: wg, lda: ck,
                                   b: dog, ldb: L, beta: 0, c: gx + (n0 * geo.inChannels + g * Cg) * S, ldc: L)
                    }
                }
            }
        }
    }
    if let gw, let partialStorage {
        let p = partialStorage.pointer.assumingMemoryBound(to: T.self)
        for t in 0..<(tasks - 1) { for i in 0..<wCount { gw[i] += p[t * wCount + i] } }
    }
    if let gb {
        gb.update(repeating: 0, count: geo.outChannels)
        for n in 0..<geo.batch {
            for o in 0..<geo.outChannels {
                let row = gout + (n * geo.outChannels + o) * L
                var s: T = 0
                for l in 0..<L { s += row[l] }
                gb[o] += s
            }
        }
    }
    withExtendedLifetime((colsStorage, doutStorage, partialStorage)) {}
}

extension CPUBackend {
    public func convolution(_ input: Tensor, _ weight: Tensor, _ bias: Tensor?, _ geo: ConvGeometry) -> Tensor {
        let out = Tensor(uninitializedShape: [geo.batch, geo.outChannels] + geo.outputSize, dtype: input.dtype)
        withExtendedLifetime((input, weight, bias, out)) {
            switch input.dtype {
            case .float32 where ImplicitConvolution.applies(geo, .float32):
                ImplicitConvolution.forward(input.pointer(as: Float.self), weight.pointer(as: Float.self),
                                            bias.map { UnsafePointer($0.pointer(as: Float.self)) }, out.pointer(as: Float.self), geo)
            case .float32:
                convForward(input.pointer(as: Float.self), weight.pointer(as: Float.self),
                            bias.map { UnsafePointer($0.pointer(as: Float.self)) }, out.pointer(as: Float.self), geo)
            case .float64:
                convForward(input.pointer(as: Double.self), weight.pointer(as: Double.self),
                            bias.map { UnsafePointer($0.pointer(as: Double.self)) }, out.pointer(as: Double.self), geo)
            default:
                usageFailure(UsageError("conv", "\"slow_conv2d_cpu\" not implemented for '\(input.dtype)'"))
            }
        }
        return out
    }

    public func convolutionBackward(
        _ gradOut: Tensor, _ input: Tensor, _ weight: Tensor, _ geo: ConvGeometry,
        needInput: Bool, needWeight: Bool, needBias: Bool
    ) -> (input: Tensor?, weight: Tensor?, bias: Tensor?) {
        let dtype = input.dtype
        let gx = needInput ? Tensor(uninitializedShape: input.shape, dtype: dtype) : nil
        let gw = needWeight ? Tensor(uninitializedShape: weight.shape, dtype: dtype) : nil
        let gb = needBias ? Tensor(uninitializedShape: [geo.outChannels], dtype: dtype) : nil
        withExtendedLifetime((gradOut, input, weight, gx, gw, gb)) {
            switch dtype {
            case .float32 where ImplicitConvolution.applies(geo, .float32):
                if let gb {
                    convBackward(gradOut.pointer(as: Float.self), input.pointer(as: Float.self), weight.pointer(as: Float.self),
                                 nil, nil, gb.pointer(as: Float.self), geo)
                }
                if let gw {
                    ImplicitConvolution.weightGradient(gradOut.pointer(as: Float.self), input.pointer(as: Float.self),
                                                       gw.pointer(as: Float.self), geo)
                }
                if let gx {
                    ImplicitConvolution.inputGradient(gradOut.pointer(as: Float.self), weight.pointer(as: Float.self),
                                                      gx.pointer(as: Float.self), geo)
                }
            case .float32:
                convBackward(gradOut.pointer(as: Float.self), input.pointer(as: Float.self), weight.pointer(as: Float.self),
                             gx?.pointer(as: Float.self), gw?.pointer(as: Float.self), gb?.pointer(as: Float.self), geo)
            case .float64:
                convBackward(gradOut.pointer(as: Double.self), input.pointer(as: Double.self), weight.pointer(as: Double.self),
                             gx?.pointer(as: Double.self), gw?.pointer(as: Double.self), gb?.pointer(as: Double.self), geo)
            default:
                usageFailure(UsageError("conv", "\"slow_conv2d_cpu\" not implemented for '\(dtype)'"))
            }
        }
        return (gx, gw, gb)
    }
}
