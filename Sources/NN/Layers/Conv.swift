import TensorCore
import Autograd

/// The shared body of ``Conv1d``, ``Conv2d`` and ``Conv3d`` (PyTorch's `_ConvNd`): weight
/// `[outChannels, inChannels / groups, *kernelSize]`, optional bias `[outChannels]`, both drawn
/// as PyTorch draws them (kaiming-uniform with a = √5, i.e. U(±1/√fanIn), fanIn =
/// inChannels / groups · ∏kernelSize).
public class ConvNd: Module {
    /// `[outChannels, inChannels / groups, *kernelSize]`.
    public var weight: Parameter
    /// `[outChannels]`, nil when made with `bias: false`.
    public var bias: Parameter?
    public let inChannels: Int
    public let outChannels: Int
    public let kernelSize: [Int]
    public let stride: [Int]
    public let padding: [Int]
    public let dilation: [Int]
    public let groups: Int
    let spatialDims: Int

    init(spatialDims d: Int, _ inChannels: Int, _ outChannels: Int, kernelSize: [Int], stride: [Int], padding: [Int],
         dilation: [Int], groups: Int, bias: Bool, dtype: DType, generator: Generator?) {
        let name = "Conv\(d)d"
        func expand(_ v: [Int], _ what: String) -> [Int] {
            usageCheck(v.count == 1 || v.count == d, name, "\(what) must have 1 or \(d) elements, got \(shapeString(v))")
            return v.count == d ? v : [Int](repeating: v[0], count: d)
        }
        let k = expand(kernelSize, "kernel_size")
        usageCheck(groups > 0, name, "groups must be a positive integer")
        usageCheck(inChannels % groups == 0, name, "in_channels must be divisible by groups")
        usageCheck(outChannels % groups == 0, name, "out_channels must be divisible by groups")
        usageCheck(k.allSatisfy { $0 > 0 }, name, "kernel_size must be positive, got \(shapeString(k))")
        self.spatialDims = d
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernelSize = k
        self.stride = expand(stride, "stride")
        self.padding = expand(padding, "padding")
        self.dilation = expand(dilation, "dilation")
        self.groups = groups
        usageCheck(self.stride.allSatisfy { $0 > 0 }, name, "non-positive stride is not supported")
        usageCheck(self.padding.allSatisfy { $0 >= 0 }, name, "negative padding is not supported")
        usageCheck(self.dilation.allSatisfy { $0 > 0 }, name, "dilation should be greater than zero")
        weight = Parameter(Tensor.zeros([outChannels, inChannels / groups] + k, dtype: dtype))
        self.bias = bias ? Parameter(Tensor.zeros([outChannels], dtype: dtype)) : nil
        super.init()
        resetParameters(generator: generator)
    }

    /// Draws fresh weights as PyTorch's `reset_parameters` does.
    public func resetParameters(generator: Generator? = nil) {
        guard weight.count > 0 else { return }
        Init.kaimingUniform(weight, a: 5.0.squareRoot(), generator: generator)
        if let bias {
            let fanIn = Init.fans(weight).fanIn
            if fanIn > 0 {
                let bound = 1 / Double(fanIn).squareRoot()
                Init.uniform(bias, low: -bound, high: bound, generator: generator)
            }
        }
    }

    /// Checks the input as `F.conv*d` does (rank, channels, dtype, size after padding).
    public func validate(_ input: Tensor) throws(UsageError) {
        _ = try validateConvolution(input, weight: weight, bias: bias, spatialDims: spatialDims, stride: stride,
                                    padding: padding, dilation: dilation, groups: groups)
    }

    override public func forward(_ x: Tensor) -> Tensor {
        do { try validate(x) } catch { usageFailure(error) }
        return convolution(x, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }

    override public var extraDescription: String {
        var s = "\(inChannels), \(outChannels), kernel_size=\(PyRepr.tuple(kernelSize)), stride=\(PyRepr.tuple(stride))"
        if padding.contains(where: { $0 != 0 }) { s += ", padding=\(PyRepr.tuple(padding))" }
        if dilation.contains(where: { $0 != 1 }) { s += ", dilation=\(PyRepr.tuple(dilation))" }
        if groups != 1 { s += ", groups=\(groups)" }
        if bias == nil { s += ", bias=False" }
        return s
    }
}

// Constructor labels follow one rule, PyTorch's positional habit: the required arguments
// (in_channels, out_channels, kernel_size) are unlabelled, everything else is labelled with its
// PyTorch keyword; `kernelSize:` spelled out works too.

/// 1-d convolution over `[N, C, L]` (or `[C, L]`), like `nn.Conv1d`.
///
/// ```swift
/// let conv = Conv1d(16, 33, 3, stride: 2)       // nn.Conv1d(16, 33, 3, stride=2)
/// let y = conv(Tensor.randn([20, 16, 50]))     // [20, 33, 24]
/// ```
public final class Conv1d: ConvNd {
    public init(_ inChannels: Int, _ outChannels: Int, _ kernelSize: Int, stride: Int = 1, padding: Int = 0,
                dilation: Int = 1, groups: Int = 1, bias: Bool = true, dtype: DType = .float32, generator: Generator? = nil) {
        super.init(spatialDims: 1, inChannels, outChannels, kernelSize: [kernelSize], stride: [stride], padding: [padding],
                   dilation: [dilation], groups: groups, bias: bias, dtype: dtype, generator: generator)
    }

    /// The same with the kernel size labelled: `Conv1d(16, 33, kernelSize: 3)`.
    public convenience init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                            dilation: Int = 1, groups: Int = 1, bias: Bool = true, dtype: DType = .float32,
                            generator: Generator? = nil) {
        self.init(inChannels, outChannels, kernelSize, stride: stride, padding: padding, dilation: dilation,
                  groups: groups, bias: bias, dtype: dtype, generator: generator)
    }
}

/// 2-d convolution over `[N, C, H, W]` (or `[C, H, W]`), like `nn.Conv2d`. Per-axis sizes are
/// pairs, as in PyTorch, or arrays.
///
/// ```swift
/// let conv = Conv2d(3, 64, 3, padding: 1)                 // nn.Conv2d(3, 64, 3, padding=1)
/// let same = Conv2d(3, 64, kernelSize: 3, stride: 1, padding: 1, bias: false)
/// same.description   // "Conv2d(3, 64, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)"
/// let wide = Conv2d(16, 33, (3, 5), stride: (2, 1), padding: (4, 2))
/// let alsoWide = Conv2d(16, 33, kernelSize: [3, 5], stride: [2, 1], padding: [4, 2])
/// ```
public final class Conv2d: ConvNd {
    public init(_ inChannels: Int, _ outChannels: Int, _ kernelSize: Int, stride: Int = 1, padding: Int = 0,
                dilation: Int = 1, groups: Int = 1, bias: Bool = true, dtype: DType = .float32, generator: Generator? = nil) {
        super.init(spatialDims: 2, inChannels, outChannels, kernelSize: [kernelSize], stride: [stride], padding: [padding],
                   dilation: [dilation], groups: groups, bias: bias, dtype: dtype, generator: generator)
    }

    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: [Int], stride: [Int] = [1], padding: [Int] = [0],
                dilation: [Int] = [1], groups: Int = 1, bias: Bool = true, dtype: DType = .float32, generator: Generator? = nil) {
        super.init(spatialDims: 2, inChannels, outChannels, kernelSize: kernelSize, stride: stride, padding: padding,
                   dilation: dilation, groups: groups, bias: bias, dtype: dtype, generator: generator)
    }

    /// The same with the kernel size labelled: `Conv2d(3, 64, kernelSize: 3)`.
    public convenience init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                            dilation: Int = 1, groups: Int = 1, bias: Bool = true, dtype: DType = .float32,
                            generator: Generator? = nil) {
        self.init(inChannels, outChannels, kernelSize, stride: stride, padding: padding, dilation: dilation,
                  groups: groups, bias: bias, dtype: dtype, generator: generator)
    }

    /// Per-axis sizes as pairs, PyTorch's tuples: `Conv2d(16, 33, (3, 5), stride: (2, 1))`.
    public convenience init(_ inChannels: Int, _ outChannels: Int, _ kernelSize: (Int, Int), stride: (Int, Int) = (1, 1),
                            padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1, bias: Bool = true,
                            dtype: DType = .float32, generator: Generator? = nil) {
        self.init(inChannels, outChannels, kernelSize: [kernelSize.0, kernelSize.1], stride: [stride.0, stride.1],
                  padding: [padding.0, padding.1], dilation: [dilation.0, dilation.1], groups: groups, bias: bias,
                  dtype: dtype, generator: generator)
    }
}

/// 3-d convolution over `[N, C, D, H, W]` (or `[C, D, H, W]`), like `nn.Conv3d`.
///
/// ```swift
/// let conv = Conv3d(4, 8, 3, padding: 1)         // nn.Conv3d(4, 8, 3, padding=1)
/// let y = conv(Tensor.randn([2, 4, 8, 8, 8]))   // [2, 8, 8, 8, 8]
/// ```
public final class Conv3d: ConvNd {
    public init(_ inChannels: Int, _ outChannels: Int, _ kernelSize: Int, stride: Int = 1, padding: Int = 0,
                dilation: Int = 1, groups: Int = 1, bias: Bool = true, dtype: DType = .float32, generator: Generator? = nil) {
        super.init(spatialDims: 3, inChannels, outChannels, kernelSize: [kernelSize], stride: [stride], padding: [padding],
                   dilation: [dilation], groups: groups, bias: bias, dtype: dtype, generator: generator)
    }

    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: [Int], stride: [Int] = [1], padding: [Int] = [0],
                dilation: [Int] = [1], groups: Int = 1, bias: Bool = true, dtype: DType = .float32, generator: Generator? = nil) {
        super.init(spatialDims: 3, inChannels, outChannels, kernelSize: kernelSize, stride: stride, padding: padding,
                   dilation: dilation, groups: groups, bias: bias, dtype: dtype, generator: generator)
    }

    /// The same with the kernel size labelled: `Conv3d(4, 8, kernelSize: 3)`.
    public convenience init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                            dilation: Int = 1, groups: Int = 1, bias: Bool = true, dtype: DType = .float32,
                            generator: Generator? = nil) {
        self.init(inChannels, outChannels, kernelSize, stride: stride, padding: padding, dilation: dilation,
                  groups: groups, bias: bias, dtype: dtype, generator: generator)
    }

    /// Per-axis sizes as triples, PyTorch's tuples: `Conv3d(4, 8, (3, 3, 1), padding: (1, 1, 0))`.
    public convenience init(_ inChannels: Int, _ outChannels: Int, _ kernelSize: (Int, Int, Int),
                            stride: (Int, Int, Int) = (1, 1, 1), padding: (Int, Int, Int) = (0, 0, 0),
                            dilation: (Int, Int, Int) = (1, 1, 1), groups: Int = 1, bias: Bool = true,
                            dtype: DType = .float32, generator: Generator? = nil) {
        self.init(inChannels, outChannels, kernelSize: [kernelSize.0, kernelSize.1, kernelSize.2],
                  stride: [stride.0, stride.1, stride.2], padding: [padding.0, padding.1, padding.2],
                  dilation: [dilation.0, dilation.1, dilation.2], groups: groups, bias: bias, dtype: dtype, generator: generator)
    }
}
