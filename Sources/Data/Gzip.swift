import CZlib
import Foundation

/// gzip decompression through the system zlib.
///
/// ```swift
/// let bytes = try Gzip.readFile(URL(fileURLWithPath: "train-labels-idx1-ubyte.gz"))
/// ```
public enum Gzip {
    /// Whether `data` starts with the gzip magic `1f 8b`.
    public static func isGzip(_ data: Foundation.Data) -> Bool {
        data.count >= 2 && data[data.startIndex] == 0x1f && data[data.startIndex + 1] == 0x8b
    }

    /// Reads and inflates a `.gz` file.
    public static func readFile(_ url: URL) throws(DataError) -> Foundation.Data {
        try inflate(readFileBytes(url), path: url.path)
    }

    /// Inflates gzip data (all members of a multi-member stream). `path` only labels errors.
    /// zlib checks the CRC-32 and length trailer, so damaged data throws rather than yielding garbage.
    public static func inflate(_ input: Foundation.Data, path: String = "<data>") throws(DataError) -> Foundation.Data {
        guard isGzip(input) else {
            throw .corruptGzip(path: path, reason: "missing gzip magic 1f 8b")
        }
        var result: Result<Foundation.Data, DataError> = .success(Foundation.Data())
        input.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            result = inflateBuffer(raw, path: path)
        }
        return try result.get()
    }

    private static func inflateBuffer(_ raw: UnsafeRawBufferPointer, path: String) -> Result<Foundation.Data, DataError> {
        var stream = z_stream()
        // windowBits 15 + 16: gzip wrapper only (the header is checked above).
        var rc = inflateInit2_(&stream, 15 + 16, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard rc == Z_OK else { return .failure(.corruptGzip(path: path, reason: "inflateInit failed (\(rc))")) }
        defer { inflateEnd(&stream) }

        let total = raw.count
        let base = raw.baseAddress!.assumingMemoryBound(to: UInt8.self)
        // The gzip trailer stores the length mod 2^32 of the last member: a good first guess.
        var capacity = max(total * 4, 1 << 16)
        if total >= 4 {
            let isize = Int(UInt32(raw[total - 4]) | UInt32(raw[total - 3]) << 8 | UInt32(raw[total - 2]) << 16 | UInt32(raw[total - 1]) << 24)
            if isize > 0 && isize < (1 << 31) { capacity = isize + 1 }
        }
        var out = [UInt8](repeating: 0, count: capacity)
        var produced = 0
        var consumed = 0
        while true {
            if produced == out.count { out.append(contentsOf: repeatElement(0, count: out.count)) }
            let remainingIn = min(total - consumed, Int(UInt32.max))
            stream.next_in = UnsafeMutablePointer(mutating: base + consumed)
            stream.avail_in = UInt32(remainingIn)
            let room = min(out.count - produced, Int(UInt32.max))
            rc = out.withUnsafeMutableBufferPointer { buf -> Int32 in
                stream.next_out = buf.baseAddress! + produced
                stream.avail_out = UInt32(room)
                return CZlib.inflate(&stream, Z_NO_FLUSH)
            }
            consumed += remainingIn - Int(stream.avail_in)
            produced += room - Int(stream.avail_out)
            switch rc {
            case Z_STREAM_END:
                // Another gzip member may follow (concatenated .gz files are valid gzip).
                if consumed < total, total - consumed >= 2, base[consumed] == 0x1f, base[consumed + 1] == 0x8b {
                    inflateReset(&stream)
                    continue
                }
                // Anything else after the last member is ignored, as gzip(1) does.
                out.removeSubrange(produced...)
                return .success(Foundation.Data(out))
            case Z_OK:
                continue
            case Z_BUF_ERROR:
                // No progress possible: either the output is full (grow, loop) or the input ended early.
                if stream.avail_out == 0 { continue }
                return .failure(.truncatedGzip(path: path))
            case Z_DATA_ERROR:
                let msg = stream.msg.map { String(cString: $0) } ?? "invalid deflate data"
                return .failure(.corruptGzip(path: path, reason: msg))
            case Z_MEM_ERROR:
                return .failure(.corruptGzip(path: path, reason: "out of memory"))
            default:
                let msg = stream.msg.map { String(cString: $0) } ?? "zlib error \(rc)"
                return .failure(.corruptGzip(path: path, reason: msg))
            }
        }
    }
}
