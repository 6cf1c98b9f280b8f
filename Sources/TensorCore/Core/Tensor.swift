import Foundation

/// An n-dimensional array with row-major, contiguous layout, shared by reference like PyTorch's.
///
/// Tensors are reference types: `let a = b` names the same tensor, and in-place operations (used
/// by optimizers and running statistics) are visible through every reference. `reshaped` and
/// `flattened` share the storage; all other operations return new tensors.
///
/// ```swift
/// let t = Tensor([1, 2, 3, 4] as [Float], shape: [2, 2])
/// t.shape      // [2, 2]
/// t.scalars    // [1.0, 2.0, 3.0, 4.0]
/// ```
open class Tensor: CustomStringConvertible, @unchecked Sendable {
    /// The memory this tensor views.
    public final let storage: TensorStorage
    /// Offset of the first element in `storage`, in elements.
    public final let storageOffset: Int
    /// Sizes of each dimension.
    public final let shape: [Int]
    /// Element type.
    public final let dtype: DType
    /// Number of elements.
    public final let count: Int

    /// Whether operations on this tensor are recorded for differentiation.
    public final var requiresGrad: Bool
    /// The accumulated gradient after `backward()`, for leaf tensors that require grad.
    public final var grad: Tensor?
    /// The autograd node that produced this tensor (nil for leaves). Owned by the Autograd layer.
    public final var gradNode: AnyObject?
    /// Hooks that run after a gradient is accumulated into this leaf's ``grad``. Owned by the
    /// Autograd layer (`registerPostAccumulateGradHook`).
    public final var postAccumulateGradHooks: AnyObject?
    /// Whether the tensor was created by the user rather than by a recorded operation.
    public final var isLeaf: Bool { gradNode == nil }

    /// Wraps existing storage. `offset` is in elements.
    public required init(storage: TensorStorage, shape: [Int], dtype: DType, offset: Int = 0, requiresGrad: Bool = false) {
        let n = shape.reduce(1, *)
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor: negative dimension in shape \(shapeString(shape))")
        precondition((offset + n) * dtype.byteSize <= storage.byteCount, "Tensor: shape \(shapeString(shape)) does not fit its storage")
        self.storage = storage
        self.storageOffset = offset
        self.shape = shape
        self.dtype = dtype
        self.count = n
        self.requiresGrad = requiresGrad
    }

    /// A new tensor of uninitialised memory on `device`.
    public convenience init(uninitializedShape shape: [Int], dtype: DType = .float32, device: Device = .cpu) {
        let n = shape.reduce(1, *)
        self.init(storage: TensorStorage(byteCount: n * dtype.byteSize, device: device), shape: shape, dtype: dtype)
    }

    /// Number of dimensions.
    @inlinable public final var rank: Int { shape.count }

    /// Raw address of the first element, valid while this tensor is alive. Used by kernels.
    @inlinable public final var rawPointer: UnsafeMutableRawPointer {
        storage.pointer + storageOffset * dtype.byteSize
    }

    /// Typed address of the first element, valid while this tensor is alive.
    @inlinable public final func pointer<T: TensorScalar>(as type: T.Type = T.self) -> UnsafeMutablePointer<T> {
        precondition(T.dtype == dtype, "Tensor: requested \(T.dtype) elements from a \(dtype) tensor")
        return rawPointer.assumingMemoryBound(to: T.self)
    }

    /// A copy of the elements in row-major order.
    public final func toArray<T: TensorScalar>(of type: T.Type = T.self) -> [T] {
        let p = pointer(as: T.self)
        return Array(UnsafeBufferPointer(start: p, count: count))
    }

    /// The elements of a `float32` tensor as a row-major array (other dtypes are converted).
    public final var scalars: [Float] {
        switch dtype {
        case .float32: return toArray(of: Float.self)
        case .float64: return toArray(of: Double.self).map { Float($0) }
        case .int64: return toArray(of: Int64.self).map { Float($0) }
        case .uint8: return toArray(of: UInt8.self).map { Float($0) }
        case .bool: return toArray(of: Bool.self).map { $0 ? 1 : 0 }
        }
    }

    /// The elements converted to Double, in row-major order.
    public final var doubleScalars: [Double] { Kernels.cast(self, to: .float64).toArray(of: Double.self) }

    /// Element `i` (row-major) converted to Double, for any dtype.
    public final func doubleValue(at i: Int) -> Double {
        precondition(i >= 0 && i < count, "Tensor: index \(i) out of range for \(count) elements")
        switch dtype {
        case .float32: return Double(pointer(as: Float.self)[i])
        case .float64: return pointer(as: Double.self)[i]
        case .int64: return Double(pointer(as: Int64.self)[i])
        case .uint8: return Double(pointer(as: UInt8.self)[i])
        case .bool: return pointer(as: Bool.self)[i] ? 1 : 0
        }
    }

    /// The value of a one-element tensor, as Float.
    public final func item() -> Float {
        usageCheck(count == 1, "item", "a Tensor with \(count) elements cannot be converted to Scalar")
        return Float(doubleValue(at: 0))
    }

    /// The value of a one-element tensor, as Double.
    public final func itemDouble() -> Double {
        usageCheck(count == 1, "item", "a Tensor with \(count) elements cannot be converted to Scalar")
        return doubleValue(at: 0)
    }

    /// PyTorch's repr: `tensor([1.5000, 2.0000])` (see `TensorFormatter`).
    open var description: String {
        TensorFormatter.format(self)
    }
}

// MARK: - Creation

extension Tensor {
    /// A tensor holding `values` (row-major) with the given shape.
    ///
    /// ```swift
    /// let labels = Tensor([3, 1] as [Int64], shape: [2])
    /// ```
    public convenience init<T: TensorScalar>(_ values: [T], shape: [Int], requiresGrad: Bool = false) {
        let n = shape.reduce(1, *)
        usageCheck(n == values.count, "Tensor", "shape \(shapeString(shape)) is invalid for input of size \(values.count)")
        let storage = TensorStorage(byteCount: n * T.dtype.byteSize)
        values.withUnsafeBufferPointer { src in
            if n > 0 { storage.pointer.copyMemory(from: src.baseAddress!, byteCount: n * T.dtype.byteSize) }
        }
        self.init(storage: storage, shape: shape, dtype: T.dtype, requiresGrad: requiresGrad)
    }

    /// A tensor of `dtype` holding `values` converted to it (rounded to float32, truncated toward
    /// zero for integers), as ``Kernels/cast(_:to:)`` converts.
    ///
    /// ```swift
    /// let g = Tensor(converting: [0.5, 1.25], shape: [2], dtype: .float32)
    /// ```
    public convenience init(converting values: [Double], shape: [Int], dtype: DType) {
        let t = Kernels.cast(Tensor(values, shape: shape), to: dtype)
        self.init(storage: t.storage, shape: shape, dtype: dtype, offset: t.storageOffset)
    }

    /// A one-dimensional tensor holding `values`.
    public convenience init<T: TensorScalar>(_ values: [T], requiresGrad: Bool = false) {
        self.init(values, shape: [values.count], requiresGrad: requiresGrad)
    }

    /// A zero-dimensional (scalar) tensor.
    public convenience init<T: TensorScalar>(scalar: T, requiresGrad: Bool = false) {
        self.init([scalar], shape: [], requiresGrad: requiresGrad)
    }

    /// A tensor of `shape` filled with `value`.
    public static func full(_ shape: [Int], _ value: Double, dtype: DType = .float32, device: Device = .cpu,
                            requiresGrad: Bool = false) -> Tensor {
        let t = Tensor(uninitializedShape: shape, dtype: dtype, device: device)
        t.fill(value)
        t.requiresGrad = requiresGrad
        return t
    }

    /// A tensor of zeros.
    public static func zeros(_ shape: [Int], dtype: DType = .float32, device: Device = .cpu,
                             requiresGrad: Bool = false) -> Tensor {
        let n = shape.reduce(1, *)
        return Tensor(storage: TensorStorage(byteCount: n * dtype.byteSize, zeroed: true, device: device), shape: shape,
                      dtype: dtype, requiresGrad: requiresGrad)
    }

    /// A tensor of ones.
    public static func ones(_ shape: [Int], dtype: DType = .float32, requiresGrad: Bool = false) -> Tensor {
        full(shape, 1, dtype: dtype, requiresGrad: requiresGrad)
    }

    /// Zeros with the shape and dtype of `other`.
    public static func zeros(like other: Tensor) -> Tensor { zeros(other.shape, dtype: other.dtype) }
    /// Ones with the shape and dtype of `other`.
    public static func ones(like other: Tensor) -> Tensor { ones(other.shape, dtype: other.dtype) }

    /// `[start, start + step, …)` below `end`, like `torch.arange`.
    public static func arange(_ start: Double = 0, _ end: Double, step: Double = 1, dtype: DType = .float32) -> Tensor {
        usageCheck(step != 0, "arange", "step must be nonzero")
        let n = max(0, Int((( end - start) / step).rounded(.up)))
        let t = Tensor(uninitializedShape: [n], dtype: dtype)
        for i in 0..<n { t.setValue(start + Double(i) * step, at: i) }
        return t
    }

    /// Writes `value` (converted to the dtype) at row-major index `i`.
    public final func setValue(_ value: Double, at i: Int) {
        precondition(i >= 0 && i < count, "Tensor: index \(i) out of range for \(count) elements")
        switch dtype {
        case .float32: pointer(as: Float.self)[i] = Float(value)
        case .float64: pointer(as: Double.self)[i] = value
        case .int64: pointer(as: Int64.self)[i] = Int64(value)
        case .uint8: pointer(as: UInt8.self)[i] = UInt8(clamping: Int(value))
        case .bool: pointer(as: Bool.self)[i] = value != 0
        }
    }

    /// Sets every element to `value`, in place.
    public final func fill(_ value: Double) { Kernels.fill(self, value) }

    /// Copies the elements of `source` (same count and dtype) into this tensor, in place.
    public final func copyData(from source: Tensor) { Kernels.copy(source, into: self) }

    /// A new tensor with its own copy of the data (no autograd history).
    public final func clonedData() -> Tensor {
        let t = Tensor(uninitializedShape: shape, dtype: dtype, device: device)
        t.copyData(from: self)
        return t
    }

    /// A tensor viewing the same storage with another shape of the same element count
    /// (no autograd history; `reshaped` in Autograd records one).
    public final func viewData(_ newShape: [Int]) -> Tensor {
        let n = newShape.reduce(1, *)
        usageCheck(n == count, "view", "shape \(shapeString(newShape)) is invalid for input of size \(count)")
        return Tensor(storage: storage, shape: newShape, dtype: dtype, offset: storageOffset)
    }

    /// Whether two tensors view the same memory (used to check "no copy" paths).
    public final func sharesStorage(with other: Tensor) -> Bool {
        storage === other.storage && storageOffset == other.storageOffset
    }

    /// Whether this tensor views all of its storage and no other object holds a strong reference
    /// to that storage (no other tensor is a view of it), so that whoever holds the only reference
    /// to this tensor may keep its memory instead of copying it (autograd's leaf gradients).
    package final var isSoleViewOfStorage: Bool {
        guard storageOffset == 0, count * dtype.byteSize == storage.byteCount else { return false }
        // The storage is a `let` and cannot be passed to `isKnownUniquelyReferenced`; its strong
        // count is read instead. A temporary retain can only raise the count (a false "shared"),
        // never hide a holder: every other view keeps its own reference for as long as it lives.
        let object = UnsafeRawPointer(Unmanaged.passUnretained(storage).toOpaque())
        return withExtendedLifetime(self) { swiftRetainCount(object) == 1 }
    }
}

/// The Swift runtime's strong reference count of a heap object (what the standard library's
/// `_getRetainCount` calls), taken by address so that passing it adds no reference.
@_silgen_name("swift_retainCount")
private func swiftRetainCount(_ object: UnsafeRawPointer) -> Int
