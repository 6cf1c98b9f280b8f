import TensorCore

extension Tensor {
    /// max(0, x) written into this tensor's own storage, like PyTorch's `relu_()` /
    /// `F.relu(x, inplace=True)`; returns the tensor holding the result.
    ///
    /// In place where autograd allows it, as in PyTorch:
    /// - when nothing is recorded (`withNoGrad`, `inferenceMode`, or no input requires grad), the
    ///   values are overwritten and `self` is returned;
    /// - a leaf that requires grad is refused with PyTorch's message (its values are the
    ///   gradient's reference point);
    /// - on an intermediate result of a recorded graph, PyTorch overwrites the values and detects
    ///   later, through version counters, whether backward needed them. SwiftNN's tensors carry no
    ///   version counters, so it cannot tell, and it keeps the values: the result is computed out
    ///   of place (same values and gradients as PyTorch wherever PyTorch succeeds, without
    ///   PyTorch's memory saving and without changing `self`).
    ///
    /// ```swift
    /// let y = withNoGrad { features(x).relu_() }   // y === the tensor features(x) returned
    /// ```
    public func relu_() -> Tensor {
        guard needsGradient else {
            copyData(from: Kernels.unary(.relu, self))
            return self
        }
        usageCheck(!isLeaf, "relu_", "a leaf Variable that requires grad is being used in an in-place operation.")
        return relu()
    }
}
