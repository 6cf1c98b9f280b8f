import Foundation

/// What is wrong with a PyTorch checkpoint file (`torch.save` output: `.pth`, `.pt`, `.bin`), or why
/// reading or writing one failed.
///
/// The reader never runs anything a file names: a pickle that refers to a callable outside the
/// small set `torch.save` uses for tensors and containers is refused with
/// ``forbiddenGlobal(_:)``, as `torch.load(weights_only=True)` refuses it. Every malformed input
/// throws one of these cases; ``description`` says what is wrong in one line.
///
/// ```swift
/// do {
///     let sd = try StateDict(torchData: Data(contentsOf: url))
/// } catch {
///     print(error)   // "pytorch file: data.pkl at byte 2: GLOBAL 'os.system' is not allowed …"
/// }
/// ```
public enum TorchFileError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The bytes are neither a zip archive (`torch.save` since 1.6) nor a legacy pickle stream.
    case unrecognizedFormat(String)
    /// A format PyTorch itself no longer reads with `weights_only=True` (the pre-1.0 tar format,
    /// a TorchScript archive, …).
    case unsupportedFormat(String)
    /// The zip structure is broken: a header or directory out of range, entries overlapping …
    case invalidZip(String)
    /// A zip entry that is compressed or encrypted; `torch.save` stores every entry uncompressed.
    case unsupportedZipEntry(name: String, reason: String)
    /// A zip entry whose bytes do not match the CRC-32 in the central directory (a corrupt file).
    case checksumMismatch(name: String, stored: UInt32, computed: UInt32)
    /// A record the archive must hold (`data.pkl`, a tensor's `data/<key>`) is missing.
    case missingRecord(String)
    /// A record with contents this reader cannot accept (`byteorder`, storage sizes, …).
    case invalidRecord(name: String, reason: String)
    /// The pickle ended before its STOP opcode.
    case truncatedPickle(record: String, offset: Int)
    /// An opcode `torch.save` never writes (protocol 0/1 text opcodes, extension codes, out-of-band
    /// buffers) or an unknown byte.
    case unsupportedOpcode(record: String, offset: Int, opcode: UInt8)
    /// A GLOBAL naming a callable outside `torch.load(weights_only=True)`'s allowlist
    /// (`os.system`, `builtins.eval`, …). It is never looked up, let alone called.
    case forbiddenGlobal(record: String, offset: Int, name: String)
    /// A GLOBAL PyTorch allows but SwiftNN cannot represent (complex or quantized tensors, sparse
    /// layouts, …).
    case unsupportedGlobal(record: String, offset: Int, name: String, reason: String)
    /// The pickle is well-formed bytes but not a valid program: stack underflow, wrong argument
    /// types, an unknown memo index, a cyclic structure …
    case invalidPickle(record: String, offset: Int, reason: String)
    /// A safety limit was reached (nesting depth, key size, materialised view size).
    case limitExceeded(String)
    /// A tensor's storage type, dtype, view (offset, sizes, strides) or data is invalid.
    case invalidTensor(String)
    /// The file holds no state dict where one was asked for, or the choice is ambiguous; the
    /// message lists the top-level keys.
    case notAStateDict(String)
    /// Reading or writing the file failed.
    case io(path: String, operation: String, message: String)

    public var description: String {
        let body: String
        switch self {
        case .unrecognizedFormat(let why): body = "not a PyTorch checkpoint: \(why)"
        case .unsupportedFormat(let why): body = why
        case .invalidZip(let why): body = "broken zip archive: \(why)"
        case .unsupportedZipEntry(let name, let why): body = "zip entry '\(name)' \(why)"
        case .checksumMismatch(let name, let stored, let computed):
            body = "zip entry '\(name)' is corrupt: CRC-32 is \(hex(computed)), the archive says \(hex(stored))"
        case .missingRecord(let name): body = "the archive has no record '\(name)'"
        case .invalidRecord(let name, let why): body = "record '\(name)': \(why)"
        case .truncatedPickle(let record, let offset): body = "\(record) ends at byte \(offset) before the pickle's STOP (truncated?)"
        case .unsupportedOpcode(let record, let offset, let op):
            body = "\(record) at byte \(offset): pickle opcode \(opcodeName(op)) is not one torch.save writes"
        case .forbiddenGlobal(let record, let offset, let name):
            body = "\(record) at byte \(offset): GLOBAL '\(name)' is not allowed (only tensors and plain containers are loaded, as torch.load(weights_only=True) does; nothing in the file is executed)"
        case .unsupportedGlobal(let record, let offset, let name, let why):
            body = "\(record) at byte \(offset): '\(name)' is not supported: \(why)"
        case .invalidPickle(let record, let offset, let why): body = "\(record) at byte \(offset): \(why)"
        case .limitExceeded(let why): body = "safety limit: \(why)"
        case .invalidTensor(let why): body = why
        case .notAStateDict(let why): body = why
        case .io(let path, let op, let msg): body = "\(op) '\(path)' failed: \(msg)"
        }
        return "pytorch file: " + body
    }
}

private func hex(_ v: UInt32) -> String {
    let s = String(v, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, 8 - s.count)) + s
}

private func opcodeName(_ op: UInt8) -> String {
    let hexText = "0x" + (op < 16 ? "0" : "") + String(op, radix: 16)
    if op >= 0x21 && op < 0x7f { return "'\(Character(Unicode.Scalar(op)))' (\(hexText))" }
    return hexText
}
