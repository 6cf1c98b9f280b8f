import Foundation
import Testing
import SwiftNN
import TestSupport

@Suite struct CIFAR10Tests {
    @Test func firstTwentyLabels() throws {
        let ds = try CIFAR10(file: Fixtures.cifar10Test20)
        #expect(ds.count == 20)
        #expect(ds.exampleShape == [3, 32, 32])
        #expect((0..<20).map { ds.label(at: $0) } == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1, 0, 9, 5, 7, 9, 8, 5, 7, 8, 6])
    }

    @Test func pixelsFollowTheRecordLayout() throws {
        let raw = [UInt8](try Data(contentsOf: Fixtures.cifar10Test20))
        let ds = try CIFAR10(file: Fixtures.cifar10Test20)
        let (x, _) = ds.batch([2])
        let v = x.scalars
        // Record 2: label byte, then R plane, G plane, B plane.
        let base = 2 * 3073 + 1
        for j in stride(from: 0, to: 3072, by: 97) { #expect(v[j] == Float(raw[base + j]) / 255) }
    }

    @Test func truncatedFileThrows() throws {
        let dir = makeTempDirectory("data")
        defer { try? FileManager.default.removeItem(at: dir) }
        let raw = try Data(contentsOf: Fixtures.cifar10Test20)
        let file = dir.appendingPathComponent("test_batch.bin")
        try raw.prefix(3073 * 3 - 10).write(to: file)
        guard case .sizeMismatch(_, let expected, let actual)? = dataError({ _ = try CIFAR10(file: file) }) else {
            Issue.record("expected sizeMismatch"); return
        }
        #expect(expected == 3073 * 3 && actual == 3073 * 3 - 10)
        #expect(dataError { _ = try CIFAR10(directory: dir, train: true) } == .fileNotFound(path: dir.appendingPathComponent("data_batch_1.bin").path))
        #expect(throws: DataError.self) { _ = try CIFAR10(directory: dir, train: false) }
    }

    @Test func badLabelThrows() throws {
        let dir = makeTempDirectory("data")
        defer { try? FileManager.default.removeItem(at: dir) }
        var raw = [UInt8](try Data(contentsOf: Fixtures.cifar10Test20))
        raw[3073] = 10
        let file = dir.appendingPathComponent("bad.bin")
        try Data(raw).write(to: file)
        #expect(dataError { _ = try CIFAR10(file: file) } == .labelOutOfRange(path: file.path, index: 1, label: 10, classes: 10))
    }
}
