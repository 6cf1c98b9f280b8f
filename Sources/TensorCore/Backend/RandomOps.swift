/// Random fills from a counter-based ``RandomStream``: element `i` is a pure function of the
/// stream and `i`, so the result does not depend on the thread count (or the backend).
public protocol RandomOps {
    /// Uniform samples in [low, high) into a float tensor: element i is `low + (high − low)·u(i)`.
    func fillUniform(_ t: Tensor, stream: RandomStream, low: Double, high: Double)
    /// Normal samples into a float tensor by Box–Muller: element i takes the cosine (even i) or
    /// sine (odd i) branch of the uniform pair of i / 2.
    func fillNormal(_ t: Tensor, stream: RandomStream, mean: Double, std: Double)
}

extension Kernels {
    /// Fills a float tensor with uniform samples in [low, high), in place.
    public static func fillUniform(_ t: Tensor, stream: RandomStream, low: Double, high: Double) {
        precondition(t.dtype.isFloatingPoint, "uniform: expected a floating-point tensor, got \(t.dtype)")
        backend(t).fillUniform(t, stream: stream, low: low, high: high)
    }

    /// Fills a float tensor with normal samples N(mean, std²), in place.
    public static func fillNormal(_ t: Tensor, stream: RandomStream, mean: Double, std: Double) {
        precondition(t.dtype.isFloatingPoint, "normal: expected a floating-point tensor, got \(t.dtype)")
        backend(t).fillNormal(t, stream: stream, mean: mean, std: std)
    }
}
