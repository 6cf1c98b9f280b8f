import Foundation
import Testing
import SwiftNN
import TestSupport

/// Issue 12: a `swiftnn train` killed with SIGKILL at any moment — between steps, between epochs,
/// inside a checkpoint write — leaves loadable checkpoints and a run that resumes to exactly the
/// weights of an uninterrupted run.
///
/// Checkpoint writes are stretched (`SWIFTNN_ATOMIC_WRITE_PAUSE_US`, a pause before each chunk) so
/// kills can land inside them: every other kill waits for a write's temporary file to appear and
/// strikes then; the others strike a seeded pseudo-random delay after the run saved its next
/// epoch (so the run makes progress and finishes). What is asserted does not
/// depend on where a kill lands.
@Suite(.serialized) struct KillTests {
    static let args = ["--epochs", "20", "--batch-size", "16", "--hidden", "8", "--seed", "11"]

    /// Starts `swiftnn train` with stretched writes; stdout/stderr are discarded.
    func start(_ arguments: [String]) throws -> Process {
        let p = Process()
        let executable = try #require(swiftnnExecutable())
        p.executableURL = executable
        p.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["SWIFTNN_GEMM_FMA"] = "0"
        env["SWIFTNN_ATOMIC_WRITE_PAUSE_US"] = "3000"
        p.environment = env
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    func temporaryFiles(_ dir: URL) -> [String] { directoryListing(dir).filter { $0.contains(".tmp-") } }

    /// Every file a killed run leaves is whole: the training checkpoint, the best weights, the metrics.
    func expectLoadable(_ dir: URL, _ context: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let last = dir.appendingPathComponent("last.safetensors"), best = dir.appendingPathComponent("best.safetensors")
        if FileManager.default.fileExists(atPath: last.path) {
            #expect(throws: Never.self, "\(context): last.safetensors", sourceLocation: sourceLocation) { _ = try TrainingCheckpoint(contentsOf: last) }
        }
        if FileManager.default.fileExists(atPath: best.path) {
            #expect(throws: Never.self, "\(context): best.safetensors", sourceLocation: sourceLocation) { _ = try StateDict(contentsOf: best) }
        }
        let json = dir.appendingPathComponent("metrics.json")
        if let data = try? Foundation.Data(contentsOf: json) {
            #expect((try? JSONSerialization.jsonObject(with: data)) is [Any], "\(context): metrics.json", sourceLocation: sourceLocation)
        }
    }

    @Test func killedRunsLeaveLoadableCheckpointsAndResumeExactly() throws {
        let data = try writeTinyMNIST(train: 48, test: 8)
        let root = makeTempDirectory("kill")
        defer { cleanUp(data); cleanUp(root) }
        let reference = root.appendingPathComponent("reference"), killed = root.appendingPathComponent("killed")
        let common = ["train", "--data", data.path] + Self.args

        let full = try runSwiftNN(common + ["--out", reference.path])
        #expect(full.status == 0, "\(full.stderr)")

        var rng = SplitMix(seed: 12)
        let lastURL = killed.appendingPathComponent("last.safetensors")
        func inode(_ url: URL) -> UInt64? {
            (try? FileManager.default.attributesOfItem(atPath: url.path)[.systemFileNumber]) as? UInt64
        }
        var kills = 0, insideWrites = 0, attempts = 0
        while attempts < 8 {
            attempts += 1
            let resume = FileManager.default.fileExists(atPath: killed.appendingPathComponent("last.safetensors").path)
            let p = try start(common + (resume ? ["--resume", killed.path] : ["--out", killed.path]))
            if attempts % 2 == 0 {
                // Strike inside a write (of best.safetensors or last.safetensors), as soon as its
                // temporary file shows up.
                let deadline = Date().addingTimeInterval(20)
                while p.isRunning, temporaryFiles(killed).isEmpty, Date() < deadline { usleep(200) }
            } else {
                // Strike at a random moment after the run has saved one more epoch (each rename
                // gives last.safetensors a new inode), so the run moves on.
                let before = inode(lastURL)
                let deadline = Date().addingTimeInterval(20)
                while p.isRunning, inode(lastURL) == before, Date() < deadline { usleep(1000) }
                usleep(UInt32(rng.next() % 100_000))
            }
            guard p.isRunning else {
                // The run finished before the kill: done.
                p.waitUntilExit()
                #expect(p.terminationStatus == 0, "run \(attempts) ended with \(p.terminationStatus)")
                break
            }
            if !temporaryFiles(killed).isEmpty { insideWrites += 1 }
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            kills += 1
            expectLoadable(killed, "after kill \(kills)")
        }
        // Finish the run (if the last attempt was a kill) and compare with the uninterrupted one.
        if FileManager.default.fileExists(atPath: killed.appendingPathComponent("last.safetensors").path) {
            let rest = try runSwiftNN(common + ["--resume", killed.path])
            #expect(rest.status == 0, "\(rest.stderr)")
        }
        #expect(kills >= 3, "only \(kills) kills landed")
        #expect(insideWrites >= 2, "only \(insideWrites) kills landed inside a checkpoint write")
        #expect(temporaryFiles(killed).isEmpty, "stale temporary files: \(temporaryFiles(killed))")
        let a = try StateDict(contentsOf: reference.appendingPathComponent("last.safetensors"))
        let b = try StateDict(contentsOf: killed.appendingPathComponent("last.safetensors"))
        #expect(a.keys == b.keys && !a.keys.isEmpty)
        for k in a.keys where k.hasPrefix("model.") || k.hasPrefix("optim.") {
            let u = a[k]!, v = b[k]!
            #expect(u.shape == v.shape && (0..<u.count).allSatisfy { u.doubleValue(at: $0) == v.doubleValue(at: $0) }, "\(k) differs")
        }
        let epochs = { (dir: URL) in
            (try? String(contentsOf: dir.appendingPathComponent("metrics.csv"), encoding: .utf8))?.split(separator: "\n").map { $0.split(separator: ",").prefix(5) }
        }
        #expect(epochs(reference) != nil && epochs(reference) == epochs(killed))
    }
}

/// A small seeded generator for the kill delays (SplitMix64).
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
