/// Small scratch arrays for per-channel / per-row values shared by a kernel's parallel chunks.
/// Each chunk writes only its own slots, so plain pointers (not Swift arrays, whose uniqueness
/// checks are not thread-safe) are used.
@usableFromInline
struct NormScratch<T>: @unchecked Sendable {
    let p: UnsafeMutablePointer<T>
    let count: Int

    init(_ count: Int, _ value: T) {
        self.count = count
        p = UnsafeMutablePointer<T>.allocate(capacity: max(count, 1))
        p.initialize(repeating: value, count: max(count, 1))
    }

    init(_ values: [T]) {
        count = values.count
        p = UnsafeMutablePointer<T>.allocate(capacity: max(count, 1))
        values.withUnsafeBufferPointer { b in
            if let base = b.baseAddress { p.initialize(from: base, count: count) }
        }
    }

    @inline(__always) subscript(i: Int) -> T {
        get { p[i] }
        nonmutating set { p[i] = newValue }
    }

    var array: [T] { Array(UnsafeBufferPointer(start: p, count: count)) }

    func free() { p.deallocate() }
}

/// Gives a pointer to `count` floats: `given` when present, else a temporary buffer of `fill`.
@inline(__always)
func withFloatsOrConstant<R>(_ given: UnsafePointer<Float>?, _ count: Int, _ fill: Float,
                             _ body: (UnsafePointer<Float>) -> R) -> R {
    if let given { return body(given) }
    let tmp = NormScratch<Float>(count, fill)
    defer { tmp.free() }
    return body(UnsafePointer(tmp.p))
}
