import Foundation
import Testing
@testable import Checkpoint
import TensorCore
import NN

/// Builds pickle programs opcode by opcode, for crafted checkpoint files.
struct PickleProgram {
    var bytes: [UInt8]

    init(protocol p: UInt8 = 2) { bytes = [0x80, p] }

    @discardableResult mutating func op(_ codes: UInt8...) -> Self { bytes += codes; return self }
    mutating func raw(_ b: [UInt8]) { bytes += b }
    mutating func global(_ module: String, _ name: String) { bytes += [0x63] + Array(module.utf8) + [0x0a] + Array(name.utf8) + [0x0a] }
    mutating func string(_ s: String) { let u = Array(s.utf8); bytes += [0x58] + le32(UInt32(u.count)) + u }
    mutating func int(_ i: Int) {
        if (0..<256).contains(i) { bytes += [0x4b, UInt8(i)] } else { bytes += [0x4a] + le32(UInt32(bitPattern: Int32(i))) }
    }
    mutating func long(_ i: Int64) { bytes += [0x8a, 8] + withUnsafeBytes(of: i.littleEndian) { Array($0) } }
    mutating func mark() { bytes.append(0x28) }
    mutating func tuple() { bytes.append(0x74) }
    mutating func reduce() { bytes.append(0x52) }
    mutating func stop() { bytes.append(0x2e) }
    mutating func emptyDict() { bytes.append(0x7d) }
    mutating func setItems() { bytes.append(0x75) }

    /// `_rebuild_tensor_v2(('storage', torch.<type>, key, 'cpu', numel), offset, size, stride, False, OrderedDict())`
    mutating func tensor(storage type: String = "FloatStorage", key: String = "0", numel: Int, offset: Int = 0,
                         size: [Int], stride: [Int], legacyView: Bool? = nil, bigNumel: Bool = false) {
        global("torch._utils", "_rebuild_tensor_v2")
        mark()
        mark()
        string("storage")
        global("torch", type)
        string(key)
        string("cpu")
        if bigNumel { long(Int64(numel)) } else { int(numel) }
        if legacyView != nil { op(0x4e) }
        tuple()
        op(0x51)  // BINPERSID
        int(offset)
        mark(); for s in size { bigNumel ? long(Int64(s)) : int(s) }; tuple()
        mark(); for s in stride { bigNumel ? long(Int64(s)) : int(s) }; tuple()
        op(0x89)
        global("collections", "OrderedDict")
        op(0x29, 0x52)
        tuple()
        reduce()
    }

    /// `{name: tensor(...)}` with one tensor and STOP.
    static func stateDict(_ name: String = "w", type: String = "FloatStorage", key: String = "0", numel: Int, offset: Int = 0,
                          size: [Int], stride: [Int], legacy: Bool = false, bigNumel: Bool = false) -> [UInt8] {
        var p = PickleProgram()
        p.emptyDict()
        p.mark()
        p.string(name)
        p.tensor(storage: type, key: key, numel: numel, offset: offset, size: size, stride: stride, legacyView: legacy ? true : nil, bigNumel: bigNumel)
        p.setItems()
        p.stop()
        return p.bytes
    }
}

func le32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
func le64(_ v: UInt64) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }

/// A zip archive laid out as `torch.save` lays it out, around the given records (names without the
/// `archive/` folder).
func torchArchive(_ pickle: [UInt8], records: [(String, [UInt8])] = [], extra: [(String, [UInt8])] = [], zip64Threshold: UInt64 = 0xFFFF_FFFF) -> [UInt8] {
    var out: [UInt8] = []
    var zip = ZipWriter(zip64Threshold: zip64Threshold) { (p) throws(SafetensorsError) in out += p }
    do throws(SafetensorsError) {
        try zip.addEntry("archive/data.pkl", pickle)
        try zip.addEntry("archive/byteorder", Array("little".utf8))
        for (name, bytes) in records { try zip.addEntry("archive/" + name, bytes) }
        for (name, bytes) in extra { try zip.addEntry(name, bytes) }
        try zip.addEntry("archive/version", Array("3\n".utf8))
        try zip.finish()
    } catch {
        Issue.record("building a test archive failed: \(error)")
    }
    return out
}

/// A legacy (non-zip) `torch.save` stream around an object pickle and its storages.
func legacyStream(_ object: [UInt8], storages: [(key: String, count: Int64, bytes: [UInt8])], magicOK: Bool = true, version: Int = 1001) -> [UInt8] {
    var out: [UInt8] = [0x80, 0x02, 0x8a, 0x0a] + (magicOK ? TorchFileReader.legacyMagic : [UInt8](repeating: 1, count: 10)) + [0x2e]
    out += [0x80, 0x02, 0x4d] + [UInt8(version & 0xFF), UInt8(version >> 8)] + [0x2e]
    // sys_info: {'little_endian': True}
    var info = PickleProgram()
    info.emptyDict(); info.string("little_endian"); info.op(0x88, 0x73); info.stop()
    out += info.bytes
    out += object
    var keys = PickleProgram()
    keys.op(0x5d); keys.mark(); for s in storages { keys.string(s.key) }; keys.op(0x65); keys.stop()
    out += keys.bytes
    for s in storages { out += le64(UInt64(bitPattern: s.count)) + s.bytes }
    return out
}

func floatBytesLE(_ v: [Float]) -> [UInt8] { v.flatMap { le32($0.bitPattern) } }

/// The error decoding produced, or nil when it succeeded.
func torchError(_ bytes: [UInt8]) -> TorchFileError? {
    do throws(TorchFileError) { _ = try TorchFile.decode(bytes); return nil } catch { return error }
}

/// The error decoding the bytes to a state dict produced, or nil.
func stateDictError(_ bytes: [UInt8]) -> TorchFileError? {
    do throws(TorchFileError) { _ = try StateDict(torchData: Data(bytes)); return nil } catch { return error }
}
