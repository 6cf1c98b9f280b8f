import TensorCore
import Autograd

/// Cross entropy between logits and class indices (or class probabilities), like
/// `torch.nn.CrossEntropyLoss`: log-softmax and negative log-likelihood fused into one numerically
/// stable node.
///
/// `weight` (one value per class) is a buffer, so it appears in the state dict as `weight` when
/// set. With `labelSmoothing` ε the loss is `(1 − ε)·nll + ε/C·Σ_c w_c·(−log p_c)`; the mean
/// divides by the summed weights of the targets that are not `ignoreIndex`.
///
/// ```swift
/// let criterion = CrossEntropyLoss(labelSmoothing: 0.1)
/// let loss = criterion(model(x), targets: labels)    // labels: int64 tensor of shape [N]
/// loss.backward()
/// ```
public final class CrossEntropyLoss: Module {
    /// Per-class rescaling weight (shape `[C]`), or nil.
    public var weight: Tensor? {
        get { _weight }
        set { _weight = Buffer.adopting(newValue) }
    }
    private var _weight: Buffer?
    /// Targets equal to this value contribute neither loss nor gradient.
    public var ignoreIndex: Int
    public var reduction: Reduction
    /// ε in [0, 1]: the target distribution becomes (1 − ε)·one-hot + ε/C.
    public var labelSmoothing: Double

    public init(weight: Tensor? = nil, ignoreIndex: Int = -100, reduction: Reduction = .mean,
                labelSmoothing: Double = 0) {
        _weight = Buffer.adopting(weight)
        self.ignoreIndex = ignoreIndex
        self.reduction = reduction
        self.labelSmoothing = labelSmoothing
        super.init()
    }

    /// The loss of `input` (`[N, C]`, `[C]` or `[N, C, d1, …]`) against `targets`.
    public func callAsFunction(_ input: Tensor, targets: Tensor) -> Tensor {
        crossEntropy(input, targets: targets, weight: weight, ignoreIndex: ignoreIndex,
                     reduction: reduction, labelSmoothing: labelSmoothing)
    }

    /// Same as ``callAsFunction(_:targets:)``, for `criterion(outputs, labels)` ported as is.
    public func callAsFunction(_ input: Tensor, _ targets: Tensor) -> Tensor {
        callAsFunction(input, targets: targets)
    }

    /// The checks the loss makes, with PyTorch's messages.
    public func validate(_ input: Tensor, targets: Tensor) throws(UsageError) {
        try validateCrossEntropy(input, targets: targets, weight: weight, ignoreIndex: ignoreIndex,
                                 labelSmoothing: labelSmoothing)
    }

    override public func forward(_ x: Tensor) -> Tensor {
        usageFailure(UsageError("CrossEntropyLoss", "forward() missing 1 required positional argument: 'target' (call loss(input, targets: t))"))
    }
}
