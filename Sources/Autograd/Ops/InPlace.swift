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
    public func relu_() -> Tensor { applyInPlace(.relu, "relu_") }

    /// ``silu()`` in place, with ``relu_()``'s rules (PyTorch's `F.silu(x, inplace=True)`).
    public func silu_() -> Tensor { applyInPlace(.silu, "silu_") }
    /// ``leakyReLU(negativeSlope:)`` in place, with ``relu_()``'s rules (PyTorch's `leaky_relu_`).
    public func leakyReLU_(negativeSlope: Double = 0.01) -> Tensor {
        applyInPlace(.leakyReLU(negativeSlope: negativeSlope), "leaky_relu_")
    }
    /// ``hardtanh(min:max:)`` in place, with ``relu_()``'s rules (PyTorch's `hardtanh_`).
    public func hardtanh_(min: Double = -1, max: Double = 1) -> Tensor { applyInPlace(.hardtanh(min: min, max: max), "hardtanh_") }
    /// ``hardswish()`` in place, with ``relu_()``'s rules (PyTorch's `F.hardswish(x, inplace=True)`).
    public func hardswish_() -> Tensor { applyInPlace(.hardswish, "hardswish_") }
    /// ``hardsigmoid()`` in place, with ``relu_()``'s rules (PyTorch's `F.hardsigmoid(x, inplace=True)`).
    public func hardsigmoid_() -> Tensor { applyInPlace(.hardsigmoid, "hardsigmoid_") }

    /// `op` written into this tensor's storage where autograd allows it (see ``relu_()``).
    private func applyInPlace(_ op: UnaryOp, _ name: String) -> Tensor {
        guard needsGradient else {
            copyData(from: Kernels.unary(op, self))
            return self
        }
        usageCheck(!isLeaf, name, "a leaf Variable that requires grad is being used in an in-place operation.")
        return unaryOp(op)
    }
}
