import Foundation
import TensorCore
import NN

/// Element types that appear in safetensors files, by the format's own names.
///
/// SwiftNN reads F32, F64, I64, U8 and BOOL as they are, I32 widened to int64, and F16/BF16
/// widened to float32 when asked to (`convertingHalfPrecision: true`). It writes F32, F64, I64, U8, BOOL.
public enum SafetensorsDType: String, Sendable, CaseIterable {
    case F64, F32, F16, BF16, I64, I32, U8, BOOL

    /// Bytes per element in the file.
    public var byteSize: Int {
        switch self {
        case .F64, .I64: 8
        case .F32, .I32: 4
        case .F16, .BF16: 2
        case .U8, .BOOL: 1
        }
    }

    /// The tensor dtype a value of this type is loaded as.
    public var loadedDType: DType {
        switch self {
        case .F64: .float64
        case .F32, .F16, .BF16: .float32
        case .I64, .I32: .int64
        case .U8: .uint8
        case .BOOL: .bool
        }
    }

    /// The file dtype a tensor of `dtype` is written as.
    public init(writing dtype: DType) {
        switch dtype {
        case .float32: self = .F32
        case .float64: self = .F64
        case .int64: self = .I64
        case .uint8: self = .U8
        case .bool: self = .BOOL
        }
    }

    /// Other dtype names of the format, recognised so the error can say "not supported" rather than "unknown".
    static let otherFormatNames: Set<String> = ["I8", "I16", "U16", "U32", "U64", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F4", "F6_E2M3", "F6_E3M2", "C64"]
}

/// The parsed header of a safetensors file: its tensors in file order and its `__metadata__`.
///
/// ```swift
/// let header = try Safetensors.header(of: Data(contentsOf: url))
/// header.entries.map(\.name)        // file order
/// header.metadata["case"]
/// ```
public struct SafetensorsHeader: Sendable {
    /// One tensor's description.
    public struct Entry: Sendable, Equatable {
        public var name: String
        public var dtype: SafetensorsDType
        public var shape: [Int]
        /// Byte range inside the data buffer (which starts right after the header).
        public var dataOffsets: Range<Int>
    }
    /// Tensors in the order the header lists them.
    public var entries: [Entry]
    /// `__metadata__` (empty when absent).
    public var metadata: [String: String]
    /// Byte offset of the data buffer in the file: 8 + header length.
    public var dataStart: Int
}

/// Reading and writing the safetensors format (https://github.com/huggingface/safetensors):
/// an 8-byte little-endian header length N, N bytes of JSON header (`{"name": {"dtype": "F32",
/// "shape": [2, 3], "data_offsets": [begin, end]}, …, "__metadata__": {"key": "value"}}`, padded
/// with spaces), then the raw little-endian tensor bytes.
///
/// Every malformed input throws a ``SafetensorsError``; nothing is allocated before the header
/// has been checked against the file's size.
///
/// ```swift
/// let data = try sd.safetensorsData()
/// let back = try StateDict(safetensorsData: data)
/// ```
public enum Safetensors {
    /// Headers longer than this are refused (the reference implementation's limit).
    public static let maxHeaderLength = 100_000_000

    /// Parses and validates the header of a complete safetensors buffer: every tensor's dtype,
    /// shape and offsets, and that the tensors tile the data buffer exactly.
    public static func header(of data: Data) throws(SafetensorsError) -> SafetensorsHeader {
        let fileSize = data.count
        guard fileSize >= 8 else { throw .truncatedPrefix(fileSize: fileSize) }
        let n: UInt64 = data.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        let available = fileSize - 8
        guard n <= UInt64(maxHeaderLength), n <= UInt64(available) else {
            throw .headerLengthTooLarge(length: n, available: available)
        }
        let headerLength = Int(n)
        let headerBytes: [UInt8] = data.withUnsafeBytes { Array($0[8..<(8 + headerLength)]) }
        guard headerBytes.first == UInt8(ascii: "{") else { throw .headerNotObject }
        guard case .object(let keys, let values) = try HeaderJSONParser.parse(headerBytes) else { throw .headerNotObject }

        let dataStart = 8 + headerLength
        let dataSize = fileSize - dataStart
        var entries: [SafetensorsHeader.Entry] = []
        var metadata: [String: String] = [:]
        entries.reserveCapacity(keys.count)
        for (key, value) in zip(keys, values) {
            if key == "__metadata__" {
                metadata = try parseMetadata(value)
            } else {
                entries.append(try parseEntry(key, value, dataSize: dataSize))
            }
        }
        try checkCoverage(entries, dataSize: dataSize)
        return SafetensorsHeader(entries: entries, metadata: metadata, dataStart: dataStart)
    }

    private static func parseMetadata(_ value: HeaderJSON) throws(SafetensorsError) -> [String: String] {
        if case .null = value { return [:] }
        guard case .object(let keys, let values) = value else { throw .invalidMetadata("must be an object of strings, found \(value.kind)") }
        var out: [String: String] = [:]
        for (k, v) in zip(keys, values) {
            guard case .string(let s) = v else { throw .invalidMetadata("value of '\(k)' must be a string, found \(v.kind)") }
            out[k] = s
        }
        return out
    }

    private static func parseEntry(_ name: String, _ value: HeaderJSON, dataSize: Int) throws(SafetensorsError) -> SafetensorsHeader.Entry {
        guard case .object(let fieldNames, let fieldValues) = value else { throw .invalidEntry(tensor: name, reason: "must be an object, found \(value.kind)") }
        func field(_ f: String) throws(SafetensorsError) -> HeaderJSON {
            guard let j = fieldNames.firstIndex(of: f), case let v = fieldValues[j] else { throw .invalidEntry(tensor: name, reason: "missing '\(f)'") }
            return v
        }
        // dtype
        guard case .string(let dtypeName) = try field("dtype") else {
            throw .invalidEntry(tensor: name, reason: "'dtype' must be a string")
        }
        guard let dtype = SafetensorsDType(rawValue: dtypeName) else {
            if SafetensorsDType.otherFormatNames.contains(dtypeName) {
                throw .unsupportedDType(tensor: name, dtype: dtypeName, hint: "SwiftNN reads F32, F64, F16, BF16, I64, I32, U8 and BOOL")
            }
            throw .unknownDType(tensor: name, dtype: dtypeName)
        }
        // shape
        guard case .array(let dims) = try field("shape") else { throw .invalidEntry(tensor: name, reason: "'shape' must be an array") }
        var shape: [Int] = []
        shape.reserveCapacity(dims.count)
        var elements = 1
        for d in dims {
            switch d {
            case .integer(let v) where v >= 0:
                shape.append(v)
                // Every prefix product must fit, as in the reference reader (a checked fold over the
                // shape): `[2^32, 2^32, 0]` is refused although it holds no element, because the
                // running product — what `Tensor` computes for its element count — overflows first.
                let (p, o) = elements.multipliedReportingOverflow(by: v)
                if o { throw .invalidShape(tensor: name, shape: describe(dims)) }
                elements = p
            case .integer, .number:
                throw .invalidShape(tensor: name, shape: describe(dims))
            default:
                throw .invalidEntry(tensor: name, reason: "'shape' must hold integers, found \(d.kind)")
            }
        }
        let (bytes, o2) = elements.multipliedReportingOverflow(by: dtype.byteSize)
        if o2 { throw .invalidShape(tensor: name, shape: describe(dims)) }
        // offsets
        guard case .array(let offs) = try field("data_offsets") else {
            throw .invalidEntry(tensor: name, reason: "'data_offsets' must be an array [begin, end]")
        }
        guard offs.count == 2 else { throw .invalidEntry(tensor: name, reason: "'data_offsets' must have 2 elements, found \(offs.count)") }
        func offset(_ v: HeaderJSON) throws(SafetensorsError) -> Int {
            switch v {
            case .integer(let x): return x
            case .number: return -1  // out of Int range or fractional: reported as out of range below
            default: throw .invalidEntry(tensor: name, reason: "'data_offsets' must hold integers, found \(v.kind)")
            }
        }
        let begin = try offset(offs[0]), end = try offset(offs[1])
        guard begin >= 0, end >= begin, end <= dataSize else {
            throw .offsetsOutOfRange(tensor: name, begin: begin, end: end, dataSize: dataSize)
        }
        let expected = bytes
        guard end - begin == expected else {
            throw .sizeMismatch(tensor: name, dtype: dtypeName, shape: shape, expectedBytes: expected, actualBytes: end - begin)
        }
        return .init(name: name, dtype: dtype, shape: shape, dataOffsets: begin..<end)
    }

    private static func describe(_ dims: [HeaderJSON]) -> String {
        "[" + dims.map { d -> String in
            switch d {
            case .integer(let v): String(v)
            case .number(let s): s
            default: d.kind
            }
        }.joined(separator: ", ") + "]"
    }

    /// The tensors must tile the data buffer: no overlap, no gap, nothing left over.
    private static func checkCoverage(_ entries: [SafetensorsHeader.Entry], dataSize: Int) throws(SafetensorsError) {
        let sorted = entries.sorted {
            ($0.dataOffsets.lowerBound, $0.dataOffsets.upperBound) < ($1.dataOffsets.lowerBound, $1.dataOffsets.upperBound)
        }
        var position = 0
        var last: String?
        for e in sorted {
            let r = e.dataOffsets
            if r.lowerBound < position { throw .overlappingTensors(last ?? e.name, e.name) }
            if r.lowerBound > position { throw .uncoveredData(offset: position, size: r.lowerBound - position) }
            if !r.isEmpty { last = e.name }
            position = r.upperBound
        }
        if position != dataSize { throw .uncoveredData(offset: position, size: dataSize - position) }
    }

    /// Decodes a whole safetensors buffer into a state dict, in the header's order.
    ///
    /// - Parameter convertingHalfPrecision: load F16/BF16 tensors as float32 (otherwise they throw
    ///   ``SafetensorsError/unsupportedDType(tensor:dtype:hint:)``).
    public static func decode(_ data: Data, convertingHalfPrecision: Bool = false) throws(SafetensorsError) -> StateDict {
        let header = try header(of: data)
        if !convertingHalfPrecision, let e = header.entries.first(where: { $0.dtype == .F16 || $0.dtype == .BF16 }) {
            throw .unsupportedDType(tensor: e.name, dtype: e.dtype.rawValue,
                                    hint: "load with convertingHalfPrecision: true to widen it to float32")
        }
        var sd = StateDict()
        sd.metadata = header.metadata
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let base = raw.baseAddress! + header.dataStart
            for e in header.entries {
                sd[e.name] = makeTensor(e, from: base + e.dataOffsets.lowerBound)
            }
        }
        return sd
    }

    private static func makeTensor(_ e: SafetensorsHeader.Entry, from src: UnsafeRawPointer) -> Tensor {
        let t = Tensor(uninitializedShape: e.shape, dtype: e.dtype.loadedDType)
        let n = t.count
        guard n > 0 else { return t }
        let dst = t.rawPointer
        switch e.dtype {
        case .F32, .F64, .I64, .U8:
            dst.copyMemory(from: src, byteCount: n * e.dtype.byteSize)
        case .BOOL:
            // Any nonzero byte is true; a Swift Bool must hold exactly 0 or 1.
            let d = dst.assumingMemoryBound(to: UInt8.self)
            let s = src.assumingMemoryBound(to: UInt8.self)
            for i in 0..<n { d[i] = s[i] == 0 ? 0 : 1 }
        case .I32:
            let d = dst.assumingMemoryBound(to: Int64.self)
            for i in 0..<n { d[i] = Int64(Int32(littleEndian: src.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self))) }
        case .F16:
            let d = dst.assumingMemoryBound(to: Float.self)
            for i in 0..<n { d[i] = floatFromHalfBits(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
        case .BF16:
            let d = dst.assumingMemoryBound(to: Float.self)
            for i in 0..<n {
                let b = UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                d[i] = Float(bitPattern: UInt32(b) << 16)
            }
        }
        return t
    }

    /// IEEE 754 binary16 → binary32, exact for every input (subnormals, ±inf, NaN payloads kept).
    public static func floatFromHalfBits(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = Int((h >> 10) & 0x1F)
        var mantissa = UInt32(h & 0x03FF)
        if exponent == 0x1F { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) }
        if exponent == 0 {
            if mantissa == 0 { return Float(bitPattern: sign) }
            // Subnormal: normalise the mantissa.
            var e = -14
            while mantissa & 0x0400 == 0 { mantissa <<= 1; e -= 1 }
            mantissa &= 0x03FF
            return Float(bitPattern: sign | (UInt32(e + 127) << 23) | (mantissa << 13))
        }
        return Float(bitPattern: sign | (UInt32(exponent - 15 + 127) << 23) | (mantissa << 13))
    }

    /// The header bytes for `stateDict` (JSON padded with spaces to a multiple of 8 bytes), laid out
    /// as the reference writer does: `__metadata__` first, then the tensors in state-dict order.
    static func encodeHeader(_ stateDict: StateDict) throws(SafetensorsError) -> [UInt8] {
        var json = "{"
        var first = true
        if !stateDict.metadata.isEmpty {
            json += "\"__metadata__\":{"
            json += stateDict.metadata.keys.sorted().map { jsonString($0) + ":" + jsonString(stateDict.metadata[$0]!) }.joined(separator: ",")
            json += "}"
            first = false
        }
        var offset = 0
        for (name, t) in stateDict {
            if name == "__metadata__" { throw .invalidKey(name) }
            let bytes = t.count * t.dtype.byteSize
            if !first { json += "," }
            first = false
            json += jsonString(name) + ":{\"dtype\":\"" + SafetensorsDType(writing: t.dtype).rawValue + "\",\"shape\":["
            json += t.shape.map(String.init).joined(separator: ",")
            json += "],\"data_offsets\":[\(offset),\(offset + bytes)]}"
            offset += bytes
        }
        json += "}"
        var out = Array(json.utf8)
        out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: (8 - out.count % 8) % 8))
        return out
    }

    /// JSON string literal, escaped as serde_json does (quotes, backslash, control characters).
    static func jsonString(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if u.value < 0x20 {
                    let hex = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }

    /// The complete file contents for `stateDict`.
    public static func encode(_ stateDict: StateDict) throws(SafetensorsError) -> Data {
        let header = try encodeHeader(stateDict)
        var data = Data(capacity: 8 + header.count + stateDict.reduce(0) { $0 + $1.value.count * $1.value.dtype.byteSize })
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(contentsOf: header)
        for (_, t) in stateDict {
            withExtendedLifetime(t) {
                data.append(UnsafeRawBufferPointer(start: t.rawPointer, count: t.count * t.dtype.byteSize).bindMemory(to: UInt8.self))
            }
        }
        return data
    }

    /// Writes `stateDict` to `url` atomically (see ``AtomicFile``): readers see either the old
    /// file or the complete new one, never a partial write.
    static func write(_ stateDict: StateDict, to url: URL, failure: AtomicFile.Stage? = nil) throws(SafetensorsError) {
        let header = try encodeHeader(stateDict)
        try AtomicFile.write(to: url, failure: failure) { (sink: inout AtomicFile.Sink) throws(SafetensorsError) in
            var prefix = UInt64(header.count).littleEndian
            try withUnsafeBytes(of: &prefix) { (p) throws(SafetensorsError) in try sink.write(p) }
            try sink.write(header)
            for (_, t) in stateDict {
                try withExtendedLifetime(t) { () throws(SafetensorsError) in
                    try sink.write(UnsafeRawBufferPointer(start: t.rawPointer, count: t.count * t.dtype.byteSize))
                }
            }
        }
    }

    static func read(_ url: URL) throws(SafetensorsError) -> Data {
        // Only regular files: a device or pipe (/dev/zero, a FIFO) could feed bytes without end.
        var info = stat()
        if stat(url.path, &info) == 0 {
            let kind = info.st_mode & S_IFMT
            if kind == S_IFDIR { throw .io(path: url.path, operation: "reading", message: "is a directory") }
            if kind != S_IFREG { throw .io(path: url.path, operation: "reading", message: "not a regular file") }
        }
        do {
            return try Data(contentsOf: url, options: [.mappedIfSafe])
        } catch {
            throw .io(path: url.path, operation: "reading", message: ioMessage(error))
        }
    }

    static func ioMessage(_ error: any Error) -> String {
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain,
           let s = strerror(Int32(underlying.code)) {
            return String(cString: s)
        }
        return ns.localizedDescription
    }
}

extension StateDict {
    /// Decodes the bytes of a safetensors file.
    ///
    /// ```swift
    /// let back = try StateDict(safetensorsData: sd.safetensorsData())
    /// ```
    public init(safetensorsData data: Data, convertingHalfPrecision: Bool = false) throws(SafetensorsError) {
        self = try Safetensors.decode(data, convertingHalfPrecision: convertingHalfPrecision)
    }

    /// The bytes of this state dict as a safetensors file: `metadata` in `__metadata__`, tensors in order.
    ///
    /// ```swift
    /// let data = try model.stateDict().safetensorsData()
    /// ```
    public func safetensorsData() throws(SafetensorsError) -> Data {
        try Safetensors.encode(self)
    }
}
