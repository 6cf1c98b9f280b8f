import Foundation
import Testing
@testable import Checkpoint
import TestSupport

/// Issue 12: a write killed before its rename leaves `.<name>.tmp-<pid>-<random>` behind; the next
/// run removes those of dead processes and keeps those of live writers.
@Suite struct StaleTemporaryFileTests {
    /// The PID of a process that has exited (reaped, so the PID is free).
    func deadPID() throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/true")
        try p.run()
        p.waitUntilExit()
        return p.processIdentifier
    }

    @Test func staleFilesOfDeadWritersAreRemoved() throws {
        let dir = makeTempDirectory("ckpt")
        defer { cleanUp(dir) }
        let dead = try deadPID()
        let stale = ".last.safetensors.tmp-\(dead)-12345"
        let live = ".best.safetensors.tmp-\(getpid())-7"        // this process: a write in progress
        let parent = ".best.safetensors.tmp-\(getppid())-8"     // another live process
        let unrelated = [".hidden", "notes.tmp-1-2", ".x.tmp-abc-1", "last.safetensors"]
        for name in [stale, live, parent] + unrelated {
            try Data([1, 2, 3]).write(to: dir.appendingPathComponent(name))
        }
        #expect(Safetensors.removeStaleTemporaryFiles(in: dir) == [stale])
        #expect(directoryListing(dir) == ([live, parent] + unrelated).sorted())
        #expect(Safetensors.removeStaleTemporaryFiles(in: dir).isEmpty)
        #expect(Safetensors.removeStaleTemporaryFiles(in: dir.appendingPathComponent("missing")).isEmpty)
    }

    /// The names the atomic writer really uses are the ones recognised.
    @Test func theWritersOwnTemporaryNamesAreRecognised() throws {
        let dir = makeTempDirectory("ckpt")
        defer { cleanUp(dir) }
        var seen: [String] = []
        try AtomicFile.write(to: dir.appendingPathComponent("m.safetensors")) { (sink: inout AtomicFile.Sink) throws(SafetensorsError) in
            seen = directoryListing(dir)
            try sink.write([0])
        }
        let temp = try #require(seen.first)
        #expect(temp.hasPrefix(".m.safetensors.tmp-\(getpid())-"))
        // Renamed as if written by a dead process: now it is stale.
        let dead = try deadPID()
        let renamed = temp.replacingOccurrences(of: "-\(getpid())-", with: "-\(dead)-")
        try Data([0]).write(to: dir.appendingPathComponent(renamed))
        #expect(Safetensors.removeStaleTemporaryFiles(in: dir) == [renamed])
        #expect(directoryListing(dir) == ["m.safetensors"])
    }
}
