import TensorCore
import Autograd

/// Sigmoid plus binary cross entropy in one stable step, like `torch.nn.BCEWithLogitsLoss`:
/// `(1 − y)·x − (1 + (posWeight − 1)·y)·logσ(x)` per element, times `weight`.
///
/// `weight` and `posWeight` are buffers (`weight`, `pos_weight` in the state dict) with the
/// input's shape or a trailing part of it, e.g. `[C]` for `[N, C]` logits.
///
/// ```swift
/// let criterion = BCEWithLogitsLoss(posWeight: Tensor([3] as [Float], shape: [1]))
/// let loss = criterion(logits, labels)          // labels: float 0/1 (or soft) targets
/// ```
public final class BCEWithLogitsLoss: Module {
    public var weight: Tensor? {
        get { _weight }
        set { _weight = Buffer.adopting(newValue) }
    }
    private var _weight: Buffer?
    /// Weight of the positive term (y = 1) per class: > 1 raises recall.
    public var posWeight: Tensor? {
        get { _posWeight }
        set { _posWeight = Buffer.adopting(newValue) }
    }
    private var _posWeight: Buffer?
    public var reduction: Reduction

    public init(weight: Tensor? = nil, reduction: Reduction = .mean, posWeight: Tensor? = nil) {
        _weight = Buffer.adopting(weight)
        _posWeight = Buffer.adopting(posWeight)
        self.reduction = reduction
        super.init()
    }

    public func callAsFunction(_ input: Tensor, _ target: Tensor) -> Tensor {
        binaryCrossEntropyWithLogits(input, target, weight: weight, posWeight: posWeight, reduction: reduction)
    }

    /// The checks the loss makes.
    public func validate(_ input: Tensor, _ target: Tensor) throws(UsageError) {
        try validateBinaryCrossEntropyWithLogits(input, target, weight: weight, posWeight: posWeight)
    }

    override public func forward(_ x: Tensor) -> Tensor {
        usageFailure(UsageError("BCEWithLogitsLoss", "forward() missing 1 required positional argument: 'target' (call loss(input, target))"))
    }
}
