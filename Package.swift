// swift-tools-version: 6.0
import PackageDescription

// Layers, each importing only the ones below it:
// TensorCore → Autograd → NN → Optim / Data / Checkpoint → DistributedTraining → Models → SwiftNN (umbrella) → swiftnn (CLI)
let package = Package(
    name: "SwiftNN",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "SwiftNN", targets: ["SwiftNN"]),
        .library(name: "SwiftNNDoctor", targets: ["SwiftNNDoctor"]),
        .library(name: "SwiftNNMonitor", targets: ["SwiftNNMonitor"]),
        .executable(name: "swiftnn", targets: ["swiftnn"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // zlib's inflate/deflate, resolved at run time from the system's shared libz (no headers needed to build).
        .target(name: "CZlibLoader", path: "Sources/CZlibLoader",
                linkerSettings: [.linkedLibrary("dl", .when(platforms: [.linux]))]),
        // Non-temporal stores for kernels' large outputs (Swift has no spelling for them).
        .target(name: "CKernelSupport", path: "Sources/CKernelSupport"),
        .target(name: "TensorCore", dependencies: ["CKernelSupport"], path: "Sources/TensorCore"),
        .target(name: "Autograd", dependencies: ["TensorCore"], path: "Sources/Autograd"),
        .target(name: "NN", dependencies: ["TensorCore", "Autograd"], path: "Sources/NN"),
        .target(name: "Optim", dependencies: ["TensorCore", "Autograd", "NN"], path: "Sources/Optim"),
        .target(
            name: "Data", dependencies: ["TensorCore", "CZlibLoader"], path: "Sources/Data",
            exclude: ["Resources/DATA-README.md"],
            resources: [.copy("Resources/mnist-10k")]),
        .target(name: "Checkpoint", dependencies: ["TensorCore", "Autograd", "NN", "Optim", "CZlibLoader"], path: "Sources/Checkpoint"),
        // Open MPI loaded at run time (dlopen), so nothing in the build needs MPI installed.
        .target(
            name: "CMPIShim", path: "Sources/CMPIShim",
            linkerSettings: [.linkedLibrary("dl", .when(platforms: [.linux]))]),
        .target(
            name: "DistributedTraining", dependencies: ["TensorCore", "Autograd", "NN", "Data", "CMPIShim"],
            path: "Sources/DistributedTraining"),
        .target(name: "Models", dependencies: ["TensorCore", "Autograd", "NN"], path: "Sources/Models"),
        .target(
            name: "SwiftNN",
            dependencies: ["TensorCore", "Autograd", "NN", "Optim", "Data", "Checkpoint", "DistributedTraining", "Models"],
            path: "Sources/SwiftNN"),
        // Tools: checks for the classic BatchNorm/Dropout mistakes.
        .target(name: "SwiftNNDoctor", dependencies: ["TensorCore", "Autograd", "NN"], path: "Sources/SwiftNNDoctor"),
        // Tools: the training monitor, the HTML report and the TensorBoard event writer.
        .target(name: "SwiftNNMonitor", dependencies: ["TensorCore", "Autograd", "NN", "SwiftNNDoctor"], path: "Sources/SwiftNNMonitor"),
        .executableTarget(
            name: "swiftnn",
            dependencies: ["SwiftNN", "SwiftNNDoctor", "SwiftNNMonitor", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Sources/swiftnn"),
        // Shared by the test targets: PyTorch reference fixtures, real sample data, test helpers.
        .target(
            name: "TestSupport", dependencies: ["TensorCore", "Autograd"], path: "Tests/TestSupport",
            exclude: ["Resources/FIXTURES-README.md"],
            resources: [.copy("Resources/fixtures"), .copy("Resources/data")]),
        .testTarget(name: "TensorCoreTests", dependencies: ["TensorCore", "Autograd", "TestSupport", "CKernelSupport"], path: "Tests/TensorCoreTests"),
        .testTarget(name: "AutogradTests", dependencies: ["TensorCore", "Autograd", "TestSupport"], path: "Tests/AutogradTests"),
        .testTarget(name: "NNTests", dependencies: ["SwiftNN", "TestSupport"], path: "Tests/NNTests"),
        .testTarget(name: "CheckpointTests", dependencies: ["SwiftNN", "TestSupport"], path: "Tests/CheckpointTests"),
        .testTarget(name: "DataTests", dependencies: ["SwiftNN", "TestSupport", "CZlibLoader"], path: "Tests/DataTests"),
        // Runs the built `swiftnn` executable and unit-tests its option handling.
        .testTarget(name: "CLITests", dependencies: ["swiftnn", "SwiftNN", "TestSupport"], path: "Tests/CLITests"),
        .testTarget(name: "DoctorTests", dependencies: ["SwiftNN", "SwiftNNDoctor", "TestSupport"], path: "Tests/DoctorTests"),
        .testTarget(name: "MonitorTests", dependencies: ["SwiftNN", "SwiftNNDoctor", "SwiftNNMonitor", "TestSupport", "CZlibLoader"], path: "Tests/MonitorTests"),
        // Multi-rank checks: launched under mpirun by DistributedTests (test-only, not a product).
        .target(
            name: "DistributedScenarios", dependencies: ["SwiftNN", "TestSupport"], path: "Tests/DistributedScenarios"),
        .executableTarget(
            name: "DistributedWorker", dependencies: ["SwiftNN", "TestSupport", "DistributedScenarios"],
            path: "Tests/DistributedWorker"),
        .testTarget(
            name: "DistributedTests", dependencies: ["SwiftNN", "TestSupport", "DistributedScenarios"],
            path: "Tests/DistributedTests"),
        .testTarget(name: "OptimTests", dependencies: ["SwiftNN", "TestSupport"], path: "Tests/OptimTests"),
    ],
    swiftLanguageModes: [.v6]
)
