import TensorCore
import Autograd
import NN

/// Stochastic gradient descent with optional momentum, dampening, Nesterov momentum and (L2)
/// weight decay, like `torch.optim.SGD` — the same update in the same order:
///
///     g ← ∇ + weightDecay·p
///     b ← g (first step), else momentum·b + (1 − dampening)·g
///     g ← g + momentum·b (nesterov), else b
///     p ← p − lr·g
///
/// ```swift
/// let opt = SGD(model.parameters(), lr: 0.1, momentum: 0.9, weightDecay: 5e-4, nesterov: true)
/// ```
public final class SGD: Optimizer {
    /// Optimizes `params` as one group.
    public convenience init(_ params: [Tensor], lr: Double = 1e-3, momentum: Double = 0, dampening: Double = 0,
                            weightDecay: Double = 0, nesterov: Bool = false, maximize: Bool = false) {
        self.init([ParamGroup(params)], lr: lr, momentum: momentum, dampening: dampening,
                  weightDecay: weightDecay, nesterov: nesterov, maximize: maximize)
    }

    /// Optimizes several groups; the arguments are the defaults for options a group leaves out.
    public init(_ groups: [ParamGroup], lr: Double = 1e-3, momentum: Double = 0, dampening: Double = 0,
                weightDecay: Double = 0, nesterov: Bool = false, maximize: Bool = false) {
        do {
            try SGD.validate(lr: lr, momentum: momentum, dampening: dampening, weightDecay: weightDecay, nesterov: nesterov)
        } catch { usageFailure(error) }
        super.init(groups, defaults: [
            "lr": lr, "momentum": momentum, "dampening": dampening, "weight_decay": weightDecay,
            "nesterov": nesterov ? 1 : 0, "maximize": maximize ? 1 : 0,
        ])
    }

    /// The constructor's checks, with PyTorch's messages.
    public static func validate(lr: Double, momentum: Double = 0, dampening: Double = 0, weightDecay: Double = 0,
                                nesterov: Bool = false) throws(UsageError) {
        try OptimizerChecks.learningRate(lr)
        guard momentum >= 0 else { throw UsageError("optimizer", "Invalid momentum value: \(momentum)") }
        try OptimizerChecks.weightDecay(weightDecay)
        if nesterov && (momentum <= 0 || dampening != 0) {
            throw UsageError("optimizer", "Nesterov momentum requires a momentum and zero dampening")
        }
    }

    override public var stateNames: Set<String>? { ["momentum_buffer"] }

    override public func validateRestoredOptions(_ o: [String: Double]) throws(UsageError) {
        try SGD.validate(lr: o["lr"] ?? 0, momentum: o["momentum"] ?? 0, dampening: o["dampening"] ?? 0,
                         weightDecay: o["weight_decay"] ?? 0, nesterov: (o["nesterov"] ?? 0) != 0)
        try OptimizerChecks.flags(o, ["nesterov", "maximize"])
    }

    override public func step() {
        for group in paramGroups {
            let lr = group.lr, momentum = group["momentum"] ?? 0, dampening = group["dampening"] ?? 0
            let wd = group.weightDecay, nesterov = group.flag("nesterov"), maximize = group.flag("maximize")
            for p in group.params {
                guard let grad = p.grad else { continue }
                var s = state(for: p)
                var buffer = s["momentum_buffer"]
                let first = buffer == nil && momentum != 0
                if first { buffer = Tensor(uninitializedShape: p.shape, dtype: p.dtype) }
                let h = SGDHyper(lr: lr, momentum: momentum, dampening: dampening, weightDecay: wd,
                                 nesterov: nesterov, maximize: maximize, firstStep: first)
                if p.dtype == .float32 {
                    sgdKernel(p.pointer(as: Float.self), grad.pointer(as: Float.self),
                              buffer?.pointer(as: Float.self), count: p.count, h)
                } else {
                    sgdKernel(p.pointer(as: Double.self), grad.pointer(as: Double.self),
                              buffer?.pointer(as: Double.self), count: p.count, h)
                }
                withExtendedLifetime((p, grad, buffer)) {}
                if let buffer, first { s["momentum_buffer"] = buffer; setState(s, for: p) }
            }
        }
    }
}

struct SGDHyper {
    let lr, momentum, dampening, weightDecay: Double
    let nesterov, maximize, firstStep: Bool
}

/// One SGD update on raw memory; scalars are rounded to the element type as PyTorch's kernels do.
@inline(__always)
func sgdKernel<T: BinaryFloatingPoint>(_ p: UnsafeMutablePointer<T>, _ grad: UnsafeMutablePointer<T>,
                                       _ buf: UnsafeMutablePointer<T>?, count: Int, _ h: SGDHyper) {
    let wd = T(h.weightDecay), mom = T(h.momentum), damp = T(1 - h.dampening), negLR = T(-h.lr)
    let useWD = h.weightDecay != 0, useMomentum = h.momentum != 0
    Parallel.forRange(0..<count, grain: 1 << 15) { r in
        for i in r {
            var g = h.maximize ? -grad[i] : grad[i]
            if useWD { g = g + wd * p[i] }
            if useMomentum, let buf {
                let b = h.firstStep ? g : buf[i] * mom + damp * g
                buf[i] = b
                g = h.nesterov ? g + mom * b : b
            }
            p[i] = p[i] + negLR * g
        }
    }
}
