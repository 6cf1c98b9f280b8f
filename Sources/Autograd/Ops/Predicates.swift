import TensorCore

extension Tensor {
    /// Where the elements are NaN, as a bool tensor of the same shape, like `torch.isnan`
    /// (all false for integer and bool tensors).
    ///
    /// ```swift
    /// if x.isnan().any() { … }      // or: x.isnan().toArray(of: Bool.self).contains(true)
    /// ```
    public func isnan() -> Tensor {
        dtype.isFloatingPoint ? ne(self) : Tensor.zeros(shape, dtype: .bool)
    }

    /// Where the elements are finite (neither NaN nor ±∞), like `torch.isfinite` (all true for
    /// integer and bool tensors).
    public func isfinite() -> Tensor {
        dtype.isFloatingPoint ? withNoGrad { abs().lt(.infinity) } : Tensor.ones(shape, dtype: .bool)
    }

    /// Whether any element is true (nonzero), like `torch.any`.
    public func any() -> Bool {
        (0..<count).contains { doubleValue(at: $0) != 0 }
    }

    /// Whether every element is true (nonzero), like `torch.all`.
    public func all() -> Bool {
        (0..<count).allSatisfy { doubleValue(at: $0) != 0 }
    }

    /// Elementwise closeness with broadcasting, like `torch.isclose`:
    /// `|self − other| ≤ atol + rtol·|other|`, infinities close only to the same infinity, NaN
    /// close to NaN only with `equalNan`. Computed in the tensors' dtype, as PyTorch does.
    public func isclose(_ other: Tensor, rtol: Double = 1e-5, atol: Double = 1e-8, equalNan: Bool = false) -> Tensor {
        usageCheck(dtype == other.dtype, "isclose",
                   "isclose(): self (\(dtype)) and other (\(other.dtype)) must have the same dtype")
        usageCheck(rtol >= 0 && atol >= 0, "isclose", "rtol and atol must be non-negative, got rtol=\(rtol) atol=\(atol)")
        return withNoGrad {
            let equal = eq(other)
            guard dtype.isFloatingPoint else { return equal }
            // As PyTorch: the difference must be finite (the tolerance can be infinite when
            // `other` is), so infinities are close only through the equality above.
            let difference = (self - other).abs()
            let within = Tensor.where(difference.isfinite(), difference.le(other.abs() * rtol + atol),
                                      Tensor.zeros([], dtype: .bool))
            var close = Tensor.where(equal, equal, within)
            if equalNan {
                let bothNaN = Tensor.where(isnan(), other.isnan(), Tensor.zeros([], dtype: .bool))
                close = Tensor.where(bothNaN, bothNaN, close)
            }
            return close
        }
    }

    /// Whether every element is close to `other`'s (broadcasting), like `torch.allclose`:
    /// `|self − other| ≤ atol + rtol·|other|` elementwise.
    ///
    /// ```swift
    /// #expect(y.allclose(expected, rtol: 1e-4, atol: 1e-5))
    /// ```
    public func allclose(_ other: Tensor, rtol: Double = 1e-5, atol: Double = 1e-8, equalNan: Bool = false) -> Bool {
        isclose(other, rtol: rtol, atol: atol, equalNan: equalNan).all()
    }
}
