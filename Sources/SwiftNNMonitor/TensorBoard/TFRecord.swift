/// TFRecord framing, the container of TensorBoard event files: each record is
///
///     uint64 length | uint32 masked CRC-32C of the length bytes | data | uint32 masked CRC-32C of data
///
/// all little-endian.
enum TFRecord {
    /// The framed bytes of one record.
    static func frame(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(data.count + 16)
        let header = withUnsafeBytes(of: UInt64(data.count).littleEndian) { Array($0) }
        out += header
        withUnsafeBytes(of: CRC32C.masked(header).littleEndian) { out += $0 }
        out += data
        withUnsafeBytes(of: CRC32C.masked(data).littleEndian) { out += $0 }
        return out
    }

    /// A record that does not frame correctly.
    struct FramingError: Error, Equatable, CustomStringConvertible {
        var offset: Int
        var reason: String
        var description: String { "TFRecord at byte \(offset): \(reason)" }
    }

    /// Splits `bytes` into records, checking both CRCs of each (what TensorBoard's reader does).
    static func records(_ bytes: [UInt8]) throws(FramingError) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var i = 0
        func u32(_ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(bytes[at + $1]) << (8 * $1) } }
        while i < bytes.count {
            guard bytes.count - i >= 12 else { throw FramingError(offset: i, reason: "truncated header") }
            let header = Array(bytes[i..<(i + 8)])
            let length = (0..<8).reduce(UInt64(0)) { $0 | UInt64(header[$1]) << (8 * $1) }
            guard u32(i + 8) == CRC32C.masked(header) else { throw FramingError(offset: i, reason: "length CRC mismatch") }
            guard length <= UInt64(bytes.count - i - 16) else { throw FramingError(offset: i, reason: "truncated data (\(length) bytes announced)") }
            let start = i + 12, end = start + Int(length)
            let data = Array(bytes[start..<end])
            guard u32(end) == CRC32C.masked(data) else { throw FramingError(offset: i, reason: "data CRC mismatch") }
            out.append(data)
            i = end + 4
        }
        return out
    }
}
