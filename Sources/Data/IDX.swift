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
        let data = try readFileBytes(url)
        if Gzip.isGzip(data) {
            try self.init(gzipData: data, path: url.path)
        } else {
            try self.init(idxData: data, path: url.path)
        }
    }

    /// Largest payload accepted (1 TiB): beyond any data set, and every size below fits in `Int`.
    static let maxPayload = 1 << 40

    /// Parses IDX bytes. `path` only labels errors.
    public init(idxData data: Foundation.Data, path: String = "<data>") throws(DataError) {
        let ndims = try IDXArray.dimensionCount(magic: [UInt8](data.prefix(4)), path: path)
        let headerSize = 4 + 4 * ndims
        guard data.count >= headerSize else {
            throw .badHeader(path: path, reason: "header declares \(ndims) dimensions but the file ends after \(data.count) bytes")
        }
        let (shape, total) = try IDXArray.shape([UInt8](data.dropFirst(4).prefix(4 * ndims)), path: path)
        let payload = data.count - headerSize
        guard payload == total else { throw .sizeMismatch(path: path, expected: total, actual: payload) }
        self.shape = shape
        self.bytes = [UInt8](data.dropFirst(headerSize))
    }

    /// Parses gzip-compressed IDX bytes as a stream: the header is inflated first, and the payload
    /// buffer grows only as far as the header's dimensions and the compressed size allow, as bytes
    /// really arrive — a small file claiming gigabytes is refused or runs out of data early, without
    /// the allocation. Bytes after the payload are an error, as for a raw file.
    public init(gzipData data: Foundation.Data, path: String = "<data>") throws(DataError) {
        let decoder = try GzipDecoder(data, path: path)
        func next(_ n: Int) throws(DataError) -> [UInt8] {
            var buf = [UInt8](repeating: 0, count: n)
            let got = try buf.withUnsafeMutableBufferPointer { (b) throws(DataError) -> Int in
                var done = 0
                while done < n {
                    let k = try decoder.read(b.baseAddress! + done, n - done)
                    if k == 0 { break }
                    done += k
                }
                return done
            }
            return Array(buf.prefix(got))
        }
        let magic = try next(4)
        let ndims = try IDXArray.dimensionCount(magic: magic, path: path)
        let dims = try next(4 * ndims)
        guard dims.count == 4 * ndims else {
            throw .badHeader(path: path, reason: "header declares \(ndims) dimensions but the file ends after \(4 + dims.count) bytes")
        }
        let (shape, total) = try IDXArray.shape(dims, path: path)
        let headerSize = 4 + 4 * ndims
        guard total <= decoder.maxOutput - headerSize else {
            throw .badHeader(path: path, reason: "dimensions \(shape) need \(total) bytes, more than the \(data.count)-byte gzip file can hold")
        }
        var bytes: [UInt8] = []
        while bytes.count < total {
            // Grow geometrically as data arrives; never past what the header declares.
            let chunk = try next(min(total - bytes.count, max(1 << 20, bytes.count)))
            bytes += chunk
            if chunk.isEmpty { break }
        }
        guard bytes.count == total else { throw .sizeMismatch(path: path, expected: total, actual: bytes.count) }
        // Count what follows (bounded by the compressed size, in a fixed scratch buffer).
        var extra = 0
        var scratch = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let k = try scratch.withUnsafeMutableBufferPointer { (b) throws(DataError) -> Int in try decoder.read(b.baseAddress!, b.count) }
            if k == 0 { break }
            extra += k
        }
        guard extra == 0 else { throw .sizeMismatch(path: path, expected: total, actual: total + extra) }
        self.shape = shape
        self.bytes = bytes
    }

    /// Checks the `00 00 <type> <ndims>` magic and returns `ndims`.
    static func dimensionCount(magic bytes: [UInt8], path: String) throws(DataError) -> Int {
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
        return ndims
    }

    /// The big-endian UInt32 sizes and their product (at most ``maxPayload``).
    static func shape(_ bytes: [UInt8], path: String) throws(DataError) -> (shape: [Int], total: Int) {
        var shape: [Int] = []
        var total = 1
        for d in 0..<(bytes.count / 4) {
            let o = 4 * d
            let size = Int(UInt32(bytes[o]) << 24 | UInt32(bytes[o + 1]) << 16 | UInt32(bytes[o + 2]) << 8 | UInt32(bytes[o + 3]))
            let (t, overflow) = total.multipliedReportingOverflow(by: size)
            guard !overflow, t <= maxPayload else { throw .badHeader(path: path, reason: "dimensions \(shape + [size]) are too large") }
            shape.append(size)
            total = t
        }
        return (shape, total)
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
