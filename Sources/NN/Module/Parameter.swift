import TensorCore
import Autograd

/// A trainable tensor of a ``Module``: found by reflection, listed by `parameters()`, updated by
/// optimizers. Like `torch.nn.Parameter`, it requires grad by default; set `requiresGrad = false`
/// to freeze it.
///
/// ```swift
/// let w = Parameter(Tensor.randn([4, 3]))
/// w.requiresGrad            // true
/// for p in model.parameters() { p.requiresGrad = false }   // freeze a whole model
/// ```
///
/// A `Parameter` shares the storage of the tensor it is made from (no copy) and is always a leaf.
public final class Parameter: Tensor, @unchecked Sendable {
    /// Wraps `tensor`'s data (shared, not copied) as a trainable leaf.
    public init(_ tensor: Tensor, requiresGrad: Bool = true) {
        super.init(storage: tensor.storage, shape: tensor.shape, dtype: tensor.dtype,
                   offset: tensor.storageOffset, requiresGrad: requiresGrad)
    }

    public required init(storage: TensorStorage, shape: [Int], dtype: DType, offset: Int = 0, requiresGrad: Bool = true) {
        super.init(storage: storage, shape: shape, dtype: dtype, offset: offset, requiresGrad: requiresGrad)
    }

    /// Number of elements that train (0 when frozen).
    public var trainableCount: Int { requiresGrad ? count : 0 }

    /// PyTorch's repr of a parameter: `Parameter containing:` above the tensor's repr.
    override public var description: String { "Parameter containing:\n" + super.description }
}
