import TensorCore
import Autograd

// Functional 2-d pooling (`F.max_pool2d`, `F.avg_pool2d`, `F.adaptive_avg_pool2d`) on
// `[N, C, H, W]` or unbatched `[C, H, W]` input, differentiable.

/// The pooling planes of a 3-d or 4-d input: (planes, H, W, leading shape).
private func poolPlanes(_ input: Tensor) -> (Int, Int, Int, [Int]) {
    let lead = Array(input.shape.dropLast(2))
    return (lead.reduce(1, *), input.shape[input.rank - 2], input.shape[input.rank - 1], lead)
}

/// Checks a max or average pooling as PyTorch does and returns its geometry.
public func validatePool2d(_ input: Tensor, kernelSize: (Int, Int), stride: (Int, Int)?, padding: (Int, Int),
                           dilation: (Int, Int) = (1, 1), ceilMode: Bool = false, isMax: Bool) throws(UsageError) -> PoolGeometry {
    let name = isMax ? "max_pool2d" : "avg_pool2d"
    guard (input.rank == 3 || input.rank == 4), input.count > 0 || input.shape.dropFirst().allSatisfy({ $0 > 0 }) else {
        throw UsageError(name, isMax ? "non-empty 3D or 4D (batch mode) tensor expected for input"
                                     : "non-empty 3D or 4D (batch mode) tensor expected for input, but got \(shapeString(input.shape))")
    }
    guard input.dtype.isFloatingPoint else {
        throw UsageError(name, "\"\(name)\" not implemented for '\(input.dtype)'")
    }
    let s = stride ?? kernelSize
    guard kernelSize.0 > 0 && kernelSize.1 > 0 else {
        throw UsageError(name, "kernel_size must be greater than zero, but got kH: \(kernelSize.0) kW: \(kernelSize.1)")
    }
    guard s.0 > 0 && s.1 > 0 else { throw UsageError(name, "stride should not be zero") }
    guard dilation.0 > 0 && dilation.1 > 0 else {
        throw UsageError(name, "dilation should be greater than zero, but got dilationH: \(dilation.0) dilationW: \(dilation.1)")
    }
    for (k, p, d) in [(kernelSize.0, padding.0, dilation.0), (kernelSize.1, padding.1, dilation.1)] {
        if isMax {
            guard p >= 0 && p <= ((k - 1) * d + 1) / 2 else {
                throw UsageError(name, "pad should be at most half of effective kernel size, but got pad=\(p), kernel_size=\(k) and dilation=\(d)")
            }
        } else {
            guard p >= 0 && p <= k / 2 else {
                throw UsageError(name, "pad should be at most half of kernel size, but got pad=\(p) and kernel_size=\(k)")
            }
        }
    }
    let (planes, h, w, lead) = poolPlanes(input)
    let geo = PoolGeometry(planes: planes, inputHeight: h, inputWidth: w, kernel: kernelSize, stride: s,
                           padding: padding, dilation: dilation, ceilMode: ceilMode)
    guard geo.outputHeight >= 1 && geo.outputWidth >= 1 else {
        let c = lead.last ?? 1
        throw UsageError(name, "Given input size: (\(c)x\(h)x\(w)). Calculated output size: (\(c)x\(geo.outputHeight)x\(geo.outputWidth)). Output size is too small")
    }
    return geo
}

/// 2-d max pooling with the flat in-plane index of every maximum (like
/// `F.max_pool2d(..., return_indices=True)`).
///
/// ```swift
/// let (y, indices) = maxPool2dWithIndices(x, kernelSize: (2, 2))
/// ```
public func maxPool2dWithIndices(_ input: Tensor, kernelSize: (Int, Int), stride: (Int, Int)? = nil,
                                 padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1),
                                 ceilMode: Bool = false) -> (values: Tensor, indices: Tensor) {
    let geo: PoolGeometry
    do {
        geo = try validatePool2d(input, kernelSize: kernelSize, stride: stride, padding: padding,
                                 dilation: dilation, ceilMode: ceilMode, isMax: true)
    } catch { usageFailure(error) }
    let outShape = Array(input.shape.dropLast(2)) + [geo.outputHeight, geo.outputWidth]
    let (values, indices) = Kernels.maxPool2d(input, geo, outputShape: outShape)
    guard input.needsGradient else { return (values, indices) }
    let inputShape = input.shape
    let out = Autograd.record("max_pool2d", output: values, inputs: [input]) { g in
        [Kernels.maxPool2dBackward(g, indices: indices, inputShape: inputShape, geo)]
    }
    return (out, indices)
}

/// 2-d max pooling, like `F.max_pool2d` (stride defaults to the kernel size; padding counts as
/// −∞; NaN propagates).
///
/// ```swift
/// let y = maxPool2d(x, kernelSize: (3, 3), stride: (2, 2), padding: (1, 1))
/// ```
public func maxPool2d(_ input: Tensor, kernelSize: (Int, Int), stride: (Int, Int)? = nil,
                      padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), ceilMode: Bool = false) -> Tensor {
    maxPool2dWithIndices(input, kernelSize: kernelSize, stride: stride, padding: padding, dilation: dilation, ceilMode: ceilMode).values
}

/// 2-d max pooling with a square window: `maxPool2d(x, kernelSize: 2)` halves H and W.
public func maxPool2d(_ input: Tensor, kernelSize: Int, stride: Int? = nil, padding: Int = 0,
                      dilation: Int = 1, ceilMode: Bool = false) -> Tensor {
    maxPool2d(input, kernelSize: (kernelSize, kernelSize), stride: stride.map { ($0, $0) },
              padding: (padding, padding), dilation: (dilation, dilation), ceilMode: ceilMode)
}

/// 2-d average pooling, like `F.avg_pool2d`: `countIncludePad` counts zero padding in the
/// divisor, `divisorOverride` replaces the divisor.
///
/// ```swift
/// let y = avgPool2d(x, kernelSize: (2, 2))
/// ```
public func avgPool2d(_ input: Tensor, kernelSize: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0),
                      ceilMode: Bool = false, countIncludePad: Bool = true, divisorOverride: Int? = nil) -> Tensor {
    let geo: PoolGeometry
    do {
        geo = try validatePool2d(input, kernelSize: kernelSize, stride: stride, padding: padding,
                                 ceilMode: ceilMode, isMax: false)
    } catch { usageFailure(error) }
    usageCheck(divisorOverride != 0, "avg_pool2d", "divisor must be not zero")
    let outShape = Array(input.shape.dropLast(2)) + [geo.outputHeight, geo.outputWidth]
    let out = Kernels.avgPool2d(input, geo, outputShape: outShape, countIncludePad: countIncludePad, divisor: divisorOverride)
    guard input.needsGradient else { return out }
    let inputShape = input.shape
    return Autograd.record("avg_pool2d", output: out, inputs: [input]) { g in
        [Kernels.avgPool2dBackward(g, inputShape: inputShape, geo, countIncludePad: countIncludePad, divisor: divisorOverride)]
    }
}

/// 2-d average pooling with a square window.
public func avgPool2d(_ input: Tensor, kernelSize: Int, stride: Int? = nil, padding: Int = 0, ceilMode: Bool = false,
                      countIncludePad: Bool = true, divisorOverride: Int? = nil) -> Tensor {
    avgPool2d(input, kernelSize: (kernelSize, kernelSize), stride: stride.map { ($0, $0) }, padding: (padding, padding),
              ceilMode: ceilMode, countIncludePad: countIncludePad, divisorOverride: divisorOverride)
}

/// Checks an adaptive average pooling as PyTorch does.
public func validateAdaptiveAvgPool2d(_ input: Tensor, outputSize: (Int, Int)) throws(UsageError) {
    guard input.rank == 3 || input.rank == 4 else {
        throw UsageError("adaptive_avg_pool2d", "adaptive_avg_pool2d(): Expected 3D or 4D tensor, but got \(shapeString(input.shape))")
    }
    for d in 1..<input.rank where input.shape[d] == 0 {
        throw UsageError("adaptive_avg_pool2d", "adaptive_avg_pool2d(): Expected input to have non-zero size for non-batch dimensions, but input has sizes \(shapeString(input.shape)) with dimension \(d) being empty")
    }
    guard outputSize.0 >= 0 && outputSize.1 >= 0 else {
        throw UsageError("adaptive_avg_pool2d", "adaptive_avg_pool2d: elements of output_size must be greater than or equal to 0 but received {\(outputSize.0), \(outputSize.1)}")
    }
    guard input.dtype.isFloatingPoint else {
        throw UsageError("adaptive_avg_pool2d", "\"adaptive_avg_pool2d\" not implemented for '\(input.dtype)'")
    }
}

/// Adaptive 2-d average pooling to `outputSize` (`nil` keeps that input dimension), like
/// `F.adaptive_avg_pool2d`.
///
/// ```swift
/// let pooled = adaptiveAvgPool2d(features, outputSize: (1, 1))   // global average pool
/// ```
public func adaptiveAvgPool2d(_ input: Tensor, outputSize: (Int?, Int?)) -> Tensor {
    let h = input.rank >= 2 ? input.shape[input.rank - 2] : 0, w = input.shape.last ?? 0
    let size = (outputSize.0 ?? h, outputSize.1 ?? w)
    do { try validateAdaptiveAvgPool2d(input, outputSize: size) } catch { usageFailure(error) }
    let (planes, _, _, lead) = poolPlanes(input)
    let outShape = lead + [size.0, size.1]
    let out = Kernels.adaptiveAvgPool2d(input, planes: planes, inputSize: (h, w), outputSize: size, outputShape: outShape)
    guard input.needsGradient else { return out }
    let inputShape = input.shape
    return Autograd.record("adaptive_avg_pool2d", output: out, inputs: [input]) { g in
        [Kernels.adaptiveAvgPool2dBackward(g, inputShape: inputShape, planes: planes, inputSize: (h, w), outputSize: size)]
    }
}

/// Adaptive 2-d average pooling to a square `outputSize`.
public func adaptiveAvgPool2d(_ input: Tensor, outputSize: Int) -> Tensor {
    adaptiveAvgPool2d(input, outputSize: (outputSize, outputSize))
}
