import TensorCore

/// An ordered map from names to tensors: a module's parameters and buffers under PyTorch's keys
/// (`"net.1.running_mean"`), in PyTorch's order.
///
/// ```swift
/// var d = StateDict()
/// d["weight"] = Tensor.ones([4])
/// d.keys                 // ["weight"]
/// let sd = model.stateDict()
/// try sd.save(to: URL(fileURLWithPath: "best.safetensors"))
/// ```
public struct StateDict: Sequence, ExpressibleByDictionaryLiteral {
    /// Keys in insertion order.
    public private(set) var keys: [String] = []
    private var values: [String: Tensor] = [:]
    /// Free-form string metadata (stored in a safetensors file's `__metadata__`).
    public var metadata: [String: String] = [:]

    public init() {}

    /// A state dict holding `pairs` in order (a repeated key keeps its first position, last value).
    public init(_ pairs: [(String, Tensor)], metadata: [String: String] = [:]) {
        for (k, v) in pairs { self[k] = v }
        self.metadata = metadata
    }

    public init(dictionaryLiteral elements: (String, Tensor)...) {
        self.init(elements)
    }

    /// The tensor stored under `key`. Assigning a new key appends it; assigning nil removes it.
    public subscript(key: String) -> Tensor? {
        get { values[key] }
        set {
            if let newValue {
                if values.updateValue(newValue, forKey: key) == nil { keys.append(key) }
            } else if values.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }

    /// Number of entries.
    public var count: Int { keys.count }
    public var isEmpty: Bool { keys.isEmpty }

    /// Entries in order.
    public var entries: [(key: String, value: Tensor)] { keys.map { ($0, values[$0]!) } }

    public func makeIterator() -> IndexingIterator<[(key: String, value: Tensor)]> {
        entries.makeIterator()
    }

    /// The entries whose key starts with `prefix + "."`, with the prefix removed.
    public func scoped(_ prefix: String) -> StateDict {
        let p = prefix + "."
        return StateDict(entries.filter { $0.key.hasPrefix(p) }.map { (String($0.key.dropFirst(p.count)), $0.value) })
    }
}

extension StateDict {
    /// A deep copy: every tensor's data copied, so later training does not change it.
    ///
    /// ```swift
    /// let best = model.stateDict().cloned()    // keep the best weights in memory
    /// ```
    public func cloned() -> StateDict {
        StateDict(entries.map { ($0.key, $0.value.clonedData()) }, metadata: metadata)
    }
}
