import Foundation
import Testing
import SwiftNN
import TestSupport

/// The tutorial's transfer-learning scenario and its fifth classic mistake, on a ResNet-18 loaded
/// from a `.pth` file PyTorch wrote: the backbone frozen with `requiresGrad = false`, a new head
/// `model.fc = Linear(…, 10)`, BatchNorm frozen with `freezeBatchNorm`.
///
/// By default the ResNet-18 is the narrow one in the fixtures (widths 4-8-16-32, keys as
/// torchvision's). `scripts/verify_transfer_learning.py` runs this suite with
/// `SWIFTNN_TRANSFER_DIR` set: the full-size ResNet-18 PyTorch wrote there is used instead, and the
/// fine-tuned model is saved there as `finetuned.pth` (with `finetuned_io.safetensors`, an input
/// batch and the eval output) for PyTorch to load with `strict=True`.
@Suite(.serialized) struct TransferLearningTests {
    static var exportDirectory: URL? {
        ProcessInfo.processInfo.environment["SWIFTNN_TRANSFER_DIR"].map { URL(fileURLWithPath: $0) }
    }

    /// The pretrained model, as the tutorial loads it.
    static func pretrained() throws -> (ResNet, inputSize: Int) {
        if let dir = exportDirectory, FileManager.default.fileExists(atPath: dir.appendingPathComponent("resnet18.pth").path) {
            let model = resnet18()
            try model.loadStateDict(StateDict(contentsOf: dir.appendingPathComponent("resnet18.pth")), strict: true)
            return (model, 64)
        }
        let model = ResNet(block: .basic, layers: [2, 2, 2, 2], numClasses: 10, widths: [4, 8, 16, 32])
        try model.loadStateDict(StateDict(contentsOf: Fixtures.url("resnet/resnet18_narrow.pth")), strict: true)
        return (model, 40)
    }

    /// An input batch with the pretrained model's eval output as PyTorch computed it: the one
    /// `scripts/verify_transfer_learning.py` wrote next to the full-size file, or the narrow
    /// fixture's reference.
    static func pretrainedReference() throws -> (input: Tensor, output: Tensor) {
        let url: URL
        if let dir = exportDirectory, FileManager.default.fileExists(atPath: dir.appendingPathComponent("pretrained_io.safetensors").path) {
            url = dir.appendingPathComponent("pretrained_io.safetensors")
        } else {
            url = Fixtures.url("resnet/resnet18_narrow.reference.safetensors")
        }
        let ref = try StateDict(contentsOf: url)
        return (try #require(ref["input"]), try #require(ref["output"]))
    }

    /// The `.pth` file PyTorch wrote loads strictly and gives PyTorch's eval output, before any
    /// fine-tuning.
    @Test func pretrainedFileGivesPyTorchsEvalOutput() throws {
        let (model, _) = try Self.pretrained()
        let (input, want) = try Self.pretrainedReference()
        model.eval()
        let got = withNoGrad { model(input) }
        #expect(got.shape == want.shape)
        #expect(allClose(got, want), "max |diff| \(maxAbsDiff(got, want))")
    }

    static func batches(_ size: Int, count: Int) -> [(Tensor, Tensor)] {
        Tensor.manualSeed(77)
        var out: [(Tensor, Tensor)] = []
        for i in 0..<count {
            let shift = Double(i % 3) * 0.3
            let x: Tensor = Tensor.randn([4, 3, size, size]) * 1.5 + shift
            let labels: [Int64] = (0..<4).map { Int64(($0 + i) % 10) }
            out.append((x, Tensor(labels, shape: [4])))
        }
        return out
    }

    static func buffers(_ model: Module) -> [String: [Double]] {
        Dictionary(uniqueKeysWithValues: model.namedBuffers().map { ($0.0, (0..<$0.1.count).map($0.1.doubleValue(at:))) })
    }

    static func parameters(_ model: Module) -> [String: [Float]] {
        Dictionary(uniqueKeysWithValues: model.namedParameters().map { ($0.0, $0.1.toArray(of: Float.self)) })
    }

    /// The scenario written as the tutorial writes it, with the mistake: the backbone's
    /// parameters are frozen, but BatchNorm left in training mode still changes its running
    /// statistics at every step.
    @Test func mistakeFiveFrozenParametersButBatchNormStillLearns() throws {
        let (model, size) = try Self.pretrained()
        for p in model.parameters() { p.requiresGrad = false }
        model.fc = Linear(model.fc.inFeatures, 10)
        let backboneBefore = Self.parameters(model).filter { !$0.key.hasPrefix("fc.") }
        let buffersBefore = Self.buffers(model)
        let optimizer = AdamW(model.parameters(), lr: 1e-2)
        let criterion = CrossEntropyLoss()
        model.train()
        for (x, y) in Self.batches(size, count: 3) {
            let loss = criterion(model(x), targets: y)
            optimizer.zeroGrad()
            loss.backward()
            optimizer.step()
        }
        // The parameters did not move ...
        #expect(Self.parameters(model).filter { !$0.key.hasPrefix("fc.") } == backboneBefore)
        // ... but every BatchNorm's running statistics did: the pretrained statistics are lost.
        let after = Self.buffers(model)
        for (key, before) in buffersBefore {
            #expect(after[key] != before, "\(key) stayed the same")
        }
        #expect(model.bn1.numBatchesTracked == buffersBefore["bn1.num_batches_tracked"].map { Int($0[0]) + 3 })
    }

    /// With `freezeBatchNorm`, the buffers stay bit-identical through `model.train()` at every
    /// epoch and many steps; the optimizer skips the frozen parameters; only `fc` changes. The
    /// fine-tuned model saved as `.pth` loads back with `strict: true` to the same eval output.
    @Test func freezeBatchNormKeepsTheBackboneIdenticalAndOnlyTheHeadLearns() throws {
        let (model, size) = try Self.pretrained()
        for p in model.parameters() { p.requiresGrad = false }
        model.fc = Linear(model.fc.inFeatures, 10)
        freezeBatchNorm(model)
        let before = Self.parameters(model), buffersBefore = Self.buffers(model)
        let optimizer = AdamW(model.parameters(), lr: 1e-2)
        let criterion = CrossEntropyLoss()
        let data = Self.batches(size, count: 4)
        for _ in 0..<3 {   // epochs
            model.train()  // the usual call at the start of an epoch
            #expect(model.isTraining && model.fc.isTraining && !model.bn1.isTraining && !model.layer3[0, as: BasicBlock.self].bn2.isTraining)
            for (x, y) in data {
                let loss = criterion(model(x), targets: y)
                optimizer.zeroGrad()
                loss.backward()
                optimizer.step()
            }
        }
        #expect(Self.buffers(model) == buffersBefore)
        let after = Self.parameters(model)
        for (key, values) in before where !key.hasPrefix("fc.") {
            #expect(after[key] == values, "\(key) changed")
            #expect(model.namedParameters().first { $0.0 == key }?.1.grad == nil, "\(key) got a gradient")
        }
        #expect(after["fc.weight"] != before["fc.weight"] && after["fc.bias"] != before["fc.bias"])

        // Saved back in PyTorch's format, the fine-tuned model reloads to the same eval output.
        model.eval()
        let (x, _) = data[0]
        let output = withNoGrad { model(x) }
        let dir = Self.exportDirectory ?? makeTempDirectory("transfer")
        defer { if Self.exportDirectory == nil { cleanUp(dir) } }
        let url = dir.appendingPathComponent("finetuned.pth")
        try model.stateDict().save(to: url)
        try StateDict([("input", x), ("output", output)]).save(to: dir.appendingPathComponent("finetuned_io.safetensors"))
        let (reloaded, _) = try Self.pretrained()
        reloaded.fc = Linear(reloaded.fc.inFeatures, 10)
        try reloaded.loadStateDict(StateDict(contentsOf: url), strict: true)
        reloaded.eval()
        #expect(withNoGrad { reloaded(x) }.toArray(of: Float.self) == output.toArray(of: Float.self))
    }
}
