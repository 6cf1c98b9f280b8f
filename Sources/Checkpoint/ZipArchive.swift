import Foundation
import CZlibLoader

/// A read-only view of a zip archive as `torch.save` writes it: every entry stored (uncompressed),
/// found through the central directory, with zip64 sizes and offsets for large files.
///
/// Everything is checked against the buffer before it is used: the end records, every directory
/// entry, every local header and data range (which must lie before the central directory and
/// must not overlap another entry's), and each entry's CRC-32 when its bytes are read.
struct ZipArchive {
    struct Entry {
        let name: String
        let headerOffset: Int
        let dataOffset: Int
        let size: Int
        let crc: UInt32
    }

    let bytes: UnsafeRawBufferPointer
    /// Entries in central-directory order.
    let entries: [Entry]
    private let byName: [String: Int]

    static let localHeaderSignature: UInt32 = 0x0403_4b50
    static let centralHeaderSignature: UInt32 = 0x0201_4b50
    static let endSignature: UInt32 = 0x0605_4b50
    static let zip64EndSignature: UInt32 = 0x0606_4b50
    static let zip64LocatorSignature: UInt32 = 0x0706_4b50

    /// Whether `bytes` starts like a zip archive.
    static func looksLikeZip(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count >= 4 && read32(bytes, 0) == localHeaderSignature
    }

    init(_ bytes: UnsafeRawBufferPointer) throws(TorchFileError) {
        self.bytes = bytes
        let n = bytes.count
        // The end-of-central-directory record: 22 bytes plus a comment of up to 65535 bytes, so
        // it starts in the last 65557 bytes. The last record whose comment reaches the end wins.
        guard n >= 22 else { throw .invalidZip("\(n) bytes is too short for a zip archive") }
        var eocd = -1
        var p = n - 22
        let lowest = max(0, n - 22 - 0xFFFF)
        while p >= lowest {
            if Self.read32(bytes, p) == Self.endSignature, p + 22 + Int(Self.read16(bytes, p + 20)) == n { eocd = p; break }
            p -= 1
        }
        guard eocd >= 0 else { throw .invalidZip("no end-of-central-directory record (truncated?)") }
        var entryCount = Int(Self.read16(bytes, eocd + 10))
        var directorySize = Int(Self.read32(bytes, eocd + 12))
        var directoryOffset = Int(Self.read32(bytes, eocd + 16))
        var directoryLimit = eocd
        // zip64: a locator right before the end record points at the zip64 end record.
        if eocd >= 20, Self.read32(bytes, eocd - 20) == Self.zip64LocatorSignature {
            let locator = eocd - 20
            let recordOffset = Self.read64(bytes, locator + 8)
            guard locator >= 56, recordOffset <= UInt64(locator - 56) else {
                throw .invalidZip("zip64 end record offset \(recordOffset) is out of range")
            }
            let r = Int(recordOffset)
            guard Self.read32(bytes, r) == Self.zip64EndSignature else { throw .invalidZip("no zip64 end record where the locator points") }
            let count64 = Self.read64(bytes, r + 32)
            let size64 = Self.read64(bytes, r + 40)
            let offset64 = Self.read64(bytes, r + 48)
            guard count64 <= UInt64(n), size64 <= UInt64(n), offset64 <= UInt64(n) else {
                throw .invalidZip("zip64 end record declares sizes beyond the \(n)-byte file")
            }
            entryCount = Int(count64)
            directorySize = Int(size64)
            directoryOffset = Int(offset64)
            directoryLimit = r
        }
        guard directoryOffset <= directoryLimit, directorySize <= directoryLimit - directoryOffset else {
            throw .invalidZip("central directory (offset \(directoryOffset), \(directorySize) bytes) lies outside the archive")
        }
        guard entryCount <= directorySize / 46 else {
            throw .invalidZip("\(entryCount) entries cannot fit a \(directorySize)-byte central directory")
        }

        var entries: [Entry] = []
        entries.reserveCapacity(entryCount)
        var byName: [String: Int] = [:]
        var q = directoryOffset
        let directoryEnd = directoryOffset + directorySize
        for _ in 0..<entryCount {
            guard directoryEnd - q >= 46, Self.read32(bytes, q) == Self.centralHeaderSignature else {
                throw .invalidZip("central directory entry \(entries.count) is malformed")
            }
            let flags = Self.read16(bytes, q + 8)
            let method = Self.read16(bytes, q + 10)
            let crc = Self.read32(bytes, q + 16)
            var compressed = UInt64(Self.read32(bytes, q + 20))
            var size = UInt64(Self.read32(bytes, q + 24))
            let nameLength = Int(Self.read16(bytes, q + 28))
            let extraLength = Int(Self.read16(bytes, q + 30))
            let commentLength = Int(Self.read16(bytes, q + 32))
            var headerOffset = UInt64(Self.read32(bytes, q + 42))
            guard 46 + nameLength + extraLength + commentLength <= directoryEnd - q else {
                throw .invalidZip("central directory entry \(entries.count) runs past the directory")
            }
            let nameStart = q + 46
            guard let name = String(validating: UnsafeRawBufferPointer(rebasing: bytes[nameStart..<(nameStart + nameLength)]), as: UTF8.self) else {
                throw .invalidZip("entry \(entries.count) has a name that is not UTF-8")
            }
            // zip64 extended information: the 0xFFFFFFFF fields, in this order, follow in the extra field.
            var e = q + 46 + nameLength
            let extraEnd = e + extraLength
            while extraEnd - e >= 4 {
                let id = Self.read16(bytes, e), len = Int(Self.read16(bytes, e + 2))
                guard len <= extraEnd - e - 4 else { throw .invalidZip("entry '\(name)' has a malformed extra field") }
                if id == 1 {
                    var f = e + 4
                    func next() throws(TorchFileError) -> UInt64 {
                        guard f + 8 <= e + 4 + len else { throw .invalidZip("entry '\(name)' has a short zip64 extra field") }
                        defer { f += 8 }
                        return Self.read64(bytes, f)
                    }
                    if size == 0xFFFF_FFFF { size = try next() }
                    if compressed == 0xFFFF_FFFF { compressed = try next() }
                    if headerOffset == 0xFFFF_FFFF { headerOffset = try next() }
                }
                e += 4 + len
            }
            q += 46 + nameLength + extraLength + commentLength

            if flags & 1 != 0 { throw .unsupportedZipEntry(name: name, reason: "is encrypted") }
            if method != 0 {
                throw .unsupportedZipEntry(name: name, reason: "is compressed (method \(method)); torch.save stores entries uncompressed")
            }
            guard compressed == size else { throw .invalidZip("stored entry '\(name)' has compressed size \(compressed) ≠ size \(size)") }
            guard headerOffset <= UInt64(directoryOffset), directoryOffset - Int(headerOffset) >= 30 else {
                throw .invalidZip("entry '\(name)': local header offset \(headerOffset) is outside the entries area")
            }
            let h = Int(headerOffset)
            guard Self.read32(bytes, h) == Self.localHeaderSignature else { throw .invalidZip("entry '\(name)': no local header at offset \(h)") }
            let localName = Int(Self.read16(bytes, h + 26)), localExtra = Int(Self.read16(bytes, h + 28))
            let dataOffset = h + 30 + localName + localExtra
            guard dataOffset <= directoryOffset, size <= UInt64(directoryOffset - dataOffset) else {
                throw .invalidZip("entry '\(name)': \(size) bytes at offset \(dataOffset) run past the entries area")
            }
            guard localName == nameLength, memcmp(bytes.baseAddress! + h + 30, bytes.baseAddress! + nameStart, nameLength) == 0 else {
                throw .invalidZip("entry '\(name)': the local header names another file")
            }
            guard byName[name] == nil else { throw .invalidZip("two entries are named '\(name)'") }
            byName[name] = entries.count
            entries.append(Entry(name: name, headerOffset: h, dataOffset: dataOffset, size: Int(size), crc: crc))
        }
        // Entries must not share bytes (overlapping entries are a classic zip-bomb construction).
        let ordered = entries.sorted { $0.headerOffset < $1.headerOffset }
        for (a, b) in zip(ordered, ordered.dropFirst()) where a.dataOffset + a.size > b.headerOffset {
            throw .invalidZip("entries '\(a.name)' and '\(b.name)' overlap")
        }
        self.entries = entries
        self.byName = byName
    }

    func entry(_ name: String) -> Entry? {
        byName[name].map { entries[$0] }
    }

    /// The bytes of an entry, after checking its CRC-32. A stored CRC of 0 on non-empty data is
    /// accepted unchecked: `torch.save` writes 0 when CRC computation is switched off
    /// (`torch.serialization.set_crc32_options(False)`).
    func data(of e: Entry) throws(TorchFileError) -> UnsafeRawBufferPointer {
        let b = UnsafeRawBufferPointer(rebasing: bytes[e.dataOffset..<(e.dataOffset + e.size)])
        let computed = Self.crc32(b)
        if computed != e.crc && e.crc != 0 {
            throw .checksumMismatch(name: e.name, stored: e.crc, computed: computed)
        }
        return b
    }

    // MARK: Little-endian fields (callers check ranges; out-of-range reads return 0)

    static func read16(_ b: UnsafeRawBufferPointer, _ at: Int) -> UInt16 {
        guard at >= 0, at <= b.count - 2 else { return 0 }
        return UInt16(littleEndian: b.loadUnaligned(fromByteOffset: at, as: UInt16.self))
    }

    static func read32(_ b: UnsafeRawBufferPointer, _ at: Int) -> UInt32 {
        guard at >= 0, at <= b.count - 4 else { return 0 }
        return UInt32(littleEndian: b.loadUnaligned(fromByteOffset: at, as: UInt32.self))
    }

    static func read64(_ b: UnsafeRawBufferPointer, _ at: Int) -> UInt64 {
        guard at >= 0, at <= b.count - 8 else { return 0 }
        return UInt64(littleEndian: b.loadUnaligned(fromByteOffset: at, as: UInt64.self))
    }

    /// CRC-32 (zlib's), updating `crc` with `b`.
    static func crc32(_ b: UnsafeRawBufferPointer, updating crc: UInt32 = 0) -> UInt32 {
        guard let base = b.baseAddress, b.count > 0 else { return crc }
        var c = UInt(crc)
        var p = base.assumingMemoryBound(to: UInt8.self)
        var left = b.count
        while left > 0 {
            let n = min(left, 1 << 30)
            c = swiftnn_crc32(c, p, UInt32(n))
            p += n
            left -= n
        }
        return UInt32(truncatingIfNeeded: c)
    }
}
