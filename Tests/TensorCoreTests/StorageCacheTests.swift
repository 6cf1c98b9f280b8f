import Testing
@testable import TensorCore

/// The CPU allocator's cache of freed large blocks: exact-size reuse, newest first, and eviction of
/// the least recently freed blocks when a new one does not fit the budget.
@Suite struct StorageCacheTests {
    private static let mib = 1 << 20

    @Test("a freed block is reused for the same size, the most recently freed first")
    func reuse() {
        let cache = StorageCache(budget: 8 * Self.mib)
        defer { cache.purge() }
        let a = cache.allocate(byteCount: Self.mib), b = cache.allocate(byteCount: Self.mib)
        cache.release(a, byteCount: Self.mib)
        cache.release(b, byteCount: Self.mib)
        #expect(cache.cachedBytes == 2 * Self.mib)
        #expect(cache.allocate(byteCount: Self.mib) == b)
        #expect(cache.allocate(byteCount: Self.mib) == a)
        #expect(cache.cachedBytes == 0)
    }

    @Test("a block that does not fit evicts the least recently freed ones, not itself")
    func evictsOldest() {
        let cache = StorageCache(budget: 4 * Self.mib)
        defer { cache.purge() }
        let sizes = [Self.mib, 2 * Self.mib, 3 * Self.mib / 2]
        let blocks = sizes.map { cache.allocate(byteCount: $0) }
        cache.release(blocks[0], byteCount: sizes[0])
        cache.release(blocks[1], byteCount: sizes[1])
        #expect(cache.cachedBytes == 3 * Self.mib)
        // 3 + 1.5 MiB is over the budget: the 1 MiB block, freed first, goes.
        cache.release(blocks[2], byteCount: sizes[2])
        #expect(cache.cachedBytes == 2 * Self.mib + 3 * Self.mib / 2)
        #expect(cache.allocate(byteCount: sizes[1]) == blocks[1])
        #expect(cache.allocate(byteCount: sizes[2]) == blocks[2])
        #expect(cache.cachedBytes == 0)
        // Nothing of the evicted size is left to reuse.
        let fresh = cache.allocate(byteCount: sizes[0])
        #expect(cache.cachedBytes == 0)
        cache.release(fresh, byteCount: sizes[0])
        #expect(cache.cachedBytes == sizes[0])
    }

    @Test("blocks below the cached size or above the budget go straight back to the system")
    func uncachedSizes() {
        let cache = StorageCache(budget: 2 * Self.mib)
        defer { cache.purge() }
        let small = cache.allocate(byteCount: Self.mib - 1), large = cache.allocate(byteCount: 3 * Self.mib)
        cache.release(small, byteCount: Self.mib - 1)
        cache.release(large, byteCount: 3 * Self.mib)
        #expect(cache.cachedBytes == 0)
        let kept = cache.allocate(byteCount: 2 * Self.mib)
        cache.release(kept, byteCount: 2 * Self.mib)
        #expect(cache.cachedBytes == 2 * Self.mib)
        cache.purge()
        #expect(cache.cachedBytes == 0)
    }
}
