import Foundation

/// An array read from an IDX file (the MNIST format): a shape and its row-major unsigned bytes.
///
/// The header is `00 00 <type> <ndims>` followed by `ndims` big-endian UInt32 sizes; only the
/// unsigned-byte type (0x08) that MNIST and Fashion-MNIST use is accepted.
///
/// ```swift
/// let labels = try IDXArray(contentsOf: URL(fileURLWithPath: "train-labels-idx1-ubyte.gz"))
/// labels.shape   // [60000]
/// ```
public struct IDXArray: Sendable, Equatable {
    public let shape: [Int]
    public let bytes: [UInt8]

    public init(shape: [Int], bytes: [UInt8]) {
        self.shape = shape
        self.bytes = bytes
    }

    /// Reads a raw or gzip-compressed IDX file (gzip is detected from the content, not the name).
    public init(contentsOf url: URL) throws(DataError) {
        var data = try readFileBytes(url)
        if Gzip.isGzip(data) { data = try Gzip.inflate(data, path: url.path) }
        try self.init(idxData: data, path: url.path)
    }

    /// Parses IDX bytes. `path` only labels errors.
    public init(idxData data: Foundation.Data, path: String = "<data>") throws(DataError) {
        let bytes = [UInt8](data)
        guard bytes.count >= 4 else {
            throw .badHeader(path: path, reason: "file has \(bytes.count) bytes, shorter than the 4-byte magic")
        }
        guard bytes[0] == 0, bytes[1] == 0 else {
            throw .badMagic(path: path, found: bytes[0..<4].map { String(format: "%02x", $0) }.joined(separator: " "))
        }
        let type = bytes[2], ndims = Int(bytes[3])
        let typeNames: [UInt8: String] = [0x09: "signed byte", 0x0B: "int16", 0x0C: "int32", 0x0D: "float32", 0x0E: "float64"]
        guard type == 0x08 else {
            if let name = typeNames[type] {
                throw .badHeader(path: path, reason: "element type \(name) (0x\(String(format: "%02x", type))) is not supported, only unsigned byte (0x08)")
            }
            throw .badMagic(path: path, found: bytes[0..<4].map { String(format: "%02x", $0) }.joined(separator: " "))
        }
        guard ndims >= 1 else { throw .badHeader(path: path, reason: "zero dimensions") }
        let headerSize = 4 + 4 * ndims
        guard bytes.count >= headerSize else {
            throw .badHeader(path: path, reason: "header declares \(ndims) dimensions but the file ends after \(bytes.count) bytes")
        }
        var shape: [Int] = []
        var total = 1
        for d in 0..<ndims {
            let o = 4 + 4 * d
            let size = Int(UInt32(bytes[o]) << 24 | UInt32(bytes[o + 1]) << 16 | UInt32(bytes[o + 2]) << 8 | UInt32(bytes[o + 3]))
            let (t, overflow) = total.multipliedReportingOverflow(by: size)
            guard !overflow, t <= 1 << 40 else { throw .badHeader(path: path, reason: "dimensions \(shape + [size]) are too large") }
            shape.append(size)
            total = t
        }
        let payload = bytes.count - headerSize
        guard payload == total else { throw .sizeMismatch(path: path, expected: total, actual: payload) }
        self.shape = shape
        self.bytes = Array(bytes[headerSize...])
    }

    /// Serialises to IDX bytes (unsigned-byte type); used by tests and tools that write data.
    public func idxData() -> Foundation.Data {
        var out: [UInt8] = [0, 0, 0x08, UInt8(shape.count)]
        for s in shape {
            let v = UInt32(s)
            out += [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)]
        }
        out += bytes
        return Foundation.Data(out)
    }
}
