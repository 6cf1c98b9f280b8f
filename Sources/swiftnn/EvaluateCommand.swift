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

    var report: String {
        let e = evaluation
        var lines = ["Model \(spec.pytorchName) on \(source) (\(e.count) test examples)",
                     "Loss \(String(format: "%.4f", e.loss)) | Accuracy \(String(format: "%.2f", e.accuracy))%",
                     "Confusion matrix (rows: true class, columns: predicted):"]
        let width = max(5, String(e.confusion.joined().max() ?? 0).count + 1)
        func pad(_ s: String) -> String { String(repeating: " ", count: max(0, width - s.count)) + s }
        lines.append("true\\pred" + e.confusion.indices.map { pad(String($0)) }.joined())
        for (i, row) in e.confusion.enumerated() {
            lines.append(pad(String(i)).padding(toLength: 9, withPad: " ", startingAt: 0) + row.map { pad(String($0)) }.joined())
        }
        return lines.joined(separator: "\n")
    }
}

/// Loads a checkpoint (weights-only or a full training checkpoint) and evaluates it.
func evaluateCheckpoint(_ url: URL, dataDirectory: URL?, batchSize: Int = 1000) throws -> CheckpointEvaluation {
    let (spec, model) = try loadCheckpointModel(url)
    let data = try TrainingData.load(directory: dataDirectory)
    guard data.test.exampleShape == spec.inputShape else {
        throw CLIError("\(url.path) expects inputs of shape \(spec.inputShape), but \(data.source) has \(data.test.exampleShape)")
    }
    let loader = DataLoader(data.test, batchSize: batchSize, transforms: spec.transforms, lastBatchOfOne: .keep)
    let eval = evaluate(model, loader: loader, criterion: CrossEntropyLoss(), classes: spec.numClasses)
    return CheckpointEvaluation(spec: spec, evaluation: eval, source: data.source)
}

/// Rebuilds the model a checkpoint's metadata describes and loads its weights and buffers
/// (plain weights like best.safetensors, or the model part of a training checkpoint).
/// Every failure is a one-line ``CLIError``.
func loadCheckpointModel(_ url: URL) throws -> (spec: ModelSpec, model: Module) {
    guard FileManager.default.fileExists(atPath: url.path) else { throw CLIError("\(url.path): file not found") }
    let sd: StateDict
    do { sd = try StateDict(contentsOf: url) } catch { throw CLIError("\(url.path): \(error)") }
    let spec = try ModelSpec(metadata: sd.metadata, source: url.path)
    let model = try spec.build()
    do { _ = try model.load(contentsOf: url, strict: true) } catch { throw CLIError("\(url.path): \(error)") }
    return (spec, model)
}
