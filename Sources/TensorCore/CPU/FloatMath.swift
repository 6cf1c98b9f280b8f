import CKernelSupport
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
    /// `e^x` written so that loops over it vectorise (float32: branch-free Cephes polynomial,
    /// ≤ 2 ulp; float64: libm).
    static func kexpFast(_ x: Self) -> Self
    /// `e^x − 1` for x ≤ 0 (ELU's and SELU's negative side) written so that loops over it
    /// vectorise (float32: ``fastExpm1(_:)``; float64: libm).
    static func kexpm1Fast(_ x: Self) -> Self
}

extension Float: KFloat {
    @inline(__always) static func kexp(_ x: Float) -> Float { Foundation.exp(x) }
    @inline(__always) static func kexpm1(_ x: Float) -> Float { Foundation.expm1(x) }
    @inline(__always) static func klog(_ x: Float) -> Float { Foundation.log(x) }
    @inline(__always) static func ktanh(_ x: Float) -> Float { Foundation.tanh(x) }
    @inline(__always) static func kerf(_ x: Float) -> Float { Foundation.erf(x) }
    @inline(__always) static func kpow(_ x: Float, _ y: Float) -> Float { Foundation.pow(x, y) }
    @inline(__always) static func kexpFast(_ x: Float) -> Float { fastExp(x) }
    @inline(__always) static func kexpm1Fast(_ x: Float) -> Float { fastExpm1(x) }
}

extension Double: KFloat {
    @inline(__always) static func kexp(_ x: Double) -> Double { Foundation.exp(x) }
    @inline(__always) static func kexpm1(_ x: Double) -> Double { Foundation.expm1(x) }
    @inline(__always) static func klog(_ x: Double) -> Double { Foundation.log(x) }
    @inline(__always) static func ktanh(_ x: Double) -> Double { Foundation.tanh(x) }
    @inline(__always) static func kerf(_ x: Double) -> Double { Foundation.erf(x) }
    @inline(__always) static func kpow(_ x: Double, _ y: Double) -> Double { Foundation.pow(x, y) }
    @inline(__always) static func kexpFast(_ x: Double) -> Double { Foundation.exp(x) }
    @inline(__always) static func kexpm1Fast(_ x: Double) -> Double { Foundation.expm1(x) }
}

/// x = n·ln2 + r for a clamped float32 x (Cody–Waite: ln2 in two parts, so r is nearly exact),
/// with n = round(x·log2 e) by the 1.5·2^23 trick (x·log2 e + 1.5·2^23 holds n in its low mantissa
/// bits; `ni` is n as an integer). fastExp's and fastExpm1's first step.
@inline(__always)
func ln2Reduction(_ xc: Float) -> (r: Float, ni: Int32) {
    let magic: Float = 12582912
    let t = xc * 1.44269504088896341 + magic
    let n = t - magic
    let r = xc - n * 0.693359375 - n * -2.12194440e-4
    return (r, Int32(bitPattern: t.bitPattern &- magic.bitPattern))
}

/// `e^x` for float32 without branches or libm calls, so that LLVM vectorises loops over it:
/// Cody–Waite reduction x = n·ln2 + r, a degree-6 polynomial for e^r (Cephes `expf`), and 2^n
/// built in the exponent bits. Overflow gives +inf, underflow 0, NaN stays NaN.
@inline(__always)
func fastExp(_ x: Float) -> Float {
    let hi: Float = 88.72283, lo: Float = -87.33654
    let (r, ni) = ln2Reduction(Swift.min(Swift.max(x, lo), hi))
    var p: Float = 1.9875691500e-4
    p = p * r + 1.3981999507e-3
    p = p * r + 8.3334519073e-3
    p = p * r + 4.1665795894e-2
    p = p * r + 1.6666665459e-1
    p = p * r + 5.0000001201e-1
    let er = p * r * r + r + 1
    // 2^n: (n + 127) << 23 (wrapping arithmetic: no traps).
    // Split the scale in two so that n = 128 (x near the top of the range) does not overflow.
    let half = ni >> 1
    let s1 = Float(bitPattern: UInt32(bitPattern: (half &+ 127) &<< 23))
    let s2 = Float(bitPattern: UInt32(bitPattern: (ni &- half &+ 127) &<< 23))
    var y = er * s1 * s2
    y = x > hi ? Float.infinity : y
    y = x < lo ? 0 : y
    return x != x ? x : y
}

/// `e^x − 1` for float32 x ≤ 0 (positive x give 0), without branches or libm calls, so that ELU's
/// and SELU's loops vectorise (libm's expm1 per element ran at 42× the memory floor): x = n·ln2 + r
/// with |r| ≤ ln2/2 (fastExp's reduction), e^r − 1 by its Taylor polynomial to degree 8 (relative
/// remainder < 5e-10), then 2^n·(e^r − 1) + (2^n − 1): a power-of-two scaling and a difference both
/// exact, so one rounding more. Within about 1 ulp; −1 below fastExp's range; ±0 and NaN pass through.
@inline(__always)
func fastExpm1(_ x: Float) -> Float {
    let lo: Float = -87.33654
    let (r, ni) = ln2Reduction(Swift.min(Swift.max(x, lo), 0))
    var p: Float = 1.0 / 40320
    p = p * r + 1.0 / 5040
    p = p * r + 1.0 / 720
    p = p * r + 1.0 / 120
    p = p * r + 1.0 / 24
    p = p * r + 1.0 / 6
    p = p * r + 0.5
    let em = p * r * r + r
    // 2^n, n in [−126, 0]: (n + 127) << 23.
    let s = Float(bitPattern: UInt32(bitPattern: (ni &+ 127) &<< 23))
    var y = s * em + (s - 1)
    y = x < lo ? -1 : y
    y = x == 0 ? x : y
    return x != x ? x : y
}

/// ln x for float32 without branches or libm calls, so that loops over it vectorise (libm's logf
/// per element ran at 7.9× the memory floor): Cephes' logf. x = m·2^e with m in [√½, √2) (subnormal
/// x scaled by 2^23 first), ln(1 + f) for f = m − 1 as f − f²/2 + f³·P(f), then e·ln2 added in two
/// parts. Within about 1 ulp; ln 1 = 0, ln ±0 = −∞, ln ∞ = ∞, negative x and NaN give NaN.
@inline(__always)
func fastLog(_ x: Float) -> Float {
    let tiny = x < Float.leastNormalMagnitude
    let bits = (tiny ? x * 8388608 : x).bitPattern
    // frexp: x = m·2^e with m in [0.5, 1).
    var e = Int32(bitPattern: (bits &>> 23) & 0xFF) &- 126
    let m = Float(bitPattern: (bits & 0x007F_FFFF) | 0x3F00_0000)
    e = tiny ? e &- 23 : e
    let small = m < 0.707106781186547524
    e = small ? e &- 1 : e
    let f = small ? m + m - 1 : m - 1
    let z = f * f
    var y: Float = 7.0376836292e-2
    y = y * f - 1.1514610310e-1
    y = y * f + 1.1676998740e-1
    y = y * f - 1.2420140846e-1
    y = y * f + 1.4249322787e-1
    y = y * f - 1.6668057665e-1
    y = y * f + 2.0000714765e-1
    y = y * f - 2.4999993993e-1
    y = y * f + 3.3333331174e-1
    y = y * f * z
    let fe = Float(e)
    y = y + fe * -2.12194440e-4
    y = y + -0.5 * z
    var r = f + y
    r = r + fe * 0.693359375
    r = x == .infinity ? x : r
    r = x == 0 ? -.infinity : r
    r = x < 0 ? .nan : r
    return x != x ? x : r
}

/// e^x for float32 by glibc's `expf` algorithm (ARM's optimized routines, glibc 2.28 and later) in
/// the form glibc runs on CPUs with FMA: x·32/ln2 = k + r, 2^(k/32) from a 32-entry table, 2^(r/32) by
/// a degree-3 polynomial, all in double, with the reduction and the polynomial fused. On such Linux
/// machines (the project's) it returns libm's `expf` bit for bit — checked over every float — so
/// cross-entropy, which calls it per logit, keeps its results while `swiftnn_ce_*` vectorise it.
/// At most 0.502 ulp from e^x; overflow gives +∞, x < −103.97 gives +0, NaN passes through (quieted).
@inline(__always)
func glibcExpf(_ x: Float) -> Float {
    let abstop = (x.bitPattern >> 20) & 0x7FF
    if abstop >= 0x42B {                       // |x| ≥ 88, or x is ±∞ or NaN
        if x.bitPattern == 0xFF80_0000 { return 0 }
        if abstop >= 0x7F8 { return x + x }
        if x > 0x1.62e42ep6 { return .infinity }
        if x < -0x1.9fe368p6 { return 0 }
    }
    let invLn2N = 0x1.71547652b82fep0 * 32.0, shift = 0x1.8p52
    let c0 = 0x1.c6af84b912394p-5 / 32 / 32 / 32, c1 = 0x1.ebfce50fac4f3p-3 / 32 / 32, c2 = 0x1.62e42ff0c52d6p-1 / 32
    let xd = Double(x)
    let z = invLn2N * xd
    var kd = z + shift
    let ki = kd.bitPattern
    kd -= shift
    let r = (-kd).addingProduct(invLn2N, xd)
    let s = Double(bitPattern: glibcExp2fTable[Int(ki & 31)] &+ (ki &<< 47))
    let p = c1.addingProduct(c0, r)
    let y = Double(1).addingProduct(c2, r).addingProduct(p, r * r)
    return Float(y * s)
}

/// 2^(i/32) for i < 32, as glibc's `__exp2f_data.tab` stores it: the exponent bits of each entry
/// lowered by i·2^47 (`ki << 47` adds k's part back).
let glibcExp2fTable: [UInt64] = [
    0x3FF0_0000_0000_0000, 0x3FEF_D9B0_D315_8574, 0x3FEF_B558_6CF9_890F, 0x3FEF_9301_D012_5B51,
    0x3FEF_72B8_3C7D_517B, 0x3FEF_5487_3168_B9AA, 0x3FEF_387A_6E75_6238, 0x3FEF_1E9D_F51F_DEE1,
    0x3FEF_06FE_0A31_B715, 0x3FEE_F1A7_373A_A9CB, 0x3FEE_DEA6_4C12_3422, 0x3FEE_CE08_6061_892D,
    0x3FEE_BFDA_D536_2A27, 0x3FEE_B42B_569D_4F82, 0x3FEE_AB07_DD48_5429, 0x3FEE_A47E_B03A_5585,
    0x3FEE_A09E_667F_3BCD, 0x3FEE_9F75_E8EC_5F74, 0x3FEE_A114_73EB_0187, 0x3FEE_A589_994C_CE13,
    0x3FEE_ACE5_422A_A0DB, 0x3FEE_B737_B0CD_C5E5, 0x3FEE_C491_82A3_F090, 0x3FEE_D503_B23E_255D,
    0x3FEE_E89F_995A_D3AD, 0x3FEE_FF76_F2FB_5E47, 0x3FEF_199B_DD85_529C, 0x3FEF_3720_DCEF_9069,
    0x3FEF_5818_DCFB_A487, 0x3FEF_7C97_337B_9B5F, 0x3FEF_A4AF_A2A4_90DA, 0x3FEF_D076_5B6E_4540,
]

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

/// tanh for float32 from ``fastExp(_:)``: `1 − 2/(e^{2|x|} + 1)` with the sign restored, and an
/// odd Taylor polynomial near 0 where that form cancels. Absolute error ≲ 1e-7.
@inline(__always)
func fastTanh(_ x: Float) -> Float {
    let ax = Swift.abs(x)
    let big = 1 - 2 / (fastExp(2 * ax) + 1)
    let x2 = x * x
    let small = x * (1 + x2 * (-1.0 / 3 + x2 * (2.0 / 15 + x2 * (-17.0 / 315))))
    let r = x < 0 ? -big : big
    let y = ax < 0.0625 ? small : r
    return x != x ? x : y
}

/// erf for float32 (Abramowitz–Stegun 7.1.26 on |x|, sign restored), branch-free so loops
/// vectorise. Absolute error ≤ 1.5e-7 for the formula, ≲ 4e-7 after float32 rounding.
@inline(__always)
func fastErf(_ x: Float) -> Float {
    let ax = Swift.abs(x)
    let t = 1 / (1 + 0.3275911 * ax)
    let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    let y = 1 - poly * fastExp(-ax * ax)
    let r = x < 0 ? -y : y
    return x != x ? x : r
}

// Concrete float32 loops for the transcendental activations: kept as separate non-generic
// functions so the optimiser reliably inlines the math and vectorises the loop (inside the large
// generic dispatch it did not, and they ran at libm speed).
@inline(never) func expLoopF(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    for i in 0..<n { y[i] = fastExp(x[i]) }
}
@inline(never) func logLoopF(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    for i in 0..<n { y[i] = fastLog(x[i]) }
}
@inline(never) func sigmoidLoopF(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    // e^-x overflows to +inf for very negative x, giving exactly 0.
    for i in 0..<n { y[i] = 1 / (1 + fastExp(-x[i])) }
}
@inline(never) func tanhLoopF(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    for i in 0..<n { y[i] = fastTanh(x[i]) }
}
@inline(never) func geluLoopF(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    let r: Float = 0.70710678118654752
    for i in 0..<n { let v = x[i]; y[i] = 0.5 * v * (1 + fastErf(v * r)) }
}
@inline(never) func geluTanhLoopF(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    let k: Float = 0.79788456080286536, c: Float = 0.044715
    for i in 0..<n { let v = x[i]; y[i] = 0.5 * v * (1 + fastTanh(k * (v + c * v * v * v))) }
}

// Square roots, correctly rounded as `Float.squareRoot()`: `SIMD16.squareRoot()` calls sqrtf per lane
// (5.1 ms for 4M floats on one thread, 3.2× the memory floor), swiftnn_sqrt16 is one instruction.
@inline(never) func sqrtLoopF(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    var i = 0
    while i + 16 <= n { store16(swiftnn_sqrt16(load16(x + i)), y + i); i += 16 }
    while i < n { y[i] = x[i].squareRoot(); i += 1 }
}
@inline(never) func rsqrtLoopF(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    var i = 0
    while i + 16 <= n { store16(1 / swiftnn_sqrt16(load16(x + i)), y + i); i += 16 }
    while i < n { y[i] = 1 / x[i].squareRoot(); i += 1 }
}

// Backward loops (gradient × derivative) for the same activations.
@inline(never) func geluBackwardLoopF(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ d: UnsafeMutablePointer<Float>, _ n: Int) {
    let r: Float = 0.70710678118654752, c: Float = 0.39894228040143268   // 1/√2, 1/√(2π)
    for i in 0..<n {
        let v = x[i]
        d[i] = g[i] * (0.5 * (1 + fastErf(v * r)) + v * c * fastExp(-0.5 * v * v))
    }
}
@inline(never) func geluTanhBackwardLoopF(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ d: UnsafeMutablePointer<Float>, _ n: Int) {
    let k: Float = 0.79788456080286536, c: Float = 0.044715
    for i in 0..<n {
        let v = x[i]
        let t = fastTanh(k * (v + c * v * v * v))
        d[i] = g[i] * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * k * (1 + 3 * c * v * v))
    }
}
