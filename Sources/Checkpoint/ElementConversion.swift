import TensorCore

/// Converting a checkpoint storage's raw bytes to SwiftNN's dtypes (see ``TorchElementType``).
enum ElementConversion {
    /// Converts `count` elements of `type` from `raw` (little-endian unless `bigEndian`) into
    /// `dst`, which holds `count` elements of `type.loadedDType`.
    static func convert(_ raw: UnsafeRawBufferPointer, _ type: TorchElementType, count n: Int, bigEndian: Bool,
                        into dst: UnsafeMutableRawPointer) {
        guard n > 0, let src = raw.baseAddress else { return }
        @inline(__always) func u16(_ i: Int) -> UInt16 {
            let v = src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)
            return bigEndian ? UInt16(bigEndian: v) : UInt16(littleEndian: v)
        }
        @inline(__always) func u32(_ i: Int) -> UInt32 {
            let v = src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)
            return bigEndian ? UInt32(bigEndian: v) : UInt32(littleEndian: v)
        }
        @inline(__always) func u64(_ i: Int) -> UInt64 {
            let v = src.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)
            return bigEndian ? UInt64(bigEndian: v) : UInt64(littleEndian: v)
        }
        switch type {
        case .float32:
            if bigEndian {
                let d = dst.assumingMemoryBound(to: UInt32.self)
                for i in 0..<n { d[i] = u32(i) }
            } else {
                dst.copyMemory(from: src, byteCount: 4 * n)
            }
        case .float64, .int64:
            if bigEndian {
                let d = dst.assumingMemoryBound(to: UInt64.self)
                for i in 0..<n { d[i] = u64(i) }
            } else {
                dst.copyMemory(from: src, byteCount: 8 * n)
            }
        case .float16:
            let d = dst.assumingMemoryBound(to: Float.self)
            for i in 0..<n { d[i] = Safetensors.floatFromHalfBits(u16(i)) }
        case .bfloat16:
            let d = dst.assumingMemoryBound(to: UInt32.self)
            for i in 0..<n { d[i] = UInt32(u16(i)) << 16 }
        case .int32:
            let d = dst.assumingMemoryBound(to: Int64.self)
            for i in 0..<n { d[i] = Int64(Int32(bitPattern: u32(i))) }
        case .uint32:
            let d = dst.assumingMemoryBound(to: Int64.self)
            for i in 0..<n { d[i] = Int64(u32(i)) }
        case .int16:
            let d = dst.assumingMemoryBound(to: Int64.self)
            for i in 0..<n { d[i] = Int64(Int16(bitPattern: u16(i))) }
        case .uint16:
            let d = dst.assumingMemoryBound(to: Int64.self)
            for i in 0..<n { d[i] = Int64(u16(i)) }
        case .int8:
            let d = dst.assumingMemoryBound(to: Int64.self)
            let s = src.assumingMemoryBound(to: Int8.self)
            for i in 0..<n { d[i] = Int64(s[i]) }
        case .uint8:
            dst.copyMemory(from: src, byteCount: n)
        case .bool:
            // Any nonzero byte is true; a Swift Bool must hold exactly 0 or 1.
            let d = dst.assumingMemoryBound(to: UInt8.self)
            let s = src.assumingMemoryBound(to: UInt8.self)
            for i in 0..<n { d[i] = s[i] == 0 ? 0 : 1 }
        }
    }
}

/// Copies a strided view (PyTorch's `as_strided`) into a contiguous row-major buffer.
enum StridedGather {
    static func copy(from src: UnsafeMutableRawPointer, elementSize: Int, offset: Int, size: [Int], stride: [Int],
                     to dst: UnsafeMutableRawPointer) {
        switch elementSize {
        case 1: gather(src.assumingMemoryBound(to: UInt8.self), offset, size, stride, dst.assumingMemoryBound(to: UInt8.self))
        case 4: gather(src.assumingMemoryBound(to: UInt32.self), offset, size, stride, dst.assumingMemoryBound(to: UInt32.self))
        default: gather(src.assumingMemoryBound(to: UInt64.self), offset, size, stride, dst.assumingMemoryBound(to: UInt64.self))
        }
    }

    private static func gather<T>(_ src: UnsafeMutablePointer<T>, _ offset: Int, _ size: [Int], _ stride: [Int],
                                  _ dst: UnsafeMutablePointer<T>) {
        let rank = size.count
        if rank == 0 { dst[0] = src[offset]; return }
        // Odometer over all but the last dimension; the last is a strided inner loop.
        let inner = size[rank - 1], innerStride = stride[rank - 1]
        var index = [Int](repeating: 0, count: rank - 1)
        var base = offset
        var out = 0
        while true {
            var p = base
            for _ in 0..<inner { dst[out] = src[p]; out += 1; p += innerStride }
            var d = rank - 2
            while d >= 0 {
                index[d] += 1
                base += stride[d]
                if index[d] < size[d] { break }
                base -= stride[d] * size[d]
                index[d] = 0
                d -= 1
            }
            if d < 0 { return }
        }
    }

    /// `-x` in place (the lazy negation bit some saved views carry).
    static func negate(_ t: Tensor) {
        // Integers wrap (uint8: 256 − x), as PyTorch's neg does; bool has no negation bit.
        if t.dtype != .bool { t.copyData(from: Kernels.unary(.neg, t)) }
    }
}
