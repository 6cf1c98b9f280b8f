import Foundation
import Testing
import SwiftNN
import TestSupport

/// `swiftnn train --model resnet18` on one-channel MNIST with the small-image stem, narrowed with
/// `--width 8` (stages 8-16-32-64) so that a debug build trains, evaluates and doctors it in
/// seconds: the checkpoint has torchvision's keys, evaluates, loads into the same ResNet strictly,
/// and `doctor --model resnet18` reads the architecture — width included — back from a `.pth` file.
@Suite struct ResNetCLITests {
    static let described = "torchvision.models.resnet18(num_classes=10) with conv1 taking 1 channels, "
        + "a 3x3 stride-1 conv1 and no maxpool, stage widths 8-16-32-64 instead of 64-128-256-512"

    /// `runSwiftNN` with the C GEMM kernel left on. `runSwiftNN` sets `SWIFTNN_GEMM_FMA=0`, which
    /// also turns the C kernel off (its level comes from the CPU's features alone, so it needs no
    /// pinning) and makes these convolutions 50× slower in a debug build (training: 148 s instead
    /// of 2.5 s). `1` keeps every process of this test on the same kernel.
    static func run(_ arguments: [String]) throws -> RunResult {
        try runSwiftNN(arguments, environment: ["SWIFTNN_GEMM_FMA": "1"])
    }

    /// The state-dict keys of torchvision's `resnet18()`, from the fixture its generator wrote
    /// (`scripts/reference/make_resnet_fixtures.py`).
    static func torchvisionResNet18Keys() throws -> [String] {
        let text = try String(contentsOf: Fixtures.url("resnet/torchvision_keys.txt"), encoding: .utf8)
        var keys: [String] = [], inResNet18 = false
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# ") { inResNet18 = line.hasPrefix("# resnet18 "); continue }
            if inResNet18, let key = line.split(separator: " ").first { keys.append(String(key)) }
        }
        #expect(keys.count == 122)
        return keys
    }

    @Test func trainsEvaluatesAndDoctorsANarrowResNet18() throws {
        let data = try writeTinyMNIST(train: 16, test: 8)
        let out = makeTempDirectory("resnet-cli")
        defer { cleanUp(data); cleanUp(out) }
        // Epoch 1 of 2, stopped as if interrupted, so the resume check below has a run to refuse.
        let r = try Self.run(["train", "--model", "resnet18", "--width", "8", "--data", data.path, "--epochs", "2", "--stop-after", "1",
                                "--batch-size", "8", "--out", out.path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("Training \(Self.described)"), "\(r.stdout)")
        #expect(r.stdout.contains("Epoch  1/2"), "\(r.stdout)")

        let best = out.appendingPathComponent("best.safetensors")
        let sd = try StateDict(contentsOf: best)
        #expect(sd.metadata["model"] == Self.described)
        // torchvision's keys (as torchvision's own resnet18 lists them), with the narrow shapes.
        #expect(Set(sd.keys) == Set(try Self.torchvisionResNet18Keys()))
        #expect(sd["conv1.weight"]?.shape == [8, 1, 3, 3] && sd["layer4.1.conv2.weight"]?.shape == [64, 64, 3, 3] && sd["fc.weight"]?.shape == [10, 64])
        let model = ResNet(block: .basic, layers: [2, 2, 2, 2], numClasses: 10, stem: .smallImage, inChannels: 1, widths: [8, 16, 32, 64])
        #expect(try model.loadStateDict(sd, strict: true).isComplete)
        // Training ran: one epoch of BatchNorm statistics (2 batches of 8).
        #expect(sd["bn1.num_batches_tracked"]?.doubleValue(at: 0) == 2)

        let e = try Self.run(["evaluate", "--checkpoint", best.path, "--data", data.path])
        #expect(e.status == 0, "\(e.stderr)")
        #expect(e.stdout.contains("(8 test examples)"), "\(e.stdout)")

        // The trained weights as a PyTorch file: `doctor --model resnet18` reads the architecture
        // (input channels, stem, width, classes) from the tensors' shapes.
        let pth = out.appendingPathComponent("resnet18.pth")
        try model.stateDict().save(to: pth)
        let doc = try Self.run(["doctor", "--model", "resnet18", "--checkpoint", pth.path])
        #expect(doc.status == 0, "\(doc.stderr)")
        #expect(doc.stdout.hasPrefix("Model \(Self.described) from "), "\(doc.stdout)")
        // A file PyTorch wrote: the narrow fixture (widths 4-8-16-32) is a ResNet-18 of base width 4 …
        let narrow = try Self.run(["doctor", "--model", "resnet18", "--purpose", "eval", "--checkpoint", Fixtures.url("resnet/resnet18_narrow.pth").path])
        #expect(narrow.status == 0 && narrow.stdout.hasPrefix("Model torchvision.models.resnet18(num_classes=10) with stage widths 4-8-16-32 instead of 64-128-256-512 from "),
                "\(narrow.stdout)\(narrow.stderr)")
        // … a ResNet-50's has torchvision's stem but bottleneck shapes, which no ResNet-18 has.
        let r50 = try Self.run(["doctor", "--model", "resnet18", "--checkpoint", Fixtures.url("resnet/resnet50_narrow.pth").path])
        #expect(r50.status == 1 && r50.stderr.contains("tensor 'layer1.0.conv1.weight' is [2, 2, 1, 1], but torchvision.models.resnet18(num_classes=7) with stage widths 2-4-8-16 instead of 64-128-256-512 needs [2, 2, 3, 3]"),
                "\(r50.stderr)")

        // Resuming with another width is another model.
        let wider = try Self.run(["train", "--model", "resnet18", "--width", "16", "--data", data.path, "--epochs", "2", "--batch-size", "8", "--resume", out.path])
        #expect(wider.status != 0 && wider.stderr.contains("holds a different model"), "\(wider.stderr)")
    }

    /// Flags that do not fit the model are refused before any data is read.
    @Test(arguments: [
        (["--model", "resnet18", "--dropout", "0.2"], "--dropout does not apply to resnet18"),
        (["--model", "cnn", "--width", "8"], "--width does not apply to cnn (it sets resnet18's base width)"),
        (["--model", "resnet18", "--width", "0"], "--width must be in 1...1024, got 0"),
        (["--model", "resnet18", "--width", "5000"], "--width must be in 1...1024, got 5000"),
    ])
    func refusesFlagsThatDoNotApply(_ flags: [String], _ message: String) throws {
        let out = makeTempDirectory("resnet-cli-flags")
        defer { cleanUp(out) }
        let r = try Self.run(["train"] + flags + ["--data", "/nonexistent", "--out", out.path])
        #expect(r.status != 0 && r.stderr.contains(message), "\(r.stderr)")
    }
}
