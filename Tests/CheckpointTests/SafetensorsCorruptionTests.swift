import Foundation
import Testing
@testable import Checkpoint
import TensorCore
import NN
import TestSupport

/// The error case a corrupted file must produce, without the details.
enum ErrorKind: String, CaseIterable {
    case truncatedPrefix, headerLengthTooLarge, headerNotObject, invalidJSON, duplicateKey, invalidMetadata
    case invalidEntry, unknownDType, unsupportedDType, invalidShape, offsetsOutOfRange, sizeMismatch
    case overlappingTensors, uncoveredData

    init?(_ e: SafetensorsError) {
        switch e {
        case .truncatedPrefix: self = .truncatedPrefix
        case .headerLengthTooLarge: self = .headerLengthTooLarge
        case .headerNotObject: self = .headerNotObject
        case .invalidJSON: self = .invalidJSON
        case .duplicateKey: self = .duplicateKey
        case .invalidMetadata: self = .invalidMetadata
        case .invalidEntry: self = .invalidEntry
        case .unknownDType: self = .unknownDType
        case .unsupportedDType: self = .unsupportedDType
        case .invalidShape: self = .invalidShape
        case .offsetsOutOfRange: self = .offsetsOutOfRange
        case .sizeMismatch: self = .sizeMismatch
        case .overlappingTensors: self = .overlappingTensors
        case .uncoveredData: self = .uncoveredData
        case .invalidKey, .io, .torchFile: return nil
        }
    }
}

struct Corruption: CustomStringConvertible, Sendable {
    let name: String
    let bytes: Data
    let expected: ErrorKind
    var description: String { name }
}

/// A corpus of malformed files, each with the error it must raise.
enum CorruptionCorpus {
    /// A valid file: three tensors (F32 [2, 3], I64 [2], BOOL [3]) and metadata.
    static let validData: Data = {
        var sd = StateDict()
        sd["w"] = Tensor([1, 2, 3, 4, 5, 6] as [Float], shape: [2, 3])
        sd["n"] = Tensor([7, -8] as [Int64], shape: [2])
        sd["m"] = Tensor([true, false, true], shape: [3])
        sd.metadata = ["case": "{\"a\": 1}"]
        return try! sd.safetensorsData()
    }()
    static var headerLength: Int { validData.withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) } }
    static var dataStart: Int { 8 + headerLength }
    static var validHeader: String { String(decoding: validData[8..<dataStart], as: UTF8.self) }
    /// 24 + 16 + 3 bytes.
    static var dataBytes: [UInt8] { Array(validData[dataStart...]) }

    /// A file whose header is `header` with the valid data buffer (or `data`).
    static func file(_ header: String, data: [UInt8]? = nil, pad: Bool = true) -> Data {
        safetensorsFile(header: header, data: data ?? dataBytes, pad: pad)
    }

    /// The valid header with `a` replaced by `b` (which must occur).
    static func edited(_ a: String, _ b: String) -> Data {
        precondition(validHeader.contains(a), "corpus edit '\(a)' not in header \(validHeader)")
        return file(validHeader.replacingOccurrences(of: a, with: b))
    }

    static func f32(_ name: String, shape: String, _ begin: Int, _ end: Int, dtype: String = "F32") -> String {
        "\"\(name)\":{\"dtype\":\"\(dtype)\",\"shape\":\(shape),\"data_offsets\":[\(begin),\(end)]}"
    }

    static let all: [Corruption] = {
        var c: [Corruption] = []
        func add(_ name: String, _ bytes: Data, _ kind: ErrorKind) { c.append(Corruption(name: name, bytes: bytes, expected: kind)) }
        let valid = validData
        let total = valid.count

        // Truncations at many offsets: inside the prefix, inside the header, inside the data.
        for cut in [0, 1, 4, 7] { add("truncated to \(cut) bytes", valid.prefix(cut), .truncatedPrefix) }
        for cut in [8, 9, 20, dataStart / 2, dataStart - 1] { add("truncated inside the header at \(cut)", valid.prefix(cut), .headerLengthTooLarge) }
        for cut in [dataStart, dataStart + 1, dataStart + 16, dataStart + 24, total - 3, total - 1] {
            add("truncated inside the data at \(cut)", valid.prefix(cut), .offsetsOutOfRange)
        }
        // Extra bytes after the last tensor.
        add("trailing garbage", valid + Data([1, 2, 3]), .uncoveredData)

        // Absurd header lengths.
        for len: UInt64 in [UInt64.max, 1 << 63, 1 << 40, UInt64(Safetensors.maxHeaderLength) + 1, UInt64(total)] {
            add("header length \(len)", safetensorsFile(headerBytes: Array(valid[8...]), data: [], length: len), .headerLengthTooLarge)
        }
        add("header length 0", safetensorsFile(headerBytes: Array(valid[8...]), data: [], length: 0), .headerNotObject)
        add("header length too short by 5", safetensorsFile(headerBytes: Array(valid[8...]), data: [], length: UInt64(headerLength - 5)), .invalidJSON)
        add("header length cut after the first brace", safetensorsFile(headerBytes: Array(valid[8...]), data: [], length: 1), .invalidJSON)

        // Flipped header bytes at known places.
        var flipped = Array(valid)
        flipped[8] ^= 0x01  // '{' → 'z'
        add("flipped first header byte", Data(flipped), .headerNotObject)
        for (needle, replacement, kind) in [
            ("\"dtype\":\"F32\"", "\"dtype\":\"G32\"", ErrorKind.unknownDType),
            ("\"dtype\":\"I64\"", "\"dtype\":\"I65\"", .unknownDType),
            ("\"shape\":[2,3]", "\"shape\":[2,2]", .sizeMismatch),
            ("\"shape\":[2,3]", "\"shape\":[3,3]", .sizeMismatch),
            ("\"shape\":[2]", "\"shape\":[3]", .sizeMismatch),
            ("\"dtype\":\"BOOL\"", "\"dtype\":\"BOOM\"", .unknownDType),
            ("\"data_offsets\"", "\"data_offsetz\"", .invalidEntry),
            ("\"w\":{", "\"w\"{", .invalidJSON),
            ("\"w\":{", "\"w\":[", .invalidJSON),
            ("\"dtype\"", "\"dtype\u{7F}\"", .invalidEntry),
        ] as [(String, String, ErrorKind)] {
            add("edited \(needle) → \(replacement)", edited(needle, replacement), kind)
        }

        // Bad JSON.
        let w = f32("w", shape: "[2,3]", 0, 24)
        let n = f32("n", shape: "[2]", 24, 40, dtype: "I64")
        let m = f32("m", shape: "[3]", 40, 43, dtype: "BOOL")
        let body = "\(w),\(n),\(m)"
        add("missing closing brace", file("{\(body)"), .invalidJSON)
        add("trailing comma", file("{\(body),}"), .invalidJSON)
        add("single-quoted key", file("{\(body),'x':1}"), .invalidJSON)
        add("unquoted key", file("{\(body),x:1}"), .invalidJSON)
        add("invalid escape", file("{\"w\\q\":1}"), .invalidJSON)
        add("lone surrogate", file("{\"\\ud800\":1}"), .invalidJSON)
        add("raw newline in a string", file("{\"a\nb\":1}"), .invalidJSON)
        add("NaN literal", file("{\(body),\"__metadata__\":NaN}"), .invalidJSON)
        add("leading zero", file("{\"w\":{\"dtype\":\"F32\",\"shape\":[02,3],\"data_offsets\":[0,24]},\(n),\(m)}"), .invalidJSON)
        add("two objects", file("{\(body)}{}"), .invalidJSON)
        add("nesting 100 deep", file("{\(body),\"__metadata__\":" + String(repeating: "[", count: 100) + String(repeating: "]", count: 100) + "}"), .invalidJSON)
        add("invalid UTF-8 in a key", safetensorsFile(headerBytes: Array("{\"".utf8) + [0xC3, 0x28] + Array("\":1}".utf8) + [32, 32], data: []), .invalidJSON)
        add("header is an array", file("[\(w)]"), .headerNotObject)
        add("header is a string", file("\"w\""), .headerNotObject)
        add("header starts with a space", file(" {\(body)}"), .headerNotObject)
        add("duplicate tensor name", file("{\(body),\(f32("w", shape: "[0]", 43, 43))}"), .duplicateKey)
        add("duplicate field", file("{\"w\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},\(n),\(m)}"), .duplicateKey)

        // Entries of the wrong form.
        add("entry is a number", file("{\"w\":5,\(n),\(m)}"), .invalidEntry)
        add("entry is an array", file("{\"w\":[0,24],\(n),\(m)}"), .invalidEntry)
        add("missing dtype", file("{\"w\":{\"shape\":[2,3],\"data_offsets\":[0,24]},\(n),\(m)}"), .invalidEntry)
        add("missing shape", file("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,24]},\(n),\(m)}"), .invalidEntry)
        add("dtype is a number", file("{\"w\":{\"dtype\":32,\"shape\":[2,3],\"data_offsets\":[0,24]},\(n),\(m)}"), .invalidEntry)
        add("shape is a number", file("{\"w\":{\"dtype\":\"F32\",\"shape\":6,\"data_offsets\":[0,24]},\(n),\(m)}"), .invalidEntry)
        add("shape holds a string", file("{\"w\":{\"dtype\":\"F32\",\"shape\":[\"2\",3],\"data_offsets\":[0,24]},\(n),\(m)}"), .invalidEntry)
        add("data_offsets has 3 numbers", file("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,12,24]},\(n),\(m)}"), .invalidEntry)
        add("data_offsets has 1 number", file("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[24]},\(n),\(m)}"), .invalidEntry)
        add("data_offsets holds null", file("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,null]},\(n),\(m)}"), .invalidEntry)

        // dtypes.
        add("lowercase dtype", file("{\(f32("w", shape: "[2,3]", 0, 24, dtype: "f32")),\(n),\(m)}"), .unknownDType)
        add("empty dtype", file("{\(f32("w", shape: "[2,3]", 0, 24, dtype: "")),\(n),\(m)}"), .unknownDType)
        add("F128", file("{\(f32("w", shape: "[2,3]", 0, 24, dtype: "F128")),\(n),\(m)}"), .unknownDType)
        add("I8 is not supported", file("{\(f32("w", shape: "[24]", 0, 24, dtype: "I8")),\(n),\(m)}"), .unsupportedDType)
        add("U16 is not supported", file("{\(f32("w", shape: "[12]", 0, 24, dtype: "U16")),\(n),\(m)}"), .unsupportedDType)

        // Shapes.
        add("negative dimension", file("{\(f32("w", shape: "[-2,-3]", 0, 24)),\(n),\(m)}"), .invalidShape)
        add("negative dimension with matching count", file("{\(f32("w", shape: "[-6]", 0, 24)),\(n),\(m)}"), .invalidShape)
        add("fractional dimension", file("{\(f32("w", shape: "[2.5,3]", 0, 24)),\(n),\(m)}"), .invalidShape)
        add("dimension beyond Int64", file("{\(f32("w", shape: "[99999999999999999999]", 0, 24)),\(n),\(m)}"), .invalidShape)
        add("element count overflows", file("{\(f32("w", shape: "[4294967296,4294967296]", 0, 24)),\(n),\(m)}"), .invalidShape)
        // The running product overflows before the 0 (the reference reader refuses it too); issue 12.
        add("zero-element shape whose prefix overflows", file("{\(w),\(n),\(m),\(f32("e", shape: "[4294967296,4294967296,0]", 43, 43))}"), .invalidShape)
        add("byte count overflows", file("{\(f32("w", shape: "[4611686018427387904]", 0, 24)),\(n),\(m)}"), .invalidShape)
        add("huge shape", file("{\(f32("w", shape: "[1000000,1000000]", 0, 24)),\(n),\(m)}"), .sizeMismatch)
        add("F64 where F32 bytes are", file("{\(f32("w", shape: "[2,3]", 0, 24, dtype: "F64")),\(n),\(m)}"), .sizeMismatch)
        add("F16 with F32's byte span", file("{\(f32("w", shape: "[2,3]", 0, 24, dtype: "F16")),\(n),\(m)}"), .sizeMismatch)
        add("scalar shape for 24 bytes", file("{\(f32("w", shape: "[]", 0, 24)),\(n),\(m)}"), .sizeMismatch)
        add("empty shape for 24 bytes", file("{\(f32("w", shape: "[0,3]", 0, 24)),\(n),\(m)}"), .sizeMismatch)

        // Offsets.
        add("begin after end", file("{\(f32("w", shape: "[2,3]", 24, 0)),\(n),\(m)}"), .offsetsOutOfRange)
        add("negative begin", file("{\(f32("w", shape: "[2,3]", -4, 20)),\(n),\(m)}"), .offsetsOutOfRange)
        add("end past the buffer", file("{\(w),\(n),\(f32("m", shape: "[3]", 40, 44, dtype: "BOOL"))}"), .offsetsOutOfRange)
        add("offset beyond Int64", file("{\(f32("w", shape: "[2,3]", 0, 24)),\(n),\"m\":{\"dtype\":\"BOOL\",\"shape\":[3],\"data_offsets\":[40,99999999999999999999]}}"), .offsetsOutOfRange)
        add("offsets near Int.max", file("{\(f32("w", shape: "[2,3]", Int.max - 24, Int.max)),\(n),\(m)}"), .offsetsOutOfRange)
        add("overlapping tensors", file("{\(w),\(f32("n", shape: "[2]", 16, 32, dtype: "I64")),\(f32("m", shape: "[11]", 32, 43, dtype: "BOOL"))}"), .overlappingTensors)
        add("two tensors on the same bytes", file("{\(w),\(f32("n", shape: "[2,3]", 0, 24)),\(f32("m", shape: "[19]", 24, 43, dtype: "BOOL"))}"), .overlappingTensors)
        add("empty tensor inside another", file("{\(w),\(n),\(m),\(f32("e", shape: "[0]", 4, 4))}"), .overlappingTensors)
        add("gap between tensors", file("{\(w),\(f32("n", shape: "[2]", 25, 41, dtype: "I64")),\(f32("m", shape: "[2]", 41, 43, dtype: "BOOL"))}"), .uncoveredData)
        add("gap at the start", file("{\(f32("w", shape: "[2,3]", 1, 25)),\(f32("n", shape: "[2]", 25, 41, dtype: "I64")),\(f32("m", shape: "[2]", 41, 43, dtype: "BOOL"))}"), .uncoveredData)
        add("no tensors but data", file("{}"), .uncoveredData)
        add("one tensor missing", file("{\(w),\(m)}"), .uncoveredData)

        // Metadata.
        add("metadata is an array", file("{\(body),\"__metadata__\":[]}"), .invalidMetadata)
        add("metadata is a string", file("{\(body),\"__metadata__\":\"x\"}"), .invalidMetadata)
        add("metadata value is a number", file("{\(body),\"__metadata__\":{\"epoch\":3}}"), .invalidMetadata)
        add("metadata value is an object", file("{\(body),\"__metadata__\":{\"case\":{\"a\":1}}}"), .invalidMetadata)
        return c
    }()
}

@Suite struct SafetensorsCorruptionTests {
    @Test func theBaseFileIsValid() throws {
        let sd = try StateDict(safetensorsData: CorruptionCorpus.validData)
        #expect(sd.keys == ["w", "n", "m"])
        // The hand-built header in the corpus describes the same file.
        let h = "{\(CorruptionCorpus.f32("w", shape: "[2,3]", 0, 24)),\(CorruptionCorpus.f32("n", shape: "[2]", 24, 40, dtype: "I64")),\(CorruptionCorpus.f32("m", shape: "[3]", 40, 43, dtype: "BOOL"))}"
        expectBitIdentical(try StateDict(safetensorsData: CorruptionCorpus.file(h)), StateDict(sd.entries.map { ($0.key, $0.value) }))
    }

    @Test func corpusIsLargeAndCoversEveryErrorCase() {
        #expect(CorruptionCorpus.all.count >= 50)
        let kinds = Set(CorruptionCorpus.all.map(\.expected))
        #expect(kinds == Set(ErrorKind.allCases))
        #expect(Set(CorruptionCorpus.all.map(\.name)).count == CorruptionCorpus.all.count)
    }

    @Test(arguments: CorruptionCorpus.all)
    func corruptionThrowsTheRightError(_ c: Corruption) {
        let error = safetensorsError { () throws(SafetensorsError) in _ = try StateDict(safetensorsData: c.bytes, convertingHalfPrecision: true) }
        guard let e = error else { Issue.record("\(c.name): loaded without error"); return }
        #expect(ErrorKind(e) == c.expected, "\(c.name): got \(e)")
        #expect(e.description.hasPrefix("safetensors: "))
    }

    /// Every single-byte change of the prefix and header of a file written by the `safetensors`
    /// package (XOR with 0x01, 0x20, 0x80, 0xFF) gets the reference reader's verdict: refused
    /// where it refuses (a typed error, never a trap), and where it loads (a renamed key or
    /// metadata), the same tensors and metadata (`fixtures/safetensors/flips.json`, made by
    /// `scripts/reference/make_safetensors_flip_fixture.py`).
    @Test func everyFlippedByteGetsTheReferenceReadersVerdict() throws {
        struct Info: Decodable { let dtype: String; let shape: [Int] }
        struct Accepted: Decodable { let offset: Int; let mask: UInt8; let metadata: [String: String]?; let tensors: [String: Info] }
        struct Flips: Decodable { let masks: [UInt8]; let data_start: Int; let accepted: [Accepted] }
        let base = try Data(contentsOf: Fixtures.url("safetensors/flip_base.safetensors"))
        let flips = try JSONDecoder().decode(Flips.self, from: Data(contentsOf: Fixtures.url("safetensors/flips.json")))
        #expect(flips.data_start > 100 && flips.masks.count == 4 && !flips.accepted.isEmpty)
        let base8 = try StateDict(safetensorsData: base)
        #expect(Set(base8.keys) == ["w", "n", "m"])
        var verdicts: [String: Accepted] = [:]
        for a in flips.accepted { verdicts["\(a.offset)/\(a.mask)"] = a }
        var loaded = 0
        for i in 0..<flips.data_start {
            for mask in flips.masks {
                var bytes = base
                bytes[i] ^= mask
                let want = verdicts["\(i)/\(mask)"]
                let flip = "byte \(i) ^ 0x\(String(mask, radix: 16))"
                do {
                    let sd = try StateDict(safetensorsData: bytes)
                    loaded += 1
                    guard let want else { Issue.record("\(flip): loaded, the reference reader refuses it"); continue }
                    #expect(Set(sd.keys) == Set(want.tensors.keys), "\(flip)")
                    for (k, info) in want.tensors {
                        #expect(sd[k]?.shape == info.shape && sd[k]?.dtype.rawValue == info.dtype, "\(flip): \(k)")
                    }
                    #expect(sd.metadata == (want.metadata ?? [:]), "\(flip): metadata")
                } catch {
                    if want != nil { Issue.record("\(flip): refused (\(error)), the reference reader loads it") }
                }
            }
        }
        #expect(loaded == flips.accepted.count)
    }

    /// Every truncation of a real file throws.
    @Test func everyTruncationThrows() {
        let valid = CorruptionCorpus.validData
        for cut in 0..<valid.count {
            let e = safetensorsError { () throws(SafetensorsError) in _ = try StateDict(safetensorsData: valid.prefix(cut)) }
            #expect(e != nil, "truncated to \(cut) bytes loaded")
        }
    }

    @Test func messagesSayWhatIsWrong() {
        func message(_ d: Data) -> String {
            safetensorsError { () throws(SafetensorsError) in _ = try StateDict(safetensorsData: d) }?.description ?? "no error"
        }
        #expect(message(CorruptionCorpus.edited("\"shape\":[2,3]", "\"shape\":[2,2]"))
                == "safetensors: tensor 'w': data_offsets hold 24 bytes, but F32 [2, 2] needs 16")
        #expect(message(Data([1, 2, 3])) == "safetensors: file is 3 bytes, shorter than the 8-byte header length prefix (truncated?)")
        #expect(message(CorruptionCorpus.edited("\"dtype\":\"F32\"", "\"dtype\":\"Q8\"")) == "safetensors: tensor 'w': unknown dtype 'Q8'")
        #expect(message(safetensorsFile(headerBytes: [], data: [], length: 1 << 40))
                == "safetensors: header length 1099511627776 exceeds the 100000000-byte limit (corrupt or not a safetensors file)")
        #expect(message(CorruptionCorpus.validData.prefix(20))
                == "safetensors: header length \(CorruptionCorpus.headerLength) is larger than the 12 bytes available (truncated or not a safetensors file)")
        #expect(message(CorruptionCorpus.validData + Data([0])).contains("1 bytes of the data buffer at offset 43 belong to no tensor"))
    }

    @Test func missingFileThrowsAnIOError() {
        let url = URL(fileURLWithPath: "/nonexistent-\(UUID().uuidString)/x.safetensors")
        let e = safetensorsError { () throws(SafetensorsError) in _ = try StateDict(contentsOf: url) }
        guard case .io(let path, _, _) = e else { Issue.record("expected an io error, got \(String(describing: e))"); return }
        #expect(path == url.path)
    }

    @Test func deviceFilesAreRefused() {
        let e = safetensorsError { () throws(SafetensorsError) in _ = try StateDict(contentsOf: URL(fileURLWithPath: "/dev/zero")) }
        #expect(e == .io(path: "/dev/zero", operation: "reading", message: "not a regular file"))
    }

    @Test func directoryInsteadOfAFileThrowsAnIOError() throws {
        let dir = makeTempDirectory("checkpoint")
        defer { cleanUp(dir) }
        let e = safetensorsError { () throws(SafetensorsError) in _ = try StateDict(contentsOf: dir) }
        guard case .io = e else { Issue.record("expected an io error, got \(String(describing: e))"); return }
    }
}
