import ArgumentParser
import Foundation
import SwiftNN

/// `swiftnn evaluate`: loss, accuracy and confusion matrix of a saved checkpoint on a test split.
struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Evaluate a checkpoint written by 'swiftnn train' on the test split.",
        discussion: "The architecture and input normalisation are read from the checkpoint's metadata.")

    @Option(help: ArgumentHelp("Checkpoint file (best.safetensors or last.safetensors).", valueName: "file"))
    var checkpoint: String

    @Option(help: ArgumentHelp("Folder with MNIST-style IDX files or CIFAR-10 batches; default: bundled MNIST.", valueName: "dir"))
    var data: String?

    @Option(help: "Batch size.")
    var batchSize: Int = 1000

    func run() throws {
        do {
            guard batchSize >= 1 else { throw CLIError("--batch-size must be at least 1, got \(batchSize)") }
            let url = URL(fileURLWithPath: checkpoint)
            let result = try evaluateCheckpoint(url, dataDirectory: data.map { URL(fileURLWithPath: $0) }, batchSize: batchSize)
            say(result.report)
        } catch {
            printError(error)
            throw ExitCode.failure
        }
    }
}

struct CheckpointEvaluation {
    var spec: ModelSpec
    var evaluation: Evaluation
    var source: String

    /// Matrices wider or taller than this are summarised (a 50,000-class matrix would print for hours).
    static let maxPrintedClasses = 20

    var report: String {
        let e = evaluation
        var lines = ["Model \(spec.pytorchName) on \(source) (\(e.count) test examples)",
                     "Loss \(String(format: "%.4f", e.loss)) | Accuracy \(String(format: "%.2f", e.accuracy))%"]
        let rows = e.confusion.count, columns = e.confusion.first?.count ?? 0
        if rows <= Self.maxPrintedClasses && columns <= Self.maxPrintedClasses {
            lines.append("Confusion matrix (rows: true class, columns: predicted):")
            let width = max(5, String(e.confusion.joined().max() ?? 0).count + 1)
            func pad(_ s: String) -> String { String(repeating: " ", count: max(0, width - s.count)) + s }
            lines.append("true\\pred" + (0..<columns).map { pad(String($0)) }.joined())
            for (i, row) in e.confusion.enumerated() {
                lines.append(pad(String(i)).padding(toLength: 9, withPad: " ", startingAt: 0) + row.map { pad(String($0)) }.joined())
            }
        } else {
            lines.append("Confusion matrix not printed (\(rows) true classes × \(columns) outputs); per-class accuracy of the first \(min(rows, Self.maxPrintedClasses)):")
            for (i, row) in e.confusion.prefix(Self.maxPrintedClasses).enumerated() {
                let n = row.reduce(0, +)
                lines.append("class \(i): " + (n == 0 ? "no examples" : "\(row[i]) of \(n) (\(String(format: "%.2f", 100 * Double(row[i]) / Double(n)))%)"))
            }
        }
        return lines.joined(separator: "\n")
    }
}

/// Loads a checkpoint (weights-only or a full training checkpoint) and evaluates it on the test
/// split (the folder needs no training split).
func evaluateCheckpoint(_ url: URL, dataDirectory: URL?, batchSize: Int = 1000) throws -> CheckpointEvaluation {
    let (spec, model) = try loadCheckpointModel(url, requireFinite: true)
    let data = try TrainingData.loadTest(directory: dataDirectory)
    guard data.test.exampleShape == spec.inputShape else {
        throw CLIError("\(url.path) expects inputs of shape \(spec.inputShape), but \(data.source) has \(data.test.exampleShape)")
    }
    // Every label must be one of the model's outputs (cross entropy needs it).
    if let maxLabel = data.test.labels.max(), Int(maxLabel) >= spec.numClasses {
        throw CLIError("\(url.path) predicts \(spec.numClasses) classes, but \(data.source) has labels up to \(maxLabel)")
    }
    let loader = DataLoader(data.test, batchSize: batchSize, transforms: spec.transforms, lastBatchOfOne: .keep)
    let eval = evaluate(model, loader: loader, criterion: CrossEntropyLoss(), classes: spec.numClasses,
                        dataClasses: min(data.test.classCount, spec.numClasses))
    return CheckpointEvaluation(spec: spec, evaluation: eval, source: data.source)
}

/// Rebuilds the model a checkpoint's metadata describes and loads its weights and buffers
/// (plain weights like best.safetensors, or the model part of a training checkpoint).
///
/// The file is outside data: its header is checked against the architecture (every tensor's key
/// and shape) before the model is built, so the model can never be larger than what the file
/// holds. With `requireFinite`, NaN or infinite weights are refused. Every failure is a one-line
/// ``CLIError``.
func loadCheckpointModel(_ url: URL, requireFinite: Bool = false) throws -> (spec: ModelSpec, model: Module) {
    let path = url.path
    var isDir: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw CLIError("\(path): file not found") }
    guard !isDir.boolValue, (try? FileManager.default.attributesOfItem(atPath: path)[.type] as? FileAttributeType) == .typeRegular else {
        throw CLIError("\(path): not a regular file")
    }
    let bytes: Foundation.Data
    do { bytes = try Foundation.Data(contentsOf: url, options: .mappedIfSafe) } catch {
        throw CLIError("\(path): cannot read file (\(error.localizedDescription))")
    }
    let header: SafetensorsHeader
    do { header = try Safetensors.header(of: bytes) } catch { throw CLIError("\(path): \(error)") }
    let spec = try ModelSpec(metadata: header.metadata, source: path)
    let isTraining = header.metadata["format"] == "swiftnn.training_checkpoint"
    var fileShapes: [String: [Int]] = [:]
    for e in header.entries {
        if isTraining {
            guard e.name.hasPrefix("model.") else { continue }
            fileShapes[String(e.name.dropFirst(6))] = e.shape
        } else {
            fileShapes[e.name] = e.shape
        }
    }
    let expected = spec.expectedStateShapes
    for (key, shape) in expected {
        guard let found = fileShapes[key] else { throw CLIError("\(path): the architecture needs tensor '\(key)' \(shape), which the file lacks") }
        guard found == shape else { throw CLIError("\(path): tensor '\(key)' has shape \(found), but the architecture needs \(shape)") }
    }
    if fileShapes.count != expected.count {
        let known = Set(expected.map(\.key))
        let extra = fileShapes.keys.filter { !known.contains($0) }.sorted()
        throw CLIError("\(path): tensors not in the architecture: \(extra.prefix(5).joined(separator: ", "))\(extra.count > 5 ? " …" : "")")
    }
    let model = try spec.build()
    do {
        let sd = try StateDict(safetensorsData: bytes, convertingHalfPrecision: true)
        _ = try model.loadStateDict(isTraining ? sd.scoped("model") : sd, strict: true)
    } catch {
        throw CLIError("\(path): \(error)")
    }
    if requireFinite, let (key, v) = firstNonFiniteState(model) {
        throw CLIError("\(path): \(key) holds \(describeValue(Double(v))); the weights are not usable (did the training diverge?)")
    }
    return (spec, model)
}
