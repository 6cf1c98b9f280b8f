// The seam between tensors and kernels. A backend is the set of kernel families below, each a
// small protocol in its own file next to the ``Kernels`` entry points that dispatch to it:
//
//   MemoryOps         allocate / free, fill, copy                     (this file)
//   ElementwiseOps    unary, binary, compare, where, cast, strided copies, accumulate
//   ReductionOps      sum, mean, variance, max/min, softmax
//   IndexingOps       concat, slice, index select / add, scatter, index checks
//   LinearAlgebraOps  GEMM, batched GEMM, linear
//   ConvolutionOps    N-d convolution forward / backward
//   PoolingOps        max / average / adaptive average pooling
//   NormalizationOps  batch (split and fused), group, layer, RMS normalization, running statistics
//   ConvBatchNormOps  conv → batch norm → ReLU with the convolution recomputed, not stored
//   DropoutOps        element- and channel-wise dropout from counter-based decisions
//   LossOps           cross entropy, NLL, MSE, BCE with logits
//   OptimizerOps      SGD and Adam steps, gradient norms and clipping
//   RandomOps         uniform and normal fills from a counter-based stream
//
// Contract, for every family: operands and results are Tensors; the backend dispatches on dtype
// itself; per-channel or per-row statistics that callers combine (batch norm) are small host
// values in Double. Shape checks with PyTorch's messages stay in the layers above (they depend on
// no device); a requirement may assume validated arguments unless its documentation says so.

/// A compute backend: memory and every kernel family for one kind of device.
///
/// ``CPUBackend`` is the one implementation. Tensors reach their backend through
/// ``Tensor/device`` (``TensorStorage/device``); ``Kernels`` picks it once per operation, so
/// per-element work never goes through an existential.
///
/// ```swift
/// let b = Tensor.ones([4]).backend          // CPUBackend()
/// let y = b.unary(.exp, Tensor.ones([4]))   // what Kernels.unary(.exp, x) does
/// ```
public protocol Backend: MemoryOps, ElementwiseOps, ReductionOps, IndexingOps, LinearAlgebraOps, ConvolutionOps,
    PoolingOps, NormalizationOps, ConvBatchNormOps, DropoutOps, LossOps, OptimizerOps, RandomOps, Sendable {
    /// The device whose memory this backend owns.
    var device: Device { get }
}

/// Memory of one device.
public protocol MemoryOps {
    /// A 64-byte-aligned block of `byteCount` bytes (zero-filled when `zeroed`).
    func allocate(byteCount: Int, zeroed: Bool) -> UnsafeMutableRawPointer
    /// Returns a block obtained from ``allocate(byteCount:zeroed:)``.
    func deallocate(_ pointer: UnsafeMutableRawPointer, byteCount: Int)
    /// Sets every element of `t` to `value` converted to its dtype, in place.
    func fill(_ t: Tensor, _ value: Double)
    /// Copies the elements of `source` into `destination` (same count and dtype), in place.
    func copy(_ source: Tensor, into destination: Tensor)
}

extension Kernels {
    /// The backend of `a`'s device.
    @inline(__always)
    static func backend(_ a: Tensor) -> any Backend { a.storage.device.backend }

    /// The backend of the operands' device; stops with PyTorch's message when two of them live on
    /// different devices.
    @inline(__always)
    static func backend(_ a: Tensor, _ b: Tensor?, _ c: Tensor? = nil, _ d: Tensor? = nil) -> any Backend {
        let device = a.storage.device
        if let b, b.storage.device != device { deviceMismatch(device, b.storage.device) }
        if let c, c.storage.device != device { deviceMismatch(device, c.storage.device) }
        if let d, d.storage.device != device { deviceMismatch(device, d.storage.device) }
        return device.backend
    }

    @inline(never)
    static func deviceMismatch(_ a: Device, _ b: Device) -> Never {
        usageFailure(UsageError("device", "Expected all tensors to be on the same device, but found at least two devices, \(a) and \(b)!"))
    }

    /// Sets every element of `t` to `value`, in place (see ``Tensor/fill(_:)``).
    public static func fill(_ t: Tensor, _ value: Double) { backend(t).fill(t, value) }

    /// Copies `source` into `destination` (same count and dtype), in place.
    public static func copy(_ source: Tensor, into destination: Tensor) {
        usageCheck(source.count == destination.count && source.dtype == destination.dtype, "copy",
                   "cannot copy \(source.dtype) \(shapeString(source.shape)) into \(destination.dtype) \(shapeString(destination.shape))")
        backend(source, destination).copy(source, into: destination)
    }
}
