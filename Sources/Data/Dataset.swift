import Foundation
import TensorCore

/// A finite, indexable collection of labelled examples, built for fast batching.
///
/// Instead of returning one `Tensor` per example (an allocation and a copy per sample), a dataset
/// writes example `i` straight into a slot of a batch buffer; `batch(_:)` collates any list of
/// indices into one contiguous float32 tensor `[N] + exampleShape` and an int64 label tensor `[N]`.
///
/// ```swift
/// let mnist = try MNIST.bundled(train: true)
/// let (x, y) = mnist.batch([0, 1, 2])     // x: [3, 1, 28, 28] float32, y: [3] int64
/// let (image, label) = mnist.example(at: 0)
/// ```
public protocol Dataset {
    /// Number of examples.
    var count: Int { get }
    /// Shape of one example's input, e.g. `[1, 28, 28]`.
    var exampleShape: [Int] { get }
    /// Number of classes the labels range over.
    var classCount: Int { get }
    /// Label of example `index`.
    func label(at index: Int) -> Int64
    /// Writes example `index` as float32 to `destination` (`exampleShape` elements, row-major).
    func copyExample(at index: Int, into destination: UnsafeMutablePointer<Float>)
}

extension Dataset {
    /// Elements of one example.
    public var exampleSize: Int { exampleShape.reduce(1, *) }

    /// One example as its own tensor (convenient, but use `batch` in loops).
    public func example(at index: Int) -> (input: Tensor, label: Int64) {
        precondition(index >= 0 && index < count, "Dataset: index \(index) out of range 0..<\(count)")
        let t = Tensor(uninitializedShape: exampleShape, dtype: .float32)
        copyExample(at: index, into: t.pointer(as: Float.self))
        return (t, label(at: index))
    }

    /// Collates the examples at `indices` into one contiguous batch.
    public func batch<C: Collection>(_ indices: C) -> (inputs: Tensor, labels: Tensor) where C.Element == Int {
        let n = indices.count
        let size = exampleSize
        let x = Tensor(uninitializedShape: [n] + exampleShape, dtype: .float32)
        let y = Tensor(uninitializedShape: [n], dtype: .int64)
        let xp = x.pointer(as: Float.self), yp = y.pointer(as: Int64.self)
        var slot = 0
        for i in indices {
            precondition(i >= 0 && i < count, "Dataset: index \(i) out of range 0..<\(count)")
            copyExample(at: i, into: xp + slot * size)
            yp[slot] = label(at: i)
            slot += 1
        }
        return (x, y)
    }

    /// How many examples each class has (labels outside `0..<classCount` are not counted).
    public func classCounts() -> [Int] {
        var counts = [Int](repeating: 0, count: classCount)
        for i in 0..<count {
            let l = Int(label(at: i))
            if l >= 0 && l < classCount { counts[l] += 1 }
        }
        return counts
    }
}

/// Converts bytes to floats in [0, 1] exactly as torchvision's `ToTensor` (x / 255).
@inline(__always)
func bytesToUnitFloats(_ src: UnsafePointer<UInt8>, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
    for j in 0..<n { dst[j] = Float(src[j]) / 255 }
}

/// A dataset of 8-bit images held in memory: the common storage of MNIST and CIFAR-10.
/// Pixels become float32 in [0, 1] (`x / 255`) when copied into a batch.
public struct ByteImageDataset: Dataset, Sendable, Equatable {
    /// Row-major pixels, `count × exampleSize` bytes.
    public let pixels: [UInt8]
    /// One label per example.
    public let labels: [UInt8]
    public let exampleShape: [Int]
    public let classCount: Int

    /// Checks that the pixel and label arrays fit together and that every label is a class index.
    public init(pixels: [UInt8], labels: [UInt8], exampleShape: [Int], classCount: Int, source: String = "<data>") throws(DataError) {
        let size = exampleShape.reduce(1, *)
        guard size > 0, pixels.count == labels.count * size else {
            throw .inconsistent(reason: "\(source): \(labels.count) labels need \(labels.count * size) pixel bytes of \(exampleShape), found \(pixels.count)")
        }
        if let bad = labels.firstIndex(where: { Int($0) >= classCount }) {
            throw .labelOutOfRange(path: source, index: bad, label: Int(labels[bad]), classes: classCount)
        }
        self.pixels = pixels
        self.labels = labels
        self.exampleShape = exampleShape
        self.classCount = classCount
    }

    public var count: Int { labels.count }

    @inlinable public func label(at index: Int) -> Int64 { Int64(labels[index]) }

    public func copyExample(at index: Int, into destination: UnsafeMutablePointer<Float>) {
        let size = exampleSize
        pixels.withUnsafeBufferPointer { buf in
            bytesToUnitFloats(buf.baseAddress! + index * size, destination, size)
        }
    }

    /// The first `n` examples (or all, if fewer).
    public func prefix(_ n: Int) -> ByteImageDataset {
        let k = max(0, min(n, count))
        // Safe: a prefix of valid data is valid.
        return try! ByteImageDataset(pixels: Array(pixels[0..<(k * exampleSize)]), labels: Array(labels[0..<k]),
                                     exampleShape: exampleShape, classCount: classCount)
    }
}

/// A dataset over tensors already in memory: `inputs` `[N, …]` (any float dtype) and int64 `labels` `[N]`.
///
/// ```swift
/// let ds = TensorDataset(inputs: Tensor.randn([8, 4]), labels: Tensor([0, 1, 0, 1, 0, 1, 0, 1] as [Int64], shape: [8]))
/// ```
public struct TensorDataset: Dataset, @unchecked Sendable {
    public let inputs: Tensor
    public let labels: Tensor
    public let classCount: Int

    public init(inputs: Tensor, labels: Tensor, classCount: Int? = nil) {
        precondition(inputs.rank >= 1 && labels.rank == 1 && inputs.shape[0] == labels.shape[0],
                     "TensorDataset: inputs \(shapeString(inputs.shape)) and labels \(shapeString(labels.shape)) must have the same first dimension")
        self.inputs = inputs.dtype == .float32 ? inputs : TensorDataset.toFloat(inputs)
        self.labels = labels.dtype == .int64 ? labels : TensorDataset.toInt64(labels)
        let lp = self.labels.pointer(as: Int64.self)
        var maxLabel: Int64 = -1
        for i in 0..<self.labels.count { maxLabel = max(maxLabel, lp[i]) }
        self.classCount = classCount ?? Int(maxLabel + 1)
    }

    private static func toFloat(_ t: Tensor) -> Tensor {
        let out = Tensor(uninitializedShape: t.shape, dtype: .float32)
        let p = out.pointer(as: Float.self)
        for i in 0..<t.count { p[i] = Float(t.doubleValue(at: i)) }
        return out
    }

    private static func toInt64(_ t: Tensor) -> Tensor {
        let out = Tensor(uninitializedShape: t.shape, dtype: .int64)
        let p = out.pointer(as: Int64.self)
        for i in 0..<t.count { p[i] = Int64(t.doubleValue(at: i)) }
        return out
    }

    public var count: Int { labels.count }
    public var exampleShape: [Int] { Array(inputs.shape.dropFirst()) }

    public func label(at index: Int) -> Int64 { labels.pointer(as: Int64.self)[index] }

    public func copyExample(at index: Int, into destination: UnsafeMutablePointer<Float>) {
        let size = exampleSize
        withExtendedLifetime(inputs) {
            destination.update(from: inputs.pointer(as: Float.self) + index * size, count: size)
        }
    }
}
