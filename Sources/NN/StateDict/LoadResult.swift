/// What ``Module/loadStateDict(_:strict:)`` did not load (PyTorch's `_IncompatibleKeys`).
///
/// ```swift
/// let r = try model.loadStateDict(sd, strict: false)
/// r.missingKeys       // ["fc.weight", "fc.bias"]
/// r.isComplete        // false
/// ```
public struct LoadResult: Equatable, Sendable {
    /// Model keys absent from the loaded dict (not filled in).
    public var missingKeys: [String]
    /// Keys of the loaded dict the model has no slot for (ignored).
    public var unexpectedKeys: [String]
    public init(missingKeys: [String] = [], unexpectedKeys: [String] = []) {
        self.missingKeys = missingKeys
        self.unexpectedKeys = unexpectedKeys
    }
    /// True when every key matched.
    public var isComplete: Bool { missingKeys.isEmpty && unexpectedKeys.isEmpty }
}
