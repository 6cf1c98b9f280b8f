import Foundation
import Testing
import SwiftNN
import TestSupport

/// ResNets against torchvision: key lists and parameter counts of the full-size models (from
/// torchvision's own `ResNet` class), and narrow ResNets written by PyTorch that must load strictly
/// and give PyTorch's eval output (`scripts/reference/make_resnet_fixtures.py`).
@Suite struct ResNetTests {
    /// torchvision_keys.txt: per model, (parameters, entries, [(key, shape)]).
    static func torchvisionKeys() throws -> [String: (parameters: Int, entries: [(String, [Int])])] {
        let text = try String(contentsOf: Fixtures.url("resnet/torchvision_keys.txt"), encoding: .utf8)
        var out: [String: (parameters: Int, entries: [(String, [Int])])] = [:]
        var current = ""
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.first == "#" {
                current = String(parts[1])
                out[current] = (Int(parts[2])!, [])
            } else {
                let shape = parts.count > 1 ? parts[1].split(separator: ",").map { Int($0)! } : []
                out[current]!.entries.append((String(parts[0]), shape))
            }
        }
        return out
    }

    static let configs: [(String, ResNet.Block, [Int], Int, Int)] = [
        ("resnet18", .basic, [2, 2, 2, 2], 1, 64), ("resnet34", .basic, [3, 4, 6, 3], 1, 64),
        ("resnet50", .bottleneck, [3, 4, 6, 3], 1, 64), ("resnet101", .bottleneck, [3, 4, 23, 3], 1, 64),
        ("resnet152", .bottleneck, [3, 8, 36, 3], 1, 64), ("resnext50_32x4d", .bottleneck, [3, 4, 6, 3], 32, 4),
        ("wide_resnet50_2", .bottleneck, [3, 4, 6, 3], 1, 128),
    ]

    /// Every configuration's keys and shapes, in order, equal torchvision's; so does the parameter
    /// count (11,689,512 for ResNet-18, 25,557,032 for ResNet-50 …).
    @Test func keysAndParameterCountsAreTorchvisions() throws {
        let want = try Self.torchvisionKeys()
        #expect(want.count == 7)
        for (name, block, layers, groups, wpg) in Self.configs {
            let expected = try #require(want[name])
            let got = ResNet.stateShapes(block: block, layers: layers, groups: groups, widthPerGroup: wpg)
            #expect(got.map(\.key) == expected.entries.map(\.0), "\(name)")
            #expect(got.map(\.shape) == expected.entries.map(\.1), "\(name)")
            let params = got.filter { !$0.key.hasSuffix("running_mean") && !$0.key.hasSuffix("running_var") && !$0.key.hasSuffix("num_batches_tracked") }
                .reduce(0) { $0 + $1.shape.reduce(1, *) }
            #expect(params == expected.parameters, "\(name)")
        }
    }

    /// The built full-size ResNet-18 and ResNet-50 have exactly these state dicts and counts.
    @Test(arguments: [("resnet18", 11_689_512), ("resnet50", 25_557_032)])
    func builtModelsMatchTorchvision(_ name: String, _ parameters: Int) throws {
        let want = try #require(try Self.torchvisionKeys()[name])
        let model = name == "resnet18" ? resnet18() : resnet50()
        let sd = model.stateDict()
        #expect(sd.keys == want.entries.map(\.0))
        #expect(sd.entries.map(\.value.shape) == want.entries.map(\.1))
        #expect(model.parameterCount == parameters)
        #expect(sd["layer1.0.bn1.num_batches_tracked"]?.dtype == .int64)
    }

    /// torchvision's initialisation: convolutions He-normal with fan_out (std √(2 / (k²·out))),
    /// BatchNorm weight 1 and bias 0; zeroInitResidual zeroes each block's last BatchNorm weight.
    @Test func initialisationIsTorchvisions() {
        Tensor.manualSeed(5)
        // ResNet-50's stages with one block each (the full model is built in another test).
        let model = ResNet(block: .bottleneck, layers: [1, 1, 1, 1], zeroInitResidual: true)
        let w = model.layer3[0, as: Bottleneck.self].conv2.weight   // [256, 256, 3, 3]
        let values = w.toArray(of: Float.self).map(Double.init)
        let mean = values.reduce(0, +) / Double(values.count)
        let std = (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)).squareRoot()
        let want = (2.0 / Double(9 * 256)).squareRoot()
        #expect(abs(mean) < 0.01 * want && abs(std - want) < 0.01 * want, "std \(std) vs \(want)")
        #expect(model.bn1.weight?.scalars.allSatisfy { $0 == 1 } == true)
        #expect(model.layer1[0, as: Bottleneck.self].bn3.weight?.scalars.allSatisfy { $0 == 0 } == true)
        #expect(model.layer1[0, as: Bottleneck.self].bn2.weight?.scalars.allSatisfy { $0 == 1 } == true)
        let basic = ResNet(block: .basic, layers: [1, 2, 1, 1], zeroInitResidual: true, widths: [8, 8, 8, 8])
        #expect(basic.layer2[1, as: BasicBlock.self].bn2.weight?.scalars.allSatisfy { $0 == 0 } == true)
        #expect(basic.layer2[1, as: BasicBlock.self].bn1.weight?.scalars.allSatisfy { $0 == 1 } == true)
    }

    static func narrow(_ name: String) throws -> (ResNet, input: Tensor, output: Tensor) {
        let ref = try StateDict(contentsOf: Fixtures.url("resnet/\(name).reference.safetensors"))
        let caseJSON = try #require(ref.metadata["case"]?.data(using: .utf8))
        let c = try #require(try JSONSerialization.jsonObject(with: caseJSON) as? [String: Any])
        let model = ResNet(block: (c["block"] as? String) == "basic" ? .basic : .bottleneck,
                           layers: (c["layers"] as! [NSNumber]).map(\.intValue),
                           numClasses: (c["num_classes"] as! NSNumber).intValue,
                           zeroInitResidual: (c["zero_init_residual"] as? Bool) ?? false,
                           groups: (c["groups"] as? NSNumber)?.intValue ?? 1,
                           widthPerGroup: (c["width_per_group"] as? NSNumber)?.intValue ?? 64,
                           stem: (c["small_stem"] as? Bool) == true ? .smallImage : .imageNet,
                           inChannels: (c["in_channels"] as? NSNumber)?.intValue ?? 3,
                           widths: (c["widths"] as! [NSNumber]).map(\.intValue))
        return (model, ref["input"]!, ref["output"]!)
    }

    /// Narrow ResNets (basic and bottleneck blocks, grouped convolutions, the small-image stem with
    /// one input channel) written by `torch.save`: strict load, PyTorch's eval output.
    @Test(arguments: ["resnet18_narrow", "resnet18_narrow_small_stem_1ch", "resnet50_narrow", "resnext_narrow"])
    func pytorchWeightsGiveTheSameEvalOutput(_ name: String) throws {
        let (model, input, output) = try Self.narrow(name)
        let weights = try StateDict(contentsOf: Fixtures.url("resnet/\(name).pth"))
        #expect(weights.keys == model.stateDict().keys)
        let result = try model.loadStateDict(weights, strict: true)
        #expect(result.isComplete)
        model.eval()
        let got = withNoGrad { model(input) }
        #expect(got.shape == output.shape)
        #expect(allClose(got, output), "max |diff| \(maxAbsDiff(got, output))")
    }

    @Test func smallImageStemAndHeadReplacement() {
        let model = resnet18(numClasses: 10, stem: .smallImage, inChannels: 1)
        #expect(model.conv1.weight.shape == [64, 1, 3, 3])
        #expect(model.maxpool is Identity)
        model.eval()
        #expect(withNoGrad { model(Tensor.randn([2, 1, 28, 28])) }.shape == [2, 10])
        model.fc = Linear(512, 3)
        #expect(model.stateDict()["fc.weight"]?.shape == [3, 512])
        #expect(withNoGrad { model(Tensor.randn([1, 1, 16, 16])) }.shape == [1, 3])
        #expect(model.description.contains("(fc): Linear(in_features=512, out_features=3, bias=True)"))
    }

    /// torchvision's refusal, as a programmer error.
    @Test func basicBlockRefusesGroups() async {
        await #expect(processExitsWith: .failure) { _ = BasicBlock(64, 64, groups: 2) }
    }
}
