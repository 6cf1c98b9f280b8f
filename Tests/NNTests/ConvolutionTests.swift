import Testing
import Foundation
@testable import TensorCore
@testable import SwiftNN
import TestSupport

/// The shared float64 finite-difference check, with every input made a leaf that requires grad.
func convGradcheck(_ f: ([Tensor]) -> Tensor, inputs: [Tensor], eps: Double = 1e-6, atol: Double = 1e-6, rtol: Double = 1e-4) -> Bool {
    for x in inputs { x.requiresGrad = true; x.grad = nil }
    return gradcheck(f, inputs: inputs, eps: eps, atol: atol, rtol: rtol)
}

/// Deterministic pseudo-random values in (-1, 1).
func filled(_ shape: [Int], _ dtype: DType = .float64, seed: Int = 0) -> Tensor {
    let t = Tensor(uninitializedShape: shape, dtype: dtype)
    for i in 0..<t.count { t.setValue(sin(Double(i) * 12.9898 + Double(seed) * 78.233) , at: i) }
    return t
}

/// Convolution by its definition, N-d, in Double.
private func naiveConv(_ x: Tensor, _ w: Tensor, _ b: Tensor?, stride st: [Int], padding pd: [Int], dilation dl: [Int],
                       groups: Int) -> (shape: [Int], values: [Double]) {
    let d = w.rank - 2
    let N = x.shape[0], C = x.shape[1], O = w.shape[0], Cg = C / groups, Og = O / groups
    let inS = Array(x.shape[2...]), k = Array(w.shape[2...])
    let outS: [Int] = (0..<d).map { j -> Int in
        let span = dl[j] * (k[j] - 1) + 1
        return (inS[j] + 2 * pd[j] - span) / st[j] + 1
    }
    func unflatten(_ i: Int, _ dims: [Int]) -> [Int] {
        var r = [Int](repeating: 0, count: dims.count), rem = i
        for j in stride(from: dims.count - 1, through: 0, by: -1) { r[j] = rem % dims[j]; rem /= dims[j] }
        return r
    }
    let L = outS.reduce(1, *), K = k.reduce(1, *), S = inS.reduce(1, *)
    var out: [Double] = []
    for n in 0..<N { for o in 0..<O { for l in 0..<L {
        let op = unflatten(l, outS)
        var s = b.map { $0.doubleValue(at: o) } ?? 0
        let g = o / Og
        for c in 0..<Cg { for kk in 0..<K {
            let kp = unflatten(kk, k)
            var flat = 0, inside = true
            for j in 0..<d {
                let p = op[j] * st[j] - pd[j] + kp[j] * dl[j]
                if p < 0 || p >= inS[j] { inside = false }
                flat = flat * inS[j] + p
            }
            if inside {
                s += x.doubleValue(at: (n * C + g * Cg + c) * S + flat) * w.doubleValue(at: (o * Cg + c) * K + kk)
            }
        } }
        out.append(s)
    } } }
    return ([N, O] + outS, out)
}

/// The gradients of a convolution by its definition, in Double: every output position's upstream
/// gradient `gy` goes to each input element and weight that produced it.
private func naiveConvBackward(_ x: Tensor, _ w: Tensor, _ gy: Tensor, stride st: [Int], padding pd: [Int], dilation dl: [Int],
                               groups: Int) -> (input: [Double], weight: [Double], bias: [Double]) {
    let d = w.rank - 2
    let N = x.shape[0], C = x.shape[1], O = w.shape[0], Cg = C / groups, Og = O / groups
    let inS = Array(x.shape[2...]), k = Array(w.shape[2...]), outS = Array(gy.shape[2...])
    func unflatten(_ i: Int, _ dims: [Int]) -> [Int] {
        var r = [Int](repeating: 0, count: dims.count), rem = i
        for j in stride(from: dims.count - 1, through: 0, by: -1) { r[j] = rem % dims[j]; rem /= dims[j] }
        return r
    }
    let L = outS.reduce(1, *), K = k.reduce(1, *), S = inS.reduce(1, *)
    var gx = [Double](repeating: 0, count: x.count), gw = [Double](repeating: 0, count: w.count)
    var gb = [Double](repeating: 0, count: O)
    for n in 0..<N { for o in 0..<O { for l in 0..<L {
        let g = gy.doubleValue(at: (n * O + o) * L + l)
        gb[o] += g
        let op = unflatten(l, outS), grp = o / Og
        for c in 0..<Cg { for kk in 0..<K {
            let kp = unflatten(kk, k)
            var flat = 0, inside = true
            for j in 0..<d {
                let p = op[j] * st[j] - pd[j] + kp[j] * dl[j]
                if p < 0 || p >= inS[j] { inside = false }
                flat = flat * inS[j] + p
            }
            guard inside else { continue }
            let xi = (n * C + grp * Cg + c) * S + flat, wi = (o * Cg + c) * K + kk
            gx[xi] += g * w.doubleValue(at: wi)
            gw[wi] += g * x.doubleValue(at: xi)
        } }
    } } }
    return (gx, gw, gb)
}

private struct ConvCase: CustomStringConvertible, Sendable {
    var x: [Int], w: [Int], bias: Bool, stride: [Int], padding: [Int], dilation: [Int], groups: Int
    var description: String { "x\(x) w\(w) s\(stride) p\(padding) d\(dilation) g\(groups) bias=\(bias)" }
}

private let convCases: [ConvCase] = [
    ConvCase(x: [2, 4, 9], w: [6, 2, 3], bias: true, stride: [2], padding: [1], dilation: [2], groups: 2),
    ConvCase(x: [2, 3, 7, 6], w: [4, 3, 3, 2], bias: true, stride: [2, 1], padding: [1, 0], dilation: [1, 1], groups: 1),
    ConvCase(x: [1, 3, 5, 5], w: [3, 1, 3, 3], bias: false, stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 3),
    ConvCase(x: [2, 4, 3, 3], w: [5, 4, 1, 1], bias: true, stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: 1),
    ConvCase(x: [1, 2, 6, 7], w: [2, 2, 2, 3], bias: false, stride: [3, 2], padding: [1, 2], dilation: [2, 1], groups: 1),
    ConvCase(x: [2, 1, 16, 17], w: [2, 1, 3, 3], bias: true, stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1),
    ConvCase(x: [5, 2, 3, 3], w: [3, 2, 1, 1], bias: true, stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: 1),
    ConvCase(x: [1, 2, 4, 5, 3], w: [3, 2, 2, 3, 2], bias: true, stride: [1, 2, 1], padding: [1, 1, 0], dilation: [1, 1, 2], groups: 1),
]

@Suite struct ConvolutionTests {
    @Test func forwardMatchesDefinition() {
        for c in convCases {
            let x = filled(c.x, seed: 1), w = filled(c.w, seed: 2), b = c.bias ? filled([c.w[0]], seed: 3) : nil
            let y = convolution(x, weight: w, bias: b, stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups)
            let want = naiveConv(x, w, b, stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups)
            #expect(y.shape == want.shape, "\(c)")
            let ok = y.count == want.values.count && (0..<y.count).allSatisfy { abs(y.doubleValue(at: $0) - want.values[$0]) < 1e-12 }
            #expect(ok, "\(c)")
        }
    }

    @Test func gradcheckEveryCase() {
        // Larger cases (one sample per GEMM, threads) are checked against the definition below and
        // against PyTorch in ConvolutionFixtureTests.
        for c in convCases where c.x.reduce(1, *) <= 200 {
            var inputs = [filled(c.x, seed: 4), filled(c.w, seed: 5)]
            if c.bias { inputs.append(filled([c.w[0]], seed: 6)) }
            let ok = convGradcheck({ t in
                convolution(t[0], weight: t[1], bias: t.count > 2 ? t[2] : nil, stride: c.stride, padding: c.padding,
                            dilation: c.dilation, groups: c.groups)
            }, inputs: inputs)
            #expect(ok, "\(c)")
        }
    }

    @Test func functionalFormsAndUnbatchedInput() {
        let x = filled([3, 6, 6], seed: 7), w = filled([4, 3, 3, 3], seed: 8), b = filled([4], seed: 9)
        let y = conv2d(x, weight: w, bias: b, padding: 1)
        #expect(y.shape == [4, 6, 6])
        let yb = conv2d(x.viewData([1, 3, 6, 6]), weight: w, bias: b, padding: 1)
        #expect(y.toArray(of: Double.self) == yb.toArray(of: Double.self))
        #expect(convGradcheck({ conv2d($0[0], weight: $0[1], stride: 2, padding: 1) }, inputs: [filled([2, 5, 5], seed: 1), filled([2, 2, 3, 3], seed: 2)]))
        #expect(conv1d(filled([1, 2, 10]), weight: filled([3, 2, 4]), stride: 3).shape == [1, 3, 3])
        #expect(conv3d(filled([1, 1, 3, 4, 5]), weight: filled([2, 1, 3, 3, 3]), padding: 1).shape == [1, 2, 3, 4, 5])
    }

    /// float32 through the packed GEMM, with the samples split over threads, one per GEMM
    /// (large outputs) and several side by side (small outputs).
    @Test(arguments: [[4, 6, 16, 17], [20, 6, 9, 8]])
    func float32ThreadedMatchesDefinition(shape: [Int]) {
        // Task-local: convolutions in concurrently running tests keep the default threshold.
        var sizes = GEMMBlocking.sizes
        sizes.parallelWork = 1 << 12
        GEMMBlocking.$sizes.withValue(sizes) {
        let x = filled(shape, .float32, seed: 1), w = filled([10, 3, 3, 3], .float32, seed: 2), b = filled([10], .float32, seed: 3)
        let y = conv2d(x, weight: w, bias: b, stride: 1, padding: 1, groups: 2)
        let want = naiveConv(x, w, b, stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 2)
        #expect(y.shape == want.shape)
        #expect((0..<y.count).allSatisfy { abs(y.doubleValue(at: $0) - want.values[$0]) < 1e-4 })
        // Backward in float32 against the definition (and against PyTorch in ConvolutionFixtureTests).
        for t in [x, w, b] { t.requiresGrad = true }
        let y32 = conv2d(x, weight: w, bias: b, stride: 1, padding: 1, groups: 2)
        let gy = filled(y32.shape, .float32, seed: 4)
        y32.backward(gy)
        let wantGrad = naiveConvBackward(x, w, gy, stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 2)
        #expect(Reference.mismatches(x.grad, Tensor(wantGrad.input, shape: x.shape)).isEmpty)
        #expect(Reference.mismatches(w.grad, Tensor(wantGrad.weight, shape: w.shape)).isEmpty)
        #expect(Reference.mismatches(b.grad, Tensor(wantGrad.bias, shape: b.shape)).isEmpty)
        }
    }

    @Test func errorsInPyTorchWords() {
        func message(_ x: [Int], _ w: [Int], bias: [Int]? = nil, d: Int = 2, stride: [Int] = [1], padding: [Int] = [0], groups: Int = 1) -> String? {
            do {
                _ = try validateConvolution(Tensor.zeros(x), weight: Tensor.zeros(w), bias: bias.map { Tensor.zeros($0) }, spatialDims: d,
                                            stride: stride, padding: padding, dilation: [1], groups: groups)
                return nil
            } catch { return error.message }
        }
        #expect(message([1, 4, 32, 32], [64, 3, 3, 3]) == "Given groups=1, weight of size [64, 3, 3, 3], expected input[1, 4, 32, 32] to have 3 channels, but got 4 channels instead")
        #expect(message([2, 3], [64, 3, 3, 3]) == "Expected 3D (unbatched) or 4D (batched) input to conv2d, but got input of size: [2, 3]")
        #expect(message([1, 3, 2, 2], [4, 3, 3, 3]) == "Calculated padded input size per channel: (2 x 2). Kernel size: (3 x 3). Kernel size can't be greater than actual input size")
        #expect(message([1, 4, 5, 5], [3, 2, 3, 3], groups: 2) == "Given groups=2, expected weight to be divisible by 2 at dimension 0, but got weight of size [3, 2, 3, 3] instead")
        #expect(message([1, 3, 5, 5], [4, 3, 3, 3], bias: [5]) == "Given weight of size [4, 3, 3, 3], expected bias to be 1-dimensional with 4 elements, but got bias of size [5] instead")
        #expect(message([1, 3, 5, 5], [4, 3, 3, 3], stride: [0]) == "non-positive stride is not supported")
        #expect(message([1, 3, 5, 5], [4, 3, 3, 3], padding: [-1]) == "negative padding is not supported")
        #expect(message([1, 3, 5], [4, 3, 3], d: 1) == nil)
    }

    @Test func conv2dModuleKeysInitAndRepr() {
        let conv = Conv2d(3, 64, kernelSize: 3, stride: 1, padding: 1, bias: false)
        #expect(conv.description == "Conv2d(3, 64, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)")
        #expect(conv.stateDict().keys == ["weight"])
        #expect(conv.weight.shape == [64, 3, 3, 3])
        let c2 = Conv2d(4, 6, kernelSize: [3, 5], stride: [2, 1], padding: [1, 2], groups: 2)
        #expect(c2.description == "Conv2d(4, 6, kernel_size=(3, 5), stride=(2, 1), padding=(1, 2), groups=2)")
        #expect(c2.stateDict().keys == ["weight", "bias"])
        #expect(c2.weight.shape == [6, 2, 3, 5] && c2.bias!.shape == [6])
        // kaiming_uniform(a=√5) and the bias both give U(±1/√fanIn), fanIn = 2·3·5.
        let bound = 1 / 30.0.squareRoot()
        #expect(c2.weight.scalars.allSatisfy { abs(Double($0)) <= bound } && c2.weight.scalars.contains { abs(Double($0)) > bound / 2 })
        #expect(c2.bias!.scalars.allSatisfy { abs(Double($0)) <= bound })
        #expect(c2.parameterCount == 6 * 2 * 15 + 6)
        let y = c2(Tensor.randn([2, 4, 7, 8]))
        #expect(y.shape == [2, 6, 4, 8])
        #expect(Conv1d(16, 33, kernelSize: 3, stride: 2).description == "Conv1d(16, 33, kernel_size=(3,), stride=(2,))")
        #expect(Conv3d(4, 8, kernelSize: 3, padding: 1, dilation: 2).description == "Conv3d(4, 8, kernel_size=(3, 3, 3), stride=(1, 1, 1), padding=(1, 1, 1), dilation=(2, 2, 2))")
        #expect(Conv3d(2, 4, kernelSize: 3, padding: 1)(Tensor.randn([1, 2, 3, 4, 5])).shape == [1, 4, 3, 4, 5])
        #expect(Conv1d(2, 4, kernelSize: 3)(Tensor.randn([2, 2, 10])).shape == [2, 4, 8])
        do {
            try conv.validate(Tensor.zeros([1, 4, 8, 8]))
            Issue.record("expected a channel error")
        } catch {
            #expect(error.message == "Given groups=1, weight of size [64, 3, 3, 3], expected input[1, 4, 8, 8] to have 3 channels, but got 4 channels instead")
        }
    }

    @Test func moduleGradientsReachParameters() {
        let conv = Conv2d(2, 3, kernelSize: 3, padding: 1, dtype: .float64)
        let x = filled([2, 2, 4, 4], seed: 3)
        let y = conv(x)
        y.backward(Tensor.ones(y.shape, dtype: .float64))
        #expect(conv.weight.grad?.shape == [3, 2, 3, 3])
        // d(sum)/d(bias_o) = N · H · W
        #expect(conv.bias!.grad!.toArray(of: Double.self) == [32, 32, 32])
    }
}
