import ArgumentParser
import Foundation
import SwiftNN

/// `swiftnn bench conv`: 2-d convolution forward and backward (im2col + packed GEMM) on the
/// shapes of the tutorial's SmallCNN: on MNIST, batch 128, by default; `--size 32 --in-channels 3
/// --batch 64` gives the CIFAR-10 shapes of `bench train`'s SmallCNN step.
struct BenchConv: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conv",
        abstract: "Conv2d 3×3 forward, input gradient (dx) and weight gradient (dw) on SmallCNN's layer shapes (MNIST, batch 128, unless told otherwise): time and GFLOP/s.")

    @OptionGroup var options: BenchOptions

    @Option(help: "Batch size.")
    var batch: Int = 128

    @Option(help: "Height and width of the input images (28: MNIST, 32: CIFAR-10).")
    var size: Int = 28

    @Option(help: "Channels of the input images (1: MNIST, 3: CIFAR-10).")
    var inChannels: Int = 1

    func run() throws {
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1, got \(batch)") }
        guard (4...512).contains(size) else { throw ValidationError("--size must be between 4 and 512, got \(size)") }
        guard (1...64).contains(inChannels) else { throw ValidationError("--in-channels must be between 1 and 64, got \(inChannels)") }
        print(buildNote())
        // (in channels, out channels, input size, stride): SmallCNN's four blocks (3×3, padding 1).
        let half = (size + 1) / 2, quarter = (half + 1) / 2
        let layers = [(inChannels, 32, size, 1), (32, 64, size, 2), (64, 128, half, 2), (128, 256, quarter, 2)]
        var table = BenchTable(["case", "threads", "median", "fastest", "GFLOP/s", "per CPU-s"])
        for (index, (cin, cout, size, stride)) in layers.enumerated() {
            Tensor.manualSeed(0)
            let x = Tensor.randn([batch, cin, size, size])
            let conv = Conv2d(cin, cout, kernelSize: 3, stride: stride, padding: 1, bias: false)
            let geo = ConvGeometry(batch: batch, inChannels: cin, outChannels: cout, groups: 1, inputSize: [size, size],
                                   kernelSize: [3, 3], stride: [stride, stride], padding: [1, 1], dilation: [1, 1])
            let outSize = geo.outputSize[0]
            let flops = 2 * Double(batch * cout * cin * 9 * outSize * outSize)
            let name = "\(cin)→\(cout) \(size)×\(size)/\(stride)"
            let g = Tensor.randn([batch, cout, outSize, outSize])
            for t in options.threadCounts {
                let f = withThreads(t) {
                    BenchTimer.measure(repeats: options.repeats) { _ = Kernels.convolution(x, conv.weight, nil, geo) }
                }
                table.add(["fwd \(name)", "\(t)", formatTime(f.median), formatTime(f.fastest), String(format: "%.1f", flops / f.median / 1e9),
                           String(format: "%.1f", flops / max(f.cpu, 1e-9) / 1e9)])
                // The two products of the backward pass apart (a first layer has no input gradient).
                for (label, needInput) in index > 0 ? [("dx", true), ("dw", false)] : [("dw", false)] {
                    let b = withThreads(t) {
                        BenchTimer.measure(repeats: options.repeats) {
                            _ = Kernels.convolutionBackward(g, x, conv.weight, geo, needInput: needInput, needWeight: !needInput,
                                                            needBias: false)
                        }
                    }
                    table.add(["\(label) \(name)", "\(t)", formatTime(b.median), formatTime(b.fastest),
                               String(format: "%.1f", flops / b.median / 1e9), String(format: "%.1f", flops / max(b.cpu, 1e-9) / 1e9)])
                }
            }
        }
        table.print()
    }
}
