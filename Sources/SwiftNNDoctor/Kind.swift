import NN

/// Module kinds and autograd operations the checks reason about.
enum Kind {
    static func isBatchNorm(_ m: Module) -> Bool { m is BatchNormBase }
    static func isDropout(_ m: Module) -> Bool { m is DropoutLayer }
    static func isAlphaDropout(_ m: Module) -> Bool { m is AlphaDropout || m is FeatureAlphaDropout }
    static func isAttentionWithDropout(_ m: Module) -> Bool { ((m as? MultiheadAttention)?.dropout ?? 0) > 0 }
    /// Layers whose output depends on train()/eval().
    static func isModeDependent(_ m: Module) -> Bool {
        m is BatchNormBase || m is DropoutLayer || m is InstanceNormBase || isAttentionWithDropout(m)
    }

    /// What a layer in training mode does to an evaluation.
    static func trainModeEffect(_ m: Module) -> String {
        if isDropout(m) { return "Dropout drops activations at random, so predictions are noisy and differ between calls" }
        if isAttentionWithDropout(m) { return "attention dropout drops attention weights at random, so predictions differ between calls" }
        return "BatchNorm normalizes with the statistics of each evaluation batch and overwrites its running statistics with evaluation data"
    }

    /// A layer with weights that a BatchNorm can follow (and whose bias it cancels).
    static func weightLayer(_ m: Module) -> (bias: Bool, description: String)? {
        if let l = m as? Linear { return (l.bias != nil, "Linear(\(l.inFeatures), \(l.outFeatures), bias: false)") }
        if let c = m as? ConvNd { return (c.bias != nil, "\(c.typeName)(\(c.inChannels), \(c.outChannels), kernelSize: \(c.kernelSize.count == 1 || Set(c.kernelSize).count == 1 ? String(c.kernelSize[0]) : "\(c.kernelSize)"), bias: false)") }
        return nil
    }

    /// Autograd operations that act on each element alone (with at most one tensor operand that
    /// carries data: `x * 2` is elementwise, a residual `x + f(x)` is not).
    static let elementwiseOperations: Set<String> = [
        "relu", "sigmoid", "tanh", "gelu", "selu", "elu", "clamp", "abs", "neg", "exp", "log", "sqrt", "rsqrt", "pow",
        "mul", "div", "add", "sub", "to", "dropout", "alpha_dropout", "feature_dropout", "feature_alpha_dropout",
    ]
    /// Dropout as an autograd operation (a functional `dropout(x, p:, training:)` call).
    static let dropoutOperations: Set<String> = ["dropout", "feature_dropout"]
    /// Operations that keep a per-channel constant a per-channel constant (so a bias before them
    /// is still cancelled by the BatchNorm after them): reshaping and pooling. Not dropout: in
    /// training it scales the bias element by element (and Dropout before BatchNorm is its own
    /// finding).
    static let shiftPreservingOperations: Set<String> = [
        "view", "reshape", "flatten", "squeeze", "unsqueeze", "permute", "transpose", "to",
        "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d",
    ]

    /// Modules through which a per-channel bias stays a per-channel constant.
    static func preservesShift(_ m: Module) -> Bool {
        m is Identity || m is Flatten || m is MaxPool2d || m is AvgPool2d || m is AdaptiveAvgPool2d
    }

    /// Whether the walk back from a BatchNorm may pass this step when looking for a bias.
    static func passesShift(_ step: DataTrace.Step) -> Bool {
        switch step {
        case .module(let call): return preservesShift(call.module)
        case .operation(let name, let dataInputs): return dataInputs == 1 && shiftPreservingOperations.contains(name)
        }
    }

    /// Whether the walk back from a BatchNorm may pass this step when looking for Dropout: layers
    /// that act elementwise keep the dropped positions where they are (each layer says so).
    static func passesElementwise(_ step: DataTrace.Step) -> Bool {
        switch step {
        case .module(let call): return call.module.isElementwise
        case .operation(let name, let dataInputs): return dataInputs == 1 && (elementwiseOperations.contains(name) || shiftPreservingOperations.contains(name))
        }
    }
}
