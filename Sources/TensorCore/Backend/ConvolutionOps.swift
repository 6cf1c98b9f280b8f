/// Convolution over 1 to 3 spatial dimensions (groups, stride, padding, dilation).
public protocol ConvolutionOps {
    /// `input` `[N, C, *in]`, `weight` `[O, C/groups, *k]`, optional `bias` `[O]` → `[N, O, *out]`
    /// (contiguous, one float dtype, shapes validated against `geo`).
    func convolution(_ input: Tensor, _ weight: Tensor, _ bias: Tensor?, _ geo: ConvGeometry) -> Tensor
    /// The gradients of input, weight and bias (each only when asked for) from `gradOut` `[N, O, *out]`.
    func convolutionBackward(_ gradOut: Tensor, _ input: Tensor, _ weight: Tensor, _ geo: ConvGeometry,
                             needInput: Bool, needWeight: Bool, needBias: Bool) -> (input: Tensor?, weight: Tensor?, bias: Tensor?)
}

/// The shape of one convolution: batch, channels, groups and per-spatial-dimension kernel,
/// stride, padding and dilation (1 to 3 spatial dimensions).
public struct ConvGeometry: Sendable, Equatable, CustomStringConvertible {
    public let batch: Int
    public let inChannels: Int
    public let outChannels: Int
    public let groups: Int
    /// Input spatial size (`[L]`, `[H, W]` or `[D, H, W]`).
    public let inputSize: [Int]
    public let kernelSize: [Int]
    public let stride: [Int]
    public let padding: [Int]
    public let dilation: [Int]
    /// Output spatial size: ⌊(in + 2·pad − dil·(k − 1) − 1) / stride⌋ + 1.
    public let outputSize: [Int]

    public init(batch: Int, inChannels: Int, outChannels: Int, groups: Int, inputSize: [Int],
                kernelSize: [Int], stride: [Int], padding: [Int], dilation: [Int]) {
        self.batch = batch; self.inChannels = inChannels; self.outChannels = outChannels
        self.groups = groups; self.inputSize = inputSize; self.kernelSize = kernelSize
        self.stride = stride; self.padding = padding; self.dilation = dilation
        outputSize = (0..<inputSize.count).map { d in
            (inputSize[d] + 2 * padding[d] - dilation[d] * (kernelSize[d] - 1) - 1) / stride[d] + 1
        }
    }

    public var description: String {
        "conv(N=\(batch), C=\(inChannels)→\(outChannels), groups=\(groups), in=\(inputSize), k=\(kernelSize), s=\(stride), p=\(padding), d=\(dilation))"
    }

    /// Input, output and kernel sizes as three spatial dimensions (leading ones filled with 1).
    var padded: ConvGeom3 {
        let lead = 3 - inputSize.count
        func p(_ a: [Int], _ fill: Int) -> [Int] { [Int](repeating: fill, count: lead) + a }
        let i = p(inputSize, 1), k = p(kernelSize, 1), s = p(stride, 1), pd = p(padding, 0)
        let dl = p(dilation, 1), o = p(outputSize, 1)
        return ConvGeom3(D: i[0], H: i[1], W: i[2], KD: k[0], KH: k[1], KW: k[2], SD: s[0], SH: s[1], SW: s[2],
                         PD: pd[0], PH: pd[1], PW: pd[2], DD: dl[0], DH: dl[1], DW: dl[2], OD: o[0], OH: o[1], OW: o[2])
    }

    var kernelCount: Int { kernelSize.reduce(1, *) }
    var inputCount: Int { inputSize.reduce(1, *) }
    var outputCount: Int { outputSize.reduce(1, *) }
    /// Whether the input can serve as the column matrix itself.
    var isPointwise: Bool {
        kernelSize.allSatisfy { $0 == 1 } && stride.allSatisfy { $0 == 1 } && padding.allSatisfy { $0 == 0 }
    }
    /// Multiply-adds of the whole forward pass.
    var work: Int { batch * outChannels * (inChannels / max(groups, 1)) * kernelCount * outputCount }
}

extension Kernels {
    /// Convolution forward: `input` `[N, C, *in]`, `weight` `[O, C/groups, *k]`, optional `bias`
    /// `[O]` → `[N, O, *out]` (all contiguous, float32 or float64, shapes already validated).
    ///
    /// ```swift
    /// let geo = ConvGeometry(batch: 8, inChannels: 3, outChannels: 16, groups: 1, inputSize: [32, 32],
    ///                        kernelSize: [3, 3], stride: [1, 1], padding: [1, 1], dilation: [1, 1])
    /// let y = Kernels.convolution(x, w, b, geo)   // [8, 16, 32, 32]
    /// ```
    public static func convolution(_ input: Tensor, _ weight: Tensor, _ bias: Tensor?, _ geo: ConvGeometry) -> Tensor {
        guard input.dtype.isFloatingPoint else {
            usageFailure(UsageError("conv", "\"slow_conv2d_cpu\" not implemented for '\(input.dtype)'"))
        }
        return backend(input, weight, bias).convolution(input, weight, bias, geo)
    }

    /// Convolution backward: the gradients of input, weight and bias (each only when asked for)
    /// from the output gradient `gradOut` `[N, O, *out]`.
    public static func convolutionBackward(
        _ gradOut: Tensor, _ input: Tensor, _ weight: Tensor, _ geo: ConvGeometry,
        needInput: Bool = true, needWeight: Bool = true, needBias: Bool = true
    ) -> (input: Tensor?, weight: Tensor?, bias: Tensor?) {
        guard input.dtype.isFloatingPoint else {
            usageFailure(UsageError("conv", "\"slow_conv2d_cpu\" not implemented for '\(input.dtype)'"))
        }
        return backend(gradOut, input, weight).convolutionBackward(gradOut, input, weight, geo, needInput: needInput,
                                                                   needWeight: needWeight, needBias: needBias)
    }
}
