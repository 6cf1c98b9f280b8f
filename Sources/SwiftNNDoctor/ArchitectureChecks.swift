import NN

/// Layer-order mistakes, read from the order of `Sequential` containers.
enum ArchitectureChecks {
    static func run(_ modules: [(String, Module)]) -> [Diagnosis] {
        var out: [Diagnosis] = []
        for (path, m) in modules {
            if let seq = m as? Sequential { out += sequenceChecks(seq, path: path) }
            if let d = m as? DropoutLayer, d.p == 1 {
                out.append(Diagnosis(.dropoutDropsEverything, .warning, path: path,
                                     "\(d.typeName)(p=1) zeroes its whole input in training, so nothing after it learns.",
                                     fix: "use a probability below 1 (0.1–0.5 is usual)."))
            }
        }
        let hasAlpha = modules.contains { Kind.isAlphaDropout($0.1) }
        let hasSELU = modules.contains { $0.1 is SELU }
        if hasAlpha && !hasSELU {
            for (path, m) in modules where Kind.isAlphaDropout(m) {
                out.append(Diagnosis(.alphaDropoutWithoutSELU, .warning, path: path,
                                     "\(m.typeName) keeps mean 0 and variance 1 only for self-normalizing (SELU) activations; the model has no SELU.",
                                     fix: "use SELU activations with LeCun-normal initialisation, or plain Dropout."))
            }
        }
        return out
    }

    private static func sequenceChecks(_ seq: Sequential, path: String) -> [Diagnosis] {
        var out: [Diagnosis] = []
        let layers = seq.layers
        func childPath(_ i: Int) -> String { path.isEmpty ? "\(i)" : "\(path).\(i)" }
        for (i, layer) in layers.enumerated() {
            let next = i + 1 < layers.count ? layers[i + 1] : nil
            if let next, Kind.isBatchNorm(next) {
                if let linear = layer as? Linear, linear.bias != nil {
                    out.append(Diagnosis(.biasBeforeBatchNorm, .advice, path: childPath(i),
                                         "the bias of Linear is cancelled by the following \(next.typeName), which subtracts the batch mean; it wastes parameters and its gradient is rounding noise.",
                                         fix: "create it with Linear(\(linear.inFeatures), \(linear.outFeatures), bias: false)."))
                } else if let conv = layer as? ConvNd, conv.bias != nil {
                    out.append(Diagnosis(.biasBeforeBatchNorm, .advice, path: childPath(i),
                                         "the bias of \(conv.typeName) is cancelled by the following \(next.typeName), which subtracts the batch mean.",
                                         fix: "create the convolution with bias: false."))
                }
            }
            // Dropout reaching BatchNorm through pointwise layers only (the classic misordering;
            // a Linear or Conv in between, as in Linear → BN → ReLU → Dropout → Linear → BN, mixes
            // the dropped units and is the usual, recommended block order).
            if Kind.isDropout(layer), !Kind.isAlphaDropout(layer),
               let j = layers[(i + 1)...].firstIndex(where: { !Kind.isPointwise($0) }), Kind.isBatchNorm(layers[j]) {
                out.append(Diagnosis(.dropoutBeforeBatchNorm, .warning, path: childPath(i),
                                     "\(layer.typeName) feeds \(layers[j].typeName) at \(childPath(j)): BatchNorm learns running variance from dropped-out activations, which no longer holds in eval mode (the 'variance shift'), so test accuracy drops.",
                                     fix: "put Dropout after the last BatchNorm (e.g. Linear → BatchNorm → ReLU → Dropout), as the tutorial's blocks do."))
            }
        }
        return out
    }
}
