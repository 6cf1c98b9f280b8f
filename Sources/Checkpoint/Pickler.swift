import TensorCore

/// Writes a ``PickleValue`` as a protocol-2 pickle with the opcodes and callables `torch.save`
/// uses, so `torch.load(weights_only=True)` accepts it: dicts and OrderedDicts with SETITEMS,
/// lists with APPENDS, tensors as `torch._utils._rebuild_tensor_v2` over a persistent-id storage,
/// bytes as `_codecs.encode(str, 'latin1')` (protocol 2 has no bytes opcode).
struct Pickler {
    /// One storage record of the archive: a byte range of a tensor storage.
    struct StorageRecord {
        let storage: TensorStorage
        let dtype: DType
        /// Element range of `storage` the record holds.
        var lower: Int
        var upper: Int
    }

    private(set) var out: [UInt8] = [0x80, 2]
    private(set) var records: [StorageRecord] = []
    private var recordIndex: [ObjectIdentifier: Int] = [:]
    private var globalMemo: [String: Int] = [:]
    private var memoCount = 0

    /// Plans the storage records first: tensors viewing one storage share one record (covering the
    /// union of their ranges), as PyTorch shares storages between views.
    init(collecting value: PickleValue) throws(TorchFileError) {
        try collect(value, depth: 0)
    }

    private mutating func collect(_ v: PickleValue, depth: Int) throws(TorchFileError) {
        guard depth < Unpickler.maxDepth else { throw .limitExceeded("values nested deeper than \(Unpickler.maxDepth) levels cannot be written") }
        switch v {
        case .tensor(let t):
            let id = ObjectIdentifier(t.storage)
            let lower = t.storageOffset, upper = t.storageOffset + t.count
            if let i = recordIndex[id] {
                guard records[i].dtype == t.dtype else {
                    throw .invalidTensor("two tensors view the same memory as \(records[i].dtype) and \(t.dtype); torch.save refuses that too")
                }
                if t.count > 0 {
                    let empty = records[i].lower == records[i].upper
                    records[i].lower = empty ? lower : min(records[i].lower, lower)
                    records[i].upper = empty ? upper : max(records[i].upper, upper)
                }
            } else {
                recordIndex[id] = records.count
                records.append(StorageRecord(storage: t.storage, dtype: t.dtype, lower: t.count > 0 ? lower : 0, upper: t.count > 0 ? upper : 0))
            }
        case .tuple(let items), .list(let items), .set(let items):
            for i in items { try collect(i, depth: depth + 1) }
        case .dict(let d):
            for e in d.entries { try collect(e.key, depth: depth + 1); try collect(e.value, depth: depth + 1) }
        default: break
        }
    }

    /// The pickle of `value`, ending with STOP.
    mutating func pickle(_ value: PickleValue) throws(TorchFileError) -> [UInt8] {
        try write(value)
        out.append(0x2e)  // STOP
        return out
    }

    private mutating func write(_ v: PickleValue) throws(TorchFileError) {
        switch v {
        case .none: out.append(0x4e)
        case .bool(let b): out.append(b ? 0x88 : 0x89)
        case .int(let i): int(i)
        case .bigInt(let b):
            if b.count < 256 { out.append(0x8a); out.append(UInt8(b.count)) } else { out.append(0x8b); le32(UInt32(b.count)) }
            out += b
        case .float(let f):
            out.append(0x47)
            withUnsafeBytes(of: f.bitPattern.bigEndian) { out += $0 }
        case .string(let s): string(s)
        case .bytes(let b):
            global("_codecs", "encode")
            string(String(String.UnicodeScalarView(b.map { Unicode.Scalar($0) })))
            string("latin1")
            out += [0x86, 0x52]  // TUPLE2, REDUCE
        case .tuple(let items):
            switch items.count {
            case 0: out.append(0x29)
            case 1...3:
                for i in items { try write(i) }
                out.append(0x84 + UInt8(items.count))  // TUPLE1/2/3
            default:
                out.append(0x28)
                for i in items { try write(i) }
                out.append(0x74)
            }
        case .list(let items):
            out.append(0x5d)
            for chunk in stride(from: 0, to: items.count, by: 1000) {
                out.append(0x28)
                for i in items[chunk..<min(chunk + 1000, items.count)] { try write(i) }
                out.append(0x65)  // APPENDS
            }
        case .set(let items):
            global("__builtin__", "set")
            try write(.list(items))
            out += [0x85, 0x52]  // TUPLE1, REDUCE
        case .dict(let d):
            if d.isOrdered {
                global("collections", "OrderedDict")
                out += [0x29, 0x52]  // EMPTY_TUPLE, REDUCE
            } else {
                out.append(0x7d)
            }
            let entries = d.entries
            for chunk in stride(from: 0, to: entries.count, by: 1000) {
                out.append(0x28)
                for e in entries[chunk..<min(chunk + 1000, entries.count)] { try write(e.key); try write(e.value) }
                out.append(0x75)  // SETITEMS
            }
        case .tensor(let t): tensor(t)
        case .dtype(let n): global("torch", n)
        case .device(let n):
            global("torch", "device")
            string(n)
            out += [0x85, 0x52]
        }
    }

    /// `_rebuild_tensor_v2(('storage', torch.FloatStorage, key, 'cpu', numel), offset, size, stride, False, OrderedDict())`
    private mutating func tensor(_ t: Tensor) {
        let i = recordIndex[ObjectIdentifier(t.storage)]!
        let r = records[i]
        global("torch._utils", "_rebuild_tensor_v2")
        out.append(0x28)
        // the persistent id
        out.append(0x28)
        string("storage")
        global("torch", TorchElementType(writing: t.dtype).storageClassName!)
        string(String(i))
        string("cpu")
        int(r.upper - r.lower)
        out += [0x74, 0x51]  // TUPLE, BINPERSID
        int(t.count > 0 ? t.storageOffset - r.lower : 0)
        var strides = [Int](repeating: 1, count: t.rank)
        var s = 1
        for d in (0..<t.rank).reversed() { strides[d] = s; s *= t.shape[d] }
        intTuple(t.shape)
        intTuple(strides)
        out.append(0x89)  // requires_grad False, as state_dict() tensors are
        global("collections", "OrderedDict")
        out += [0x29, 0x52]  // OrderedDict() for the backward hooks
        out += [0x74, 0x52]  // TUPLE, REDUCE
    }

    private mutating func intTuple(_ values: [Int]) {
        if values.isEmpty { out.append(0x29); return }
        if values.count <= 3 {
            for v in values { int(v) }
            out.append(0x84 + UInt8(values.count))
        } else {
            out.append(0x28)
            for v in values { int(v) }
            out.append(0x74)
        }
    }

    /// A GLOBAL, memoised after its first use (BINPUT / BINGET), as Python's pickler does.
    private mutating func global(_ module: String, _ name: String) {
        let key = module + "\n" + name
        if let m = globalMemo[key] {
            get(m)
            return
        }
        out.append(0x63)
        out += Array(module.utf8) + [0x0a] + Array(name.utf8) + [0x0a]
        globalMemo[key] = memoCount
        put(memoCount)
        memoCount += 1
    }

    private mutating func put(_ i: Int) {
        if i < 256 { out += [0x71, UInt8(i)] } else { out.append(0x72); le32(UInt32(i)) }
    }

    private mutating func get(_ i: Int) {
        if i < 256 { out += [0x68, UInt8(i)] } else { out.append(0x6a); le32(UInt32(i)) }
    }

    private mutating func int(_ i: Int) {
        if i >= 0 && i < 256 {
            out += [0x4b, UInt8(i)]
        } else if i >= 0 && i < 65536 {
            out += [0x4d, UInt8(i & 0xFF), UInt8(i >> 8)]
        } else if i >= Int(Int32.min) && i <= Int(Int32.max) {
            out.append(0x4a)
            le32(UInt32(bitPattern: Int32(i)))
        } else {
            // LONG1: the shortest little-endian two's complement.
            var bytes = withUnsafeBytes(of: Int64(i).littleEndian) { Array($0) }
            while bytes.count > 1 {
                let last = bytes[bytes.count - 1], prev = bytes[bytes.count - 2]
                if (last == 0 && prev & 0x80 == 0) || (last == 0xFF && prev & 0x80 != 0) { bytes.removeLast() } else { break }
            }
            out += [0x8a, UInt8(bytes.count)] + bytes
        }
    }

    private mutating func string(_ s: String) {
        let u = Array(s.utf8)
        if u.count <= Int(UInt32.max) {
            out.append(0x58)  // BINUNICODE
            le32(UInt32(u.count))
        } else {
            out.append(0x8d)  // BINUNICODE8 (protocol 4) for strings beyond 4 GiB
            withUnsafeBytes(of: UInt64(u.count).littleEndian) { out += $0 }
        }
        out += u
    }

    private mutating func le32(_ v: UInt32) {
        withUnsafeBytes(of: v.littleEndian) { out += $0 }
    }
}
