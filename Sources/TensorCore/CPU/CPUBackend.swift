import Foundation

/// The CPU implementation of every kernel family: hand-written SIMD loops on host memory, split
/// over ``Parallel``'s thread pool. The files of this folder each implement one family (or a
/// part of one) in an `extension CPUBackend`.
///
/// ```swift
/// let y = CPUBackend().binary(.add, a, b)   // Kernels.add(a, b) for CPU tensors
/// ```
public struct CPUBackend: Backend {
    public init() {}

    public var device: Device { .cpu }

    // MARK: MemoryOps

    public func allocate(byteCount: Int, zeroed: Bool) -> UnsafeMutableRawPointer {
        let p = StorageCache.shared.allocate(byteCount: byteCount)
        if zeroed { memset(p, 0, byteCount) }
        return p
    }

    public func deallocate(_ pointer: UnsafeMutableRawPointer, byteCount: Int) {
        StorageCache.shared.release(pointer, byteCount: byteCount)
    }

    public func fill(_ t: Tensor, _ value: Double) {
        let n = t.count
        switch t.dtype {
        case .float32: t.pointer(as: Float.self).update(repeating: Float(value), count: n)
        case .float64: t.pointer(as: Double.self).update(repeating: value, count: n)
        case .int64: t.pointer(as: Int64.self).update(repeating: Int64(value), count: n)
        case .uint8: t.pointer(as: UInt8.self).update(repeating: UInt8(clamping: Int(value)), count: n)
        case .bool: t.pointer(as: Bool.self).update(repeating: value != 0, count: n)
        }
    }

    /// Large copies are split over the threads in 4 KB-aligned pieces (one thread's memmove does not
    /// reach the memory bandwidth of two), unless source and destination overlap.
    public func copy(_ source: Tensor, into destination: Tensor) {
        if source.rawPointer == destination.rawPointer { return }
        let bytes = source.count * source.dtype.byteSize
        let src = source.rawPointer, dst = destination.rawPointer
        if dst < src + bytes && src < dst + bytes {  // overlapping views of one storage: memmove's order
            dst.copyMemory(from: src, byteCount: bytes)
            return
        }
        Parallel.forRange(0..<bytes, grain: 1 << 20, alignment: 4096) { r in
            (dst + r.lowerBound).copyMemory(from: src + r.lowerBound, byteCount: r.count)
        }
    }
}
