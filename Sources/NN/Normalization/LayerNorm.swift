import TensorCore
import Autograd

/// Layer normalization, like `torch.nn.LayerNorm`: each sample is normalized over its trailing
/// `normalizedShape` dimensions by its own mean and biased variance, then scaled and shifted
/// elementwise:
///
///     y = (x − E[x]) / sqrt(Var[x] + eps) · γ + β
///
/// The statistics never mix samples, so training and evaluation agree and any batch size works
/// (the standard choice in transformers).
///
/// ```swift
/// let ln = LayerNorm(512)
/// let y = ln(Tensor.randn([32, 128, 512]))
/// ln.description   // LayerNorm((512,), eps=1e-05, elementwise_affine=True, bias=True)
/// LayerNorm([64, 28, 28], eps: 1e-5, elementwiseAffine: true, bias: false)
/// ```
public final class LayerNorm: Module {
    public let normalizedShape: [Int]
    public var eps: Double
    public let elementwiseAffine: Bool
    /// Elementwise scale γ of shape `normalizedShape` (1), nil without `elementwiseAffine`.
    public var weight: Parameter?
    /// Elementwise shift β (0), nil without `elementwiseAffine` or with `bias: false`.
    public var bias: Parameter?

    public init(_ normalizedShape: [Int], eps: Double = 1e-5, elementwiseAffine: Bool = true, bias: Bool = true) {
        self.normalizedShape = normalizedShape
        self.eps = eps
        self.elementwiseAffine = elementwiseAffine
        if elementwiseAffine {
            weight = Parameter(Tensor.ones(normalizedShape))
            if bias { self.bias = Parameter(Tensor.zeros(normalizedShape)) }
        }
        super.init()
    }

    public convenience init(_ normalizedShape: Int, eps: Double = 1e-5, elementwiseAffine: Bool = true, bias: Bool = true) {
        self.init([normalizedShape], eps: eps, elementwiseAffine: elementwiseAffine, bias: bias)
    }

    /// Checks `input` as `forward` would, with PyTorch's messages.
    public func validate(_ input: Tensor) throws(UsageError) {
        try validateLayerNorm(input, normalizedShape: normalizedShape, weight: weight, bias: bias, source: typeName)
    }

    override public func forward(_ x: Tensor) -> Tensor {
        do { try validate(x) } catch { usageFailure(error) }
        return layerNorm(x, normalizedShape: normalizedShape, weight: weight, bias: bias, eps: eps)
    }

    override public var extraDescription: String {
        "\(PyRepr.tuple(normalizedShape)), eps=\(PyRepr.float(eps)), elementwise_affine=\(PyRepr.bool(elementwiseAffine)), "
            + "bias=\(PyRepr.bool(bias != nil))"
    }
}
