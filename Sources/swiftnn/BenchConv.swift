import ArgumentParser
import Foundation
import SwiftNN

/// `swiftnn bench conv`: 2-d convolution forward and backward (im2col + packed GEMM) on the
/// shapes of the tutorial's SmallCNN on MNIST, batch 128.
struct BenchConv: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conv",
        abstract: "Conv2d 3×3 forward and backward on SmallCNN's layer shapes on MNIST (batch 128): time and GFLOP/s.")

    @OptionGroup var options: BenchOptions

    @Option(help: "Batch size.")
    var batch: Int = 128

    func run() throws {
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1, got \(batch)") }
        print(buildNote())
        // (in channels, out channels, input size, stride): SmallCNN's four blocks on 28×28 MNIST.
        let layers = [(1, 32, 28, 1), (32, 64, 28, 2), (64, 128, 14, 2), (128, 256, 7, 2)]
        var table = BenchTable(["case", "threads", "median", "fastest", "GFLOP/s", "per CPU-s"])
        for (cin, cout, size, stride) in layers {
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
                let b = withThreads(t) {
                    BenchTimer.measure(repeats: options.repeats) {
                        _ = Kernels.convolutionBackward(g, x, conv.weight, geo, needInput: cin > 1, needWeight: true, needBias: false)
                    }
                }
                let bflops = flops * (cin > 1 ? 2 : 1)
                table.add(["bwd \(name)", "\(t)", formatTime(b.median), formatTime(b.fastest), String(format: "%.1f", bflops / b.median / 1e9),
                           String(format: "%.1f", bflops / max(b.cpu, 1e-9) / 1e9)])
            }
        }
        table.print()
    }
}
