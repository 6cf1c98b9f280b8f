import CKernelSupport
import Foundation

// CPU reductions: sums (SIMD accumulators merged in Double) and max / min with indices.

extension CPUBackend {
    public func sum(_ t: Tensor, dims: [Int], keepDim: Bool) -> Tensor { Self.reduceSum(t, dims: dims, keepDim: keepDim) }
    public func extremum(_ t: Tensor, dim: Int, keepDim: Bool, largest: Bool) -> (values: Tensor, indices: Tensor) {
        Self.extremum(t, dim: dim, keepDim: keepDim, largest: largest)
    }
}

extension CPUBackend {
    /// Sum over normalised, sorted dims.
    static func reduceSum(_ t: Tensor, dims: [Int], keepDim: Bool) -> Tensor {
        var outShape: [Int] = []
        for i in 0..<t.rank {
            if dims.contains(i) { if keepDim { outShape.append(1) } } else { outShape.append(t.shape[i]) }
        }
        let dt: DType = t.dtype.isFloatingPoint ? t.dtype : .int64
        let src = cast(t, to: dt)
        // Merge adjacent dims of the same kind: [(size, reduced)], outermost first.
        var groups: [(size: Int, reduced: Bool)] = []
        for i in 0..<t.rank where t.shape[i] != 1 {
            let r = dims.contains(i)
            if let last = groups.last, last.reduced == r { groups[groups.count - 1].size *= t.shape[i] } else { groups.append((t.shape[i], r)) }
        }
        if t.count == 0 {
            return Tensor.zeros(outShape, dtype: dt)
        }
        var cur = src
        var sizes = groups
        // Reduce the innermost reduced group first: every pass shrinks the data.
        while let g = sizes.lastIndex(where: { $0.reduced }) {
            var outer = 1, inner = 1
            for i in 0..<g { outer *= sizes[i].size }
            for i in (g + 1)..<sizes.count { inner *= sizes[i].size }
            let r = sizes[g].size
            let next = Tensor(uninitializedShape: [outer * inner], dtype: dt)
            withExtendedLifetime(cur) {
                switch dt {
                case .float32: floatReduceDim(cur.pointer(as: Float.self), next.pointer(as: Float.self), outer, r, inner)
                case .float64: floatReduceDim(cur.pointer(as: Double.self), next.pointer(as: Double.self), outer, r, inner)
                default: intReduceDim(cur.pointer(as: Int64.self), next.pointer(as: Int64.self), outer, r, inner)
                }
            }
            cur = next
            sizes.remove(at: g)
        }
        if cur === src { return src.clonedData().viewData(outShape) }
        return cur.viewData(outShape)
    }

    /// Sum of `n` contiguous elements: four SIMD16 accumulators over blocks of 4096 elements,
    /// blocks merged in Double.
    /// Float32 takes the AVX-512 twin (swiftnn_row_sum_f32: the same additions in the same order)
    /// where the CPU has it: Swift's SIMD16 compiles to four SSE vectors.
    @inline(__always)
    static func rowSum<T: KFloat>(_ p: UnsafePointer<T>, _ n: Int) -> Double {
        if T.self == Float.self && GEMMCKernel.level >= 2 {
            return swiftnn_row_sum_f32(UnsafeRawPointer(p).assumingMemoryBound(to: Float.self), n)
        }
        return rowSumSwift(p, n)
    }

    /// ``rowSum``'s definition, and its path for float64 and CPUs without AVX-512.
    @inline(__always)
    static func rowSumSwift<T: KFloat>(_ p: UnsafePointer<T>, _ n: Int) -> Double {
        var total = 0.0
        var start = 0
        while start < n {
            let end = Swift.min(n, start + 4096)
            var a0 = SIMD16<T>(), a1 = SIMD16<T>(), a2 = SIMD16<T>(), a3 = SIMD16<T>()
            var i = start
            while i + 64 <= end {
                a0 += load16(p + i); a1 += load16(p + i + 16); a2 += load16(p + i + 32); a3 += load16(p + i + 48)
                i += 64
            }
            while i + 16 <= end { a0 += load16(p + i); i += 16 }
            var tail: T = 0
            while i < end { tail += p[i]; i += 1 }
            total += Double(treeSum((a0 + a1) + (a2 + a3))) + Double(tail)
            start = end
        }
        return total
    }

    /// `out[o, j] = Σ_k x[o, k, j]` for x of shape [outer, r, inner].
    static func floatReduceDim<T: KFloat>(_ px: UnsafeMutablePointer<T>, _ po: UnsafeMutablePointer<T>, _ outer: Int, _ r: Int, _ inner: Int) {
        let grain = 1 << 16
        if inner == 1 {
            if outer >= 2 * Parallel.threadCount || outer * r < 2 * grain {
                Parallel.forRange(0..<outer, grain: Swift.max(1, grain / Swift.max(r, 1))) { range in
                    for o in range { po[o] = T(rowSum(px + o * r, r)) }
                }
            } else {
                for o in 0..<outer {
                    let base = px + o * r
                    let chunks = Parallel.chunkCount(total: r, grain: grain)
                    withUnsafeTemporaryAllocation(of: Double.self, capacity: chunks) { partial in
                        Parallel.run(tasks: chunks) { c in
                            let lo = r * c / chunks, hi = r * (c + 1) / chunks
                            partial[c] = rowSum(base + lo, hi - lo)
                        }
                        var s = 0.0
                        for c in 0..<chunks { s += partial[c] }
                        po[o] = T(s)
                    }
                }
            }
            return
        }
        // Column sums: add rows with SIMD in T for blocks of up to 256 rows, merge blocks in Double.
        func columns(_ o: Int, _ cols: Range<Int>) {
            let w = cols.count
            withUnsafeTemporaryAllocation(of: Double.self, capacity: w) { accBuf in
                withUnsafeTemporaryAllocation(of: T.self, capacity: w) { tmpBuf in
                    let acc = accBuf.baseAddress!, tmp = tmpBuf.baseAddress!
                    acc.initialize(repeating: 0, count: w)
                    var k0 = 0
                    while k0 < r {
                        let k1 = Swift.min(r, k0 + 256)
                        tmp.initialize(repeating: 0, count: w)
                        for k in k0..<k1 {
                            let row = px + (o * r + k) * inner + cols.lowerBound
                            var j = 0
                            while j + 16 <= w { store16(load16(tmp + j) + load16(row + j), tmp + j); j += 16 }
                            while j < w { tmp[j] += row[j]; j += 1 }
                        }
                        for j in 0..<w { acc[j] += Double(tmp[j]) }
                        k0 = k1
                    }
                    let dst = po + o * inner + cols.lowerBound
                    for j in 0..<w { dst[j] = T(acc[j]) }
                }
            }
        }
        if outer >= Parallel.threadCount || outer * r * inner < 2 * grain {
            Parallel.forRange(0..<outer, grain: Swift.max(1, grain / Swift.max(r * inner, 1))) { range in
                for o in range {
                    var c = 0
                    while c < inner { let e = Swift.min(inner, c + 4096); columns(o, c..<e); c = e }
                }
            }
        } else {
            for o in 0..<outer {
                Parallel.forRange(0..<inner, grain: Swift.max(16, grain / Swift.max(r, 1)), alignment: 16) { cols in
                    var c = cols.lowerBound
                    while c < cols.upperBound { let e = Swift.min(cols.upperBound, c + 4096); columns(o, c..<e); c = e }
                }
            }
        }
    }

    static func intReduceDim(_ px: UnsafeMutablePointer<Int64>, _ po: UnsafeMutablePointer<Int64>, _ outer: Int, _ r: Int, _ inner: Int) {
        for o in 0..<outer {
            for j in 0..<inner { po[o * inner + j] = 0 }
            for k in 0..<r {
                let row = px + (o * r + k) * inner
                for j in 0..<inner { po[o * inner + j] &+= row[j] }
            }
        }
    }

    // MARK: max / min

    static func extremum(_ t: Tensor, dim d: Int, keepDim: Bool, largest: Bool) -> (values: Tensor, indices: Tensor) {
        let shape = t.rank == 0 ? [1] : t.shape
        let (outer, r, inner) = Kernels.split(shape, at: d)
        var outShape = t.shape
        if t.rank > 0 { if keepDim { outShape[d] = 1 } else { outShape.remove(at: d) } }
        let values = Tensor(uninitializedShape: outShape, dtype: t.dtype)
        let indices = Tensor(uninitializedShape: outShape, dtype: .int64)
        let pi = indices.pointer(as: Int64.self)
        withExtendedLifetime(t) {
            switch t.dtype {
            case .float32: extremumRun(t.pointer(as: Float.self), values.pointer(as: Float.self), pi, outer, r, inner, largest) { $0.isNaN }
            case .float64: extremumRun(t.pointer(as: Double.self), values.pointer(as: Double.self), pi, outer, r, inner, largest) { $0.isNaN }
            case .int64: extremumRun(t.pointer(as: Int64.self), values.pointer(as: Int64.self), pi, outer, r, inner, largest) { _ in false }
            case .uint8: extremumRun(t.pointer(as: UInt8.self), values.pointer(as: UInt8.self), pi, outer, r, inner, largest) { _ in false }
            case .bool:
                let u = cast(t, to: .uint8)
                let v = Tensor(uninitializedShape: outShape, dtype: .uint8)
                extremumRun(u.pointer(as: UInt8.self), v.pointer(as: UInt8.self), pi, outer, r, inner, largest) { _ in false }
                values.copyData(from: cast(v, to: .bool))
            }
        }
        return (values, indices)
    }

    @inline(__always)
    static func extremumRun<T: Comparable>(_ px: UnsafeMutablePointer<T>, _ pv: UnsafeMutablePointer<T>, _ pi: UnsafeMutablePointer<Int64>,
                                           _ outer: Int, _ r: Int, _ inner: Int, _ largest: Bool, _ isNaN: (T) -> Bool) {
        Parallel.forRange(0..<outer, grain: Swift.max(1, (1 << 16) / Swift.max(r * inner, 1))) { range in
            if inner == 1 {
                // Rows: the extreme value with four independent running values (no loop-carried
                // branch), then the first position holding it; a NaN anywhere wins.
                if T.self == Float.self && GEMMCKernel.level >= 2 {
                    // The same position on AVX-512; the value is the element there.
                    for o in range {
                        let x = UnsafeRawPointer(px + o * r).assumingMemoryBound(to: Float.self)
                        let i = swiftnn_row_extremum_index_f32(x, r, largest ? 1 : 0)
                        pv[o] = px[o * r + i]
                        pi[o] = Int64(i)
                    }
                    return
                }
                for o in range {
                    let x = px + o * r
                    var nanAt = -1
                    var b0 = x[0], b1 = x[0], b2 = x[0], b3 = x[0]
                    var k = 0
                    if largest {
                        while k + 4 <= r {
                            b0 = x[k] > b0 ? x[k] : b0; b1 = x[k + 1] > b1 ? x[k + 1] : b1
                            b2 = x[k + 2] > b2 ? x[k + 2] : b2; b3 = x[k + 3] > b3 ? x[k + 3] : b3
                            k += 4
                        }
                        while k < r { b0 = x[k] > b0 ? x[k] : b0; k += 1 }
                        b0 = b1 > b0 ? b1 : b0; b0 = b2 > b0 ? b2 : b0; b0 = b3 > b0 ? b3 : b0
                    } else {
                        while k + 4 <= r {
                            b0 = x[k] < b0 ? x[k] : b0; b1 = x[k + 1] < b1 ? x[k + 1] : b1
                            b2 = x[k + 2] < b2 ? x[k + 2] : b2; b3 = x[k + 3] < b3 ? x[k + 3] : b3
                            k += 4
                        }
                        while k < r { b0 = x[k] < b0 ? x[k] : b0; k += 1 }
                        b0 = b1 < b0 ? b1 : b0; b0 = b2 < b0 ? b2 : b0; b0 = b3 < b0 ? b3 : b0
                    }
                    var bi = 0
                    // `v != v` is the NaN test for floats and never true for integers.
                    while bi < r && x[bi] != b0 {
                        if x[bi] != x[bi] { nanAt = bi; break }
                        bi += 1
                    }
                    if nanAt < 0 && bi < r {
                        // NaNs after the position found still win.
                        var j = bi + 1
                        while j < r { if x[j] != x[j] { nanAt = j; break }; j += 1 }
                    }
                    if nanAt >= 0 { pv[o] = x[nanAt]; pi[o] = Int64(nanAt) } else { pv[o] = b0; pi[o] = Int64(bi) }
                }
                return
            }
            for o in range {
                let base = px + o * r * inner
                let vals = pv + o * inner, idx = pi + o * inner
                for j in 0..<inner { vals[j] = base[j]; idx[j] = 0 }
                for k in 1..<Swift.max(r, 1) {
                    let row = base + k * inner
                    for j in 0..<inner {
                        let v = row[j], b = vals[j]
                        if isNaN(b) { continue }
                        if isNaN(v) || (largest ? v > b : v < b) { vals[j] = v; idx[j] = Int64(k) }
                    }
                }
            }
        }
    }
}
