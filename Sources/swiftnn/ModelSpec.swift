import Foundation
import SwiftNN

/// The architecture of a trained model, stored in its checkpoint's metadata so that
/// `swiftnn evaluate` can rebuild the model (and the input normalisation) without flags.
struct ModelSpec: Codable, Equatable {
    /// Which architecture.
    var model: ModelKind
    /// Shape of one input example, e.g. `[1, 28, 28]`.
    var inputShape: [Int]
    var numClasses: Int
    /// MLP hidden widths.
    var hiddenDims: [Int]
    var dropout: Double
    /// ResNet's base width: conv1's and layer1's channels, doubled at each later stage. nil is
    /// torchvision's 64 (and keeps the metadata of such runs as it always was).
    var width: Int?
    /// Per-channel normalisation applied to inputs in [0, 1].
    var mean: [Float]
    var std: [Float]

    static let metadataKey = "architecture"

    var inputSize: Int { inputShape.reduce(1, *) }

    /// torchvision's ResNet base width (`resnet18`'s 64 channels after the stem).
    static let torchvisionWidth = 64
    /// The widest base width accepted (from `--width` or metadata): 16 × torchvision's.
    static let maxWidth = 1024

    /// ResNet's four stage widths: the base width times 1, 2, 4 and 8 (torchvision: 64, 128, 256, 512).
    var resNetWidths: [Int] { let w = width ?? ModelSpec.torchvisionWidth; return [w, 2 * w, 4 * w, 8 * w] }

    /// At most this many parameter and buffer elements in a model built from metadata (1 GiB of float32).
    static let maxStateElements = 1 << 28

    /// Metadata comes from a file: before anything is allocated, every dimension must be sane and
    /// the whole model — every layer together, not just each one — must hold at most
    /// ``maxStateElements`` values (no overflow on the way), so a crafted checkpoint gets an error
    /// instead of an overflow trap or an out-of-memory stop. (Loading also checks each tensor of the
    /// file against ``expectedStateShapes`` before building, so the model never exceeds the file.)
    var hasBoundedSize: Bool {
        let limit = ModelSpec.maxStateElements
        guard inputShape.allSatisfy({ $0 <= 1 << 16 }), hiddenDims.count <= 64, hiddenDims.allSatisfy({ $0 <= limit }),
              numClasses <= 1 << 20, (width ?? 1) <= ModelSpec.maxWidth else { return false }
        var size = 1
        for d in inputShape {
            let (p, o) = size.multipliedReportingOverflow(by: d)
            guard !o, p <= limit else { return false }
            size = p
        }
        var total = 0
        for (_, shape) in expectedStateShapes {
            var n = 1
            for d in shape {
                let (p, o) = n.multipliedReportingOverflow(by: d)
                guard !o, p <= limit else { return false }
                n = p
            }
            total += n
            guard total <= limit else { return false }
        }
        return true
    }

    /// Every state-dict entry the model has, in order, with its shape — computed from the spec
    /// alone, so a checkpoint's tensors can be checked against the architecture before the model is
    /// built (building allocates every weight). A test keeps it equal to `build().stateDict()`.
    var expectedStateShapes: [(key: String, shape: [Int])] {
        var out: [(key: String, shape: [Int])] = []
        func batchNorm(_ prefix: String, _ c: Int) {
            for k in ["weight", "bias", "running_mean", "running_var"] { out.append((prefix + k, [c])) }
            out.append((prefix + "num_batches_tracked", []))
        }
        switch model {
        case .cnn:
            let channels = [inputShape[0], 32, 64, 128, 256]
            for i in 0..<4 {
                out.append(("features.\(i).block.0.weight", [channels[i + 1], channels[i], 3, 3]))
                batchNorm("features.\(i).block.1.", channels[i + 1])
            }
            out += [("classifier.1.weight", [128, 256]), ("classifier.1.bias", [128]),
                    ("classifier.4.weight", [numClasses, 128]), ("classifier.4.bias", [numClasses])]
        case .resnet18:
            out = ResNet.stateShapes(block: .basic, layers: [2, 2, 2, 2], numClasses: numClasses, stem: resNetStem, inChannels: inputShape[0],
                                     widths: resNetWidths)
        case .mlp:
            var prev = inputSize
            for (i, h) in hiddenDims.enumerated() {
                out += [("net.\(4 * i).weight", [h, prev]), ("net.\(4 * i).bias", [h])]
                batchNorm("net.\(4 * i + 1).", h)
                prev = h
            }
            out += [("net.\(4 * hiddenDims.count).weight", [numClasses, prev]), ("net.\(4 * hiddenDims.count).bias", [numClasses])]
        }
        return out
    }

    /// The model, freshly initialised (from the default generator).
    func build() throws -> Module {
        switch model {
        case .mlp: MLPClassifier(inDim: inputSize, hiddenDims: hiddenDims, numClasses: numClasses, dropout: dropout)
        case .cnn: SmallCNN(inChannels: inputShape[0], numClasses: numClasses, dropout: dropout)
        case .resnet18:
            ResNet(block: .basic, layers: [2, 2, 2, 2], numClasses: numClasses, stem: resNetStem, inChannels: inputShape[0], widths: resNetWidths)
        }
    }

    /// ResNet's stem for this input: torchvision's for ImageNet-sized images, the small-image stem
    /// (3×3 stride-1 conv1, no max pool) below 112 pixels, where the 4× reduction would leave too little.
    var resNetStem: ResNetStem { (inputShape.count >= 2 ? inputShape[1] : 0) >= 112 ? .imageNet : .smallImage }

    /// The PyTorch constructor call this model corresponds to, for humans reading the metadata.
    var pytorchName: String {
        switch model {
        case .mlp: "MLPClassifier(\(inputSize), \(hiddenDims), \(numClasses), dropout=\(dropout))"
        case .cnn: "SmallCNN(in_channels=\(inputShape[0]), num_classes=\(numClasses), dropout=\(dropout))"
        case .resnet18:
            // torchvision's name, then each way this model differs from it.
            "torchvision.models.resnet18(num_classes=\(numClasses))" + resNetChanges
        }
    }

    /// `" with conv1 taking 1 channels, a 3x3 stride-1 conv1 and no maxpool"`: what sets this
    /// ResNet-18 apart from torchvision's (empty for torchvision's own).
    private var resNetChanges: String {
        var changes: [String] = []
        if inputShape[0] != 3 { changes.append("conv1 taking \(inputShape[0]) channels") }
        if resNetStem == .smallImage { changes.append("a 3x3 stride-1 conv1 and no maxpool") }
        if let w = width, w != ModelSpec.torchvisionWidth {
            changes.append("stage widths \(resNetWidths.map(String.init).joined(separator: "-")) instead of 64-128-256-512")
        }
        return changes.isEmpty ? "" : " with " + changes.joined(separator: ", ")
    }

    /// Transforms that turn a collated [0, 1] batch into this model's input.
    var transforms: [any BatchTransform] {
        var t: [any BatchTransform] = [Normalize(mean: mean, std: std)]
        if model.flattensInput { t.append(FlattenExamples()) }
        return t
    }

    /// The spec as JSON (the `architecture` metadata field of both checkpoint files).
    var json: String { String(decoding: try! JSONEncoder.sorted.encode(self), as: UTF8.self) }

    var metadata: [String: String] {
        [ModelSpec.metadataKey: json, "model": pytorchName, "format": "pt"]
    }

    init(model: ModelKind, inputShape: [Int], numClasses: Int, hiddenDims: [Int] = [512, 256, 128],
         dropout: Double = 0.4, width: Int? = nil, mean: [Float], std: [Float]) {
        self.model = model
        self.inputShape = inputShape
        self.numClasses = numClasses
        self.hiddenDims = hiddenDims
        self.dropout = dropout
        // torchvision's width is stored as nil, so the metadata of a default run is unchanged.
        self.width = width == ModelSpec.torchvisionWidth ? nil : width
        self.mean = mean
        self.std = std
    }

    /// Reads the architecture back from checkpoint metadata.
    init(metadata: [String: String], source: String) throws(CLIError) {
        guard let json = metadata[ModelSpec.metadataKey] else {
            throw CLIError("\(source): no '\(ModelSpec.metadataKey)' entry in the checkpoint metadata; was it written by 'swiftnn train'?")
        }
        let spec: ModelSpec
        do { spec = try JSONDecoder().decode(ModelSpec.self, from: Foundation.Data(json.utf8)) } catch {
            throw CLIError("\(source): unreadable architecture metadata (\(error))")
        }
        guard spec.inputShape.count == 3, spec.inputShape.allSatisfy({ $0 > 0 }),
              spec.numClasses > 1, spec.hiddenDims.allSatisfy({ $0 > 0 }), spec.dropout >= 0, spec.dropout < 1,
              !spec.mean.isEmpty, spec.mean.count == spec.std.count, spec.std.allSatisfy({ $0 > 0 }),
              spec.mean.count == 1 || spec.mean.count == spec.inputShape[0],
              spec.width.map({ $0 >= 1 && spec.model == .resnet18 }) ?? true, spec.hasBoundedSize else {
            throw CLIError("\(source): invalid architecture metadata \(json)")
        }
        self = spec
    }
}

extension JSONEncoder {
    static var sorted: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }
}
