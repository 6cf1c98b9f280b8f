import TensorCore
import Autograd

/// Mean squared error, like `torch.nn.MSELoss`.
///
/// ```swift
/// let criterion = MSELoss()
/// let loss = criterion(prediction, target)
/// ```
public final class MSELoss: Module {
    public var reduction: Reduction

    public init(reduction: Reduction = .mean) {
        self.reduction = reduction
        super.init()
    }

    public func callAsFunction(_ input: Tensor, _ target: Tensor) -> Tensor {
        mseLoss(input, target, reduction: reduction)
    }

    /// The checks the loss makes.
    public func validate(_ input: Tensor, _ target: Tensor) throws(UsageError) {
        try validateMSELoss(input, target)
    }

    override public func forward(_ x: Tensor) -> Tensor {
        usageFailure(UsageError("MSELoss", "forward() missing 1 required positional argument: 'target' (call loss(input, target))"))
    }
}
