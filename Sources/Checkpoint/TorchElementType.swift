import TensorCore

/// The element types a PyTorch checkpoint's storages can hold and how SwiftNN loads each one.
///
/// | file (storage class)              | loaded as |
/// |-----------------------------------|-----------|
/// | float32 (`FloatStorage`)          | float32   |
/// | float64 (`DoubleStorage`)         | float64   |
/// | float16 (`HalfStorage`), bfloat16 (`BFloat16Storage`) | float32 (exact widening) |
/// | int64 (`LongStorage`)             | int64     |
/// | int32, int16, int8 (`IntStorage`, `ShortStorage`, `CharStorage`), uint16, uint32 | int64 (exact widening) |
/// | uint8 (`ByteStorage`)             | uint8     |
/// | bool (`BoolStorage`)              | bool      |
///
/// Complex, quantized, float8 and uint64 storages are refused with a clear error. Written files use
/// the first, fifth, sixth and last rows (SwiftNN's own dtypes), so a round trip keeps every value.
enum TorchElementType: String, Sendable, CaseIterable {
    case float32, float64, float16, bfloat16, int64, int32, int16, int8, uint8, bool, uint16, uint32

    /// Bytes per element in the file.
    var byteSize: Int {
        switch self {
        case .float64, .int64: 8
        case .float32, .int32, .uint32: 4
        case .float16, .bfloat16, .int16, .uint16: 2
        case .int8, .uint8, .bool: 1
        }
    }

    /// The tensor dtype a value of this type is loaded as.
    var loadedDType: DType {
        switch self {
        case .float32, .float16, .bfloat16: .float32
        case .float64: .float64
        case .int64, .int32, .int16, .int8, .uint16, .uint32: .int64
        case .uint8: .uint8
        case .bool: .bool
        }
    }

    /// The legacy typed-storage class `torch.save` names for this type (`torch.FloatStorage`).
    /// uint16/uint32 have none: PyTorch writes them with `UntypedStorage` and `_rebuild_tensor_v3`.
    var storageClassName: String? {
        switch self {
        case .float32: "FloatStorage"
        case .float64: "DoubleStorage"
        case .float16: "HalfStorage"
        case .bfloat16: "BFloat16Storage"
        case .int64: "LongStorage"
        case .int32: "IntStorage"
        case .int16: "ShortStorage"
        case .int8: "CharStorage"
        case .uint8: "ByteStorage"
        case .bool: "BoolStorage"
        case .uint16, .uint32: nil
        }
    }

    /// The file type a tensor of `dtype` is written as.
    init(writing dtype: DType) {
        switch dtype {
        case .float32: self = .float32
        case .float64: self = .float64
        case .int64: self = .int64
        case .uint8: self = .uint8
        case .bool: self = .bool
        }
    }

    /// The type of a `torch.<Name>Storage` class, or nil.
    static func forStorageClass(_ name: String) -> TorchElementType? {
        allCases.first { $0.storageClassName == name }
    }

    /// Storage classes PyTorch has but SwiftNN refuses, with the reason.
    static func unsupportedStorageReason(_ name: String) -> String? {
        switch name {
        case "ComplexFloatStorage", "ComplexDoubleStorage", "ComplexHalfStorage": "complex tensors have no SwiftNN dtype"
        case "QInt8Storage", "QUInt8Storage", "QInt32Storage", "QUInt4x2Storage", "QUInt2x4Storage": "quantized tensors have no SwiftNN dtype"
        default: nil
        }
    }

    /// Every dtype name `torch` pickles as a GLOBAL (`torch.float32`); kept as a plain value.
    static let pickledDTypeNames: Set<String> = [
        "float32", "float64", "float16", "bfloat16", "complex32", "complex64", "complex128",
        "uint8", "int8", "int16", "int32", "int64", "bool", "uint16", "uint32", "uint64",
        "qint8", "quint8", "qint32", "quint4x2", "quint2x4",
        "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e8m0fnu", "float4_e2m1fn_x2",
        "bits1x8", "bits2x4", "bits4x2", "bits8", "bits16",
        "uint1", "uint2", "uint3", "uint4", "uint5", "uint6", "uint7",
        "int1", "int2", "int3", "int4", "int5", "int6", "int7",
    ]

    /// The element type of a pickled dtype name, when SwiftNN can load it.
    static func forDTypeName(_ name: String) -> TorchElementType? {
        TorchElementType(rawValue: name)
    }
}
