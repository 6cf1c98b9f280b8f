import TensorCore
import Autograd

// Functional convolutions (`F.conv1d/2d/3d`): one N-d implementation (im2col + the packed GEMM,
// `Kernels.convolution`) behind all three, differentiable in input, weight and bias.

/// Checks a convolution's operands as PyTorch does and returns its geometry. `spatialDims` is 1,
/// 2 or 3; `stride`, `padding`, `dilation` hold one value per spatial dimension (or one for all).
/// An unbatched input (`[C, *]`) is read as a batch of one.
///
/// ```swift
/// let geo = try validateConvolution(x, weight: w, bias: nil, spatialDims: 2,
///                                   stride: [1], padding: [1], dilation: [1], groups: 1)
/// geo.outputSize   // [32, 32]
/// ```
public func validateConvolution(
    _ input: Tensor, weight: Tensor, bias: Tensor?, spatialDims d: Int,
    stride: [Int], padding: [Int], dilation: [Int], groups: Int
) throws(UsageError) -> ConvGeometry {
    let name = "conv\(d)d"
    guard input.rank == d + 1 || input.rank == d + 2 else {
        throw UsageError(name, "Expected \(d + 1)D (unbatched) or \(d + 2)D (batched) input to \(name), but got input of size: \(shapeString(input.shape))")
    }
    guard weight.rank == d + 2 else {
        throw UsageError(name, "Expected \(d + 2)-dimensional weight for \(name), but got weight of size \(shapeString(weight.shape))")
    }
    guard input.dtype.isFloatingPoint, input.dtype == weight.dtype else {
        throw UsageError(name, "Input type (\(input.dtype)) and weight type (\(weight.dtype)) should be the same")
    }
    if let bias, bias.dtype != input.dtype {
        throw UsageError(name, "Input type (\(input.dtype)) and bias type (\(bias.dtype)) should be the same")
    }
    func expand(_ v: [Int], _ what: String) throws(UsageError) -> [Int] {
        if v.count == d { return v }
        if v.count == 1 { return [Int](repeating: v[0], count: d) }
        throw UsageError(name, "expected \(what) to be a single integer value or a list of \(d) values to match the convolution dimensions, but got \(what)=\(shapeString(v))")
    }
    let s = try expand(stride, "stride"), p = try expand(padding, "padding"), dl = try expand(dilation, "dilation")
    guard s.allSatisfy({ $0 > 0 }) else { throw UsageError(name, "non-positive stride is not supported") }
    guard p.allSatisfy({ $0 >= 0 }) else { throw UsageError(name, "negative padding is not supported") }
    guard dl.allSatisfy({ $0 > 0 }) else { throw UsageError(name, "dilation should be greater than zero") }
    guard groups > 0 else { throw UsageError(name, "non-positive groups is not supported") }
    let batched = input.rank == d + 2
    let x = batched ? input.shape : [1] + input.shape
    let outC = weight.shape[0]
    guard outC % groups == 0 else {
        throw UsageError(name, "Given groups=\(groups), expected weight to be divisible by \(groups) at dimension 0, but got weight of size \(shapeString(weight.shape)) instead")
    }
    guard x[1] == weight.shape[1] * groups else {
        throw UsageError(name, "Given groups=\(groups), weight of size \(shapeString(weight.shape)), expected input\(shapeString(x)) to have \(weight.shape[1] * groups) channels, but got \(x[1]) channels instead")
    }
    if let bias, bias.rank != 1 || bias.count != outC {
        throw UsageError(name, "Given weight of size \(shapeString(weight.shape)), expected bias to be 1-dimensional with \(outC) elements, but got bias of size \(shapeString(bias.shape)) instead")
    }
    let kernel = Array(weight.shape[2...])
    let spatial = Array(x[2...])
    let paddedSize = (0..<d).map { spatial[$0] + 2 * p[$0] }
    let effectiveKernel = (0..<d).map { dl[$0] * (kernel[$0] - 1) + 1 }
    if (0..<d).contains(where: { paddedSize[$0] < effectiveKernel[$0] }) {
        throw UsageError(name, "Calculated padded input size per channel: (\(paddedSize.map(String.init).joined(separator: " x "))). Kernel size: (\(effectiveKernel.map(String.init).joined(separator: " x "))). Kernel size can't be greater than actual input size")
    }
    return ConvGeometry(batch: x[0], inChannels: x[1], outChannels: outC, groups: groups, inputSize: spatial,
                        kernelSize: kernel, stride: s, padding: p, dilation: dl)
}

/// The N-d convolution behind ``conv1d(_:weight:bias:stride:padding:dilation:groups:)``,
/// ``conv2d(_:weight:bias:stride:padding:dilation:groups:)`` and
/// ``conv3d(_:weight:bias:stride:padding:dilation:groups:)``: `input` `[N, C, *in]` (or
/// unbatched `[C, *in]`), `weight` `[O, C/groups, *k]`, `bias` `[O]`.
///
/// ```swift
/// let y = convolution(x, weight: w, bias: b, stride: [2, 1], padding: [1, 0], dilation: [1], groups: 1)
/// ```
public func convolution(_ input: Tensor, weight: Tensor, bias: Tensor? = nil,
                        stride: [Int], padding: [Int], dilation: [Int], groups: Int = 1) -> Tensor {
    convolve(min(max(weight.rank - 2, 1), 3), input, weight, bias, stride, padding, dilation, groups)
}

private func convolve(_ d: Int, _ input: Tensor, _ weight: Tensor, _ bias: Tensor?,
                      _ stride: [Int], _ padding: [Int], _ dilation: [Int], _ groups: Int) -> Tensor {
    let geo: ConvGeometry
    do {
        geo = try validateConvolution(input, weight: weight, bias: bias, spatialDims: d, stride: stride,
                                      padding: padding, dilation: dilation, groups: groups)
    } catch { usageFailure(error) }
    let batched = input.rank == d + 2
    let x = batched ? input : input.viewData([1] + input.shape)
    let out = Kernels.convolution(x, weight, bias, geo)
    let result = batched ? out : out.viewData(Array(out.shape.dropFirst()))
    let inputs = [input, weight] + (bias.map { [$0] } ?? [])
    guard GradMode.isEnabled, inputs.contains(where: { $0.requiresGrad }) else { return result }
    return Autograd.record("convolution", output: result, inputs: inputs) { g in
        let g4 = batched ? g : g.viewData([1] + g.shape)
        let r = Kernels.convolutionBackward(g4, x, weight, geo, needInput: input.requiresGrad,
                                            needWeight: weight.requiresGrad, needBias: bias?.requiresGrad ?? false)
        let gx = r.input.map { $0.viewData(input.shape) }
        return bias == nil ? [gx, r.weight] : [gx, r.weight, r.bias]
    }
}

/// 1-d convolution over `[N, C, L]` (or `[C, L]`) with `weight` `[O, C/groups, k]`, like
/// `F.conv1d`.
///
/// ```swift
/// let y = conv1d(x, weight: w, bias: b, stride: 1, padding: 2)   // [N, O, L']
/// ```
public func conv1d(_ input: Tensor, weight: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: Int = 0,
                   dilation: Int = 1, groups: Int = 1) -> Tensor {
    convolve(1, input, weight, bias, [stride], [padding], [dilation], groups)
}

/// 2-d convolution over `[N, C, H, W]` (or `[C, H, W]`) with `weight` `[O, C/groups, kH, kW]`,
/// like `F.conv2d`. For per-axis stride or padding use ``convolution(_:weight:bias:stride:padding:dilation:groups:)``.
///
/// ```swift
/// let y = conv2d(x, weight: w, bias: b, stride: 1, padding: 1)   // same-size output for 3×3
/// ```
public func conv2d(_ input: Tensor, weight: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: Int = 0,
                   dilation: Int = 1, groups: Int = 1) -> Tensor {
    convolve(2, input, weight, bias, [stride], [padding], [dilation], groups)
}

/// 3-d convolution over `[N, C, D, H, W]` (or `[C, D, H, W]`) with `weight`
/// `[O, C/groups, kD, kH, kW]`, like `F.conv3d`.
///
/// ```swift
/// let y = conv3d(x, weight: w, padding: 1)
/// ```
public func conv3d(_ input: Tensor, weight: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: Int = 0,
                   dilation: Int = 1, groups: Int = 1) -> Tensor {
    convolve(3, input, weight, bias, [stride], [padding], [dilation], groups)
}
