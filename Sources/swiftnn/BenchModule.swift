import ArgumentParser
import Foundation
import SwiftNN

/// `swiftnn bench module`: what module-tree traversal costs — `parameters()`, `stateDict()`,
/// `train()`, `zeroGrad()` — on a ResNet-50-shaped tree (161 parameter tensors, 53 BatchNorms),
/// with the reflection cache (the normal path) and with reflection on every call (what the cache
/// saves), next to PyTorch's times for the same tree when `--python` names an interpreter with
/// torch (scripts/bench/module_traversal.py).
struct BenchModule: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "module",
        abstract: "Module traversal (parameters, stateDict, train, zeroGrad) with and without the reflection cache, and PyTorch's.")

    @OptionGroup var options: BenchOptions

    @Option(help: ArgumentHelp("A Python with torch, to time the same tree in PyTorch in this run.", valueName: "python"))
    var python: String?

    func run() throws {
        let model = ResNet50Shape()
        print("ResNet-50-shaped tree: \(model.modules().count) modules, \(model.parameters().count) parameter tensors, "
              + "\(model.stateDict().count) state entries")
        let cases: [(String, () -> Void)] = [
            ("parameters()", { _ = model.parameters() }),
            ("stateDict()", { _ = model.stateDict() }),
            ("train()", { model.train() }),
            ("zeroGrad()", { model.zeroGrad() }),
        ]
        let repeats = max(options.repeats, 20)
        var rows: [(String, Double, Double)] = []
        for (name, body) in cases {
            let cached = BenchTimer.measure(repeats: repeats, body).median
            // The pre-cache behaviour: every module reflects again on every call.
            let modules = model.modules()
            let uncached = BenchTimer.measure(repeats: repeats) {
                for m in modules { m.invalidateReflectedMembers() }
                body()
            }.median
            rows.append((name, cached, uncached))
        }
        var torch: [String: Double] = [:]
        if let python { torch = try pytorchTimes(python) }
        print("case           cached      reflect every call   PyTorch")
        for (name, cached, uncached) in rows {
            let t = torch[name].map { String(format: "%9.1f µs", $0 * 1e6) } ?? "        —"
            print(name.padding(toLength: 14, withPad: " ", startingAt: 0)
                  + String(format: "%9.1f µs   %9.1f µs (%4.1f×)   ", cached * 1e6, uncached * 1e6, uncached / cached) + t)
        }
    }

    /// Runs scripts/bench/module_traversal.py and reads its `name seconds` lines.
    private func pytorchTimes(_ python: String) throws -> [String: Double] {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/bench/module_traversal.py")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = [script.path]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw CLIError("\(python) \(script.path) failed with status \(p.terminationStatus)") }
        var times: [String: Double] = [:]
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, let s = Double(parts[1]) { times[String(parts[0])] = s }
        }
        return times
    }
}

/// torchvision's ResNet-50 layout (stem, four stages of 3/4/6/3 bottlenecks with a downsample on
/// each stage's first block, fc) with narrow widths: traversal cost depends on the tree, not on
/// tensor sizes.
private final class ResNet50Shape: Module {
    final class Bottleneck: Module {
        var conv1: Conv2d, bn1: BatchNorm2d, conv2: Conv2d, bn2: BatchNorm2d, conv3: Conv2d, bn3: BatchNorm2d
        var relu = ReLU(inplace: true)
        var downsample: Sequential?
        init(_ c: Int, downsample: Bool) {
            conv1 = Conv2d(c, c, 1, bias: false); bn1 = BatchNorm2d(c)
            conv2 = Conv2d(c, c, 3, padding: 1, bias: false); bn2 = BatchNorm2d(c)
            conv3 = Conv2d(c, c, 1, bias: false); bn3 = BatchNorm2d(c)
            self.downsample = downsample ? Sequential(Conv2d(c, c, 1, bias: false), BatchNorm2d(c)) : nil
            super.init()
        }
    }
    var conv1 = Conv2d(3, 4, 7, stride: 2, padding: 3, bias: false)
    var bn1 = BatchNorm2d(4)
    var relu = ReLU(inplace: true)
    var maxpool = MaxPool2d(3, stride: 2, padding: 1)
    var layer1 = Sequential((0..<3).map { Bottleneck(4, downsample: $0 == 0) })
    var layer2 = Sequential((0..<4).map { Bottleneck(4, downsample: $0 == 0) })
    var layer3 = Sequential((0..<6).map { Bottleneck(4, downsample: $0 == 0) })
    var layer4 = Sequential((0..<3).map { Bottleneck(4, downsample: $0 == 0) })
    var avgpool = AdaptiveAvgPool2d(1)
    var fc = Linear(4, 1000)
}
