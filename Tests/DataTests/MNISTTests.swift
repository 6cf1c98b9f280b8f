import Foundation
import Testing
import SwiftNN
import TestSupport

@Suite struct MNISTTests {
    @Test func bundledTrainSplit() throws {
        let train = try MNIST.bundled(train: true)
        #expect(train.count == 10_000)
        #expect(train.exampleShape == [1, 28, 28])
        #expect((0..<10).map { train.label(at: $0) } == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4])
    }

    @Test func bundledTestSplit() throws {
        let test = try MNIST.bundled(train: false)
        #expect(test.count == 2_000)
        #expect((0..<10).map { test.label(at: $0) } == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9])
    }

    @Test func classCountsComputedFromTheFile() throws {
        let train = try MNIST.bundled(train: true)
        // Count straight from the label file's bytes, independently of the Dataset API.
        let raw = try IDXArray(contentsOf: bundledFile("train-labels-idx1-ubyte.gz"))
        var expected = [Int](repeating: 0, count: 10)
        for b in raw.bytes { expected[Int(b)] += 1 }
        let counts = train.classCounts()
        #expect(counts == expected)
        #expect(counts.reduce(0, +) == 10_000)
        #expect(counts.allSatisfy { $0 > 0 })
    }

    @Test func pixelsAreToTensorScaled() throws {
        let train = try MNIST.bundled(train: true)
        let images = try IDXArray(contentsOf: bundledFile("train-images-idx3-ubyte.gz"))
        #expect(images.shape == [10_000, 28, 28])
        let (x, y) = train.batch([0, 9_999])
        #expect(x.shape == [2, 1, 28, 28] && x.dtype == .float32)
        #expect(y.dtype == .int64 && y.toArray(of: Int64.self) == [5, train.label(at: 9_999)])
        let v = x.scalars
        for j in 0..<784 {
            #expect(v[j] == Float(images.bytes[j]) / 255)
            #expect(v[784 + j] == Float(images.bytes[9_999 * 784 + j]) / 255)
        }
        #expect(v.contains { $0 == 1 } && v.contains { $0 == 0 })
        let (single, label) = train.example(at: 1)
        #expect(single.shape == [1, 28, 28] && label == 0)
    }

    @Test func readsRawIDXFolders() throws {
        // The same data written back uncompressed must read identically.
        let dir = makeTempDirectory("data")
        defer { try? FileManager.default.removeItem(at: dir) }
        for name in [MNIST.testImagesFile, MNIST.testLabelsFile] {
            let a = try IDXArray(contentsOf: bundledFile(name + ".gz"))
            try a.idxData().write(to: dir.appendingPathComponent(name))
        }
        let raw = try MNIST(directory: dir, train: false)
        let gz = try MNIST.bundled(train: false)
        #expect(raw.count == gz.count)
        #expect(raw.storage == gz.storage)
    }

    @Test func missingFilesAndFoldersThrow() {
        let dir = makeTempDirectory("data")
        defer { try? FileManager.default.removeItem(at: dir) }
        guard case .fileNotFound(let p)? = dataError({ _ = try MNIST(directory: dir, train: true) }) else {
            Issue.record("expected fileNotFound"); return
        }
        #expect(p.hasSuffix("train-images-idx3-ubyte.gz"))
        let nowhere = dir.appendingPathComponent("nope")
        #expect(dataError { _ = try MNIST(directory: nowhere, train: true) } == .fileNotFound(path: nowhere.path))
    }

    @Test func mismatchedImageAndLabelCountsThrow() throws {
        let dir = makeTempDirectory("data")
        defer { try? FileManager.default.removeItem(at: dir) }
        try IDXArray(shape: [3, 2, 2], bytes: [UInt8](repeating: 7, count: 12)).idxData()
            .write(to: dir.appendingPathComponent(MNIST.trainImagesFile))
        try IDXArray(shape: [2], bytes: [1, 2]).idxData().write(to: dir.appendingPathComponent(MNIST.trainLabelsFile))
        guard case .inconsistent(let why)? = dataError({ _ = try MNIST(directory: dir, train: true) }) else {
            Issue.record("expected inconsistent"); return
        }
        #expect(why.contains("3 images") && why.contains("2 labels"))
    }

    @Test func labelsOutOfRangeThrow() throws {
        let dir = makeTempDirectory("data")
        defer { try? FileManager.default.removeItem(at: dir) }
        try IDXArray(shape: [2, 2, 2], bytes: [UInt8](repeating: 7, count: 8)).idxData()
            .write(to: dir.appendingPathComponent(MNIST.trainImagesFile))
        try IDXArray(shape: [2], bytes: [1, 12]).idxData().write(to: dir.appendingPathComponent(MNIST.trainLabelsFile))
        let err = dataError { _ = try MNIST(directory: dir, train: true) }
        guard case .labelOutOfRange(_, let index, let label, let classes)? = err else {
            Issue.record("expected labelOutOfRange, got \(String(describing: err))"); return
        }
        #expect(index == 1 && label == 12 && classes == 10)
    }

    @Test func wrongRankThrows() throws {
        let dir = makeTempDirectory("data")
        defer { try? FileManager.default.removeItem(at: dir) }
        // Labels file given where images belong: rank 1 instead of 3.
        try IDXArray(shape: [2], bytes: [1, 2]).idxData().write(to: dir.appendingPathComponent(MNIST.trainImagesFile))
        try IDXArray(shape: [2], bytes: [1, 2]).idxData().write(to: dir.appendingPathComponent(MNIST.trainLabelsFile))
        guard case .badHeader(_, let why)? = dataError({ _ = try MNIST(directory: dir, train: true) }) else {
            Issue.record("expected badHeader"); return
        }
        #expect(why.contains("expected 3 dimensions"))
    }
}
