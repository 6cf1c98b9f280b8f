import TensorCore
import Autograd

/// Negative log-likelihood of class indices given log-probabilities, like `torch.nn.NLLLoss`.
///
/// ```swift
/// let criterion = NLLLoss()
/// let loss = criterion(logits.logSoftmax(dim: 1), targets: labels)
/// ```
public final class NLLLoss: Module {
    /// Per-class rescaling weight (shape `[C]`), or nil; a buffer, like PyTorch's.
    public var weight: Tensor? {
        get { _weight }
        set { _weight = Buffer.adopting(newValue) }
    }
    private var _weight: Buffer?
    /// Targets equal to this value contribute neither loss nor gradient.
    public var ignoreIndex: Int
    public var reduction: Reduction

    public init(weight: Tensor? = nil, ignoreIndex: Int = -100, reduction: Reduction = .mean) {
        _weight = Buffer.adopting(weight)
        self.ignoreIndex = ignoreIndex
        self.reduction = reduction
        super.init()
    }

    public func callAsFunction(_ input: Tensor, targets: Tensor) -> Tensor {
        nllLoss(input, targets: targets, weight: weight, ignoreIndex: ignoreIndex, reduction: reduction)
    }

    public func callAsFunction(_ input: Tensor, _ targets: Tensor) -> Tensor {
        callAsFunction(input, targets: targets)
    }

    /// The checks the loss makes, with PyTorch's messages.
    public func validate(_ input: Tensor, targets: Tensor) throws(UsageError) {
        try validateNLLLoss(input, targets: targets, weight: weight, ignoreIndex: ignoreIndex)
    }

    override public func forward(_ x: Tensor) -> Tensor {
        usageFailure(UsageError("NLLLoss", "forward() missing 1 required positional argument: 'target' (call loss(input, targets: t))"))
    }
}
