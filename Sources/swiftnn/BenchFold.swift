import ArgumentParser
import Foundation
import SwiftNN

/// `swiftnn bench fold`: what folding BatchNorm into the convolutions saves at inference — the
/// eval forward pass of a full-size ResNet-18 as built (20 BatchNorms) and after
/// ``fuseBatchNorm(_:)``, next to PyTorch's times for the same model unfused and fused with
/// `torch.fx.experimental.optimization.fuse` when `--python` names an interpreter with torch
/// (scripts/bench/fold_batchnorm.py), in the same run — and the 20 BatchNorms' eval pass timed
/// alone on their inputs, the most that folding can save.
struct BenchFold: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fold",
        abstract: "ResNet-18 eval forward with BatchNorm as layers and folded into the convolutions, and PyTorch's.")

    @OptionGroup var options: BenchOptions

    @Option(help: "Images per batch.")
    var batch: Int = 4

    @Option(help: "Image side in pixels (224 is ImageNet's).")
    var size: Int = 224

    @Option(help: ArgumentHelp("A Python with torch, to time the same model in PyTorch in this run.", valueName: "python"))
    var python: String?

    func validate() throws {
        guard batch >= 1, batch <= 256 else { throw ValidationError("--batch must be in 1...256, got \(batch)") }
        guard size >= 32, size <= 1024 else { throw ValidationError("--size must be in 32...1024, got \(size)") }
    }

    func run() throws {
        print(buildNote())
        print("load average: \(Self.loadAverage())")
        Tensor.manualSeed(0)
        let model = resnet18()
        // Statistics other than 0 / 1, as a trained model has, so the fold has work to do.
        for m in model.modules() {
            guard let bn = m as? BatchNormBase, let mean = bn.runningMean, let variance = bn.runningVar else { continue }
            mean.copyData(from: Tensor.randn([bn.numFeatures], std: 0.1))
            variance.copyData(from: Tensor.rand([bn.numFeatures]) + 0.5)
        }
        model.eval()
        let folded = resnet18()
        try folded.loadStateDict(model.stateDict(), strict: true)
        let foldedCount = folded.modules().compactMap { $0 as? BatchNormBase }.count
        fuseBatchNorm(folded)
        let remaining = folded.modules().compactMap { $0 as? BatchNormBase }.filter { !$0.isFolded }.count
        let x = Tensor.randn([batch, 3, size, size])
        let difference = inferenceMode { (model(x) - folded(x)).abs().max().item() as Float }
        print("ResNet-18, input [\(batch), 3, \(size), \(size)]: \(foldedCount - remaining) of \(foldedCount) BatchNorms folded, "
              + "max |folded − unfolded| = \(difference)")

        // Each BatchNorm's input in this forward pass: timing the 20 layers alone on them gives what
        // folding can save at most (convolutions dominate the forward).
        var batchNormInputs: [(BatchNormBase, Tensor)] = []
        let hooks = model.modules().compactMap { $0 as? BatchNormBase }.map { bn in
            bn.registerForwardPreHook { m, input in batchNormInputs.append((m as! BatchNormBase, input)) }
        }
        _ = inferenceMode { model(x) }
        hooks.forEach { $0.remove() }
        var shareTable = BenchTable(["BatchNorms alone", "threads", "eval pass", "of the unfolded forward", "PyTorch", "of PyTorch's unfused forward"])

        let torch = try python.map { try pytorchTimes($0) } ?? [:]
        // The last column compares the two inference-ready models: SwiftNN folded against PyTorch fused
        // (above 1× means SwiftNN is slower).
        var table = BenchTable(["case", "threads", "unfolded", "folded", "speed-up", "PyTorch", "PyTorch fused", "PyTorch speed-up",
                                "folded / PyTorch fused"])
        // The same runs' process CPU time (all threads): on a shared machine wall time includes
        // waiting for a core, CPU time does not.
        var cpuTable = BenchTable(["CPU time per forward", "threads", "unfolded", "folded", "speed-up", "PyTorch", "PyTorch fused", "PyTorch speed-up"])
        for threads in options.threadCounts {
            let results = withThreads(threads) {
                Self.measureTakingTurns(repeats: options.repeats, [
                    { _ = inferenceMode { model(x) } },
                    { _ = inferenceMode { folded(x) } },
                    { inferenceMode { for (bn, input) in batchNormInputs { _ = bn(input) } } },
                ])
            }
            let unfused = results[0], fused = results[1], alone = results[2]
            let tu = torch["unfused_\(threads)"], tf = torch["fused_\(threads)"], tb = torch["batchnorms_\(threads)"]
            shareTable.add(["\(batchNormInputs.count) layers", "\(threads)", formatTime(alone.median),
                            String(format: "%.1f%%", 100 * alone.median / unfused.median),
                            tb.map(formatTime) ?? "-", tb.flatMap { b in tu.map { String(format: "%.1f%%", 100 * b / $0) } } ?? "-"])
            table.add(["eval forward", "\(threads)", formatTime(unfused.median), formatTime(fused.median),
                       String(format: "%.2f×", unfused.median / fused.median),
                       tu.map(formatTime) ?? "-", tf.map(formatTime) ?? "-",
                       tu.flatMap { u in tf.map { String(format: "%.2f×", u / $0) } } ?? "-",
                       tf.map { String(format: "%.2f×", fused.median / $0) } ?? "-"])
            let cu = torch["unfused_cpu_\(threads)"], cf = torch["fused_cpu_\(threads)"]
            cpuTable.add(["eval forward", "\(threads)", formatTime(unfused.cpu), formatTime(fused.cpu),
                          String(format: "%.2f×", unfused.cpu / fused.cpu),
                          cu.map(formatTime) ?? "-", cf.map(formatTime) ?? "-",
                          cu.flatMap { u in cf.map { String(format: "%.2f×", u / $0) } } ?? "-"])
        }
        table.print()
        print("")
        cpuTable.print()
        print("")
        shareTable.print()
        print("load average: \(Self.loadAverage())")
    }

    /// ``BenchTimer/measure(repeats:warmup:_:)`` for several closures that take turns within each
    /// repetition, so a change in the machine's load during the run affects them alike (measured one
    /// after the other, PyTorch's one-thread fold "speed-up" ranged 1.00–1.56× over four runs on a
    /// shared machine; taking turns, 1.02×).
    static func measureTakingTurns(repeats: Int, warmup: Int = 1, _ bodies: [() -> Void]) -> [BenchTimer.Result] {
        for _ in 0..<warmup { bodies.forEach { $0() } }
        var times = [[Double]](repeating: [], count: bodies.count), cpus = times
        for _ in 0..<max(repeats, 1) {
            for (i, body) in bodies.enumerated() {
                let c0 = BenchTimer.processCPUSeconds()
                let t0 = ContinuousClock.now
                body()
                let d = ContinuousClock.now - t0
                cpus[i].append(BenchTimer.processCPUSeconds() - c0)
                times[i].append(Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18)
            }
        }
        return (0..<bodies.count).map {
            BenchTimer.Result(median: BenchTimer.median(times[$0]), fastest: times[$0].min()!, cpu: BenchTimer.median(cpus[$0]))
        }
    }

    /// The 1, 5 and 15-minute load averages: on a shared machine, timings mean little without them.
    static func loadAverage() -> String {
        (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").prefix(3).joined(separator: " ") ?? "unknown"
    }

    /// Runs scripts/bench/fold_batchnorm.py and reads its `name seconds` lines.
    private func pytorchTimes(_ python: String) throws -> [String: Double] {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/bench/fold_batchnorm.py")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = [script.path, "--batch", "\(batch)", "--size", "\(size)", "--repeats", "\(options.repeats)",
                       "--threads", options.threadCounts.map(String.init).joined(separator: ",")]
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
