import TensorCore
import Autograd

/// What the dropout modules share (PyTorch's `_DropoutNd`): the probability `p`, which can be
/// changed between steps, `inplace`, and an optional generator of their own.
///
/// In training mode the module draws a fresh mask on every call from its generator (the default
/// generator, seeded by `Tensor.manualSeed`, when none is given); in eval mode, and for `p = 0`,
/// it returns its input itself.
///
/// ```swift
/// let drop = Dropout(p: 0.5)
/// drop.p = 0.4                 // between steps (a DynamicDropoutNet's schedule)
/// try drop.setP(1.5)           // throws: dropout probability has to be between 0 and 1, but got 1.5
/// ```
open class DropoutLayer: Module {
    /// The member of the family a class applies; each dropout class overrides it and inherits the
    /// initializers below, so all six are made the same way:
    ///
    /// ```swift
    /// Dropout2d(p: 0.1)                      // stops with PyTorch's message on an invalid p
    /// Dropout2d(0.1)                         // PyTorch's positional form
    /// try Dropout2d(validating: userValue)   // throws it instead
    /// ```
    open class var variantApplied: DropoutVariant { .dropout }

    /// Which member of the family this module applies.
    public let variant: DropoutVariant
    /// Writes the result into the input's storage (PyTorch's `inplace=True`).
    public let inplace: Bool
    /// The generator masks are drawn from; nil means the default generator.
    public var generator: Generator?
    private var probability: Double

    /// Refuses an invalid `p` with PyTorch's message.
    public required init(validating p: Double, inplace: Bool = false, generator: Generator? = nil) throws(UsageError) {
        let variant = Self.variantApplied
        try variant.validate(p: p, source: variant.moduleName)
        self.variant = variant
        self.probability = p
        self.inplace = inplace
        self.generator = generator
        super.init()
    }

    /// Stops with PyTorch's message on an invalid `p`.
    public required convenience init(p: Double = 0.5, inplace: Bool = false, generator: Generator? = nil) {
        do {
            try self.init(validating: p, inplace: inplace, generator: generator)
        } catch {
            usageFailure(error)
        }
    }

    /// `Dropout(0.5)`, PyTorch's positional form.
    public required convenience init(_ p: Double) { self.init(p: p) }

    /// The probability of an element (or channel) being dropped, in [0, 1]. Setting an invalid
    /// value stops with PyTorch's message; ``setP(_:)`` throws it instead.
    public var p: Double {
        get { probability }
        set {
            do { try setP(newValue) } catch { usageFailure(error) }
        }
    }

    /// Changes `p`, refusing a value outside [0, 1] with PyTorch's message (and keeping the old one).
    public func setP(_ newValue: Double) throws(UsageError) {
        try variant.validate(p: newValue, source: typeName)
        probability = newValue
    }

    /// PyTorch's checks for this input in the current mode (rank rules, `p`).
    ///
    /// ```swift
    /// try Dropout1d(p: 0.5).validate(Tensor.zeros([2, 3, 4, 5]))
    /// // dropout1d: Expected 2D or 3D input, but received a 4D input. …
    /// ```
    public func validate(_ input: Tensor) throws(UsageError) {
        try variant.validate(input, p: probability, training: isTraining, inplace: inplace, source: typeName)
    }

    override open func forward(_ x: Tensor) -> Tensor {
        variant.apply(x, p: probability, training: isTraining, generator: generator, inplace: inplace, source: typeName)
    }

    override open var extraDescription: String {
        "p=\(probability), inplace=\(inplace ? "True" : "False")"
    }

    /// Each element is kept (scaled), zeroed or, for alpha dropout, mapped affinely on its own.
    override open var isElementwise: Bool { true }
}

/// Inverted dropout, like `torch.nn.Dropout`: in training, each element is zeroed (`x * 0`) with
/// probability `p` and the others become `x * Float(1 / (1 - p))`; in eval mode the input itself
/// is returned (no copy).
///
/// Masks come from a counter-based generator: the same seed gives the same masks on every run
/// and thread count, and backward regenerates the mask instead of storing it.
///
/// ```swift
/// Tensor.manualSeed(0)
/// let drop = Dropout(p: 0.5)          // Dropout(p=0.5, inplace=False)
/// let y = drop(Tensor.randn([32, 128]))
/// drop.eval()
/// drop(x) === x                       // true
/// let mine = Dropout(p: 0.1, generator: Generator(seed: 7))   // its own stream of masks
/// ```
public final class Dropout: DropoutLayer {
    override public class var variantApplied: DropoutVariant { .dropout }
}
