import ArgumentParser
import Foundation
import SwiftNN

/// `swiftnn train`: the tutorial's training recipe on MNIST (or any IDX / CIFAR-10 folder).
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train the tutorial's MLP (or SmallCNN) and save the best checkpoint.",
        discussion: """
        Defaults are the tutorial's recipe: MLP 784→[512,256,128]→10 with BatchNorm and Dropout 0.4, \
        AdamW (lr 1e-3, weight decay 1e-4), cosine annealing over the epochs, cross entropy with label \
        smoothing 0.1, batch 128, 15 epochs, on the bundled MNIST subset (10,000 training images; the \
        2,000 test images serve as validation). Writes best.safetensors, last.safetensors (full training \
        state for --resume), metrics.csv and metrics.json to --out. Unless --no-monitor: the doctor \
        examines the model first, a training monitor watches the run (BatchNorm statistics, train/val \
        gap, non-finite values) and prints its diagnosis at the end, and the run folder gets \
        monitor.json, a self-contained report.html and TensorBoard event files (tensorboard/).
        """)

    /// The recipe's values, which the options below show as their defaults.
    private static let recipe = TrainOptions()

    @Option(help: ArgumentHelp("Model: \(ModelKind.listing).", valueName: "name"))
    var model: String = recipe.model.rawValue

    @Option(help: ArgumentHelp("Folder with MNIST-style IDX files (raw or .gz) or CIFAR-10 binary batches; default: bundled MNIST.", valueName: "dir"))
    var data: String?

    // Numeric options parse their value unconditionally, so `--lr -1` reaches validation and gets a
    // message about the value instead of "Missing value".
    @Option(parsing: .unconditional, help: "Number of epochs.")
    var epochs: Int = recipe.epochs

    @Option(parsing: .unconditional, help: "Random seed (weights, shuffling, dropout).")
    var seed: UInt64 = recipe.seed

    @Option(help: ArgumentHelp("Output folder (default: runs/<model>).", valueName: "dir"))
    var out: String?

    @Flag(help: "Continue the run saved in the output folder (its last.safetensors) exactly where it stopped.")
    var resume = false

    @Argument(help: ArgumentHelp("With --resume: the run folder to continue (same as --out).", valueName: "run-dir"))
    var runDirectory: String?

    @Option(parsing: .unconditional, help: "Batch size.")
    var batchSize: Int = recipe.batchSize

    @Option(parsing: .unconditional, help: "AdamW learning rate (default: \(TrainOptions.defaultLearningRate); with --resume: the run's, or a new one to continue with).")
    var lr: Double?

    @Option(parsing: .unconditional, help: "AdamW weight decay (default: \(TrainOptions.defaultWeightDecay); with --resume: the run's, or a new one to continue with).")
    var weightDecay: Double?

    @Option(parsing: .unconditional, help: ArgumentHelp("Dropout probability (default: "
                               + ModelKind.allCases.map { "\($0.defaultDropout) for \($0.rawValue)" }.joined(separator: ", ") + ")."))
    var dropout: Double?

    @Option(parsing: .unconditional, help: ArgumentHelp("resnet18's base width: the channels of conv1 and layer1, doubled at each later stage "
                                                        + "(default: \(ModelSpec.torchvisionWidth), torchvision's; the convolutions' work scales with its square). The state-dict keys stay torchvision's.",
                                                        valueName: "channels"))
    var width: Int?

    @Option(parsing: .unconditional, help: "Worker threads (default: all cores; with --distributed, the cores divided among the processes).")
    var threads: Int?

    @Flag(help: ArgumentHelp("Data-parallel training over the processes mpirun started: mpirun -np 2 swiftnn train --distributed. --batch-size is per process (global batch = batch size × processes); rank 0 prints and writes the files."))
    var distributed = false

    @Flag(name: .customLong("no-sync-bn"), help: "With --distributed: keep per-process BatchNorm statistics instead of SyncBatchNorm's global-batch statistics.")
    var noSyncBatchNorm = false

    @Flag(name: .customLong("no-overlap"), help: ArgumentHelp("With --distributed: average gradients after the backward pass instead of during it.", visibility: .hidden))
    var noOverlap = false

    @Option(parsing: .unconditional, help: ArgumentHelp("Stop after this epoch, as if interrupted (resume later with --resume).", visibility: .hidden))
    var stopAfter: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("Use only the first N training examples.", visibility: .hidden))
    var limit: Int?

    @Option(help: ArgumentHelp("MLP hidden widths, comma-separated.", visibility: .hidden))
    var hidden: String = recipe.hiddenDims.map(String.init).joined(separator: ",")

    @Flag(inversion: .prefixedNo, help: "The doctor before training and the training monitor during it (monitor.json, report.html in the run folder).")
    var monitor = true

    @Option(help: ArgumentHelp("TensorBoard event files go here (default: <out>/tensorboard).", valueName: "dir"))
    var tensorboard: String?

    @Flag(help: "Write no TensorBoard event files.")
    var noTensorboard = false

    func run() throws {
        do {
            if distributed { try DistributedLaunch.prepare(threads: threads) }
            if let t = threads {
                guard t >= 1 else { throw CLIError("--threads must be at least 1, got \(t)") }
                Parallel.threadCount = min(t, ProcessInfo.processInfo.activeProcessorCount)
            }
            if let n = limit, n < 2 { throw CLIError("--limit must be at least 2, got \(n)") }
            var o = TrainOptions()
            o.model = try ModelKind(parsing: model)
            o.dataDirectory = data.map { URL(fileURLWithPath: $0) }
            o.epochs = epochs
            o.seed = seed
            if let dir = runDirectory {
                guard resume else { throw CLIError("unexpected argument '\(dir)' (a run folder is only taken with --resume)") }
                if let out, out != dir { throw CLIError("--resume \(dir) and --out \(out) name different folders") }
            }
            if let dir = runDirectory ?? out {
                // An empty path would silently mean the current folder.
                guard !dir.trimmingCharacters(in: .whitespaces).isEmpty else { throw CLIError("--out must name a folder, got an empty path") }
                o.outDirectory = URL(fileURLWithPath: dir)
            }
            o.resume = resume
            o.batchSize = batchSize
            o.learningRate = lr
            o.weightDecay = weightDecay
            o.stopAfter = stopAfter
            o.dropout = dropout
            o.width = width
            o.trainLimit = limit
            o.monitor = monitor
            if tensorboard != nil && (noTensorboard || !monitor) {
                throw CLIError("--tensorboard \(tensorboard!) contradicts \(noTensorboard ? "--no-tensorboard" : "--no-monitor") (TensorBoard events come from the monitor)")
            }
            o.tensorBoard = monitor && !noTensorboard
            if let dir = tensorboard {
                guard !dir.trimmingCharacters(in: .whitespaces).isEmpty else { throw CLIError("--tensorboard must name a folder, got an empty path") }
                o.tensorBoardDirectory = URL(fileURLWithPath: dir)
            }
            // Empty items are kept (and refused): "1,,2" is a typo, not [1, 2].
            let widths = hidden.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard !widths.isEmpty, widths.allSatisfy({ ($0 ?? 0) > 0 }) else { throw CLIError("--hidden must be positive integers separated by commas, got '\(hidden)'") }
            o.hiddenDims = widths.map { $0! }
            o.distributed = distributed
            o.syncBatchNorm = !noSyncBatchNorm
            o.overlapCommunication = !noOverlap
            guard distributed else {
                try Trainer(options: o).run()
                return
            }
            try o.validate()
            let group = try initProcessGroup(backend: .mpi)
            // From here a failure on any rank ends every rank, with its message.
            group.abortingOnError { try Trainer(options: o, group: group).run() }
            try destroyProcessGroup()
        } catch {
            if DistributedLaunch.reportsEarlyErrors(distributed: distributed) { printError(error) }
            throw ExitCode.failure
        }
    }
}
