import CZlibLoader
import Foundation

/// gzip decompression through the system's shared zlib (loaded at run time: building needs no zlib
/// headers), bounded by what the compressed bytes can hold.
///
/// Nothing is sized from the gzip trailer (its 4-byte length is a hint anyone can forge): output
/// grows as data really arrives, never past ``maxExpansion`` times the compressed size (deflate's
/// own limit) or the caller's limit. Like Python's `gzip` module (what torchvision's MNIST reader
/// relies on), concatenated members are one stream, trailing NUL padding is ignored, and any other
/// bytes after the last member are an error rather than silently dropped.
///
/// ```swift
/// let bytes = try Gzip.readFile(URL(fileURLWithPath: "train-labels-idx1-ubyte.gz"))
/// ```
public enum Gzip {
    /// Deflate cannot expand data by more than 1032:1 (a 258-byte match costs at least 2 bits).
    public static let maxExpansion = 1032

    /// Whether `data` starts with the gzip magic `1f 8b`.
    public static func isGzip(_ data: Foundation.Data) -> Bool {
        data.count >= 2 && data[data.startIndex] == 0x1f && data[data.startIndex + 1] == 0x8b
    }

    /// Reads and inflates a `.gz` file.
    public static func readFile(_ url: URL, maxOutput: Int = .max) throws(DataError) -> Foundation.Data {
        try inflate(readFileBytes(url), path: url.path, maxOutput: maxOutput)
    }

    /// Inflates gzip data (all members of a multi-member stream). `path` only labels errors.
    /// zlib checks the CRC-32 and length trailer, so damaged data throws rather than yielding garbage;
    /// more than `maxOutput` bytes of output throw too.
    public static func inflate(_ input: Foundation.Data, path: String = "<data>", maxOutput: Int = .max) throws(DataError) -> Foundation.Data {
        let decoder = try GzipDecoder(input, path: path)
        let bound = min(maxOutput, decoder.maxOutput)
        var out = [UInt8](repeating: 0, count: min(bound, max(1 << 16, min(input.count, 1 << 26) * 4)))
        var produced = 0
        while true {
            if produced == out.count {
                guard out.count < bound else {
                    // One more byte tells "exactly the limit" from "more than the limit".
                    var probe: UInt8 = 0
                    if try decoder.read(&probe, 1) == 0 { break }
                    throw .corruptGzip(path: path, reason: "decompresses to more than \(bound) bytes")
                }
                out.append(contentsOf: repeatElement(0, count: min(out.count, bound - out.count)))
            }
            let n = try out.withUnsafeMutableBufferPointer { (buf) throws(DataError) -> Int in
                try decoder.read(buf.baseAddress! + produced, buf.count - produced)
            }
            if n == 0 { break }
            produced += n
        }
        out.removeSubrange(produced...)
        return Foundation.Data(out)
    }
}

/// A gzip stream read incrementally: each ``read(_:_:)`` fills a buffer with the next bytes, so a
/// reader that knows how much it needs (an IDX header's dimensions) allocates only that.
final class GzipDecoder {
    private let input: Foundation.Data
    private let path: String
    private var stream = swiftnn_z_stream()
    private var consumed = 0
    private(set) var finished = false
    private var produced = 0

    /// The most output `input` can produce (deflate's expansion limit, plus slack for tiny files).
    var maxOutput: Int {
        let (n, o) = input.count.multipliedReportingOverflow(by: Gzip.maxExpansion)
        return o ? .max : n + 1024
    }

    init(_ input: Foundation.Data, path: String) throws(DataError) {
        guard Gzip.isGzip(input) else { throw .corruptGzip(path: path, reason: "missing gzip magic 1f 8b") }
        self.input = input
        self.path = path
        // windowBits 15 + 16: gzip wrapper only.
        let rc = swiftnn_inflate_init2(&stream, 15 + 16)
        guard rc != SWIFTNN_Z_UNAVAILABLE else {
            throw .unreadable(path: path, reason: "reading gzip data needs the system's shared zlib, which could not be loaded: "
                              + String(cString: swiftnn_zlib_error()) + "; install zlib (Debian/Ubuntu: zlib1g) or set SWIFTNN_LIBZ to its path")
        }
        guard rc == SWIFTNN_Z_OK else { throw .corruptGzip(path: path, reason: "inflateInit failed (\(rc))") }
    }

    deinit { swiftnn_inflate_end(&stream) }

    /// Writes up to `count` next bytes to `out`; returns how many (0 only at the end of the data).
    func read(_ out: UnsafeMutablePointer<UInt8>, _ count: Int) throws(DataError) -> Int {
        var made = 0
        while made < count && !finished {
            let total = input.count
            let inRoom = min(total - consumed, Int(UInt32.max)), outRoom = min(count - made, Int(UInt32.max))
            let rc: Int32 = input.withUnsafeBytes { raw in
                stream.next_in = raw.baseAddress!.assumingMemoryBound(to: UInt8.self) + consumed
                stream.avail_in = UInt32(inRoom)
                stream.next_out = out + made
                stream.avail_out = UInt32(outRoom)
                return swiftnn_inflate(&stream, SWIFTNN_Z_NO_FLUSH)
            }
            let usedIn = inRoom - Int(stream.avail_in), madeOut = outRoom - Int(stream.avail_out)
            consumed += usedIn
            made += madeOut
            produced += madeOut
            switch rc {
            case SWIFTNN_Z_STREAM_END:
                try endOfMember()
            case SWIFTNN_Z_OK:
                // zlib reports Z_BUF_ERROR, not Z_OK, when it cannot progress; guard anyway.
                if usedIn == 0 && madeOut == 0 { throw .truncatedGzip(path: path) }
            case SWIFTNN_Z_BUF_ERROR:
                // No progress with output room left: the input ended inside a member.
                throw .truncatedGzip(path: path)
            case SWIFTNN_Z_DATA_ERROR:
                throw .corruptGzip(path: path, reason: stream.msg.map { String(cString: $0) } ?? "invalid deflate data")
            case SWIFTNN_Z_MEM_ERROR:
                throw .corruptGzip(path: path, reason: "out of memory")
            default:
                throw .corruptGzip(path: path, reason: stream.msg.map { String(cString: $0) } ?? "zlib error \(rc)")
            }
        }
        return made
    }

    /// After a member's trailer: another member, NUL padding (as Python's gzip accepts), or the end.
    private func endOfMember() throws(DataError) {
        let rest = input.count - consumed
        if rest == 0 { finished = true; return }
        let next = input[(input.startIndex + consumed)...]
        if rest >= 2, next.first == 0x1f, next.dropFirst().first == 0x8b {
            swiftnn_inflate_reset(&stream)
            return
        }
        if next.allSatisfy({ $0 == 0 }) { finished = true; return }
        throw .corruptGzip(path: path, reason: "\(rest) bytes of trailing garbage after the gzip data (at offset \(consumed))")
    }
}
