import ArgumentParser
import SwiftNNDoctor
import Foundation
import SwiftNN

/// `swiftnn doctor`: looks for the classic BatchNorm and Dropout mistakes in a checkpoint's model.
struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check a checkpoint's model for the classic BatchNorm and Dropout mistakes.",
        discussion: """
            Rebuilds the model (from the checkpoint's metadata, or with --model from the shapes of its \
            tensors, e.g. a state dict saved from PyTorch), loads its weights and running statistics, \
            follows a sample batch through it and reports what PyTorch accepts silently: a bias or \
            Dropout feeding BatchNorm, Dropout rates far above the tutorial's table, random \
            operations left on in evaluation, BatchNorm statistics never trained or broken, NaN \
            weights, Keras-style momentum, batches too small for BatchNorm. Without --purpose it \
            reports what would go wrong in training and in evaluation. Exits with status 1 when an \
            error is found.
            """)

    @Option(help: ArgumentHelp("Checkpoint: written by 'swiftnn train', or any state dict (.safetensors, or .pth/.pt from torch.save) with --model.", valueName: "file"))
    var checkpoint: String

    @Option(help: ArgumentHelp("Zoo model the weights belong to (\(ModelKind.listing)); needed when the file has no 'swiftnn train' metadata.", valueName: "name"))
    var model: String?

    @Option(help: ArgumentHelp("With --model: the model's dropout probability (weights do not record it; default: the model's).", valueName: "p"))
    var dropout: Double?

    /// What the model is about to do.
    enum Purpose: String {
        case eval, train
        var doctorPurpose: Doctor.Purpose { self == .eval ? .evaluation : .training }
    }

    @Option(help: ArgumentHelp("What the model is about to do: eval or train (default: report both).", valueName: "purpose"))
    var purpose: String?

    @Option(help: "The training batch size you plan to use (enables the batch-size checks).")
    var batchSize: Int?

    func run() throws {
        var errorFound = false
        do {
            let purpose = try self.purpose.map { p throws(CLIError) -> Purpose in
                guard let parsed = Purpose(rawValue: p) else { throw CLIError("--purpose must be 'eval' or 'train', got '\(p)'") }
                return parsed
            }
            if let batchSize, batchSize < 1 { throw CLIError("--batch-size must be at least 1, got \(batchSize)") }
            if let dropout, !(0..<1).contains(dropout) { throw CLIError("--dropout must be in [0, 1), got \(dropout)") }
            if dropout != nil && model == nil { throw CLIError("--dropout is only used with --model") }
            let url = URL(fileURLWithPath: checkpoint)
            if model == nil, let head = try? FileHandle(forReadingFrom: url).read(upToCount: 16),
               WeightsFileFormat.detect(head) == .torch {
                throw CLIError("\(url.path) is a PyTorch checkpoint, which holds no architecture: name the model with --model (\(ModelKind.listing))")
            }
            let (spec, net) = try model.map { name in try loadZooCheckpoint(url, kind: ModelKind(parsing: name), dropout: dropout) }
                ?? loadCheckpointModel(url)
            let example = spec.model.flattensInput ? [spec.inputSize] : spec.inputShape
            say("Model \(spec.pytorchName) from \(url.path)")
            if let purpose {
                net.train(purpose == .train)
                let found = Doctor.examine(net, inputShape: example, purpose: purpose.doctorPurpose, batchSize: batchSize)
                say(Doctor.report(found))
                errorFound = found.contains { $0.severity == .error }
            } else {
                // A checkpoint holds no modes: examine it as it would be trained and as it would be evaluated.
                net.train()
                let training = Doctor.examine(net, inputShape: example, purpose: .training, batchSize: batchSize)
                net.eval()
                let evaluation = Doctor.examine(net, inputShape: example, purpose: .evaluation)
                for line in DoctorCommand.merged(training: training, evaluation: evaluation) { say(line) }
                errorFound = (training + evaluation).contains { $0.severity == .error }
            }
        } catch {
            printError(error)
            throw ExitCode.failure
        }
        if errorFound { throw ExitCode.failure }
    }

    /// One line per finding; a finding that holds only for one use says which.
    static func merged(training: [Diagnosis], evaluation: [Diagnosis]) -> [String] {
        if training.isEmpty && evaluation.isEmpty { return [Doctor.report([])] }
        let both = training.filter { evaluation.contains($0) }
        let onlyTraining = training.filter { !evaluation.contains($0) }
        let onlyEvaluation = evaluation.filter { !training.contains($0) }
        return (both.map(\.description) + onlyTraining.map { "in training: \($0)" } + onlyEvaluation.map { "in evaluation: \($0)" })
    }
}
