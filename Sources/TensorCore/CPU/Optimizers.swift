import Foundation
import CKernelSupport

// CPU optimizer updates: one pass over parameter, gradient and state, split over threads, in
// PyTorch's order of float operations.

extension CPUBackend: OptimizerOps {
    public func sgdStep(_ param: Tensor, grad: Tensor, momentumBuffer buffer: Tensor?, _ h: SGDStep) {
        withExtendedLifetime((param, grad, buffer)) {
            if param.dtype == .float32 {
                sgdKernel(param.pointer(as: Float.self), grad.pointer(as: Float.self), buffer?.pointer(as: Float.self),
                          count: param.count, h)
            } else {
                sgdKernel(param.pointer(as: Double.self), grad.pointer(as: Double.self), buffer?.pointer(as: Double.self),
                          count: param.count, h)
            }
        }
    }

    public func adamStep(_ p: Tensor, grad: Tensor, expAvg m: Tensor, expAvgSq v: Tensor, maxExpAvgSq vmax: Tensor?, _ h: AdamStep) {
        withExtendedLifetime((p, grad, m, v, vmax)) {
            if p.dtype == .float32 && vmax == nil && !h.maximize && Float(1 - h.beta1) < 0.5 {
                adamKernelSIMD(p.pointer(as: Float.self), grad.pointer(as: Float.self), m.pointer(as: Float.self),
                               v.pointer(as: Float.self), count: p.count, h)
            } else if p.dtype == .float32 {
                adamKernel(p.pointer(as: Float.self), grad.pointer(as: Float.self), m.pointer(as: Float.self),
                           v.pointer(as: Float.self), vmax?.pointer(as: Float.self), count: p.count, h)
            } else {
                adamKernel(p.pointer(as: Double.self), grad.pointer(as: Double.self), m.pointer(as: Double.self),
                           v.pointer(as: Double.self), vmax?.pointer(as: Double.self), count: p.count, h)
            }
        }
    }

    public func adamStep(_ operands: [AdamOperands], _ h: AdamStep) {
        guard operands.allSatisfy({ $0.param.dtype == .float32 }), !h.maximize, Float(1 - h.beta1) < 0.5 else {
            for o in operands { adamStep(o.param, grad: o.grad, expAvg: o.expAvg, expAvgSq: o.expAvgSq, maxExpAvgSq: nil, h) }
            return
        }
        withExtendedLifetime(operands) {
            let parts = operands.map { o in
                AdamPart(p: o.param.pointer(as: Float.self), grad: o.grad.pointer(as: Float.self), m: o.expAvg.pointer(as: Float.self),
                         v: o.expAvgSq.pointer(as: Float.self), count: o.param.count)
            }
            adamKernelSIMD(parts, h)
        }
    }

    public func norm(_ t: Tensor, p: Double) -> Double {
        withExtendedLifetime(t) {
            t.dtype == .float32 ? pNorm(t.pointer(as: Float.self), t.count, p) : pNorm(t.pointer(as: Double.self), t.count, p)
        }
    }
}

/// `(Σ|x|^p)^(1/p)` in Double, element by element in order (`p = ∞`: the largest magnitude).
private func pNorm<T: BinaryFloatingPoint>(_ x: UnsafeMutablePointer<T>, _ n: Int, _ p: Double) -> Double {
    if p.isInfinite {
        var m = 0.0
        for i in 0..<n { m = max(m, abs(Double(x[i]))) }
        return m
    }
    var s = 0.0
    if p == 2 {
        for i in 0..<n { let v = Double(x[i]); s += v * v }
    } else {
        for i in 0..<n { s += Foundation.pow(abs(Double(x[i])), p) }
    }
    return Foundation.pow(s, 1 / p)
}

/// One SGD update on raw memory; scalars are rounded to the element type as PyTorch's kernels do.
@inline(__always)
func sgdKernel<T: BinaryFloatingPoint>(_ p: UnsafeMutablePointer<T>, _ grad: UnsafeMutablePointer<T>,
                                       _ buf: UnsafeMutablePointer<T>?, count: Int, _ h: SGDStep) {
    let wd = T(h.weightDecay), mom = T(h.momentum), damp = T(1 - h.dampening), negLR = T(-h.lr)
    let useWD = h.weightDecay != 0, useMomentum = h.momentum != 0
    Parallel.forRange(0..<count, grain: 1 << 15) { r in
        for i in r {
            var g = h.maximize ? -grad[i] : grad[i]
            if useWD { g = g + wd * p[i] }
            if useMomentum, let buf {
                let b = h.firstStep ? g : buf[i] * mom + damp * g
                buf[i] = b
                g = h.nesterov ? g + mom * b : b
            }
            p[i] = p[i] + negLR * g
        }
    }
}

/// One Adam/AdamW update on raw memory, with PyTorch's operation order; the scalars are rounded to
/// the element type as PyTorch's CPU kernels do.
@inline(__always)
func adamKernel<T: BinaryFloatingPoint>(_ p: UnsafeMutablePointer<T>, _ grad: UnsafeMutablePointer<T>,
                                        _ m: UnsafeMutablePointer<T>, _ v: UnsafeMutablePointer<T>,
                                        _ vmax: UnsafeMutablePointer<T>?, count: Int, _ h: AdamStep) {
    let wd = T(h.weightDecay), decay = T(1 - h.lr * h.weightDecay)
    let useWD = h.weightDecay != 0
    let w1 = T(1 - h.beta1), b1 = 1 - w1, smallWeight = w1 < 0.5, b2 = T(h.beta2), w2 = T(1 - h.beta2)
    let bc2Sqrt = T(h.biasCorrection2Sqrt), eps = T(h.eps)
    let negStepSize = T(-(h.lr / h.biasCorrection1))
    Parallel.forRange(0..<count, grain: 1 << 14) { r in
        for i in r {
            var g = h.maximize ? -grad[i] : grad[i]
            if useWD {
                if h.decoupled { p[i] = p[i] * decay } else { g = g + wd * p[i] }
            }
            // exp_avg.lerp_(grad, 1 − β1), with lerp's two forms for small and large weights
            let mi = smallWeight ? m[i] + w1 * (g - m[i]) : g - (g - m[i]) * b1
            m[i] = mi
            let vi = v[i] * b2 + w2 * g * g             // exp_avg_sq.mul_(β2).addcmul_(grad, grad, 1 − β2)
            v[i] = vi
            var second = vi
            if let vmax {
                second = max(vmax[i], vi)
                vmax[i] = second
            }
            let denom = second.squareRoot() / bc2Sqrt + eps
            p[i] = p[i] + negStepSize * mi / denom     // param.addcdiv_(exp_avg, denom, −step_size)
        }
    }
}

/// The common float32 case (no amsgrad, no maximize, β1 > 0.5) 16 lanes at a time (one vector
/// square root per block): the same operations in the same order as ``adamKernel``, so results
/// are identical. Weight decay is
/// folded in exactly: `p·1 = p` and `g + 0·p = g` for finite values.
@inline(__always)
func adamKernelSIMD(_ p: UnsafeMutablePointer<Float>, _ grad: UnsafeMutablePointer<Float>,
                    _ m: UnsafeMutablePointer<Float>, _ v: UnsafeMutablePointer<Float>, count: Int, _ h: AdamStep) {
    adamKernelSIMD([AdamPart(p: p, grad: grad, m: m, v: v, count: count)], h)
}

/// One parameter's buffers in ``adamKernelSIMD(_:_:)``.
struct AdamPart {
    var p, grad, m, v: UnsafeMutablePointer<Float>
    var count: Int
}

/// ``adamKernelSIMD(_:_:_:_:count:_:)`` over several parameters as one range of elements, split over
/// threads where the work is large enough: one fork-join per optimizer step, not per parameter.
/// Every element gets the same operations wherever the splits fall, so the result is that of
/// one update per parameter, whatever the thread count.
func adamKernelSIMD(_ parts: [AdamPart], _ h: AdamStep) {
    let useWD = h.weightDecay != 0
    let coupledWD: Float = useWD && !h.decoupled ? Float(h.weightDecay) : 0
    let decay: Float = useWD && h.decoupled ? Float(1 - h.lr * h.weightDecay) : 1
    let w1 = Float(1 - h.beta1), b2 = Float(h.beta2), w2 = Float(1 - h.beta2)
    let bc2Sqrt = Float(h.biasCorrection2Sqrt), eps = Float(h.eps)
    let negStepSize = Float(-(h.lr / h.biasCorrection1))
    let cKernel = GEMMCKernel.level >= 2
    // starts[i]: the first element of part i in the concatenation of all parts.
    var starts = [Int](repeating: 0, count: parts.count + 1)
    for (i, part) in parts.enumerated() { starts[i + 1] = starts[i] + part.count }
    let total = starts[parts.count]
    if total == 0 { return }
    starts.withUnsafeBufferPointer { starts in
    parts.withUnsafeBufferPointer { parts in
        Parallel.forRange(0..<total, grain: 1 << 15) { r in
            // The parts that overlap r, each from its first element inside r.
            var i = 0
            while starts[i + 1] <= r.lowerBound { i += 1 }
            var lo = r.lowerBound
            while lo < r.upperBound {
                let part = parts[i], o = lo - starts[i], n = min(r.upperBound, starts[i + 1]) - lo
                if cKernel {
                    // The same operations in the same order on AVX-512 (SIMD16 is SSE2 in a plain build).
                    swiftnn_adam_f32(part.p + o, part.grad + o, part.m + o, part.v + o, n, coupledWD, decay, w1, b2, w2,
                                     bc2Sqrt, eps, negStepSize)
                } else {
                    adamRangeSwift(part.p, part.grad, part.m, part.v, o..<(o + n), coupledWD: coupledWD, decay: decay, w1: w1,
                                   b2: b2, w2: w2, bc2Sqrt: bc2Sqrt, eps: eps, negStepSize: negStepSize)
                }
                lo += n
                i += 1
            }
        }
    } }
}

/// One range of ``adamKernelSIMD(_:_:_:_:count:_:)`` in Swift SIMD: the path without AVX-512 and the
/// C kernel's reference in tests.
@inline(__always)
func adamRangeSwift(_ p: UnsafeMutablePointer<Float>, _ grad: UnsafeMutablePointer<Float>,
                    _ m: UnsafeMutablePointer<Float>, _ v: UnsafeMutablePointer<Float>, _ r: Range<Int>,
                    coupledWD: Float, decay: Float, w1: Float, b2: Float, w2: Float, bc2Sqrt: Float, eps: Float,
                    negStepSize: Float) {
    typealias V = SIMD16<Float>
    @inline(__always) func load(_ q: UnsafeMutablePointer<Float>, _ i: Int) -> V {
        UnsafeRawPointer(q + i).loadUnaligned(as: V.self)
    }
    @inline(__always) func store(_ x: V, _ q: UnsafeMutablePointer<Float>, _ i: Int) {
        UnsafeMutableRawPointer(q + i).storeBytes(of: x, as: V.self)
    }
    var i = r.lowerBound
    while i + 16 <= r.upperBound {
        let p0 = load(p, i), mi = load(m, i)
        let g = load(grad, i) + coupledWD * p0
        let mNew = mi + w1 * (g - mi)
        let vNew = load(v, i) * b2 + w2 * g * g
        let denom = swiftnn_sqrt16(vNew) / bc2Sqrt + eps
        store(mNew, m, i)
        store(vNew, v, i)
        store(p0 * decay + negStepSize * mNew / denom, p, i)
        i += 16
    }
    while i < r.upperBound {
        let p0 = p[i], mi = m[i]
        let g = grad[i] + coupledWD * p0
        let mNew = mi + w1 * (g - mi)
        let vNew = v[i] * b2 + w2 * g * g
        let denom = vNew.squareRoot() / bc2Sqrt + eps
        m[i] = mNew
        v[i] = vNew
        p[i] = p0 * decay + negStepSize * mNew / denom
        i += 1
    }
}
