import Foundation
import SwiftNN

/// The training and test splits a run uses, with the normalisation constants for its inputs.
struct TrainingData {
    var train: ByteImageDataset
    var test: ByteImageDataset
    var mean: [Float]
    var std: [Float]
    /// Where the data came from, for messages.
    var source: String

    /// Reads `directory` (MNIST-style IDX files, or CIFAR-10 binary batches), or the bundled MNIST
    /// subset when nil. `trainLimit` keeps only the first examples of the training split.
    static func load(directory: URL?, trainLimit: Int? = nil, testLimit: Int? = nil) throws -> TrainingData {
        try load(directory: directory, trainLimit: trainLimit, testLimit: testLimit, testOnly: false)
    }

    /// Reads only the test split (what evaluation needs; the folder may hold no training files).
    /// `train` is left empty and `mean`/`std` are not computed (the checkpoint has its own).
    static func loadTest(directory: URL?) throws -> TrainingData {
        try load(directory: directory, trainLimit: nil, testLimit: nil, testOnly: true)
    }

    private static func load(directory: URL?, trainLimit: Int?, testLimit: Int?, testOnly: Bool) throws -> TrainingData {
        var data: TrainingData
        if let dir = directory {
            let fm = FileManager.default
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: dir.path, isDirectory: &isDir), isDir.boolValue else {
                throw CLIError("data folder \(dir.path) does not exist")
            }
            if fm.fileExists(atPath: dir.appendingPathComponent("test_batch.bin").path) {
                let test = try CIFAR10(directory: dir, train: false).storage
                let train = testOnly ? test.prefix(0) : try CIFAR10(directory: dir, train: true).storage
                data = TrainingData(train: train, test: test, mean: CIFAR10.mean, std: CIFAR10.std, source: dir.path)
            } else {
                let test = try MNIST(directory: dir, train: false).storage
                if testOnly { return TrainingData(train: test.prefix(0), test: test, mean: [], std: [], source: dir.path) }
                let train = try MNIST(directory: dir, train: true).storage
                guard train.exampleShape == test.exampleShape else {
                    throw CLIError("\(dir.path): training images are \(train.exampleShape) but test images are \(test.exampleShape)")
                }
                // Any IDX data set: normalise with its own training statistics.
                let (m, s) = channelStatistics(train)
                data = TrainingData(train: train, test: test, mean: m, std: s, source: dir.path)
            }
        } else {
            let test = try MNIST.bundled(train: false).storage
            data = TrainingData(train: testOnly ? test.prefix(0) : try MNIST.bundled(train: true).storage, test: test,
                                mean: [MNIST.mean], std: [MNIST.std], source: "bundled MNIST")
        }
        if testOnly {
            guard data.test.count >= 1 else { throw CLIError("\(data.source): the test split is empty") }
            return data
        }
        if let n = trainLimit { data.train = data.train.prefix(n) }
        if let n = testLimit { data.test = data.test.prefix(n) }
        guard data.train.count >= 2 else { throw CLIError("\(data.source): the training split needs at least 2 examples, found \(data.train.count)") }
        guard data.test.count >= 1 else { throw CLIError("\(data.source): the test split is empty") }
        return data
    }

    /// Per-channel mean and standard deviation of pixels scaled to [0, 1], accumulated in integers.
    static func channelStatistics(_ ds: ByteImageDataset) -> ([Float], [Float]) {
        let c = ds.exampleShape[0], plane = ds.exampleSize / c
        var sums = [UInt64](repeating: 0, count: c), squares = [UInt64](repeating: 0, count: c)
        ds.pixels.withUnsafeBufferPointer { p in
            for i in 0..<ds.count {
                for ch in 0..<c {
                    let base = (i * c + ch) * plane
                    var s: UInt64 = 0, q: UInt64 = 0
                    for j in 0..<plane { let v = UInt64(p[base + j]); s += v; q += v * v }
                    sums[ch] += s; squares[ch] += q
                }
            }
        }
        let n = Double(ds.count * plane)
        var means: [Float] = [], stds: [Float] = []
        for ch in 0..<c {
            let m = Double(sums[ch]) / n / 255
            let v = max(0, Double(squares[ch]) / n / 65025 - m * m)
            means.append(Float(m))
            stds.append(Float(v > 0 ? v.squareRoot() : 1))
        }
        return (means, stds)
    }
}
