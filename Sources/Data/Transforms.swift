import Foundation
import TensorCore

/// A transform applied to a whole collated batch `[N, C, H, W]` (or `[N, …]`) of float32 data.
///
/// Working on the batch rather than on single examples keeps the data path to one contiguous
/// buffer. Random transforms draw from the given `RandomStream`, indexed by the example's position
/// in the batch, so a seeded loader gives the same augmentation on every run and thread count.
public protocol BatchTransform {
    /// Whether the transform consumes randomness (the loader then gives it a fresh stream per batch).
    var isRandom: Bool { get }
    /// Returns the transformed batch; may modify `batch` in place and return it.
    func apply(_ batch: Tensor, stream: RandomStream) -> Tensor
}

extension BatchTransform {
    public var isRandom: Bool { true }

    /// Applies the transform with a stream taken from `generator` (the default generator if nil).
    ///
    /// ```swift
    /// let flipped = RandomHorizontalFlip().callAsFunction(batch, generator: Generator(seed: 1))
    /// ```
    public func callAsFunction(_ batch: Tensor, generator: Generator? = nil) -> Tensor {
        apply(batch, stream: isRandom ? (generator ?? .default).nextStream() : RandomStream(seed: 0, offset: 0))
    }
}

/// `(x - mean[c]) / std[c]` per channel (dimension 1), like torchvision's `Normalize`.
/// A single mean/std applies to every channel.
///
/// ```swift
/// let norm = Normalize(mean: [0.1307], std: [0.3081])
/// ```
public struct Normalize: BatchTransform, Sendable {
    public let mean: [Float]
    public let std: [Float]

    public init(mean: [Float], std: [Float]) {
        precondition(mean.count == std.count && !mean.isEmpty, "Normalize: mean and std need the same, non-zero length")
        precondition(std.allSatisfy { $0 != 0 }, "Normalize: std evaluated to zero, leading to division by zero.")
        self.mean = mean
        self.std = std
    }

    public var isRandom: Bool { false }

    public func apply(_ batch: Tensor, stream: RandomStream) -> Tensor {
        precondition(batch.dtype == .float32 && batch.rank >= 2, "Normalize: expected a float32 batch [N, C, …], got \(shapeString(batch.shape))")
        let n = batch.shape[0], c = batch.shape[1]
        precondition(mean.count == 1 || mean.count == c, "Normalize: \(mean.count) means for \(c) channels")
        let plane = batch.count / max(1, n * c)
        let p = batch.pointer(as: Float.self)
        withExtendedLifetime(batch) {
            for s in 0..<n {
                for ch in 0..<c {
                    let m = mean.count == 1 ? mean[0] : mean[ch]
                    let sd = std.count == 1 ? std[0] : std[ch]
                    let q = p + (s * c + ch) * plane
                    // (x - m) / sd, as torchvision computes it (division, not multiplication by 1/sd).
                    for j in 0..<plane { q[j] = (q[j] - m) / sd }
                }
            }
        }
        return batch
    }
}

/// Pads each image by `padding` zeros on every side and cuts a random `size × size` window,
/// like torchvision's `RandomCrop(size, padding=…)`. Input `[N, C, H, W]`.
///
/// ```swift
/// let crop = RandomCrop(32, padding: 4)
/// ```
public struct RandomCrop: BatchTransform, Sendable {
    public let height: Int
    public let width: Int
    public let padding: Int

    public init(_ size: Int, padding: Int = 0) {
        self.init(height: size, width: size, padding: padding)
    }

    public init(height: Int, width: Int, padding: Int = 0) {
        precondition(height > 0 && width > 0 && padding >= 0, "RandomCrop: size must be positive and padding non-negative")
        self.height = height
        self.width = width
        self.padding = padding
    }

    public func apply(_ batch: Tensor, stream: RandomStream) -> Tensor {
        precondition(batch.dtype == .float32 && batch.rank == 4, "RandomCrop: expected a float32 batch [N, C, H, W], got \(shapeString(batch.shape))")
        let n = batch.shape[0], c = batch.shape[1], h = batch.shape[2], w = batch.shape[3]
        let ph = h + 2 * padding, pw = w + 2 * padding
        precondition(ph >= height && pw >= width,
                     "RandomCrop: required crop size (\(height), \(width)) is larger than the padded input size (\(ph), \(pw))")
        let out = Tensor(uninitializedShape: [n, c, height, width], dtype: .float32)
        let src = batch.pointer(as: Float.self), dst = out.pointer(as: Float.self)
        withExtendedLifetime((batch, out)) {
            for s in 0..<n {
                // Offsets in the padded image, uniform over every valid position.
                let top = Int((UInt64(stream.bits(2 * s)) * UInt64(ph - height + 1)) >> 32)
                let left = Int((UInt64(stream.bits(2 * s + 1)) * UInt64(pw - width + 1)) >> 32)
                for ch in 0..<c {
                    let sp = src + (s * c + ch) * h * w
                    let dp = dst + (s * c + ch) * height * width
                    for y in 0..<height {
                        let row = dp + y * width
                        let sy = top + y - padding
                        if sy < 0 || sy >= h { row.update(repeating: 0, count: width); continue }
                        // Columns [x0, x1) of the window fall inside the source image.
                        let x0 = min(width, max(0, padding - left)), x1 = min(width, w + padding - left)
                        if x0 > 0 { row.update(repeating: 0, count: x0) }
                        if x1 > x0 { (row + x0).update(from: sp + sy * w + (left + x0 - padding), count: x1 - x0) }
                        if x1 < width { (row + max(x1, x0)).update(repeating: 0, count: width - max(x1, x0)) }
                    }
                }
            }
        }
        return out
    }
}

/// Mirrors each image left–right with probability `p`, like torchvision's `RandomHorizontalFlip`.
/// Input `[N, …, W]`; flips in place.
public struct RandomHorizontalFlip: BatchTransform, Sendable {
    public let p: Double

    public init(p: Double = 0.5) {
        precondition(p >= 0 && p <= 1, "RandomHorizontalFlip: p must be in [0, 1], got \(p)")
        self.p = p
    }

    public func apply(_ batch: Tensor, stream: RandomStream) -> Tensor {
        precondition(batch.dtype == .float32 && batch.rank >= 2, "RandomHorizontalFlip: expected a float32 batch [N, …, W], got \(shapeString(batch.shape))")
        let n = batch.shape[0], w = batch.shape[batch.rank - 1]
        let rowsPerSample = batch.count / max(1, n * w)
        let ptr = batch.pointer(as: Float.self)
        withExtendedLifetime(batch) {
            for s in 0..<n where stream.uniformDouble(s) < p {
                for r in 0..<rowsPerSample {
                    let row = ptr + (s * rowsPerSample + r) * w
                    var i = 0, j = w - 1
                    while i < j { swap(&row[i], &row[j]); i += 1; j -= 1 }
                }
            }
        }
        return batch
    }
}

/// Flattens each example to one dimension: `[N, …]` → `[N, prod(…)]` (no copy).
public struct FlattenExamples: BatchTransform, Sendable {
    public init() {}
    public var isRandom: Bool { false }
    public func apply(_ batch: Tensor, stream: RandomStream) -> Tensor {
        batch.viewData([batch.shape[0], batch.count / max(1, batch.shape[0])])
    }
}
