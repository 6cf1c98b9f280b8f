import Foundation
import TensorCore

/// CIFAR-10 in its binary format: each record is 1 label byte followed by 1024 red, 1024 green and
/// 1024 blue bytes of a 32×32 image. Images are `[3, 32, 32]` in [0, 1].
///
/// ```swift
/// let test = try CIFAR10(file: URL(fileURLWithPath: "cifar-10-batches-bin/test_batch.bin"))
/// let train = try CIFAR10(directory: URL(fileURLWithPath: "cifar-10-batches-bin"), train: true)
/// ```
public struct CIFAR10: Dataset, Sendable {
    /// Per-channel mean and standard deviation of the CIFAR-10 training set.
    public static let mean: [Float] = [0.4914, 0.4822, 0.4465]
    public static let std: [Float] = [0.2470, 0.2435, 0.2616]
    public static let classNames = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    static let recordSize = 1 + 3 * 32 * 32

    public let storage: ByteImageDataset

    /// Reads one batch file.
    public init(file: URL) throws(DataError) {
        try self.init(files: [file])
    }

    /// Reads `data_batch_1.bin` … `data_batch_5.bin` (train) or `test_batch.bin` from `directory`.
    public init(directory: URL, train: Bool = true) throws(DataError) {
        let names = train ? (1...5).map { "data_batch_\($0).bin" } : ["test_batch.bin"]
        try self.init(files: names.map { directory.appendingPathComponent($0) })
    }

    /// Reads and concatenates several batch files.
    public init(files: [URL]) throws(DataError) {
        var pixels: [UInt8] = [], labels: [UInt8] = []
        for url in files {
            try CIFAR10.appendRecords(of: readFileBytes(url), path: url.path, pixels: &pixels, labels: &labels)
        }
        storage = try ByteImageDataset(pixels: pixels, labels: labels, exampleShape: [3, 32, 32], classCount: 10)
    }

    /// Parses the bytes of one batch file (`path` only labels errors).
    public init(batchData data: Foundation.Data, path: String = "<data>") throws(DataError) {
        var pixels: [UInt8] = [], labels: [UInt8] = []
        try CIFAR10.appendRecords(of: data, path: path, pixels: &pixels, labels: &labels)
        storage = try ByteImageDataset(pixels: pixels, labels: labels, exampleShape: [3, 32, 32], classCount: 10)
    }

    private static func appendRecords(of data: Foundation.Data, path: String, pixels: inout [UInt8], labels: inout [UInt8]) throws(DataError) {
        guard !data.isEmpty, data.count % CIFAR10.recordSize == 0 else {
            throw .sizeMismatch(path: path, expected: (data.count / CIFAR10.recordSize + 1) * CIFAR10.recordSize, actual: data.count)
        }
        let n = data.count / CIFAR10.recordSize
        pixels.reserveCapacity(pixels.count + n * 3072)
        labels.reserveCapacity(labels.count + n)
        let labelOffset = labels.count
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let p = raw.bindMemory(to: UInt8.self)
            for r in 0..<n {
                let base = r * CIFAR10.recordSize
                labels.append(p[base])
                pixels.append(contentsOf: p[(base + 1)..<(base + CIFAR10.recordSize)])
            }
        }
        if let bad = labels[labelOffset...].firstIndex(where: { $0 >= 10 }) {
            throw .labelOutOfRange(path: path, index: bad - labelOffset, label: Int(labels[bad]), classes: 10)
        }
    }

    public var count: Int { storage.count }
    public var exampleShape: [Int] { storage.exampleShape }
    public var classCount: Int { storage.classCount }
    public func label(at index: Int) -> Int64 { storage.label(at: index) }
    public func copyExample(at index: Int, into destination: UnsafeMutablePointer<Float>) {
        storage.copyExample(at: index, into: destination)
    }
}
