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

/// Copies large enough to be split over the threads, and copies between overlapping views of one
/// storage, which must keep memmove's result.
@Suite struct ParallelCopyTests {
    @Test("a large copy split over threads equals its source; overlapping views copy as memmove does")
    func copies() {
        let n = (3 << 20) / 4 + 1237  // past three 1 MB grains, not a multiple of a page
        let values = (0..<(n + 4096)).map { Float($0 % 4093) - 2000.5 }
        for threads in [1, 2, 4] {
            Parallel.withThreadCount(threads) {
                let source = Tensor(values, shape: [n + 4096])
                let destination = Tensor.zeros([n])
                Kernels.copy(Tensor(storage: source.storage, shape: [n], dtype: .float32), into: destination)
                let copied = destination.scalars == Array(values[0..<n])  // a Bool: a failure would print 790k floats
                #expect(copied, "threads \(threads)")
                // Forward and backward overlaps in one storage.
                for shift in [1000, -1000] {
                    let storage = Tensor(values, shape: [n + 4096])
                    let from = Tensor(storage: storage.storage, shape: [n], dtype: .float32, offset: shift > 0 ? 0 : 2048)
                    let to = Tensor(storage: storage.storage, shape: [n], dtype: .float32, offset: shift > 0 ? 1000 : 1048)
                    Kernels.copy(from, into: to)
                    let moved = to.scalars == Array(values[(shift > 0 ? 0 : 2048)..<(shift > 0 ? n : 2048 + n)])
                    #expect(moved, "threads \(threads), shift \(shift)")
                }
            }
        }
    }
}

/// The pool deals tasks in contiguous home ranges, one per thread, so that consecutive kernels
/// split the same way touch the same data on the same core; and each pool thread has scratch
/// memory of its own.
@Suite struct PoolLocalityTests {
    @Test("a thread takes its home range in order, then what is left of the others'")
    func homeRanges() {
        for (tasks, slots) in [(8, 2), (7, 3), (2, 2), (3, 8), (5, 1)] {
            for slot in 0..<max(slots, 2) {
                var order: [Int] = []
                let job = PoolJob(tasks: tasks, slots: slots) { order.append($0) }
                job.drain(slot: slot)
                let used = max(1, min(slots, tasks)), home = slot % used
                let starts = (0...used).map { tasks * $0 / used }
                let want = (0..<used).flatMap { k -> Range<Int> in
                    let s = (home + k) % used
                    return starts[s]..<starts[s + 1]
                }
                #expect(order == want, "tasks \(tasks), slots \(slots), slot \(slot)")
            }
        }
    }

    @Test("every task runs exactly once at every thread count, stealing included")
    func everyTaskOnceAtEveryThreadCount() {
        for threads in 1...max(2, Parallel.maxThreadCount) {
            Parallel.withThreadCount(threads) {
                for tasks in [1, 2, 3, 5, 8, 33] {
                    let counts = UnsafeMutablePointer<Int>.allocate(capacity: tasks)
                    counts.initialize(repeating: 0, count: tasks)
                    defer { counts.deallocate() }
                    // Uneven tasks, so that the faster thread steals from the other's range.
                    for _ in 0..<100 {
                        Parallel.run(tasks: tasks) { i in
                            if i % 2 == 0 { var x = 0.0; for k in 0..<2000 { x += Double(k) }; blackHole(x) }
                            counts[i] += 1
                        }
                    }
                    let all = (0..<tasks).allSatisfy { counts[$0] == 100 }
                    #expect(all, "threads \(threads), tasks \(tasks)")
                }
            }
        }
    }

    @Test("thread scratch is private to a task and survives a nested request")
    func scratchIsPrivate() {
        let tasks = 16, floats = 4096
        let failures = UnsafeMutablePointer<Int>.allocate(capacity: tasks)
        failures.initialize(repeating: 0, count: tasks)
        defer { failures.deallocate() }
        Parallel.run(tasks: tasks) { t in
            ThreadScratch.withMemory(bytes: floats * 4) { memory in
                if Int(bitPattern: memory) % 64 != 0 { failures[t] += 1 }
                let p = memory.bindMemory(to: Float.self, capacity: floats)
                for i in 0..<floats { p[i] = Float(t * floats + i) }
                // A nested request gets other memory, which it may overwrite.
                ThreadScratch.withMemory(bytes: floats * 4) { inner in
                    if inner == memory { failures[t] += 1 }
                    inner.bindMemory(to: Float.self, capacity: floats).update(repeating: -1, count: floats)
                }
                for i in 0..<floats where p[i] != Float(t * floats + i) { failures[t] += 1 }
            }
        }
        for t in 0..<tasks { #expect(failures[t] == 0, "task \(t)") }
        // Outside the pool (no slot) it still works.
        let sum = ThreadScratch.withMemory(bytes: 64) { memory -> Float in
            let p = memory.bindMemory(to: Float.self, capacity: 16)
            for i in 0..<16 { p[i] = Float(i) }
            return (0..<16).reduce(0) { $0 + p[$1] }
        }
        #expect(sum == 120)
    }
}

@inline(never) private func blackHole(_ x: Double) { _ = x }
