import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What is wrong with a data file: every reader in the Data module throws this instead of trapping,
/// because files come from outside the program.
///
/// ```swift
/// do { _ = try MNIST(directory: URL(fileURLWithPath: "data"), train: true) }
/// catch { print(error) }   // "data/train-images-idx3-ubyte.gz: file not found"
/// ```
public enum DataError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The file (or none of the accepted alternatives) exists.
    case fileNotFound(path: String)
    /// The file exists but could not be read.
    case unreadable(path: String, reason: String)
    /// A gzip stream is damaged (bad header, bad deflate data, CRC or length mismatch).
    case corruptGzip(path: String, reason: String)
    /// A gzip stream ends before its end marker.
    case truncatedGzip(path: String)
    /// An IDX file does not start with the `00 00 type ndims` magic.
    case badMagic(path: String, found: String)
    /// An IDX header is inconsistent (unsupported element type, zero dimensions, short header).
    case badHeader(path: String, reason: String)
    /// The payload size differs from what the header's dimensions require.
    case sizeMismatch(path: String, expected: Int, actual: Int)
    /// The arrays read do not fit together (image vs label counts, image size).
    case inconsistent(reason: String)
    /// A label is outside the allowed class range.
    case labelOutOfRange(path: String, index: Int, label: Int, classes: Int)

    public var description: String {
        switch self {
        case .fileNotFound(let p): return "\(p): file not found"
        case .unreadable(let p, let r): return "\(p): cannot read file (\(r))"
        case .corruptGzip(let p, let r): return "\(p): corrupt gzip data (\(r))"
        case .truncatedGzip(let p): return "\(p): gzip data is truncated (unexpected end of file)"
        case .badMagic(let p, let f): return "\(p): not an IDX file (magic bytes \(f), expected 00 00 <type> <ndims>)"
        case .badHeader(let p, let r): return "\(p): bad IDX header (\(r))"
        case .sizeMismatch(let p, let e, let a):
            return "\(p): expected \(e) data bytes from the header, found \(a)\(a < e ? " (file truncated)" : " (trailing bytes)")"
        case .inconsistent(let r): return r
        case .labelOutOfRange(let p, let i, let l, let c): return "\(p): label \(l) at index \(i) is outside 0..<\(c)"
        }
    }
}

/// Reads a whole file, mapping missing and unreadable files to `DataError`.
func readFileBytes(_ url: URL) throws(DataError) -> Foundation.Data {
    let path = url.path
    var isDir: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw .fileNotFound(path: path) }
    if isDir.boolValue { throw .unreadable(path: path, reason: "is a directory") }
    // Only regular files: a device or pipe (/dev/zero, a FIFO) could feed bytes without end or
    // block forever, and Foundation would report it as a permission problem.
    var info = stat()
    if stat(path, &info) == 0, info.st_mode & S_IFMT != S_IFREG {
        throw .unreadable(path: path, reason: "not a regular file (a device, pipe or socket)")
    }
    do {
        return try Foundation.Data(contentsOf: url, options: .mappedIfSafe)
    } catch {
        throw .unreadable(path: path, reason: error.localizedDescription)
    }
}
