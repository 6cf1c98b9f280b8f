import Foundation
import Testing
import SwiftNN
import TestSupport

/// The `swiftnn` executable `swift test` builds next to the test bundle.
func swiftnnExecutable() -> URL? {
    let selfExe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    var candidates = [selfExe.deletingLastPathComponent()]
    if let exe = Bundle.main.executableURL { candidates.append(exe.deletingLastPathComponent()) }
    candidates.append(Bundle.main.bundleURL.deletingLastPathComponent())
    for dir in candidates {
        let url = dir.appendingPathComponent("swiftnn")
        if FileManager.default.isExecutableFile(atPath: url.path) { return url }
    }
    return nil
}

struct RunResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs `swiftnn` with `arguments` (stdout and stderr are pipes, so no progress bar is drawn);
/// `environment` adds to or overrides the test's own.
func runSwiftNN(_ arguments: [String], environment: [String: String] = [:]) throws -> RunResult {
    guard let exe = swiftnnExecutable() else {
        Issue.record("swiftnn executable not found next to the test bundle")
        return RunResult(status: -1, stdout: "", stderr: "")
    }
    let p = Process()
    p.executableURL = exe
    p.arguments = arguments
    // GEMM picks its FMA or mul+add micro-kernel by timing both at start-up, which can flip under
    // load and change rounding between processes; pin it so separate runs are bit-comparable.
    var env = ProcessInfo.processInfo.environment
    env["SWIFTNN_GEMM_FMA"] = "0"
    env.merge(environment) { _, new in new }
    p.environment = env
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    // Read both pipes fully before waiting, so a chatty child cannot block on a full pipe.
    nonisolated(unsafe) var errBytes = Foundation.Data()
    var outBytes = Foundation.Data()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async { errBytes = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    outBytes = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    p.waitUntilExit()
    return RunResult(status: p.terminationStatus, stdout: String(decoding: outBytes, as: UTF8.self),
                     stderr: String(decoding: errBytes, as: UTF8.self))
}

/// An IDX folder with the first `train` / `test` bundled MNIST images, uncompressed.
func writeTinyMNIST(train: Int, test: Int) throws -> URL {
    let dir = makeTempDirectory("cli")
    for (split, n) in [(true, train), (false, test)] {
        let ds = try MNIST.bundled(train: split).storage.prefix(n)
        try IDXArray(shape: [n, 28, 28], bytes: ds.pixels).idxData()
            .write(to: dir.appendingPathComponent(split ? MNIST.trainImagesFile : MNIST.testImagesFile))
        try IDXArray(shape: [n], bytes: ds.labels).idxData()
            .write(to: dir.appendingPathComponent(split ? MNIST.trainLabelsFile : MNIST.testLabelsFile))
    }
    return dir
}

@Suite(.serialized) struct CLITests {
    @Test func resumeAfterStoppingGivesTheSameWeights() throws {
        let data = try writeTinyMNIST(train: 50, test: 20)
        let root = makeTempDirectory("cli")
        defer { try? FileManager.default.removeItem(at: data); try? FileManager.default.removeItem(at: root) }
        let a = root.appendingPathComponent("a").path, b = root.appendingPathComponent("b").path
        // 50 = 3·16 + 2 examples: shuffling, dropout and the cosine schedule all carry state across epochs.
        let common = ["train", "--data", data.path, "--epochs", "3", "--seed", "7", "--batch-size", "16", "--hidden", "16,8"]

        let full = try runSwiftNN(common + ["--out", a])
        #expect(full.status == 0, "\(full.stderr)")
        let stopped = try runSwiftNN(common + ["--out", b, "--stop-after", "1"])
        #expect(stopped.status == 0, "\(stopped.stderr)")
        #expect(stopped.stdout.contains("Epoch  1/3 | Train loss/acc "))
        #expect(!stopped.stdout.contains("Epoch  2/3"))
        let resumed = try runSwiftNN(common + ["--resume", b])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stdout.contains("Epoch  3/3 | Train loss/acc "))
        #expect(!resumed.stdout.contains("Epoch  1/3"))

        // Same epoch lines (the numbers, not the timings) and bit-identical final weights.
        let epochLines = { (s: String) in s.split(separator: "\n").filter { $0.hasPrefix("Epoch ") } }
        #expect(epochLines(full.stdout) == epochLines(stopped.stdout) + epochLines(resumed.stdout))
        for name in ["last.safetensors", "best.safetensors"] {
            let x = try StateDict(contentsOf: URL(fileURLWithPath: a).appendingPathComponent(name))
            let y = try StateDict(contentsOf: URL(fileURLWithPath: b).appendingPathComponent(name))
            #expect(x.keys == y.keys && !x.keys.isEmpty)
            for k in x.keys {
                let u = x[k]!, v = y[k]!
                #expect(u.shape == v.shape && u.dtype == v.dtype)
                #expect((0..<u.count).allSatisfy { u.doubleValue(at: $0) == v.doubleValue(at: $0) }, "\(name): \(k) differs")
            }
        }
        let csvA = try String(contentsOfFile: a + "/metrics.csv", encoding: .utf8)
        let csvB = try String(contentsOfFile: b + "/metrics.csv", encoding: .utf8)
        #expect(csvA.split(separator: "\n").count == 4 && csvB.split(separator: "\n").count == 4)

        // evaluate needs no architecture flags.
        let eval = try runSwiftNN(["evaluate", "--checkpoint", a + "/best.safetensors", "--data", data.path])
        #expect(eval.status == 0, "\(eval.stderr)")
        #expect(eval.stdout.contains("Accuracy") && eval.stdout.contains("Confusion matrix"))
        // The training checkpoint evaluates too (its model part), to the same numbers after the last epoch.
        let evalLast = try runSwiftNN(["evaluate", "--checkpoint", b + "/last.safetensors", "--data", data.path])
        #expect(evalLast.status == 0, "\(evalLast.stderr)")
        let json = try JSONSerialization.jsonObject(with: Foundation.Data(contentsOf: URL(fileURLWithPath: b + "/metrics.json"))) as? [[String: Any]]
        let history = try #require(json)
        #expect(history.count == 3 && (history.last?["epoch"] as? Int) == 3)
        // The numbers: evaluate's loss and accuracy line equals the validation of the last epoch
        // (last.safetensors) and of the epoch with the best accuracy (best.safetensors), as printed.
        func reported(_ m: [String: Any]) -> String? {
            guard let loss = m["valLoss"] as? Double, let acc = m["valAccuracy"] as? Double else { return nil }
            return "Loss \(String(format: "%.4f", loss)) | Accuracy \(String(format: "%.2f", acc))%"
        }
        let numbersLine = { (s: String) in s.split(separator: "\n").first { $0.hasPrefix("Loss ") }.map(String.init) }
        let last = try #require(history.last.flatMap(reported))
        #expect(numbersLine(evalLast.stdout) == last, "\(evalLast.stdout)")
        let historyA = try #require(try JSONSerialization.jsonObject(with: Foundation.Data(contentsOf: URL(fileURLWithPath: a + "/metrics.json"))) as? [[String: Any]])
        let bestAccuracy = historyA.compactMap { $0["valAccuracy"] as? Double }.max()
        let best = try #require(historyA.first { ($0["valAccuracy"] as? Double) == bestAccuracy }.flatMap(reported))
        #expect(numbersLine(eval.stdout) == best, "\(eval.stdout)")
        #expect(reported(historyA.last!) == last, "both runs end at the same numbers")
    }

    @Test func badInputGivesOneLineErrors() throws {
        let root = makeTempDirectory("cli")
        defer { try? FileManager.default.removeItem(at: root) }
        let junk = root.appendingPathComponent("junk.safetensors")
        try Foundation.Data("not a checkpoint".utf8).write(to: junk)
        let bad = root.appendingPathComponent("badmnist")
        try FileManager.default.createDirectory(at: bad, withIntermediateDirectories: true)
        for name in [MNIST.trainImagesFile, MNIST.trainLabelsFile, MNIST.testImagesFile, MNIST.testLabelsFile] {
            try Foundation.Data([0x1f, 0x8b, 8, 0, 1, 2, 3]).write(to: bad.appendingPathComponent(name + ".gz"))
        }
        let cases: [([String], String)] = [
            (["train", "--data", root.appendingPathComponent("missing").path, "--out", root.path], "does not exist"),
            (["train", "--data", bad.path, "--out", root.path], "gzip"),
            (["train", "--model", "resnet", "--out", root.path], "unknown model"),
            (["train", "--epochs", "0", "--out", root.path], "--epochs"),
            (["evaluate", "--checkpoint", root.appendingPathComponent("none.safetensors").path], "not found"),
            (["evaluate", "--checkpoint", junk.path], junk.lastPathComponent),
        ]
        for (args, needle) in cases {
            let r = try runSwiftNN(args)
            #expect(r.status != 0, "\(args)")
            let lines = r.stderr.split(separator: "\n")
            #expect(lines.count == 1 && lines.first?.hasPrefix("error: ") == true, "\(args): \(r.stderr)")
            #expect(r.stderr.contains(needle), "\(args): \(r.stderr)")
        }
    }
}
