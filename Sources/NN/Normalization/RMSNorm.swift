import TensorCore
import Autograd

/// Root-mean-square normalization, like `torch.nn.RMSNorm`: each sample is divided by the root
/// mean square over its trailing `normalizedShape` dimensions and scaled elementwise:
///
///     y = x / sqrt(mean(x²) + eps) · γ
///
/// No centering and no bias: cheaper than ``LayerNorm`` (LLaMA-style transformers).
/// `eps: nil` uses the dtype's machine epsilon.
///
/// ```swift
/// let norm = RMSNorm([512], eps: nil, elementwiseAffine: true)
/// let y = norm(Tensor.randn([4, 16, 512]))
/// norm.description   // RMSNorm((512,), eps=None, elementwise_affine=True)
/// ```
public final class RMSNorm: Module {
    public let normalizedShape: [Int]
    public var eps: Double?
    public let elementwiseAffine: Bool
    /// Elementwise scale γ of shape `normalizedShape` (1), nil without `elementwiseAffine`.
    public var weight: Parameter?

    public init(_ normalizedShape: [Int], eps: Double? = nil, elementwiseAffine: Bool = true) {
        self.normalizedShape = normalizedShape
        self.eps = eps
        self.elementwiseAffine = elementwiseAffine
        if elementwiseAffine { weight = Parameter(Tensor.ones(normalizedShape)) }
        super.init()
    }

    public convenience init(_ normalizedShape: Int, eps: Double? = nil, elementwiseAffine: Bool = true) {
        self.init([normalizedShape], eps: eps, elementwiseAffine: elementwiseAffine)
    }

    /// Checks `input` as `forward` would, with PyTorch's messages.
    public func validate(_ input: Tensor) throws(UsageError) {
        try validateLayerNorm(input, normalizedShape: normalizedShape, weight: weight, bias: nil, source: typeName)
    }

    override public func forward(_ x: Tensor) -> Tensor {
        do { try validate(x) } catch { usageFailure(error) }
        return rmsNorm(x, normalizedShape: normalizedShape, weight: weight, eps: eps)
    }

    override public var extraDescription: String {
        "\(PyRepr.tuple(normalizedShape)), eps=\(eps.map(PyRepr.float) ?? "None"), elementwise_affine=\(PyRepr.bool(elementwiseAffine))"
    }
}
