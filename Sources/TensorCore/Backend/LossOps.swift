/// How a loss combines its per-element values, like PyTorch's `reduction=` argument.
public enum Reduction: String, Sendable, CaseIterable {
    /// One loss value per sample (per position), in the target's shape.
    case none
    /// The (weighted) average: a 0-d tensor.
    case mean
    /// The sum: a 0-d tensor.
    case sum
}

/// What a class-index loss's forward keeps for its backward.
///
/// ```swift
/// let (loss, saved) = Kernels.nllLoss(logProbs, targets: labels)
/// let g = Kernels.nllLossBackward(Tensor(scalar: Float(1)), input: logProbs, targets: labels, saved: saved)
/// ```
public struct LossSaved: @unchecked Sendable {
    /// Per position log-Σ-exp of the logits (cross entropy; nil for NLL), in a dtype the backend
    /// chooses.
    public let logSumExp: Tensor?
    /// What `.mean` divided by: the summed weights of the counted targets (or the number of
    /// positions for probability targets).
    public let denominator: Double

    public init(logSumExp: Tensor?, denominator: Double) {
        self.logSumExp = logSumExp
        self.denominator = denominator
    }
}

/// Loss kernels: the fused forward of each loss and its backward. Inputs are `(N, C)`, `(C)` or
/// `(N, C, d1, …)` logits or log-probabilities (float32 / float64) with int64 class indices (or,
/// for cross entropy, class probabilities of the input's shape); arguments are validated by the
/// caller. `grad` is the gradient of the reduced loss (0-d) or of the per-position losses (`.none`).
public protocol LossOps {
    /// Cross entropy with class-index targets, a numerically stable log-Σ-exp per position.
    func crossEntropy(_ input: Tensor, targets: Tensor, weight: Tensor?, ignoreIndex: Int, reduction: Reduction,
                      labelSmoothing: Double) -> (loss: Tensor, saved: LossSaved)
    /// The input gradient of ``crossEntropy(_:targets:weight:ignoreIndex:reduction:labelSmoothing:)``.
    func crossEntropyBackward(_ grad: Tensor, input: Tensor, targets: Tensor, weight: Tensor?, ignoreIndex: Int,
                              reduction: Reduction, labelSmoothing: Double, saved: LossSaved) -> Tensor
    /// Cross entropy with class-probability targets (the input's shape and dtype).
    func crossEntropyProbabilities(_ input: Tensor, targets: Tensor, weight: Tensor?, reduction: Reduction,
                                   labelSmoothing: Double) -> (loss: Tensor, saved: LossSaved)
    /// Gradients of ``crossEntropyProbabilities(_:targets:weight:reduction:labelSmoothing:)`` for
    /// the input and the targets.
    func crossEntropyProbabilitiesBackward(_ grad: Tensor, input: Tensor, targets: Tensor, weight: Tensor?,
                                           reduction: Reduction, labelSmoothing: Double,
                                           saved: LossSaved) -> (input: Tensor, targets: Tensor)
    /// Negative log-likelihood `−w[t]·input[t]` per position.
    func nllLoss(_ input: Tensor, targets: Tensor, weight: Tensor?, ignoreIndex: Int, reduction: Reduction) -> (loss: Tensor, saved: LossSaved)
    /// The input gradient of ``nllLoss(_:targets:weight:ignoreIndex:reduction:)``.
    func nllLossBackward(_ grad: Tensor, input: Tensor, targets: Tensor, weight: Tensor?, ignoreIndex: Int,
                         reduction: Reduction, saved: LossSaved) -> Tensor
    /// `(input − target)²` per element (same shape and dtype).
    func mseLoss(_ input: Tensor, _ target: Tensor, reduction: Reduction) -> Tensor
    /// Gradients of ``mseLoss(_:_:reduction:)`` for input and target.
    func mseLossBackward(_ grad: Tensor, _ input: Tensor, _ target: Tensor, reduction: Reduction) -> (input: Tensor, target: Tensor)
    /// `((1 − y)·x − (1 + (posWeight − 1)·y)·logσ(x))·weight` per element; `weight` and `posWeight`
    /// repeat over the input with their element count as period (trailing-dimension broadcasting).
    func binaryCrossEntropyWithLogits(_ input: Tensor, _ target: Tensor, weight: Tensor?, posWeight: Tensor?,
                                      reduction: Reduction) -> Tensor
    /// Gradients of ``binaryCrossEntropyWithLogits(_:_:weight:posWeight:reduction:)`` for input and target.
    func binaryCrossEntropyWithLogitsBackward(_ grad: Tensor, _ input: Tensor, _ target: Tensor, weight: Tensor?,
                                              posWeight: Tensor?, reduction: Reduction) -> (input: Tensor, target: Tensor)
}

extension Kernels {
    /// Cross entropy between logits and class indices (validated), fused log-softmax and NLL; the
    /// mean divides by the summed weights of the targets that are not `ignoreIndex`.
    ///
    /// ```swift
    /// let (loss, saved) = Kernels.crossEntropy(logits, targets: labels)
    /// let g = Kernels.crossEntropyBackward(Tensor(scalar: Float(1)), input: logits, targets: labels, saved: saved)
    /// ```
    public static func crossEntropy(_ input: Tensor, targets: Tensor, weight: Tensor? = nil, ignoreIndex: Int = -100,
                                    reduction: Reduction = .mean, labelSmoothing: Double = 0) -> (loss: Tensor, saved: LossSaved) {
        backend(input, targets, weight).crossEntropy(input, targets: targets, weight: weight, ignoreIndex: ignoreIndex,
                                                     reduction: reduction, labelSmoothing: labelSmoothing)
    }

    /// The input gradient of ``crossEntropy(_:targets:weight:ignoreIndex:reduction:labelSmoothing:)``.
    public static func crossEntropyBackward(_ grad: Tensor, input: Tensor, targets: Tensor, weight: Tensor? = nil,
                                            ignoreIndex: Int = -100, reduction: Reduction = .mean, labelSmoothing: Double = 0,
                                            saved: LossSaved) -> Tensor {
        backend(input, targets, weight, grad).crossEntropyBackward(grad, input: input, targets: targets, weight: weight,
                                                                    ignoreIndex: ignoreIndex, reduction: reduction,
                                                                    labelSmoothing: labelSmoothing, saved: saved)
    }

    /// Cross entropy against class probabilities (targets of the input's shape); the mean divides
    /// by the number of positions.
    public static func crossEntropyProbabilities(_ input: Tensor, targets: Tensor, weight: Tensor? = nil,
                                                 reduction: Reduction = .mean, labelSmoothing: Double = 0) -> (loss: Tensor, saved: LossSaved) {
        backend(input, targets, weight).crossEntropyProbabilities(input, targets: targets, weight: weight, reduction: reduction,
                                                                  labelSmoothing: labelSmoothing)
    }

    /// Gradients of ``crossEntropyProbabilities(_:targets:weight:reduction:labelSmoothing:)``.
    public static func crossEntropyProbabilitiesBackward(_ grad: Tensor, input: Tensor, targets: Tensor, weight: Tensor? = nil,
                                                         reduction: Reduction = .mean, labelSmoothing: Double = 0,
                                                         saved: LossSaved) -> (input: Tensor, targets: Tensor) {
        backend(input, targets, weight, grad).crossEntropyProbabilitiesBackward(grad, input: input, targets: targets, weight: weight,
                                                                                 reduction: reduction, labelSmoothing: labelSmoothing,
                                                                                 saved: saved)
    }

    /// Negative log-likelihood of class indices given log-probabilities (validated).
    public static func nllLoss(_ input: Tensor, targets: Tensor, weight: Tensor? = nil, ignoreIndex: Int = -100,
                               reduction: Reduction = .mean) -> (loss: Tensor, saved: LossSaved) {
        backend(input, targets, weight).nllLoss(input, targets: targets, weight: weight, ignoreIndex: ignoreIndex, reduction: reduction)
    }

    /// The input gradient of ``nllLoss(_:targets:weight:ignoreIndex:reduction:)``.
    public static func nllLossBackward(_ grad: Tensor, input: Tensor, targets: Tensor, weight: Tensor? = nil, ignoreIndex: Int = -100,
                                       reduction: Reduction = .mean, saved: LossSaved) -> Tensor {
        backend(input, targets, weight, grad).nllLossBackward(grad, input: input, targets: targets, weight: weight,
                                                               ignoreIndex: ignoreIndex, reduction: reduction, saved: saved)
    }

    /// Mean squared error `(input − target)²` per element, reduced.
    public static func mseLoss(_ input: Tensor, _ target: Tensor, reduction: Reduction = .mean) -> Tensor {
        backend(input, target).mseLoss(input, target, reduction: reduction)
    }

    /// Gradients of ``mseLoss(_:_:reduction:)``.
    public static func mseLossBackward(_ grad: Tensor, _ input: Tensor, _ target: Tensor,
                                       reduction: Reduction = .mean) -> (input: Tensor, target: Tensor) {
        backend(input, target, grad).mseLossBackward(grad, input, target, reduction: reduction)
    }

    /// Binary cross entropy on logits with a stable `logσ`, reduced.
    public static func binaryCrossEntropyWithLogits(_ input: Tensor, _ target: Tensor, weight: Tensor? = nil,
                                                    posWeight: Tensor? = nil, reduction: Reduction = .mean) -> Tensor {
        backend(input, target, weight, posWeight).binaryCrossEntropyWithLogits(input, target, weight: weight, posWeight: posWeight,
                                                                               reduction: reduction)
    }

    /// Gradients of ``binaryCrossEntropyWithLogits(_:_:weight:posWeight:reduction:)``.
    public static func binaryCrossEntropyWithLogitsBackward(_ grad: Tensor, _ input: Tensor, _ target: Tensor, weight: Tensor? = nil,
                                                            posWeight: Tensor? = nil,
                                                            reduction: Reduction = .mean) -> (input: Tensor, target: Tensor) {
        backend(input, target, weight, posWeight).binaryCrossEntropyWithLogitsBackward(grad, input, target, weight: weight,
                                                                                       posWeight: posWeight, reduction: reduction)
    }
}
