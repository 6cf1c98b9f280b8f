import Foundation

// A restricted pickle machine: the opcodes of protocols 2–5 and the few callables `torch.save`
// uses for tensors and containers. Like `torch.load(weights_only=True)`, a GLOBAL outside the
// allowlist is refused the moment it is read, and REDUCE / NEWOBJ / BUILD only apply the allowed
// callables' own semantics (implemented here): nothing named in a file is ever looked up or run.
//
// Safety: every length is checked against the bytes left; work per opcode is bounded (dict keys
// have a size limit, so hashing cannot be made quadratic through memo references); nesting depth
// is limited; mutable containers are reference boxes, so the memo behaves like Python's and the
// later conversion can detect cycles and share repeated sub-structures instead of copying them.

/// A mutable Python container on the machine's stack or in the memo.
final class PyList { var items: [PyObject]; init(_ items: [PyObject] = []) { self.items = items } }
final class PyTuple { let items: [PyObject]; init(_ items: [PyObject]) { self.items = items } }
final class PySet {
    var items: [PyObject] = []
    var index: Set<PickleKey> = []
}
final class PyDict {
    var keys: [PyObject] = []
    var values: [PyObject] = []
    var index: [PickleKey: Int] = [:]
    let isOrdered: Bool
    init(ordered: Bool) { isOrdered = ordered }
}

/// Work left for an operation whose cost a file could otherwise inflate.
final class WorkBudget {
    var remaining: Int
    init(_ n: Int) { remaining = n }
}

/// A storage named by a persistent id: its key in the file and its declared size and type.
final class StorageRef {
    let key: String
    /// nil: `torch.UntypedStorage` (bytes; the tensor gives the element type).
    let elementType: TorchElementType?
    /// Declared size in bytes.
    let byteCount: Int
    /// Legacy format only: this storage is a view of `root` starting `byteOffset` bytes in.
    let root: StorageRef?
    let byteOffset: Int
    init(key: String, elementType: TorchElementType?, byteCount: Int, root: StorageRef? = nil, byteOffset: Int = 0) {
        self.key = key; self.elementType = elementType; self.byteCount = byteCount; self.root = root; self.byteOffset = byteOffset
    }
}

/// A tensor as `_rebuild_tensor_v2` describes it, materialised once all storages are known.
final class TensorRef {
    enum Source {
        case view(storage: StorageRef, elementType: TorchElementType, offset: Int, size: [Int], stride: [Int], negated: Bool)
        /// `nn.Parameter(data, requires_grad)`: the same data, its own flag.
        case parameter(TensorRef)
    }
    let source: Source
    let requiresGrad: Bool
    init(_ source: Source, requiresGrad: Bool) { self.source = source; self.requiresGrad = requiresGrad }
}

/// The callables and classes a pickle may name.
enum AllowedGlobal: Equatable {
    case orderedDict, counter, dictClass
    case rebuildTensor, rebuildTensorV2, rebuildTensorV3, rebuildParameter, rebuildParameterWithState, rebuildFromTypeV2
    case parameterClass, tensorClass
    case storageClass(TorchElementType), untypedStorage
    case dtype(String)
    case device, size, codecsEncode, bytearray, bytes, set, frozenset

    var isTensorRebuild: Bool {
        switch self {
        case .rebuildTensor, .rebuildTensorV2, .rebuildTensorV3, .rebuildParameter, .rebuildParameterWithState: true
        default: false
        }
    }
}

enum PyObject {
    case none
    case bool(Bool)
    case int(Int)
    case bigInt([UInt8])
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple(PyTuple)
    case list(PyList)
    case dict(PyDict)
    case set(PySet)
    case global(AllowedGlobal)
    case storage(StorageRef)
    case tensor(TensorRef)
    case dtype(String)
    case device(String)

    var typeName: String {
        switch self {
        case .none: "None"
        case .bool: "bool"
        case .int, .bigInt: "int"
        case .float: "float"
        case .string: "str"
        case .bytes: "bytes"
        case .tuple: "tuple"
        case .list: "list"
        case .dict(let d): d.isOrdered ? "OrderedDict" : "dict"
        case .set: "set"
        case .global: "a class or function"
        case .storage: "a storage"
        case .tensor: "a tensor"
        case .dtype: "torch.dtype"
        case .device: "torch.device"
        }
    }
}

/// A hashable dict key or set element, following Python's equality (1 == 1.0 == True).
enum PickleKey: Hashable {
    case none
    case int(Int)
    case bigInt([UInt8])
    case float(UInt64)
    case string(String)
    case bytes([UInt8])
    case tuple([PickleKey])
    case dtype(String)
    case device(String)
}

/// Why decoding stopped, before the record name and position are attached.
enum PickleFault: Error {
    case truncated
    case opcode(UInt8)
    case forbidden(String)
    case unsupported(String, String)
    case invalid(String)
    case limit(String)
    /// A complete error from a callback (persistent load), passed through unchanged.
    case passthrough(TorchFileError)
}

struct Unpickler {
    /// Nesting of MARKs (and later of containers) beyond this is refused: real checkpoints nest a
    /// handful of levels, and the converter recurses.
    static let maxDepth = 200
    /// Longest string or bytes value accepted as a dict key or set element.
    static let maxKeyBytes = 1 << 16
    /// Most elements in a tuple used as a dict key.
    static let maxKeyTupleCount = 64

    let bytes: UnsafeRawBufferPointer
    let record: String
    /// Resolves a BINPERSID id (the tuple after its `'storage'` tag) to a storage.
    let persistentLoad: (PyTuple) throws(PickleFault) -> StorageRef

    private var pos: Int
    private var opStart = 0
    private var stack: [PyObject] = []
    private var metastack: [[PyObject]] = []
    private var memo: [Int: PyObject] = [:]
    /// Bytes of dict keys and set elements that may be hashed: 16 times the input plus 1 MiB.
    private let budget: WorkBudget

    init(bytes: UnsafeRawBufferPointer, start: Int = 0, record: String,
         persistentLoad: @escaping (PyTuple) throws(PickleFault) -> StorageRef) {
        self.bytes = bytes
        self.pos = start
        self.record = record
        self.persistentLoad = persistentLoad
        self.budget = WorkBudget(bytes.count > Int.max / 32 ? Int.max / 2 : 16 * bytes.count + (1 << 20))
    }

    /// Where the next pickle starts (after `load()` returned).
    var position: Int { pos }

    /// Runs the machine to STOP and returns the result.
    mutating func load() throws(TorchFileError) -> PyObject {
        do throws(PickleFault) {
            return try run()
        } catch {
            switch error {
            case .truncated: throw .truncatedPickle(record: record, offset: bytes.count)
            case .opcode(let op): throw .unsupportedOpcode(record: record, offset: opStart, opcode: op)
            case .forbidden(let name): throw .forbiddenGlobal(record: record, offset: opStart, name: name)
            case .unsupported(let name, let why): throw .unsupportedGlobal(record: record, offset: opStart, name: name, reason: why)
            case .invalid(let why): throw .invalidPickle(record: record, offset: opStart, reason: why)
            case .limit(let why): throw .limitExceeded("\(record) at byte \(opStart): \(why)")
            case .passthrough(let e): throw e
            }
        }
    }

    // MARK: Reading bytes

    private mutating func byte() throws(PickleFault) -> UInt8 {
        guard pos < bytes.count else { throw .truncated }
        defer { pos += 1 }
        return bytes[pos]
    }

    private mutating func take(_ n: Int) throws(PickleFault) -> UnsafeRawBufferPointer {
        guard n >= 0, n <= bytes.count - pos else { throw .truncated }
        defer { pos += n }
        return UnsafeRawBufferPointer(rebasing: bytes[pos..<(pos + n)])
    }

    private mutating func uint(_ n: Int) throws(PickleFault) -> UInt64 {
        let b = try take(n)
        var v: UInt64 = 0
        for i in (0..<n).reversed() { v = v << 8 | UInt64(b[i]) }
        return v
    }

    /// A length field: refused when it exceeds the bytes left, before anything is allocated.
    private mutating func length(_ n: Int) throws(PickleFault) -> Int {
        let v = try uint(n)
        guard v <= UInt64(bytes.count - pos) else { throw .truncated }
        return Int(v)
    }

    private mutating func line() throws(PickleFault) -> String {
        guard let nl = bytes[pos...].firstIndex(of: UInt8(ascii: "\n")) else { throw .truncated }
        let text = try take(nl - pos)
        pos += 1
        guard let s = String(validating: text, as: UTF8.self) else { throw .invalid("GLOBAL names a module or attribute that is not UTF-8") }
        return s
    }

    private func utf8(_ b: UnsafeRawBufferPointer) throws(PickleFault) -> String {
        guard let s = String(validating: b, as: UTF8.self) else { throw .invalid("string is not valid UTF-8") }
        return s
    }

    // MARK: Stack

    private mutating func pop() throws(PickleFault) -> PyObject {
        guard let v = stack.popLast() else { throw .invalid("stack underflow") }
        return v
    }

    private func top() throws(PickleFault) -> PyObject {
        guard let v = stack.last else { throw .invalid("stack underflow") }
        return v
    }

    private mutating func popMark() throws(PickleFault) -> [PyObject] {
        guard let below = metastack.popLast() else { throw .invalid("no MARK on the stack") }
        let items = stack
        stack = below
        return items
    }

    private mutating func push(_ v: PyObject) { stack.append(v) }

    // MARK: The machine

    private mutating func run() throws(PickleFault) -> PyObject {
        while true {
            opStart = pos
            let op = try byte()
            switch op {
            case 0x80: // PROTO
                let p = try byte()
                guard p >= 2 && p <= 5 else { throw .invalid("pickle protocol \(p); torch.save writes protocols 2 to 5") }
            case 0x95: // FRAME: a length prefix for buffering; nothing to do but check it
                _ = try length(8)
            case 0x2e: // STOP
                guard metastack.isEmpty else { throw .invalid("STOP inside an unfinished MARK") }
                let result = try pop()
                guard stack.isEmpty else { throw .invalid("STOP with \(stack.count) values left on the stack") }
                return result

            // Marks and stack manipulation
            case 0x28: // MARK
                guard metastack.count < Self.maxDepth else { throw .limit("more than \(Self.maxDepth) nested MARKs") }
                metastack.append(stack)
                stack = []
            case 0x30: // POP
                if stack.isEmpty { _ = try popMark() } else { stack.removeLast() }
            case 0x31: // POP_MARK
                _ = try popMark()
            case 0x32: // DUP
                push(try top())

            // Memo
            case 0x68: try get(Int(try uint(1)))          // BINGET
            case 0x6a: try get(Int(try uint(4)))          // LONG_BINGET
            case 0x71: memo[Int(try uint(1))] = try top() // BINPUT
            case 0x72: memo[Int(try uint(4))] = try top() // LONG_BINPUT
            case 0x94: memo[memo.count] = try top()       // MEMOIZE

            // Constants and numbers
            case 0x4e: push(.none)            // NONE
            case 0x88: push(.bool(true))      // NEWTRUE
            case 0x89: push(.bool(false))     // NEWFALSE
            case 0x4b: push(.int(Int(try uint(1))))                          // BININT1
            case 0x4d: push(.int(Int(try uint(2))))                          // BININT2
            case 0x4a: push(.int(Int(Int32(truncatingIfNeeded: try uint(4))))) // BININT
            case 0x8a: push(try long(try length(1)))                          // LONG1
            case 0x8b:                                                        // LONG4
                let n = Int32(truncatingIfNeeded: try uint(4))
                guard n >= 0 else { throw .invalid("LONG4 with a negative length") }
                guard Int(n) <= bytes.count - pos else { throw .truncated }
                push(try long(Int(n)))
            case 0x47: // BINFLOAT (big-endian IEEE double)
                push(.float(Double(bitPattern: try uint(8).byteSwapped)))

            // Strings and bytes
            case 0x58: push(.string(try utf8(try take(try length(4)))))   // BINUNICODE
            case 0x8c: push(.string(try utf8(try take(try length(1)))))   // SHORT_BINUNICODE
            case 0x8d: push(.string(try utf8(try take(try length(8)))))   // BINUNICODE8
            // Python 2 `str`: torch.load decodes it with encoding='utf-8'.
            case 0x54:                                                     // BINSTRING
                let n = Int32(truncatingIfNeeded: try uint(4))
                guard n >= 0 else { throw .invalid("BINSTRING with a negative length") }
                guard Int(n) <= bytes.count - pos else { throw .truncated }
                push(.string(try utf8(try take(Int(n)))))
            case 0x55: push(.string(try utf8(try take(try length(1)))))   // SHORT_BINSTRING
            case 0x42: push(.bytes(Array(try take(try length(4)))))        // BINBYTES
            case 0x43: push(.bytes(Array(try take(try length(1)))))        // SHORT_BINBYTES
            case 0x8e, 0x96: push(.bytes(Array(try take(try length(8)))))  // BINBYTES8, BYTEARRAY8

            // Containers
            case 0x29: push(.tuple(PyTuple([])))                           // EMPTY_TUPLE
            case 0x74: push(.tuple(PyTuple(try popMark())))                // TUPLE
            case 0x85: push(.tuple(PyTuple([try pop()])))                  // TUPLE1
            case 0x86:                                                     // TUPLE2
                let b = try pop(), a = try pop()
                push(.tuple(PyTuple([a, b])))
            case 0x87:                                                     // TUPLE3
                let c = try pop(), b = try pop(), a = try pop()
                push(.tuple(PyTuple([a, b, c])))
            case 0x5d: push(.list(PyList()))                               // EMPTY_LIST
            case 0x6c: push(.list(PyList(try popMark())))                  // LIST
            case 0x61:                                                     // APPEND
                let item = try pop()
                guard case .list(let l) = try top() else { throw .invalid("APPEND to \(try top().typeName), not a list") }
                l.items.append(item)
            case 0x65:                                                     // APPENDS
                let items = try popMark()
                guard case .list(let l) = try top() else { throw .invalid("APPENDS to \(try top().typeName), not a list") }
                l.items.append(contentsOf: items)
            case 0x7d: push(.dict(PyDict(ordered: false)))                 // EMPTY_DICT
            case 0x64:                                                     // DICT
                let items = try popMark()
                let d = PyDict(ordered: false)
                try setItems(d, items)
                push(.dict(d))
            case 0x73:                                                     // SETITEM
                let v = try pop(), k = try pop()
                try setItems(try dictOnTop("SETITEM"), [k, v])
            case 0x75:                                                     // SETITEMS
                let items = try popMark()
                try setItems(try dictOnTop("SETITEMS"), items)
            case 0x8f: push(.set(PySet()))                                 // EMPTY_SET
            case 0x90:                                                     // ADDITEMS
                let items = try popMark()
                guard case .set(let s) = try top() else { throw .invalid("ADDITEMS to \(try top().typeName), not a set") }
                try addItems(s, items)
            case 0x91:                                                     // FROZENSET
                let s = PySet()
                try addItems(s, try popMark())
                push(.set(s))

            // Globals and calls
            case 0x63:                                                     // GLOBAL
                let module = try line(), name = try line()
                push(Self.value(of: try Self.resolveGlobal(module: module, name: name)))
            case 0x93:                                                     // STACK_GLOBAL
                let name = try pop(), module = try pop()
                guard case .string(let n) = name, case .string(let m) = module else { throw .invalid("STACK_GLOBAL needs two strings") }
                push(Self.value(of: try Self.resolveGlobal(module: m, name: n)))
            case 0x52:                                                     // REDUCE
                let args = try pop()
                guard case .tuple(let a) = args else { throw .invalid("REDUCE arguments are \(args.typeName), not a tuple") }
                let callee = try pop()
                guard case .global(let g) = callee else { throw .invalid("REDUCE calls \(callee.typeName), which is not callable") }
                push(try call(g, a.items))
            case 0x81:                                                     // NEWOBJ
                let args = try pop(), cls = try pop()
                guard case .tuple(let a) = args, case .global(let g) = cls else { throw .invalid("NEWOBJ needs a class and an argument tuple") }
                push(try newObject(g, a.items))
            case 0x62:                                                     // BUILD
                let state = try pop()
                try build(try top(), state)
            case 0x51:                                                     // BINPERSID
                let pid = try pop()
                guard case .tuple(let t) = pid else { throw .invalid("persistent id is \(pid.typeName), not a tuple") }
                guard let tag = t.items.first, Self.asciiText(tag) == "storage" else {
                    throw .invalid("only persistent ids of storages are allowed")
                }
                push(.storage(try persistentLoad(t)))

            default:
                throw .opcode(op)
            }
        }
    }

    private mutating func get(_ index: Int) throws(PickleFault) {
        guard let v = memo[index] else { throw .invalid("memo index \(index) was never stored") }
        push(v)
    }

    /// A little-endian two's-complement integer of `n` bytes (Python's `decode_long`).
    private mutating func long(_ n: Int) throws(PickleFault) -> PyObject {
        let b = try take(n)
        if n == 0 { return .int(0) }
        if n <= 8 {
            var v: UInt64 = 0
            for i in (0..<n).reversed() { v = v << 8 | UInt64(b[i]) }
            // Sign-extend from n bytes.
            let shift = UInt64(64 - 8 * n)
            return .int(Int(Int64(bitPattern: v << shift) >> Int64(shift)))
        }
        // Wider values that still fit in 64 bits after dropping redundant sign bytes.
        let sign: UInt8 = b[n - 1] & 0x80 != 0 ? 0xFF : 0
        var significant = n
        while significant > 8 && b[significant - 1] == sign && (b[significant - 2] & 0x80) == (sign & 0x80) { significant -= 1 }
        if significant <= 8 {
            var v: UInt64 = 0
            for i in (0..<8).reversed() { v = v << 8 | UInt64(i < significant ? b[i] : sign) }
            return .int(Int(Int64(bitPattern: v)))
        }
        return .bigInt(Array(b))
    }

    private func dictOnTop(_ op: String) throws(PickleFault) -> PyDict {
        guard case .dict(let d) = try top() else { throw .invalid("\(op) on \(try top().typeName), not a dict") }
        return d
    }

    private func setItems(_ d: PyDict, _ items: [PyObject]) throws(PickleFault) {
        guard items.count % 2 == 0 else { throw .invalid("dict items come in key/value pairs, found an odd count \(items.count)") }
        var i = 0
        while i < items.count {
            Self.setItem(d, key: items[i], hashKey: try Self.hashKey(items[i], budget), value: items[i + 1])
            i += 2
        }
    }

    static func setItem(_ d: PyDict, key: PyObject, hashKey: PickleKey, value: PyObject) {
        if let j = d.index[hashKey] {
            d.values[j] = value  // Python keeps the first key and position, the last value
        } else {
            d.index[hashKey] = d.keys.count
            d.keys.append(key)
            d.values.append(value)
        }
    }

    private func addItems(_ s: PySet, _ items: [PyObject]) throws(PickleFault) {
        for item in items where s.index.insert(try Self.hashKey(item, budget)).inserted { s.items.append(item) }
    }

    /// Python's hashing rules for the key types a checkpoint uses; other keys are refused. Hashing
    /// draws on `budget` (bytes hashed): Python caches a string's hash, Swift does not, so a file
    /// using one long key many times through the memo must not cost time quadratic in its size.
    static func hashKey(_ v: PyObject, _ budget: WorkBudget, depth: Int = 0) throws(PickleFault) -> PickleKey {
        budget.remaining -= 16
        if budget.remaining < 0 { throw .limit("dict keys and set elements take more hashing work than the file size justifies") }
        switch v {
        case .none: return .none
        case .bool(let b): return .int(b ? 1 : 0)
        case .int(let i): return .int(i)
        case .bigInt(let b): return .bigInt(b)
        case .float(let f):
            if f == f.rounded(), abs(f) < 0x1p63 { return .int(Int(f)) }
            return .float(f.isNaN ? Double.nan.bitPattern : (f == 0 ? 0 : f.bitPattern))
        case .string(let s):
            guard s.utf8.count <= maxKeyBytes else { throw .limit("a dict key or set element longer than \(maxKeyBytes) bytes") }
            budget.remaining -= s.utf8.count
            if budget.remaining < 0 { throw .limit("dict keys and set elements take more hashing work than the file size justifies") }
            return .string(s)
        case .bytes(let b):
            guard b.count <= maxKeyBytes else { throw .limit("a dict key or set element longer than \(maxKeyBytes) bytes") }
            budget.remaining -= b.count
            if budget.remaining < 0 { throw .limit("dict keys and set elements take more hashing work than the file size justifies") }
            return .bytes(b)
        case .tuple(let t):
            guard depth < 4, t.items.count <= maxKeyTupleCount else { throw .limit("a tuple dict key larger than \(maxKeyTupleCount) elements or nested deeper than 4") }
            var keys: [PickleKey] = []
            for item in t.items { keys.append(try hashKey(item, budget, depth: depth + 1)) }
            return .tuple(keys)
        case .dtype(let n): return .dtype(n)
        case .device(let n): return .device(n)
        default:
            throw .invalid("\(v.typeName) cannot be a dict key or set element")
        }
    }

    static func asciiText(_ v: PyObject) -> String? {
        switch v {
        case .string(let s): s
        case .bytes(let b): String(bytes: b, encoding: .ascii)
        default: nil
        }
    }

    // MARK: Globals

    /// Maps a GLOBAL to the callable it stands for, or refuses it. Python 2 module names are
    /// mapped as Python's `_compat_pickle` does for the ones that matter here.
    static func resolveGlobal(module rawModule: String, name: String) throws(PickleFault) -> AllowedGlobal {
        let module = rawModule == "__builtin__" ? "builtins" : rawModule
        let full = module + "." + name
        switch full {
        case "collections.OrderedDict": return .orderedDict
        case "collections.Counter": return .counter
        case "builtins.dict": return .dictClass
        case "torch._utils._rebuild_tensor": return .rebuildTensor
        case "torch._utils._rebuild_tensor_v2": return .rebuildTensorV2
        case "torch._utils._rebuild_tensor_v3": return .rebuildTensorV3
        case "torch._utils._rebuild_parameter": return .rebuildParameter
        case "torch._utils._rebuild_parameter_with_state": return .rebuildParameterWithState
        case "torch._tensor._rebuild_from_type_v2": return .rebuildFromTypeV2
        case "torch.nn.parameter.Parameter": return .parameterClass
        case "torch.Tensor": return .tensorClass
        case "torch.storage.UntypedStorage", "torch.UntypedStorage": return .untypedStorage
        case "torch.device": return .device
        case "torch.Size": return .size
        case "_codecs.encode": return .codecsEncode
        case "builtins.bytearray": return .bytearray
        case "builtins.bytes": return .bytes
        case "builtins.set": return .set
        case "builtins.frozenset": return .frozenset
        default: break
        }
        if module == "torch" || module == "torch.cuda", name.hasSuffix("Storage") {
            if let t = TorchElementType.forStorageClass(name) { return .storageClass(t) }
            if let why = TorchElementType.unsupportedStorageReason(name) { throw .unsupported(full, why) }
        }
        if module == "torch", TorchElementType.pickledDTypeNames.contains(name) { return .dtype(name) }
        if let why = knownUnsupported[full] { throw .unsupported(full, why) }
        throw .forbidden(full)
    }

    /// A dtype GLOBAL (`torch.float16`) is a plain value; everything else stays a callable.
    static func value(of g: AllowedGlobal) -> PyObject {
        if case .dtype(let n) = g { return .dtype(n) }
        return .global(g)
    }

    /// Callables `torch.load(weights_only=True)` allows that have no SwiftNN meaning.
    static let knownUnsupported: [String: String] = [
        "torch._utils._rebuild_qtensor": "quantized tensors have no SwiftNN dtype",
        "torch._utils._rebuild_sparse_tensor": "sparse tensors are not supported",
        "torch.serialization._get_layout": "sparse tensor layouts are not supported",
        "torch._utils._rebuild_nested_tensor": "nested tensors are not supported",
        "torch._utils._rebuild_meta_tensor_no_storage": "meta tensors hold no data",
        "torch._utils._rebuild_wrapper_subclass": "tensor subclasses are not supported",
        "torch._utils._rebuild_device_tensor_from_numpy": "numpy-backed tensors are not supported",
        "torch._utils._rebuild_device_tensor_from_cpu_tensor": "device tensor wrappers are not supported",
        "builtins.complex": "complex numbers are not supported",
        "torch.per_tensor_affine": "quantization schemes are not supported",
        "torch.per_tensor_symmetric": "quantization schemes are not supported",
        "torch.per_channel_affine": "quantization schemes are not supported",
        "torch.per_channel_symmetric": "quantization schemes are not supported",
        "torch.per_channel_affine_float_qparams": "quantization schemes are not supported",
    ]

    // MARK: Calls

    private func call(_ g: AllowedGlobal, _ args: [PyObject]) throws(PickleFault) -> PyObject {
        switch g {
        case .orderedDict, .counter, .dictClass:
            let d = PyDict(ordered: g == .orderedDict)
            switch args.count {
            case 0: break
            case 1: try fill(d, from: args[0])
            default: throw .invalid("\(name(g))() takes at most one argument, got \(args.count)")
            }
            return .dict(d)
        case .rebuildTensor, .rebuildTensorV2, .rebuildTensorV3, .rebuildParameter, .rebuildParameterWithState:
            return .tensor(try rebuild(g, args))
        case .rebuildFromTypeV2:
            // (func, new_type, args, state): a plain Tensor or Parameter with Python attributes; the
            // attributes are dropped, the tensor is rebuilt by the allowed function.
            guard args.count == 4, case .global(let f) = args[0], f.isTensorRebuild,
                  case .global(let type) = args[1], type == .tensorClass || type == .parameterClass,
                  case .tuple(let inner) = args[2] else {
                throw .invalid("_rebuild_from_type_v2 needs (rebuild function, torch.Tensor or Parameter, args, state)")
            }
            return .tensor(try rebuild(f, inner.items))
        case .device:
            guard let first = args.first, let kind = Self.asciiText(first), args.count <= 2 else { throw .invalid("torch.device needs a device string") }
            if args.count == 2 {
                guard case .int(let i) = args[1] else { throw .invalid("torch.device index must be an int") }
                return .device("\(kind):\(i)")
            }
            return .device(kind)
        case .size:
            guard args.count == 1 else { throw .invalid("torch.Size takes one sequence") }
            switch args[0] {
            case .tuple(let t): return .tuple(PyTuple(try t.items.map { (v) throws(PickleFault) in .int(try Self.intArg(v, "torch.Size")) }))
            case .list(let l): return .tuple(PyTuple(try l.items.map { (v) throws(PickleFault) in .int(try Self.intArg(v, "torch.Size")) }))
            default: throw .invalid("torch.Size takes one sequence")
            }
        case .codecsEncode:
            guard args.count == 2, case .string(let s) = args[0], let enc = Self.asciiText(args[1]) else {
                throw .invalid("_codecs.encode needs (str, encoding)")
            }
            return .bytes(try Self.encode(s, enc))
        case .bytearray, .bytes:
            switch args.count {
            case 0: return .bytes([])
            case 1:
                if case .bytes(let b) = args[0] { return .bytes(b) }
                if case .list(let l) = args[0] { return .bytes(try l.items.map { (v) throws(PickleFault) in try Self.byteArg(v) }) }
                throw .invalid("\(name(g))() argument must be bytes or a list of ints")
            case 2:
                guard case .string(let s) = args[0], let enc = Self.asciiText(args[1]) else { throw .invalid("\(name(g))(str, encoding) expected") }
                return .bytes(try Self.encode(s, enc))
            default: throw .invalid("\(name(g))() takes at most two arguments")
            }
        case .set, .frozenset:
            let s = PySet()
            switch args.count {
            case 0: break
            case 1:
                switch args[0] {
                case .list(let l): try addItems(s, l.items)
                case .tuple(let t): try addItems(s, t.items)
                case .set(let other): try addItems(s, other.items)
                default: throw .invalid("\(name(g))() argument must be a list, tuple or set")
                }
            default: throw .invalid("\(name(g))() takes at most one argument")
            }
            return .set(s)
        case .parameterClass, .tensorClass, .storageClass, .untypedStorage, .dtype:
            throw .invalid("\(name(g)) cannot be called by a checkpoint")
        }
    }

    private func newObject(_ g: AllowedGlobal, _ args: [PyObject]) throws(PickleFault) -> PyObject {
        switch g {
        case .parameterClass:
            // torch.nn.Parameter(data, requires_grad=True)
            guard (1...2).contains(args.count), case .tensor(let data) = args[0] else { throw .invalid("Parameter(data, requires_grad) expected") }
            let rg = args.count == 2 ? try Self.boolArg(args[1], "Parameter requires_grad") : true
            return .tensor(TensorRef(.parameter(data), requiresGrad: rg))
        case .orderedDict, .counter, .dictClass, .set, .frozenset:
            guard args.isEmpty else { throw .invalid("\(name(g)).__new__ takes no arguments here") }
            return try call(g, [])
        default:
            throw .invalid("NEWOBJ of \(name(g)) is not allowed")
        }
    }

    /// BUILD: only the attribute dict of an OrderedDict (a state dict's `_metadata`) is accepted,
    /// and dropped; PyTorch's `load_state_dict` works without it.
    private func build(_ target: PyObject, _ state: PyObject) throws(PickleFault) {
        guard case .dict(let d) = target, d.isOrdered else { throw .invalid("BUILD is only allowed on an OrderedDict, found \(target.typeName)") }
        switch state {
        case .none, .dict: return
        case .tuple(let t) where t.items.count == 2: return
        default: throw .invalid("BUILD state of an OrderedDict must be a dict, found \(state.typeName)")
        }
    }

    private func fill(_ d: PyDict, from source: PyObject) throws(PickleFault) {
        switch source {
        case .dict(let other):
            for (i, k) in other.keys.enumerated() { Self.setItem(d, key: k, hashKey: try Self.hashKey(k, budget), value: other.values[i]) }
        case .list(let l):
            try fillPairs(d, l.items)
        case .tuple(let t):
            try fillPairs(d, t.items)
        default:
            throw .invalid("a dict cannot be built from \(source.typeName)")
        }
    }

    private func fillPairs(_ d: PyDict, _ pairs: [PyObject]) throws(PickleFault) {
        for p in pairs {
            let items: [PyObject]
            switch p {
            case .tuple(let t): items = t.items
            case .list(let l): items = l.items
            default: throw .invalid("a dict needs (key, value) pairs, found \(p.typeName)")
            }
            guard items.count == 2 else { throw .invalid("a dict needs (key, value) pairs, found \(items.count) elements") }
            Self.setItem(d, key: items[0], hashKey: try Self.hashKey(items[0], budget), value: items[1])
        }
    }

    private func rebuild(_ g: AllowedGlobal, _ args: [PyObject]) throws(PickleFault) -> TensorRef {
        switch g {
        case .rebuildParameter, .rebuildParameterWithState:
            // (data, requires_grad, backward_hooks[, state])
            let want = g == .rebuildParameter ? 3 : 4
            guard args.count == want, case .tensor(let data) = args[0] else {
                throw .invalid("\(name(g)) needs \(want) arguments starting with a tensor")
            }
            return TensorRef(.parameter(data), requiresGrad: try Self.boolArg(args[1], "requires_grad"))
        default:
            // _rebuild_tensor(storage, offset, size, stride)
            // _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, backward_hooks[, metadata])
            // _rebuild_tensor_v3(storage, offset, size, stride, requires_grad, backward_hooks, dtype[, metadata])
            let range: ClosedRange<Int> = switch g {
            case .rebuildTensor: 4...4
            case .rebuildTensorV2: 6...7
            default: 7...8
            }
            guard range.contains(args.count) else { throw .invalid("\(name(g)) takes \(range) arguments, got \(args.count)") }
            guard case .storage(let storage) = args[0] else { throw .invalid("\(name(g)): first argument is \(args[0].typeName), not a storage") }
            let offset = try Self.intArg(args[1], "storage offset")
            let size = try Self.intSequence(args[2], "size")
            let stride = try Self.intSequence(args[3], "stride")
            guard size.count == stride.count else { throw .invalid("size has \(size.count) dimensions but stride has \(stride.count)") }
            let requiresGrad = g == .rebuildTensor ? false : try Self.boolArg(args[4], "requires_grad")
            var elementType: TorchElementType
            var metadata: PyObject? = nil
            if g == .rebuildTensorV3 {
                guard case .dtype(let dtypeName) = args[6] else { throw .invalid("_rebuild_tensor_v3: dtype argument is \(args[6].typeName)") }
                guard let t = TorchElementType.forDTypeName(dtypeName) else {
                    throw .unsupported("torch.\(dtypeName)", "tensors of dtype \(dtypeName) have no SwiftNN dtype")
                }
                elementType = t
                if args.count == 8 { metadata = args[7] }
            } else {
                guard let t = storage.elementType else { throw .invalid("\(name(g)) needs a typed storage, got an UntypedStorage") }
                elementType = t
                if args.count == 7 { metadata = args[6] }
            }
            if let t = storage.elementType, t != elementType {
                throw .invalid("a \(elementType.rawValue) tensor on a \(t.rawValue) storage")
            }
            // Metadata: the lazy conj/neg bits. Conjugation is the identity on real values.
            var negated = false
            if let metadata {
                switch metadata {
                case .none: break
                case .dict(let d):
                    for (i, k) in d.keys.enumerated() {
                        guard case .string(let key) = k, key == "conj" || key == "neg" else { throw .invalid("unknown tensor metadata key") }
                        if key == "neg" { negated = try Self.boolArg(d.values[i], "metadata neg") }
                    }
                default: throw .invalid("tensor metadata must be a dict")
                }
            }
            return TensorRef(.view(storage: storage, elementType: elementType, offset: offset, size: size, stride: stride, negated: negated),
                             requiresGrad: requiresGrad)
        }
    }

    private func name(_ g: AllowedGlobal) -> String {
        switch g {
        case .orderedDict: "collections.OrderedDict"
        case .counter: "collections.Counter"
        case .dictClass: "dict"
        case .rebuildTensor: "_rebuild_tensor"
        case .rebuildTensorV2: "_rebuild_tensor_v2"
        case .rebuildTensorV3: "_rebuild_tensor_v3"
        case .rebuildParameter: "_rebuild_parameter"
        case .rebuildParameterWithState: "_rebuild_parameter_with_state"
        case .rebuildFromTypeV2: "_rebuild_from_type_v2"
        case .parameterClass: "torch.nn.Parameter"
        case .tensorClass: "torch.Tensor"
        case .storageClass(let t): "torch.\(t.storageClassName ?? t.rawValue)"
        case .untypedStorage: "torch.UntypedStorage"
        case .dtype(let n): "torch.\(n)"
        case .device: "torch.device"
        case .size: "torch.Size"
        case .codecsEncode: "_codecs.encode"
        case .bytearray: "bytearray"
        case .bytes: "bytes"
        case .set: "set"
        case .frozenset: "frozenset"
        }
    }

    // MARK: Argument checks

    static func intArg(_ v: PyObject, _ what: String) throws(PickleFault) -> Int {
        switch v {
        case .int(let i): return i
        case .bool(let b): return b ? 1 : 0
        default: throw .invalid("\(what) must be an int, found \(v.typeName)")
        }
    }

    static func boolArg(_ v: PyObject, _ what: String) throws(PickleFault) -> Bool {
        switch v {
        case .bool(let b): return b
        case .int(let i): return i != 0
        default: throw .invalid("\(what) must be a bool, found \(v.typeName)")
        }
    }

    static func intSequence(_ v: PyObject, _ what: String) throws(PickleFault) -> [Int] {
        let items: [PyObject]
        switch v {
        case .tuple(let t): items = t.items
        case .list(let l): items = l.items
        default: throw .invalid("\(what) must be a tuple of ints, found \(v.typeName)")
        }
        var out: [Int] = []
        out.reserveCapacity(items.count)
        for item in items { out.append(try intArg(item, what)) }
        return out
    }

    static func byteArg(_ v: PyObject) throws(PickleFault) -> UInt8 {
        guard case .int(let i) = v, let b = UInt8(exactly: i) else { throw .invalid("bytearray elements must be ints in 0...255") }
        return b
    }

    /// `str.encode(encoding)` for the encodings pickles use for bytes (latin-1) and text (UTF-8).
    static func encode(_ s: String, _ encoding: String) throws(PickleFault) -> [UInt8] {
        switch encoding.lowercased() {
        case "latin1", "latin-1", "iso-8859-1", "iso8859-1":
            var out: [UInt8] = []
            out.reserveCapacity(s.unicodeScalars.count)
            for u in s.unicodeScalars {
                guard u.value <= 0xFF else { throw .invalid("a character beyond U+00FF cannot be latin-1 encoded") }
                out.append(UInt8(u.value))
            }
            return out
        case "utf-8", "utf8":
            return Array(s.utf8)
        default:
            throw .invalid("_codecs.encode with encoding '\(encoding)'")
        }
    }
}
