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
            Rebuilds the model from the checkpoint's metadata, loads its weights and running statistics, \
            and reports problems PyTorch accepts silently: BatchNorm statistics never trained or broken, \
            Keras-style momentum, batches too small for BatchNorm, a bias before BatchNorm, Dropout \
            feeding BatchNorm, AlphaDropout without SELU. Exits with status 1 when an error is found.
            """)

    @Option(help: ArgumentHelp("Checkpoint file written by 'swiftnn train'.", valueName: "file"))
    var checkpoint: String

    /// What the model is about to do.
    enum Purpose: String {
        case eval, train
        var doctorPurpose: Doctor.Purpose { self == .eval ? .evaluation : .training }
    }

    @Option(help: ArgumentHelp("What the model is about to do: eval or train.", valueName: "purpose"))
    var purpose: String = Purpose.eval.rawValue

    @Option(help: "The training batch size you plan to use (enables the batch-size checks).")
    var batchSize: Int?

    func run() throws {
        let found: [Diagnosis]
        do {
            guard let purpose = Purpose(rawValue: purpose) else {
                throw CLIError("--purpose must be 'eval' or 'train', got '\(purpose)'")
            }
            if let batchSize, batchSize < 1 { throw CLIError("--batch-size must be at least 1, got \(batchSize)") }
            let url = URL(fileURLWithPath: checkpoint)
            let (spec, model) = try loadCheckpointModel(url)
            model.train(purpose == .train)
            found = Doctor.examine(model, purpose: purpose.doctorPurpose, batchSize: batchSize)
            say("Model \(spec.pytorchName) from \(url.path)")
            say(Doctor.report(found))
        } catch {
            printError(error)
            throw ExitCode.failure
        }
        if found.contains(where: { $0.severity == .error }) { throw ExitCode.failure }
    }
}
