import ArgumentParser
import Foundation
import SwiftNN

/// `swiftnn bench norm`: normalization layers through the public API against the memory
/// floor (bytes that must move ÷ bandwidth measured in the same run).
struct BenchNorm: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "norm",
        abstract: "Normalization layers (BatchNorm, LayerNorm, GroupNorm, InstanceNorm): median time vs the memory floor.",
        discussion: """
            Floors count each tensor once: forward reads x and writes y (2 tensors); forward+backward adds \
            reading x and dy and writing dx (5 tensors). The input of a fwd+bwd case is an interior node of \
            a graph, as inside a network, so no leaf-gradient copy is timed.
            """)

    @OptionGroup var options: BenchOptions

    @Option(help: "Only run cases whose name contains this text.")
    var only: String?

    struct Case {
        var name: String
        var shape: [Int]
        /// Tensors of the input's size that must move (read or written).
        var tensorsMoved: Int
        var target: String
        var layer: Module
        var backward: Bool
    }

    func run() throws {
        print(buildNote())
        let cases: [Case] = [
            Case(name: "BatchNorm2d(64) train fwd (32,64,56,56)", shape: [32, 64, 56, 56], tensorsMoved: 2,
                 target: "≤1.5× (PyTorch 7.2×)", layer: BatchNorm2d(64), backward: false),
            Case(name: "BatchNorm2d(64) train fwd+bwd (32,64,56,56)", shape: [32, 64, 56, 56], tensorsMoved: 5,
                 target: "≤2× (PyTorch 4.8–6.2×)", layer: BatchNorm2d(64), backward: true),
            Case(name: "BatchNorm2d(64) eval fwd (32,64,56,56)", shape: [32, 64, 56, 56], tensorsMoved: 2,
                 target: "-", layer: { let b = BatchNorm2d(64); b.eval(); return b }(), backward: false),
            Case(name: "LayerNorm(512) fwd (32,128,512)", shape: [32, 128, 512], tensorsMoved: 2,
                 target: "≤1.3× (PyTorch 1.2×)", layer: LayerNorm(512), backward: false),
            Case(name: "LayerNorm(512) fwd+bwd (32,128,512)", shape: [32, 128, 512], tensorsMoved: 5,
                 target: "-", layer: LayerNorm(512), backward: true),
            Case(name: "GroupNorm(32,256) fwd (4,256,56,56)", shape: [4, 256, 56, 56], tensorsMoved: 2,
                 target: "≤1.3× (PyTorch 1.5×)", layer: GroupNorm(numGroups: 32, numChannels: 256), backward: false),
            Case(name: "GroupNorm(32,256) fwd+bwd (4,256,56,56)", shape: [4, 256, 56, 56], tensorsMoved: 5,
                 target: "-", layer: GroupNorm(numGroups: 32, numChannels: 256), backward: true),
            Case(name: "InstanceNorm2d(64) fwd (8,64,128,128)", shape: [8, 64, 128, 128], tensorsMoved: 2,
                 target: "≤1.5× (PyTorch 14×)", layer: InstanceNorm2d(64), backward: false),
            Case(name: "RMSNorm(512) fwd (32,128,512)", shape: [32, 128, 512], tensorsMoved: 2,
                 target: "-", layer: RMSNorm(512), backward: false),
            Case(name: "BatchNorm1d(256) train fwd+bwd (256,256)", shape: [256, 256], tensorsMoved: 5,
                 target: "< 0.13 ms (PyTorch)", layer: BatchNorm1d(256), backward: true),
        ]
        var table = BenchTable(["case", "threads", "median", "floor", "ratio", "target"])
        for t in options.threadCounts {
            print("bandwidth, \(t) thread(s): \(formatBandwidth(Bandwidth.measure(threads: t)))")
        }
        for c in cases where only.map({ c.name.contains($0) }) ?? true {
            Tensor.manualSeed(0)
            let x = Tensor.randn(c.shape)
            let dy = Tensor.randn(c.shape)
            let bytes = c.tensorsMoved * x.count * MemoryLayout<Float>.stride
            for t in options.threadCounts {
                let r = withThreads(t) {
                    BenchTimer.measure(repeats: options.repeats) {
                        if c.backward {
                            // An interior node: its gradient is handed to a node that needs none.
                            let source = Tensor.zeros([1], requiresGrad: true)
                            let input = Autograd.record("bench_input", output: x.viewData(x.shape), inputs: [source]) { _ in [nil] }
                            let y = c.layer(input)
                            y.backward(dy)
                        } else {
                            _ = c.layer(x)
                        }
                    }
                }
                table.add([c.name, "\(t)", formatTime(r.median), formatTime(Bandwidth.floor(bytes: bytes, threads: t)),
                           String(format: "%.2f×", r.median / Bandwidth.floor(bytes: bytes, threads: t)), c.target])
            }
        }
        table.print()
    }
}
