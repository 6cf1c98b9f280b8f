import Foundation
import Testing
import SwiftNN
import TestSupport

/// `fuseBatchNorm` / `foldBatchNorm` against PyTorch's `fuse_conv_bn_eval` and
/// `fuse_linear_bn_eval` (scripts/reference/make_resnet_fixtures.py), and on whole ResNets.
@Suite struct FuseBatchNormTests {
    struct Case {
        let name: String
        let sd: StateDict
        let kind: String
        let bias: Bool
        let affine: Bool
        let momentum: Double?
        let eps: Double
        let groups: Int
        let stride: Int
    }

    static func cases() throws -> [Case] {
        try Fixtures.files(in: "resnet/fuse").map { url in
            let sd = try StateDict(contentsOf: url)
            let c = try #require(try JSONSerialization.jsonObject(with: Data(sd.metadata["case"]!.utf8)) as? [String: Any])
            return Case(name: url.lastPathComponent, sd: sd, kind: c["kind"] as! String, bias: c["bias"] as! Bool,
                        affine: c["affine"] as! Bool, momentum: (c["momentum"] as? NSNumber)?.doubleValue,
                        eps: (c["eps"] as! NSNumber).doubleValue, groups: (c["groups"] as! NSNumber).intValue,
                        stride: (c["stride"] as! NSNumber).intValue)
        }
    }

    /// Each case: the layer and BatchNorm loaded from PyTorch, folded; the folded weight and bias
    /// equal PyTorch's fused ones and the folded layer gives the BatchNorm's eval output.
    @Test func foldingMatchesPyTorch() throws {
        let cases = try Self.cases()
        #expect(cases.count == 18)
        for c in cases {
            let layer: Module
            let bn: BatchNormBase
            switch c.kind {
            case "linear":
                layer = Linear(6, 5, bias: c.bias)
                bn = BatchNorm1d(5, eps: c.eps, momentum: c.momentum, affine: c.affine)
            case "conv1d":
                layer = Conv1d(4, 6, 3, padding: 1, bias: c.bias); bn = BatchNorm1d(6, eps: c.eps, momentum: c.momentum, affine: c.affine)
            case "conv3d":
                layer = Conv3d(4, 6, 3, padding: 1, bias: c.bias); bn = BatchNorm3d(6, eps: c.eps, momentum: c.momentum, affine: c.affine)
            default:
                layer = Conv2d(4, 6, 3, stride: c.stride, padding: 1, groups: c.groups, bias: c.bias)
                bn = BatchNorm2d(6, eps: c.eps, momentum: c.momentum, affine: c.affine)
            }
            try layer.loadStateDict(c.sd.scoped("layer"), strict: true)
            try bn.loadStateDict(c.sd.scoped("bn"), strict: true)
            let model = Sequential([layer as any Layer, bn])
            let unfused = withNoGrad { model.eval(); return model(c.sd["input"]!) }
            #expect(allClose(unfused, c.sd["output"]!), "\(c.name) unfused")
            fuseBatchNorm(model)
            #expect(bn.isFolded, "\(c.name)")
            let folded = layer.stateDict()
            #expect(allClose(folded["weight"]!, c.sd["fused.weight"]!), "\(c.name) weight \(maxAbsDiff(folded["weight"]!, c.sd["fused.weight"]!))")
            #expect(allClose(folded["bias"]!, c.sd["fused.bias"]!), "\(c.name) bias")
            let out = withNoGrad { model(c.sd["input"]!) }
            #expect(allClose(out, c.sd["output"]!), "\(c.name) output \(maxAbsDiff(out, c.sd["output"]!))")
            // The folded BatchNorm holds no state: the keys are PyTorch's fused model's.
            #expect(model.stateDict().keys == ["0.weight", "0.bias"], "\(c.name)")
        }
    }

    /// A whole ResNet written by PyTorch: every BatchNorm folded (the stem, each block's, each
    /// downsample's), the output equal to the unfused eval output and to PyTorch's.
    @Test(arguments: ["resnet18_narrow", "resnet50_narrow", "resnext_narrow"])
    func wholeResNetFolds(_ name: String) throws {
        let (model, input, output) = try ResNetTests.narrow(name)
        try model.loadStateDict(StateDict(contentsOf: Fixtures.url("resnet/\(name).pth")), strict: true)
        model.train()  // fuseBatchNorm puts the model in eval mode itself
        let batchNorms = model.modules().compactMap { $0 as? BatchNormBase }
        fuseBatchNorm(model)
        #expect(!model.isTraining)
        #expect(batchNorms.allSatisfy { $0.isFolded })
        #expect(model.stateDict().keys.allSatisfy { !$0.contains("bn") && !$0.hasSuffix("downsample.1.weight") })
        let got = withNoGrad { model(input) }
        #expect(allClose(got, output), "max |diff| \(maxAbsDiff(got, output))")
        // Folding twice changes nothing.
        fuseBatchNorm(model)
        #expect(withNoGrad { model(input) }.toArray(of: Float.self) == got.toArray(of: Float.self))
    }

    /// Pairs found anywhere in the tree: inside nested Sequentials and in modules declaring
    /// ``BatchNormFoldable``; BatchNorms that do not follow a matching layer, or keep no running
    /// statistics, stay as they are.
    @Test func pairsAreFoundInAnyTreeAndOnlyValidOnesFold() {
        final class Block: Module, BatchNormFoldable {
            var conv = Conv2d(3, 4, 3, padding: 1), bn = BatchNorm2d(4), extra = BatchNorm2d(4)
            override func forward(_ x: Tensor) -> Tensor { extra(bn(conv(x)).relu()) }
            var batchNormFoldingPairs: [(layer: String, batchNorm: String)] { [("conv", "bn")] }
        }
        Tensor.manualSeed(3)
        let block = Block()
        let model = Sequential {
            block
            Sequential {
                Conv2d(4, 4, 1)
                BatchNorm2d(4, trackRunningStats: false)   // no running statistics: not foldable
                Conv2d(4, 2, 1, bias: false)
                BatchNorm2d(2, momentum: nil, affine: false)
            }
            Flatten()
            Linear(2 * 5 * 5, 3)
            BatchNorm1d(3)
            BatchNorm1d(3)                                // follows a BatchNorm, not a layer
        }
        // Non-trivial statistics.
        model.train()
        withNoGrad { for _ in 0..<3 { _ = model(Tensor.randn([4, 3, 5, 5]) * 2 + 1) } }
        model.eval()
        let x = Tensor.randn([2, 3, 5, 5])
        let before = withNoGrad { model(x) }
        fuseBatchNorm(model)
        let inner = model[1, as: Sequential.self]
        #expect(block.bn.isFolded && !block.extra.isFolded)
        #expect(!inner[1, as: BatchNorm2d.self].isFolded && inner[3, as: BatchNorm2d.self].isFolded)
        #expect(model[4, as: BatchNorm1d.self].isFolded && !model[5, as: BatchNorm1d.self].isFolded)
        let after = withNoGrad { model(x) }
        #expect(allClose(after, before), "max |diff| \(maxAbsDiff(after, before))")
        #expect(inner[2, as: Conv2d.self].bias != nil)
        #expect(model.description.contains("folded"))
    }
}
