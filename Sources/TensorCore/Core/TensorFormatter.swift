import Foundation

/// PyTorch's tensor repr (`torch/_tensor_str.py` with its default print options: precision 4,
/// summarization above 1000 elements with 3 edge items, 80 columns), so that printed tensors read
/// — and diff — like PyTorch's:
///
/// ```
/// tensor([ 1.5410, -0.2934, -2.1788])
/// tensor([1., 2., 3.], dtype=torch.float64)
/// tensor([1.0000e-05, 5.0000e-01, 1.0000e+00])
/// tensor([[ 0.2309, -0.6196],
///         [ 0.1535, -0.6333]], requires_grad=True)
/// tensor([-5.0000, -4.6300, -4.2600,  ..., -2.6800, -2.3100, -1.9400])
/// ```
///
/// The rules, as PyTorch applies them: one format for the whole tensor, chosen from its nonzero
/// finite values (of the summarized part for large tensors) — integer-valued floats print as `1.`,
/// scientific notation when max/min > 1000, max > 1e8 or min < 1e-4, else fixed with 4 decimals —
/// every element right-aligned to the widest; lines wrap at 80 columns.
enum TensorFormatter {
    static let precision = 4
    static let threshold = 1000
    static let edgeItems = 3
    static let lineWidth = 80

    static func format(_ t: Tensor) -> String {
        let prefix = "tensor("
        let indent = prefix.count
        var suffixes: [String] = []
        let body: String
        if t.count == 0 {
            if t.rank != 1 { suffixes.append("size=" + pythonTuple(t.shape)) }
            if t.dtype != .float32 { suffixes.append("dtype=" + torchName(t.dtype)) }
            body = "[]"
        } else {
            // float32, int64 and bool are PyTorch's defaults and go without a dtype suffix.
            if t.dtype != .float32 && t.dtype != .int64 && t.dtype != .bool {
                suffixes.append("dtype=" + torchName(t.dtype))
            }
            body = tensorString(t, indent: indent)
        }
        if let node = t.gradNode as? CustomStringConvertible {
            suffixes.append("grad_fn=<\(node.description)>")
        } else if t.requiresGrad {
            suffixes.append("requires_grad=True")
        }
        return addSuffixes(prefix + body, suffixes, indent: indent)
    }

    /// PyTorch's `torch.float32` … spelling of a dtype.
    static func torchName(_ d: DType) -> String {
        switch d {
        case .float32: "torch.float32"
        case .float64: "torch.float64"
        case .int64: "torch.int64"
        case .uint8: "torch.uint8"
        case .bool: "torch.bool"
        }
    }

    /// Python's `str(tuple(shape))`: `(2, 3)`, `(0,)`.
    static func pythonTuple(_ xs: [Int]) -> String {
        xs.count == 1 ? "(\(xs[0]),)" : "(" + xs.map(String.init).joined(separator: ", ") + ")"
    }

    /// `_add_suffixes`, including its measure of the last line (one more than its length when the
    /// string has no newline, as `rfind` returns -1 there).
    private static func addSuffixes(_ tensorString: String, _ suffixes: [String], indent: Int) -> String {
        var out = tensorString
        let chars = Array(tensorString)
        let lastNewline = chars.lastIndex(of: "\n") ?? -1
        var lastLineLength = chars.count - lastNewline + 1
        for suffix in suffixes {
            if lastLineLength + suffix.count + 2 > lineWidth {
                out += ",\n" + String(repeating: " ", count: indent) + suffix
                lastLineLength = indent + suffix.count
            } else {
                out += ", " + suffix
                lastLineLength += suffix.count + 2
            }
        }
        return out + ")"
    }

    // MARK: - Elements

    /// One element, read exactly: integers as integers, floats as their Double value.
    enum Element {
        case float(Double), int(Int64), bool(Bool)
    }

    static func element(_ t: Tensor, _ i: Int) -> Element {
        switch t.dtype {
        case .float32: .float(Double(t.pointer(as: Float.self)[i]))
        case .float64: .float(t.pointer(as: Double.self)[i])
        case .int64: .int(t.pointer(as: Int64.self)[i])
        case .uint8: .int(Int64(t.pointer(as: UInt8.self)[i]))
        case .bool: .bool(t.pointer(as: Bool.self)[i])
        }
    }

    /// `_Formatter`: the format of every element, chosen once from `sample` (the whole tensor, or
    /// its summarized part).
    struct ElementFormatter {
        let floating: Bool
        var intMode = true
        var sciMode = false
        var maxWidth = 1

        init(floating: Bool, sample: [Element]) {
            self.floating = floating
            guard floating else {
                for e in sample { maxWidth = max(maxWidth, ElementFormatter.plain(e).count) }
                return
            }
            let values = sample.compactMap { e -> Double? in
                if case .float(let v) = e, v.isFinite, v != 0 { return v }
                return nil
            }
            guard !values.isEmpty else { return }
            let magnitudes = values.map { abs($0) }
            let lo = magnitudes.min()!, hi = magnitudes.max()!
            intMode = values.allSatisfy { $0 == $0.rounded(.up) }
            sciMode = hi / lo > 1000 || hi > 1e8 || lo < 1e-4
            for v in values {
                if sciMode {
                    maxWidth = max(maxWidth, String(format: "%.\(precision)e", v).count)
                } else if intMode {
                    maxWidth = max(maxWidth, String(format: "%.0f", v).count + 1)
                } else {
                    maxWidth = max(maxWidth, String(format: "%.\(precision)f", v).count)
                }
            }
        }

        /// Python's `str` of an integer or bool.
        static func plain(_ e: Element) -> String {
            switch e {
            case .int(let v): String(v)
            case .bool(let b): b ? "True" : "False"
            case .float(let v): String(v)
            }
        }

        /// The element, right-aligned to the common width.
        func format(_ e: Element) -> String {
            var s: String
            if floating, case .float(let v) = e {
                if sciMode {
                    s = String(format: "%.\(precision)e", v)
                } else if intMode {
                    s = String(format: "%.0f", v)
                    if v.isFinite { s += "." }
                } else {
                    s = String(format: "%.\(precision)f", v)
                }
            } else {
                s = ElementFormatter.plain(e)
            }
            return String(repeating: " ", count: max(0, maxWidth - s.count)) + s
        }
    }

    // MARK: - Layout

    /// `_tensor_str`: the bracketed body.
    private static func tensorString(_ t: Tensor, indent: Int) -> String {
        let summarize = t.count > threshold
        let strides = (0..<t.rank).map { d in t.shape[(d + 1)...].reduce(1, *) }
        let sample = (summarize ? summarizedOffsets(t.shape, strides, dim: 0, base: 0) : Array(0..<t.count)).map { element(t, $0) }
        let formatter = ElementFormatter(floating: t.dtype.isFloatingPoint, sample: sample)
        func render(dim: Int, base: Int, indent: Int) -> String {
            if dim == t.rank { return formatter.format(element(t, base)) }
            let n = t.shape[dim]
            let elided = summarize && n > 2 * edgeItems
            let rows = elided ? Array(0..<edgeItems) + Array((n - edgeItems)..<n) : Array(0..<n)
            if dim == t.rank - 1 {
                // `_vector_str`: as many elements per line as fit.
                let perLine = max(1, (lineWidth - indent) / (formatter.maxWidth + 2))
                var data = rows.map { formatter.format(element(t, base + $0 * strides[dim])) }
                if elided { data.insert(" ...", at: edgeItems) }
                let lines = stride(from: 0, to: data.count, by: perLine).map {
                    data[$0..<min($0 + perLine, data.count)].joined(separator: ", ")
                }
                return "[" + lines.joined(separator: ",\n" + String(repeating: " ", count: indent + 1)) + "]"
            }
            var slices = rows.map { render(dim: dim + 1, base: base + $0 * strides[dim], indent: indent + 1) }
            if elided { slices.insert("...", at: edgeItems) }
            let separator = "," + String(repeating: "\n", count: t.rank - dim - 1) + String(repeating: " ", count: indent + 1)
            return "[" + slices.joined(separator: separator) + "]"
        }
        return render(dim: 0, base: 0, indent: indent)
    }

    /// `get_summarized_data`: the flat offsets of the elements a summarized print shows.
    private static func summarizedOffsets(_ shape: [Int], _ strides: [Int], dim: Int, base: Int) -> [Int] {
        if dim == shape.count { return [base] }
        let n = shape[dim]
        let rows = n > 2 * edgeItems ? Array(0..<edgeItems) + Array((n - edgeItems)..<n) : Array(0..<n)
        return rows.flatMap { summarizedOffsets(shape, strides, dim: dim + 1, base: base + $0 * strides[dim]) }
    }
}
