import Foundation

// CPU copies along one dimension: byte blocks moved with memcpy, whatever the dtype.

extension CPUBackend {
    public func scatter(_ g: Tensor, indices: Tensor, dim: Int, shape: [Int]) -> Tensor {
        let (outer, r, inner) = Kernels.split(shape, at: dim)
        let out = Tensor.zeros(shape, dtype: g.dtype)
        let pi = indices.pointer(as: Int64.self)
        let bytes = g.dtype.byteSize
        let src = g.rawPointer, dst = out.rawPointer
        withExtendedLifetime((g, indices)) {
            for o in 0..<outer {
                for j in 0..<inner {
                    let k = Int(pi[o * inner + j])
                    precondition(k >= 0 && k < r, "scatter: index \(k) out of range for size \(r)")
                    (dst + ((o * r + k) * inner + j) * bytes).copyMemory(from: src + (o * inner + j) * bytes, byteCount: bytes)
                }
            }
        }
        return out
    }

    public func concat(_ parts: [Tensor], dim d: Int, shape: [Int]) -> Tensor {
        let dt = parts[0].dtype
        let out = Tensor(uninitializedShape: shape, dtype: dt)
        let (outer, total, inner) = Kernels.split(shape, at: d)
        let bytes = dt.byteSize
        let dst = out.rawPointer
        withExtendedLifetime(parts) {
            var offset = 0
            for p in parts {
                let block = p.shape[d] * inner * bytes
                let src = p.rawPointer
                if block > 0 {
                    Parallel.forRange(0..<outer, grain: Swift.max(1, (1 << 18) / Swift.max(block, 1))) { r in
                        for o in r {
                            (dst + (o * total * inner + offset) * bytes).copyMemory(from: src + o * block, byteCount: block)
                        }
                    }
                }
                offset += p.shape[d] * inner
            }
        }
        return out
    }

    public func slice(_ t: Tensor, dim: Int, start: Int, end: Int) -> Tensor {
        var shape = t.shape
        shape[dim] = end - start
        let out = Tensor(uninitializedShape: shape, dtype: t.dtype)
        let (outer, size, inner) = Kernels.split(t.shape, at: dim)
        let bytes = t.dtype.byteSize
        let block = (end - start) * inner * bytes
        let src = t.rawPointer, dst = out.rawPointer
        if block == 0 { return out }
        withExtendedLifetime(t) {
            Parallel.forRange(0..<outer, grain: Swift.max(1, (1 << 18) / block)) { r in
                for o in r {
                    (dst + o * block).copyMemory(from: src + ((o * size + start) * inner) * bytes, byteCount: block)
                }
            }
        }
        return out
    }

    public func unslice(_ g: Tensor, shape: [Int], dim: Int, start: Int) -> Tensor {
        let out = Tensor.zeros(shape, dtype: g.dtype)
        let (outer, size, inner) = Kernels.split(shape, at: dim)
        let bytes = g.dtype.byteSize
        let block = g.shape[dim] * inner * bytes
        let src = g.rawPointer, dst = out.rawPointer
        if block == 0 { return out }
        withExtendedLifetime(g) {
            for o in 0..<outer {
                (dst + ((o * size + start) * inner) * bytes).copyMemory(from: src + o * block, byteCount: block)
            }
        }
        return out
    }

    public func firstIndexOutOfRange(_ index: Tensor, bound: Int, ignoring: Int64?) -> Int64? {
        let p = index.pointer(as: Int64.self), b = Int64(bound)
        return withExtendedLifetime(index) {
            for i in 0..<index.count where (p[i] < 0 || p[i] >= b) && p[i] != ignoring { return p[i] }
            return nil
        }
    }

    public func indexSelect(_ t: Tensor, dim: Int, index: Tensor) -> Tensor {
        var shape = t.shape
        let m = index.count
        if t.rank > 0 { shape[dim] = m }
        let out = Tensor(uninitializedShape: shape, dtype: t.dtype)
        let (outer, size, inner) = Kernels.split(t.rank == 0 ? [1] : t.shape, at: dim)
        let bytes = t.dtype.byteSize, block = inner * bytes
        let src = t.rawPointer, dst = out.rawPointer
        let pi = index.pointer(as: Int64.self)
        withExtendedLifetime((t, index)) {
            Parallel.forRange(0..<outer, grain: Swift.max(1, (1 << 18) / Swift.max(m * block, 1))) { r in
                for o in r {
                    for i in 0..<m {
                        (dst + (o * m + i) * block).copyMemory(from: src + (o * size + Int(pi[i])) * block, byteCount: block)
                    }
                }
            }
        }
        return out
    }

    public func indexAdd(shape: [Int], dim: Int, index: Tensor, source: Tensor, skipping: Int64?) -> Tensor {
        let out = Tensor.zeros(shape, dtype: source.dtype)
        let (outer, size, inner) = Kernels.split(shape.isEmpty ? [1] : shape, at: dim)
        let m = index.count
        let pi = index.pointer(as: Int64.self)
        func run<T: KFloat>(_ ps: UnsafeMutablePointer<T>, _ po: UnsafeMutablePointer<T>) {
            for o in 0..<outer {
                for i in 0..<m where pi[i] != skipping {
                    let s = ps + (o * m + i) * inner, d = po + (o * size + Int(pi[i])) * inner
                    for j in 0..<inner { d[j] += s[j] }
                }
            }
        }
        withExtendedLifetime((source, index)) {
            switch source.dtype {
            case .float32: run(source.pointer(as: Float.self), out.pointer(as: Float.self))
            case .float64: run(source.pointer(as: Double.self), out.pointer(as: Double.self))
            default: preconditionFailure("indexAdd: float dtypes only")
            }
        }
        return out
    }
}
