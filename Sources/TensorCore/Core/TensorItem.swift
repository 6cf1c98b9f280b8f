/// A Swift type a one-element tensor's value can be read as with ``Tensor/item(as:)``:
/// `Float`, `Double`, `Int`, `Int64`, `UInt8`, `Bool`.
public protocol TensorItem {
    /// The value of the one-element tensor `t`, converted to this type; stops with a message
    /// when the conversion would change the value (2.5 as an `Int`).
    static func item(of t: Tensor) -> Self
}

extension Float: TensorItem {
    public static func item(of t: Tensor) -> Float { Float(t.oneValue()) }
}

extension Double: TensorItem {
    public static func item(of t: Tensor) -> Double { t.oneValue() }
}

extension Int64: TensorItem {
    public static func item(of t: Tensor) -> Int64 {
        if t.dtype == .int64 { return t.checkedSingle().pointer(as: Int64.self)[0] }
        let v = t.oneValue()
        usageCheck(v.rounded() == v && v >= -0x1p63 && v < 0x1p63, "item",
                   "the \(t.dtype) value \(v) is not an integer; read it as Float or Double")
        return Int64(v)
    }
}

extension Int: TensorItem {
    public static func item(of t: Tensor) -> Int { Int(Int64.item(of: t)) }
}

extension UInt8: TensorItem {
    public static func item(of t: Tensor) -> UInt8 {
        let v = Int64.item(of: t)
        usageCheck(v >= 0 && v <= 255, "item", "the value \(v) does not fit in UInt8")
        return UInt8(v)
    }
}

extension Bool: TensorItem {
    /// Python's `bool(t.item())`: true for any nonzero value (and NaN).
    public static func item(of t: Tensor) -> Bool {
        let v = t.oneValue()
        return v != 0
    }
}

extension Tensor {
    /// The value of a one-element tensor as the type the context asks for, like PyTorch's
    /// `t.item()` (which gives an `int` for an int64 tensor, a `float` for a float one):
    ///
    /// ```swift
    /// let k: Int = logits.argmax(dim: 1)[0].item()      // an int64 tensor's value as Int
    /// let loss: Double = criterion(out, targets: y).item()
    /// let same = t.item(as: Bool.self)
    /// ```
    ///
    /// Integer types refuse a non-integral value with a message instead of truncating it.
    public final func item<T: TensorItem>(as type: T.Type = T.self) -> T {
        T.item(of: self)
    }

    /// Number of elements, like PyTorch's `numel()` (the same as ``count``).
    public final func numel() -> Int { count }

    /// This tensor, after checking that it has exactly one element (PyTorch's message otherwise).
    fileprivate func checkedSingle() -> Tensor {
        usageCheck(count == 1, "item", "a Tensor with \(count) elements cannot be converted to Scalar")
        return self
    }

    /// The single value, exactly, as a Double (int64 values beyond 2⁵³ round).
    fileprivate func oneValue() -> Double { checkedSingle().doubleValue(at: 0) }
}
