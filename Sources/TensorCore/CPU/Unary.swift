import CKernelSupport
import Foundation

/// Elements per parallel chunk for libm-speed elementwise work.
let transcendentalGrain = 1 << 13

extension CPUBackend {
    public func unary(_ op: UnaryOp, _ t: Tensor) -> Tensor { Self.unary(op, t) }
    public func unary(_ op: UnaryOp, _ t: Tensor, into out: Tensor) {
        withExtendedLifetime(t) {
            if t.dtype == .float32 {
                Self.floatUnary(op, t.pointer(as: Float.self), out.pointer(as: Float.self), t.count)
            } else {
                Self.floatUnary(op, t.pointer(as: Double.self), out.pointer(as: Double.self), t.count)
            }
        }
    }
    public func unaryBackward(_ op: UnaryOp, grad: Tensor, input: Tensor, output: Tensor?) -> Tensor {
        Self.unaryBackward(op, grad: grad, input: input, output: output)
    }
}

extension CPUBackend {
    static func unary(_ op: UnaryOp, _ t: Tensor) -> Tensor {
        switch t.dtype {
        case .float32:
            let out = Tensor(uninitializedShape: t.shape, dtype: .float32)
            withExtendedLifetime(t) { floatUnary(op, t.pointer(as: Float.self), out.pointer(as: Float.self), t.count) }
            return out
        case .float64:
            let out = Tensor(uninitializedShape: t.shape, dtype: .float64)
            withExtendedLifetime(t) { floatUnary(op, t.pointer(as: Double.self), out.pointer(as: Double.self), t.count) }
            return out
        case .int64, .uint8, .bool:
            let integral: Bool
            switch op {
            case .neg, .abs, .relu: integral = true
            case .clamp(let lo, let hi): integral = (lo.map { $0.rounded() == $0 } ?? true) && (hi.map { $0.rounded() == $0 } ?? true)
            case .scale(let c): integral = c.rounded() == c
            default: integral = false
            }
            if !integral { return unary(op, cast(t, to: .float32)) }
            let src = cast(t, to: t.dtype == .bool ? .int64 : t.dtype)
            if src.dtype == .uint8 { return cast(unary(op, cast(src, to: .int64)), to: .uint8) }
            let out = Tensor(uninitializedShape: t.shape, dtype: .int64)
            let ps = src.pointer(as: Int64.self), po = out.pointer(as: Int64.self)
            let n = t.count
            withExtendedLifetime(src) {
                func map(_ f: (Int64) -> Int64) {
                    Parallel.forRange(0..<n, grain: elementwiseGrain) { r in for i in r { po[i] = f(ps[i]) } }
                }
                switch op {
                case .neg: map { 0 &- $0 }
                case .abs: map { $0 < 0 ? 0 &- $0 : $0 }
                case .relu: map { $0 > 0 ? $0 : 0 }
                case .clamp(let lo, let hi):
                    let l = lo.map { Int64($0) } ?? Int64.min, h = hi.map { Int64($0) } ?? Int64.max
                    map { Swift.min(Swift.max($0, l), h) }
                case .scale(let c): let k = Int64(c); map { $0 &* k }
                default: fatalError("unreachable")
                }
            }
            return out
        }
    }

    static func floatUnary<T: KFloat>(_ op: UnaryOp, _ px: UnsafeMutablePointer<T>, _ po: UnsafeMutablePointer<T>, _ n: Int) {
        if T.self == Float.self, let loop = floatLoop(op) {
            let x = UnsafeRawPointer(px).assumingMemoryBound(to: Float.self)
            let y = UnsafeMutableRawPointer(po).assumingMemoryBound(to: Float.self)
            Parallel.forRange(0..<n, grain: elementwiseGrain / 4, alignment: 64) { r in
                loop(x + r.lowerBound, y + r.lowerBound, r.count)
            }
            return
        }
        switch op {
        case .neg: map(px, po, n, NegFunction<T>())
        // Plain select loops: LLVM vectorises them, while SIMD mask operations are scalarised.
        case .abs: map(px, po, n, AbsFunction<T>())
        case .relu: map(px, po, n, ReLUFunction<T>())
        case .scale(let c): map(px, po, n, ScaleFunction(factor: T(c)))
        case .clamp(let lo, let hi):
            map(px, po, n, ClampFunction(low: lo.map { T($0) } ?? -T.infinity, high: hi.map { T($0) } ?? T.infinity))
        case .sqrt: map(px, po, n, SqrtFunction<T>())
        case .rsqrt: map(px, po, n, RsqrtFunction<T>())
        case .exp: map(px, po, n, ExpFunction<T>())
        case .log: scalarMap(px, po, n) { T.klog($0) }
        case .tanh: scalarMap(px, po, n) { T.ktanh($0) }
        case .sigmoid: map(px, po, n, SigmoidFunction<T>())
        case .gelu:
            let r = T(1 / 2.0.squareRoot())
            scalarMap(px, po, n) { x in x * T(0.5) * (1 + T.kerf(x * r)) }
        case .geluTanh:
            let k = T((2 / Double.pi).squareRoot()), c = T(0.044715)
            scalarMap(px, po, n) { x in T(0.5) * x * (1 + T.ktanh(k * (x + c * x * x * x))) }
        case .elu, .selu:
            let (alpha, scale) = eluConstants(op)
            if T.self == Float.self && GEMMCKernel.level >= 2 {
                let x = UnsafeRawPointer(px).assumingMemoryBound(to: Float.self)
                let y = UnsafeMutableRawPointer(po).assumingMemoryBound(to: Float.self)
                Parallel.forRange(0..<n, grain: elementwiseGrain / 4, alignment: 64) { r in
                    swiftnn_elu_f32(x + r.lowerBound, y + r.lowerBound, r.count, Float(alpha), Float(scale))
                }
            } else {
                map(px, po, n, ELUFunction(alpha: T(alpha), scale: T(scale)))
            }
        case .silu: map(px, po, n, SiLUFunction<T>())
        case .leakyReLU(let slope): map(px, po, n, LeakyReLUFunction(slope: T(slope)))
        case .hardtanh(let lo, let hi): map(px, po, n, ClampFunction(low: T(lo), high: T(hi)))
        case .hardswish: map(px, po, n, HardswishFunction<T>())
        case .hardsigmoid: map(px, po, n, HardsigmoidFunction<T>())
        case .pow(let e):
            if e == 2 { map(px, po, n, SquareFunction<T>()); return }
            if e == 1 { map(px, po, n, IdentityFunction<T>()); return }
            if e == 0.5 { floatUnary(.sqrt, px, po, n); return }
            let te = T(e)
            scalarMap(px, po, n) { T.kpow($0, te) }
        }
    }

    /// The vectorised float32 loop for `op`, when there is one: the AVX-512 kernels of
    /// activation_kernels.c where the CPU has them (the Swift loops' bits, four times the lanes).
    static func floatLoop(_ op: UnaryOp) -> ((UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void)? {
        if GEMMCKernel.level >= 2, let code = activationKernelCode(op) {
            return { x, y, n in swiftnn_activation_f32(code, x, y, n) }
        }
        return switch op {
        case .exp: expLoopF
        case .log: logLoopF
        case .sigmoid: sigmoidLoopF
        case .tanh: tanhLoopF
        case .gelu: geluLoopF
        case .geluTanh: geluTanhLoopF
        case .sqrt: sqrtLoopF
        case .rsqrt: rsqrtLoopF
        default: nil
        }
    }

    /// The vectorised float32 gradient loop for `op`, when there is one, as ``floatLoop(_:)``:
    /// activation_kernels.c's where the CPU has AVX-512 (GELU's, SiLU's), else GELU's Swift loops.
    static func floatGradientLoop(_ op: UnaryOp)
        -> ((UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void)? {
        if GEMMCKernel.level >= 2, op == .gelu || op == .geluTanh || op == .silu, let code = activationKernelCode(op) {
            return { g, x, d, n in swiftnn_activation_backward_f32(code, g, x, d, n) }
        }
        return switch op {
        case .gelu: geluBackwardLoopF
        case .geluTanh: geluTanhBackwardLoopF
        default: nil
        }
    }

    /// ELU's alpha and scale (1), or SELU's.
    static func eluConstants(_ op: UnaryOp) -> (alpha: Double, scale: Double) {
        if case .elu(let alpha) = op { return (alpha, 1) }
        return (SELUConstants.alpha, SELUConstants.scale)
    }

    /// `op`'s code for swiftnn_activation_f32 (SWIFTNN_ACTIVATION_*), for the ops it has.
    static func activationKernelCode(_ op: UnaryOp) -> Int32? {
        let code: Int? = switch op {
        case .exp: SWIFTNN_ACTIVATION_EXP
        case .sigmoid: SWIFTNN_ACTIVATION_SIGMOID
        case .tanh: SWIFTNN_ACTIVATION_TANH
        case .gelu: SWIFTNN_ACTIVATION_GELU
        case .geluTanh: SWIFTNN_ACTIVATION_GELU_TANH
        case .rsqrt: SWIFTNN_ACTIVATION_RSQRT
        case .log: SWIFTNN_ACTIVATION_LOG
        case .silu: SWIFTNN_ACTIVATION_SILU
        default: nil
        }
        return code.map { Int32($0) }
    }

    /// A cheap elementwise function over `n` elements (see ``ElementFunction`` for why not a closure).
    @inline(__always)
    static func map<F: ElementFunction>(_ px: UnsafeMutablePointer<F.Value>, _ po: UnsafeMutablePointer<F.Value>, _ n: Int, _ f: F) {
        Parallel.forRange(0..<n, grain: elementwiseGrain) { r in for i in r { po[i] = f(px[i]) } }
    }

    @inline(__always)
    static func scalarMap<T>(_ px: UnsafeMutablePointer<T>, _ po: UnsafeMutablePointer<T>, _ n: Int, _ f: (T) -> T) {
        Parallel.forRange(0..<n, grain: transcendentalGrain) { r in for i in r { po[i] = f(px[i]) } }
    }

    static func unaryBackward(_ op: UnaryOp, grad: Tensor, input: Tensor, output: Tensor?) -> Tensor {
        let dt = input.dtype
        let g = cast(grad, to: dt)
        let y = output.map { cast($0, to: dt) } ?? input
        let out = Tensor(uninitializedShape: input.shape, dtype: dt)
        withExtendedLifetime((g, input, y)) {
            if dt == .float32 {
                floatUnaryBackward(op, g.pointer(as: Float.self), input.pointer(as: Float.self), y.pointer(as: Float.self), out.pointer(as: Float.self), input.count)
            } else {
                floatUnaryBackward(op, g.pointer(as: Double.self), input.pointer(as: Double.self), y.pointer(as: Double.self), out.pointer(as: Double.self), input.count)
            }
        }
        return out
    }

    static func floatUnaryBackward<T: KFloat>(_ op: UnaryOp, _ pg: UnsafeMutablePointer<T>, _ px: UnsafeMutablePointer<T>,
                                              _ py: UnsafeMutablePointer<T>, _ po: UnsafeMutablePointer<T>, _ n: Int) {
        if T.self == Float.self, let loop = floatGradientLoop(op) {
            let g = UnsafeRawPointer(pg).assumingMemoryBound(to: Float.self)
            let x = UnsafeRawPointer(px).assumingMemoryBound(to: Float.self)
            let d = UnsafeMutableRawPointer(po).assumingMemoryBound(to: Float.self)
            Parallel.forRange(0..<n, grain: elementwiseGrain / 4, alignment: 64) { r in
                loop(g + r.lowerBound, x + r.lowerBound, d + r.lowerBound, r.count)
            }
            return
        }
        @inline(__always) func zip(_ grain: Int, _ f: (T, T, T) -> T) {
            Parallel.forRange(0..<n, grain: grain) { r in for i in r { po[i] = f(pg[i], px[i], py[i]) } }
        }
        // The cheap gradients as types: a closure would be called per element on more than one thread.
        @inline(__always) func map<F: ElementGradient>(_ f: F) where F.Value == T {
            Parallel.forRange(0..<n, grain: elementwiseGrain) { r in for i in r { po[i] = f(pg[i], px[i], py[i]) } }
        }
        let costly = transcendentalGrain
        switch op {
        case .neg: map(NegGradient())
        case .abs: map(AbsGradient())
        case .relu: map(ReLUGradient())
        case .scale(let c): map(ScaleGradient(factor: T(c)))
        case .clamp(let lo, let hi): map(ClampGradient(low: lo.map { T($0) } ?? -T.infinity, high: hi.map { T($0) } ?? T.infinity))
        case .exp: map(ExpGradient())
        case .log: map(LogGradient())
        case .sqrt: map(SqrtGradient())
        case .rsqrt: map(RsqrtGradient())
        case .sigmoid: map(SigmoidGradient())
        case .tanh: map(TanhGradient())
        case .gelu:
            let r = T(1 / 2.0.squareRoot()), c = T(1 / (2 * Double.pi).squareRoot())
            zip(costly) { g, x, _ in
                g * (T(0.5) * (1 + T.kerf(x * r)) + x * c * T.kexp(-T(0.5) * x * x))
            }
        case .geluTanh:
            let k = T((2 / Double.pi).squareRoot()), c = T(0.044715)
            zip(costly) { g, x, _ in
                let t = T.ktanh(k * (x + c * x * x * x))
                return g * (T(0.5) * (1 + t) + T(0.5) * x * (1 - t * t) * k * (1 + 3 * c * x * x))
            }
        case .elu, .selu:
            let (alpha, scale) = eluConstants(op)
            if T.self == Float.self && GEMMCKernel.level >= 2 {
                let g = UnsafeRawPointer(pg).assumingMemoryBound(to: Float.self)
                let x = UnsafeRawPointer(px).assumingMemoryBound(to: Float.self)
                let d = UnsafeMutableRawPointer(po).assumingMemoryBound(to: Float.self)
                Parallel.forRange(0..<n, grain: elementwiseGrain / 4, alignment: 64) { r in
                    swiftnn_elu_backward_f32(g + r.lowerBound, x + r.lowerBound, d + r.lowerBound, r.count, Float(alpha), Float(scale))
                }
            } else {
                map(ELUGradient(alpha: T(alpha), scale: T(scale)))
            }
        case .silu: map(SiLUGradient())
        case .leakyReLU(let slope): map(LeakyReLUGradient(slope: T(slope)))
        case .hardtanh(let lo, let hi): map(HardtanhGradient(low: T(lo), high: T(hi)))
        case .hardswish: map(HardswishGradient())
        case .hardsigmoid: map(HardsigmoidGradient())
        case .pow(let e):
            let te = T(e)
            if e == 0 || e == 1 || e == 2 { map(SmallPowerGradient(exponent: Int(e))); return }
            zip(costly) { g, x, _ in g * te * T.kpow(x, te - 1) }
        }
    }
}
