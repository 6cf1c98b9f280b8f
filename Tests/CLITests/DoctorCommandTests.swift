import Foundation
import Testing
import SwiftNN
import TestSupport

/// `swiftnn doctor --model NAME --checkpoint FILE` on weights that `swiftnn train` did not write
/// (state dicts saved from PyTorch: the interop fixtures).
@Suite struct DoctorCommandTests {
    @Test func examinesAPyTorchStateDictOfAZooModel() throws {
        let mlp = try runSwiftNN(["doctor", "--model", "mlp", "--dropout", "0.3",
                                  "--checkpoint", Fixtures.url("models/interop_mlp.weights.safetensors").path])
        #expect(mlp.status == 0, "\(mlp.stderr)")
        #expect(mlp.stdout.hasPrefix("Model MLPClassifier(20, [16, 8], 3, dropout=0.3)"))
        // The data was followed: each hidden Linear's bias feeds its BatchNorm.
        #expect(mlp.stdout.components(separatedBy: "[bias-before-batchnorm]").count - 1 == 2, "\(mlp.stdout)")
        #expect(mlp.stdout.contains("Linear(20, 16, bias: false)"))

        let cnn = try runSwiftNN(["doctor", "--model", "cnn", "--checkpoint", Fixtures.url("models/interop_small_cnn.weights.safetensors").path])
        #expect(cnn.status == 0, "\(cnn.stderr)")
        #expect(cnn.stdout.contains("SmallCNN(in_channels=3, num_classes=10, dropout=0.5)"))
        // SmallCNN's head: Dropout 0.5 after 128 units, where the table says 0.2.
        #expect(cnn.stdout.contains("advice [dropout-above-table] classifier.3"), "\(cnn.stdout)")
    }

    /// PyTorch's own checkpoint files (torch.save): a bare state dict, and one wrapped as
    /// `{'state_dict': {'module.…': …}}` by DataParallel training code.
    @Test func examinesPthFiles() throws {
        let cnn = try runSwiftNN(["doctor", "--model", "cnn", "--checkpoint", Fixtures.url("pth/small_cnn.pth").path])
        #expect(cnn.status == 0, "\(cnn.stderr)")
        #expect(cnn.stdout.contains("SmallCNN(in_channels=3, num_classes=10, dropout=0.5)") && cnn.stdout.contains("[dropout-above-table] classifier.3"), "\(cnn.stdout)")
        let ddp = try runSwiftNN(["doctor", "--model", "mlp", "--checkpoint", Fixtures.url("pth/ddp_wrapped.pth").path])
        #expect(ddp.status == 0, "\(ddp.stderr)")
        #expect(ddp.stdout.hasPrefix("Model MLPClassifier("), "\(ddp.stdout)")
        #expect(ddp.stdout.contains("[bias-before-batchnorm] net.0"))
        // Without --model a .pth file has no architecture to rebuild.
        let bare = try runSwiftNN(["doctor", "--checkpoint", Fixtures.url("pth/small_cnn.pth").path])
        #expect(bare.status == 1 && bare.stderr.contains("holds no architecture: name the model with --model"), "\(bare.stderr)")
    }

    @Test func wrongModelOrOptionsGiveOneLineErrors() throws {
        let cnnFile = Fixtures.url("models/interop_small_cnn.weights.safetensors").path
        for (args, needle) in [
            (["--model", "mlp", "--checkpoint", cnnFile], "not an MLPClassifier state dict"),
            (["--model", "resnet9000", "--checkpoint", cnnFile], "unknown model 'resnet9000'"),
            (["--dropout", "0.2", "--checkpoint", cnnFile], "--dropout is only used with --model"),
            (["--model", "cnn", "--dropout", "1.5", "--checkpoint", cnnFile], "--dropout must be in [0, 1)"),
            (["--model", "cnn", "--checkpoint", "/nonexistent.safetensors"], "file not found"),
        ] {
            let r = try runSwiftNN(["doctor"] + args)
            #expect(r.status == 1, "\(args)")
            let lines = r.stderr.split(separator: "\n")
            #expect(lines.count == 1 && lines[0].hasPrefix("error: ") && lines[0].contains(needle), "\(args): \(r.stderr)")
        }
    }

    /// Without --purpose, what goes wrong only in one use is labelled with it.
    @Test func withoutAPurposeBothUsesAreReported() throws {
        let r = try runSwiftNN(["doctor", "--model", "mlp", "--batch-size", "4",
                                "--checkpoint", Fixtures.url("models/interop_mlp.weights.safetensors").path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("in training: advice [small-batch-for-batchnorm] net.1"), "\(r.stdout)")
        #expect(!r.stdout.contains("in evaluation: advice [bias-before-batchnorm]"))
    }
}
