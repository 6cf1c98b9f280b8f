import Foundation
import Testing
@testable import swiftnn
import SwiftNN

/// The command line's option handling, without running a training: the model is an enum, and the
/// recipe's defaults live in one place (TrainOptions) that `swiftnn train` shows and uses.
@Suite struct CLIOptionTests {
    @Test func modelNamesParseToTheEnum() throws {
        #expect(try ModelKind(parsing: "mlp") == .mlp)
        #expect(try ModelKind(parsing: "CNN") == .cnn)
        #expect(throws: CLIError.self) { try ModelKind(parsing: "resnet") }
        do { _ = try ModelKind(parsing: "vgg") } catch {
            #expect(error.description == "unknown model 'vgg' (expected one of: mlp (MLPClassifier), cnn (SmallCNN), resnet18 (ResNet-18))")
        }
        #expect(ModelKind.allCases.map(\.defaultDropout) == [0.4, 0.5, 0])
    }

    @Test func trainCommandDefaultsAreTheRecipe() throws {
        let command = try TrainCommand.parse([])
        let recipe = TrainOptions()
        #expect(try ModelKind(parsing: command.model) == recipe.model)
        #expect(command.epochs == recipe.epochs)
        #expect(command.seed == recipe.seed)
        #expect(command.batchSize == recipe.batchSize)
        #expect(command.lr == recipe.learningRate)
        #expect(command.weightDecay == recipe.weightDecay)
        #expect(command.hidden == "512,256,128" && recipe.hiddenDims == [512, 256, 128])
        #expect(command.dropout == nil && recipe.dropout == nil)
    }

    @Test func outputFolderFollowsTheModel() {
        var o = TrainOptions()
        #expect(o.outDirectory.lastPathComponent == "mlp")
        o.model = .cnn
        #expect(o.outDirectory.path.hasSuffix("runs/cnn"))
        o.outDirectory = URL(fileURLWithPath: "/tmp/mine")
        o.model = .mlp
        #expect(o.outDirectory.path == "/tmp/mine")
    }

    @Test func specStoresTheModelByName() throws {
        let spec = ModelSpec(model: .cnn, inputShape: [1, 28, 28], numClasses: 10, mean: [0.5], std: [0.25])
        #expect(spec.json.contains("\"model\":\"cnn\""))
        let back = try ModelSpec(metadata: spec.metadata, source: "test")
        #expect(back == spec)
        #expect(try back.build() is SmallCNN)
        var unknown = spec.metadata
        unknown[ModelSpec.metadataKey] = spec.json.replacingOccurrences(of: "\"cnn\"", with: "\"resnet\"")
        #expect(throws: CLIError.self) { try ModelSpec(metadata: unknown, source: "test") }
    }

    /// `--width`: stored in the metadata only when it is not torchvision's 64 (so default runs'
    /// metadata is unchanged), round-trips, builds the shapes it promises; crafted values are refused.
    @Test func specStoresResNetWidth() throws {
        let narrow = ModelSpec(model: .resnet18, inputShape: [1, 28, 28], numClasses: 10, hiddenDims: [], dropout: 0, width: 8, mean: [0.5], std: [0.25])
        #expect(narrow.json.contains("\"width\":8"))
        #expect(try ModelSpec(metadata: narrow.metadata, source: "test") == narrow)
        for width in [8, 3] {
            let spec = ModelSpec(model: .resnet18, inputShape: [3, 32, 32], numClasses: 4, hiddenDims: [], dropout: 0, width: width, mean: [0.5], std: [0.5])
            let built = try spec.build().stateDict()
            #expect(spec.expectedStateShapes.map(\.key) == built.keys)
            #expect(spec.expectedStateShapes.map(\.shape) == built.entries.map(\.value.shape))
            #expect(built["layer3.0.downsample.0.weight"]?.shape == [4 * width, 2 * width, 1, 1])
        }
        let standard = ModelSpec(model: .resnet18, inputShape: [1, 28, 28], numClasses: 10, hiddenDims: [], dropout: 0, width: 64, mean: [0.5], std: [0.25])
        #expect(!standard.json.contains("width"))
        #expect(standard == ModelSpec(model: .resnet18, inputShape: [1, 28, 28], numClasses: 10, hiddenDims: [], dropout: 0, mean: [0.5], std: [0.25]))
        let cnn = ModelSpec(model: .cnn, inputShape: [1, 28, 28], numClasses: 10, mean: [0.5], std: [0.25])
        for (spec, crafted) in [(narrow, "\"width\":0"), (narrow, "\"width\":-8"), (narrow, "\"width\":100000"),
                                (cnn, "\"width\":8,\"model\":\"cnn\"")] {
            var metadata = spec.metadata
            metadata[ModelSpec.metadataKey] = spec.json.replacingOccurrences(of: spec.model == .cnn ? "\"model\":\"cnn\"" : "\"width\":8", with: crafted)
            #expect(metadata[ModelSpec.metadataKey] != spec.json)
            #expect(throws: CLIError.self, "\(crafted)") { try ModelSpec(metadata: metadata, source: "test") }
        }
    }
}

/// `bench train --only` filters its cases by name before building them: the names given up front
/// must be the names the built cases carry.
@Suite struct BenchTrainCaseNameTests {
    @Test func namesGivenUpFrontAreTheBuiltCasesNames() throws {
        let bench = try BenchTrain.parse([])
        #expect(bench.mlpCase().name == BenchTrain.mlpName)
        #expect(bench.cnnCase(inChannels: 3, batch: 64, size: 32).name == BenchTrain.cnnName(inChannels: 3, batch: 64, size: 32))
        #expect(bench.cnnCase(inChannels: 1, batch: 128, size: 28).name == "SmallCNN step (batch 128, 1×28×28)")
        #expect(BenchTrain.resnetName(depth: 50, stem: .imageNet, batch: 8, size: 224) == "ResNet-50 step (batch 8, ImageNet stem, 224×224)")
        #expect(BenchTrain.resnetName(depth: 18, stem: .smallImage, batch: 32, size: 32) == "ResNet-18 step (batch 32, CIFAR 32×32)")
    }
}
