import CKernelSupport
import Foundation
import Synchronization

/// Runs kernel work on a small persistent pool of worker threads.
///
/// `DispatchQueue.concurrentPerform` costs ≈ 40 µs to wake a second core on the target machine;
/// these workers poll for about a millisecond before sleeping, so handing them work costs well
/// under a microsecond while they are warm. Work is split only when it is large enough to pay for
/// it (see ``Parallel/chunkCount(total:grain:)``).
///
/// ```swift
/// Parallel.forRange(0..<n, grain: 1 << 16) { range in
///     for i in range { out[i] = a[i] + b[i] }
/// }
/// ```
public enum Parallel {
    /// The number of threads kernels may use (caller included). Defaults to the number of active
    /// processors; set it to 1 to run everything on the calling thread.
    public static var threadCount: Int {
        get { scopedThreadCount ?? WorkerPool.shared.threadCount.load(ordering: .relaxed) }
        set {
            let n = max(1, min(newValue, WorkerPool.shared.maxThreads))
            WorkerPool.shared.threadCount.store(n, ordering: .relaxed)
        }
    }

    @TaskLocal private static var scopedThreadCount: Int?

    /// Runs `body` with ``threadCount`` set to `n` for the current task only (other threads and
    /// tasks keep theirs): for comparing thread counts while other work runs concurrently.
    ///
    /// ```swift
    /// let one = Parallel.withThreadCount(1) { kernel(x) }
    /// let two = Parallel.withThreadCount(2) { kernel(x) }
    /// ```
    public static func withThreadCount<R>(_ n: Int, _ body: () throws -> R) rethrows -> R {
        try $scopedThreadCount.withValue(max(1, min(n, maxThreadCount)), operation: body)
    }

    /// The largest value ``threadCount`` can take on this machine.
    public static var maxThreadCount: Int { WorkerPool.shared.maxThreads }

    /// Runs `body(i)` for every `i` in `0..<tasks`, spread over the pool, and returns when all are
    /// done. Nested calls (from inside a task) run serially on the calling thread.
    public static func run(tasks: Int, _ body: (Int) -> Void) {
        if tasks <= 0 { return }
        if tasks == 1 || threadCount == 1 {
            for i in 0..<tasks { body(i) }
            return
        }
        WorkerPool.shared.run(tasks: tasks, threads: threadCount, body)
    }

    /// How many chunks `total` units of work should be split into, so that every chunk holds at
    /// least `grain` units and there are no more chunks than threads.
    @inlinable
    public static func chunkCount(total: Int, grain: Int) -> Int {
        let byGrain = total / max(grain, 1)
        return max(1, min(threadCount, byGrain))
    }

    /// Splits `range` into at most ``threadCount`` contiguous chunks of at least `grain` elements
    /// and runs `body` on each chunk, in parallel when there is more than one.
    @inlinable
    public static func forRange(_ range: Range<Int>, grain: Int, _ body: (Range<Int>) -> Void) {
        let n = range.count
        let chunks = chunkCount(total: n, grain: grain)
        if chunks <= 1 {
            body(range)
            return
        }
        run(tasks: chunks) { c in
            let lo = range.lowerBound + n * c / chunks
            let hi = range.lowerBound + n * (c + 1) / chunks
            if lo < hi { body(lo..<hi) }
        }
    }

    /// Like ``forRange(_:grain:_:)`` but with explicit chunk boundaries aligned to `alignment`
    /// elements (useful to keep SIMD blocks whole).
    @inlinable
    public static func forRange(_ range: Range<Int>, grain: Int, alignment: Int, _ body: (Range<Int>) -> Void) {
        let n = range.count
        let chunks = chunkCount(total: n, grain: grain)
        if chunks <= 1 {
            body(range)
            return
        }
        run(tasks: chunks) { c in
            var lo = range.lowerBound + (n * c / chunks) / alignment * alignment
            var hi = range.lowerBound + (n * (c + 1) / chunks) / alignment * alignment
            if c == 0 { lo = range.lowerBound }
            if c == chunks - 1 { hi = range.upperBound }
            if lo < hi { body(lo..<hi) }
        }
    }
}

/// One batch of tasks handed to the pool. Each batch has its own counters, so a worker that is
/// late to notice the end of one batch can never take a task of the next.
///
/// Tasks are dealt in contiguous home ranges, one per thread slot (the caller is slot 0, worker k
/// slot k), and a thread that has finished its own range takes what is left of the others'. Kernels
/// split their data into tasks in order (positions, samples, rows), so the same thread touches the
/// same part of consecutive kernels' tensors and finds it in its own caches: on the two-core target a
/// core read what the other had just written at a third of the speed of its own data.
final class PoolJob: @unchecked Sendable {
    // Cleared by the caller once no worker uses it, so the non-escaping closure does not escape.
    var body: ((Int) -> Void)?
    let tasks: Int
    let slots: Int
    /// Per slot, a cache line apart: the next task of its home range (ranges end where the next
    /// slot's begins).
    private let next: UnsafeMutablePointer<Atomic<Int>>
    private static let stride = 64 / MemoryLayout<Atomic<Int>>.stride
    let remaining: Atomic<Int>
    let users = Atomic<Int>(0)

    init(tasks: Int, slots: Int, body: @escaping (Int) -> Void) {
        self.tasks = tasks
        self.slots = max(1, min(slots, tasks))
        self.body = body
        self.remaining = Atomic<Int>(tasks)
        next = .allocate(capacity: self.slots * Self.stride)
        for s in 0..<self.slots { (next + s * Self.stride).initialize(to: Atomic<Int>(self.start(s))) }
    }

    deinit {
        for s in 0..<slots { (next + s * Self.stride).deinitialize(count: 1) }
        next.deallocate()
    }

    private func start(_ slot: Int) -> Int { tasks * slot / slots }

    /// Takes and runs tasks until none are left: slot `slot`'s own range first, then the others'.
    func drain(slot: Int) {
        for k in 0..<slots {
            let s = (slot + k) % slots
            let end = start(s + 1)
            while true {
                let i = next[s * Self.stride].wrappingAdd(1, ordering: .relaxed).oldValue
                if i >= end { break }
                body.unsafelyUnwrapped(i)
                remaining.wrappingSubtract(1, ordering: .releasing)
            }
        }
    }
}

final class WorkerPool: @unchecked Sendable {
    static let shared = WorkerPool()
    /// How long an idle worker polls for work before it sleeps (see `workerLoop`).
    static let spinNanoseconds: UInt64 = 1_000_000

    let maxThreads: Int
    let threadCount: Atomic<Int>
    private let generation = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    private let condition = NSCondition()
    private var current: PoolJob?          // guarded by `condition`
    private var started = false            // guarded by `condition`

    private init() {
        let cpus = max(1, ProcessInfo.processInfo.activeProcessorCount)
        var initial = cpus
        if let env = ProcessInfo.processInfo.environment["SWIFTNN_NUM_THREADS"], let n = Int(env), n >= 1 {
            initial = min(n, cpus)
        }
        maxThreads = cpus
        threadCount = Atomic<Int>(initial)
    }

    private func startWorkersIfNeeded() {
        condition.lock()
        defer { condition.unlock() }
        if started { return }
        started = true
        for slot in 1..<maxThreads {
            let thread = Thread { [unowned self] in self.workerLoop(slot: slot) }
            thread.name = "SwiftNN worker"
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    private func workerLoop(slot: Int) {
        swiftnn_set_thread_slot(slot)
        var seen = 0
        while true {
            // Poll for about a millisecond before sleeping. A training step leaves the pool idle
            // between kernels while the caller runs its serial parts (autograd, the optimizer's
            // bookkeeping, the data loader), often for longer than the tens of microseconds that
            // the former fixed 50,000 polls lasted. A worker that had fallen asleep joined the next
            // kernel late, and the caller spun waiting for its share: in a 2-thread MLP epoch the
            // waiting and the futex wake-ups took 13 % of the CPU time. With the longer window the
            // 2-thread MLP step went from 3.0–4.1 to 2.6–3.4 ms (median, four alternating runs).
            // OpenMP runtimes wait longer still (Intel's: 200 ms).
            let deadline = DispatchTime.now().uptimeNanoseconds &+ WorkerPool.spinNanoseconds
            var spins = 0
            while generation.load(ordering: .acquiring) == seen {
                swiftnn_spin_pause()
                spins &+= 1
                if spins & 63 == 0, DispatchTime.now().uptimeNanoseconds > deadline {
                    condition.lock()
                    while generation.load(ordering: .acquiring) == seen { condition.wait() }
                    condition.unlock()
                    break
                }
            }
            condition.lock()
            seen = generation.load(ordering: .acquiring)
            let job = current
            job?.users.wrappingAdd(1, ordering: .relaxed)
            condition.unlock()
            if let job {
                job.drain(slot: slot)
                job.users.wrappingSubtract(1, ordering: .releasing)
            }
        }
    }

    func run(tasks: Int, threads: Int, _ body: (Int) -> Void) {
        // A nested or concurrent call runs on its own thread: the pool serves one batch at a time.
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            for i in 0..<tasks { body(i) }
            return
        }
        defer { busy.store(false, ordering: .releasing) }
        startWorkersIfNeeded()
        // The caller is slot 0 while it runs the batch (another thread may be next time).
        let outerSlot = swiftnn_thread_slot()
        swiftnn_set_thread_slot(0)
        defer { swiftnn_set_thread_slot(outerSlot) }
        withoutActuallyEscaping(body) { escapable in
            let job = PoolJob(tasks: tasks, slots: threads, body: escapable)
            condition.lock()
            current = job
            generation.wrappingAdd(1, ordering: .releasing)
            condition.broadcast()
            condition.unlock()
            job.drain(slot: 0)
            while job.remaining.load(ordering: .acquiring) > 0 { }
            condition.lock()
            current = nil
            condition.unlock()
            while job.users.load(ordering: .acquiring) > 0 { }
            job.body = nil
        }
    }
}
