import Foundation

extension Tensor {
    /// Seeds the default generator, like `torch.manual_seed`.
    public static func manualSeed(_ seed: UInt64) { Generator.default.manualSeed(seed) }

    /// Uniform samples in [0, 1).
    ///
    /// ```swift
    /// let r = Tensor.rand([4])
    /// ```
    public static func rand(_ shape: [Int], dtype: DType = .float32, generator: Generator? = nil, requiresGrad: Bool = false) -> Tensor {
        uniform(shape, low: 0, high: 1, dtype: dtype, generator: generator, requiresGrad: requiresGrad)
    }

    /// Uniform samples in [low, high).
    public static func uniform(_ shape: [Int], low: Double, high: Double, dtype: DType = .float32,
                               generator: Generator? = nil, requiresGrad: Bool = false) -> Tensor {
        usageCheck(dtype.isFloatingPoint, "uniform", "expected a floating-point dtype, got \(dtype)")
        let stream = (generator ?? .default).nextStream()
        let t = Tensor(uninitializedShape: shape, dtype: dtype)
        let n = t.count
        let span = high - low
        switch dtype {
        case .float32:
            let p = t.pointer(as: Float.self)
            let lo = Float(low), sp = Float(span)
            Parallel.forRange(0..<n, grain: 1 << 16) { r in for i in r { p[i] = lo + sp * stream.uniform(i) } }
        default:
            let p = t.pointer(as: Double.self)
            Parallel.forRange(0..<n, grain: 1 << 16) { r in for i in r { p[i] = low + span * stream.uniformDouble(i) } }
        }
        t.requiresGrad = requiresGrad
        return t
    }

    /// Standard normal samples (Box–Muller on pairs of uniforms).
    ///
    /// ```swift
    /// Tensor.manualSeed(0)
    /// let x = Tensor.randn([32, 128])
    /// ```
    public static func randn(_ shape: [Int], mean: Double = 0, std: Double = 1, dtype: DType = .float32,
                             generator: Generator? = nil, requiresGrad: Bool = false) -> Tensor {
        usageCheck(dtype.isFloatingPoint, "randn", "expected a floating-point dtype, got \(dtype)")
        let stream = (generator ?? .default).nextStream()
        let t = Tensor(uninitializedShape: shape, dtype: dtype)
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
        switch dtype {
        case .float32:
            let p = t.pointer(as: Float.self)
            Parallel.forRange(0..<n, grain: 1 << 14) { r in for i in r { p[i] = Float(mean + std * sample(i)) } }
        default:
            let p = t.pointer(as: Double.self)
            Parallel.forRange(0..<n, grain: 1 << 14) { r in for i in r { p[i] = mean + std * sample(i) } }
        }
        t.requiresGrad = requiresGrad
        return t
    }

    /// A random permutation of `0..<n` (Fisher–Yates driven by one stream), as Int64.
    public static func randperm(_ n: Int, generator: Generator? = nil) -> Tensor {
        let stream = (generator ?? .default).nextStream()
        var idx = Array(0..<Int64(n))
        if n > 1 {
            for i in stride(from: n - 1, to: 0, by: -1) {
                let j = Int(stream.uniformDouble(i) * Double(i + 1))
                idx.swapAt(i, min(j, i))
            }
        }
        return Tensor(idx, shape: [n])
    }
}
