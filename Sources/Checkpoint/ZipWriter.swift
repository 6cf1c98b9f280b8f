import Foundation

/// Writes a zip archive laid out as PyTorch's writer (miniz) lays out `torch.save` files: every
/// entry stored, its data 64-byte aligned by an `FB` padding extra field, sizes and CRC-32 in a
/// data descriptor after the data, zip64 fields for sizes or offsets of 4 GiB and more, and a
/// zip64 end record always. The bytes go out in order through `emit`, so a file is streamed.
struct ZipWriter {
    struct CentralEntry {
        let name: [UInt8]
        let offset: UInt64
        let size: UInt64
        let crc: UInt32
    }

    /// Sizes and offsets at or above this use zip64 fields (lower only in tests).
    let zip64Threshold: UInt64
    private(set) var cursor: UInt64 = 0
    private var central: [CentralEntry] = []
    private let emit: (UnsafeRawBufferPointer) throws(SafetensorsError) -> Void

    init(zip64Threshold: UInt64 = 0xFFFF_FFFF, emit: @escaping (UnsafeRawBufferPointer) throws(SafetensorsError) -> Void) {
        self.zip64Threshold = zip64Threshold
        self.emit = emit
    }

    private mutating func write(_ bytes: [UInt8]) throws(SafetensorsError) {
        // Array.withUnsafeBytes is not typed-throws, so the error crosses it as a value.
        let failure: SafetensorsError? = bytes.withUnsafeBytes { p in
            do throws(SafetensorsError) { try emit(p); return nil } catch { return error }
        }
        if let failure { throw failure }
        cursor += UInt64(bytes.count)
    }

    /// Adds one stored entry whose data is `parts` in order (no copy of the data is made).
    mutating func addEntry(_ name: String, size: UInt64, parts: [UnsafeRawBufferPointer]) throws(SafetensorsError) {
        let nameBytes = Array(name.utf8)
        let headerOffset = cursor
        let bigSize = size >= zip64Threshold, bigOffset = headerOffset >= zip64Threshold
        var zip64Extra: [UInt8] = []
        if bigSize || bigOffset {
            var fields: [UInt8] = []
            if bigSize { fields += le64(size) + le64(size) }
            if bigOffset { fields += le64(headerOffset) }
            zip64Extra = le16(1) + le16(UInt16(fields.count)) + fields
        }
        // Align the data to 64 bytes with an 'FB' extra field, as PyTorch does (for mmap loading).
        let start = headerOffset + 30 + UInt64(nameBytes.count) + 4 + UInt64(zip64Extra.count)
        let padding = Int((64 - start % 64) % 64)
        let extra = zip64Extra + [UInt8(ascii: "F"), UInt8(ascii: "B")] + le16(UInt16(padding)) + [UInt8](repeating: UInt8(ascii: "Z"), count: padding)
        var header = le32(ZipArchive.localHeaderSignature)
        header += le16(0) + le16(0x0808) + le16(0)       // version needed, flags (data descriptor, UTF-8), stored
        header += le16(0) + le16(0)                       // time, date
        header += le32(0) + le32(0) + le32(0)             // CRC and sizes follow in the data descriptor
        header += le16(UInt16(nameBytes.count)) + le16(UInt16(extra.count))
        try write(header + nameBytes + extra)
        var crc: UInt32 = 0
        var written: UInt64 = 0
        for p in parts {
            crc = ZipArchive.crc32(p, updating: crc)
            try emit(p)
            written += UInt64(p.count)
        }
        precondition(written == size, "ZipWriter: entry \(name) declared \(size) bytes, wrote \(written)")
        cursor += written
        var descriptor = le32(0x0807_4b50) + le32(crc)
        if bigSize || bigOffset { descriptor += le64(size) + le64(size) } else { descriptor += le32(UInt32(size)) + le32(UInt32(size)) }
        try write(descriptor)
        central.append(CentralEntry(name: nameBytes, offset: headerOffset, size: size, crc: crc))
    }

    mutating func addEntry(_ name: String, _ bytes: [UInt8]) throws(SafetensorsError) {
        var copy = self
        let failure: SafetensorsError? = bytes.withUnsafeBytes { p in
            do throws(SafetensorsError) { try copy.addEntry(name, size: UInt64(p.count), parts: [p]); return nil } catch { return error }
        }
        self = copy
        if let failure { throw failure }
    }

    /// Writes the central directory and the end records.
    mutating func finish() throws(SafetensorsError) {
        let directoryOffset = cursor
        var directory: [UInt8] = []
        for e in central {
            let bigSize = e.size >= zip64Threshold, bigOffset = e.offset >= zip64Threshold
            var fields: [UInt8] = []
            if bigSize { fields += le64(e.size) + le64(e.size) }
            if bigOffset { fields += le64(e.offset) }
            let extra = fields.isEmpty ? [] : le16(1) + le16(UInt16(fields.count)) + fields
            let size32 = bigSize ? 0xFFFF_FFFF : UInt32(e.size)
            directory += le32(ZipArchive.centralHeaderSignature)
            directory += le16(0) + le16(0) + le16(0x0808) + le16(0)   // made by, needed, flags, method
            directory += le16(0) + le16(0) + le32(e.crc) + le32(size32) + le32(size32)
            directory += le16(UInt16(e.name.count)) + le16(UInt16(extra.count)) + le16(0)  // name, extra, comment lengths
            directory += le16(0) + le16(0) + le32(0)                   // disk, internal and external attributes
            directory += le32(bigOffset ? 0xFFFF_FFFF : UInt32(e.offset))
            directory += e.name + extra
        }
        try write(directory)
        let directorySize = UInt64(directory.count)
        let zip64End = cursor
        let count = UInt64(central.count)
        var end = le32(ZipArchive.zip64EndSignature) + le64(44) + le16(0x031e) + le16(0x002d) + le32(0) + le32(0)
        end += le64(count) + le64(count) + le64(directorySize) + le64(directoryOffset)
        end += le32(ZipArchive.zip64LocatorSignature) + le32(0) + le64(zip64End) + le32(1)
        end += le32(ZipArchive.endSignature) + le16(0) + le16(0)
        end += le16(UInt16(min(count, 0xFFFF))) + le16(UInt16(min(count, 0xFFFF)))
        end += le32(directorySize >= zip64Threshold ? 0xFFFF_FFFF : UInt32(directorySize))
        end += le32(directoryOffset >= zip64Threshold ? 0xFFFF_FFFF : UInt32(directoryOffset))
        end += le16(0)
        try write(end)
    }
}

private func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8)] }
private func le32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
private func le64(_ v: UInt64) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
