/// Python-style renderings for ``Module/extraDescription``: `1e-05`, `True`, `(3, 3)`.
public enum PyRepr {
    /// A float as Python's `repr` prints it (`0.1`, `1e-05`, `1.0`).
    public static func float(_ x: Double) -> String {
        if x.isNaN { return "nan" }
        if x.isInfinite { return x > 0 ? "inf" : "-inf" }
        return x.description
    }
    /// `True` / `False`.
    public static func bool(_ b: Bool) -> String { b ? "True" : "False" }
    /// A tuple such as `(3, 3)` (one element: `(3,)`).
    public static func tuple(_ xs: [Int]) -> String {
        xs.count == 1 ? "(\(xs[0]),)" : "(" + xs.map(String.init).joined(separator: ", ") + ")"
    }
}
