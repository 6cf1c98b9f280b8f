import Foundation
import Testing
import SwiftNN
import TestSupport

@Suite struct GzipIDXTests {
    let labelsGz = bundledFile("train-labels-idx1-ubyte.gz")

    @Test func inflatesTheBundledFile() throws {
        let raw = try Gzip.readFile(labelsGz)
        #expect(raw.count == 8 + 10_000)
        #expect(Array(raw.prefix(4)) == [0, 0, 8, 1])
    }

    @Test func truncatedGzipThrows() throws {
        let gz = try Data(contentsOf: labelsGz)
        for cut in [12, gz.count / 2, gz.count - 3] {
            let err = dataError { _ = try Gzip.inflate(gz.prefix(cut), path: "x.gz") }
            #expect(err == .truncatedGzip(path: "x.gz"), "cut at \(cut): \(String(describing: err))")
        }
    }

    @Test func corruptGzipThrows() throws {
        var gz = [UInt8](try Data(contentsOf: labelsGz))
        // A damaged byte in the deflate body: either invalid codes or a CRC mismatch.
        for i in stride(from: gz.count / 3, to: gz.count - 8, by: 211) { gz[i] ^= 0x5A }
        guard case .corruptGzip? = dataError({ _ = try Gzip.inflate(Data(gz)) }) else {
            Issue.record("expected corruptGzip"); return
        }
        // A wrong length in the trailer is caught too.
        var good = [UInt8](try Data(contentsOf: labelsGz))
        good[good.count - 1] ^= 0x01
        guard case .corruptGzip? = dataError({ _ = try Gzip.inflate(Data(good)) }) else {
            Issue.record("expected corruptGzip for a bad trailer"); return
        }
        guard case .corruptGzip(_, let why)? = dataError({ _ = try Gzip.inflate(Data([1, 2, 3])) }) else {
            Issue.record("expected corruptGzip for non-gzip data"); return
        }
        #expect(why.contains("magic"))
    }

    @Test func corruptedFileOnDiskThrowsThroughIDX() throws {
        let dir = makeTempDirectory("data")
        defer { try? FileManager.default.removeItem(at: dir) }
        let gz = try Data(contentsOf: labelsGz)
        let file = dir.appendingPathComponent("labels.gz")
        try gz.prefix(gz.count - 20).write(to: file)
        #expect(dataError { _ = try IDXArray(contentsOf: file) } == .truncatedGzip(path: file.path))
    }

    @Test func idxRoundTrip() throws {
        let a = IDXArray(shape: [2, 3], bytes: [1, 2, 3, 4, 5, 6])
        #expect(try IDXArray(idxData: a.idxData()) == a)
    }

    @Test func idxWrongMagicThrows() {
        var bytes = [UInt8](IDXArray(shape: [2], bytes: [1, 2]).idxData())
        bytes[0] = 0x1f; bytes[1] = 0x00
        #expect(dataError { _ = try IDXArray(idxData: Data(bytes), path: "f") } == .badMagic(path: "f", found: "1f 00 08 01"))
        bytes = [0, 0, 0x42, 1, 0, 0, 0, 1, 9]
        #expect(dataError { _ = try IDXArray(idxData: Data(bytes), path: "f") } == .badMagic(path: "f", found: "00 00 42 01"))
        guard case .badHeader(_, let why)? = dataError({ _ = try IDXArray(idxData: Data([0, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0, 0]), path: "f") }) else {
            Issue.record("expected badHeader for float32 IDX"); return
        }
        #expect(why.contains("float32"))
    }

    @Test func idxSizeErrorsThrow() {
        let good = [UInt8](IDXArray(shape: [2, 3], bytes: [1, 2, 3, 4, 5, 6]).idxData())
        #expect(dataError { _ = try IDXArray(idxData: Data(good.dropLast(2)), path: "f") } == .sizeMismatch(path: "f", expected: 6, actual: 4))
        #expect(dataError { _ = try IDXArray(idxData: Data(good + [0]), path: "f") } == .sizeMismatch(path: "f", expected: 6, actual: 7))
        guard case .badHeader? = dataError({ _ = try IDXArray(idxData: Data(good.prefix(9)), path: "f") }) else {
            Issue.record("expected badHeader for a cut header"); return
        }
        guard case .badHeader? = dataError({ _ = try IDXArray(idxData: Data([0, 0]), path: "f") }) else {
            Issue.record("expected badHeader for a 2-byte file"); return
        }
        #expect(DataError.sizeMismatch(path: "f", expected: 6, actual: 4).description == "f: expected 6 data bytes from the header, found 4 (file truncated)")
    }

    @Test func missingFileThrows() {
        let url = URL(fileURLWithPath: "/nonexistent/swiftnn/file.gz")
        #expect(dataError { _ = try IDXArray(contentsOf: url) } == .fileNotFound(path: url.path))
    }

    /// Issue 12: a device or a FIFO as a data file is "not a regular file", not a permission problem
    /// (and reading it would never end or block).
    @Test func devicesAndPipesAreNotReadAsDataFiles() throws {
        let dir = makeTempDirectory("data")
        defer { cleanUp(dir) }
        let fifo = dir.appendingPathComponent("labels")
        #expect(mkfifo(fifo.path, 0o644) == 0)
        let reason = "not a regular file (a device, pipe or socket)"
        #expect(dataError { _ = try IDXArray(contentsOf: fifo) } == .unreadable(path: fifo.path, reason: reason))
        let zero = URL(fileURLWithPath: "/dev/zero")
        #expect(dataError { _ = try IDXArray(contentsOf: zero) } == .unreadable(path: zero.path, reason: reason))
        #expect(dataError { _ = try CIFAR10(file: zero) } == .unreadable(path: zero.path, reason: reason))
    }
}
