import TensorCore
import Autograd

/// 2-d max pooling, like `nn.MaxPool2d` (stride defaults to the kernel size).
///
/// ```swift
/// let pool = MaxPool2d(2)
/// pool(Tensor.randn([8, 16, 28, 28])).shape   // [8, 16, 14, 14]
/// pool.description  // "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)"
/// ```
public final class MaxPool2d: Module {
    public let kernelSize: (Int, Int)
    public let stride: (Int, Int)
    public let padding: (Int, Int)
    public let dilation: (Int, Int)
    public let ceilMode: Bool
    private let square: Bool

    public init(_ kernelSize: Int, stride: Int? = nil, padding: Int = 0, dilation: Int = 1, ceilMode: Bool = false) {
        self.kernelSize = (kernelSize, kernelSize)
        let s = stride ?? kernelSize
        self.stride = (s, s)
        self.padding = (padding, padding)
        self.dilation = (dilation, dilation)
        self.ceilMode = ceilMode
        square = true
        super.init()
    }

    public init(_ kernelSize: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0),
                dilation: (Int, Int) = (1, 1), ceilMode: Bool = false) {
        self.kernelSize = kernelSize
        self.stride = stride ?? kernelSize
        self.padding = padding
        self.dilation = dilation
        self.ceilMode = ceilMode
        square = false
        super.init()
    }

    public func validate(_ input: Tensor) throws(UsageError) {
        _ = try validatePool2d(input, kernelSize: kernelSize, stride: stride, padding: padding, dilation: dilation,
                               ceilMode: ceilMode, isMax: true)
    }

    override public func forward(_ x: Tensor) -> Tensor {
        maxPool2d(x, kernelSize: kernelSize, stride: stride, padding: padding, dilation: dilation, ceilMode: ceilMode)
    }

    override public var extraDescription: String {
        func r(_ t: (Int, Int)) -> String { square ? "\(t.0)" : PyRepr.tuple([t.0, t.1]) }
        return "kernel_size=\(r(kernelSize)), stride=\(r(stride)), padding=\(r(padding)), dilation=\(r(dilation)), ceil_mode=\(PyRepr.bool(ceilMode))"
    }
}

/// 2-d average pooling, like `nn.AvgPool2d`.
///
/// ```swift
/// let pool = AvgPool2d(2)
/// pool.description  // "AvgPool2d(kernel_size=2, stride=2, padding=0)"
/// ```
public final class AvgPool2d: Module {
    public let kernelSize: (Int, Int)
    public let stride: (Int, Int)
    public let padding: (Int, Int)
    public let ceilMode: Bool
    public let countIncludePad: Bool
    public let divisorOverride: Int?
    private let square: Bool

    public init(_ kernelSize: Int, stride: Int? = nil, padding: Int = 0, ceilMode: Bool = false,
                countIncludePad: Bool = true, divisorOverride: Int? = nil) {
        self.kernelSize = (kernelSize, kernelSize)
        let s = stride ?? kernelSize
        self.stride = (s, s)
        self.padding = (padding, padding)
        self.ceilMode = ceilMode
        self.countIncludePad = countIncludePad
        self.divisorOverride = divisorOverride
        square = true
        super.init()
    }

    public init(_ kernelSize: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0), ceilMode: Bool = false,
                countIncludePad: Bool = true, divisorOverride: Int? = nil) {
        self.kernelSize = kernelSize
        self.stride = stride ?? kernelSize
        self.padding = padding
        self.ceilMode = ceilMode
        self.countIncludePad = countIncludePad
        self.divisorOverride = divisorOverride
        square = false
        super.init()
    }

    public func validate(_ input: Tensor) throws(UsageError) {
        _ = try validatePool2d(input, kernelSize: kernelSize, stride: stride, padding: padding, ceilMode: ceilMode, isMax: false)
    }

    override public func forward(_ x: Tensor) -> Tensor {
        avgPool2d(x, kernelSize: kernelSize, stride: stride, padding: padding, ceilMode: ceilMode,
                  countIncludePad: countIncludePad, divisorOverride: divisorOverride)
    }

    override public var extraDescription: String {
        func r(_ t: (Int, Int)) -> String { square ? "\(t.0)" : PyRepr.tuple([t.0, t.1]) }
        return "kernel_size=\(r(kernelSize)), stride=\(r(stride)), padding=\(r(padding))"
    }
}

/// Adaptive 2-d average pooling to a fixed output size, like `nn.AdaptiveAvgPool2d`
/// (`AdaptiveAvgPool2d(1)` is global average pooling).
///
/// ```swift
/// let gap = AdaptiveAvgPool2d(1)
/// gap(Tensor.randn([8, 64, 7, 7])).shape    // [8, 64, 1, 1]
/// gap.description   // "AdaptiveAvgPool2d(output_size=1)"
/// ```
public final class AdaptiveAvgPool2d: Module {
    /// Output height and width; nil keeps the input's.
    public let outputSize: (Int?, Int?)
    private let square: Bool

    public init(_ outputSize: Int) {
        self.outputSize = (outputSize, outputSize)
        square = true
        super.init()
    }

    public init(_ outputSize: (Int?, Int?)) {
        self.outputSize = outputSize
        square = false
        super.init()
    }

    public func validate(_ input: Tensor) throws(UsageError) {
        let h = input.rank >= 2 ? input.shape[input.rank - 2] : 0, w = input.shape.last ?? 0
        try validateAdaptiveAvgPool2d(input, outputSize: (outputSize.0 ?? h, outputSize.1 ?? w))
    }

    override public func forward(_ x: Tensor) -> Tensor {
        adaptiveAvgPool2d(x, outputSize: outputSize)
    }

    override public var extraDescription: String {
        if square, let s = outputSize.0 { return "output_size=\(s)" }
        func r(_ v: Int?) -> String { v.map(String.init) ?? "None" }
        return "output_size=(\(r(outputSize.0)), \(r(outputSize.1)))"
    }
}
