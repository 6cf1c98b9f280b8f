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
    override public class var variantApplied: DropoutVariant { .dropout1d }
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
    override public class var variantApplied: DropoutVariant { .dropout2d }
}

/// Channel-wise dropout on (N, C, D, H, W) or unbatched (C, D, H, W) input, like
/// `torch.nn.Dropout3d`.
///
/// ```swift
/// let drop = Dropout3d(p: 0.2)
/// let y = drop(Tensor.randn([2, 4, 8, 8, 8]))   // 2·4 decisions
/// ```
public final class Dropout3d: DropoutLayer {
    override public class var variantApplied: DropoutVariant { .dropout3d }
}
