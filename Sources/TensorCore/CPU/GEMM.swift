import CKernelSupport
import Foundation

// General matrix multiply on row-major buffers: C = α·op(A)·op(B) + β·C.
//
// The design is GotoBLAS's: B is packed into panels NR columns wide (one SIMD vector per row of a
// panel), A into panels of MR = 6 rows, both sized to stay in cache (a KC×NR panel of B in L1, an
// MC×KC block of A in the 1 MiB L2, a KC×NC block of B in L3), and a 6×NR register-blocked
// micro-kernel streams through them with 6 vector accumulators. Transposition is absorbed by the
// packing routines, so `Aᵀ·B` or `A·Bᵀ` costs no more than `A·B` and backward passes never
// materialise a transpose.

/// Element types the packed GEMM runs on, with the vector type one micro-tile row fits in.
protocol GEMMElement: BinaryFloatingPoint, SIMDScalar, Codable {
    associatedtype GEMMVector: SIMD where GEMMVector.Scalar == Self
    /// Half a `GEMMVector`: the micro-kernel's lane width when the target has no FMA (see there).
    associatedtype GEMMHalfVector: SIMD where GEMMHalfVector.Scalar == Self
}
extension Float: GEMMElement { typealias GEMMVector = SIMD16<Float>; typealias GEMMHalfVector = SIMD8<Float> }
extension Double: GEMMElement { typealias GEMMVector = SIMD8<Double>; typealias GEMMHalfVector = SIMD4<Double> }

/// Cache blocking (elements). MC × KC × 4 B = 144 KiB of A stays in the 1 MiB L2 next to the
/// B block being streamed; a KC × NR panel of B (16 KiB) stays in L1.
enum GEMMBlocking {
    static let mr = 6

    struct Sizes: Sendable {
        var kc = 256
        var mc = 144
        var nc = 4096
        /// Products below this many multiply-adds take the plain loop: packing would cost more.
        var smallWork = 4096
        /// Products at or above this many multiply-adds are split over threads (≈ 50 µs of work).
        var parallelWork = 1 << 21
        /// Threaded products whose op(A) has at most this many elements (m·k) take one fork-join,
        /// every task packing all of A (≤ 512 KiB of float32, cheaper than the joins it saves).
        var oneJoinA = 1 << 17
        /// The implicit convolution's input gradient works on blocks of whole samples whose output
        /// gradient (the GEMM's B panels) is at most this many bytes (at least one sample)…
        var convBlockBytes = 256 << 10
        /// … and computes their columns for whole channels' taps worth about this many bytes per pass
        /// (at least lcm(6, KH·KW) taps, an even number of six-tap blocks) before col2im adds them onto dx.
        var convChunkBytes = 128 << 10
        /// Stride-2 layers read pairs of whole one-sample panels straight from their source: the
        /// forward's taps from phase planes (`PhasePanel`), the input gradient's rows from dy (the dy
        /// tiles); off, both gather every panel (tests compare the two).
        var convPhaseTiles = true
        /// Stride-2 3×3 weight gradients write their rows of cols straight from the input rows
        /// (``ImplicitConvolution/readsTapRows(_:)``); off, through phase planes and gathers.
        var convTapRows = true
        /// Input gradients by phase of at least this many bytes are stored past the caches; nil:
        /// ``Kernels/normalizationStreamingBytes`` (tests force either store).
        var convStreamingBytes: Int? = nil
    }

    /// Task-local so that a test can shrink the blocks (to reach every path with small shapes)
    /// without changing the rounding of GEMMs that other tests run concurrently. Read only on the
    /// calling thread, at the entry of a product.
    @TaskLocal static var sizes = Sizes()

    static var kc: Int { sizes.kc }
    static var mc: Int { sizes.mc }
    static var nc: Int { sizes.nc }
    static var smallWork: Int { sizes.smallWork }
    static var parallelWork: Int { sizes.parallelWork }
    static var oneJoinA: Int { sizes.oneJoinA }
}

enum GEMMTuning {
    /// Whether `addingProduct` compiles to a fused multiply-add on this build. Without FMA in the
    /// target (Swift's default x86-64 target is SSE2) it becomes one `fmaf` call per lane, 30× slower
    /// than `acc + a * b`; with `-target-cpu native` it is one instruction doing the work of two.
    /// Swift has no compile-time test for CPU features, so the two micro-kernels are timed once.
    /// `SWIFTNN_GEMM_FMA=0/1` overrides.
    ///
    /// The choice changes rounding, so it must not flip between two runs of the same binary: a run
    /// resumed from a checkpoint has to reproduce an uninterrupted one bit for bit. The two
    /// candidates differ by far more than timing noise in optimized builds (fused is ≈ 2× faster
    /// with FMA in the target and ≈ 30× slower without), so fused is chosen only when it is less
    /// than half as fast as the separate form could explain; debug builds, where both are slow
    /// and close, always take the separate form.
    static let useFMA: Bool = {
        if let env = ProcessInfo.processInfo.environment["SWIFTNN_GEMM_FMA"] { return env != "0" }
        #if DEBUG
        return false
        #else
        let kc = 64
        let nr = Float.GEMMVector.scalarCount
        let a = UnsafeMutablePointer<Float>.allocate(capacity: kc * GEMMBlocking.mr)
        let b = UnsafeMutablePointer<Float>.allocate(capacity: kc * nr)
        let c = UnsafeMutablePointer<Float>.allocate(capacity: GEMMBlocking.mr * nr)
        defer { a.deallocate(); b.deallocate(); c.deallocate() }
        a.initialize(repeating: 0.5, count: kc * GEMMBlocking.mr)
        b.initialize(repeating: 0.25, count: kc * nr)
        c.initialize(repeating: 0, count: GEMMBlocking.mr * nr)
        func time(_ fused: Bool) -> Duration {
            let t0 = ContinuousClock.now
            for _ in 0..<20 {
                gemmMicroKernel(kc, UnsafePointer(a), UnsafePointer(b), c, nr, GEMMBlocking.mr, nr, fused)
            }
            return ContinuousClock.now - t0
        }
        // Interleaved trials, fastest of each: a busy machine slows single trials, not all of them.
        var fused = Duration.seconds(1000), separate = Duration.seconds(1000)
        for _ in 0..<9 {
            fused = min(fused, time(true))
            separate = min(separate, time(false))
        }
        return fused < separate * 2
        #endif
    }()
}

// MARK: - Micro-kernel

/// `acc += a · b` for one broadcast scalar of A and one row of the B panel.
@inline(__always)
private func step<V: SIMD>(_ acc: inout V, _ a: V.Scalar, _ b: V, _ fused: Bool) where V.Scalar: FloatingPoint {
    if fused {
        acc = acc.addingProduct(V(repeating: a), b)
    } else {
        acc = acc + b * a
    }
}

/// C[0..<rows, 0..<cols] += Apanel(6×kc) · Bpanel(kc×NR), with C row-major (row stride `ldc`).
@inline(__always)
func gemmMicroKernel<T: GEMMElement>(
    _ kc: Int, _ a: UnsafePointer<T>, _ b: UnsafePointer<T>, _ c: UnsafeMutablePointer<T>,
    _ ldc: Int, _ rows: Int, _ cols: Int, _ fused: Bool
) {
    typealias V = T.GEMMVector
    let nr = V.scalarCount
    if !fused {
        // No FMA means (on x86-64) Swift's default SSE2 target, with 16 vector registers: six
        // full-width accumulators (24 registers) spill to the stack on every step. Two passes over
        // half-width columns keep 12 accumulators in registers; each C element still sums the same
        // products in the same order, so the results are bit-identical.
        let half = T.GEMMHalfVector.scalarCount
        gemmMicroKernelHalf(kc, a, b, c, ldc, rows, min(cols, half))
        if cols > half { gemmMicroKernelHalf(kc, a, b + half, c + half, ldc, rows, cols - half) }
        return
    }
    var c0 = V(), c1 = V(), c2 = V(), c3 = V(), c4 = V(), c5 = V()
    var pa = a
    var pb = UnsafeRawPointer(b)
    let stride = nr * MemoryLayout<T>.stride
    for _ in 0..<kc {
        let bv = pb.loadUnaligned(as: V.self)
        step(&c0, pa[0], bv, fused)
        step(&c1, pa[1], bv, fused)
        step(&c2, pa[2], bv, fused)
        step(&c3, pa[3], bv, fused)
        step(&c4, pa[4], bv, fused)
        step(&c5, pa[5], bv, fused)
        pa += 6
        pb += stride
    }
    if rows == 6 && cols == nr {
        @inline(__always) func add(_ r: Int, _ v: V) {
            let p = UnsafeMutableRawPointer(c + r * ldc)
            p.storeBytes(of: p.loadUnaligned(as: V.self) + v, as: V.self)
        }
        add(0, c0); add(1, c1); add(2, c2); add(3, c3); add(4, c4); add(5, c5)
    } else {
        withUnsafeTemporaryAllocation(of: V.self, capacity: 6) { tile in
            tile[0] = c0; tile[1] = c1; tile[2] = c2; tile[3] = c3; tile[4] = c4; tile[5] = c5
            for r in 0..<rows {
                let row = c + r * ldc
                for j in 0..<cols { row[j] += tile[r][j] }
            }
        }
    }
}

/// The non-fused micro-kernel on `cols` ≤ NR/2 columns of a B panel that starts at `b` (rows of
/// the panel stay NR elements apart): `acc + b·a` per step, like `step(_:_:_:false)`.
@inline(__always)
private func gemmMicroKernelHalf<T: GEMMElement>(
    _ kc: Int, _ a: UnsafePointer<T>, _ b: UnsafePointer<T>, _ c: UnsafeMutablePointer<T>,
    _ ldc: Int, _ rows: Int, _ cols: Int
) {
    typealias H = T.GEMMHalfVector
    let h = H.scalarCount
    var c0 = H(), c1 = H(), c2 = H(), c3 = H(), c4 = H(), c5 = H()
    var pa = a
    var pb = UnsafeRawPointer(b)
    let stride = T.GEMMVector.scalarCount &* MemoryLayout<T>.stride
    for _ in 0..<kc {
        let bv = pb.loadUnaligned(as: H.self)
        c0 = c0 + bv * pa[0]
        c1 = c1 + bv * pa[1]
        c2 = c2 + bv * pa[2]
        c3 = c3 + bv * pa[3]
        c4 = c4 + bv * pa[4]
        c5 = c5 + bv * pa[5]
        pa += 6
        pb += stride
    }
    if rows == 6 && cols == h {
        @inline(__always) func add(_ r: Int, _ v: H) {
            let p = UnsafeMutableRawPointer(c + r * ldc)
            p.storeBytes(of: p.loadUnaligned(as: H.self) + v, as: H.self)
        }
        add(0, c0); add(1, c1); add(2, c2); add(3, c3); add(4, c4); add(5, c5)
    } else {
        withUnsafeTemporaryAllocation(of: H.self, capacity: 6) { tile in
            tile[0] = c0; tile[1] = c1; tile[2] = c2; tile[3] = c3; tile[4] = c4; tile[5] = c5
            for r in 0..<rows {
                let row = c + r * ldc
                for j in 0..<cols { row[j] += tile[r][j] }
            }
        }
    }
}

// MARK: - Packing

/// Packs rows `i0..<i0+mc`, columns `p0..<p0+kc` of op(A) into 6-row panels (`kc × 6` each,
/// row index fastest), zero-padding the last panel and scaling by `alpha`.
@inline(__always)
func gemmPackA<T: GEMMElement>(
    _ transA: Bool, _ a: UnsafePointer<T>, _ lda: Int, _ i0: Int, _ mc: Int, _ p0: Int, _ kc: Int,
    _ alpha: T, _ dst: UnsafeMutablePointer<T>
) {
    var d = dst
    var ir = 0
    let cPack = T.self == Float.self && GEMMCKernel.level >= 2
    while ir < mc {
        let rows = min(6, mc - ir)
        if !transA {
            // op(A)(i, p) = a[i * lda + p]: read up to six rows in parallel, write contiguously.
            if rows == 6 && alpha == 1 && cPack {
                // Sixteen columns of the six rows per step, interleaved in registers (AVX-512).
                swiftnn_gemm_pack_a6_f32(UnsafeRawPointer(a + (i0 + ir) * lda + p0).assumingMemoryBound(to: Float.self), lda, kc,
                                         UnsafeMutableRawPointer(d).assumingMemoryBound(to: Float.self))
            } else if rows == 6 {
                let s0 = a + (i0 + ir) * lda + p0
                let s1 = s0 + lda, s2 = s1 + lda, s3 = s2 + lda, s4 = s3 + lda, s5 = s4 + lda
                if alpha == 1 {
                    for p in 0..<kc {
                        let o = p * 6
                        d[o] = s0[p]; d[o + 1] = s1[p]; d[o + 2] = s2[p]
                        d[o + 3] = s3[p]; d[o + 4] = s4[p]; d[o + 5] = s5[p]
                    }
                } else {
                    for p in 0..<kc {
                        let o = p * 6
                        d[o] = alpha * s0[p]; d[o + 1] = alpha * s1[p]; d[o + 2] = alpha * s2[p]
                        d[o + 3] = alpha * s3[p]; d[o + 4] = alpha * s4[p]; d[o + 5] = alpha * s5[p]
                    }
                }
            } else {
                for r in 0..<6 {
                    if r < rows {
                        let s = a + (i0 + ir + r) * lda + p0
                        for p in 0..<kc { d[p * 6 + r] = alpha * s[p] }
                    } else {
                        for p in 0..<kc { d[p * 6 + r] = 0 }
                    }
                }
            }
        } else {
            // op(A)(i, p) = a[p * lda + i]: six consecutive elements per p.
            for p in 0..<kc {
                let s = a + (p0 + p) * lda + i0 + ir
                let o = p * 6
                if rows == 6 && alpha == 1 {
                    d[o] = s[0]; d[o + 1] = s[1]; d[o + 2] = s[2]
                    d[o + 3] = s[3]; d[o + 4] = s[4]; d[o + 5] = s[5]
                } else {
                    for r in 0..<rows { d[o + r] = alpha * s[r] }
                    for r in rows..<6 { d[o + r] = 0 }
                }
            }
        }
        d += 6 * kc
        ir += 6
    }
}

/// Packs panels `panel0..<panel1` (NR columns each, starting at column `j0`) of rows
/// `p0..<p0+kc` of op(B), `nc` columns in all, into `kc × NR` panels (column index fastest).
@inline(__always)
func gemmPackB<T: GEMMElement>(
    _ transB: Bool, _ b: UnsafePointer<T>, _ ldb: Int, _ p0: Int, _ kc: Int, _ j0: Int, _ nc: Int,
    _ panel0: Int, _ panel1: Int, _ dst: UnsafeMutablePointer<T>
) {
    typealias V = T.GEMMVector
    let nr = V.scalarCount
    let cPack = T.self == Float.self && GEMMCKernel.level >= 2
    for panel in panel0..<panel1 {
        let jr = panel * nr
        let cols = min(nr, nc - jr)
        let d = dst + panel * nr * kc
        if !transB {
            // op(B)(p, j) = b[p * ldb + j]: each panel row is a contiguous run of B.
            for p in 0..<kc {
                let s = b + (p0 + p) * ldb + j0 + jr
                if cols == nr {
                    UnsafeMutableRawPointer(d + p * nr).storeBytes(of: UnsafeRawPointer(s).loadUnaligned(as: V.self), as: V.self)
                } else {
                    for j in 0..<cols { d[p * nr + j] = s[j] }
                    for j in cols..<nr { d[p * nr + j] = 0 }
                }
            }
        } else if cPack {
            // op(B)(p, j) = b[j * ldb + p]: 16×16 blocks transposed in registers (AVX-512).
            swiftnn_gemm_pack_b16_transposed_f32(UnsafeRawPointer(b + (j0 + jr) * ldb + p0).assumingMemoryBound(to: Float.self),
                                                 ldb, kc, cols, UnsafeMutableRawPointer(d).assumingMemoryBound(to: Float.self))
        } else {
            // op(B)(p, j) = b[j * ldb + p]: read rows of B, scatter into the panel's columns.
            // Pointer walks without overflow checks: this loop is hot in weight gradients (dW = dY·Xᵀ).
            for j in 0..<cols {
                var s = b + (j0 + jr + j) * ldb + p0
                var dd = d + j
                var p = 0
                while p &+ 4 <= kc {
                    let v = UnsafeRawPointer(s).loadUnaligned(as: SIMD4<T>.self)
                    dd[0] = v[0]; dd[nr] = v[1]; dd[2 &* nr] = v[2]; dd[3 &* nr] = v[3]
                    s += 4
                    dd += 4 &* nr
                    p &+= 4
                }
                while p < kc {
                    dd.pointee = s.pointee
                    s += 1
                    dd += nr
                    p &+= 1
                }
            }
            if cols < nr {
                for p in 0..<kc { for j in cols..<nr { d[p * nr + j] = 0 } }
            }
        }
    }
}

// MARK: - Driver

/// C = α·op(A)·op(B) + β·C for row-major buffers; op(A) is m×k, op(B) is k×n.
@inline(__always)
func gemmDriver<T: GEMMElement>(
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: T,
    a: UnsafePointer<T>, lda: Int, b: UnsafePointer<T>, ldb: Int,
    beta: T, c: UnsafeMutablePointer<T>, ldc: Int
) {
    if m <= 0 || n <= 0 { return }
    // The paths that add onto C need it zeroed when beta == 0 (NaN ignored, as in BLAS).
    func zeroC() { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
    if beta != 0 && beta != 1 {
        for i in 0..<m { let row = c + i * ldc; for j in 0..<n { row[j] *= beta } }
    }
    if k <= 0 || alpha == 0 {
        if beta == 0 { zeroC() }
        return
    }
    let work = m * n * k
    if work <= GEMMBlocking.smallWork {
        if beta == 0 { zeroC() }
        gemmNaive(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc)
        return
    }
    let fused = GEMMTuning.useFMA
    let cLevel = GEMMCKernel.level
    if !transA && transB && (n <= 8 || m <= 2) {
        // Few output columns (or rows) and both operands contiguous along k — a weight gradient
        // with a tiny fan-in (dW = dY·colsᵀ of a first conv layer), or a Linear with few outputs:
        // row-by-row dot products waste no vector lanes and need no packing.
        if beta == 0 { zeroC() }
        let rows = { (r: Range<Int>) in
            gemmDotNT(rows: r, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc, fused: fused)
        }
        if work >= GEMMBlocking.parallelWork && m >= 2 {
            Parallel.forRange(0..<m, grain: 1, rows)
        } else {
            rows(0..<m)
        }
        return
    }
    typealias V = T.GEMMVector
    let nr = V.scalarCount
    let mr = GEMMBlocking.mr
    let kcMax = min(GEMMBlocking.kc, k)
    let ncMax = min(GEMMBlocking.nc, n)
    let ncPanelsMax = (ncMax + nr - 1) / nr
    let threads = work >= GEMMBlocking.parallelWork ? Parallel.threadCount : 1
    let elem = MemoryLayout<T>.stride

    // Split the work of each (jc, pc) block between tasks: by rows when there are enough of them,
    // otherwise by B panels (each task then packs the A rows itself).
    let rowBlocks = (m + mr - 1) / mr
    let splitRows = threads == 1 || rowBlocks >= 4 * threads || m >= n
    let mcMax = min(GEMMBlocking.mc, (m + mr - 1) / mr * mr)

    let bStorage = gemmScratch(bytes: kcMax * ncPanelsMax * nr * elem)
    let aStorage = gemmScratch(bytes: threads * mcMax * kcMax * elem)
    let bpack = bStorage.pointer.bindMemory(to: T.self, capacity: kcMax * ncPanelsMax * nr)
    let apackAll = aStorage.pointer.bindMemory(to: T.self, capacity: threads * mcMax * kcMax)

    /// C[rowLo..<rowHi, panels panelLo..<panelHi of the block at column jc] (+)= op(A)·op(B) over
    /// k block pc..<pc+kc, with B's panels packed from `bpanels` on (panel `panelLo` first) and
    /// `apack` the task's A buffer.
    func compute(pc: Int, kc: Int, jc: Int, nc: Int, rowLo: Int, rowHi: Int, panelLo: Int, panelHi: Int,
                 bpanels: UnsafeMutablePointer<T>, apack: UnsafeMutablePointer<T>) {
        // With beta == 0 the first k block writes its sums over C rather than adding them to a
        // zeroed C: the same bits (a sum that starts at +0 is never -0, so 0 + sum == sum), one
        // pass over C fewer.
        let overwrite = beta == 0 && pc == 0
        var ic = rowLo
        while ic < rowHi {
            let mc = min(mcMax, rowHi - ic)
            gemmPackA(transA, a, lda, ic, mc, pc, kc, alpha, apack)
            var panel = panelLo
            while panel < panelHi {
                let jr = panel * nr
                let cols = min(nr, nc - jr)
                let bp = UnsafePointer(bpanels + (panel - panelLo) * nr * kc)
                var ir = 0
                // Two full panels at once: 12×32 blocks on the AVX-512 kernel (24 accumulators,
                // ≈ 1.35× the 6×16 kernel's rate), each C element summed exactly as before.
                if cLevel >= 2 && T.self == Float.self && panel + 1 < panelHi && nc - jr >= 2 * nr {
                    ir = gemmPairedPanels(kc, apack, bpanels + (panel - panelLo) * nr * kc, c + ic * ldc + jc + jr, ldc, mc,
                                          overwrite: overwrite)
                    while ir < mc {
                        let rows = min(mr, mc - ir)
                        for q in 0..<2 {
                            gemmMicroKernelDispatch(kc, UnsafePointer(apack + ir * kc), bp + q * nr * kc,
                                                    c + (ic + ir) * ldc + jc + jr + q * nr, ldc, rows, nr, fused, cLevel,
                                                    overwrite: overwrite)
                        }
                        ir += mr
                    }
                    panel += 2
                    continue
                }
                defer { panel += 1 }
                while ir < mc {
                    let rows = min(mr, mc - ir)
                    gemmMicroKernelDispatch(kc, UnsafePointer(apack + ir * kc), bp,
                                            c + (ic + ir) * ldc + jc + jr, ldc, rows, cols, fused, cLevel,
                                            overwrite: overwrite)
                    ir += mr
                }
            }
            ic += mc
        }
    }

    var jcNext = 0
    while jcNext < n {
        let jc = jcNext
        let nc = min(ncMax, n - jc)
        let panels = (nc + nr - 1) / nr
        if threads > 1 && m * k <= GEMMBlocking.oneJoinA && panels >= threads {
            // A small A (the MLP's products): one fork-join for the whole block of columns. Each
            // task packs its own B panels and all of A, and runs every k block, where the schedule
            // below pays two fork-joins per k block. Each C element sums the same k blocks in the
            // same order, so the bits do not change.
            Parallel.run(tasks: threads) { t in
                let panelLo = panels * t / threads, panelHi = panels * (t + 1) / threads
                // The task's own part of `bpack`, sized for a full k block: the tasks are at
                // different k blocks at a time.
                let bpanels = bpack + panelLo * nr * kcMax
                let j0 = jc + panelLo * nr
                var pc = 0
                while pc < k {
                    let kc = min(kcMax, k - pc)
                    gemmPackB(transB, b, ldb, pc, kc, j0, nc - panelLo * nr, 0, panelHi - panelLo, bpanels)
                    compute(pc: pc, kc: kc, jc: jc, nc: nc, rowLo: 0, rowHi: m, panelLo: panelLo, panelHi: panelHi,
                            bpanels: bpanels, apack: apackAll + t * mcMax * kcMax)
                    pc += kc
                }
            }
            jcNext += nc
            continue
        }
        var pcNext = 0
        while pcNext < k {
            let pc = pcNext
            let kc = min(kcMax, k - pc)
            // Pack this block of B (shared by all tasks).
            if threads > 1 && panels >= 2 * threads {
                Parallel.run(tasks: threads) { t in
                    gemmPackB(transB, b, ldb, pc, kc, jc, nc, panels * t / threads, panels * (t + 1) / threads, bpack)
                }
            } else {
                gemmPackB(transB, b, ldb, pc, kc, jc, nc, 0, panels, bpack)
            }
            let tasks = splitRows ? min(threads, rowBlocks) : min(threads, panels)
            let body = { (t: Int) in
                if tasks == 1 || !splitRows {
                    let panelLo = panels * t / tasks
                    compute(pc: pc, kc: kc, jc: jc, nc: nc, rowLo: 0, rowHi: m, panelLo: panelLo, panelHi: panels * (t + 1) / tasks,
                            bpanels: bpack + panelLo * nr * kc, apack: apackAll + t * mcMax * kcMax)
                } else {
                    compute(pc: pc, kc: kc, jc: jc, nc: nc, rowLo: min(m, rowBlocks * t / tasks * mr),
                            rowHi: min(m, rowBlocks * (t + 1) / tasks * mr), panelLo: 0, panelHi: panels,
                            bpanels: bpack, apack: apackAll + t * mcMax * kcMax)
                }
            }
            if tasks > 1 {
                Parallel.run(tasks: tasks, body)
            } else {
                body(0)
            }
            pcNext += kc
        }
        jcNext += nc
    }
    withExtendedLifetime(bStorage) {}
    withExtendedLifetime(aStorage) {}
}

/// Packing buffers come from the storage cache: sizes are rounded up to a power of two of at
/// least 1 MiB so that repeated products reuse the same blocks instead of mapping (and
/// page-faulting) fresh memory on every call.
@inline(__always)
func gemmScratch(bytes: Int) -> TensorStorage {
    var size = 1 << 20
    while size < bytes { size <<= 1 }
    return TensorStorage(byteCount: size)
}

/// C[rows, 0..<n] += alpha · A[rows, :] · Bᵀ with A and B both contiguous along k: SIMD dot
/// products, four columns of B per pass over a row of A.
@inline(__always)
func gemmDotNT<T: GEMMElement>(
    rows: Range<Int>, n: Int, k: Int, alpha: T, a: UnsafePointer<T>, lda: Int,
    b: UnsafePointer<T>, ldb: Int, c: UnsafeMutablePointer<T>, ldc: Int, fused: Bool
) {
    typealias V = T.GEMMVector
    let w = V.scalarCount
    @inline(__always) func load(_ p: UnsafePointer<T>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }
    for i in rows {
        let ai = a + i * lda
        let ci = c + i * ldc
        var j = 0
        while j + 4 <= n {
            let b0 = b + j * ldb, b1 = b0 + ldb, b2 = b1 + ldb, b3 = b2 + ldb
            var s0 = V(), s1 = V(), s2 = V(), s3 = V()
            var p = 0
            while p + w <= k {
                let av = load(ai + p)
                if fused {
                    s0 = s0.addingProduct(av, load(b0 + p)); s1 = s1.addingProduct(av, load(b1 + p))
                    s2 = s2.addingProduct(av, load(b2 + p)); s3 = s3.addingProduct(av, load(b3 + p))
                } else {
                    s0 = s0 + av * load(b0 + p); s1 = s1 + av * load(b1 + p)
                    s2 = s2 + av * load(b2 + p); s3 = s3 + av * load(b3 + p)
                }
                p += w
            }
            var t0 = s0.sum(), t1 = s1.sum(), t2 = s2.sum(), t3 = s3.sum()
            while p < k {
                let x = ai[p]
                t0 += x * b0[p]; t1 += x * b1[p]; t2 += x * b2[p]; t3 += x * b3[p]
                p += 1
            }
            ci[j] += alpha * t0; ci[j + 1] += alpha * t1; ci[j + 2] += alpha * t2; ci[j + 3] += alpha * t3
            j += 4
        }
        while j < n {
            let bj = b + j * ldb
            var s0 = V(), s1 = V()
            var p = 0
            while p + 2 * w <= k {
                if fused {
                    s0 = s0.addingProduct(load(ai + p), load(bj + p))
                    s1 = s1.addingProduct(load(ai + p + w), load(bj + p + w))
                } else {
                    s0 = s0 + load(ai + p) * load(bj + p)
                    s1 = s1 + load(ai + p + w) * load(bj + p + w)
                }
                p += 2 * w
            }
            var t = (s0 + s1).sum()
            while p < k { t += ai[p] * bj[p]; p += 1 }
            ci[j] += alpha * t
            j += 1
        }
    }
}

/// The plain triple loop, for products too small to be worth packing.
@inline(__always)
func gemmNaive<T: GEMMElement>(
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: T,
    a: UnsafePointer<T>, lda: Int, b: UnsafePointer<T>, ldb: Int, c: UnsafeMutablePointer<T>, ldc: Int
) {
    let (sai, sap) = transA ? (1, lda) : (lda, 1)
    let (sbp, sbj) = transB ? (1, ldb) : (ldb, 1)
    for i in 0..<m {
        for j in 0..<n {
            var s: T = 0
            var pa = a + i * sai, pb = b + j * sbj
            for _ in 0..<k {
                s += pa.pointee * pb.pointee
                pa += sap
                pb += sbp
            }
            c[i * ldc + j] += alpha * s
        }
    }
}

// MARK: - Public entry points

extension CPUBackend {
    /// Single-precision GEMM on row-major host buffers (the CPU kernel behind ``Kernels/gemm(_:_:transA:transB:alpha:)``):
    /// `C = alpha·op(A)·op(B) + beta·C`, where op(A) is m×k (`A` is k×m when `transA`), op(B) is
    /// k×n (`B` is n×k when `transB`), and `lda`, `ldb`, `ldc` are row strides in elements.
    /// `beta == 0` ignores C's previous contents (NaN included), like BLAS. Large products use
    /// ``Parallel/threadCount`` threads.
    ///
    /// ```swift
    /// // c (2×4) = a (2×3) · bᵀ with b stored as 4×3
    /// CPUBackend.sgemm(transA: false, transB: true, m: 2, n: 4, k: 3,
    ///                  a: pa, lda: 3, b: pb, ldb: 3, c: pc, ldc: 4)
    /// ```
    public static func sgemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        gemmDriver(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                   b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }

    /// Double-precision GEMM on host buffers; same contract as ``sgemm(transA:transB:m:n:k:alpha:a:lda:b:ldb:beta:c:ldc:)``.
    public static func dgemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Double = 1,
        a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int,
        beta: Double = 0, c: UnsafeMutablePointer<Double>, ldc: Int
    ) {
        gemmDriver(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                   b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }

    /// Whether the float32 GEMM micro-kernel uses fused multiply-adds: on x86-64 CPUs with AVX2 + FMA
    /// or AVX-512F (a C kernel, whatever the build's target), or when built with
    /// `-Xswiftc -target-cpu -Xswiftc native` on an FMA machine.
    public static var gemmUsesFMA: Bool { GEMMCKernel.level != 0 || GEMMTuning.useFMA }

    public func gemm(_ a: Tensor, _ b: Tensor, transA: Bool, transB: Bool, alpha: Double, beta: Double, into c: Tensor) {
        let (m, k) = Kernels.matrixDims(a, transposed: transA)
        let n = Kernels.matrixDims(b, transposed: transB).1
        let lda = transA ? m : k
        let ldb = transB ? k : n
        withExtendedLifetime((a, b, c)) {
            switch a.dtype {
            case .float32:
                Self.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: Float(alpha),
                           a: a.pointer(as: Float.self), lda: lda, b: b.pointer(as: Float.self), ldb: ldb,
                           beta: Float(beta), c: c.pointer(as: Float.self), ldc: n)
            default:
                Self.dgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                           a: a.pointer(as: Double.self), lda: lda, b: b.pointer(as: Double.self), ldb: ldb,
                           beta: beta, c: c.pointer(as: Double.self), ldc: n)
            }
        }
    }

    /// When several entries write the same output matrix (a broadcast operand's gradient) they
    /// accumulate serially; otherwise small matrices are spread over threads by batch entry.
    public func batchedGEMM(_ a: Tensor, _ b: Tensor, into c: Tensor, m: Int, n: Int, k: Int, transA: Bool, transB: Bool,
                            aIndex: [Int], bIndex: [Int], cIndex: [Int], outputsDistinct cDistinct: Bool) {
        let count = cIndex.count
        let aCols = transA ? m : k, bCols = transB ? k : n
        let aSize = m * k, bSize = k * n, cSize = m * n
        func run<T>(_ type: T.Type, _ entries: Range<Int>, accumulate: Bool,
                    _ gemm: (Bool, Bool, Int, Int, Int, T, UnsafePointer<T>, Int, UnsafePointer<T>, Int, T, UnsafeMutablePointer<T>, Int) -> Void)
        where T: TensorScalar & FloatingPoint {
            let pa = a.pointer(as: T.self), pb = b.pointer(as: T.self), pc = c.pointer(as: T.self)
            for e in entries {
                gemm(transA, transB, m, n, k, 1, pa + aIndex[e] * aSize, aCols, pb + bIndex[e] * bSize, bCols,
                     accumulate ? 1 : 0, pc + cIndex[e] * cSize, n)
            }
        }
        withExtendedLifetime((a, b, c)) {
            let perEntry = m * n * max(k, 1)
            let parallel = cDistinct && count > 1 && perEntry < (1 << 21) && perEntry * count >= (1 << 17)
            if !cDistinct { fill(c, 0) }
            let grain = max(1, (1 << 17) / max(perEntry, 1))
            switch a.dtype {
            case .float32:
                let body = { (r: Range<Int>) in
                    run(Float.self, r, accumulate: !cDistinct) {
                        Self.sgemm(transA: $0, transB: $1, m: $2, n: $3, k: $4, alpha: $5, a: $6, lda: $7, b: $8, ldb: $9, beta: $10, c: $11, ldc: $12)
                    }
                }
                if parallel { Parallel.forRange(0..<count, grain: grain, body) } else { body(0..<count) }
            default:
                let body = { (r: Range<Int>) in
                    run(Double.self, r, accumulate: !cDistinct) {
                        Self.dgemm(transA: $0, transB: $1, m: $2, n: $3, k: $4, alpha: $5, a: $6, lda: $7, b: $8, ldb: $9, beta: $10, c: $11, ldc: $12)
                    }
                }
                if parallel { Parallel.forRange(0..<count, grain: grain, body) } else { body(0..<count) }
            }
        }
    }

    public func linear(_ x: Tensor, _ weight: Tensor, _ bias: Tensor?) -> Tensor {
        let inF = weight.shape[1], outF = weight.shape[0]
        let rows = inF == 0 ? x.shape.dropLast().reduce(1, *) : x.count / inF
        let out = Tensor(uninitializedShape: Array(x.shape.dropLast()) + [outF], dtype: x.dtype)
        if let bias {
            withExtendedLifetime((out, bias)) {
                switch x.dtype {
                case .float32:
                    let po = out.pointer(as: Float.self), pb = bias.pointer(as: Float.self)
                    for r in 0..<rows { (po + r * outF).update(from: pb, count: outF) }
                default:
                    let po = out.pointer(as: Double.self), pb = bias.pointer(as: Double.self)
                    for r in 0..<rows { (po + r * outF).update(from: pb, count: outF) }
                }
            }
        }
        gemm(x.viewData([rows, inF]), weight, transA: false, transB: true, alpha: 1, beta: bias == nil ? 0 : 1, into: out)
        return out
    }

    public func sumRows(_ t: Tensor) -> Tensor {
        let cols = t.shape.last ?? 1
        let rows = cols == 0 ? 0 : t.count / cols
        let out = Tensor.zeros([cols], dtype: t.dtype)
        withExtendedLifetime((t, out)) {
            switch t.dtype {
            case .float32:
                let p = t.pointer(as: Float.self), o = out.pointer(as: Float.self)
                for r in 0..<rows { let row = p + r * cols; for j in 0..<cols { o[j] += row[j] } }
            default:
                let p = t.pointer(as: Double.self), o = out.pointer(as: Double.self)
                for r in 0..<rows { let row = p + r * cols; for j in 0..<cols { o[j] += row[j] } }
            }
        }
        return out
    }
}
