import Foundation
import SwiftNN
import Testing
import TestSupport

/// The `swiftnn` executable built next to the tests.
func swiftnnURL() throws -> URL {
    let worker = try MPILauncher.workerURL()
    let url = worker.deletingLastPathComponent().appendingPathComponent("swiftnn")
    guard FileManager.default.isExecutableFile(atPath: url.path) else { throw CocoaError(.fileNoSuchFile) }
    return url
}

/// An IDX folder with the first `train` / `test` bundled MNIST images.
func tinyMNIST(train: Int, test: Int) throws -> URL {
    let dir = makeTempDirectory("mpi-data")
    for (split, n) in [(true, train), (false, test)] {
        let ds = try MNIST.bundled(train: split).storage.prefix(n)
        try IDXArray(shape: [n, 28, 28], bytes: ds.pixels).idxData()
            .write(to: dir.appendingPathComponent(split ? MNIST.trainImagesFile : MNIST.testImagesFile))
        try IDXArray(shape: [n], bytes: ds.labels).idxData()
            .write(to: dir.appendingPathComponent(split ? MNIST.trainLabelsFile : MNIST.testLabelsFile))
    }
    return dir
}

func epochLines(_ s: String) -> [Substring] { s.split(separator: "\n").filter { $0.hasPrefix("Epoch ") } }

/// Every tensor of two safetensors files, bit for bit.
func sameTensors(_ a: URL, _ b: URL) throws -> [String] {
    let x = try StateDict(contentsOf: a), y = try StateDict(contentsOf: b)
    guard x.keys == y.keys, !x.keys.isEmpty else { return ["keys differ"] }
    return x.keys.filter { k in
        let u = x[k]!, v = y[k]!
        return u.shape != v.shape || !(0..<u.count).allSatisfy { u.doubleValue(at: $0) == v.doubleValue(at: $0) }
    }
}

/// `mpirun -np N swiftnn train --distributed`.
@Suite(.serialized, .enabled(if: MPILauncher.isAvailable, "needs Open MPI (mpirun)"))
struct DistributedCLITests {
    @Test("rank 0 alone prints and writes; --resume continues bit for bit")
    func trainAndResume() throws {
        let data = try tinyMNIST(train: 90, test: 30)
        let root = makeTempDirectory("mpi-cli")
        defer { cleanUp(data); cleanUp(root) }
        let exe = try swiftnnURL()
        let a = root.appendingPathComponent("a"), b = root.appendingPathComponent("b")
        // 90 examples over 3 ranks, 8 per rank per step: 4 steps of 8 and one of 6 per rank.
        let common = ["train", "--distributed", "--data", data.path, "--epochs", "3", "--seed", "5",
                      "--batch-size", "8", "--hidden", "16,8"]
        let full = try MPILauncher.run(ranks: 3, executable: exe, common + ["--out", a.path])
        #expect(full.status == 0 && !full.timedOut, "\(full.stderr.suffix(2000))")
        #expect(full.stdout.contains("batch 24 (8 per process × 3 processes)"), "\(full.stdout)")
        #expect(epochLines(full.stdout).count == 3, "one line per epoch, from rank 0 only: \(full.stdout)")
        #expect(full.stdout.contains("Distributed: 3 processes × 1 thread, SyncBatchNorm,"), "BatchNorm synchronized by default: \(full.stdout)")
        #expect(Set(directoryListing(a)) == ["best.safetensors", "last.safetensors", "metrics.csv", "metrics.json", ".swiftnn.lock",
                                             "monitor.json", "report.html", "tensorboard"])
        // The checkpoint's model is BatchNorm's state dict: a plain (single-process) model loads it.
        let keys = try StateDict(contentsOf: a.appendingPathComponent("best.safetensors")).keys
        #expect(keys.contains { $0.hasSuffix("net.1.running_var") } && keys.contains { $0.hasSuffix("net.1.num_batches_tracked") }, "\(keys)")

        let stopped = try MPILauncher.run(ranks: 3, executable: exe, common + ["--out", b.path, "--stop-after", "1"])
        #expect(stopped.status == 0, "\(stopped.stderr.suffix(2000))")
        let resumed = try MPILauncher.run(ranks: 3, executable: exe, common + ["--resume", b.path])
        #expect(resumed.status == 0, "\(resumed.stderr.suffix(2000))")
        #expect(epochLines(full.stdout) == epochLines(stopped.stdout) + epochLines(resumed.stdout))
        for name in ["last.safetensors", "best.safetensors"] {
            #expect(try sameTensors(a.appendingPathComponent(name), b.appendingPathComponent(name)).isEmpty, "\(name)")
        }
        // The model part is a plain state dict: evaluate reads it without flags.
        let eval = try MPILauncher.run(ranks: 1, executable: exe, ["evaluate", "--checkpoint", a.appendingPathComponent("best.safetensors").path,
                                                                    "--data", data.path])
        #expect(eval.status == 0 && eval.stdout.contains("Accuracy"), "\(eval.stderr)")

        // Another number of processes would change the data split and the global batch.
        let other = try MPILauncher.run(ranks: 2, executable: exe, common + ["--resume", b.path])
        #expect(other.status != 0)
        #expect(other.stderr.contains("was trained with different settings") && other.stderr.contains("world=3"), "\(other.stderr.suffix(1500))")
    }

    @Test("--no-sync-bn keeps per-process statistics, and the statistics really differ")
    func perProcessStatistics() throws {
        let data = try tinyMNIST(train: 48, test: 16)
        let root = makeTempDirectory("mpi-cli")
        defer { cleanUp(data); cleanUp(root) }
        let exe = try swiftnnURL()
        let common = ["train", "--distributed", "--data", data.path, "--epochs", "1", "--seed", "3", "--batch-size", "8",
                      "--hidden", "16", "--no-monitor"]
        let sync = try MPILauncher.run(ranks: 2, executable: exe, common + ["--out", root.appendingPathComponent("sync").path])
        let local = try MPILauncher.run(ranks: 2, executable: exe, common + ["--out", root.appendingPathComponent("local").path, "--no-sync-bn"])
        #expect(sync.status == 0 && local.status == 0, "\(sync.stderr.suffix(1000)) \(local.stderr.suffix(1000))")
        #expect(local.stdout.contains("Distributed: 2 processes × 1 thread, per-process BatchNorm statistics,"), "\(local.stdout)")
        let a = try StateDict(contentsOf: root.appendingPathComponent("sync/last.safetensors"))
        let b = try StateDict(contentsOf: root.appendingPathComponent("local/last.safetensors"))
        let key = try #require(a.keys.first { $0.hasSuffix("running_mean") })
        #expect(doubles(a[key]!) != doubles(b[key]!), "rank 0's statistics of its own half differ from the global batch's")
    }

    @Test("a rank that fails takes the job down with its message instead of hanging the others")
    func failingRankEndsTheJob() throws {
        let data = try tinyMNIST(train: 40, test: 10)
        defer { cleanUp(data) }
        // Only rank 0 writes, so only rank 0 fails; rank 1 would wait for it forever.
        let r = try MPILauncher.run(ranks: 2, executable: try swiftnnURL(),
                                    ["train", "--distributed", "--data", data.path, "--epochs", "1", "--hidden", "8",
                                     "--out", "/proc/swiftnn-cannot-write-here"], timeout: 90)
        #expect(!r.timedOut)
        #expect(r.status != 0)
        #expect(r.stderr.contains("error: rank 0 of 2: cannot create output folder /proc/swiftnn-cannot-write-here"), "\(r.stderr.suffix(1500))")
    }
}

/// Distributed flags outside mpirun: one-line errors (these run on every machine).
@Suite struct DistributedCLIErrorTests {
    func run(_ arguments: [String]) throws -> (status: Int32, stderr: String) {
        let p = Process()
        p.executableURL = try swiftnnURL()
        p.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for key in env.keys where key.hasPrefix("OMPI_") || key.hasPrefix("PMIX_") || key.hasPrefix("PMI_") { env[key] = nil }
        p.environment = env
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus, text)
    }

    @Test func distributedNeedsALauncher() throws {
        let out = makeTempDirectory("mpi-cli")
        defer { cleanUp(out) }
        let r = try run(["train", "--distributed", "--epochs", "1", "--out", out.path])
        #expect(r.status != 0)
        #expect(r.stderr == "error: --distributed runs under an MPI launcher, e.g. 'mpirun -np 2 swiftnn train --distributed' (Open MPI: apt-get install openmpi-bin libopenmpi-dev)\n")
    }

    @Test func noSyncBNNeedsDistributed() throws {
        let out = makeTempDirectory("mpi-cli")
        defer { cleanUp(out) }
        let r = try run(["train", "--no-sync-bn", "--epochs", "1", "--out", out.path])
        #expect(r.status != 0)
        #expect(r.stderr == "error: --no-sync-bn only applies to --distributed training\n")
    }
}
