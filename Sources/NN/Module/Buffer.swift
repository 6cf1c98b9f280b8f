import TensorCore

/// A tensor that belongs to a ``Module``'s state without being trained, like `torch.nn.Buffer`
/// (or `register_buffer`): running statistics, counters, fixed masks. Found by reflection like a
/// ``Parameter``, listed by `namedBuffers()`, saved in the state dict unless `persistent` is
/// false, never given to an optimizer.
///
/// A plain `Tensor` property is *not* a buffer (as in PyTorch, where a tensor attribute is just
/// an attribute): mark state with `Buffer` explicitly.
///
/// ```swift
/// final class Normalizer: Module {
///     var mean = Buffer(Tensor.zeros([3]))                      // state dict key "mean"
///     var scratch = Buffer(Tensor.zeros([3]), persistent: false) // listed, not saved
///     override func forward(_ x: Tensor) -> Tensor { x - mean }
/// }
/// ```
///
/// A `Buffer` shares the storage of the tensor it is made from (no copy) and never requires grad.
public final class Buffer: Tensor, @unchecked Sendable {
    /// Whether the buffer is part of the state dict (PyTorch's `persistent=True`, the default).
    /// Non-persistent buffers are listed by `namedBuffers()` but neither saved nor loaded.
    public let persistent: Bool

    /// Wraps `tensor`'s data (shared, not copied) as module state.
    public init(_ tensor: Tensor, persistent: Bool = true) {
        self.persistent = persistent
        super.init(storage: tensor.storage, shape: tensor.shape, dtype: tensor.dtype,
                   offset: tensor.storageOffset, requiresGrad: false)
    }

    public required init(storage: TensorStorage, shape: [Int], dtype: DType, offset: Int = 0, requiresGrad: Bool = false) {
        self.persistent = true
        super.init(storage: storage, shape: shape, dtype: dtype, offset: offset, requiresGrad: requiresGrad)
    }
}

extension Buffer {
    /// `tensor` as a buffer: itself when it already is one, else a buffer sharing its storage.
    /// For properties that take any tensor and keep it as module state.
    static func adopting(_ tensor: Tensor?) -> Buffer? {
        tensor.map { $0 as? Buffer ?? Buffer($0) }
    }
}
