import TensorCore
import NN

/// A batch to follow the data with when the caller gives none: its shape comes from the first
/// layer that fixes one, in declaration order (a Linear's `in_features`, a convolution's input
/// channels, an attention's embedding size …), with small spatial sizes.
///
/// A model whose first declared layer is not the first one applied needs `sample:` or
/// `inputShape:` from the caller.
enum SampleInput {
    /// Examples per sample batch: two, so that every layer sees more than one example.
    static let batch = 2

    /// One example's shape, guessed from the model; nil when no layer fixes it.
    static func exampleShape(of model: Module) -> [Int]? {
        for (_, m) in model.namedModules() {
            switch m {
            case let l as Linear: return [l.inFeatures]
            case let c as ConvNd:
                let spatial = [64, 32, 16][min(max(c.kernelSize.count - 1, 0), 2)]
                return [c.inChannels] + Array(repeating: max(spatial, c.kernelSize.max() ?? 1), count: c.kernelSize.count)
            case let a as MultiheadAttention: return a.batchFirst ? [8, a.embedDim] : nil
            case let bn as BatchNorm1d: return [bn.numFeatures]
            case let bn as BatchNorm2d: return [bn.numFeatures, 8, 8]
            case let bn as BatchNorm3d: return [bn.numFeatures, 4, 4, 4]
            case let ln as LayerNorm: return ln.normalizedShape
            default: continue
            }
        }
        return nil
    }

    /// A reproducible random batch (its own generator: the caller's random sequence is untouched).
    static func make(for model: Module, exampleShape: [Int]? = nil) -> Tensor? {
        guard let shape = exampleShape ?? Self.exampleShape(of: model), shape.allSatisfy({ $0 > 0 }),
              shape.reduce(batch, { $0.multipliedReportingOverflow(by: $1).overflow ? Int.max : $0 * $1 }) <= 1 << 24 else { return nil }
        return Tensor.randn([batch] + shape, generator: Generator(seed: 0xD0C))
    }
}
