/// The element type of a ``Tensor``.
///
/// `float32` is the fast path every kernel is tuned for; `float64` is used for gradient checks and
/// references; `int64` holds labels and counters (`num_batches_tracked`); `uint8` and `bool` hold
/// raw images and masks.
public enum DType: String, Sendable, CaseIterable, CustomStringConvertible {
    case float32, float64, int64, uint8, bool

    /// Bytes per element.
    @inlinable public var byteSize: Int {
        switch self {
        case .float32: 4
        case .float64, .int64: 8
        case .uint8, .bool: 1
        }
    }

    /// Whether values of this type can carry gradients.
    @inlinable public var isFloatingPoint: Bool { self == .float32 || self == .float64 }

    /// PyTorch's spelling (`torch.float32`), used in messages.
    public var description: String { rawValue }
}

/// Element types a tensor can hold, mapped to their ``DType``.
public protocol TensorScalar: Sendable {
    static var dtype: DType { get }
}
extension Float: TensorScalar { @inlinable public static var dtype: DType { .float32 } }
extension Double: TensorScalar { @inlinable public static var dtype: DType { .float64 } }
extension Int64: TensorScalar { @inlinable public static var dtype: DType { .int64 } }
extension UInt8: TensorScalar { @inlinable public static var dtype: DType { .uint8 } }
extension Bool: TensorScalar { @inlinable public static var dtype: DType { .bool } }
