import CKernelSupport
import Foundation

/// The float32 micro-kernel written in C with per-function CPU targets (AVX-512F, or AVX2 + FMA;
/// `Sources/CKernelSupport/gemm_microkernel.c`). Without `-target-cpu native` — which a library
/// cannot force on its users, `unsafeFlags` being refused for versioned dependencies — Swift
/// compiles for SSE2 and its micro-kernel reaches only a third of the machine's speed.
enum GEMMCKernel {
    /// 2 = AVX-512F, 1 = AVX2 + FMA, 0 = use the Swift kernel. Decided from the CPU's features
    /// only (never from timings), so every run on one machine rounds the same way.
    /// `SWIFTNN_GEMM_FMA=0` turns it off (pure Swift, separate multiply and add: for debugging).
    static let level: Int32 = {
        if let env = ProcessInfo.processInfo.environment["SWIFTNN_GEMM_FMA"], env == "0" { return 0 }
        return swiftnn_gemm_f32_level()
    }()
}

/// `gemmMicroKernel`, taking the C kernel for float32 when the CPU has one. The C kernel sums in
/// the same order as the Swift one with fused multiply-adds, i.e. it equals the Swift `fused` path.
/// `overwrite` replaces the tile's old contents (NaN included) instead of adding to them: a full
/// tile is stored by the AVX-512 kernel, other tiles are zeroed and then added to.
@inline(__always)
func gemmMicroKernelDispatch<T: GEMMElement>(
    _ kc: Int, _ a: UnsafePointer<T>, _ b: UnsafePointer<T>, _ c: UnsafeMutablePointer<T>,
    _ ldc: Int, _ rows: Int, _ cols: Int, _ fused: Bool, _ cLevel: Int32, overwrite: Bool
) {
    if overwrite {
        if T.self == Float.self && cLevel >= 2 && rows == 6 && cols == 16 {
            // T is Float here: the buffers hold float32 values.
            swiftnn_gemm_f32_6x16_store(kc, UnsafeRawPointer(a).assumingMemoryBound(to: Float.self),
                                        UnsafeRawPointer(b).assumingMemoryBound(to: Float.self),
                                        UnsafeMutableRawPointer(c).assumingMemoryBound(to: Float.self), ldc)
            return
        }
        for r in 0..<rows { (c + r * ldc).update(repeating: 0, count: cols) }
    }
    if T.self == Float.self && cLevel != 0 {
        a.withMemoryRebound(to: Float.self, capacity: kc * 6) { fa in
            b.withMemoryRebound(to: Float.self, capacity: kc * 16) { fb in
                c.withMemoryRebound(to: Float.self, capacity: 1) { fc in
                    swiftnn_gemm_f32_microkernel(cLevel, kc, fa, fb, fc, ldc, rows, cols)
                }
            }
        }
    } else {
        gemmMicroKernel(kc, a, b, c, ldc, rows, cols, fused)
    }
}

/// C[0..<12·⌊mc/12⌋, 0..<32] += packed A rows · two packed B panels (`b`, `b + 16·kc`) on the 12×32
/// AVX-512 kernel, bit-identical to the 6×16 kernel over the same blocks; returns the rows done.
/// `overwrite` stores the sums instead of adding them. Float32 only (the caller checks), level 2.
@inline(__always)
func gemmPairedPanels<T: GEMMElement>(
    _ kc: Int, _ apack: UnsafeMutablePointer<T>, _ b: UnsafeMutablePointer<T>, _ c: UnsafeMutablePointer<T>,
    _ ldc: Int, _ mc: Int, overwrite: Bool
) -> Int {
    // T is Float here (checked by the caller): the buffers hold float32 values.
    let a = UnsafeMutableRawPointer(apack).assumingMemoryBound(to: Float.self)
    let fb = UnsafeMutableRawPointer(b).assumingMemoryBound(to: Float.self)
    let fc = UnsafeMutableRawPointer(c).assumingMemoryBound(to: Float.self)
    var ir = 0
    while ir + 12 <= mc {
        if overwrite {
            swiftnn_gemm_f32_12x32_store(kc, a + ir * kc, a + (ir + 6) * kc, fb, fb + 16 * kc, fc + ir * ldc, ldc)
        } else {
            swiftnn_gemm_f32_12x32_accumulate(kc, a + ir * kc, a + (ir + 6) * kc, fb, fb + 16 * kc, fc + ir * ldc, ldc)
        }
        ir += 12
    }
    return ir
}

/// What the CPU supports, ignoring `SWIFTNN_GEMM_FMA` (for tests).
enum GEMMCKernelProbe {
    static var cpuLevel: Int32 { swiftnn_gemm_f32_level() }
}
