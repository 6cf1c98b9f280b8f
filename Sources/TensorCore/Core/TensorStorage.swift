import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A reference-counted, 64-byte-aligned block of memory that one or more tensors view, on one
/// ``Device``; its backend allocates and frees it.
///
/// On the CPU, large blocks are recycled through a small cache: a freshly mapped buffer costs a page fault per
/// 4 KiB on first touch (about one extra pass over the data), and glibc hands blocks above 32 MiB
/// back to the kernel on `free`, so a training loop that allocates the same shapes every step
/// would otherwise pay that cost on every call.
public final class TensorStorage: @unchecked Sendable {
    /// Start of the block.
    public let pointer: UnsafeMutableRawPointer
    /// Size of the block in bytes.
    public let byteCount: Int
    /// The device the block lives on.
    public let device: Device

    /// Allocates `byteCount` bytes on `device`; `zeroed` fills them with zero bytes.
    public init(byteCount: Int, zeroed: Bool = false, device: Device = .cpu) {
        self.byteCount = byteCount
        self.device = device
        self.pointer = device.backend.allocate(byteCount: byteCount, zeroed: zeroed)
    }

    deinit { device.backend.deallocate(pointer, byteCount: byteCount) }
}

/// The CPU backend's allocator: keeps recently freed large blocks, keyed by exact size, up to a byte
/// budget. A block that does not fit evicts the least recently freed ones: the cache follows the
/// shapes in use. (Refusing it instead left a long run's cache full of shapes it no longer used, and
/// every allocation of a new shape paid a page fault per 4 KiB: `bench norm`'s GroupNorm forward,
/// run after the BatchNorm cases, took 5.7 ms against 0.64 ms alone, 46 % of the run zeroing pages.)
final class StorageCache: @unchecked Sendable {
    static let shared = StorageCache()
    /// Blocks below this size go straight to malloc/free: the allocator serves them well.
    static let minimumCachedBytes = 1 << 20
    private let budget: Int
    /// Per size, the cached blocks' addresses (integers: raw pointers are not Sendable) with the
    /// order in which they were freed; the newest last.
    private struct State {
        var blocks: [Int: [(address: UInt, freed: UInt64)]] = [:]
        var bytes = 0
        var clock: UInt64 = 0
    }
    private let state = Mutex<State>(State())
    // The cached blocks are owned by the cache alone, so sharing their addresses is safe.

    init(budget: Int = 1 << 30) {
        self.budget = budget
    }

    /// Bytes held in cached blocks.
    var cachedBytes: Int { state.withLock { $0.bytes } }

    func allocate(byteCount: Int) -> UnsafeMutableRawPointer {
        let size = max(byteCount, 1)
        if size >= Self.minimumCachedBytes {
            let cached: UInt = state.withLock { s in
                guard var list = s.blocks[size], let block = list.popLast() else { return 0 }
                s.blocks[size] = list.isEmpty ? nil : list
                s.bytes -= size
                return block.address
            }
            if let p = UnsafeMutableRawPointer(bitPattern: cached) { return p }
        }
        var raw: UnsafeMutableRawPointer?
        // Large blocks on 2 MiB boundaries, so that a system with transparent huge pages set to
        // "always" can back them with huge pages. SwiftNN does not ask for them (MADV_HUGEPAGE) itself:
        // a huge page's first touch cost more than it saved here. With the advice, a one-epoch SmallCNN
        // run spent 0.28–0.57 s (1 thread) and 0.75–0.81 s (2 threads) in the kernel, mostly zeroing
        // fresh huge pages; without it 0.08–0.12 s and 0.14–0.18 s, and steady-state training steps
        // were as fast (fastest of 20: 101.0 vs 101.1 ms, 45.8 vs 45.8 ms).
        let alignment = size >= (2 << 20) ? (2 << 20) : 64
        guard posix_memalign(&raw, alignment, size) == 0, let p = raw else {
            fatalError("SwiftNN: out of memory allocating \(size) bytes")
        }
        return p
    }

    func release(_ p: UnsafeMutableRawPointer, byteCount: Int) {
        let size = max(byteCount, 1)
        guard size >= Self.minimumCachedBytes && size <= budget else { return free(p) }
        let address = UInt(bitPattern: p)
        // The least recently freed blocks make room; they are freed outside the lock.
        let evicted = state.withLock { s -> [UInt] in
            var evicted: [UInt] = []
            while s.bytes + size > budget {
                guard let oldest = s.blocks.min(by: { $0.value[0].freed < $1.value[0].freed }) else { break }
                var list = oldest.value
                evicted.append(list.removeFirst().address)
                s.blocks[oldest.key] = list.isEmpty ? nil : list
                s.bytes -= oldest.key
            }
            s.clock += 1
            s.blocks[size, default: []].append((address, s.clock))
            s.bytes += size
            return evicted
        }
        for a in evicted { free(UnsafeMutableRawPointer(bitPattern: a)) }
    }

    /// Frees every cached block (for memory-constrained callers and tests).
    func purge() {
        let all = state.withLock { s -> [UInt] in
            let addresses = s.blocks.values.flatMap { $0 }.map(\.address)
            s.blocks = [:]
            s.bytes = 0
            return addresses
        }
        for a in all { free(UnsafeMutableRawPointer(bitPattern: a)) }
    }
}
