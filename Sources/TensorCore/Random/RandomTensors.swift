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
        let t = Tensor(uninitializedShape: shape, dtype: dtype)
        Kernels.fillUniform(t, stream: (generator ?? .default).nextStream(), low: low, high: high)
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
        let t = Tensor(uninitializedShape: shape, dtype: dtype)
        Kernels.fillNormal(t, stream: (generator ?? .default).nextStream(), mean: mean, std: std)
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
