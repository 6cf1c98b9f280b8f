/// Elementwise functions as types rather than closures, for the cheap unary ops and gradients.
///
/// Why: a closure handed to a helper and captured by a parallel task's body is called through a
/// pointer once per element, so the loop is not vectorised. On one thread the task body is inlined
/// and the closure with it, which hid the cost: `relu` ran in 0.5 ms on one thread and 3.0 ms on two
/// (4M floats), and ReLU's backward 3× slower on two threads than on one in a ResNet step. Generic
/// code specialised on one of these types calls it directly, whatever the thread count.
protocol ElementFunction {
    associatedtype Value
    func callAsFunction(_ x: Value) -> Value
}

/// An elementwise gradient: `(gradient of the output, input, output) → gradient of the input`.
protocol ElementGradient {
    associatedtype Value
    func callAsFunction(_ g: Value, _ x: Value, _ y: Value) -> Value
}

// MARK: Forward

struct NegFunction<T: KFloat>: ElementFunction {
    @inline(__always) func callAsFunction(_ x: T) -> T { -x }
}

struct ScaleFunction<T: KFloat>: ElementFunction {
    let factor: T
    @inline(__always) func callAsFunction(_ x: T) -> T { x * factor }
}

struct IdentityFunction<T: KFloat>: ElementFunction {
    @inline(__always) func callAsFunction(_ x: T) -> T { x }
}

struct SquareFunction<T: KFloat>: ElementFunction {
    @inline(__always) func callAsFunction(_ x: T) -> T { x * x }
}

/// Scalar square roots in a loop vectorise (`SIMD16.squareRoot()` calls sqrt per lane).
struct SqrtFunction<T: KFloat>: ElementFunction {
    @inline(__always) func callAsFunction(_ x: T) -> T { x.squareRoot() }
}

struct RsqrtFunction<T: KFloat>: ElementFunction {
    @inline(__always) func callAsFunction(_ x: T) -> T { 1 / x.squareRoot() }
}

struct AbsFunction<T: KFloat>: ElementFunction {
    @inline(__always) func callAsFunction(_ x: T) -> T { Swift.abs(x) }
}

/// NaN stays NaN, like PyTorch.
struct ReLUFunction<T: KFloat>: ElementFunction {
    @inline(__always) func callAsFunction(_ x: T) -> T { x < 0 ? 0 : x }
}

/// NaN fails both compares and passes through, like PyTorch's clamp.
struct ClampFunction<T: KFloat>: ElementFunction {
    let low: T, high: T
    @inline(__always) func callAsFunction(_ x: T) -> T {
        let a = x < low ? low : x
        return a > high ? high : a
    }
}

struct ExpFunction<T: KFloat>: ElementFunction {
    @inline(__always) func callAsFunction(_ x: T) -> T { T.kexpFast(x) }
}

/// e^-x overflows to +inf for very negative x, giving exactly 0; no branch, so it vectorises.
struct SigmoidFunction<T: KFloat>: ElementFunction {
    @inline(__always) func callAsFunction(_ x: T) -> T { 1 / (1 + T.kexpFast(-x)) }
}

/// ELU (`scale` 1) and SELU: `x > 0 ? scale·x : scale·alpha·(e^x − 1)`.
struct ELUFunction<T: KFloat>: ElementFunction {
    let alpha: T, scale: T
    @inline(__always) func callAsFunction(_ x: T) -> T { x > 0 ? scale * x : scale * alpha * T.kexpm1Fast(x) }
}

/// PyTorch's CPU formula `x / (1 + e^−x)`.
struct SiLUFunction<T: KFloat>: ElementFunction {
    @inline(__always) func callAsFunction(_ x: T) -> T { x / (1 + T.kexpFast(-x)) }
}

struct LeakyReLUFunction<T: KFloat>: ElementFunction {
    let slope: T
    @inline(__always) func callAsFunction(_ x: T) -> T { x > 0 ? x : x * slope }
}

/// `x · min(max(x + 3, 0), 6) / 6`, PyTorch's order of operations; NaN stays NaN.
struct HardswishFunction<T: KFloat>: ElementFunction {
    @inline(__always) func callAsFunction(_ x: T) -> T {
        let r = x + 3
        return x * (r < 0 ? 0 : (r > 6 ? 6 : r)) / 6
    }
}

/// `min(max(x + 3, 0), 6) / 6`; NaN stays NaN.
struct HardsigmoidFunction<T: KFloat>: ElementFunction {
    @inline(__always) func callAsFunction(_ x: T) -> T {
        let r = x + 3
        return (r < 0 ? 0 : (r > 6 ? 6 : r)) / 6
    }
}

// MARK: Two operands

/// An elementwise function of two operands (see ``ElementFunction``).
protocol BinaryElementFunction {
    associatedtype Value
    func callAsFunction(_ a: Value, _ b: Value) -> Value
}

struct AddFunction<T: KFloat>: BinaryElementFunction {
    @inline(__always) func callAsFunction(_ a: T, _ b: T) -> T { a + b }
}

struct SubtractFunction<T: KFloat>: BinaryElementFunction {
    @inline(__always) func callAsFunction(_ a: T, _ b: T) -> T { a - b }
}

struct MultiplyFunction<T: KFloat>: BinaryElementFunction {
    @inline(__always) func callAsFunction(_ a: T, _ b: T) -> T { a * b }
}

struct DivideFunction<T: KFloat>: BinaryElementFunction {
    @inline(__always) func callAsFunction(_ a: T, _ b: T) -> T { a / b }
}

/// NaN if either is NaN, like PyTorch's maximum.
struct MaximumFunction<T: KFloat>: BinaryElementFunction {
    @inline(__always) func callAsFunction(_ a: T, _ b: T) -> T { a.isNaN || b.isNaN ? T.nan : (a > b ? a : b) }
}

/// NaN if either is NaN, like PyTorch's minimum.
struct MinimumFunction<T: KFloat>: BinaryElementFunction {
    @inline(__always) func callAsFunction(_ a: T, _ b: T) -> T { a.isNaN || b.isNaN ? T.nan : (a < b ? a : b) }
}

// MARK: Gradients

struct NegGradient<T: KFloat>: ElementGradient {
    @inline(__always) func callAsFunction(_ g: T, _ x: T, _ y: T) -> T { -g }
}

struct AbsGradient<T: KFloat>: ElementGradient {
    @inline(__always) func callAsFunction(_ g: T, _ x: T, _ y: T) -> T { x > 0 ? g : (x < 0 ? -g : 0) }
}

struct ReLUGradient<T: KFloat>: ElementGradient {
    @inline(__always) func callAsFunction(_ g: T, _ x: T, _ y: T) -> T { x > 0 ? g : 0 }
}

struct ScaleGradient<T: KFloat>: ElementGradient {
    let factor: T
    @inline(__always) func callAsFunction(_ g: T, _ x: T, _ y: T) -> T { g * factor }
}

struct ClampGradient<T: KFloat>: ElementGradient {
    let low: T, high: T
    @inline(__always) func callAsFunction(_ g: T, _ x: T, _ y: T) -> T { x >= low && x <= high ? g : 0 }
}

/// d exp(x) = exp(x) = y.
struct ExpGradient<T: KFloat>: ElementGradient {
    @inline(__always) func callAsFunction(_ g: T, _ x: T, _ y: T) -> T { g * y }
}

struct LogGradient<T: KFloat>: ElementGradient {
    @inline(__always) func callAsFunction(_ g: T, _ x: T, _ y: T) -> T { g / x }
}

struct SqrtGradient<T: KFloat>: ElementGradient {
    @inline(__always) func callAsFunction(_ g: T, _ x: T, _ y: T) -> T { g / (2 * y) }
}

struct RsqrtGradient<T: KFloat>: ElementGradient {
    @inline(__always) func callAsFunction(_ g: T, _ x: T, _ y: T) -> T { T(-0.5) * g * y * y * y }
}

struct SigmoidGradient<T: KFloat>: ElementGradient {
    @inline(__always) func callAsFunction(_ g: T, _ x: T, _ y: T) -> T { g * y * (1 - y) }
}

struct TanhGradient<T: KFloat>: ElementGradient {
    @inline(__always) func callAsFunction(_ g: T, _ x: T, _ y: T) -> T { g * (1 - y * y) }
}

/// x² → 2x; x¹ → 1; x⁰ → 0.
struct SmallPowerGradient<T: KFloat>: ElementGradient {
    let exponent: Int
    @inline(__always) func callAsFunction(_ g: T, _ x: T, _ y: T) -> T {
        exponent == 2 ? 2 * g * x : (exponent == 1 ? g : 0)
    }
}

/// ELU (`scale` 1) and SELU: `x > 0 ? g·scale : g·scale·alpha·e^x`.
struct ELUGradient<T: KFloat>: ElementGradient {
    let alpha: T, scale: T
    @inline(__always) func callAsFunction(_ g: T, _ x: T, _ y: T) -> T { x > 0 ? g * scale : g * scale * alpha * T.kexpFast(x) }
}

/// `g · s · (1 + x · (1 − s))` with `s = sigmoid(x)` (PyTorch's silu_backward).
struct SiLUGradient<T: KFloat>: ElementGradient {
    @inline(__always) func callAsFunction(_ g: T, _ x: T, _ y: T) -> T {
        let s = 1 / (1 + T.kexpFast(-x))
        return g * s * (1 + x * (1 - s))
    }
}

struct LeakyReLUGradient<T: KFloat>: ElementGradient {
    let slope: T
    @inline(__always) func callAsFunction(_ g: T, _ x: T, _ y: T) -> T { x > 0 ? g : g * slope }
}

/// Zero at and outside the bounds, like PyTorch's hardtanh_backward (clamp's gradient includes them).
struct HardtanhGradient<T: KFloat>: ElementGradient {
    let low: T, high: T
    @inline(__always) func callAsFunction(_ g: T, _ x: T, _ y: T) -> T { x <= low || x >= high ? 0 : g }
}

/// 0 up to −3, `g · (x/3 + 1/2)` strictly between, `g` from 3 on: PyTorch's vectorised
/// hardswish_backward (the path its contiguous tensors take; its scalar loop differs at ±3).
struct HardswishGradient<T: KFloat>: ElementGradient {
    @inline(__always) func callAsFunction(_ g: T, _ x: T, _ y: T) -> T {
        x <= -3 ? 0 : (x >= 3 ? g : g * (x / 3 + T(0.5)))
    }
}

/// `g · (1/6)` strictly between −3 and 3, else 0 (PyTorch's hardsigmoid_backward, whose 1/6 is the
/// float constant `1.0f / 6.0f` for every dtype).
struct HardsigmoidGradient<T: KFloat>: ElementGradient {
    @inline(__always) func callAsFunction(_ g: T, _ x: T, _ y: T) -> T { x > -3 && x < 3 ? g * T(Float(1) / Float(6)) : 0 }
}
