import Foundation
import TensorCore
import Autograd

/// Weight initialisations, like `torch.nn.init`. Every function fills the tensor in place
/// (without recording a graph) and returns it.
///
/// ```swift
/// let lin = Linear(128, 64)
/// Init.kaimingNormal(lin.weight, mode: .fanOut, nonlinearity: .relu)
/// Init.zeros(lin.bias!)
/// Init.xavierUniform(w, gain: Init.gain(.tanh), generator: Generator(seed: 1))
/// ```
public enum Init {
    /// Which fan keeps the variance: of the activations (`fanIn`) or of the gradients (`fanOut`).
    public enum FanMode: Sendable { case fanIn, fanOut }

    /// The nonlinearity a layer is followed by, for ``gain(_:param:)``.
    public enum Nonlinearity: Sendable {
        case linear, identity, conv, sigmoid, tanh, relu, leakyRelu, selu
    }

    /// PyTorch's `calculate_gain`: 1 for linear/conv/sigmoid, 5/3 for tanh, √2 for ReLU,
    /// √(2 / (1 + slope²)) for leaky ReLU (slope `param`, default 0.01), 3/4 for SELU.
    public static func gain(_ nonlinearity: Nonlinearity, param: Double? = nil) -> Double {
        switch nonlinearity {
        case .linear, .identity, .conv, .sigmoid: return 1
        case .tanh: return 5.0 / 3
        case .relu: return 2.0.squareRoot()
        case .leakyRelu: let s = param ?? 0.01; return (2 / (1 + s * s)).squareRoot()
        case .selu: return 0.75
        }
    }

    /// PyTorch's `_calculate_fan_in_and_fan_out`: for a weight `[out, in, k…]`,
    /// fanIn = in·∏k and fanOut = out·∏k.
    public static func fans(_ t: Tensor) -> (fanIn: Int, fanOut: Int) {
        usageCheck(t.rank >= 2, "init", "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions")
        let receptive = t.shape.dropFirst(2).reduce(1, *)
        return (t.shape[1] * receptive, t.shape[0] * receptive)
    }

    /// Fills with samples of U(low, high).
    @discardableResult
    public static func uniform(_ t: Tensor, low: Double = 0, high: Double = 1, generator: Generator? = nil) -> Tensor {
        usageCheck(t.dtype.isFloatingPoint, "init", "expected a floating-point tensor, got \(t.dtype)")
        t.copyData(from: Tensor.uniform(t.shape, low: low, high: high, dtype: t.dtype, generator: generator))
        return t
    }

    /// Fills with samples of N(mean, std²).
    @discardableResult
    public static func normal(_ t: Tensor, mean: Double = 0, std: Double = 1, generator: Generator? = nil) -> Tensor {
        usageCheck(t.dtype.isFloatingPoint, "init", "expected a floating-point tensor, got \(t.dtype)")
        t.copyData(from: Tensor.randn(t.shape, mean: mean, std: std, dtype: t.dtype, generator: generator))
        return t
    }

    /// Fills with `value`.
    @discardableResult
    public static func constant(_ t: Tensor, _ value: Double) -> Tensor {
        t.fill(value)
        return t
    }

    /// Fills with zeros.
    @discardableResult
    public static func zeros(_ t: Tensor) -> Tensor { constant(t, 0) }

    /// Fills with ones.
    @discardableResult
    public static func ones(_ t: Tensor) -> Tensor { constant(t, 1) }

    /// He/Kaiming uniform: U(−b, b) with b = gain·√(3 / fan). With the defaults of
    /// `nn.Linear` (`a: 5.squareRoot()`) this is U(±1/√fanIn).
    @discardableResult
    public static func kaimingUniform(_ t: Tensor, a: Double = 0, mode: FanMode = .fanIn,
                                      nonlinearity: Nonlinearity = .leakyRelu, generator: Generator? = nil) -> Tensor {
        let std = kaimingStd(t, a: a, mode: mode, nonlinearity: nonlinearity)
        let bound = 3.0.squareRoot() * std
        return uniform(t, low: -bound, high: bound, generator: generator)
    }

    /// He/Kaiming normal: N(0, (gain / √fan)²).
    @discardableResult
    public static func kaimingNormal(_ t: Tensor, a: Double = 0, mode: FanMode = .fanIn,
                                     nonlinearity: Nonlinearity = .leakyRelu, generator: Generator? = nil) -> Tensor {
        normal(t, mean: 0, std: kaimingStd(t, a: a, mode: mode, nonlinearity: nonlinearity), generator: generator)
    }

    /// Glorot/Xavier uniform: U(−b, b) with b = gain·√(6 / (fanIn + fanOut)).
    @discardableResult
    public static func xavierUniform(_ t: Tensor, gain: Double = 1, generator: Generator? = nil) -> Tensor {
        let (fi, fo) = fans(t)
        let bound = gain * (6.0 / Double(fi + fo)).squareRoot()
        return uniform(t, low: -bound, high: bound, generator: generator)
    }

    /// Glorot/Xavier normal: N(0, gain²·2 / (fanIn + fanOut)).
    @discardableResult
    public static func xavierNormal(_ t: Tensor, gain: Double = 1, generator: Generator? = nil) -> Tensor {
        let (fi, fo) = fans(t)
        return normal(t, mean: 0, std: gain * (2.0 / Double(fi + fo)).squareRoot(), generator: generator)
    }

    private static func kaimingStd(_ t: Tensor, a: Double, mode: FanMode, nonlinearity: Nonlinearity) -> Double {
        let (fi, fo) = fans(t)
        let fan = mode == .fanIn ? fi : fo
        usageCheck(fan > 0, "init", "Initializing zero-element tensors is a no-op")
        return gain(nonlinearity, param: a) / Double(fan).squareRoot()
    }
}
