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

    @Option(help: "The network whose layer shapes to run: smallcnn; resnet18 (the small-image stem's distinct shapes: 3×3 stride 1 and 2, 1×1 stride-2 downsamples; --size is the image's); resnet18-imagenet (torchvision's 7×7 stride-2 stem, then the same stages at a quarter of --size, e.g. 224).")
    var model: String = "smallcnn"

    @Option(help: "Only run the layers whose name contains this text (e.g. \"512->512\", \"3x3 8x8\"; x for ×, -> for →).")
    var only: String?

    func run() throws {
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1, got \(batch)") }
        guard (4...512).contains(size) else { throw ValidationError("--size must be between 4 and 512, got \(size)") }
        guard (1...64).contains(inChannels) else { throw ValidationError("--in-channels must be between 1 and 64, got \(inChannels)") }
        print(buildNote())
        // (in channels, out channels, input size, stride, kernel): 3×3 layers have padding 1, 1×1 none.
        let half = (size + 1) / 2, quarter = (half + 1) / 2
        let layers: [(Int, Int, Int, Int, Int)]
        switch model {
        case "smallcnn":
            layers = [(inChannels, 32, size, 1, 3), (32, 64, size, 2, 3), (64, 128, half, 2, 3), (128, 256, quarter, 2, 3)]
        case "resnet18", "resnet18-imagenet":
            // The stages see the image itself, or a quarter of it after the 7×7 stride-2 stem and max pool.
            let s1 = model == "resnet18" ? size : (size + 3) / 4, s2 = (s1 + 1) / 2, s3 = (s2 + 1) / 2, s4 = (s3 + 1) / 2
            let stem = model == "resnet18" ? (inChannels, 64, size, 1, 3) : (inChannels, 64, size, 2, 7)
            layers = [stem, (64, 64, s1, 1, 3),
                      (64, 128, s1, 2, 3), (128, 128, s2, 1, 3), (64, 128, s1, 2, 1),
                      (128, 256, s2, 2, 3), (256, 256, s3, 1, 3), (128, 256, s2, 2, 1),
                      (256, 512, s3, 2, 3), (512, 512, s4, 1, 3), (256, 512, s3, 2, 1)]
        default:
            throw ValidationError("--model must be smallcnn, resnet18 or resnet18-imagenet, got \(model)")
        }
        var table = BenchTable(["case", "threads", "median", "fastest", "GFLOP/s", "per CPU-s"])
        for (index, (cin, cout, size, stride, k)) in layers.enumerated() {
            Tensor.manualSeed(0)
            let x = Tensor.randn([batch, cin, size, size])
            let conv = Conv2d(cin, cout, kernelSize: k, stride: stride, padding: k / 2, bias: false)
            let geo = ConvGeometry(batch: batch, inChannels: cin, outChannels: cout, groups: 1, inputSize: [size, size],
                                   kernelSize: [k, k], stride: [stride, stride], padding: [k / 2, k / 2], dilation: [1, 1])
            let outSize = geo.outputSize[0]
            let flops = 2 * Double(batch * cout * cin * k * k * outSize * outSize)
            let name = "\(cin)→\(cout) \(k)×\(k) \(size)×\(size)/\(stride)"
            func plain(_ s: String) -> String { s.lowercased().replacingOccurrences(of: "×", with: "x").replacingOccurrences(of: "→", with: "->") }
            if let only, !plain(name).contains(plain(only)) { continue }
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
