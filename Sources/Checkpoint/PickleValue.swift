import TensorCore
import NN

/// A value from a PyTorch checkpoint: what `torch.load(weights_only=True)` would return, in Swift.
///
/// Tensors, containers and plain values only — the restricted unpickler builds nothing else. A
/// training checkpoint such as `{'model': sd, 'optimizer': opt.state_dict(), 'epoch': 3}` reads as a
/// ``dict(_:)`` whose entries can be inspected:
///
/// ```swift
/// let ckpt = try TorchFile.load(contentsOf: URL(fileURLWithPath: "checkpoint.pth"))
/// ckpt["epoch"]?.intValue                                   // 3
/// ckpt["optimizer"]?["param_groups"]?[0]?["lr"]?.doubleValue // 0.001
/// let weights = try StateDict(ckpt["model"]!)
/// ```
public indirect enum PickleValue: CustomStringConvertible, @unchecked Sendable {
    /// `None`.
    case none
    case bool(Bool)
    /// A Python `int` that fits in 64 bits.
    case int(Int)
    /// A Python `int` beyond 64 bits, as its little-endian two's-complement bytes.
    case bigInt([UInt8])
    case float(Double)
    case string(String)
    /// `bytes` or `bytearray`.
    case bytes([UInt8])
    /// A tuple (also `torch.Size`).
    case tuple([PickleValue])
    case list([PickleValue])
    /// A `set` or `frozenset`, in pickle order.
    case set([PickleValue])
    /// A `dict` or `collections.OrderedDict`, in insertion order.
    case dict(PickleDict)
    /// A tensor (or `nn.Parameter`), converted to a SwiftNN dtype (see the table on ``TorchFile``).
    case tensor(Tensor)
    /// A `torch.dtype` value such as `torch.float16`, by name (`"float16"`).
    case dtype(String)
    /// A `torch.device` such as `cuda:0`, by name.
    case device(String)

    // MARK: Access

    /// The entry under a string key of a dict; nil for other values or a missing key.
    public subscript(key: String) -> PickleValue? {
        if case .dict(let d) = self { return d[key] }
        return nil
    }

    /// Element `index` of a list or tuple; nil when out of range or not a sequence.
    public subscript(index: Int) -> PickleValue? {
        guard let items = elements, items.indices.contains(index) else { return nil }
        return items[index]
    }

    /// The elements of a list, tuple or set.
    public var elements: [PickleValue]? {
        switch self {
        case .list(let v), .tuple(let v), .set(let v): v
        default: nil
        }
    }

    public var dictValue: PickleDict? { if case .dict(let d) = self { return d } else { return nil } }
    public var tensorValue: Tensor? { if case .tensor(let t) = self { return t } else { return nil } }
    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    public var boolValue: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    /// An `int` (or `bool`, as Python treats it).
    public var intValue: Int? {
        switch self {
        case .int(let v): v
        case .bool(let b): b ? 1 : 0
        default: nil
        }
    }
    /// A `float` or `int` as Double.
    public var doubleValue: Double? {
        switch self {
        case .float(let v): v
        case .int(let v): Double(v)
        default: nil
        }
    }

    /// The Python type name, for messages (`"dict"`, `"Tensor"` …).
    public var typeName: String {
        switch self {
        case .none: "NoneType"
        case .bool: "bool"
        case .int, .bigInt: "int"
        case .float: "float"
        case .string: "str"
        case .bytes: "bytes"
        case .tuple: "tuple"
        case .list: "list"
        case .set: "set"
        case .dict(let d): d.isOrdered ? "OrderedDict" : "dict"
        case .tensor: "Tensor"
        case .dtype: "torch.dtype"
        case .device: "torch.device"
        }
    }

    /// A dict of tensors (ordered like PyTorch's `state_dict()`), as an OrderedDict value.
    public init(_ stateDict: StateDict) {
        self = .dict(PickleDict(stateDict.map { (PickleValue.string($0.key), PickleValue.tensor($0.value)) }, isOrdered: true))
    }

    // MARK: Description

    /// Python-like text, shortened: tensors show dtype and shape, long containers are cut.
    public var description: String {
        var out = ""
        var budget = 2000
        render(into: &out, budget: &budget, depth: 0)
        return out
    }

    private func render(into out: inout String, budget: inout Int, depth: Int) {
        // The value may share sub-structures many times over (a pickle's memo): print a bounded prefix.
        if budget <= 0 || depth > 32 { out += "…"; return }
        budget -= 1
        func sequence(_ open: String, _ close: String, _ items: [PickleValue]) {
            out += open
            for (i, v) in items.enumerated() {
                if i > 0 { out += ", " }
                if i >= 20 || budget <= 0 { out += "… (\(items.count) items)"; break }
                v.render(into: &out, budget: &budget, depth: depth + 1)
            }
            if items.count == 1 && open == "(" { out += "," }
            out += close
        }
        switch self {
        case .none: out += "None"
        case .bool(let b): out += b ? "True" : "False"
        case .int(let v): out += String(v)
        case .bigInt(let b): out += "int(\(b.count) bytes)"
        case .float(let v): out += String(v)
        case .string(let s): out += "'" + (s.count > 200 ? String(s.prefix(200)) + "…" : s) + "'"
        case .bytes(let b): out += "b<\(b.count) bytes>"
        case .tuple(let v): sequence("(", ")", v)
        case .list(let v): sequence("[", "]", v)
        case .set(let v): sequence("{", "}", v)
        case .dict(let d):
            out += d.isOrdered ? "OrderedDict({" : "{"
            for (i, e) in d.entries.enumerated() {
                if i > 0 { out += ", " }
                if i >= 20 || budget <= 0 { out += "… (\(d.count) entries)"; break }
                e.key.render(into: &out, budget: &budget, depth: depth + 1)
                out += ": "
                e.value.render(into: &out, budget: &budget, depth: depth + 1)
            }
            out += d.isOrdered ? "})" : "}"
        case .tensor(let t): out += "tensor(\(t.dtype), \(shapeText(t.shape)))"
        case .dtype(let n): out += "torch.\(n)"
        case .device(let n): out += "device('\(n)')"
        }
    }
}

/// A Python `dict` or `OrderedDict` from a checkpoint: entries in insertion order, any keys.
public struct PickleDict: Sequence, @unchecked Sendable {
    /// Entries in insertion order.
    public private(set) var entries: [(key: PickleValue, value: PickleValue)]
    /// Whether the pickle built a `collections.OrderedDict` (PyTorch's `state_dict()` type).
    public var isOrdered: Bool

    public init(_ entries: [(PickleValue, PickleValue)] = [], isOrdered: Bool = false) {
        self.entries = entries.map { (key: $0.0, value: $0.1) }
        self.isOrdered = isOrdered
    }

    public var count: Int { entries.count }
    public var isEmpty: Bool { entries.isEmpty }

    /// The string keys, in order (other keys are shown as Python would print them).
    public var keyNames: [String] {
        entries.map { e in e.key.stringValue ?? e.key.description }
    }

    /// The value under the string key `key`.
    public subscript(key: String) -> PickleValue? {
        get {
            for e in entries { if case .string(let k) = e.key, k == key { return e.value } }
            return nil
        }
        set {
            let i = entries.firstIndex { if case .string(let k) = $0.key { k == key } else { false } }
            switch (i, newValue) {
            case (let i?, let v?): entries[i].value = v
            case (let i?, nil): entries.remove(at: i)
            case (nil, let v?): entries.append((.string(key), v))
            case (nil, nil): break
            }
        }
    }

    public func makeIterator() -> IndexingIterator<[(key: PickleValue, value: PickleValue)]> {
        entries.makeIterator()
    }
}
