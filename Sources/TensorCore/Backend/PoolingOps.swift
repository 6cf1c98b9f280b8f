/// 2-d pooling over planes: max (with the argmax kept for backward), average and adaptive average.
public protocol PoolingOps {
    /// Max pooling of `geo.planes` planes: values shaped `outputShape` and, per output element, the
    /// flat index of its maximum within its plane.
    func maxPool2d(_ input: Tensor, _ geo: PoolGeometry, outputShape: [Int]) -> (values: Tensor, indices: Tensor)
    /// Routes each output gradient to the input element its maximum came from.
    func maxPool2dBackward(_ gradOut: Tensor, indices: Tensor, inputShape: [Int], _ geo: PoolGeometry) -> Tensor
    /// Average pooling with PyTorch's `count_include_pad` and `divisor_override` rules.
    func avgPool2d(_ input: Tensor, _ geo: PoolGeometry, outputShape: [Int], countIncludePad: Bool, divisor: Int?) -> Tensor
    /// Gradient of ``avgPool2d(_:_:outputShape:countIncludePad:divisor:)``.
    func avgPool2dBackward(_ gradOut: Tensor, inputShape: [Int], _ geo: PoolGeometry, countIncludePad: Bool, divisor: Int?) -> Tensor
    /// Adaptive average pooling of `planes` planes of `inputSize` to `outputSize` (PyTorch's bins).
    func adaptiveAvgPool2d(_ input: Tensor, planes: Int, inputSize: (Int, Int), outputSize: (Int, Int),
                           outputShape: [Int]) -> Tensor
    /// Gradient of ``adaptiveAvgPool2d(_:planes:inputSize:outputSize:outputShape:)``.
    func adaptiveAvgPool2dBackward(_ gradOut: Tensor, inputShape: [Int], planes: Int, inputSize: (Int, Int),
                                   outputSize: (Int, Int)) -> Tensor
}

/// Window geometry of a 2-d pooling: kernel, stride, padding, dilation per axis (H, W).
public struct PoolGeometry: Sendable, Equatable {
    public let planes: Int
    public let inputHeight: Int, inputWidth: Int
    public let kernel: (Int, Int)
    public let stride: (Int, Int)
    public let padding: (Int, Int)
    public let dilation: (Int, Int)
    public let ceilMode: Bool
    public let outputHeight: Int, outputWidth: Int

    public init(planes: Int, inputHeight: Int, inputWidth: Int, kernel: (Int, Int), stride: (Int, Int),
                padding: (Int, Int), dilation: (Int, Int) = (1, 1), ceilMode: Bool = false) {
        self.planes = planes; self.inputHeight = inputHeight; self.inputWidth = inputWidth
        self.kernel = kernel; self.stride = stride; self.padding = padding; self.dilation = dilation
        self.ceilMode = ceilMode
        outputHeight = PoolGeometry.outputSize(inputHeight, kernel.0, stride.0, padding.0, dilation.0, ceilMode)
        outputWidth = PoolGeometry.outputSize(inputWidth, kernel.1, stride.1, padding.1, dilation.1, ceilMode)
    }

    /// PyTorch's `pooling_output_shape`: in ceil mode the last window must start inside the input
    /// or its left padding.
    public static func outputSize(_ size: Int, _ k: Int, _ s: Int, _ p: Int, _ d: Int, _ ceil: Bool) -> Int {
        let numerator = size + 2 * p - d * (k - 1) - 1 + (ceil ? s - 1 : 0)
        var out = Int((Double(numerator) / Double(s)).rounded(.down)) + 1
        if ceil && (out - 1) * s >= size + p { out -= 1 }
        return out
    }

    public static func == (a: PoolGeometry, b: PoolGeometry) -> Bool {
        a.planes == b.planes && a.inputHeight == b.inputHeight && a.inputWidth == b.inputWidth
            && a.kernel == b.kernel && a.stride == b.stride && a.padding == b.padding
            && a.dilation == b.dilation && a.ceilMode == b.ceilMode
    }
}

extension Kernels {
    /// 2-d max pooling over `geo.planes` planes: the output (`[planes·OH·OW]` values, shaped like
    /// `outputShape`) and, per output element, the flat index of the maximum within its plane.
    ///
    /// ```swift
    /// let geo = PoolGeometry(planes: n * c, inputHeight: 28, inputWidth: 28, kernel: (2, 2), stride: (2, 2), padding: (0, 0))
    /// let (y, argmax) = Kernels.maxPool2d(x, geo, outputShape: [n, c, 14, 14])
    /// ```
    public static func maxPool2d(_ input: Tensor, _ geo: PoolGeometry, outputShape: [Int]) -> (values: Tensor, indices: Tensor) {
        floatOnly(input, "max_pool2d")
        return backend(input).maxPool2d(input, geo, outputShape: outputShape)
    }

    /// Routes each output gradient to the input element its maximum came from.
    public static func maxPool2dBackward(_ gradOut: Tensor, indices: Tensor, inputShape: [Int], _ geo: PoolGeometry) -> Tensor {
        backend(gradOut, indices).maxPool2dBackward(gradOut, indices: indices, inputShape: inputShape, geo)
    }

    /// 2-d average pooling with PyTorch's rules for padding (`countIncludePad`) and `divisor`
    /// (divisor_override).
    public static func avgPool2d(_ input: Tensor, _ geo: PoolGeometry, outputShape: [Int],
                                 countIncludePad: Bool = true, divisor: Int? = nil) -> Tensor {
        floatOnly(input, "avg_pool2d")
        return backend(input).avgPool2d(input, geo, outputShape: outputShape, countIncludePad: countIncludePad, divisor: divisor)
    }

    /// Gradient of ``avgPool2d(_:_:outputShape:countIncludePad:divisor:)``.
    public static func avgPool2dBackward(_ gradOut: Tensor, inputShape: [Int], _ geo: PoolGeometry,
                                         countIncludePad: Bool = true, divisor: Int? = nil) -> Tensor {
        backend(gradOut).avgPool2dBackward(gradOut, inputShape: inputShape, geo, countIncludePad: countIncludePad, divisor: divisor)
    }

    /// Adaptive average pooling of `planes` planes of `H×W` to `OH×OW` (PyTorch's bins:
    /// ⌊o·in/out⌋ ..< ⌈(o+1)·in/out⌉).
    public static func adaptiveAvgPool2d(_ input: Tensor, planes: Int, inputSize: (Int, Int), outputSize: (Int, Int),
                                         outputShape: [Int]) -> Tensor {
        floatOnly(input, "adaptive_avg_pool2d")
        return backend(input).adaptiveAvgPool2d(input, planes: planes, inputSize: inputSize, outputSize: outputSize,
                                                outputShape: outputShape)
    }

    /// Gradient of ``adaptiveAvgPool2d(_:planes:inputSize:outputSize:outputShape:)``.
    public static func adaptiveAvgPool2dBackward(_ gradOut: Tensor, inputShape: [Int], planes: Int,
                                                 inputSize: (Int, Int), outputSize: (Int, Int)) -> Tensor {
        backend(gradOut).adaptiveAvgPool2dBackward(gradOut, inputShape: inputShape, planes: planes, inputSize: inputSize,
                                                   outputSize: outputSize)
    }

    private static func floatOnly(_ t: Tensor, _ op: String) {
        if !t.dtype.isFloatingPoint { usageFailure(UsageError(op, "\"\(op)\" not implemented for '\(t.dtype)'")) }
    }
}
