import TensorCore

/// The direct members of one module: its own parameters and buffers and its child modules, each
/// under its local key, in PyTorch's order (declaration order, superclass first).
public struct ModuleMembers {
    public var parameters: [(String, Parameter)] = []
    public var buffers: [(String, Buffer)] = []
    public var children: [(String, Module)] = []
    public init() {}

    /// Sorts one reflected property value into the member lists under `key`: a `Parameter`, a
    /// `Buffer`, a `Module` (or any `Layer`), or an array of them (keys `key.0`, `key.1` …).
    /// Anything else (including a plain `Tensor`) is not a member.
    mutating func add(_ value: Any, key: String) {
        if let p = value as? Parameter {
            parameters.append((key, p))
        } else if let b = value as? Buffer {
            buffers.append((key, b))
        } else if let m = value as? Module {
            children.append((key, m))
        } else if let ms = value as? [Module], !ms.isEmpty {
            for (i, m) in ms.enumerated() { children.append(("\(key).\(i)", m)) }
        } else if let ls = value as? [any Layer], !ls.isEmpty {
            for (i, l) in ls.enumerated() { children.append(("\(key).\(i)", l.asModule)) }
        } else if let ps = value as? [Parameter], !ps.isEmpty {
            for (i, p) in ps.enumerated() { parameters.append(("\(key).\(i)", p)) }
        } else if let bs = value as? [Buffer], !bs.isEmpty {
            for (i, b) in bs.enumerated() { buffers.append(("\(key).\(i)", b)) }
        }
    }
}

/// Converts a Swift property name to a PyTorch-style key: `runningMean` → `running_mean`,
/// `_weight` → `weight`, `fc1` → `fc1`.
public func snakeCaseKey(_ name: String) -> String {
    var s = Substring(name)
    while s.first == "_" { s = s.dropFirst() }
    var out = ""
    var previousWasLowerOrDigit = false
    for ch in s {
        if ch.isUppercase {
            if previousWasLowerOrDigit { out.append("_") }
            out += ch.lowercased()
            previousWasLowerOrDigit = false
        } else {
            out.append(ch)
            previousWasLowerOrDigit = ch.isLowercase || ch.isNumber
        }
    }
    return out
}
