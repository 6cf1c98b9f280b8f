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
                Kernels.sgdStep(p, grad: grad, momentumBuffer: buffer,
                                SGDStep(lr: lr, momentum: momentum, dampening: dampening, weightDecay: wd,
                                        nesterov: nesterov, maximize: maximize, firstStep: first))
                if let buffer, first { s["momentum_buffer"] = buffer; setState(s, for: p) }
            }
        }
    }
}
