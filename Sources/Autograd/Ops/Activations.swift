import TensorCore

/// Which formula `gelu` uses: the exact one with erf, or PyTorch's tanh approximation.
public enum GELUApproximation: String, Sendable {
    case none
    case tanh
}

extension Tensor {
    /// Elementwise absolute value (gradient 0 at 0, like PyTorch).
    public func abs() -> Tensor { unaryOp(.abs) }
    /// Elementwise `e^x`.
    ///
    /// ```swift
    /// Tensor([0, 1] as [Float]).exp()   // [1, 2.7183]
    /// ```
    public func exp() -> Tensor { unaryOp(.exp, needsOutput: true) }
    /// Elementwise natural logarithm.
    public func log() -> Tensor { unaryOp(.log) }
    /// Elementwise square root.
    public func sqrt() -> Tensor { unaryOp(.sqrt, needsOutput: true) }
    /// Elementwise `1 / sqrt(x)`.
    public func rsqrt() -> Tensor { unaryOp(.rsqrt, needsOutput: true) }
    /// Elementwise clamp into `[min, max]` (either bound may be nil). The gradient flows where
    /// `min ≤ x ≤ max`. With `min > max` every element becomes `max` and no gradient flows, as in
    /// PyTorch (the kernel applies `min` first, then `max`).
    ///
    /// ```swift
    /// x.clamp(min: 0, max: 6)     // ReLU6
    /// ```
    public func clamp(min: Double? = nil, max: Double? = nil) -> Tensor {
        unaryOp(.clamp(min: min, max: max))
    }
    /// `max(x, 0)` elementwise.
    public func relu() -> Tensor { unaryOp(.relu) }
    /// Gaussian error linear unit: `x·Φ(x)` (`.none`) or its tanh approximation (`.tanh`).
    ///
    /// ```swift
    /// x.gelu(); x.gelu(approximate: .tanh)
    /// ```
    public func gelu(approximate: GELUApproximation = .none) -> Tensor {
        unaryOp(approximate == .none ? .gelu : .geluTanh)
    }
    /// Scaled ELU with the self-normalising constants (α ≈ 1.6733, scale ≈ 1.0507).
    public func selu() -> Tensor { unaryOp(.selu) }
    /// `x` for `x > 0`, else `α·(e^x − 1)`.
    public func elu(alpha: Double = 1) -> Tensor { unaryOp(.elu(alpha: alpha)) }
    /// Logistic sigmoid `1 / (1 + e^-x)`, computed stably for large |x|.
    public func sigmoid() -> Tensor { unaryOp(.sigmoid, needsOutput: true) }
    /// Hyperbolic tangent.
    public func tanh() -> Tensor { unaryOp(.tanh, needsOutput: true) }
    /// `x · sigmoid(x)`, like `F.silu` (also called Swish).
    ///
    /// ```swift
    /// Tensor([-1, 0, 2] as [Float]).silu()   // [-0.2689, 0, 1.7616]
    /// ```
    public func silu() -> Tensor { unaryOp(.silu) }
    /// `x` for `x > 0`, else `negativeSlope · x`, like `F.leaky_relu`.
    public func leakyReLU(negativeSlope: Double = 0.01) -> Tensor { unaryOp(.leakyReLU(negativeSlope: negativeSlope)) }
    /// `x` clamped to `[min, max]`, like `F.hardtanh`. Unlike ``clamp(min:max:)``, no gradient flows
    /// at the bounds themselves (PyTorch's rule).
    ///
    /// ```swift
    /// x.hardtanh(min: 0, max: 6)   // ReLU6
    /// ```
    public func hardtanh(min: Double = -1, max: Double = 1) -> Tensor { unaryOp(.hardtanh(min: min, max: max)) }
    /// `min(max(x, 0), 6)`, like `F.relu6`: ``hardtanh(min:max:)`` on `[0, 6]`.
    public func relu6() -> Tensor { hardtanh(min: 0, max: 6) }
    /// `x · relu6(x + 3) / 6`, like `F.hardswish`.
    public func hardswish() -> Tensor { unaryOp(.hardswish) }
    /// `relu6(x + 3) / 6`, like `F.hardsigmoid`.
    public func hardsigmoid() -> Tensor { unaryOp(.hardsigmoid) }
}
