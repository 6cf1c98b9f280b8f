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
