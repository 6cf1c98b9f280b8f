import TensorCore
import NN

/// A set of parameters trained with its own hyperparameters, like one entry of PyTorch's
/// `optimizer.param_groups`.
///
/// Hyperparameters live in ``options`` under PyTorch's names (`"lr"`, `"weight_decay"`,
/// `"momentum"`, `"beta1"`/`"beta2"` for `betas`, `"eps"`, flags as 0/1, and `"initial_lr"` once a
/// scheduler is attached). Options a group leaves out take the optimizer's defaults.
///
/// ```swift
/// let decay = model.namedParameters().filter { $0.1.rank > 1 }.map(\.1)
/// let noDecay = model.namedParameters().filter { $0.1.rank <= 1 }.map(\.1)   // norms, biases
/// let opt = AdamW([ParamGroup(decay), ParamGroup(noDecay, weightDecay: 0)], lr: 1e-3, weightDecay: 1e-4)
/// opt.paramGroups[1].lr          // 1e-3
/// ```
public struct ParamGroup {
    /// The parameters, updated in place by ``Optimizer/step()``.
    public var params: [Tensor]
    /// Hyperparameters by PyTorch name.
    public var options: [String: Double]

    public init(_ params: [Tensor], lr: Double? = nil, weightDecay: Double? = nil, momentum: Double? = nil,
                betas: (Double, Double)? = nil, eps: Double? = nil, options: [String: Double] = [:]) {
        self.params = params
        var o = options
        if let lr { o["lr"] = lr }
        if let weightDecay { o["weight_decay"] = weightDecay }
        if let momentum { o["momentum"] = momentum }
        if let betas { o["beta1"] = betas.0; o["beta2"] = betas.1 }
        if let eps { o["eps"] = eps }
        self.options = o
    }

    /// The learning rate (schedulers change it between steps).
    public var lr: Double {
        get { options["lr"] ?? 0 }
        set { options["lr"] = newValue }
    }

    /// The weight decay of this group.
    public var weightDecay: Double {
        get { options["weight_decay"] ?? 0 }
        set { options["weight_decay"] = newValue }
    }

    /// Any hyperparameter by PyTorch name.
    public subscript(key: String) -> Double? {
        get { options[key] }
        set { options[key] = newValue }
    }

    func flag(_ key: String) -> Bool { (options[key] ?? 0) != 0 }
}

extension ParamGroup {
    /// The usual split for weight decay: matrices and filters (rank ≥ 2) decay, biases and
    /// normalization weights (rank ≤ 1) do not. Parameters that do not require grad are left out.
    ///
    /// ```swift
    /// let opt = AdamW(ParamGroup.weightDecayGroups(model, weightDecay: 1e-4), lr: 1e-3)
    /// ```
    public static func weightDecayGroups(_ model: Module, weightDecay: Double) -> [ParamGroup] {
        let trainable = model.parameters().filter(\.requiresGrad)
        return [ParamGroup(trainable.filter { $0.rank >= 2 }, weightDecay: weightDecay),
                ParamGroup(trainable.filter { $0.rank < 2 }, weightDecay: 0)]
    }
}
