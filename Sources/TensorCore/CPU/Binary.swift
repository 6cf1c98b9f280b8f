import CKernelSupport
import Foundation

// CPU elementwise kernels of two or three operands (broadcast through a StridedPlan), dtype
// conversion and strided copies.

/// Elements per parallel chunk for cheap elementwise work (≈ 50–100 µs per chunk).
let elementwiseGrain = 1 << 16

extension CPUBackend {
    public func binary(_ op: BinaryOp, _ a: Tensor, _ b: Tensor) -> Tensor { Self.binary(op, a, b) }
    public func compare(_ op: CompareOp, _ a: Tensor, _ b: Tensor) -> Tensor { Self.compare(op, a, b) }
    public func select(_ cond: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor { Self.select(cond, a, b) }
    public func cast(_ t: Tensor, to dtype: DType) -> Tensor { Self.cast(t, to: dtype) }
    public func strided(_ t: Tensor, shape: [Int], strides: [Int]) -> Tensor { Self.strided(t, shape: shape, strides: strides) }
    public func accumulate(_ source: Tensor, into destination: Tensor) { Self.accumulate(source, into: destination) }
}

extension CPUBackend {
    static func binary(_ op: BinaryOp, _ a: Tensor, _ b: Tensor) -> Tensor {
        let shape = orFail { () throws(UsageError) in try Kernels.broadcastShape(a.shape, b.shape, op: op.rawValue) }
        var dt = DType.promoted(a.dtype, b.dtype)
        if op == .div && !dt.isFloatingPoint { dt = .float32 }
        if dt == .bool { dt = .int64 }
        let a = cast(a, to: dt), b = cast(b, to: dt)
        let out = Tensor(uninitializedShape: shape, dtype: dt)
        let plan = StridedPlan(shape: shape, strides: [Kernels.broadcastStrides(a.shape, to: shape), Kernels.broadcastStrides(b.shape, to: shape)])
        withExtendedLifetime((a, b)) {
            switch dt {
            case .float32: floatBinary(op, a.pointer(as: Float.self), b.pointer(as: Float.self), out.pointer(as: Float.self), plan)
            case .float64: floatBinary(op, a.pointer(as: Double.self), b.pointer(as: Double.self), out.pointer(as: Double.self), plan)
            case .int64: intBinary(op, a.pointer(as: Int64.self), b.pointer(as: Int64.self), out.pointer(as: Int64.self), plan)
            case .uint8: intBinary(op, a.pointer(as: UInt8.self), b.pointer(as: UInt8.self), out.pointer(as: UInt8.self), plan)
            case .bool: fatalError("unreachable")
            }
        }
        return out
    }

    // MARK: float kernels

    static func floatBinary<T: KFloat>(_ op: BinaryOp, _ pa: UnsafeMutablePointer<T>, _ pb: UnsafeMutablePointer<T>,
                                       _ po: UnsafeMutablePointer<T>, _ plan: StridedPlan) {
        switch op {
        case .add: binaryRun(plan, pa, pb, po, AddFunction<T>())
        case .sub: binaryRun(plan, pa, pb, po, SubtractFunction<T>())
        case .mul: binaryRun(plan, pa, pb, po, MultiplyFunction<T>())
        case .div: binaryRun(plan, pa, pb, po, DivideFunction<T>())
        case .pow: scalarBinaryRun(plan, pa, pb, po, grain: 1 << 13) { T.kpow($0, $1) }
        case .maximum: binaryRun(plan, pa, pb, po, MaximumFunction<T>())
        case .minimum: binaryRun(plan, pa, pb, po, MinimumFunction<T>())
        }
    }

    static func intBinary<T: FixedWidthInteger & TensorScalar>(_ op: BinaryOp, _ pa: UnsafeMutablePointer<T>, _ pb: UnsafeMutablePointer<T>,
                                                              _ po: UnsafeMutablePointer<T>, _ plan: StridedPlan) {
        let g = elementwiseGrain
        switch op {
        case .add: scalarBinaryRun(plan, pa, pb, po, grain: g) { $0 &+ $1 }
        case .sub: scalarBinaryRun(plan, pa, pb, po, grain: g) { $0 &- $1 }
        case .mul: scalarBinaryRun(plan, pa, pb, po, grain: g) { $0 &* $1 }
        case .div: scalarBinaryRun(plan, pa, pb, po, grain: g) { $1 == 0 ? 0 : $0 / $1 }
        case .pow:
            scalarBinaryRun(plan, pa, pb, po, grain: g) { base, e in
                var r: T = 1, b = base, e = e
                while e > 0 { if e & 1 == 1 { r = r &* b }; b = b &* b; e >>= 1 }
                return r
            }
        case .maximum: scalarBinaryRun(plan, pa, pb, po, grain: g) { Swift.max($0, $1) }
        case .minimum: scalarBinaryRun(plan, pa, pb, po, grain: g) { Swift.min($0, $1) }
        }
    }

    /// Runs `f` over every run of the plan, with loops for same-shape and scalar (stride-0)
    /// operands. `f` is a type, not a closure: a closure captured by the pool's tasks is called
    /// through a pointer for every vector (`a * 2` and `a + bias` ran 1.5–1.7× slower than ReLU,
    /// which reads and writes as much).
    @inline(__always)
    static func binaryRun<F: BinaryElementFunction>(_ plan: StridedPlan, _ pa: UnsafeMutablePointer<F.Value>,
                                                     _ pb: UnsafeMutablePointer<F.Value>, _ po: UnsafeMutablePointer<F.Value>,
                                                     _ f: F) {
        let sa = plan.innerStrides[0], sb = plan.innerStrides[1]
        plan.run(grain: elementwiseGrain) { out, offs, n in
            let a = pa + offs[0], b = pb + offs[1], o = po + out
            if sa == 1 && sb == 1 {
                for i in 0..<n { o[i] = f(a[i], b[i]) }
            } else if sa == 0 && sb == 1 {
                let x = a[0]
                for i in 0..<n { o[i] = f(x, b[i]) }
            } else if sa == 1 && sb == 0 {
                let y = b[0]
                for i in 0..<n { o[i] = f(a[i], y) }
            } else {
                for i in 0..<n { o[i] = f(a[i * sa], b[i * sb]) }
            }
        }
    }

    @inline(__always)
    static func scalarBinaryRun<A, B, O>(_ plan: StridedPlan, _ pa: UnsafeMutablePointer<A>, _ pb: UnsafeMutablePointer<B>,
                                         _ po: UnsafeMutablePointer<O>, grain: Int, _ f: (A, B) -> O) {
        let sa = plan.innerStrides[0], sb = plan.innerStrides[1]
        plan.run(grain: grain) { out, offs, n in
            let a = pa + offs[0], b = pb + offs[1], o = po + out
            if sa == 1 && sb == 1 {
                for i in 0..<n { o[i] = f(a[i], b[i]) }
            } else if sa == 0 && sb == 1 {
                let x = a[0]
                for i in 0..<n { o[i] = f(x, b[i]) }
            } else if sa == 1 && sb == 0 {
                let y = b[0]
                for i in 0..<n { o[i] = f(a[i], y) }
            } else {
                for i in 0..<n { o[i] = f(a[i * sa], b[i * sb]) }
            }
        }
    }

    // MARK: comparisons and selection

    static func compare(_ op: CompareOp, _ a: Tensor, _ b: Tensor) -> Tensor {
        let shape = orFail { () throws(UsageError) in try Kernels.broadcastShape(a.shape, b.shape, op: op.rawValue) }
        var dt = DType.promoted(a.dtype, b.dtype)
        if dt == .bool { dt = .uint8 }
        let a = cast(a, to: dt), b = cast(b, to: dt)
        let out = Tensor(uninitializedShape: shape, dtype: .bool)
        let plan = StridedPlan(shape: shape, strides: [Kernels.broadcastStrides(a.shape, to: shape), Kernels.broadcastStrides(b.shape, to: shape)])
        let po = out.pointer(as: Bool.self)
        withExtendedLifetime((a, b)) {
            switch dt {
            case .float32: compareRun(op, a.pointer(as: Float.self), b.pointer(as: Float.self), po, plan)
            case .float64: compareRun(op, a.pointer(as: Double.self), b.pointer(as: Double.self), po, plan)
            case .int64: compareRun(op, a.pointer(as: Int64.self), b.pointer(as: Int64.self), po, plan)
            case .uint8: compareRun(op, a.pointer(as: UInt8.self), b.pointer(as: UInt8.self), po, plan)
            case .bool: fatalError("unreachable")
            }
        }
        return out
    }

    static func compareRun<T: Comparable>(_ op: CompareOp, _ pa: UnsafeMutablePointer<T>, _ pb: UnsafeMutablePointer<T>,
                                          _ po: UnsafeMutablePointer<Bool>, _ plan: StridedPlan) {
        let sa = plan.innerStrides[0], sb = plan.innerStrides[1]
        plan.run(grain: elementwiseGrain) { out, offs, n in
            compareLoop(op, pa + offs[0], sa, pb + offs[1], sb, po + out, n)
        }
    }

    /// One run of a comparison: a small closure-free function per dtype, so each loop vectorises.
    @inline(never)
    static func compareLoop<T: Comparable>(_ op: CompareOp, _ a: UnsafeMutablePointer<T>, _ sa: Int, _ b: UnsafeMutablePointer<T>, _ sb: Int,
                                           _ o: UnsafeMutablePointer<Bool>, _ n: Int) {
        @inline(__always) func loop(_ f: (T, T) -> Bool) {
            if sa == 1 && sb == 1 {
                for i in 0..<n { o[i] = f(a[i], b[i]) }
            } else if sa == 1 && sb == 0 {
                let y = b[0]
                for i in 0..<n { o[i] = f(a[i], y) }
            } else if sa == 0 && sb == 1 {
                let x = a[0]
                for i in 0..<n { o[i] = f(x, b[i]) }
            } else {
                for i in 0..<n { o[i] = f(a[i * sa], b[i * sb]) }
            }
        }
        switch op {
        case .eq: loop(==)
        case .ne: loop(!=)
        case .lt: loop(<)
        case .le: loop(<=)
        case .gt: loop(>)
        case .ge: loop(>=)
        }
    }

    static func select(_ cond: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
        let shape = orFail { () throws(UsageError) in
            try Kernels.broadcastShape(try Kernels.broadcastShape(cond.shape, a.shape, op: "where"), b.shape, op: "where")
        }
        let dt = DType.promoted(a.dtype, b.dtype)
        let c = cast(cond, to: .bool), a = cast(a, to: dt), b = cast(b, to: dt)
        let out = Tensor(uninitializedShape: shape, dtype: dt)
        let plan = StridedPlan(shape: shape, strides: [Kernels.broadcastStrides(c.shape, to: shape), Kernels.broadcastStrides(a.shape, to: shape),
                                                       Kernels.broadcastStrides(b.shape, to: shape)])
        withExtendedLifetime((c, a, b)) {
            let pc = c.pointer(as: Bool.self)
            switch dt {
            case .float32: whereRun(plan, pc, a.pointer(as: Float.self), b.pointer(as: Float.self), out.pointer(as: Float.self))
            case .float64: whereRun(plan, pc, a.pointer(as: Double.self), b.pointer(as: Double.self), out.pointer(as: Double.self))
            case .int64: whereRun(plan, pc, a.pointer(as: Int64.self), b.pointer(as: Int64.self), out.pointer(as: Int64.self))
            case .uint8: whereRun(plan, pc, a.pointer(as: UInt8.self), b.pointer(as: UInt8.self), out.pointer(as: UInt8.self))
            case .bool: whereRun(plan, pc, a.pointer(as: Bool.self), b.pointer(as: Bool.self), out.pointer(as: Bool.self))
            }
        }
        return out
    }

    static func whereRun<T>(_ plan: StridedPlan, _ pc: UnsafeMutablePointer<Bool>, _ pa: UnsafeMutablePointer<T>,
                            _ pb: UnsafeMutablePointer<T>, _ po: UnsafeMutablePointer<T>) {
        let sc = plan.innerStrides[0], sa = plan.innerStrides[1], sb = plan.innerStrides[2]
        plan.run(grain: elementwiseGrain) { out, offs, n in
            whereLoop(pc + offs[0], sc, pa + offs[1], sa, pb + offs[2], sb, po + out, n)
        }
    }

    @inline(never)
    static func whereLoop<T>(_ c: UnsafeMutablePointer<Bool>, _ sc: Int, _ a: UnsafeMutablePointer<T>, _ sa: Int,
                             _ b: UnsafeMutablePointer<T>, _ sb: Int, _ o: UnsafeMutablePointer<T>, _ n: Int) {
        // Bytes rather than Bool loads: LLVM vectorises the select on a byte compare.
        let cb = UnsafeRawPointer(c).assumingMemoryBound(to: UInt8.self)
        if sc == 1 && sa == 1 && sb == 1 {
            // Both values loaded before the select: with the loads inside it, LLVM branched per element
            // (4 ns each on random conditions, 12× the bandwidth floor).
            for i in 0..<n {
                let x = a[i], y = b[i]
                o[i] = cb[i] != 0 ? x : y
            }
        } else if sc == 1 && sa == 1 && sb == 0 {
            let y = b[0]
            for i in 0..<n { o[i] = cb[i] != 0 ? a[i] : y }
        } else if sc == 1 && sa == 0 && sb == 1 {
            let x = a[0]
            for i in 0..<n { o[i] = cb[i] != 0 ? x : b[i] }
        } else {
            for i in 0..<n { o[i] = cb[i * sc] != 0 ? a[i * sa] : b[i * sb] }
        }
    }

    /// A contiguous copy of `t` read with element `strides` as a tensor of `shape`.
    static func strided(_ t: Tensor, shape: [Int], strides: [Int]) -> Tensor {
        let out = Tensor(uninitializedShape: shape, dtype: t.dtype)
        let plan = StridedPlan(shape: shape, strides: [strides])
        let s = plan.innerStrides.first ?? 1
        let bytes = t.dtype.byteSize
        let src = t.rawPointer, dst = out.rawPointer
        if s > 1, let last = plan.outerStrides[0].last, last == 1, plan.inner >= 16, plan.outerDims.last! >= 16 {
            // A (batched) transpose: copy in 32×32 tiles so reads reuse cache lines.
            withExtendedLifetime(t) {
                switch bytes {
                case 4: transposeTiles(src.assumingMemoryBound(to: UInt32.self), dst.assumingMemoryBound(to: UInt32.self), plan)
                case 8: transposeTiles(src.assumingMemoryBound(to: UInt64.self), dst.assumingMemoryBound(to: UInt64.self), plan)
                default: transposeTiles(src.assumingMemoryBound(to: UInt8.self), dst.assumingMemoryBound(to: UInt8.self), plan)
                }
            }
            return out
        }
        withExtendedLifetime(t) {
            plan.run(grain: elementwiseGrain) { o, offs, n in
                let from = offs[0]
                if s == 1 {
                    (dst + o * bytes).copyMemory(from: src + from * bytes, byteCount: n * bytes)
                    return
                }
                switch bytes {
                case 4:
                    let ps = src.assumingMemoryBound(to: UInt32.self) + from, pd = dst.assumingMemoryBound(to: UInt32.self) + o
                    if s == 0 { pd.update(repeating: ps[0], count: n) } else { for i in 0..<n { pd[i] = ps[i * s] } }
                case 8:
                    let ps = src.assumingMemoryBound(to: UInt64.self) + from, pd = dst.assumingMemoryBound(to: UInt64.self) + o
                    if s == 0 { pd.update(repeating: ps[0], count: n) } else { for i in 0..<n { pd[i] = ps[i * s] } }
                default:
                    let ps = src.assumingMemoryBound(to: UInt8.self) + from, pd = dst.assumingMemoryBound(to: UInt8.self) + o
                    if s == 0 { pd.update(repeating: ps[0], count: n) } else { for i in 0..<n { pd[i] = ps[i * s] } }
                }
            }
        }
        return out
    }

    /// out[b, m, n] = src[offset(b) + m + n·s] for the plan's batch dims b, last outer dim m
    /// (stride 1) and inner dim n (stride s), tile by tile.
    static func transposeTiles<E>(_ src: UnsafeMutablePointer<E>, _ dst: UnsafeMutablePointer<E>, _ plan: StridedPlan) {
        let N = plan.inner, s = plan.innerStrides[0]
        let M = plan.outerDims.last!
        let batchDims = Array(plan.outerDims.dropLast()), batchStrides = Array(plan.outerStrides[0].dropLast())
        let batches = batchDims.reduce(1, *)
        // Row tiles of 64 output rows; columns in strips of 8, so a strip touches 8 source
        // lines that stay cached for the next rows (with power-of-two strides all of them map to
        // one L1 set, so the strip must stay well under the associativity).
        let tile = 64, strip = 8
        let rowTiles = (M + tile - 1) / tile
        Parallel.forRange(0..<(batches * rowTiles), grain: Swift.max(1, (1 << 16) / (tile * N))) { r in
            for task in r {
                let b = task / rowTiles, m0 = (task % rowTiles) * tile
                var off = 0, rem = b
                for d in stride(from: batchDims.count - 1, through: 0, by: -1) {
                    off += (rem % batchDims[d]) * batchStrides[d]
                    rem /= batchDims[d]
                }
                let sp = src + off, dp = dst + b * M * N
                let m1 = Swift.min(M, m0 + tile)
                if MemoryLayout<E>.size == 4 && GEMMCKernel.level >= 2 {
                    // 16×16 blocks transposed in registers (moves bits only: any 4-byte element).
                    swiftnn_transpose_f32(UnsafeRawPointer(sp + m0).assumingMemoryBound(to: Float.self), N, m1 - m0, s,
                                          UnsafeMutableRawPointer(dp + m0 * N).assumingMemoryBound(to: Float.self), N)
                    continue
                }
                var n0 = 0
                while n0 < N {
                    let n1 = Swift.min(N, n0 + strip)
                    for m in m0..<m1 {
                        let drow = dp + m * N
                        for n in n0..<n1 { drow[n] = sp[m + n * s] }
                    }
                    n0 = n1
                }
            }
        }
    }

    // MARK: dtype conversion

    static func cast(_ t: Tensor, to dtype: DType) -> Tensor {
        if t.dtype == dtype { return t }
        let out = Tensor(uninitializedShape: t.shape, dtype: dtype)
        let n = t.count
        withExtendedLifetime(t) {
            switch t.dtype {
            case .float32: castFrom(t.pointer(as: Float.self), out, n)
            case .float64: castFrom(t.pointer(as: Double.self), out, n)
            case .int64: castFrom(t.pointer(as: Int64.self), out, n)
            case .uint8: castFrom(t.pointer(as: UInt8.self), out, n)
            case .bool: castFrom(t.pointer(as: Bool.self), out, n)
            }
        }
        return out
    }

    /// The conversion is a protocol requirement, not a closure: a closure captured by the parallel
    /// tasks is called per element, unvectorised (float32 → float64 ran 2.3× slower on two threads
    /// than on one).
    @inline(__always)
    static func castFrom<S: CastSource>(_ ps: UnsafeMutablePointer<S>, _ out: Tensor, _ n: Int) {
        @inline(__always) func toDouble(_ v: S) -> Double { v.doubleValue }
        let g = elementwiseGrain
        switch out.dtype {
        case .float32:
            let pd = out.pointer(as: Float.self)
            if S.self == Double.self {
                let p = UnsafeMutableRawPointer(ps).assumingMemoryBound(to: Double.self)
                Parallel.forRange(0..<n, grain: g) { r in for i in r { pd[i] = Float(p[i]) } }
            } else {
                Parallel.forRange(0..<n, grain: g) { r in for i in r { pd[i] = Float(toDouble(ps[i])) } }
            }
        case .float64:
            let pd = out.pointer(as: Double.self)
            Parallel.forRange(0..<n, grain: g) { r in for i in r { pd[i] = toDouble(ps[i]) } }
        case .int64:
            let pd = out.pointer(as: Int64.self)
            Parallel.forRange(0..<n, grain: g) { r in
                for i in r {
                    let v = toDouble(ps[i])
                    pd[i] = v.isFinite && abs(v) < 9.2e18 ? Int64(v) : Int64.min
                }
            }
        case .uint8:
            let pd = out.pointer(as: UInt8.self)
            Parallel.forRange(0..<n, grain: g) { r in
                for i in r {
                    let v = toDouble(ps[i])
                    pd[i] = v.isFinite && abs(v) < 9.2e18 ? UInt8(truncatingIfNeeded: Int64(v)) : 0
                }
            }
        case .bool:
            let pd = out.pointer(as: Bool.self)
            Parallel.forRange(0..<n, grain: g) { r in for i in r { pd[i] = toDouble(ps[i]) != 0 } }
        }
    }

    // MARK: accumulation

    static func accumulate(_ source: Tensor, into destination: Tensor) {
        let n = destination.count
        withExtendedLifetime(source) {
            switch destination.dtype {
            case .float32:
                let pa = destination.pointer(as: Float.self), pb = source.pointer(as: Float.self)
                Parallel.forRange(0..<n, grain: 1 << 17) { r in for i in r { pa[i] += pb[i] } }
            case .float64:
                let pa = destination.pointer(as: Double.self), pb = source.pointer(as: Double.self)
                Parallel.forRange(0..<n, grain: 1 << 16) { r in for i in r { pa[i] += pb[i] } }
            case .int64:
                let pa = destination.pointer(as: Int64.self), pb = source.pointer(as: Int64.self)
                for i in 0..<n { pa[i] &+= pb[i] }
            case .uint8:
                let pa = destination.pointer(as: UInt8.self), pb = source.pointer(as: UInt8.self)
                for i in 0..<n { pa[i] &+= pb[i] }
            case .bool:
                let pa = destination.pointer(as: Bool.self), pb = source.pointer(as: Bool.self)
                for i in 0..<n { pa[i] = pa[i] || pb[i] }
            }
        }
    }
}

/// A dtype's element read as a Double, for ``CPUBackend/castFrom(_:_:_:)``.
protocol CastSource {
    var doubleValue: Double { get }
}

extension Float: CastSource { @inline(__always) var doubleValue: Double { Double(self) } }
extension Double: CastSource { @inline(__always) var doubleValue: Double { self } }
extension Int64: CastSource { @inline(__always) var doubleValue: Double { Double(self) } }
extension UInt8: CastSource { @inline(__always) var doubleValue: Double { Double(self) } }
extension Bool: CastSource { @inline(__always) var doubleValue: Double { self ? 1 : 0 } }
