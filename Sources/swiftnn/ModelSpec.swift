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
    /// Per-channel normalisation applied to inputs in [0, 1].
    var mean: [Float]
    var std: [Float]

    static let metadataKey = "architecture"

    var inputSize: Int { inputShape.reduce(1, *) }

    /// Metadata comes from a file: before anything is allocated, every layer the spec implies must
    /// have a sane size (no overflow, at most 2²⁸ weights), so a crafted checkpoint gets an error
    /// instead of an overflow trap or an out-of-memory stop.
    var hasBoundedSize: Bool {
        let limit = 1 << 28
        guard inputShape.allSatisfy({ $0 <= 1 << 16 }), hiddenDims.count <= 64, numClasses <= 1 << 20 else { return false }
        let (size, overflow) = inputShape.reduce((1, false)) { acc, d in
            let (p, o) = acc.0.multipliedReportingOverflow(by: d)
            return (p, acc.1 || o)
        }
        guard !overflow, size <= limit else { return false }
        let widths: [Int]
        switch model {
        case .mlp: widths = [size] + hiddenDims + [numClasses]
        case .cnn: widths = [inputShape[0], 256, numClasses]
        }
        return zip(widths, widths.dropFirst()).allSatisfy { a, b in
            let (p, o) = a.multipliedReportingOverflow(by: b)
            return !o && p <= limit
        }
    }

    /// The model, freshly initialised (from the default generator).
    func build() throws -> Module {
        switch model {
        case .mlp: MLPClassifier(inDim: inputSize, hiddenDims: hiddenDims, numClasses: numClasses, dropout: dropout)
        case .cnn: SmallCNN(inChannels: inputShape[0], numClasses: numClasses, dropout: dropout)
        }
    }

    /// The PyTorch constructor call this model corresponds to, for humans reading the metadata.
    var pytorchName: String {
        switch model {
        case .mlp: "MLPClassifier(\(inputSize), \(hiddenDims), \(numClasses), dropout=\(dropout))"
        case .cnn: "SmallCNN(in_channels=\(inputShape[0]), num_classes=\(numClasses), dropout=\(dropout))"
        }
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
         dropout: Double = 0.4, mean: [Float], std: [Float]) {
        self.model = model
        self.inputShape = inputShape
        self.numClasses = numClasses
        self.hiddenDims = hiddenDims
        self.dropout = dropout
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
              spec.mean.count == 1 || spec.mean.count == spec.inputShape[0], spec.hasBoundedSize else {
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
