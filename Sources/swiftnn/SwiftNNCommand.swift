import ArgumentParser
import SwiftNN

/// The `swiftnn` command: train and evaluate the tutorial's models, and benchmark the kernels.
///
/// ```sh
/// swift run -c release swiftnn train --model cnn --epochs 5
/// swift run -c release -Xswiftc -target-cpu -Xswiftc native swiftnn bench gemm
/// ```
///
/// Each area adds its subcommand in its own file and registers it here with one line.
@main
struct SwiftNNCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "swiftnn",
        abstract: "SwiftNN: PyTorch-exact deep learning in Swift — train, evaluate, benchmark.",
        subcommands: [
            Bench.self,
            DoctorCommand.self,
            TrainCommand.self, EvaluateCommand.self,
            ExperimentCommand.self, ReportCommand.self,
            ConvertCommand.self,
        ]
    )
}
