import TensorCore
import Autograd

/// A fully connected layer, `y = x·Wᵀ + b`, like `nn.Linear`. Input `[*, inFeatures]`, output
/// `[*, outFeatures]`. Weight `[outFeatures, inFeatures]` and bias start as PyTorch's:
/// U(−1/√inFeatures, 1/√inFeatures) (kaiming-uniform with a = √5).
///
/// ```swift
/// let fc = Linear(784, 512)                  // bias: true
/// let y = fc(Tensor.randn([32, 784]))        // [32, 512]
/// fc.description  // "Linear(in_features=784, out_features=512, bias=True)"
/// ```
public final class Linear: Module {
    /// `[outFeatures, inFeatures]`.
    public var weight: Parameter
    /// `[outFeatures]`, nil when made with `bias: false`.
    public var bias: Parameter?
    public let inFeatures: Int
    public let outFeatures: Int

    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true,
                dtype: DType = .float32, generator: Generator? = nil) {
        usageCheck(inFeatures >= 0 && outFeatures >= 0, "Linear",
                   "in_features and out_features must be non-negative, got \(inFeatures) and \(outFeatures)")
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        weight = Parameter(Tensor.zeros([outFeatures, inFeatures], dtype: dtype))
        self.bias = bias ? Parameter(Tensor.zeros([outFeatures], dtype: dtype)) : nil
        super.init()
        resetParameters(generator: generator)
    }

    /// Draws fresh weights as PyTorch's `reset_parameters` does.
    public func resetParameters(generator: Generator? = nil) {
        if weight.count > 0 {
            Init.kaimingUniform(weight, a: 5.0.squareRoot(), generator: generator)
        }
        if let bias, inFeatures > 0 {
            let bound = 1 / Double(inFeatures).squareRoot()
            Init.uniform(bias, low: -bound, high: bound, generator: generator)
        }
    }

    /// Checks the input: floating point, same dtype as the weight, last dimension `inFeatures`.
    public func validate(_ input: Tensor) throws(UsageError) {
        guard input.dtype == weight.dtype else {
            throw UsageError("Linear", "mat1 and mat2 must have the same dtype, but got \(input.dtype) and \(weight.dtype)")
        }
        let last = input.shape.last ?? 1
        guard input.rank >= 1, last == inFeatures else {
            let rows = input.rank <= 1 ? 1 : input.shape.dropLast().reduce(1, *)
            throw UsageError("Linear", "mat1 and mat2 shapes cannot be multiplied (\(rows)x\(last) and \(inFeatures)x\(outFeatures))")
        }
    }

    override public func forward(_ x: Tensor) -> Tensor {
        do { try validate(x) } catch { usageFailure(error) }
        return x.linear(weight: weight, bias: bias)
    }

    override public var extraDescription: String {
        "in_features=\(inFeatures), out_features=\(outFeatures), bias=\(PyRepr.bool(bias != nil))"
    }
}
