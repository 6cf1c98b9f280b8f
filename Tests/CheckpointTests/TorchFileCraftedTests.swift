import Foundation
import Testing
@testable import Checkpoint
import TensorCore
import NN
import TestSupport

/// The error case a crafted file must produce, without the details.
enum TorchErrorKind: String, Sendable {
    case unrecognizedFormat, unsupportedFormat, invalidZip, unsupportedZipEntry, checksumMismatch, missingRecord
    case invalidRecord, truncatedPickle, unsupportedOpcode, forbiddenGlobal, unsupportedGlobal, invalidPickle
    case limitExceeded, invalidTensor, notAStateDict, io

    init(_ e: TorchFileError) {
        switch e {
        case .unrecognizedFormat: self = .unrecognizedFormat
        case .unsupportedFormat: self = .unsupportedFormat
        case .invalidZip: self = .invalidZip
        case .unsupportedZipEntry: self = .unsupportedZipEntry
        case .checksumMismatch: self = .checksumMismatch
        case .missingRecord: self = .missingRecord
        case .invalidRecord: self = .invalidRecord
        case .truncatedPickle: self = .truncatedPickle
        case .unsupportedOpcode: self = .unsupportedOpcode
        case .forbiddenGlobal: self = .forbiddenGlobal
        case .unsupportedGlobal: self = .unsupportedGlobal
        case .invalidPickle: self = .invalidPickle
        case .limitExceeded: self = .limitExceeded
        case .invalidTensor: self = .invalidTensor
        case .notAStateDict: self = .notAStateDict
        case .io: self = .io
        }
    }
}

struct CraftedFile: CustomStringConvertible, Sendable {
    let name: String
    let bytes: [UInt8]
    let expected: TorchErrorKind
    /// A word the message must contain.
    var mentions: String? = nil
    var description: String { name }
}

/// A valid one-tensor archive, for corrupting: `{'w': tensor([1, 2, 3, 4], shape [2, 2])}`.
private func validArchive() -> [UInt8] {
    torchArchive(PickleProgram.stateDict(numel: 4, size: [2, 2], stride: [2, 1]), records: [("data/0", floatBytesLE([1, 2, 3, 4]))])
}

/// The same archive without the zip64 end records (a plain zip, as other zip writers make).
func withoutZip64(_ b: [UInt8]) -> [UInt8] {
    let eocd = b.count - 22
    let zip64Start = eocd - 20 - 56
    return Array(b[0..<zip64Start]) + Array(b[eocd...])
}

/// The local header offset of the second entry.
private func secondHeader(_ b: [UInt8]) -> Int {
    b.withUnsafeBytes { raw in (try? ZipArchive(raw))?.entries[1].headerOffset ?? 0 }
}

/// Offsets of the zip structures in `validArchive()`.
private func centralDirectoryOffset(_ b: [UInt8]) -> Int {
    var i = b.count - 22
    while i > 0 && !(b[i] == 0x50 && b[i + 1] == 0x4b && b[i + 2] == 0x05 && b[i + 3] == 0x06) { i -= 1 }
    return Int(UInt32(b[i + 16]) | UInt32(b[i + 17]) << 8 | UInt32(b[i + 18]) << 16 | UInt32(b[i + 19]) << 24)
}

private func patched(_ b: [UInt8], at offset: Int, _ bytes: [UInt8]) -> [UInt8] {
    var out = b
    for (i, v) in bytes.enumerated() where offset + i < out.count { out[offset + i] = v }
    return out
}

/// A pickle that is `prefix` followed by STOP, wrapped in a valid archive.
private func pickleFile(_ build: (inout PickleProgram) -> Void, protocol p: UInt8 = 2) -> [UInt8] {
    var prog = PickleProgram(protocol: p)
    build(&prog)
    return torchArchive(prog.bytes)
}

enum CraftedCorpus {
    static var zipStructure: [CraftedFile] {
        let good = validArchive()
        let cd = centralDirectoryOffset(good)
        let eocd = good.count - 22
        var cases: [CraftedFile] = [
            .init(name: "empty file", bytes: [], expected: .unrecognizedFormat),
            .init(name: "random bytes", bytes: Array("not a checkpoint at all".utf8), expected: .unrecognizedFormat),
            .init(name: "local header signature only", bytes: [0x50, 0x4b, 0x03, 0x04], expected: .invalidZip),
            .init(name: "truncated before the end record", bytes: Array(good.dropLast(10)), expected: .invalidZip),
            .init(name: "central directory offset past the end (no zip64)", bytes: patched(withoutZip64(good), at: withoutZip64(good).count - 22 + 16, le32(UInt32(good.count + 100))), expected: .invalidZip),
            .init(name: "central directory size past the end (no zip64)", bytes: patched(withoutZip64(good), at: withoutZip64(good).count - 22 + 12, le32(UInt32(good.count))), expected: .invalidZip),
            .init(name: "65535 entries (no zip64)", bytes: patched(withoutZip64(good), at: withoutZip64(good).count - 22 + 8, [0xFF, 0xFF, 0xFF, 0xFF]), expected: .invalidZip),
            .init(name: "end record comment longer than the file", bytes: patched(withoutZip64(good), at: withoutZip64(good).count - 2, [0xFF, 0xFF]), expected: .invalidZip),
            .init(name: "2^63 entries declared", bytes: patched(patched(good, at: eocd + 8, [0xFF, 0xFF, 0xFF, 0xFF]), at: eocd - 20 - 56 + 32, le64(UInt64.max / 2)), expected: .invalidZip),
            .init(name: "zip64 locator points past the end", bytes: patched(good, at: eocd - 20 + 8, le64(UInt64(good.count) * 4)), expected: .invalidZip),
            .init(name: "zip64 record with 2^60 entries", bytes: patched(good, at: eocd - 20 - 56 + 32, le64(1 << 60)), expected: .invalidZip),
            .init(name: "zip64 record with more entries than fit", bytes: patched(good, at: eocd - 20 - 56 + 32, le64(500)), expected: .invalidZip),
            .init(name: "zip64 directory size past the record", bytes: patched(good, at: eocd - 20 - 56 + 40, le64(UInt64(good.count))), expected: .invalidZip),
            .init(name: "no zip64 record where the locator points", bytes: patched(good, at: eocd - 20 - 56, [0, 0, 0, 0]), expected: .invalidZip),
            .init(name: "zip64 directory offset 2^62", bytes: patched(good, at: eocd - 20 - 56 + 48, le64(1 << 62)), expected: .invalidZip),
            .init(name: "local header offset past the directory", bytes: patched(good, at: cd + 42, le32(UInt32(cd + 10))), expected: .invalidZip),
            .init(name: "entry size of 4 GiB - 2", bytes: patched(patched(good, at: cd + 20, le32(0xFFFF_FFFE)), at: cd + 24, le32(0xFFFF_FFFE)), expected: .invalidZip),
            .init(name: "compressed size differs from size", bytes: patched(good, at: cd + 20, le32(3)), expected: .invalidZip),
            .init(name: "deflated entry", bytes: patched(good, at: cd + 10, [8, 0]), expected: .unsupportedZipEntry, mentions: "compressed"),
            .init(name: "encrypted entry", bytes: patched(good, at: cd + 8, [0x09, 0x08]), expected: .unsupportedZipEntry, mentions: "encrypted"),
            .init(name: "local name differs", bytes: patched(good, at: 30, Array("b".utf8)), expected: .invalidZip),
            .init(name: "not a zip file from the first byte", bytes: patched(good, at: 0, [0, 0, 0, 0]), expected: .unrecognizedFormat),
            .init(name: "no local header at an entry's offset", bytes: patched(good, at: secondHeader(good), [0, 0, 0, 0]), expected: .invalidZip),
            .init(name: "central entry signature broken", bytes: patched(good, at: cd, [0, 0, 0, 0]), expected: .invalidZip),
            .init(name: "name length past the directory", bytes: patched(good, at: cd + 28, [0xFF, 0xFF]), expected: .invalidZip),
            .init(name: "malformed extra field", bytes: patched(patched(good, at: cd + 30, [4, 0]), at: cd + 46 + 16, [1, 0, 0xFF, 0x7F]), expected: .invalidZip),
            .init(name: "flipped data byte (CRC)", bytes: patched(good, at: 64 + 5, [0x99]), expected: .checksumMismatch),
            .init(name: "missing data.pkl", bytes: torchArchive([0x80, 2, 0x4e, 0x2e]).replacingName("archive/data.pkl", with: "archive/data.pkX"), expected: .missingRecord, mentions: "data.pkl"),
            .init(name: "missing storage record", bytes: torchArchive(PickleProgram.stateDict(numel: 4, size: [4], stride: [1])), expected: .missingRecord, mentions: "data/0"),
            .init(name: "storage record of the wrong size", bytes: torchArchive(PickleProgram.stateDict(numel: 4, size: [4], stride: [1]), records: [("data/0", floatBytesLE([1, 2, 3]))]), expected: .invalidRecord),
            .init(name: "byteorder 'middle'", bytes: torchArchive([0x80, 2, 0x7d, 0x2e], records: [], extra: []).replacingRecord("archive/byteorder", "little", with: "middle"), expected: .invalidRecord),
            .init(name: "TorchScript archive", bytes: torchArchive([0x80, 2, 0x7d, 0x2e], records: [("constants.pkl", [0x80, 2, 0x29, 0x2e])]), expected: .unsupportedFormat, mentions: "TorchScript"),
            .init(name: "records outside a folder", bytes: torchArchive([0x80, 2, 0x7d, 0x2e]).replacingName("archive/data.pkl", with: "archive.data.pkl"), expected: .invalidZip),
            .init(name: "pre-1.0 tar format", bytes: [UInt8](repeating: 0x61, count: 257) + Array("ustar".utf8) + [UInt8](repeating: 0, count: 250), expected: .unsupportedFormat),
        ]
        // Overlapping entries: a second directory entry claiming the first entry's bytes under
        // another name (the directory is rewritten so both entries are otherwise consistent).
        cases.append(.init(name: "overlapping entries", bytes: overlappingArchive(), expected: .invalidZip, mentions: "overlap"))
        // A zip bomb made of many directory entries that share one local header.
        cases.append(.init(name: "1000 entries sharing one local header", bytes: sharedHeaderBomb(), expected: .invalidZip))
        return cases
    }

    /// Two entries whose data ranges overlap.
    static func overlappingArchive() -> [UInt8] {
        // Entry A covers 200 bytes of data, entry B's local header lies inside them.
        let payload = [UInt8](repeating: 0x41, count: 200)
        var b: [UInt8] = []
        func local(_ name: String, size: Int) -> [UInt8] {
            le32(0x0403_4b50) + [0, 0, 0, 0, 0, 0, 0, 0, 0, 0] + le32(0) + le32(UInt32(size)) + le32(UInt32(size))
                + [UInt8(name.utf8.count), 0, 0, 0] + Array(name.utf8)
        }
        let a = local("archive/data.pkl", size: 200)
        b += a + payload
        let bOffset = a.count + 50
        // B's local header is written over the middle of A's data.
        let bHeader = local("archive/x", size: 4)
        for (i, v) in bHeader.enumerated() { b[bOffset + i] = v }
        let cd = b.count
        func central(_ name: String, size: Int, offset: Int, crc: UInt32) -> [UInt8] {
            le32(0x0201_4b50) + [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] + le32(crc) + le32(UInt32(size)) + le32(UInt32(size))
                + [UInt8(name.utf8.count), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] + le32(UInt32(offset)) + Array(name.utf8)
        }
        var dir = central("archive/data.pkl", size: 200, offset: 0, crc: 0) + central("archive/x", size: 4, offset: bOffset, crc: 0)
        dir += le32(0x0605_4b50) + [0, 0, 0, 0, 2, 0, 2, 0] + le32(UInt32(dir.count)) + le32(UInt32(cd)) + [0, 0]
        return b + dir
    }

    static func sharedHeaderBomb() -> [UInt8] {
        var b = validArchive()
        let cd = centralDirectoryOffset(b)
        let entryLength = 46 + "archive/data.pkl".utf8.count
        let entry = Array(b[cd..<(cd + entryLength)])
        var dir: [UInt8] = []
        for _ in 0..<1000 { dir += entry }
        b = Array(b[0..<cd]) + dir
        b += le32(0x0605_4b50) + [0, 0, 0, 0] + [0xE8, 0x03, 0xE8, 0x03] + le32(UInt32(dir.count)) + le32(UInt32(cd)) + [0, 0]
        return b
    }

    static let forbiddenGlobals: [(String, String)] = [
        ("os", "system"), ("posix", "system"), ("nt", "system"), ("builtins", "eval"), ("builtins", "exec"),
        ("__builtin__", "eval"), ("builtins", "open"), ("builtins", "getattr"), ("builtins", "__import__"),
        ("builtins", "type"), ("builtins", "compile"), ("subprocess", "Popen"), ("subprocess", "check_output"),
        ("sys", "exit"), ("shutil", "rmtree"), ("pickle", "loads"), ("torch", "load"), ("torch", "save"),
        ("torch.hub", "load"), ("numpy.core.multiarray", "_reconstruct"), ("numpy", "load"), ("runpy", "_run_code"),
        ("webbrowser", "open"), ("operator", "attrgetter"), ("functools", "partial"), ("collections", "defaultdict"),
        ("torch.nn", "Module"), ("torch.nn.modules.linear", "Linear"), ("copyreg", "_reconstructor"),
        ("io", "open"), ("codecs", "open"), ("types", "FunctionType"), ("torch._utils", "_rebuild_xla_tensor"),
        ("torch", "FakeStorage"), ("torch", "Storage"), ("torch._C", "_set_grad_enabled"), ("ctypes", "CDLL"),
    ]

    static var globals: [CraftedFile] {
        var cases: [CraftedFile] = []
        for (m, n) in forbiddenGlobals {
            let expectedName = (m == "__builtin__" ? "builtins" : m) + "." + n
            cases.append(.init(name: "GLOBAL \(m).\(n)", bytes: pickleFile { p in
                p.global(m, n); p.string("echo never-run"); p.op(0x85); p.reduce(); p.stop()
            }, expected: .forbiddenGlobal, mentions: expectedName))
            cases.append(.init(name: "STACK_GLOBAL \(m).\(n)", bytes: pickleFile({ p in
                p.op(0x8c, UInt8(m.utf8.count)); p.raw(Array(m.utf8)); p.op(0x8c, UInt8(n.utf8.count)); p.raw(Array(n.utf8)); p.op(0x93)
                p.op(0x29); p.reduce(); p.stop()
            }, protocol: 4), expected: .forbiddenGlobal, mentions: expectedName))
            // Hidden inside a valid state dict, after a tensor: refused all the same.
            var prog = PickleProgram()
            prog.emptyDict(); prog.mark(); prog.string("w")
            prog.tensor(numel: 4, size: [4], stride: [1])
            prog.string("evil"); prog.global(m, n); prog.op(0x29); prog.reduce()
            prog.setItems(); prog.stop()
            cases.append(.init(name: "state dict with \(m).\(n)", bytes: torchArchive(prog.bytes, records: [("data/0", floatBytesLE([1, 2, 3, 4]))]),
                               expected: .forbiddenGlobal, mentions: expectedName))
        }
        // Allowed by PyTorch, not representable in SwiftNN.
        for (m, n) in [("torch._utils", "_rebuild_qtensor"), ("torch", "ComplexFloatStorage"), ("torch", "QInt8Storage"),
                       ("torch.serialization", "_get_layout"), ("builtins", "complex"), ("torch._utils", "_rebuild_sparse_tensor"),
                       ("torch", "per_tensor_affine"), ("torch._utils", "_rebuild_meta_tensor_no_storage")] {
            cases.append(.init(name: "unsupported \(m).\(n)", bytes: pickleFile { p in p.global(m, n); p.stop() }, expected: .unsupportedGlobal))
        }
        return cases
    }

    static var opcodes: [CraftedFile] {
        var cases: [CraftedFile] = []
        // Opcodes torch.save never writes.
        let refused: [(String, [UInt8])] = [
            ("INT", Array("I1\n".utf8)), ("LONG", Array("L1\n".utf8)), ("FLOAT", Array("F1.0\n".utf8)),
            ("STRING", Array("S'a'\n".utf8)), ("UNICODE", Array("Va\n".utf8)), ("PERSID", Array("P0\n".utf8)),
            ("GET", Array("g0\n".utf8)), ("PUT", Array("p0\n".utf8)), ("INST", Array("ios\nsystem\n".utf8)), ("OBJ", [0x28, 0x6f]),
            ("EXT1", [0x82, 1]), ("EXT2", [0x83, 1, 0]), ("EXT4", [0x84, 1, 0, 0, 0]), ("NEWOBJ_EX", [0x29, 0x7d, 0x92]),
            ("NEXT_BUFFER", [0x97]), ("READONLY_BUFFER", [0x4e, 0x98]), ("byte 0xFF", [0xFF]), ("byte 0x00", [0x00]),
        ]
        for (name, b) in refused {
            cases.append(.init(name: "opcode \(name)", bytes: pickleFile { p in p.raw(b); p.stop() }, expected: .unsupportedOpcode))
        }
        let invalid: [(String, (inout PickleProgram) -> Void)] = [
            ("PROTO 6", { p in p.op(0x80, 6, 0x4e, 0x2e) }),
            ("REDUCE on a string", { p in p.string("x"); p.op(0x29); p.reduce(); p.stop() }),
            ("REDUCE with a list of arguments", { p in p.global("collections", "OrderedDict"); p.op(0x5d); p.reduce(); p.stop() }),
            ("calling a storage class", { p in p.global("torch", "FloatStorage"); p.op(0x29); p.reduce(); p.stop() }),
            ("calling Parameter", { p in p.global("torch.nn.parameter", "Parameter"); p.op(0x29); p.reduce(); p.stop() }),
            ("BUILD on a list", { p in p.op(0x5d, 0x7d, 0x62); p.stop() }),
            ("BUILD on a dict with a list state", { p in p.global("collections", "OrderedDict"); p.op(0x29, 0x52, 0x5d, 0x62); p.stop() }),
            ("APPEND to a dict", { p in p.op(0x7d, 0x4e, 0x61); p.stop() }),
            ("SETITEM on a list", { p in p.op(0x5d, 0x4e, 0x4e, 0x73); p.stop() }),
            ("ADDITEMS to a list", { p in p.op(0x5d, 0x28, 0x4e, 0x90); p.stop() }),
            ("SETITEMS with an odd count", { p in p.op(0x7d, 0x28, 0x4e, 0x75); p.stop() }),
            ("stack underflow on TUPLE2", { p in p.op(0x4e, 0x86); p.stop() }),
            ("POP on an empty stack", { p in p.op(0x30); p.stop() }),
            ("STOP with two values", { p in p.op(0x4e, 0x4e); p.stop() }),
            ("STOP inside a MARK", { p in p.op(0x28, 0x4e); p.stop() }),
            ("STOP on an empty stack", { p in p.stop() }),
            ("TUPLE without MARK", { p in p.op(0x4e, 0x74); p.stop() }),
            ("BINGET of an index never stored", { p in p.op(0x68, 7); p.stop() }),
            ("LONG_BINGET of 2^32-1", { p in p.op(0x6a, 0xFF, 0xFF, 0xFF, 0xFF); p.stop() }),
            ("a list as a dict key", { p in p.op(0x7d, 0x5d, 0x4e, 0x73); p.stop() }),
            ("LONG4 with a negative length", { p in p.op(0x8b, 0xFF, 0xFF, 0xFF, 0xFF); p.stop() }),
            ("BINSTRING with a negative length", { p in p.op(0x54, 0xFF, 0xFF, 0xFF, 0xFF); p.stop() }),
            ("a string that is not UTF-8", { p in p.op(0x58, 2, 0, 0, 0, 0xC3, 0x28); p.stop() }),
            ("a GLOBAL name that is not UTF-8", { p in p.op(0x63, 0xFF, 0x0a, 0x41, 0x0a); p.stop() }),
            ("STACK_GLOBAL of two ints", { p in p.int(1); p.int(2); p.op(0x93); p.stop() }),
            ("_codecs.encode with rot13", { p in p.global("_codecs", "encode"); p.string("a"); p.string("rot13"); p.op(0x86); p.reduce(); p.stop() }),
            ("_codecs.encode of U+0100 as latin1", { p in p.global("_codecs", "encode"); p.string("Ā"); p.string("latin1"); p.op(0x86); p.reduce(); p.stop() }),
            ("persistent id of a module", { p in p.mark(); p.string("module"); p.tuple(); p.op(0x51); p.stop() }),
            ("persistent id that is an int", { p in p.int(3); p.op(0x51); p.stop() }),
            ("storage id with 3 elements", { p in p.mark(); p.string("storage"); p.global("torch", "FloatStorage"); p.string("0"); p.tuple(); p.op(0x51); p.stop() }),
            ("storage id with a dict as type", { p in p.mark(); p.string("storage"); p.op(0x7d); p.string("0"); p.string("cpu"); p.int(1); p.tuple(); p.op(0x51); p.stop() }),
            ("storage id with a negative size", { p in p.mark(); p.string("storage"); p.global("torch", "FloatStorage"); p.string("0"); p.string("cpu"); p.int(-1); p.tuple(); p.op(0x51); p.stop() }),
            ("_rebuild_tensor_v2 without a storage", { p in p.global("torch._utils", "_rebuild_tensor_v2"); p.mark(); p.int(0); p.int(0); p.op(0x29, 0x29, 0x89, 0x7d); p.tuple(); p.reduce(); p.stop() }),
            ("_rebuild_tensor_v2 with 3 arguments", { p in p.global("torch._utils", "_rebuild_tensor_v2"); p.mark(); p.int(0); p.int(0); p.int(0); p.tuple(); p.reduce(); p.stop() }),
            ("_rebuild_parameter of a string", { p in p.global("torch._utils", "_rebuild_parameter"); p.string("x"); p.op(0x88, 0x7d, 0x87); p.reduce(); p.stop() }),
            ("_rebuild_from_type_v2 calling OrderedDict", { p in
                p.global("torch._tensor", "_rebuild_from_type_v2"); p.mark(); p.global("collections", "OrderedDict"); p.global("torch", "Tensor")
                p.op(0x29, 0x7d); p.tuple(); p.reduce(); p.stop() }),
            ("torch.device of an int", { p in p.global("torch", "device"); p.int(3); p.op(0x85); p.reduce(); p.stop() }),
            ("torch.Size of strings", { p in p.global("torch", "Size"); p.string("a"); p.op(0x85, 0x85); p.reduce(); p.stop() }),
            ("bytearray of 300", { p in p.global("builtins", "bytearray"); p.op(0x5d); p.mark(); p.raw([0x4d, 0x2c, 0x01]); p.op(0x65, 0x85); p.reduce(); p.stop() }),
            ("NEWOBJ of a rebuild function", { p in p.global("torch._utils", "_rebuild_tensor_v2"); p.op(0x29, 0x81); p.stop() }),
            ("OrderedDict from a string", { p in p.global("collections", "OrderedDict"); p.string("ab"); p.op(0x85); p.reduce(); p.stop() }),
            ("OrderedDict from pairs of three", { p in p.global("collections", "OrderedDict"); p.op(0x5d); p.mark(); p.op(0x4e, 0x4e, 0x4e, 0x87, 0x65, 0x85); p.reduce(); p.stop() }),
        ]
        for (name, build) in invalid {
            cases.append(.init(name: name, bytes: pickleFile(build), expected: .invalidPickle))
        }
        var set = PickleProgram()
        set.op(0x8f, 0x28); set.tensor(numel: 0, size: [0], stride: [1]); set.op(0x90); set.stop()
        cases.append(.init(name: "a tensor as a set element", bytes: torchArchive(set.bytes, records: [("data/0", [])]), expected: .invalidPickle))
        return cases
    }

    static var sizes: [CraftedFile] {
        let huge: [(String, [UInt8], TorchErrorKind)] = [
            ("BINUNICODE of 4 GiB - 1", [0x58, 0xFF, 0xFF, 0xFF, 0xFF], .truncatedPickle),
            ("BINUNICODE8 of 2^63", [0x8d] + le64(1 << 63), .truncatedPickle),
            ("BINBYTES8 of 2^62", [0x8e] + le64(1 << 62), .truncatedPickle),
            ("BYTEARRAY8 of 2^40", [0x96] + le64(1 << 40), .truncatedPickle),
            ("BINBYTES of 4 GiB - 1", [0x42, 0xFF, 0xFF, 0xFF, 0xFF], .truncatedPickle),
            ("LONG4 of 2^31 - 1 bytes", [0x8b, 0xFF, 0xFF, 0xFF, 0x7F], .truncatedPickle),
            ("FRAME of 2^62", [0x95] + le64(1 << 62), .truncatedPickle),
            ("SHORT_BINUNICODE past the end", [0x8c, 0xFF, 0x41], .truncatedPickle),
        ]
        var cases = huge.map { c in CraftedFile(name: c.0, bytes: pickleFile { p in p.raw(c.1) }, expected: c.2) }
        // Tensors whose declared sizes do not fit what the file holds.
        func tensorCase(_ name: String, _ expected: TorchErrorKind, numel: Int, offset: Int = 0, size: [Int], stride: [Int],
                        type: String = "FloatStorage", data: [UInt8]? = nil, big: Bool = false) -> CraftedFile {
            let bytes = data ?? floatBytesLE([Float](repeating: 1, count: max(0, min(numel, 64))))
            return CraftedFile(name: name, bytes: torchArchive(PickleProgram.stateDict(type: type, numel: numel, offset: offset, size: size, stride: stride, bigNumel: big),
                                                                records: [("data/0", bytes)]), expected: expected)
        }
        cases += [
            tensorCase("storage of 2^61 floats", .invalidTensor, numel: 1 << 61, size: [1], stride: [1], big: true),
            tensorCase("storage of 2^40 floats (record too small)", .invalidRecord, numel: 1 << 40, size: [1], stride: [1], big: true),
            tensorCase("shape [2^32, 2^32, 0]", .invalidTensor, numel: 4, size: [1 << 32, 1 << 32, 0], stride: [1, 1, 1], big: true),
            tensorCase("shape [2^40, 2^40]", .invalidTensor, numel: 4, size: [1 << 40, 1 << 40], stride: [0, 0], big: true),
            tensorCase("expanded to 2^40 elements", .limitExceeded, numel: 4, size: [1 << 40], stride: [0], big: true),
            tensorCase("expanded to 4 GiB", .limitExceeded, numel: 4, size: [1 << 20, 1 << 10], stride: [0, 0]),
            tensorCase("negative size", .invalidTensor, numel: 4, size: [-1], stride: [1]),
            tensorCase("negative stride", .invalidTensor, numel: 4, size: [2], stride: [-1]),
            tensorCase("negative offset", .invalidTensor, numel: 4, offset: -1, size: [2], stride: [1]),
            tensorCase("view past the storage", .invalidTensor, numel: 4, offset: 1, size: [2, 2], stride: [2, 1]),
            tensorCase("strides past the storage", .invalidTensor, numel: 4, size: [2, 2], stride: [3, 1]),
            tensorCase("offset and stride overflow", .invalidTensor, numel: 4, offset: 1, size: [3], stride: [Int.max / 2 + 1], big: true),
            tensorCase("65 dimensions", .invalidTensor, numel: 4, size: [Int](repeating: 1, count: 65), stride: [Int](repeating: 1, count: 65)),
            tensorCase("size and stride of different lengths", .invalidPickle, numel: 4, size: [2, 2], stride: [1]),
            tensorCase("complex storage", .unsupportedGlobal, numel: 4, size: [4], stride: [1], type: "ComplexFloatStorage"),
            tensorCase("unknown storage class", .forbiddenGlobal, numel: 4, size: [4], stride: [1], type: "WeirdStorage"),
        ]
        // One storage key declared with two types.
        var prog = PickleProgram()
        prog.emptyDict(); prog.mark()
        prog.string("a"); prog.tensor(storage: "FloatStorage", numel: 2, size: [2], stride: [1])
        prog.string("b"); prog.tensor(storage: "LongStorage", numel: 1, size: [1], stride: [1])
        prog.setItems(); prog.stop()
        cases.append(.init(name: "one storage as two types", bytes: torchArchive(prog.bytes, records: [("data/0", floatBytesLE([1, 2]))]), expected: .invalidTensor))
        // _rebuild_tensor_v3 with a dtype SwiftNN lacks.
        prog = PickleProgram()
        prog.global("torch._utils", "_rebuild_tensor_v3"); prog.mark()
        prog.mark(); prog.string("storage"); prog.global("torch", "UntypedStorage"); prog.string("0"); prog.string("cpu"); prog.int(8); prog.tuple(); prog.op(0x51)
        prog.int(0); prog.int(1); prog.op(0x85); prog.int(1); prog.op(0x85); prog.op(0x89, 0x7d); prog.global("torch", "complex64")
        prog.tuple(); prog.reduce(); prog.stop()
        cases.append(.init(name: "v3 tensor of complex64", bytes: torchArchive(prog.bytes, records: [("data/0", [UInt8](repeating: 0, count: 8))]), expected: .unsupportedGlobal))
        // Unknown tensor metadata.
        prog = PickleProgram()
        prog.global("torch._utils", "_rebuild_tensor_v2"); prog.mark()
        prog.mark(); prog.string("storage"); prog.global("torch", "FloatStorage"); prog.string("0"); prog.string("cpu"); prog.int(1); prog.tuple(); prog.op(0x51)
        prog.int(0); prog.int(1); prog.op(0x85); prog.int(1); prog.op(0x85); prog.op(0x89, 0x7d)
        prog.op(0x7d); prog.string("quantized"); prog.op(0x88, 0x73)
        prog.tuple(); prog.reduce(); prog.stop()
        cases.append(.init(name: "unknown tensor metadata", bytes: torchArchive(prog.bytes, records: [("data/0", floatBytesLE([1]))]), expected: .invalidPickle))
        return cases
    }

    static var structures: [CraftedFile] {
        var cases: [CraftedFile] = []
        // A list that contains itself (through the memo).
        cases.append(.init(name: "cyclic list", bytes: pickleFile { p in p.op(0x5d, 0x71, 0, 0x68, 0, 0x61); p.stop() }, expected: .notAStateDict, mentions: "cycle"))
        cases.append(.init(name: "cyclic dict", bytes: pickleFile { p in p.op(0x7d, 0x71, 0); p.string("self"); p.op(0x68, 0, 0x73); p.stop() }, expected: .notAStateDict, mentions: "cycle"))
        // Deep nesting: 100,000 MARKs, and lists nested 10,000 deep.
        cases.append(.init(name: "100,000 nested MARKs", bytes: pickleFile { p in p.raw([UInt8](repeating: 0x28, count: 100_000)); p.stop() }, expected: .limitExceeded))
        cases.append(.init(name: "lists nested 10,000 deep", bytes: pickleFile { p in
            p.raw([UInt8](repeating: 0x5d, count: 10_001)); p.raw([UInt8](repeating: 0x61, count: 10_000)); p.stop()
        }, expected: .limitExceeded))
        cases.append(.init(name: "tuples nested 10,000 deep", bytes: pickleFile { p in
            p.op(0x29); p.raw([UInt8](repeating: 0x85, count: 10_000)); p.stop()
        }, expected: .limitExceeded))
        // Hash flooding: one 60 KB key used 20,000 times through the memo.
        cases.append(.init(name: "one long key set 20,000 times", bytes: pickleFile { p in
            p.op(0x7d); p.string(String(repeating: "k", count: 60_000)); p.op(0x71, 0, 0x30)
            p.op(0x28); for _ in 0..<20_000 { p.op(0x68, 0, 0x4e) }; p.setItems(); p.stop()
        }, expected: .limitExceeded))
        cases.append(.init(name: "a 100 KB dict key", bytes: pickleFile { p in
            p.op(0x7d); p.string(String(repeating: "k", count: 100_000)); p.op(0x4e, 0x73); p.stop()
        }, expected: .limitExceeded))
        return cases
    }

    static var legacy: [CraftedFile] {
        let object = PickleProgram.stateDict(key: "1", numel: 2, size: [2], stride: [1], legacy: true)
        let data = floatBytesLE([1, 2])
        var cases: [CraftedFile] = [
            .init(name: "legacy: wrong magic", bytes: legacyStream(object, storages: [("1", 2, data)], magicOK: false), expected: .unrecognizedFormat),
            .init(name: "legacy: protocol version 1000", bytes: legacyStream(object, storages: [("1", 2, data)], version: 1000), expected: .unsupportedFormat),
            .init(name: "legacy: storage bytes missing", bytes: legacyStream(object, storages: []), expected: .invalidRecord, mentions: "no data"),
            .init(name: "legacy: element count differs", bytes: legacyStream(object, storages: [("1", 3, data)]), expected: .invalidRecord),
            .init(name: "legacy: negative element count", bytes: legacyStream(object, storages: [("1", -1, data)]), expected: .invalidRecord),
            .init(name: "legacy: storage truncated", bytes: Array(legacyStream(object, storages: [("1", 2, data)]).dropLast(3)), expected: .invalidRecord),
            .init(name: "legacy: size field truncated", bytes: Array(legacyStream(object, storages: [("1", 2, data)]).dropLast(10)), expected: .invalidRecord),
            .init(name: "legacy: unknown storage key listed", bytes: legacyStream(object, storages: [("9", 2, data)]), expected: .invalidRecord),
            .init(name: "legacy: key listed twice", bytes: legacyStream(object, storages: [("1", 2, data), ("1", 2, data)]), expected: .invalidRecord),
            .init(name: "legacy: 2^60-element storage", bytes: legacyStream(PickleProgram.stateDict(key: "1", numel: 1 << 60, size: [1], stride: [1], legacy: true, bigNumel: true), storages: []), expected: .invalidTensor),
            .init(name: "legacy: zip-format storage id", bytes: legacyStream(PickleProgram.stateDict(key: "1", numel: 2, size: [2], stride: [1]), storages: []), expected: .invalidPickle),
            .init(name: "legacy: only the magic number", bytes: Array(legacyStream(object, storages: []).prefix(15)), expected: .truncatedPickle),
        ]
        // A storage view outside its root.
        var prog = PickleProgram()
        prog.emptyDict(); prog.mark(); prog.string("w")
        prog.global("torch._utils", "_rebuild_tensor_v2"); prog.mark()
        prog.mark(); prog.string("storage"); prog.global("torch", "FloatStorage"); prog.string("1"); prog.string("cpu"); prog.int(2)
        prog.mark(); prog.string("v"); prog.int(1); prog.int(5); prog.tuple()
        prog.tuple(); prog.op(0x51)
        prog.int(0); prog.int(1); prog.op(0x85); prog.int(1); prog.op(0x85); prog.op(0x89, 0x7d); prog.tuple(); prog.reduce()
        prog.setItems(); prog.stop()
        cases.append(.init(name: "legacy: storage view outside its root", bytes: legacyStream(prog.bytes, storages: [("1", 2, data)]), expected: .invalidPickle))
        return cases
    }

    static var wrappers: [CraftedFile] {
        func archive(_ build: (inout PickleProgram) -> Void) -> [UInt8] {
            var p = PickleProgram()
            build(&p)
            return torchArchive(p.bytes, records: [("data/0", floatBytesLE([1, 2, 3, 4]))])
        }
        return [
            .init(name: "top level is a list", bytes: archive { p in p.op(0x5d); p.stop() }, expected: .notAStateDict),
            .init(name: "a dict without tensors", bytes: archive { p in p.emptyDict(); p.string("epoch"); p.int(3); p.op(0x73); p.stop() }, expected: .notAStateDict, mentions: "'epoch' (int)"),
            .init(name: "a state dict with an int key", bytes: archive { p in p.emptyDict(); p.string("m"); p.emptyDict(); p.int(1)
                p.tensor(numel: 4, size: [4], stride: [1]); p.op(0x73, 0x73); p.stop() }, expected: .notAStateDict),
            .init(name: "a state dict with an _extra_state dict", bytes: archive { p in p.emptyDict(); p.mark(); p.string("w")
                p.tensor(numel: 4, size: [4], stride: [1]); p.string("x._extra_state"); p.emptyDict(); p.setItems(); p.stop() }, expected: .notAStateDict, mentions: "_extra_state"),
            .init(name: "a bare storage", bytes: archive { p in p.mark(); p.string("storage"); p.global("torch", "FloatStorage"); p.string("0"); p.string("cpu"); p.int(4); p.tuple(); p.op(0x51); p.stop() }, expected: .notAStateDict),
            .init(name: "a bare class", bytes: archive { p in p.global("torch", "Tensor"); p.stop() }, expected: .notAStateDict),
        ]
    }

    static var all: [CraftedFile] { zipStructure + globals + opcodes + sizes + structures + legacy + wrappers }
}

extension [UInt8] {
    /// The same archive with every occurrence of one entry name replaced (same length).
    func replacingName(_ old: String, with new: String) -> [UInt8] {
        let o = Array(old.utf8), n = Array(new.utf8)
        precondition(o.count == n.count)
        var out = self
        var i = 0
        while i + o.count <= out.count {
            if Array(out[i..<(i + o.count)]) == o { out.replaceSubrange(i..<(i + o.count), with: n); i += o.count } else { i += 1 }
        }
        return out
    }

    /// The same archive with a record's content replaced (same length) and its CRC updated.
    func replacingRecord(_ name: String, _ old: String, with new: String) -> [UInt8] {
        var out = self.replacingName(old, with: new)
        out.withUnsafeMutableBytes { raw in
            guard let zip = try? ZipArchive(UnsafeRawBufferPointer(raw)), let e = zip.entry(name) else { return }
            let crc = ZipArchive.crc32(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(raw)[e.dataOffset..<(e.dataOffset + e.size)]))
            // The CRC lives in the data descriptor (after the data) and the central directory.
            raw.storeBytes(of: crc.littleEndian, toByteOffset: e.dataOffset + e.size + 4, as: UInt32.self)
            var q = 0
            let sig: [UInt8] = [0x50, 0x4b, 0x01, 0x02]
            while q + 46 < raw.count {
                if Array(raw[q..<(q + 4)]) == sig, Int(raw.loadUnaligned(fromByteOffset: q + 42, as: UInt32.self)) == e.headerOffset {
                    raw.storeBytes(of: crc.littleEndian, toByteOffset: q + 16, as: UInt32.self)
                }
                q += 1
            }
        }
        return out
    }
}

/// Crafted files: each is refused with the expected typed error, quickly, without a trap.
@Suite struct TorchFileCraftedTests {
    @Test(arguments: CraftedCorpus.all)
    func craftedFileIsRefused(_ c: CraftedFile) {
        let e = stateDictError(c.bytes)
        guard let e else { Issue.record("\(c.name): accepted"); return }
        #expect(TorchErrorKind(e) == c.expected, "\(c.name): \(e)")
        if let word = c.mentions { #expect(e.description.contains(word), "\(c.name): \(e)") }
        #expect(!e.description.contains("\n"), "one line")
        // Through the format-detecting entry point the same error arrives wrapped.
        if c.expected != .unrecognizedFormat {
            do throws(SafetensorsError) {
                _ = try StateDict(weightsData: Data(c.bytes))
            } catch {
                if case .torchFile(let inner) = error { #expect(inner == e) }
            }
        }
    }

    @Test func corpusSize() {
        // Reported in the closing note; every case above is a distinct crafted file.
        print("crafted .pth cases: \(CraftedCorpus.all.count)")
        #expect(CraftedCorpus.all.count > 200)
    }

    /// A DAG that doubles 60 times through the memo (2^60 leaves if copied) converts in linear time,
    /// sharing the repeated parts, and prints a bounded description.
    @Test func sharedSubstructuresAreNotCopied() throws {
        var p = PickleProgram()
        p.op(0x5d); p.int(1); p.op(0x61)        // L0 = [1]
        for _ in 0..<60 { p.op(0x71, 0, 0x68, 0, 0x86) }  // Li = (Li-1, Li-1)
        p.stop()
        let v = try TorchFile.decode(torchArchive(p.bytes))
        #expect(v.elements?.count == 2)
        #expect(v.description.count < 20_000)
        #expect(stateDictError(torchArchive(p.bytes)).map(TorchErrorKind.init) == .notAStateDict)
    }

    /// Every prefix of real files (the zip format and the legacy stream) and of a pickle inside a
    /// valid archive: a typed error or, for the complete file, success.
    @Test func truncationSweeps() throws {
        var tried = 0
        for name in ["views_legacy.pth", "views.pth", "dtypes.pth"] {
            let bytes = try [UInt8](Data(contentsOf: Fixtures.url("pth/" + name)))
            for n in 0..<bytes.count {
                #expect(torchError(Array(bytes[0..<n])) != nil, "\(name) cut at \(n)")
                tried += 1
            }
            #expect(torchError(bytes) == nil)
        }
        // The pickle of the training checkpoint cut at every fourth byte (each cut decodes the
        // prefix, so the sweep is quadratic), in an otherwise valid archive.
        let pickle = try recordBytes("training_checkpoint.pth", "data.pkl")
        let storages = try otherRecords("training_checkpoint.pth")
        #expect(torchError(torchArchive(pickle, records: storages)) == nil)
        for n in stride(from: 0, to: pickle.count, by: 4) {
            let e = torchError(torchArchive(Array(pickle[0..<n]), records: storages))
            #expect(e != nil, "pickle cut at \(n)")
            tried += 1
        }
        print("truncated .pth files: \(tried)")
    }

    /// Bit flips at every byte of a legacy file (no checksums) and of a zip file's pickle (the
    /// archive rebuilt so the CRC matches): never a trap or hang, whatever the outcome.
    @Test func bitFlipSweeps() throws {
        var tried = 0, refused = 0
        let legacy = try [UInt8](Data(contentsOf: Fixtures.url("pth/views_legacy.pth")))
        for i in legacy.indices {
            for mask: UInt8 in [0x01, 0x80, 0xFF] {
                var b = legacy
                b[i] ^= mask
                if torchError(b) != nil { refused += 1 }
                tried += 1
            }
        }
        let pickle = try recordBytes("views.pth", "data.pkl")
        let storages = try otherRecords("views.pth")
        #expect(storages.count == 6)
        for i in pickle.indices {
            for mask: UInt8 in [0x01, 0x10, 0xFF] {
                var b = pickle
                b[i] ^= mask
                if stateDictError(torchArchive(b, records: storages)) != nil { refused += 1 }
                tried += 1
            }
        }
        // Zip-structure bytes of a zip file: every byte outside the stored data flipped.
        let zip = try [UInt8](Data(contentsOf: Fixtures.url("pth/dtypes.pth")))
        for i in zip.indices {
            var b = zip
            b[i] ^= 0x41
            if torchError(b) != nil { refused += 1 }
            tried += 1
        }
        print("bit-flipped .pth files: \(tried), refused: \(refused)")
        #expect(refused > tried / 3)
    }

    /// Random mutations (overwrite, insert, delete, duplicate ranges) of several real files,
    /// deterministic: the reader must return or throw for each.
    @Test func randomMutations() throws {
        var rng = SplitMix(seed: 0x5EED)
        var tried = 0
        for name in ["training_checkpoint.pth", "views_legacy.pth", "protocol4.pth", "big_endian.pth"] {
            let original = try [UInt8](Data(contentsOf: Fixtures.url("pth/" + name)))
            let isZip = original.starts(with: [0x50, 0x4b])
            let pickle = isZip ? try recordBytes(name, "data.pkl") : original
            let storages = isZip ? try otherRecords(name) : []
            for _ in 0..<400 {
                var b = pickle
                for _ in 0..<(1 + Int(rng.next() % 4)) {
                    let i = Int(rng.next() % UInt64(b.count))
                    switch rng.next() % 4 {
                    case 0: b[i] = UInt8(truncatingIfNeeded: rng.next())
                    case 1: b.insert(UInt8(truncatingIfNeeded: rng.next()), at: i)
                    case 2: b.remove(at: i)
                    default:
                        let n = min(16, b.count - i)
                        b.insert(contentsOf: b[i..<(i + n)], at: i)
                    }
                }
                _ = isZip ? stateDictError(torchArchive(b, records: storages)) : stateDictError(b)
                tried += 1
            }
        }
        print("randomly mutated .pth files: \(tried)")
    }

    /// The storage records of a fixture archive (`data/<key>`), by name without the folder.
    private func otherRecords(_ file: String) throws -> [(String, [UInt8])] {
        let data = try [UInt8](Data(contentsOf: Fixtures.url("pth/" + file)))
        return try data.withUnsafeBytes { raw in
            let zip = try ZipArchive(raw)
            return try zip.entries.compactMap { e throws -> (String, [UInt8])? in
                guard let slash = e.name.firstIndex(of: "/") else { return nil }
                let local = String(e.name[e.name.index(after: slash)...])
                return local.hasPrefix("data/") ? (local, Array(try zip.data(of: e))) : nil
            }
        }
    }

    /// A record's bytes from a fixture archive.
    private func recordBytes(_ file: String, _ record: String) throws -> [UInt8] {
        let data = try [UInt8](Data(contentsOf: Fixtures.url("pth/" + file)))
        return try data.withUnsafeBytes { raw in
            let zip = try ZipArchive(raw)
            let prefix = String(zip.entries[0].name.prefix { $0 != "/" }) + "/"
            guard let e = zip.entry(prefix + record) else { throw TorchFileError.missingRecord(record) }
            return Array(try zip.data(of: e))
        }
    }
}

/// A small deterministic generator for the mutation test.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension TorchFileCraftedTests {
    /// A plain zip without zip64 records, as Python's zipfile writes it, is read.
    @Test func plainZipWithoutZip64Loads() throws {
        let good = torchArchive(PickleProgram.stateDict(numel: 4, size: [2, 2], stride: [2, 1]), records: [("data/0", floatBytesLE([1, 2, 3, 4]))])
        let sd = try StateDict(torchData: Data(withoutZip64(good)))
        #expect(sd["w"]?.scalars == [1, 2, 3, 4])
    }
}
