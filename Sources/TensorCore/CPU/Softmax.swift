import CKernelSupport
import Foundation

// CPU softmax and log-softmax: rows of the reduced dim, or columns when it is not innermost.

extension CPUBackend {
    public func softmax(_ t: Tensor, dim: Int, log: Bool) -> Tensor { Self.softmax(t, dim: dim, log: log) }
    public func softmaxBackward(grad: Tensor, output: Tensor, dim: Int, log: Bool) -> Tensor {
        Self.softmaxBackward(grad: grad, output: output, dim: dim, log: log)
    }
}

extension CPUBackend {
    static func softmax(_ t: Tensor, dim: Int, log: Bool) -> Tensor {
        let out = Tensor(uninitializedShape: t.shape, dtype: t.dtype)
        let (outer, r, inner) = Kernels.split(t.rank == 0 ? [1] : t.shape, at: dim)
        withExtendedLifetime(t) {
            if t.dtype == .float32 {
                softmaxRun(t.pointer(as: Float.self), out.pointer(as: Float.self), outer, r, inner, log)
            } else {
                softmaxRun(t.pointer(as: Double.self), out.pointer(as: Double.self), outer, r, inner, log)
            }
        }
        return out
    }

    static func softmaxRun<T: KFloat>(_ px: UnsafeMutablePointer<T>, _ po: UnsafeMutablePointer<T>,
                                      _ outer: Int, _ r: Int, _ inner: Int, _ log: Bool) {
        if r == 0 { return }
        if inner == 1 {
            softmaxRows(px, po, outer, r, log)
            return
        }
        Parallel.forRange(0..<outer, grain: Swift.max(1, transcendentalGrain / Swift.max(r * inner, 1))) { range in
            withUnsafeTemporaryAllocation(of: T.self, capacity: 2 * inner) { buf in
                let mx = buf.baseAddress!, sm = buf.baseAddress! + inner
                for o in range {
                    let x = px + o * r * inner, y = po + o * r * inner
                    for j in 0..<inner { mx[j] = x[j]; sm[j] = 0 }
                    for k in 1..<Swift.max(r, 1) {
                        let row = x + k * inner
                        for j in 0..<inner where row[j] > mx[j] || row[j].isNaN { mx[j] = row[j] }
                    }
                    for j in 0..<inner where mx[j].isInfinite && mx[j] < 0 { mx[j] = 0 } // all -inf row
                    for k in 0..<r {
                        let row = x + k * inner, dst = y + k * inner
                        for j in 0..<inner {
                            let e = T.kexpFast(row[j] - mx[j])
                            if !log { dst[j] = e }
                            sm[j] += e
                        }
                    }
                    if log {
                        for j in 0..<inner { sm[j] = mx[j] + T.klog(sm[j]) }
                        for k in 0..<r {
                            let row = x + k * inner, dst = y + k * inner
                            for j in 0..<inner { dst[j] = row[j] - sm[j] }
                        }
                    } else {
                        for j in 0..<inner { sm[j] = 1 / sm[j] }
                        for k in 0..<r {
                            let dst = y + k * inner
                            for j in 0..<inner { dst[j] *= sm[j] }
                        }
                    }
                }
            }
        }
    }

    /// Softmax over contiguous rows, a row at a time (``softmaxRow``, or its AVX-512 twin for float32).
    static func softmaxRows<T: KFloat>(_ px: UnsafeMutablePointer<T>, _ po: UnsafeMutablePointer<T>, _ outer: Int, _ r: Int, _ log: Bool) {
        Parallel.forRange(0..<outer, grain: Swift.max(1, elementwiseGrain / Swift.max(r, 1))) { range in
            for o in range {
                let x = px + o * r, y = po + o * r
                if T.self == Float.self && GEMMCKernel.level >= 2 {
                    floatRowAVX512(UnsafeRawPointer(x).assumingMemoryBound(to: Float.self),
                                   UnsafeMutableRawPointer(y).assumingMemoryBound(to: Float.self), r, log)
                } else {
                    softmaxRow(x, y, r, log)
                }
            }
        }
    }

    /// One row's softmax (or log-softmax), `r` ≥ 1: every pass is a plain loop that vectorises (the
    /// exponentials go to the output first, then are summed with SIMD accumulators and scaled).
    static func softmaxRow<T: KFloat>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, _ r: Int, _ log: Bool) {
        // Four running maxima for instruction-level parallelism.
        var m0 = x[0], m1 = x[0], m2 = x[0], m3 = x[0]
        var k = 0
        while k + 4 <= r {
            m0 = x[k] > m0 ? x[k] : m0; m1 = x[k + 1] > m1 ? x[k + 1] : m1
            m2 = x[k + 2] > m2 ? x[k + 2] : m2; m3 = x[k + 3] > m3 ? x[k + 3] : m3
            k += 4
        }
        while k < r { m0 = x[k] > m0 ? x[k] : m0; k += 1 }
        var m = Swift.max(Swift.max(m0, m1), Swift.max(m2, m3))
        if m.isInfinite && m < 0 { m = 0 }   // a row of -inf: NaN like PyTorch (0/0)
        for k in 0..<r { y[k] = T.kexpFast(x[k] - m) }
        let s = T(rowSum(UnsafePointer(y), r))
        if log {
            let c = m + T.klog(s)
            for k in 0..<r { y[k] = x[k] - c }
        } else {
            let inv = 1 / s
            for k in 0..<r { y[k] *= inv }
        }
    }

    /// ``softmaxRow`` for float32 on AVX-512 (row_kernels.c), the same values (a row with a NaN
    /// is all NaN in both): the maximum, the exponentials summed in rowSum's order, then the scale
    /// or the shift.
    static func floatRowAVX512(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ r: Int, _ log: Bool) {
        var m = swiftnn_row_max_f32(x, r)
        if m.isInfinite && m < 0 { m = 0 }   // a row of -inf: NaN like PyTorch (0/0)
        let s = Float(swiftnn_exp_shifted_sum_f32(x, m, y, r))
        if log {
            swiftnn_subtract_f32(x, m + Float.klog(s), y, r)
        } else {
            swiftnn_scale_f32(y, 1 / s, r)
        }
    }

    /// Backward over contiguous rows, as plain vectorisable passes.
    static func softmaxBackwardRows<T: KFloat>(_ pg: UnsafeMutablePointer<T>, _ py: UnsafeMutablePointer<T>, _ po: UnsafeMutablePointer<T>,
                                               _ outer: Int, _ r: Int, _ log: Bool) {
        Parallel.forRange(0..<outer, grain: Swift.max(1, elementwiseGrain / Swift.max(r, 1))) { range in
            for o in range {
                let g = pg + o * r, y = py + o * r, d = po + o * r
                if log {
                    let s = T(rowSum(UnsafePointer(g), r))
                    if T.self == Float.self && GEMMCKernel.level >= 2 {
                        // The same values on AVX-512 (row_kernels.c): fastExp, then the product and the difference.
                        swiftnn_log_softmax_backward_f32(UnsafeRawPointer(g).assumingMemoryBound(to: Float.self),
                                                         UnsafeRawPointer(y).assumingMemoryBound(to: Float.self), Float(s),
                                                         UnsafeMutableRawPointer(d).assumingMemoryBound(to: Float.self), r)
                    } else {
                        logSoftmaxBackwardRow(g, y, s, d, r)
                    }
                } else {
                    for k in 0..<r { d[k] = g[k] * y[k] }
                    let s = T(rowSum(UnsafePointer(d), r))
                    for k in 0..<r { d[k] = y[k] * (g[k] - s) }
                }
            }
        }
    }

    /// Log-softmax's backward over one row, given Σg: d = g − e^y·Σg (e^y is softmax's output).
    static func logSoftmaxBackwardRow<T: KFloat>(_ g: UnsafePointer<T>, _ y: UnsafePointer<T>, _ s: T, _ d: UnsafeMutablePointer<T>,
                                                 _ r: Int) {
        for k in 0..<r { d[k] = g[k] - T.kexpFast(y[k]) * s }
    }

    static func softmaxBackward(grad: Tensor, output: Tensor, dim: Int, log: Bool) -> Tensor {
        let g = cast(grad, to: output.dtype)
        let out = Tensor(uninitializedShape: output.shape, dtype: output.dtype)
        let (outer, r, inner) = Kernels.split(output.rank == 0 ? [1] : output.shape, at: dim)
        withExtendedLifetime((g, output)) {
            if output.dtype == .float32 {
                softmaxBackwardRun(g.pointer(as: Float.self), output.pointer(as: Float.self), out.pointer(as: Float.self), outer, r, inner, log)
            } else {
                softmaxBackwardRun(g.pointer(as: Double.self), output.pointer(as: Double.self), out.pointer(as: Double.self), outer, r, inner, log)
            }
        }
        return out
    }

    static func softmaxBackwardRun<T: KFloat>(_ pg: UnsafeMutablePointer<T>, _ py: UnsafeMutablePointer<T>, _ po: UnsafeMutablePointer<T>,
                                              _ outer: Int, _ r: Int, _ inner: Int, _ log: Bool) {
        if inner == 1 {
            softmaxBackwardRows(pg, py, po, outer, r, log)
            return
        }
        Parallel.forRange(0..<outer, grain: Swift.max(1, transcendentalGrain / Swift.max(r * inner, 1))) { range in
            withUnsafeTemporaryAllocation(of: T.self, capacity: inner) { buf in
                let s = buf.baseAddress!
                for o in range {
                    let g = pg + o * r * inner, y = py + o * r * inner, d = po + o * r * inner
                    for j in 0..<inner { s[j] = 0 }
                    for k in 0..<r {
                        for j in 0..<inner { s[j] += log ? g[k * inner + j] : g[k * inner + j] * y[k * inner + j] }
                    }
                    for k in 0..<r {
                        for j in 0..<inner {
                            let i = k * inner + j
                            d[i] = log ? g[i] - T.kexp(y[i]) * s[j] : y[i] * (g[i] - s[j])
                        }
                    }
                }
            }
        }
    }
}
