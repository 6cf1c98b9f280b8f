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
            a graph, as inside a network, so no leaf-gradient copy is timed. \
            "fastest" / "copy" / "best ratio": the fastest run of the case against the fastest run of a \
            memory copy moving the same bytes, timed alternately with it (robust on a busy machine).
            """)

    @OptionGroup var options: BenchOptions

    @Option(help: "Only run cases whose name contains this text.")
    var only: String?

    @Option(help: "Outputs of at least this many bytes are written with non-temporal stores (default: the library's).")
    var streamBytes: Int?

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
        if let streamBytes { Kernels.normalizationStreamingBytes = streamBytes }
        print("non-temporal stores for outputs ≥ \(Kernels.normalizationStreamingBytes >> 20) MiB")
        let cases: [Case] = [
            Case(name: "BatchNorm2d(64) train fwd (32,64,56,56)", shape: [32, 64, 56, 56], tensorsMoved: 2,
                 target: "≤1.5× (PyTorch 7.2×)", layer: BatchNorm2d(64), backward: false),
            Case(name: "BatchNorm2d(64) train fwd+bwd (32,64,56,56)", shape: [32, 64, 56, 56], tensorsMoved: 5,
                 target: "≤2× (PyTorch 4.8–6.2×)", layer: BatchNorm2d(64), backward: true),
            Case(name: "BatchNorm2d(64) eval fwd (32,64,56,56)", shape: [32, 64, 56, 56], tensorsMoved: 2,
                 target: "-", layer: { let b = BatchNorm2d(64); b.eval(); return b }(), backward: false),
            // Batch norm fused with the ReLU after it (what Conv2d → BatchNorm2d → ReLU runs in a
            // Sequential) against the two layers, at ResNet's and SmallCNN's activation shapes.
            Case(name: "BatchNorm2d(64)+ReLU fused train fwd (32,64,56,56)", shape: [32, 64, 56, 56], tensorsMoved: 2,
                 target: "-", layer: FusedBatchNormReLU(64), backward: false),
            Case(name: "BatchNorm2d(64) → ReLU train fwd (32,64,56,56)", shape: [32, 64, 56, 56], tensorsMoved: 2,
                 target: "-", layer: Sequential { BatchNorm2d(64); ReLU() }, backward: false),
            Case(name: "BatchNorm2d(64)+ReLU fused train fwd+bwd (32,64,56,56)", shape: [32, 64, 56, 56], tensorsMoved: 5,
                 target: "-", layer: FusedBatchNormReLU(64), backward: true),
            Case(name: "BatchNorm2d(64) → ReLU train fwd+bwd (32,64,56,56)", shape: [32, 64, 56, 56], tensorsMoved: 5,
                 target: "-", layer: Sequential { BatchNorm2d(64); ReLU() }, backward: true),
            Case(name: "BatchNorm2d(32)+ReLU fused train fwd+bwd (64,32,32,32)", shape: [64, 32, 32, 32], tensorsMoved: 5,
                 target: "-", layer: FusedBatchNormReLU(32), backward: true),
            Case(name: "BatchNorm2d(32) → ReLU train fwd+bwd (64,32,32,32)", shape: [64, 32, 32, 32], tensorsMoved: 5,
                 target: "-", layer: Sequential { BatchNorm2d(32); ReLU() }, backward: true),
            Case(name: "BatchNorm2d(64)+ReLU fused train fwd+bwd (64,64,16,16)", shape: [64, 64, 16, 16], tensorsMoved: 5,
                 target: "-", layer: FusedBatchNormReLU(64), backward: true),
            Case(name: "BatchNorm2d(64) → ReLU train fwd+bwd (64,64,16,16)", shape: [64, 64, 16, 16], tensorsMoved: 5,
                 target: "-", layer: Sequential { BatchNorm2d(64); ReLU() }, backward: true),
            // A residual block's tail, relu(bn(x) + identity), fused (what ResNet's blocks run) against
            // the three operations; x and the residual are read, y written (3 tensors forward, 5 more
            // backward: dy, the mask, x read; dx and the residual's gradient written).
            Case(name: "BatchNorm2d(64)+add+ReLU fused train fwd (32,64,56,56)", shape: [32, 64, 56, 56], tensorsMoved: 3,
                 target: "-", layer: ResidualTail(64, [32, 64, 56, 56], fused: true), backward: false),
            Case(name: "BatchNorm2d(64) → add → ReLU train fwd (32,64,56,56)", shape: [32, 64, 56, 56], tensorsMoved: 3,
                 target: "-", layer: ResidualTail(64, [32, 64, 56, 56], fused: false), backward: false),
            Case(name: "BatchNorm2d(64)+add+ReLU fused train fwd+bwd (32,64,56,56)", shape: [32, 64, 56, 56], tensorsMoved: 8,
                 target: "-", layer: ResidualTail(64, [32, 64, 56, 56], fused: true), backward: true),
            Case(name: "BatchNorm2d(64) → add → ReLU train fwd+bwd (32,64,56,56)", shape: [32, 64, 56, 56], tensorsMoved: 8,
                 target: "-", layer: ResidualTail(64, [32, 64, 56, 56], fused: false), backward: true),
            // SmallCNN's deeper layers on MNIST: planes of 7×7 and 4×4, so per-plane overheads show.
            Case(name: "BatchNorm2d(128)+ReLU fused train fwd+bwd (128,128,7,7)", shape: [128, 128, 7, 7], tensorsMoved: 5,
                 target: "-", layer: FusedBatchNormReLU(128), backward: true),
            Case(name: "BatchNorm2d(256)+ReLU fused train fwd+bwd (128,256,4,4)", shape: [128, 256, 4, 4], tensorsMoved: 5,
                 target: "-", layer: FusedBatchNormReLU(256), backward: true),
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
        var table = BenchTable(["case", "threads", "median", "floor", "ratio", "fastest", "copy", "best ratio", "target"])
        for t in options.threadCounts {
            print("bandwidth, \(t) thread(s): \(formatBandwidth(Bandwidth.measure(threads: t)))")
        }
        for c in cases where only.map({ c.name.contains($0) }) ?? true {
            Tensor.manualSeed(0)
            let x = Tensor.randn(c.shape)
            let dy = Tensor.randn(c.shape)
            let bytes = c.tensorsMoved * x.count * MemoryLayout<Float>.stride
            // A copy moving the same bytes, timed alternately with the case: on a shared, noisy
            // machine the two fastest times compare more reliably than medians taken apart.
            let copyCount = bytes / 2 / MemoryLayout<Float>.stride
            let src = Tensor.full([copyCount], 1), dst = Tensor.zeros([copyCount])
            let ps = src.pointer(as: Float.self), pd = dst.pointer(as: Float.self)
            for t in options.threadCounts {
                let runCase = {
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
                let runCopy = {
                    Parallel.forRange(0..<copyCount, grain: 1 << 16, alignment: 16) { r in
                        (pd + r.lowerBound).update(from: ps + r.lowerBound, count: r.count)
                    }
                }
                var caseTimes: [Double] = [], copyTimes: [Double] = []
                withThreads(t) {
                    runCase(); runCopy(); runCase(); runCopy()
                    for _ in 0..<options.repeats {
                        copyTimes.append(BenchTimer.measure(repeats: 1, warmup: 0, runCopy).median)
                        caseTimes.append(BenchTimer.measure(repeats: 1, warmup: 0, runCase).median)
                    }
                }
                caseTimes.sort()
                let median = caseTimes[caseTimes.count / 2], fastest = caseTimes[0], copyBest = copyTimes.min()!
                let floor = Bandwidth.floor(bytes: bytes, threads: t)
                table.add([c.name, "\(t)", formatTime(median), formatTime(floor), String(format: "%.2f×", median / floor),
                           formatTime(fastest), formatTime(copyBest), String(format: "%.2f×", fastest / copyBest), c.target])
            }
            withExtendedLifetime((src, dst)) {}
        }
        table.print()
    }
}

/// BatchNorm2d followed by ReLU through the fused functional form (a Sequential fuses only after
/// a Conv2d, and this benchmark times normalization alone).
private final class FusedBatchNormReLU: Module {
    let bn: BatchNorm2d
    init(_ channels: Int) {
        bn = BatchNorm2d(channels)
        super.init()
    }
    override func forward(_ x: Tensor) -> Tensor {
        batchNormReLU(x, runningMean: bn.runningMean, runningVar: bn.runningVar, weight: bn.weight, bias: bn.bias,
                      training: isTraining)
    }
}

/// `relu(bn(x) + residual)` with a fixed residual (an interior node, as an identity branch is):
/// through ``batchNormAddReLU(_:residual:batchNorm:relu:)`` or as three operations with an in-place
/// ReLU, as torchvision's blocks write it.
private final class ResidualTail: Module {
    let bn: BatchNorm2d
    let relu = ReLU(inplace: true)
    let values: Tensor
    let fused: Bool
    init(_ channels: Int, _ shape: [Int], fused: Bool) {
        bn = BatchNorm2d(channels)
        values = Tensor.randn(shape)
        self.fused = fused
        super.init()
    }
    override func forward(_ x: Tensor) -> Tensor {
        let source = Tensor.zeros([1], requiresGrad: true)
        let residual = Autograd.record("bench_residual", output: values.viewData(values.shape), inputs: [source]) { _ in [nil] }
        return fused ? batchNormAddReLU(x, residual: residual, batchNorm: bn, relu: relu) : relu(bn(x) + residual)
    }
}
