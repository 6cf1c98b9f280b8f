import Foundation
import Testing
@testable import TensorCore
import SwiftNN
import TestSupport

/// ResNet's blocks (and its stem) call `convBatchNormReLU(_:conv:batchNorm:relu:)` for each
/// `relu(bn(conv(x)))` and `batchNormAddReLU(_:residual:batchNorm:relu:)` for each block's tail;
/// these tests compare a narrow ResNet against a copy whose ReLU modules carry a forward hook, which
/// sends every such call through the layers one by one.
@Suite("ResNet fuses Conv2d → BatchNorm2d → ReLU and its blocks' tails")
struct ResNetFusionTests {
    /// A narrow ResNet with parameters and running statistics drawn from its own generator (the
    /// shared default one is advanced by concurrent tests), and an identical copy.
    static func pair(_ block: ResNet.Block, stem: ResNetStem) throws -> (fused: ResNet, layers: ResNet) {
        func make() -> ResNet {
            ResNet(block: block, layers: [1, 1, 1, 1], numClasses: 5, stem: stem, widths: [4, 8, 8, 8])
        }
        let fused = make(), layers = make()
        let g = Generator(seed: 21)
        for (name, p) in fused.namedParameters() {
            let isNormWeight = name.hasSuffix(".weight") && p.shape.count == 1
            p.copyData(from: isNormWeight ? Tensor.randn(p.shape, mean: 1, std: 0.3, generator: g)
                                          : Tensor.randn(p.shape, std: 0.3, generator: g))
        }
        for (name, b) in fused.namedBuffers() where b.dtype == .float32 {
            b.copyData(from: name.hasSuffix("running_var") ? Tensor.rand(b.shape, generator: g) + 0.5
                                                          : Tensor.randn(b.shape, std: 0.1, generator: g))
        }
        _ = try layers.loadStateDict(fused.stateDict(), strict: true)
        for m in layers.modules() where m is ReLU { m.registerForwardHook { _, _, _ in } }
        return (fused, layers)
    }

    /// The autograd nodes that made the stem's output, layer1's output and layer2's first
    /// `relu(bn1(conv1(·)))` (the input of a BasicBlock's conv2, of a Bottleneck's conv3).
    static func watch(_ model: ResNet) -> () -> [String?] {
        var seen: [String?] = []
        // The stem's output (the max pool's input; an Identity with the small stem), then layer1's.
        model.maxpool.registerForwardPreHook { _, x in seen.append(x.gradFunctionName) }
        model.layer2[0].children().first { $0 is Conv2d }!.registerForwardPreHook { _, x in seen.append(x.gradFunctionName) }
        let inner: Conv2d? = (model.layer2[0] as? BasicBlock)?.conv2 ?? (model.layer2[0] as? Bottleneck)?.conv3
        inner!.registerForwardPreHook { _, x in seen.append(x.gradFunctionName) }
        return { defer { seen = [] }; return seen }
    }

    static func expectSame(_ a: ResNet, _ b: ResNet, _ context: String, sourceLocation: SourceLocation = #_sourceLocation) {
        for ((k, p), (_, q)) in zip(a.namedParameters(), b.namedParameters()) {
            guard let want = q.grad else {
                Issue.record("\(context) grad \(k) missing", sourceLocation: sourceLocation)
                continue
            }
            let bad = NormTest.mismatches(p.grad, want)
            #expect(bad.isEmpty, "\(context) grad \(k): \(bad.prefix(3))", sourceLocation: sourceLocation)
        }
        for ((k, p), (_, q)) in zip(a.namedBuffers(), b.namedBuffers()) {
            let bad = NormTest.mismatches(p, q)
            #expect(bad.isEmpty, "\(context) buffer \(k): \(bad.prefix(3))", sourceLocation: sourceLocation)
        }
    }

    @Test("a ResNet trains and evaluates as its layers do: outputs, gradients, running statistics, 1 and 2 threads",
          arguments: [ResNet.Block.basic, .bottleneck], [1, 2])
    func fusedMatchesLayers(_ block: ResNet.Block, _ threads: Int) throws {
        for stem in [ResNetStem.smallImage, .imageNet] {
            let (fused, layers) = try Self.pair(block, stem: stem)
            let seenFused = Self.watch(fused), seenLayers = Self.watch(layers)
            let g = Generator(seed: 22)
            let size = stem == .smallImage ? 12 : 40
            Parallel.withThreadCount(threads) {
                for step in 1...2 {
                    for p in fused.parameters() + layers.parameters() { p.grad = nil }
                    let x = Tensor.randn([3, 3, size, size], generator: g)
                    // Step 1: an image (the small stem recomputes its convolution); step 2: an input
                    // that needs its gradient.
                    let xa = x.clonedData(), xb = x.clonedData()
                    xa.requiresGrad = step == 2
                    xb.requiresGrad = step == 2
                    let ya = fused(xa), yb = layers(xb)
                    let context = "\(stem) step \(step)"
                    let stemNode = step == 1 && stem == .smallImage ? "conv_batch_norm_relu" : "batch_norm_relu"
                    #expect(seenFused() == [stemNode, "batch_norm_add_relu", "batch_norm_relu"], "\(context): the fused path ran")
                    #expect(seenLayers() == ["relu", "relu", "relu"], "\(context): hooked ReLUs run the layers")
                    #expect(NormTest.mismatches(ya, yb).isEmpty, "\(context) output: \(NormTest.mismatches(ya, yb).prefix(3))")
                    let gy = Tensor.randn(ya.shape, generator: g)
                    ya.backward(gy)
                    yb.backward(gy)
                    if step == 2 {
                        #expect(xb.grad != nil && NormTest.mismatches(xa.grad, xb.grad!).isEmpty, "\(context) input grad")
                    }
                    Self.expectSame(fused, layers, context)
                }
                #expect(fused.bn1.numBatchesTracked == 2 && layers.bn1.numBatchesTracked == 2)
                fused.eval(); layers.eval()
                let x = Tensor.randn([2, 3, size, size], generator: g)
                let ya = withNoGrad { fused(x) }, yb = withNoGrad { layers(x) }
                #expect(NormTest.mismatches(ya, yb).isEmpty, "\(stem) eval output")
            }
        }
    }

    @Test("convBatchNormReLU with the ReLU module: an in-place ReLU fuses, its observers see the output, other hooks unfuse")
    func functionalWithReLUModule() throws {
        let conv = Conv2d(3, 4, 3, padding: 1, bias: false, generator: Generator(seed: 31))
        let bn = BatchNorm2d(4)
        let x = Tensor.randn([2, 3, 6, 6], generator: Generator(seed: 32))
        x.requiresGrad = true
        let relu = ReLU(inplace: true)
        var observed: Tensor?
        let observer = relu.registerOutputObserver { _, out in observed = out }
        let y = convBatchNormReLU(x, conv: conv, batchNorm: bn, relu: relu)
        #expect(y.gradFunctionName == "batch_norm_relu")
        #expect(observed === y, "the ReLU's output observer saw the fused output")
        observer.remove()
        // The functional form without the module keeps refusing nothing it did before.
        #expect(convBatchNormReLU(x, conv: conv, batchNorm: bn).gradFunctionName == "batch_norm_relu")
        let hook = relu.registerForwardHook { _, _, _ in }
        let unfused = convBatchNormReLU(x, conv: conv, batchNorm: bn, relu: relu)
        #expect(unfused.gradFunctionName == "relu", "a forward hook on the ReLU runs the layers")
        hook.remove()
        bn.eval()
        let evalFused = convBatchNormReLU(x, conv: conv, batchNorm: bn, relu: relu)
        let evalLayers = relu(bn(conv(x)))
        #expect(evalFused.gradFunctionName == "batch_norm_relu")
        #expect(NormTest.mismatches(evalFused, evalLayers).isEmpty)
    }
}
