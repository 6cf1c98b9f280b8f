import ArgumentParser
import Foundation
import SwiftNN

/// `swiftnn experiment …`: reproductions of published results.
struct ExperimentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "experiment",
        abstract: "Reproduce published experiments about normalization.",
        subcommands: [BNPaperCommand.self])
}

/// `swiftnn experiment bn-paper`.
struct BNPaperCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bn-paper",
        abstract: "Figure 1 of Ioffe & Szegedy (2015): a sigmoid MLP on MNIST with and without BatchNorm.",
        discussion: """
            Trains the paper's 3-hidden-layer sigmoid MLP (100 units each) on binarized bundled MNIST \
            twice, without and with BatchNorm before each sigmoid, and writes report.html and \
            bn-paper.json: test accuracy against training steps, and the 15th/50th/85th percentiles of \
            one last-hidden-layer sigmoid input over training. Prints which of the figure's claims the \
            run reproduces.
            """)

    @Option(help: "Training steps per network (the paper: 50000).")
    var steps: Int = BNPaperOptions().steps
    @Option(help: "Examples per mini-batch (the paper: 60).")
    var batchSize: Int = BNPaperOptions().batchSize
    @Option(help: "SGD learning rate.")
    var lr: Double = BNPaperOptions().learningRate
    @Option(help: "Standard deviation of the initial Gaussian weights.")
    var initStd: Double = BNPaperOptions().initStd
    @Option(help: "Evaluate on the test set every N steps.")
    var evalEvery: Int = BNPaperOptions().evalEvery
    @Option(help: "Which unit of the last hidden layer to follow.")
    var unit: Int = BNPaperOptions().unit
    @Option(help: "Random seed.")
    var seed: UInt64 = BNPaperOptions().seed
    @Option(help: ArgumentHelp("Use only the first N test images.", visibility: .hidden))
    var testLimit: Int?
    @Option(help: ArgumentHelp("Output folder.", valueName: "dir"))
    var out: String = "runs/bn-paper"
    @Option(help: "Worker threads (default: all cores).")
    var threads: Int?

    func run() throws {
        do {
            if let t = threads {
                guard t >= 1 else { throw CLIError("--threads must be at least 1, got \(t)") }
                Parallel.threadCount = min(t, ProcessInfo.processInfo.activeProcessorCount)
            }
            var o = BNPaperOptions()
            o.steps = steps
            o.batchSize = batchSize
            o.learningRate = lr
            o.initStd = initStd
            o.evalEvery = evalEvery
            o.unit = unit
            o.seed = seed
            o.testLimit = testLimit
            guard !out.isEmpty else { throw CLIError("--out must name a folder") }
            o.outDirectory = URL(fileURLWithPath: out)
            try BNPaperExperiment(options: o).run()
        } catch {
            printError(error)
            throw ExitCode.failure
        }
    }
}
