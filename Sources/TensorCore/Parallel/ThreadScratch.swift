import CKernelSupport
import Foundation

/// Scratch memory that belongs to one thread of the kernel pool, for a task's packing buffers.
///
/// On the two-core target the cores do not share a last-level cache: a line one core wrote is
/// fetched from the other at about a third of the speed of its own data, and writing a line the
/// other core holds waits for it. Slices of one shared scratch block, indexed by task, went to
/// whichever core took the task, so the packing buffers of one kernel were lines the other core
/// had written in the previous one (the phase-plane gathers took 2.4× the CPU time on two
/// threads that they took on one). Each pool thread instead keeps its own block, reused call
/// after call and grown when a kernel needs more, so its packing stays in its own caches.
///
/// ```swift
/// Parallel.run(tasks: n) { t in
///     ThreadScratch.withMemory(bytes: 1 << 16) { scratch in pack(t, into: scratch) }
/// }
/// ```
enum ThreadScratch {
    private struct Arena {
        var pointer: UnsafeMutableRawPointer?
        var capacity = 0
        var busy = false
    }

    /// One arena per pool slot; entry k is only touched by the thread in slot k.
    nonisolated(unsafe) private static let arenas: UnsafeMutablePointer<Arena> = {
        let n = Parallel.maxThreadCount
        let p = UnsafeMutablePointer<Arena>.allocate(capacity: n)
        p.initialize(repeating: Arena(), count: n)
        return p
    }()

    /// Runs `body` with at least `bytes` bytes of 64-byte-aligned memory that no other thread
    /// touches. Outside the pool's slots, or when the slot's arena is in use (a nested call), the
    /// memory comes from the storage cache instead.
    static func withMemory<R>(bytes: Int, _ body: (UnsafeMutableRawPointer) -> R) -> R {
        let slot = swiftnn_thread_slot()
        guard slot >= 0, slot < Parallel.maxThreadCount, !arenas[slot].busy else {
            let storage = gemmScratch(bytes: bytes)
            return withExtendedLifetime(storage) { body(storage.pointer) }
        }
        let arena = arenas + slot
        if arena.pointee.capacity < bytes {
            free(arena.pointee.pointer)
            var capacity = 1 << 20
            while capacity < bytes { capacity <<= 1 }
            var raw: UnsafeMutableRawPointer?
            guard posix_memalign(&raw, 64, capacity) == 0, let p = raw else {
                fatalError("SwiftNN: out of memory allocating \(capacity) bytes of scratch")
            }
            arena.pointee.pointer = p
            arena.pointee.capacity = capacity
        }
        arena.pointee.busy = true
        defer { arena.pointee.busy = false }
        return body(arena.pointee.pointer!)
    }
}
