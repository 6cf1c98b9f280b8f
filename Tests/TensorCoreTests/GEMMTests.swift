import Testing
@testable import TensorCore

/// Deterministic values in [-1, 1) so failures reproduce.
private func values(_ n: Int, seed: UInt64) -> [Double] {
    var s = seed &* 0x9E37_79B9_7F4A_7C15 &+ 1
    return (0..<n).map { _ in
        s = s &* 6364136223846793005 &+ 1442695040888963407
        return Double(s >> 11) / Double(1 << 53) * 2 - 1
    }
}

/// C = alpha·op(A)·op(B) + beta·C in Double, plus the sum of |terms| for a rounding bound.
private func reference(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Double,
                       _ a: [Double], _ lda: Int, _ b: [Double], _ ldb: Int, _ beta: Double,
                       _ c: [Double], _ ldc: Int) -> (value: [Double], magnitude: [Double]) {
    var out = c, mag = [Double](repeating: 0, count: c.count)
    for i in 0..<m {
        for j in 0..<n {
            var s = 0.0, g = 0.0
            for p in 0..<k {
                let x = transA ? a[p * lda + i] : a[i * lda + p]
                let y = transB ? b[j * ldb + p] : b[p * ldb + j]
                s += x * y
                g += abs(x * y)
            }
            out[i * ldc + j] = alpha * s + (beta == 0 ? 0 : beta * c[i * ldc + j])
            mag[i * ldc + j] = abs(alpha) * g + (beta == 0 ? 0 : abs(beta * c[i * ldc + j]))
        }
    }
    return (out, mag)
}

/// Runs sgemm or dgemm on the given case and compares with the reference; returns the number of
/// elements out of tolerance (C padded to ldc = n + 3 so that writes past a row are caught).
private func mismatches(double: Bool, _ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int,
                        alpha: Double = 1, beta: Double = 0, seed: UInt64 = 1) -> Int {
    let lda = transA ? m : k, ldb = transB ? k : n, ldc = n + 3
    let a = values(m * k, seed: seed), b = values(k * n, seed: seed + 1)
    var c = values(m * ldc, seed: seed + 2)
    if beta == 0 { for i in 0..<m { for j in 0..<n { c[i * ldc + j] = .nan } } }
    let (want, mag) = reference(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    var got: [Double]
    if double {
        got = c
        got.withUnsafeMutableBufferPointer { pc in
            CPUBackend.dgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                          b: b, ldb: ldb, beta: beta, c: pc.baseAddress!, ldc: ldc)
        }
    } else {
        let af = a.map { Float($0) }, bf = b.map { Float($0) }
        var cf = c.map { Float($0) }
        cf.withUnsafeMutableBufferPointer { pc in
            CPUBackend.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: Float(alpha), a: af, lda: lda,
                          b: bf, ldb: ldb, beta: Float(beta), c: pc.baseAddress!, ldc: ldc)
        }
        got = cf.map { Double($0) }
    }
    let eps = double ? 1e-14 : 2e-6
    var bad = 0
    for i in 0..<m {
        for j in 0..<ldc {
            let idx = i * ldc + j
            if j >= n {
                if got[idx] != (double ? c[idx] : Double(Float(c[idx]))) { bad += 1 }   // padding must be untouched
            } else if !(abs(got[idx] - want[idx]) <= eps * (mag[idx] + 1) * Double(k + 2).squareRoot() * 4) {
                bad += 1
            }
        }
    }
    return bad
}

@Suite(.serialized) struct GEMMTests {
    static let flags = [(false, false), (true, false), (false, true), (true, true)]

    @Test(arguments: [false, true])
    func oddSizesAllTranspositions(double: Bool) {
        let sizes = [1, 7, 17, 33, 65]
        for (ta, tb) in Self.flags {
            // Every (m, n) pair, with k cycling through the sizes too.
            for (i, m) in sizes.enumerated() { for (j, n) in sizes.enumerated() {
                let k = sizes[(i + 2 * j) % sizes.count]
                let bad = mismatches(double: double, ta, tb, m, n, k)
                #expect(bad == 0, "m=\(m) n=\(n) k=\(k) transA=\(ta) transB=\(tb): \(bad) wrong elements")
            } }
        }
    }

    @Test func alphaBetaAndZeroK() {
        for (ta, tb) in Self.flags {
            #expect(mismatches(double: false, ta, tb, 19, 37, 23, alpha: -0.5, beta: 2) == 0)
            #expect(mismatches(double: false, ta, tb, 19, 37, 23, alpha: 1, beta: 1) == 0)
            #expect(mismatches(double: true, ta, tb, 13, 9, 40, alpha: 3, beta: -1) == 0)
            #expect(mismatches(double: false, ta, tb, 5, 6, 0, alpha: 1, beta: 0) == 0)
            #expect(mismatches(double: false, ta, tb, 5, 6, 0, alpha: 1, beta: 0.5) == 0)
        }
    }

    /// Shrinks the cache blocks and thresholds so that small shapes cross several KC/MC/NC blocks
    /// and take both ways of splitting work over threads, in fork-joins per k block or in one.
    @Test(arguments: [0, 1 << 17])
    func blockedAndThreadedPaths(oneJoinA: Int) {
        // Task-local: GEMMs in concurrently running tests keep their blocking and thread count.
        let small = GEMMBlocking.Sizes(kc: 16, mc: 12, nc: 48, smallWork: 0, parallelWork: 0, oneJoinA: oneJoinA)
        GEMMBlocking.$sizes.withValue(small) { Parallel.withThreadCount(Parallel.maxThreadCount) {
        for (ta, tb) in Self.flags {
            for (m, n, k) in [(50, 7, 37), (7, 100, 33), (31, 97, 50), (1, 65, 17), (65, 1, 40)] {
                #expect(mismatches(double: false, ta, tb, m, n, k, alpha: 1.5, beta: 0.5) == 0, "m=\(m) n=\(n) k=\(k)")
                #expect(mismatches(double: true, ta, tb, m, n, k) == 0, "m=\(m) n=\(n) k=\(k)")
            }
        }
        } }
    }

    /// beta = 0 writes the first k block's sums over C: NaN in the old C must not leak into any
    /// tile (full 12×32 and 6×16 ones, partial rows and columns), and the result must be the bits
    /// of adding the same sums to a zeroed C (beta = 1), split by rows or by panels over threads.
    @Test(arguments: [(1, 0), (2, 0), (2, 1 << 17)])
    func betaZeroIgnoresNaN(threads: Int, oneJoinA: Int) {
        let blocking = GEMMBlocking.Sizes(kc: 64, parallelWork: 0, oneJoinA: oneJoinA)
        GEMMBlocking.$sizes.withValue(blocking) { Parallel.withThreadCount(threads) {
        for (ta, tb) in Self.flags {
            for (m, n, k) in [(24, 64, 40), (25, 70, 150), (7, 100, 33), (150, 33, 64), (13, 16, 5)] {
                let lda = ta ? m : k, ldb = tb ? k : n, ldc = n + 3
                let a = values(m * k, seed: 7).map { Float($0) }, b = values(k * n, seed: 8).map { Float($0) }
                func run(beta: Float, fill: Float) -> [Float] {
                    var c = [Float](repeating: fill, count: m * ldc)
                    for i in 0..<m { for j in n..<ldc { c[i * ldc + j] = -1 } }
                    c.withUnsafeMutableBufferPointer { pc in
                        CPUBackend.sgemm(transA: ta, transB: tb, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb,
                                         beta: beta, c: pc.baseAddress!, ldc: ldc)
                    }
                    return c
                }
                let got = run(beta: 0, fill: .nan), want = run(beta: 1, fill: 0)
                let first = got.indices.first { got[$0].bitPattern != want[$0].bitPattern }
                #expect(first == nil, "m=\(m) n=\(n) k=\(k) transA=\(ta) transB=\(tb) threads=\(threads) oneJoinA=\(oneJoinA): element \(first ?? 0) is \(got[first ?? 0])")
            }
        }
        } }
    }

    /// One fork-join per product (each task packing its own B panels and all of A) and two per k
    /// block give the single-thread bits: every C element sums the same k blocks in the same order.
    @Test func scheduleAndThreadsKeepTheBits() {
        for (ta, tb) in Self.flags {
            for (m, n, k, beta) in [(128, 200, 150, 0.0), (30, 97, 64, 1.0), (50, 33, 200, 0.5), (7, 64, 129, 0.0)] as [(Int, Int, Int, Float)] {
                let lda = ta ? m : k, ldb = tb ? k : n
                let a = values(m * k, seed: 3).map { Float($0) }, b = values(k * n, seed: 4).map { Float($0) }
                let c0 = values(m * n, seed: 5).map { Float($0) }
                func run(threads: Int, oneJoinA: Int) -> [UInt32] {
                    var c = c0
                    GEMMBlocking.$sizes.withValue(GEMMBlocking.Sizes(kc: 64, mc: 24, parallelWork: 0, oneJoinA: oneJoinA)) {
                        Parallel.withThreadCount(threads) {
                            c.withUnsafeMutableBufferPointer { pc in
                                CPUBackend.sgemm(transA: ta, transB: tb, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb,
                                                 beta: beta, c: pc.baseAddress!, ldc: n)
                            }
                        }
                    }
                    return c.map(\.bitPattern)
                }
                let one = run(threads: 1, oneJoinA: 1 << 17)
                #expect(run(threads: 2, oneJoinA: 1 << 17) == one, "m=\(m) n=\(n) k=\(k) transA=\(ta) transB=\(tb), one fork-join")
                #expect(run(threads: 2, oneJoinA: 0) == one, "m=\(m) n=\(n) k=\(k) transA=\(ta) transB=\(tb), per k block")
            }
        }
    }

    @Test func tensorGEMMAndLinear() {
        let a = Tensor([1, 2, 3, 4, 5, 6] as [Float], shape: [2, 3])
        let b = Tensor([1, 0, 1, 2, 0, 1] as [Float], shape: [2, 3])   // used as bᵀ: [3, 2]
        #expect(Kernels.gemm(a, b, transB: true).scalars == [4, 5, 10, 14])
        #expect(Kernels.gemm(a, b, transA: true).shape == [3, 3])
        let bias = Tensor([10, 20] as [Float], shape: [2])
        let y = Kernels.linear(a, b, bias)
        #expect(y.shape == [2, 2] && y.scalars == [14, 25, 20, 34])
        let g = Tensor([1, 1, 1, 1] as [Float], shape: [2, 2])
        let r = Kernels.linearBackward(g, a, b)
        #expect(r.input!.scalars == [3, 0, 2, 3, 0, 2])
        #expect(r.weight!.scalars == [5, 7, 9, 5, 7, 9])
        #expect(r.bias!.scalars == [2, 2])
        let w3 = Tensor.zeros([2, 4])
        #expect(Kernels.validateLinear(a, w3, nil)?.message == "mat1 and mat2 shapes cannot be multiplied (2x3 and 4x2)")
        #expect(Kernels.validateLinear(Tensor.zeros([5, 2, 4]), w3, nil) == nil)
    }
}
