import Foundation
import Testing
@testable import TensorCore
import SwiftNN
import TestSupport

/// A first layer `Conv2d(bias: false) → BatchNorm2d → ReLU` in a `Sequential` (fused, the
/// convolution recomputed when the input needs no gradient) and an identical copy called layer by
/// layer.
private struct FirstLayerPair {
    let fused: Sequential
    let plain: Sequential
    var conv: Conv2d { fused[0, as: Conv2d.self] }
    var bn: BatchNorm2d { fused[1, as: BatchNorm2d.self] }

    init(_ shape: FirstLayerShape, seed: UInt64, affine: Bool = true) throws {
        func make() -> Sequential {
            Sequential {
                Conv2d(shape.input[1], shape.outC, shape.kernel, stride: shape.stride, padding: shape.padding, bias: false,
                       generator: Generator(seed: seed))
                BatchNorm2d(shape.outC, momentum: shape.momentum, affine: affine)
                ReLU()
            }
        }
        fused = make()
        plain = make()
        let g = Generator(seed: seed + 1)
        let bn = fused[1, as: BatchNorm2d.self]
        if affine {
            bn.weight!.copyData(from: Tensor.randn([shape.outC], mean: 1, std: 0.5, generator: g))
            bn.bias!.copyData(from: Tensor.randn([shape.outC], std: 0.5, generator: g))
        }
        bn.runningMean!.copyData(from: Tensor.randn([shape.outC], std: 0.1, generator: g))
        bn.runningVar!.copyData(from: Tensor.rand([shape.outC], generator: g) + 0.5)
        _ = try plain.loadStateDict(fused.stateDict())
    }

    func runPlain(_ x: Tensor) -> Tensor { plain[2](plain[1](plain[0](x))) }

    func expectSameState(_ context: String, sourceLocation: SourceLocation = #_sourceLocation) {
        for ((k, a), (_, b)) in zip(fused.namedParameters(), plain.namedParameters()) {
            let ga = a.grad, gb = b.grad
            #expect((ga == nil) == (gb == nil), "\(context) grad \(k) on one side only", sourceLocation: sourceLocation)
            if let ga, let gb {
                let bad = NormTest.mismatches(ga, gb)
                #expect(bad.isEmpty, "\(context) grad \(k): \(bad)", sourceLocation: sourceLocation)
            }
        }
        for ((k, a), (_, b)) in zip(fused.namedBuffers(), plain.namedBuffers()) {
            let bad = NormTest.mismatches(a, b)
            #expect(bad.isEmpty, "\(context) buffer \(k): \(bad)", sourceLocation: sourceLocation)
        }
        #expect(bn.numBatchesTracked == plain[1, as: BatchNorm2d.self].numBatchesTracked, "\(context) num_batches_tracked",
                sourceLocation: sourceLocation)
    }

    func zeroGrad() { for p in fused.parameters() + plain.parameters() { p.grad = nil } }
}

struct FirstLayerShape: CustomTestStringConvertible, Sendable {
    var input: [Int], outC: Int, kernel: Int, stride: Int, padding: Int, momentum: Double?
    var testDescription: String {
        "\(input)→\(outC) k\(kernel) s\(stride) p\(padding) momentum \(momentum.map { "\($0)" } ?? "nil")"
    }

    static let all: [FirstLayerShape] = [
        FirstLayerShape(input: [4, 1, 8, 8], outC: 8, kernel: 3, stride: 1, padding: 1, momentum: 0.1),       // K = 9
        FirstLayerShape(input: [3, 1, 9, 9], outC: 7, kernel: 3, stride: 2, padding: 1, momentum: nil),       // odd channels, stride 2
        FirstLayerShape(input: [2, 1, 5, 5], outC: 3, kernel: 3, stride: 1, padding: 0, momentum: 0.2),       // no padding
        FirstLayerShape(input: [5, 1, 3, 3], outC: 13, kernel: 3, stride: 1, padding: 0, momentum: 0.1),      // 1×1 output: panels span samples
        FirstLayerShape(input: [1, 1, 7, 9], outC: 5, kernel: 3, stride: 1, padding: 1, momentum: 0.1),       // batch 1, a partial last panel
        FirstLayerShape(input: [2, 3, 6, 6], outC: 4, kernel: 2, stride: 2, padding: 0, momentum: 0.1),       // 3 channels, 2×2: K = 12
        FirstLayerShape(input: [2, 2, 7, 7], outC: 6, kernel: 3, stride: 1, padding: 1, momentum: 0.1),       // K = 18
        FirstLayerShape(input: [3, 3, 10, 10], outC: 9, kernel: 3, stride: 1, padding: 1, momentum: 0.1),     // K = 27 (RGB)
        FirstLayerShape(input: [2, 4, 6, 6], outC: 5, kernel: 3, stride: 1, padding: 1, momentum: 0.1),       // K = 36: stored
        // SmallCNN's first layer on MNIST, 6 samples: 294 panels, two chunks of the statistics and
        // of the backward.
        FirstLayerShape(input: [6, 1, 28, 28], outC: 32, kernel: 3, stride: 1, padding: 1, momentum: 0.1),
    ]
}

@Suite("Conv2d → BatchNorm2d → ReLU with the convolution recomputed")
struct RecomputedConvBatchNormReLUTests {
    /// Whether this machine's backend recomputes the shape (the AVX-512 kernels); elsewhere the
    /// fused path stores the convolution's output and these tests check that it still agrees.
    static func recomputes(_ shape: FirstLayerShape) -> Bool {
        let geo = ConvGeometry(batch: shape.input[0], inChannels: shape.input[1], outChannels: shape.outC, groups: 1,
                               inputSize: Array(shape.input[2...]), kernelSize: [shape.kernel, shape.kernel],
                               stride: [shape.stride, shape.stride], padding: [shape.padding, shape.padding], dilation: [1, 1])
        return Kernels.convBatchNormReLURecomputes(Tensor.zeros([1]), geo)
    }

    @Test("matches the three layers: training steps, running statistics, eval with and without grad, 1 and 2 threads",
          arguments: FirstLayerShape.all, [1, 2])
    func matchesLayers(_ shape: FirstLayerShape, _ threads: Int) throws {
        let pair = try FirstLayerPair(shape, seed: 7)
        let node = Self.recomputes(shape) ? "conv_batch_norm_relu" : "batch_norm_relu"
        let g = Generator(seed: 11)
        Parallel.withThreadCount(threads) {
            for step in 1...3 {
                pair.zeroGrad()
                let x = Tensor.randn(shape.input, mean: 0.3, std: 1.5, generator: g)
                let ya = pair.fused(x), yb = pair.runPlain(x)
                #expect(ya.gradFunctionName == node)
                #expect(NormTest.mismatches(ya, yb).isEmpty, "step \(step) output: \(NormTest.mismatches(ya, yb))")
                let gy = Tensor.randn(ya.shape, generator: g)
                ya.backward(gy)
                yb.backward(gy)
                pair.expectSameState("step \(step)")
            }
            #expect(pair.bn.numBatchesTracked == 3)
            pair.fused.eval(); pair.plain.eval()
            pair.zeroGrad()
            let x = Tensor.randn(shape.input, generator: g)
            let ya = pair.fused(x), yb = pair.runPlain(x)
            #expect(ya.gradFunctionName == node)
            #expect(NormTest.mismatches(ya, yb).isEmpty, "eval output")
            let gy = Tensor.randn(ya.shape, generator: g)
            ya.backward(gy)
            yb.backward(gy)
            pair.expectSameState("eval")
            #expect(pair.bn.numBatchesTracked == 3, "evaluation does not count batches")
            let za = withNoGrad { pair.fused(x) }, zb = withNoGrad { pair.runPlain(x) }
            #expect(za.gradFunctionName == nil)
            #expect(NormTest.mismatches(za, zb).isEmpty, "eval without grad")
            // Training mode without grad (an evaluation that forgot eval()): statistics still update.
            pair.fused.train(); pair.plain.train()
            let wa = withNoGrad { pair.fused(x) }, wb = withNoGrad { pair.runPlain(x) }
            #expect(NormTest.mismatches(wa, wb).isEmpty, "training without grad")
            pair.expectSameState("training without grad")
        }
    }

    @Test("BatchNorm2d(affine: false) and a frozen convolution take the recomputed path too")
    func affineFalseAndFrozen() throws {
        let shape = FirstLayerShape.all[0]
        let pair = try FirstLayerPair(shape, seed: 21, affine: false)
        let x = Tensor.randn(shape.input, generator: Generator(seed: 4))
        let ya = pair.fused(x), yb = pair.runPlain(x)
        #expect(ya.gradFunctionName == (Self.recomputes(shape) ? "conv_batch_norm_relu" : "batch_norm_relu"))
        #expect(NormTest.mismatches(ya, yb).isEmpty)
        let gy = Tensor.randn(ya.shape, generator: Generator(seed: 5))
        ya.backward(gy)
        yb.backward(gy)
        pair.expectSameState("affine false")

        // Only the batch norm trains: the convolution gets no gradient, the affine parameters theirs.
        let frozen = try FirstLayerPair(shape, seed: 22)
        for s in [frozen.fused, frozen.plain] { s[0, as: Conv2d.self].weight.requiresGrad = false }
        let fa = frozen.fused(x), fb = frozen.runPlain(x)
        fa.backward(gy)
        fb.backward(gy)
        #expect(frozen.conv.weight.grad == nil)
        frozen.expectSameState("frozen convolution")
    }

    /// On a larger batch two float32 computations of the weight gradient (sums over 15,680
    /// positions that largely cancel) differ by about the parity tolerance, whichever is right; the
    /// float64 layers say which. The recomputed path takes batch norm's statistics and sums from the
    /// taps' moments and the weight gradient's sums, in Double after every batch of panels; it must
    /// be no farther from float64 than the stored path, element by element in the worst case, over
    /// three steps: on MNIST's and CIFAR's first layers, and on raw pixel values (mean 120), whose
    /// moments cancel most.
    @Test("on SmallCNN's first layers it is as close to float64 as the stored path",
          arguments: [(FirstLayerShape(input: [20, 1, 28, 28], outC: 32, kernel: 3, stride: 1, padding: 1, momentum: 0.1), 0.3, 1.5),
                      (FirstLayerShape(input: [12, 3, 32, 32], outC: 32, kernel: 3, stride: 1, padding: 1, momentum: 0.1), 0.3, 1.5),
                      (FirstLayerShape(input: [12, 3, 32, 32], outC: 32, kernel: 3, stride: 1, padding: 1, momentum: 0.1), 120, 60)])
    func precisionAgainstFloat64(_ shape: FirstLayerShape, _ inputMean: Double, _ inputStd: Double) throws {
        guard Self.recomputes(shape) else { return }
        let C = shape.input[1], O = shape.outC
        let conv = Conv2d(C, O, 3, padding: 1, bias: false, generator: Generator(seed: 7))
        let bn = BatchNorm2d(O)
        let g = Generator(seed: 8)
        bn.weight!.copyData(from: Tensor.randn([O], mean: 1, std: 0.5, generator: g))
        bn.bias!.copyData(from: Tensor.randn([O], std: 0.5, generator: g))
        for step in 0..<3 {
            let x = Tensor.randn(shape.input, mean: inputMean, std: inputStd, generator: g)
            let gy = Tensor.randn([shape.input[0], O] + Array(shape.input[2...]), generator: g)
            func gradients(_ forward: () -> Tensor, node: String) -> [Double] {
                for p in [conv.weight, bn.weight!, bn.bias!] { p.grad = nil }
                let y = forward()
                #expect(y.gradFunctionName == node)
                y.backward(gy)
                return conv.weight.grad!.doubleScalars + bn.weight!.grad!.doubleScalars + bn.bias!.grad!.doubleScalars
            }
            let recomputed = gradients({ convBatchNormReLU(x, conv: conv, batchNorm: bn) }, node: "conv_batch_norm_relu")
            let xg = x.clonedData()
            xg.requiresGrad = true
            let stored = gradients({ convBatchNormReLU(xg, conv: conv, batchNorm: bn) }, node: "batch_norm_relu")
            let w64 = conv.weight.to(.float64).detach(), g64 = bn.weight!.to(.float64).detach(), b64 = bn.bias!.to(.float64).detach()
            for t in [w64, g64, b64] { t.requiresGrad = true }
            let y64 = batchNorm(conv2d(x.to(.float64), weight: w64, padding: 1), runningMean: nil, runningVar: nil, weight: g64,
                                bias: b64, training: true).relu()
            y64.backward(gy.to(.float64))
            let exact = w64.grad!.doubleScalars + g64.grad!.doubleScalars + b64.grad!.doubleScalars
            // The worst error in units of the parity tolerance.
            func worst(_ got: [Double]) -> Double {
                got.indices.map { abs(got[$0] - exact[$0]) / (1e-5 + 1e-4 * abs(exact[$0])) }.max() ?? 0
            }
            #expect(worst(recomputed) <= worst(stored), "step \(step): recomputed \(worst(recomputed)), stored \(worst(stored))")
        }
    }

    @Test("non-temporal stores of y give the same bits as plain stores and as the three layers",
          arguments: [FirstLayerShape.all[9], FirstLayerShape.all[7], FirstLayerShape.all[0], FirstLayerShape.all[4]], [1, 2])
    func streamedOutput(_ shape: FirstLayerShape, _ threads: Int) throws {
        // 28×28 and 8×8 planes hold whole 16-position panels (streamed); 7×9 ones leave partial panels
        // (stored as before) between them.
        let x = Tensor.randn(shape.input, mean: 0.3, std: 1.5, generator: Generator(seed: 17))
        func forward(streamingBytes: Int) throws -> (y: Tensor, pair: FirstLayerPair) {
            let saved = Kernels.normalizationStreamingBytes
            Kernels.normalizationStreamingBytes = streamingBytes
            defer { Kernels.normalizationStreamingBytes = saved }
            let pair = try FirstLayerPair(shape, seed: 23)
            return (Parallel.withThreadCount(threads) { pair.fused(x) }, pair)
        }
        let streamed = try forward(streamingBytes: 0), stored = try forward(streamingBytes: Int.max)
        #expect(streamed.y.gradFunctionName == (Self.recomputes(shape) ? "conv_batch_norm_relu" : "batch_norm_relu"))
        let differing = zip(streamed.y.scalars, stored.y.scalars).filter { $0.bitPattern != $1.bitPattern }.count
        #expect(differing == 0, "\(differing) of \(streamed.y.count) outputs differ from the stored path's")
        let plain = streamed.pair.runPlain(x)
        #expect(NormTest.mismatches(streamed.y, plain).isEmpty, "\(NormTest.mismatches(streamed.y, plain))")
    }

    @Test("the same bits on 1 and 2 threads")
    func threadCountIndependent() throws {
        let shape = FirstLayerShape(input: [24, 1, 32, 32], outC: 32, kernel: 3, stride: 1, padding: 1, momentum: 0.1)
        var results: [[Float]] = []
        for threads in [1, 2] {
            let pair = try FirstLayerPair(shape, seed: 3)
            let g = Generator(seed: 5)
            let x = Tensor.randn(shape.input, generator: g)
            let y = Parallel.withThreadCount(threads) { pair.fused(x) }
            Parallel.withThreadCount(threads) { y.backward(Tensor.randn(y.shape, generator: g)) }
            results.append(y.scalars + pair.conv.weight.grad!.scalars + pair.bn.weight!.grad!.scalars + pair.bn.bias!.grad!.scalars
                           + pair.bn.runningMean!.scalars + pair.bn.runningVar!.scalars)
        }
        #expect(results[0] == results[1])
    }

    @Test("whatever the recomputed path would hide keeps the convolution's output stored")
    func fallbacks() throws {
        let shape = FirstLayerShape.all[0]
        let x = Tensor.randn(shape.input, generator: Generator(seed: 8))
        let expected = Self.recomputes(shape) ? "conv_batch_norm_relu" : "batch_norm_relu"
        #expect(try FirstLayerPair(shape, seed: 1).fused(x).gradFunctionName == expected)
        // An input that needs its gradient.
        let xg = x.clonedData()
        xg.requiresGrad = true
        #expect(try FirstLayerPair(shape, seed: 1).fused(xg).gradFunctionName == "batch_norm_relu")
        // A hook on the convolution, a forward pre-hook on the batch norm (both see the output).
        let hooked = try FirstLayerPair(shape, seed: 1)
        var seen: [Int] = []
        hooked.conv.registerForwardHook { _, _, out in seen.append(out.count) }
        #expect(hooked.fused(x).gradFunctionName == "batch_norm_relu")
        let pre = try FirstLayerPair(shape, seed: 1)
        pre.bn.registerForwardPreHook { _, input in seen.append(input.count) }
        #expect(pre.fused(x).gradFunctionName == "batch_norm_relu")
        #expect(seen == [4 * 8 * 64, 4 * 8 * 64])
        // A convolution with a bias; more taps than the few-tap kernels take (4 channels × 3 × 3 = 36).
        let biased = Sequential { Conv2d(1, 8, 3, padding: 1); BatchNorm2d(8); ReLU() }
        #expect(biased(x).gradFunctionName == "batch_norm_relu")
        let wide = Sequential { Conv2d(4, 8, 3, padding: 1, bias: false); BatchNorm2d(8); ReLU() }
        #expect(wide(Tensor.randn([2, 4, 6, 6])).gradFunctionName == "batch_norm_relu")
    }

    /// The moments behind the statistics, against float64: the taps (an im2col in float64, as a
    /// convolution by one-hot filters), their sums and centered products, and the batch statistics
    /// of a convolution computed from them; on normalized inputs and on raw pixel values, whose
    /// uncentered products are 10⁴ times their spread.
    @Test("tap moments and the statistics from them match float64",
          arguments: [(FirstLayerShape.all[7], 0.3, 1.5), (FirstLayerShape.all[7], 120, 60), (FirstLayerShape.all[1], 0, 1),
                      (FirstLayerShape.all[3], 0, 1)])
    func tapMomentsAgainstFloat64(_ shape: FirstLayerShape, _ inputMean: Double, _ inputStd: Double) throws {
        let C = shape.input[1], k = shape.kernel, K = C * k * k
        let geo = ConvGeometry(batch: shape.input[0], inChannels: C, outChannels: shape.outC, groups: 1,
                               inputSize: Array(shape.input[2...]), kernelSize: [k, k], stride: [shape.stride, shape.stride],
                               padding: [shape.padding, shape.padding], dilation: [1, 1])
        guard Self.recomputes(shape) else { return }
        let g = Generator(seed: 21)
        let x = Tensor.randn(shape.input, mean: inputMean, std: inputStd, generator: g)
        let moments = Kernels.convTapMoments(x, geo)
        // Tap t of every position: the convolution by the filter that is 1 at t.
        var oneHot = [Double](repeating: 0, count: K * K)
        for t in 0..<K { oneHot[t * K + t] = 1 }
        let filters = Tensor(converting: oneHot, shape: [K, C, k, k], dtype: .float64)
        let cols = conv2d(x.to(.float64), weight: filters, stride: shape.stride, padding: shape.padding)
        let m = geo.batch * geo.outputCount, L = geo.outputCount
        let v = cols.doubleScalars
        func tap(_ t: Int, _ p: Int) -> Double { v[((p / L) * K + t) * L + p % L] }
        #expect(moments.count == m)
        let sums = (0..<K).map { t in (0..<m).reduce(0.0) { $0 + tap(t, $1) } }
        var centered = [Double](repeating: 0, count: K * K)
        for r in 0..<K {
            for c in 0..<K {
                centered[r * K + c] = (0..<m).reduce(0.0) { $0 + (tap(r, $1) - sums[r] / Double(m)) * (tap(c, $1) - sums[c] / Double(m)) }
            }
        }
        for t in 0..<K {
            #expect(abs(moments.tapSum[t] - sums[t]) <= 1e-5 * Double(m) * (abs(inputMean) + inputStd) + 1e-4 * abs(sums[t]),
                    "Σtap \(t): \(moments.tapSum[t]) vs \(sums[t])")
        }
        for r in 0..<K {
            for c in 0..<K {
                // Off-diagonal products may be near zero: measured against the two taps' spreads.
                let scale = (centered[r * K + r] * centered[c * K + c]).squareRoot()
                let got = moments.centered[r * K + c], want = centered[r * K + c]
                #expect(abs(got - want) <= 1e-5 * scale + 1e-4 * abs(want), "centered (\(r), \(c)): \(got) vs \(want)")
            }
        }
        // The statistics of conv(x, w) for a random w, against batch norm's own in float64.
        let w = Tensor.randn([shape.outC, C, k, k], std: 0.3, generator: g)
        let stats = moments.statistics(weight: w.doubleScalars)
        let z = conv2d(x.to(.float64), weight: w.to(.float64), stride: shape.stride, padding: shape.padding)
        let zv = z.doubleScalars
        for o in 0..<shape.outC {
            let values = (0..<m).map { p in zv[((p / L) * shape.outC + o) * L + p % L] }
            let mean = values.reduce(0, +) / Double(m)
            let m2 = values.reduce(0.0) { $0 + ($1 - mean) * ($1 - mean) }
            #expect(abs(stats.mean[o] - mean) <= 1e-5 * (abs(inputMean) + inputStd) + 1e-4 * abs(mean),
                    "channel \(o) mean \(stats.mean[o]) vs \(mean)")
            #expect(abs(stats.m2[o] - m2) <= 1e-5 * Double(m) + 1e-4 * m2, "channel \(o) M2 \(stats.m2[o]) vs \(m2)")
        }
    }

    @Test("a batch of one value per channel stops with BatchNorm2d's message, as the layers do")
    func oneValuePerChannel() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let model = Sequential { Conv2d(1, 4, 1, bias: false); BatchNorm2d(4); ReLU() }
            _ = model(Tensor.randn([1, 1, 1, 1]))
        }
        let stderr = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(stderr.contains("Expected more than 1 value per channel when training, got input size [1, 4, 1, 1]"), "\(stderr)")
    }

    @Test("finite differences: the recomputed path's gradients of conv weight, BN weight and bias, train and eval")
    func finiteDifferences() throws {
        // The analytic gradients (float32, recomputed) against central differences of the same
        // function evaluated layer by layer in float64.
        for (i, shape) in [FirstLayerShape(input: [3, 1, 5, 5], outC: 3, kernel: 3, stride: 1, padding: 1, momentum: 0.1),
                           FirstLayerShape(input: [2, 3, 5, 4], outC: 2, kernel: 3, stride: 2, padding: 1, momentum: 0.1)].enumerated() {
            for training in [true, false] {
                let pair = try FirstLayerPair(shape, seed: 30 + UInt64(i))
                if !training { pair.fused.eval() }
                let x = Tensor.randn(shape.input, generator: Generator(seed: 40 + UInt64(i)))
                let y = pair.fused(x)
                #expect(y.gradFunctionName == (Self.recomputes(shape) ? "conv_batch_norm_relu" : "batch_norm_relu"))
                let v = Tensor.randn(y.shape, generator: Generator(seed: 50 + UInt64(i)))
                y.backward(v)
                let params = [pair.conv.weight, pair.bn.weight!, pair.bn.bias!]
                let analytic = params.map { $0.grad! }
                // Float64 copies of everything, before this step's running-statistics update.
                let (rm, rv) = (pair.plain[1, as: BatchNorm2d.self].runningMean!, pair.plain[1, as: BatchNorm2d.self].runningVar!)
                let x64 = x.to(.float64), v64 = v.to(.float64), rm64 = rm.to(.float64), rv64 = rv.to(.float64)
                var p64 = params.map { $0.to(.float64) }
                func loss(_ p: [Tensor]) -> Double {
                    let z = conv2d(x64, weight: p[0], stride: shape.stride, padding: shape.padding)
                    let out = batchNorm(z, runningMean: rm64.clonedData(), runningVar: rv64.clonedData(), weight: p[1], bias: p[2],
                                        training: training).relu()
                    return (out * v64).sum().itemDouble()
                }
                let h = 1e-6
                for (k, p) in p64.enumerated() {
                    var numeric: [Double] = []
                    for e in 0..<p.count {
                        let base = p.doubleValue(at: e)
                        var plus = p64, minus = p64
                        plus[k] = p.clonedData(); plus[k].setValue(base + h, at: e)
                        minus[k] = p.clonedData(); minus[k].setValue(base - h, at: e)
                        numeric.append((loss(plus) - loss(minus)) / (2 * h))
                    }
                    let got = (0..<analytic[k].count).map { analytic[k].doubleValue(at: $0) }
                    let bad = Reference.mismatches(got, numeric)
                    #expect(bad.isEmpty, "\(shape.testDescription) training \(training) parameter \(k): \(bad)")
                    p64[k] = p
                }
            }
        }
    }
}
