import Foundation
import TensorCore

/// MNIST (or any data set in its IDX layout, such as Fashion-MNIST) read from a folder.
///
/// The folder holds the four standard files, raw or gzipped: `train-images-idx3-ubyte`,
/// `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte` (a `.gz` suffix
/// or the `…-idx3.ubyte` spelling is also accepted). Images are `[1, rows, cols]` in [0, 1].
///
/// The package bundles the first 10,000 training and first 2,000 test images of MNIST
/// (Y. LeCun, C. Cortes, C. Burges; CC BY-SA 3.0) as `MNIST.bundled`.
///
/// ```swift
/// let train = try MNIST.bundled(train: true)          // 10,000 examples
/// let test = try MNIST(directory: URL(fileURLWithPath: "/usr/share/datasets/fashion-mnist"), train: false)
/// let (x, y) = train.batch(0..<128)                   // [128, 1, 28, 28], [128]
/// ```
public struct MNIST: Dataset, Sendable {
    /// Mean and standard deviation of the MNIST training pixels, the usual `Normalize` constants.
    public static let mean: Float = 0.1307
    public static let std: Float = 0.3081

    public static let trainImagesFile = "train-images-idx3-ubyte"
    public static let trainLabelsFile = "train-labels-idx1-ubyte"
    public static let testImagesFile = "t10k-images-idx3-ubyte"
    public static let testLabelsFile = "t10k-labels-idx1-ubyte"

    /// The examples, as bytes.
    public let storage: ByteImageDataset
    /// The folder the files were read from.
    public let directory: URL
    public let train: Bool

    /// Reads the training (`train: true`) or test split from `directory`.
    public init(directory: URL, train: Bool = true) throws(DataError) {
        let imagesURL = try MNIST.locate(train ? MNIST.trainImagesFile : MNIST.testImagesFile, in: directory)
        let labelsURL = try MNIST.locate(train ? MNIST.trainLabelsFile : MNIST.testLabelsFile, in: directory)
        let images = try IDXArray(contentsOf: imagesURL)
        let labels = try IDXArray(contentsOf: labelsURL)
        guard images.shape.count == 3 else {
            throw .badHeader(path: imagesURL.path, reason: "expected 3 dimensions (count, rows, columns), found \(images.shape.count): \(images.shape)")
        }
        guard labels.shape.count == 1 else {
            throw .badHeader(path: labelsURL.path, reason: "expected 1 dimension (count), found \(labels.shape.count): \(labels.shape)")
        }
        guard images.shape[0] == labels.shape[0] else {
            throw .inconsistent(reason: "\(imagesURL.path) has \(images.shape[0]) images but \(labelsURL.path) has \(labels.shape[0]) labels")
        }
        guard images.shape[1] > 0, images.shape[2] > 0 else {
            throw .badHeader(path: imagesURL.path, reason: "empty image size \(images.shape[1])x\(images.shape[2])")
        }
        storage = try ByteImageDataset(pixels: images.bytes, labels: labels.bytes,
                                       exampleShape: [1, images.shape[1], images.shape[2]], classCount: 10,
                                       source: labelsURL.path)
        self.directory = directory
        self.train = train
    }

    /// The folder of the bundled MNIST subset (a resource of this module).
    public static var bundledDirectory: URL {
        Bundle.module.resourceURL!.appendingPathComponent("mnist-10k")
    }

    /// The bundled subset: 10,000 training or 2,000 test images.
    public static func bundled(train: Bool = true) throws(DataError) -> MNIST {
        try MNIST(directory: bundledDirectory, train: train)
    }

    /// Finds `name`, `name.gz`, or the dotted spelling (`…-idx3.ubyte`) in `directory`.
    static func locate(_ name: String, in directory: URL) throws(DataError) -> URL {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDir), isDir.boolValue else {
            throw .fileNotFound(path: directory.path)
        }
        let alt = name.replacingOccurrences(of: "-idx1-ubyte", with: "-idx1.ubyte").replacingOccurrences(of: "-idx3-ubyte", with: "-idx3.ubyte")
        for candidate in [name, name + ".gz", alt, alt + ".gz"] {
            let url = directory.appendingPathComponent(candidate)
            if FileManager.default.fileExists(atPath: url.path) { return url }
        }
        throw .fileNotFound(path: directory.appendingPathComponent(name + ".gz").path)
    }

    public var count: Int { storage.count }
    public var exampleShape: [Int] { storage.exampleShape }
    public var classCount: Int { storage.classCount }
    public func label(at index: Int) -> Int64 { storage.label(at: index) }
    public func copyExample(at index: Int, into destination: UnsafeMutablePointer<Float>) {
        storage.copyExample(at: index, into: destination)
    }
}
