import Foundation
import Testing
@testable import TensorCore
import SwiftNN
import TestSupport

/// A `Conv2d → BatchNorm2d → ReLU` stack, and an identical copy, so that one runs fused (inside a
/// `Sequential`) and the other through the three layers called one by one.
private struct ConvBNReLUPair {
    let fused: Sequential
    let plain: Sequential
    var conv: Conv2d { fused[0, as: Conv2d.self] }
    var bn: BatchNorm2d { fused[1, as: BatchNorm2d.self] }

    init(_ inC: Int, _ outC: Int, kernel: Int, stride: Int, padding: Int, convBias: Bool, momentum: Double?, seed: UInt64) throws {
        func make() -> Sequential {
            Sequential {
                Conv2d(inC, outC, kernel, stride: stride, padding: padding, bias: convBias, generator: Generator(seed: seed))
                BatchNorm2d(outC, momentum: momentum)
                ReLU()
            }
        }
        fused = make()
        plain = make()
        // Non-trivial affine parameters and running statistics (the same in both).
        let g = Generator(seed: seed + 1)
        let bn = fused[1, as: BatchNorm2d.self], pbn = plain[1, as: BatchNorm2d.self]
        bn.weight!.copyData(from: Tensor.randn([outC], mean: 1, std: 0.5, generator: g))
        bn.bias!.copyData(from: Tensor.randn([outC], std: 0.5, generator: g))
        bn.runningMean!.copyData(from: Tensor.randn([outC], std: 0.1, generator: g))
        bn.runningVar!.copyData(from: Tensor.rand([outC], generator: g) + 0.5)
        _ = try plain.loadStateDict(fused.stateDict())
        _ = pbn
    }

    /// The three layers one after another: never fused.
    func runPlain(_ x: Tensor) -> Tensor { plain[2](plain[1](plain[0](x))) }

    /// Every parameter's gradient and every buffer of both stacks agree.
    func expectSameState(_ context: String, sourceLocation: SourceLocation = #_sourceLocation) {
        for ((k, a), (_, b)) in zip(fused.namedParameters(), plain.namedParameters()) {
            if let ga = a.grad, let gb = b.grad {
                let bad = NormTest.mismatches(ga, gb)
                #expect(bad.isEmpty, "\(context) grad \(k): \(bad)", sourceLocation: sourceLocation)
            } else {
                #expect(a.grad == nil && b.grad == nil, "\(context) grad \(k) missing on one side", sourceLocation: sourceLocation)
            }
        }
        for ((k, a), (_, b)) in zip(fused.namedBuffers(), plain.namedBuffers()) {
            let bad = NormTest.mismatches(a, b)
            #expect(bad.isEmpty, "\(context) buffer \(k): \(bad)", sourceLocation: sourceLocation)
        }
        #expect(fused[1, as: BatchNorm2d.self].numBatchesTracked == plain[1, as: BatchNorm2d.self].numBatchesTracked,
                "\(context) num_batches_tracked", sourceLocation: sourceLocation)
    }

    func zeroGrad() {
        for p in fused.parameters() + plain.parameters() { p.grad = nil }
    }
}

/// One shape the fused path is compared on.
struct FusionShape: CustomTestStringConvertible, Sendable {
    var input: [Int], outC: Int, kernel: Int, stride: Int, padding: Int, convBias: Bool, momentum: Double?
    var testDescription: String {
        "\(input)→\(outC) k\(kernel) s\(stride) p\(padding)\(convBias ? " bias" : "") momentum \(momentum.map { "\($0)" } ?? "nil")"
    }

    static let all: [FusionShape] = [
        FusionShape(input: [4, 3, 8, 8], outC: 8, kernel: 3, stride: 1, padding: 1, convBias: false, momentum: 0.1),
        FusionShape(input: [1, 3, 7, 9], outC: 5, kernel: 3, stride: 1, padding: 1, convBias: true, momentum: nil),   // batch 1, spatial > 1
        FusionShape(input: [3, 5, 9, 9], outC: 7, kernel: 3, stride: 2, padding: 1, convBias: false, momentum: nil),  // odd channels, stride 2
        FusionShape(input: [5, 2, 3, 3], outC: 3, kernel: 3, stride: 1, padding: 0, convBias: true, momentum: 0.2),   // 1×1 output: (N, C) kernels
        // 327,680 outputs: the forward takes whole-tensor sweeps on 2 threads and one channel
        // block on 1; the backward splits into two channel blocks.
        FusionShape(input: [8, 4, 32, 32], outC: 40, kernel: 3, stride: 1, padding: 1, convBias: false, momentum: 0.1),
    ]
}

@Suite("Fused Conv2d → BatchNorm2d → ReLU")
struct ConvBatchNormReLUTests {
    @Test("fused matches the three layers: training steps, running stats, eval, 1 and 2 threads",
          arguments: FusionShape.all, [1, 2])
    func fusedMatchesLayers(_ shape: FusionShape, _ threads: Int) throws {
        let pair = try ConvBNReLUPair(shape.input[1], shape.outC, kernel: shape.kernel, stride: shape.stride, padding: shape.padding,
                                      convBias: shape.convBias, momentum: shape.momentum, seed: 7)
        let g = Generator(seed: 11)
        Parallel.withThreadCount(threads) {
            for step in 1...3 {
                pair.zeroGrad()
                let x = Tensor.randn(shape.input, mean: 0.3, std: 1.5, generator: g)
                let xa = x.clonedData(), xb = x.clonedData()
                xa.requiresGrad = true
                xb.requiresGrad = true
                let ya = pair.fused(xa), yb = pair.runPlain(xb)
                #expect(ya.gradFunctionName == "batch_norm_relu", "the Sequential took the fused path")
                #expect(yb.gradFunctionName == "relu")
                #expect(NormTest.mismatches(ya, yb).isEmpty, "step \(step) output: \(NormTest.mismatches(ya, yb))")
                let gy = Tensor.randn(ya.shape, generator: g)
                ya.backward(gy)
                yb.backward(gy)
                #expect(NormTest.mismatches(xa.grad, xb.grad!).isEmpty, "step \(step) grad input")
                pair.expectSameState("step \(step)")
            }
            #expect(pair.bn.numBatchesTracked == 3)
            // Evaluation: running statistics normalize; gradients still flow (fine-tuning a frozen BN).
            pair.fused.eval(); pair.plain.eval()
            pair.zeroGrad()
            let x = Tensor.randn(shape.input, generator: g)
            let xa = x.clonedData(), xb = x.clonedData()
            xa.requiresGrad = true
            xb.requiresGrad = true
            let ya = pair.fused(xa), yb = pair.runPlain(xb)
            #expect(ya.gradFunctionName == "batch_norm_relu")
            #expect(NormTest.mismatches(ya, yb).isEmpty, "eval output")
            let gy = Tensor.randn(ya.shape, generator: g)
            ya.backward(gy)
            yb.backward(gy)
            #expect(NormTest.mismatches(xa.grad, xb.grad!).isEmpty, "eval grad input")
            pair.expectSameState("eval")
            #expect(pair.bn.numBatchesTracked == 3, "evaluation does not count batches")
            // No gradient recorded: values only.
            let za = withNoGrad { pair.fused(x) }, zb = withNoGrad { pair.runPlain(x) }
            #expect(za.gradFunctionName == nil)
            #expect(NormTest.mismatches(za, zb).isEmpty, "eval without grad")
        }
    }

    @Test("the fused forward and backward give the same bits on 1 and 2 threads")
    func threadCountIndependent() throws {
        for shape in FusionShape.all {
            var outputs: [[Float]] = [], grads: [[Float]] = [], stats: [[Float]] = []
            for threads in [1, 2] {
                let pair = try ConvBNReLUPair(shape.input[1], shape.outC, kernel: shape.kernel, stride: shape.stride,
                                              padding: shape.padding, convBias: shape.convBias, momentum: shape.momentum, seed: 3)
                let g = Generator(seed: 5)
                let x = Tensor.randn(shape.input, generator: g)
                x.requiresGrad = true
                let y = Parallel.withThreadCount(threads) { pair.fused(x) }
                Parallel.withThreadCount(threads) { y.backward(Tensor.randn(y.shape, generator: g)) }
                outputs.append(y.scalars)
                grads.append(try #require(pair.bn.weight?.grad).scalars + (try #require(pair.bn.bias?.grad)).scalars)
                stats.append(pair.bn.runningMean!.scalars + pair.bn.runningVar!.scalars)
            }
            #expect(outputs[0] == outputs[1], "\(shape.testDescription): output")
            #expect(grads[0] == grads[1], "\(shape.testDescription): BN parameter gradients")
            #expect(stats[0] == stats[1], "\(shape.testDescription): running statistics")
        }
    }

    @Test("hooks, inplace ReLU, no running statistics, folded BatchNorm: the layers run unfused")
    func fallbacks() throws {
        typealias Setup = (Sequential) -> Void
        var seen = 0
        let cases: [(String, Setup)] = [
            ("forward hook on BatchNorm2d", { s in s[1].registerForwardHook { _, _, _ in seen += 1 } }),
            ("forward hook on ReLU", { s in s[2].registerForwardHook { _, _, _ in seen += 1 } }),
            ("backward hook on BatchNorm2d", { s in s[1].registerFullBackwardHook { _, _, _ in seen += 1 } }),
            ("ReLU(inplace: true)", { s in s[2] = ReLU(inplace: true) }),
            ("track_running_stats false", { s in s[1] = BatchNorm2d(4, trackRunningStats: false) }),
            ("track_running_stats false, eval", { s in s[1] = BatchNorm2d(4, trackRunningStats: false); s.eval() }),
        ]
        for (name, setup) in cases {
            seen = 0
            let model = Sequential { Conv2d(3, 4, 3, padding: 1, bias: false); BatchNorm2d(4); ReLU() }
            setup(model)
            let x = Tensor.randn([2, 3, 5, 5], generator: Generator(seed: 1))
            x.requiresGrad = true
            let y = model(x)
            #expect(y.gradFunctionName == "relu", "\(name): unfused")
            if name.contains("hook") {
                y.backward(Tensor.ones(y.shape))
                #expect(seen >= 1, "\(name): the hook ran")
            }
        }
        // The hooked module sees the real intermediate tensor: BatchNorm2d's output, before ReLU.
        let model = Sequential { Conv2d(3, 4, 3, padding: 1, bias: false); BatchNorm2d(4); ReLU() }
        var bnOut: Tensor?
        model[1].registerForwardHook { _, _, out in bnOut = out }
        _ = model(Tensor.randn([2, 3, 5, 5], generator: Generator(seed: 2)))
        #expect(try #require(bnOut).scalars.contains { $0 < 0 }, "the hook saw negative values: no ReLU applied before it")
        // Removing the hook brings the fused path back.
        let hooked = Sequential { Conv2d(3, 4, 3, padding: 1, bias: false); BatchNorm2d(4); ReLU() }
        let h = hooked[1].registerForwardHook { _, _, _ in }
        let x = Tensor.randn([2, 3, 5, 5])
        x.requiresGrad = true
        #expect(hooked(x).gradFunctionName == "relu")
        h.remove()
        #expect(hooked(x).gradFunctionName == "batch_norm_relu")
        // A BatchNorm folded into the convolution is a pass-through: conv then ReLU, unfused.
        hooked.eval()
        let before = hooked(x)
        #expect(before.gradFunctionName == "batch_norm_relu", "eval with running statistics fuses")
        fuseBatchNorm(hooked)
        let after = hooked(x)
        #expect(after.gradFunctionName == "relu")
        #expect(NormTest.mismatches(after, before).isEmpty, "folded output")
    }

    @Test("hooks on Conv2d and forward pre-hooks on BatchNorm2d run inside the fused path, with the layers' results")
    func hooksThatKeepTheFusedPath() throws {
        func pair() -> (Sequential, Sequential) {
            let a = Sequential { Conv2d(3, 4, 3, padding: 1, bias: false); BatchNorm2d(4); ReLU() }
            let b = Sequential { Conv2d(3, 4, 3, padding: 1, bias: false); BatchNorm2d(4); ReLU() }
            _ = try? b.loadStateDict(a.stateDict())
            return (a, b)
        }
        let x = Tensor.randn([2, 3, 5, 5], generator: Generator(seed: 4))
        // Observers: the conv's pre- and forward hooks and the BatchNorm's pre-hook each run once
        // per call; the BatchNorm's pre-hook sees the convolution's output.
        let (fused, reference) = pair()
        var calls: [String] = []
        var bnInput: Tensor?
        fused[0].registerForwardPreHook { _, _ in calls.append("conv pre") }
        fused[0].registerForwardHook { _, _, _ in calls.append("conv post") }
        fused[1].registerForwardPreHook { _, input in calls.append("bn pre"); bnInput = input }
        let y = fused(x)
        #expect(y.gradFunctionName == "batch_norm_relu")
        #expect(calls == ["conv pre", "conv post", "bn pre"])
        #expect(NormTest.mismatches(bnInput, reference[0](x)).isEmpty, "the pre-hook saw the convolution's output")
        #expect(NormTest.mismatches(y, reference(x)).isEmpty, "output")
        let bnFused: BatchNorm2d = fused[1], bnReference: BatchNorm2d = reference[1]
        #expect(NormTest.mismatches(bnFused.runningMean, try #require(bnReference.runningMean)).isEmpty, "running mean")
        #expect(NormTest.mismatches(bnFused.runningVar, try #require(bnReference.runningVar)).isEmpty, "running var")
        #expect(bnFused.numBatchesTracked == 1)
        // A pre-hook that replaces the BatchNorm's input: the fused path normalizes the replacement,
        // exactly as the layers do with the same hook (kept unfused there by a forward hook).
        let (scaled, layers) = pair()
        scaled[1].registerForwardPreHook(replacingInput: { _, input in input * 3 })
        layers[1].registerForwardPreHook(replacingInput: { _, input in input * 3 })
        layers[1].registerForwardHook { _, _, _ in }
        x.requiresGrad = true
        let ys = scaled(x), yl = layers(x)
        #expect(ys.gradFunctionName == "batch_norm_relu" && yl.gradFunctionName == "relu")
        #expect(NormTest.mismatches(ys, yl).isEmpty, "output with a replaced input")
        let gy = Tensor.randn(ys.shape, generator: Generator(seed: 5))
        ys.backward(gy)
        let gxFused = try #require(x.grad)
        x.grad = nil
        yl.backward(gy)
        #expect(NormTest.mismatches(gxFused, try #require(x.grad)).isEmpty, "input gradient with a replaced input")
    }

    @Test("output observers: on the ReLU they keep the fused path and see its output; on BatchNorm2d they turn it off")
    func outputObservers() throws {
        let x = Tensor.randn([2, 3, 5, 5], generator: Generator(seed: 6))
        let fused = Sequential { Conv2d(3, 4, 3, padding: 1, bias: false); BatchNorm2d(4); ReLU() }
        let reference = Sequential { Conv2d(3, 4, 3, padding: 1, bias: false); BatchNorm2d(4); ReLU() }
        try reference.loadStateDict(fused.stateDict())
        var seen: [Tensor] = []
        let h = fused[2].registerOutputObserver { module, output in
            #expect(module is ReLU)
            seen.append(output)
        }
        let y = fused(x)
        // x needs no gradient: the convolution (3·3·3 taps, no bias) is recomputed on machines whose backend can.
        #expect(y.gradFunctionName == Self.fusedNode(x, fused[0, as: Conv2d.self]), "an observer on the ReLU keeps the fused path")
        #expect(seen.count == 1 && seen.first === y, "the observer saw the block's output tensor itself")
        #expect(NormTest.mismatches(y, reference(x)).isEmpty, "output")
        h.remove()
        _ = fused(x)
        #expect(seen.count == 1, "a removed observer is not called")
        #expect(!fused[2].hasHooks, "removing the last observer restores the hook-free path")
        // With another hook on the ReLU the run is unfused; the observer runs after the forward
        // hooks and sees the output they returned.
        var order: [String] = []
        fused[2].registerOutputObserver { _, output in
            order.append("observer")
            #expect(output.scalars.allSatisfy { $0 >= 1 }, "the observer sees the replaced output")
        }
        fused[2].registerForwardHook(replacingOutput: { _, _, output in order.append("forward hook"); return output + 1 })
        #expect(fused(x).gradFunctionName == "add")
        #expect(order == ["forward hook", "observer"])
        // On the BatchNorm the observer needs its output, which the fused path never makes.
        let observed = Sequential { Conv2d(3, 4, 3, padding: 1, bias: false); BatchNorm2d(4); ReLU() }
        try observed.loadStateDict(reference.stateDict())
        var bnOut: Tensor?
        observed[1].registerOutputObserver { _, output in bnOut = output }
        let yo = observed(x)
        #expect(yo.gradFunctionName == "relu", "an observer on BatchNorm2d: unfused")
        #expect(try #require(bnOut).scalars.contains { $0 < 0 }, "it saw the batch norm's output, before the ReLU")
    }

    @Test("convBatchNormReLU and ConvBNBlock fuse; SmallCNN trains identically fused and unfused")
    func blocksAndModels() throws {
        let conv = Conv2d(3, 6, 3, padding: 1, bias: false), bn = BatchNorm2d(6, momentum: nil)
        let x = Tensor.randn([2, 3, 6, 6])
        x.requiresGrad = true
        let y = convBatchNormReLU(x, conv: conv, batchNorm: bn)
        #expect(y.gradFunctionName == "batch_norm_relu")
        #expect(bn.numBatchesTracked == 1)

        // SmallCNN: every ConvBNBlock fused vs the same model with a hook on each BatchNorm (unfused).
        // The weights come from their own generator: drawn from the shared default one, they changed
        // with the tests running concurrently, and 1 draw in 200 put a batch norm output within
        // rounding of the ReLU's kink (1.7e-7), where the two paths may gate it differently and
        // every gradient upstream differs. The hooks check that these draws keep 1e-6 away from it (ten
        // times the paths' rounding differences at these magnitudes).
        let a = Generator.withDefault(Generator(seed: 3)) { SmallCNN(inChannels: 3, numClasses: 10, dropout: 0) }
        let b = SmallCNN(inChannels: 3, numClasses: 10, dropout: 0)
        _ = try b.loadStateDict(a.stateDict())
        var nearestKink = Float.infinity
        for m in b.modules() where m is BatchNorm2d {
            m.registerForwardHook { _, _, output in nearestKink = min(nearestKink, output.scalars.map { abs($0) }.min()!) }
        }
        let g = Generator(seed: 9)
        for step in 1...2 {
            for p in a.parameters() + b.parameters() { p.grad = nil }
            let input = Tensor.randn([3, 3, 16, 16], generator: g)
            let ya = a(input), yb = b(input)
            #expect(nearestKink > 1e-6, "SmallCNN step \(step): a batch norm output \(nearestKink) from the ReLU's kink")
            #expect(NormTest.mismatches(ya, yb).isEmpty, "SmallCNN step \(step) output")
            let gy = Tensor.randn(ya.shape, generator: g)
            ya.backward(gy)
            yb.backward(gy)
            for ((k, pa), (_, pb)) in zip(a.namedParameters(), b.namedParameters()) {
                #expect(NormTest.mismatches(pa.grad, pb.grad!).isEmpty, "SmallCNN step \(step) \(k)")
            }
            for ((k, ba), (_, bb)) in zip(a.namedBuffers(), b.namedBuffers()) {
                #expect(NormTest.mismatches(ba, bb).isEmpty, "SmallCNN step \(step) \(k)")
            }
        }
    }

    @Test("functional batchNormReLU equals batchNorm(…).relu(), (N, C) and (N, C, H, W), train and eval")
    func functional() {
        for shape in [[6, 5], [2, 3, 4, 5], [1, 4, 3, 3]] {
            let c = shape[1]
            let g = Generator(seed: UInt64(shape.count))
            let x = Tensor.randn(shape, generator: g), w = Tensor.randn([c], generator: g), b = Tensor.randn([c], generator: g)
            for training in [true, false] {
                let rm1 = Tensor.randn([c], generator: Generator(seed: 1)), rv1 = Tensor.rand([c], generator: Generator(seed: 2)) + 0.5
                let rm2 = rm1.clonedData(), rv2 = rv1.clonedData()
                let xa = x.clonedData(), xb = x.clonedData(), wa = w.clonedData(), wb = w.clonedData()
                for t in [xa, xb, wa, wb] { t.requiresGrad = true }
                let ya = batchNormReLU(xa, runningMean: rm1, runningVar: rv1, weight: wa, bias: b, training: training, momentum: 0.3)
                let yb = batchNorm(xb, runningMean: rm2, runningVar: rv2, weight: wb, bias: b, training: training, momentum: 0.3).relu()
                #expect(NormTest.mismatches(ya, yb).isEmpty, "\(shape) training \(training) output")
                let gy = Tensor.randn(ya.shape, generator: g)
                ya.backward(gy)
                yb.backward(gy)
                #expect(NormTest.mismatches(xa.grad, xb.grad!).isEmpty, "\(shape) training \(training) dx")
                #expect(NormTest.mismatches(wa.grad, wb.grad!).isEmpty, "\(shape) training \(training) dw")
                #expect(NormTest.mismatches(rm1, rm2).isEmpty && NormTest.mismatches(rv1, rv2).isEmpty, "\(shape) running")
            }
        }
    }

    @Test("gradcheck: batchNormReLU in training and evaluation (float64)")
    func gradcheckFused() {
        for (i, shape) in [[4, 3], [2, 3, 3, 2], [1, 2, 3, 3]].enumerated() {
            let c = shape[1]
            let x = Tensor(NormTest.values(shape.reduce(1, *), seed: UInt64(40 + i)).map { $0 * 2 + 0.3 }, shape: shape, requiresGrad: true)
            let w = Tensor(NormTest.values(c, seed: 50).map { $0 + 1 }, shape: [c], requiresGrad: true)
            let b = Tensor(NormTest.values(c, seed: 51).map { $0 * 0.5 }, shape: [c], requiresGrad: true)
            #expect(gradcheck({ batchNormReLU($0[0], runningMean: nil, runningVar: nil, weight: $0[1], bias: $0[2], training: true) },
                              inputs: [x, w, b]), "train \(shape)")
            let rm = Tensor(NormTest.values(c, seed: 52), shape: [c])
            let rv = Tensor(NormTest.values(c, seed: 53).map { 1.5 + $0 }, shape: [c])
            #expect(gradcheck({ batchNormReLU($0[0], runningMean: rm, runningVar: rv, weight: $0[1], bias: $0[2], training: false) },
                              inputs: [x, w, b]), "eval \(shape)")
            #expect(gradcheck({ batchNormReLU($0[0], runningMean: nil, runningVar: nil, training: true) }, inputs: [x]),
                    "no affine \(shape)")
        }
    }

    @Test("PyTorch: Conv2d → BatchNorm2d → ReLU, two training steps, running statistics, eval", arguments: Self.fixtureNames, [1, 2])
    func pytorchReference(_ name: String, _ threads: Int) throws {
        let sd = try StateDict(contentsOf: Fixtures.url("convbnrelu/" + name))
        let json = try #require(sd.metadata["case"])
        let c = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        func int(_ k: String) throws -> Int { try #require(c[k] as? NSNumber).intValue }
        let convBias = try #require(c["conv_bias"] as? Bool)
        let momentum = (c["momentum"] as? NSNumber)?.doubleValue
        let eps = try #require(c["eps"] as? NSNumber).doubleValue
        let (inC, outC, k, stride, padding) = (try int("in"), try int("out"), try int("kernel"), try int("stride"), try int("padding"))
        // An input that needs its gradient keeps the convolution's output; one that does not (a
        // first layer's data) has it recomputed when the layer qualifies (no bias, C·k·k ≤ 32).
        for inputNeedsGrad in [true, false] {
            let model = Sequential {
                Conv2d(inC, outC, k, stride: stride, padding: padding, bias: convBias)
                BatchNorm2d(outC, eps: eps, momentum: momentum)
                ReLU()
            }
            let keys = model.stateDict().keys
            _ = try model.loadStateDict(StateDict(keys.map { ($0, sd[$0]!.clonedData()) }))
            func check(_ got: Tensor?, _ key: String) {
                guard let want = sd[key] else { Issue.record("\(name): fixture lacks \(key)"); return }
                let bad = NormTest.mismatches(got, want)
                #expect(bad.isEmpty, "\(name) \(threads) thread(s) input grad \(inputNeedsGrad) \(key): \(bad)")
            }
            try Parallel.withThreadCount(threads) {
                for step in ["1", "2", "eval"] {
                    if step == "eval" { model.eval() }
                    for p in model.parameters() { p.grad = nil }
                    let x = try #require(sd["input_" + step]).clonedData()
                    x.requiresGrad = inputNeedsGrad
                    let y = model(x)
                    let geo = ConvGeometry(batch: x.shape[0], inChannels: inC, outChannels: outC, groups: 1,
                                           inputSize: Array(x.shape[2...]), kernelSize: [k, k], stride: [stride, stride],
                                           padding: [padding, padding], dilation: [1, 1])
                    let recomputed = !inputNeedsGrad && !convBias && Kernels.convBatchNormReLURecomputes(x, geo)
                    #expect(y.gradFunctionName == (recomputed ? "conv_batch_norm_relu" : "batch_norm_relu"), "\(name): fused")
                    check(y, "output_" + step)
                    y.backward(try #require(sd["grad_output_" + step]))
                    if inputNeedsGrad { check(x.grad, "grad_input_" + step) } else { #expect(x.grad == nil) }
                    for (k, p) in model.namedParameters() { check(p.grad, "grad_\(k)_" + step) }
                    if step != "eval" {
                        let bn = model[1, as: BatchNorm2d.self]
                        check(bn.runningMean, "running_mean_" + step)
                        check(bn.runningVar, "running_var_" + step)
                        #expect(Double(bn.numBatchesTracked ?? -1) == sd["num_batches_tracked_" + step]?.itemDouble(), "\(name) counter")
                    }
                }
            }
        }
    }

    /// The fused node a `Conv2d(bias: false) → BatchNorm2d → ReLU` run on `x` (needing no
    /// gradient) records: the convolution recomputed where the backend can, stored otherwise.
    static func fusedNode(_ x: Tensor, _ conv: Conv2d) -> String {
        let geo = try! validateConvolution(x, weight: conv.weight, bias: nil, spatialDims: 2, stride: conv.stride,
                                           padding: conv.padding, dilation: conv.dilation, groups: conv.groups)
        return Kernels.convBatchNormReLURecomputes(x, geo) ? "conv_batch_norm_relu" : "batch_norm_relu"
    }

    static let fixtureNames = Fixtures.files(in: "convbnrelu").map(\.lastPathComponent)

    @Test("every Conv2d → BatchNorm2d → ReLU fixture is present")
    func fixturesPresent() {
        #expect(Self.fixtureNames.count == 6)
    }
}
