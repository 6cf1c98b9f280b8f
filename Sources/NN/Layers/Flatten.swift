import TensorCore
import Autograd

/// Merges dimensions `startDim…endDim` into one, like `nn.Flatten` (default: everything but the
/// batch dimension). Shares storage with the input.
///
/// ```swift
/// Flatten()(Tensor.zeros([8, 3, 4, 4])).shape     // [8, 48]
/// ```
public final class Flatten: Module {
    public let startDim: Int
    public let endDim: Int

    public init(startDim: Int = 1, endDim: Int = -1) {
        self.startDim = startDim
        self.endDim = endDim
        super.init()
    }

    override public func forward(_ x: Tensor) -> Tensor { x.flattened(startDim: startDim, endDim: endDim) }

    /// A reshape: every value passes through unchanged.
    override public var isElementwise: Bool { true }

    override public var extraDescription: String { "start_dim=\(startDim), end_dim=\(endDim)" }
}
