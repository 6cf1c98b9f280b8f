import Foundation
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
            // The group's parameters at the same step (all of them, unless some were added later or
            // skipped steps without a gradient) are updated by one multi-parameter kernel.
            var batches: [(step: Double, settings: AdamStep, operands: [AdamOperands])] = []
            var storages = Set<ObjectIdentifier>()
            func flush() {
                for batch in batches { Kernels.adamStep(batch.operands, batch.settings) }
                batches = []
                storages = []
            }
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
                // PyTorch's step is a float32 0-d tensor: counted in float32.
                let stepTensor = s["step"]!
                stepTensor.fill(Double(Float(stepTensor.itemDouble()) + 1))
                let step = stepTensor.itemDouble()
                let h = AdamStep(
                    lr: lr, beta1: beta1, beta2: beta2, eps: eps, weightDecay: wd,
                    decoupled: decoupledWeightDecay, maximize: maximize,
                    biasCorrection1: 1 - Foundation.pow(beta1, step),
                    biasCorrection2Sqrt: (1 - Foundation.pow(beta2, step)).squareRoot())
                // AMSGrad takes the one-parameter kernel; so does a parameter whose memory another
                // one shares (views of one storage), after the updates before it, as one at a time.
                guard !amsgrad, storages.insert(ObjectIdentifier(p.storage)).inserted else {
                    flush()
                    Kernels.adamStep(p, grad: grad, expAvg: s["exp_avg"]!, expAvgSq: s["exp_avg_sq"]!,
                                     maxExpAvgSq: amsgrad ? s["max_exp_avg_sq"] : nil, h)
                    continue
                }
                let operands = AdamOperands(param: p, grad: grad, expAvg: s["exp_avg"]!, expAvgSq: s["exp_avg_sq"]!)
                if let b = batches.firstIndex(where: { $0.step == step }) {
                    batches[b].operands.append(operands)
                } else {
                    batches.append((step, h, [operands]))
                }
            }
            flush()
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
