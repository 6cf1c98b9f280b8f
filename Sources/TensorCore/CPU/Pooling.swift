import CKernelSupport
import Foundation

// 2-d pooling over planes (N·C planes of H×W, contiguous): max (with the argmax kept for
// backward), average (PyTorch's padding / count_include_pad / divisor rules) and adaptive
// average. Planes are spread over threads.

@inline(__always)
private func planeGrain(_ perPlane: Int) -> Int { max(1, (1 << 15) / max(perPlane, 1)) }

/// The definition of max pooling's forward (float64, and float32 without AVX-512): the values and the flat
/// index of each window's first maximum, the first NaN winning.
func maxPoolForward<T: BinaryFloatingPoint>(_ x: UnsafePointer<T>, _ out: UnsafeMutablePointer<T>,
                                        _ idx: UnsafeMutablePointer<Int64>, _ g: PoolGeometry) {
    let H = g.inputHeight, W = g.inputWidth, OH = g.outputHeight, OW = g.outputWidth
    let (kh, kw) = g.kernel, (sh, sw) = g.stride, (ph, pw) = g.padding, (dh, dw) = g.dilation
    Parallel.forRange(0..<g.planes, grain: planeGrain(OH * OW * kh * kw)) { planes in
        for p in planes {
            let xp = x + p * H * W
            let op = out + p * OH * OW, ip = idx + p * OH * OW
            for oh in 0..<OH {
                let h0 = oh * sh - ph
                for ow in 0..<OW {
                    let w0 = ow * sw - pw
                    var best = -T.infinity
                    var bestIndex = -1
                    for i in 0..<kh {
                        let h = h0 + i * dh
                        if h < 0 || h >= H { continue }
                        for j in 0..<kw {
                            let w = w0 + j * dw
                            if w < 0 || w >= W { continue }
                            let v = xp[h * W + w]
                            // NaN wins, as in PyTorch.
                            if v > best || v.isNaN || bestIndex < 0 {
                                best = v
                                bestIndex = h * W + w
                                if v.isNaN { break }
                            }
                        }
                        if best.isNaN { break }
                    }
                    op[oh * OW + ow] = best
                    ip[oh * OW + ow] = Int64(max(bestIndex, 0))
                }
            }
        }
    }
}

/// Whether float32 max pooling takes the AVX-512 kernel: the CPU has it (`SWIFTNN_GEMM_FMA=0`
/// keeps the scalar loop) and the kernel's 32-bit flat indices and column offsets fit.
func maxPoolVectorised(_ g: PoolGeometry) -> Bool {
    GEMMCKernel.level >= 2 && g.inputHeight * g.inputWidth < 1 << 30
        && (g.outputWidth + 16) * g.stride.1 + g.kernel.1 * g.dilation.1 + g.padding.1 < 1 << 30
}

/// `maxPoolForward` for float32, sixteen output columns per vector (swiftnn_maxpool2d_f32: the same
/// values and indices), planes spread over the threads.
func maxPoolForwardAVX512(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ idx: UnsafeMutablePointer<Int64>,
                          _ g: PoolGeometry) {
    let H = g.inputHeight, W = g.inputWidth, OH = g.outputHeight, OW = g.outputWidth
    Parallel.forRange(0..<g.planes, grain: planeGrain(OH * OW * g.kernel.0 * g.kernel.1 / 8)) { planes in
        swiftnn_maxpool2d_f32(x + planes.lowerBound * H * W, out + planes.lowerBound * OH * OW, idx + planes.lowerBound * OH * OW,
                              planes.count, H, W, OH, OW, g.kernel.0, g.kernel.1, g.stride.0, g.stride.1, g.padding.0, g.padding.1,
                              g.dilation.0, g.dilation.1)
    }
}

private func maxPoolBackward<T: BinaryFloatingPoint>(_ gout: UnsafePointer<T>, _ idx: UnsafePointer<Int64>,
                                                    _ gx: UnsafeMutablePointer<T>, _ g: PoolGeometry) {
    let inPlane = g.inputHeight * g.inputWidth, outPlane = g.outputHeight * g.outputWidth
    gx.update(repeating: 0, count: g.planes * inPlane)
    Parallel.forRange(0..<g.planes, grain: planeGrain(outPlane)) { planes in
        for p in planes {
            let gp = gx + p * inPlane, op = gout + p * outPlane, ip = idx + p * outPlane
            for o in 0..<outPlane { gp[Int(ip[o])] += op[o] }
        }
    }
}

/// The window of an average pool along one axis: clipped bounds and the size before clipping
/// (PyTorch counts padding up to `size + pad`).
@inline(__always)
private func avgWindow(_ o: Int, _ k: Int, _ s: Int, _ p: Int, _ size: Int) -> (lo: Int, hi: Int, padded: Int) {
    let start = o * s - p
    let end = min(start + k, size + p)
    return (max(start, 0), min(end, size), end - start)
}

private func avgPoolForward<T: BinaryFloatingPoint>(_ x: UnsafePointer<T>, _ out: UnsafeMutablePointer<T>, _ g: PoolGeometry,
                                                   countIncludePad: Bool, divisor: Int?) {
    let H = g.inputHeight, W = g.inputWidth, OH = g.outputHeight, OW = g.outputWidth
    Parallel.forRange(0..<g.planes, grain: planeGrain(OH * OW * g.kernel.0 * g.kernel.1)) { planes in
        for p in planes {
            let xp = x + p * H * W, op = out + p * OH * OW
            for oh in 0..<OH {
                let (h0, h1, hp) = avgWindow(oh, g.kernel.0, g.stride.0, g.padding.0, H)
                for ow in 0..<OW {
                    let (w0, w1, wp) = avgWindow(ow, g.kernel.1, g.stride.1, g.padding.1, W)
                    var s: T = 0
                    for h in h0..<max(h0, h1) { for w in w0..<max(w0, w1) { s += xp[h * W + w] } }
                    let d = divisor ?? (countIncludePad ? hp * wp : max(0, h1 - h0) * max(0, w1 - w0))
                    op[oh * OW + ow] = s / T(d)
                }
            }
        }
    }
}

private func avgPoolBackward<T: BinaryFloatingPoint>(_ gout: UnsafePointer<T>, _ gx: UnsafeMutablePointer<T>, _ g: PoolGeometry,
                                                    countIncludePad: Bool, divisor: Int?) {
    let H = g.inputHeight, W = g.inputWidth, OH = g.outputHeight, OW = g.outputWidth
    gx.update(repeating: 0, count: g.planes * H * W)
    Parallel.forRange(0..<g.planes, grain: planeGrain(OH * OW * g.kernel.0 * g.kernel.1)) { planes in
        for p in planes {
            let gp = gx + p * H * W, op = gout + p * OH * OW
            for oh in 0..<OH {
                let (h0, h1, hp) = avgWindow(oh, g.kernel.0, g.stride.0, g.padding.0, H)
                for ow in 0..<OW {
                    let (w0, w1, wp) = avgWindow(ow, g.kernel.1, g.stride.1, g.padding.1, W)
                    let d = divisor ?? (countIncludePad ? hp * wp : max(0, h1 - h0) * max(0, w1 - w0))
                    let v = op[oh * OW + ow] / T(d)
                    for h in h0..<max(h0, h1) { for w in w0..<max(w0, w1) { gp[h * W + w] += v } }
                }
            }
        }
    }
}

/// Global average pooling (a 1×1 output, the end of most CNNs): each plane summed in order, as the
/// general loop does, but eight planes at a time so that eight chains of dependent adds overlap
/// (one plane at a time waited on each add's latency: 0.5 ms for SmallCNN's 128×256 planes of 16).
private func globalAvgForward<T: BinaryFloatingPoint>(_ x: UnsafePointer<T>, _ out: UnsafeMutablePointer<T>, planes: Int, _ n: Int) {
    Parallel.forRange(0..<planes, grain: planeGrain(n)) { ps in
        var p = ps.lowerBound
        while p + 8 <= ps.upperBound {
            var s = (T(0), T(0), T(0), T(0), T(0), T(0), T(0), T(0))
            let b = x + p * n
            for i in 0..<n {
                s.0 += b[i]; s.1 += b[n + i]; s.2 += b[2 * n + i]; s.3 += b[3 * n + i]
                s.4 += b[4 * n + i]; s.5 += b[5 * n + i]; s.6 += b[6 * n + i]; s.7 += b[7 * n + i]
            }
            let d = T(n)
            out[p] = s.0 / d; out[p + 1] = s.1 / d; out[p + 2] = s.2 / d; out[p + 3] = s.3 / d
            out[p + 4] = s.4 / d; out[p + 5] = s.5 / d; out[p + 6] = s.6 / d; out[p + 7] = s.7 / d
            p += 8
        }
        for q in p..<ps.upperBound {
            var s: T = 0
            for i in 0..<n { s += x[q * n + i] }
            out[q] = s / T(n)
        }
    }
}

/// The backward of global average pooling: every input element of a plane gets the plane's
/// gradient over its count (written, not added onto zeros; `0 + v` keeps the general loop's +0 for −0).
private func globalAvgBackward<T: BinaryFloatingPoint>(_ gout: UnsafePointer<T>, _ gx: UnsafeMutablePointer<T>, planes: Int, _ n: Int) {
    Parallel.forRange(0..<planes, grain: planeGrain(n)) { ps in
        for p in ps { (gx + p * n).update(repeating: 0 + gout[p] / T(n), count: n) }
    }
}

/// Adaptive pooling bounds: ⌊o·in/out⌋ ..< ⌈(o+1)·in/out⌉.
@inline(__always)
private func adaptiveRange(_ o: Int, _ outSize: Int, _ inSize: Int) -> (Int, Int) {
    (o * inSize / outSize, ((o + 1) * inSize + outSize - 1) / outSize)
}

private func adaptiveAvgForward<T: BinaryFloatingPoint>(_ x: UnsafePointer<T>, _ out: UnsafeMutablePointer<T>,
                                                       planes: Int, _ H: Int, _ W: Int, _ OH: Int, _ OW: Int) {
    if OH == 1 && OW == 1 { return globalAvgForward(x, out, planes: planes, H * W) }
    Parallel.forRange(0..<planes, grain: planeGrain(H * W)) { ps in
        for p in ps {
            let xp = x + p * H * W, op = out + p * OH * OW
            for oh in 0..<OH {
                let (h0, h1) = adaptiveRange(oh, OH, H)
                for ow in 0..<OW {
                    let (w0, w1) = adaptiveRange(ow, OW, W)
                    var s: T = 0
                    for h in h0..<h1 { for w in w0..<w1 { s += xp[h * W + w] } }
                    op[oh * OW + ow] = s / T((h1 - h0) * (w1 - w0))
                }
            }
        }
    }
}

private func adaptiveAvgBackward<T: BinaryFloatingPoint>(_ gout: UnsafePointer<T>, _ gx: UnsafeMutablePointer<T>,
                                                        planes: Int, _ H: Int, _ W: Int, _ OH: Int, _ OW: Int) {
    if OH == 1 && OW == 1 { return globalAvgBackward(gout, gx, planes: planes, H * W) }
    gx.update(repeating: 0, count: planes * H * W)
    Parallel.forRange(0..<planes, grain: planeGrain(H * W)) { ps in
        for p in ps {
            let gp = gx + p * H * W, op = gout + p * OH * OW
            for oh in 0..<OH {
                let (h0, h1) = adaptiveRange(oh, OH, H)
                for ow in 0..<OW {
                    let (w0, w1) = adaptiveRange(ow, OW, W)
                    let v = op[oh * OW + ow] / T((h1 - h0) * (w1 - w0))
                    for h in h0..<h1 { for w in w0..<w1 { gp[h * W + w] += v } }
                }
            }
        }
    }
}

extension CPUBackend {
    public func maxPool2d(_ input: Tensor, _ geo: PoolGeometry, outputShape: [Int]) -> (values: Tensor, indices: Tensor) {
        let out = Tensor(uninitializedShape: outputShape, dtype: input.dtype)
        let idx = Tensor(uninitializedShape: outputShape, dtype: .int64)
        withExtendedLifetime((input, out, idx)) {
            switch input.dtype {
            case .float32:
                if maxPoolVectorised(geo) {
                    maxPoolForwardAVX512(input.pointer(as: Float.self), out.pointer(as: Float.self), idx.pointer(as: Int64.self), geo)
                } else {
                    maxPoolForward(input.pointer(as: Float.self), out.pointer(as: Float.self), idx.pointer(as: Int64.self), geo)
                }
            case .float64: maxPoolForward(input.pointer(as: Double.self), out.pointer(as: Double.self), idx.pointer(as: Int64.self), geo)
            default: usageFailure(UsageError("max_pool2d", "\"max_pool2d\" not implemented for '\(input.dtype)'"))
            }
        }
        return (out, idx)
    }

    public func maxPool2dBackward(_ gradOut: Tensor, indices: Tensor, inputShape: [Int], _ geo: PoolGeometry) -> Tensor {
        let gx = Tensor(uninitializedShape: inputShape, dtype: gradOut.dtype)
        withExtendedLifetime((gradOut, indices, gx)) {
            switch gradOut.dtype {
            case .float32: maxPoolBackward(gradOut.pointer(as: Float.self), indices.pointer(as: Int64.self), gx.pointer(as: Float.self), geo)
            default: maxPoolBackward(gradOut.pointer(as: Double.self), indices.pointer(as: Int64.self), gx.pointer(as: Double.self), geo)
            }
        }
        return gx
    }

    public func avgPool2d(_ input: Tensor, _ geo: PoolGeometry, outputShape: [Int],
                                 countIncludePad: Bool, divisor: Int?) -> Tensor {
        let out = Tensor(uninitializedShape: outputShape, dtype: input.dtype)
        withExtendedLifetime((input, out)) {
            switch input.dtype {
            case .float32: avgPoolForward(input.pointer(as: Float.self), out.pointer(as: Float.self), geo, countIncludePad: countIncludePad, divisor: divisor)
            case .float64: avgPoolForward(input.pointer(as: Double.self), out.pointer(as: Double.self), geo, countIncludePad: countIncludePad, divisor: divisor)
            default: usageFailure(UsageError("avg_pool2d", "\"avg_pool2d\" not implemented for '\(input.dtype)'"))
            }
        }
        return out
    }

    public func avgPool2dBackward(_ gradOut: Tensor, inputShape: [Int], _ geo: PoolGeometry,
                                         countIncludePad: Bool, divisor: Int?) -> Tensor {
        let gx = Tensor(uninitializedShape: inputShape, dtype: gradOut.dtype)
        withExtendedLifetime((gradOut, gx)) {
            switch gradOut.dtype {
            case .float32: avgPoolBackward(gradOut.pointer(as: Float.self), gx.pointer(as: Float.self), geo, countIncludePad: countIncludePad, divisor: divisor)
            default: avgPoolBackward(gradOut.pointer(as: Double.self), gx.pointer(as: Double.self), geo, countIncludePad: countIncludePad, divisor: divisor)
            }
        }
        return gx
    }

    public func adaptiveAvgPool2d(_ input: Tensor, planes: Int, inputSize: (Int, Int), outputSize: (Int, Int),
                                         outputShape: [Int]) -> Tensor {
        let out = Tensor(uninitializedShape: outputShape, dtype: input.dtype)
        withExtendedLifetime((input, out)) {
            switch input.dtype {
            case .float32: adaptiveAvgForward(input.pointer(as: Float.self), out.pointer(as: Float.self), planes: planes,
                                              inputSize.0, inputSize.1, outputSize.0, outputSize.1)
            case .float64: adaptiveAvgForward(input.pointer(as: Double.self), out.pointer(as: Double.self), planes: planes,
                                              inputSize.0, inputSize.1, outputSize.0, outputSize.1)
            default: usageFailure(UsageError("adaptive_avg_pool2d", "\"adaptive_avg_pool2d\" not implemented for '\(input.dtype)'"))
            }
        }
        return out
    }

    public func adaptiveAvgPool2dBackward(_ gradOut: Tensor, inputShape: [Int], planes: Int,
                                                 inputSize: (Int, Int), outputSize: (Int, Int)) -> Tensor {
        let gx = Tensor(uninitializedShape: inputShape, dtype: gradOut.dtype)
        withExtendedLifetime((gradOut, gx)) {
            switch gradOut.dtype {
            case .float32: adaptiveAvgBackward(gradOut.pointer(as: Float.self), gx.pointer(as: Float.self), planes: planes,
                                               inputSize.0, inputSize.1, outputSize.0, outputSize.1)
            default: adaptiveAvgBackward(gradOut.pointer(as: Double.self), gx.pointer(as: Double.self), planes: planes,
                                         inputSize.0, inputSize.1, outputSize.0, outputSize.1)
            }
        }
        return gx
    }
}
