import Foundation
import Testing
@testable import Checkpoint
import TensorCore
import NN
import TestSupport

@Suite struct AtomicSaveTests {
    static func checkpoint(_ value: Float, count: Int = 1000) -> StateDict {
        StateDict([("w", Tensor.full([count], Double(value))), ("step", Tensor(scalar: Int64(value)))], metadata: ["v": "\(value)"])
    }

    @Test func overwriteReplacesTheFileAndLeavesNoTemporaryFiles() throws {
        let dir = makeTempDirectory("checkpoint")
        defer { cleanUp(dir) }
        let url = dir.appendingPathComponent("best.safetensors")
        try Self.checkpoint(1).save(to: url)
        try Self.checkpoint(2, count: 10).save(to: url)
        let back = try StateDict(contentsOf: url)
        #expect(back["w"]?.scalars == Array(repeating: 2, count: 10))
        #expect(back.metadata == ["v": "2.0"])
        #expect(directoryListing(dir) == ["best.safetensors"])
    }

    @Test(arguments: [AtomicFile.Stage.afterCreate, .afterWrite, .beforeRename])
    func injectedFailureKeepsThePreviousCheckpoint(_ stage: AtomicFile.Stage) throws {
        let dir = makeTempDirectory("checkpoint")
        defer { cleanUp(dir) }
        let url = dir.appendingPathComponent("best.safetensors")
        try Self.checkpoint(1).save(to: url)
        let before = try Data(contentsOf: url)
        let e = safetensorsError { () throws(SafetensorsError) in try Safetensors.write(Self.checkpoint(2, count: 5000), to: url, failure: stage) }
        guard case .io(_, _, let message) = e else { Issue.record("expected an io error, got \(String(describing: e))"); return }
        #expect(message == "injected failure")
        #expect(try Data(contentsOf: url) == before)
        expectBitIdentical(try StateDict(contentsOf: url), Self.checkpoint(1))
        #expect(directoryListing(dir) == ["best.safetensors"])
    }

    @Test func failedFirstWriteLeavesNothing() throws {
        let dir = makeTempDirectory("checkpoint")
        defer { cleanUp(dir) }
        let url = dir.appendingPathComponent("new.safetensors")
        let e = safetensorsError { () throws(SafetensorsError) in try Safetensors.write(Self.checkpoint(3), to: url, failure: .afterWrite) }
        #expect(e != nil)
        #expect(directoryListing(dir).isEmpty)
    }

    @Test func aDirectoryInTheWayIsAnErrorAndIsLeftAlone() throws {
        let dir = makeTempDirectory("checkpoint")
        defer { cleanUp(dir) }
        let url = dir.appendingPathComponent("best.safetensors")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: false)
        try Data([1, 2, 3]).write(to: url.appendingPathComponent("keep"))
        let e = safetensorsError { () throws(SafetensorsError) in try Self.checkpoint(1).save(to: url) }
        guard case .io(let path, _, _) = e else { Issue.record("expected an io error, got \(String(describing: e))"); return }
        #expect(path == url.path)
        #expect(directoryListing(dir) == ["best.safetensors"])
        #expect(directoryListing(url) == ["keep"])
    }

    @Test func missingDirectoryIsAnError() throws {
        let dir = makeTempDirectory("checkpoint")
        defer { cleanUp(dir) }
        let url = dir.appendingPathComponent("no/such/dir/best.safetensors")
        let e = safetensorsError { () throws(SafetensorsError) in try Self.checkpoint(1).save(to: url) }
        guard case .io = e else { Issue.record("expected an io error, got \(String(describing: e))"); return }
        #expect(directoryListing(dir).isEmpty)
    }

    @Test func savedFileIsReadableByOthersAndCompleteOnDisk() throws {
        let dir = makeTempDirectory("checkpoint")
        defer { cleanUp(dir) }
        let url = dir.appendingPathComponent("x.safetensors")
        let sd = Self.checkpoint(4)
        try sd.save(to: url)
        #expect(try Data(contentsOf: url) == sd.safetensorsData())
        let attrs = try FileManager.default.attributesOfItem(atPath: url.path)
        let mode = (attrs[.posixPermissions] as? NSNumber)?.intValue ?? 0
        // Created as 0o644 (as a plain `open`/`torch.save` would): the umask may take bits away,
        // nothing else. Under the usual 022 this is exactly rw-r--r--, others can read.
        #expect(mode & 0o777 == 0o644 & ~Self.processUmask, "mode \(String(mode, radix: 8)), umask \(String(Self.processUmask, radix: 8))")
        if Self.processUmask & 0o004 == 0 { #expect(mode & 0o004 != 0, "others cannot read the checkpoint") }
    }

    /// The process's file-creation mask, read without changing it (`umask(2)` can only be read by
    /// setting it, which would race with files other tests create meanwhile).
    static let processUmask: Int = {
        #if os(Linux)
        if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
           let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Umask:") }),
           let value = Int(line.dropFirst("Umask:".count).trimmingCharacters(in: .whitespaces), radix: 8) {
            return value
        }
        #endif
        let old = umask(0o022)
        umask(old)
        return Int(old)
    }()
}
