import Foundation
import SwiftNN

extension ModelSpec {
    /// The architecture of a zoo model whose weights come without `swiftnn train`'s metadata (a
    /// state dict saved from PyTorch, say), read from the shapes of its tensors: the MLP's widths
    /// from its Linear weights, SmallCNN's and ResNet-18's input channels and class count from their
    /// first and last layers (and ResNet's stem from conv1's kernel, its base width from conv1's
    /// output channels). Dropout is not stored in weights: `dropout` or the model's default.
    init(kind: ModelKind, shapes: [String: [Int]], dropout: Double?, source: String) throws(CLIError) {
        func shape(_ key: String, rank: Int) throws(CLIError) -> [Int] {
            guard let s = shapes[key] else { throw CLIError("\(source): no tensor '\(key)', so this is not a \(kind.className) state dict") }
            guard s.count == rank, s.allSatisfy({ $0 > 0 }) else { throw CLIError("\(source): tensor '\(key)' has shape \(s), not a \(kind.className) layer") }
            return s
        }
        let p = dropout ?? kind.defaultDropout
        switch kind {
        case .mlp:
            // MLPClassifier's Sequential: Linear, BatchNorm1d, ReLU, Dropout per hidden layer, then a Linear.
            let linearIndices = shapes.keys.compactMap { key -> Int? in
                guard key.hasPrefix("net."), key.hasSuffix(".weight"), shapes[key]?.count == 2 else { return nil }
                return Int(key.dropFirst(4).dropLast(7))
            }.sorted()
            guard !linearIndices.isEmpty, linearIndices == Array(stride(from: 0, through: 4 * (linearIndices.count - 1), by: 4)) else {
                throw CLIError("\(source): no Linear weights at net.0, net.4, net.8 …, so this is not an MLPClassifier state dict")
            }
            var widths: [Int] = []
            var previous: Int? = nil
            for i in linearIndices {
                let w = try shape("net.\(i).weight", rank: 2)
                if let previous, w[1] != previous { throw CLIError("\(source): net.\(i).weight takes \(w[1]) inputs but the layer before gives \(previous)") }
                if previous == nil { widths.append(w[1]) }
                widths.append(w[0])
                previous = w[0]
            }
            let input = widths[0]
            let inputShape = input == 784 ? [1, 28, 28] : input == 3072 ? [3, 32, 32] : [1, 1, input]
            self.init(model: .mlp, inputShape: inputShape, numClasses: widths.last!, hiddenDims: Array(widths.dropFirst().dropLast()),
                      dropout: p, mean: [0], std: [1])
        case .cnn:
            let first = try shape("features.0.block.0.weight", rank: 4), last = try shape("classifier.4.weight", rank: 2)
            let c = first[1]
            self.init(model: .cnn, inputShape: [c, c == 1 ? 28 : 32, c == 1 ? 28 : 32], numClasses: last[0], hiddenDims: [],
                      dropout: p, mean: [Float](repeating: 0, count: c), std: [Float](repeating: 1, count: c))
        case .resnet18:
            // conv1's kernel tells the stem: torchvision's 7×7 (ImageNet-sized input) or the small-image 3×3.
            let first = try shape("conv1.weight", rank: 4), last = try shape("fc.weight", rank: 2)
            let c = first[1], side = first[2] == 7 ? 224 : 32
            guard first[2] == 7 || first[2] == 3 else { throw CLIError("\(source): conv1.weight has shape \(first), not a ResNet stem (7x7 or 3x3)") }
            self.init(model: .resnet18, inputShape: [c, side, side], numClasses: last[0], hiddenDims: [],
                      dropout: 0, width: first[0], mean: [Float](repeating: 0, count: c), std: [Float](repeating: 1, count: c))
        }
        guard numClasses > 1, (0..<1).contains(self.dropout), hasBoundedSize else {
            throw CLIError("\(source): the tensors describe an unusable \(kind.className) (\(pytorchName))")
        }
    }
}

/// Loads weights saved without `swiftnn train`'s metadata into the zoo model `kind`, its
/// architecture read from the tensors' shapes (then checked tensor by tensor like any checkpoint):
/// a safetensors file, or a PyTorch checkpoint (`torch.save`: a bare state dict, one wrapped in a
/// dict such as `{'state_dict': …}`, with DataParallel's `module.` prefixes or without).
func loadZooCheckpoint(_ url: URL, kind: ModelKind, dropout: Double?) throws -> (spec: ModelSpec, model: Module) {
    let path = url.path
    var isDir: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue else { throw CLIError("\(path): file not found") }
    let bytes: Foundation.Data
    do { bytes = try Foundation.Data(contentsOf: url, options: .mappedIfSafe) } catch {
        throw CLIError("\(path): cannot read file (\(error.localizedDescription))")
    }
    if WeightsFileFormat.detect(bytes) == .torch { return try loadTorchZooCheckpoint(bytes, path: path, kind: kind, dropout: dropout) }
    let header: SafetensorsHeader
    do { header = try Safetensors.header(of: bytes) } catch { throw CLIError("\(path): \(error)") }
    let isTraining = header.metadata["format"] == "swiftnn.training_checkpoint"
    var shapes: [String: [Int]] = [:]
    for e in header.entries {
        if isTraining {
            if e.name.hasPrefix("model.") { shapes[String(e.name.dropFirst(6))] = e.shape }
        } else {
            shapes[e.name] = e.shape
        }
    }
    let spec = try ModelSpec(kind: kind, shapes: shapes, dropout: dropout, source: path)
    return try loadCheckpointModel(bytes: bytes, path: path, spec: spec)
}

/// A `torch.save` file: its reader bounds everything by the file's size; the tensors are then
/// checked against the architecture their shapes imply before the model is built.
private func loadTorchZooCheckpoint(_ bytes: Foundation.Data, path: String, kind: ModelKind, dropout: Double?) throws -> (spec: ModelSpec, model: Module) {
    var sd: StateDict
    do { sd = try StateDict(weightsData: bytes) } catch { throw CLIError("\(path): \(error)") }
    // DataParallel / DistributedDataParallel save every key under `module.`.
    if !sd.keys.isEmpty, sd.keys.allSatisfy({ $0.hasPrefix("module.") }) { sd = sd.strippingPrefix("module.") }
    var shapes: [String: [Int]] = [:]
    for k in sd.keys { shapes[k] = sd[k]!.shape }
    let spec = try ModelSpec(kind: kind, shapes: shapes, dropout: dropout, source: path)
    for (key, shape) in spec.expectedStateShapes {
        let found = shapes[key]
        if found == nil && key.hasSuffix("num_batches_tracked") { continue }   // optional, as in PyTorch
        guard found == shape else {
            throw CLIError("\(path): tensor '\(key)' is \(found.map { "\($0)" } ?? "missing"), but \(spec.pytorchName) needs \(shape)")
        }
    }
    let model = try spec.build()
    do { _ = try model.loadStateDict(sd, strict: true) } catch { throw CLIError("\(path): \(error)") }
    return (spec, model)
}
