import Autograd
import Testing
@testable import TensorCore

/// max(dim:) and min(dim:) over rows: the first NaN if there is one, else the first extreme element,
/// for float32 (AVX-512 where available) and float64 (the element loop) alike.
@Suite struct RowExtremumTests {
    /// The definition: the first NaN, else the first largest (or smallest) element.
    static func reference(_ row: [Double], largest: Bool) -> Int {
        if let nan = row.firstIndex(where: \.isNaN) { return nan }
        let best = largest ? row.max()! : row.min()!
        return row.firstIndex(of: best)!
    }

    @Test("indices and values over ragged rows with ties, infinities and NaNs", arguments: [DType.float32, .float64])
    func rows(dtype: DType) {
        var s: UInt32 = 99
        func next() -> UInt32 { s = s &* 1_664_525 &+ 1_013_904_223; return s >> 8 }
        for r in [1, 2, 15, 16, 17, 31, 32, 33, 64, 70, 1000] {
            var rows: [[Double]] = []
            for kind in 0..<6 {
                var row = (0..<r).map { _ in Double(next() % 9) - 4 }   // many ties
                switch kind {
                case 1: row[Int(next()) % r] = .nan
                case 2: row[0] = .nan; row[r - 1] = .nan
                case 3: row[Int(next()) % r] = .infinity; row[Int(next()) % r] = -.infinity
                case 4: row = row.map { _ in -.infinity }
                case 5: row[r - 1] = 100; row[0] = -100
                default: break
                }
                rows.append(row)
            }
            let x = Tensor(rows.flatMap { $0 }, shape: [rows.count, r]).to(dtype)
            for largest in [true, false] {
                let (values, indices) = largest ? x.max(dim: 1) : x.min(dim: 1)
                let idx = indices.toArray(of: Int64.self), vals = values.to(.float64).toArray(of: Double.self)
                for (k, row) in rows.enumerated() {
                    let want = Self.reference(row, largest: largest)
                    #expect(idx[k] == Int64(want), "r \(r) row \(k) \(largest ? "max" : "min") \(dtype): index \(idx[k]) vs \(want)")
                    #expect(vals[k] == row[want] || (vals[k].isNaN && row[want].isNaN), "value at \(want)")
                }
            }
        }
    }
}
