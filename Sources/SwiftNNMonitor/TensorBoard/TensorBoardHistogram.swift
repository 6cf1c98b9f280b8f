/// A histogram as TensorBoard's `HistogramProto` holds it, bucketed exactly as PyTorch's
/// `SummaryWriter.add_histogram` does by default (`bins="tensorflow"`): fixed bucket edges growing
/// by a factor 1.1 from ±1e-12 to ±1e20 around 0, only the buckets from the first to the last
/// non-empty one kept, and each bucket described by its right edge.
///
/// ```swift
/// let h = TensorBoardHistogram([0.5, -1, 2])
/// h.bucketLimits.count == h.bucketCounts.count   // true
/// ```
public struct TensorBoardHistogram: Equatable, Sendable {
    public var min: Double
    public var max: Double
    public var count: Double
    public var sum: Double
    public var sumSquares: Double
    /// Right edges of the kept buckets.
    public var bucketLimits: [Double]
    /// Number of values in each kept bucket.
    public var bucketCounts: [Double]

    /// TensorBoard's default edges, computed with the same floating-point steps as PyTorch
    /// (`v *= 1.1` from 1e-12 while `v < 1e20`), so the limits written are bit-identical.
    public static let defaultEdges: [Double] = {
        var positive: [Double] = []
        var v = 1e-12
        while v < 1e20 {
            positive.append(v)
            v *= 1.1
        }
        return positive.reversed().map { -$0 } + [0] + positive
    }()

    /// Buckets `values`. Non-finite values are left out entirely (PyTorch would report a NaN
    /// minimum and sum, which TensorBoard cannot draw); values beyond ±1e20 count in `min`, `max`,
    /// `count` and the sums but in no bucket, as in PyTorch. Returns nil when no finite value is left.
    public init?(_ values: some Sequence<Double>) {
        let edges = TensorBoardHistogram.defaultEdges
        var counts = [Double](repeating: 0, count: edges.count - 1)
        var lo = Double.infinity, hi = -Double.infinity, n = 0.0
        // Neumaier-compensated sums: a histogram of a million activations must not lose digits.
        var s = 0.0, sc = 0.0, q = 0.0, qc = 0.0
        func add(_ x: Double, _ total: inout Double, _ comp: inout Double) {
            let t = total + x
            comp += Swift.abs(total) >= Swift.abs(x) ? (total - t) + x : (x - t) + total
            total = t
        }
        for x in values where x.isFinite {
            lo = Swift.min(lo, x)
            hi = Swift.max(hi, x)
            n += 1
            add(x, &s, &sc)
            add(x * x, &q, &qc)
            guard x >= edges[0], x <= edges[edges.count - 1] else { continue }
            // numpy.histogram: bucket i holds [edge i, edge i+1), the last one also its right edge.
            var a = 0, b = edges.count - 1   // invariant: edges[a] <= x < edges[b] (or x == last edge)
            if x == edges[b] {
                a = b - 1
            } else {
                while b - a > 1 {
                    let mid = (a + b) / 2
                    if edges[mid] <= x { a = mid } else { b = mid }
                }
            }
            counts[a] += 1
        }
        guard n > 0 else { return nil }
        min = lo
        max = hi
        count = n
        sum = s + sc
        sumSquares = q + qc
        guard let first = counts.firstIndex(where: { $0 > 0 }), let last = counts.lastIndex(where: { $0 > 0 }) else {
            bucketLimits = []
            bucketCounts = []
            return
        }
        // TensorBoard keeps right edges only; an empty bucket in front keeps the left edge of the
        // first non-empty one (PyTorch's make_histogram).
        bucketCounts = first > 0 ? Array(counts[(first - 1)...last]) : [0] + counts[0...last]
        bucketLimits = Array(edges[first...(last + 1)])
    }

    /// Buckets float32 values.
    public init?(_ values: [Float]) {
        self.init(values.lazy.map(Double.init))
    }

    /// The `HistogramProto` message.
    var encoded: [UInt8] {
        var e = ProtobufEncoder()
        e.double(1, min)
        e.double(2, max)
        e.double(3, count)
        e.double(4, sum)
        e.double(5, sumSquares)
        e.packedDoubles(6, bucketLimits)
        e.packedDoubles(7, bucketCounts)
        return e.bytes
    }
}
