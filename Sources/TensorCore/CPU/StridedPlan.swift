/// How to walk a contiguous output while reading up to three operands with arbitrary element
/// strides (0 on broadcast dims). Adjacent dims that are laid out contiguously for every operand
/// are merged, so most broadcasts become a few long inner runs instead of per-element index math.
struct StridedPlan {
    /// Sizes of the merged outer dims (outermost first), without the inner dim.
    let outerDims: [Int]
    /// Per operand, strides of the merged outer dims.
    let outerStrides: [[Int]]
    /// Length of the innermost run and each operand's stride along it.
    let inner: Int
    let innerStrides: [Int]
    let outerCount: Int
    let total: Int

    init(shape: [Int], strides: [[Int]]) {
        let k = strides.count
        // Drop size-1 dims, then merge from the inside out.
        var dims: [Int] = []       // innermost first
        var st: [[Int]] = Array(repeating: [], count: k)
        for d in stride(from: shape.count - 1, through: 0, by: -1) where shape[d] != 1 {
            if let last = dims.last {
                var mergeable = true
                for j in 0..<k where strides[j][d] != st[j].last! * last { mergeable = false; break }
                if mergeable {
                    dims[dims.count - 1] = last * shape[d]
                    continue
                }
            }
            dims.append(shape[d])
            for j in 0..<k { st[j].append(strides[j][d]) }
        }
        total = shape.reduce(1, *)
        if dims.isEmpty {
            inner = total == 0 ? 0 : 1
            innerStrides = Array(repeating: 0, count: k)
            outerDims = []
            outerStrides = Array(repeating: [], count: k)
            outerCount = 1
            return
        }
        inner = dims[0]
        innerStrides = st.map { $0[0] }
        outerDims = Array(dims.dropFirst().reversed())
        outerStrides = st.map { Array($0.dropFirst().reversed()) }
        outerCount = outerDims.reduce(1, *)
    }

    /// Calls `body(outOffset, offsets, n)` for every run, in parallel for large work.
    /// `offsets[j]` is operand j's element offset of the run's first element.
    func run(grain: Int, _ body: (_ out: Int, _ offsets: UnsafePointer<Int>, _ n: Int) -> Void) {
        if total == 0 { return }
        let k = innerStrides.count
        if outerCount == 1 {
            // One long run: split it.
            let inner = self.inner, innerStrides = self.innerStrides
            Parallel.forRange(0..<inner, grain: grain, alignment: 64) { r in
                withUnsafeTemporaryAllocation(of: Int.self, capacity: max(k, 1)) { offs in
                    for j in 0..<k { offs[j] = r.lowerBound * innerStrides[j] }
                    body(r.lowerBound, UnsafePointer(offs.baseAddress!), r.count)
                }
            }
            return
        }
        let runGrain = max(1, grain / max(inner, 1))
        Parallel.forRange(0..<outerCount, grain: runGrain) { r in
            runOuter(r, body)
        }
    }

    private func runOuter(_ r: Range<Int>, _ body: (_ out: Int, _ offsets: UnsafePointer<Int>, _ n: Int) -> Void) {
        let k = innerStrides.count
        let nd = outerDims.count
        withUnsafeTemporaryAllocation(of: Int.self, capacity: nd + k) { buf in
            let idx = buf.baseAddress!
            let offs = buf.baseAddress! + nd
            // Multi-index of the first run.
            var rem = r.lowerBound
            for d in stride(from: nd - 1, through: 0, by: -1) {
                idx[d] = rem % outerDims[d]
                rem /= outerDims[d]
            }
            for j in 0..<k {
                var o = 0
                for d in 0..<nd { o += idx[d] * outerStrides[j][d] }
                offs[j] = o
            }
            for run in r {
                body(run * inner, UnsafePointer(offs), inner)
                // Advance the multi-index (odometer).
                var d = nd - 1
                while d >= 0 {
                    idx[d] += 1
                    for j in 0..<k { offs[j] += outerStrides[j][d] }
                    if idx[d] < outerDims[d] { break }
                    for j in 0..<k { offs[j] -= outerStrides[j][d] * outerDims[d] }
                    idx[d] = 0
                    d -= 1
                }
            }
        }
    }
}
