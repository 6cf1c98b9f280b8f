import Foundation
import TensorCore

/// Decodes the two formats `torch.save` writes into a ``PickleValue``.
///
/// - zip (PyTorch ≥ 1.6): `<archive>/data.pkl` is the object pickle; a tensor's storage is named
///   by a persistent id `('storage', torch.FloatStorage, '<key>', 'cpu', numel)` and its bytes are
///   the record `<archive>/data/<key>`; `byteorder` says little or big endian.
/// - legacy (`_use_new_zipfile_serialization=False`): one byte stream of pickles — the magic
///   number, the protocol version 1001, a system-info dict, the object (persistent ids with a sixth
///   element, the storage view), the list of storage keys — followed, for each key in that order,
///   by an 8-byte little-endian element count and the storage's little-endian bytes.
final class TorchFileReader {
    /// The legacy format's magic number, 0x1950a86a20f9469cfc6c, as LONG1 pickles it.
    static let legacyMagic: [UInt8] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]
    static let legacyProtocolVersion = 1001
    /// Everything the reader allocates for tensors — storages converted to their loaded dtype
    /// (up to 8 times their file size for int8 → int64) and copies of views that are not plain
    /// slices (transposed, expanded) — is bounded by this many bytes plus 32 times the file's
    /// size, so a tiny file cannot ask for an expanded view of billions of elements, or for one
    /// storage to be converted again through thousands of legacy storage views.
    static let materializationSlack = 64 << 20
    static let materializationFactor = 32

    private let bytes: UnsafeRawBufferPointer
    private var storages: [String: StorageRef] = [:]
    /// The bytes of each root storage, by key (zip: checked on first use; legacy: after the pickle).
    private var storageData: [String: UnsafeRawBufferPointer] = [:]
    private var zipArchive: ZipArchive?
    private var archivePrefix = ""
    private var bigEndian = false
    private var loadedStorages: [String: TensorStorage] = [:]
    private var tensors: [ObjectIdentifier: Tensor] = [:]
    private var converted: [ObjectIdentifier: PickleValue] = [:]
    private var inProgress: Set<ObjectIdentifier> = []
    private var materializationBudget: Int

    private init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
        let (b, o) = bytes.count.multipliedReportingOverflow(by: Self.materializationFactor)
        materializationBudget = o ? Int.max : b.addingReportingOverflow(Self.materializationSlack).partialValue
    }

    /// Whether the bytes look like a file `torch.save` wrote (zip or legacy pickle stream).
    static func looksLikeTorchFile(_ bytes: UnsafeRawBufferPointer) -> Bool {
        ZipArchive.looksLikeZip(bytes) || (bytes.count >= 2 && bytes[0] == 0x80)
    }

    static func decode(_ bytes: UnsafeRawBufferPointer) throws(TorchFileError) -> PickleValue {
        let reader = TorchFileReader(bytes)
        if ZipArchive.looksLikeZip(bytes) { return try reader.decodeZip() }
        if bytes.count >= 2 && bytes[0] == 0x80 { return try reader.decodeLegacy() }
        if bytes.count >= 262, Array(bytes[257..<262]) == Array("ustar".utf8) {
            throw .unsupportedFormat("this is the tar checkpoint format of PyTorch before 1.0, which torch.load(weights_only=True) refuses too; re-save it with a recent PyTorch")
        }
        let head = bytes.prefix(8).map { String(format: "%02x", $0) }.joined(separator: " ")
        throw .unrecognizedFormat(bytes.isEmpty ? "the file is empty" : "it starts with bytes \(head), neither a zip archive nor a pickle")
    }

    // MARK: zip

    private func decodeZip() throws(TorchFileError) -> PickleValue {
        let archive = try ZipArchive(bytes)
        zipArchive = archive
        guard let first = archive.entries.first else { throw .invalidZip("the archive holds no files") }
        guard let slash = first.name.firstIndex(of: "/") else {
            throw .invalidZip("'\(first.name)' is not inside a folder; torch.save puts every record in <archive>/")
        }
        archivePrefix = String(first.name[...slash])
        if archive.entry(archivePrefix + "constants.pkl") != nil {
            throw .unsupportedFormat("this is a TorchScript archive (torch.jit.save); load it in PyTorch with torch.jit.load and save its state_dict() with torch.save")
        }
        if let e = archive.entry(archivePrefix + "byteorder") {
            let b = try archive.data(of: e)
            switch String(decoding: b, as: UTF8.self) {
            case "little": bigEndian = false
            case "big": bigEndian = true
            default: throw .invalidRecord(name: "byteorder", reason: "must be 'little' or 'big'")
            }
        }
        guard let pickle = archive.entry(archivePrefix + "data.pkl") else { throw .missingRecord("data.pkl") }
        var machine = Unpickler(bytes: try archive.data(of: pickle), record: "data.pkl") { [unowned self] (pid) throws(PickleFault) in
            try self.zipStorage(pid)
        }
        let root = try machine.load()
        return try convert(root, depth: 0)
    }

    /// `('storage', storage_type, key, location, numel)`: the record `data/<key>` must hold
    /// exactly numel elements.
    private func zipStorage(_ pid: PyTuple) throws(PickleFault) -> StorageRef {
        guard pid.items.count == 5 else { throw .invalid("a storage id has 5 elements in the zip format, found \(pid.items.count)") }
        let (type, key, numel) = try Self.storageID(pid)
        let byteCount = try Self.byteCount(numel, type, key)
        if let known = storages[key] {
            guard known.elementType == type, known.byteCount == byteCount else {
                throw .passthrough(.invalidTensor("storage '\(key)' is named twice with different types or sizes"))
            }
            return known
        }
        let name = "data/" + key
        guard let archive = zipArchive, let e = archive.entry(archivePrefix + name) else { throw .passthrough(.missingRecord(name)) }
        guard e.size == byteCount else {
            throw .passthrough(.invalidRecord(name: name, reason: "holds \(e.size) bytes, but the pickle declares \(numel) elements of \(type?.rawValue ?? "bytes") (\(byteCount) bytes)"))
        }
        do throws(TorchFileError) {
            storageData[key] = try archive.data(of: e)
        } catch {
            throw .passthrough(error)
        }
        let ref = StorageRef(key: key, elementType: type, byteCount: byteCount)
        storages[key] = ref
        return ref
    }

    private static func storageID(_ pid: PyTuple) throws(PickleFault) -> (TorchElementType?, String, Int) {
        let type: TorchElementType?
        switch pid.items[1] {
        case .global(.storageClass(let t)): type = t
        case .global(.untypedStorage): type = nil
        default: throw .invalid("a storage id's type is \(pid.items[1].typeName), not a storage class")
        }
        guard let key = Unpickler.asciiText(pid.items[2]) else { throw .invalid("a storage key must be a string") }
        guard Unpickler.asciiText(pid.items[3]) != nil else { throw .invalid("a storage location must be a string") }
        guard case .int(let numel) = pid.items[4], numel >= 0 else { throw .invalid("a storage size must be a non-negative int") }
        return (type, key, numel)
    }

    private static func byteCount(_ numel: Int, _ type: TorchElementType?, _ key: String) throws(PickleFault) -> Int {
        let (n, o) = numel.multipliedReportingOverflow(by: type?.byteSize ?? 1)
        guard !o else { throw .passthrough(.invalidTensor("storage '\(key)' declares \(numel) elements, more than any file can hold")) }
        return n
    }

    // MARK: legacy

    private func decodeLegacy() throws(TorchFileError) -> PickleValue {
        func next(_ record: String, at start: Int) throws(TorchFileError) -> (PyObject, Int) {
            var m = Unpickler(bytes: bytes, start: start, record: record) { (_) throws(PickleFault) in
                throw .invalid("a persistent id outside the object pickle")
            }
            let v = try m.load()
            return (v, m.position)
        }
        let (magic, p1) = try next("magic number", at: 0)
        guard case .bigInt(let m) = magic, m == Self.legacyMagic else {
            throw .unrecognizedFormat("a pickle, but not one torch.save wrote (no PyTorch magic number)")
        }
        let (version, p2) = try next("protocol version", at: p1)
        guard case .int(let v) = version, v == Self.legacyProtocolVersion else {
            let found = if case .int(let v) = version { String(v) } else { "of type " + version.typeName }
            throw .unsupportedFormat("legacy checkpoint protocol version \(found); PyTorch only wrote 1001")
        }
        let (sysInfo, p3) = try next("system info", at: p2)
        guard case .dict = sysInfo else { throw .invalidRecord(name: "system info", reason: "must be a dict") }
        // The storages' bytes are always little-endian in this format, whatever sysinfo says.

        var machine = Unpickler(bytes: bytes, start: p3, record: "object pickle") { [unowned self] (pid) throws(PickleFault) in
            try self.legacyStorage(pid)
        }
        let root = try machine.load()
        let (keyList, p4) = try next("storage keys", at: machine.position)
        guard case .list(let keys) = keyList else { throw .invalidRecord(name: "storage keys", reason: "must be a list") }
        var p = p4
        for item in keys.items {
            guard let key = Unpickler.asciiText(item) else { throw .invalidRecord(name: "storage keys", reason: "holds a \(item.typeName), not a string") }
            guard let ref = storages[key], ref.root == nil else {
                throw .invalidRecord(name: "storage keys", reason: "storage '\(key)' is not one the object uses")
            }
            guard storageData[key] == nil else { throw .invalidRecord(name: "storage keys", reason: "storage '\(key)' is listed twice") }
            guard bytes.count - p >= 8 else { throw .invalidRecord(name: "storage '\(key)'", reason: "the file ends before its size (truncated?)") }
            let count = Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: p, as: Int64.self))
            p += 8
            let elementSize = ref.elementType?.byteSize ?? 1
            guard count >= 0, count == Int64(ref.byteCount / elementSize) else {
                throw .invalidRecord(name: "storage '\(key)'", reason: "the file says \(count) elements, the pickle \(ref.byteCount / elementSize)")
            }
            guard ref.byteCount <= bytes.count - p else {
                throw .invalidRecord(name: "storage '\(key)'", reason: "\(ref.byteCount) bytes of data, only \(bytes.count - p) left in the file (truncated?)")
            }
            storageData[key] = UnsafeRawBufferPointer(rebasing: bytes[p..<(p + ref.byteCount)])
            p += ref.byteCount
        }
        return try convert(root, depth: 0)
    }

    /// `('storage', storage_type, root_key, location, numel, view_metadata)`, where view_metadata
    /// is None or `(view_key, offset, view_size)` in elements of the root.
    private func legacyStorage(_ pid: PyTuple) throws(PickleFault) -> StorageRef {
        guard pid.items.count == 6 else { throw .invalid("a storage id has 6 elements in the legacy format, found \(pid.items.count)") }
        let (type, key, numel) = try Self.storageID(pid)
        let byteCount = try Self.byteCount(numel, type, key)
        guard byteCount <= bytes.count else {
            throw .passthrough(.invalidTensor("storage '\(key)' declares \(byteCount) bytes, more than the \(bytes.count)-byte file holds"))
        }
        let root: StorageRef
        if let known = storages[key] {
            guard known.root == nil, known.elementType == type, known.byteCount == byteCount else {
                throw .passthrough(.invalidTensor("storage '\(key)' is named twice with different types or sizes"))
            }
            root = known
        } else {
            root = StorageRef(key: key, elementType: type, byteCount: byteCount)
            storages[key] = root
        }
        switch pid.items[5] {
        case .none:
            return root
        case .tuple(let view) where view.items.count == 3:
            guard let viewKey = Unpickler.asciiText(view.items[0]), case .int(let offset) = view.items[1], case .int(let size) = view.items[2],
                  offset >= 0, size >= 0, offset <= numel, size <= numel - offset else {
                throw .invalid("a storage view must be (key, offset, size) inside its storage")
            }
            let elementSize = type?.byteSize ?? 1
            if let known = storages[viewKey] {
                guard known.root === root, known.byteOffset == offset * elementSize, known.byteCount == size * elementSize else {
                    throw .passthrough(.invalidTensor("storage view '\(viewKey)' is named twice differently"))
                }
                return known
            }
            let ref = StorageRef(key: viewKey, elementType: type, byteCount: size * elementSize, root: root, byteOffset: offset * elementSize)
            storages[viewKey] = ref
            return ref
        default:
            throw .invalid("a storage view must be None or (key, offset, size)")
        }
    }

    // MARK: Conversion

    private func convert(_ o: PyObject, depth: Int) throws(TorchFileError) -> PickleValue {
        switch o {
        case .none: return .none
        case .bool(let b): return .bool(b)
        case .int(let i): return .int(i)
        case .bigInt(let b): return .bigInt(b)
        case .float(let f): return .float(f)
        case .string(let s): return .string(s)
        case .bytes(let b): return .bytes(b)
        case .dtype(let n), .global(.dtype(let n)): return .dtype(n)
        case .device(let n): return .device(n)
        case .tensor(let t): return .tensor(try materialize(t))
        case .global:
            throw .notAStateDict("the file holds a bare class or function reference, which SwiftNN does not load")
        case .storage(let s):
            throw .notAStateDict("the file holds a bare storage '\(s.key)' rather than a tensor, which SwiftNN does not load")
        case .tuple(let t):
            return try boxed(t, depth) { () throws(TorchFileError) in .tuple(try t.items.map { (v) throws(TorchFileError) in try convert(v, depth: depth + 1) }) }
        case .list(let l):
            return try boxed(l, depth) { () throws(TorchFileError) in .list(try l.items.map { (v) throws(TorchFileError) in try convert(v, depth: depth + 1) }) }
        case .set(let s):
            return try boxed(s, depth) { () throws(TorchFileError) in .set(try s.items.map { (v) throws(TorchFileError) in try convert(v, depth: depth + 1) }) }
        case .dict(let d):
            return try boxed(d, depth) { () throws(TorchFileError) in
                var entries: [(PickleValue, PickleValue)] = []
                entries.reserveCapacity(d.keys.count)
                for (k, v) in zip(d.keys, d.values) {
                    entries.append((try convert(k, depth: depth + 1), try convert(v, depth: depth + 1)))
                }
                return .dict(PickleDict(entries, isOrdered: d.isOrdered))
            }
        }
    }

    /// Converts a container once (a memo reference to it reuses the result, sharing storage),
    /// refusing cycles and excessive nesting.
    private func boxed(_ box: AnyObject, _ depth: Int, _ body: () throws(TorchFileError) -> PickleValue) throws(TorchFileError) -> PickleValue {
        let id = ObjectIdentifier(box)
        if let done = converted[id] { return done }
        guard depth < Unpickler.maxDepth else { throw .limitExceeded("containers nested deeper than \(Unpickler.maxDepth) levels") }
        guard inProgress.insert(id).inserted else { throw .notAStateDict("the pickle builds a container that contains itself (a cycle); checkpoints never do") }
        let v = try body()
        inProgress.remove(id)
        converted[id] = v
        return v
    }

    // MARK: Tensors

    private func materialize(_ ref: TensorRef) throws(TorchFileError) -> Tensor {
        let id = ObjectIdentifier(ref)
        if let t = tensors[id] { return t }
        let t: Tensor
        switch ref.source {
        case .parameter(let inner):
            let data = try materialize(inner)
            t = Tensor(storage: data.storage, shape: data.shape, dtype: data.dtype, offset: data.storageOffset, requiresGrad: ref.requiresGrad)
        case .view(let storage, let elementType, let offset, let size, let stride, let negated):
            t = try view(storage, elementType, offset, size, stride, negated)
            t.requiresGrad = ref.requiresGrad && t.dtype.isFloatingPoint
        }
        tensors[id] = t
        return t
    }

    private func view(_ storage: StorageRef, _ type: TorchElementType, _ offset: Int, _ size: [Int], _ stride: [Int],
                      _ negated: Bool) throws(TorchFileError) -> Tensor {
        let name = "tensor on storage '\(storage.key)'"
        guard size.count <= 64 else { throw .invalidTensor("\(name) has \(size.count) dimensions; PyTorch allows at most 64") }
        guard size.allSatisfy({ $0 >= 0 }) else { throw .invalidTensor("\(name) has a negative size \(shapeText(size))") }
        guard stride.allSatisfy({ $0 >= 0 }) else { throw .invalidTensor("\(name) has a negative stride \(shapeText(stride))") }
        guard offset >= 0 else { throw .invalidTensor("\(name) has a negative storage offset \(offset)") }
        // The element count, refusing shapes whose product overflows even if a dimension is zero.
        var count = 1
        for s in size {
            let (p, o) = count.multipliedReportingOverflow(by: max(s, 1))
            guard !o else { throw .invalidTensor("\(name) has a shape \(shapeText(size)) whose element count overflows") }
            count = p
        }
        if size.contains(0) { count = 0 }
        let loaded = type.loadedDType
        guard storage.byteCount % type.byteSize == 0 else {
            throw .invalidTensor("storage '\(storage.key)' holds \(storage.byteCount) bytes, not a whole number of \(type.rawValue) elements")
        }
        let numel = storage.byteCount / type.byteSize
        if count == 0 { return Tensor(uninitializedShape: size, dtype: loaded) }
        // The furthest element the view reaches must lie inside the storage.
        var last = offset
        for (s, st) in zip(size, stride) {
            let (a, o1) = (s - 1).multipliedReportingOverflow(by: st)
            let (b, o2) = last.addingReportingOverflow(a)
            guard !o1, !o2 else { throw .invalidTensor("\(name): offset \(offset), size \(shapeText(size)), stride \(shapeText(stride)) overflow") }
            last = b
        }
        guard last < numel else {
            throw .invalidTensor("\(name): offset \(offset), size \(shapeText(size)), stride \(shapeText(stride)) reach element \(last), but the storage has \(numel)")
        }
        let source = try loadedStorage(storage, type)
        var contiguous = true
        var expected = 1
        for d in stride.indices.reversed() where size[d] != 1 {
            if stride[d] != expected { contiguous = false; break }
            expected *= size[d]
        }
        if contiguous && !negated {
            return Tensor(storage: source, shape: size, dtype: loaded, offset: offset)
        }
        // A copy: bounded in total, so expanded (stride 0) views cannot blow up memory.
        let (bytesNeeded, overflow) = count.multipliedReportingOverflow(by: loaded.byteSize)
        guard !overflow, bytesNeeded <= materializationBudget else {
            throw .limitExceeded("\(name) is a \(shapeText(size)) view that would take \(bytesNeeded) bytes, more than \(Self.materializationFactor) times the file size justifies")
        }
        materializationBudget -= bytesNeeded
        let out = Tensor(uninitializedShape: size, dtype: loaded)
        StridedGather.copy(from: source.pointer, elementSize: loaded.byteSize, offset: offset, size: size, stride: stride, to: out.rawPointer)
        if negated { StridedGather.negate(out) }
        return out
    }

    /// The storage converted to its loaded dtype, once per storage.
    private func loadedStorage(_ ref: StorageRef, _ type: TorchElementType) throws(TorchFileError) -> TensorStorage {
        let cacheKey = ref.key + "\u{0}" + type.rawValue
        if let s = loadedStorages[cacheKey] { return s }
        let rootKey = ref.root?.key ?? ref.key
        guard let rootBytes = storageData[rootKey] else {
            throw .invalidRecord(name: "storage '\(rootKey)'", reason: "the file holds no data for it")
        }
        guard ref.byteOffset <= rootBytes.count, ref.byteCount <= rootBytes.count - ref.byteOffset else {
            throw .invalidTensor("storage view '\(ref.key)' lies outside storage '\(rootKey)'")
        }
        let raw = UnsafeRawBufferPointer(rebasing: rootBytes[ref.byteOffset..<(ref.byteOffset + ref.byteCount)])
        let numel = ref.byteCount / type.byteSize
        let loadedBytes = numel * type.loadedDType.byteSize
        guard loadedBytes <= materializationBudget else {
            throw .limitExceeded("storage '\(ref.key)' as \(type.loadedDType) takes \(loadedBytes) bytes, more than \(Self.materializationFactor) times the file size justifies")
        }
        materializationBudget -= loadedBytes
        let s = TensorStorage(byteCount: loadedBytes)
        ElementConversion.convert(raw, type, count: numel, bigEndian: bigEndian, into: s.pointer)
        loadedStorages[cacheKey] = s
        return s
    }
}
