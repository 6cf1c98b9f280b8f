import Foundation

/// What is wrong with a weights file, or why reading or writing one failed: a safetensors file,
/// or (through ``torchFile(_:)``) a PyTorch `.pth` file read or written by
/// `StateDict(contentsOf:)` / `save(to:)`.
///
/// Checkpoints come from outside the program, so a bad file never traps: every reader entry point
/// throws one of these cases, and ``description`` says what is wrong in one line.
///
/// ```swift
/// do {
///     let sd = try StateDict(contentsOf: url)
/// } catch {
///     print(error)   // "safetensors: tensor 'fc.weight': data_offsets hold 12 bytes, but F32 [2, 2] needs 16"
/// }
/// ```
public enum SafetensorsError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file is shorter than the 8-byte header-length prefix.
    case truncatedPrefix(fileSize: Int)
    /// The header length in the prefix is larger than the rest of the file (`available` bytes), or
    /// larger than ``Safetensors/maxHeaderLength``.
    case headerLengthTooLarge(length: UInt64, available: Int)
    /// The header is empty or does not start with `{`.
    case headerNotObject
    /// The header is not valid JSON (UTF-8); `offset` is a byte position inside the header.
    case invalidJSON(offset: Int, reason: String)
    /// The header names the same key twice.
    case duplicateKey(String)
    /// `__metadata__` is not an object of string values.
    case invalidMetadata(String)
    /// A tensor entry is not an object with exactly `dtype`, `shape` and `data_offsets`, or a field has the wrong type.
    case invalidEntry(tensor: String, reason: String)
    /// A dtype this reader does not know.
    case unknownDType(tensor: String, dtype: String)
    /// A known dtype that needs an explicit request (F16/BF16 → float32 conversion).
    case unsupportedDType(tensor: String, dtype: String, hint: String)
    /// A negative dimension, or a shape whose element count overflows.
    case invalidShape(tensor: String, shape: String)
    /// `data_offsets` not of the form `[begin, end]` with `begin <= end`, or past the data buffer.
    case offsetsOutOfRange(tensor: String, begin: Int, end: Int, dataSize: Int)
    /// The byte span does not match dtype × shape.
    case sizeMismatch(tensor: String, dtype: String, shape: [Int], expectedBytes: Int, actualBytes: Int)
    /// Two tensors claim overlapping bytes.
    case overlappingTensors(String, String)
    /// Bytes of the data buffer no tensor covers (a gap before `tensor`, or trailing bytes after the last one).
    case uncoveredData(offset: Int, size: Int)
    /// A state dict key that cannot be written (e.g. `__metadata__`).
    case invalidKey(String)
    /// Reading or writing the file failed.
    case io(path: String, operation: String, message: String)
    /// The file is a PyTorch checkpoint (`torch.save` output) and that format's reader or writer
    /// refused it.
    case torchFile(TorchFileError)

    public var description: String {
        let body: String
        switch self {
        case .truncatedPrefix(let n):
            body = "file is \(n) bytes, shorter than the 8-byte header length prefix (truncated?)"
        case .headerLengthTooLarge(let len, _) where len > UInt64(Safetensors.maxHeaderLength):
            body = "header length \(len) exceeds the \(Safetensors.maxHeaderLength)-byte limit (corrupt or not a safetensors file)"
        case .headerLengthTooLarge(let len, let avail):
            body = "header length \(len) is larger than the \(avail) bytes available (truncated or not a safetensors file)"
        case .headerNotObject:
            body = "header is not a JSON object (it must start with '{')"
        case .invalidJSON(let off, let why):
            body = "header is not valid JSON at byte \(off): \(why)"
        case .duplicateKey(let k):
            body = "header has the key '\(k)' twice"
        case .invalidMetadata(let why):
            body = "__metadata__ \(why)"
        case .invalidEntry(let t, let why):
            body = "tensor '\(t)': \(why)"
        case .unknownDType(let t, let d):
            body = "tensor '\(t)': unknown dtype '\(d)'"
        case .unsupportedDType(let t, let d, let hint):
            body = "tensor '\(t)': dtype \(d) is not loaded by default; \(hint)"
        case .invalidShape(let t, let s):
            body = "tensor '\(t)': invalid shape \(s)"
        case .offsetsOutOfRange(let t, let b, let e, let n):
            body = "tensor '\(t)': data_offsets [\(b), \(e)] are out of range for a \(n)-byte data buffer"
        case .sizeMismatch(let t, let d, let shape, let want, let got):
            body = "tensor '\(t)': data_offsets hold \(got) bytes, but \(d) \(shapeText(shape)) needs \(want)"
        case .overlappingTensors(let a, let b):
            body = "tensors '\(a)' and '\(b)' overlap in the data buffer"
        case .uncoveredData(let off, let n):
            body = "\(n) bytes of the data buffer at offset \(off) belong to no tensor"
        case .invalidKey(let k):
            body = "cannot write a tensor named '\(k)'"
        case .io(let path, let op, let msg):
            body = "\(op) '\(path)' failed: \(msg)"
        case .torchFile(let e):
            return e.description
        }
        return "safetensors: " + body
    }
}

func shapeText(_ shape: [Int]) -> String {
    "[" + shape.map(String.init).joined(separator: ", ") + "]"
}
