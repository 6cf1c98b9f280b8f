/// The settings of one SGD update, like `torch.optim.SGD`'s (see ``Kernels/sgdStep(_:grad:momentumBuffer:_:)``).
public struct SGDStep: Sendable {
    public var lr, momentum, dampening, weightDecay: Double
    public var nesterov, maximize: Bool
    /// Whether the momentum buffer is uninitialised (it then becomes the gradient).
    public var firstStep: Bool

    public init(lr: Double, momentum: Double, dampening: Double, weightDecay: Double, nesterov: Bool, maximize: Bool,
                firstStep: Bool) {
        self.lr = lr; self.momentum = momentum; self.dampening = dampening; self.weightDecay = weightDecay
        self.nesterov = nesterov; self.maximize = maximize; self.firstStep = firstStep
    }
}

/// The settings of one Adam / AdamW update, like `torch.optim.Adam`'s, with the bias corrections
/// of the current step (see ``Kernels/adamStep(_:grad:expAvg:expAvgSq:maxExpAvgSq:_:)``).
public struct AdamStep: Sendable {
    public var lr, beta1, beta2, eps, weightDecay: Double
    /// AdamW's decoupled weight decay (`p ← p·(1 − lr·weightDecay)`) instead of L2 in the gradient.
    public var decoupled: Bool
    public var maximize: Bool
    /// `1 − β1^step` and `sqrt(1 − β2^step)`.
    public var biasCorrection1, biasCorrection2Sqrt: Double

    public init(lr: Double, beta1: Double, beta2: Double, eps: Double, weightDecay: Double, decoupled: Bool, maximize: Bool,
                biasCorrection1: Double, biasCorrection2Sqrt: Double) {
        self.lr = lr; self.beta1 = beta1; self.beta2 = beta2; self.eps = eps; self.weightDecay = weightDecay
        self.decoupled = decoupled; self.maximize = maximize
        self.biasCorrection1 = biasCorrection1; self.biasCorrection2Sqrt = biasCorrection2Sqrt
    }
}

/// One parameter of a multi-parameter Adam update (see ``Kernels/adamStep(_:_:)``): the parameter,
/// its gradient and its two moment estimates, all of one dtype and element count.
public struct AdamOperands {
    public var param, grad, expAvg, expAvgSq: Tensor

    public init(param: Tensor, grad: Tensor, expAvg: Tensor, expAvgSq: Tensor) {
        self.param = param; self.grad = grad; self.expAvg = expAvg; self.expAvgSq = expAvgSq
    }
}

/// Optimizer updates and gradient-norm kernels, in place on float32 / float64 tensors of one
/// dtype, with PyTorch's order of operations (scalars rounded to the element type as its CPU
/// kernels do).
public protocol OptimizerOps {
    /// One SGD update of `param` from `grad` (and the momentum buffer when momentum is used).
    func sgdStep(_ param: Tensor, grad: Tensor, momentumBuffer: Tensor?, _ step: SGDStep)
    /// One Adam / AdamW update of `param` and its moment estimates.
    func adamStep(_ param: Tensor, grad: Tensor, expAvg: Tensor, expAvgSq: Tensor, maxExpAvgSq: Tensor?, _ step: AdamStep)
    /// One Adam / AdamW update of several parameters that share `step` (distinct tensors, no
    /// AMSGrad). A backend may run them as one kernel; the results are those of one
    /// ``adamStep(_:grad:expAvg:expAvgSq:maxExpAvgSq:_:)`` per parameter.
    func adamStep(_ operands: [AdamOperands], _ step: AdamStep)
    /// `(Σ|x|^p)^(1/p)` over every element, in Double (`p = .infinity`: the largest magnitude).
    func norm(_ t: Tensor, p: Double) -> Double
}

extension OptimizerOps {
    public func adamStep(_ operands: [AdamOperands], _ step: AdamStep) {
        for o in operands {
            adamStep(o.param, grad: o.grad, expAvg: o.expAvg, expAvgSq: o.expAvgSq, maxExpAvgSq: nil, step)
        }
    }
}

extension Kernels {
    /// One SGD update in place (`torch.optim.SGD`'s order):
    ///
    ///     g ← ∇ + weightDecay·p;  b ← g (first step) or momentum·b + (1 − dampening)·g
    ///     g ← g + momentum·b (nesterov) or b;  p ← p − lr·g
    ///
    /// ```swift
    /// Kernels.sgdStep(p, grad: p.grad!, momentumBuffer: nil,
    ///                 SGDStep(lr: 0.1, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, maximize: false, firstStep: false))
    /// ```
    public static func sgdStep(_ param: Tensor, grad: Tensor, momentumBuffer: Tensor?, _ step: SGDStep) {
        checkOptimizerOperands(param, [grad, momentumBuffer])
        backend(param, grad, momentumBuffer).sgdStep(param, grad: grad, momentumBuffer: momentumBuffer, step)
    }

    /// One Adam / AdamW update in place (`torch.optim.Adam`'s order: `exp_avg.lerp_`,
    /// `exp_avg_sq.mul_().addcmul_()`, `param.addcdiv_()`; AMSGrad keeps the running maximum).
    public static func adamStep(_ param: Tensor, grad: Tensor, expAvg: Tensor, expAvgSq: Tensor, maxExpAvgSq: Tensor?,
                                _ step: AdamStep) {
        checkOptimizerOperands(param, [grad, expAvg, expAvgSq, maxExpAvgSq])
        backend(param, grad, expAvg, expAvgSq).adamStep(param, grad: grad, expAvg: expAvg, expAvgSq: expAvgSq,
                                                          maxExpAvgSq: maxExpAvgSq, step)
    }

    /// One Adam / AdamW update of several parameters that share one step's settings, like
    /// PyTorch's `foreach` / `fused` implementations: the same results as one
    /// ``adamStep(_:grad:expAvg:expAvgSq:maxExpAvgSq:_:)`` per parameter, in one pass that the CPU
    /// backend splits over threads by elements, not by parameter (a model's many small biases and
    /// BatchNorm parameters then cost no fork-join each).
    ///
    /// ```swift
    /// Kernels.adamStep([AdamOperands(param: w, grad: w.grad!, expAvg: mw, expAvgSq: vw),
    ///                   AdamOperands(param: b, grad: b.grad!, expAvg: mb, expAvgSq: vb)], h)
    /// ```
    public static func adamStep(_ operands: [AdamOperands], _ step: AdamStep) {
        guard let first = operands.first else { return }
        var seen = Set<ObjectIdentifier>()
        for o in operands {
            checkOptimizerOperands(o.param, [o.grad, o.expAvg, o.expAvgSq])
            _ = backend(o.param, o.grad, o.expAvg, o.expAvgSq)
            _ = backend(first.param, o.param)
            precondition(seen.insert(ObjectIdentifier(o.param.storage)).inserted,
                         "optimizer: two parameters of one multi-parameter update share storage")
        }
        backend(first.param, first.grad, first.expAvg, first.expAvgSq).adamStep(operands, step)
    }

    /// The p-norm `(Σ|x|^p)^(1/p)` of all elements in Double (`.infinity`: the largest magnitude).
    ///
    /// ```swift
    /// Kernels.norm(Tensor([3, 4] as [Float]), p: 2)   // 5
    /// ```
    public static func norm(_ t: Tensor, p: Double) -> Double {
        precondition(t.dtype.isFloatingPoint, "norm: expected a floating-point tensor, got \(t.dtype)")
        return backend(t).norm(t, p: p)
    }

    private static func checkOptimizerOperands(_ param: Tensor, _ others: [Tensor?]) {
        precondition(param.dtype.isFloatingPoint, "optimizer: expected floating-point parameters, got \(param.dtype)")
        for case let t? in others {
            precondition(t.count == param.count && t.dtype == param.dtype,
                         "optimizer: \(t.dtype) \(shapeString(t.shape)) does not match the parameter's \(param.dtype) \(shapeString(param.shape))")
        }
    }
}
