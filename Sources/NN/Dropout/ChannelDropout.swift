import TensorCore
import Autograd

/// Channel-wise dropout on (N, C, L) or unbatched (C, L) input, like `torch.nn.Dropout1d`: each
/// (sample, channel) row is kept (scaled by `1 / (1 - p)`) or zeroed as a whole. Other ranks are
/// refused with PyTorch's message.
///
/// ```swift
/// let drop = Dropout1d(p: 0.2)
/// let y = drop(Tensor.randn([8, 16, 100]))   // 8·16 decisions
/// ```
public final class Dropout1d: DropoutLayer {
    public init(p: Double = 0.5, inplace: Bool = false, generator: Generator? = nil) {
        do {
            try super.init(variant: .dropout1d, validating: p, inplace: inplace, generator: generator)
        } catch {
            usageFailure(error)
        }
    }

    public convenience init(_ p: Double) { self.init(p: p) }

    /// Throws PyTorch's message for an invalid `p` instead of stopping.
    public init(validating p: Double, inplace: Bool = false, generator: Generator? = nil) throws(UsageError) {
        try super.init(variant: .dropout1d, validating: p, inplace: inplace, generator: generator)
    }
}

/// Channel-wise dropout on (N, C, H, W) input, like `torch.nn.Dropout2d`: each (sample, channel)
/// plane is kept (scaled) or zeroed as a whole. As in PyTorch, 3-D input is treated as (N, C, L)
/// with a warning (printed once), and other ranks work with a deprecation warning.
///
/// ```swift
/// let drop = Dropout2d(p: 0.1)
/// let y = drop(Tensor.randn([8, 64, 32, 32]))   // 8·64 decisions
/// ```
public final class Dropout2d: DropoutLayer {
    public init(p: Double = 0.5, inplace: Bool = false, generator: Generator? = nil) {
        do {
            try super.init(variant: .dropout2d, validating: p, inplace: inplace, generator: generator)
        } catch {
            usageFailure(error)
        }
    }

    public convenience init(_ p: Double) { self.init(p: p) }

    /// Throws PyTorch's message for an invalid `p` instead of stopping.
    public init(validating p: Double, inplace: Bool = false, generator: Generator? = nil) throws(UsageError) {
        try super.init(variant: .dropout2d, validating: p, inplace: inplace, generator: generator)
    }
}

/// Channel-wise dropout on (N, C, D, H, W) or unbatched (C, D, H, W) input, like
/// `torch.nn.Dropout3d`.
///
/// ```swift
/// let drop = Dropout3d(p: 0.2)
/// let y = drop(Tensor.randn([2, 4, 8, 8, 8]))   // 2·4 decisions
/// ```
public final class Dropout3d: DropoutLayer {
    public init(p: Double = 0.5, inplace: Bool = false, generator: Generator? = nil) {
        do {
            try super.init(variant: .dropout3d, validating: p, inplace: inplace, generator: generator)
        } catch {
            usageFailure(error)
        }
    }

    public convenience init(_ p: Double) { self.init(p: p) }

    /// Throws PyTorch's message for an invalid `p` instead of stopping.
    public init(validating p: Double, inplace: Bool = false, generator: Generator? = nil) throws(UsageError) {
        try super.init(variant: .dropout3d, validating: p, inplace: inplace, generator: generator)
    }
}
