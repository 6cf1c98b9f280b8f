import TensorCore
import Autograd

/// Group normalization, like `torch.nn.GroupNorm`: the C channels of (N, C, *) input are split
/// into `numGroups` contiguous groups, and each (sample, group) is normalized by its own mean and
/// biased variance, then scaled and shifted per channel:
///
///     y = (x − E[x]) / sqrt(Var[x] + eps) · γ + β
///
/// Independent of the batch size, and the same in training and evaluation.
///
/// ```swift
/// let gn = GroupNorm(32, 256)                     // nn.GroupNorm(32, 256)
/// let same = GroupNorm(numGroups: 32, numChannels: 256)
/// let y = gn(Tensor.randn([4, 256, 56, 56]))
/// gn.description   // GroupNorm(32, 256, eps=1e-05, affine=True, bias=True)
/// ```
public final class GroupNorm: Module {
    public let numGroups: Int
    public let numChannels: Int
    public var eps: Double
    public let affine: Bool
    /// Per-channel scale γ (1), nil when `affine` is false.
    public var weight: Parameter?
    /// Per-channel shift β (0), nil when `affine` or `bias` is false.
    public var bias: Parameter?

    /// Stops with PyTorch's message when `numChannels` is not divisible by `numGroups`
    /// (``validateArguments(numGroups:numChannels:)`` is the throwing check).
    public init(numGroups: Int, numChannels: Int, eps: Double = 1e-5, affine: Bool = true, bias: Bool = true) {
        do { try GroupNorm.validateArguments(numGroups: numGroups, numChannels: numChannels) } catch { usageFailure(error) }
        self.numGroups = numGroups
        self.numChannels = numChannels
        self.eps = eps
        self.affine = affine
        if affine {
            weight = Parameter(Tensor.ones([numChannels]))
            if bias { self.bias = Parameter(Tensor.zeros([numChannels])) }
        }
        super.init()
    }

    /// PyTorch's positional form, `GroupNorm(32, 256)`.
    public convenience init(_ numGroups: Int, _ numChannels: Int, eps: Double = 1e-5, affine: Bool = true, bias: Bool = true) {
        self.init(numGroups: numGroups, numChannels: numChannels, eps: eps, affine: affine, bias: bias)
    }

    /// The constructor's check: `num_channels (8) must be divisible by num_groups (3)`.
    public static func validateArguments(numGroups: Int, numChannels: Int) throws(UsageError) {
        if numGroups <= 0 || numChannels % numGroups != 0 {
            throw UsageError("GroupNorm", "num_channels (\(numChannels)) must be divisible by num_groups (\(numGroups))")
        }
    }

    /// Checks `input` as `forward` would, with PyTorch's messages.
    public func validate(_ input: Tensor) throws(UsageError) {
        try validateGroupNorm(input, numGroups: numGroups, weight: weight, bias: bias, source: typeName)
    }

    override public func forward(_ x: Tensor) -> Tensor {
        do { try validate(x) } catch { usageFailure(error) }
        return groupNorm(x, numGroups: numGroups, weight: weight, bias: bias, eps: eps)
    }

    override public var extraDescription: String {
        "\(numGroups), \(numChannels), eps=\(PyRepr.float(eps)), affine=\(PyRepr.bool(affine)), bias=\(PyRepr.bool(bias != nil))"
    }
}
