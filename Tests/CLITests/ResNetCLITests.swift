import Foundation
import Testing
import SwiftNN
import TestSupport

/// `swiftnn train --model resnet18`: one-channel MNIST with the small-image stem; the checkpoint
/// evaluates and loads into `resnet18(…)` strictly.
@Suite struct ResNetCLITests {
    @Test func trainsAndEvaluatesResNet18() throws {
        let data = try writeTinyMNIST(train: 16, test: 8)
        let out = makeTempDirectory("resnet-cli")
        defer { cleanUp(data); cleanUp(out) }
        let r = try runSwiftNN(["train", "--model", "resnet18", "--data", data.path, "--epochs", "1", "--batch-size", "8", "--out", out.path])
        #expect(r.status == 0, "\(r.stderr)")
        let best = out.appendingPathComponent("best.safetensors")
        let sd = try StateDict(contentsOf: best)
        #expect(sd.metadata["model"]?.contains("resnet18(num_classes=10) with conv1 taking 1 channels, a 3x3 stride-1 conv1 and no maxpool") == true)
        let model = resnet18(numClasses: 10, stem: .smallImage, inChannels: 1)
        #expect(try model.loadStateDict(sd, strict: true).isComplete)
        let e = try runSwiftNN(["evaluate", "--checkpoint", best.path, "--data", data.path])
        #expect(e.status == 0, "\(e.stderr)")
        #expect(e.stdout.contains("(8 test examples)"))
        // The trained weights as a PyTorch file: `doctor --model resnet18` reads the architecture
        // (input channels, stem, classes) from the tensors' shapes.
        let pth = out.appendingPathComponent("resnet18.pth")
        try model.stateDict().save(to: pth)
        let doc = try runSwiftNN(["doctor", "--model", "resnet18", "--checkpoint", pth.path])
        #expect(doc.status == 0, "\(doc.stderr)")
        #expect(doc.stdout.hasPrefix("Model ") && doc.stdout.contains("resnet18(num_classes=10) with conv1 taking 1 channels, a 3x3 stride-1 conv1 and no maxpool"), "\(doc.stdout)")
        // A narrow ResNet's file has torchvision's keys but not ResNet-18's shapes.
        let narrow = try runSwiftNN(["doctor", "--model", "resnet18", "--checkpoint", Fixtures.url("resnet/resnet18_narrow.pth").path])
        #expect(narrow.status == 1 && narrow.stderr.contains("tensor 'conv1.weight' is [4, 3, 7, 7], but torchvision.models.resnet18(num_classes=10) needs [64, 3, 7, 7]"), "\(narrow.stderr)")
        // ResNet has no dropout to set.
        let d = try runSwiftNN(["train", "--model", "resnet18", "--data", data.path, "--dropout", "0.2", "--out", out.path])
        #expect(d.status != 0 && d.stderr.contains("--dropout does not apply to resnet18"))
    }
}
