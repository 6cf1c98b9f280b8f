import Foundation
import Testing
import SwiftNN
import TestSupport
@testable import swiftnn

/// Issue 12: what the command line does with diverging runs, concurrent runs, corrupted training
/// checkpoints, crafted weights and careless flags. Every failure is one `error:` line and exit 1.
@Suite(.serialized) struct CLIRobustnessTests {
    static let tiny = ["--epochs", "3", "--batch-size", "16", "--hidden", "16,8", "--seed", "3"]

    func expectOneLineError(_ r: RunResult, _ needles: [String], _ context: String,
                            sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(r.status == 1, "\(context): status \(r.status)", sourceLocation: sourceLocation)
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines.first?.hasPrefix("error: ") == true, "\(context): \(r.stderr)", sourceLocation: sourceLocation)
        for n in needles { #expect(r.stderr.contains(n), "\(context): '\(n)' not in \(r.stderr)", sourceLocation: sourceLocation) }
    }

    func metricsJSON(_ dir: URL) throws -> [[String: Any]] {
        let data = try Foundation.Data(contentsOf: dir.appendingPathComponent("metrics.json"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
    }

    func allFinite(_ sd: StateDict) -> Bool {
        sd.entries.allSatisfy { _, t in !t.dtype.isFloatingPoint || (0..<t.count).allSatisfy { t.doubleValue(at: $0).isFinite } }
    }

    // MARK: Divergence

    @Test func divergenceInTheFirstEpochStopsAndSavesNoModel() throws {
        let data = try writeTinyMNIST(train: 48, test: 16)
        let out = makeTempDirectory("cli")
        defer { try? FileManager.default.removeItem(at: data); try? FileManager.default.removeItem(at: out) }
        // Weights of 1e30 after the first update: BatchNorm's variance overflows on the second step.
        let r = try runSwiftNN(["train", "--data", data.path, "--out", out.path, "--lr", "1e30"] + Self.tiny)
        expectOneLineError(r, ["training diverged in epoch 1, step 2/3", "first layer with a non-finite output is net.",
                               "Stopped before any epoch completed"], "lr 1e6")
        // No best model from a NaN epoch (best accuracy used to start at -1, so 0 % counted as better).
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("best.safetensors").path))
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("last.safetensors").path))
        #expect(try metricsJSON(out).isEmpty)
    }

    @Test func divergenceLaterKeepsTheLastGoodEpochAndResumesWithASmallerRate() throws {
        let data = try writeTinyMNIST(train: 48, test: 16)
        let out = makeTempDirectory("cli")
        defer { try? FileManager.default.removeItem(at: data); try? FileManager.default.removeItem(at: out) }
        let common = ["train", "--data", data.path] + Self.tiny
        let first = try runSwiftNN(common + ["--out", out.path, "--stop-after", "1"])
        #expect(first.status == 0, "\(first.stderr)")
        let last = out.appendingPathComponent("last.safetensors"), best = out.appendingPathComponent("best.safetensors")
        let lastBefore = try Foundation.Data(contentsOf: last), bestBefore = try Foundation.Data(contentsOf: best)

        let diverged = try runSwiftNN(common + ["--resume", out.path, "--lr", "1e30"])
        expectOneLineError(diverged, ["training diverged in epoch 2, step 2/3", "the training loss is NaN", "keeps epoch 1",
                                      "--resume \(out.path) --lr"], "resume with lr 1e30")
        #expect(diverged.stdout.contains("with lr 1e+30 (was 0.001)"))
        // Nothing of the diverged epoch reached the files.
        #expect(try Foundation.Data(contentsOf: last) == lastBefore)
        #expect(try Foundation.Data(contentsOf: best) == bestBefore)
        #expect(allFinite(try StateDict(contentsOf: best)))
        #expect(try metricsJSON(out).map { $0["epoch"] as? Int } == [1])

        let resumed = try runSwiftNN(common + ["--resume", out.path, "--lr", "5e-4"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stdout.contains("at epoch 2/3 with lr 0.0005 (was 0.001)"))
        #expect(resumed.stdout.contains("Epoch  3/3 | "))
        let metrics = try metricsJSON(out)
        #expect(metrics.map { $0["epoch"] as? Int } == [1, 2, 3])
        // The cosine schedule restarts from the new rate at epoch 1: 5e-4·(1 + cos(π/3))/2.
        let lr2 = try #require(metrics[1]["learningRate"] as? Double)
        #expect(abs(lr2 - 5e-4 * 0.75) < 1e-12)
        // A later resume keeps the new rate without being told again.
        let again = try runSwiftNN(common + ["--resume", out.path])
        #expect(again.status == 0 && again.stdout.contains("Nothing to do"), "\(again.stderr)")
    }

    // MARK: Concurrent runs

    @Test func aSecondRunIntoTheSameFolderIsRefusedAndAKilledHolderDoesNotBlock() throws {
        let data = try writeTinyMNIST(train: 48, test: 16)
        let out = makeTempDirectory("cli")
        defer { try? FileManager.default.removeItem(at: data); try? FileManager.default.removeItem(at: out) }
        let exe = try #require(swiftnnExecutable())
        let holder = Process()
        holder.executableURL = exe
        holder.arguments = ["train", "--data", data.path, "--out", out.path, "--epochs", "100000", "--batch-size", "16", "--hidden", "4"]
        holder.standardOutput = FileHandle.nullDevice
        holder.standardError = FileHandle.nullDevice
        try holder.run()
        defer { if holder.isRunning { kill(holder.processIdentifier, SIGKILL) }; holder.waitUntilExit() }
        // The holder writes its PID into the lock file right after taking the lock.
        let lockFile = out.appendingPathComponent(".swiftnn.lock")
        let deadline = Date().addingTimeInterval(30)
        while (try? String(contentsOf: lockFile, encoding: .utf8))?.contains("\(holder.processIdentifier)") != true, Date() < deadline {
            usleep(20_000)
        }
        let second = try runSwiftNN(["train", "--data", data.path, "--out", out.path] + Self.tiny)
        expectOneLineError(second, ["is in use by another 'swiftnn train' (PID \(holder.processIdentifier))"], "second run")

        kill(holder.processIdentifier, SIGKILL)
        holder.waitUntilExit()
        // flock dies with its process: the next run takes the folder over.
        let third = try runSwiftNN(["train", "--data", data.path, "--out", out.path] + Self.tiny)
        #expect(third.status == 0, "\(third.stderr)")
    }

    // MARK: Resuming a corrupted training checkpoint

    /// Every edit of a valid last.safetensors that breaks the restored state is refused with one
    /// line naming the entry, and the file is left as it was.
    @Test func resumeChecksTheWholeRestoredState() throws {
        let data = try writeTinyMNIST(train: 48, test: 16)
        let root = makeTempDirectory("cli")
        defer { try? FileManager.default.removeItem(at: data); try? FileManager.default.removeItem(at: root) }
        let common = ["train", "--data", data.path] + Self.tiny
        let base = root.appendingPathComponent("base")
        let first = try runSwiftNN(common + ["--out", base.path, "--stop-after", "2"])
        #expect(first.status == 0, "\(first.stderr)")
        let original = try StateDict(contentsOf: base.appendingPathComponent("last.safetensors"))
        let groups = try #require(original.metadata["optim.param_groups"])

        func withGroupOption(_ key: String, _ value: String) -> (inout StateDict) -> Void {
            { sd in
                sd.metadata["optim.param_groups"] = groups.replacingOccurrences(
                    of: #""\#(key)": [^,}]+"#, with: "\"\(key)\": \(value)", options: .regularExpression)
            }
        }
        let edits: [(String, (inout StateDict) -> Void, [String])] = [
            ("renamed state", { sd in
                let t = sd["optim.state.0.exp_avg"]!; sd["optim.state.0.exp_avg"] = nil; sd["optim.state.0.eep_avg"] = t
            }, ["state.0.eep_avg is not a state of AdamW"]),
            ("missing state", { sd in sd["optim.state.1.exp_avg_sq"] = nil }, ["state.1.exp_avg_sq is missing"]),
            ("step as int64", { sd in sd["optim.state.0.step"] = Tensor([Int64.max] as [Int64], shape: []) }, ["state.0.step must be a whole number"]),
            ("fractional step", { sd in sd["optim.state.0.step"] = Tensor([2.5] as [Float], shape: []) }, ["state.0.step"]),
            ("moment of another dtype", { sd in sd["optim.state.0.exp_avg"] = Tensor.zeros(sd["optim.state.0.exp_avg"]!.shape, dtype: .float64) }, ["state.0.exp_avg is float64"]),
            ("NaN moment", { sd in let t = sd["optim.state.0.exp_avg"]!.clonedData(); t.pointer(as: Float.self)[0] = .nan; sd["optim.state.0.exp_avg"] = t }, ["state.0.exp_avg holds a non-finite value"]),
            ("negative second moment", { sd in let t = sd["optim.state.2.exp_avg_sq"]!.clonedData(); t.pointer(as: Float.self)[0] = -1; sd["optim.state.2.exp_avg_sq"] = t }, ["exp_avg_sq holds a negative value"]),
            ("lr -1", withGroupOption("lr", "-1"), ["Invalid learning rate: -1.0"]),
            ("lr 1e6", withGroupOption("lr", "1e6"), ["optimizer lr 1000000.0 is not the cosine schedule"]),
            ("beta1 1.5", withGroupOption("beta1", "1.5"), ["Invalid beta parameter at index 0: 1.5"]),
            ("eps -1", withGroupOption("eps", "-1"), ["Invalid epsilon value: -1.0"]),
            ("weight decay -1", withGroupOption("weight_decay", "-1"), ["Invalid weight_decay value: -1.0"]),
            ("amsgrad 7", withGroupOption("amsgrad", "7"), ["amsgrad must be 0 or 1"]),
            ("lr 1e999", withGroupOption("lr", "1e999"), ["param_groups"]),
            ("unknown option", { sd in sd.metadata["optim.param_groups"] = groups.replacingOccurrences(of: "\"eps\"", with: "\"epz\"") }, ["param_groups[0]"]),
            ("scheduler last_epoch 1e300", { sd in
                sd.metadata["scheduler.state"] = sd.metadata["scheduler.state"]!.replacingOccurrences(of: #""last_epoch": \d+"#, with: "\"last_epoch\": 1e300", options: .regularExpression)
            }, ["scheduler last_epoch must be a whole number"]),
            ("scheduler one epoch behind", { sd in
                sd.metadata["scheduler.state"] = sd.metadata["scheduler.state"]!.replacingOccurrences(of: #""last_epoch": \d+"#, with: "\"last_epoch\": 1", options: .regularExpression)
            }, ["scheduler last_epoch is 1"]),
            ("scheduler T_max", { sd in
                sd.metadata["scheduler.state"] = sd.metadata["scheduler.state"]!.replacingOccurrences(of: #""T_max": [0-9.]+"#, with: "\"T_max\": 7.0", options: .regularExpression)
            }, ["T_max is 7.0"]),
            ("epoch Int.max", { sd in sd.metadata["epoch"] = String(Int.max) }, ["metadata 'epoch' is \(Int.max)"]),
            ("epoch beyond the run", { sd in sd.metadata["epoch"] = "4" }, ["metadata 'epoch' is 4"]),
            ("best_metric NaN", { sd in sd.metadata["best_metric"] = "nan" }, ["best_metric"]),
            ("best_metric not the history's best", { sd in sd.metadata["best_metric"] = "99.0" }, ["best_metric", "is not the best"]),
            ("history missing an epoch", { sd in
                let h = try! JSONSerialization.jsonObject(with: Foundation.Data(sd.metadata["user.history"]!.utf8)) as! [Any]
                sd.metadata["user.history"] = String(decoding: try! JSONSerialization.data(withJSONObject: Array(h.dropFirst())), as: UTF8.self)
            }, ["'user.history' lists epochs [2]"]),
            ("history not JSON", { sd in sd.metadata["user.history"] = "[{" }, ["'user.history'"]),
            ("NaN weight", { sd in let t = sd["model.net.0.weight"]!.clonedData(); t.pointer(as: Float.self)[3] = .infinity; sd["model.net.0.weight"] = t }, ["model.net.0.weight holds inf"]),
            ("missing generator", { sd in sd.metadata["rng.loader"] = nil }, ["generator 'loader'"]),
        ]
        for (name, edit, needles) in edits {
            let dir = root.appendingPathComponent(name.replacingOccurrences(of: " ", with: "-"))
            try FileManager.default.copyItem(at: base, to: dir)
            var sd = original
            edit(&sd)
            let file = dir.appendingPathComponent("last.safetensors")
            try sd.save(to: file)
            let before = try Foundation.Data(contentsOf: file)
            let r = try runSwiftNN(common + ["--resume", dir.path])
            expectOneLineError(r, needles, name)
            #expect(try Foundation.Data(contentsOf: file) == before, "\(name): the checkpoint changed")
        }
        // The untouched checkpoint resumes.
        let ok = try runSwiftNN(common + ["--resume", base.path])
        #expect(ok.status == 0, "\(ok.stderr)")
    }

    // MARK: Evaluate and doctor on crafted weights

    @Test func evaluateChecksWeightsAndClassesAgainstTheData() throws {
        let data = try writeTinyMNIST(train: 40, test: 12)
        let out = makeTempDirectory("cli")
        defer { try? FileManager.default.removeItem(at: data); try? FileManager.default.removeItem(at: out) }
        let trained = try runSwiftNN(["train", "--data", data.path, "--out", out.path, "--epochs", "1", "--batch-size", "16", "--hidden", "8"])
        #expect(trained.status == 0, "\(trained.stderr)")
        let original = try StateDict(contentsOf: out.appendingPathComponent("best.safetensors"))
        let arch = try #require(try JSONSerialization.jsonObject(with: Foundation.Data(original.metadata["architecture"]!.utf8)) as? [String: Any])

        /// The same weights with `classes` outputs (rows of the last layer cut or repeated).
        func withClasses(_ classes: Int) throws -> URL {
            var sd = original
            var a = arch
            a["numClasses"] = classes
            sd.metadata["architecture"] = String(decoding: try JSONSerialization.data(withJSONObject: a), as: UTF8.self)
            let w = original["net.4.weight"]!.scalars, b = original["net.4.bias"]!.scalars
            var rows: [Float] = []
            var biases: [Float] = []
            for c in 0..<classes {
                let k = c % 10
                rows += w[(k * 8)..<(k * 8 + 8)]
                biases.append(b[k])
            }
            sd["net.4.weight"] = Tensor(rows, shape: [classes, 8])
            sd["net.4.bias"] = Tensor(biases, shape: [classes])
            let url = out.appendingPathComponent("classes-\(classes).safetensors")
            try sd.save(to: url)
            return url
        }
        // Fewer classes than the data's labels: an error, not a trap in cross entropy.
        let five = try runSwiftNN(["evaluate", "--checkpoint", try withClasses(5).path, "--data", data.path])
        expectOneLineError(five, ["predicts 5 classes", "labels up to"], "5 classes")

        // 50,000 classes: evaluates promptly and prints a bounded report instead of a 50,000² matrix.
        let many = try runSwiftNN(["evaluate", "--checkpoint", try withClasses(50_000).path, "--data", data.path])
        #expect(many.status == 0, "\(many.stderr)")
        #expect(many.stdout.contains("Confusion matrix not printed (10 true classes × 50000 outputs)"))
        #expect(many.stdout.split(separator: "\n").count <= 4 + 10)

        // NaN weights: evaluate refuses them, the doctor names them.
        var nan = original
        let w = original["net.0.weight"]!.clonedData()
        w.pointer(as: Float.self)[0] = .nan
        nan["net.0.weight"] = w
        let nanURL = out.appendingPathComponent("nan.safetensors")
        try nan.save(to: nanURL)
        let e = try runSwiftNN(["evaluate", "--checkpoint", nanURL.path, "--data", data.path])
        expectOneLineError(e, ["net.0.weight holds NaN"], "NaN weights")
        let d = try runSwiftNN(["doctor", "--checkpoint", nanURL.path])
        #expect(d.status == 1)
        #expect(d.stdout.contains("error [non-finite-weights] net.0: Linear.weight holds 1 NaN and 0 infinite values"), "\(d.stdout)")

        // A folder with only the test split is enough for evaluate.
        for name in [MNIST.trainImagesFile, MNIST.trainLabelsFile] {
            try FileManager.default.removeItem(at: data.appendingPathComponent(name))
        }
        let testOnly = try runSwiftNN(["evaluate", "--checkpoint", out.appendingPathComponent("best.safetensors").path, "--data", data.path])
        #expect(testOnly.status == 0, "\(testOnly.stderr)")
        #expect(testOnly.stdout.contains("(12 test examples)"))
    }

    /// The shapes checked before building are exactly the built models' state dicts.
    @Test func expectedStateShapesAreTheBuiltModels() throws {
        for kind in ModelKind.allCases {
            for (shape, hidden, classes) in [([1, 28, 28], [512, 256, 128], 10), ([3, 32, 32], [7], 4), ([2, 5, 5], [], 3)] {
                let spec = ModelSpec(model: kind, inputShape: shape, numClasses: classes, hiddenDims: hidden, mean: [0.5], std: [0.5])
                let built = try spec.build().stateDict()
                #expect(spec.expectedStateShapes.map(\.key) == built.keys, "\(kind) \(shape)")
                #expect(spec.expectedStateShapes.map(\.shape) == built.entries.map(\.value.shape), "\(kind) \(shape)")
                #expect(spec.hasBoundedSize)
            }
        }
        // The total is bounded, not only each layer: 64 layers of 16,384 (2^34 weights) are refused.
        let bomb = ModelSpec(model: .mlp, inputShape: [1, 28, 28], numClasses: 10, hiddenDims: Array(repeating: 16_384, count: 64), mean: [0.5], std: [0.5])
        #expect(!bomb.hasBoundedSize)
    }

    /// The shapes checked before building are the models' real ones (both architectures load).
    /// The CNN is saved from the library (training it in a debug build takes minutes).
    @Test func bothArchitecturesPassTheShapeCheck() throws {
        let data = try writeTinyMNIST(train: 20, test: 6)
        let out = makeTempDirectory("cli")
        defer { try? FileManager.default.removeItem(at: data); try? FileManager.default.removeItem(at: out) }
        let mlp = out.appendingPathComponent("mlp")
        let r = try runSwiftNN(["train", "--data", data.path, "--out", mlp.path, "--epochs", "1", "--batch-size", "10", "--hidden", "8,4"])
        #expect(r.status == 0, "\(r.stderr)")
        for file in ["best.safetensors", "last.safetensors"] {
            let e = try runSwiftNN(["evaluate", "--checkpoint", mlp.appendingPathComponent(file).path, "--data", data.path])
            #expect(e.status == 0 && e.stdout.contains("(6 test examples)"), "\(file): \(e.stderr)")
        }
        let cnn = out.appendingPathComponent("cnn.safetensors")
        let arch = #"{"dropout":0.5,"hiddenDims":[512,256,128],"inputShape":[1,28,28],"mean":[0.1307],"model":"cnn","numClasses":10,"std":[0.3081]}"#
        try SmallCNN(inChannels: 1, numClasses: 10).save(to: cnn, metadata: ["architecture": arch])
        let d = try runSwiftNN(["doctor", "--checkpoint", cnn.path])
        #expect(d.stdout.contains("Model SmallCNN(in_channels=1, num_classes=10, dropout=0.5)"), "\(d.stdout) \(d.stderr)")
        #expect(d.stderr.isEmpty)
    }

    /// Architecture metadata that would need gigabytes is refused before anything is built: by the
    /// total size, or by the file lacking the tensors the architecture needs.
    @Test func architectureBombsAreRefusedBeforeBuilding() throws {
        let data = try writeTinyMNIST(train: 40, test: 10)
        let out = makeTempDirectory("cli")
        defer { try? FileManager.default.removeItem(at: data); try? FileManager.default.removeItem(at: out) }
        let trained = try runSwiftNN(["train", "--data", data.path, "--out", out.path, "--epochs", "1", "--batch-size", "16", "--hidden", "8"])
        #expect(trained.status == 0, "\(trained.stderr)")
        let original = try StateDict(contentsOf: out.appendingPathComponent("best.safetensors"))
        let arch = try #require(try JSONSerialization.jsonObject(with: Foundation.Data(original.metadata["architecture"]!.utf8)) as? [String: Any])
        let cases: [(String, Any, String)] = [
            // 64 layers of 16,384: each layer is within the old per-layer bound, the total is 2^34 weights.
            ("hiddenDims", Array(repeating: 16_384, count: 64), "invalid architecture metadata"),
            // Within the total bound (≈ 80 M weights) but the 1-layer file holds none of them.
            ("hiddenDims", [8192, 8192], "the architecture needs tensor 'net.0.weight' [8192, 784]"),
        ]
        for (key, value, needle) in cases {
            var a = arch
            a[key] = value
            var sd = StateDict()
            sd["x"] = Tensor.zeros([1])
            sd.metadata = ["architecture": String(decoding: try JSONSerialization.data(withJSONObject: a), as: UTF8.self)]
            let url = out.appendingPathComponent("bomb.safetensors")
            try sd.save(to: url)
            #expect(try Foundation.Data(contentsOf: url).count < 1024)
            for command in [["evaluate", "--checkpoint", url.path, "--data", data.path], ["doctor", "--checkpoint", url.path]] {
                expectOneLineError(try runSwiftNN(command), [needle], "\(command[0]) \(value)")
            }
        }
    }

    // MARK: Careless flags and files

    @Test func carelessInputGivesOneLineErrors() throws {
        let root = makeTempDirectory("cli")
        defer { try? FileManager.default.removeItem(at: root) }
        let fifoData = root.appendingPathComponent("fifo-data")
        try FileManager.default.createDirectory(at: fifoData, withIntermediateDirectories: true)
        #expect(mkfifo(fifoData.appendingPathComponent(MNIST.testImagesFile).path, 0o644) == 0)
        try Foundation.Data().write(to: fifoData.appendingPathComponent(MNIST.testLabelsFile))
        try Foundation.Data().write(to: fifoData.appendingPathComponent(MNIST.trainLabelsFile))
        try FileManager.default.createSymbolicLink(atPath: fifoData.appendingPathComponent(MNIST.trainImagesFile).path, withDestinationPath: "/dev/zero")
        let out = root.appendingPathComponent("out").path
        let cases: [([String], String)] = [
            (["train", "--lr", "-1", "--out", out], "--lr must be a positive number, got -1.0"),
            (["train", "--weight-decay", "-0.5", "--out", out], "--weight-decay must be a finite, non-negative number, got -0.5"),
            (["train", "--weight-decay", "inf", "--out", out], "--weight-decay must be a finite, non-negative number, got inf"),
            (["train", "--epochs", "-3", "--out", out], "--epochs must be at least 1, got -3"),
            (["train", "--hidden", "1,,2", "--out", out], "--hidden must be positive integers separated by commas, got '1,,2'"),
            (["train", "--hidden", "8,", "--out", out], "--hidden"),
            (["train", "--out", ""], "--out must name a folder"),
            (["train", "--data", fifoData.path, "--out", out], "not a regular file"),
        ]
        for (args, needle) in cases {
            expectOneLineError(try runSwiftNN(args), [needle], "\(args)")
        }
        #expect(!FileManager.default.fileExists(atPath: out))

        // 2^62 epochs used to overflow in the cosine schedule (2·T_max); one epoch of it trains.
        let data = try writeTinyMNIST(train: 20, test: 4)
        defer { cleanUp(data) }
        let huge = try runSwiftNN(["train", "--data", data.path, "--out", out, "--epochs", "4611686018427387904", "--stop-after", "1",
                                   "--batch-size", "10", "--hidden", "4"])
        #expect(huge.status == 0, "\(huge.stderr)")
        #expect(huge.stdout.contains("Epoch  1/4611686018427387904 | "))
    }

    // MARK: Without the system's zlib

    /// zlib is loaded at run time; without it gzip data is one clear error, and everything else —
    /// raw IDX data, checkpoints, zip checksums of .pth files — works as before.
    @Test func withoutZlibGzipIsAClearErrorAndTheRestWorks() throws {
        let noZlib = ["SWIFTNN_LIBZ": "/nonexistent/libz.so.1"]
        let out = makeTempDirectory("cli")
        defer { cleanUp(out) }
        // The bundled MNIST is gzipped; the error names the first file read (test or training images).
        let gz = try runSwiftNN(["train", "--out", out.path, "--epochs", "1"], environment: noZlib)
        expectOneLineError(gz, ["images-idx3-ubyte.gz", "needs the system's shared zlib, which could not be loaded",
                                "SWIFTNN_LIBZ=/nonexistent/libz.so.1", "install zlib"], "no zlib")

        let data = try writeTinyMNIST(train: 20, test: 4)
        defer { cleanUp(data) }
        let raw = try runSwiftNN(["train", "--data", data.path, "--out", out.path, "--epochs", "1", "--batch-size", "10", "--hidden", "4"],
                                 environment: noZlib)
        #expect(raw.status == 0, "\(raw.stderr)")
        // A .pth is read (its CRC-32s checked) and written without zlib; torch's checksums stay right.
        let st = out.appendingPathComponent("m.safetensors"), pth = out.appendingPathComponent("m.pth")
        let r1 = try runSwiftNN(["convert", Fixtures.url("pth/training_checkpoint.pth").path, st.path], environment: noZlib)
        #expect(r1.status == 0, "\(r1.stderr)")
        let r2 = try runSwiftNN(["convert", st.path, pth.path], environment: noZlib)
        #expect(r2.status == 0, "\(r2.stderr)")
        let want = try StateDict(contentsOf: Fixtures.url("pth/training_checkpoint.pth"), key: "model")
        let got = try StateDict(contentsOf: pth)
        #expect(Set(got.keys) == Set(want.keys))
        for k in want.keys { #expect(got[k].map { $0.scalars } == want[k].map { $0.scalars }, "\(k)") }
    }
}
