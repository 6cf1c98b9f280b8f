import Testing
@testable import TensorCore

@Suite struct ParallelTests {
    @Test func everyTaskRunsExactlyOnce() {
        for tasks in [1, 2, 3, 7, 64] {
            let counts = UnsafeMutablePointer<Int>.allocate(capacity: tasks)
            counts.initialize(repeating: 0, count: tasks)
            defer { counts.deallocate() }
            for _ in 0..<200 {
                Parallel.run(tasks: tasks) { i in counts[i] += 1 }
            }
            for i in 0..<tasks { #expect(counts[i] == 200) }
        }
    }

    @Test func forRangeCoversTheRangeOnce() {
        let n = 1_000_003
        let hits = UnsafeMutablePointer<UInt8>.allocate(capacity: n)
        hits.initialize(repeating: 0, count: n)
        defer { hits.deallocate() }
        Parallel.forRange(0..<n, grain: 1000) { r in for i in r { hits[i] &+= 1 } }
        var ok = true
        for i in 0..<n where hits[i] != 1 { ok = false }
        #expect(ok)
    }

    @Test func nestedCallsRunSerially() {
        let total = UnsafeMutablePointer<Int>.allocate(capacity: 4)
        total.initialize(repeating: 0, count: 4)
        defer { total.deallocate() }
        Parallel.run(tasks: 4) { i in
            Parallel.run(tasks: 3) { _ in total[i] += 1 }
        }
        for i in 0..<4 { #expect(total[i] == 3) }
    }
}

@Suite struct ScopedGlobalsTests {
    @Test func threadCountScopeIsTaskLocal() {
        let global = Parallel.threadCount
        Parallel.withThreadCount(1) {
            #expect(Parallel.threadCount == 1)
            #expect(Parallel.chunkCount(total: 1 << 30, grain: 1) == 1)
        }
        #expect(Parallel.threadCount == global)
        Parallel.withThreadCount(1000) { #expect(Parallel.threadCount == Parallel.maxThreadCount) }
    }

    @Test func defaultGeneratorScopeIsTaskLocal() {
        let a = Generator.withDefault(Generator(seed: 3)) { Tensor.rand([8]).scalars }
        let b = Generator.withDefault(Generator(seed: 3)) { Tensor.rand([8]).scalars }
        #expect(a == b)
        let g = Generator(seed: 3)
        #expect(Generator.withDefault(g) { Tensor.manualSeed(3); return Tensor.rand([8]).scalars } == a)
        #expect(g.state.offset == 1)                     // manualSeed and rand used the scoped one
        #expect(Generator.default !== g)
    }
}
