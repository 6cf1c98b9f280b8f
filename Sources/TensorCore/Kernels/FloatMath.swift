import Foundation

/// Float and Double, with the libm functions the kernels need, so one generic kernel (specialised
/// by the optimiser for each type) serves both dtypes.
protocol KFloat: BinaryFloatingPoint, SIMDScalar, TensorScalar, Codable {
    static func kexp(_ x: Self) -> Self
    static func kexpm1(_ x: Self) -> Self
    static func klog(_ x: Self) -> Self
    static func ktanh(_ x: Self) -> Self
    static func kerf(_ x: Self) -> Self
    static func kpow(_ x: Self, _ y: Self) -> Self
}

extension Float: KFloat {
    @inline(__always) static func kexp(_ x: Float) -> Float { Foundation.exp(x) }
    @inline(__always) static func kexpm1(_ x: Float) -> Float { Foundation.expm1(x) }
    @inline(__always) static func klog(_ x: Float) -> Float { Foundation.log(x) }
    @inline(__always) static func ktanh(_ x: Float) -> Float { Foundation.tanh(x) }
    @inline(__always) static func kerf(_ x: Float) -> Float { Foundation.erf(x) }
    @inline(__always) static func kpow(_ x: Float, _ y: Float) -> Float { Foundation.pow(x, y) }
}

extension Double: KFloat {
    @inline(__always) static func kexp(_ x: Double) -> Double { Foundation.exp(x) }
    @inline(__always) static func kexpm1(_ x: Double) -> Double { Foundation.expm1(x) }
    @inline(__always) static func klog(_ x: Double) -> Double { Foundation.log(x) }
    @inline(__always) static func ktanh(_ x: Double) -> Double { Foundation.tanh(x) }
    @inline(__always) static func kerf(_ x: Double) -> Double { Foundation.erf(x) }
    @inline(__always) static func kpow(_ x: Double, _ y: Double) -> Double { Foundation.pow(x, y) }
}

/// Loads and stores of 16 lanes at any alignment.
@inline(__always) func load16<T: SIMDScalar>(_ p: UnsafePointer<T>) -> SIMD16<T> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD16<T>.self)
}
@inline(__always) func load16<T: SIMDScalar>(_ p: UnsafeMutablePointer<T>) -> SIMD16<T> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD16<T>.self)
}
@inline(__always) func store16<T: SIMDScalar>(_ v: SIMD16<T>, _ p: UnsafeMutablePointer<T>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<T>.self)
}
/// Tree horizontal sum (lower latency than `.sum()`'s sequential chain).
@inline(__always) func treeSum<T: SIMDScalar & FloatingPoint>(_ v: SIMD16<T>) -> T {
    let a = v.lowHalf + v.highHalf
    let b = a.lowHalf + a.highHalf
    let c = b.lowHalf + b.highHalf
    return c[0] + c[1]
}
