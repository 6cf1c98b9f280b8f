extension Tensor {
    /// The distinct values, sorted ascending, as a 1-d tensor of the same dtype, like
    /// `torch.unique(x)` (whose CPU result is always sorted). NaNs are never equal to each other,
    /// so each one is listed, after every number; `-0.0` and `0.0` are one value.
    ///
    /// ```swift
    /// Tensor([3, 1, 2, 3, 1] as [Int64], shape: [5]).unique()     // tensor([1, 2, 3])
    /// ```
    public final func unique() -> Tensor { uniqueWithCounts().values }

    /// ``unique()`` with PyTorch's `return_inverse` and `return_counts`: for every element the
    /// index of its value in `values` (int64, this tensor's shape), and how often each value
    /// occurs (int64).
    ///
    /// ```swift
    /// let (values, inverse, counts) = labels.uniqueWithCounts()
    /// ```
    public final func uniqueWithCounts() -> (values: Tensor, inverse: Tensor, counts: Tensor) {
        switch dtype {
        case .float32: return uniqueRows(of: Float.self, isNaN: { $0.isNaN })
        case .float64: return uniqueRows(of: Double.self, isNaN: { $0.isNaN })
        case .int64: return uniqueRows(of: Int64.self, isNaN: { _ in false })
        case .uint8: return uniqueRows(of: UInt8.self, isNaN: { _ in false })
        case .bool:
            let asBytes = Tensor(toArray(of: Bool.self).map { UInt8($0 ? 1 : 0) }, shape: shape)
            let (v, i, c) = asBytes.uniqueWithCounts()
            return (Tensor(v.toArray(of: UInt8.self).map { $0 != 0 }, shape: v.shape), i, c)
        }
    }

    private func uniqueRows<T: TensorScalar & Comparable>(of: T.Type, isNaN: (T) -> Bool)
        -> (values: Tensor, inverse: Tensor, counts: Tensor) {
        let xs = toArray(of: T.self)
        // Stable sort of the positions, NaNs last in their original order.
        let order = xs.indices.sorted { a, b in
            let na = isNaN(xs[a]), nb = isNaN(xs[b])
            if na || nb { return !na && nb || (na && nb && a < b) }
            return xs[a] < xs[b] || (xs[a] == xs[b] && a < b)
        }
        var values: [T] = [], counts: [Int64] = []
        var inverse = [Int64](repeating: 0, count: xs.count)
        for i in order {
            if let last = values.last, last == xs[i] {
                counts[counts.count - 1] += 1
            } else {
                values.append(xs[i])
                counts.append(1)
            }
            inverse[i] = Int64(values.count - 1)
        }
        return (Tensor(values, shape: [values.count]), Tensor(inverse, shape: shape), Tensor(counts, shape: [counts.count]))
    }
}
