import Foundation
import CKernelSupport
import TensorCore
import Autograd
import NN

/// Adam, like `torch.optim.Adam` (and, with decoupled weight decay, `AdamW`): PyTorch's update
/// in PyTorch's order, per parameter with state `step`, `exp_avg`, `exp_avg_sq`
/// (and `max_exp_avg_sq` with amsgrad):
///
///     step ← step + 1
///     g ← ∇ + weightDecay·p                  (Adam)   |   p ← p·(1 − lr·weightDecay)   (AdamW)
///     m ← m + (1 − β1)·(g − m)
///     v ← β2·v + (1 − β2)·g²
///     p ← p − lr/(1 − β1^step) · m / (√v / √(1 − β2^step) + eps)
///
/// ```swift
/// let opt = Adam(model.parameters(), lr: 1e-2)
/// ```
public class Adam: Optimizer {
    let decoupledWeightDecay: Bool

    /// Optimizes `params` as one group.
    public convenience init(_ params: [Tensor], lr: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999),
                            eps: Double = 1e-8, weightDecay: Double = 0, amsgrad: Bool = false, maximize: Bool = false) {
        self.init([ParamGroup(params)], lr: lr, betas: betas, eps: eps, weightDecay: weightDecay,
                  amsgrad: amsgrad, maximize: maximize)
    }

    /// Optimizes several groups; the arguments are the defaults for options a group leaves out.
    public convenience init(_ groups: [ParamGroup], lr: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999),
                            eps: Double = 1e-8, weightDecay: Double = 0, amsgrad: Bool = false, maximize: Bool = false) {
        self.init(groups, lr: lr, betas: betas, eps: eps, weightDecay: weightDecay, amsgrad: amsgrad,
                  maximize: maximize, decoupled: false)
    }

    init(_ groups: [ParamGroup], lr: Double, betas: (Double, Double), eps: Double, weightDecay: Double,
         amsgrad: Bool, maximize: Bool, decoupled: Bool) {
        do {
            try Adam.validate(lr: lr, betas: betas, eps: eps, weightDecay: weightDecay)
        } catch { usageFailure(error) }
        decoupledWeightDecay = decoupled
        super.init(groups, defaults: [
            "lr": lr, "beta1": betas.0, "beta2": betas.1, "eps": eps, "weight_decay": weightDecay,
            "amsgrad": amsgrad ? 1 : 0, "maximize": maximize ? 1 : 0,
        ])
    }

    /// The constructor's checks, with PyTorch's messages.
    public static func validate(lr: Double, betas: (Double, Double) = (0.9, 0.999), eps: Double = 1e-8,
                                weightDecay: Double = 0) throws(UsageError) {
        try OptimizerChecks.learningRate(lr)
        guard eps >= 0 else { throw UsageError("optimizer", "Invalid epsilon value: \(eps)") }
        guard betas.0 >= 0 && betas.0 < 1 else { throw UsageError("optimizer", "Invalid beta parameter at index 0: \(betas.0)") }
        guard betas.1 >= 0 && betas.1 < 1 else { throw UsageError("optimizer", "Invalid beta parameter at index 1: \(betas.1)") }
        try OptimizerChecks.weightDecay(weightDecay)
    }

    override public var stateNames: Set<String>? { ["step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"] }

    override public func validateRestoredOptions(_ o: [String: Double]) throws(UsageError) {
        try Adam.validate(lr: o["lr"] ?? 0, betas: (o["beta1"] ?? 0.9, o["beta2"] ?? 0.999), eps: o["eps"] ?? 1e-8,
                          weightDecay: o["weight_decay"] ?? 0)
        try OptimizerChecks.flags(o, ["amsgrad", "maximize"])
    }

    override public func checkRestoredState(_ state: [String: Tensor], prefix: String, options: [String: Double]) throws(OptimizerStateError) {
        guard !state.isEmpty else { return }
        for name in ["step", "exp_avg", "exp_avg_sq"] where state[name] == nil {
            throw OptimizerStateError("state \(prefix)\(name) is missing (the parameter has \(state.keys.sorted().map { prefix + $0 }.joined(separator: ", ")))")
        }
        for name in ["exp_avg_sq", "max_exp_avg_sq"] {
            if let t = state[name], (0..<t.count).contains(where: { t.doubleValue(at: $0) < 0 }) {
                throw OptimizerStateError("state \(prefix)\(name) holds a negative value (a second moment is never negative)")
            }
        }
    }

    override public func step() {
        for group in paramGroups {
            let lr = group.lr, beta1 = group["beta1"] ?? 0.9, beta2 = group["beta2"] ?? 0.999
            let eps = group["eps"] ?? 1e-8, wd = group.weightDecay
            let amsgrad = group.flag("amsgrad"), maximize = group.flag("maximize")
            for p in group.params {
                guard let grad = p.grad else { continue }
                var s = state(for: p)
                if s.isEmpty {
                    // PyTorch's lazy initialisation: step is a float32 0-d tensor, moments are zeros.
                    s["step"] = Tensor.zeros([], dtype: .float32)
                    s["exp_avg"] = Tensor.zeros(p.shape, dtype: p.dtype)
                    s["exp_avg_sq"] = Tensor.zeros(p.shape, dtype: p.dtype)
                    if amsgrad { s["max_exp_avg_sq"] = Tensor.zeros(p.shape, dtype: p.dtype) }
                    setState(s, for: p)
                }
                if amsgrad && s["max_exp_avg_sq"] == nil {
                    s["max_exp_avg_sq"] = Tensor.zeros(p.shape, dtype: p.dtype)
                    setState(s, for: p)
                }
                let stepTensor = s["step"]!
                let stepF = stepTensor.pointer(as: Float.self)
                stepF[0] += 1
                let step = Double(stepF[0])
                let h = AdamHyper(
                    lr: lr, beta1: beta1, beta2: beta2, eps: eps, weightDecay: wd,
                    decoupled: decoupledWeightDecay, maximize: maximize,
                    biasCorrection1: 1 - Foundation.pow(beta1, step),
                    biasCorrection2Sqrt: (1 - Foundation.pow(beta2, step)).squareRoot())
                let m = s["exp_avg"]!, v = s["exp_avg_sq"]!, vmax = amsgrad ? s["max_exp_avg_sq"] : nil
                if p.dtype == .float32 && vmax == nil && !maximize && Float(1 - beta1) < 0.5 {
                    adamKernelSIMD(p.pointer(as: Float.self), grad.pointer(as: Float.self), m.pointer(as: Float.self),
                                   v.pointer(as: Float.self), count: p.count, h)
                } else if p.dtype == .float32 {
                    adamKernel(p.pointer(as: Float.self), grad.pointer(as: Float.self), m.pointer(as: Float.self),
                               v.pointer(as: Float.self), vmax?.pointer(as: Float.self), count: p.count, h)
                } else {
                    adamKernel(p.pointer(as: Double.self), grad.pointer(as: Double.self), m.pointer(as: Double.self),
                               v.pointer(as: Double.self), vmax?.pointer(as: Double.self), count: p.count, h)
                }
                withExtendedLifetime((p, grad, m, v, vmax, stepTensor)) {}
            }
        }
    }
}

/// AdamW, like `torch.optim.AdamW`: Adam with decoupled weight decay (`p ← p·(1 − lr·weightDecay)`
/// before the moment update) and a default weight decay of 0.01.
///
/// ```swift
/// let opt = AdamW(model.parameters(), lr: 1e-3, weightDecay: 1e-4)
/// ```
public final class AdamW: Adam {
    /// Optimizes `params` as one group.
    public convenience init(_ params: [Tensor], lr: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999),
                            eps: Double = 1e-8, weightDecay: Double = 1e-2, amsgrad: Bool = false, maximize: Bool = false) {
        self.init([ParamGroup(params)], lr: lr, betas: betas, eps: eps, weightDecay: weightDecay,
                  amsgrad: amsgrad, maximize: maximize)
    }

    /// Optimizes several groups; the arguments are the defaults for options a group leaves out.
    public init(_ groups: [ParamGroup], lr: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999),
                eps: Double = 1e-8, weightDecay: Double = 1e-2, amsgrad: Bool = false, maximize: Bool = false) {
        super.init(groups, lr: lr, betas: betas, eps: eps, weightDecay: weightDecay, amsgrad: amsgrad,
                   maximize: maximize, decoupled: true)
    }
}

struct AdamHyper {
    let lr, beta1, beta2, eps, weightDecay: Double
    let decoupled, maximize: Bool
    let biasCorrection1, biasCorrection2Sqrt: Double
}

/// One Adam/AdamW update on raw memory, with PyTorch's operation order; the scalars are rounded to
/// the element type as PyTorch's CPU kernels do.
@inline(__always)
func adamKernel<T: BinaryFloatingPoint>(_ p: UnsafeMutablePointer<T>, _ grad: UnsafeMutablePointer<T>,
                                        _ m: UnsafeMutablePointer<T>, _ v: UnsafeMutablePointer<T>,
                                        _ vmax: UnsafeMutablePointer<T>?, count: Int, _ h: AdamHyper) {
    let wd = T(h.weightDecay), decay = T(1 - h.lr * h.weightDecay)
    let useWD = h.weightDecay != 0
    let w1 = T(1 - h.beta1), b1 = 1 - w1, smallWeight = w1 < 0.5, b2 = T(h.beta2), w2 = T(1 - h.beta2)
    let bc2Sqrt = T(h.biasCorrection2Sqrt), eps = T(h.eps)
    let negStepSize = T(-(h.lr / h.biasCorrection1))
    Parallel.forRange(0..<count, grain: 1 << 14) { r in
        for i in r {
            var g = h.maximize ? -grad[i] : grad[i]
            if useWD {
                if h.decoupled { p[i] = p[i] * decay } else { g = g + wd * p[i] }
            }
            // exp_avg.lerp_(grad, 1 − β1), with lerp's two forms for small and large weights
            let mi = smallWeight ? m[i] + w1 * (g - m[i]) : g - (g - m[i]) * b1
            m[i] = mi
            let vi = v[i] * b2 + w2 * g * g             // exp_avg_sq.mul_(β2).addcmul_(grad, grad, 1 − β2)
            v[i] = vi
            var second = vi
            if let vmax {
                second = max(vmax[i], vi)
                vmax[i] = second
            }
            let denom = second.squareRoot() / bc2Sqrt + eps
            p[i] = p[i] + negStepSize * mi / denom     // param.addcdiv_(exp_avg, denom, −step_size)
        }
    }
}

/// The common float32 case (no amsgrad, no maximize, β1 > 0.5) 16 lanes at a time (one vector
/// square root per block): the same operations in the same order as ``adamKernel``, so results
/// are identical. Weight decay is
/// folded in exactly: `p·1 = p` and `g + 0·p = g` for finite values.
@inline(__always)
func adamKernelSIMD(_ p: UnsafeMutablePointer<Float>, _ grad: UnsafeMutablePointer<Float>,
                    _ m: UnsafeMutablePointer<Float>, _ v: UnsafeMutablePointer<Float>, count: Int, _ h: AdamHyper) {
    typealias V = SIMD16<Float>
    let useWD = h.weightDecay != 0
    let coupledWD: Float = useWD && !h.decoupled ? Float(h.weightDecay) : 0
    let decay: Float = useWD && h.decoupled ? Float(1 - h.lr * h.weightDecay) : 1
    let w1 = Float(1 - h.beta1), b2 = Float(h.beta2), w2 = Float(1 - h.beta2)
    let bc2Sqrt = Float(h.biasCorrection2Sqrt), eps = Float(h.eps)
    let negStepSize = Float(-(h.lr / h.biasCorrection1))
    @inline(__always) func load(_ q: UnsafeMutablePointer<Float>, _ i: Int) -> V {
        UnsafeRawPointer(q + i).loadUnaligned(as: V.self)
    }
    @inline(__always) func store(_ x: V, _ q: UnsafeMutablePointer<Float>, _ i: Int) {
        UnsafeMutableRawPointer(q + i).storeBytes(of: x, as: V.self)
    }
    Parallel.forRange(0..<count, grain: 1 << 15) { r in
        var i = r.lowerBound
        while i + 16 <= r.upperBound {
            let p0 = load(p, i), mi = load(m, i)
            let g = load(grad, i) + coupledWD * p0
            let mNew = mi + w1 * (g - mi)
            let vNew = load(v, i) * b2 + w2 * g * g
            let denom = swiftnn_sqrt16(vNew) / bc2Sqrt + eps
            store(mNew, m, i)
            store(vNew, v, i)
            store(p0 * decay + negStepSize * mNew / denom, p, i)
            i += 16
        }
        while i < r.upperBound {
            let p0 = p[i], mi = m[i]
            let g = grad[i] + coupledWD * p0
            let mNew = mi + w1 * (g - mi)
            let vNew = v[i] * b2 + w2 * g * g
            let denom = vNew.squareRoot() / bc2Sqrt + eps
            m[i] = mNew
            v[i] = vNew
            p[i] = p0 * decay + negStepSize * mNew / denom
            i += 1
        }
    }
}
