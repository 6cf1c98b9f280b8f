/// The few protocol-buffer wire-format rules that TensorBoard's `Event`, `Summary` and
/// `HistogramProto` messages need, written by hand so the writer has no dependency.
///
/// Fields must be appended in field-number order to produce the same bytes as the reference
/// implementation (which serializes by field number); proto3 leaves fields holding their default
/// value out, except members of a `oneof`, which callers write unconditionally.
struct ProtobufEncoder {
    private(set) var bytes: [UInt8] = []

    private enum WireType: UInt64 {
        case varint = 0, fixed64 = 1, lengthDelimited = 2, fixed32 = 5
    }

    private mutating func tag(_ field: Int, _ type: WireType) {
        varint(UInt64(field) << 3 | type.rawValue)
    }

    private mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    private mutating func littleEndian<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// A `double` field (omitted when its bits are zero, as proto3 does; -0.0 is kept).
    mutating func double(_ field: Int, _ value: Double, always: Bool = false) {
        guard always || value.bitPattern != 0 else { return }
        tag(field, .fixed64)
        littleEndian(value.bitPattern)
    }

    /// A `float` field.
    mutating func float(_ field: Int, _ value: Float, always: Bool = false) {
        guard always || value.bitPattern != 0 else { return }
        tag(field, .fixed32)
        littleEndian(value.bitPattern)
    }

    /// An `int64` field (negative values take ten bytes, as two's complement).
    mutating func int64(_ field: Int, _ value: Int64, always: Bool = false) {
        guard always || value != 0 else { return }
        tag(field, .varint)
        varint(UInt64(bitPattern: value))
    }

    /// A `string` field.
    mutating func string(_ field: Int, _ value: String, always: Bool = false) {
        guard always || !value.isEmpty else { return }
        lengthDelimited(field, Array(value.utf8))
    }

    /// An embedded message or `bytes` field.
    mutating func lengthDelimited(_ field: Int, _ payload: [UInt8]) {
        tag(field, .lengthDelimited)
        varint(UInt64(payload.count))
        bytes.append(contentsOf: payload)
    }

    /// A `repeated double` field, packed (proto3's default); omitted when empty.
    mutating func packedDoubles(_ field: Int, _ values: [Double]) {
        guard !values.isEmpty else { return }
        tag(field, .lengthDelimited)
        varint(UInt64(values.count * 8))
        for v in values { littleEndian(v.bitPattern) }
    }
}
