/// Elementwise operations of two tensors.
public enum BinaryOp: String, Sendable {
    case add, sub, mul, div, pow, maximum, minimum
}

/// Elementwise comparisons; results are `bool` tensors.
public enum CompareOp: String, Sendable {
    case eq, ne, lt, le, gt, ge
}

/// Elementwise functions of one tensor, with their derivatives.
public enum UnaryOp: Sendable, Equatable {
    case neg, abs, exp, log, sqrt, rsqrt, relu, sigmoid, tanh
    /// `x · Φ(x)` with the exact normal CDF.
    case gelu
    /// GELU's tanh approximation.
    case geluTanh
    case selu
    case elu(alpha: Double)
    /// `x^e` for a constant exponent.
    case pow(Double)
    case clamp(min: Double?, max: Double?)
    /// `x · c` for a constant.
    case scale(Double)
    /// `x · sigmoid(x)` (SiLU, also called Swish).
    case silu
    /// `x` for `x > 0`, else `negativeSlope · x`.
    case leakyReLU(negativeSlope: Double)
    /// `x` clamped to `[min, max]`, with a gradient only strictly inside (ReLU6 is `[0, 6]`).
    case hardtanh(min: Double, max: Double)
    /// `x · relu6(x + 3) / 6`.
    case hardswish
    /// `relu6(x + 3) / 6`.
    case hardsigmoid

    public var name: String {
        switch self {
        case .neg: "neg"; case .abs: "abs"; case .exp: "exp"; case .log: "log"; case .sqrt: "sqrt"
        case .rsqrt: "rsqrt"; case .relu: "relu"; case .sigmoid: "sigmoid"; case .tanh: "tanh"
        case .gelu, .geluTanh: "gelu"; case .selu: "selu"; case .elu: "elu"; case .pow: "pow"
        case .clamp: "clamp"; case .scale: "mul"; case .silu: "silu"; case .leakyReLU: "leaky_relu"
        case .hardtanh: "hardtanh"; case .hardswish: "hardswish"; case .hardsigmoid: "hardsigmoid"
        }
    }
}

/// SELU's constants (Klambauer et al.), as PyTorch uses them.
public enum SELUConstants {
    public static let alpha = 1.6732632423543772848170429916717
    public static let scale = 1.0507009873554804934193349852946
}

/// Elementwise kernels: maps, broadcasting binary ops and comparisons, selection, dtype
/// conversion and strided copies. Inputs may have any dtype; each requirement documents the
/// result's dtype.
public protocol ElementwiseOps {
    /// `op(t)`; see ``Kernels/unary(_:_:)``.
    func unary(_ op: UnaryOp, _ t: Tensor) -> Tensor
    /// `op(t)` written into `out` (same shape; float dtypes, `out` may be `t`).
    func unary(_ op: UnaryOp, _ t: Tensor, into out: Tensor)
    /// `grad · op'(input)`; see ``Kernels/unaryBackward(_:grad:input:output:)``.
    func unaryBackward(_ op: UnaryOp, grad: Tensor, input: Tensor, output: Tensor?) -> Tensor
    /// `a ⊕ b` with broadcasting and type promotion; see ``Kernels/binary(_:_:_:)-(_,Tensor,Tensor)``.
    func binary(_ op: BinaryOp, _ a: Tensor, _ b: Tensor) -> Tensor
    /// `a ⊙ b` with broadcasting: a `bool` tensor.
    func compare(_ op: CompareOp, _ a: Tensor, _ b: Tensor) -> Tensor
    /// `cond ? a : b` with broadcasting (`torch.where`).
    func select(_ cond: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor
    /// `t` converted to `dtype` (`t` itself when it has it).
    func cast(_ t: Tensor, to dtype: DType) -> Tensor
    /// A contiguous tensor of `shape` whose element at index `i` is `t`'s element at
    /// `Σ i[d]·strides[d]` (0 strides broadcast): expand, permute and transpose copies.
    func strided(_ t: Tensor, shape: [Int], strides: [Int]) -> Tensor
    /// `destination += source`, in place (same count; float dtypes).
    func accumulate(_ source: Tensor, into destination: Tensor)
}

extension Kernels {
    /// `op(t)` elementwise. Float dtypes support every op; integer dtypes support `neg`, `abs`,
    /// `relu`, `clamp` and `scale` by integral constants (others are computed in float32).
    ///
    /// ```swift
    /// let y = Kernels.unary(.relu, x)
    /// ```
    public static func unary(_ op: UnaryOp, _ t: Tensor) -> Tensor { backend(t).unary(op, t) }

    /// `op(t)` written into `out` (same shape, float dtype; `out` may be `t` itself).
    public static func unary(_ op: UnaryOp, _ t: Tensor, into out: Tensor) {
        usageCheck(t.count == out.count && t.dtype == out.dtype && t.dtype.isFloatingPoint, op.name,
                   "output of \(out.dtype) \(shapeString(out.shape)) does not match input \(t.dtype) \(shapeString(t.shape))")
        backend(t, out).unary(op, t, into: out)
    }

    /// The gradient of `op` at `input` (whose result was `output`) times `grad`, elementwise.
    /// All three tensors have the same shape; `output` may be nil for ops that do not use it.
    public static func unaryBackward(_ op: UnaryOp, grad: Tensor, input: Tensor, output: Tensor?) -> Tensor {
        precondition(grad.count == input.count, "unaryBackward: gradient and input sizes differ")
        precondition(input.dtype.isFloatingPoint, "unaryBackward: \(op.name) is not differentiable for \(input.dtype)")
        return backend(input, grad, output).unaryBackward(op, grad: grad, input: input, output: output)
    }

    /// `a ⊕ b` with broadcasting and type promotion (integer `div` gives float32, like PyTorch's
    /// true division).
    ///
    /// ```swift
    /// let c = Kernels.binary(.add, a, b)
    /// ```
    public static func binary(_ op: BinaryOp, _ a: Tensor, _ b: Tensor) -> Tensor { backend(a, b).binary(op, a, b) }

    /// The dtype of `t ⊕ scalar`: float tensors keep theirs; integer tensors stay integer for an
    /// integral scalar (except `div`), else become float32.
    public static func scalarResultType(_ t: DType, _ value: Double, op: BinaryOp) -> DType {
        if t.isFloatingPoint { return t }
        if op == .div || op == .pow && value < 0 || value.rounded() != value { return .float32 }
        return t == .bool ? .int64 : t
    }

    /// `t ⊕ value`.
    public static func binary(_ op: BinaryOp, _ t: Tensor, _ value: Double) -> Tensor {
        binary(op, t, Tensor.full([], value, dtype: scalarResultType(t.dtype, value, op: op), device: t.device))
    }

    /// `value ⊕ t`.
    public static func binary(_ op: BinaryOp, _ value: Double, _ t: Tensor) -> Tensor {
        binary(op, Tensor.full([], value, dtype: scalarResultType(t.dtype, value, op: op), device: t.device), t)
    }

    public static func add(_ a: Tensor, _ b: Tensor) -> Tensor { binary(.add, a, b) }
    public static func sub(_ a: Tensor, _ b: Tensor) -> Tensor { binary(.sub, a, b) }
    public static func mul(_ a: Tensor, _ b: Tensor) -> Tensor { binary(.mul, a, b) }
    public static func div(_ a: Tensor, _ b: Tensor) -> Tensor { binary(.div, a, b) }
    public static func mul(_ a: Tensor, _ value: Double) -> Tensor { binary(.mul, a, value) }
    public static func add(_ a: Tensor, _ value: Double) -> Tensor { binary(.add, a, value) }

    /// `a ⊙ b` elementwise with broadcasting; a `bool` tensor.
    public static func compare(_ op: CompareOp, _ a: Tensor, _ b: Tensor) -> Tensor { backend(a, b).compare(op, a, b) }

    /// `t ⊙ value`; a `bool` tensor.
    public static func compare(_ op: CompareOp, _ t: Tensor, _ value: Double) -> Tensor {
        let dt: DType = t.dtype.isFloatingPoint ? t.dtype : (value.rounded() == value ? (t.dtype == .bool ? .uint8 : t.dtype) : .float64)
        if dt == .uint8 && (value < 0 || value > 255) {
            return compare(op, cast(t, to: .int64), Tensor.full([], value, dtype: .int64, device: t.device))
        }
        return compare(op, t, Tensor.full([], value, dtype: dt, device: t.device))
    }

    /// `cond ? a : b` elementwise, broadcasting all three (`torch.where`).
    public static func `where`(_ cond: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor { backend(cond, a, b).select(cond, a, b) }

    /// `t` converted to `dtype` (the tensor itself when it already has it). Float → integer
    /// truncates toward zero; anything → bool is `!= 0`.
    public static func cast(_ t: Tensor, to dtype: DType) -> Tensor {
        if t.dtype == dtype { return t }
        return backend(t).cast(t, to: dtype)
    }

    /// Copies `t` broadcast to `shape` (no copy when the shape already matches).
    public static func expand(_ t: Tensor, to shape: [Int]) -> Tensor {
        if t.shape == shape { return t }
        orFail { () throws(UsageError) in try validateExpand(t.shape, to: shape) }
        return backend(t).strided(t, shape: shape, strides: broadcastStrides(t.shape, to: shape))
    }

    /// `t` with its dims reordered (a contiguous copy), like `permute(...).contiguous()`.
    public static func permute(_ t: Tensor, _ dims: [Int]) -> Tensor {
        if dims == Array(0..<t.rank) { return t }
        let cs = contiguousStrides(t.shape)
        return backend(t).strided(t, shape: dims.map { t.shape[$0] }, strides: dims.map { cs[$0] })
    }

    /// `destination += source` elementwise, in place (same element count, float dtypes; `source`
    /// is converted to `destination`'s dtype first when they differ). Autograd accumulates
    /// gradients with it.
    public static func accumulate(_ source: Tensor, into destination: Tensor) {
        precondition(source.count == destination.count,
                     "accumulate: shapes \(shapeString(source.shape)) and \(shapeString(destination.shape)) differ")
        let s = cast(source, to: destination.dtype)
        backend(s, destination).accumulate(s, into: destination)
    }
}
