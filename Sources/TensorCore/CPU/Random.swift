import Foundation

// CPU random fills: element i from the stream's counter-based hash of i, split over threads.

extension CPUBackend: RandomOps {
    public func fillUniform(_ t: Tensor, stream: RandomStream, low: Double, high: Double) {
        let n = t.count
        let span = high - low
        withExtendedLifetime(t) {
            switch t.dtype {
            case .float32:
                let p = t.pointer(as: Float.self)
                let lo = Float(low), sp = Float(span)
                Parallel.forRange(0..<n, grain: 1 << 16) { r in for i in r { p[i] = lo + sp * stream.uniform(i) } }
            default:
                let p = t.pointer(as: Double.self)
                Parallel.forRange(0..<n, grain: 1 << 16) { r in for i in r { p[i] = low + span * stream.uniformDouble(i) } }
            }
        }
    }

    public func fillNormal(_ t: Tensor, stream: RandomStream, mean: Double, std: Double) {
        let n = t.count
        // Element i uses the pair of uniforms of pair i/2 and takes its cosine or sine branch.
        @inline(__always) func sample(_ i: Int) -> Double {
            let pair = i >> 1
            let u1 = 1 - stream.uniformDouble(2 * pair)       // (0, 1]: log is finite
            let u2 = stream.uniformDouble(2 * pair + 1)
            let r = (-2 * Foundation.log(u1)).squareRoot()
            let a = 2 * Double.pi * u2
            return (i & 1 == 0) ? r * Foundation.cos(a) : r * Foundation.sin(a)
        }
        withExtendedLifetime(t) {
            switch t.dtype {
            case .float32:
                let p = t.pointer(as: Float.self)
                Parallel.forRange(0..<n, grain: 1 << 14) { r in for i in r { p[i] = Float(mean + std * sample(i)) } }
            default:
                let p = t.pointer(as: Double.self)
                Parallel.forRange(0..<n, grain: 1 << 14) { r in for i in r { p[i] = mean + std * sample(i) } }
            }
        }
    }
}
