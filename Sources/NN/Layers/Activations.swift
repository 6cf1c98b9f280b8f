import TensorCore
import Autograd

// The activation functions as modules (no parameters), so they can be stages of a Sequential.

/// max(0, x), like `nn.ReLU`; `inplace: true` overwrites the input where autograd allows it
/// (see ``Tensor/relu_()``: always when no gradient is recorded, never on a leaf that requires
/// grad).
///
/// ```swift
/// let net = Sequential { Linear(4, 8); ReLU(); Linear(8, 2) }
/// let block = Sequential { Conv2d(3, 64, 3, padding: 1); BatchNorm2d(64); ReLU(inplace: true) }
/// ```
public final class ReLU: Module {
    /// Whether the result is written into the input's storage (PyTorch's `inplace=True`).
    public let inplace: Bool
    public init(inplace: Bool = false) {
        self.inplace = inplace
        super.init()
    }
    override public func forward(_ x: Tensor) -> Tensor { inplace ? x.relu_() : x.relu() }
    override public var isElementwise: Bool { true }
    override public var extraDescription: String { inplace ? "inplace=True" : "" }
}

/// Gaussian error linear unit, like `nn.GELU(approximate=…)`: exact (erf) by default, or the
/// tanh approximation.
///
/// ```swift
/// GELU(); GELU(approximate: .tanh)
/// ```
public final class GELU: Module {
    public let approximate: GELUApproximation
    public init(approximate: GELUApproximation = .none) {
        self.approximate = approximate
        super.init()
    }
    override public func forward(_ x: Tensor) -> Tensor { x.gelu(approximate: approximate) }
    override public var isElementwise: Bool { true }
    override public var extraDescription: String { "approximate='\(approximate == .tanh ? "tanh" : "none")'" }
}

/// Scaled ELU with the self-normalizing constants, like `nn.SELU`.
public final class SELU: Module {
    override public init() { super.init() }
    override public func forward(_ x: Tensor) -> Tensor { x.selu() }
    override public var isElementwise: Bool { true }
}

/// x for x > 0, α(eˣ − 1) otherwise, like `nn.ELU(alpha=…)`.
public final class ELU: Module {
    public let alpha: Double
    public init(alpha: Double = 1) {
        self.alpha = alpha
        super.init()
    }
    override public func forward(_ x: Tensor) -> Tensor { x.elu(alpha: alpha) }
    override public var isElementwise: Bool { true }
    override public var extraDescription: String { "alpha=\(PyRepr.float(alpha))" }
}

/// 1 / (1 + e⁻ˣ), like `nn.Sigmoid`.
public final class Sigmoid: Module {
    override public init() { super.init() }
    override public func forward(_ x: Tensor) -> Tensor { x.sigmoid() }
    override public var isElementwise: Bool { true }
}

/// Hyperbolic tangent, like `nn.Tanh`.
public final class Tanh: Module {
    override public init() { super.init() }
    override public func forward(_ x: Tensor) -> Tensor { x.tanh() }
    override public var isElementwise: Bool { true }
}

/// x · sigmoid(x), like `nn.SiLU` (Swish): EfficientNet's and YOLO's activation. `inplace: true` as
/// in ``ReLU``.
///
/// ```swift
/// let block = Sequential { Conv2d(16, 32, 3, padding: 1, bias: false); BatchNorm2d(32); SiLU(inplace: true) }
/// ```
public final class SiLU: Module {
    /// Whether the result is written into the input's storage (PyTorch's `inplace=True`).
    public let inplace: Bool
    public init(inplace: Bool = false) {
        self.inplace = inplace
        super.init()
    }
    override public func forward(_ x: Tensor) -> Tensor { inplace ? x.silu_() : x.silu() }
    override public var isElementwise: Bool { true }
    override public var extraDescription: String { inplace ? "inplace=True" : "" }
}

/// x for x > 0, `negativeSlope`·x otherwise, like `nn.LeakyReLU(negative_slope=…)`.
///
/// ```swift
/// LeakyReLU(); LeakyReLU(negativeSlope: 0.2, inplace: true)
/// ```
public final class LeakyReLU: Module {
    public let negativeSlope: Double
    /// Whether the result is written into the input's storage (PyTorch's `inplace=True`).
    public let inplace: Bool
    public init(negativeSlope: Double = 0.01, inplace: Bool = false) {
        self.negativeSlope = negativeSlope
        self.inplace = inplace
        super.init()
    }
    override public func forward(_ x: Tensor) -> Tensor {
        inplace ? x.leakyReLU_(negativeSlope: negativeSlope) : x.leakyReLU(negativeSlope: negativeSlope)
    }
    override public var isElementwise: Bool { true }
    override public var extraDescription: String { "negative_slope=\(PyRepr.float(negativeSlope))" + (inplace ? ", inplace=True" : "") }
}

/// x clamped to `[minVal, maxVal]`, like `nn.Hardtanh(min_val=…, max_val=…)`: no gradient at the
/// bounds themselves.
///
/// ```swift
/// Hardtanh(); Hardtanh(minVal: -2, maxVal: 2)
/// ```
public final class Hardtanh: Module {
    public let minVal: Double
    public let maxVal: Double
    /// Whether the result is written into the input's storage (PyTorch's `inplace=True`).
    public let inplace: Bool
    public init(minVal: Double = -1, maxVal: Double = 1, inplace: Bool = false) {
        usageCheck(maxVal > minVal, "Hardtanh", "max_val (\(PyRepr.float(maxVal))) must be greater than min_val (\(PyRepr.float(minVal)))")
        self.minVal = minVal
        self.maxVal = maxVal
        self.inplace = inplace
        super.init()
    }
    override public func forward(_ x: Tensor) -> Tensor {
        inplace ? x.hardtanh_(min: minVal, max: maxVal) : x.hardtanh(min: minVal, max: maxVal)
    }
    override public var isElementwise: Bool { true }
    override public var extraDescription: String {
        "min_val=\(PyRepr.float(minVal)), max_val=\(PyRepr.float(maxVal))" + (inplace ? ", inplace=True" : "")
    }
}

/// min(max(x, 0), 6), like `nn.ReLU6`: MobileNet's activation (``Hardtanh`` on `[0, 6]`).
///
/// ```swift
/// let block = Sequential { Conv2d(32, 32, 3, padding: 1, groups: 32, bias: false); BatchNorm2d(32); ReLU6(inplace: true) }
/// ```
public final class ReLU6: Module {
    /// Whether the result is written into the input's storage (PyTorch's `inplace=True`).
    public let inplace: Bool
    public init(inplace: Bool = false) {
        self.inplace = inplace
        super.init()
    }
    override public func forward(_ x: Tensor) -> Tensor { inplace ? x.hardtanh_(min: 0, max: 6) : x.relu6() }
    override public var isElementwise: Bool { true }
    override public var extraDescription: String { inplace ? "inplace=True" : "" }
}

/// x · relu6(x + 3) / 6, like `nn.Hardswish`: MobileNetV3's activation. `inplace: true` as in
/// ``ReLU``.
public final class Hardswish: Module {
    /// Whether the result is written into the input's storage (PyTorch's `inplace=True`).
    public let inplace: Bool
    public init(inplace: Bool = false) {
        self.inplace = inplace
        super.init()
    }
    override public func forward(_ x: Tensor) -> Tensor { inplace ? x.hardswish_() : x.hardswish() }
    override public var isElementwise: Bool { true }
}

/// relu6(x + 3) / 6, like `nn.Hardsigmoid`: MobileNetV3's squeeze-and-excitation gate.
/// `inplace: true` as in ``ReLU``.
public final class Hardsigmoid: Module {
    /// Whether the result is written into the input's storage (PyTorch's `inplace=True`).
    public let inplace: Bool
    public init(inplace: Bool = false) {
        self.inplace = inplace
        super.init()
    }
    override public func forward(_ x: Tensor) -> Tensor { inplace ? x.hardsigmoid_() : x.hardsigmoid() }
    override public var isElementwise: Bool { true }
}

/// Softmax along `dim`, like `nn.Softmax(dim=…)`.
///
/// ```swift
/// let probs = Softmax(dim: 1)(logits)
/// ```
public final class Softmax: Module {
    public let dim: Int
    public init(dim: Int) {
        self.dim = dim
        super.init()
    }
    override public func forward(_ x: Tensor) -> Tensor { x.softmax(dim: dim) }
    override public var extraDescription: String { "dim=\(dim)" }
}

/// log(softmax(x)) along `dim`, computed stably, like `nn.LogSoftmax(dim=…)`.
public final class LogSoftmax: Module {
    public let dim: Int
    public init(dim: Int) {
        self.dim = dim
        super.init()
    }
    override public func forward(_ x: Tensor) -> Tensor { x.logSoftmax(dim: dim) }
    override public var extraDescription: String { "dim=\(dim)" }
}
