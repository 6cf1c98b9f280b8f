// swift-tools-version: 6.0
import PackageDescription

// libFuzzer targets for every reader of outside data. Separate from the root package so its
// `swift build` and `swift test` are unaffected; build and run them with scripts/fuzz/run.sh
// (which passes -sanitize=fuzzer,address to every module, the library's included).
let package = Package(
    name: "SwiftNNFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "SwiftNN", path: "..")],
    targets: [
        // Declares libFuzzer's LLVMFuzzerRunDriver: each target's main.swift calls it.
        .target(name: "FuzzDriver"),
        .executableTarget(name: "FuzzSafetensors", dependencies: ["FuzzDriver", .product(name: "SwiftNN", package: "SwiftNN")]),
        .executableTarget(name: "FuzzTrainingCheckpoint", dependencies: ["FuzzDriver", .product(name: "SwiftNN", package: "SwiftNN")]),
        .executableTarget(name: "FuzzIDX", dependencies: ["FuzzDriver", .product(name: "SwiftNN", package: "SwiftNN")]),
        .executableTarget(name: "FuzzGzip", dependencies: ["FuzzDriver", .product(name: "SwiftNN", package: "SwiftNN")]),
        .executableTarget(name: "FuzzCIFAR", dependencies: ["FuzzDriver", .product(name: "SwiftNN", package: "SwiftNN")]),
        .executableTarget(name: "FuzzTorchFile", dependencies: ["FuzzDriver", .product(name: "SwiftNN", package: "SwiftNN")]),
        // The CLI's checkpoint → architecture → model path: its source files, linked here (the CLI is
        // an executable target, which another package cannot import).
        .executableTarget(name: "FuzzCheckpointModel", dependencies: ["FuzzDriver", .product(name: "SwiftNN", package: "SwiftNN")]),
    ],
    swiftLanguageModes: [.v5]
)
