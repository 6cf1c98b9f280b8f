import Foundation
import TensorCore
import Autograd

// MARK: - Checks shared by the class-index losses

/// The class dimension's size of `(N, C, d1, …)`, `(N, C)` or `(C)` input.
private func classCount(_ shape: [Int]) -> Int { shape.count == 1 ? shape[0] : shape[1] }

/// Checks input/target/weight of `cross_entropy` / `nll_loss` with class-index targets.
func validateClassTargets(_ source: String, input: Tensor, targets: Tensor, weight: Tensor?,
                          ignoreIndex: Int) throws(UsageError) {
    guard input.dtype.isFloatingPoint else {
        throw UsageError(source, "expected a floating point input, got \(input.dtype)")
    }
    guard input.rank >= 1 else { throw UsageError(source, "Expected 1 or more dimensions (got 0)") }
    guard targets.dtype == .int64 else {
        throw UsageError(source, "expected scalar type Long but found \(targets.dtype)")
    }
    if input.rank == 1 {
        guard targets.rank == 0 else {
            throw UsageError(source, "Expected target to be 0D when input is 1D, but got target.dim =\(targets.rank)")
        }
    } else {
        guard targets.rank >= 1, targets.shape[0] == input.shape[0] else {
            throw UsageError(source, "Expected input batch_size (\(input.shape[0])) to match target batch_size (\(targets.rank == 0 ? 1 : targets.shape[0])).")
        }
        let want = [input.shape[0]] + input.shape.dropFirst(2)
        guard targets.shape == want else {
            if input.rank == 2 {
                throw UsageError(source, "0D or 1D target tensor expected, multi-target not supported")
            }
            throw UsageError(source, "Expected target size \(shapeString(want)), got \(shapeString(targets.shape))")
        }
    }
    let c = classCount(input.shape)
    if let weight {
        guard weight.rank == 1, weight.count == c else {
            throw UsageError(source, "weight tensor should be defined either for all \(c) classes or no classes but got weight tensor of shape: \(shapeString(weight.shape))")
        }
        guard weight.dtype == input.dtype else {
            throw UsageError(source, "expected scalar type \(input.dtype) but found \(weight.dtype) for weight")
        }
    }
    if let t = Kernels.firstIndexOutOfRange(targets, bound: c, ignoring: Int64(ignoreIndex)) {
        throw UsageError(source, "Target \(t) is out of bounds.")
    }
}

// MARK: - Cross entropy

/// Cross entropy between logits and class indices (or class probabilities), like
/// `torch.nn.functional.cross_entropy`: a fused, numerically stable log-sum-exp forward and one
/// autograd node for the backward.
///
/// `input` is `(N, C)`, `(C)` or `(N, C, d1, …)`; `targets` holds int64 class indices of shape
/// `(N)`, `()` or `(N, d1, …)` — or, with the input's shape and a float dtype, class probabilities.
/// With `labelSmoothing` ε the loss is PyTorch's `(1 − ε)·nll + ε/C·Σ_c w_c·(−log p_c)`, where
/// the mean divides both parts by the summed weights of the non-ignored targets.
///
/// ```swift
/// let logits = Tensor([2, 0.5, -1, 0.1, 0.2, 3] as [Float], shape: [2, 3])
/// let loss = crossEntropy(logits, targets: Tensor([0, 2] as [Int64], shape: [2]), labelSmoothing: 0.1)
/// ```
public func crossEntropy(_ input: Tensor, targets: Tensor, weight: Tensor? = nil, ignoreIndex: Int = -100,
                         reduction: Reduction = .mean, labelSmoothing: Double = 0) -> Tensor {
    do {
        try validateCrossEntropy(input, targets: targets, weight: weight, ignoreIndex: ignoreIndex,
                                 labelSmoothing: labelSmoothing)
    } catch { usageFailure(error) }
    if targets.dtype.isFloatingPoint && targets.shape == input.shape {
        let (result, saved) = Kernels.crossEntropyProbabilities(input, targets: targets, weight: weight, reduction: reduction,
                                                                labelSmoothing: labelSmoothing)
        guard Autograd.isRecording(input, targets) else { return result }
        return Autograd.record("cross_entropy", output: result, inputs: [input, targets]) { g in
            let r = Kernels.crossEntropyProbabilitiesBackward(g, input: input, targets: targets, weight: weight,
                                                              reduction: reduction, labelSmoothing: labelSmoothing, saved: saved)
            return [r.input, r.targets]
        }
    }
    let (result, saved) = Kernels.crossEntropy(input, targets: targets, weight: weight, ignoreIndex: ignoreIndex,
                                               reduction: reduction, labelSmoothing: labelSmoothing)
    guard Autograd.isRecording(input) else { return result }
    return Autograd.record("cross_entropy", output: result, inputs: [input]) { g in
        [Kernels.crossEntropyBackward(g, input: input, targets: targets, weight: weight, ignoreIndex: ignoreIndex,
                                      reduction: reduction, labelSmoothing: labelSmoothing, saved: saved)]
    }
}

/// The checks ``crossEntropy(_:targets:weight:ignoreIndex:reduction:labelSmoothing:)`` makes, with
/// PyTorch's messages.
public func validateCrossEntropy(_ input: Tensor, targets: Tensor, weight: Tensor? = nil, ignoreIndex: Int = -100,
                                 labelSmoothing: Double = 0) throws(UsageError) {
    let source = "cross_entropy"
    guard labelSmoothing >= 0 && labelSmoothing <= 1 else {
        throw UsageError(source, "label_smoothing must be between 0.0 and 1.0. Got: \(labelSmoothing)")
    }
    if targets.shape == input.shape && input.rank >= 1 && targets.dtype != .int64 {
        guard targets.dtype.isFloatingPoint else {
            throw UsageError(source, "Expected floating point type for target with class probabilities, got \(targets.dtype)")
        }
        guard ignoreIndex < 0 else { throw UsageError(source, "ignore_index is not supported for floating point target") }
        guard input.dtype == targets.dtype else {
            throw UsageError(source, "expected scalar type \(input.dtype) but found \(targets.dtype)")
        }
        let c = classCount(input.shape)
        if let weight, weight.rank != 1 || weight.count != c {
            throw UsageError(source, "weight tensor should be defined either for all \(c) classes or no classes but got weight tensor of shape: \(shapeString(weight.shape))")
        }
        if let weight, weight.dtype != input.dtype {
            throw UsageError(source, "expected scalar type \(input.dtype) but found \(weight.dtype) for weight")
        }
        return
    }
    try validateClassTargets(source, input: input, targets: targets, weight: weight, ignoreIndex: ignoreIndex)
}

// MARK: - NLL

/// Negative log-likelihood of class indices given log-probabilities, like
/// `torch.nn.functional.nll_loss`: `−w[t]·input[t]` per position; the mean divides by the summed
/// weights of the non-ignored targets.
///
/// ```swift
/// let loss = nllLoss(logits.logSoftmax(dim: 1), targets: labels)
/// ```
public func nllLoss(_ input: Tensor, targets: Tensor, weight: Tensor? = nil, ignoreIndex: Int = -100,
                    reduction: Reduction = .mean) -> Tensor {
    do {
        try validateNLLLoss(input, targets: targets, weight: weight, ignoreIndex: ignoreIndex)
    } catch { usageFailure(error) }
    let (result, saved) = Kernels.nllLoss(input, targets: targets, weight: weight, ignoreIndex: ignoreIndex,
                                          reduction: reduction)
    guard Autograd.isRecording(input) else { return result }
    return Autograd.record("nll_loss", output: result, inputs: [input]) { g in
        [Kernels.nllLossBackward(g, input: input, targets: targets, weight: weight, ignoreIndex: ignoreIndex,
                                 reduction: reduction, saved: saved)]
    }
}

/// The checks ``nllLoss(_:targets:weight:ignoreIndex:reduction:)`` makes, with PyTorch's messages.
public func validateNLLLoss(_ input: Tensor, targets: Tensor, weight: Tensor? = nil, ignoreIndex: Int = -100) throws(UsageError) {
    try validateClassTargets("nll_loss", input: input, targets: targets, weight: weight, ignoreIndex: ignoreIndex)
}

// MARK: - MSE

/// Mean squared error, like `torch.nn.functional.mse_loss`: `(input − target)²` per element.
/// Differentiable with respect to both arguments.
///
/// ```swift
/// let loss = mseLoss(prediction, target)       // 0-d tensor
/// ```
public func mseLoss(_ input: Tensor, _ target: Tensor, reduction: Reduction = .mean) -> Tensor {
    do { try validateMSELoss(input, target) } catch { usageFailure(error) }
    let result = Kernels.mseLoss(input, target, reduction: reduction)
    guard Autograd.isRecording(input, target) else { return result }
    return Autograd.record("mse_loss", output: result, inputs: [input, target]) { g in
        let r = Kernels.mseLossBackward(g, input, target, reduction: reduction)
        return [r.input, r.target]
    }
}

/// The checks ``mseLoss(_:_:reduction:)`` makes.
public func validateMSELoss(_ input: Tensor, _ target: Tensor) throws(UsageError) {
    guard input.dtype.isFloatingPoint, input.dtype == target.dtype else {
        throw UsageError("mse_loss", "Found dtype \(target.dtype) but expected \(input.dtype)")
    }
    guard input.shape == target.shape else {
        throw UsageError("mse_loss", "input shape \(shapeString(input.shape)) and target shape \(shapeString(target.shape)) must match (broadcasting a target of another size is not supported)")
    }
}

// MARK: - BCE with logits

/// Binary cross entropy on logits, like `torch.nn.functional.binary_cross_entropy_with_logits`:
/// `(1 − y)·x − (1 + (posWeight − 1)·y)·logσ(x)`, times `weight`, with a stable `logσ`.
///
/// `weight` and `posWeight` have the input's shape or a trailing part of it (e.g. `[C]` for a
/// `[N, C]` input, broadcast over the leading dimensions). Differentiable with respect to `input`
/// and `target`.
///
/// ```swift
/// let loss = binaryCrossEntropyWithLogits(logits, labels, posWeight: Tensor([3] as [Float], shape: [1]))
/// ```
public func binaryCrossEntropyWithLogits(_ input: Tensor, _ target: Tensor, weight: Tensor? = nil,
                                         posWeight: Tensor? = nil, reduction: Reduction = .mean) -> Tensor {
    do { try validateBinaryCrossEntropyWithLogits(input, target, weight: weight, posWeight: posWeight) }
    catch { usageFailure(error) }
    let result = Kernels.binaryCrossEntropyWithLogits(input, target, weight: weight, posWeight: posWeight, reduction: reduction)
    guard Autograd.isRecording(input, target) else { return result }
    return Autograd.record("binary_cross_entropy_with_logits", output: result, inputs: [input, target]) { g in
        let r = Kernels.binaryCrossEntropyWithLogitsBackward(g, input, target, weight: weight, posWeight: posWeight,
                                                            reduction: reduction)
        return [r.input, r.target]
    }
}

/// The checks ``binaryCrossEntropyWithLogits(_:_:weight:posWeight:reduction:)`` makes.
public func validateBinaryCrossEntropyWithLogits(_ input: Tensor, _ target: Tensor, weight: Tensor? = nil,
                                                 posWeight: Tensor? = nil) throws(UsageError) {
    let source = "binary_cross_entropy_with_logits"
    guard input.dtype.isFloatingPoint, target.dtype == input.dtype else {
        throw UsageError(source, "Found dtype \(target.dtype) but expected \(input.dtype)")
    }
    guard target.shape == input.shape else {
        throw UsageError(source, "Target size (\(shapeString(target.shape))) must be the same as input size (\(shapeString(input.shape)))")
    }
    for (name, t) in [("weight", weight), ("pos_weight", posWeight)] {
        guard let t else { continue }
        guard t.dtype == input.dtype else {
            throw UsageError(source, "expected scalar type \(input.dtype) but found \(t.dtype) for \(name)")
        }
        // Broadcastable as a trailing block: shape (after leading 1s) is a suffix of the input's.
        let trimmed = Array(t.shape.drop { $0 == 1 })
        let ok = trimmed.count <= input.rank && Array(input.shape.suffix(trimmed.count)) == trimmed
        guard ok || t.count == 1 else {
            throw UsageError(source, "\(name) of shape \(shapeString(t.shape)) cannot be broadcast to the input's shape \(shapeString(input.shape)) (only trailing-dimension broadcasting is supported)")
        }
    }
}
